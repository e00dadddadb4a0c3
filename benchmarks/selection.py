"""The adaptive-selection benchmark behind `benchmark_selection`: each image of a folder through
`compress_image` at each effort level, with its size, quality, selection time (wall clock and
CPU), seconds per megapixel and peak memory; then a summary per effort level, with the bits per
pixel each level saves against the first one listed and the codecs that won.

**Checked at full size, independently**: every stored file is decoded again here and its
SSIMULACRA 2 and worst region measured on the whole image, outside the timings; a perceptual
target's misses are counted on the score and on the guard apart (`verify`).

`baseline` (e.g. `psnr:33`, what `balanced` meant before the perceptual targets) runs each image
once more at the first effort level and reports its bpp beside the target's, per image.
`megapixels` resizes every image (Lanczos) before the run, e.g. to make a 24 MP photo from an
8 MP one; resizing is not timed, and the selection then starts from the decoded pixels.

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
from compression import metrics
from compression.base import CodecError, CompressionResult
from compression.datasets import KODAK, PHOTOS, image_files
from compression.imageio import InvalidImage, load_upload
from compression.registry import get_codec
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
    baseline: Target | None = None
    megapixels: float | None = None


@dataclass
class Row:
    name: str
    effort: str
    result: CompressionResult
    wall: float
    cpu: float
    peak_mb: float | None
    growth_mb: float | None
    # SSIMULACRA 2 and worst region of the stored file, measured again here at full size.
    checked: tuple[float, float] | None = None
    baseline: CompressionResult | None = None  # the same image at `Plan.baseline`

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
         limit: int | None, baseline: str | None = None, megapixels: float | None = None,
         names: str | None = None) -> Plan:
    """The command's options checked (BenchmarkError says which is wrong) and the files chosen:
    `effort` is a comma-separated list; `--large` defaults to the photos folder and 12 MP;
    `names` keeps the files whose names contain one of its comma-separated parts."""
    efforts = [e.strip().lower() for e in effort.split(",") if e.strip()]
    bad = [e for e in efforts if e not in EFFORTS]
    if bad or not efforts:
        raise BenchmarkError(f"Unknown effort {','.join(bad) or effort!r}; use one or more of {', '.join(EFFORTS)}.")
    dataset = dataset or default_dataset(large)
    if not dataset.is_dir():
        raise BenchmarkError(f"Dataset folder {str(dataset)!r} does not exist; pass --dataset DIR.")
    try:
        tgt = parse_target(target)
        base = parse_target(baseline) if baseline else None
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None
    if megapixels is not None and not 0 < megapixels <= 100:
        raise BenchmarkError(f"--megapixels {megapixels!r} is out of range; use more than 0 and at most 100.")
    if min_mp is None and large:
        min_mp = LARGE_MIN_MP
    files = select_files(dataset, min_mp, None)
    if names:
        parts = [n.strip().lower() for n in names.split(",") if n.strip()]
        files = [f for f in files if any(part in f.name.lower() for part in parts)]
        if not files:
            raise BenchmarkError(f"No image in {str(dataset)!r} has a name containing any of {names!r}.")
    if limit is not None:
        if limit < 1:
            raise BenchmarkError(f"--limit must be at least 1, got {limit!r}.")
        files = files[:limit]
    return Plan(dataset, files, tgt, efforts, base, megapixels)


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
        for index, effort in enumerate(plan.efforts):
            try:
                row = measure(path, codec, plan.target, effort, megapixels=plan.megapixels)
                verify(row, path, plan)
                if plan.baseline is not None and index == 0:
                    row.baseline = measure(path, codec, plan.baseline, effort, megapixels=plan.megapixels).result
                yield row
            except (InvalidImage, CodecError) as exc:
                yield Skipped(path.name, str(exc))


def _load(path: Path, megapixels: float | None):
    """(what the timed part starts from, whether that is a file's bytes or decoded pixels)."""
    data = path.read_bytes()
    if megapixels is None:
        return data
    image = load_upload(data, filename=path.name, max_bytes=len(data) + 1, max_pixels=10**9).image
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def measure(path: Path, codec: str, target: Target, effort: str, *, megapixels: float | None = None) -> Row:
    """One selection, from the file's bytes (decoding counts) to the chosen result; from the
    resized pixels when `megapixels` is given."""
    source = _load(path, megapixels)
    can_reset = memory.reset_peak()
    before = memory.status_kb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    if isinstance(source, bytes):
        image = load_upload(source, filename=path.name, max_bytes=len(source) + 1, max_pixels=10**9).image
    else:
        image = source
    result = compress_image(image=image, codec=codec, target=target, effort=effort)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = memory.status_kb("VmHWM") if can_reset else None
    del image, source
    return Row(
        path.name, effort, result, wall, cpu,
        None if peak is None else peak / 1024,
        None if peak is None or before is None else (peak - before) / 1024,
    )


def verify(row: Row, path: Path, plan: Plan) -> None:
    """The stored file decoded again and measured on the whole image (SSIMULACRA 2 and its worst
    region), independently of what the selector reported; not timed."""
    source = _load(path, plan.megapixels)
    if isinstance(source, bytes):
        source = load_upload(source, filename=path.name, max_bytes=len(source) + 1, max_pixels=10**9).image
    decoded = get_codec(row.result.codec).decode(row.result.data)
    score = metrics.ssimulacra2(source, decoded, region=plan.target.region)
    row.checked = (score.score, score.worst)


def misses(rows: list[Row], target: Target) -> tuple[int, int]:
    """(files below the target's SSIMULACRA 2, files whose worst region is below the guard), by
    the independent full-size check; (0, 0) for targets that are not perceptual."""
    if target.min_ssimulacra2 is None:
        return 0, 0
    checked = [r.checked for r in rows if r.checked is not None]
    below = sum(score < target.min_ssimulacra2 for score, _ in checked)
    guard = sum(target.min_region is not None and worst < target.min_region for _, worst in checked)
    return below, guard


HEADER = (
    f"{'image':<28} {'MP':>5} {'effort':<7} {'codec':<13} {'q':>4} {'bytes':>9} {'bpp':>6} {'PSNR':>6} "
    f"{'S2':>5} {'worst':>5} {'met':>3} {'wall s':>7} {'cpu s':>6} {'s/MP':>5} {'peak MB':>7} {'+MB':>5} {'enc':>3}"
)


def format_row(row: Row | Skipped) -> str:
    if isinstance(row, Skipped):
        return f"{row.name[:28]:<28} skipped: {row.reason}"
    r = row.result
    quality = r.params.get("quality")
    psnr = "exact" if r.psnr is None else f"{r.psnr:.2f}"
    mem = "" if row.peak_mb is None else f"{row.peak_mb:7.0f} {row.growth_mb:5.0f}"
    score, worst = row.checked if row.checked is not None else (r.ssimulacra2, r.ssimulacra2_worst)
    return (
        f"{row.name[:28]:<28} {row.megapixels:>5.1f} {row.effort:<7} {r.codec:<13} "
        f"{'' if quality is None else f'{quality:g}':>4} {r.size:>9} {r.bpp:>6.3f} {psnr:>6} "
        f"{score:>5.1f} {worst:>5.1f} "
        f"{'yes' if r.params['target_met'] else 'NO':>3} {row.wall:>7.2f} {row.cpu:>6.2f} "
        f"{row.wall / row.megapixels:>5.2f} {mem} {len(r.candidates):>3}"
    )


def summary_lines(all_rows: list[Row], level: str, baseline: str, target: Target | None = None) -> list[str]:
    """The summary of one effort level; the bpp saved is per image against `baseline`'s rows;
    with `target`, the misses the independent full-size check found."""
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
        "  codecs chosen    " + ", ".join(
            f"{c} ×{n} ({100 * n / len(results):.0f} %)" for c, n in Counter(r.codec for r in results).most_common()
        ),
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
    checked = [r.checked for r in rows if r.checked is not None]
    if checked:
        out.append(
            f"  SSIMULACRA 2     mean {statistics.fmean(c[0] for c in checked):.1f} · min {min(c[0] for c in checked):.1f}"
            f" · worst region min {min(c[1] for c in checked):.1f} (full size, checked again here)"
        )
    if target is not None and target.min_ssimulacra2 is not None:
        below, guard = misses(rows, target)
        out.append(f"  misses           {below} below SSIMULACRA 2 {target.min_ssimulacra2:g} · "
                   f"{guard} with a region below {target.min_region:g} (of {len(checked)} checked)")
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


def baseline_lines(rows: list[Row], target: Target, baseline: Target) -> list[str]:
    """Per image, bpp at `baseline` (before) and at `target` (after), the ratio, and each file's
    SSIMULACRA 2: what the perceptual targets cost or save."""
    pairs = [r for r in rows if r.baseline is not None]
    if not pairs:
        return []
    out = [f"bpp per image: {baseline.spec} (before) → {target.spec} (after), effort {pairs[0].effort}",
           f"  {'image':<40} {'before':>7} {'codec':<13} {'after':>7} {'codec':<13} {'after/before':>12} "
           f"{'S2 before':>9} {'S2 after':>8}"]
    ratios = []
    for r in pairs:
        b, a = r.baseline, r.result
        ratio = a.bpp / b.bpp if b.bpp > 0 else float("nan")
        ratios.append(ratio)
        out.append(f"  {r.name[:40]:<40} {b.bpp:>7.4f} {b.codec:<13} {a.bpp:>7.4f} {a.codec:<13} {ratio:>12.2f} "
                   f"{b.ssimulacra2:>9.1f} {a.ssimulacra2:>8.1f}")
    finite = [x for x in ratios if x == x]
    if finite:
        out.append(f"  after/before: median {statistics.median(finite):.2f} · min {min(finite):.2f} · "
                   f"max {max(finite):.2f} · larger {sum(x > 1 for x in finite)}/{len(finite)}")
    return out
