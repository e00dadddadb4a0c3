"""python manage.py benchmark_large_photo PHOTO [--megapixels 24] [--quality 50]

Encode + decode one large photo with the shipped learned codec and report size, PSNR, times and
the process's peak resident memory (the tiled coding's bound; benchmarks/large_photo.py). A
figure, never a test."""
import numpy as np
from django.core.management.base import BaseCommand, CommandError

from benchmarks import large_photo
from benchmarks.errors import BenchmarkError
from compression.learned import coder as learned


class Command(BaseCommand):
    help = "Peak memory and time of the learned codec on one large photo (resized to --megapixels)."

    def add_arguments(self, parser):
        parser.add_argument("photo")
        parser.add_argument("--megapixels", type=float, default=None, help="resize to this many megapixels first")
        parser.add_argument("--quality", type=float, default=50)

    def handle(self, *args, **opts):
        try:
            image = large_photo.load_photo(opts["photo"], opts["megapixels"])
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from exc
        pixels = np.asarray(image)
        loaded = learned.load_model("mscae")
        loaded_mb = large_photo.peak_rss_mb()
        result = large_photo.measure(loaded, pixels, opts["quality"])
        self.stdout.write(large_photo.describe(result, loaded_mb))
