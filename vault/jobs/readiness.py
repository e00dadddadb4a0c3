"""A worker process is ready when its codecs are warm.

Each worker process warms them when it starts (Celery's `worker_process_init`, before it takes a
job: the learned codec's TensorFlow and model cost tens of seconds once), and records when in
the shared cache, where `/healthz` reads it. Settings give the start-up room to do that
(`CELERY_WORKER_PROC_ALIVE_TIMEOUT`).
"""
from __future__ import annotations

import logging
import os
import socket

from celery.signals import worker_process_init
from django.core.cache import cache
from django.utils import timezone

from compression.warmup import warm_codecs

logger = logging.getLogger(__name__)

READY_KEY = "vault:workers-warm"


@worker_process_init.connect(dispatch_uid="vault.jobs.readiness.warm_worker")
def warm_worker(**_kwargs) -> dict:
    seconds = warm_codecs()
    ready = {"at": timezone.now().isoformat(), "worker": f"{socket.gethostname()}:{os.getpid()}", "codecs": seconds}
    try:
        cache.set(READY_KEY, ready, timeout=None)
    except Exception:  # noqa: BLE001 - readiness is informative; the worker is warm regardless
        logger.warning("could not record worker readiness", exc_info=True)
    logger.info("worker warm: %s", seconds)
    return ready


def readiness() -> dict | None:
    """The last warm-up any worker recorded ({"at", "worker", "codecs": {name: seconds}}), or None
    when no worker has warmed since the cache was emptied."""
    return cache.get(READY_KEY)
