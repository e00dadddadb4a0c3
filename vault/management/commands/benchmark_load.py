"""python manage.py benchmark_load [--users 20] [--duration 120] [--images DIR] [--base-url URL]

N users upload images concurrently through the API of a server on this machine for a fixed time,
then every accepted upload is followed until its job ends; the report gives errors by kind, the
upload request's latency, job outcomes, throughput and (when the server reports them) queue wait
and job run time. Bounded in users and time, loopback only. See docs/benchmarks/load.md.

The command must run with the server's settings (same DATA_DIR or DATABASE_URL): it makes its
benchmark accounts and their API tokens directly in that database, and deletes them, their images
and their blobs at the end unless --keep.
"""
import json
import re
import secrets
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from vault import loadbench

USERNAME_PREFIX = "loadbench"
RUN_ID_RE = re.compile(r"^[a-z0-9]{1,40}$")
TOKEN_NAME = "benchmark_load"


def default_images() -> Path:
    return (Path(settings.BASE_DIR).parent / "shared" / "data" / "kodak").resolve()


def user_prefix(run_id: str) -> str:
    return f"{USERNAME_PREFIX}-{run_id}-"


def create_benchmark_users(run_id: str, count: int) -> list[tuple[object, str]]:
    """`count` accounts named loadbench-<run_id>-NN, each with a vault and a read-write API token
    that opens it; returns (user, token plaintext) pairs.

    Made through the services rather than the token endpoint: that endpoint is throttled per
    address (THROTTLE_TOKEN_CREATE, 20/h) and counted by django-axes, both on purpose. The
    accounts have no usable login password, so the tokens are their only way in; the vault's
    password wrap is made under a random secret that is thrown away."""
    from accounts.services import create_api_token
    from vault.keyring import create_vault

    User = get_user_model()
    made = []
    for n in range(1, count + 1):
        user = User.objects.create_user(username=f"{user_prefix(run_id)}{n:02d}", password=None)
        master_key, _recovery = create_vault(user=user, password=secrets.token_urlsafe(32))
        _token, plaintext = create_api_token(user=user, name=TOKEN_NAME, master_key=master_key)
        made.append((user, plaintext))
    return made


def delete_benchmark_users(run_id: str) -> tuple[int, int]:
    """Delete the run's accounts and every image still theirs, blobs included (through the
    vault's service: deleting the user alone would cascade the rows and orphan the blobs).
    Returns (users, images) deleted."""
    from vault import services
    from vault.models import ImageRecord

    users = list(get_user_model().objects.filter(username__startswith=user_prefix(run_id)))
    images = 0
    for record in ImageRecord.objects.filter(owner__in=users):
        services.delete_image(record=record)
        images += 1
    for user in users:
        user.delete()
    return len(users), images


def delete_through_api(client: loadbench.Client, jobs, tokens) -> dict[str, int]:
    """DELETE each followed image as its owner would; outcomes by kind. Whatever this misses is
    deleted through the services afterwards."""
    outcomes: dict[str, int] = {}
    for job in jobs:
        url = f"{client.base_url}/api/v1/images/{job.record_id}/"
        try:
            status, _headers, _body = client.call("DELETE", url, token=tokens[job.user])
            key = f"HTTP {status}"
        except Exception as exc:  # noqa: BLE001 - reported; the service pass deletes it anyway
            key = loadbench.exception_name(exc)
        outcomes[key] = outcomes.get(key, 0) + 1
    return outcomes


