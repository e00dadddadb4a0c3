"""The storage benchmark behind `benchmark_storage`: what the vault stores per uploaded byte in each
storage mode, through the real service path.

Each photo is stored with `vault.uploads.store_image` (the pages' and the API's path) and its job
is run in this process with `vault.jobs.worker.run_job` (what a Celery worker runs for the
message), so the figures are the real record's: `stored_bytes` (every sealed blob, padded, as
storage holds it) over the upload's bytes, with where the bytes go (original blob, compressed
file, thumbnail). `original` mode also reports the time the worker spent making and verifying the
original's JPEG XL form (`codec_params["original_storage"]["seconds"]`), per megapixel. A 24 MP
photo made by upscaling one of the folder's measures the worker's peak resident memory (VmHWM,
reset before the job). The run's user, records and blobs are deleted at the end.
"""
from __future__ import annotations

import io
import os
import secrets
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from django.contrib.auth import get_user_model
from django.test import override_settings
from PIL import Image

from benchmarks import memory
from benchmarks.errors import BenchmarkError
from compression.datasets import image_files
from vault import blobs, keyring, uploads
from vault.images.deletion import delete_all_images
from vault.images.opening import reveal_figures
from vault.jobs import worker
from vault.models import ImageRecord

MODES = ("original", "saver")
GOAL = {"original": (0.85, 0.92), "saver": (0.15, None)}  # (mean at most, none above)


@dataclass
class Row:
    name: str
    mode: str
    megapixels: float
    upload_bytes: int
    stored_bytes: int
    original_bytes: int
    compressed_bytes: int
    thumbnail_bytes: int
    codec: str
    original_storage: str
    archive_seconds: float | None
    archive_cpu_seconds: float | None
    job_seconds: float

    @property
    def ratio(self) -> float:
        return self.stored_bytes / self.upload_bytes


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    peak_24mp: dict = field(default_factory=dict)
    load: str = ""
    target: str = "balanced"
    codec: str = "auto"

    def per_mode(self, mode: str, *, kind: str | None = None) -> list[Row]:
        return [r for r in self.rows if r.mode == mode and (kind is None or r.name.lower().endswith(kind))]

    def lines(self) -> list[str]:
        out = [f"codec {self.codec}, target {self.target}; {self.load}", ""]
        out.append(f"{'photo':44} {'mode':8} {'MP':>5} {'upload':>10} {'stored':>10} {'ratio':>6}  "
                   f"{'orig':>5} {'compr':>5} {'thumb':>5}  {'original kept as':16} {'s/MP':>5}")
        for r in self.rows:
            share = lambda n: f"{n / r.upload_bytes:5.3f}"  # noqa: E731 - a column's format
            s_mp = f"{r.archive_seconds / r.megapixels:5.2f}" if r.archive_seconds is not None else "    –"
            if r.archive_cpu_seconds is not None:
                s_mp += f" ({r.archive_cpu_seconds / r.megapixels:.2f} CPU)"
            out.append(f"{r.name[:44]:44} {r.mode:8} {r.megapixels:5.1f} {r.upload_bytes:10,} {r.stored_bytes:10,} "
                       f"{r.ratio:6.3f}  {share(r.original_bytes)} {share(r.compressed_bytes)} {share(r.thumbnail_bytes)}  "
                       f"{r.original_storage:16} {s_mp}")
        out.append("")
        for mode in MODES:
            for label, kind in (("all", None), ("JPEG", ".jpg"), ("PNG", ".png")):
                rows = self.per_mode(mode, kind=kind)
                if not rows:
                    continue
                ratios = [r.ratio for r in rows]
                line = (f"{mode:8} {label:4} n={len(rows):2}  stored/upload mean {statistics.mean(ratios):.3f}, "
                        f"max {max(ratios):.3f} ({max(rows, key=lambda r: r.ratio).name})")
                parts = [("original", "original_bytes"), ("compressed", "compressed_bytes"), ("thumbnail", "thumbnail_bytes")]
                line += "; mean shares " + ", ".join(
                    f"{p} {statistics.mean(getattr(r, a) / r.upload_bytes for r in rows):.3f}" for p, a in parts
                )
                timed = [r.archive_seconds / r.megapixels for r in rows if r.archive_seconds]
                cpu = [r.archive_cpu_seconds / r.megapixels for r in rows if r.archive_cpu_seconds]
                if timed:
                    line += f"; transcoding + verification {statistics.mean(timed):.2f} s/MP wall (max {max(timed):.2f})"
                if cpu:
                    line += f", {statistics.mean(cpu):.2f} CPU-s/MP (max {max(cpu):.2f})"
                out.append(line)
        if self.peak_24mp:
            p = self.peak_24mp
            out.append(f"24 MP ({p['size']}, {p['upload_bytes']:,} bytes, {p['mode']}): worker peak RSS {p['peak_mb']:.0f} MB "
                       f"(+{p['peak_mb'] - p['before_mb']:.0f} MB over {p['before_mb']:.0f} MB), job {p['job_s']:.1f} s, "
                       f"original kept as {p['original_storage']}, transcoding + verification {p['archive_s_per_mp']:.2f} s/MP wall, "
                       f"{p['archive_cpu_s_per_mp']:.2f} CPU-s/MP; stored/upload {p['stored_ratio']:.3f}")
        return out


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) at the start"


