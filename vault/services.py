"""The vault's business logic: store, retrieve and delete encrypted images.

Views and API views stay thin and call these. Errors a person can act on are raised as Django
`ValidationError` (the API's exception handler turns them into 400 with `detail`); a refused key is
`RetrievalRefused`, a lockout is `RetrievalLocked` (429 with Retry-After).
"""
from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import secrets
import time
import unicodedata
import zipfile
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from PIL import Image

from audit.events import record_event
from audit.models import AuditEvent
from compression.imageio import InvalidImage, load_upload, probe_upload
from portal.observability import UPLOAD_SECONDS
from vault import crypto, jobs, keyring
from vault.deployment import BLOB_PREFIX, ensure_marker
from vault.models import ImageRecord, Share, UserRetrievalGuard, UserVault
from vault.errors import GENERIC_REFUSAL, SHARE_UNAVAILABLE, RecordLocked, RetrievalLocked, RetrievalRefused, ShareUnavailable  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)

VARIANTS = crypto.VARIANTS
# Records stored before the vault had no thumbnail.
LEGACY_VARIANTS = ("original", "compressed")


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


def blob_name(record_id: int, variant: str) -> str:
    # The random suffix keeps names unique even if a rolled-back id is reused (SQLite reuses
    # rolled-back ids), so a leftover blob can never be mistaken for a later record's.
    return f"{BLOB_PREFIX}/{record_id}/{variant}-{secrets.token_hex(8)}.sealed"


def delete_blobs_quietly(names) -> None:
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


def job_options(*, codec: str | None, target: str | None, quality, effort: str | None = None) -> dict:
    """What a job is asked to do, checked (ValidationError as `validate_compression_options`) and
    in the form `ImageRecord.job_options` keeps: the target as the user wrote it."""
    parsed = validate_compression_options(codec=codec, target=target, quality=quality, effort=effort)
    return {"codec": parsed.codec, "target": (target or "").strip() or None, "quality": parsed.quality, "effort": parsed.effort}


THUMBNAIL_PX = 320  # the gallery's preview size (longest side)


def make_thumbnail(image: Image.Image) -> bytes:
    """A small WebP preview for the gallery, sealed like the other blobs (never stored plain)."""
    thumb = image.copy()
    thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, format="WEBP", quality=80, method=4)
    return buf.getvalue()


def _existing_upload(owner, upload_token: str | None) -> ImageRecord | None:
    if not upload_token:
        return None
    return ImageRecord.objects.filter(owner=owner, upload_token=upload_token).first()


def validate_upload_token(token) -> str | None:
    """The form's hidden token or the API's Idempotency-Key: short printable text, or nothing."""
    if token in (None, ""):
        return None
    token = str(token).strip()
    if not re.fullmatch(r"[\x21-\x7e]{1,64}", token):
        raise ValidationError(
            f"An idempotency key is 1-64 printable ASCII characters without spaces, not {token[:80]!r}.",
            code="idempotency_key",
        )
    return token


def _new_record(*, owner, name, data, probed, options: dict, upload_token) -> ImageRecord:
    return ImageRecord(
        owner=owner,
        name=name,
        original_format=probed.format,
        original_media_type=probed.media_type,
        width=probed.width,
        height=probed.height,
        original_size=len(data),
        job_options=options,
        status=ImageRecord.Status.QUEUED,
        stage="receiving",
        queued_at=timezone.now(),
        upload_token=upload_token,
    )


