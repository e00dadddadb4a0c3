"""The wrong-key lockout: keys a person types (a legacy record's retrieval key, a share key) are
counted per record, per share and per owner; past the limit even the right key is refused until
the cool-off ends (`RetrievalLocked`, 429)."""
from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from vault import crypto
from vault.errors import RetrievalRefused
from vault.models import ImageRecord, UserRetrievalGuard


@sensitive_variables("text")
def parse_key(text: str, *, kind: str = "retrieval key") -> bytes:
    """The secret of a key as a person typed it. Text that cannot be a key is a ValidationError and
    is not counted: it is no guess at the key at all (the format is public)."""
    try:
        return crypto.parse_retrieval_key(text)
    except crypto.MalformedKey as exc:
        raise ValidationError(str(exc).replace("retrieval key", kind), code="malformed_key") from exc


def lock_remaining(locked_until, now) -> float:
    return (locked_until - now).total_seconds() if locked_until and locked_until > now else 0.0


def record_lock_remaining(record: ImageRecord, now) -> int:
    """Whole seconds until both the record's and its owner's locks are over (0: not locked)."""
    guard = UserRetrievalGuard.objects.filter(user_id=record.owner_id).first()
    remaining = max(lock_remaining(record.locked_until, now), lock_remaining(guard.locked_until if guard else None, now))
    return math.ceil(remaining)


def count_failure(obj, *, now, limit: int, cooloff: timedelta) -> bool:
    """Count one wrong attempt; True when this attempt started a lock."""
    # Failures older than the cool-off window are forgotten, so rare typos never add up to a lock.
    if obj.last_failed_at is None or now - obj.last_failed_at > cooloff:
        obj.failed_attempts = 0
    obj.failed_attempts += 1
    obj.last_failed_at = now
    locked = obj.failed_attempts >= limit
    if locked:
        obj.locked_until = now + cooloff
        obj.failed_attempts = 0
    obj.save(update_fields=["failed_attempts", "last_failed_at", "locked_until"])
    return locked


def _register_failure(*, record: ImageRecord, now) -> list[str]:
    """Count a refusal against the record and its owner; returns what became locked."""
    cooloff = settings.RETRIEVE_COOLOFF
    locked = []
    with transaction.atomic():
        fresh = ImageRecord.objects.select_for_update().filter(pk=record.pk).first()
        if fresh is not None:
            if count_failure(fresh, now=now, limit=settings.RETRIEVE_FAILURE_LIMIT, cooloff=cooloff):
                locked.append("this image")
            record.failed_attempts, record.locked_until = fresh.failed_attempts, fresh.locked_until
        guard, _ = UserRetrievalGuard.objects.select_for_update().get_or_create(user_id=record.owner_id)
        if count_failure(guard, now=now, limit=settings.RETRIEVE_USER_FAILURE_LIMIT, cooloff=cooloff):
            locked.append("all of the user's images")
    return locked


def refuse(*, record: ImageRecord, request, why: str) -> RetrievalRefused:
    """Count a wrong key (or a blob it cannot open) against the record and its owner, audit it,
    and return the refusal to raise."""
    now = timezone.now()
    locked = _register_failure(record=record, now=now)
    # The cause goes to the audit log (admins only); the caller gets the same refusal every time.
    record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request, user=record.owner, record=record, detail=why)
    if locked:
        minutes = math.ceil(settings.RETRIEVE_COOLOFF.total_seconds() / 60)
        record_event(
            action=AuditEvent.Action.LOCKOUT,
            request=request,
            user=record.owner,
            record=record,
            detail=f"Retrieval locked for {' and '.join(locked)} for {minutes} min after repeated wrong keys.",
        )
    return RetrievalRefused()
