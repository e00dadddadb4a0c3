"""gunicorn settings (read automatically from the working directory, or with `-c gunicorn.conf.py`).

Every value can be overridden from the environment; docs/deploy.md lists them.
"""
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"

# Threads, not more processes: each process holds its own copy of the codecs (the learned one is
# several hundred MB with TensorFlow), while requests mostly wait on storage and the database.
# With gthread workers the timeout below is a heartbeat of the worker process, not a limit on one
# request, so a slow upload is not killed mid-way as it was under the default sync worker.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# Uploads are still compressed inside the request until compression moves to the Celery worker
# (background-jobs issue); then 30 s is plenty and GUNICORN_TIMEOUT can come down.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

# Recycle workers now and then so that a slow leak (image libraries, TensorFlow) cannot grow forever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))

# Which peers may set X-Forwarded-Proto (the HTTPS flag). Django decides the client's address
# itself from TRUSTED_PROXY_COUNT / TRUSTED_PROXIES.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Heartbeat files in memory, not on a possibly slow disk (Docker's overlay filesystem).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# One JSON object per request, with the request id Django returns, so access lines join the
# application's own log lines. The query string is left out: it can carry a token or a name.
access_log_format = (
    '{"time": "%(t)s", "logger": "gunicorn.access", "request_id": "%({x-request-id}o)s", '
    '"method": "%(m)s", "path": "%(U)s", "status": %(s)s, "bytes": "%(B)s", '
    '"duration_ms": %(M)s, "remote": "%(h)s"}'
)