@sensitive_variables("master_key", "data_key")
def store_image(
    *,
    owner,
    master_key: bytes,
    uploaded_file_or_bytes,
    filename: str = "",
    codec: str | None = "auto",
    target: str | None = None,
    quality=None,
    effort: str | None = None,
    upload_token: str | None = None,
    request=None,
) -> tuple[ImageRecord, bool]:
    """Check one upload cheaply, seal and store its original at once, and queue its compression
    (vault/jobs.py). Returns the record (status `queued`, or already `done` where tasks run eagerly)
    and whether it was created now (False: `upload_token` was already used, e.g. a double submit or
    a Reload, and the record stored then is returned instead of a second copy).

    Nothing slow happens inside a transaction: the row is inserted in one short transaction (it
    gives the id the blob is bound to), the sealed original is written outside any, and a second
    short one records it. Any failure deletes the blob and the row; a process that dies in between
    leaves a row without an original, which `jobs.requeue_stalled` removes.
    """
    started = time.perf_counter()
    upload_token = validate_upload_token(upload_token)
    if (existing := _existing_upload(owner, upload_token)) is not None:
        return existing, False
    vault = UserVault.objects.filter(user_id=owner.pk).first()
    if vault is None:
        raise ValidationError("You have no vault yet: log in once on the website to create it.", code="no_vault")
    keyring.check_master_key(vault=vault, master_key=master_key)
    options = job_options(codec=codec, target=target, quality=quality, effort=effort)
    name = sanitize_filename(filename or getattr(uploaded_file_or_bytes, "name", "") or "")
    data = _read_upload(uploaded_file_or_bytes, max_bytes=settings.UPLOAD_MAX_BYTES)
    try:
        probed = probe_upload(data, filename=name, max_bytes=settings.UPLOAD_MAX_BYTES, max_pixels=settings.UPLOAD_MAX_PIXELS)
    except InvalidImage as exc:
        raise ValidationError(str(exc), code="invalid_image") from exc
    jobs.check_limits(owner=owner, incoming_bytes=len(data))

    record = _new_record(owner=owner, name=name, data=data, probed=probed, options=options, upload_token=upload_token)
    data_key = crypto.new_data_key()
    record.original_mac = crypto.keyed_digest(data, data_key=data_key)
    record.vault_epoch = vault.epoch
    try:
        with transaction.atomic(durable=True):
            record.full_clean(exclude={"upload_token", "original_blob", "sha256_original_blob"})
            record.save(force_insert=True)  # the id the blob and the wrapped keys are bound to
    except IntegrityError:
        # Two submits of one upload raced past the check above; the unique (owner, upload_token)
        # constraint let exactly one in.
        if (existing := _existing_upload(owner, upload_token)) is not None:
            return existing, False
        raise
    _store_original(record, data=data, data_key=data_key, master_key=master_key, request=request)
    jobs.enqueue(record)
    UPLOAD_SECONDS.labels(codec=options["codec"]).observe(time.perf_counter() - started)
    record.refresh_from_db()  # where tasks run eagerly, the job has already finished
    return record, True


@sensitive_variables("master_key", "data_key", "data")
def _store_original(record: ImageRecord, *, data: bytes, data_key: bytes, master_key: bytes, request) -> None:
    written: list[str] = []
    try:
        ensure_marker()  # the orphan sweep only trusts a prefix marked with this database's id
        sealed = crypto.seal(data, key=data_key, record_id=record.pk, variant="original")
        written.append(default_storage.save(blob_name(record.pk, "original"), ContentFile(sealed)))
        record.original_blob, record.sha256_original_blob = written[0], hashlib.sha256(sealed).hexdigest()
        record.dk_wrap = crypto.wrap_key(data_key, wrapping_key=master_key, purpose="dk", ids=(record.pk,))
        jobs.mark_queued(record, data_key=data_key)
        with transaction.atomic(durable=True):
            record.full_clean(exclude={"upload_token"})
            record.save()
            record_event(
                action=AuditEvent.Action.UPLOAD, request=request, user=record.owner, record=record,
                detail=f"{record.original_size} bytes, {jobs.describe_options(record.job_options)}",
            )
    except BaseException:
        delete_blobs_quietly(written)
        ImageRecord.objects.filter(pk=record.pk).delete()
        raise
    logger.info(
        "upload stored",
        extra={
            # Sizes and ids only: never the file name (it can say more than the user meant to)
            # nor any key material.
            "event": "upload", "record_id": record.pk, "owner_id": record.owner_id,
            "original_bytes": record.original_size, "pixels": record.pixels,
        },
    )


# --- opening with the vault -------------------------------------------------------------------


def _audit_refusal(*, record, request, why: str) -> RetrievalRefused:
    record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request, user=record.owner, record=record, detail=why)
    return RetrievalRefused()


@sensitive_variables("master_key", "data_key")
def vault_data_key(*, record: ImageRecord, master_key: bytes, request=None) -> bytes:
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


def _check_variants(variants) -> list[str]:
    variants = list(variants)
    for variant in variants:
        if variant not in VARIANTS:
            raise ValidationError(f"Unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}.", code="variant")
    return variants


