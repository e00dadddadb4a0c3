"""`python manage.py benchmark_selection [--dataset DIR] [--target balanced] [--codec auto]
[--effort fast,default,max] [--large [--min-mp 12]] [--limit N]`

Runs the adaptive selection on every image of a folder and prints, per image and effort level,
the chosen codec and quality, size, bits per pixel, achieved PSNR / MS-SSIM, the selection time
(wall clock and CPU), seconds per megapixel and peak memory; then a summary per effort level,
with the bits per pixel each level saves against the first one listed (benchmarks/selection.py).

`--large` benchmarks phone-sized photos (default folder ../shared/data/photos, images of at least
`--min-mp` megapixels).
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks import selection
from benchmarks.errors import BenchmarkError


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
        try:
            plan = selection.plan(dataset=dataset, target=target, effort=effort, large=large, min_mp=min_mp, limit=limit)
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
        tgt = plan.target
        self.stdout.write(
            f"Dataset {plan.dataset} · {len(plan.files)} images · target {tgt.spec} ({tgt.describe()}) · codec {codec} · "
            f"effort {', '.join(plan.efforts)}"
        )
        self.stdout.write(selection.HEADER)
        self.stdout.write("-" * len(selection.HEADER))
        rows = []
        for row in selection.run(plan, codec):
            self.stdout.write(selection.format_row(row))
            if isinstance(row, selection.Row):
                rows.append(row)
        if not rows:
            raise CommandError("No image could be processed.")
        self.stdout.write("-" * len(selection.HEADER))
        for level in plan.efforts:
            for line in selection.summary_lines(rows, level, plan.efforts[0]):
                self.stdout.write(line)
