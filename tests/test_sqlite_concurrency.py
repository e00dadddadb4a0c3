"""Several users uploading at once on the default file-backed SQLite database: every request is
answered 202, none with "database is locked" (WAL, IMMEDIATE transactions, a busy timeout, and no
slow work inside a transaction; see portal/settings/base.py).

It runs in a subprocess on a fresh DATA_DIR because the suite's own test database is in memory,
where neither WAL nor several connections exist. Jobs run eagerly there, inside the uploading
threads, so their progress writes compete for the lock too.
"""
import os
import subprocess
import sys

from django.conf import settings

THREADS, UPLOADS_EACH = 8, 3

SCRIPT = """
import io, threading
import numpy as np
from PIL import Image
from django.db import connection
from rest_framework.test import APIClient
from django.contrib.auth import get_user_model
from accounts.services import create_api_token
from vault import keyring
from vault.models import ImageRecord

assert connection.vendor == "sqlite" and connection.cursor().execute("pragma journal_mode").fetchone()[0] == "wal"
tokens = []
for i in range(THREADS):
    user = get_user_model().objects.create_user(f"user{i}", password="a-Long-enough-passw0rd")
    master_key, _ = keyring.create_vault(user=user, password="a-Long-enough-passw0rd")
    tokens.append(create_api_token(user=user, name="t", master_key=master_key)[1])

def png(seed):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()

statuses, errors = [], []
start = threading.Barrier(THREADS)

def user_uploads(i):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[i]}")
    start.wait()
    try:
        for n in range(UPLOADS_EACH):
            f = io.BytesIO(png(i * 100 + n)); f.name = f"{i}-{n}.png"
            statuses.append(client.post("/api/v1/images/", {"file": f, "codec": "webp"}, format="multipart").status_code)
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=user_uploads, args=(i,)) for i in range(THREADS)]
[t.start() for t in threads]
[t.join() for t in threads]
print("STATUSES", sorted(statuses), "ERRORS", errors)
print("DONE", ImageRecord.objects.filter(status="done").count())
"""


def test_concurrent_uploads_on_file_backed_sqlite_all_succeed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DATA_DIR=str(tmp_path), CELERY_TASK_ALWAYS_EAGER="1", LEARNED_CODEC_ENABLED="0",
               VAULT_ARGON2_TIME_COST="1", VAULT_ARGON2_MEMORY_KIB="8", THROTTLE_TOKEN_CREATE="1000/h")

    def manage(*args):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput")
    out = manage("shell", "-c", f"THREADS, UPLOADS_EACH = {THREADS}, {UPLOADS_EACH}\n{SCRIPT}")
    total = THREADS * UPLOADS_EACH
    assert f"STATUSES {[202] * total} ERRORS []" in out, out[-3000:]
    assert f"DONE {total}" in out
