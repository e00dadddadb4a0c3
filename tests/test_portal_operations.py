"""Running it for real: health, proxies, throttles, CSP, request size, sessions, e-mail, logs, metrics."""
import json
import logging
import re
from io import BytesIO

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client, RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from portal.email_url import parse_email_url
from portal.net import client_ip
from tests.vault_helpers import login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-Horse-battery-9"


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD, email="alice@example.com")


# --- /healthz --------------------------------------------------------------------------------------


def test_healthz_reports_each_dependency_as_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "storage", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_healthz_is_503_naming_the_failed_dependency(client, monkeypatch):
    from portal import views

    def broken():
        raise ConnectionError("redis://:secret-password@cache:6379 refused")

    monkeypatch.setitem(views.CHECKS, "cache", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == {"ok": False, "error": "ConnectionError", "ms": body["checks"]["cache"]["ms"]}
    assert body["checks"]["database"]["ok"] is True
    assert b"secret-password" not in response.content  # only the exception's class is reported


def test_healthz_checks_a_configured_broker(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from portal.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


# --- safe defaults -------------------------------------------------------------------------------


def test_debug_is_off_unless_django_debug_is_set():
    import subprocess
    import sys

    from django.conf import settings as django_settings

    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='portal.settings.development'; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    env = {k: v for k, v in __import__("os").environ.items() if k not in {"DJANGO_DEBUG", "DEBUG"}}
    env["LEARNED_CODEC_ENABLED"] = "0"
    off = subprocess.run([sys.executable, "-c", code], env={**env, "DEBUG": "1"}, capture_output=True, text=True, cwd=django_settings.BASE_DIR)
    on = subprocess.run([sys.executable, "-c", code], env={**env, "DJANGO_DEBUG": "1"}, capture_output=True, text=True, cwd=django_settings.BASE_DIR)
    assert off.stdout.strip().splitlines()[-1] == "False", off.stderr
    assert on.stdout.strip().splitlines()[-1] == "True", on.stderr


# --- proxies --------------------------------------------------------------------------------------


def _request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_forwarded_for_is_ignored_without_a_trusted_proxy(settings):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXIES = 0, []
    assert client_ip(_request("198.51.100.9", "203.0.113.5")) == "198.51.100.9"


def test_a_trusted_proxy_count_takes_the_hop_before_the_proxies(settings):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXIES = 1, []
    # The client forged the first entry; our one proxy appended the real address.
    assert client_ip(_request("10.0.0.2", "6.6.6.6, 203.0.113.5")) == "203.0.113.5"
    # Without the header (someone reached the app server directly) the peer is used.
    assert client_ip(_request("10.0.0.2")) == "10.0.0.2"


def test_trusted_proxy_networks_are_skipped_from_the_right(settings):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXIES = 0, ["10.0.0.0/8"]
    assert client_ip(_request("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.1.1.1")) == "203.0.113.5"
    # A peer outside the trusted networks cannot speak for anyone else.
    assert client_ip(_request("198.51.100.9", "203.0.113.5")) == "198.51.100.9"


def test_behind_a_proxy_a_stranger_cannot_lock_the_owner_out(alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 2
    stranger = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.66")
    for _ in range(3):
        stranger.post(reverse("login"), {"username": "alice", "password": "wrong-guess"})
    assert stranger.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 429
    owner = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert owner.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 302
    # The audit log names the client, not the proxy.
    ips = set(AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).values_list("ip", flat=True))
    assert ips == {"203.0.113.66"}
    assert AuditEvent.objects.get(action=AuditEvent.Action.LOGIN).ip == "198.51.100.20"


# --- throttles --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url_name, setting, data",
    [
        ("login", "THROTTLE_LOGIN", {"username": "nobody", "password": "x"}),
        ("register", "THROTTLE_REGISTER", {"username": "", "password1": "", "password2": ""}),
        ("password_reset", "THROTTLE_PASSWORD_RESET", {"email": "nobody@example.com"}),
    ],
)
def test_account_forms_are_throttled_per_client_address(settings, url_name, setting, data):
    setattr(settings, setting, "2/m")
    settings.AXES_FAILURE_LIMIT = 100
    client = Client(REMOTE_ADDR="198.51.100.30")
    statuses = [client.post(reverse(url_name), data).status_code for _ in range(3)]
    assert 429 not in statuses[:2] and statuses[2] == 429
    # Another address is not affected.
    assert Client(REMOTE_ADDR="198.51.100.31").post(reverse(url_name), data).status_code != 429


def test_token_creation_is_throttled_with_a_json_429(alice, settings):
    from rest_framework.test import APIClient

    settings.THROTTLE_TOKEN_CREATE = "2/h"
    client = APIClient(REMOTE_ADDR="198.51.100.40")
    statuses = [
        client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    last = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert "Too many requests" in last.json()["detail"]


def test_profile_token_creation_is_throttled(alice, settings):
    settings.THROTTLE_TOKEN_CREATE = "1/h"
    client = login_unlocked(Client(), "alice", PASSWORD)
    assert client.post(reverse("token-create"), {"name": "one"}).status_code == 200
    assert client.post(reverse("token-create"), {"name": "two"}).status_code == 429


def test_the_throttle_cache_is_shared_by_every_process(settings):
    # A per-process memory cache would give each gunicorn worker its own count.
    assert settings.CACHES["default"]["BACKEND"] in {
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.redis.RedisCache",
    }


# --- passwords and sessions ---------------------------------------------------------------------


def test_registration_needs_twelve_characters(client):
    short = "Zq8#p2vL0s9"  # 11 characters, not common, not numeric
    response = client.post(reverse("register"), {"username": "eve", "password1": short, "password2": short})
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    assert not get_user_model().objects.filter(username="eve").exists()


def test_sessions_expire_after_the_idle_timeout_and_each_request_extends_them(client, alice, settings):
    client.force_login(alice)
    response = client.get(reverse("profile"))
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == settings.SESSION_COOKIE_AGE == 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


# --- CSP ------------------------------------------------------------------------------------------


def test_pages_send_a_csp_without_inline_scripts(client, alice):
    login_unlocked(client, "alice", PASSWORD)
    response = client.post(reverse("token-create"), {"name": "laptop"})
    policy = response["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'self'" in script_src
    html = response.content.decode()
    assert "js/profile.js" in html
    assert "<script>" not in html  # every script is a file


# --- request size -------------------------------------------------------------------------------


def test_an_oversized_request_is_refused_with_413_before_its_body_is_read(settings):
    settings.REQUEST_MAX_BYTES = 1024 * 1024
    read = []

    class Body(BytesIO):
        def read(self, *args):
            read.append(args)
            return super().read(*args)

    size = 40 * 1024 * 1024
    environ = RequestFactory()._base_environ(
        PATH_INFO="/api/v1/images/", REQUEST_METHOD="POST", CONTENT_TYPE="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(size), **{"wsgi.input": Body(b"x" * 10)},
    )
    from django.core.handlers.wsgi import WSGIHandler

    captured = {}

    def start_response(status, headers):
        captured["status"] = status

    body = b"".join(WSGIHandler()(environ, start_response))
    assert captured["status"].startswith("413")
    assert "40.0 MiB" in json.loads(body)["detail"]
    assert read == []  # not one byte of the body was received


def test_a_page_upload_over_the_limit_gets_a_readable_413(client, alice, settings):
    settings.REQUEST_MAX_BYTES = 1000
    client.force_login(alice)
    response = client.post(reverse("vault:upload"), {"file": BytesIO(b"x" * 5000)})
    assert response.status_code == 413
    assert "Choose a smaller image" in response.content.decode()


# --- e-mail ---------------------------------------------------------------------------------------


def test_email_url_configures_an_smtp_relay():
    config = parse_email_url("smtp://mailer:p%40ss@mail.example.org:2525")
    assert config == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.org",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "p@ss",
        "EMAIL_USE_SSL": False,
        "EMAIL_USE_TLS": True,
    }
    assert parse_email_url("smtps://mail.example.org")["EMAIL_PORT"] == 465
    assert parse_email_url("smtp://relay:25?tls=0")["EMAIL_USE_TLS"] is False


def test_an_unknown_email_url_scheme_is_refused_by_name():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match='"imap"'):
        parse_email_url("imap://mail.example.org")


# --- logs -----------------------------------------------------------------------------------------


def test_json_log_lines_carry_the_request_id(client, caplog):
    from pythonjsonlogger.json import JsonFormatter

    from portal.logs import RequestIdFilter

    stream = BytesIO()
    handler = logging.StreamHandler(stream=__import__("io").TextIOWrapper(stream, write_through=True))
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("portal.views")
    logger.addHandler(handler)
    try:
        from portal import views

        def broken():
            raise ConnectionError("down")

        views.CHECKS["cache"], original = broken, views.CHECKS["cache"]
        try:
            response = client.get("/healthz", HTTP_X_REQUEST_ID="req-0123456789")
        finally:
            views.CHECKS["cache"] = original
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().decode().strip().splitlines()[-1])
    assert line["request_id"] == "req-0123456789" == response["X-Request-ID"]
    assert line["levelname"] == "WARNING"


