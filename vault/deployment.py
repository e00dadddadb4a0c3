"""Which deployment owns the blobs under this storage prefix.

A random id lives in the database (VaultDeployment) and in a marker object at
`vault/.deployment` beside the blobs. The first upload writes the marker; the orphan sweep refuses
to delete anything unless the two agree (vault/sweep.py).
"""
import json
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from vault.models import VaultDeployment

logger = logging.getLogger(__name__)

BLOB_PREFIX = "vault"
MARKER_NAME = f"{BLOB_PREFIX}/.deployment"

# Storages (by identity) whose marker this process has already found or written for a given id:
# uploads then cost no extra storage request.
_confirmed: set[tuple[str, str]] = set()


def current_deployment_id() -> str:
    row, _ = VaultDeployment.objects.get_or_create(pk=1)
    return str(row.deployment_id)


def storage_identity(storage=None) -> str:
    storage = storage or default_storage
    bucket = getattr(storage, "bucket_name", None)
    where = f"s3://{bucket}/{storage.location}" if bucket else str(getattr(storage, "location", ""))
    return f"{type(storage).__name__}:{where}"


def read_marker(storage=None) -> str | None:
    storage = storage or default_storage
    try:
        with storage.open(MARKER_NAME, "rb") as handle:
            return str(json.loads(handle.read().decode("utf-8"))["deployment_id"])
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - S3 answers a missing key with its own error types
        if not storage.exists(MARKER_NAME):
            return None
        # Present but unreadable: treat as foreign (the sweep then refuses), never as absent.
        logger.warning("vault deployment marker %s is unreadable: %s", MARKER_NAME, type(exc).__name__)
        return "unreadable"


def write_marker(deployment_id: str, storage=None) -> None:
    storage = storage or default_storage
    body = json.dumps({"deployment_id": deployment_id, "purpose": "vault orphan-sweep ownership check"})
    saved = storage.save(MARKER_NAME, ContentFile(body.encode("utf-8")))
    if saved == MARKER_NAME:
        return
    # The storage kept an existing marker and renamed ours: another process of this deployment
    # got there first (fine), or another deployment did (refused).
    storage.delete(saved)
    found = read_marker(storage)
    if found != deployment_id:
        raise RuntimeError(f"{MARKER_NAME} names deployment {found}, not this database's {deployment_id}")


def ensure_marker() -> None:
    """Called before an upload writes blobs: claims an unmarked prefix for this database. A marker
    naming another deployment is logged, not fatal: uploads keep working, and the sweep refuses."""
    ours = current_deployment_id()
    key = (storage_identity(), ours)
    if key in _confirmed:
        return
    found = read_marker()
    if found is None:
        write_marker(ours)
    elif found != ours:
        logger.error(
            "vault storage %s is marked for deployment %s but this database is %s: the orphan sweep "
            "will refuse to run. Give each deployment its own AWS_LOCATION or MEDIA_ROOT.",
            storage_identity(), found, ours,
        )
        return
    _confirmed.add(key)
