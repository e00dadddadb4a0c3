"""Measure codecs on a set of images: real encoded bytes -> bpp, PSNR, MS-SSIM, SSIMULACRA 2 (with
its worst 256-px region), encode/decode time.

Every codec is measured the same way — `encode` to bytes, `decode` those bytes, compare the
decoded RGB image with the original — so the learned codec, the Pillow formats and the PCA /
K-Means baselines are on one footing. bpp is 8 × file bytes / pixels (the whole file: headers,
palettes and the PCA basis included).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image

from compression.base import Codec, CodecError
from compression.datasets import image_files

# Quality sweeps: each spans the codec's useful range from ~0.1 bpp to near-transparent quality on
# Kodak, so the curves overlap enough for BD-rate. mscae: its six trained levels (knob 0 … 5).
DEFAULT_SWEEPS: dict[str, tuple] = {
    "mscae": (0, 20, 40, 60, 80, 100),
    "jpeg": (5, 10, 20, 30, 50, 70, 85, 95),
    "webp": (5, 15, 30, 50, 70, 85, 95),
    "avif": (10, 25, 40, 55, 70, 85, 95),
    # JPEG XL quality → libjxl distance 15.3, 6.4, 4.6, 3.25, 2.08, 1.18, 0.55
    "jxl": (10, 30, 50, 65, 78, 88, 95),
    "png": (None,),
    "pca": (10, 25, 40, 55, 70, 85),
    "kmeans": (0, 20, 40, 60, 80, 100),
}
DEFAULT_CODECS = ("mscae", "jpeg", "webp", "avif", "jxl", "png", "pca", "kmeans")


@dataclass
class CodecSpec:
    """One curve: a codec, the qualities to sweep and extra encoder keyword arguments."""

    name: str
    codec: Codec
    qualities: tuple = (None,)
    kwargs: dict[str, Any] = field(default_factory=dict)


def build_specs(names: Iterable[str] = DEFAULT_CODECS, *, learned=None, weights=None,
                sweeps: dict[str, tuple] | None = None) -> tuple[list[CodecSpec], list[str]]:
    """Specs for codec names; returns (specs, notes). `learned` is a LoadedModel to use for
    `mscae` (tests pass a tiny one); otherwise the shipped weights (or `weights`) are used when
    present. `mscae` without weights is skipped with a note when it was only a default, and an
    error when it was asked for explicitly (`names` given)."""
    from compression.registry import get_codec

    from .baselines import BASELINES

    names = tuple(names)
    sweeps = {**DEFAULT_SWEEPS, **(sweeps or {})}
    explicit = names != DEFAULT_CODECS
    specs, notes = [], []
    for name in names:
        qualities = sweeps.get(name)
        if name == "mscae":
            from compression.learned.codec import LearnedCodec
            from compression.learned.coder import default_weights_path

            if learned is not None:
                codec = LearnedCodec(loaded=learned)
            else:
                path = Path(weights) if weights else default_weights_path("mscae")
                if not path.exists():
                    message = f"mscae skipped: no weights at {_shown(path)!r}"
                    if explicit:
                        raise CodecError(message)
                    notes.append(message)
                    continue
                codec = LearnedCodec(weights_path=path)
        elif name in BASELINES:
            codec = BASELINES[name]()
        else:
            codec = get_codec(name)  # CodecError naming the choices for unknown names
        if qualities is None:
            qualities = (None,) if codec.quality_range is None else (codec.default_quality,)
        specs.append(CodecSpec(name, codec, tuple(qualities)))
    if not specs:
        raise CodecError(f"No codec to evaluate among {list(names)!r}.")
    return specs, notes


def _shown(path: Path) -> str:
    """A path relative to the project when it is inside it (reports are committed)."""
    from django.conf import settings

    try:
        return str(Path(path).resolve().relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(path)


def image_paths(folder: str | Path, limit: int | None = None) -> list[Path]:
    """The images of `folder` in name order, the first `limit` (compression.datasets.image_files)."""
    return image_files(folder, limit=limit)


def load_images(paths: Iterable[Path]) -> Iterator[tuple[str, Image.Image]]:
    """(name, RGB image) one at a time, so a large set never sits in memory at once."""
    for path in paths:
        with Image.open(path) as im:
            yield path.name, im.convert("RGB")


def bits_per_pixel(size: int, width: int, height: int) -> float:
    return 8.0 * size / (width * height)


def msssim_db(value: float | None) -> float | None:
    """MS-SSIM as decibels, −10·log10(1 − MS-SSIM): the scale RD plots and BD-rate use, since
    MS-SSIM crowds near 1 at useful rates."""
    if value is None or not math.isfinite(value) or value >= 1.0:
        return None
    return -10.0 * math.log10(1.0 - value)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def measure(spec: CodecSpec, image: Image.Image, quality, image_name: str = "") -> dict:
    """Encode, decode and compare one image at one quality; one result row."""
    from compression.metrics import ms_ssim, psnr, ssimulacra2

    kwargs = dict(spec.kwargs)
    if quality is not None:
        kwargs["quality"] = quality
    started = time.perf_counter()
    data = spec.codec.encode(image, **kwargs)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = spec.codec.decode(data)
    decode_s = time.perf_counter() - started
    decoded = decoded.convert("RGB")
    if decoded.size != image.size:
        raise CodecError(f"{spec.name} decoded {decoded.size} from a {image.size} image")
    width, height = image.size
    value_psnr = psnr(image, decoded)
    value_msssim = ms_ssim(image, decoded)
    perceptual = ssimulacra2(image, decoded)
    info = getattr(spec.codec, "info", None)
    params = {"quality": quality}
    if callable(info):
        try:
            params.update(info(data))
        except Exception:  # the parameters are a nicety; the measurement stands without them
            pass
    return {
        "image": image_name,
        "width": width,
        "height": height,
        "codec": spec.name,
        "quality": quality,
        "params": params,
        "bytes": len(data),
        "bpp": bits_per_pixel(len(data), width, height),
        "psnr": _finite(value_psnr),  # None = identical (infinite PSNR)
        "msssim": float(value_msssim),
        "msssim_db": msssim_db(value_msssim),
        "ssimulacra2": float(perceptual.score),
        "ssimulacra2_worst": float(perceptual.worst),
        "encode_s": encode_s,
        "decode_s": decode_s,
        "lossless": not math.isfinite(value_psnr),
    }


def evaluate(images: Iterable[tuple[str, Image.Image]], specs: list[CodecSpec], *,
             total_images: int | None = None, progress: bool = True) -> list[dict]:
    """Rows for every image × codec × quality. A tqdm bar counts images × codecs."""
    from tqdm import tqdm

    total = total_images * len(specs) if total_images else None
    rows = []
    with tqdm(total=total, unit="codec·image", disable=not progress, dynamic_ncols=True) as bar:
        for image_name, image in images:
            for spec in specs:
                bar.set_postfix_str(f"{image_name} {spec.name}", refresh=False)
                for quality in spec.qualities:
                    rows.append(measure(spec, image, quality, image_name))
                bar.update(1)
    return rows


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(rows: list[dict]) -> list[dict]:
    """Mean over images for each (codec, quality) point, in the order the rows came."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["codec"], row["quality"]), []).append(row)
    points = []
    for (codec, quality), group in groups.items():
        lossless = all(r["lossless"] for r in group)
        points.append({
            "codec": codec,
            "quality": quality,
            "images": len(group),
            "bpp": _mean(r["bpp"] for r in group),
            # Mean of per-image PSNR (as CompressAI and the literature report); None = lossless.
            "psnr": None if lossless else _mean(r["psnr"] for r in group),
            "msssim": _mean(r["msssim"] for r in group),
            "msssim_db": None if lossless else _mean(r["msssim_db"] for r in group),
            # Rows from reports made before SSIMULACRA 2 was measured have none: None.
            "ssimulacra2": _mean(r.get("ssimulacra2") for r in group),
            "encode_s": _mean(r["encode_s"] for r in group),
            "decode_s": _mean(r["decode_s"] for r in group),
            "lossless": lossless,
        })
    return points


