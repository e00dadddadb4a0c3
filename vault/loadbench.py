"""The concurrency benchmark behind `python manage.py benchmark_load`: option checks, the HTTP
client (standard library only), the upload and polling loops, and the report's arithmetic.

It talks to a server over HTTP exactly as an API client would, so what it measures includes
request parsing, the database and whatever the server does inside the upload request. The
benchmark accounts are made through the project's services in the same database (see the
command), never through the login endpoints, whose throttles and lockouts exist to stop exactly
this many logins from one address.
"""
from __future__ import annotations

import ipaddress
import json
import mimetypes
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

# Bounds: the benchmark shares a small machine with the server it measures, and an accidental
# `--users 2000 --duration 36000` should be refused, not run overnight.
MAX_USERS = 50
MAX_DURATION_S = 600
MAX_POLL_TIMEOUT_S = 3600
MAX_IMAGES = 200
MAX_UPLOADS = 10_000

SUCCESS = frozenset({200, 201, 202})
TERMINAL = frozenset({"done", "failed", "cancelled"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".avif"})


class BenchmarkError(ValueError):
    """Bad options or an unusable server: the message says which value and why."""


# --- options ------------------------------------------------------------------------------------


def validate_base_url(url: str) -> str:
    """The base URL without a trailing slash, refused unless its host is a loopback address: the
    benchmark floods the server it points at and must never be aimed at someone else's."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise BenchmarkError(f'--base-url "{url}" must start with http:// or https://.')
    if parts.username or parts.password or parts.query or parts.fragment:
        raise BenchmarkError(f'--base-url "{url}" must be scheme, host, port and path only.')
    host = parts.hostname or ""
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise BenchmarkError(
                f'--base-url "{url}": host "{host}" is not a loopback address; this benchmark only '
                "runs against a server on this machine (127.0.0.1, ::1 or localhost)."
            )
    try:
        parts.port
    except ValueError:
        raise BenchmarkError(f'--base-url "{url}" has an invalid port.') from None
    return url.strip().rstrip("/")


BOUNDS = {
    "users": (1, MAX_USERS),
    "duration": (1, MAX_DURATION_S),
    "max_uploads": (1, MAX_UPLOADS),
    "pace": (0, 600),
    "poll_timeout": (0, MAX_POLL_TIMEOUT_S),
    "poll_interval": (0.1, 60),
    "poll_window": (1, 1000),
    "request_timeout": (1, 600),
}


def validate_bounds(**values) -> None:
    """Each option (by its keyword name in BOUNDS) within its range."""
    for name, value in values.items():
        low, high = BOUNDS[name]
        if not low <= value <= high:
            flag = "--" + name.replace("_", "-")
            raise BenchmarkError(f"{flag} {value:g} is out of range: use {low:g} to {high:g}.")


def validate_codec(codec: str, choices) -> str:
    names = [value for value, _label in choices]
    if codec not in names:
        raise BenchmarkError(f'--codec "{codec}" is not available here: use one of {", ".join(names)}.')
    return codec


def list_images(folder) -> list[Path]:
    """The folder's image files in name order (round-robin is then reproducible), at most
    MAX_IMAGES of them: they are all held in memory during the run."""
    path = Path(folder)
    if not path.is_dir():
        raise BenchmarkError(f'--images "{folder}" is not a folder.')
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BenchmarkError(
            f'--images "{folder}" holds no images (looked for {", ".join(sorted(IMAGE_SUFFIXES))}).'
        )
    return files[:MAX_IMAGES]


# --- arithmetic ---------------------------------------------------------------------------------


def percentile(values, q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's
    default), or None for no values."""
    data = sorted(values)
    if not data:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    rank = (len(data) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def parse_timestamp(value) -> float | None:
    """Epoch seconds of an ISO 8601 timestamp from the API (DRF writes `...Z`), or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a naive time cannot be compared with this machine's clock
    return moment.timestamp()


def job_status(record: dict) -> str:
    # Until uploads become background jobs the API answers with a finished record and no
    # `status` field: that record is done.
    return record.get("status") or "done"


def error_key(status: int | None, error: str | None) -> str:
    return error if status is None else f"HTTP {status}" + (f" ({error})" if error else "")


# --- what a run records -------------------------------------------------------------------------


@dataclass
class Job:
    """One accepted upload, followed until it ends."""
    user: int
    record_id: int
    url: str
    accepted_at: float  # epoch seconds when the upload's response arrived
    record: dict = field(default_factory=dict)
    ended_seen_at: float | None = None  # when this client first saw it in a terminal state

    @property
    def status(self) -> str:
        return job_status(self.record)

    def finish_time(self) -> float | None:
        """When the job ended: the server's `finished_at` when it reports one, else when the
        client saw it ended (for a synchronous upload: when the upload's response arrived)."""
        if self.status not in TERMINAL:
            return None
        return parse_timestamp(self.record.get("finished_at")) or self.ended_seen_at or self.accepted_at


@dataclass
class Request:
    user: int
    image: str
    started: float  # epoch seconds
    latency: float  # seconds, until the whole response was read
    status: int | None  # None: no HTTP answer (the error says why)
    error: str | None = None  # with a status: a success answer that cannot be followed

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS and self.error is None


def _stats(values, scale: float = 1.0, digits: int = 1) -> dict | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50": round(percentile(values, 50) * scale, digits),
        "p95": round(percentile(values, 95) * scale, digits),
        "max": round(max(values) * scale, digits),
    }


def summarize(requests: list[Request], jobs: list[Job], *, poll_errors: dict | None = None) -> dict:
    """The report's figures (JSON-ready) from every request made and every job followed."""
    errors: dict[str, int] = {}
    for req in requests:
        if not req.ok:
            key = error_key(req.status, req.error)
            errors[key] = errors.get(key, 0) + 1
    answered = [req.latency for req in requests if req.status is not None]

    counts = {"done": 0, "failed": 0, "cancelled": 0, "unfinished": 0}
    unfinished_states: dict[str, int] = {}
    for job in jobs:
        if job.status in TERMINAL:
            counts[job.status] += 1
        else:
            counts["unfinished"] += 1
            unfinished_states[job.status] = unfinished_states.get(job.status, 0) + 1

    done = [job for job in jobs if job.status == "done"]
    first_start = min((req.started for req in requests), default=None)
    last_finish = max((job.finish_time() for job in done), default=None)
    throughput = None
    if done and first_start is not None and last_finish is not None and last_finish > first_start:
        span = last_finish - first_start
        throughput = {"per_minute": round(len(done) * 60 / span, 1), "done": len(done), "span_s": round(span, 1)}

    waits, runs = [], []
    for job in jobs:
        queued = parse_timestamp(job.record.get("queued_at"))
        started = parse_timestamp(job.record.get("started_at"))
        finished = parse_timestamp(job.record.get("finished_at"))
        if queued is not None and started is not None:
            waits.append(max(0.0, started - queued))
        if started is not None and finished is not None:
            runs.append(max(0.0, finished - started))

    return {
        "requests": len(requests),
        "accepted": sum(1 for req in requests if req.ok),
        "errors": dict(sorted(errors.items())),
        "error_count": sum(errors.values()),
        "upload_latency_ms": _stats(answered, scale=1000, digits=0),
        "jobs": {**counts, "unfinished_by_status": unfinished_states},
        "throughput": throughput,
        "queue_wait_s": _stats(waits, digits=2),
        "run_time_s": _stats(runs, digits=2),
        "poll_errors": dict(sorted((poll_errors or {}).items())),
    }


def _fmt_stats(stats: dict | None, unit: str, missing: str) -> str:
    if stats is None:
        return missing
    return f"p50 {stats['p50']:g} {unit}, p95 {stats['p95']:g} {unit}, max {stats['max']:g} {unit} (n={stats['n']})"


def format_report(report: dict) -> str:
    """The human-readable report; `report` is summarize()'s output plus a "config" entry."""
    config = report.get("config", {})
    lines = []
    if config:
        target = f", target {config['target']}" if config.get("target") else ""
        pace = f" (one upload each every {config['pace_s']:g} s)" if config.get("pace_s") else ""
        cap = f", at most {config['max_uploads']} uploads" if config.get("max_uploads") else ""
        lines.append(
            f"benchmark_load against {config.get('base_url')}: {config.get('users')} users uploading for "
            f"{config.get('duration_s'):g} s{pace}{cap}, codec {config.get('codec')}{target}, "
            f"{config.get('images')} images from {config.get('images_folder')}"
        )
    errors = report["errors"]
    by_kind = ", ".join(f"{key}: {count}" for key, count in errors.items())
    lines.append(
        f"uploads: {report['requests']} requests, {report['accepted']} accepted, "
        f"{report['error_count']} errors" + (f" ({by_kind})" if by_kind else "")
    )
    lines.append("upload latency: " + _fmt_stats(report["upload_latency_ms"], "ms", "no answers"))
    jobs = report["jobs"]
    unfinished = ", ".join(f"{state}: {count}" for state, count in jobs.get("unfinished_by_status", {}).items())
    lines.append(
        f"jobs: {jobs['done']} done, {jobs['failed']} failed, {jobs['cancelled']} cancelled, "
        f"{jobs['unfinished']} unfinished" + (f" ({unfinished})" if unfinished else "")
    )
    tp = report["throughput"]
    lines.append(
        "throughput: none finished" if tp is None else
        f"throughput: {tp['per_minute']:g} images/min ({tp['done']} done in {tp['span_s']:g} s, "
        "first upload to last finish)"
    )
    no_times = "n/a (the server reports no queued_at/started_at/finished_at)"
    lines.append("queue wait (started_at - queued_at): " + _fmt_stats(report["queue_wait_s"], "s", no_times))
    lines.append("job run time (finished_at - started_at): " + _fmt_stats(report["run_time_s"], "s", no_times))
    if report.get("poll_errors"):
        lines.append("polling errors: " + ", ".join(f"{k}: {v}" for k, v in report["poll_errors"].items()))
    return "\n".join(lines)


# --- HTTP ---------------------------------------------------------------------------------------


def multipart_body(*, fields: dict[str, str], filename: str, data: bytes, boundary: str) -> bytes:
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts)