def test_a_request_without_an_id_gets_a_fresh_one(client):
    first, second = client.get("/healthz"), client.get("/healthz", HTTP_X_REQUEST_ID="not an id\n")
    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != second["X-Request-ID"]
    # A fresh hex id, not the client's text ("bad" could appear in random hex; "not an" cannot).
    assert re.fullmatch(r"[0-9a-f]{32}", second["X-Request-ID"])


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_are_hidden_unless_enabled(client, settings):
    settings.METRICS_ENABLED = False
    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, "scrape-secret"
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_requests_latency_seconds_by_view_method" in text
    assert "portal_compression_seconds" in text


def test_each_upload_and_its_job_log_one_line_each_with_sizes_and_timings_but_no_name_or_key(alice, caplog):
    from tests.conftest import image_bytes, make_photo
    from vault import services

    with caplog.at_level(logging.INFO):
        record, _ = services.store_image(
            owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=image_bytes(make_photo()),
            filename="secret-diary.png", codec="png",
        )
    uploads = [r for r in caplog.records if getattr(r, "event", None) == "upload"]
    jobs = [r for r in caplog.records if getattr(r, "event", None) == "job_done"]
    assert len(uploads) == 1 and len(jobs) == 1
    assert (uploads[0].record_id, uploads[0].original_bytes) == (record.pk, record.original_size)
    assert (jobs[0].record_id, jobs[0].codec, jobs[0].compressed_bytes) == (record.pk, "png", record.compressed_size)
    assert jobs[0].encode_seconds >= 0
    for line in uploads + jobs:
        everything = json.dumps(vars(line), default=str)
        assert "secret-diary" not in everything
        for secret in (alice.master_key.hex(), alice.recovery_key):
            assert secret not in everything


