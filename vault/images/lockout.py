"""The wrong-key lockout. Keys the owner types (a legacy record's retrieval key, a share key on the
owner's own retrieve endpoint) are counted per record and per owner; past the limit even the right
key is refused until the cool-off ends (`RetrievalLocked`, 429).

Share links are opened by anyone, and a share's public id travels in URLs and logs, so their
lockout is per *client*: each address that sends wrong keys for a share waits longer after each
one (exponential backoff, `ShareBackoff`), while another address with the right key opens the share
at once. Across all clients a share has a ceiling (`SHARE_FAILURE_CEILING` wrong keys per
`SHARE_CEILING_WINDOW`): reaching it does not lock the share (that would hand its id the power to
deny service), it tells the owner (audit event, e-mail) and sends every address that errs from then
on straight to the longest wait."""
from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import client_ip, record_event
from audit.models import AuditEvent
from audit.notify import notify_user
from vault import crypto
from vault.errors import RetrievalLocked, RetrievalRefused
from vault.models import ImageRecord, Share, UserRetrievalGuard


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


# --- shares: per client, with a ceiling the owner hears of ------------------------------------


class ShareBackoff:
    """One client's wrong keys for one share, kept in the shared cache (never in the database: an
    address is not the share's business). After the `RETRIEVE_FAILURE_LIMIT`-th wrong key in a
    row the client waits `SHARE_BACKOFF_SECONDS`, doubling with each further one up to
    `RETRIEVE_COOLOFF`; the right key resets it."""

    def __init__(self, share: Share, request) -> None:
        # Hashed so that the cache holds no readable address; bound to the share's row.
        who = hashlib.sha256((client_ip(request) or "unknown").encode()).hexdigest()[:24]
        self.key = f"vault:share-backoff:{share.pk}:{who}"

    def remaining(self, now) -> int:
        state = cache.get(self.key)
        until = state["until"] if state else 0.0
        return math.ceil(until - now.timestamp()) if until > now.timestamp() else 0

    def fail(self, now, *, ceiling_reached: bool) -> int:
        """Count one wrong key; returns the seconds this client must now wait (0: none yet)."""
        cooloff = settings.RETRIEVE_COOLOFF.total_seconds()
        state = cache.get(self.key) or {"n": 0, "until": 0.0}
        state["n"] += 1
        over = state["n"] - settings.RETRIEVE_FAILURE_LIMIT
        wait = cooloff if ceiling_reached else (0 if over < 0 else min(cooloff, settings.SHARE_BACKOFF_SECONDS * 2**over))
        state["until"] = now.timestamp() + wait
        cache.set(self.key, state, timeout=int(cooloff) * 2)
        return math.ceil(wait)

    def succeed(self) -> None:
        cache.delete(self.key)


def share_wait(share: Share, request, now) -> None:
    """`RetrievalLocked` while this client waits for this share (other clients are not affected)."""
    remaining = ShareBackoff(share, request).remaining(now)
    if remaining:
        record_event(action=AuditEvent.Action.SHARE_REFUSED, request=request, user=None, record=share.record,
                     detail=f"Share {share.public_id}: this address still waits {remaining} s after repeated wrong keys")
        raise RetrievalLocked(remaining)


def share_refuse(*, share: Share, request, why: str) -> RetrievalRefused:
    """Count a wrong share key for this client and against the share's ceiling, audit it, and
    return the refusal to raise; this client's next attempt waits (429) if it must."""
    now = timezone.now()
    window = settings.SHARE_CEILING_WINDOW
    with transaction.atomic():
        fresh = Share.objects.select_for_update().get(pk=share.pk)
        if fresh.last_failed_at is None or now - fresh.last_failed_at > window:
            fresh.failed_attempts = 0
        fresh.failed_attempts += 1
        fresh.last_failed_at = now
        # `locked_until` marks the ceiling's period (the owner has been told until then); it never
        # locks the share itself.
        in_ceiling = fresh.locked_until is not None and fresh.locked_until > now
        newly_reached = not in_ceiling and fresh.failed_attempts >= settings.SHARE_FAILURE_CEILING
        if newly_reached:
            fresh.locked_until = now + window
        fresh.save(update_fields=["failed_attempts", "last_failed_at", "locked_until"])
    wait = ShareBackoff(share, request).fail(now, ceiling_reached=in_ceiling or newly_reached)
    record_event(action=AuditEvent.Action.SHARE_REFUSED, request=request, user=None, record=share.record,
                 detail=f"Share {share.public_id}: {why}" + (f"; this address waits {wait} s" if wait else ""))
    if newly_reached:
        _tell_owner(share=share, request=request, count=fresh.failed_attempts, window=window)
    return RetrievalRefused()


def _tell_owner(*, share: Share, request, count: int, window) -> None:
    hours = max(1, round(window.total_seconds() / 3600))
    label = f' "{share.label}"' if share.label else ""
    record_event(action=AuditEvent.Action.LOCKOUT, request=request, user=share.record.owner, record=share.record,
                 detail=f"Share {share.public_id}{label}: {count} wrong keys within {hours} h; every address that errs now waits the longest.")
    notify_user(share.record.owner, subject="Someone is guessing the key of one of your shares",
                body=(f"The share link{label} of your image \"{share.record.name}\" received {count} wrong keys within "
                      f"{hours} hour(s). People with the right key can still open it. If you did not expect this, revoke "
                      "the share on the image's page and send a new link."))
