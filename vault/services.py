"""The vault's business logic: store, retrieve and delete encrypted images.

Views and API views stay thin and call these. Errors a person can act on are raised as Django
`ValidationError` (the API's exception handler turns them into 400 with `detail`); a refused key is
`RetrievalRefused`, a lockout is `RetrievalLocked` (429 with Retry-After).
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import time
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from PIL import Image

from accounts.audit import record_event
from accounts.models import AuditEvent
from compression.imageio import InvalidImage, load_upload
from compression.services import compress_image
from vault import crypto
from vault.models import ImageRecord, UserRetrievalGuard

logger = logging.getLogger(__name__)

VARIANTS = crypto.VARIANTS
BLOB_PREFIX = "vault"
GENERIC_REFUSAL = "That key does not open this image."


class RetrievalRefused(Exception):
    """Wrong key, tampered blob or missing blob: deliberately indistinguishable to the caller."""

    def __init__(self) -> None:
        super().__init__(GENERIC_REFUSAL)


class RetrievalLocked(Exception):
    """Too many wrong keys; retrieval is refused until the cool-off ends."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        minutes = math.ceil(self.retry_after / 60)
        super().__init__(
            f"Too many wrong keys. Retrieval is locked; try again in about {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )


def user_failure_limit() -> int:
    # Per user across all records; a few records' worth of typos before the user-wide lock.
    return getattr(settings, "RETRIEVE_USER_FAILURE_LIMIT", 3 * settings.RETRIEVE_FAILURE_LIMIT)


# --- storing ----------------------------------------------------------------------------------


def sanitize_filename(filename: str) -> str:
    """A display/download name from whatever the client sent: no path, no control characters."""
    name = unicodedata.normalize("NFC", str(filename or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        return "image"
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 150 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else name[:150]
    return name


def _read_upload(upload, *, max_bytes: int) -> bytes:
    """All bytes of an uploaded file or a bytes object, refusing anything above `max_bytes`
    before reading it (an oversize upload must not be pulled into memory)."""
    if isinstance(upload, (bytes, bytearray, memoryview)):
        data = bytes(upload)
    else:
        size = getattr(upload, "size", None)
        if size is not None and size > max_bytes:
            raise ValidationError(_too_big(size, max_bytes), code="too_big")
        if hasattr(upload, "seek"):
            upload.seek(0)
        if hasattr(upload, "chunks"):
            parts, total = [], 0
            for chunk in upload.chunks():
                total += len(chunk)
                if total > max_bytes:
                    raise ValidationError(_too_big(total, max_bytes), code="too_big")
                parts.append(chunk)
            data = b"".join(parts)
        else:
            data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationError(_too_big(len(data), max_bytes), code="too_big")
    if not data:
        raise ValidationError("The file is empty (0 bytes).", code="empty")
    return data


def _too_big(size: int, max_bytes: int) -> str:
    return f"The file is too large: {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB."


def _blob_name(record_id: int, variant: str) -> str:
    # The random suffix keeps names unique even if a rolled-back id is reused (SQLite reuses
    # rolled-back ids), so a leftover blob can never be mistaken for a later record's.
    return f"{BLOB_PREFIX}/{record_id}/{variant}-{secrets.token_hex(8)}.sealed"


def _delete_blobs_quietly(names) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # noqa: BLE001 - best effort; the sweep command catches leftovers
            logger.exception("Could not delete vault blob %s; `manage.py vault_sweep` will retry.", name)


def validate_compression_options(*, codec: str | None, target: str | None, quality, effort: str | None = None):
    """The codec/target/quality/effort the user chose, checked by compression's own rules and
    messages (shared with the API and the selector); ValidationError quoting a bad value, its
    code naming the field."""
    from compression.selection import options

    checks = (
        ("codec", lambda: options.parse_codec(codec)),
        ("target", lambda: options.parse_target(target)),
        ("effort", lambda: options.parse_effort(effort)),
    )
    parsed = {}
    for field, check in checks:
        try:
            parsed[field] = check()
        except ValueError as exc:  # CodecError is a ValueError
            raise ValidationError(str(exc), code=field) from exc
    try:
        parsed["quality"] = options.parse_quality(quality, parsed["codec"])
    except ValueError as exc:
        raise ValidationError(str(exc), code="quality") from exc
    return options.Request(**parsed)


@sensitive_variables("keys")
def store_image(
    *,
    owner,
    uploaded_file_or_bytes,
    filename: str = "",
    codec: str | None = "auto",
    target: str | None = None,
    quality=None,
    effort: str | None = None,
    request=None,
) -> tuple[ImageRecord, str]:
    """Decode, compress, encrypt and store one upload. Returns the record and the retrieval key,
    which exists nowhere else afterwards: the caller shows it to the user once.

    Atomic: the row is only committed after both blobs are written, and any failure (validation,
    storage, the commit itself) deletes whatever blobs were written. `durable=True` makes the
    commit at the end of this block the real one; inside a caller's transaction a later rollback
    would otherwise leave blobs behind with no row.
    """
    started = time.perf_counter()
    options = validate_compression_options(codec=codec, target=target, quality=quality, effort=effort)
    name = sanitize_filename(filename or getattr(uploaded_file_or_bytes, "name", "") or "")
    data = _read_upload(uploaded_file_or_bytes, max_bytes=settings.UPLOAD_MAX_BYTES)
    try:
        decoded = load_upload(
            data, filename=name, max_bytes=settings.UPLOAD_MAX_BYTES, max_pixels=settings.UPLOAD_MAX_PIXELS
        )
    except InvalidImage as exc:
        raise ValidationError(str(exc), code="invalid_image") from exc
    try:
        result = compress_image(
            image=decoded.image,
            codec=options.codec,
            target=options.target,
            quality=options.quality,
            effort=options.effort,
        )
    except ValueError as exc:  # CodecError is a ValueError: a bad codec/target/quality combination
        raise ValidationError(str(exc), code="compression") from exc

    fmt = (decoded.format or "").upper()
    record = ImageRecord(
        owner=owner,
        name=name,
        original_format=fmt,
        original_media_type=Image.MIME.get(fmt, "application/octet-stream"),
        width=decoded.width,
        height=decoded.height,
        has_alpha=bool(decoded.has_alpha),
        codec=result.codec,
        codec_params=result.params,
        candidates=result.candidate_dicts(),
        reason=result.reason or "",
        compressed_media_type=result.media_type,
        compressed_extension=(result.extension or "").lstrip("."),
        original_size=len(data),
        compressed_size=len(result.data),
        psnr=result.psnr,
        ssim=result.ssim,
        msssim=result.msssim,
        bpp=result.bpp,
        encode_seconds=float(result.seconds),
        total_seconds=0.0,
        sha256_original=hashlib.sha256(data).hexdigest(),
    )
    blob_fields = {"original_blob", "compressed_blob", "sha256_original_blob", "sha256_compressed_blob"}
    written: list[str] = []
    try:
        with transaction.atomic(durable=True):
            record.full_clean(exclude=blob_fields)
            record.save(force_insert=True)  # the id the blobs are sealed to
            keys = crypto.new_key_material(record_id=record.pk)
            for variant, plaintext in (("original", data), ("compressed", result.data)):
                sealed = crypto.seal(plaintext, key=keys.data_key, record_id=record.pk, variant=variant)
                stored_name = default_storage.save(_blob_name(record.pk, variant), ContentFile(sealed))
                written.append(stored_name)
                setattr(record, f"{variant}_blob", stored_name)
                setattr(record, f"sha256_{variant}_blob", hashlib.sha256(sealed).hexdigest())
            record.wrapped_key = keys.wrapped_key
            record.wrap_salt = keys.wrap_salt
            record.key_hash = keys.key_hash
            record.total_seconds = time.perf_counter() - started
            record.full_clean()
            record.save()
            record_event(
                action=AuditEvent.Action.UPLOAD,
                request=request,
                user=owner,
                record=record,
                detail=f"{record.codec} {record.original_size}->{record.compressed_size} bytes",
            )
    except BaseException:
        _delete_blobs_quietly(written)
        raise
    return record, keys.retrieval_key


# --- retrieving -------------------------------------------------------------------------------


def _lock_remaining(locked_until, now) -> float:
    return (locked_until - now).total_seconds() if locked_until and locked_until > now else 0.0


def _count_failure(obj, *, now, limit: int, cooloff: timedelta) -> bool:
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
            if _count_failure(fresh, now=now, limit=settings.RETRIEVE_FAILURE_LIMIT, cooloff=cooloff):
                locked.append("this image")
            record.failed_attempts, record.locked_until = fresh.failed_attempts, fresh.locked_until
        guard, _ = UserRetrievalGuard.objects.select_for_update().get_or_create(user_id=record.owner_id)
        if _count_failure(guard, now=now, limit=user_failure_limit(), cooloff=cooloff):
            locked.append("all of the user's images")
    return locked


def _refuse(*, record: ImageRecord, request, why: str) -> RetrievalRefused:
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


def _read_blob(name: str) -> bytes | None:
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - e.g. a storage backend's own "no such key" error
        logger.exception("Could not read vault blob %s", name)
        return None


@sensitive_variables("key", "secret", "data_key")
def retrieve_variants(*, record: ImageRecord, key: str, variants, request=None) -> dict[str, bytes]:
    """Plaintext bytes of the requested variants, after one key check. `original` is the upload
    byte for byte; `compressed` is the stored codec bytes (pages use the codec's
    `display_bytes` for browsers). One success event is audited for the whole request."""
    variants = list(variants)
    for variant in variants:
        if variant not in VARIANTS:
            raise ValidationError(
                f"Unknown variant {variant!r}; choose 'original' or 'compressed'.", code="variant"
            )
    label = "+".join(variants)
    try:
        secret = crypto.parse_retrieval_key(key)
    except crypto.MalformedKey as exc:
        # Not a guess at the key at all (its format is public), so it is not counted.
        raise ValidationError(str(exc), code="malformed_key") from exc

    now = timezone.now()
    guard = UserRetrievalGuard.objects.filter(user_id=record.owner_id).first()
    record.refresh_from_db(fields=["locked_until", "failed_attempts", "last_failed_at"])
    remaining = max(
        _lock_remaining(record.locked_until, now), _lock_remaining(guard.locked_until if guard else None, now)
    )
    if remaining:
        # Checked before the key: while locked, even the right key is refused, or the lock
        # would still let an attacker learn which guess was right.
        record_event(
            action=AuditEvent.Action.RETRIEVE_REFUSED,
            request=request,
            user=record.owner,
            record=record,
            detail=f"{label}: locked out after repeated wrong keys",
        )
        raise RetrievalLocked(math.ceil(remaining))

    def rehash(_raw):
        # Upgrades the stored hash when the preferred hasher changes (e.g. new Argon2 costs).
        ImageRecord.objects.filter(pk=record.pk).update(key_hash=crypto.hash_retrieval_key(secret))

    if not crypto.check_retrieval_key(secret, record.key_hash, setter=rehash):
        raise _refuse(record=record, request=request, why=f"{label}: wrong key")
    try:
        data_key = crypto.unwrap_data_key(
            record.wrapped_key, secret=secret, salt=record.wrap_salt, record_id=record.pk
        )
    except crypto.SealError:
        raise _refuse(record=record, request=request, why=f"{label}: wrapped key does not open") from None

    opened: dict[str, bytes] = {}
    for variant in variants:
        blob = _read_blob(getattr(record, f"{variant}_blob"))
        if blob is None:
            raise _refuse(record=record, request=request, why=f"{variant}: blob missing")
        if hashlib.sha256(blob).hexdigest() != getattr(record, f"sha256_{variant}_blob"):
            raise _refuse(record=record, request=request, why=f"{variant}: blob SHA-256 mismatch")
        try:
            plaintext = crypto.open_sealed(blob, key=data_key, record_id=record.pk, variant=variant)
        except crypto.SealError:
            raise _refuse(record=record, request=request, why=f"{variant}: blob failed authentication") from None
        if variant == "original" and hashlib.sha256(plaintext).hexdigest() != record.sha256_original:
            raise _refuse(record=record, request=request, why=f"{variant}: original SHA-256 mismatch")
        opened[variant] = plaintext

    if record.failed_attempts or record.last_failed_at:
        ImageRecord.objects.filter(pk=record.pk).update(failed_attempts=0, last_failed_at=None)
        record.failed_attempts, record.last_failed_at = 0, None
    record_event(action=AuditEvent.Action.RETRIEVE_OK, request=request, user=record.owner, record=record, detail=label)
    return opened


def retrieve_image(*, record: ImageRecord, key: str, variant: str, request=None) -> bytes:
    """One variant's plaintext; see `retrieve_variants`."""
    return retrieve_variants(record=record, key=key, variants=[variant], request=request)[variant]


def retrieve_both(*, record: ImageRecord, key: str, request=None) -> tuple[bytes, bytes]:
    """Original and compressed for the compare page, with a single key check."""
    opened = retrieve_variants(record=record, key=key, variants=VARIANTS, request=request)
    return opened["original"], opened["compressed"]


# --- deleting ---------------------------------------------------------------------------------


def delete_image(*, record: ImageRecord, request=None) -> None:
    """Remove the row now and the blobs once the deletion has committed: if the transaction
    rolls back, the row still points at blobs that still exist."""
    names = [record.original_blob, record.compressed_blob]
    with transaction.atomic():
        record_event(
            action=AuditEvent.Action.DELETE,
            request=request,
            user=getattr(request, "user", None) if request is not None else record.owner,
            record=record,
            detail=f"{record.codec}, {record.original_size} bytes original",
        )
        record.delete()
        transaction.on_commit(lambda: _delete_blobs_quietly(names))


def sweep_orphan_blobs(*, older_than: timedelta = timedelta(hours=1), dry_run: bool = False) -> list[str]:
    """Delete blobs no row refers to: the leftovers of a process killed between writing blobs and
    committing. Young blobs are skipped because their upload may still be committing."""
    known = set(ImageRecord.objects.values_list("original_blob", flat=True)) | set(
        ImageRecord.objects.values_list("compressed_blob", flat=True)
    )
    cutoff = timezone.now() - older_than
    removed = []
    try:
        record_dirs, _ = default_storage.listdir(BLOB_PREFIX)
    except (FileNotFoundError, OSError):
        return removed
    for record_dir in record_dirs:
        _, files = default_storage.listdir(f"{BLOB_PREFIX}/{record_dir}")
        for filename in files:
            name = f"{BLOB_PREFIX}/{record_dir}/{filename}"
            if name in known:
                continue
            try:
                modified = default_storage.get_modified_time(name)
            except (NotImplementedError, OSError):
                modified = None
            if modified is not None and modified > cutoff:
                continue
            removed.append(name)
            if not dry_run:
                _delete_blobs_quietly([name])
    return removed
