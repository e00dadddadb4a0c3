"""Several images at once (the originals in one zip) and deleting an image with its blobs."""
from __future__ import annotations

import io
import zipfile

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from vault.blobs import delete_blobs_quietly
from vault.images.opening import open_variant
from vault.models import ImageRecord

BULK_MAX = 50  # a zip is built in memory: at most this many originals (each up to UPLOAD_MAX_BYTES)


@sensitive_variables("master_key", "data")
def zip_originals(*, records, master_key: bytes, request=None) -> bytes:
    """The originals of several of the owner's images in one zip (stored, not deflated: photos do
    not compress further). Names are made unique, since two uploads may share a file name."""
    records = list(records)
    if not records or len(records) > BULK_MAX:
        raise ValidationError(f"Select between 1 and {BULK_MAX} images, not {len(records)}.", code="selection")
    buffer, used = io.BytesIO(), set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for record in records:
            data = open_variant(record=record, master_key=master_key, variant="original", request=request)
            stem, dot, ext = record.name.rpartition(".")
            name, n = record.name, 1
            while name in used:
                n += 1
                name = f"{stem} ({n}).{ext}" if dot else f"{record.name} ({n})"
            used.add(name)
            archive.writestr(name, data)
    return buffer.getvalue()


def delete_image(*, record: ImageRecord, request=None) -> None:
    """Remove the row now and the blobs once the deletion has committed: if the transaction
    rolls back, the row still points at blobs that still exist."""
    names = [name for name in (record.original_blob, record.compressed_blob, record.thumbnail_blob) if name]
    with transaction.atomic():
        record_event(
            action=AuditEvent.Action.DELETE,
            request=request,
            user=getattr(request, "user", None) if request is not None else record.owner,
            record=record,
            detail=f"{record.codec}, {record.original_size} bytes original",
        )
        record.delete()
        transaction.on_commit(lambda: delete_blobs_quietly(names))
