"""Sending jobs and the owner's actions on them: enqueue, cancel, retry or recompress (which need
the owner's master key), the recompressions `recompress_learned` flags, and the housekeeping that
sends lost jobs again (celery beat, every minute)."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from vault import display
from vault.errors import JobConflict, JobLimit
from vault.images.opening import vault_data_key
from vault.jobs.state import (
    LOST_WORKER, UPLOAD_INCOMPLETE, Status, check_limits, describe_options, finish, hard_limit_for, mark_queued, new_task_id, queue_for,
    soft_limit_for,
)
from vault.jobs.worker import compress_job
from vault.models import ImageRecord

logger = logging.getLogger(__name__)


def enqueue(record: ImageRecord) -> None:
    """Send the record's job to the broker, after its state is committed. A broker that is down
    loses nothing: the record stays queued and `requeue_stalled` sends it again later."""
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


# --- the owner's side -------------------------------------------------------------------------


def cancel_job(*, record: ImageRecord, request=None) -> ImageRecord:
    """Stop a queued or running job. The original stays; a running worker stops at its next
    progress report and its result, if it gets that far, is thrown away."""
    with transaction.atomic():
        fresh = ImageRecord.objects.select_for_update().get(pk=record.pk)
        if not fresh.is_active:
            raise JobConflict(f"'{fresh.name}' is {fresh.get_status_display().lower()}; only a waiting or running job can be cancelled.")
        finish(fresh, status=Status.CANCELLED, error="", now=timezone.now())
        record_event(action=AuditEvent.Action.JOB_CANCELLED, request=request, user=fresh.owner, record=fresh)
    return fresh


@sensitive_variables("master_key", "data_key")
def requeue(*, record: ImageRecord, master_key: bytes, options: dict | None = None, request=None) -> ImageRecord:
    """Put a finished, failed or cancelled image back in the queue: the same job again (retry) or
    other `options` (recompress). Needs the owner's master key: it is the only way back to the
    data key once a job has ended."""
    if record.is_active:
        raise JobConflict(f"'{record.name}' is already {record.get_status_display().lower()}.")
    if not record.original_blob:
        if record.original_storage == ImageRecord.OriginalStorage.NOT_KEPT:
            raise JobConflict(
                f"'{record.name}' was stored in storage-saver mode: its original was not kept, so it cannot be "
                "compressed again."
            )
        why = f" {UPLOAD_INCOMPLETE}" if record.upload_incomplete else ""
        raise JobConflict(f"'{record.name}' has no stored original to compress.{why}")
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


@sensitive_variables("master_key")
def queue_flagged(*, owner, master_key: bytes, request=None) -> int:
    """Queue the owner's images that `recompress_learned` flagged, now that their MK is here;
    returns how many. One that cannot be queued now (a limit) stays flagged for next time."""
    queued = 0
    # Storage-saver images kept no original to compress again: they stay flagged, and skipped.
    flagged = ImageRecord.objects.filter(owner=owner, needs_recompress=True).exclude(original_blob="")
    for record in flagged.exclude(status__in=ImageRecord.ACTIVE):
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


def flag_missing_renditions() -> dict[int, int]:
    """Flag every finished vault record whose original no browser draws and that has no display
    rendition (stored before the worker made them); returns {owner id: images flagged}. Like
    `flag_old_model_files`, the owner's next unlock queues them: only their key opens the original."""
    formats = display.BROWSER_FORMATS
    candidates = ImageRecord.objects.filter(status=Status.DONE, dk_wrap__isnull=False, rendition_blob="").exclude(
        original_format__in=[*formats, *(f.lower() for f in formats)]
    ).exclude(original_blob="")
    stale = list(candidates.only("pk", "owner_id"))
    ImageRecord.objects.filter(pk__in=[r.pk for r in stale]).update(needs_recompress=True)
    per_owner: dict[int, int] = {}
    for record in stale:
        per_owner[record.owner_id] = per_owner.get(record.owner_id, 0) + 1
    return per_owner


# --- housekeeping (celery beat, every minute) --------------------------------------------------


def requeue_stalled(*, now=None) -> dict[str, int]:
    """Jobs whose message was lost (broker restarted, worker machine gone) are sent again; a
    running job whose worker has been silent for longer than its hard time limit counts as a lost
    attempt. Uploads that died before their original was written are marked failed, never deleted:
    their client may still be retrying (the same Idempotency-Key completes the record), and the
    owner sees them, can delete them or upload the file again."""
    now = now or timezone.now()
    counts = {"resent": 0, "failed": 0, "incomplete": 0}
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
    cutoff = now - settings.UPLOAD_INCOMPLETE_AFTER
    incomplete = ImageRecord.objects.filter(original_blob="", dk_wrap__isnull=True)
    for record in incomplete.filter(status__in=ImageRecord.ACTIVE, created__lt=cutoff):
        counts["incomplete"] += _mark_incomplete(record.pk, now=now)
    return counts


def _mark_incomplete(record_id: int, *, now) -> int:
    with transaction.atomic():
        record = ImageRecord.objects.select_for_update().filter(pk=record_id, original_blob="", dk_wrap__isnull=True).first()
        if record is None or not record.is_active:
            return 0  # completed (or deleted) since the query
        finish(record, status=Status.FAILED, error=UPLOAD_INCOMPLETE, now=now)
        record_event(action=AuditEvent.Action.JOB_FAILED, user=record.owner, record=record, detail="upload incomplete")
    return 1


def _resend(record_id: int, *, now, lost_attempt: bool) -> int:
    with transaction.atomic():
        record = ImageRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None or not record.is_active:
            return 0
        if lost_attempt and record.attempts >= settings.JOB_MAX_ATTEMPTS:
            finish(record, status=Status.FAILED, error=LOST_WORKER.format(n=record.attempts), now=now)
            return 0
        record.status, record.stage, record.job_task_id = Status.QUEUED, "waiting for a worker", new_task_id()
        record.queued_at = now
        record.save(update_fields=["status", "stage", "job_task_id", "queued_at"])
    enqueue(record)
    return 1
