"""The load benchmark's figures: percentiles, the JSON-ready summary of a run and its text."""
from __future__ import annotations

from benchmarks.load.records import TERMINAL, Job, Request, error_key, parse_timestamp


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
