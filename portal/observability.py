"""Sentry and Prometheus hooks."""
import logging

from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

UPLOAD_SECONDS = Histogram(
    "portal_upload_seconds",
    "Time to decode, compress, encrypt and store one upload, by chosen codec.",
    ["codec"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
COMPRESSION_SECONDS = Histogram(
    "portal_compression_seconds",
    "Encoder time of the chosen codec for one upload.",
    ["codec"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class CeleryQueueCollector:
    """`portal_celery_queue_length{queue}`: messages waiting on the broker, read at scrape time
    (a growing queue means the workers do not keep up). Absent when tasks run in-process."""

    def describe(self):
        # Registering asks describe() for the metric names; without it the registry calls
        # collect(), which reads settings and the broker, at import: the settings import this
        # module (Sentry) before they are complete.
        yield GaugeMetricFamily("portal_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"])

    def collect(self):
        from django.conf import settings

        from portal.celery import app

        if app.conf.task_always_eager:
            return
        family = GaugeMetricFamily("portal_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"])
        names = {
            app.conf.task_default_queue or "celery", settings.JOB_MAX_EFFORT_QUEUE,
            *(q.name for q in (app.conf.task_queues or [])),
        }
        try:
            with app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=3)
                for name in sorted(names):
                    try:
                        count = connection.default_channel.queue_declare(queue=name, passive=True).message_count
                    except connection.channel_errors:  # not declared yet: nothing was ever sent to it
                        count = 0
                    family.add_metric([name], count)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the broker is down
            logger.warning("could not read the Celery queue length: %s", type(exc).__name__)
            return
        yield family


REGISTRY.register(CeleryQueueCollector())


def init_sentry(dsn: str) -> None:
    import os

    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0") or 0),
        # Retrieval keys travel in request bodies and sit in local variables of unlock/upload:
        # neither may ever leave the server, so bodies, locals and personal data are not sent.
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
    )
