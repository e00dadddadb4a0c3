"""Storing an upload: its checks (size, header, limits, upload token, file name), the sealed
original, and the job that compresses it (`vault.jobs`).

Errors a person can act on are Django `ValidationError`s (the API answers 400 with `detail`);
a limit is `JobLimit` (429 or 413), a vault replaced in another session `VaultLocked`.
"""
from __future__ import annotations

import logging
import re
import time
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from compression.imageio import InvalidImage, human_bytes, probe_upload
from portal.observability import UPLOAD_SECONDS
from vault import blobs, crypto, deployment, figures, keyring
from vault.duplicates import duplicate_digest, find_duplicate
from vault.errors import DuplicateImage, StorageFull, UploadIncomplete
from vault.jobs.dispatch import enqueue
from vault.jobs.state import check_limits, describe_options, job_options, mark_queued
from vault.models import ImageRecord, UserVault

logger = logging.getLogger(__name__)


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
    return f"The file is too large: {human_bytes(size)}; the limit is {human_bytes(max_bytes)}."


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


def _existing_upload(owner, upload_token: str | None) -> ImageRecord | None:
    if not upload_token:
        return None
    return ImageRecord.objects.filter(owner=owner, upload_token=upload_token).first()


STORAGE_MODES = tuple(ImageRecord.StorageMode.values)


def parse_storage(storage) -> str:
    """An upload's storage mode: `original` (the default) or `saver`, else a ValidationError
    quoting what was sent."""
    if storage in (None, ""):
        return ImageRecord.StorageMode.ORIGINAL
    if storage not in STORAGE_MODES:
        raise ValidationError(
            f"Unknown storage mode {str(storage)[:40]!r}; choose original (keep the original, losslessly "
            "recompressed) or saver (keep only the compressed version).",
            code="storage",
        )
    return str(storage)


def _new_record(*, owner, name, data, probed, options: dict, upload_token, storage: str) -> ImageRecord:
    return ImageRecord(
        storage_mode=storage,
        owner=owner,
        name=name,
        original_format=probed.format,
        original_media_type=probed.media_type,
        width=probed.width,
        height=probed.height,
        # Padmé-rounded from the first insert on: the exact size is sealed with the original
        # (`_store_original`, vault/figures.py).
        original_size=crypto.padme(len(data)),
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
    allow_duplicate: bool = False,
    storage: str | None = None,
    request=None,
) -> tuple[ImageRecord, bool]:
    """Check one upload cheaply, seal and store its original at once, and queue its compression
    (vault/jobs/). Returns the record (status `queued`, or already `done` where tasks run eagerly)
    and whether its original was stored now (False: `upload_token` was already used, e.g. a double
    submit or a Reload, and the record stored then is returned instead of a second copy). The same
    bytes stored before raise `DuplicateImage` naming that image, unless `allow_duplicate`. `storage`:
    `original` (default: the original is kept, losslessly recompressed by the job where that is
    smaller) or `saver` (the job deletes it once the compressed version is stored); the pages and
    the API pass the owner's default when the upload names none.

    Nothing slow happens inside a transaction: the row is inserted in one short transaction (it
    gives the id the blob is bound to), the sealed original is written outside any, and a second
    short one records it. Any failure deletes the blob and the row. A process that dies in between
    leaves a row without an original (`upload_incomplete`; housekeeping marks it failed): the same
    file sent again, under the same token or not, completes that row instead of answering it as
    stored (`_complete`).
    """
    started = time.perf_counter()
    upload_token = validate_upload_token(upload_token)
    existing = _existing_upload(owner, upload_token)
    if existing is not None and not existing.upload_incomplete:
        return existing, False
    vault = UserVault.objects.filter(user_id=owner.pk).first()
    if vault is None:
        raise ValidationError("You have no vault yet: log in once on the website to create it.", code="no_vault")
    keyring.check_master_key(vault=vault, master_key=master_key)
    options = job_options(codec=codec, target=target, quality=quality, effort=effort)
    storage = parse_storage(storage)
    name = sanitize_filename(filename or getattr(uploaded_file_or_bytes, "name", "") or "")
    data = _read_upload(uploaded_file_or_bytes, max_bytes=settings.UPLOAD_MAX_BYTES)
    try:
        probed = probe_upload(data, filename=name, max_bytes=settings.UPLOAD_MAX_BYTES, max_pixels=settings.UPLOAD_MAX_PIXELS)
    except InvalidImage as exc:
        raise ValidationError(str(exc), code="invalid_image") from exc
    # Before the quota: a duplicate over the quota is better answered with the copy already there.
    digest = duplicate_digest(data, master_key=master_key)
    if existing is not None or (existing := _incomplete_upload(owner, vault.epoch, digest)) is not None:
        return _complete(existing, data=data, digest=digest, master_key=master_key, upload_token=upload_token,
                         request=request, started=started)
    if not allow_duplicate and (same := find_duplicate(owner=owner, vault_epoch=vault.epoch, digest=digest)) is not None:
        raise DuplicateImage(filename=name, existing_id=same.pk, existing_name=same.name, in_trash=same.in_trash)
    check_limits(owner=owner, incoming_bytes=crypto.sealed_size(len(data)))

    record = _new_record(owner=owner, name=name, data=data, probed=probed, options=options, upload_token=upload_token,
                         storage=storage)
    data_key = crypto.new_data_key()
    record.original_mac = record.upload_mac = crypto.keyed_digest(data, data_key=data_key)
    record.duplicate_mac = digest
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
    if not _store_original(record, data=data, data_key=data_key, master_key=master_key, request=request):
        return ImageRecord.objects.get(pk=record.pk), False  # a retry of this upload completed it first
    return _queued(record, started), True


