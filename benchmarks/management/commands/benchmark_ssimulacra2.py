"""`python manage.py benchmark_ssimulacra2 [--photo P] [--sizes 1,4,24] [--threads 1,2]
[--repeats 3] [--reference]`

Seconds per megapixel (wall and CPU) and peak memory of the SSIMULACRA 2 metric the selector
uses, on one photo resized to each size and scored against its JPEG, per thread count; with
`--reference`, the PyPI `ssimulacra2` package on the smallest size (benchmarks/ssimulacra2.py).
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks import ssimulacra2 as bench
from benchmarks.errors import BenchmarkError


class Command(BaseCommand):
    help = "Speed and peak memory of SSIMULACRA 2 (compression.ssimulacra2) at several image sizes."

    def add_arguments(self, parser):
        parser.add_argument("--photo", type=Path, default=bench.DEFAULT_PHOTO, help="Photo to resize and score.")
        parser.add_argument("--sizes", default="1,4,24", help="Megapixels, comma-separated.")
        parser.add_argument("--threads", default="1,2", help="Thread counts to try, comma-separated.")
        parser.add_argument("--repeats", type=int, default=3, help="Runs per figure; the best is reported.")
        parser.add_argument("--reference", action="store_true", help="Also time the ssimulacra2 package (smallest size).")

    def handle(self, *args, photo=bench.DEFAULT_PHOTO, sizes="1,4,24", threads="1,2", repeats=3,
               reference=False, **options):
        try:
            megapixels = bench.parse_list(sizes, float, "--sizes")
            thread_counts = bench.parse_list(threads, int, "--threads")
            if repeats < 1:
                raise BenchmarkError(f"--repeats must be at least 1, got {repeats!r}.")
            self.stdout.write(f"Photo {photo} · JPEG q{bench.JPEG_QUALITY} · best of {repeats}")
            self.stdout.write(bench.HEADER)
            for index, mp in enumerate(sorted(megapixels)):
                ref, dist = bench.load_pair(photo, mp)
                for count in thread_counts:
                    self.stdout.write(bench.format_row(bench.measure(ref, dist, count, repeats)))
                if reference and index == 0:
                    row = bench.measure_package(ref, dist)
                    self.stdout.write(bench.format_row(row) if row else "ssimulacra2 package not installed")
                del ref, dist
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