# --- Sentry ---------------------------------------------------------------------------------------


def test_sentry_starts_only_with_a_dsn_and_never_sends_bodies_or_locals(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    code = (
        "import django; django.setup(); import sentry_sdk; c = sentry_sdk.get_client(); "
        "print(c.is_active(), c.options['send_default_pii'], c.options['max_request_body_size'], "
        "c.options['include_local_variables'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"SENTRY_DSN", "DATABASE_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings.development", DATA_DIR=str(tmp_path), LEARNED_CODEC_ENABLED="0")

    def run(**extra):
        done = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True,
                              cwd=django_settings.BASE_DIR, timeout=120)
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr

    assert run().startswith("False")
    assert run(SENTRY_DSN="https://public@o0.ingest.sentry.io/1") == "True False never False"


def test_metrics_report_the_celery_queue_length_when_a_broker_is_configured(client, settings):
    from kombu import Queue

    from portal.celery import app

    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, ""
    assert "portal_celery_queue_length" not in client.get("/metrics").content.decode()  # eager: no queue

    previous = app.conf.broker_url
    app.conf.broker_url, app.conf.task_always_eager = "memory://", False
    try:
        with app.connection_for_write() as connection:
            producer = connection.Producer()
            for _ in range(3):
                producer.publish({"n": 1}, routing_key="celery", declare=[Queue("celery")])
        text = client.get("/metrics").content.decode()
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("celery")
    finally:
        app.conf.broker_url, app.conf.task_always_eager = previous, True
    assert 'portal_celery_queue_length{queue="celery"} 3.0' in text
    assert 'portal_celery_queue_length{queue="max"} 0.0' in text


def test_the_api_docs_page_loads_swagger_from_script_files_not_inline(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html
    script_url = [u for u in __import__("re").findall(r'<script src="([^"]+)"', html) if "/api/docs/" in u]
    assert script_url and client.get(script_url[0].replace("&amp;", "&")).status_code == 200


def test_a_unix_socket_peer_counts_as_the_local_proxy(settings):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXIES = 1, []
    assert client_ip(_request("", "203.0.113.5")) == "203.0.113.5"
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXIES = 0, ["10.0.0.0/8"]
    assert client_ip(_request("", "203.0.113.5, 10.0.0.3")) == "203.0.113.5"
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request("", "203.0.113.5")) is None  # no proxy configured: unknown, not forged


def test_a_login_from_an_unknown_address_is_throttled_not_a_500(settings):
    from django.core.cache import cache

    cache.clear()  # the browser tests' logins (live server, committed) may have counted already
    settings.THROTTLE_LOGIN = "1/m"
    client = Client(REMOTE_ADDR="")
    first = client.post(reverse("login"), {"username": "nobody", "password": "x"})
    second = client.post(reverse("login"), {"username": "nobody", "password": "x"})
    assert (first.status_code, second.status_code) == (200, 429)
