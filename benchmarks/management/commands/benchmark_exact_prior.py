"""python manage.py benchmark_exact_prior [--images ../shared/data/kodak] [--json out.json]

What the exact (integer) decoder-side probability model costs: for every image and every trained
level, the float model's own figures (its likelihoods' bits, its reconstruction) against the real
`.msc` file (integer h_s/context/parameter networks, quantised CDFs, range coder) and its decoded
pixels; BD-rate of the files against the float model, and the decode time
(benchmarks/exact_prior.py). A figure, never a test.
"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks import exact_prior
from compression.datasets import KODAK, image_files
from compression.learned import coder as learned


class Command(BaseCommand):
    help = "RD cost and decode time of the learned codec's exact integer prior against its float model."

    def add_arguments(self, parser):
        parser.add_argument("--images", default=str(KODAK), help="image folder (default: ../shared/data/kodak)")
        parser.add_argument("--limit", type=int, default=None, help="only the first N images")
        parser.add_argument("--json", default=None)

    def handle(self, *args, **opts):
        try:
            paths = image_files(opts["images"], limit=opts["limit"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        loaded = learned.load_model("mscae")
        report = exact_prior.run(loaded, paths, on_image=lambda path: self.stdout.write(f"{path.name}: done"))
        for line in exact_prior.report_lines(report):
            self.stdout.write(line)
        if opts["json"]:
            Path(opts["json"]).write_text(exact_prior.to_json(report))
