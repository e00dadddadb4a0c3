"""The worker's side of a compression job: the Celery task and everything it does for one
message, top to bottom: claim the record, open the original with the job key, compress it with
progress reports, keep the original in its smallest exact form (vault/originals.py) or, in
storage-saver mode, drop it once the compressed version is stored and read back, seal and store
the result, and leave the active states (vault/jobs/state.py).

Exactly one worker owns a job: the record's `job_task_id` names the message that may run it. A
message delivered twice (the worker died; the broker redelivers it) finds its own id and counts
an attempt; a stale message, or one for a job sent again by `dispatch.requeue_stalled`, finds
another id and does nothing.
"""
from __future__ import annotations

import logging
import threading
import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from compression.imageio import InvalidImage, human_bytes
from compression.services import compress_image
from portal.observability import COMPRESSION_SECONDS
from vault import blobs, crypto, display, figures, metadata, originals, renditions
from vault.decoding import decode_original
from vault.errors import BlobUnavailable, JobCancelled, StorageFull
from vault.images.opening import open_sealed_blobs
from vault.jobs.state import LOST_WORKER, Status, finish, job_key, soft_limit_for
from vault.models import ImageRecord
from vault.thumbnails import make_thumbnail

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.3  # seconds between progress writes: a live bar without a busy database
UNEXPECTED = "An unexpected error stopped the compression. Retry it, or choose another codec."


# acks_late + reject_on_worker_lost (settings): a worker process that dies mid-job returns the
# message to the queue instead of losing it; `claim` counts the attempts. Time limits come with
# each message (dispatch.enqueue), longer for effort=max.
@shared_task(name="vault.compress_job", bind=True)
def compress_job(self, record_id: int) -> None:
    run_job(record_id=record_id, task_id=self.request.id)


def run_job(*, record_id: int, task_id: str) -> None:
    """Everything a worker does for one message."""
    record = claim(record_id, task_id)
    if record is None:
        return
    started = time.perf_counter()
    try:
        _compress_and_store(record, task_id, started)
    except JobCancelled:
        logger.info("job for record %s stopped: cancelled or taken over", record_id)
    except SoftTimeLimitExceeded:
        limit = soft_limit_for(record.job_options or {})
        _fail(record, task_id, f"Compression took longer than the limit of {limit} seconds; try a faster codec or effort.")
    except MemoryError:
        _fail(record, task_id, "The image needed more memory than a worker has; try another codec.")
    except (InvalidImage, ValueError) as exc:  # CodecError is a ValueError: a message for the user
        _fail(record, task_id, str(exc))
    except StorageFull as exc:  # nothing of this attempt was kept: the owner retries once there is space
        _fail(record, task_id, str(exc))
    except crypto.SealError:
        logger.error("job for record %s: the stored original or its job key did not open", record_id)
        _fail(record, task_id, "The stored original could not be opened; it may have been damaged.")
    except Exception:
        logger.exception("job for record %s failed", record_id)
        _fail(record, task_id, UNEXPECTED)


def claim(record_id: int, task_id: str) -> ImageRecord | None:
    """The record, now running under this message and with one more attempt counted; None when
    this message has nothing to do (see the module's docstring)."""
    with transaction.atomic():
        record = ImageRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None or record.job_task_id != task_id or not record.is_active:
            return None  # deleted, cancelled, finished, or sent again under another id
        record.attempts += 1
        now = timezone.now()
        if record.attempts > settings.JOB_MAX_ATTEMPTS:
            finish(record, status=Status.FAILED, error=LOST_WORKER.format(n=record.attempts - 1), now=now)
            return None
        record.status, record.stage, record.progress = Status.RUNNING, "starting", 0
        record.started_at = record.heartbeat_at = now
        record.save(update_fields=["attempts", "status", "stage", "progress", "started_at", "heartbeat_at"])
    return record


