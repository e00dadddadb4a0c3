"""python manage.py benchmark_worker_start [--jobs 10] [--images ../shared/data/kodak] [--codec mscae]

A fresh worker process's first job against its tenth, with and without the start-up warm-up
(benchmarks/worker_start.py). A figure, never a test."""
import json

from django.core.management.base import BaseCommand

from benchmarks import worker_start
from compression.datasets import KODAK


class Command(BaseCommand):
    help = "First vs tenth compression job of a fresh worker process, with and without the start-up warm-up."

    def add_arguments(self, parser):
        parser.add_argument("--jobs", type=int, default=10)
        parser.add_argument("--images", default=str(KODAK))
        parser.add_argument("--codec", default="mscae", help="the codec each job searches (default: the learned one)")
        parser.add_argument("--child", action="store_true", help="internal: run one variant in this process")
        parser.add_argument("--warm", action="store_true", help="internal: with the warm-up")

    def handle(self, *args, **opts):
        if opts["child"]:
            result = worker_start.run_jobs(folder=opts["images"], jobs=opts["jobs"], codec=opts["codec"], warm=opts["warm"])
            self.stdout.write(json.dumps(result))
            return
        results = worker_start.measure(folder=opts["images"], jobs=opts["jobs"], codec=opts["codec"])
        for line in worker_start.describe(results):
            self.stdout.write(line)
        self.stdout.write(json.dumps(results))
