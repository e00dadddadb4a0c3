"""JPEG XL codecs through imagecodecs (libjxl): `jxl` (lossy: a quality knob mapped to libjxl's
distance, effort presets, alpha) and `jxl-lossless` (pixel-exact, alpha included).

Browsers mostly cannot draw JPEG XL, so `display_bytes` hands pages a PNG of the *decoded* JXL
pixels: the compare view shows what the stored file holds, never a re-encode of the original.

`JxlError` is the one error every JXL failure here (and in `compression.jxl_archive`) raises.
The measurements behind the presets and priorities: docs/benchmarks/jxl.md.
"""
from __future__ import annotations

import io
import os

import imagecodecs
import numpy as np
from PIL import Image

from .base import Codec, CodecError

# Above this many pixels an encode or decode gets every core (the selector encodes small images
# several at a time, one thread each, and searches large ones on a sample, so a full-size encode
# runs alone). The same threshold as the Pillow codecs' LARGE_IMAGE_PIXELS.
LARGE_IMAGE_PIXELS = 1_500_000

# libjxl's effort runs 1 (fastest) to 9 (10 exists but is an expert-only, far slower setting).
EFFORT_RANGE = (1, 9)
# Largest image encoded at efforts 8-9 (see `_JxlBase._effort`): about 0.7 GB resident at 2 MP.
HIGH_EFFORT_MAX_PIXELS = 2_000_000


class JxlError(CodecError):
    """libjxl could not encode, decode, transcode or reconstruct; the message says which and why."""


def threads_for(pixels: int) -> int:
    return 1 if pixels <= LARGE_IMAGE_PIXELS else (os.cpu_count() or 1)


def distance_for_quality(quality: float) -> float:
    """libjxl's own quality → distance mapping (`JxlEncoderDistanceFromQuality`, as `cjxl -q`):
    quality 90 is distance 1.0 ("visually lossless" in libjxl's words), 30 and above is linear,
    below 30 a parabola up to distance 25 at quality 0. Quality 100 (distance 0) would be lossless,
    which is `jxl-lossless`'s job, so the lossy knob stops below it."""
    q = float(quality)
    if q >= 30:
        return 0.1 + (100.0 - q) * 0.09
    return 53.0 / 3000.0 * q * q - 23.0 / 20.0 * q + 25.0


def checked_effort(effort) -> int:
    lo, hi = EFFORT_RANGE
    if isinstance(effort, bool) or not isinstance(effort, (int, np.integer)) or not lo <= effort <= hi:
        raise JxlError(f"JPEG XL effort {effort!r} is out of range; use {lo} (fastest) to {hi}.")
    return int(effort)


def encode_array(pixels: np.ndarray, *, effort: int, distance: float | None = None,
                 lossless: bool = False, container: bool = False, threads: int | None = None) -> bytes:
    """libjxl's encode of an (H, W), (H, W, 2|3|4) uint8 or uint16 array (L, LA, RGB, RGBA)."""
    kwargs = dict(effort=checked_effort(effort), usecontainer=bool(container))
    if lossless:
        kwargs["lossless"] = True
    else:
        kwargs["distance"] = float(distance)
    if pixels.dtype == np.uint16:
        kwargs["bitspersample"] = 16
    if threads is None:
        threads = threads_for(pixels.shape[0] * pixels.shape[1])
    try:
        return bytes(imagecodecs.jpegxl_encode(np.ascontiguousarray(pixels), numthreads=threads, **kwargs))
    except Exception as exc:  # imagecodecs raises its own JpegxlError or ValueError
        raise JxlError(f"JPEG XL could not encode this {pixels.shape} {pixels.dtype} image: {exc}") from None


def decode_array(data: bytes, *, threads: int | None = None) -> np.ndarray:
    """The pixels of a JPEG XL file (bare codestream or container) as libjxl decodes them."""
    try:
        # A thread per core costs nothing on a small file and saves seconds on a large one.
        return imagecodecs.jpegxl_decode(data, numthreads=threads or os.cpu_count() or 1)
    except Exception as exc:
        raise JxlError(f"Could not decode JPEG XL data ({len(data)} bytes): {exc}") from None


def _rgb_or_rgba_array(image: Image.Image) -> np.ndarray:
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return np.asarray(image)


