"""The load benchmark's parts that need no portal server: option checks, percentiles, the report,
the multipart body, the upload and polling loops against fakes, and its account setup and cleanup."""
import email
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.selectors import api_token_by_plaintext
from benchmarks.errors import BenchmarkError
from benchmarks.load.client import Client, exception_name, multipart_body
from benchmarks.load.options import list_images, validate_base_url, validate_bounds, validate_codec
from benchmarks.load.records import SUCCESS, Job, Request, parse_timestamp
from benchmarks.load.report import format_report, percentile, summarize
from benchmarks.load.traffic import UploadPlan, poll_jobs, run_uploads
from benchmarks.load.users import create_benchmark_users, delete_benchmark_users
from tests.conftest import image_bytes, make_photo
from tests.vault_helpers import files_under
from vault.models import ImageRecord

T0 = 1_800_000_000.0  # an arbitrary epoch second for made-up timelines


def iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8765/", "http://[::1]:80", "https://127.9.9.9"])
def test_loopback_base_urls_are_accepted_without_trailing_slash(url):
    assert validate_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://example.com", "http://0.0.0.0:8000", "http://192.168.1.2"])
def test_other_hosts_are_refused_naming_the_host(url):
    with pytest.raises(BenchmarkError, match="not a loopback address") as info:
        validate_base_url(url)
    assert url in str(info.value)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:8000", "http://127.0.0.1:8000/?x=1", "http://u:p@127.0.0.1/"])
def test_malformed_base_urls_are_refused(url):
    with pytest.raises(BenchmarkError, match="--base-url"):
        validate_base_url(url)


@pytest.mark.parametrize("option, value", [("users", 0), ("users", 51), ("duration", 0), ("duration", 601),
                                           ("max_uploads", 0), ("max_uploads", 10_001), ("pace", -1),
                                           ("poll_timeout", -1), ("poll_timeout", 3601), ("poll_window", 0)])
def test_out_of_bounds_options_are_refused_with_the_value(option, value):
    values = {"users": 3, "duration": 20, "max_uploads": 100, "pace": 0, "poll_timeout": 60, "poll_interval": 1,
              "poll_window": 10, "request_timeout": 30}
    validate_bounds(**values)
    with pytest.raises(BenchmarkError, match=f"--{option.replace('_', '-')} {value} is out of range"):
        validate_bounds(**values | {option: value})


def test_unknown_codec_is_refused_listing_the_available_ones():
    with pytest.raises(BenchmarkError, match='"zstd".*auto, png'):
        validate_codec("zstd", [("auto", "Automatic"), ("png", "PNG")])


def test_image_folder_lists_only_images_in_name_order(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]


def test_folder_without_images_is_refused(tmp_path):
    (tmp_path / "readme.txt").write_text("no images")
    with pytest.raises(BenchmarkError, match="holds no images"):
        list_images(tmp_path)
    with pytest.raises(BenchmarkError, match="is not a folder"):
        list_images(tmp_path / "missing")


def test_command_refuses_a_remote_server_before_creating_anyone(db):
    with pytest.raises(CommandError, match="not a loopback address"):
        call_command("benchmark_load", base_url="http://203.0.113.5:8000", users=1, duration=1)
    assert not get_user_model().objects.exists()


def test_command_refuses_a_report_path_in_a_missing_folder_before_creating_anyone(db, tmp_path):
    make_photo(16, 16).save(tmp_path / "p.png")
    with pytest.raises(CommandError, match="its folder does not exist"):
        call_command("benchmark_load", base_url="http://127.0.0.1:1", images=str(tmp_path), json_path=str(tmp_path / "no" / "r.json"))
    assert not get_user_model().objects.exists()


# --- arithmetic ---------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks_like_numpy():
    values = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]  # unsorted on purpose
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile(values, 0) == 1 and percentile(values, 100) == 10
    assert percentile([4.2], 95) == 4.2
    assert percentile([], 50) is None


def test_timestamps_from_the_api_parse_and_naive_or_bad_ones_do_not():
    assert parse_timestamp(iso(T0 + 0.25)) == pytest.approx(T0 + 0.25)
    assert parse_timestamp("2026-11-26T00:00:00+01:00") == pytest.approx(
        parse_timestamp("2026-11-25T23:00:00Z"))
    assert parse_timestamp("2026-11-26T00:00:00") is None
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None


