"""`python manage.py benchmark_selection [--dataset DIR] [--target balanced] [--codec auto]
[--effort fast,default,max] [--large [--min-mp 12]] [--names a,b] [--limit N]
[--baseline psnr:33] [--megapixels 24]`

Runs the adaptive selection on every image of a folder and prints, per image and effort level,
the chosen codec and quality, size, bits per pixel, achieved PSNR and SSIMULACRA 2 with its worst
region (measured again at full size, untimed), the selection time (wall clock and CPU), seconds
per megapixel and peak memory; then a summary per effort level, with the bits per pixel each
level saves against the first one listed, the codecs that won and the misses at full size on the
score and on the worst-region guard (benchmarks/selection.py). `--baseline` compresses each image
again at another target (at the first effort) and lists bpp before and after per image;
`--megapixels` resizes every image first (a 24 MP photo from an 8 MP one).

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
        parser.add_argument("--names", default=None, help="Only images whose names contain one of these (comma-separated).")
        parser.add_argument("--baseline", default=None, help="Also compress at this target (first effort) and compare bpp, e.g. psnr:33.")
        parser.add_argument("--megapixels", type=float, default=None, help="Resize every image to about this many megapixels first.")

    def handle(self, *args, dataset=None, target="balanced", codec="auto", effort="default", large=False,
               min_mp=None, limit=None, names=None, baseline=None, megapixels=None, **options):
        try:
            plan = selection.plan(dataset=dataset, target=target, effort=effort, large=large, min_mp=min_mp,
                                  limit=limit, baseline=baseline, megapixels=megapixels, names=names)
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
        tgt = plan.target
        self.stdout.write(
            f"Dataset {plan.dataset} · {len(plan.files)} images · target {tgt.spec} ({tgt.describe()}) · codec {codec} · "
            f"effort {', '.join(plan.efforts)}" + (f" · resized to {plan.megapixels:g} MP" if plan.megapixels else "")
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
            for line in selection.summary_lines(rows, level, plan.efforts[0], plan.target):
                self.stdout.write(line)
        if plan.baseline is not None:
            for line in selection.baseline_lines(rows, plan.target, plan.baseline):
                self.stdout.write(line)
