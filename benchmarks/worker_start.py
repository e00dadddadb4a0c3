"""The cold-start benchmark behind `benchmark_worker_start`: how long a fresh worker process's
first compression jobs take against its tenth, with the start-up warm-up
(vault/jobs/readiness.py, what a Celery worker process does now) and without it (the first job
loads TensorFlow and the model itself).

Each variant runs in a fresh Python process, since the cost being measured is a process's first
use of the learned codec. A job here is what the worker's job runs for one upload:
`compression.services.compress_image` on a decoded photo. A figure, never a test."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from compression.datasets import image_files


def run_jobs(*, folder: Path, jobs: int, codec: str, warm: bool) -> dict:
    """In this process: the warm-up (when `warm`), then `jobs` compressions, each timed."""
    from compression.services import compress_image
    from compression.warmup import warm_codecs

    started = time.perf_counter()
    warmed = warm_codecs() if warm else {}
    warm_s = time.perf_counter() - started
    paths = image_files(folder)
    times = []
    for i in range(jobs):
        image = Image.open(paths[i % len(paths)]).convert("RGB")
        t = time.perf_counter()
        compress_image(image=image, codec=codec, target="balanced")
        times.append(time.perf_counter() - t)
    return {"warm": warm, "warm_up_s": round(warm_s, 2), "warmed": warmed, "job_s": [round(t, 2) for t in times]}


def measure(*, folder: Path, jobs: int, codec: str) -> list[dict]:
    """Both variants, each in a fresh `manage.py benchmark_worker_start --child` process."""
    results = []
    for warm in (False, True):
        args = [sys.executable, "manage.py", "benchmark_worker_start", "--child", "--jobs", str(jobs),
                "--images", str(folder), "--codec", codec] + (["--warm"] if warm else [])
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def describe(results: list[dict]) -> list[str]:
    lines = ["variant   warm-up s   first job s   tenth job s   median of jobs 2-10 s"]
    for r in results:
        jobs = r["job_s"]
        later = sorted(jobs[1:])
        median = later[len(later) // 2] if later else float("nan")
        tenth = jobs[9] if len(jobs) >= 10 else float("nan")
        lines.append(f"{'warm' if r['warm'] else 'cold':8s}  {r['warm_up_s']:9.2f}   {jobs[0]:11.2f}   "
                     f"{tenth:11.2f}   {median:10.2f}")
    return lines