def test_summary_counts_errors_by_kind_and_latency_over_answered_requests():
    requests = [
        Request(0, "a.png", T0, 0.100, 201),
        Request(1, "b.png", T0 + 1, 0.300, 202),
        Request(0, "c.png", T0 + 2, 2.000, 500),
        Request(1, "d.png", T0 + 3, 30.0, None, "TimeoutError"),
        Request(0, "e.png", T0 + 4, 0.200, 200, "no record id in the answer"),
    ]
    report = summarize(requests, [])
    assert report["requests"] == 5 and report["accepted"] == 2 and report["error_count"] == 3
    assert report["errors"] == {"HTTP 200 (no record id in the answer)": 1, "HTTP 500": 1, "TimeoutError": 1}
    # The timeout has no answer, so no latency; the 500 and the odd 200 do.
    assert report["upload_latency_ms"] == {"n": 4, "p50": 250.0, "p95": 1745.0, "max": 2000.0}


def test_records_without_a_status_count_as_done_when_their_answer_arrived():
    # Today's synchronous API: a finished record, no status field.
    requests = [Request(0, "a.png", T0, 5.0, 201), Request(1, "b.png", T0, 25.0, 201)]
    jobs = [Job(0, 1, "u1", accepted_at=T0 + 5, record={"id": 1}),
            Job(1, 2, "u2", accepted_at=T0 + 30, record={"id": 2})]
    report = summarize(requests, jobs)
    assert report["jobs"]["done"] == 2 and report["jobs"]["unfinished"] == 0
    assert report["throughput"] == {"per_minute": 4.0, "done": 2, "span_s": 30.0}
    assert report["queue_wait_s"] is None and report["run_time_s"] is None


def test_job_states_queue_wait_and_run_time_come_from_the_records():
    requests = [Request(0, "x.png", T0, 0.05, 202)]

    def job(n, status, queued, started=None, finished=None):
        record = {"id": n, "status": status, "queued_at": iso(T0 + queued),
                  "started_at": started is not None and iso(T0 + started) or None,
                  "finished_at": finished is not None and iso(T0 + finished) or None}
        return Job(0, n, f"u{n}", accepted_at=T0 + queued, record=record)

    jobs = [job(1, "done", 0, 1, 3), job(2, "done", 0, 3, 6), job(3, "failed", 1, 6, 7),
            job(4, "running", 1, 7), job(5, "queued", 2), job(6, "cancelled", 2)]
    report = summarize(requests, jobs)
    assert report["jobs"] == {"done": 2, "failed": 1, "cancelled": 1, "unfinished": 2,
                              "unfinished_by_status": {"running": 1, "queued": 1}}
    # Throughput counts done jobs only, first upload to the last done job's finished_at.
    assert report["throughput"] == {"per_minute": 20.0, "done": 2, "span_s": 6.0}
    assert report["queue_wait_s"]["n"] == 4 and report["queue_wait_s"]["max"] == 6.0  # started - queued
    assert report["queue_wait_s"]["p50"] == 4.0
    assert report["run_time_s"] == {"n": 3, "p50": 2.0, "p95": 2.9, "max": 3.0}


def test_report_text_names_every_figure_and_says_when_timings_are_missing():
    requests = [Request(0, "a.png", T0, 0.120, 201), Request(0, "b.png", T0 + 1, 0.5, 500),
                Request(0, "c.png", T0 + 2, 1.0, None, "ConnectionResetError")]
    jobs = [Job(0, 1, "u", accepted_at=T0 + 0.12, record={"id": 1})]
    report = {"config": {"base_url": "http://127.0.0.1:8765", "users": 3, "duration_s": 20.0, "codec": "auto",
                         "target": None, "images": 24, "images_folder": "/data/kodak"}}
    report.update(summarize(requests, jobs, poll_errors={"HTTP 503": 2}))
    text = format_report(report)
    assert "3 users uploading for 20 s, codec auto, 24 images" in text
    assert "3 requests, 1 accepted, 2 errors (ConnectionResetError: 1, HTTP 500: 1)" in text
    assert "upload latency: p50 310 ms, p95 481 ms, max 500 ms (n=2)" in text
    assert "jobs: 1 done, 0 failed, 0 cancelled, 0 unfinished" in text
    assert "throughput: 500 images/min" in text
    assert "queue wait (started_at - queued_at): n/a" in text
    assert "polling errors: HTTP 503: 2" in text
    json.dumps(report)  # the --json file is this same dict


