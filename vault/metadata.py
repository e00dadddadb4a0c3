"""A photo's metadata: read from its EXIF and XMP when a job decodes it, sealed under the image's
data key, shown to its owner, and the location-free subset the compressed version and the
thumbnail carry.

What is read: when it was taken (with the camera's UTC offset where it wrote one), camera, lens,
exposure, size, stored orientation and GPS position. It is kept as a small JSON document sealed
with AES-256-GCM under a subkey of the image's data key (`ImageRecord.metadata_sealed`): the
database holds no camera, lens or place in the clear. The capture time alone is also stored in
the clear (`ImageRecord.taken_at`) because the gallery sorts by it; vault/README.md's threat
table says what that reveals.

`rendition_exif` is a whitelist, not the original EXIF minus some tags: maker notes, serial
numbers, comments and the GPS block of the upload never reach a rendition.
"""
from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime, timezone as dt_timezone
from fractions import Fraction

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.views.decorators.debug import sensitive_variables
from PIL import Image, TiffImagePlugin

from vault import crypto

FORMAT_VERSION = 1
_SEAL_VERSION = 1

# EXIF tags (CIPA DC-008). IFD0:
MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
# Exif IFD:
EXPOSURE_TIME, F_NUMBER, ISO = 0x829A, 0x829D, 0x8827
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004
OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9011, 0x9012
SUBSEC_TIME_ORIGINAL = 0x9291
FOCAL_LENGTH, FOCAL_LENGTH_35MM = 0x920A, 0xA405
LENS_MAKE, LENS_MODEL = 0xA433, 0xA434
# GPS IFD:
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_ALT_REF, GPS_ALT = 1, 2, 3, 4, 5, 6

ORIENTATIONS = {
    1: "as stored", 2: "mirrored", 3: "rotated 180°", 4: "mirrored vertically",
    5: "mirrored and rotated 90°", 6: "rotated 90° clockwise", 7: "mirrored and rotated 90° clockwise",
    8: "rotated 90° counter-clockwise",
}

_EXIF_DATE = re.compile(r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")
_XMP_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?\s*$")
_XMP_GPS = re.compile(r"^\s*(\d{1,3}),(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])\s*$")


# --- reading -----------------------------------------------------------------------------------


def _text(value, limit: int = 100) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value.replace("\x00", " ") if ch.isprintable()).strip()
    return cleaned[:limit] or None


def _number(value) -> float | None:
    try:
        number = float(value[0] / value[1]) if isinstance(value, tuple) and len(value) == 2 else float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _fraction(value) -> Fraction | None:
    number = _number(value)
    if number is None or number <= 0:
        return None
    numerator, denominator = getattr(value, "numerator", None), getattr(value, "denominator", None)
    if isinstance(numerator, int) and isinstance(denominator, int) and denominator:
        return Fraction(numerator, denominator)
    return Fraction(number).limit_denominator(100_000)


def _exif_date(value, offset=None) -> tuple[str, str | None] | None:
    """("YYYY-MM-DDTHH:MM:SS", "+HH:MM" or None) from EXIF's "YYYY:MM:DD HH:MM:SS" and offset."""
    found = _EXIF_DATE.match(_text(value) or "")
    if not found:
        return None
    parts = [int(p or 0) for p in found.groups()]
    try:
        taken = datetime(*parts)  # "0000:00:00 00:00:00" (a camera without a clock) fails here
    except ValueError:
        return None
    zone = _OFFSET.match(_text(offset) or "")
    return taken.isoformat(), (f"{zone.group(1)}{zone.group(2)}:{zone.group(3)}" if zone else None)


def _xmp_value(xmp: str, name: str) -> str | None:
    """One simple property of an XMP packet, written as an attribute or as an element."""
    escaped = re.escape(name)
    found = re.search(rf'\b{escaped}\s*=\s*"([^"]*)"', xmp) or re.search(rf"<{escaped}>([^<]*)</{escaped}>", xmp)
    return _text(found.group(1)) if found else None


