"""The classical codecs, all through Pillow: JPEG (libjpeg-turbo), PNG, WebP and AVIF (libavif).

Encoder settings: `fast=True` is what the selector uses while it searches (several encodes per
image); `fast=False` is the final encode of the chosen parameters, a few percent smaller for a
few times the time (the timings of each setting: docs/benchmarks/classical_codecs.md).

No AVIF *lossless* codec: Pillow cannot request libavif's identity matrix, so even quality 100
with 4:4:4 chroma round-trips through YCbCr and is not exact, and a codec that claims `lossless`
must be pixel-exact.
"""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from .base import Codec, CodecError


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


# Above this many pixels an encode runs alone (the selector searches such images on a sample).
LARGE_IMAGE_PIXELS = 1_500_000


class PillowCodec(Codec):
    pillow_format: str = ""

    def _save(self, image: Image.Image, **kwargs) -> bytes:
        buf = io.BytesIO()
        # Image.save stores its keyword arguments on the Image object (encoderinfo), so two threads
        # saving one image race on each other's quality; each save gets its own object.
        image = image.copy()
        try:
            image.save(buf, format=self.pillow_format, **kwargs)
        except (OSError, ValueError) as exc:
            raise CodecError(f"{self.label} could not encode this image: {exc}") from None
        return buf.getvalue()

    def decode(self, data: bytes) -> Image.Image:
        try:
            with Image.open(io.BytesIO(data), formats=[self.pillow_format]) as image:
                image.load()
                out = _rgb_or_rgba(image)
                return image.copy() if out is image else out
        except Exception as exc:
            raise CodecError(f"Could not decode {self.label} data: {exc}") from None

    def _prepare(self, image: Image.Image) -> Image.Image:
        image = _rgb_or_rgba(image)
        if image.mode == "RGBA" and not self.supports_alpha:
            raise CodecError(f"{self.label} cannot store transparency; choose PNG, WebP or AVIF.")
        return image


class JpegCodec(PillowCodec):
    name = "jpeg"
    label = "JPEG"
    media_type = "image/jpeg"
    extension = "jpg"
    pillow_format = "JPEG"
    quality_range = (1, 95)  # libjpeg's own advice: above 95 only the file grows
    default_quality = 80
    # Median lowest quality reaching each PSNR on 16 BSDS500 training photos (not on Kodak).
    psnr_hints = ((28, 20), (30, 30), (33, 65), (36, 85), (40, 93))
    # Median lowest quality meeting each SSIMULACRA 2 level and its region guard on 4-7 large
    # photos of ../shared/data/photos (docs/benchmarks/selection_perceptual.md).
    ssimulacra2_hints = ((55, 38), (70, 58), (80, 80), (90, 95))
    # 4:2:0 halves chroma resolution (smaller, fine for photos); 4:4:4 keeps sharp colour edges.
    variants = ({"subsampling": "4:2:0"}, {"subsampling": "4:4:4"})

    def encode(self, image, *, quality=None, fast=False, subsampling: str = "4:2:0"):
        if subsampling not in ("4:2:0", "4:4:4"):
            raise CodecError(f"Unknown JPEG subsampling {subsampling!r}; use '4:2:0' or '4:4:4'.")
        image = self._prepare(image)
        q = round(self.checked_quality(quality))
        common = dict(quality=q, subsampling=subsampling, optimize=True)
        if fast:
            return self._save(image, progressive=True, **common)
        # libjpeg-turbo is fast enough to try both scan layouts; progressive usually wins above ~10 KB.
        return min(
            (self._save(image, progressive=p, **common) for p in (True, False)), key=len
        )


def _exact_palette(image: Image.Image) -> Image.Image | None:
    """A palette ("P") image with exactly the same pixels, or None when there are > 256 colours."""
    if image.getcolors(256) is None:
        return None
    arr = np.asarray(image)
    h, w, c = arr.shape
    keys = np.zeros((h, w), dtype=np.uint32)
    for i in range(c):
        keys = (keys << 8) | arr[..., i].astype(np.uint32)
    colours, index = np.unique(keys.reshape(-1), return_inverse=True)
    entries = np.stack([(colours >> (8 * (c - 1 - i))) & 0xFF for i in range(c)], axis=-1).astype(np.uint8)
    pal = Image.fromarray(index.reshape(h, w).astype(np.uint8), "P")
    pal.putpalette(entries[:, :3].reshape(-1).tobytes(), rawmode="RGB")
    if c == 4:
        pal.info["transparency"] = entries[:, 3].tobytes()
    return pal


