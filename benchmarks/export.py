"""The export benchmark behind `benchmark_export`: a vault of about `gigabytes` of originals
(the photos of a folder, stored again and again), exported through the API of a real gunicorn
process started for the run, while that process's resident memory is sampled. The zip is written
to a scratch file and checked (every CRC, the manifest, originals byte for byte), then the run's
user and blobs are deleted.

The images are stored without being compressed (their job is not sent): the export reads
originals, and compressing a gigabyte of photos on this machine would take an hour for nothing.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import psutil
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings

from benchmarks.errors import BenchmarkError
from compression.datasets import image_files
from vault import keyring, uploads
from vault.images.deletion import delete_all_images

MIB = 1024 * 1024
READ_BYTES = MIB  # what the client reads per call: it must not be what holds memory


@dataclass
class Report:
    images: int
    distinct: int
    original_bytes: int
    zip_bytes: int = 0
    store_s: float = 0.0
    first_byte_s: float = 0.0
    export_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_by_progress: list[tuple[int, float]] = field(default_factory=list)  # (% of the zip received, MB)
    verified: str = ""

    def lines(self) -> list[str]:
        gb = self.original_bytes / 1e9
        return [
            f"images exported      {self.images} ({self.distinct} distinct photos, stored again and again)",
            f"originals            {self.original_bytes:,} bytes ({gb:.2f} GB); zip {self.zip_bytes:,} bytes",
            f"first byte after     {self.first_byte_s:.2f} s; whole export {self.export_s:.1f} s "
            f"({self.zip_bytes / MIB / max(self.export_s, 1e-9):.0f} MiB/s)",
            f"web process RSS      {self.rss_before_mb:.0f} MB before, peak {self.rss_peak_mb:.0f} MB during "
            f"(+{self.rss_peak_mb - self.rss_before_mb:.0f} MB)",
            "RSS while it streamed " + ", ".join(f"{p} %: {mb:.0f} MB" for p, mb in self.rss_by_progress),
            f"check                {self.verified}",
        ]


def photos(folder: str | Path) -> list[Path]:
    try:
        files = image_files(folder)
    except FileNotFoundError as exc:
        raise BenchmarkError(str(exc)) from exc
    too_big = [f.name for f in files if f.stat().st_size > settings.UPLOAD_MAX_BYTES]
    if too_big:
        raise BenchmarkError(f"{', '.join(too_big[:3])}: above UPLOAD_MAX_BYTES ({settings.UPLOAD_MAX_BYTES} bytes).")
    return files


def make_user(password: str):
    user = get_user_model().objects.create_user(f"export-bench-{secrets.token_hex(4)}", password=password)
    user.master_key, _recovery = keyring.create_vault(user=user, password=password)
    return user


def fill(user, files: list[Path], target_bytes: int, *, log) -> tuple[int, int]:
    """Store the photos in turn until `target_bytes` of originals are stored; (images, bytes)."""
    count = stored = 0
    # No job is sent (see the module's docstring), so every image stays "queued": the per-user
    # bounds on waiting images and on bytes would stop the run long before a gigabyte.
    unbounded = override_settings(USER_MAX_ACTIVE_JOBS=10**9, USER_QUOTA_BYTES=10**15)
    with mock.patch.object(uploads, "enqueue", lambda record: None), unbounded:
        while stored < target_bytes:
            path = files[count % len(files)]
            data = path.read_bytes()
            uploads.store_image(owner=user, master_key=user.master_key, uploaded_file_or_bytes=data,
                                filename=path.name, codec="auto", allow_duplicate=True)
            count, stored = count + 1, stored + len(data)
            if count % 50 == 0:
                log(f"  stored {count} images, {stored / 1e9:.2f} GB")
    return count, stored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(port: int):
    """gunicorn as deployed (gunicorn.conf.py, threaded workers), one process so that the one
    serving the export is the one measured."""
    env = {**os.environ, "WEB_CONCURRENCY": "1", "HOST": "127.0.0.1", "PORT": str(port), "GUNICORN_ACCESS_LOG": "/dev/null"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "portal.wsgi:application"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchmarkError(f"gunicorn exited: {process.stderr.read().decode(errors='replace')[-800:]}")
            try:
                status, _ = request(port, "GET", "/healthz")
                if status in (200, 503):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise BenchmarkError("gunicorn did not answer /healthz within 60 s.")
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def worker_rss_mb(master: int) -> float:
    """Resident memory of the worker processes (the master only forks and watches them)."""
    total = 0
    for child in psutil.Process(master).children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


def request(port: int, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def token(port: int, username: str, password: str) -> str:
    status, body = request(port, "POST", "/api/v1/auth/token/", body=json.dumps({"username": username, "password": password}).encode(),
                           headers={"Content-Type": "application/json"})
    if status != 200:
        raise BenchmarkError(f"The token request answered {status}: {body[:200]!r}")
    return json.loads(body)["token"]


class Sampler(threading.Thread):
    """The worker's RSS every 50 ms, and the highest seen."""

    def __init__(self, master: int):
        super().__init__(daemon=True)
        self.master, self.peak, self.latest, self._done = master, 0.0, 0.0, threading.Event()

    def run(self):
        while not self._done.is_set():
            self.latest = worker_rss_mb(self.master)
            self.peak = max(self.peak, self.latest)
            time.sleep(0.05)

    def stop(self):
        self._done.set()
        self.join()


