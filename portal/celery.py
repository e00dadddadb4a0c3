"""Celery application: the workers that compress uploads (vault/jobs/) and run maintenance.

`make run` starts one worker (with beat) for normal jobs and one for `effort=max` jobs next to the
web server, on the embedded filesystem broker in DATA_DIR (settings: CELERY_*). The test suite
runs tasks eagerly, in the test's own process.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.development")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
