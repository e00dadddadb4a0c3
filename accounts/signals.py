"""Login activity from Django and django-axes, written to the audit log; API tokens revoked when
a password changes."""
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts.services import revoke_all_api_tokens
from audit.events import record_event
from audit.models import AuditEvent


def _username_shown(value) -> str:
    # Attempted usernames are attacker-controlled; keep them short and on one line.
    text = str(value or "").replace("\r", " ").replace("\n", " ")
    return text[:150]


@receiver(user_logged_in, dispatch_uid="accounts.audit.login")
def audit_login(sender, request, user, **kwargs):
    record_event(action=AuditEvent.Action.LOGIN, request=request, user=user, detail="Logged in.")


@receiver(user_login_failed, dispatch_uid="accounts.audit.login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # `credentials` has the password already masked by Django; only the username is used.
    username = _username_shown(credentials.get("username"))
    purpose = credentials.get("purpose")  # set by vault.attempts: a password check other than the login
    if not purpose:
        what = f'Failed login for username "{username}"'
    elif purpose.startswith(("recovery key", "two-factor code")):
        what = f'Wrong {purpose} for username "{username}"'
    else:
        what = f'Wrong password ({purpose}) for username "{username}"'
    detail = f"{what}."
    if request is not None and getattr(request, "axes_locked_out", False):
        detail = f"{what} (account locked out for this address)."
    record_event(action=AuditEvent.Action.LOGIN_FAILED, request=request, user=None, detail=detail)


@receiver(user_locked_out, dispatch_uid="accounts.audit.lockout")
def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    detail = f'Username "{_username_shown(username)}" locked out after repeated failed logins.'
    record_event(action=AuditEvent.Action.LOCKOUT, request=request, user=None, detail=detail)


def _password_really_changed(user, old_hash: str) -> bool:
    if old_hash == user.password:
        return False
    # Django re-hashes an unchanged password on login when the hasher's parameters change; the
    # new raw password (kept by set_password until save) still matching the old hash tells us.
    raw = getattr(user, "_password", None)
    return not (raw is not None and check_password(raw, old_hash))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.tokens.password_watch")
def note_password_change(sender, instance, update_fields=None, **kwargs):
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    old_hash = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._api_tokens_to_revoke = old_hash is not None and _password_really_changed(instance, old_hash)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.tokens.revoke_on_password")
def revoke_tokens_after_password_change(sender, instance, created, **kwargs):
    # Change, reset, admin or `changepassword`: whoever knew the old password may have minted
    # tokens with it, and those must not outlive the password.
    if getattr(instance, "_api_tokens_to_revoke", False):
        instance._api_tokens_to_revoke = False
        revoke_all_api_tokens(user=instance, reason="password changed")
