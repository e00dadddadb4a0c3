"""Periodic vault maintenance for Celery workers (`celery -A portal worker -B`); without a broker
the same work runs from cron as `python manage.py vault_sweep`."""
import logging
from datetime import timedelta

from celery import shared_task

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
