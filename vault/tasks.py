"""Periodic vault maintenance for Celery workers (`celery -A portal worker -B`); without a broker
the same work runs from cron as `python manage.py vault_sweep`."""
from datetime import timedelta

from celery import shared_task

from . import services


@shared_task(name="vault.sweep_orphan_blobs")
def sweep_orphan_blobs(older_than_minutes: int = 60) -> int:
    return len(services.sweep_orphan_blobs(older_than=timedelta(minutes=older_than_minutes)))
