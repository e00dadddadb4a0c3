"""Deleting for good: one image with its blobs, or every image of an owner (account deletion).
Moving to the trash and back is vault/images/trash.py."""
from __future__ import annotations

from django.db import DatabaseError, transaction

from audit.events import record_event
from audit.models import AuditEvent
from compression.imageio import human_bytes
from vault.blobs import delete_blobs_quietly
from vault.crypto import padme
from vault.errors import StorageFull
from vault.models import ImageRecord, Share


def blob_names(record: ImageRecord) -> list[str]:
    names = (record.original_blob, record.compressed_blob, record.thumbnail_blob, record.rendition_blob)
    return [name for name in names if name]


def delete_image(*, record: ImageRecord, request=None, why: str = "") -> None:
    """Remove the row now and the blobs once the deletion has committed: if the transaction
    rolls back, the row still points at blobs that still exist.

    Except on a full disk: a database that shares it (SQLite) cannot even write the journal a
    deletion needs, so the blobs go first, to make that room, and the deletion is tried once
    more. The owner asked for them to go; if the row still cannot be deleted it opens as damaged
    (410) and deleting it again finishes the job."""
    try:
        _delete_row(record, request=request, why=why)
    except DatabaseError as exc:
        if (full := StorageFull.from_database_error(exc)) is None:
            raise
        delete_blobs_quietly(blob_names(record))
        try:
            _delete_row(record, request=request, why=why)
        except DatabaseError:
            raise full from None


def _delete_row(record: ImageRecord, *, request, why: str) -> None:
    names = blob_names(record)
    with transaction.atomic():
        record_event(
            action=AuditEvent.Action.DELETE,
            request=request,
            user=getattr(request, "user", None) if request is not None else record.owner,
            record=record,
            # Padded like the column of a sealed record: the audit log keeps no exact size (vault/figures.py).
            detail=f"{record.codec}, about {human_bytes(padme(record.original_size))} original" + (f"; {why}" if why else ""),
        )
        record.delete()
        transaction.on_commit(lambda: delete_blobs_quietly(names))


def delete_all_images(*, owner) -> dict[str, int]:
    """Every record of `owner` (trash included), their shares with them, and their blobs once the
    caller's transaction commits. Not audited per image: the caller records one event for the
    whole deletion. Returns what went, as counts only."""
    records = ImageRecord.objects.filter(owner=owner)
    fields = ("original_blob", "compressed_blob", "thumbnail_blob", "rendition_blob")
    names = [name for record in records.only(*fields) for name in blob_names(record)]
    counts = {"images": records.count(), "shares": Share.objects.filter(record__owner=owner).count(), "blobs": len(names)}
    records.delete()  # shares (and their wraps) cascade
    transaction.on_commit(lambda: delete_blobs_quietly(names))
    return counts
