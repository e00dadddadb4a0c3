"""python manage.py benchmark_metadata [--dataset DIR] [--limit N] [--skip N] [--no-heic]

Per photo: reading its metadata, removing its location for a share, adding the renditions' EXIF to
a JPEG, WebP and AVIF file, and decoding a HEIC of it against the JPEG (benchmarks/metadata.py).
A figure, never a test: the output goes to docs/benchmarks/photo_metadata.md by hand."""
from django.core.management.base import BaseCommand, CommandError

from benchmarks import metadata
from compression.datasets import PHOTOS, image_files


class Command(BaseCommand):
    help = "What photo metadata (EXIF reading, location removal, renditions' EXIF, HEIC decoding) costs per photo."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", default=str(PHOTOS))
        parser.add_argument("--limit", type=int, default=6)
        parser.add_argument("--skip", type=int, default=0)
        parser.add_argument("--no-heic", action="store_true", help="skip the HEIC encode and decode (slow at 20 MP)")

    def handle(self, *args, **opts):
        try:
            paths = image_files(opts["dataset"], limit=opts["limit"], skip=opts["skip"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        rows = []
        for path in paths:
            rows.append(metadata.measure(path, heic=not opts["no_heic"]))
            self.stderr.write(f"{path.name}: done")
        self.stdout.write(metadata.report(rows))