def _queued(record: ImageRecord, started: float) -> ImageRecord:
    enqueue(record)
    UPLOAD_SECONDS.labels(codec=(record.job_options or {}).get("codec") or "auto").observe(time.perf_counter() - started)
    record.refresh_from_db()  # where tasks run eagerly, the job has already finished
    return record


def _incomplete_upload(owner, vault_epoch: int, digest: str) -> ImageRecord | None:
    """The owner's row whose original never arrived, for these same bytes."""
    return (
        ImageRecord.objects.filter(
            owner=owner, vault_epoch=vault_epoch, duplicate_mac=digest, original_blob="", dk_wrap__isnull=True
        )
        .order_by("created", "id").first()
    )


@sensitive_variables("master_key", "data_key", "data")
def _complete(record: ImageRecord, *, data: bytes, digest: str, master_key: bytes, upload_token, request, started):
    """Store the original of a row whose first upload died before writing it. The data key drawn
    then died with that process: a new one is drawn, and the original's keyed digest made under it.
    The duplicate digest (under MK, not DK) proves the body is the same file the row describes."""
    if not crypto.digests_match(digest, record.duplicate_mac or ""):
        raise UploadIncomplete(
            f"The Idempotency-Key {upload_token!r} was first used for another file ('{record.name}'), whose upload "
            "never finished: send that file again with this key, or use a new key for this one."
        )
    data_key = crypto.new_data_key()
    record.original_mac = crypto.keyed_digest(data, data_key=data_key)
    if not _store_original(record, data=data, data_key=data_key, master_key=master_key, request=request, completing=True):
        return ImageRecord.objects.get(pk=record.pk), False
    return _queued(record, started), True


@sensitive_variables("master_key", "data_key", "data")
def _store_original(record: ImageRecord, *, data: bytes, data_key: bytes, master_key: bytes, request,
                    completing: bool = False) -> bool:
    """Write the sealed original and record it; False when another request completed the same
    row first (its original is the one kept; ours is deleted). `completing`: the row predates this
    request, so a failure leaves it as it was instead of deleting it."""
    written: list[str] = []
    try:
        try:
            deployment.ensure_marker()  # the orphan sweep only trusts a prefix marked with this database's id
        except OSError as exc:
            raise StorageFull.from_os_error(exc) from None
        name, digest = blobs.write_sealed(record.pk, "original", data, data_key=data_key)
        written.append(name)
        record.original_blob, record.sha256_original_blob = name, digest
        record.stored_bytes = crypto.sealed_size(len(data))
        for field, value in figures.sealed_fields(figures.of_upload(len(data)), data_key=data_key, record_id=record.pk).items():
            setattr(record, field, value)
        record.dk_wrap = crypto.wrap_key(data_key, wrapping_key=master_key, purpose="dk", ids=(record.pk,))
        mark_queued(record, data_key=data_key)
        with transaction.atomic(durable=True):
            rows = ImageRecord.objects.select_for_update().filter(pk=record.pk)
            current = rows.values_list("original_blob", flat=True).first()
            if current is None:
                raise ValidationError(f"'{record.name}' was deleted while its upload was being stored; nothing was kept.")
            if current:
                blobs.delete_blobs_quietly(written)
                return False
            record.full_clean(exclude={"upload_token"})
            record.save()
            record_event(
                action=AuditEvent.Action.UPLOAD, request=request, user=record.owner, record=record,
                detail=f"about {human_bytes(record.original_size)}, {describe_options(record.job_options)}, storage={record.storage_mode}"
                + (", completing an upload that had not arrived" if completing else ""),
            )
    except BaseException:
        blobs.delete_blobs_quietly(written)
        if not completing:
            ImageRecord.objects.filter(pk=record.pk).delete()
        raise
    logger.info(
        "upload stored",
        extra={
            # Padded sizes and ids only: never the file name (it can say more than the user meant
            # to), an exact size (vault/figures.py) nor any key material.
            "event": "upload", "record_id": record.pk, "owner_id": record.owner_id,
            "original_bytes": record.original_size, "pixels": record.pixels,
        },
    )
    return True
