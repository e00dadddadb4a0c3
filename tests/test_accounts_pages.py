"""Browser-facing account pages: registration, login/logout, lockout, password change and reset."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from .vault_helpers import vault_user

pytestmark = pytest.mark.django_db
User = get_user_model()
GOOD_PASSWORD = "correct-Horse-battery-9"


@pytest.fixture
def alice():
    return vault_user("alice", GOOD_PASSWORD, email="alice@example.com")


def test_register_page_uses_djangos_standard_field_names(client):
    html = client.get(reverse("register")).content.decode()
    for name in ("username", "email", "password1", "password2"):
        assert f'name="{name}"' in html


def test_register_creates_the_user_logs_them_in_and_shows_the_recovery_key_once(client):
    response = client.post(
        reverse("register"),
        {"username": "bob", "email": "bob@example.com", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    # The recovery key page, rendered from the POST itself, continuing to the gallery.
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r"(?:[A-Z2-7]{4}-){12}[A-Z2-7]{4}", html)
    assert "I have saved my recovery key" in html and "recovery-kit" in html
    assert f'value="{reverse("vault:gallery")}"' in html
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    user = User.objects.get(username="bob")
    assert user.email == "bob@example.com"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN, actor=user).exists()


def test_register_without_email_is_allowed(client):
    response = client.post(
        reverse("register"), {"username": "carol", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    )
    assert response.status_code == 200 and "I have saved my recovery key" in response.content.decode()
    assert User.objects.get(username="carol").email == ""


@pytest.mark.parametrize(
    "password, message",
    [("password", "This password is too common."), ("12345678901", "This password is entirely numeric."),
     ("x7Q!", "This password is too short.")],
)
def test_register_refuses_a_weak_password_with_the_validators_message(client, password, message):
    response = client.post(reverse("register"), {"username": "dave", "password1": password, "password2": password})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(username="dave").exists()
    assert "_auth_user_id" not in client.session


def test_register_refuses_a_taken_username(client, alice):
    response = client.post(
        reverse("register"), {"username": "alice", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    )
    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.filter(username="alice").count() == 1


def test_login_page_logs_in_and_redirects_to_the_gallery(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": GOOD_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("vault:gallery")
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_first_login_of_a_user_made_elsewhere_creates_the_vault_and_shows_its_recovery_key(client):
    from vault.models import UserVault

    User.objects.create_superuser("root", "root@example.com", GOOD_PASSWORD)  # as createsuperuser does
    response = client.post(reverse("login"), {"username": "root", "password": GOOD_PASSWORD})
    assert response.status_code == 200
    assert "I have saved my recovery key" in response.content.decode()
    assert UserVault.objects.filter(user__username="root").count() == 1
    client.post(reverse("logout"))
    # The second login just unlocks it.
    assert client.post(reverse("login"), {"username": "root", "password": GOOD_PASSWORD}).status_code == 302
    assert UserVault.objects.count() == 1


def test_login_with_a_wrong_password_shows_an_error_and_stays_logged_out(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "not-it"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_works_by_post(client, alice):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_logout_by_get_is_refused_and_keeps_the_session(client, alice):
    client.force_login(alice)
    response = client.get(reverse("logout"))
    assert response.status_code == 405
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_repeated_failed_logins_lock_the_account_and_are_audited(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=90)
    statuses = [
        client.post(reverse("login"), {"username": "alice", "password": f"wrong-{i}"}).status_code for i in range(3)
    ]
    assert statuses == [200, 200, 429]

    # Even the right password is refused while the lockout lasts, with the lockout page.
    response = client.post(reverse("login"), {"username": "alice", "password": GOOD_PASSWORD})
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed login attempts" in page
    assert "Please wait 1 hour 30 minutes before trying again." in page
    assert "_auth_user_id" not in client.session

    failed = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED)
    assert failed.count() == 4
    assert all('"alice"' in event.detail for event in failed)
    assert all(event.ip == "127.0.0.1" for event in failed)
    lockouts = AuditEvent.objects.filter(action=AuditEvent.Action.LOCKOUT)
    assert lockouts.exists()
    assert '"alice"' in lockouts.first().detail
    # The attempted passwords never reach the audit log.
    assert not AuditEvent.objects.filter(detail__contains="wrong-").exists()
    assert not AuditEvent.objects.filter(detail__contains=GOOD_PASSWORD).exists()


def test_lockout_is_per_username_and_address(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    other_address = Client(REMOTE_ADDR="10.0.0.7")
    response = other_address.post(reverse("login"), {"username": "alice", "password": GOOD_PASSWORD})
    assert response.status_code == 302


def test_successful_login_is_audited_with_the_actor_and_address(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": GOOD_PASSWORD})
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.actor == alice
    assert event.actor_username == "alice"
    assert event.ip == "127.0.0.1"


def test_password_change_requires_the_old_password_and_then_applies(client, alice):
    client.force_login(alice)
    url = reverse("password_change")
    new = "another-Strong-pass-42"
    wrong = client.post(url, {"old_password": "nope", "new_password1": new, "new_password2": new})
    assert wrong.status_code == 200
    assert "Your old password was entered incorrectly" in wrong.content.decode()

    response = client.post(url, {"old_password": GOOD_PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    alice.refresh_from_db()
    assert alice.check_password(new)
    assert client.get(reverse("password_change_done")).status_code == 200


def test_password_change_page_requires_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_password_reset_by_email_sets_a_new_password(client, alice):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert client.get(response["Location"]).status_code == 200
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)

    # Django swaps the token in the URL for a session marker, then shows the form.
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert 'name="new_password1"' in form_page.content.decode()
    new = "reset-Brand-new-77"
    # The vault needs the recovery key (or a confirmed new vault); asked before anything changes.
    refused = client.post(form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert refused.status_code == 200 and "Enter your recovery key" in refused.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(GOOD_PASSWORD)
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new, "recovery_key": alice.recovery_key}
    )
    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")
    alice.refresh_from_db()
    assert alice.check_password(new)


def test_password_reset_for_an_unknown_address_reveals_nothing_and_sends_nothing(client, alice):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_reset_with_a_forged_link_says_it_is_invalid(client, alice):
    response = client.get(reverse("password_reset_confirm", kwargs={"uidb64": "MQ", "token": "abc-def"}))
    assert response.status_code == 200
    assert "invalid" in response.content.decode()


def test_session_posts_are_csrf_protected(alice):
    strict = Client(enforce_csrf_checks=True)
    refused = strict.post(reverse("login"), {"username": "alice", "password": GOOD_PASSWORD})
    assert refused.status_code == 403
    assert "_auth_user_id" not in strict.session

    strict.get(reverse("login"))
    csrf = strict.cookies["csrftoken"].value
    accepted = strict.post(
        reverse("login"), {"username": "alice", "password": GOOD_PASSWORD, "csrfmiddlewaretoken": csrf}
    )
    assert accepted.status_code == 302


def test_registration_post_is_csrf_protected():
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        reverse("register"), {"username": "eve", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="eve").exists()


def test_the_forgotten_password_page_and_the_footer_agree_with_the_recovery_flow(client):
    html = client.get(reverse("password_reset")).content.decode()
    assert "recovery key" in html and "keeps every image" in html
    # The old words told people their images were lost, and some then started an empty vault.
    assert "cannot be recovered" not in html and "does not unlock your images" not in html
    assert "We cannot recover lost keys" not in html and "your recovery key open" in html
