"""The large-photo benchmark behind `benchmark_large_photo`: one encode and decode of a large photo
with the learned codec — size, PSNR, wall and CPU times, and the process's peak resident memory
(the bound that tiled coding keeps), with digests of the file and the decoded pixels so runs on
other machines can be compared."""
from __future__ import annotations

import hashlib
import resource
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from benchmarks.errors import BenchmarkError
from compression.learned import coder as learned
from compression.metrics import psnr


@dataclass(frozen=True)
class Result:
    width: int
    height: int
    quality: float
    size: int  # bytes of the file
    psnr: float
    encode_s: float
    decode_s: float
    encode_cpu_s: float
    decode_cpu_s: float
    peak_mb: float
    file_sha256: str
    pixels_sha256: str

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def load_photo(path: str, megapixels: float | None = None) -> Image.Image:
    """The photo as RGB, resized (Lanczos) to about `megapixels` when given."""
    try:
        image = Image.open(path).convert("RGB")
    except OSError as exc:
        raise BenchmarkError(f"Cannot read {path!r}: {exc}") from exc
    if megapixels:
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    return image


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    # User + system seconds of this process (all its threads): steadier than wall time.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(loaded, pixels: np.ndarray, quality: float) -> Result:
    cpu0, started = cpu_seconds(), time.perf_counter()
    data = learned.encode(loaded, pixels, quality)
    cpu1, encoded = cpu_seconds(), time.perf_counter()
    decoded = learned.decode(data, loaded)
    cpu2, done = cpu_seconds(), time.perf_counter()
    peak_mb = peak_rss_mb()
    pixels_digest = hashlib.sha256()
    for row in decoded:  # row by row: a contiguous copy of a 24-megapixel picture is 72 MB
        pixels_digest.update(row.tobytes())
    return Result(
        width=pixels.shape[1], height=pixels.shape[0], quality=quality, size=len(data), psnr=psnr(pixels, decoded),
        encode_s=encoded - started, decode_s=done - encoded, encode_cpu_s=cpu1 - cpu0, decode_cpu_s=cpu2 - cpu1,
        peak_mb=peak_mb, file_sha256=hashlib.sha256(data).hexdigest(), pixels_sha256=pixels_digest.hexdigest(),
    )


def describe(result: Result, loaded_mb: float) -> str:
    """One line; `loaded_mb` is the peak resident memory once the model was loaded."""
    r = result
    return (
        f"{r.width}x{r.height} ({r.megapixels:.1f} MP) quality {r.quality:g}: "
        f"{r.size} bytes, {r.size * 8 / (r.megapixels * 1e6):.3f} bpp, PSNR {r.psnr:.2f} dB; "
        f"encode {r.encode_s:.1f} s, decode {r.decode_s:.1f} s; peak RSS {r.peak_mb:.0f} MB "
        f"({loaded_mb:.0f} MB after loading the model); CPU time encode {r.encode_cpu_s:.1f} s, "
        f"decode {r.decode_cpu_s:.1f} s; sha256 {r.file_sha256}, decoded pixels sha256 {r.pixels_sha256}"
    )
