"""Sentry and Prometheus hooks."""
from prometheus_client import Histogram

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
