"""python manage.py benchmark_storage [--photos DIR] [--kodak DIR] [--kodak-count 3] [--limit N] [--sample N]
                                     [--modes original,saver] [--codec auto] [--target balanced] [--no-24mp]

Store each photo (and a few Kodak PNGs) through the real upload service and run its job with the
worker's code, in each storage mode, and report stored / uploaded bytes per photo and per mode,
where the bytes go, the time the original's JPEG XL transcoding and its verification add (s/MP),
and the worker's peak memory on a 24 MP photo (benchmarks/storage.py). Run it with a scratch
DATA_DIR (migrated): it makes and deletes its own user there. A figure, never a test."""
from django.core.management.base import BaseCommand, CommandError

from benchmarks import storage
from benchmarks.errors import BenchmarkError
from compression.datasets import KODAK, PHOTOS


class Command(BaseCommand):
    help = "Stored bytes per uploaded byte in each storage mode, transcoding time and peak memory at 24 MP."

    def add_arguments(self, parser):
        parser.add_argument("--photos", default=str(PHOTOS))
        parser.add_argument("--kodak", default=str(KODAK))
        parser.add_argument("--kodak-count", type=int, default=3, help="Kodak PNGs stored too (0: none)")
        parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
        parser.add_argument("--sample", type=int, default=None, help="N photos evenly spread over the folder")
        parser.add_argument("--modes", default=",".join(storage.MODES))
        parser.add_argument("--codec", default="auto")
        parser.add_argument("--target", default="balanced")
        parser.add_argument("--no-24mp", action="store_true", help="skip the 24 MP memory measurement")

    def handle(self, *args, **opts):
        modes = tuple(m.strip() for m in opts["modes"].split(",") if m.strip())
        if not modes or set(modes) - set(storage.MODES):
            raise CommandError(f"--modes {opts['modes']!r}: choose from {', '.join(storage.MODES)}.")
        try:
            report = storage.run(photos=opts["photos"], kodak=opts["kodak"], kodak_count=opts["kodak_count"],
                                 limit=opts["limit"], sample=opts["sample"], modes=modes, codec=opts["codec"], target=opts["target"],
                                 big=not opts["no_24mp"], log=self.stdout.write)
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from exc
        for line in report.lines():
            self.stdout.write(line)
