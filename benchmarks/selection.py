"""The adaptive-selection benchmark behind `benchmark_selection`: each image of a folder through
`compress_image` at each effort level, with its size, quality, selection time (wall clock and
CPU), seconds per megapixel and peak memory; then a summary per effort level, with the bits per
pixel each level saves against the first one listed.

Peak memory is the process's peak resident set (VmHWM, reset before each image through
/proc/self/clear_refs, so it covers decoding the file and the selection) and its growth over what
was resident before; it is None where /proc does not allow the reset.
"""
from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image

from benchmarks import memory
from benchmarks.errors import BenchmarkError
from compression.base import CodecError, CompressionResult
from compression.datasets import KODAK, PHOTOS, image_files
from compression.imageio import InvalidImage, load_upload
from compression.selection.options import EFFORTS
from compression.services import compress_image
from compression.targets import Target, parse_target

LARGE_MIN_MP = 12.0  # --large: phone-sized photos only


@dataclass(frozen=True)
class Plan:
    dataset: Path
    files: list[Path]
    target: Target
    efforts: list[str]


@dataclass
class Row:
    name: str
    effort: str
    result: CompressionResult
    wall: float
    cpu: float
    peak_mb: float | None
    growth_mb: float | None

    @property
    def megapixels(self) -> float:
        return self.result.width * self.result.height / 1e6


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def default_dataset(large: bool = False) -> Path:
    return PHOTOS if large else KODAK


def plan(*, dataset: Path | None, target: str, effort: str, large: bool, min_mp: float | None,
         limit: int | None) -> Plan:
    """The command's options checked (BenchmarkError says which is wrong) and the files chosen:
    `effort` is a comma-separated list; `--large` defaults to the photos folder and 12 MP."""
    efforts = [e.strip().lower() for e in effort.split(",") if e.strip()]
    bad = [e for e in efforts if e not in EFFORTS]
    if bad or not efforts:
        raise BenchmarkError(f"Unknown effort {','.join(bad) or effort!r}; use one or more of {', '.join(EFFORTS)}.")
    dataset = dataset or default_dataset(large)
    if not dataset.is_dir():
        raise BenchmarkError(f"Dataset folder {str(dataset)!r} does not exist; pass --dataset DIR.")
    try:
        tgt = parse_target(target)
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None
    if min_mp is None and large:
        min_mp = LARGE_MIN_MP
    return Plan(dataset, select_files(dataset, min_mp, limit), tgt, efforts)


def select_files(dataset: Path, min_mp: float | None, limit: int | None) -> list[Path]:
    """The folder's images in name order, those of at least `min_mp` megapixels, the first `limit`."""
    try:
        files = image_files(dataset)
    except FileNotFoundError:
        files = []
    if min_mp is not None:
        files = [p for p in files if _megapixels(p) >= min_mp]
    if limit is not None:
        if limit < 1:
            raise BenchmarkError(f"--limit must be at least 1, got {limit!r}.")
        files = files[:limit]
    if not files:
        raise BenchmarkError(f"No images found in {str(dataset)!r}" + (f" of at least {min_mp:g} MP." if min_mp else "."))
    return files


def _megapixels(path: Path) -> float:
    with Image.open(path) as im:  # the header only: no pixels decoded
        return im.width * im.height / 1e6


def run(plan: Plan, codec: str) -> Iterator[Row | Skipped]:
    """Every file at every effort level, in that order: a Row each, or Skipped with the reason
    when the file is not an image the portal takes or no codec can code it."""
    for path in plan.files:
        for effort in plan.efforts:
            try:
                yield measure(path, codec, plan.target, effort)
            except (InvalidImage, CodecError) as exc:
                yield Skipped(path.name, str(exc))


def measure(path: Path, codec: str, target: Target, effort: str) -> Row:
    """One selection, from the file's bytes (decoding counts) to the chosen result."""
    data = path.read_bytes()
    can_reset = memory.reset_peak()
    before = memory.status_kb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    upload = load_upload(data, filename=path.name, max_bytes=len(data) + 1, max_pixels=10**9)
    result = compress_image(image=upload.image, codec=codec, target=target, effort=effort)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = memory.status_kb("VmHWM") if can_reset else None
    del upload
    return Row(
        path.name, effort, result, wall, cpu,
        None if peak is None else peak / 1024,
        None if peak is None or before is None else (peak - before) / 1024,
    )


