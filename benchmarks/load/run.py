"""One run of the load benchmark, start to end: check the options, make the run's users, check
the server takes their tokens, upload, follow the jobs, report, and delete what the run made.
Progress and the report go to the `log` the caller passes (the command's stdout)."""
from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from benchmarks.errors import BenchmarkError
from benchmarks.load import options, report, users
from benchmarks.load.client import Client, exception_name, multipart_body
from benchmarks.load.records import TERMINAL
from benchmarks.load.traffic import Recorder, UploadPlan, poll_jobs, run_uploads
from compression.datasets import KODAK
from compression.registry import codec_choices


@dataclass(frozen=True)
class Options:
    base_url: str
    users: int
    duration: float
    max_uploads: int
    pace: float
    codec: str
    target: str  # "": the server's default
    folder: Path
    files: list[Path]
    poll_timeout: float
    poll_interval: float
    poll_window: int
    request_timeout: float
    json_path: str | None = None
    keep: bool = False


def check_options(opts: dict) -> Options:
    """The command's options, each checked before anything is made (BenchmarkError says which
    is wrong). `opts` holds the command's option names; the image folder defaults to Kodak."""
    base_url = options.validate_base_url(opts["base_url"])
    options.validate_bounds(**{name: opts[name] for name in options.BOUNDS})
    codec = options.validate_codec(opts["codec"], codec_choices())
    target = options.validate_target(opts["target"])
    folder = Path(opts["images"]) if opts["images"] else KODAK
    files = options.list_images(folder)
    if opts["json_path"] and not Path(opts["json_path"]).resolve().parent.is_dir():
        raise BenchmarkError(f'--json "{opts["json_path"]}": its folder does not exist.')
    return Options(
        base_url=base_url, users=opts["users"], duration=opts["duration"], max_uploads=opts["max_uploads"],
        pace=opts["pace"], codec=codec, target=target, folder=folder, files=files,
        poll_timeout=opts["poll_timeout"], poll_interval=opts["poll_interval"], poll_window=opts["poll_window"],
        request_timeout=opts["request_timeout"], json_path=opts["json_path"], keep=opts["keep"],
    )


def database_name() -> str:
    return str(settings.DATABASES["default"]["NAME"])


def benchmark(opts: Options, *, log) -> dict:
    """Run the benchmark; returns the report (also logged, and written to opts.json_path). The
    run's users are deleted at the end, whatever happens, unless opts.keep."""
    boundary = uuid.uuid4().hex
    # Each user sends the same few images again and again, on purpose: not refused as duplicates.
    fields = {"codec": opts.codec, "allow_duplicate": "true", **({"target": opts.target} if opts.target else {})}
    # Built once: the client's own work per request stays negligible next to the server's.
    images = [(f.name, multipart_body(fields=fields, filename=f.name, data=f.read_bytes(), boundary=boundary))
              for f in opts.files]
    client = Client(opts.base_url, timeout=opts.request_timeout)
    plan = UploadPlan(
        client=client, tokens=[], images=images, content_type=f"multipart/form-data; boundary={boundary}",
        duration=opts.duration, max_uploads=opts.max_uploads, pace=opts.pace,
    )
    recorder = Recorder()
    run_id = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    config = {
        "run_id": run_id, "base_url": opts.base_url, "users": opts.users, "duration_s": opts.duration,
        "codec": opts.codec, "target": opts.target or None, "images": len(opts.files),
        "images_folder": str(opts.folder), "max_uploads": opts.max_uploads, "pace_s": opts.pace,
        "poll_timeout_s": opts.poll_timeout,
    }

    log(f"Run {run_id}: creating {opts.users} benchmark users in {database_name()}…")
    started = time.perf_counter()
    try:
        # Inside the try: an interrupted setup still deletes the users made so far (by name).
        plan.tokens = [token for _user, token in users.create_benchmark_users(run_id, opts.users)]
        log(f"  done in {time.perf_counter() - started:.1f} s")
        preflight(client, plan.tokens[0])
        result = measure(plan, recorder, config, opts, log=log)
        log(report.format_report(result))
        if opts.json_path:
            Path(opts.json_path).write_text(json.dumps(result, indent=2) + "\n")
            log(f"Report written to {opts.json_path}")
    finally:
        if opts.keep:
            log(
                f"Kept users {users.user_prefix(run_id)}*; delete them with: "
                f"python manage.py benchmark_load --cleanup {run_id}"
            )
        else:
            log(clean_up(client, plan.tokens, recorder.jobs, run_id))
    return result


