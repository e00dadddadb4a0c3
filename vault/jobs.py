"""Background compression jobs: from an upload's sealed original to its compressed file.

    upload ─> queued ──worker claims──> running ──> done
                │  ▲                      │  └───> failed   (bad image, codec error, time limit,
                │  └── worker lost, ──────┘                  JOB_MAX_ATTEMPTS lost workers)
                │      attempts left
                └─────── cancel ───────> cancelled <── cancel (the job stops at its next progress report)
    done | failed | cancelled ── retry / recompress (the owner's master key) ──> queued

Keys: a worker never sees a master key. While a job is queued or running, its record also holds
the image's data key wrapped under the server's job key (settings.VAULT_JOB_KEY, bound to the
record id); every way out of those two states deletes that wrap, and only the owner (whose master
key unwraps the data key again) can put an image back in the queue. So the window in which the
server alone can open an image is the time its job waits and runs.

Exactly one worker owns a job: the record's `job_task_id` names the message that may run it. A
message delivered twice (the worker died; the broker redelivers it) finds its own id and counts
an attempt; a stale message, or one for a job sent again by `requeue_stalled`, finds another id
and does nothing.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from compression.imageio import InvalidImage, load_upload
from compression.services import compress_image
from portal.observability import COMPRESSION_SECONDS
from vault import crypto
from vault.models import ImageRecord
from vault.errors import JobCancelled, JobConflict, JobLimit, NotCompressedYet  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)
Status = ImageRecord.Status

PROGRESS_INTERVAL = 0.3  # seconds between progress writes: a live bar without a busy database
LOST_WORKER = (
    "The worker compressing this image stopped {n} times (killed or out of memory), so it was not "
    "tried again. Retry it, or choose a faster codec or effort."
)
UNEXPECTED = "An unexpected error stopped the compression. Retry it, or choose another codec."


def _job_key() -> bytes:
    return crypto.subkey(settings.VAULT_JOB_KEY.encode(), purpose="job-key")


@sensitive_variables("data_key")
def job_wrap(data_key: bytes, record_id: int) -> bytes:
    return crypto.wrap_key(data_key, wrapping_key=_job_key(), purpose="job", ids=(record_id,))


def queue_for(options: dict) -> str:
    return settings.JOB_MAX_EFFORT_QUEUE if options.get("effort") == "max" else settings.JOB_QUEUE


def soft_limit_for(options: dict) -> int:
    return settings.JOB_MAX_SOFT_TIME_LIMIT if options.get("effort") == "max" else settings.JOB_SOFT_TIME_LIMIT


def hard_limit_for(options: dict) -> int:
    """When the worker process is killed: the soft limit plus the grace JOB_TIME_LIMIT gives it."""
    return soft_limit_for(options) + max(1, settings.JOB_TIME_LIMIT - settings.JOB_SOFT_TIME_LIMIT)


def check_limits(*, owner, incoming_bytes: int) -> None:
    """Refuse an upload (or a requeue, incoming_bytes=0) beyond the owner's bounds."""
    from django.db.models import Sum

    mine = ImageRecord.objects.filter(owner=owner)
    active = mine.filter(status__in=ImageRecord.ACTIVE).count()
    if active >= settings.USER_MAX_ACTIVE_JOBS:
        raise JobLimit(
            f"You have {active} images waiting to be compressed (the limit is {settings.USER_MAX_ACTIVE_JOBS}); "
            "try again when some have finished.",
            status=429,
        )
    if incoming_bytes:
        totals = mine.aggregate(original=Sum("original_size"), compressed=Sum("compressed_size"))
        used = (totals["original"] or 0) + (totals["compressed"] or 0)
        if used + incoming_bytes > settings.USER_QUOTA_BYTES:
            raise JobLimit(
                f"Your vault holds {used / 1e6:.1f} MB and this file is {incoming_bytes / 1e6:.1f} MB; "
                f"the limit is {settings.USER_QUOTA_BYTES / 1e6:.0f} MB. Delete some images first.",
                status=413,
            )


def enqueue(record: ImageRecord) -> None:
    """Send the record's job to the broker, after its state is committed. A broker that is down
    loses nothing: the record stays queued and `requeue_stalled` sends it again later."""
    from vault.tasks import compress_job

    options = record.job_options or {}
    try:
        compress_job.apply_async(
            args=[record.pk], task_id=record.job_task_id, queue=queue_for(options), soft_time_limit=soft_limit_for(options),
            time_limit=hard_limit_for(options),
        )
    except Exception:  # noqa: BLE001 - kombu raises many types; the record says queued either way
        if compress_job.app.conf.task_always_eager:
            raise
        logger.exception("could not send job for record %s to the broker; it will be sent again", record.pk)


