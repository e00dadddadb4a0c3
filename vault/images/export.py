"""Exporting the vault: every chosen image's original (or its compressed file where the original
is not kept), decrypted one at a time, as a zip produced while it is sent, with a JSON and a CSV
manifest of what each file is.

Memory stays flat whatever the vault's size: the standard library's `zipfile` writes into a sink
that the generator empties after every megabyte (a non-seekable stream, so each entry gets a data
descriptor and the archive needs no seeking back), and at most one image's sealed blob and
plaintext (each at most UPLOAD_MAX_BYTES) are in memory at a time. An image that cannot be opened
(stored before the vault, a replaced vault, a missing or damaged blob) is left out and the
manifest, written last, says why; the refusals are audited as on any other opening. The manifest's
sizes and scores are the exact ones, opened from each image's sealed figures (`figures_exact` says
where they could not be: approximate sizes, no scores).
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.events import record_event
from audit.models import AuditEvent
from vault import originals
from vault.errors import BlobUnavailable, RecordLocked, RetrievalRefused
from vault.images.opening import open_sealed_blobs, reveal_with_data_key, vault_data_key
from vault.models import ImageRecord

CHUNK_BYTES = 1 << 20  # what one yield of the stream carries at most (plus zip headers)
FETCH_BATCH = 100  # records read per query while streaming
FOLDER = "images"

# The manifest's columns, in the CSV's order; the JSON has the same keys per image.
MANIFEST_FIELDS = (
    "id", "file", "content", "name", "uploaded", "compressed_at", "in_trash_since", "status",
    "original_format", "original_media_type", "width", "height", "has_alpha", "original_size",
    "codec", "compressed_media_type", "compressed_size", "psnr", "ssim", "msssim", "bpp",
    "storage_mode", "original_storage", "stored_bytes", "figures_exact", "not_exported",
)


class _Sink:
    """A write-only file for `zipfile`: keeps what was written until the generator takes it. It has
    no `tell` or `seek`, so zipfile streams (data descriptors) instead of seeking back."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def filename(now=None) -> str:
    return f"vault-export-{timezone.localtime(now or timezone.now()):%Y-%m-%d}.zip"


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def manifest_row(record: ImageRecord, *, file: str | None, content: str | None, not_exported: str = "") -> dict:
    """What the manifest says of one image: its metadata and where it is in the zip."""
    compressed = record.has_compressed
    return {
        "id": record.pk, "file": file, "content": content, "name": record.name,
        "uploaded": _iso(record.created), "compressed_at": _iso(record.finished_at) if compressed else None,
        "in_trash_since": _iso(record.trashed_at), "status": record.status,
        "original_format": record.original_format, "original_media_type": record.original_media_type,
        "width": record.width, "height": record.height, "has_alpha": record.has_alpha,
        "original_size": record.original_size,
        "codec": record.codec or None, "compressed_media_type": record.compressed_media_type or None,
        "compressed_size": record.compressed_size, "psnr": record.psnr, "ssim": record.ssim, "msssim": record.msssim,
        "bpp": record.bpp, "storage_mode": record.storage_mode, "original_storage": record.original_storage,
        "stored_bytes": record.stored_bytes, "figures_exact": record.figures_exact, "not_exported": not_exported or None,
    }


def _entry_name(record: ImageRecord, content: str, used: set[str]) -> str:
    """A unique path in the zip: two uploads may share a file name."""
    base = originals.served_name(record) if content == "original" else record.compressed_filename
    stem, dot, ext = base.rpartition(".")
    name, n = base, 1
    while f"{FOLDER}/{name}".casefold() in used:
        n += 1
        name = f"{stem} ({n}).{ext}" if dot else f"{base} ({n})"
    used.add(f"{FOLDER}/{name}".casefold())
    return f"{FOLDER}/{name}"


def _zip_time(value) -> tuple:
    # Zip stores local wall-clock time from 1980 on, to two seconds.
    local = timezone.localtime(value)
    return max((local.year, local.month, local.day, local.hour, local.minute, local.second), (1980, 1, 1, 0, 0, 0))


def _records(ids: list[int]) -> Iterator[ImageRecord]:
    # By id in batches, not one open cursor: a refusal writes an audit row while we stream.
    for start in range(0, len(ids), FETCH_BATCH):
        chunk = ids[start:start + FETCH_BATCH]
        found = ImageRecord.objects.in_bulk(chunk)
        yield from (found[pk] for pk in chunk if pk in found)


@sensitive_variables("master_key", "data_key")
def _open(record: ImageRecord, *, master_key: bytes, request) -> tuple[str | None, bytes | None, str]:
    """(content, bytes, why not): the original where it is kept, else the compressed file."""
    if record.is_legacy:
        return None, None, "stored before the vault: open it once with its retrieval key (Add to my vault), then export again"
    if record.upload_incomplete:
        return None, None, "never fully uploaded: its original did not arrive; upload the file again to complete it"
    content = "original" if record.original_blob else "compressed" if record.compressed_blob else None
    if content is None:
        return None, None, "no stored file"
    try:
        data_key = vault_data_key(record=record, master_key=master_key, request=request)
        reveal_with_data_key(record, data_key=data_key, request=request)  # the manifest's exact figures
        return content, open_sealed_blobs(record=record, data_key=data_key, variants=[content], request=request)[content], ""
    except RecordLocked as exc:
        return None, None, str(exc)
    except (BlobUnavailable, RetrievalRefused):
        return None, None, "its encrypted file is missing or damaged (see the audit log)"


@sensitive_variables("master_key")
def stream_export(*, records: Iterable[ImageRecord], master_key: bytes, request=None) -> Iterator[bytes]:
    """The zip of `records` (the owner's, already chosen by the caller), as chunks of bytes.

    The caller checks the vault is open before answering, so a locked vault is a clear error and
    not a broken download; what goes wrong with single images after the first byte is sent can
    only be reported inside the archive, in the manifest."""
    ids = [record.pk for record in records]
    record_event(action=AuditEvent.Action.EXPORTED, request=request, detail=f"{len(ids)} image{'s' if len(ids) != 1 else ''}")
    return _generate(ids, master_key=master_key, request=request)


# No sensitive_variables here: it guards the frames of a call, and this generator runs after the
# view has returned, while the server sends the response, outside Django's error reports (the
# server logs a traceback without locals; Sentry is set up without local variables).
def _generate(ids: list[int], *, master_key: bytes, request) -> Iterator[bytes]:
    sink, rows, used = _Sink(), [], set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for record in _records(ids):
            content, data, why = _open(record, master_key=master_key, request=request)
            if data is None:
                rows.append(manifest_row(record, file=None, content=None, not_exported=why))
                continue
            name = _entry_name(record, content, used)
            info = zipfile.ZipInfo(name, date_time=_zip_time(record.created))
            # Stored, not deflated: photos and codec files do not compress further.
            info.compress_type, info.file_size = zipfile.ZIP_STORED, len(data)
            with archive.open(info, "w") as entry:
                for start in range(0, len(data), CHUNK_BYTES):
                    entry.write(data[start:start + CHUNK_BYTES])
                    yield sink.take()
            del data  # before the next image is opened: one plaintext at a time
            rows.append(manifest_row(record, file=name, content=content))
            yield sink.take()
        archive.writestr(_manifest_info("manifest.json"), json.dumps({"images": rows}, indent=2, ensure_ascii=False))
        archive.writestr(_manifest_info("manifest.csv"), _csv(rows))
    yield sink.take()


def _manifest_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_zip_time(timezone.now()))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
