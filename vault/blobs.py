"""The vault's sealed blobs on storage: their variants and names, writing, reading with every
check, and deleting.

Each image's original, compressed file and thumbnail is sealed under its data key
(`crypto.seal`, record id and variant in the associated data) and written through Django's
`default_storage`. Opening one is the same chain of checks wherever it happens (owner, share,
legacy key, worker): the blob exists, its SHA-256 is the recorded one, GCM authenticates it, and
the original's digest matches. A failure says why (`BadBlob.why`) for the caller's audit entry;
the caller turns it into the one refusal a client sees.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.views.decorators.debug import sensitive_variables

from vault import crypto
from vault.deployment import BLOB_PREFIX
from vault.errors import StorageFull
from vault.models import ImageRecord

logger = logging.getLogger(__name__)

VARIANTS = crypto.VARIANTS
# Records stored before the vault had no thumbnail.
LEGACY_VARIANTS = ("original", "compressed")
# What `blob_name` makes, and the temporary name `write_whole` writes it under first (left behind
# only by a process killed mid-write); the orphan sweep deletes nothing else.
BLOB_NAME = re.compile(rf"^{BLOB_PREFIX}/\d+/(original|compressed|thumbnail|rendition)-[0-9a-f]+\.sealed(\.[0-9a-f]+\.part)?$")


class BadBlob(Exception):
    """A blob that is missing, altered, swapped or does not authenticate. `why` goes to the audit
    log only. Callers that already proved the key (the owner's MK, a share's authenticated wrap)
    answer `BlobUnavailable` naming `variant`; a typed legacy key answers `RetrievalRefused`."""

    def __init__(self, why: str, *, variant: str = "") -> None:
        super().__init__(why)
        self.why = why
        self.variant = variant


def blob_name(record_id: int, variant: str) -> str:
    # The random suffix keeps names unique even if a rolled-back id is reused (SQLite reuses
    # rolled-back ids), so a leftover blob can never be mistaken for a later record's.
    return f"{BLOB_PREFIX}/{record_id}/{variant}-{secrets.token_hex(8)}.sealed"


@sensitive_variables("plaintext", "data_key")
def write_sealed(record_id: int, variant: str, plaintext: bytes, *, data_key: bytes) -> tuple[str, str]:
    """Seal and write one variant; returns (the name storage chose, the SHA-256 of the blob)."""
    sealed = crypto.seal(plaintext, key=data_key, record_id=record_id, variant=variant)
    name = write_whole(blob_name(record_id, variant), sealed)
    return name, hashlib.sha256(sealed).hexdigest()


def write_whole(name: str, data: bytes, storage=None) -> str:
    """Write `data` so that `name` exists only once every byte is there; returns the name stored.

    On a filesystem the bytes go to a temporary name beside it, are flushed to disk and renamed;
    any other backend (S3 through django-storages) gets the object in one request, which it makes
    visible only when complete. A write that fails (full disk, quota, I/O error) leaves nothing
    behind and raises `StorageFull` (507): a partial blob would hold space nobody can free."""
    storage = storage or default_storage
    try:
        if isinstance(storage, FileSystemStorage):
            return _write_file(storage, name, data)
        return storage.save(name, ContentFile(data))
    except OSError as exc:
        if not isinstance(storage, FileSystemStorage):
            delete_blobs_quietly([name], storage=storage)
        logger.warning("storage refused a blob write: %s", type(exc).__name__)
        raise StorageFull.from_os_error(exc) from None
    except Exception as exc:
        if (code := _object_store_full(exc)) is None:
            raise
        delete_blobs_quietly([name], storage=storage)
        logger.warning("object storage refused a blob write: %s", code)
        raise StorageFull(code) from None


# What S3-compatible stores answer when they are out of space or over a quota (MinIO's own code,
# the HTTP status 507, a provider's quota error), read from botocore's ClientError.response.
_FULL_CODES = {"XMinioStorageFull", "InsufficientStorage", "QuotaExceeded", "StorageFull"}


def _object_store_full(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = str((response.get("Error") or {}).get("Code", ""))
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code in _FULL_CODES or status == 507:
        return code or "HTTP 507"
    return None


def _write_file(storage: FileSystemStorage, name: str, data: bytes) -> str:
    final = storage.path(name)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    partial = f"{final}.{secrets.token_hex(4)}.part"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the rename must never publish a name whose bytes are not on disk
        if storage.file_permissions_mode is not None:
            os.chmod(partial, storage.file_permissions_mode)
        os.replace(partial, final)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
    return name


def _read_blob(name: str) -> bytes | None:
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - e.g. a storage backend's own "no such key" error
        logger.exception("Could not read vault blob %s", name)
        return None


@sensitive_variables("data_key", "plaintext")
def open_blobs(record: ImageRecord, *, data_key: bytes, variants) -> dict[str, bytes]:
    """Read, check and decrypt the record's blobs of `variants`; `BadBlob` at the first that fails.
    The original of a vault record is checked against its keyed digest, that of a record from
    before the vault against the plain SHA-256 it kept."""
    opened: dict[str, bytes] = {}
    for variant in variants:
        name = getattr(record, f"{variant}_blob")
        blob = _read_blob(name) if name else None
        if blob is None:
            raise BadBlob(f"{variant}: blob missing", variant=variant)
        if hashlib.sha256(blob).hexdigest() != getattr(record, f"sha256_{variant}_blob"):
            raise BadBlob(f"{variant}: blob SHA-256 mismatch", variant=variant)
        try:
            plaintext = crypto.open_sealed(blob, key=data_key, record_id=record.pk, variant=variant)
        except crypto.SealError:
            raise BadBlob(f"{variant}: blob failed authentication", variant=variant) from None
        if variant == "original":
            if record.is_legacy:
                if hashlib.sha256(plaintext).hexdigest() != record.sha256_original:
                    raise BadBlob("original: original SHA-256 mismatch", variant=variant)
            elif not crypto.digests_match(crypto.keyed_digest(plaintext, data_key=data_key), record.original_mac):
                raise BadBlob("original: keyed digest mismatch", variant=variant)
        opened[variant] = plaintext
    return opened


def delete_blobs_quietly(names, storage=None) -> None:
    storage = storage or default_storage
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - best effort; the sweep command catches leftovers
            logger.exception("Could not delete vault blob %s; `manage.py vault_sweep` will retry.", name)


def stored_size(name: str) -> int:
    """The size of a stored blob as storage holds it (0 when there is none): stored-bytes accounting."""
    if not name:
        return 0
    try:
        return default_storage.size(name)
    except Exception:  # noqa: BLE001 - a missing blob stores nothing
        logger.warning("Could not read the size of vault blob %s", name)
        return 0