def _grey_version(image: Image.Image) -> Image.Image | None:
    arr = np.asarray(image)
    if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
        return image.convert("LA" if image.mode == "RGBA" else "L")
    return None


class PngCodec(PillowCodec):
    name = "png"
    label = "PNG"
    media_type = "image/png"
    extension = "png"
    pillow_format = "PNG"
    supports_alpha = True
    lossless = True
    quality_range = None
    default_quality = None
    search_priority = 10  # one cheap encode; on graphics it is the file to beat

    def encode(self, image, *, quality=None, fast=False):
        image = self._prepare(image)
        # Same pixels, fewer bytes: grey images as L/LA, few-colour images as an exact palette.
        reduced = _grey_version(image)
        if reduced is None or reduced.mode == "LA":
            reduced = _exact_palette(image) or reduced
        candidate = reduced or image
        kwargs = {"compress_level": 3} if fast else {"optimize": True}
        if candidate.mode == "P" and "transparency" in candidate.info:
            kwargs["transparency"] = candidate.info["transparency"]
        return self._save(candidate, **kwargs)


class WebpCodec(PillowCodec):
    name = "webp"
    label = "WebP"
    media_type = "image/webp"
    extension = "webp"
    pillow_format = "WEBP"
    supports_alpha = True
    quality_range = (0, 100)
    default_quality = 80
    psnr_hints = ((28, 10), (30, 20), (33, 55), (36, 80), (40, 90))  # as JpegCodec's
    ssimulacra2_hints = ((55, 39), (70, 78), (80, 92), (90, 99))  # as JpegCodec's
    search_priority = 20
    lossless_variant = "webp-lossless"

    def encode(self, image, *, quality=None, fast=False):
        image = self._prepare(image)
        q = round(self.checked_quality(quality))
        return self._save(image, quality=q, method=4 if fast else 6, alpha_quality=100)


class WebpLosslessCodec(PillowCodec):
    name = "webp-lossless"
    label = "WebP (lossless)"
    media_type = "image/webp"
    extension = "webp"
    pillow_format = "WEBP"
    supports_alpha = True
    lossless = True
    quality_range = None
    default_quality = None
    search_priority = 10

    def encode(self, image, *, quality=None, fast=False):
        image = self._prepare(image)
        # For lossless WebP "quality" is effort. exact=True keeps the colour of fully transparent
        # pixels, so the round trip is pixel-exact in all four channels.
        effort = dict(method=1, quality=10) if fast else dict(method=4, quality=50)
        return self._save(image, lossless=True, exact=True, **effort)


class AvifCodec(PillowCodec):
    name = "avif"
    label = "AVIF"
    media_type = "image/avif"
    extension = "avif"
    pillow_format = "AVIF"
    supports_alpha = True
    quality_range = (0, 100)
    default_quality = 60
    psnr_hints = ((28, 30), (30, 40), (33, 55), (36, 70), (40, 80))  # as JpegCodec's
    ssimulacra2_hints = ((55, 33), (70, 48), (80, 70), (90, 96))  # as JpegCodec's
    search_priority = 30  # usually the smallest lossy file, and the slowest encoder
    # Searched at speed 8 (speed 9's larger files misjudged AVIF-vs-WebP races); the final encode
    # at speed 6 by default and speed 2 at "max" (a background job on its own queue). The
    # measurements: docs/benchmarks/classical_codecs.md.
    effort_presets = {"default": {"speed": 6}, "max": {"speed": 2}}

    def encode(self, image, *, quality=None, fast=False, speed: int = 6):
        image = self._prepare(image)
        q = round(self.checked_quality(quality))
        if not 0 <= speed <= 10:
            raise CodecError(f"AVIF speed {speed!r} is out of range; use 0 (slowest) to 10.")
        # The selector runs small encodes in parallel threads, one encoder thread each; a large
        # image is only ever encoded alone (its search runs on a sample), so it gets every core.
        threads = 1 if image.width * image.height <= LARGE_IMAGE_PIXELS else (os.cpu_count() or 1)
        return self._save(
            image, quality=q, speed=8 if fast else speed, subsampling="4:2:0", max_threads=threads
        )


CLASSICAL_CODECS = (JpegCodec(), PngCodec(), WebpCodec(), WebpLosslessCodec(), AvifCodec())
