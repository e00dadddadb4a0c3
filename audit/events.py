"""Writing to the audit log: every app records its events through `record_event`."""
from django.db import transaction

from audit.models import AuditEvent
from portal import net

_DETAIL_MAX = AuditEvent._meta.get_field("detail").max_length
_NAME_MAX = AuditEvent._meta.get_field("record_name").max_length


def client_ip(request) -> str | None:
    """The client's address: the peer Django saw, or what a trusted proxy reports (see
    portal.net). Untrusted X-Forwarded-For headers are ignored: a forged IP in an audit trail is
    worse than none."""
    return net.client_ip(request)


def _request_user(request):
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


def record_event(*, action, request=None, user=None, record=None, detail="") -> AuditEvent:
    """Append one event. `record` is anything with `.pk` and `.name` (an image record), or None.

    Callers must never pass key material in `detail`: the log is readable by every admin.
    """
    if user is None:
        user = _request_user(request)
    if user is not None and not user.is_authenticated:
        user = None
    event = AuditEvent(
        action=AuditEvent.Action(action),
        actor=user,
        actor_username=user.get_username() if user is not None else "",
        record_id=getattr(record, "pk", None) if record is not None else None,
        record_name=str(getattr(record, "name", "") or "")[:_NAME_MAX] if record is not None else "",
        ip=client_ip(request),
        detail=str(detail or "")[:_DETAIL_MAX],
    )
    event.full_clean()
    with transaction.atomic():
        event.save()
    return event