def _image_from_array(pixels: np.ndarray) -> Image.Image:
    """The selector compares RGB or RGBA images; our codecs only ever store those."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise JxlError(f"This JPEG XL file holds {pixels.shape} {pixels.dtype} pixels, not 8-bit RGB(A).")
    return Image.fromarray(pixels)  # RGB or RGBA, inferred from the shape


class _JxlBase(Codec):
    media_type = "image/jxl"
    extension = "jxl"
    supports_alpha = True
    # libjxl efforts: of the search's encodes (`fast=True`), of a plain final encode, and what
    # the preset "max" means.
    fast_effort: int = 4
    default_effort: int = 7
    max_effort: int = 9

    def _effort(self, effort, fast: bool, pixels: int) -> int:
        """The libjxl effort of one encode. The effort presets pass "max" rather than a number:
        efforts 8 and 9 need about 250 MB per megapixel (6.3 GB at 24 MP, docs/benchmarks/jxl.md),
        so above HIGH_EFFORT_MAX_PIXELS "max" is the default effort, and the record says "max"."""
        if effort is None:
            effort = self.fast_effort if fast else self.default_effort
        elif effort == "max":
            effort = self.max_effort if pixels <= HIGH_EFFORT_MAX_PIXELS else min(self.max_effort, 7)
        return checked_effort(effort)

    def decode(self, data: bytes) -> Image.Image:
        return _image_from_array(decode_array(data))

    def display_bytes(self, data: bytes) -> tuple[bytes, str, str]:
        """A PNG of the decoded pixels: few browsers draw JPEG XL, and the compare view must show
        the stored file's own pixels. zlib level 1: as fast as the decode, where the default level
        takes seconds on a large photo for a rendition nobody keeps."""
        buf = io.BytesIO()
        self.decode(data).save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), "image/png", "png"


class JxlCodec(_JxlBase):
    """Lossy JPEG XL. The encoder option is `jxl_effort` (1-9, or "max"), not `effort`: the
    selector's records already use "effort" for fast/final."""

    name = "jxl"
    label = "JPEG XL"
    quality_range = (0, 99)
    default_quality = 90  # distance 1.0
    lossless_variant = "jxl-lossless"
    # Median lowest quality reaching each PSNR at the search effort (effort 4) on 16 BSDS500
    # training photos, as the Pillow codecs' hints (`manage.py benchmark_jxl --parts hints`).
    psnr_hints = ((28, 13), (30, 24), (33, 59), (36, 80), (40, 88))
    # After AVIF (the slowest encoder starts first) and before WebP: at the search effort libjxl
    # takes a fraction of AVIF's time, and at high quality on SSIMULACRA 2 its files are the
    # smallest (docs/benchmarks/jxl.md).
    search_priority = 25
    # Search at effort 4 (~10× faster than 7; BD-rate +5 % on PSNR, +12 % on MS-SSIM against 7);
    # the final encode at libjxl's default 7, and 9 at "max" (a background job on its own queue;
    # 8 and 9 gave the same −1 to −2 % on Kodak).
    effort_presets = {"default": {"jxl_effort": 7}, "max": {"jxl_effort": "max"}}

    def encode(self, image, *, quality=None, fast=False, jxl_effort: int | str | None = None) -> bytes:
        pixels = _rgb_or_rgba_array(image)
        distance = distance_for_quality(self.checked_quality(quality))
        effort = self._effort(jxl_effort, fast, pixels.shape[0] * pixels.shape[1])
        return encode_array(pixels, effort=effort, distance=distance)


class JxlLosslessCodec(_JxlBase):
    name = "jxl-lossless"
    label = "JPEG XL (lossless)"
    lossless = True
    quality_range = None
    default_quality = None
    search_priority = 10
    # Effort 2 searches (~10× faster than 5, ~15 % more bytes on photos), 5 at default effort,
    # 7 at max (8 and 9 were no smaller on Kodak, for 4× the time and far more memory).
    fast_effort = 2
    default_effort = 5
    max_effort = 7
    effort_presets = {"default": {"jxl_effort": 5}, "max": {"jxl_effort": "max"}}

    def encode(self, image, *, quality=None, fast=False, jxl_effort: int | str | None = None) -> bytes:
        pixels = _rgb_or_rgba_array(image)
        # libjxl's lossless mode keeps the colour of fully transparent pixels too, so the round
        # trip is exact in all four channels (tested).
        effort = self._effort(jxl_effort, fast, pixels.shape[0] * pixels.shape[1])
        return encode_array(pixels, effort=effort, lossless=True)


JXL_CODECS = (JxlCodec(), JxlLosslessCodec())