def preflight(client: Client, token: str) -> None:
    """One listing with the first user's token: the server answers, and it shares our database."""
    url = f"{client.base_url}/api/v1/images/"
    try:
        status, _headers, body = client.call("GET", url, token=token)
    except Exception as exc:  # noqa: BLE001
        raise BenchmarkError(
            f"Nothing usable answers at {client.base_url} ({exception_name(exc)}: {getattr(exc, 'reason', exc)}). "
            "Start the server first."
        ) from None
    if status in (401, 403):
        raise BenchmarkError(
            f"The server at {client.base_url} refuses the benchmark's token (HTTP {status}): run this command "
            "with the server's DATA_DIR / DATABASE_URL, so both use the same database "
            f"(this one uses {database_name()})."
        )
    if status != 200:
        raise BenchmarkError(f"GET {url} answered HTTP {status}, expected 200: {body[:200]!r}")


def measure(plan: UploadPlan, recorder: Recorder, config: dict, opts: Options, *, log) -> dict:
    """The upload phase, then the polling phase; the report with its config and request log."""
    log(f"Uploading with {len(plan.tokens)} users for {opts.duration:g} s…")
    upload_started = time.time()
    run_uploads(plan, recorder)
    upload_s = time.time() - upload_started
    pending = sum(1 for job in recorder.jobs if job.status not in TERMINAL)
    log(
        f"  {len(recorder.requests)} requests in {upload_s:.1f} s; polling {pending} unfinished job(s) "
        f"for up to {opts.poll_timeout:g} s…"
    )
    poll_started = time.time()
    poll_errors = poll_jobs(
        plan.client, recorder.jobs, plan.tokens, timeout=opts.poll_timeout, interval=opts.poll_interval,
        window=opts.poll_window,
    )
    result = {"config": {**config, "upload_phase_s": round(upload_s, 1), "poll_phase_s": round(time.time() - poll_started, 1)}}
    result.update(report.summarize(recorder.requests, recorder.jobs, poll_errors=poll_errors))
    first = min((req.started for req in recorder.requests), default=upload_started)
    result["request_log"] = [
        {"t_s": round(req.started - first, 3), "user": req.user, "image": req.image,
         "latency_ms": round(req.latency * 1000, 1), "status": req.status, "error": req.error}
        for req in sorted(recorder.requests, key=lambda r: r.started)
    ]
    return result


def clean_up(client: Client, tokens: list[str], jobs, run_id: str) -> str:
    """Delete the run's images through the API as their owners would, then whatever is left
    (and the users) through the services; what was done, in a line."""
    api = users.delete_through_api(client, jobs, tokens) if jobs else {}
    deleted_users, images = users.delete_benchmark_users(run_id)
    through_api = ", ".join(f"{k}: {v}" for k, v in sorted(api.items())) or "none"
    return (
        f"Cleaned up: API deletes ({through_api}); then {images} leftover image(s) and {deleted_users} user(s) "
        "deleted through the services."
    )


def clean_up_run(run_id: str) -> str:
    """Delete the users and images of an earlier --keep run (no server needed); what was done."""
    if not users.RUN_ID_RE.match(run_id):
        raise BenchmarkError(f'--cleanup "{run_id}" is not a run id (lower-case letters and digits, as printed by --keep).')
    deleted_users, images = users.delete_benchmark_users(run_id)
    if not deleted_users:
        raise BenchmarkError(f'No benchmark users named "{users.user_prefix(run_id)}*" to delete.')
    return f"Deleted {deleted_users} user(s) and {images} image(s) of run {run_id}."
