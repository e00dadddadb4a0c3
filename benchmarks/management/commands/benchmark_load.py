"""python manage.py benchmark_load [--users 20] [--duration 120] [--images DIR] [--base-url URL]

N users upload images concurrently through the API of a server on this machine for a fixed time,
then every accepted upload is followed until its job ends; the report gives errors by kind, the
upload request's latency, job outcomes, throughput and (when the server reports them) queue wait
and job run time. Bounded in users and time, loopback only. See docs/benchmarks/load.md; the work
is in benchmarks/load/.

The command must run with the server's settings (same DATA_DIR or DATABASE_URL): it makes its
benchmark accounts and their API tokens directly in that database, and deletes them, their images
and their blobs at the end unless --keep.
"""
from django.core.management.base import BaseCommand, CommandError

from benchmarks.errors import BenchmarkError
from benchmarks.load import run
from benchmarks.load.options import MAX_DURATION_S, MAX_UPLOADS, MAX_USERS


class Command(BaseCommand):
    help = (
        "Concurrency benchmark: N users upload images through the API of a server on this machine "
        "for a fixed time; reports errors, upload latency, job outcomes and throughput."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the server (loopback only)")
        parser.add_argument("--users", type=int, default=20, help=f"concurrent users, 1-{MAX_USERS}")
        parser.add_argument("--duration", type=float, default=120, help=f"seconds of uploading, 1-{MAX_DURATION_S}")
        parser.add_argument("--max-uploads", type=int, default=1000,
                            help=f"stop starting uploads after this many in all, 1-{MAX_UPLOADS}")
        parser.add_argument("--pace", type=float, default=0,
                            help="seconds between the starts of one user's uploads (0: back to back)")
        parser.add_argument("--images", default=None, help="folder of images (default ../shared/data/kodak)")
        parser.add_argument("--codec", default="auto")
        parser.add_argument("--target", default="", help="quality target sent with each upload (default: the server's)")
        parser.add_argument("--poll-timeout", type=float, default=600,
                            help="seconds to wait for the jobs to end after the upload phase")
        parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between polling rounds")
        parser.add_argument("--poll-window", type=int, default=10,
                            help="unfinished jobs asked about per round, oldest first")
        parser.add_argument("--request-timeout", type=float, default=120, help="seconds before one request is given up")
        parser.add_argument("--json", dest="json_path", default=None, help="also write the report here as JSON")
        parser.add_argument("--keep", action="store_true", help="keep the benchmark users and their images")
        parser.add_argument("--cleanup", metavar="RUN_ID", default=None,
                            help="only delete the users and images of an earlier --keep run, then stop")

    def handle(self, *args, **opts):
        try:
            if opts["cleanup"] is not None:
                self.stdout.write(run.clean_up_run(opts["cleanup"]))
            else:
                run.benchmark(run.check_options(opts), log=self.stdout.write)
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
