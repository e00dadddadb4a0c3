"""Exact storage of originals in JPEG XL: what an upload can be kept as, in fewer bytes, and
given back unchanged.

* `transcode_jpeg(jpeg) -> jxl` and `reconstruct_jpeg(jxl) -> jpeg`: libjxl's lossless JPEG
  recompression. The JXL keeps the JPEG's DCT coefficients and a reconstruction box, so the
  reconstruction is the uploaded JPEG byte for byte (its EXIF, ICC and other markers included).
* `encode_lossless(image_or_bytes) -> jxl` and `decode_lossless(jxl) -> LosslessImage`: lossless
  JPEG XL of the pixels (1-16 bit grey, grey+alpha, RGB, RGBA; 16-bit PNGs read exactly), with
  the ICC profile, EXIF and XMP kept. `LosslessImage.to_png()` makes a PNG with the same pixels
  and metadata (not the same bytes as an uploaded PNG: the zlib stream and chunk order differ).

Both encoders verify by default: they decode what they made and compare (bytes for JPEG, sample
arrays and metadata for pixels) before returning, so a caller that drops the upload's own bytes
afterwards never drops the only good copy. Every failure raises `JxlError` with the reason; a
caller keeps the upload as it came.

Metadata boxes (ISO/IEC 18181-2 container): EXIF in an `Exif` box, XMP in an `xml ` box, as
cjxl writes them. The codestream of a pixel image always signals sRGB (the encoder we use,
imagecodecs, takes no ICC profile), so a profile other than sRGB rides in a `uuid` box of our
own, which other JPEG XL readers skip: our decoder gives the exact samples and the profile
back; another viewer shows the samples as sRGB. These files are the vault's storage form of an
original, handed out only after `to_png()` or `reconstruct_jpeg()`.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass

import imagecodecs
import numpy as np
from PIL import Image

from .jxl import JxlError, decode_array, encode_array

_SIGNATURE_BOX = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
# Our private box for an ICC profile the codestream cannot carry (random UUID, fixed forever).
_ICC_UUID = bytes.fromhex("6f1d2c0e9a7b4f3c8e52b1a4c7d90e13")
_EXIF_PREFIX = b"Exif\x00\x00"  # how Pillow holds EXIF (a JPEG APP1 header); the box holds TIFF
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Pillow modes kept as they are, and those converted without changing any pixel's value.
_KEPT_MODES = {"L", "LA", "RGB", "RGBA", "I;16"}
_EXACT_CONVERSIONS = {"1": "L", "P": None, "PA": "RGBA"}  # None: RGB, or RGBA with transparency
# TIFF tags that describe the file's layout, not the photo: a PNG's eXIf must not repeat them.
_TIFF_STRUCTURE_TAGS = {
    254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325,
    338, 339, 530, 531, 532, 700, 34675,
}


def _threads() -> int:
    # Originals are transcoded by a worker one at a time: every core helps.
    return os.cpu_count() or 1


# ---- JPEG: byte-exact transcoding -------------------------------------------------------------


def transcode_jpeg(data: bytes, *, verify: bool = True) -> bytes:
    """A JPEG XL file from which `reconstruct_jpeg` gives back `data` byte for byte."""
    if not data.startswith(b"\xff\xd8"):
        raise JxlError(f"Not a JPEG file (it starts with {bytes(data[:4])!r}); only JPEGs transcode losslessly.")
    try:
        jxl = bytes(imagecodecs.jpegxl_encode_jpeg(data, usecontainer=True, numthreads=_threads()))
    except Exception as exc:
        raise JxlError(f"libjxl could not transcode this JPEG ({len(data)} bytes): {exc}") from None
    if verify and reconstruct_jpeg(jxl) != data:
        raise JxlError(f"The JPEG rebuilt from its JPEG XL transcoding differs from the {len(data)}-byte upload.")
    return jxl


def reconstruct_jpeg(data: bytes) -> bytes:
    """The JPEG a `transcode_jpeg` file was made from, byte for byte."""
    try:
        return bytes(imagecodecs.jpegxl_decode_jpeg(data, numthreads=_threads()))
    except Exception as exc:
        raise JxlError(f"No JPEG can be rebuilt from this JPEG XL file ({len(data)} bytes): {exc}") from None


def holds_jpeg(data: bytes) -> bool:
    """True when `data` is a JPEG XL container with JPEG reconstruction data (a `jbrd` box)."""
    try:
        return any(kind == b"jbrd" for kind, _ in _boxes(data))
    except JxlError:
        return False


# ---- Pixels: lossless JPEG XL with metadata ---------------------------------------------------


@dataclass(frozen=True)
class LosslessImage:
    """Decoded pixels as stored: (H, W) grey or (H, W, 2|3|4) grey+alpha / RGB / RGBA, uint8 or
    uint16; `exif` in Pillow's form (b"Exif\\0\\0" + TIFF), `xmp` the packet's bytes."""

    pixels: np.ndarray
    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None

    @property
    def mode(self) -> str:
        channels = 1 if self.pixels.ndim == 2 else self.pixels.shape[2]
        return ("L", "LA", "RGB", "RGBA")[channels - 1] + (";16" if self.pixels.dtype == np.uint16 else "")

    def to_image(self) -> Image.Image:
        """A Pillow image with the metadata in `.info`; Pillow has no mode for 16-bit colour or
        16-bit grey with alpha, so those raise (use `to_png`)."""
        mode = {"L;16": "I;16"}.get(self.mode, self.mode)
        if mode.endswith(";16") and mode != "I;16":
            raise JxlError(f"Pillow cannot hold {self.mode} pixels exactly; use to_png().")
        image = Image.fromarray(self.pixels)  # Pillow infers L, LA, RGB, RGBA and I;16 from the array
        for key in ("icc_profile", "exif", "xmp"):
            if getattr(self, key):
                image.info[key] = getattr(self, key)
        return image

    def to_png(self) -> bytes:
        """A PNG with these exact samples, the ICC profile (iCCP), EXIF (eXIf) and XMP (iTXt)."""
        png = bytes(imagecodecs.png_encode(np.ascontiguousarray(self.pixels), level=6))
        chunks = []
        if self.icc_profile:
            chunks.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(self.icc_profile)))
        if self.exif:
            chunks.append(_png_chunk(b"eXIf", _tiff_of(self.exif)))
        if self.xmp:
            chunks.append(_png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + self.xmp))
        end_of_ihdr = len(_PNG_SIGNATURE) + 8 + 13 + 4
        return png[:end_of_ihdr] + b"".join(chunks) + png[end_of_ihdr:]


def read_lossless_source(source: Image.Image | bytes) -> LosslessImage:
    """The samples and metadata `encode_lossless` keeps from an image or an uploaded file, or a
    JxlError saying why they cannot be kept exactly (animation, CMYK, 16-bit colour outside PNG…)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        try:
            image = Image.open(io.BytesIO(data))  # Pillow's size limit guards the decode below
            image.load()
        except Exception as exc:
            raise JxlError(f"Could not read this image for lossless storage: {exc}") from None
        pixels = _png16_pixels(data)
    else:
        image, pixels = source, None
    if getattr(image, "n_frames", 1) > 1:
        raise JxlError(f"This {image.format or 'image'} has {image.n_frames} frames; only still images are kept as JPEG XL.")
    if pixels is None:
        pixels = _pixels_of(image)
    return LosslessImage(pixels, image.info.get("icc_profile") or None, _exif_of(image), _xmp_of(image))


