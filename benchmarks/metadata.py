"""The photo-metadata benchmark behind `benchmark_metadata`: per photo, what the metadata work adds
to a compression job (reading the EXIF, adding the renditions' EXIF to a JPEG, WebP and AVIF file
without re-encoding) and to a share (removing the location from the original), and how decoding a
HEIC of the same photo compares with decoding the JPEG."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path


from compression.imageio import load_upload
from vault import location, metadata, renditions

# The renditions' codecs that carry EXIF, with fast encoder settings: the file's own coding time
# is not what is measured here.
CODECS = {"jpeg": ("JPEG", "image/jpeg", {"quality": 80}), "webp": ("WEBP", "image/webp", {"quality": 75, "method": 0}),
          "avif": ("AVIF", "image/avif", {"quality": 60, "speed": 10})}


@dataclass
class Row:
    name: str
    megapixels: float
    file_bytes: int
    had_location: bool
    read_ms: float
    strip_ms: float
    tag_ms: dict[str, float] = field(default_factory=dict)
    tag_bytes: dict[str, int] = field(default_factory=dict)
    heic_bytes: int | None = None
    heic_decode_s: float | None = None
    jpeg_decode_s: float | None = None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def measure(path: Path, *, heic: bool = True) -> Row:
    data = path.read_bytes()
    started = time.perf_counter()
    upload = load_upload(data, max_bytes=len(data), max_pixels=10**9)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    photo = metadata.read(exif=upload.exif, xmp=upload.xmp, width=upload.width, height=upload.height, orientation=upload.orientation)
    tags = metadata.rendition_exif(photo)
    read_ms = _ms(started)
    had = bool(location.has_location(data))
    started = time.perf_counter()
    location.without_location(data, upload.format)
    row = Row(path.name, upload.width * upload.height / 1e6, len(data), had, read_ms, _ms(started))
    if upload.format == "JPEG":
        row.jpeg_decode_s = decode_s
    tags = tags or metadata.rendition_exif({"make": "Benchmark", "model": "Camera", "taken": "2024-01-01T12:00:00"})
    for name, (fmt, media_type, options) in CODECS.items():
        buf = io.BytesIO()
        upload.image.convert("RGB").save(buf, format=fmt, **options)
        started = time.perf_counter()
        tagged = renditions.with_exif(buf.getvalue(), media_type, tags)
        row.tag_ms[name], row.tag_bytes[name] = _ms(started), len(tagged) - len(buf.getvalue())
    if heic:
        buf = io.BytesIO()
        upload.image.convert("RGB").save(buf, format="HEIF", quality=80)
        row.heic_bytes = len(buf.getvalue())
        started = time.perf_counter()
        load_upload(buf.getvalue(), max_bytes=row.heic_bytes, max_pixels=10**9)
        row.heic_decode_s = time.perf_counter() - started
    return row


def report(rows: list[Row]) -> str:
    lines = [
        "| photo | MP | bytes | GPS | read EXIF ms | strip location ms | EXIF into JPEG / WebP / AVIF ms | bytes added | HEIC decode s | JPEG decode s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        tag = " / ".join(f"{r.tag_ms[c]:.1f}" for c in CODECS)
        added = " / ".join(str(r.tag_bytes[c]) for c in CODECS)
        heic = "–" if r.heic_decode_s is None else f"{r.heic_decode_s:.2f}"
        jpeg = "–" if r.jpeg_decode_s is None else f"{r.jpeg_decode_s:.2f}"
        lines.append(
            f"| {r.name} | {r.megapixels:.1f} | {r.file_bytes} | {'yes' if r.had_location else 'no'} | {r.read_ms:.1f} | "
            f"{r.strip_ms:.1f} | {tag} | {added} | {heic} | {jpeg} |"
        )
    if rows:
        per_mb = sum(r.strip_ms for r in rows) / sum(r.file_bytes for r in rows) * 1e6
        lines.append("")
        lines.append(f"Location check and strip: {per_mb:.1f} ms per MB of original on average.")
        timed = [r for r in rows if r.heic_decode_s and r.jpeg_decode_s]
        if timed:
            heic = sum(r.heic_decode_s for r in timed) / sum(r.megapixels for r in timed)
            jpeg = sum(r.jpeg_decode_s for r in timed) / sum(r.megapixels for r in timed)
            lines.append(f"Decoding (load_upload, orientation and colour included): HEIC {heic:.3f} s/MP, JPEG {jpeg:.3f} s/MP.")
    return "\n".join(lines)