def _xmp_date(text: str | None) -> tuple[str, str | None] | None:
    found = _XMP_DATE.match(text or "")
    if not found:
        return None
    year, month, day, hour, minute, second, zone = found.groups()
    try:
        taken = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    if zone == "Z":
        zone = "+00:00"
    elif zone:
        zone = f"{zone[:3]}:{zone[-2:]}"
    return taken.isoformat(), zone


def _xmp_coordinate(text: str | None) -> float | None:
    """XMP's "DDD,MM.mmk" or "DDD,MM,SSk" (k = N, S, E or W)."""
    found = _XMP_GPS.match(text or "")
    if not found:
        return None
    degrees, minutes, seconds, ref = found.groups()
    value = int(degrees) + float(minutes) / 60 + float(seconds or 0) / 3600
    return -value if ref in "SW" else value


def _dms(value, ref) -> float | None:
    if not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(v) for v in value]
    if any(p is None for p in parts):
        return None
    degrees = sum(p / 60**i for i, p in enumerate(parts))
    return -degrees if (_text(ref) or "").upper() in ("S", "W") else degrees


def _location(gps, xmp: str) -> dict | None:
    lat, lon = _dms(gps.get(GPS_LAT), gps.get(GPS_LAT_REF)), _dms(gps.get(GPS_LON), gps.get(GPS_LON_REF))
    if lat is None or lon is None:
        lat, lon = _xmp_coordinate(_xmp_value(xmp, "exif:GPSLatitude")), _xmp_coordinate(_xmp_value(xmp, "exif:GPSLongitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    place = {"latitude": round(lat, 7), "longitude": round(lon, 7), "altitude": None}
    altitude = _number(gps.get(GPS_ALT))
    if altitude is not None:
        ref = gps.get(GPS_ALT_REF)
        below = ref in (1, b"\x01") or (isinstance(ref, bytes) and ref[:1] == b"\x01")
        place["altitude"] = round(-altitude if below else altitude, 1)
    return place


def read(*, exif: Image.Exif | None, xmp: bytes = b"", width: int, height: int, orientation: int = 1) -> dict:
    """The metadata of a decoded upload (`compression.imageio.DecodedUpload`'s exif, xmp and
    orientation; width and height as displayed), as a JSON-safe dict."""
    exif = exif if exif is not None else Image.Exif()
    ifd = exif.get_ifd(EXIF_IFD)
    gps = exif.get_ifd(GPS_IFD)
    packet = xmp.decode("utf-8", "replace") if xmp else ""

    taken = (
        _exif_date(ifd.get(DATETIME_ORIGINAL), ifd.get(OFFSET_TIME_ORIGINAL))
        or _exif_date(ifd.get(DATETIME_DIGITIZED), ifd.get(OFFSET_TIME_DIGITIZED))
        or _xmp_date(_xmp_value(packet, "exif:DateTimeOriginal"))
        or _xmp_date(_xmp_value(packet, "photoshop:DateCreated"))
        or _xmp_date(_xmp_value(packet, "xmp:CreateDate"))
        or _exif_date(exif.get(DATETIME))  # when the file was last written: a camera's fallback
    )
    exposure = _fraction(ifd.get(EXPOSURE_TIME))
    iso = ifd.get(ISO)
    iso = iso[0] if isinstance(iso, tuple) and iso else iso
    focal_35 = ifd.get(FOCAL_LENGTH_35MM)
    return {
        "version": FORMAT_VERSION,
        "taken": taken[0] if taken else None,
        "taken_offset": taken[1] if taken else None,
        "make": _text(exif.get(MAKE)) or _xmp_value(packet, "tiff:Make"),
        "model": _text(exif.get(MODEL)) or _xmp_value(packet, "tiff:Model"),
        "lens_make": _text(ifd.get(LENS_MAKE)),
        "lens": _text(ifd.get(LENS_MODEL)) or _xmp_value(packet, "exifEX:LensModel") or _xmp_value(packet, "aux:Lens"),
        "exposure_time": [exposure.numerator, exposure.denominator] if exposure else None,
        "f_number": _round(_number(ifd.get(F_NUMBER)), 1),
        "iso": int(iso) if isinstance(iso, int) and 0 < iso < 10_000_000 else None,
        "focal_length": _round(_number(ifd.get(FOCAL_LENGTH)), 1),
        "focal_length_35mm": int(focal_35) if isinstance(focal_35, int) and 0 < focal_35 < 100_000 else None,
        "width": width,
        "height": height,
        "orientation": orientation if orientation in ORIENTATIONS else 1,
        "location": _location(gps, packet),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or value <= 0 else round(value, digits)


def taken_at(meta: dict | None) -> datetime | None:
    """The capture time the gallery sorts by: the camera's clock as it read, stored as if UTC.
    Cameras that write no UTC offset (most, before 2016) leave no way to know the instant; the
    clock's reading is what the owner remembers and what every photo of a trip shares."""
    try:
        return datetime.fromisoformat(meta["taken"]).replace(tzinfo=dt_timezone.utc) if meta and meta.get("taken") else None
    except (TypeError, ValueError):
        return None


# --- sealing -----------------------------------------------------------------------------------


def _associated_data(record_id: int) -> bytes:
    return b"imagevault-metadata" + bytes([_SEAL_VERSION]) + int(record_id).to_bytes(8, "big")


@sensitive_variables("data_key", "key")
def seal(meta: dict, *, data_key: bytes, record_id: int) -> bytes:
    """version || nonce || AES-256-GCM(JSON) under a subkey of the data key, bound to the record.
    A subkey rather than DK itself keeps this field's ciphertexts apart from the blobs'."""
    key = crypto.subkey(data_key, purpose="metadata-v1")
    nonce = os.urandom(crypto.NONCE_BYTES)
    plaintext = json.dumps(meta, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return bytes([_SEAL_VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, _associated_data(record_id))


@sensitive_variables("data_key", "key")
def open_sealed(sealed, *, data_key: bytes, record_id: int) -> dict | None:
    """The sealed metadata, or None when there is none (an image stored before it was read);
    `crypto.SealError` when it does not authenticate."""
    if not sealed:
        return None
    sealed = bytes(sealed)
    if sealed[0] != _SEAL_VERSION or len(sealed) < 1 + crypto.NONCE_BYTES + crypto.TAG_BYTES:
        raise crypto.SealError()
    key = crypto.subkey(data_key, purpose="metadata-v1")
    nonce, body = sealed[1 : 1 + crypto.NONCE_BYTES], sealed[1 + crypto.NONCE_BYTES :]
    try:
        return json.loads(AESGCM(key).decrypt(nonce, body, _associated_data(record_id)))
    except (InvalidTag, ValueError) as exc:
        raise crypto.SealError() from exc


@sensitive_variables("data_key")
def record_fields(meta: dict, *, data_key: bytes, record_id: int) -> dict:
    """What a record stores of it: the sealed document and the capture time in the clear."""
    return {"metadata_sealed": seal(meta, data_key=data_key, record_id=record_id), "taken_at": taken_at(meta)}


# --- showing -----------------------------------------------------------------------------------


def camera(meta: dict) -> str | None:
    make, model = meta.get("make") or "", meta.get("model") or ""
    if make and model.lower().startswith(make.split()[0].lower()):
        return model  # "Canon" + "Canon EOS R5": the model already names the maker
    return " ".join(p for p in (make, model) if p) or None


def exposure_text(meta: dict) -> str | None:
    parts = []
    if meta.get("exposure_time"):
        seconds = Fraction(*meta["exposure_time"])
        parts.append(f"1/{round(1 / seconds)} s" if seconds < 1 else f"{float(seconds):g} s")
    if meta.get("f_number"):
        parts.append(f"f/{meta['f_number']:g}")
    if meta.get("iso"):
        parts.append(f"ISO {meta['iso']}")
    if meta.get("focal_length"):
        focal = f"{meta['focal_length']:g} mm"
        if meta.get("focal_length_35mm"):
            focal += f" ({meta['focal_length_35mm']} mm in 35 mm terms)"
        parts.append(focal)
    return " · ".join(parts) or None


def taken_text(meta: dict) -> str | None:
    if not meta.get("taken"):
        return None
    text = meta["taken"].replace("T", " ")
    return f"{text} (UTC{meta['taken_offset']})" if meta.get("taken_offset") else text


def location_text(place: dict | None) -> str | None:
    if not place:
        return None
    lat, lon = place["latitude"], place["longitude"]
    text = f"{abs(lat):.5f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.5f}° {'E' if lon >= 0 else 'W'}"
    return text + (f", {place['altitude']:g} m" if place.get("altitude") is not None else "")


def rows(meta: dict | None) -> list[tuple[str, str]]:
    """(label, text) for the detail page; only what the photo says."""
    if not meta:
        return []
    lens, lens_make = meta.get("lens") or "", meta.get("lens_make") or ""
    if lens_make and not lens.lower().startswith(lens_make.split()[0].lower()):
        lens = f"{lens_make} {lens}".strip()
    shown = [
        ("Taken", taken_text(meta)),
        ("Camera", camera(meta)),
        ("Lens", lens or None),
        ("Exposure", exposure_text(meta)),
        ("Orientation", ORIENTATIONS.get(meta.get("orientation") or 1) if (meta.get("orientation") or 1) != 1 else None),
        ("Location", location_text(meta.get("location"))),
    ]
    return [(label, value) for label, value in shown if value]


def public(meta: dict | None) -> dict | None:
    """The API's `metadata` object."""
    if not meta:
        return None
    exposure = Fraction(*meta["exposure_time"]) if meta.get("exposure_time") else None
    return {
        "taken": meta.get("taken"),
        "taken_offset": meta.get("taken_offset"),
        "camera": camera(meta),
        "make": meta.get("make"),
        "model": meta.get("model"),
        "lens": meta.get("lens"),
        "exposure_time": None if exposure is None else float(exposure),
        "exposure": exposure_text(meta),
        "f_number": meta.get("f_number"),
        "iso": meta.get("iso"),
        "focal_length": meta.get("focal_length"),
        "focal_length_35mm": meta.get("focal_length_35mm"),
        "width": meta.get("width"),
        "height": meta.get("height"),
        "orientation": meta.get("orientation"),
        "location": meta.get("location"),
    }


# --- renditions --------------------------------------------------------------------------------


def rendition_exif(meta: dict | None) -> bytes:
    """EXIF for the compressed version and the thumbnail: date, camera, lens and exposure, and
    nothing else. No GPS block (a rendition is what shares hand out by default), and no
    orientation: renditions are made from the upright pixels."""
    if not meta:
        return b""
    exif = Image.Exif()
    ifd = exif.get_ifd(EXIF_IFD)
    if meta.get("make"):
        exif[MAKE] = meta["make"]
    if meta.get("model"):
        exif[MODEL] = meta["model"]
    if meta.get("taken"):
        stamp = datetime.fromisoformat(meta["taken"]).strftime("%Y:%m:%d %H:%M:%S")
        ifd[DATETIME_ORIGINAL] = ifd[DATETIME_DIGITIZED] = stamp
        if meta.get("taken_offset"):
            ifd[OFFSET_TIME_ORIGINAL] = meta["taken_offset"]
    if meta.get("lens_make"):
        ifd[LENS_MAKE] = meta["lens_make"]
    if meta.get("lens"):
        ifd[LENS_MODEL] = meta["lens"]
    if meta.get("exposure_time"):
        ifd[EXPOSURE_TIME] = TiffImagePlugin.IFDRational(*meta["exposure_time"])
    for tag, name in ((F_NUMBER, "f_number"), (FOCAL_LENGTH, "focal_length")):
        if meta.get(name):
            ifd[tag] = TiffImagePlugin.IFDRational(Fraction(str(meta[name])).limit_denominator(1000))
    if meta.get("iso"):
        ifd[ISO] = min(int(meta["iso"]), 65535)
    if meta.get("focal_length_35mm"):
        ifd[FOCAL_LENGTH_35MM] = min(int(meta["focal_length_35mm"]), 65535)
    return exif.tobytes() if len(exif) or ifd else b""
