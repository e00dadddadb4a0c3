"""python manage.py benchmark_exact_prior [--images ../shared/data/kodak] [--json out.json]

What the exact (integer) decoder-side probability model costs: for every image and every trained
level, the float model's own figures (its likelihoods' bits, its reconstruction) against the real
`.msc` file (integer h_s/context/parameter networks, quantised CDFs, range coder) and its decoded
pixels; BD-rate of the files against the float model, and the decode time. A figure, never a test.
"""
import json
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from PIL import Image


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


class Command(BaseCommand):
    help = "RD cost and decode time of the learned codec's exact integer prior against its float model."

    def add_arguments(self, parser):
        parser.add_argument("--images", default="../shared/data/kodak")
        parser.add_argument("--limit", type=int, default=None, help="only the first N images")
        parser.add_argument("--json", default=None)

    def handle(self, *args, **opts):
        import keras

        from compression.bdrate import bd_rate
        from compression.learned import coder as learned
        from compression.learned.coding import pad

        paths = sorted(p for p in Path(opts["images"]).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not paths:
            raise CommandError(f"No images in {opts['images']!r}.")
        paths = paths[: opts["limit"]] if opts["limit"] else paths
        loaded = learned.load_model("mscae")
        levels = loaded.num_levels
        rows = []
        for path in paths:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            h, w = pixels.shape[:2]
            x = pad(pixels.astype(np.float32) / 255.0)[None]
            for level in range(levels):
                pred = loaded.model({"image": x, "level": np.array([level], np.int32)}, training=False)
                x_hat = np.clip(keras.ops.convert_to_numpy(pred["x_hat"])[0, :h, :w], 0, 1)
                float_bits = float(keras.ops.convert_to_numpy(pred["bpp"])[0]) * x.shape[1] * x.shape[2]
                data = learned.encode(loaded, pixels, 100.0 * level / (levels - 1))
                started = time.perf_counter()
                decoded = learned.decode(data, loaded)
                seconds = time.perf_counter() - started
                rows.append({
                    "image": path.name, "level": level, "pixels": h * w,
                    "float_bpp": float_bits / (h * w), "float_psnr": _psnr(pixels, np.round(x_hat * 255)),
                    "file_bpp": len(data) * 8 / (h * w), "file_psnr": _psnr(pixels, decoded), "decode_s": seconds,
                })
            self.stdout.write(f"{path.name}: done")
        per_image = []
        for name in dict.fromkeys(r["image"] for r in rows):
            mine = [r for r in rows if r["image"] == name]
            per_image.append(bd_rate([r["float_bpp"] for r in mine], [r["float_psnr"] for r in mine],
                                     [r["file_bpp"] for r in mine], [r["file_psnr"] for r in mine]))
        mean = {k: [float(np.mean([r[k] for r in rows if r["level"] == lv])) for lv in range(levels)]
                for k in ("float_bpp", "float_psnr", "file_bpp", "file_psnr")}
        report = {
            "images": len(paths), "levels": levels,
            "bd_rate_files_vs_float_mean_curve": bd_rate(mean["float_bpp"], mean["float_psnr"], mean["file_bpp"], mean["file_psnr"]),
            "bd_rate_files_vs_float_per_image_mean": float(np.mean(per_image)),
            "max_psnr_difference_db": float(max(abs(r["file_psnr"] - r["float_psnr"]) for r in rows)),
            "decode_seconds_per_megapixel": float(sum(r["decode_s"] for r in rows) / sum(r["pixels"] for r in rows) * 1e6),
            "per_level": mean, "rows": rows,
        }
        self.stdout.write(
            f"{len(paths)} images × {levels} levels: BD-rate of the real files against the float model "
            f"{report['bd_rate_files_vs_float_mean_curve']:+.2f} % (mean curve), "
            f"{report['bd_rate_files_vs_float_per_image_mean']:+.2f} % (mean of per-image BD-rates); "
            f"largest PSNR difference {report['max_psnr_difference_db']:.3f} dB; "
            f"decode {report['decode_seconds_per_megapixel']:.2f} s per megapixel"
        )
        for lv in range(levels):
            self.stdout.write(
                f"  level {lv}: float {mean['float_bpp'][lv]:.4f} bpp {mean['float_psnr'][lv]:.2f} dB | "
                f"file {mean['file_bpp'][lv]:.4f} bpp {mean['file_psnr'][lv]:.2f} dB"
            )
        if opts["json"]:
            Path(opts["json"]).write_text(json.dumps(report, indent=1))
