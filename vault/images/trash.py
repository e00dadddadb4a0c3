"""The trash: deleting an image moves it here for `settings.TRASH_RETENTION` (30 days by
default). Its blobs and keys stay as they were, so restoring it is only clearing `trashed_at`; it
still counts in the owner's quota (its bytes are still stored), its shares do not open while it is
here, and the gallery and the API's list leave it out unless asked. The hourly
`vault.empty_expired_trash` task, or the owner's "Empty trash now", deletes it for good
(`deletion.delete_image`)."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.events import record_event
from audit.models import AuditEvent
from vault.images.deletion import delete_image
from vault.models import ImageRecord

# Expired images deleted per query: bounds the memory of one run whatever the backlog.
PURGE_BATCH = 200


def _actor(request, record):
    return getattr(request, "user", None) if request is not None else record.owner


def move_to_trash(*, record: ImageRecord, request=None) -> ImageRecord:
    """Idempotent: an image already in the trash keeps its date (and so its expiry)."""
    if record.in_trash:
        return record
    with transaction.atomic():
        record.trashed_at = timezone.now()
        record.save(update_fields=["trashed_at"])
        record_event(action=AuditEvent.Action.TRASHED, request=request, user=_actor(request, record), record=record,
                     detail=f"deleted for good after {record.purge_after:%Y-%m-%d %H:%M %Z}")
    return record


def restore(*, record: ImageRecord, request=None) -> ImageRecord:
    if not record.in_trash:
        return record
    with transaction.atomic():
        record.trashed_at = None
        record.save(update_fields=["trashed_at"])
        record_event(action=AuditEvent.Action.RESTORED, request=request, user=_actor(request, record), record=record)
    return record


def trash_of(owner):
    """The owner's trash, the soonest to expire first."""
    return ImageRecord.objects.filter(owner=owner, trashed_at__isnull=False).order_by("trashed_at", "id")


def empty_trash(*, owner, request=None) -> int:
    """Delete every image in the owner's trash now; returns how many."""
    return _delete_in_batches(trash_of(owner), request=request, why="trash emptied by its owner")


def purge_expired(now=None) -> int:
    """Delete every image that has been in a trash longer than the retention (the periodic task)."""
    cutoff = (now or timezone.now()) - settings.TRASH_RETENTION
    return _delete_in_batches(
        ImageRecord.objects.filter(trashed_at__lte=cutoff).order_by("trashed_at", "id"), request=None,
        why=f"{settings.TRASH_RETENTION.days} days in the trash",
    )


def _delete_in_batches(queryset, *, request, why: str) -> int:
    # Whole batches re-queried rather than one open cursor: rows are deleted as we go.
    count = 0
    while batch := list(queryset[:PURGE_BATCH]):
        for record in batch:
            delete_image(record=record, request=request, why=why)
        count += len(batch)
    return count