HEADER = (
    f"{'image':<28} {'MP':>5} {'effort':<7} {'codec':<13} {'q':>4} {'bytes':>9} {'bpp':>6} {'PSNR':>6} "
    f"{'met':>3} {'wall s':>7} {'cpu s':>6} {'s/MP':>5} {'peak MB':>7} {'+MB':>5} {'enc':>3}"
)


def format_row(row: Row | Skipped) -> str:
    if isinstance(row, Skipped):
        return f"{row.name[:28]:<28} skipped: {row.reason}"
    r = row.result
    quality = r.params.get("quality")
    psnr = "exact" if r.psnr is None else f"{r.psnr:.2f}"
    mem = "" if row.peak_mb is None else f"{row.peak_mb:7.0f} {row.growth_mb:5.0f}"
    return (
        f"{row.name[:28]:<28} {row.megapixels:>5.1f} {row.effort:<7} {r.codec:<13} "
        f"{'' if quality is None else f'{quality:g}':>4} {r.size:>9} {r.bpp:>6.3f} {psnr:>6} "
        f"{'yes' if r.params['target_met'] else 'NO':>3} {row.wall:>7.2f} {row.cpu:>6.2f} "
        f"{row.wall / row.megapixels:>5.2f} {mem} {len(r.candidates):>3}"
    )


def summary_lines(all_rows: list[Row], level: str, baseline: str) -> list[str]:
    """The summary of one effort level; the bpp saved is per image against `baseline`'s rows."""
    rows = [r for r in all_rows if r.effort == level]
    if not rows:
        return []
    results = [r.result for r in rows]
    total_bytes = sum(r.size for r in results)
    total_pixels = sum(r.width * r.height for r in results)
    mp = sum(r.megapixels for r in rows)
    finite_psnr = [r.psnr for r in results if r.psnr is not None]
    out = [
        f"effort {level}",
        f"  images           {len(rows)}",
        "  codecs chosen    " + ", ".join(f"{c} ×{n}" for c, n in Counter(r.codec for r in results).most_common()),
        f"  targets met      {sum(r.params['target_met'] for r in results)}/{len(rows)}",
        f"  bpp              mean {statistics.fmean(r.bpp for r in results):.4f} · overall {8 * total_bytes / total_pixels:.4f}",
    ]
    if level != baseline:
        base = {r.name: r.result for r in all_rows if r.effort == baseline}
        saved = [1 - r.result.bpp / base[r.name].bpp for r in rows if r.name in base and base[r.name].bpp > 0]
        if saved:
            out.append(f"  bpp saved vs {baseline:<8}mean {100 * statistics.fmean(saved):.1f} % per image")
    if finite_psnr:
        out.append(f"  PSNR dB          mean {statistics.fmean(finite_psnr):.2f} · min {min(finite_psnr):.2f}")
    out.append(f"  MS-SSIM          mean {statistics.fmean(r.msssim for r in results):.4f}")
    walls = [r.wall for r in rows]
    out.append(
        f"  time s (wall)    mean {statistics.fmean(walls):.2f} · median {statistics.median(walls):.2f} · "
        f"max {max(walls):.2f} (decoding the file included)"
    )
    out.append(
        f"  s per MP         wall {sum(walls) / mp:.3f} · CPU {sum(r.cpu for r in rows) / mp:.3f} "
        f"(all threads) · {mp / len(rows):.1f} MP per image"
    )
    peaks = [r.peak_mb for r in rows if r.peak_mb is not None]
    if peaks:
        growth = [r.growth_mb for r in rows if r.growth_mb is not None]
        out.append(f"  peak memory MB   max {max(peaks):.0f} resident · max {max(growth):.0f} above the resident before")
    out.append(f"  encodes          mean {statistics.fmean(len(r.candidates) for r in results):.1f} per image")
    return out
