"""Removing where a photo was taken from its original file without touching its pixels, for the
shares that do not include the location.

Every edit keeps the lengths of the structures around it, so no offset elsewhere in the file has
to change and the coded picture stays byte for byte what was uploaded (a JPEG is not re-encoded):

* EXIF (a TIFF structure wherever it sits: a JPEG's APP1, a PNG's eXIf chunk, a WebP's EXIF
  chunk, a HEIF/AVIF Exif item, a TIFF file itself): the GPS pointer is taken out of IFD0 and the
  GPS directory and its values are overwritten with zeros.
* XMP: GPS coordinates and named places (City, State, Country, Location...) are overwritten with
  spaces, which XML ignores between attributes and elements (XMP packets are padded with spaces
  for the same reason). A JPEG's extended XMP, split over segments, is blanked whole when it
  holds any.
* PNG: text chunks are re-checksummed; compressed XMP is rewritten; ImageMagick's "Raw profile"
  copies of EXIF/XMP are dropped.

The result is read back: when any GPS tag or location property is still there (a format or
layout this module does not edit, such as XMP in a GIF), `LocationNotRemovable` is raised and
nothing is served. Maker notes are left as they are.
"""
from __future__ import annotations

import io
import re
import struct
import zlib

from PIL import Image

from compression.imageio import ALLOWED_FORMATS  # importing it also registers the HEIF reader
from vault.errors import LocationNotRemovable

GPS_POINTER = 0x8825
_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
# XMP properties that say where: exif:GPS* and the IPTC/Photoshop place names, whatever prefix.
_PLACE = r"[\w.-]+:(?:GPS\w*|City|State|Country|CountryCode|Location|LocationCreated|LocationShown|Sublocation)"
_PLACE_NAMES = (b":GPS", b":City", b":State", b":Country", b":Location", b":Sublocation")
_XMP_ATTRIBUTE = re.compile(rb"\s" + _PLACE.encode() + rb"""\s*=\s*(?:"[^"]*"|'[^']*')""")
_XMP_EMPTY_ELEMENT = re.compile(rb"<(" + _PLACE.encode() + rb")\b[^>]*/>")
_XMP_ELEMENT = re.compile(rb"<(" + _PLACE.encode() + rb")\b[^>]*>.*?</\1\s*>", re.S)
_XMP_PACKET = re.compile(rb"<x:xmpmeta\b.*?</x:xmpmeta\s*>", re.S)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"


def has_location_text(data: bytes) -> bool:
    """Whether raw bytes hold an XMP location property."""
    # Every such property name contains one of these; finding none (a fast byte search) spares
    # the regular expressions a pass over a photo's megabytes of coded pixels.
    if not any(name in data for name in _PLACE_NAMES):
        return False
    return any(p.search(data) for p in (_XMP_ATTRIBUTE, _XMP_EMPTY_ELEMENT, _XMP_ELEMENT))


def _blank(match: re.Match) -> bytes:
    # Line breaks stay where they were; everything else becomes a space.
    return bytes(b if b in b"\r\n" else 0x20 for b in match.group(0))


def blank_xmp_places(packet: bytes) -> bytes:
    """The packet with its location properties overwritten by spaces: the same length."""
    for pattern in (_XMP_ELEMENT, _XMP_EMPTY_ELEMENT, _XMP_ATTRIBUTE):
        packet = pattern.sub(_blank, packet)
    return packet


def _blank_packets(data: bytearray) -> None:
    for match in list(_XMP_PACKET.finditer(data)):
        data[match.start() : match.end()] = blank_xmp_places(match.group(0))


# --- EXIF's TIFF structure ---------------------------------------------------------------------


def _gps_edit(data, base: int):
    """Where the GPS pointer of the TIFF structure at `base` sits and what to overwrite, or None
    when there is none or the structure is not sound."""
    try:
        order = {b"II": "<", b"MM": ">"}[bytes(data[base : base + 2])]
        if struct.unpack_from(order + "H", data, base + 2)[0] != 42:
            return None
        ifd0 = base + struct.unpack_from(order + "I", data, base + 4)[0]
        count = struct.unpack_from(order + "H", data, ifd0)[0]
        end = ifd0 + 2 + 12 * count + 4
        if count == 0 or end > len(data):
            return None
        for index in range(count):
            entry = ifd0 + 2 + 12 * index
            if struct.unpack_from(order + "H", data, entry)[0] == GPS_POINTER:
                gps = base + struct.unpack_from(order + "I", data, entry + 8)[0]
                return order, ifd0, count, entry, end, _gps_regions(data, order, base, gps)
    except (KeyError, struct.error):
        return None
    return None


def wipe_gps(data: bytearray, base: int) -> bool:
    """Remove the GPS directory of the TIFF structure starting at `base`, in place and at the
    same length. False (and `data` untouched) when there is none or the structure is not sound."""
    found = _gps_edit(data, base)
    if found is None:
        return False
    order, ifd0, count, entry, end, regions = found
    # IFD0 without the pointer: the entries after it (and the next-IFD offset) move up one slot;
    # nothing points into an IFD's entry table, so no other offset changes.
    data[entry : end - 12] = data[entry + 12 : end]
    data[end - 12 : end] = bytes(12)
    struct.pack_into(order + "H", data, ifd0, count - 1)
    for start, stop in regions:
        data[start:stop] = bytes(stop - start)
    return True


