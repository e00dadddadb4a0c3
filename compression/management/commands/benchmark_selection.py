"""`python manage.py benchmark_selection [--dataset DIR] [--target balanced] [--codec auto]
[--effort fast,default,max] [--large [--min-mp 12]] [--limit N]`

Runs the adaptive selection on every image of a folder and prints, per image and effort level,
the chosen codec and quality, size, bits per pixel, achieved PSNR / MS-SSIM, the selection time
(wall clock and CPU), seconds per megapixel and peak memory; then a summary per effort level,
with the bits per pixel each level saves against the first one listed.

`--large` benchmarks phone-sized photos (default folder ../shared/data/photos, images of at least
`--min-mp` megapixels). Peak memory is the process's peak resident set (VmHWM, reset before each
image through /proc/self/clear_refs, so it covers decoding the file and the selection) and its
growth over what was resident before; it is left out where /proc does not allow the reset.
"""
from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compression.base import CodecError, CompressionResult
from compression.imageio import InvalidImage, load_upload
from compression.selection.options import EFFORTS
from compression.services import compress_image
from compression.targets import parse_target

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".avif", ".gif", ".bmp", ".tif", ".tiff"}


def default_dataset(large: bool = False) -> Path:
    return (Path(settings.BASE_DIR) / ".." / "shared" / "data" / ("photos" if large else "kodak")).resolve()


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_memory() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


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


