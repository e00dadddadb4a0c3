"""Two-factor authentication with django-otp: a TOTP authenticator app, plus single-use recovery
codes (django-otp's static device) for when the phone is lost. Optional for users, required for
staff (see `accounts.admin_site`).

The second factor guards the *login*; it never replaces the password's role in the vault: the
master key stays wrapped under the password (Argon2id) and the recovery key only, so a stolen
phone opens nothing, and a database copy with the TOTP secrets still needs every user's password.

Wrong codes spend the login's budget of guesses (`vault.attempts`) as well as django-otp's own
per-device throttle (delays doubling after each failure).
"""
from __future__ import annotations

import base64
import re

import segno
from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import record_event
from audit.models import AuditEvent
from audit.notify import notify_user
from vault import attempts

RECOVERY_CODE_COUNT = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def enabled(user) -> bool:
    """The account asks for a second factor at login: it has a confirmed authenticator."""
    return bool(user is not None and user.is_authenticated and TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _normalised(code: str) -> str:
    # People type codes with spaces or dashes ("123 456", "abcd-efgh"); recovery codes are lower case.
    return re.sub(r"[\s-]", "", str(code or "")).lower()


@sensitive_variables("code")
def verify_code(*, user, code: str, request, purpose: str):
    """The device (authenticator or recovery codes) that accepts `code`, or None. A recovery code
    is used up. Locked-out clients are refused (`PasswordLocked`) before any device is asked."""
    attempts.refuse_if_locked(request, user=user)
    code = _normalised(code)
    if code and user_has_device(user):
        with transaction.atomic():
            for device in devices_for_user(user, confirmed=True, for_verify=True):
                if device.verify_token(code):
                    if isinstance(device, StaticDevice):
                        left = recovery_codes_left(user)
                        record_event(action=AuditEvent.Action.TWO_FACTOR, request=request, user=user,
                                     detail=f"A recovery code was used ({left} left).")
                    return device
    attempts.count_failure(request, user=user, purpose=f"two-factor code ({purpose})")
    return None


def start_enrolment(user) -> TOTPDevice:
    """A new, unconfirmed authenticator (any earlier unconfirmed one is dropped): confirmed only
    once the person types a code it produces, so a mistyped scan never locks anyone out."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def pending_device(user, device_id) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False, pk=device_id).first()


def qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an inline SVG QR code: attributes only, no style, so the
    CSP (no inline style or script) has nothing to refuse. Dark on a light quiet zone in either
    colour scheme, as scanners expect."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000", light="#fff", title="QR code for your authenticator app")


def secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed (base32, in groups of four)."""
    text = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@sensitive_variables("code", "codes")
def confirm_enrolment(*, user, device: TOTPDevice, code: str, request) -> list[str] | None:
    """Confirm `device` with a code it made; returns the recovery codes (shown once), or None when
    the code is wrong. Replaces any earlier authenticator and recovery codes."""
    attempts.refuse_if_locked(request, user=user)
    if not device.verify_token(_normalised(code)):
        attempts.count_failure(request, user=user, purpose="two-factor code (enrolment)")
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_recovery_codes(user)
    record_event(action=AuditEvent.Action.TWO_FACTOR, request=request, user=user, detail="Two-factor authentication turned on.")
    notify_user(user, subject="Two-factor authentication turned on",
                body="Two-factor authentication was turned on for your account. If this was not you, reset your password now.")
    return codes


def _new_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


@sensitive_variables("codes")
def regenerate_recovery_codes(*, user, request) -> list[str]:
    with transaction.atomic():
        codes = _new_recovery_codes(user)
    record_event(action=AuditEvent.Action.TWO_FACTOR, request=request, user=user, detail="New two-factor recovery codes made; the old ones stopped working.")
    return codes


def disable(*, user, request) -> None:
    with transaction.atomic():
        for model in (TOTPDevice, StaticDevice):
            model.objects.filter(user=user).delete()
    record_event(action=AuditEvent.Action.TWO_FACTOR, request=request, user=user, detail="Two-factor authentication turned off.")
    notify_user(user, subject="Two-factor authentication turned off",
                body="Two-factor authentication was turned off for your account. If this was not you, reset your password now.")