# --- the worker's side ------------------------------------------------------------------------


def run_job(*, record_id: int, task_id: str) -> None:
    """Everything a worker does for one message."""
    record = _claim(record_id, task_id)
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
    except crypto.SealError:
        logger.error("job for record %s: the stored original or its job key did not open", record_id)
        _fail(record, task_id, "The stored original could not be opened; it may have been damaged.")
    except Exception:
        logger.exception("job for record %s failed", record_id)
        _fail(record, task_id, UNEXPECTED)


def _claim(record_id: int, task_id: str) -> ImageRecord | None:
    with transaction.atomic():
        record = ImageRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None or record.job_task_id != task_id or not record.is_active:
            return None  # deleted, cancelled, finished, or sent again under another id
        record.attempts += 1
        now = timezone.now()
        if record.attempts > settings.JOB_MAX_ATTEMPTS:
            _end(record, status=Status.FAILED, error=LOST_WORKER.format(n=record.attempts - 1), now=now)
            return None
        record.status, record.stage, record.progress = Status.RUNNING, "starting", 0
        record.started_at = record.heartbeat_at = now
        record.save(update_fields=["attempts", "status", "stage", "progress", "started_at", "heartbeat_at"])
    return record


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


@sensitive_variables("data_key", "original")
def _compress_and_store(record: ImageRecord, task_id: str, started: float) -> None:
    from vault.services import RetrievalRefused, make_thumbnail, open_sealed_blobs

    data_key = crypto.unwrap_key(record.job_dk_wrap, wrapping_key=_job_key(), purpose="job", ids=(record.pk,))
    try:
        original = open_sealed_blobs(record=record, data_key=data_key, variants=["original"])["original"]
    except RetrievalRefused:  # missing, swapped or altered blob: audited with its cause already
        raise crypto.SealError() from None
    decoded = load_upload(original, filename=record.name, max_bytes=len(original), max_pixels=settings.UPLOAD_MAX_PIXELS)
    options = record.job_options or {}
    with ProgressWriter(record.pk, task_id) as progress:
        result = compress_image(
            image=decoded.image, codec=options.get("codec") or "auto", target=options.get("target"),
            quality=options.get("quality"), effort=options.get("effort"), progress=progress,
        )
    thumbnail = make_thumbnail(decoded.image)
    del original
    _store_result(record, task_id, data_key=data_key, decoded=decoded, result=result, thumbnail=thumbnail, started=started)


@sensitive_variables("data_key")
def _store_result(record, task_id, *, data_key, decoded, result, thumbnail, started) -> None:
    """Seal and write the new blobs outside any transaction, then commit them in one short one;
    the blobs they replace (a recompression) go only after that commit."""
    from vault.services import blob_name, delete_blobs_quietly

    written, fields = [], {}
    try:
        for variant, plaintext in (("compressed", result.data), ("thumbnail", thumbnail)):
            sealed = crypto.seal(plaintext, key=data_key, record_id=record.pk, variant=variant)
            name = default_storage.save(blob_name(record.pk, variant), ContentFile(sealed))
            written.append(name)
            fields[f"{variant}_blob"], fields[f"sha256_{variant}_blob"] = name, hashlib.sha256(sealed).hexdigest()
        with transaction.atomic():
            fresh = ImageRecord.objects.select_for_update().filter(pk=record.pk).first()
            if fresh is None or fresh.status != Status.RUNNING or fresh.job_task_id != task_id:
                raise JobCancelled()
            replaced = [fresh.compressed_blob, fresh.thumbnail_blob]
            _apply_result(fresh, decoded=decoded, result=result, fields=fields, seconds=time.perf_counter() - started)
            _end(fresh, status=Status.DONE, error="", now=timezone.now())
            record_event(
                action=AuditEvent.Action.JOB_DONE, user=fresh.owner, record=fresh,
                detail=f"{fresh.codec} {fresh.original_size}->{fresh.compressed_size} bytes",
            )
            transaction.on_commit(lambda: delete_blobs_quietly(replaced))
    except BaseException:
        delete_blobs_quietly(written)
        raise
    COMPRESSION_SECONDS.labels(codec=fresh.codec).observe(fresh.encode_seconds)
    logger.info(
        "job done",
        extra={
            "event": "job_done", "record_id": fresh.pk, "owner_id": fresh.owner_id, "codec": fresh.codec,
            "original_bytes": fresh.original_size, "compressed_bytes": fresh.compressed_size,
            "pixels": fresh.pixels, "encode_seconds": round(fresh.encode_seconds, 4), "attempts": fresh.attempts,
        },
    )


