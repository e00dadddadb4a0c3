"""The rate–distortion benchmark behind `benchmark_codec`: the learned codec at each trained
quality level against WebP and AVIF measured in the same run — mean bits per pixel from real file
sizes, mean RGB PSNR, BD-rate, encode+decode time — and how close the learned codec's coded
strings come to its model's own estimate."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.errors import BenchmarkError
from compression.bdrate import bd_rate
from compression.datasets import image_files
from compression.learned import bitstream
from compression.learned import coder as learned
from compression.metrics import psnr
from compression.registry import get_codec

CLASSICAL_QUALITIES = {"webp": (5, 15, 30, 50, 70, 85, 95), "avif": (10, 25, 40, 55, 70, 85, 95)}
QUOTED_BPP = 0.30  # the rate the learned codec's PSNR bar is quoted at


@dataclass
class Measurements:
    # (codec, quality) -> one (bpp, PSNR dB, encode+decode seconds) per image, in image order
    rows: dict[tuple[str, float], list[tuple[float, float, float]]]
    estimate_ratios: list[float] = field(default_factory=list)  # mscae coded bits / model estimate
    header_sizes: list[int] = field(default_factory=list)  # mscae container bytes around the strings


def dataset_images(folder: str | Path, *, skip: int = 0, limit: int | None = None) -> list[Path]:
    try:
        paths = image_files(folder, skip=skip, limit=limit)
    except FileNotFoundError as exc:
        raise BenchmarkError(str(exc)) from None
    if not paths:
        raise BenchmarkError(f"--skip {skip} leaves no image of {str(folder)!r}")
    return paths


def learned_qualities(levels: int) -> list[float]:
    """`levels` quality points from 0 to 100, the trained levels when `levels` is the model's."""
    return [round(100 * k / (levels - 1), 2) for k in range(levels)]


def measure(paths: list[Path], loaded, levels: int, *, progress=None) -> Measurements:
    """Every image through the learned codec at `levels` qualities and through each classical
    codec at its sweep; `progress(i, path)` after each image."""
    rows = {("mscae", q): [] for q in learned_qualities(levels)}
    for name, qs in CLASSICAL_QUALITIES.items():
        rows.update({(name, q): [] for q in qs})
    measured = Measurements(rows)
    for i, path in enumerate(paths, 1):
        image = Image.open(path).convert("RGB")
        arr = np.asarray(image)
        pixels = arr.shape[0] * arr.shape[1]
        for (name, q), results in rows.items():
            started = time.perf_counter()
            if name == "mscae":
                data, estimated = learned.encode_with_estimate(loaded, arr, q)
                decoded = learned.decode(data, loaded)
                _, z_string, y_string = bitstream.unpack(data)
                measured.estimate_ratios.append(8 * (len(z_string) + len(y_string)) / estimated)
                measured.header_sizes.append(len(data) - len(z_string) - len(y_string))
            else:
                c = get_codec(name)
                data = c.encode(image, quality=q)
                decoded = np.asarray(c.decode(data).convert("RGB"))
            seconds = time.perf_counter() - started
            results.append((len(data) * 8 / pixels, psnr(arr, decoded), seconds))
        if progress is not None:
            progress(i, path)
    return measured


def curves(measured: Measurements) -> dict[str, np.ndarray]:
    """codec -> (mean bpp, mean PSNR) per quality, in sweep order."""
    out: dict[str, list] = {}
    for (name, _q), results in measured.rows.items():
        bpp, db, _secs = (float(np.mean(col)) for col in zip(*results))
        out.setdefault(name, []).append((bpp, db))
    return {name: np.array(points) for name, points in out.items()}


def report_lines(measured: Measurements) -> list[str]:
    """The table (means per codec and quality), the estimate check, the learned codec's time,
    its BD-rate against each classical codec and its PSNR at QUOTED_BPP."""
    lines = [f"{'codec':8} {'quality':>8} {'bpp':>8} {'PSNR dB':>8} {'enc+dec s':>10}"]
    for (name, q), results in measured.rows.items():
        bpp, db, secs = (float(np.mean(col)) for col in zip(*results))
        lines.append(f"{name:8} {q:8g} {bpp:8.4f} {db:8.2f} {secs:10.3f}")
    lines.append("")
    ratios = measured.estimate_ratios
    lines.append(
        f"mscae coded strings / model estimate: mean {np.mean(ratios):.4f}, "
        f"max {np.max(ratios):.4f} (container header: {max(measured.header_sizes)} bytes per file)"
    )
    mscae_secs = [s for (name, _), results in measured.rows.items() if name == "mscae" for *_, s in results]
    lines.append(f"mscae encode+decode per image: mean {np.mean(mscae_secs):.3f} s, max {np.max(mscae_secs):.3f} s")
    rd = curves(measured)
    m = rd["mscae"]
    for anchor in CLASSICAL_QUALITIES:
        a = rd[anchor]
        value = bd_rate(a[:, 0], a[:, 1], m[:, 0], m[:, 1])
        text = f"{value:+.1f} %" if np.isfinite(value) else "n/a (the PSNR ranges of the two curves do not overlap)"
        lines.append(f"BD-rate mscae vs {anchor}: {text}")
    if m[0, 0] <= QUOTED_BPP <= m[-1, 0]:
        # Between two levels the curve is close to linear in log-rate (as BD-rate assumes).
        at = np.interp(np.log(QUOTED_BPP), np.log(m[:, 0]), m[:, 1])
        lines.append(f"mscae PSNR at {QUOTED_BPP:.2f} bpp (interpolated between levels): {at:.2f} dB")
    else:
        lines.append(f"mscae's levels span {m[0, 0]:.3f}–{m[-1, 0]:.3f} bpp: {QUOTED_BPP:.2f} bpp is outside")
    return lines