class Command(BaseCommand):
    help = "Benchmark adaptive format selection on a folder of images (default: ../shared/data/kodak)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", type=Path, default=None, help="Folder of images.")
        parser.add_argument("--target", default="balanced", help="Quality target, e.g. balanced, psnr:35, bytes:50000.")
        parser.add_argument("--codec", default="auto", help="auto (all candidates) or one codec name.")
        parser.add_argument(
            "--effort", default="default", help="Effort level(s), comma-separated: fast, default, max."
        )
        parser.add_argument("--large", action="store_true", help="Large photos (default folder ../shared/data/photos).")
        parser.add_argument("--min-mp", type=float, default=None, help="Only images of at least this many megapixels (--large: 12).")
        parser.add_argument("--limit", type=int, default=None, help="Only the first N images (sorted by name).")

    def handle(self, *args, dataset=None, target="balanced", codec="auto", effort="default", large=False,
               min_mp=None, limit=None, **options):
        efforts = [e.strip().lower() for e in effort.split(",") if e.strip()]
        bad = [e for e in efforts if e not in EFFORTS]
        if bad or not efforts:
            raise CommandError(f"Unknown effort {','.join(bad) or effort!r}; use one or more of {', '.join(EFFORTS)}.")
        dataset = dataset or default_dataset(large)
        if not dataset.is_dir():
            raise CommandError(f"Dataset folder {str(dataset)!r} does not exist; pass --dataset DIR.")
        try:
            tgt = parse_target(target)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if min_mp is None and large:
            min_mp = 12.0
        files = self._files(dataset, min_mp, limit)

        self.stdout.write(
            f"Dataset {dataset} · {len(files)} images · target {tgt.spec} ({tgt.describe()}) · codec {codec} · "
            f"effort {', '.join(efforts)}"
        )
        header = (
            f"{'image':<28} {'MP':>5} {'effort':<7} {'codec':<13} {'q':>4} {'bytes':>9} {'bpp':>6} {'PSNR':>6} "
            f"{'met':>3} {'wall s':>7} {'cpu s':>6} {'s/MP':>5} {'peak MB':>7} {'+MB':>5} {'enc':>3}"
        )
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        rows: list[Row] = []
        for path in files:
            for level in efforts:
                row = self._run(path, codec, tgt, level)
                if row is not None:
                    rows.append(row)
                    self._print_row(row)
        if not rows:
            raise CommandError("No image could be processed.")
        self.stdout.write("-" * len(header))
        for level in efforts:
            self._summary([r for r in rows if r.effort == level], rows, level, efforts[0])

    def _files(self, dataset: Path, min_mp: float | None, limit: int | None) -> list[Path]:
        from PIL import Image

        files = sorted(p for p in dataset.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if min_mp is not None:
            def megapixels(p):
                with Image.open(p) as im:  # the header only: no pixels decoded
                    return im.width * im.height / 1e6

            files = [p for p in files if megapixels(p) >= min_mp]
        if limit is not None:
            if limit < 1:
                raise CommandError(f"--limit must be at least 1, got {limit!r}.")
            files = files[:limit]
        if not files:
            raise CommandError(f"No images found in {str(dataset)!r}" + (f" of at least {min_mp:g} MP." if min_mp else "."))
        return files

    def _run(self, path: Path, codec: str, tgt, effort: str) -> Row | None:
        data = path.read_bytes()
        can_reset = _reset_peak_memory()
        before = _status_kb("VmRSS")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            upload = load_upload(data, filename=path.name, max_bytes=len(data) + 1, max_pixels=10**9)
            result = compress_image(image=upload.image, codec=codec, target=tgt, effort=effort)
        except (InvalidImage, CodecError) as exc:
            self.stdout.write(f"{path.name[:28]:<28} skipped: {exc}")
            return None
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = _status_kb("VmHWM") if can_reset else None
        del upload
        return Row(
            path.name, effort, result, wall, cpu,
            None if peak is None else peak / 1024,
            None if peak is None or before is None else (peak - before) / 1024,
        )

    def _print_row(self, row: Row) -> None:
        r = row.result
        quality = r.params.get("quality")
        psnr = "exact" if r.psnr is None else f"{r.psnr:.2f}"
        mem = "" if row.peak_mb is None else f"{row.peak_mb:7.0f} {row.growth_mb:5.0f}"
        self.stdout.write(
            f"{row.name[:28]:<28} {row.megapixels:>5.1f} {row.effort:<7} {r.codec:<13} "
            f"{'' if quality is None else f'{quality:g}':>4} {r.size:>9} {r.bpp:>6.3f} {psnr:>6} "
            f"{'yes' if r.params['target_met'] else 'NO':>3} {row.wall:>7.2f} {row.cpu:>6.2f} "
            f"{row.wall / row.megapixels:>5.2f} {mem} {len(r.candidates):>3}"
        )

    def _summary(self, rows: list[Row], all_rows: list[Row], level: str, baseline: str) -> None:
        if not rows:
            return
        results = [r.result for r in rows]
        total_bytes = sum(r.size for r in results)
        total_pixels = sum(r.width * r.height for r in results)
        mp = sum(r.megapixels for r in rows)
        finite_psnr = [r.psnr for r in results if r.psnr is not None]
        out = self.stdout.write
        out(f"effort {level}")
        out(f"  images           {len(rows)}")
        out("  codecs chosen    " + ", ".join(f"{c} ×{n}" for c, n in Counter(r.codec for r in results).most_common()))
        out(f"  targets met      {sum(r.params['target_met'] for r in results)}/{len(rows)}")
        out(f"  bpp              mean {statistics.fmean(r.bpp for r in results):.4f} · overall {8 * total_bytes / total_pixels:.4f}")
        if level != baseline:
            base = {r.name: r.result for r in all_rows if r.effort == baseline}
            saved = [1 - r.result.bpp / base[r.name].bpp for r in rows if r.name in base and base[r.name].bpp > 0]
            if saved:
                out(f"  bpp saved vs {baseline:<8}mean {100 * statistics.fmean(saved):.1f} % per image")
        if finite_psnr:
            out(f"  PSNR dB          mean {statistics.fmean(finite_psnr):.2f} · min {min(finite_psnr):.2f}")
        out(f"  MS-SSIM          mean {statistics.fmean(r.msssim for r in results):.4f}")
        walls = [r.wall for r in rows]
        out(
            f"  time s (wall)    mean {statistics.fmean(walls):.2f} · median {statistics.median(walls):.2f} · "
            f"max {max(walls):.2f} (decoding the file included)"
        )
        out(
            f"  s per MP         wall {sum(walls) / mp:.3f} · CPU {sum(r.cpu for r in rows) / mp:.3f} "
            f"(all threads) · {mp / len(rows):.1f} MP per image"
        )
        peaks = [r.peak_mb for r in rows if r.peak_mb is not None]
        if peaks:
            growth = [r.growth_mb for r in rows if r.growth_mb is not None]
            out(f"  peak memory MB   max {max(peaks):.0f} resident · max {max(growth):.0f} above the resident before")
        out(f"  encodes          mean {statistics.fmean(len(r.candidates) for r in results):.1f} per image")