def curves(summary: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for point in summary:
        out.setdefault(point["codec"], []).append(point)
    return out


def bd_rates(summary: list[dict], anchors=("webp", "jpeg")) -> dict[str, dict[str, dict[str, float | None]]]:
    """{anchor: {codec: {"psnr": %, "msssim": %}}} — BD-rate of each codec's mean curve against
    the anchor's (compression.bdrate.bd_rate, piecewise cubic; MS-SSIM in dB). None where the
    curves do not overlap or a codec has a single point (PNG)."""
    from compression.bdrate import bd_rate

    by_codec = curves(summary)
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for anchor in anchors:
        if anchor not in by_codec:
            continue
        a = by_codec[anchor]
        table[anchor] = {}
        for codec, points in by_codec.items():
            entry = {}
            for metric in ("psnr", "msssim_db"):
                pa = [(p["bpp"], p[metric]) for p in a if p[metric] is not None]
                pt = [(p["bpp"], p[metric]) for p in points if p[metric] is not None]
                value = bd_rate(*zip(*pa), *zip(*pt)) if len(pa) >= 2 and len(pt) >= 2 else float("nan")
                entry["msssim" if metric == "msssim_db" else "psnr"] = _finite(value)
            table[anchor][codec] = entry
    return table


def timings(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Mean encode and decode seconds per codec (over all images and qualities), and per
    megapixel so different image sets compare."""
    out: dict[str, dict[str, float]] = {}
    for codec in dict.fromkeys(r["codec"] for r in rows):
        group = [r for r in rows if r["codec"] == codec]
        mpix = float(np.mean([r["width"] * r["height"] for r in group])) / 1e6
        enc, dec = _mean(r["encode_s"] for r in group), _mean(r["decode_s"] for r in group)
        out[codec] = {"encode_s": enc, "decode_s": dec,
                      "encode_s_per_mpix": enc / mpix, "decode_s_per_mpix": dec / mpix}
    return out