class Command(BaseCommand):
    help = (
        "Concurrency benchmark: N users upload images through the API of a server on this machine "
        "for a fixed time; reports errors, upload latency, job outcomes and throughput."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the server (loopback only)")
        parser.add_argument("--users", type=int, default=20, help=f"concurrent users, 1-{loadbench.MAX_USERS}")
        parser.add_argument("--duration", type=float, default=120,
                            help=f"seconds of uploading, 1-{loadbench.MAX_DURATION_S}")
        parser.add_argument("--max-uploads", type=int, default=1000,
                            help=f"stop starting uploads after this many in all, 1-{loadbench.MAX_UPLOADS}")
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
        if opts["cleanup"] is not None:
            return self._cleanup_only(opts["cleanup"])
        try:
            base_url = loadbench.validate_base_url(opts["base_url"])
            loadbench.validate_bounds(**{name: opts[name] for name in loadbench.BOUNDS})
            from compression.registry import codec_choices

            codec = loadbench.validate_codec(opts["codec"], codec_choices())
            target = self._check_target(opts["target"])
            folder = Path(opts["images"]) if opts["images"] else default_images()
            files = loadbench.list_images(folder)
            if opts["json_path"] and not Path(opts["json_path"]).resolve().parent.is_dir():
                raise loadbench.BenchmarkError(f'--json "{opts["json_path"]}": its folder does not exist.')
        except loadbench.BenchmarkError as exc:
            raise CommandError(str(exc)) from None

        boundary = uuid.uuid4().hex
        fields = {"codec": codec, **({"target": target} if target else {})}
        # Built once: the client's own work per request stays negligible next to the server's.
        images = [(f.name, loadbench.multipart_body(fields=fields, filename=f.name, data=f.read_bytes(), boundary=boundary))
                  for f in files]
        client = loadbench.Client(base_url, timeout=opts["request_timeout"])
        plan = loadbench.UploadPlan(
            client=client, tokens=[], images=images, content_type=f"multipart/form-data; boundary={boundary}",
            duration=opts["duration"], max_uploads=opts["max_uploads"], pace=opts["pace"],
        )
        recorder = loadbench.Recorder()
        run_id = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
        config = {
            "run_id": run_id, "base_url": base_url, "users": opts["users"], "duration_s": opts["duration"],
            "codec": codec, "target": target or None, "images": len(files), "images_folder": str(folder),
            "max_uploads": opts["max_uploads"], "pace_s": opts["pace"], "poll_timeout_s": opts["poll_timeout"],
        }

        self.stdout.write(f"Run {run_id}: creating {opts['users']} benchmark users in {settings.DATABASES['default']['NAME']}…")
        started = time.perf_counter()
        try:
            # Inside the try: an interrupted setup still deletes the users made so far (by name).
            plan.tokens = [token for _user, token in create_benchmark_users(run_id, opts["users"])]
            self.stdout.write(f"  done in {time.perf_counter() - started:.1f} s")
            self._preflight(client, plan.tokens[0])
            report = self._run(plan, recorder, config, opts)
            self.stdout.write(loadbench.format_report(report))
            if opts["json_path"]:
                Path(opts["json_path"]).write_text(json.dumps(report, indent=2) + "\n")
                self.stdout.write(f"Report written to {opts['json_path']}")
        finally:
            if opts["keep"]:
                self.stdout.write(
                    f"Kept users {user_prefix(run_id)}*; delete them with: "
                    f"python manage.py benchmark_load --cleanup {run_id}"
                )
            else:
                self._cleanup(client, plan.tokens, recorder.jobs, run_id)

    def _check_target(self, target: str) -> str:
        from compression.targets import parse_target

        target = (target or "").strip()
        if target:
            try:
                parse_target(target)
            except ValueError as exc:
                raise loadbench.BenchmarkError(f"--target: {exc}") from None
        return target

    def _preflight(self, client: loadbench.Client, token: str) -> None:
        url = f"{client.base_url}/api/v1/images/"
        try:
            status, _headers, body = client.call("GET", url, token=token)
        except Exception as exc:  # noqa: BLE001
            raise CommandError(
                f"Nothing usable answers at {client.base_url} ({loadbench.exception_name(exc)}: {getattr(exc, 'reason', exc)}). "
                "Start the server first."
            ) from None
        if status in (401, 403):
            raise CommandError(
                f"The server at {client.base_url} refuses the benchmark's token (HTTP {status}): run this command "
                "with the server's DATA_DIR / DATABASE_URL, so both use the same database "
                f"(this one uses {settings.DATABASES['default']['NAME']})."
            )
        if status != 200:
            raise CommandError(f"GET {url} answered HTTP {status}, expected 200: {body[:200]!r}")

    def _run(self, plan: loadbench.UploadPlan, recorder: loadbench.Recorder, config, opts) -> dict:
        self.stdout.write(f"Uploading with {len(plan.tokens)} users for {opts['duration']:g} s…")
        upload_started = time.time()
        loadbench.run_uploads(plan, recorder)
        upload_s = time.time() - upload_started
        pending = sum(1 for job in recorder.jobs if job.status not in loadbench.TERMINAL)
        self.stdout.write(
            f"  {len(recorder.requests)} requests in {upload_s:.1f} s; polling {pending} unfinished job(s) "
            f"for up to {opts['poll_timeout']:g} s…"
        )
        poll_started = time.time()
        poll_errors = loadbench.poll_jobs(
            plan.client, recorder.jobs, plan.tokens, timeout=opts["poll_timeout"], interval=opts["poll_interval"],
            window=opts["poll_window"],
        )
        report = {"config": {**config, "upload_phase_s": round(upload_s, 1), "poll_phase_s": round(time.time() - poll_started, 1)}}
        report.update(loadbench.summarize(recorder.requests, recorder.jobs, poll_errors=poll_errors))
        first = min((req.started for req in recorder.requests), default=upload_started)
        report["request_log"] = [
            {"t_s": round(req.started - first, 3), "user": req.user, "image": req.image,
             "latency_ms": round(req.latency * 1000, 1), "status": req.status, "error": req.error}
            for req in sorted(recorder.requests, key=lambda r: r.started)
        ]
        return report

    def _cleanup(self, client, tokens, jobs, run_id: str) -> None:
        api = delete_through_api(client, jobs, tokens) if jobs else {}
        users, images = delete_benchmark_users(run_id)
        through_api = ", ".join(f"{k}: {v}" for k, v in sorted(api.items())) or "none"
        self.stdout.write(
            f"Cleaned up: API deletes ({through_api}); then {images} leftover image(s) and {users} user(s) "
            "deleted through the services."
        )

    def _cleanup_only(self, run_id: str) -> None:
        if not RUN_ID_RE.match(run_id):
            raise CommandError(f'--cleanup "{run_id}" is not a run id (lower-case letters and digits, as printed by --keep).')
        users, images = delete_benchmark_users(run_id)
        if not users:
            raise CommandError(f'No benchmark users named "{user_prefix(run_id)}*" to delete.')
        self.stdout.write(f"Deleted {users} user(s) and {images} image(s) of run {run_id}.")
