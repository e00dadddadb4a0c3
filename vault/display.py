"""The display rendition: a PNG of an original no browser draws (TIFF, BMP, GIF, HEIC), made by the
worker and sealed like the other blobs, so that showing an image never decodes its original in the
web process. A file built to be slow to decode, or a truncated one, then costs one bounded job
(vault/decoding.py) instead of a decode per page view, share visit or reload.

Originals browsers draw themselves (JPEG, PNG, WebP, AVIF) are shown as stored and get none. The
rendition has the original's upright pixels and nothing else (no EXIF, so no location), bounded to
`DISPLAY_MAX_PIXELS` (larger originals are scaled down to fit: no screen shows more).
"""
from __future__ import annotations

import io
import math

from django.conf import settings
from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from PIL import Image

from vault import blobs
from vault.errors import DisplayNotReady, JobCancelled, OriginalNotDisplayable
from vault.models import ImageRecord

# Formats every current browser shows in <img>; the rest are shown through the rendition.
BROWSER_FORMATS = {"JPEG", "PNG", "WEBP", "AVIF"}
MEDIA_TYPE = "image/png"
VARIANT = "rendition"

# Other forms of a stored blob a request may ask for, and the blob each is made from.
# "display" is the share page's name for "original-display".
_ALIASES = {"decoded": "compressed", "compressed-display": "compressed"}
_ORIGINAL_SHOWN = ("original-display", "display")


def needs_rendition(record: ImageRecord) -> bool:
    return (record.original_format or "").upper() not in BROWSER_FORMATS


def stored_variant(variant: str, record: ImageRecord) -> str:
    """The stored blob (original, compressed, thumbnail, rendition) a requested variant opens."""
    if variant in _ORIGINAL_SHOWN:
        return VARIANT if needs_rendition(record) else "original"
    return _ALIASES.get(variant, variant)


def make_rendition(image: Image.Image) -> bytes:
    shown = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    limit = max(1, int(getattr(settings, "DISPLAY_MAX_PIXELS", 24_000_000)))
    if shown.width * shown.height > limit:
        scale = math.sqrt(limit / (shown.width * shown.height))
        shown = shown.resize((max(1, int(shown.width * scale)), max(1, int(shown.height * scale))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    shown.save(buf, format="PNG", compress_level=3)  # lossless: the compare view shows the original's own pixels
    return buf.getvalue()


@sensitive_variables("data_key")
def store_rendition(record: ImageRecord, image: Image.Image, *, data_key: bytes, task_id: str) -> None:
    """Make, seal and record the rendition as soon as the job has decoded the original (before the
    possibly long compression), replacing an older one. Nothing for browser formats."""
    if not needs_rendition(record):
        return
    name, digest = blobs.write_sealed(record.pk, VARIANT, make_rendition(image), data_key=data_key)
    try:
        with transaction.atomic():
            fresh = ImageRecord.objects.select_for_update().filter(pk=record.pk, job_task_id=task_id).first()
            if fresh is None or not fresh.is_active:
                raise JobCancelled()
            replaced = fresh.rendition_blob
            ImageRecord.objects.filter(pk=record.pk).update(rendition_blob=name, sha256_rendition_blob=digest)
            transaction.on_commit(lambda: blobs.delete_blobs_quietly([replaced]))
    except BaseException:
        blobs.delete_blobs_quietly([name])
        raise
    record.rendition_blob, record.sha256_rendition_blob = name, digest


def not_ready(record: ImageRecord):
    """Why a record has no rendition to show, as the refusal to raise."""
    if record.status == ImageRecord.Status.FAILED:
        return OriginalNotDisplayable(f"its processing failed: {record.error}")
    if record.is_active:
        return DisplayNotReady(
            f"The viewable copy of '{record.name}' is not ready yet: it is made when its job runs "
            f"(now {record.get_status_display().lower()}). Try again in a moment, or download the original."
        )
    again = "Retry" if record.status == ImageRecord.Status.CANCELLED else "Recompress"
    return DisplayNotReady(
        f"No viewable copy of '{record.name}' has been made yet (images stored before they were made have none): "
        f"choose {again} on its page to make one, or download the original."
    )