@sensitive_variables("data_key", "plaintext")
def open_sealed_blobs(*, record: ImageRecord, data_key: bytes, variants, request=None) -> dict[str, bytes]:
    """Read, check and decrypt blobs. Tampering (a flipped bit, a swapped or missing blob, a wrong
    keyed digest) is `RetrievalRefused`, audited with its cause."""
    opened: dict[str, bytes] = {}
    for variant in variants:
        name = getattr(record, f"{variant}_blob")
        if not name and variant != "original" and record.status != ImageRecord.Status.DONE:
            raise jobs.NotCompressedYet(
                f"'{record.name}' has no {variant} file yet: its compression is {record.get_status_display().lower()}."
            )
        blob = _read_blob(name) if name else None
        if blob is None:
            raise _audit_refusal(record=record, request=request, why=f"{variant}: blob missing")
        if hashlib.sha256(blob).hexdigest() != getattr(record, f"sha256_{variant}_blob"):
            raise _audit_refusal(record=record, request=request, why=f"{variant}: blob SHA-256 mismatch")
        try:
            plaintext = crypto.open_sealed(blob, key=data_key, record_id=record.pk, variant=variant)
        except crypto.SealError:
            raise _audit_refusal(record=record, request=request, why=f"{variant}: blob failed authentication") from None
        if variant == "original" and not crypto.digests_match(
            crypto.keyed_digest(plaintext, data_key=data_key), record.original_mac
        ):
            raise _audit_refusal(record=record, request=request, why="original: keyed digest mismatch")
        opened[variant] = plaintext
    return opened


@sensitive_variables("master_key", "data_key")
def open_variants(*, record: ImageRecord, master_key: bytes, variants, request=None) -> dict[str, bytes]:
    """Plaintext of the requested variants of one of the owner's images, opened with the vault's
    master key. Opening originals/compressed files is audited; thumbnails are not (a gallery page
    would write a row per picture)."""
    variants = _check_variants(variants)
    data_key = vault_data_key(record=record, master_key=master_key, request=request)
    opened = open_sealed_blobs(record=record, data_key=data_key, variants=variants, request=request)
    shown = [v for v in variants if v != "thumbnail"]
    if shown:
        record_event(action=AuditEvent.Action.RETRIEVE_OK, request=request, user=record.owner, record=record, detail="+".join(shown))
    return opened


def open_variant(*, record: ImageRecord, master_key: bytes, variant: str, request=None) -> bytes:
    return open_variants(record=record, master_key=master_key, variants=[variant], request=request)[variant]


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


@sensitive_variables("key", "secret", "data_key", "plaintext")
def _legacy_open(*, record: ImageRecord, key: str, variants, request=None) -> tuple[bytes, bytes, dict[str, bytes]]:
    """A record from before the vault, opened with its retrieval key: (key secret, data key, the
    requested variants' plaintext), after the lockout and key checks."""
    variants = list(variants)
    for variant in variants:
        if variant not in LEGACY_VARIANTS:
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
    return secret, data_key, opened


@sensitive_variables("key", "secret", "data_key")
def retrieve_variants(*, record: ImageRecord, key: str, variants, request=None) -> dict[str, bytes]:
    """Plaintext bytes of the requested variants of a record from before the vault, after one key
    check. `original` is the upload byte for byte; `compressed` is the stored codec bytes (pages
    use the codec's `display_bytes` for browsers). One success event is audited per request."""
    _secret, _data_key, opened = _legacy_open(record=record, key=key, variants=variants, request=request)
    record_event(action=AuditEvent.Action.RETRIEVE_OK, request=request, user=record.owner, record=record,
                 detail="+".join(opened))
    return opened


