"""The vault's Celery tasks, in the module Celery autodiscovers: the compression job (declared
beside its body in vault/jobs/worker.py) and the periodic maintenance, which runs with
`celery -A portal worker -B` (make run) or a separate `celery -A portal beat`."""
import logging
from datetime import timedelta

from celery import shared_task

from vault.errors import SweepRefused
from vault.images.trash import purge_expired
from vault.jobs import readiness  # noqa: F401  (connects the worker's start-up warm-up)
from vault.jobs.dispatch import requeue_stalled
from vault.jobs.worker import compress_job
from vault.sweep import sweep_orphan_blobs as sweep

__all__ = ["compress_job", "empty_expired_trash", "requeue_stalled_jobs", "sweep_orphan_blobs"]

logger = logging.getLogger(__name__)


@shared_task(name="vault.sweep_orphan_blobs")
def sweep_orphan_blobs(older_than_minutes: int = 60) -> int:
    try:
        return len(sweep(older_than=timedelta(minutes=older_than_minutes)))
    except SweepRefused as exc:
        # An operator must look; retrying on a schedule would not change the answer.
        logger.error("orphan sweep refused: %s", exc)
        return 0


@shared_task(name="vault.requeue_stalled_jobs")
def requeue_stalled_jobs() -> dict:
    return requeue_stalled()


@shared_task(name="vault.empty_expired_trash")
def empty_expired_trash() -> int:
    """Images in a trash longer than settings.TRASH_RETENTION, deleted for good."""
    return purge_expired()
