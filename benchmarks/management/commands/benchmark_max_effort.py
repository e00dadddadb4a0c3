"""python manage.py benchmark_max_effort [--images ../shared/data/kodak] [--names kodim01 kodim07 ...]
       [--qualities 20 50 80] [--steps 200] [--snapshots 50 100] [--json out.json]

What the learned codec's max effort (SGA refinement of the latents, refine.py) buys with the
shipped weights: for every photo and quality, the default file and the refined one (after each
snapshot step count, and after all steps), their bpp from the real file size and PSNR from the
decoded file, the BD-rate of each step count against default effort, and the seconds per
megapixel of refining (benchmarks/max_effort.py). A figure, never a test; evaluation only,
nothing is trained.
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks import max_effort
from benchmarks.errors import BenchmarkError
from compression.datasets import KODAK
from compression.learned import coder as learned


class Command(BaseCommand):
    help = "BD-rate gain and time per megapixel of the learned codec's max effort (latent refinement)."

    def add_arguments(self, parser):
        parser.add_argument("--images", default=str(KODAK), help="image folder (default: ../shared/data/kodak)")
        parser.add_argument("--names", nargs="*", default=max_effort.DEFAULT_NAMES)
        parser.add_argument("--qualities", nargs="*", type=float, default=[20, 50, 80])
        parser.add_argument("--steps", type=int, default=200)
        parser.add_argument("--snapshots", nargs="*", type=int, default=[50, 100])
        parser.add_argument("--json", default=None)

    def handle(self, *args, **opts):
        loaded = learned.load_model("mscae")

        def show(row):
            self.stdout.write(max_effort.row_line(row))
            self.stdout.flush()

        try:
            rows, summary = max_effort.run(loaded, opts["images"], opts["names"], opts["qualities"], opts["steps"],
                                           snapshots=opts["snapshots"], on_row=show)
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
        for line in max_effort.summary_lines(summary, opts["names"]):
            self.stdout.write(line)
        if opts["json"]:
            Path(opts["json"]).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
