"""Settings for the test suite (pytest.ini): the development settings, made fast and in-process.
Per-test values (each test's own blob directory) are fixtures in tests/conftest.py."""
import os

from .development import *  # noqa: F401,F403

# Fast hashing in tests; production keeps Argon2 first.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The vault's password key: Argon2id at its minimum costs (8 KiB, one pass) so a login takes
# microseconds; production costs are ~0.4 s (see product.VAULT_ARGON2_*).
VAULT_ARGON2_TIME_COST = 1
VAULT_ARGON2_MEMORY_KIB = 8
VAULT_ARGON2_PARALLELISM = 1

# Compression jobs run inside the test that queues them (tests/test_worker.py starts real workers).
CELERY_TASK_ALWAYS_EAGER = True
# Originals are kept as uploaded unless a test turns this on (tests/test_vault_originals.py and
# test_vault_saver.py do): most tests compare a downloaded PNG with the uploaded bytes, and count
# blob files while the upload's replaced blob waits for an on-commit deletion that the suite's
# per-test transaction never commits. VAULT_RECOMPRESS_ORIGINALS=1 runs the whole suite with it on.
VAULT_RECOMPRESS_ORIGINALS = os.environ.get("VAULT_RECOMPRESS_ORIGINALS", "0") == "1"
