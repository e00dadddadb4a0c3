"""Telling a person about a security event on their account by e-mail, where they gave an address
(the audit log, shown on their profile, has every event either way). A copied session could mint a
token or replace the recovery key while the owner looks elsewhere; the e-mail is how they learn it."""
import logging

from django.core.mail import send_mail

logger = logging.getLogger(__name__)


def notify_user(user, *, subject: str, body: str) -> bool:
    """Send one plain e-mail; never raises (a mail server that is down must not undo or block the
    action it reports). Returns whether a message was handed to the mail backend."""
    address = getattr(user, "email", "")
    if not address:
        return False
    try:
        send_mail(f"[Image vault] {subject}", f"{body}\n\nAccount: {user.get_username()}", None, [address])
    except Exception:  # noqa: BLE001 - see the docstring
        logger.exception("Could not send the security notice %r to user %s.", subject, user.pk)
        return False
    return True
