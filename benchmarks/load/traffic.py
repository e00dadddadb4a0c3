"""The load benchmark's traffic: N user threads uploading for a fixed time, then polling the
accepted uploads until their jobs end."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from benchmarks.load.client import Client, decode_json, exception_name
from benchmarks.load.records import SUCCESS, TERMINAL, Job, Request


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