@sensitive_variables("data_key", "original", "archived")
def _compress_and_store(record: ImageRecord, task_id: str, started: float) -> None:
    data_key = crypto.unwrap_key(record.job_dk_wrap, wrapping_key=job_key(), purpose="job", ids=(record.pk,))
    try:
        original = open_sealed_blobs(record=record, data_key=data_key, variants=["original"])["original"]
    except BlobUnavailable:  # missing, swapped or altered blob: audited with its cause already
        raise crypto.SealError() from None
    decoded = decode_original(original, filename=record.name, max_pixels=settings.UPLOAD_MAX_PIXELS)
    upload_size = _known_figures(record, data_key)["original_size"]
    tags = _read_metadata(record, decoded, data_key)
    display.store_rendition(record, decoded.image, data_key=data_key, task_id=task_id)
    options = record.job_options or {}
    with ProgressWriter(record.pk, task_id) as progress:
        result = compress_image(
            image=decoded.image, codec=options.get("codec") or "auto", target=options.get("target"),
            quality=options.get("quality"), effort=options.get("effort"), progress=progress,
        )
        archived = _archive_original(record, original, progress)
    tagged = renditions.with_exif(result.data, result.media_type, tags)
    # The candidates' sizes are the codec's; the record's is what is stored (presentation.py).
    result.params["metadata_bytes"] = len(tagged) - len(result.data)
    result.data, result.size = tagged, len(tagged)
    thumbnail = make_thumbnail(decoded.image, exif=tags)
    if archived is not None:
        result.params["original_storage"] = archived.as_params(len(original))
    del original
    _store_result(record, task_id, data_key=data_key, decoded=decoded, result=result, thumbnail=thumbnail,
                  archived=archived, started=started, upload_size=upload_size)


@sensitive_variables("data_key")
def _known_figures(record: ImageRecord, data_key: bytes) -> dict:
    """The record's exact figures so far: sealed (the upload sealed its size), or still in the
    columns of a record from before sealing. Sealed figures that do not open fail the job
    (`figures.FiguresError` is a ValueError: its message is the job's error)."""
    if record.figures_sealed is None:
        return figures.from_record(record)
    return figures.open_sealed(record.figures_sealed, data_key=data_key, record_id=record.pk)


@sensitive_variables("original")
def _archive_original(record: ImageRecord, original: bytes, progress) -> originals.Archived | None:
    """The original's smallest exact form (`original` mode), checked by rebuilding it; None when
    nothing is to change (storage saver drops it; a recompression finds it already archived). A
    failure keeps the upload as it came, and says why in the record's codec_params."""
    if record.storage_mode != ImageRecord.StorageMode.ORIGINAL or record.original_storage != originals.Storage.AS_UPLOADED:
        return None
    if not settings.VAULT_RECOMPRESS_ORIGINALS:
        return None
    progress("keeping the original in fewer bytes", 0.99)
    started = time.perf_counter()
    try:
        return originals.archive(original, record.original_format)
    except originals.ArchiveFailed as exc:
        # Not the message: it can quote the upload's exact byte count. It is kept in the record's
        # sealed figures (codec_params' note), for its owner.
        logger.warning("record %s: the original is kept as uploaded: its JPEG XL form failed its check", record.pk)
        return originals.Archived(originals.Storage.AS_UPLOADED, None, time.perf_counter() - started,
                                  f"JPEG XL failed its check, kept as uploaded: {exc}"[:300])


@sensitive_variables("data_key")
def _read_metadata(record: ImageRecord, decoded, data_key: bytes) -> bytes:
    """Seal the photo's metadata onto the record and return the EXIF its renditions carry (date,
    camera, no location). It describes the original, so it is stored now, whatever becomes of the
    compression."""
    photo = metadata.read(
        exif=decoded.exif, xmp=decoded.xmp, width=decoded.width, height=decoded.height, orientation=decoded.orientation
    )
    ImageRecord.objects.filter(pk=record.pk).update(**metadata.record_fields(photo, data_key=data_key, record_id=record.pk))
    return metadata.rendition_exif(photo)


