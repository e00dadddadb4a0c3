"""A compression job's state on its record: the states and how a job enters and leaves them, the
job key's wrap of the data key, what a job is asked to do, and the per-user limits.

    upload ─> queued ──worker claims──> running ──> done
                │  ▲                      │  └───> failed   (bad image, codec error, time limit,
                │  └── worker lost, ──────┘                  JOB_MAX_ATTEMPTS lost workers)
                │      attempts left
                └─────── cancel ───────> cancelled <── cancel (the job stops at its next progress report)
    done | failed | cancelled ── retry / recompress (the owner's master key) ──> queued

Keys: a worker never sees a master key. While a job is queued or running, its record also holds
the image's data key wrapped under the server's job key (settings.VAULT_JOB_KEY, bound to the
record id); `mark_queued` writes that wrap and `finish`, every way out of those two states,
deletes it, and only the owner (whose master key unwraps the data key again) can put an image
back in the queue. So the window in which the server alone can open an image is the time its job
waits and runs.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from compression.imageio import human_bytes
from compression.selection import options as compression_options
from vault import crypto
from vault.errors import JobLimit
from vault.models import ImageRecord

Status = ImageRecord.Status

LOST_WORKER = (
    "The worker compressing this image stopped {n} times (killed or out of memory), so it was not "
    "tried again. Retry it, or choose a faster codec or effort."
)


UPLOAD_INCOMPLETE = (
    "Upload incomplete: the original file never arrived. Upload the same file again (the same "
    "request with its Idempotency-Key, or from the upload page) to complete this image, or delete it."
)


def job_key() -> bytes:
    return crypto.subkey(settings.VAULT_JOB_KEY.encode(), purpose="job-key")


@sensitive_variables("data_key")
def job_wrap(data_key: bytes, record_id: int) -> bytes:
    return crypto.wrap_key(data_key, wrapping_key=job_key(), purpose="job", ids=(record_id,))


def new_task_id() -> str:
    return uuid.uuid4().hex


@sensitive_variables("data_key")
def mark_queued(record: ImageRecord, *, data_key: bytes) -> None:
    """The fields of a fresh job (the caller saves them and then calls `dispatch.enqueue`)."""
    record.status, record.progress, record.stage, record.error = Status.QUEUED, 0, "waiting for a worker", ""
    record.attempts, record.job_task_id = 0, new_task_id()
    record.queued_at, record.started_at, record.heartbeat_at, record.finished_at = timezone.now(), None, None, None
    record.job_dk_wrap = job_wrap(data_key, record.pk)


def finish(record: ImageRecord, *, status: str, error: str, now) -> None:
    """Leave the active states: the job key's wrap of the data key goes with them."""
    record.status, record.error, record.stage = status, error, ""
    record.progress = 100 if status == Status.DONE else record.progress
    record.finished_at, record.job_dk_wrap = now, None
    record.save()


def queue_for(options: dict) -> str:
    return settings.JOB_MAX_EFFORT_QUEUE if options.get("effort") == "max" else settings.JOB_QUEUE


def soft_limit_for(options: dict) -> int:
    return settings.JOB_MAX_SOFT_TIME_LIMIT if options.get("effort") == "max" else settings.JOB_SOFT_TIME_LIMIT


def hard_limit_for(options: dict) -> int:
    """When the worker process is killed: the soft limit plus the grace JOB_TIME_LIMIT gives it."""
    return soft_limit_for(options) + max(1, settings.JOB_TIME_LIMIT - settings.JOB_SOFT_TIME_LIMIT)


def job_options(*, codec: str | None, target: str | None, quality, effort: str | None = None) -> dict:
    """What a job is asked to do, in the form `ImageRecord.job_options` keeps (the target as the
    user wrote it), checked by compression's own rules and messages (shared with the API and the
    selector): a ValidationError quoting a bad value, its code naming the field."""
    checks = (
        ("codec", lambda: compression_options.parse_codec(codec)),
        ("target", lambda: compression_options.parse_target(target)),
        ("effort", lambda: compression_options.parse_effort(effort)),
    )
    parsed = {}
    for field, check in checks:
        try:
            parsed[field] = check()
        except ValueError as exc:  # CodecError is a ValueError
            raise ValidationError(str(exc), code=field) from exc
    try:
        parsed["quality"] = compression_options.parse_quality(quality, parsed["codec"])
    except ValueError as exc:
        raise ValidationError(str(exc), code="quality") from exc
    return {"codec": parsed["codec"], "target": (target or "").strip() or None, "quality": parsed["quality"], "effort": parsed["effort"]}


def describe_options(options: dict) -> str:
    shown = [f"{k}={v}" for k, v in (options or {}).items() if v not in (None, "")]
    return ", ".join(shown) or "auto"


def check_limits(*, owner, incoming_bytes: int) -> None:
    """Refuse an upload (or a requeue, incoming_bytes=0) beyond the owner's bounds. The quota
    counts stored bytes: every sealed blob of every record (trash included), as stored, plus what
    the upload will store (`incoming_bytes`, its sealed size)."""
    mine = ImageRecord.objects.filter(owner=owner)
    active = mine.filter(status__in=ImageRecord.ACTIVE).count()
    if active >= settings.USER_MAX_ACTIVE_JOBS:
        raise JobLimit(
            f"You have {active} images waiting to be compressed (the limit is {settings.USER_MAX_ACTIVE_JOBS}); "
            "try again when some have finished.",
            status=429,
        )
    if incoming_bytes:
        used = stored_bytes_of(owner)
        if used + incoming_bytes > settings.USER_QUOTA_BYTES:
            raise JobLimit(
                f"Your vault stores {human_bytes(used)} and this file needs {human_bytes(incoming_bytes)}; "
                f"the limit is {human_bytes(settings.USER_QUOTA_BYTES)}. Delete some images first.",
                status=413,
            )


def stored_bytes_of(owner) -> int:
    """Bytes the owner's vault stores: every sealed blob of every record, the trash included."""
    return ImageRecord.objects.filter(owner=owner).aggregate(stored=Sum("stored_bytes"))["stored"] or 0


def usage(owner) -> dict:
    """What the profile shows: stored and uploaded bytes of the whole vault (trash included), the
    quota, and the stored bytes as a percentage of each. `uploaded` sums the columns, Padmé-rounded
    for records whose figures are sealed (vault/figures.py): the page says "about"."""
    totals = ImageRecord.objects.filter(owner=owner).aggregate(stored=Sum("stored_bytes"), uploaded=Sum("original_size"))
    stored, uploaded = totals["stored"] or 0, totals["uploaded"] or 0
    quota = settings.USER_QUOTA_BYTES
    return {
        "stored": stored, "uploaded": uploaded, "quota": quota,
        "stored_percent": 100.0 * stored / uploaded if uploaded else None,
        "quota_percent": 100.0 * stored / quota if quota else None,
    }
