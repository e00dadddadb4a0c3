"""The vault's Celery tasks: compression jobs (vault/jobs.py) and periodic maintenance, which runs
with `celery -A portal worker -B` (make run) or a separate `celery -A portal beat`."""
import logging
from datetime import timedelta

from celery import shared_task

from vault import jobs
from vault.sweep import SweepRefused
from vault.sweep import sweep_orphan_blobs as sweep

logger = logging.getLogger(__name__)


@shared_task(name="vault.sweep_orphan_blobs")
def sweep_orphan_blobs(older_than_minutes: int = 60) -> int:
    try:
        return len(sweep(older_than=timedelta(minutes=older_than_minutes)))
    except SweepRefused as exc:
        # An operator must look; retrying on a schedule would not change the answer.
        logger.error("orphan sweep refused: %s", exc)
        return 0


# acks_late + reject_on_worker_lost (settings): a worker process that dies mid-job returns the
# message to the queue instead of losing it; jobs.run_job counts the attempts. Time limits come
# with each message (jobs.enqueue), longer for effort=max.
@shared_task(name="vault.compress_job", bind=True)
def compress_job(self, record_id: int) -> None:
    jobs.run_job(record_id=record_id, task_id=self.request.id)


@shared_task(name="vault.requeue_stalled_jobs")
def requeue_stalled_jobs() -> dict:
    return jobs.requeue_stalled()
