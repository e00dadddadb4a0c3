"""CI: gunicorn with the production settings, on 127.0.0.1 and a free port, answering for real."""
import http.client
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install -r requirements.txt)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": "127.0.0.1", **(headers or {})})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("production")
    port = free_port()
    strip = {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DJANGO_DEBUG", "REDIS_URL", "CELERY_BROKER_URL", "VAULT_JOB_KEY"}
    env = {
        **{k: v for k, v in os.environ.items() if k not in strip and not k.startswith("AWS_")},
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "VAULT_JOB_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATA_DIR": str(data),
        "LEARNED_CODEC_ENABLED": "0",  # the codec is not what this test is about; boot faster
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
    }
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        done = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    log = (data / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [gunicorn, "-c", "gunicorn.conf.py", "portal.wsgi:application"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                response, _ = get(port, "/healthz")
                if response.status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not become healthy:\n" + (data / "gunicorn.log").read_text())
            time.sleep(0.5)
        yield port, data
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_healthz_answers_200_with_every_check_over_plain_http(server):
    port, _ = server
    response, body = get(port, "/healthz")  # no X-Forwarded-Proto: probes are not redirected
    assert response.status == 200
    assert b'"status": "ok"' in body
    assert response.getheader("X-Request-ID")


def test_the_login_page_is_served_with_security_headers(server):
    port, _ = server
    response, body = get(port, "/accounts/login/", {"X-Forwarded-Proto": "https"})
    assert response.status == 200
    assert "script-src 'self'" in response.getheader("Content-Security-Policy")
    assert "max-age=31536000" in response.getheader("Strict-Transport-Security")
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("Referrer-Policy") == "same-origin"
    cookies = " ".join(v for k, v in response.getheaders() if k.lower() == "set-cookie")
    assert "csrftoken=" in cookies and "Secure" in cookies
    assert b"<form" in body


def test_plain_http_pages_redirect_to_https(server):
    port, _ = server
    response, _ = get(port, "/accounts/login/")
    assert response.status == 301 and response.getheader("Location").startswith("https://")


def test_a_static_file_is_served_with_a_hashed_name_and_long_caching(server):
    port, _ = server
    _, page = get(port, "/accounts/login/", {"X-Forwarded-Proto": "https"})
    stylesheet = re.search(rb'href="(/static/css/[^"]+\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, page[:500]
    response, body = get(port, stylesheet.group(1).decode(), {"X-Forwarded-Proto": "https"})
    assert response.status == 200 and body
    assert response.getheader("Content-Type").startswith("text/css")
    assert "immutable" in response.getheader("Cache-Control")


def test_an_unknown_page_is_a_plain_404_without_debug_output(server):
    port, _ = server
    response, body = get(port, "/images/999999/does-not-exist/", {"X-Forwarded-Proto": "https"})
    assert response.status == 404
    assert b"URLconf" not in body and b"Traceback" not in body


def test_access_log_lines_are_json_with_the_request_id(server):
    port, data = server
    response, _ = get(port, "/healthz", {"X-Request-ID": "ci-request-000123"})
    assert response.getheader("X-Request-ID") == "ci-request-000123"
    time.sleep(0.5)
    log = (data / "gunicorn.log").read_text()
    assert '"request_id": "ci-request-000123"' in log
