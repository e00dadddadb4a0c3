"""How an original is kept, in fewer bytes, and given back (`original` storage mode).

* A JPEG is kept as its lossless JPEG XL transcoding: `reconstruct_jpeg` gives back the uploaded
  JPEG byte for byte (about 20 % fewer bytes on photos).
* A lossless still image (PNG, TIFF, BMP, lossless WebP) is kept as lossless JPEG XL with its
  pixels, alpha, ICC profile, EXIF and XMP; it comes back as a PNG with the same samples and
  metadata, **not the same bytes** as an uploaded PNG (zlib stream and chunk order differ), and as
  a PNG whatever it was uploaded as (TIFF, BMP, WebP).
* Formats already compressed well (HEIC, AVIF, lossy WebP) and those JPEG XL cannot hold exactly
  (animations, CMYK, 16-bit colour outside PNG, GIF) stay as uploaded.

`archive` makes the JPEG XL form and keeps it only when its sealed blob is smaller than the
upload's; before anyone drops the upload, `verify` rebuilds the file a download would give and
compares it with the upload (bytes for JPEG; samples, ICC, EXIF and XMP for the rest). Any
failure raises `ArchiveFailed`: the caller keeps the upload as it came.

`rebuild` is what every opening of an original goes through (`images.opening`), so the pages,
the API, shares, exports and the worker's recompressions all see the upload's form.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import numpy as np

from compression import jxl_archive
from compression.jxl import JxlError
from vault import crypto
from vault.models import ImageRecord

Storage = ImageRecord.OriginalStorage

# Formats kept as lossless JPEG XL when that is smaller (WebP only when it is lossless).
LOSSLESS_FORMATS = {"PNG", "TIFF", "BMP", "WEBP"}
JXL_FORMS = (Storage.JXL_JPEG, Storage.JXL_LOSSLESS)


class ArchiveFailed(Exception):
    """The JPEG XL form could not be made or did not give the upload back: keep the upload."""


@dataclass(frozen=True)
class Archived:
    """The outcome of `archive`: what the original blob will hold (`data`, None: the upload as it
    came), in which form, and why; `seconds` is the transcoding and its verification."""

    storage: str
    data: bytes | None
    seconds: float
    note: str = ""
    cpu_seconds: float | None = None  # the process's CPU time over `seconds` (every thread)

    def as_params(self, upload_bytes: int) -> dict:
        """What the record's codec_params keep about it (sizes, form, time; never content)."""
        kept = len(self.data) if self.data is not None else upload_bytes
        params = {"storage": self.storage, "bytes": kept, "upload_bytes": upload_bytes,
                  "seconds": round(self.seconds, 3), "note": self.note}
        if self.cpu_seconds is not None:
            params["cpu_seconds"] = round(self.cpu_seconds, 3)
        return params


def is_lossless_webp(data: bytes) -> bool:
    """A still WebP coded with VP8L (lossless) and no lossy VP8 chunk."""
    if len(data) < 16 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    kinds, pos = set(), 12
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        kinds.add(kind)
        pos += 8 + size + (size & 1)
    return b"VP8L" in kinds and b"VP8 " not in kinds and b"ANMF" not in kinds


def form_for(data: bytes, original_format: str) -> str:
    """Which JPEG XL form could hold this upload; AS_UPLOADED when none is tried."""
    if original_format == "JPEG":
        return Storage.JXL_JPEG
    if original_format in LOSSLESS_FORMATS and (original_format != "WEBP" or is_lossless_webp(data)):
        return Storage.JXL_LOSSLESS
    return Storage.AS_UPLOADED


def archive(data: bytes, original_format: str, *, effort: int = 7) -> Archived:
    """The smallest exact form of an upload. Raises `ArchiveFailed` when the JPEG XL form could
    not be made or verified (the caller keeps `data` and records why)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    form = form_for(data, original_format)
    if form == Storage.AS_UPLOADED:
        return Archived(Storage.AS_UPLOADED, None, 0.0, f"{original_format} is kept as uploaded")
    try:
        # The encoders verify their own output; `verify` checks the whole way back to a download.
        if form == Storage.JXL_JPEG:
            made = jxl_archive.transcode_jpeg(data)
        else:
            made = jxl_archive.encode_lossless(data, effort=effort)
    except (JxlError, MemoryError) as exc:
        raise ArchiveFailed(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a codec's surprise must never lose the upload
        raise ArchiveFailed(f"{type(exc).__name__}: {exc}") from None
    if crypto.sealed_size(len(made)) >= crypto.sealed_size(len(data)):
        seconds = time.perf_counter() - started
        return Archived(Storage.AS_UPLOADED, None, seconds, f"JPEG XL ({len(made)} bytes) was not smaller")
    verify(made, form, data)
    return Archived(form, made, time.perf_counter() - started, cpu_seconds=time.process_time() - cpu_started)


def verify(stored: bytes, storage: str, upload: bytes) -> None:
    """Rebuild what a download of `stored` gives and compare it with the upload; `ArchiveFailed`
    when they differ."""
    try:
        rebuilt = rebuild(stored, storage)
        if storage == Storage.JXL_JPEG:
            if rebuilt != upload:
                # No byte counts: this message reaches the worker's log (exact sizes are sealed, vault/figures.py).
                length = "the same length" if len(rebuilt) == len(upload) else "another length"
                raise ArchiveFailed(f"the JPEG rebuilt from its JPEG XL differs from the upload ({length})")
            return
        got, want = jxl_archive.read_lossless_source(rebuilt), jxl_archive.read_lossless_source(upload)
    except (JxlError, MemoryError) as exc:
        raise ArchiveFailed(str(exc)) from None
    if got.pixels.dtype != want.pixels.dtype or got.pixels.shape != want.pixels.shape or not np.array_equal(got.pixels, want.pixels):
        raise ArchiveFailed("the PNG rebuilt from the lossless JPEG XL does not have the upload's pixels")
    for field in ("icc_profile", "exif", "xmp"):
        if getattr(got, field) != getattr(want, field):
            raise ArchiveFailed(f"the PNG rebuilt from the lossless JPEG XL does not keep the upload's {field}")


def rebuild(stored: bytes, storage: str) -> bytes:
    """The file a download of the original gives, from the original blob's plaintext."""
    if storage == Storage.JXL_JPEG:
        return jxl_archive.reconstruct_jpeg(stored)
    if storage == Storage.JXL_LOSSLESS:
        return jxl_archive.decode_lossless(stored).to_png()
    return stored


def served_as_png(record: ImageRecord) -> bool:
    return record.original_storage == Storage.JXL_LOSSLESS


def served_format(record: ImageRecord) -> str:
    """The Pillow format id of the original a download gives (PNG for lossless JPEG XL)."""
    return "PNG" if served_as_png(record) else record.original_format


def served_media_type(record: ImageRecord) -> str:
    return "image/png" if served_as_png(record) else record.original_media_type


def served_name(record: ImageRecord) -> str:
    """The original's download name: the upload's, with .png for a re-made PNG."""
    if served_as_png(record) and not record.name.lower().endswith(".png"):
        return f"{record.stem}.png"
    return record.name
