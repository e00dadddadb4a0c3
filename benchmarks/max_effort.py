"""The max-effort benchmark behind `benchmark_max_effort`: what the learned codec's max effort
(SGA refinement of the latents, compression/learned/refine.py) buys with the shipped weights.
For every photo and quality, the default file and the refined one (after each snapshot step
count, and after all steps), their bpp from the real file size and PSNR from the decoded file,
the BD-rate of each step count against default effort, and the seconds per megapixel of
refining. The refined files are the raw refinement (no best-of-two with the default file, unlike
`encode_refined`), so the figures show what refining does. Evaluation only, nothing is trained.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.errors import BenchmarkError
from compression.bdrate import bd_rate
from compression.datasets import image_files
from compression.learned import coder as learned
from compression.learned import refine
from compression.learned.coding import pad
from compression.metrics import psnr

DEFAULT_NAMES = ["kodim01", "kodim07", "kodim15", "kodim23"]


def find_image(folder: str | Path, name: str) -> Path:
    """The image of `folder` whose name without its suffix is `name`."""
    try:
        paths = image_files(folder)
    except FileNotFoundError:
        paths = []
    path = next((p for p in paths if p.stem == name), None)
    if path is None:
        raise BenchmarkError(f"No image {name!r} in {str(folder)!r}.")
    return path


def run(loaded, folder: str | Path, names: list[str], qualities, steps: int, *, snapshots=(),
        on_row=None) -> tuple[list[dict], dict]:
    """Every named photo of `folder` (see measure_photo), then the summary: (rows, summary)."""
    rows = []
    for name in names:
        image = np.asarray(Image.open(find_image(folder, name)).convert("RGB"))
        rows += measure_photo(loaded, name, image, qualities, steps, snapshots=snapshots, on_row=on_row)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return rows, summarize(rows, names, step_counts(snapshots, steps), peak_rss_mb=peak_rss_mb)


def step_counts(snapshots, steps: int) -> list[int]:
    """The step counts measured: each snapshot below `steps`, and `steps`."""
    return sorted({*(s for s in snapshots if 0 < s < steps), steps})


def measure_photo(loaded, name: str, image: np.ndarray, qualities, steps: int, *, snapshots=(),
                  on_row=None) -> list[dict]:
    """Rows for one photo: at each quality, the default file (steps 0), then the refined file at
    each of step_counts(snapshots, steps); the last carries the seconds per megapixel of the
    whole refinement. `on_row(row)` as each row is made."""
    counts = step_counts(snapshots, steps)
    megapixels = image.shape[0] * image.shape[1] / 1e6
    session = learned.EncoderSession(loaded, image)
    rows = []
    for quality in qualities:
        knob = loaded.knob(quality)

        def add(data, label, seconds=None):
            row = {"image": name, "quality": quality, "steps": label, "bytes": len(data),
                   "bpp": len(data) * 8 / (image.shape[0] * image.shape[1]),
                   "psnr": psnr(learned.decode(data, loaded), image),
                   "loss": refine.real_loss(loaded, data, image, knob)}
            if seconds is not None:
                row["seconds_per_megapixel"] = seconds / megapixels
            rows.append(row)
            if on_row is not None:
                on_row(row)

        add(session.encode(quality), 0)
        started = time.perf_counter()
        result = refine.refine(loaded.model, pad(session.array), session.analysis(), knob, steps,
                               pixels=image.shape[:2], snapshot_steps=set(counts))
        seconds = time.perf_counter() - started
        for count in counts:
            analysis = result.analysis if count == steps else result.snapshots[count]
            add(session.encode(quality, analysis=analysis), count, seconds if count == steps else None)
    return rows


def summarize(rows: list[dict], names: list[str], counts: list[int], *, peak_rss_mb: float) -> dict:
    """Per step count: BD-rate against default effort (mean and per image) and the change of the
    real rate–distortion loss; the seconds per megapixel of refining; the peak memory."""
    summary = {"steps": counts, "peak_rss_mb": peak_rss_mb, "bd_rate_vs_default": {}, "loss_change_percent": {}}
    for count in counts:
        gains, changes = [], []
        for name in names:
            base = [r for r in rows if r["image"] == name and r["steps"] == 0]
            test = [r for r in rows if r["image"] == name and r["steps"] == count]
            gains.append(bd_rate([r["bpp"] for r in base], [r["psnr"] for r in base],
                                 [r["bpp"] for r in test], [r["psnr"] for r in test]))
            changes += [100 * (t["loss"] / b["loss"] - 1) for b, t in zip(base, test)]
        summary["bd_rate_vs_default"][count] = {"mean": float(np.nanmean(gains)), **dict(zip(names, gains))}
        summary["loss_change_percent"][count] = {"mean": float(np.mean(changes)), "max": float(np.max(changes))}
    timing = [r["seconds_per_megapixel"] for r in rows if "seconds_per_megapixel" in r]
    summary["seconds_per_megapixel"] = {"mean": float(np.mean(timing)), "max": float(np.max(timing))}
    return summary


def row_line(row: dict) -> str:
    timing = f"  {row['seconds_per_megapixel']:.0f} s/MP" if "seconds_per_megapixel" in row else ""
    return (f"{row['image']} q={row['quality']:g} steps={row['steps']:>4}: {row['bpp']:.4f} bpp "
            f"{row['psnr']:.2f} dB loss {row['loss']:.4f}" + timing)


def summary_lines(summary: dict, names: list[str]) -> list[str]:
    lines = []
    for count in summary["steps"]:
        gains = [summary["bd_rate_vs_default"][count][name] for name in names]
        loss = summary["loss_change_percent"][count]
        lines.append(f"{count:>4} steps: BD-rate vs default {summary['bd_rate_vs_default'][count]['mean']:+.2f} % "
                     f"(per image {', '.join(f'{g:+.2f}' for g in gains)}); real loss change "
                     f"mean {loss['mean']:+.2f} %, worst {loss['max']:+.2f} %")
    timing = summary["seconds_per_megapixel"]
    lines.append(f"refining {summary['steps'][-1]} steps: {timing['mean']:.0f} s per megapixel (max {timing['max']:.0f}); "
                 f"peak RSS {summary['peak_rss_mb']:.0f} MB")
    return lines
