"""Backup and restore of the embedded default deployment (SQLite + blob folder), end to end, as
docs/deploy.md describes it: `vault_backup` with the secrets to a separate folder, the data
directory wiped, `vault_restore`, and every image opens with its owner's password.

Runs `manage.py` in subprocesses on a file-backed SQLite database in a temporary DATA_DIR (the
suite's own database is in memory), with the development settings a single-machine deployment
uses and jobs run inside the upload so every record has all its blobs.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import image_bytes, make_photo

OWNERS = {"alice": "alice-Backup-passw0rd", "bob": "bob-Backup-passw0rd"}

# Run by `manage.py shell`: "store" makes each owner's account, vault and images; "open" unlocks
# each vault with the owner's password and opens every image (original and compressed), and
# reports what a wrong password for alice's vault gets.
DRIVER = """
import hashlib, json, os, sys
from django.contrib.auth import get_user_model
from vault import keyring, uploads
from vault.images.opening import open_variant
from vault.models import ImageRecord

command, spec = sys.argv[1], json.loads(sys.argv[2])
User = get_user_model()
if command == "store":
    for username, (password, paths) in spec.items():
        user = User.objects.create_user(username, password=password)
        master_key, _recovery = keyring.create_vault(user=user, password=password)
        for path in paths:
            uploads.store_image(owner=user, master_key=master_key, uploaded_file_or_bytes=open(path, "rb").read(),
                                filename=os.path.basename(path), codec="webp")
    print(json.dumps({r.pk: r.status for r in ImageRecord.objects.all()}))
elif command == "open":
    opened = {}
    for username, (password, _paths) in spec.items():
        user = User.objects.get(username=username)
        master_key = keyring.unlock_with_password(user=user, password=password)
        for record in ImageRecord.objects.filter(owner=user):
            original = open_variant(record=record, master_key=master_key, variant="original")
            compressed = open_variant(record=record, master_key=master_key, variant="compressed")
            opened[record.name] = [username, hashlib.sha256(original).hexdigest(), len(compressed)]
    try:
        keyring.unlock_with_password(user=User.objects.get(username="alice"), password="not-" + spec["alice"][0])
        wrong = "opened"
    except Exception as exc:
        wrong = type(exc).__name__
    print(json.dumps([opened, wrong]))
"""


def _env(data_dir: Path) -> dict:
    strip = ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "VAULT_JOB_KEY", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if k not in strip and not k.startswith("AWS_")}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="portal.settings.development", LEARNED_CODEC_ENABLED="0",
               CELERY_TASK_ALWAYS_EAGER="1", VAULT_ARGON2_TIME_COST="1", VAULT_ARGON2_MEMORY_KIB="8",
               TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _manage(env, *args, ok=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=300)
    if ok:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def _drive(env, command, spec):
    script = f"import sys; sys.argv = ['x', {command!r}, {json.dumps(spec)!r}]\n{DRIVER}"
    return json.loads(_manage(env, "shell", "-c", script).stdout.strip().splitlines()[-1])


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def _made_once(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("backup-source")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = _env(data_dir)
    _manage(env, "migrate", "--noinput")
    photos, spec = {}, {}
    for n, (owner, password) in enumerate(OWNERS.items()):
        paths = []
        for seed in range(2 if owner == "alice" else 1):
            # JPEGs: their exact bytes come back however the vault keeps them (a PNG comes back as
            # a re-made PNG with the same pixels), so a digest of the original can be compared.
            path = tmp_path / f"{owner}-{seed}.jpg"
            path.write_bytes(image_bytes(make_photo(80, 60, seed=10 * n + seed), "JPEG", quality=92))
            photos[path.name] = [owner, hashlib.sha256(path.read_bytes()).hexdigest()]
            paths.append(str(path))
        spec[owner] = [password, paths]
    statuses = _drive(env, "store", spec)
    assert sorted(statuses.values()) == ["done"] * 3, statuses
    return data_dir, spec, photos


@pytest.fixture
def deployment(_made_once, tmp_path):
    """A data directory of its own with two owners' images in it, and what each original's digest is."""
    source, spec, photos = _made_once
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    return data_dir, _env(data_dir), spec, photos


def test_back_up_wipe_restore_and_every_image_opens_with_its_owners_password(deployment, tmp_path):
    data_dir, env, spec, photos = deployment
    backup, secrets = tmp_path / "backup", tmp_path / "secrets"
    job_key = (data_dir / "job_key").read_text()

    out = _manage(env, "vault_backup", str(backup), "--secrets-to", str(secrets)).stdout
    assert "3 image record(s) and 9 blob(s)" in out  # original, compressed and thumbnail each
    # The secrets went to their own folder, readable by the owner only, and nowhere into the backup.
    assert sorted(p.name for p in secrets.iterdir()) == ["job_key", "secret_key"]
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in secrets.iterdir())
    assert not any(job_key.encode() in p.read_bytes() for p in _files(backup))

    shutil.rmtree(data_dir)  # the machine is lost
    data_dir.mkdir()
    out = _manage(env, "vault_restore", str(backup), "--secrets-from", str(secrets)).stdout
    assert "Restored 3 image record(s) and 9 blob(s)" in out
    assert (data_dir / "job_key").read_text() == job_key

    opened, wrong_password = _drive(env, "open", spec)
    assert {name: value[:2] for name, value in opened.items()} == photos
    assert all(size > 0 for _owner, _digest, size in opened.values())
    assert wrong_password == "WrongSecret"  # the check above could fail: a password matters
    # The restored deployment's sweep recognises its blobs (the marker matches the database).
    assert "0 orphan blob(s) found" in _manage(env, "vault_sweep", "--dry-run", "--older-than-minutes", "0").stdout

    again = _manage(env, "vault_restore", str(backup), ok=False)
    assert again.returncode != 0 and "already holds 2 account(s)" in again.stderr


def test_a_backup_missing_a_blob_fails_naming_the_record(deployment, tmp_path):
    data_dir, env, _spec, _photos = deployment
    victim = sorted((data_dir / "media" / "vault").rglob("compressed-*.sealed"))[0]
    victim.unlink()
    done = _manage(env, "vault_backup", str(tmp_path / "backup"), ok=False)
    assert done.returncode != 0
    assert f"record {victim.parent.name}: its compressed_blob" in done.stderr and "is missing" in done.stderr


def test_secrets_inside_the_backup_folder_are_refused(deployment, tmp_path):
    _data_dir, env, _spec, _photos = deployment
    backup = tmp_path / "backup"
    done = _manage(env, "vault_backup", str(backup), "--secrets-to", str(backup / "secrets"), ok=False)
    assert done.returncode != 0 and "Keep the secrets apart from the backup" in done.stderr
    assert not backup.exists()
