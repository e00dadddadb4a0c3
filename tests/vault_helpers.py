"""Helpers for the vault's tests: hostile uploads and a scan of every database cell.

Kept in the app (not tests/) so the page, API and service test modules share one definition.
"""
from __future__ import annotations

import base64
import io
import re
import struct
import zlib
from pathlib import Path

from django.db import connection
from PIL import Image

KEY_RE = re.compile(r"\b(?:[A-Z2-7]{4}-){12}[A-Z2-7]{4}\b")


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny, valid-looking PNG whose header declares an enormous canvas."""
    raw = png_bytes(Image.new("RGB", (1, 1)))
    ihdr_data = struct.pack(">II", width, height) + raw[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr_data) & 0xFFFFFFFF)
    return raw[:16] + ihdr_data + crc + raw[33:]


def disallowed_format_bytes(image: Image.Image) -> bytes:
    """A real image in a format the portal refuses (Windows icon)."""
    buf = io.BytesIO()
    image.save(buf, format="ICO")
    return buf.getvalue()


def bad_uploads(image: Image.Image) -> dict[str, bytes]:
    png = png_bytes(image)
    jpeg = jpeg_bytes(image)
    return {
        "non-image": b"This is a plain text file, not a photo.\n" * 20,
        "truncated-png": png[: len(png) // 2],
        "truncated-jpeg": jpeg[: len(jpeg) // 2],
        "zero-bytes": b"",
        "bomb": bomb_png(),
        "disallowed-format": disallowed_format_bytes(image),
    }


def files_under(root: Path) -> list[Path]:
    """The blob files under a storage root (not the deployment marker, see vault/deployment.py)."""
    root = Path(root)
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".deployment"]


def key_needles(key_text: str, secret: bytes, extra_secrets: tuple[bytes, ...] = ()) -> tuple[list[str], list[bytes]]:
    """Every spelling of a key (and other secrets) that must not appear in stored data."""
    compact = key_text.replace("-", "")
    texts = [key_text, compact, key_text.lower(), compact.lower()]
    raw = [secret, *extra_secrets]
    for value in raw:
        texts += [
            value.hex(),
            base64.b64encode(value).decode(),
            base64.urlsafe_b64encode(value).decode().rstrip("="),
            base64.b32encode(value).decode().rstrip("="),
        ]
    return texts, raw


def scan_database(texts: list[str], raw: list[bytes]) -> list[str]:
    """Every (table, column) whose value contains any needle, reading every cell of every table
    and, on SQLite, the full SQL dump as well."""
    hits: list[str] = []
    lowered = [t.lower() for t in texts]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row):
                    if value is None:
                        continue
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, (bytes, bytearray)):
                        blob = bytes(value)
                        as_text = blob.decode("latin-1").lower()
                        if any(r in blob for r in raw) or any(t in as_text for t in lowered):
                            hits.append(f"{table}.{column}")
                    else:
                        text = str(value).lower()
                        if any(t in text for t in lowered):
                            hits.append(f"{table}.{column}")
    if connection.vendor == "sqlite":
        dump = "\n".join(connection.connection.iterdump()).lower()
        hits += [f"sql dump contains {t[:6]}…" for t in lowered if t in dump]
    return hits