def encode_lossless(source: Image.Image | bytes, *, effort: int = 7, keep_metadata: bool = True,
                    verify: bool = True) -> bytes:
    """A lossless JPEG XL of an image or an uploaded file, keeping its ICC profile, EXIF and XMP
    (`keep_metadata=False`: pixels only). Effort 7 (libjxl's default) is ~30 % below PNG on
    photos; lower efforts trade bytes for time (docs/benchmarks/jxl.md). A JPEG's pixels would
    take more bytes than the JPEG: JPEGs go through `transcode_jpeg`."""
    kept = read_lossless_source(source)
    if not keep_metadata:
        kept = LosslessImage(kept.pixels)
    # libjxl's own container (it adds a `jxll` level box where 16-bit samples need one), with the
    # metadata boxes put in before the codestream.
    container = encode_array(kept.pixels, effort=effort, lossless=True, container=True, threads=_threads())
    metadata = []
    if kept.exif:
        metadata.append(_box(b"Exif", b"\x00\x00\x00\x00" + _tiff_of(kept.exif)))
    if kept.xmp:
        metadata.append(_box(b"xml ", kept.xmp))
    if kept.icc_profile:
        metadata.append(_box(b"uuid", _ICC_UUID + kept.icc_profile))
    at = next((start for kind, _, start in _boxes(container, raw=True) if kind in (b"jxlc", b"jxlp")), None)
    if at is None:
        raise JxlError("libjxl returned a JPEG XL container without a codestream box.")
    boxes = [container[:at], *metadata, container[at:]]
    data = b"".join(boxes)
    if verify:
        back = decode_lossless(data)
        if back.pixels.dtype != kept.pixels.dtype or not np.array_equal(back.pixels, kept.pixels):
            raise JxlError(f"The lossless JPEG XL of this {kept.mode} image did not decode to the same pixels.")
        if (back.icc_profile, back.exif, back.xmp) != (kept.icc_profile, _pillow_exif(kept.exif), kept.xmp):
            raise JxlError("The lossless JPEG XL of this image did not keep its metadata.")
    return data


