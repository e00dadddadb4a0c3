"""The JPEG XL benchmark behind `benchmark_jxl`: what the `jxl` and `jxl-lossless` presets cost
and give, and what the originals' helpers (compression/jxl_archive.py) save.

* effort: encode and decode seconds per megapixel, bytes and PSNR at each libjxl effort, lossy
  (quality 90, distance 1.0) and lossless, on Kodak photos and one large photo;
* lossless: lossless JPEG XL against PNG and lossless WebP (the portal's own codecs at their final
  settings) on two Kodak images;
* transcoding: JPEG → JPEG XL size ratio, time, and the byte-exact reconstruction, on photos;
* memory: peak resident memory of one encode of a photo upscaled to 24 MP, at each effort (a
  fresh process each, so one encode's peak is not hidden by another's);
* perceptual: BD-rate of `jxl` against AVIF and WebP (final settings) on SSIMULACRA 2, with the
  reference Python port (`ssimulacra2`, test requirements), overall and over the high-quality
  part of the curves (scores ≥ 70 and ≥ 80: issue 22's `balanced` and `high`);
* hints: the `psnr_hints` of `jxl` (median lowest quality reaching each PSNR at the search
  effort) on BSDS500 training photos, as the Pillow codecs' hints were made.

The BD-rate against AVIF and WebP comes from `evaluate_codecs --codecs jxl avif webp`.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.errors import BenchmarkError
from compression import jxl_archive
from compression.datasets import image_files
from compression.jxl import JxlCodec, decode_array, distance_for_quality, encode_array
from compression.metrics import psnr
from compression.registry import get_codec

HINT_PSNRS = (28, 30, 33, 36, 40)


def _paths(folder, names=None, limit=None) -> list[Path]:
    try:
        paths = image_files(folder)
    except FileNotFoundError as exc:
        raise BenchmarkError(str(exc)) from None
    if names:
        paths = [p for p in paths if p.stem in names or p.name in names]
        if not paths:
            raise BenchmarkError(f"None of {names!r} in {str(folder)!r}.")
    return paths[:limit] if limit else paths


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def effort_rows(paths: list[Path], efforts, *, lossless: bool, quality: float = 90) -> list[dict]:
    """One row per image and effort: bytes, bpp, PSNR (None when exact), encode/decode s/MP.
    Threads as the codec would use them (one below 1.5 MP, every core above)."""
    rows = []
    for path in paths:
        pixels = _rgb(path)
        mp = pixels.shape[0] * pixels.shape[1] / 1e6
        for effort in efforts:
            kwargs = {"lossless": True} if lossless else {"distance": distance_for_quality(quality)}
            data, enc = _timed(encode_array, pixels, effort=effort, **kwargs)
            back, dec = _timed(decode_array, data)
            value = psnr(pixels, back)
            rows.append({"image": path.name, "megapixels": round(mp, 2), "effort": effort, "bytes": len(data),
                         "bpp": 8 * len(data) / (mp * 1e6), "psnr": None if value == float("inf") else value,
                         "encode_s_per_mp": enc / mp, "decode_s_per_mp": dec / mp})
    return rows


def lossless_rows(paths: list[Path]) -> list[dict]:
    """PNG, lossless WebP and lossless JPEG XL (fast and final settings) of each image."""
    rows = []
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        png = None
        for name, fast, extra in (("png", False, {}), ("webp-lossless", False, {}),
                                  ("jxl-lossless", True, {}), ("jxl-lossless", False, {}),
                                  ("jxl-lossless", False, {"jxl_effort": 7})):
            codec = get_codec(name)
            data, seconds = _timed(codec.encode, image, fast=fast, **extra)
            if not np.array_equal(np.asarray(codec.decode(data).convert("RGB")), np.asarray(image)):
                raise BenchmarkError(f"{name} was not exact on {path.name}")
            png = png or len(data)
            label = name + (" (search)" if fast else "") + (f" effort {extra['jxl_effort']}" if extra else "")
            rows.append({"image": path.name, "codec": label, "bytes": len(data), "of_png": len(data) / png,
                         "encode_s": seconds})
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        data, seconds = _timed(jxl_archive.encode_lossless, buf.getvalue())
        rows.append({"image": path.name, "codec": "encode_lossless (effort 7, verified)", "bytes": len(data),
                     "of_png": len(data) / png, "encode_s": seconds})
    return rows


def transcode_rows(paths: list[Path]) -> list[dict]:
    """JPEG → JPEG XL: ratio, transcode (with its verification) and reconstruction time."""
    rows = []
    for path in paths:
        jpeg = path.read_bytes()
        with Image.open(path) as image:
            mp = image.width * image.height / 1e6
        jxl, enc = _timed(jxl_archive.transcode_jpeg, jpeg, verify=False)
        back, dec = _timed(jxl_archive.reconstruct_jpeg, jxl)
        rows.append({"image": path.name, "megapixels": round(mp, 1), "jpeg_bytes": len(jpeg), "jxl_bytes": len(jxl),
                     "ratio": len(jxl) / len(jpeg), "transcode_s": enc, "reconstruct_s": dec,
                     "verified_s_per_mp": (enc + dec) / mp, "exact": back == jpeg})
    return rows


_MEMORY_CHILD = """
import json, sys, time
import numpy as np
from compression.jxl import encode_array, distance_for_quality

