"""Putting EXIF (`metadata.rendition_exif`: date, camera, lens, exposure; never the location)
into a compressed version after the selector has chosen it, without re-encoding: the coded
picture, and so every figure measured on it, stays exactly what was chosen.

JPEG gets an APP1 segment, PNG an eXIf chunk, WebP an EXIF chunk (a simple WebP becomes an
extended one to announce it), AVIF an Exif item (an ISOBMFF `infe`, `iloc` entry and `cdsc`
reference, the data in a new `mdat`, the other items' offsets moved by what the `meta` box grew).
Other files (the learned codec's .msc) carry none. A result that does not read back with the
same EXIF, or whose AVIF layout this module does not know, is kept as it came.
"""
from __future__ import annotations

import io
import logging
import struct
import zlib

from PIL import Image

logger = logging.getLogger(__name__)


def with_exif(data: bytes, media_type: str, exif: bytes) -> bytes:
    """`data` (a file of `media_type`) carrying `exif` (as `Image.Exif.tobytes` writes it), or
    `data` unchanged."""
    writer = _WRITERS.get(media_type)
    if not exif or writer is None:
        return data
    # PNG's eXIf, WebP's EXIF chunk and the HEIF Exif item (with its offset 0) hold the TIFF
    # structure itself; only JPEG's APP1 starts with "Exif\0\0".
    tiff = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    try:
        tagged = writer(data, tiff)
        with Image.open(io.BytesIO(tagged)) as image:
            if media_type == "image/avif":
                image.load()  # the muxing moved the picture's offsets: it must still decode
            if image.getexif().tobytes() != _as_read(exif):
                raise ValueError("the EXIF read back differs")
    except Exception:  # noqa: BLE001 - a rendition without EXIF is better than none
        logger.warning("could not add EXIF to a %s rendition; stored without it", media_type, exc_info=True)
        return data
    return tagged


def _as_read(exif: bytes) -> bytes:
    parsed = Image.Exif()
    parsed.load(exif)
    return parsed.tobytes()