def download(port: int, auth: str, out: Path, sampler: Sampler, expected_bytes: int, report: Report) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request("GET", "/api/v1/images/export/", headers={"Authorization": f"Token {auth}"})
    response = connection.getresponse()
    if response.status != 200:
        raise BenchmarkError(f"The export answered {response.status}: {response.read(300)!r}")
    received, marks = 0, iter(range(10, 101, 10))
    mark = next(marks)
    with out.open("wb") as sink:
        while chunk := response.read(READ_BYTES):
            if not received:
                report.first_byte_s = time.perf_counter() - started
            sink.write(chunk)
            received += len(chunk)
            while mark is not None and received >= expected_bytes * mark / 100:
                report.rss_by_progress.append((mark, sampler.latest))
                mark = next(marks, None)
    report.export_s, report.zip_bytes = time.perf_counter() - started, received


def verify(out: Path, files: list[Path], images: int) -> str:
    """Every entry's CRC, the manifest's count, and each distinct photo byte for byte."""
    with zipfile.ZipFile(out) as archive:
        bad = archive.testzip()
        if bad:
            raise BenchmarkError(f"{bad}: CRC mismatch in the exported zip.")
        rows = json.loads(archive.read("manifest.json"))["images"]
        exported = [row for row in rows if row["file"]]
        if len(rows) != images or len(exported) != images:
            raise BenchmarkError(f"The manifest lists {len(rows)} images, {len(exported)} with a file; {images} were stored.")
        wanted = {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        seen = {hashlib.sha256(archive.read(row["file"])).hexdigest() for row in exported[:len(files)]}
        if seen != wanted:
            raise BenchmarkError("The first copies of the photos in the zip are not the photos stored.")
    return f"all {images} entries' CRCs, the manifest, and the {len(files)} distinct photos byte for byte: OK"


def run(*, folder, gigabytes: float, log) -> Report:
    files = photos(folder)
    password = secrets.token_urlsafe(16)
    user = make_user(password)
    try:
        started = time.perf_counter()
        log(f"storing about {gigabytes:g} GB of originals from {folder} ...")
        images, stored = fill(user, files, int(gigabytes * 1e9), log=log)
        report = Report(images=images, distinct=min(images, len(files)), original_bytes=stored)
        report.store_s = time.perf_counter() - started
        port = free_port()
        with server(port) as process, tempfile.TemporaryDirectory(prefix="export-bench-") as scratch:
            auth = token(port, user.get_username(), password)
            request(port, "GET", "/api/v1/images/?page=1", headers={"Authorization": f"Token {auth}"})  # warm: every module loaded
            time.sleep(1)
            report.rss_before_mb = worker_rss_mb(process.pid)
            sampler = Sampler(process.pid)
            sampler.start()
            try:
                log("exporting through the API ...")
                download(port, auth, Path(scratch) / "export.zip", sampler, stored, report)
            finally:
                sampler.stop()
            report.rss_peak_mb = sampler.peak
            report.verified = verify(Path(scratch) / "export.zip", files[:images], images)
        return report
    finally:
        with transaction.atomic():  # the blobs go when this commits
            delete_all_images(owner=user)
            user.delete()