def status(key):  # MB, from Linux's /proc
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))

path, effort, lossless = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
pixels = np.load(path)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current resident size
before = status("VmRSS")
started = time.perf_counter()
kwargs = {"lossless": True} if lossless else {"distance": distance_for_quality(90)}
data = encode_array(pixels, effort=effort, **kwargs)
print(json.dumps({"megapixels": pixels.shape[0] * pixels.shape[1] / 1e6, "effort": effort, "lossless": lossless,
                  "bytes": len(data), "seconds": time.perf_counter() - started, "rss_before_mb": before,
                  "peak_rss_mb": status("VmHWM")}))
"""


def memory_rows(photo: Path, megapixels: float = 24, efforts=(4, 7, 8, 9), lossless_efforts=(2, 5, 7)) -> list[dict]:
    """Peak resident memory (and time, every core) of one encode of `photo` resized to
    `megapixels`, per effort: each in a fresh process that loads the pixels ready-made and resets
    Linux's peak counter just before the encode, so the peak is the encoder's plus what was
    resident before it (`rss_before_mb`: the interpreter and the pixels)."""
    import tempfile

    with Image.open(photo) as image:
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        size = (round(image.width * scale), round(image.height * scale))
        pixels = np.asarray(image.convert("RGB").resize(size, Image.LANCZOS))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pixels.npy"
        np.save(path, pixels)
        for effort, lossless in [(e, False) for e in efforts] + [(e, True) for e in lossless_efforts]:
            out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path), str(effort), "1" if lossless else "0"],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise BenchmarkError(f"The memory probe failed at effort {effort}: {out.stderr.strip()[-300:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


PERCEPTUAL_SWEEPS = {
    "jxl": (30, 50, 65, 78, 85, 90, 95),
    "avif": (25, 40, 55, 70, 80, 88, 95),
    "webp": (15, 30, 50, 70, 85, 92, 97),
}


def _ssimulacra2(reference: Image.Image, distorted: Image.Image) -> float:
    try:
        from ssimulacra2 import compute_ssimulacra2
    except ImportError:
        raise BenchmarkError("The perceptual part needs the ssimulacra2 package (requirements-test.txt).") from None

    def png(image):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        buf.seek(0)
        return buf

    return float(compute_ssimulacra2(png(reference), png(distorted)))


def perceptual_rows(paths: list[Path], sweeps=PERCEPTUAL_SWEEPS) -> list[dict]:
    """bpp and SSIMULACRA 2 of every image × codec × quality (each codec's final setting)."""
    rows = []
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        pixels = image.width * image.height
        for name, qualities in sweeps.items():
            codec = get_codec(name)
            for q in qualities:
                data = codec.encode(image, quality=q)
                score = _ssimulacra2(image, codec.decode(data).convert("RGB"))
                rows.append({"image": path.name, "codec": name, "quality": q, "bpp": 8 * len(data) / pixels,
                             "ssimulacra2": score})
    return rows


def perceptual_bd(rows: list[dict], *, floor: float | None = None) -> dict[str, dict[str, float | None]]:
    """{anchor: {codec: BD-rate %}} on mean curves (bpp, SSIMULACRA 2); `floor` keeps only the
    points whose mean score is at least that (the high-quality end)."""
    from compression.bdrate import bd_rate

    curves: dict[str, list[tuple[float, float]]] = {}
    for codec in dict.fromkeys(r["codec"] for r in rows):
        for q in dict.fromkeys(r["quality"] for r in rows if r["codec"] == codec):
            group = [r for r in rows if r["codec"] == codec and r["quality"] == q]
            point = (float(np.mean([r["bpp"] for r in group])), float(np.mean([r["ssimulacra2"] for r in group])))
            if floor is None or point[1] >= floor:
                curves.setdefault(codec, []).append(point)
    table: dict[str, dict[str, float | None]] = {}
    for anchor in ("avif", "webp"):
        if len(curves.get(anchor, ())) < 2:
            continue
        table[anchor] = {}
        for codec, points in curves.items():
            value = bd_rate(*zip(*curves[anchor]), *zip(*points)) if len(points) >= 2 else float("nan")
            table[anchor][codec] = value if np.isfinite(value) else None
    return table


def psnr_hints(paths: list[Path]) -> tuple[tuple[float, int], ...]:
    """(PSNR, median lowest `jxl` quality reaching it at the search effort)."""
    codec = JxlCodec()
    lowest: dict[float, list[int]] = {p: [] for p in HINT_PSNRS}
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        cache: dict[int, float] = {}

        def at(q, cache=cache, image=image):
            if q not in cache:
                cache[q] = psnr(image, codec.decode(codec.encode(image, quality=q, fast=True)))
            return cache[q]

        for target in HINT_PSNRS:
            lo, hi = 0, 99
            if at(hi) < target:
                continue
            while lo < hi:  # PSNR grows with quality: the lowest quality reaching the target
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if at(mid) >= target else (mid + 1, hi)
            lowest[target].append(lo)
    return tuple((p, int(np.median(qs))) for p, qs in lowest.items() if qs)


def markdown(results: dict) -> list[str]:
    """The report's tables."""
    lines = []
    for key, title in (("lossy_efforts", "Lossy (quality 90, distance 1.0), per effort"),
                       ("lossless_efforts", "Lossless, per effort")):
        if not results.get(key):
            continue
        lines += [f"### {title}", "", "| image | MP | effort | bpp | PSNR dB | encode s/MP | decode s/MP |",
                  "|---|---|---|---|---|---|---|"]
        for r in results[key]:
            shown = "exact" if r["psnr"] is None else f"{r['psnr']:.2f}"
            lines.append(f"| {r['image']} | {r['megapixels']} | {r['effort']} | {r['bpp']:.3f} | {shown} | "
                         f"{r['encode_s_per_mp']:.3f} | {r['decode_s_per_mp']:.3f} |")
        lines.append("")
    if results.get("lossless"):
        lines += ["### Lossless against PNG and lossless WebP", "", "| image | codec | bytes | of PNG | encode s |",
                  "|---|---|---|---|---|"]
        for r in results["lossless"]:
            lines.append(f"| {r['image']} | {r['codec']} | {r['bytes']} | {r['of_png']:.3f} | {r['encode_s']:.2f} |")
        lines.append("")
    if results.get("transcode"):
        lines += ["### JPEG → JPEG XL transcoding", "",
                  "| photo | MP | JPEG bytes | JXL bytes | ratio | transcode s | reconstruct s | both, s/MP | byte-exact |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in results["transcode"]:
            lines.append(f"| {r['image']} | {r['megapixels']} | {r['jpeg_bytes']} | {r['jxl_bytes']} | {r['ratio']:.3f} | "
                         f"{r['transcode_s']:.2f} | {r['reconstruct_s']:.2f} | {r['verified_s_per_mp']:.3f} | {r['exact']} |")
        ratios = [r["ratio"] for r in results["transcode"]]
        lines += ["", f"Mean ratio {np.mean(ratios):.3f} (range {min(ratios):.3f}–{max(ratios):.3f}).", ""]
    if results.get("memory"):
        lines += ["### One encode at 24 MP: peak memory", "",
                  "| mode | effort | MP | seconds | MB before | peak MB | bytes |", "|---|---|---|---|---|---|---|"]
        for r in results["memory"]:
            lines.append(f"| {'lossless' if r['lossless'] else 'quality 90'} | {r['effort']} | {r['megapixels']:.1f} | "
                         f"{r['seconds']:.1f} | {r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['bytes']} |")
        lines.append("")
    if results.get("perceptual"):
        rows = results["perceptual"]
        lines += ["### SSIMULACRA 2: mean curves", "", "| codec | quality | bpp | SSIMULACRA 2 |", "|---|---|---|---|"]
        for codec in dict.fromkeys(r["codec"] for r in rows):
            for q in dict.fromkeys(r["quality"] for r in rows if r["codec"] == codec):
                group = [r for r in rows if r["codec"] == codec and r["quality"] == q]
                lines.append(f"| {codec} | {q} | {np.mean([r['bpp'] for r in group]):.3f} | "
                             f"{np.mean([r['ssimulacra2'] for r in group]):.1f} |")
        lines.append("")
        for floor, title in ((None, "whole curves"), (70.0, "points scoring ≥ 70"), (80.0, "points scoring ≥ 80")):
            lines.append(f"BD-rate on SSIMULACRA 2, {title}:")
            for anchor, values in perceptual_bd(rows, floor=floor).items():
                shown = ", ".join(f"{c} {'–' if v is None else f'{v:+.1f} %'}" for c, v in values.items() if c != anchor)
                lines.append(f"- against {anchor}: {shown}")
            lines.append("")
    if results.get("hints"):
        lines += ["### `jxl` psnr_hints (search effort)", "", f"`{tuple(tuple(h) for h in results['hints'])}`", ""]
    return lines
