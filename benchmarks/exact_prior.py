"""The exact-prior benchmark behind `benchmark_exact_prior`: what the exact (integer)
decoder-side probability model costs. For every image and every trained level, the float model's
own figures (its likelihoods' bits, its reconstruction rounded to 8 bits) against the real `.msc`
file (integer h_s/context/parameter networks, quantised CDFs, range coder) and its decoded pixels;
BD-rate of the files against the float model, and the decode time.

PSNR is `compression.metrics.psnr`: a reconstruction identical to the original has an infinite
PSNR. Such a point has no place on a rate–distortion curve, so the means, the largest difference
and the BD-rates are taken over finite values only, the report counts the identical ones, and
the JSON (which has no infinity) writes them as null.
"""
from __future__ import annotations

import json
import math
import time

import keras
import numpy as np
from PIL import Image

from compression.bdrate import bd_rate
from compression.learned import coder as learned
from compression.learned.coding import pad
from compression.metrics import psnr

FIGURES = ("float_bpp", "float_psnr", "file_bpp", "file_psnr")


def run(loaded, paths, *, on_image=None) -> dict:
    """Every image at every trained level, then the summary; `on_image(path)` after each."""
    rows = []
    for path in paths:
        rows += measure_image(loaded, np.asarray(Image.open(path).convert("RGB")), path.name)
        if on_image is not None:
            on_image(path)
    return summarize(rows, loaded.num_levels)


def measure_image(loaded, pixels: np.ndarray, name: str) -> list[dict]:
    """One row per trained level: the float model's bpp and PSNR, the file's, the decode time."""
    h, w = pixels.shape[:2]
    levels = loaded.num_levels
    x = pad(pixels.astype(np.float32) / 255.0)[None]
    rows = []
    for level in range(levels):
        pred = loaded.model({"image": x, "level": np.array([level], np.int32)}, training=False)
        x_hat = np.clip(keras.ops.convert_to_numpy(pred["x_hat"])[0, :h, :w], 0, 1)
        float_bits = float(keras.ops.convert_to_numpy(pred["bpp"])[0]) * x.shape[1] * x.shape[2]
        data = learned.encode(loaded, pixels, 100.0 * level / (levels - 1))
        started = time.perf_counter()
        decoded = learned.decode(data, loaded)
        seconds = time.perf_counter() - started
        rows.append({
            "image": name, "level": level, "pixels": h * w,
            "float_bpp": float_bits / (h * w), "float_psnr": psnr(pixels, np.round(x_hat * 255).astype(np.uint8)),
            "file_bpp": len(data) * 8 / (h * w), "file_psnr": psnr(pixels, decoded), "decode_s": seconds,
        })
    return rows


def _finite_mean(values) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def summarize(rows: list[dict], levels: int) -> dict:
    """The report: BD-rate of the files against the float model (on the per-level mean curve and
    as the mean of per-image BD-rates), the largest PSNR difference, the decode time per
    megapixel, the per-level means, and the rows."""
    names = list(dict.fromkeys(r["image"] for r in rows))
    per_image = []
    for name in names:
        mine = [r for r in rows if r["image"] == name]
        per_image.append(bd_rate([r["float_bpp"] for r in mine], [r["float_psnr"] for r in mine],
                                 [r["file_bpp"] for r in mine], [r["file_psnr"] for r in mine]))
    mean = {k: [_finite_mean(r[k] for r in rows if r["level"] == lv) for lv in range(levels)] for k in FIGURES}
    both_finite = [r for r in rows if math.isfinite(r["file_psnr"]) and math.isfinite(r["float_psnr"])]
    return {
        "images": len(names), "levels": levels,
        "bd_rate_files_vs_float_mean_curve": bd_rate(mean["float_bpp"], mean["float_psnr"], mean["file_bpp"], mean["file_psnr"]),
        "bd_rate_files_vs_float_per_image_mean": _finite_mean(per_image),
        "max_psnr_difference_db": max((abs(r["file_psnr"] - r["float_psnr"]) for r in both_finite), default=math.nan),
        "identical_reconstructions": len(rows) - len(both_finite),
        "decode_seconds_per_megapixel": float(sum(r["decode_s"] for r in rows) / sum(r["pixels"] for r in rows) * 1e6),
        "per_level": mean, "rows": rows,
    }


def report_lines(report: dict) -> list[str]:
    identical = report["identical_reconstructions"]
    lines = [
        f"{report['images']} images × {report['levels']} levels: BD-rate of the real files against the float model "
        f"{report['bd_rate_files_vs_float_mean_curve']:+.2f} % (mean curve), "
        f"{report['bd_rate_files_vs_float_per_image_mean']:+.2f} % (mean of per-image BD-rates); "
        f"largest PSNR difference {report['max_psnr_difference_db']:.3f} dB; "
        f"decode {report['decode_seconds_per_megapixel']:.2f} s per megapixel"
        + (f"; {identical} reconstruction(s) identical to the original (infinite PSNR, left out)" if identical else "")
    ]
    mean = report["per_level"]
    for lv in range(report["levels"]):
        lines.append(
            f"  level {lv}: float {mean['float_bpp'][lv]:.4f} bpp {mean['float_psnr'][lv]:.2f} dB | "
            f"file {mean['file_bpp'][lv]:.4f} bpp {mean['file_psnr'][lv]:.2f} dB"
        )
    return lines


def to_json(report: dict) -> str:
    """The report as JSON: infinite and undefined figures are null."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(report), indent=1)
