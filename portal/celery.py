"""Celery application.

Uploads are compressed inside the request by default (the user must see the key at once);
Celery takes the slow, deferrable work (e.g. benchmarking, re-encoding) when a broker is
configured with CELERY_BROKER_URL. Without one, tasks run eagerly in-process so that a fresh
clone needs no broker.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
