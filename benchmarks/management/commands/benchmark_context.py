"""python manage.py benchmark_context [--images ../shared/data/kodak] [--limit 4] [--weights PATH]

What the learned codec's checkerboard context and entropy-parameter network are worth: the float
model's bpp per level with each switched off, against the model as trained
(benchmarks/context.py). A figure, never a test.
"""
from django.core.management.base import BaseCommand, CommandError

from benchmarks import context
from compression.datasets import KODAK, image_files
from compression.learned import coder as learned


class Command(BaseCommand):
    help = "bpp the learned codec's context and parameter network save, per level."

    def add_arguments(self, parser):
        parser.add_argument("--images", default=str(KODAK), help="image folder (default: ../shared/data/kodak)")
        parser.add_argument("--limit", type=int, default=None, help="only the first N images")
        parser.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")

    def handle(self, *args, **opts):
        try:
            paths = image_files(opts["images"], limit=opts["limit"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        loaded = learned.load_model("mscae", opts["weights"])
        report = context.run(loaded.model, paths, on_image=lambda path: self.stdout.write(f"{path.name}: done"))
        for line in context.report_lines(report):
            self.stdout.write(line)