def decode_lossless(data: bytes) -> LosslessImage:
    """The samples and metadata of an `encode_lossless` file (or any JPEG XL: its EXIF and XMP
    boxes are read, brotli-compressed ones too)."""
    icc = exif = xmp = None
    for kind, payload in _boxes(data):
        if kind == b"Exif" and len(payload) >= 4:
            exif = _pillow_exif(payload[4 + struct.unpack(">I", payload[:4])[0]:])
        elif kind == b"xml ":
            xmp = payload
        elif kind == b"uuid" and payload[:16] == _ICC_UUID:
            icc = payload[16:]
    return LosslessImage(decode_array(data), icc, exif, xmp)


# ---- helpers ----------------------------------------------------------------------------------


def _pixels_of(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _EXACT_CONVERSIONS:
        target = _EXACT_CONVERSIONS[mode] or ("RGBA" if image.has_transparency_data else "RGB")
        image, mode = image.convert(target), target
    if mode not in _KEPT_MODES:
        raise JxlError(f"Images in Pillow mode {mode!r} cannot be stored as lossless JPEG XL exactly.")
    bits = getattr(image, "tag_v2", {}).get(258) if image.format == "TIFF" else None
    if bits and mode != "I;16" and max(bits if isinstance(bits, tuple) else (bits,)) > 8:
        raise JxlError(f"This TIFF has {bits}-bit samples, which Pillow reads as 8-bit; it is kept as uploaded.")
    return np.array(image)


def _png16_pixels(data: bytes) -> np.ndarray | None:
    """The exact samples of a 16-bit PNG (Pillow reads 16-bit colour as 8-bit), else None."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 26 or data[24] != 16:
        return None
    if data[25] in (0, 2) and b"tRNS" in data:
        raise JxlError("A 16-bit PNG with a transparent colour key is kept as uploaded.")
    try:
        return imagecodecs.png_decode(data)
    except Exception as exc:
        raise JxlError(f"Could not read this 16-bit PNG: {exc}") from None


def _exif_of(image: Image.Image) -> bytes | None:
    if image.info.get("exif"):
        return _pillow_exif(image.info["exif"])
    if image.format == "TIFF":
        # A TIFF's EXIF is its own first directory: keep the photo's tags, not the file layout.
        exif = image.getexif()
        for tag in _TIFF_STRUCTURE_TAGS:
            exif.pop(tag, None)
        return exif.tobytes() if len(exif) else None
    return None


def _xmp_of(image: Image.Image) -> bytes | None:
    xmp = image.info.get("xmp")
    if xmp is None and image.format == "TIFF":
        xmp = getattr(image, "tag_v2", {}).get(700)
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return bytes(xmp) if xmp else None


def _pillow_exif(exif: bytes | None) -> bytes | None:
    if not exif:
        return None
    exif = bytes(exif)
    return exif if exif.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + exif


def _tiff_of(exif: bytes) -> bytes:
    return exif.removeprefix(_EXIF_PREFIX)


def _box(kind: bytes, payload: bytes) -> bytes:
    if len(payload) + 8 > 0xFFFFFFFF:
        return struct.pack(">I4sQ", 1, kind, len(payload) + 16) + payload
    return struct.pack(">I4s", len(payload) + 8, kind) + payload


def _boxes(data: bytes, *, raw: bool = False):
    """(type, payload) of each box of a JPEG XL container; nothing for a bare codestream.
    `brob` boxes (brotli-compressed metadata) come out decompressed under their own type.
    `raw=True`: (type, payload, offset of the box) with `brob` left as it is."""
    if not data.startswith(_SIGNATURE_BOX):
        return
    pos = 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise JxlError(f"A JPEG XL box header is cut off at byte {pos}.")
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        start = pos + 8
        if size == 1:
            size = struct.unpack(">Q", data[start:start + 8])[0]
            start += 8
        end = len(data) if size == 0 else pos + size
        if end > len(data) or end < start:
            raise JxlError(f"A JPEG XL {kind!r} box claims {size} bytes at byte {pos}; the file has {len(data)}.")
        payload = data[start:end]
        if raw:
            yield kind, payload, pos
            pos = end
            continue
        if kind == b"brob" and len(payload) >= 4:
            try:
                kind, payload = payload[:4], bytes(imagecodecs.brotli_decode(payload[4:]))
            except Exception as exc:
                raise JxlError(f"A compressed JPEG XL metadata box does not decompress: {exc}") from None
        yield kind, payload
        pos = end


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
