"""python manage.py benchmark_export [--images DIR] [--gigabytes 1]

Export about a gigabyte of originals through the API of a gunicorn process started for the run,
and report that process's resident memory before and during the streamed download
(benchmarks/export.py). Run it with a scratch DATA_DIR (migrated): it makes and deletes its own
user there. A figure, never a test."""
from django.core.management.base import BaseCommand, CommandError

from benchmarks import export
from benchmarks.errors import BenchmarkError
from compression.datasets import PHOTOS


class Command(BaseCommand):
    help = "Peak memory of the web process while it streams an export of about --gigabytes of originals."

    def add_arguments(self, parser):
        parser.add_argument("--images", default=str(PHOTOS), help="the photos stored (again and again) to fill the vault")
        parser.add_argument("--gigabytes", type=float, default=1.0)

    def handle(self, *args, **opts):
        if not 0 < opts["gigabytes"] <= 20:
            raise CommandError(f"--gigabytes {opts['gigabytes']}: choose a size between 0 and 20.")
        try:
            report = export.run(folder=opts["images"], gigabytes=opts["gigabytes"], log=self.stdout.write)
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from exc
        for line in report.lines():
            self.stdout.write(line)