class Client:
    """A tiny API client. Proxies are switched off: an http_proxy in the environment must not
    route loopback traffic elsewhere (or add its own latency to the figures)."""

    def __init__(self, base_url: str, *, timeout: float):
        self.base_url = base_url
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def absolute(self, location: str) -> str:
        if location.startswith(("http://", "https://")):
            return location
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}{location}" if location.startswith("/") else f"{self.base_url}/{location}"

    def call(self, method: str, url: str, *, token: str, body: bytes | None = None, headers=None):
        """(status, headers, body bytes); an HTTP error status is an answer, not an exception.
        Transport failures raise."""
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"Token {token}")
        request.add_header("Accept", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers, exc.read()


def exception_name(exc: BaseException) -> str:
    # URLError wraps the interesting part (ConnectionRefusedError, a timeout...).
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    return type(inner).__name__


def decode_json(body: bytes) -> dict | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


@dataclass
class UploadPlan:
    client: Client
    tokens: list[str]
    images: list[tuple[str, bytes]]  # (file name, the multipart body for it)
    content_type: str
    duration: float
    max_uploads: int = 1000
    pace: float = 0.0  # seconds between one user's upload starts; 0: back to back


class Recorder:
    """Collects results from the user threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.jobs: list[Job] = []

    def add(self, request: Request, job: Job | None) -> None:
        with self.lock:
            self.requests.append(request)
            if job is not None:
                self.jobs.append(job)


def _upload_once(plan: UploadPlan, user: int, image_index: int, recorder: Recorder) -> None:
    name, body = plan.images[image_index % len(plan.images)]
    client = plan.client
    url = f"{client.base_url}/api/v1/images/"
    headers = {"Content-Type": plan.content_type, "Idempotency-Key": uuid.uuid4().hex}
    started_wall, started = time.time(), time.perf_counter()
    try:
        status, response_headers, response_body = client.call("POST", url, token=plan.tokens[user], body=body, headers=headers)
    except Exception as exc:  # noqa: BLE001 - every transport failure is a figure of the benchmark
        recorder.add(Request(user, name, started_wall, time.perf_counter() - started, None, exception_name(exc)), None)
        return
    latency = time.perf_counter() - started
    job = None
    request = Request(user, name, started_wall, latency, status)
    if status in SUCCESS:
        record = decode_json(response_body) or {}
        record_id = record.get("id")
        if isinstance(record_id, int):
            location = response_headers.get("Location") or f"{client.base_url}/api/v1/images/{record_id}/"
            job = Job(user, record_id, client.absolute(location), accepted_at=time.time(), record=record)
            if job.status in TERMINAL:
                job.ended_seen_at = job.accepted_at
        else:
            # Nothing to follow, so not a success: counted with the errors under its own name.
            request.error = "no record id in the answer"
    recorder.add(request, job)


def run_uploads(plan: UploadPlan, recorder: Recorder | None = None) -> Recorder:
    """One thread per user, each uploading in a loop (round-robin over the images, each user
    starting at a different one) until `duration` has passed or `max_uploads` have been sent; a
    request in flight at the end finishes and counts. With a pace, a user starts an upload at
    most every `pace` seconds and the users' starts are spread over the first pace, so the load
    is steady rather than bursts of N. Interrupted (Ctrl-C), the users stop after their current
    request, so the cleanup that follows does not race them."""
    recorder = recorder if recorder is not None else Recorder()
    started = time.monotonic()
    deadline = started + plan.duration
    stop = threading.Event()
    budget = Budget(plan.max_uploads)
    users = len(plan.tokens)

    def user_loop(user: int) -> None:
        index = user
        next_start = started + (plan.pace * user / users if plan.pace else 0)
        while not stop.is_set():
            wait = next_start - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return
            if time.monotonic() >= deadline or not budget.take():
                return
            _upload_once(plan, user, index, recorder)
            index += 1
            next_start += plan.pace

    threads = [threading.Thread(target=user_loop, args=(user,), name=f"bench-user-{user}") for user in range(users)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()
        raise
    return recorder


class Budget:
    """A count shared by the user threads: how many uploads may still start."""

    def __init__(self, count: int):
        self.left = count
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def poll_jobs(client: Client, jobs: list[Job], tokens: list[str], *, timeout: float, interval: float,
              window: int = 10, clock=time.monotonic, sleep=time.sleep) -> dict[str, int]:
    """Follow the unfinished jobs until all have ended or `timeout` passes; returns the polling
    errors by kind (they do not end a job: a later round asks again).

    Each round asks only about the `window` oldest unfinished jobs: queues run roughly in order,
    so newer ones are almost never done before those, and asking about hundreds of jobs every
    second would take the CPU the workers are being measured on. Throughput and timings come from
    the server's `finished_at`, so this lag does not bend them. At the timeout one last round asks
    about every job still unfinished, so the counts are right."""
    errors: dict[str, int] = {}

    def ask(job: Job) -> None:
        try:
            status, _headers, body = client.call("GET", job.url, token=tokens[job.user])
        except Exception as exc:  # noqa: BLE001
            key = exception_name(exc)
        else:
            record = decode_json(body) if status == 200 else None
            if record is not None:
                job.record = record
                if job.status in TERMINAL:
                    job.ended_seen_at = time.time()
                return
            key = f"HTTP {status}"
        errors[key] = errors.get(key, 0) + 1

    deadline = clock() + timeout
    pending = [job for job in jobs if job.status not in TERMINAL]  # in the order they were accepted
    while pending:
        last_round = clock() >= deadline
        for job in pending if last_round else pending[:window]:
            ask(job)
        pending = [job for job in pending if job.status not in TERMINAL]
        if last_round:
            break
        if pending:
            sleep(interval)
    return errors