def _apply_result(record: ImageRecord, *, decoded, result, fields: dict, seconds: float) -> None:
    for name, value in fields.items():
        setattr(record, name, value)
    record.width, record.height, record.has_alpha = decoded.width, decoded.height, bool(decoded.has_alpha)
    record.codec, record.codec_params = result.codec, result.params
    record.candidates, record.reason = result.candidate_dicts(), result.reason or ""
    record.compressed_media_type = result.media_type
    record.compressed_extension = (result.extension or "").lstrip(".")
    record.compressed_size = len(result.data)
    record.psnr, record.ssim, record.msssim, record.bpp = result.psnr, result.ssim, result.msssim, result.bpp
    record.encode_seconds, record.total_seconds = float(result.seconds), seconds


def _end(record: ImageRecord, *, status: str, error: str, now) -> None:
    """Leave the active states: the job key's wrap of the data key goes with them."""
    record.status, record.error, record.stage = status, error, ""
    record.progress = 100 if status == Status.DONE else record.progress
    record.finished_at, record.job_dk_wrap = now, None
    record.save()


def _fail(record: ImageRecord, task_id: str, message: str) -> None:
    with transaction.atomic():
        fresh = ImageRecord.objects.select_for_update().filter(pk=record.pk).first()
        if fresh is None or fresh.job_task_id != task_id or not fresh.is_active:
            return
        _end(fresh, status=Status.FAILED, error=message, now=timezone.now())
        record_event(action=AuditEvent.Action.JOB_FAILED, user=fresh.owner, record=fresh, detail=message[:200])


# --- the owner's side -------------------------------------------------------------------------


def new_task_id() -> str:
    return uuid.uuid4().hex


def cancel_job(*, record: ImageRecord, request=None) -> ImageRecord:
    """Stop a queued or running job. The original stays; a running worker stops at its next
    progress report and its result, if it gets that far, is thrown away."""
    with transaction.atomic():
        fresh = ImageRecord.objects.select_for_update().get(pk=record.pk)
        if not fresh.is_active:
            raise JobConflict(f"'{fresh.name}' is {fresh.get_status_display().lower()}; only a waiting or running job can be cancelled.")
        _end(fresh, status=Status.CANCELLED, error="", now=timezone.now())
        record_event(action=AuditEvent.Action.JOB_CANCELLED, request=request, user=fresh.owner, record=fresh)
    return fresh


@sensitive_variables("master_key", "data_key")
def requeue(*, record: ImageRecord, master_key: bytes, options: dict | None = None, request=None) -> ImageRecord:
    """Put a finished, failed or cancelled image back in the queue: the same job again (retry) or
    other `options` (recompress). Needs the owner's master key: it is the only way back to the
    data key once a job has ended."""
    from vault.services import vault_data_key

    if record.is_active:
        raise JobConflict(f"'{record.name}' is already {record.get_status_display().lower()}.")
    if not record.original_blob:
        raise JobConflict(f"'{record.name}' has no stored original to compress.")
    check_limits(owner=record.owner, incoming_bytes=0)
    data_key = vault_data_key(record=record, master_key=master_key, request=request)
    with transaction.atomic():
        fresh = ImageRecord.objects.select_for_update().get(pk=record.pk)
        if fresh.is_active:
            raise JobConflict(f"'{fresh.name}' is already {fresh.get_status_display().lower()}.")
        if options is not None:
            fresh.job_options = options
        mark_queued(fresh, data_key=data_key)
        fresh.save()
        record_event(
            action=AuditEvent.Action.JOB_QUEUED, request=request, user=fresh.owner, record=fresh,
            detail=describe_options(fresh.job_options),
        )
    enqueue(fresh)
    fresh.refresh_from_db()
    return fresh


