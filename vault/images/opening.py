"""Opening one of the owner's images with the vault's master key: the data key's unwrap, then the
blobs with every check (`vault.blobs`). Refusals are audited with their cause. A data key that MK
does not open is `RetrievalRefused`; a damaged or missing blob behind a data key that did open is
`BlobUnavailable` (410): the person typed no key, so "that key does not open this image" would
send them looking for a key problem that does not exist."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from vault import blobs, crypto, display, metadata
from vault.errors import BlobUnavailable, NotCompressedYet, RecordLocked, RetrievalRefused, UploadIncomplete
from vault.models import ImageRecord, UserVault


def _audit_refusal(*, record: ImageRecord, request, why: str) -> RetrievalRefused:
    record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request, user=record.owner, record=record, detail=why)
    return RetrievalRefused()


@sensitive_variables("master_key", "data_key")
def vault_data_key(*, record: ImageRecord, master_key: bytes, request=None) -> bytes:
    if record.upload_incomplete:
        raise UploadIncomplete(f"'{record.name}' was never fully uploaded: its original file did not arrive. "
                               "Upload the same file again to complete it, or delete it.")
    if record.is_legacy:
        raise RecordLocked(f"'{record.name}' was stored with its own retrieval key; open it with that key.")
    vault = UserVault.objects.filter(user_id=record.owner_id).first()
    if vault is None or record.vault_epoch != vault.epoch:
        raise RecordLocked(
            f"'{record.name}' belongs to a vault you replaced after a password reset without the "
            "recovery key; it cannot be opened any more. You can delete it."
        )
    try:
        return crypto.unwrap_key(record.dk_wrap, wrapping_key=master_key, purpose="dk", ids=(record.pk,))
    except crypto.SealError:
        raise _audit_refusal(record=record, request=request, why="wrapped data key does not open under the vault key") from None


def check_variants(variants) -> list[str]:
    variants = list(variants)
    for variant in variants:
        if variant not in blobs.VARIANTS:
            raise ValidationError(f"Unknown variant {variant!r}; choose one of {', '.join(blobs.VARIANTS)}.", code="variant")
    return variants


@sensitive_variables("data_key")
def open_sealed_blobs(*, record: ImageRecord, data_key: bytes, variants, request=None) -> dict[str, bytes]:
    """Read, check and decrypt blobs with a data key the caller has already authenticated (its wrap
    opened). Tampering or loss (a flipped bit, a swapped or missing blob, a wrong keyed digest) is
    `BlobUnavailable` naming the variant, audited with its cause: the other variants may still
    open. A compressed file or thumbnail whose first job has not finished is `NotCompressedYet`."""
    for variant in variants:
        if variant == display.VARIANT and not record.rendition_blob:
            raise display.not_ready(record)
        if not getattr(record, f"{variant}_blob") and variant != "original" and record.status != ImageRecord.Status.DONE:
            raise NotCompressedYet(
                f"'{record.name}' has no {variant} file yet: its compression is {record.get_status_display().lower()}."
            )
    try:
        return blobs.open_blobs(record, data_key=data_key, variants=variants)
    except blobs.BadBlob as bad:
        record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request, user=record.owner, record=record,
                     detail=f"stored file damaged or missing: {bad.why}")
        raise BlobUnavailable(bad.variant or "image") from None


@sensitive_variables("master_key", "data_key")
def open_variants(*, record: ImageRecord, master_key: bytes, variants, request=None) -> dict[str, bytes]:
    """Plaintext of the requested variants of one of the owner's images, opened with the vault's
    master key. Opening originals/compressed files is audited; thumbnails are not (a gallery page
    would write a row per picture)."""
    variants = check_variants(variants)
    data_key = vault_data_key(record=record, master_key=master_key, request=request)
    opened = open_sealed_blobs(record=record, data_key=data_key, variants=variants, request=request)
    shown = [v for v in variants if v != "thumbnail"]
    if shown:
        record_event(action=AuditEvent.Action.RETRIEVE_OK, request=request, user=record.owner, record=record, detail="+".join(shown))
    return opened


def open_variant(*, record: ImageRecord, master_key: bytes, variant: str, request=None) -> bytes:
    return open_variants(record=record, master_key=master_key, variants=[variant], request=request)[variant]


@sensitive_variables("master_key", "data_key")
def open_metadata(*, record: ImageRecord, master_key: bytes, request=None) -> dict | None:
    """The photo's sealed metadata (vault/metadata.py), or None when no job has read it yet. Like
    the thumbnails, not audited: every detail page would write a row."""
    if record.is_legacy or not record.metadata_sealed:
        return None
    data_key = vault_data_key(record=record, master_key=master_key, request=request)
    try:
        return metadata.open_sealed(record.metadata_sealed, data_key=data_key, record_id=record.pk)
    except crypto.SealError:
        raise _audit_refusal(record=record, request=request, why="sealed metadata failed authentication") from None