def make_user(password: str):
    user = get_user_model().objects.create_user(f"storage-bench-{secrets.token_hex(4)}", password=password)
    user.master_key, _recovery = keyring.create_vault(user=user, password=password)
    return user


def store_and_run(user, data: bytes, name: str, *, mode: str, codec: str, target: str) -> tuple[ImageRecord, float]:
    """One upload through the service and its job through the worker's code, in this process."""
    with mock.patch.object(uploads, "enqueue", lambda record: None):
        record, _ = uploads.store_image(owner=user, master_key=user.master_key, uploaded_file_or_bytes=data, filename=name,
                                        codec=codec, target=target, storage=mode, allow_duplicate=True)
    started = time.perf_counter()
    worker.run_job(record_id=record.pk, task_id=record.job_task_id)
    seconds = time.perf_counter() - started
    record.refresh_from_db()
    if record.status != ImageRecord.Status.DONE:
        raise BenchmarkError(f"{name} ({mode}): the job ended {record.status}: {record.error}")
    reveal_figures([record], master_key=user.master_key)  # the exact sizes, not the columns' rounded ones
    return record, seconds


def row_for(record: ImageRecord, name: str, mode: str, seconds: float) -> Row:
    archived = (record.codec_params or {}).get("original_storage") or {}
    return Row(
        name=name, mode=mode, megapixels=record.pixels / 1e6, upload_bytes=record.original_size,
        stored_bytes=record.stored_bytes, original_bytes=blobs.stored_size(record.original_blob),
        compressed_bytes=blobs.stored_size(record.compressed_blob), thumbnail_bytes=blobs.stored_size(record.thumbnail_blob),
        codec=record.codec, original_storage=record.original_storage,
        archive_seconds=archived.get("seconds") if archived.get("storage") not in (None, "as-uploaded") else None,
        archive_cpu_seconds=archived.get("cpu_seconds") if archived.get("storage") not in (None, "as-uploaded") else None,
        job_seconds=seconds,
    )


def upscaled_24mp(path: Path) -> bytes:
    """A 24 MP JPEG (6000 × 4000) made by upscaling a photo, as a camera would write it."""
    with Image.open(path) as image:
        big = image.convert("RGB").resize((6000, 4000), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def spread(files: list[Path], sample: int | None) -> list[Path]:
    """`sample` files evenly spaced over the sorted folder (all of them when None)."""
    if not sample or sample >= len(files):
        return files
    return [files[round(i * (len(files) - 1) / max(sample - 1, 1))] for i in range(sample)]


def run(*, photos: str | Path, kodak: str | Path, kodak_count: int, limit: int | None, modes=MODES, sample: int | None = None,
        codec: str = "auto", target: str = "balanced", big: bool = True, log=print) -> Report:
    try:
        files = spread(image_files(photos, limit=limit), sample)
        pngs = image_files(kodak, limit=kodak_count) if kodak_count else []
    except FileNotFoundError as exc:
        raise BenchmarkError(str(exc)) from exc
    report = Report(load=machine_load(), target=target, codec=codec)
    user = make_user(secrets.token_urlsafe(16))
    unbounded = override_settings(USER_MAX_ACTIVE_JOBS=10**9, USER_QUOTA_BYTES=10**15)
    try:
        with unbounded:
            for path in [*files, *pngs]:
                data = path.read_bytes()
                for mode in modes:
                    record, seconds = store_and_run(user, data, path.name, mode=mode, codec=codec, target=target)
                    row = row_for(record, path.name, mode, seconds)
                    report.rows.append(row)
                    log(f"  {path.name[:40]:40} {mode:8} {row.ratio:.3f} ({row.original_storage}, {row.codec}, job {seconds:.1f} s)")
            if big and files:
                report.peak_24mp = peak_at_24mp(user, files[0], codec=codec, target=target, log=log)
    finally:
        delete_all_images(owner=user)
        user.delete()
    return report


def peak_at_24mp(user, path: Path, *, codec: str, target: str, log) -> dict:
    data = upscaled_24mp(path)
    before = (memory.status_kb("VmRSS") or 0) / 1024
    if not memory.reset_peak():
        raise BenchmarkError("This system does not let a process reset its peak memory (/proc/self/clear_refs).")
    record, seconds = store_and_run(user, data, f"{path.stem}-24mp.jpg", mode="original", codec=codec, target=target)
    peak = (memory.status_kb("VmHWM") or 0) / 1024
    archived = (record.codec_params or {}).get("original_storage") or {}
    result = {
        "size": f"{record.width} × {record.height}", "upload_bytes": len(data), "mode": "original",
        "before_mb": before, "peak_mb": peak, "job_s": seconds, "original_storage": record.original_storage,
        "archive_s_per_mp": (archived.get("seconds") or 0) / (record.pixels / 1e6),
        "archive_cpu_s_per_mp": (archived.get("cpu_seconds") or 0) / (record.pixels / 1e6),
        "stored_ratio": record.stored_bytes / record.original_size,
    }
    log(f"  24 MP: peak {peak:.0f} MB, job {seconds:.1f} s, stored/upload {result['stored_ratio']:.3f}")
    return result
