"""Login activity from Django and django-axes, written to the audit log."""
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts.audit import record_event
from accounts.models import AuditEvent


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
    detail = f'Failed login for username "{username}".'
    if request is not None and getattr(request, "axes_locked_out", False):
        detail = f'Failed login for username "{username}" (account locked out).'
    record_event(action=AuditEvent.Action.LOGIN_FAILED, request=request, user=None, detail=detail)


@receiver(user_locked_out, dispatch_uid="accounts.audit.lockout")
def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    detail = f'Username "{_username_shown(username)}" locked out after repeated failed logins.'
    record_event(action=AuditEvent.Action.LOCKOUT, request=request, user=None, detail=detail)