def _jpeg(data: bytes, tiff: bytes) -> bytes:
    payload = b"Exif\x00\x00" + tiff
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("EXIF too long for one segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    # After SOI and a JFIF APP0, where readers look for it.
    at = 2
    if data[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack_from(">H", data, 4)[0]
    return data[:at] + segment + data[at:]


def _png(data: bytes, tiff: bytes) -> bytes:
    # eXIf must come before the first IDAT: right after IHDR (8 + 25 bytes).
    at = 8 + 8 + struct.unpack_from(">I", data, 8)[0] + 4
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff) & 0xFFFFFFFF)
    return data[:at] + chunk + data[at:]


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _webp(data: bytes, tiff: bytes) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    chunks = data[12:]
    if chunks[:4] == b"VP8X":
        flags = chunks[8] | 0x08
        chunks = chunks[:8] + bytes([flags]) + chunks[9:]
    else:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            alpha = 0x10 if chunks[:4] == b"VP8L" and "A" in image.getbands() else 0
        header = bytes([0x08 | alpha, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks = _riff_chunk(b"VP8X", header) + chunks
    body = b"WEBP" + chunks + _riff_chunk(b"EXIF", tiff)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- AVIF (ISOBMFF) ----------------------------------------------------------------------------


def _boxes(data: bytes, start: int, end: int):
    """(type, start, header length, end) of the boxes in data[start:end]."""
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            raise ValueError(f"box {kind!r} overruns its parent")
        yield kind, start, header, start + size
        start += size


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _avif(data: bytes, tiff: bytes) -> bytes:
    top = {kind: (start, header, end) for kind, start, header, end in _boxes(data, 0, len(data))}
    if b"meta" not in top:
        raise ValueError("no meta box")
    meta_start, meta_header, meta_end = top[b"meta"]
    children = list(_boxes(data, meta_start + meta_header + 4, meta_end))
    found = {kind: (start, header, end) for kind, start, header, end in children}
    if not {b"iloc", b"iinf", b"pitm"} <= found.keys() or (b"iref" in found and data[found[b"iref"][0] + 8] != 0):
        raise ValueError("an item layout this module does not edit")
    pitm = data[found[b"pitm"][0] + found[b"pitm"][1] :]
    primary = struct.unpack_from(">H", pitm, 4)[0] if pitm[0] == 0 else struct.unpack_from(">I", pitm, 4)[0]
    iloc, items = _parse_iloc(data, *found[b"iloc"])
    exif_id = max(item[0] for item in items) + 1
    if exif_id > 0xFFFF:
        raise ValueError("too many items")

    # cdsc: the Exif item describes the primary image (HEIF, ISO/IEC 23008-12, A.2.1).
    describes = _box(b"cdsc", struct.pack(">HHH", exif_id, 1, primary))

    def rebuilt(shift: int) -> bytes:
        parts = []
        for kind, start, _header, end in children:
            if kind == b"iloc":
                parts.append(_build_iloc(iloc, items, shift, exif_id, exif_at=len(data) + shift + 8, exif_length=4 + len(tiff)))
            elif kind == b"iinf":
                parts.append(_add_infe(data[start:end], exif_id))
            elif kind == b"iref":  # libavif's, for an alpha plane (auxl): one more reference
                parts.append(_box(b"iref", data[start + 8 : end] + describes))
            else:
                parts.append(data[start:end])
            if kind == b"iinf" and b"iref" not in found:
                parts.append(_box(b"iref", b"\x00\x00\x00\x00" + describes))
        body = data[meta_start + meta_header : meta_start + meta_header + 4] + b"".join(parts)
        return _box(b"meta", body)

    grown = len(rebuilt(0)) - (meta_end - meta_start)
    meta = rebuilt(grown)
    # The Exif item: a 4-byte offset to its TIFF header (0: right after it), then the TIFF bytes.
    tail = _box(b"mdat", b"\x00\x00\x00\x00" + tiff)
    return data[:meta_start] + meta + data[meta_end:] + tail


def _parse_iloc(data: bytes, start: int, header: int, end: int):
    body = data[start + header : end]
    version = body[0]
    if version not in (0, 1):
        raise ValueError(f"iloc version {version}")
    offset_size, length_size = body[4] >> 4, body[4] & 15
    base_size, index_size = body[5] >> 4, (body[5] & 15) if version == 1 else 0
    if offset_size not in (4, 8) or length_size not in (4, 8) or base_size not in (0, 4, 8) or index_size:
        raise ValueError("an iloc layout this module does not edit")
    pos, count = 8, struct.unpack_from(">H", body, 6)[0]
    read = {4: ">I", 8: ">Q"}
    items = []
    for _ in range(count):
        item_id = struct.unpack_from(">H", body, pos)[0]
        pos += 2
        method = 0
        if version == 1:
            method = struct.unpack_from(">H", body, pos)[0] & 15
            pos += 2
        reference = struct.unpack_from(">H", body, pos)[0]
        pos += 2
        base = struct.unpack_from(read[base_size], body, pos)[0] if base_size else 0
        pos += base_size
        extent_count = struct.unpack_from(">H", body, pos)[0]
        pos += 2
        extents = []
        for _ in range(extent_count):
            offset = struct.unpack_from(read[offset_size], body, pos)[0]
            length = struct.unpack_from(read[length_size], body, pos + offset_size)[0]
            pos += offset_size + length_size
            extents.append((offset, length))
        if method != 0 or reference != 0:
            raise ValueError("an item stored outside this file's mdat")
        items.append((item_id, base, extents))
    return (version, offset_size, length_size, base_size), items


def _build_iloc(layout, items, shift: int, exif_id: int, *, exif_at: int, exif_length: int) -> bytes:
    version, offset_size, length_size, base_size = layout
    write = {4: ">I", 8: ">Q"}
    body = bytes([version, 0, 0, 0, (offset_size << 4) | length_size, base_size << 4])
    body += struct.pack(">H", len(items) + 1)
    for item_id, base, extents in [*items, (exif_id, 0, [(exif_at, exif_length)])]:
        moved = item_id != exif_id
        body += struct.pack(">H", item_id) + (b"\x00\x00" if version == 1 else b"") + b"\x00\x00"
        if base_size:
            body += struct.pack(write[base_size], base + shift if moved else base)
        body += struct.pack(">H", len(extents))
        for offset, length in extents:
            # Offsets are from the file's start: every byte after the meta box moved by `shift`.
            offset = offset + shift if moved and not base_size else offset
            body += struct.pack(write[offset_size], offset) + struct.pack(write[length_size], length)
    return _box(b"iloc", body)


def _add_infe(iinf: bytes, exif_id: int) -> bytes:
    body = bytearray(iinf[8:])
    version = body[0]
    count_format = ">H" if version == 0 else ">I"
    count_at = 4
    struct.pack_into(count_format, body, count_at, struct.unpack_from(count_format, body, count_at)[0] + 1)
    infe = _box(b"infe", bytes([2, 0, 0, 0]) + struct.pack(">HH", exif_id, 0) + b"Exif" + b"\x00")
    return _box(b"iinf", bytes(body) + infe)


_WRITERS = {"image/jpeg": _jpeg, "image/png": _png, "image/webp": _webp, "image/avif": _avif}
