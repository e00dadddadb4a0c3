"""python manage.py benchmark_codec --dataset ../shared/data/kodak

The learned codec at each trained quality level against WebP and AVIF measured in the same run:
mean bits per pixel from real file sizes, mean RGB PSNR, BD-rate, encode+decode time.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEFAULT_DATASET = settings.BASE_DIR.parent / "shared" / "data" / "kodak"
CLASSICAL_QUALITIES = {"webp": (5, 15, 30, 50, 70, 85, 95), "avif": (10, 25, 40, 55, 70, 85, 95)}


class Command(BaseCommand):
    help = "Rate–distortion of the learned codec vs WebP and AVIF (real file sizes), with BD-rate."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
        parser.add_argument("--skip", type=int, default=0,
                            help="leave out the first N images (BSDS500 test: its first 24 validate training)")
        parser.add_argument("--limit", type=int, default=None, help="N images only")
        parser.add_argument("--weights", default=None)
        parser.add_argument("--levels", type=int, default=None,
                            help="number of quality points for the learned codec (default: its trained levels)")

    def handle(self, *args, **opts):
        from PIL import Image

        from compression.bdrate import bd_rate
        from compression.learned import coder as learned
        from compression.metrics import psnr
        from compression.registry import get_codec

        folder = Path(opts["dataset"])
        paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"})
        if not paths:
            raise CommandError(f"No images in {str(folder)!r}")
        paths = paths[opts["skip"]:]
        paths = paths[: opts["limit"]] if opts["limit"] else paths
        if not paths:
            raise CommandError(f"--skip {opts['skip']} leaves no image of {str(folder)!r}")
        loaded = learned.load_model("mscae", opts["weights"])
        levels = opts["levels"] or loaded.num_levels
        mscae_q = [round(100 * k / (levels - 1), 2) for k in range(levels)]
        rows = {("mscae", q): [] for q in mscae_q}
        for name, qs in CLASSICAL_QUALITIES.items():
            rows.update({(name, q): [] for q in qs})

        estimate_ratios, header_sizes = [], []
        for i, path in enumerate(paths, 1):
            image = Image.open(path).convert("RGB")
            arr = np.asarray(image)
            pixels = arr.shape[0] * arr.shape[1]
            for (name, q), results in rows.items():
                started = time.perf_counter()
                if name == "mscae":
                    data, estimated = learned.encode_with_estimate(loaded, arr, q)
                    decoded = learned.decode(data, loaded)
                    _, z_string, y_string = learned.bitstream.unpack(data)
                    estimate_ratios.append(8 * (len(z_string) + len(y_string)) / estimated)
                    header_sizes.append(len(data) - len(z_string) - len(y_string))
                else:
                    c = get_codec(name)
                    data = c.encode(image, quality=q)
                    decoded = np.asarray(c.decode(data).convert("RGB"))
                seconds = time.perf_counter() - started
                results.append((len(data) * 8 / pixels, psnr(arr, decoded), seconds))
            self.stderr.write(f"[{i}/{len(paths)}] {path.name}")

        self.stdout.write(f"\n{len(paths)} images from {folder}\n")
        self.stdout.write(f"{'codec':8} {'quality':>8} {'bpp':>8} {'PSNR dB':>8} {'enc+dec s':>10}")
        curves = {}
        for (name, q), results in rows.items():
            bpp, psnr, secs = (float(np.mean(col)) for col in zip(*results))
            curves.setdefault(name, []).append((bpp, psnr))
            self.stdout.write(f"{name:8} {q:8g} {bpp:8.4f} {psnr:8.2f} {secs:10.3f}")
        self.stdout.write("")
        self.stdout.write(
            f"mscae coded strings / model estimate: mean {np.mean(estimate_ratios):.4f}, "
            f"max {np.max(estimate_ratios):.4f} (container header: {max(header_sizes)} bytes per file)"
        )
        mscae_secs = [s for (name, _), results in rows.items() if name == "mscae" for *_, s in results]
        self.stdout.write(f"mscae encode+decode per image: mean {np.mean(mscae_secs):.3f} s, max {np.max(mscae_secs):.3f} s")
        m = np.array(curves["mscae"])
        for anchor in ("webp", "avif"):
            a = np.array(curves[anchor])
            value = bd_rate(a[:, 0], a[:, 1], m[:, 0], m[:, 1])
            text = f"{value:+.1f} %" if np.isfinite(value) else "n/a (the PSNR ranges of the two curves do not overlap)"
            self.stdout.write(f"BD-rate mscae vs {anchor}: {text}")
        if m[0, 0] <= 0.30 <= m[-1, 0]:
            # Between two levels the curve is close to linear in log-rate (as BD-rate assumes).
            at = np.interp(np.log(0.30), np.log(m[:, 0]), m[:, 1])
            self.stdout.write(f"mscae PSNR at 0.30 bpp (interpolated between levels): {at:.2f} dB")
        else:
            self.stdout.write(f"mscae's levels span {m[0, 0]:.3f}–{m[-1, 0]:.3f} bpp: 0.30 bpp is outside")