def test_report_with_nothing_finished_says_so():
    report = summarize([Request(0, "a.png", T0, 1.0, None, "ConnectionRefusedError")], [])
    text = format_report(report)
    assert "throughput: none finished" in text and "upload latency: no answers" in text


# --- HTTP ---------------------------------------------------------------------------------------


def test_multipart_body_carries_the_fields_and_the_file_unchanged():
    data = image_bytes(make_photo(8, 8))
    body = multipart_body(fields={"codec": "auto", "target": "high"}, filename="k.png", data=data, boundary="b0undary")
    message = email.message_from_bytes(b"Content-Type: multipart/form-data; boundary=b0undary\r\n\r\n" + body)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.get_payload()}
    assert parts["codec"].get_payload() == "auto" and parts["target"].get_payload() == "high"
    assert parts["file"].get_filename() == "k.png" and parts["file"].get_content_type() == "image/png"
    assert parts["file"].get_payload(decode=True) == data


class _Stub(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Authorization")))
        code = 500 if self.path.endswith("/boom/") else 200
        payload = json.dumps({"path": self.path}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    _Stub.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_client_sends_the_token_returns_error_statuses_and_ignores_proxies(stub_server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    client = Client(stub_server, timeout=5)
    status, _headers, body = client.call("GET", f"{stub_server}/api/v1/images/7/", token="tok")
    assert status == 200 and json.loads(body) == {"path": "/api/v1/images/7/"}
    status, _headers, _body = client.call("GET", f"{stub_server}/boom/", token="tok")
    assert status == 500
    assert _Stub.seen[0] == ("/api/v1/images/7/", "Token tok")
    assert client.absolute("/api/v1/images/9/") == f"{stub_server}/api/v1/images/9/"


def test_an_unreachable_server_is_an_exception_named_by_its_cause():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(Exception) as info:
        client.call("GET", f"http://127.0.0.1:{port}/", token="t")
    assert exception_name(info.value) == "ConnectionRefusedError"


class FakeClient:
    """Answers uploads with numbered records; GETs with what `states` says for that record."""
    base_url = "http://127.0.0.1:1"

    def __init__(self, upload_answer=(201, {}), states=None):
        self.lock = threading.Lock()
        self.calls = []
        self.upload_answer = upload_answer
        self.states = states or {}
        self.next_id = 0

    def absolute(self, location):
        return self.base_url + location if location.startswith("/") else location

    def call(self, method, url, *, token, body=None, headers=None):
        with self.lock:
            self.calls.append((method, url, token, headers))
            if method == "POST":
                self.next_id += 1
                status, extra = self.upload_answer
                answer = status, {"Location": f"/api/v1/images/{self.next_id}/"}, json.dumps({"id": self.next_id, **extra}).encode()
        if method == "POST":
            time.sleep(0.01)  # a server takes a while; an instant answer would make a busy loop
            return answer
        with self.lock:
            answers = self.states[url]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer[0], {}, json.dumps(answer[1]).encode()


def test_each_user_uploads_round_robin_with_its_own_token_until_the_duration_ends():
    client = FakeClient(upload_answer=(202, {"status": "queued"}))
    plan = UploadPlan(client=client, tokens=["t0", "t1"], images=[("a.png", b"A"), ("b.png", b"B"), ("c.png", b"C")],
                                content_type="multipart/form-data; boundary=x", duration=0.2)
    recorder = run_uploads(plan)
    assert len(recorder.requests) == len(client.calls) >= 4
    for user, token, expected in ((0, "t0", ["a.png", "b.png", "c.png", "a.png"]), (1, "t1", ["b.png", "c.png", "a.png", "b.png"])):
        mine = [req.image for req in sorted(recorder.requests, key=lambda r: r.started) if req.user == user]
        assert mine[:4] == expected
        assert sum(1 for call in client.calls if call[2] == token) == len(mine)
    keys = [call[3]["Idempotency-Key"] for call in client.calls]
    assert len(set(keys)) == len(keys)  # a fresh key per upload: no upload is a retry of another
    assert all(job.status == "queued" and job.url.startswith(client.base_url + "/api/v1/images/") for job in recorder.jobs)


def test_uploads_stop_at_the_upload_cap():
    client = FakeClient()
    plan = UploadPlan(client=client, tokens=["t0", "t1", "t2"], images=[("a.png", b"A")],
                                content_type="x", duration=30, max_uploads=7)
    started = time.monotonic()
    recorder = run_uploads(plan)
    assert len(recorder.requests) == 7 and len(recorder.jobs) == 7
    assert time.monotonic() - started < 5  # the cap, not the 30 s, ended the run


def test_a_paced_user_starts_an_upload_at_most_every_pace_seconds():
    client = FakeClient()
    plan = UploadPlan(client=client, tokens=["t0", "t1"], images=[("a.png", b"A")],
                                content_type="x", duration=0.9, pace=0.4)
    recorder = run_uploads(plan)
    starts = {user: sorted(req.started for req in recorder.requests if req.user == user) for user in (0, 1)}
    assert [len(starts[0]), len(starts[1])] == [3, 2]  # user 0 at 0, 0.4, 0.8 s; user 1 offset by 0.2 s: 0.2, 0.6
    assert starts[1][0] - starts[0][0] == pytest.approx(0.2, abs=0.15)
    assert all(b - a == pytest.approx(0.4, abs=0.15) for user in (0, 1) for a, b in zip(starts[user], starts[user][1:]))


def test_polling_follows_jobs_to_the_end_and_counts_its_errors():
    client = FakeClient(states={
        "u1": [(200, {"id": 1, "status": "running"}), (200, {"id": 1, "status": "done", "finished_at": iso(T0)})],
        "u2": [ConnectionResetError(), (503, {}), (200, {"id": 2, "status": "failed"})],
    })
    jobs = [Job(0, 1, "u1", accepted_at=T0 - 5, record={"id": 1, "status": "queued"}),
            Job(1, 2, "u2", accepted_at=T0 - 5, record={"id": 2, "status": "queued"})]
    naps = []
    errors = poll_jobs(client, jobs, ["t0", "t1"], timeout=60, interval=0.5, sleep=naps.append)
    assert [job.status for job in jobs] == ["done", "failed"]
    assert jobs[0].finish_time() == pytest.approx(T0)
    assert errors == {"ConnectionResetError": 1, "HTTP 503": 1}
    assert naps == [0.5, 0.5]
    assert {(call[1], call[2]) for call in client.calls} == {("u1", "t0"), ("u2", "t1")}


def test_polling_asks_about_the_oldest_unfinished_jobs_first_and_everything_at_the_timeout():
    states = {f"u{n}": [(200, {"id": n, "status": "queued"})] for n in range(1, 6)}
    states["u1"] = [(200, {"id": 1, "status": "done"})]
    client = FakeClient(states=states)
    jobs = [Job(0, n, f"u{n}", accepted_at=T0 + n, record={"id": n, "status": "queued"}) for n in range(1, 6)]
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    poll_jobs(client, jobs, ["t0"], timeout=2, interval=1, window=2, clock=lambda: now[0], sleep=sleep)
    asked = [call[1] for call in client.calls]
    # Round 1: u1 (done) and u2; round 2: u2 and u3; at the timeout (round 3): all four still unfinished.
    assert asked == ["u1", "u2", "u2", "u3", "u2", "u3", "u4", "u5"]


def test_polling_gives_up_at_the_timeout_leaving_jobs_unfinished():
    client = FakeClient(states={"u1": [(200, {"id": 1, "status": "running"})]})
    jobs = [Job(0, 1, "u1", accepted_at=T0, record={"id": 1, "status": "queued"})]
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    poll_jobs(client, jobs, ["t0"], timeout=10, interval=3, clock=lambda: now[0], sleep=sleep)
    assert jobs[0].status == "running" and jobs[0].finish_time() is None
    assert len(client.calls) == 5  # at 0, 3, 6, 9 and 12 s: the round at the deadline still asks


# --- accounts -----------------------------------------------------------------------------------


def test_benchmark_users_get_a_vault_opening_token_and_no_login_password(db):
    made = create_benchmark_users("r1", 2)
    assert [user.username for user, _ in made] == ["loadbench-r1-01", "loadbench-r1-02"]
    for user, plaintext in made:
        token = api_token_by_plaintext(token=plaintext)
        assert token.user == user and token.scope == "read_write" and token.master_key_wrap
        assert not user.has_usable_password()


def test_cleanup_deletes_only_the_runs_users_with_their_images_and_blobs(db, _isolated_storage, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    (user, plaintext), = create_benchmark_users("r2", 1)
    other, = create_benchmark_users("r3", 1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    upload = io.BytesIO(image_bytes(make_photo()))
    upload.name = "p.png"
    response = api.post("/api/v1/images/", {"file": upload, "codec": "png"}, format="multipart")
    assert response.status_code in SUCCESS, response.content[:300]  # the token opens the vault
    assert ImageRecord.objects.filter(owner=user).count() == 1 and files_under(_isolated_storage)
    with django_capture_on_commit_callbacks(execute=True):  # blobs go once the deletion commits
        assert delete_benchmark_users("r2") == (1, 1)
    assert not ImageRecord.objects.exists() and not files_under(_isolated_storage)
    assert list(get_user_model().objects.values_list("username", flat=True)) == [other[0].username]


def test_unreachable_server_leaves_no_benchmark_users_behind(db, tmp_path):
    make_photo(16, 16).save(tmp_path / "p.png")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = io.StringIO()
    with pytest.raises(CommandError, match=f"Nothing usable answers at http://127.0.0.1:{port}"):
        call_command("benchmark_load", base_url=f"http://127.0.0.1:{port}", users=2, duration=1, images=str(tmp_path), stdout=out)
    assert not get_user_model().objects.exists()
    assert "2 user(s) deleted" in out.getvalue()


def test_cleanup_of_an_unknown_run_says_so(db):
    with pytest.raises(CommandError, match='"loadbench-nosuchrun-\\*"'):
        call_command("benchmark_load", cleanup="nosuchrun")
    with pytest.raises(CommandError, match='"Bad Id" is not a run id'):
        call_command("benchmark_load", cleanup="Bad Id")


class _JobServer(BaseHTTPRequestHandler):
    """The job API the portal is moving to: 202 + Location, then queued → running → done over
    three GETs, with the server's timestamps."""
    records: dict = {}
    deleted: list = []
    lock = threading.Lock()

    def _send(self, code, payload=None, headers=()):
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert b'name="codec"\r\n\r\nauto' in body and self.headers["Authorization"].startswith("Token ")
        with self.lock:
            n = len(self.records) + 1
            now = time.time()
            self.records[n] = {"id": n, "status": "queued", "progress": 0, "queued_at": iso(now), "polls": 0}
        self._send(202, {k: v for k, v in self.records[n].items() if k != "polls"}, [("Location", f"/api/v1/images/{n}/")])

    def do_GET(self):
        if self.path == "/api/v1/images/":
            return self._send(200, {"count": 0, "results": []})
        n = int(self.path.rstrip("/").rsplit("/", 1)[1])
        with self.lock:
            record = self.records[n]
            record["polls"] += 1
            queued = parse_timestamp(record["queued_at"])
            if record["polls"] >= 1:
                record.update(status="running", started_at=iso(queued + 0.5))
            if record["polls"] >= 2:
                record.update(status="done", progress=100, finished_at=iso(queued + 1.5))
            answer = {k: v for k, v in record.items() if k != "polls"}
        self._send(200, answer)

    def do_DELETE(self):
        with self.lock:
            self.deleted.append(self.path)
        self._send(204)

    def log_message(self, *args):
        pass


def test_the_command_follows_202_jobs_to_done_and_reports_their_timings(db, tmp_path):
    for seed in range(2):
        make_photo(16, 16, seed=seed).save(tmp_path / f"p{seed}.png")
    _JobServer.records, _JobServer.deleted = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JobServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = io.StringIO()
    try:
        call_command("benchmark_load", base_url=f"http://127.0.0.1:{server.server_address[1]}", users=2, duration=1,
                     pace=0.4, images=str(tmp_path), poll_interval=0.1, json_path=str(tmp_path / "r.json"), stdout=out)
    finally:
        server.shutdown()
        server.server_close()
    report = json.loads((tmp_path / "r.json").read_text())
    uploads = len(_JobServer.records)
    assert uploads >= 4 and report["requests"] == report["accepted"] == uploads and report["errors"] == {}
    assert report["jobs"]["done"] == uploads and report["jobs"]["unfinished"] == 0
    assert report["queue_wait_s"]["p95"] == pytest.approx(0.5, abs=0.01)
    assert report["run_time_s"]["max"] == pytest.approx(1.0, abs=0.01)
    assert sorted(_JobServer.deleted) == sorted(f"/api/v1/images/{n}/" for n in _JobServer.records)
    assert not get_user_model().objects.exists()
    assert "queue wait (started_at - queued_at): p50 0.5 s" in out.getvalue()
