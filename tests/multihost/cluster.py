"""The shared services and the portal's hosts for tests/test_multihost.py.

Shared, as docs/deploy.md describes: one PostgreSQL database (made fresh here and dropped after),
Redis (broker in one database number, cache in another), an S3 bucket (moto's server) and the
secrets (SECRET_KEY, VAULT_JOB_KEY). Each host has its own DATA_DIR, which holds nothing shared.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.multihost.network import Network

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Database numbers of the machine's Redis that this test owns (flushed before and after).
REDIS_BROKER_DB, REDIS_CACHE_DB = 10, 11
HOST_NAME = "portal.test"  # the Host header every request sends (ALLOWED_HOSTS)
BUCKET = "multihost"


def services_missing() -> str | None:
    """Why the test cannot run here, or None."""
    for what, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return f"{what} does not answer on 127.0.0.1:{port}"
    try:
        import moto.server  # noqa: F401
        import psycopg  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -r requirements-test.txt)"
    if not (BIN / "gunicorn").exists() or not (BIN / "celery").exists():
        return f"gunicorn or celery is missing from {BIN}"
    return None


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class Cluster:
    """Start with `with Cluster(tmp) as cluster:`; everything is stopped and removed on exit."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.logs: dict[str, Path] = {}
        self.addresses: dict[str, str] = {}
        self.database = f"multihost_{secrets.token_hex(4)}"
        self._stack = contextlib.ExitStack()

    # --- setup ---------------------------------------------------------------------------------

    def __enter__(self):
        try:
            self._start_services()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def _start_services(self):
        import psycopg
        import redis

        # Undone in reverse order: processes first, then the namespaces, Redis, the database.
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self._stack.callback(self._drop_database)
        for db in (REDIS_BROKER_DB, REDIS_CACHE_DB):
            redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()
            self._stack.callback(lambda db=db: redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb())
        self.network = Network()
        self._stack.callback(self.network.close)
        self._stack.callback(self._stop_processes)
        bridge = self.network.address
        self._run_host_process("forward", [sys.executable, "-m", "tests.multihost.forward",
                                           f"{bridge}:5432=127.0.0.1:5432", f"{bridge}:6379=127.0.0.1:6379"], ready=b"ready")
        s3_port = _free_port(bridge)
        self._run_host_process("s3", [str(BIN / "moto_server"), "-H", bridge, "-p", str(s3_port)])
        self.s3_endpoint = f"http://{bridge}:{s3_port}"


        self.env = self._shared_env(bridge)
        wait_until(lambda: self._s3_answers(), timeout=60, what="moto's S3 server")
        self.s3_client().create_bucket(Bucket=BUCKET)
        # Deploy steps, run once from this machine (as a release job would): the schema and the
        # collected static files every web host serves.
        local = {**self.env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.database}",
                 "DATA_DIR": str(self.workdir / "deploy")}
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            done = subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=local, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    def _shared_env(self, bridge: str) -> dict:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("AWS_", "DJANGO_", "CELERY_", "DATABASE_", "REDIS_", "SECRET_", "VAULT_", "JOB_"))}
        return {
            **keep,
            "DJANGO_SETTINGS_MODULE": "portal.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "VAULT_JOB_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": HOST_NAME,
            "DATABASE_URL": f"postgres://postgres@{bridge}:5432/{self.database}",
            "REDIS_URL": f"redis://{bridge}:6379/{REDIS_CACHE_DB}",
            "CELERY_BROKER_URL": f"redis://{bridge}:6379/{REDIS_BROKER_DB}",
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": self.s3_endpoint,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "STATIC_ROOT": str(self.workdir / "static"),
            "LEARNED_CODEC_ENABLED": "0",  # the scale-out is under test, not the codec; hosts boot faster
            "VAULT_ARGON2_TIME_COST": "1",
            "VAULT_ARGON2_MEMORY_KIB": "8192",
            # A job whose worker host vanished goes to another worker after this long (the
            # default outlasts the longest job: an hour and more). Shorter than a job may take
            # here, so a message can also come back while its job runs: with one process per
            # worker it waits for that job to end, then finds it done and does nothing.
            "BROKER_VISIBILITY_TIMEOUT": "15",
            "FORWARDED_ALLOW_IPS": bridge,  # this machine plays the TLS proxy
            "THROTTLE_STATUS": "6000/min",  # the test polls faster than a page does
            "LOG_FORMAT": "json",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONUNBUFFERED": "1",
        }

    def _s3_answers(self) -> bool:
        try:
            self.s3_client().list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def s3_client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def _drop_database(self):
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # --- processes -----------------------------------------------------------------------------

    def _popen(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with log.open("wb") as out:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def _run_host_process(self, name: str, argv: list[str], ready: bytes | None = None):
        process = self._popen(name, argv, dict(os.environ))
        if ready:
            wait_until(lambda: ready in self.logs[name].read_bytes() or process.poll() is not None, timeout=30,
                       what=f"{name} to start")
            assert process.poll() is None, self.log(name)

    def start_web(self, name: str) -> str:
        """gunicorn with the production settings in a new host; returns its base URL once healthy."""
        address = self.network.add_host(name)
        self.addresses[name] = address
        env = {**self.env, "DATA_DIR": str(self.workdir / name), "HOST": address, "PORT": "8000",
               "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "4"}
        self._popen(name, self.network.command(name, [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py",
                                                      "portal.wsgi:application"]), env)
        return f"http://{address}:8000"

    def start_worker(self, name: str) -> None:
        """A Celery worker for both queues in a new host (one process at a time: the test wants to
        know which host holds a job)."""
        self.addresses[name] = self.network.add_host(name)
        env = {**self.env, "DATA_DIR": str(self.workdir / name)}
        self._popen(name, self.network.command(name, [
            str(BIN / "celery"), "-A", "portal", "worker", "--queues", "celery,max", "--concurrency", "1",
            "--hostname", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ]), env)

    def manage(self, host: str, *args: str, timeout: float = 120) -> str:
        """`manage.py …` run inside a host, with its settings."""
        env = {**self.env, "DATA_DIR": str(self.workdir / host)}
        done = subprocess.run(self.network.command(host, [sys.executable, "manage.py", *args]), cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done.stdout

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")[-4000:]

    def _stop_processes(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
