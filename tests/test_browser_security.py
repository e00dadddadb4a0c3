"""Two-factor enrolment and a step-up prompt in a real browser (the fixtures and checks of
tests/test_browser.py): the QR code is an inline SVG the CSP lets through, the pages pass the
overflow and axe checks, and the password prompt carries the action on."""
import re
import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken
from tests.test_browser import PASSWORD, browser, check_page, live_server, log_in, page, view  # noqa: F401 - fixtures used by name

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts as a new visitor: no throttle counts left by the logins before it."""
    from django.core.cache import cache

    cache.clear()


def current_code(device) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def test_two_factor_enrolment_in_the_browser(page, live_server):
    user = log_in(page, live_server, "tess")
    csp_errors = []
    page.on("console", lambda message: csp_errors.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(f"{live_server.url}/accounts/two-factor/")
    check_page(page, "two-factor")
    page.get_by_role("button", name="Set up two-factor authentication").click()
    qr = page.locator("figure.qr svg")
    qr.wait_for()
    box = qr.bounding_box()
    assert box["width"] >= 100 and abs(box["width"] - box["height"]) < 2  # drawn, square, scannable size
    check_page(page, "two-factor-setup")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    page.get_by_label("Code", exact=True).fill(current_code(device))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    codes = page.locator("#recovery-codes li")
    codes.first.wait_for()
    assert codes.count() == 10
    check_page(page, "recovery-codes")
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert csp_errors == [], csp_errors


def test_a_step_up_prompt_asks_for_the_password_and_carries_the_action_on(page, live_server):
    log_in(page, live_server, "uma")
    # As if the password was typed long ago: the session is alive, the confirmation is not.
    for session in Session.objects.all():
        data = session.get_decoded()
        data["recent_auth_at"] = int(time.time()) - 3600
        Session.objects.filter(pk=session.pk).update(session_data=SessionStore().encode(data))
    page.goto(f"{live_server.url}/accounts/profile/")
    page.get_by_label("Name").fill("laptop script")
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("heading", name="Confirm it is you").wait_for()
    check_page(page, "step-up")
    assert not ApiToken.objects.exists()
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Confirm and continue").click()
    assert "not right" in page.locator(".alert-error").inner_text()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and continue").click()
    token = page.locator("#new-token-value")
    token.wait_for()
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token.inner_text().strip())
    assert ApiToken.objects.get().name == "laptop script"