class ProgressWriter:
    """compress_image's progress callback, and the one thread that writes it to the record.

    The selector calls back from its search threads; writing from each of them would give every
    thread its own database connection (and, on the suite's in-memory SQLite, lock contention).
    So callbacks only note the latest (stage, fraction), and this thread writes it every
    PROGRESS_INTERVAL. Its update matches no row once the job is no longer running under this
    message (cancelled, deleted, sent again): the next callback then raises JobCancelled."""

    def __init__(self, record_id: int, task_id: str):
        self.record_id, self.task_id = record_id, task_id
        self.latest = self.written = None
        self.cancelled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{record_id}", daemon=True)

    def __call__(self, stage: str, fraction: float) -> None:
        if self.cancelled:
            raise JobCancelled()
        self.latest = (stage[:64], min(99, int(fraction * 100)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(PROGRESS_INTERVAL):
                self._write()
        finally:
            connection.close()  # this thread's own connection

    def _write(self) -> None:
        latest = self.latest
        if latest is None or latest == self.written:
            return
        try:
            updated = ImageRecord.objects.filter(pk=self.record_id, status=Status.RUNNING, job_task_id=self.task_id).update(
                stage=latest[0], progress=latest[1], heartbeat_at=timezone.now()
            )
        except DatabaseError:  # a missed progress write must not stop the job; the next one may pass
            logger.warning("could not write the progress of record %s", self.record_id, exc_info=True)
            return
        self.written = latest
        self.cancelled = not updated


@sensitive_variables("data_key")
def _store_result(record, task_id, *, data_key, decoded, result, thumbnail, started, upload_size, archived=None) -> None:
    """Seal and write the new blobs outside any transaction, read them back, then commit them in
    one short one; the blobs they replace (a recompression, an original now kept as JPEG XL, the
    original a storage-saver job drops) go only after that commit."""
    written, fields, sizes = [], {}, {}
    new = [("compressed", result.data), ("thumbnail", thumbnail)]
    if archived is not None and archived.data is not None:
        new.append(("original", archived.data))
        fields["original_mac"] = crypto.keyed_digest(archived.data, data_key=data_key)
        fields["original_storage"] = archived.storage
    saver = record.storage_mode == ImageRecord.StorageMode.SAVER and record.original_blob
    try:
        for variant, plaintext in new:
            name, digest = blobs.write_sealed(record.pk, variant, plaintext, data_key=data_key)
            written.append(name)
            fields[f"{variant}_blob"], fields[f"sha256_{variant}_blob"] = name, digest
            sizes[variant] = crypto.sealed_size(len(plaintext))
        if "original_blob" in fields:
            # The upload is dropped only for a blob that reads back whole: the JPEG XL was already
            # rebuilt and compared with the upload (originals.verify) before it was sealed.
            if _read_back(record, fields, "original", data_key=data_key) != archived.data:
                raise ValueError("The original's JPEG XL form did not read back from storage; nothing was changed.")
        if saver:
            _check_compressed(record, fields, result, size=decoded.image.size, data_key=data_key)
            # The display rendition (vault/display.py) is the original's pixels too: it goes with it.
            fields.update(original_blob="", sha256_original_blob="", original_storage=originals.Storage.NOT_KEPT,
                          rendition_blob="", sha256_rendition_blob="")
            sizes["original"] = sizes["rendition"] = 0
        else:
            if "original" not in sizes:
                sizes["original"] = blobs.stored_size(record.original_blob)
            sizes["rendition"] = blobs.stored_size(record.rendition_blob)
        fields["stored_bytes"] = sum(sizes.values())
        with transaction.atomic():
            fresh = ImageRecord.objects.select_for_update().filter(pk=record.pk).first()
            if fresh is None or fresh.status != Status.RUNNING or fresh.job_task_id != task_id:
                raise JobCancelled()
            replaced = [fresh.compressed_blob, fresh.thumbnail_blob]
            if "original_blob" in fields:
                replaced.append(fresh.original_blob)
            if "rendition_blob" in fields:
                replaced.append(fresh.rendition_blob)
            _apply_result(fresh, decoded=decoded, result=result, fields=fields, seconds=time.perf_counter() - started,
                          upload_size=upload_size, data_key=data_key)
            finish(fresh, status=Status.DONE, error="", now=timezone.now())
            kept = "original not kept (storage saver)" if saver else f"original {fresh.original_storage}"
            # The sizes as the columns keep them (Padmé-rounded): the audit log is no way around the seal.
            record_event(
                action=AuditEvent.Action.JOB_DONE, user=fresh.owner, record=fresh,
                detail=f"{fresh.codec}, about {human_bytes(fresh.original_size)} -> about {human_bytes(fresh.compressed_size)}; "
                f"{kept}; stored {human_bytes(fresh.stored_bytes)}",
            )
            transaction.on_commit(lambda: blobs.delete_blobs_quietly(replaced))
    except BaseException:
        blobs.delete_blobs_quietly(written)
        raise
    COMPRESSION_SECONDS.labels(codec=fresh.codec).observe(fresh.encode_seconds)
    logger.info(
        "job done",
        extra={
            "event": "job_done", "record_id": fresh.pk, "owner_id": fresh.owner_id, "codec": fresh.codec,
            "original_bytes": fresh.original_size, "compressed_bytes": fresh.compressed_size,
            "stored_bytes": fresh.stored_bytes, "original_storage": fresh.original_storage,
            "pixels": fresh.pixels, "encode_seconds": round(fresh.encode_seconds, 4), "attempts": fresh.attempts,
        },
    )


@sensitive_variables("data_key")
def _read_back(record: ImageRecord, fields: dict, variant: str, *, data_key: bytes) -> bytes:
    """A blob just written, read from storage with every check `blobs.open_blobs` makes."""
    probe = ImageRecord(pk=record.pk, dk_wrap=b"vault", original_mac=fields.get("original_mac", record.original_mac))
    setattr(probe, f"{variant}_blob", fields[f"{variant}_blob"])
    setattr(probe, f"sha256_{variant}_blob", fields[f"sha256_{variant}_blob"])
    try:
        return blobs.open_blobs(probe, data_key=data_key, variants=[variant])[variant]
    except blobs.BadBlob as bad:
        raise ValueError(f"The {variant} file just stored did not read back ({bad.why}); nothing was changed.") from None


@sensitive_variables("data_key")
def _check_compressed(record: ImageRecord, fields: dict, result, *, size: tuple[int, int], data_key: bytes) -> None:
    """Storage saver: before the original goes, the stored compressed file must read back
    byte for byte and decode to the picture's size. Any failure keeps the original."""
    from compression.registry import get_codec

    stored = _read_back(record, fields, "compressed", data_key=data_key)
    if stored != result.data:
        raise ValueError("The compressed file just stored differs from the one made; the original is kept.")
    try:
        image = get_codec(result.codec).decode(stored)
    except Exception as exc:  # noqa: BLE001 - any decode failure keeps the original
        raise ValueError(f"The stored compressed file does not decode ({exc}); the original is kept.") from None
    if image.size != size:
        raise ValueError(f"The stored compressed file decodes to {image.size[0]}×{image.size[1]}, not the picture's size; the original is kept.")


@sensitive_variables("data_key")
def _apply_result(record: ImageRecord, *, decoded, result, fields: dict, seconds: float, upload_size: int,
                  data_key: bytes) -> None:
    """The result on the record: its exact figures sealed, the columns coarse (vault/figures.py),
    in the one save that ends the job."""
    exact = {
        "original_size": upload_size, "compressed_size": len(result.data), "bpp": result.bpp,
        "psnr": result.psnr, "ssim": result.ssim, "msssim": result.msssim,
        "ssimulacra2": result.ssimulacra2, "ssimulacra2_worst": result.ssimulacra2_worst,
        "decided_value": result.decided_value, "candidates": result.candidate_dicts(), "reason": result.reason or "",
        "codec_params": result.params,
    }
    fields = {**fields, **figures.sealed_fields(exact, data_key=data_key, record_id=record.pk)}
    for name, value in fields.items():
        setattr(record, name, value)
    record.width, record.height, record.has_alpha = decoded.width, decoded.height, bool(decoded.has_alpha)
    record.codec, record.decided_by = result.codec, result.decided_by
    record.compressed_media_type = result.media_type
    record.compressed_extension = (result.extension or "").lstrip(".")
    record.encode_seconds, record.total_seconds = float(result.seconds), seconds


def _fail(record: ImageRecord, task_id: str, message: str) -> None:
    with transaction.atomic():
        fresh = ImageRecord.objects.select_for_update().filter(pk=record.pk).first()
        if fresh is None or fresh.job_task_id != task_id or not fresh.is_active:
            return
        finish(fresh, status=Status.FAILED, error=message, now=timezone.now())
        record_event(action=AuditEvent.Action.JOB_FAILED, user=fresh.owner, record=fresh, detail=message[:200])
