"""`python manage.py benchmark_selection --dataset DIR [--target balanced] [--codec auto] [--limit N]`

Runs the adaptive selection on every image of a folder and prints, per image and in total, the
chosen codec and quality, size, bits per pixel, achieved PSNR / MS-SSIM and the selection time.
"""
from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compression.base import CodecError
from compression.imageio import InvalidImage, load_upload
from compression.services import compress_image
from compression.targets import parse_target

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".avif", ".gif", ".bmp", ".tif", ".tiff"}


def default_dataset() -> Path:
    return (Path(settings.BASE_DIR) / ".." / "shared" / "data" / "kodak").resolve()


class Command(BaseCommand):
    help = "Benchmark adaptive format selection on a folder of images (default: ../shared/data/kodak)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", type=Path, default=None, help="Folder of images.")
        parser.add_argument("--target", default="balanced", help="Quality target, e.g. balanced, psnr:35, bytes:50000.")
        parser.add_argument("--codec", default="auto", help="auto (all candidates) or one codec name.")
        parser.add_argument("--limit", type=int, default=None, help="Only the first N images (sorted by name).")

    def handle(self, *args, dataset=None, target="balanced", codec="auto", limit=None, **options):
        dataset = dataset or default_dataset()
        if not dataset.is_dir():
            raise CommandError(f"Dataset folder {str(dataset)!r} does not exist; pass --dataset DIR.")
        try:
            tgt = parse_target(target)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        files = sorted(p for p in dataset.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit is not None:
            if limit < 1:
                raise CommandError(f"--limit must be at least 1, got {limit!r}.")
            files = files[:limit]
        if not files:
            raise CommandError(f"No images found in {str(dataset)!r}.")

        self.stdout.write(f"Dataset {dataset} · {len(files)} images · target {tgt.spec} ({tgt.describe()}) · codec {codec}")
        header = f"{'image':<16} {'codec':<14} {'q':>4} {'bytes':>9} {'bpp':>6} {'PSNR':>7} {'MS-SSIM':>8} {'met':>4} {'time s':>7} {'encodes':>7}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        rows = []
        wall = time.perf_counter()
        for path in files:
            try:
                upload = load_upload(path.read_bytes(), filename=path.name)
                result = compress_image(image=upload.image, codec=codec, target=tgt)
            except (InvalidImage, CodecError) as exc:
                self.stdout.write(f"{path.name:<16} skipped: {exc}")
                continue
            quality = result.params.get("quality")
            psnr = "exact" if result.psnr is None else f"{result.psnr:.2f}"
            self.stdout.write(
                f"{path.name:<16} {result.codec:<14} {'' if quality is None else f'{quality:g}':>4} "
                f"{result.size:>9} {result.bpp:>6.3f} {psnr:>7} {result.msssim:>8.4f} "
                f"{'yes' if result.params['target_met'] else 'NO':>4} {result.seconds:>7.2f} {len(result.candidates):>7}"
            )
            rows.append(result)
        wall = time.perf_counter() - wall
        if not rows:
            raise CommandError("No image could be processed.")

        seconds = [r.seconds for r in rows]
        finite_psnr = [r.psnr for r in rows if r.psnr is not None]
        total_bytes = sum(r.size for r in rows)
        total_pixels = sum(r.width * r.height for r in rows)
        self.stdout.write("-" * len(header))
        self.stdout.write(f"images           {len(rows)}")
        self.stdout.write("codecs chosen    " + ", ".join(f"{c} ×{n}" for c, n in Counter(r.codec for r in rows).most_common()))
        self.stdout.write(f"targets met      {sum(r.params['target_met'] for r in rows)}/{len(rows)}")
        self.stdout.write(f"total bytes      {total_bytes}  (mean {total_bytes / len(rows):.0f} per image)")
        self.stdout.write(f"bpp              mean {statistics.fmean(r.bpp for r in rows):.3f} · overall {8 * total_bytes / total_pixels:.3f}")
        if finite_psnr:
            self.stdout.write(f"PSNR dB          mean {statistics.fmean(finite_psnr):.2f} · min {min(finite_psnr):.2f}"
                              + (f" ({len(rows) - len(finite_psnr)} exact)" if len(finite_psnr) < len(rows) else ""))
        self.stdout.write(f"MS-SSIM          mean {statistics.fmean(r.msssim for r in rows):.4f} · min {min(r.msssim for r in rows):.4f}")
        self.stdout.write(
            f"selection time s mean {statistics.fmean(seconds):.2f} · median {statistics.median(seconds):.2f} · "
            f"max {max(seconds):.2f} · total {sum(seconds):.1f} (wall {wall:.1f}, incl. decoding the files)"
        )
        self.stdout.write(f"encodes          mean {statistics.fmean(len(r.candidates) for r in rows):.1f} per image")