def _gps_regions(data: bytearray, order: str, base: int, gps: int) -> list[tuple[int, int]]:
    """The byte ranges of the GPS directory and of its values stored outside it."""
    count = struct.unpack_from(order + "H", data, gps)[0]
    regions = [(gps, gps + 2 + 12 * count + 4)]
    if regions[0][1] > len(data):
        raise struct.error("GPS directory runs past the data")
    for index in range(count):
        entry = gps + 2 + 12 * index
        kind, number = struct.unpack_from(order + "HI", data, entry + 2)
        size = _TYPE_SIZES.get(kind, 1) * number
        if size > 4:
            start = base + struct.unpack_from(order + "I", data, entry + 8)[0]
            if start + size > len(data):
                raise struct.error("GPS value runs past the data")
            regions.append((start, start + size))
    return regions


def _tiff_starts(data) -> list[int]:
    """Where EXIF structures may start in a container: "Exif\\0\\0" + a TIFF header, or a bare TIFF
    header (a PNG eXIf chunk, a WebP EXIF chunk, some HEIF writers, a TIFF file). A match inside
    coded pixels would still have to parse as an IFD with a GPS pointer to be edited."""
    starts = []
    for header in _TIFF_HEADERS:
        start = data.find(header)
        while start != -1:
            starts.append(start)
            start = data.find(header, start + 4)
    return starts


def _wipe_all_exif(data: bytearray) -> None:
    for start in _tiff_starts(data):
        wipe_gps(data, start)


def _has_gps_pointer(data: bytes) -> bool:
    return any(_gps_edit(data, start) is not None for start in _tiff_starts(data))


# --- containers --------------------------------------------------------------------------------


def _jpeg(data: bytes) -> bytes:
    """A JPEG (and the further pictures of an MPO: a phone's depth or HDR companions) as raw
    bytes; extended XMP is split over segments whose headers sit inside the packet, so when it
    holds a location every one of its segments' data is blanked whole instead."""
    out = bytearray(data)
    extended, pos = [], 2
    while pos + 4 <= len(out) and out[pos] == 0xFF and out[pos + 1] not in (0xDA, 0xD9):
        length = struct.unpack_from(">H", out, pos + 2)[0]
        if out[pos + 1] == 0xE1 and out[pos + 4 : pos + 4 + len(_EXTENDED_XMP)] == _EXTENDED_XMP:
            # header, then a 32-byte GUID, the full length and this part's offset (4 bytes each)
            extended.append((pos + 4 + len(_EXTENDED_XMP) + 40, pos + 2 + length))
        pos += 2 + length
    if extended and has_location_text(b"".join(bytes(out[a:b]) for a, b in extended)):
        for start, stop in extended:
            out[start:stop] = b" " * (stop - start)
    return _raw(bytes(out))


def _png(data: bytes) -> bytes:
    """Chunk by chunk: text chunks edited as above and re-checksummed."""
    out, pos = bytearray(_PNG_SIGNATURE), len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = bytearray(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
        if kind == b"eXIf":
            _wipe_all_exif(body)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            body = _png_text(kind, body)
            if body is None:
                continue
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        if kind == b"IEND":
            break
    return bytes(out)


def _png_text(kind: bytes, body: bytearray) -> bytearray | None:
    keyword = bytes(body[: body.find(b"\x00")])
    if keyword.startswith(b"Raw profile type"):
        return None  # ImageMagick's hex copies of EXIF/XMP: nothing reads them but ImageMagick
    if kind != b"iTXt" or keyword != b"XML:com.adobe.xmp":
        return body
    # iTXt: keyword \0 compressed-flag method language \0 translated \0 text
    flag_at = len(keyword) + 1
    language_end = body.index(b"\x00", flag_at + 2)
    text_at = body.index(b"\x00", language_end + 1) + 1
    text = bytes(body[text_at:])
    if body[flag_at]:
        return body[:text_at] + zlib.compress(blank_xmp_places(zlib.decompress(text)))
    return body[:text_at] + blank_xmp_places(text)


def _raw(data: bytes) -> bytes:
    """WebP, HEIF, AVIF and TIFF: their EXIF and XMP are contiguous, uncompressed bytes."""
    out = bytearray(data)
    _wipe_all_exif(out)
    _blank_packets(out)
    return bytes(out)


_EDITORS = {"JPEG": _jpeg, "MPO": _jpeg, "PNG": _png, "WEBP": _raw, "HEIF": _raw, "AVIF": _raw, "TIFF": _raw}


def without_location(data: bytes, fmt: str) -> bytes:
    """The file without its GPS position and place names; `LocationNotRemovable` when that cannot
    be done without re-encoding it."""
    if has_location(data) is False:
        return data
    editor = _EDITORS.get(fmt)
    try:
        cleaned = editor(data) if editor else data
    except (ValueError, IndexError, struct.error, zlib.error):  # a malformed chunk or segment
        raise LocationNotRemovable() from None
    if has_location(cleaned) is not False:  # None: the edited file no longer opens
        raise LocationNotRemovable()
    return cleaned


def has_location(data: bytes) -> bool | None:
    """Whether a file says where it was taken: a GPS pointer in any EXIF structure, a GPS tag as
    Pillow reads it, or a location property in its XMP (raw, or as its reader decompresses it).
    None when no reader opens it."""
    if has_location_text(data) or _has_gps_pointer(data):
        return True
    try:
        with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
            exif = image.getexif()
            if exif.get_ifd(GPS_POINTER) or GPS_POINTER in exif:
                return True
            texts = [v for v in image.info.values() if isinstance(v, (bytes, str))]
    except Exception:  # noqa: BLE001 - whatever a damaged file makes a reader raise
        return None
    return any(has_location_text(t.encode("utf-8", "replace") if isinstance(t, str) else t) for t in texts)
