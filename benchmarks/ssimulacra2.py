"""The metric benchmark behind `benchmark_ssimulacra2`: seconds per megapixel (wall clock and
CPU, all threads) and peak resident memory of `compression.ssimulacra2` on one photo resized to
several sizes (24 MP by upscaling), each scored against its own JPEG, for each thread count
tried; optionally the `ssimulacra2` package (the reference the tests compare against) on the
smallest size, for scale.

Each figure is the best of `repeats` runs: on a shared machine the best run is the one least
disturbed by other work, and CPU time (`time.process_time`) is reported beside wall time
because it hardly depends on that load.
"""
from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import memory
from benchmarks.errors import BenchmarkError
from compression import ssimulacra2
from compression.datasets import PHOTOS

DEFAULT_PHOTO = PHOTOS / "enlightenment-data__Mountain.jpg"
JPEG_QUALITY = 60  # a mid-quality distortion: the metric's cost does not depend on it


@dataclass(frozen=True)
class Row:
    width: int
    height: int
    threads: int | str  # "package" for the reference implementation
    wall: float  # seconds, best run
    cpu: float  # seconds of CPU over all threads, best run
    peak_mb: float | None
    growth_mb: float | None
    score: float
    worst: float | None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def parse_list(text: str, kind, what: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BenchmarkError(f"{what} {text!r} is not a comma-separated list of numbers.") from None
    if not values or any(v <= 0 for v in values):
        raise BenchmarkError(f"{what} {text!r}: give one or more numbers above 0.")
    return values


def load_pair(photo: Path, megapixels: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo resized (Lanczos) to about `megapixels`, and its JPEG at JPEG_QUALITY decoded."""
    try:
        with Image.open(photo) as im:
            image = im.convert("RGB")
    except OSError as exc:
        raise BenchmarkError(f"Cannot read {str(photo)!r}: {exc}") from None
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    image = image.resize((max(8, round(image.width * scale)), max(8, round(image.height * scale))), Image.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=JPEG_QUALITY)
    return np.asarray(image), np.asarray(Image.open(buf).convert("RGB"))


def measure(reference: np.ndarray, distorted: np.ndarray, threads: int, repeats: int) -> Row:
    """`compression.ssimulacra2` with `threads` worker threads, best of `repeats` runs."""
    saved = ssimulacra2.THREADS
    ssimulacra2.THREADS = threads
    try:
        return _best(lambda: ssimulacra2.ssimulacra2(reference, distorted), reference, threads, repeats)
    finally:
        ssimulacra2.THREADS = saved


def measure_package(reference: np.ndarray, distorted: np.ndarray) -> Row | None:
    """The PyPI `ssimulacra2` package (reads files: PNG writing is left out of its time), or None
    when it is not installed (it is a test dependency)."""
    try:
        from ssimulacra2 import compute_ssimulacra2
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as folder:
        a, b = Path(folder, "a.png"), Path(folder, "b.png")
        Image.fromarray(reference).save(a)
        Image.fromarray(distorted).save(b)
        return _best(lambda: compute_ssimulacra2(str(a), str(b)), reference, "package", 1)


def _best(run, reference, threads, repeats: int) -> Row:
    best = None
    for _ in range(repeats):
        can_reset = memory.reset_peak()
        before = memory.status_kb("VmRSS")
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = memory.status_kb("VmHWM") if can_reset else None
        score, worst = (result.score, result.worst) if hasattr(result, "score") else (float(result), None)
        row = Row(
            reference.shape[1], reference.shape[0], threads, wall, cpu,
            None if peak is None else peak / 1024,
            None if peak is None or before is None else (peak - before) / 1024,
            score, worst,
        )
        if best is None or row.wall < best.wall:
            best = row
    return best


HEADER = f"{'size':>11} {'MP':>5} {'threads':>7} {'wall s':>7} {'s/MP':>6} {'CPU s':>7} {'CPU s/MP':>8} {'peak MB':>7} {'+MB':>6} {'score':>7} {'worst':>7}"


def format_row(row: Row) -> str:
    mem = " " * 14 if row.peak_mb is None else f"{row.peak_mb:7.0f} {row.growth_mb:6.0f}"
    worst = "" if row.worst is None else f"{row.worst:7.2f}"
    return (
        f"{row.width:>5}×{row.height:<5} {row.megapixels:>5.1f} {row.threads!s:>7} {row.wall:>7.2f} "
        f"{row.wall / row.megapixels:>6.3f} {row.cpu:>7.2f} {row.cpu / row.megapixels:>8.3f} {mem} "
        f"{row.score:>7.2f} {worst:>7}"
    )
