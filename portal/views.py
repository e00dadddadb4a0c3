"""Operational endpoints: health, metrics, and the answer to a throttled request."""
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.errors import too_many_requests
from vault.jobs.readiness import readiness

logger = logging.getLogger(__name__)


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_storage():
    # A read-only probe (a HEAD on S3): health checks run every few seconds and must not write.
    default_storage.exists("healthz-probe")


def _check_cache():
    cache.set("healthz-probe", "ok", 30)
    if cache.get("healthz-probe") != "ok":
        raise RuntimeError("the cache did not return the value just written")


def _check_broker():
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return "eager"  # no broker configured: tasks run in-process
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
    return None


CHECKS = {"database": _check_database, "storage": _check_storage, "cache": _check_cache, "broker": _check_broker}


@never_cache
@require_GET
def healthz(request):
    """200 when every dependency answers, else 503; JSON with each check's result and time.
    Errors name the exception class only: messages may contain hosts or credentials."""
    results, healthy = {}, True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            note = check()
            results[name] = {"ok": True}
            if note:
                results[name]["note"] = note
        except Exception as exc:  # noqa: BLE001 - any failure is an unhealthy dependency
            healthy = False
            results[name] = {"ok": False, "error": type(exc).__name__}
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    # Informative, not a failing check: a web server is healthy without a warm worker.
    return JsonResponse({"status": "ok" if healthy else "unavailable", "checks": results, "workers": _workers()},
                        status=200 if healthy else 503)


def _workers() -> dict:
    try:
        ready = readiness()
    except Exception:  # noqa: BLE001 - the cache check above reports a broken cache
        return {"warm": None}
    return {"warm": ready is not None, "last_warm_up": ready}


@never_cache
@require_GET
def metrics(request):
    """Prometheus exposition, hidden (404) unless METRICS_ENABLED, and behind METRICS_TOKEN if set."""
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are disabled.")
    if settings.METRICS_TOKEN:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        if not constant_time_compare(sent, f"Bearer {settings.METRICS_TOKEN}"):
            return HttpResponse("A valid metrics token is required.", status=401, content_type="text/plain")
    from django_prometheus.exports import ExportToDjangoView

    return ExportToDjangoView(request)


def throttled(request, exception=None):
    """django-ratelimit's answer (RATELIMIT_VIEW names this path)."""
    return too_many_requests(request)