@sensitive_variables("data_key")
def mark_queued(record: ImageRecord, *, data_key: bytes) -> None:
    """The fields of a fresh job (the caller saves them and then calls `enqueue`)."""
    record.status, record.progress, record.stage, record.error = Status.QUEUED, 0, "waiting for a worker", ""
    record.attempts, record.job_task_id = 0, new_task_id()
    record.queued_at, record.started_at, record.heartbeat_at, record.finished_at = timezone.now(), None, None, None
    record.job_dk_wrap = job_wrap(data_key, record.pk)


@sensitive_variables("master_key")
def queue_flagged(*, owner, master_key: bytes, request=None) -> int:
    """Queue the owner's images that `recompress_learned` flagged, now that their MK is here;
    returns how many. One that cannot be queued now (a limit) stays flagged for next time."""
    queued = 0
    for record in ImageRecord.objects.filter(owner=owner, needs_recompress=True).exclude(status__in=ImageRecord.ACTIVE):
        options = {**(record.job_options or {}), "codec": record.codec}
        if record.codec_params.get("target") and options.get("quality") is None:
            options["target"] = record.codec_params["target"]
        try:
            requeue(record=record, master_key=master_key, options=options, request=request)
        except (JobLimit, JobConflict):
            logger.info("record %s stays flagged for recompression: its owner's limits are reached", record.pk)
            break
        except Exception:  # noqa: BLE001 - a login must never fail because of this
            logger.exception("could not queue flagged record %s", record.pk)
            continue
        ImageRecord.objects.filter(pk=record.pk).update(needs_recompress=False)
        queued += 1
    return queued


def flag_old_model_files(*, codec_name: str, model_id: str) -> dict[int, int]:
    """Flag every finished vault record of `codec_name` whose file was made by another model than
    `model_id` (or before records named their model); returns {owner id: images flagged}."""
    candidates = ImageRecord.objects.filter(codec=codec_name, status=Status.DONE, dk_wrap__isnull=False)
    stale = [r for r in candidates.only("pk", "owner_id", "codec_params") if (r.codec_params or {}).get("model") != model_id]
    ImageRecord.objects.filter(pk__in=[r.pk for r in stale]).update(needs_recompress=True)
    per_owner: dict[int, int] = {}
    for record in stale:
        per_owner[record.owner_id] = per_owner.get(record.owner_id, 0) + 1
    return per_owner


def describe_options(options: dict) -> str:
    shown = [f"{k}={v}" for k, v in (options or {}).items() if v not in (None, "")]
    return ", ".join(shown) or "auto"


# --- housekeeping (celery beat, every minute) --------------------------------------------------


def requeue_stalled(*, now=None) -> dict[str, int]:
    """Jobs whose message was lost (broker restarted, worker machine gone) are sent again; a
    running job whose worker has been silent for longer than its hard time limit counts as a lost
    attempt. Uploads that died before their original was written are removed."""
    now = now or timezone.now()
    counts = {"resent": 0, "failed": 0, "removed": 0}
    stalled_queued = ImageRecord.objects.filter(
        status=Status.QUEUED, queued_at__lt=now - settings.JOB_REQUEUE_AFTER
    ).exclude(original_blob="")
    for record in stalled_queued:
        counts["resent"] += _resend(record.pk, now=now, lost_attempt=False)
    for record in ImageRecord.objects.filter(status=Status.RUNNING):
        silent_for = (now - (record.heartbeat_at or record.started_at or now)).total_seconds()
        if silent_for > hard_limit_for(record.job_options or {}) + 60:
            outcome = _resend(record.pk, now=now, lost_attempt=True)
            counts["resent" if outcome else "failed"] += 1
    from vault.services import delete_image

    for record in ImageRecord.objects.filter(status=Status.QUEUED, original_blob="", created__lt=now - settings.JOB_REQUEUE_AFTER):
        delete_image(record=record)
        counts["removed"] += 1
    return counts


def _resend(record_id: int, *, now, lost_attempt: bool) -> int:
    with transaction.atomic():
        record = ImageRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None or not record.is_active:
            return 0
        if lost_attempt and record.attempts >= settings.JOB_MAX_ATTEMPTS:
            _end(record, status=Status.FAILED, error=LOST_WORKER.format(n=record.attempts), now=now)
            return 0
        record.status, record.stage, record.job_task_id = Status.QUEUED, "waiting for a worker", new_task_id()
        record.queued_at = now
        record.save(update_fields=["status", "stage", "job_task_id", "queued_at"])
    enqueue(record)
    return 1