@sensitive_variables("key", "master_key", "secret", "data_key", "opened")
def adopt_legacy_record(*, record: ImageRecord, key: str, master_key: bytes, request=None) -> tuple[Share, str]:
    """"Add to my vault": a record stored with its own retrieval key, opened once with that key, is
    re-wrapped under the owner's master key (and gains a thumbnail and a keyed digest instead of the
    plain SHA-256). Its old key keeps working, as a share key of this image (returned with it)."""
    if not record.is_legacy:
        raise ValidationError(f"'{record.name}' is already in your vault.", code="not_legacy")
    vault = UserVault.objects.filter(user_id=record.owner_id).first()
    if vault is None:
        raise keyring.VaultLocked()
    keyring.check_master_key(vault=vault, master_key=master_key)
    secret, data_key, opened = _legacy_open(record=record, key=key, variants=["original"], request=request)
    thumbnail = make_thumbnail(load_upload(opened["original"]).image)
    sealed = crypto.seal(thumbnail, key=data_key, record_id=record.pk, variant="thumbnail")
    written = [default_storage.save(blob_name(record.pk, "thumbnail"), ContentFile(sealed))]
    try:
        with transaction.atomic():
            record.thumbnail_blob, record.sha256_thumbnail_blob = written[0], hashlib.sha256(sealed).hexdigest()
            record.original_mac = crypto.keyed_digest(opened["original"], data_key=data_key)
            record.dk_wrap = crypto.wrap_key(data_key, wrapping_key=master_key, purpose="dk", ids=(record.pk,))
            record.vault_epoch = vault.epoch
            # The unkeyed digest and the old key's wrap and hash go: the key lives on as a share.
            record.sha256_original, record.wrapped_key, record.wrap_salt, record.key_hash = "", None, None, ""
            record.save()
            share, key_text = _new_share(record=record, data_key=data_key, label="former retrieval key",
                                         expires_at=None, request=request, secret=secret)
            record_event(action=AuditEvent.Action.VAULT_ADOPTED, request=request, user=record.owner, record=record,
                         detail="Added to the vault; its retrieval key is now a share key.")
    except BaseException:
        delete_blobs_quietly(written)
        raise
    return share, key_text


def retrieve_image(*, record: ImageRecord, key: str, variant: str, request=None) -> bytes:
    """One variant's plaintext; see `retrieve_variants`."""
    return retrieve_variants(record=record, key=key, variants=[variant], request=request)[variant]


def retrieve_both(*, record: ImageRecord, key: str, request=None) -> tuple[bytes, bytes]:
    """Original and compressed for the compare page, with a single key check."""
    opened = retrieve_variants(record=record, key=key, variants=LEGACY_VARIANTS, request=request)
    return opened["original"], opened["compressed"]


# --- shares: one image, one key, for anyone holding it ------------------------------------------


def _share_wrapping_key(secret: bytes) -> bytes:
    # The share key is 256 random bits, so HKDF suffices (nothing to slow down); its own purpose
    # keeps this key distinct from any other use of the same bytes.
    return crypto.subkey(secret, purpose="share-wrap-v1")


@sensitive_variables("master_key", "data_key", "secret")
def create_share(*, record: ImageRecord, master_key: bytes, label: str = "", expires_at=None, request=None,
                 secret: bytes | None = None) -> tuple[Share, str]:
    """A new share of one image. Returns it with its key text, which is stored nowhere: the caller
    shows it once. `secret` is only passed when an old retrieval key becomes a share key."""
    data_key = vault_data_key(record=record, master_key=master_key, request=request)
    return _new_share(record=record, data_key=data_key, label=label, expires_at=expires_at, request=request, secret=secret)


@sensitive_variables("data_key", "secret")
@transaction.atomic
def _new_share(*, record, data_key, label, expires_at, request, secret=None) -> tuple[Share, str]:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(f"The expiry {expires_at:%Y-%m-%d %H:%M} is in the past.", code="expires_at")
    secret = secret or crypto.new_retrieval_key()
    share = Share(record=record, public_id=secrets.token_urlsafe(12), label=(label or "").strip()[:100], expires_at=expires_at)
    share.dk_wrap = b""
    share.save()  # the id the wrap is bound to
    share.dk_wrap = crypto.wrap_key(data_key, wrapping_key=_share_wrapping_key(secret), purpose="dk-share", ids=(record.pk, share.pk))
    share.save(update_fields=["dk_wrap"])
    until = f" until {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else ""
    record_event(action=AuditEvent.Action.SHARE_CREATED, request=request, user=record.owner, record=record,
                 detail=f"Share {share.public_id} created{until}.")
    return share, crypto.format_retrieval_key(secret)


