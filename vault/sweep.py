"""The orphan sweep: delete blobs no record refers to (leftovers of a process killed between
writing blobs and committing), and nothing else.

Deleting is guarded four ways, because a sweep run against the wrong database would otherwise
delete every image: only names of the vault's own form under this deployment's prefix; only
blobs older than a grace period (an upload may still be committing); only when the prefix's
marker names this database (vault/deployment.py); and never when the database knows none of the
blobs it sees (an empty or foreign database) unless forced. The storage is listed once per run.
"""
import logging
import os
from datetime import UTC, datetime, timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from vault.blobs import BLOB_NAME, delete_blobs_quietly
from vault.deployment import BLOB_PREFIX, current_deployment_id, read_marker, storage_identity, write_marker
from vault.errors import SweepRefused
from vault.models import ImageRecord

logger = logging.getLogger(__name__)


def _list_s3(storage):
    location = storage.location.strip("/")
    prefix = f"{location}/{BLOB_PREFIX}/" if location else f"{BLOB_PREFIX}/"
    # One paginated ListObjectsV2 (1,000 keys a page) that also carries each key's age, instead
    # of a listing per record folder and a HEAD per blob.
    pages = storage.connection.meta.client.get_paginator("list_objects_v2").paginate(
        Bucket=storage.bucket_name, Prefix=prefix
    )
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            yield (key[len(location) + 1 :] if location else key), obj["LastModified"]


def _list_filesystem(storage):
    root = storage.path(BLOB_PREFIX)
    for folder, _, files in os.walk(root):
        for filename in files:
            path = os.path.join(folder, filename)
            name = os.path.relpath(path, storage.location).replace(os.sep, "/")
            yield name, datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC)


def _list_generic(storage, folder=BLOB_PREFIX):
    try:
        folders, files = storage.listdir(folder)
    except (FileNotFoundError, OSError):
        return
    for filename in files:
        name = f"{folder}/{filename}"
        try:
            modified = storage.get_modified_time(name)
        except (NotImplementedError, OSError):
            modified = None  # unknown age: never deleted
        yield name, modified
    for sub in folders:
        yield from _list_generic(storage, f"{folder}/{sub}")


def list_blobs(storage=None) -> list[tuple[str, datetime | None]]:
    """Every (name, last modified) under the vault's prefix of `storage`, in one listing."""
    storage = storage or default_storage
    if hasattr(storage, "bucket") and hasattr(storage, "bucket_name"):
        return list(_list_s3(storage))
    if hasattr(storage, "path") and hasattr(storage, "location"):
        return list(_list_filesystem(storage))
    return list(_list_generic(storage))


def _known_names() -> set[str]:
    rows = ImageRecord.objects.values_list("original_blob", "compressed_blob", "thumbnail_blob", "rendition_blob")
    return {name for pair in rows.iterator() for name in pair if name}


def _check_ownership(*, candidates, known, dry_run: bool, force: bool) -> None:
    ours, marker = current_deployment_id(), read_marker()
    where = storage_identity()
    if marker is not None and marker != ours:
        raise SweepRefused(
            f"The storage {where} is marked for deployment {marker}, but this database is deployment "
            f"{ours}: it belongs to another database or deployment. Nothing was deleted."
        )
    if candidates and not known and not force:
        raise SweepRefused(
            f"This database knows none of the {len(candidates)} blob(s) in {where}: it looks empty or "
            "foreign (check DATABASE_URL). Nothing was deleted; use --force only if every blob "
            "there really is an orphan."
        )
    if marker is None and not dry_run:
        # The database owns blobs here (or there are none): claim the prefix, as the first upload would.
        write_marker(ours)


def sweep_orphan_blobs(
    *, older_than: timedelta = timedelta(hours=1), dry_run: bool = False, force: bool = False
) -> list[str]:
    """Delete (or, dry, list) blobs under this deployment's prefix that no record refers to and that
    are older than `older_than`. Raises SweepRefused when ownership cannot be established."""
    candidates = [(name, modified) for name, modified in list_blobs() if BLOB_NAME.match(name)]
    known = _known_names()
    _check_ownership(candidates=candidates, known=known & {name for name, _ in candidates}, dry_run=dry_run, force=force)
    cutoff = timezone.now() - older_than
    orphans = sorted(
        name for name, modified in candidates if name not in known and modified is not None and modified <= cutoff
    )
    if not dry_run:
        delete_blobs_quietly(orphans)
    logger.info(
        "orphan sweep", extra={"event": "sweep", "blobs": len(candidates), "orphans": len(orphans), "dry_run": dry_run}
    )
    return orphans
