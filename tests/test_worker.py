"""Real worker processes, as `make run` starts them: a Celery worker on the embedded filesystem
broker (and on Redis when one answers on 127.0.0.1:6379) compresses what an upload queued, and
killing its process mid-job loses nothing.

Everything runs in subprocesses sharing one file-backed SQLite database in a temporary DATA_DIR,
because a worker cannot see the suite's in-memory test database; the uploads go through the same
`vault.uploads.store_image` the pages and the API call.
"""
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from tests.conftest import image_bytes, make_photo

PASSWORD = "a-Long-enough-passw0rd"

# Run by `manage.py shell`: store one file for `user` (created with a vault on first use) and
# print the record id, or print the SHA-256 of a record's decrypted original.
DRIVER = """
import hashlib, sys
from django.contrib.auth import get_user_model
from vault import keyring, uploads
from vault.images.opening import open_variant
from vault.models import ImageRecord

command, username, password, arg = sys.argv[1:5]
User = get_user_model()
user = User.objects.filter(username=username).first()
if user is None:
    user = User.objects.create_user(username, password=password)
    keyring.create_vault(user=user, password=password)
master_key = keyring.unlock_with_password(user=user, password=password)
if command == "store":
    path, codec, effort = arg.split("|")
    record, _ = uploads.store_image(owner=user, master_key=master_key, uploaded_file_or_bytes=open(path, "rb").read(),
                                    filename=path.rsplit("/", 1)[-1], codec=codec, effort=effort)
    print("RECORD", record.pk)
else:
    record = ImageRecord.objects.get(pk=int(arg))
    print("SHA", hashlib.sha256(open_variant(record=record, master_key=master_key, variant="original")).hexdigest())
"""


def _env(data_dir: Path, broker: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER")}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="portal.settings.development", LEARNED_CODEC_ENABLED="0",
               VAULT_ARGON2_TIME_COST="1", VAULT_ARGON2_MEMORY_KIB="8", TF_CPP_MIN_LOG_LEVEL="3")
    if broker:
        env["CELERY_BROKER_URL"] = broker
    return env


def _manage(env, *args, timeout=180) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _drive(env, command, arg) -> str:
    out = _manage(env, "shell", "-c", f"import sys; sys.argv = ['x', {command!r}, 'alice', {PASSWORD!r}, {arg!r}]\n{DRIVER}")
    return out.strip().splitlines()[-1].split()[-1]


def _row(data_dir: Path, record_id) -> dict:
    with sqlite3.connect(data_dir / "db.sqlite3", timeout=30) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("select status, progress, attempts, error, compressed_blob, original_storage from vault_imagerecord where id = ?",
                         (int(record_id),)).fetchone()
    return dict(row)


def _wait_for(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def portal_dir(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return data_dir


def _start_worker(env, queues="celery,max"):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--queues", queues, "--concurrency", "1",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _stop(worker):
    try:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(worker.pid, signal.SIGKILL)


def _redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("broker", [None, "redis://127.0.0.1:6379/14"], ids=["filesystem", "redis"])
def test_a_worker_process_compresses_what_an_upload_queued(portal_dir, tmp_path, broker):
    if broker and not _redis_answers():
        pytest.skip("No Redis answers on 127.0.0.1:6379; the filesystem-broker case covers the worker.")
    env = _env(portal_dir, broker)
    _manage(env, "migrate", "--noinput")
    photo = tmp_path / "photo.png"
    photo.write_bytes(image_bytes(make_photo(96, 64)))
    record_id = _drive(env, "store", f"{photo}|png|default")
    assert _row(portal_dir, record_id)["status"] == "queued"  # the upload did not compress it
    worker = _start_worker(env)
    try:
        row = _wait_for(lambda: (r := _row(portal_dir, record_id))["status"] in ("done", "failed") and r, timeout=120,
                        what="the worker to finish the job")
    finally:
        _stop(worker)
    assert row["status"] == "done", row["error"]
    assert row["progress"] == 100 and row["compressed_blob"] and row["attempts"] == 1


def test_killing_the_worker_process_mid_job_loses_nothing(portal_dir, tmp_path):
    env = _env(portal_dir, None)
    _manage(env, "migrate", "--noinput")
    # A JPEG: the worker keeps it as its JPEG XL transcoding (original mode), and what comes back
    # must still be the upload byte for byte.
    photo = tmp_path / "photo.jpg"
    original = image_bytes(make_photo(640, 480, seed=3), "JPEG", quality=95)
    photo.write_bytes(original)
    # effort=max on every codec: slow enough that the job is surely still running when killed.
    record_id = _drive(env, "store", f"{photo}|auto|max")
    worker = _start_worker(env)
    try:
        _wait_for(lambda: _row(portal_dir, record_id)["status"] == "running", timeout=120, what="the job to start")
        children = _wait_for(lambda: psutil.Process(worker.pid).children(), timeout=30, what="the pool process")
        for child in children:
            child.send_signal(signal.SIGKILL)  # as the kernel's out-of-memory killer would
        row = _wait_for(lambda: (r := _row(portal_dir, record_id))["status"] in ("done", "failed") and r, timeout=300,
                        what="the job to be run again after the kill")
    finally:
        _stop(worker)
    assert row["status"] == "done", row["error"]
    assert row["attempts"] == 2  # the killed attempt, then the one that finished
    assert row["original_storage"] == "jxl-jpeg"
    assert _drive(env, "sha", record_id) == hashlib.sha256(original).hexdigest()
