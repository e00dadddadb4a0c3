"""python manage.py benchmark_max_effort [--images ../shared/data/kodak] [--names kodim01 kodim07 ...]
       [--qualities 20 50 80] [--steps 200] [--snapshots 50 100] [--json out.json]

What the learned codec's max effort (SGA refinement of the latents, refine.py) buys with the
shipped weights: for every photo and quality, the default file and the refined one (after each
snapshot step count, and after all steps), their bpp from the real file size and PSNR from the
decoded file, the BD-rate of each step count against default effort, and the seconds per
megapixel of refining. The refined files are the raw refinement (no best-of-two with the default
file, unlike `encode_refined`), so the figures show what refining does. A figure, never a test;
evaluation only, nothing is trained.
"""
import json
import resource
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from PIL import Image


class Command(BaseCommand):
    help = "BD-rate gain and time per megapixel of the learned codec's max effort (latent refinement)."

    def add_arguments(self, parser):
        parser.add_argument("--images", default="../shared/data/kodak")
        parser.add_argument("--names", nargs="*", default=["kodim01", "kodim07", "kodim15", "kodim23"])
        parser.add_argument("--qualities", nargs="*", type=float, default=[20, 50, 80])
        parser.add_argument("--steps", type=int, default=200)
        parser.add_argument("--snapshots", nargs="*", type=int, default=[50, 100])
        parser.add_argument("--json", default=None)

    def handle(self, *args, **opts):
        from compression.bdrate import bd_rate
        from compression.learned import coder as learned
        from compression.learned import refine
        from compression.learned.coding import pad
        from compression.metrics import psnr

        loaded = learned.load_model("mscae")
        folder = Path(opts["images"])
        steps = opts["steps"]
        counts = sorted({*(s for s in opts["snapshots"] if 0 < s < steps), steps})
        rows = []
        for name in opts["names"]:
            path = next((p for p in folder.glob(f"{name}.*")), None)
            if path is None:
                raise CommandError(f"No image {name!r} in {str(folder)!r}.")
            image = np.asarray(Image.open(path).convert("RGB"))
            megapixels = image.shape[0] * image.shape[1] / 1e6
            session = learned.EncoderSession(loaded, image)
            for quality in opts["qualities"]:
                knob = loaded.knob(quality)

                def measure(data, label, seconds=None):
                    row = {"image": name, "quality": quality, "steps": label, "bytes": len(data),
                           "bpp": len(data) * 8 / (image.shape[0] * image.shape[1]),
                           "psnr": psnr(learned.decode(data, loaded), image),
                           "loss": refine.real_loss(loaded, data, image, knob)}
                    if seconds is not None:
                        row["seconds_per_megapixel"] = seconds / megapixels
                    rows.append(row)
                    self.stdout.write(f"{name} q={quality:g} steps={label:>4}: {row['bpp']:.4f} bpp "
                                      f"{row['psnr']:.2f} dB loss {row['loss']:.4f}"
                                      + (f"  {row['seconds_per_megapixel']:.0f} s/MP" if seconds else ""))
                    self.stdout.flush()

                measure(session.encode(quality), 0)
                started = time.perf_counter()
                result = refine.refine(loaded.model, pad(session.array), session.analysis(), knob, steps,
                                       pixels=image.shape[:2], snapshot_steps=set(counts))
                seconds = time.perf_counter() - started
                for count in counts:
                    analysis = result.analysis if count == steps else result.snapshots[count]
                    measure(session.encode(quality, analysis=analysis), count,
                            seconds if count == steps else None)
        summary = {"steps": counts, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "bd_rate_vs_default": {}, "loss_change_percent": {}}
        for count in counts:
            gains, changes = [], []
            for name in opts["names"]:
                base = [r for r in rows if r["image"] == name and r["steps"] == 0]
                test = [r for r in rows if r["image"] == name and r["steps"] == count]
                gains.append(bd_rate([r["bpp"] for r in base], [r["psnr"] for r in base],
                                     [r["bpp"] for r in test], [r["psnr"] for r in test]))
                changes += [100 * (t["loss"] / b["loss"] - 1) for b, t in zip(base, test)]
            summary["bd_rate_vs_default"][count] = {"mean": float(np.nanmean(gains)),
                                                    **dict(zip(opts["names"], gains))}
            summary["loss_change_percent"][count] = {"mean": float(np.mean(changes)), "max": float(np.max(changes))}
            self.stdout.write(f"{count:>4} steps: BD-rate vs default {np.nanmean(gains):+.2f} % "
                              f"(per image {', '.join(f'{g:+.2f}' for g in gains)}); real loss change "
                              f"mean {np.mean(changes):+.2f} %, worst {np.max(changes):+.2f} %")
        timing = [r["seconds_per_megapixel"] for r in rows if "seconds_per_megapixel" in r]
        summary["seconds_per_megapixel"] = {"mean": float(np.mean(timing)), "max": float(np.max(timing))}
        self.stdout.write(f"refining {steps} steps: {np.mean(timing):.0f} s per megapixel (max {np.max(timing):.0f}); "
                          f"peak RSS {summary['peak_rss_mb']:.0f} MB")
        if opts["json"]:
            Path(opts["json"]).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
