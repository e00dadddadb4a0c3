"""Two-factor login with django-otp: enrolment with a QR code, login with a code, recovery codes,
staff enforcement, the API's token grant, and the vault still unlocked by the password."""
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditEvent
from vault import keyring, sessions
from .vault_helpers import login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"


@pytest.fixture(autouse=True)
def _no_code_delay(settings):
    # django-otp waits 1, 2, 4... s after a wrong code; these tests type wrong codes on purpose.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD, email="alice@example.com")


def code_for(device, steps_ahead=0) -> str:
    """What the person's authenticator app shows now (or `steps_ahead` 30-s steps later: the
    server accepts one step of clock drift, and each step's code only once)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(client) -> tuple[TOTPDevice, list[str]]:
    setup = client.post(reverse("two-factor-setup"))
    assert setup.status_code == 200
    device = TOTPDevice.objects.get(confirmed=False)
    done = client.post(reverse("two-factor-confirm"), {"device": device.pk, "code": code_for(device)})
    assert done.status_code == 200, done.content[:300]
    codes = re.findall(r"<li>([a-z2-7]{8})</li>", done.content.decode())
    device.refresh_from_db()
    return device, codes


def test_enrolment_shows_a_qr_code_as_inline_svg_and_recovery_codes_once(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    setup = client.post(reverse("two-factor-setup"))
    html = setup.content.decode()
    assert "<svg" in html and "style=" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]  # the CSP allows no inline style
    assert "no-store" in setup["Cache-Control"]
    device = TOTPDevice.objects.get(user=alice)
    assert not device.confirmed  # nothing changes until a code proves the app has the secret
    wrong = client.post(reverse("two-factor-confirm"), {"device": device.pk, "code": "000000"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    done = client.post(reverse("two-factor-confirm"), {"device": device.pk, "code": code_for(device)})
    codes = re.findall(r"<li>([a-z2-7]{8})</li>", done.content.decode())
    assert len(codes) == 10 and "only time these codes are shown" in done.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert "10 unused recovery codes" in client.get(reverse("two-factor")).content.decode()
    assert not any(code in client.get(reverse("two-factor")).content.decode() for code in codes)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.TWO_FACTOR, detail__contains="turned on").exists()
    assert any("Two-factor authentication turned on" in m.subject for m in mail.outbox)


def test_enrolment_needs_a_recent_password(alice):
    client = Client()
    client.force_login(alice)  # a session alone (a copied cookie) cannot swap in its own authenticator
    assert client.post(reverse("two-factor-setup")).status_code == 403
    assert not TOTPDevice.objects.exists()


def test_login_asks_for_the_code_after_the_password_and_the_vault_opens_with_the_password(alice):
    device, _ = enrol(login_unlocked(Client(), "alice", PASSWORD))
    client = Client()
    first = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert first.status_code == 302 and first["Location"] == reverse("login-code")
    assert "_auth_user_id" not in client.session  # not logged in yet
    assert client.get(reverse("vault:gallery")).status_code == 302
    wrong = client.post(reverse("login-code"), {"code": "123456"})
    assert wrong.status_code == 400 and "_auth_user_id" not in client.session
    done = client.post(reverse("login-code"), {"code": code_for(device, 1)})
    assert done.status_code == 302 and done["Location"] == reverse("vault:gallery")
    assert client.session["_auth_user_id"] == str(alice.pk)
    # The vault is unlocked by the password typed in step one, carried sealed to step two.
    assert sessions.session_master_key(client.get(reverse("profile")).wsgi_request) == alice.master_key


def test_a_code_without_the_password_step_logs_nobody_in(alice):
    device, _ = enrol(login_unlocked(Client(), "alice", PASSWORD))
    client = Client()
    response = client.post(reverse("login-code"), {"code": code_for(device, 1)})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_logs_in_once(alice):
    _, codes = enrol(login_unlocked(Client(), "alice", PASSWORD))
    client = Client()
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert client.post(reverse("login-code"), {"code": codes[0].upper()}).status_code == 302
    assert StaticToken.objects.count() == 9
    again = Client()
    again.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert again.post(reverse("login-code"), {"code": codes[0]}).status_code == 400


def test_wrong_codes_spend_the_password_budget(alice, settings):
    enrol(login_unlocked(Client(), "alice", PASSWORD))
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    statuses = [client.post(reverse("login-code"), {"code": f"00000{i}"}).status_code for i in range(3)]
    assert statuses == [400, 400, 429]


def test_the_api_token_grant_needs_the_code(alice):
    device, codes = enrol(login_unlocked(Client(), "alice", PASSWORD))
    api = APIClient()
    missing = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert missing.status_code == 401 and missing.json()["code"] == "otp_required"
    wrong = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "otp_token": "000000"}, format="json")
    assert wrong.status_code == 401 and wrong.json()["code"] == "otp_invalid"
    assert not ApiToken.objects.exists()
    ok = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "otp_token": code_for(device, 1)}, format="json")
    assert ok.status_code == 200 and ok.json()["vault"] == "unlocked"
    by_recovery = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "otp_token": codes[1]}, format="json")
    assert by_recovery.status_code == 200


def test_turning_it_off_needs_a_recent_password_and_then_logins_ask_only_the_password(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    enrol(client)
    session = client.session
    session["recent_auth_at"] = int(time.time()) - 3600
    session.save()
    assert client.post(reverse("two-factor-disable")).status_code == 403
    assert client.post(reverse("two-factor-disable"), {"stepup_password": PASSWORD}).status_code == 302
    assert not TOTPDevice.objects.exists() and not StaticToken.objects.exists()
    assert Client().post(reverse("login"), {"username": "alice", "password": PASSWORD})["Location"] == reverse("vault:gallery")


def test_staff_must_set_up_two_factor_before_the_admin_opens(settings):
    staff = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    keyring.create_vault(user=staff, password=PASSWORD)
    client = Client()
    login = client.post(reverse("login"), {"username": "root", "password": PASSWORD})
    assert login.status_code == 302 and login["Location"] == reverse("two-factor")
    assert client.get("/admin/", follow=True).redirect_chain[-1][0] == reverse("two-factor")
    device, _ = enrol(client)  # this session passes the second factor by confirming it
    assert client.get("/admin/").status_code == 200
    assert client.post(reverse("two-factor-disable")).status_code == 302  # refused with a message
    assert TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    # A later login needs the code before the admin opens.
    other = Client()
    other.post(reverse("login"), {"username": "root", "password": PASSWORD})
    assert other.get("/admin/").status_code == 302
    other.post(reverse("login-code"), {"code": code_for(device, 1)})
    assert other.get("/admin/").status_code == 200


def test_a_staff_session_forced_in_without_the_code_does_not_open_the_admin():
    staff = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.force_login(staff)  # e.g. a session from before the authenticator was set up
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("profile") and "log in again with your code" in response.content.decode()
