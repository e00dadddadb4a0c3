"""python manage.py benchmark_codec --dataset ../shared/data/kodak

The learned codec at each trained quality level against WebP and AVIF measured in the same run:
mean bits per pixel from real file sizes, mean RGB PSNR, BD-rate, encode+decode time
(benchmarks/codec.py).
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks import codec as benchmark
from benchmarks.errors import BenchmarkError
from compression.datasets import KODAK
from compression.learned import coder as learned


class Command(BaseCommand):
    help = "Rate–distortion of the learned codec vs WebP and AVIF (real file sizes), with BD-rate."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", default=str(KODAK))
        parser.add_argument("--skip", type=int, default=0,
                            help="leave out the first N images (BSDS500 test: its first 24 validate training)")
        parser.add_argument("--limit", type=int, default=None, help="N images only")
        parser.add_argument("--weights", default=None)
        parser.add_argument("--levels", type=int, default=None,
                            help="number of quality points for the learned codec (default: its trained levels)")

    def handle(self, *args, **opts):
        try:
            paths = benchmark.dataset_images(opts["dataset"], skip=opts["skip"], limit=opts["limit"])
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
        loaded = learned.load_model("mscae", opts["weights"])
        measured = benchmark.measure(
            paths, loaded, opts["levels"] or loaded.num_levels,
            progress=lambda i, path: self.stderr.write(f"[{i}/{len(paths)}] {path.name}"),
        )
        self.stdout.write(f"\n{len(paths)} images from {Path(opts['dataset'])}\n")
        for line in benchmark.report_lines(measured):
            self.stdout.write(line)
