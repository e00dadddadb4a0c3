"""Backing up and restoring the embedded default deployment: the SQLite database and the blob
folder, taken together and checked against each other (docs/deploy.md, "Backups and restore").

A backup is a folder: `db.sqlite3` (a consistent copy made with SQLite's online backup, so the
server may keep running), `media/vault/…` (the sealed blobs) and `manifest.json`. After copying,
every blob a record of the copied database names is checked in the copy against the SHA-256 the
record keeps; a blob that is missing or different fails the backup, naming its record. The
secrets (SECRET_KEY, the job key) are never written into it: with the job key, the database and
the blobs open every image whose job was waiting or running, so they are kept apart
(`copy_secrets`).

PostgreSQL and S3 have their own tools (pg_dump, a bucket copy): these functions refuse them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.utils import timezone

from vault.deployment import BLOB_PREFIX
from vault.models import ImageRecord

DATABASE_FILE, MEDIA_FOLDER, MANIFEST = "db.sqlite3", "media", "manifest.json"
SECRET_FILES = ("secret_key", "job_key")  # what the development settings keep in DATA_DIR


class BackupError(Exception):
    """A backup or restore that cannot be done, or did not check out; the message says why."""


@dataclass
class Summary:
    records: int
    blobs: int


def _blob_columns() -> list[tuple[str, str]]:
    """(blob name column, its SHA-256 column) of every blob an image record names."""
    names = {field.column for field in ImageRecord._meta.concrete_fields}
    return [(c, f"sha256_{c}") for c in sorted(names) if c.endswith("_blob") and f"sha256_{c}" in names]


def _embedded_only() -> tuple[Path, Path]:
    """The SQLite file and the blob folder, or BackupError for another database or storage."""
    if connection.vendor != "sqlite":
        raise BackupError(
            f"The database is {connection.vendor}, not the embedded SQLite: back it up with its own tool "
            "(pg_dump for PostgreSQL) and the blobs with the storage's (docs/deploy.md, \"Backups and restore\")."
        )
    if not isinstance(default_storage, FileSystemStorage):
        raise BackupError(
            f"Blobs are stored in {type(default_storage).__name__}, not a folder: copy the bucket with the storage's "
            "own tools (docs/deploy.md, \"Backups and restore\")."
        )
    return Path(settings.DATABASES["default"]["NAME"]), Path(default_storage.location)


def _check_blobs(database: Path, media: Path) -> Summary:
    """Every blob the database's records name is in `media` with the recorded SHA-256."""
    columns = _blob_columns()
    problems, blobs = [], 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        table = ImageRecord._meta.db_table
        rows = db.execute(f'select id, {", ".join(f"{n}, {d}" for n, d in columns)} from "{table}"').fetchall()
    for record_id, *values in rows:
        for (column, _), name, digest in zip(columns, values[0::2], values[1::2]):
            if not name:
                continue
            blobs += 1
            path = media / name
            if not path.is_file():
                problems.append(f"record {record_id}: its {column} {name} is missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                problems.append(f"record {record_id}: its {column} {name} differs from the recorded SHA-256")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise BackupError(f"{len(problems)} blob(s) do not match the database: {shown}.")
    return Summary(records=len(rows), blobs=blobs)


def _empty_or_new(folder: Path, what: str) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{what} {folder} is not empty; choose a new folder.")
    folder.mkdir(parents=True, exist_ok=True)


def back_up(destination: Path) -> Summary:
    """Copy the database, then the blobs, into `destination` (new or empty) and check them."""
    database, media = _embedded_only()
    _empty_or_new(destination, "The backup folder")
    with sqlite3.connect(database) as source, sqlite3.connect(destination / DATABASE_FILE) as copy:
        source.backup(copy)  # a consistent snapshot, even while the server writes
    # Blobs after the database: one written meanwhile is an orphan the sweep removes after a
    # restore; one deleted meanwhile (an image emptied from the trash) fails the check below.
    if (media / BLOB_PREFIX).is_dir():
        shutil.copytree(media / BLOB_PREFIX, destination / MEDIA_FOLDER / BLOB_PREFIX)
    summary = _check_blobs(destination / DATABASE_FILE, destination / MEDIA_FOLDER)
    manifest = {"format": 1, "created": timezone.now().isoformat(), "records": summary.records, "blobs": summary.blobs}
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return summary


def restore(source: Path) -> Summary:
    """Put a backup in place of an empty deployment (stop the web server and workers first)."""
    database, media = _embedded_only()
    if not (source / MANIFEST).is_file() or not (source / DATABASE_FILE).is_file():
        raise BackupError(f"{source} is not a backup made by vault_backup ({MANIFEST} or {DATABASE_FILE} is missing).")
    _check_blobs(source / DATABASE_FILE, source / MEDIA_FOLDER)
    if database.exists():
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            tables = {name for (name,) in db.execute("select name from sqlite_master where type = 'table'")}
            users = db.execute("select count(*) from auth_user").fetchone()[0] if "auth_user" in tables else 0
        if users:
            raise BackupError(f"The database {database} already holds {users} account(s); restore into an empty DATA_DIR.")
    if (media / BLOB_PREFIX).exists() and any((media / BLOB_PREFIX).iterdir()):
        raise BackupError(f"The blob folder {media / BLOB_PREFIX} is not empty; restore into an empty DATA_DIR.")
    connection.close()
    if (source / MEDIA_FOLDER / BLOB_PREFIX).is_dir():
        shutil.copytree(source / MEDIA_FOLDER / BLOB_PREFIX, media / BLOB_PREFIX, dirs_exist_ok=True)
    database.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source / DATABASE_FILE) as backup, sqlite3.connect(database) as target:
        backup.backup(target)
    return _check_blobs(database, media)


def copy_secrets(source: Path, destination: Path, *, backup: Path | None = None) -> list[str]:
    """Copy the secret files (mode 0600) from one folder to another; returns their names. A folder
    inside the backup (or holding it) is refused: the point is to keep them apart."""
    if backup is not None:
        inside = destination.resolve().is_relative_to(backup.resolve()) or backup.resolve().is_relative_to(destination.resolve())
        if inside:
            raise BackupError(f"Keep the secrets apart from the backup: {destination} and {backup} overlap.")
    copied = []
    destination.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in SECRET_FILES:
        if (source / name).is_file():
            fd = os.open(destination / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                os.fchmod(out.fileno(), 0o600)  # an older copy may have had another mode
                out.write((source / name).read_text())
            copied.append(name)
    return copied