@transaction.atomic
def revoke_share(*, share: Share, request=None) -> None:
    record_event(action=AuditEvent.Action.SHARE_REVOKED, request=request, user=share.record.owner, record=share.record,
                 detail=f"Share {share.public_id} revoked.")
    share.delete()  # the wrap goes with the row: the key opens nothing any more


def _share_refused(*, share: Share, request, why: str) -> RetrievalRefused:
    now = timezone.now()
    with transaction.atomic():
        fresh = Share.objects.select_for_update().get(pk=share.pk)
        locked = _count_failure(fresh, now=now, limit=settings.RETRIEVE_FAILURE_LIMIT, cooloff=settings.RETRIEVE_COOLOFF)
    record_event(action=AuditEvent.Action.SHARE_REFUSED, request=request, user=None, record=share.record,
                 detail=f"Share {share.public_id}: {why}" + ("; locked after repeated wrong keys" if locked else ""))
    return RetrievalRefused()


@sensitive_variables("key", "secret", "data_key")
def open_share(*, public_id: str, key: str, variants, request=None) -> tuple[Share, dict[str, bytes]]:
    """Anyone's request with a share link's key: the one image, nothing else. Wrong keys are counted
    and locked out per share, as retrieval keys are per record."""
    variants = _check_variants(variants)
    share = Share.objects.select_related("record", "record__owner").filter(public_id=str(public_id)[:32]).first()
    if share is None or share.is_expired():
        raise ShareUnavailable()
    try:
        secret = crypto.parse_retrieval_key(key)
    except crypto.MalformedKey as exc:
        raise ValidationError(str(exc).replace("retrieval key", "share key"), code="malformed_key") from exc
    remaining = _lock_remaining(share.locked_until, timezone.now())
    if remaining:
        record_event(action=AuditEvent.Action.SHARE_REFUSED, request=request, record=share.record,
                     detail=f"Share {share.public_id}: locked out after repeated wrong keys")
        raise RetrievalLocked(math.ceil(remaining))
    data_key = _share_data_key(share, secret)
    if data_key is None:
        raise _share_refused(share=share, request=request, why="wrong key")
    opened = open_sealed_blobs(record=share.record, data_key=data_key, variants=variants, request=request)
    Share.objects.filter(pk=share.pk).update(uses=F("uses") + 1, last_used_at=timezone.now(), failed_attempts=0)
    record_event(action=AuditEvent.Action.SHARE_OPENED, request=request, user=None, record=share.record,
                 detail=f"Share {share.public_id}: {'+'.join(variants)}")
    return share, opened


@sensitive_variables("secret")
def _share_data_key(share: Share, secret: bytes) -> bytes | None:
    try:
        return crypto.unwrap_key(share.dk_wrap, wrapping_key=_share_wrapping_key(secret), purpose="dk-share",
                                 ids=(share.record_id, share.pk))
    except crypto.SealError:
        return None


@sensitive_variables("key", "secret", "data_key")
def open_with_share_key(*, record: ImageRecord, key: str, variants, request=None) -> dict[str, bytes]:
    """The old `POST /images/<id>/retrieve/` with a share key of that record (the owner's own
    request): the key is tried against the record's live shares; a wrong one counts against the
    record and the owner like a wrong retrieval key."""
    variants = _check_variants(variants)
    try:
        secret = crypto.parse_retrieval_key(key)
    except crypto.MalformedKey as exc:
        raise ValidationError(str(exc), code="malformed_key") from exc
    guard = UserRetrievalGuard.objects.filter(user_id=record.owner_id).first()
    now = timezone.now()
    remaining = max(_lock_remaining(record.locked_until, now), _lock_remaining(guard.locked_until if guard else None, now))
    if remaining:
        raise RetrievalLocked(math.ceil(remaining))
    for share in record.shares.all():
        data_key = None if share.is_expired() else _share_data_key(share, secret)
        if data_key is not None:
            opened = open_sealed_blobs(record=record, data_key=data_key, variants=variants, request=request)
            record_event(action=AuditEvent.Action.SHARE_OPENED, request=request, record=record,
                         detail=f"Share {share.public_id} via the record's retrieve endpoint: {'+'.join(variants)}")
            return opened
    raise _refuse(record=record, request=request, why="no live share of this image opens with this key")


# --- several images at once ------------------------------------------------------------------

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


# --- deleting ---------------------------------------------------------------------------------


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
