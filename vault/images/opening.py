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
from vault import blobs, crypto, display, figures, metadata, originals, sessions
from vault.errors import (
    BlobUnavailable, NotCompressedYet, OriginalNotKept, RecordLocked, RetrievalRefused, UploadIncomplete, VaultLocked,
)
from vault.models import ImageRecord, UserVault


def _audit_refusal(*, record: ImageRecord, request, why: str) -> RetrievalRefused:
    record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request, user=record.owner, record=record, detail=why)
    return RetrievalRefused()


def current_epoch(owner_id: int) -> int | None:
    """The epoch of the owner's current vault (None: no vault yet)."""
    return UserVault.objects.filter(user_id=owner_id).values_list("epoch", flat=True).first()


@sensitive_variables("master_key", "data_key")
def vault_data_key(*, record: ImageRecord, master_key: bytes, request=None, epoch: int | None = None) -> bytes:
    """DK of a record of the owner's current vault. `epoch`: the owner's current vault epoch when
    the caller already has it (`current_epoch`), so a loop over many records reads it once."""
    if record.upload_incomplete:
        raise UploadIncomplete(f"'{record.name}' was never fully uploaded: its original file did not arrive. "
                               "Upload the same file again to complete it, or delete it.")
    if record.is_legacy:
        raise RecordLocked(f"'{record.name}' was stored with its own retrieval key; open it with that key.")
    if epoch is None:
        epoch = current_epoch(record.owner_id)
    if epoch is None or record.vault_epoch != epoch:
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
    open. A compressed file or thumbnail whose first job has not finished is `NotCompressedYet`; the
    original of a storage-saver image, `OriginalNotKept` (410).

    The original comes back in the upload's form: a JPEG kept as JPEG XL is rebuilt byte for byte
    (and checked against the upload's keyed digest), a lossless JPEG XL becomes a PNG with the same
    pixels and metadata (vault/originals.py)."""
    if record.original_storage == ImageRecord.OriginalStorage.NOT_KEPT and {"original", display.VARIANT} & set(variants):
        raise OriginalNotKept(record.name)  # the rendition is the original's pixels: it went with it
    for variant in variants:
        if variant == display.VARIANT and not record.rendition_blob:
            raise display.not_ready(record)
        if not getattr(record, f"{variant}_blob") and variant != "original" and record.status != ImageRecord.Status.DONE:
            raise NotCompressedYet(
                f"'{record.name}' has no {variant} file yet: its compression is {record.get_status_display().lower()}."
            )
    try:
        opened = blobs.open_blobs(record, data_key=data_key, variants=variants)
        if "original" in opened and record.original_storage in originals.JXL_FORMS:
            opened["original"] = _rebuilt_original(record, opened["original"], data_key=data_key)
    except blobs.BadBlob as bad:
        record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request, user=record.owner, record=record,
                     detail=f"stored file damaged or missing: {bad.why}")
        raise BlobUnavailable(bad.variant or "image") from None
    return opened


@sensitive_variables("data_key", "stored")
def _rebuilt_original(record: ImageRecord, stored: bytes, *, data_key: bytes) -> bytes:
    try:
        rebuilt = originals.rebuild(stored, record.original_storage)
    except Exception as exc:  # noqa: BLE001 - a blob that authenticated but does not decode is damaged
        raise blobs.BadBlob(f"original: its JPEG XL does not rebuild ({type(exc).__name__})", variant="original") from None
    if record.original_storage == ImageRecord.OriginalStorage.JXL_JPEG and record.upload_mac and not crypto.digests_match(
        crypto.keyed_digest(rebuilt, data_key=data_key), record.upload_mac
    ):
        raise blobs.BadBlob("original: the rebuilt JPEG does not match the upload's keyed digest", variant="original")
    return rebuilt


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


@sensitive_variables("data_key", "exact")
def reveal_with_data_key(record: ImageRecord, *, data_key: bytes, request=None) -> None:
    """The record's exact figures onto this instance (`figures.reveal`), with a data key already
    opened. Sealed figures that do not open leave the coarse values and set `figures_damaged`
    (the page says so); the cause is audited. Never raises: sizes and scores are not worth a
    page that fails to show the image."""
    if record.figures_sealed is None or getattr(record, "figures_open", False):
        return
    try:
        exact = figures.open_sealed(record.figures_sealed, data_key=data_key, record_id=record.pk)
    except figures.FiguresError as exc:
        record.figures_damaged = True
        record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request, user=record.owner, record=record,
                     detail=str(exc))
        return
    figures.reveal(record, exact)


@sensitive_variables("master_key", "data_key")
def reveal_figures(records, *, master_key: bytes, request=None) -> None:
    """Exact figures onto each of the owner's records whose data key MK opens; the others (legacy,
    a replaced vault, a wrap that does not open) keep their coarse values."""
    epochs: dict[int, int | None] = {}  # one query per owner, not per record (a gallery page)
    for record in records:
        if record.figures_sealed is None or getattr(record, "figures_open", False):
            continue
        if record.owner_id not in epochs:
            epochs[record.owner_id] = current_epoch(record.owner_id)
        try:
            data_key = vault_data_key(record=record, master_key=master_key, request=request, epoch=epochs[record.owner_id])
        except (RecordLocked, RetrievalRefused, UploadIncomplete):
            continue
        reveal_with_data_key(record, data_key=data_key, request=request)


@sensitive_variables("master_key")
def reveal_figures_for(request, records) -> bool:
    """`reveal_figures` with the MK this request carries (API token or unlocked session); False,
    and nothing opened, when it carries none."""
    try:
        master_key = sessions.master_key_for(request)
    except VaultLocked:
        return False
    reveal_figures(records, master_key=master_key, request=request)
    return True
