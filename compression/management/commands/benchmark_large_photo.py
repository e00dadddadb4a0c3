"""python manage.py benchmark_large_photo PHOTO [--megapixels 24] [--quality 50]

Encode + decode one large photo with the shipped learned codec and report size, PSNR, times and
the process's peak resident memory (the tiled coding's bound). A figure, never a test."""
import hashlib
import resource
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from PIL import Image


class Command(BaseCommand):
    help = "Peak memory and time of the learned codec on one large photo (resized to --megapixels)."

    def add_arguments(self, parser):
        parser.add_argument("photo")
        parser.add_argument("--megapixels", type=float, default=None, help="resize to this many megapixels first")
        parser.add_argument("--quality", type=float, default=50)

    def handle(self, *args, **opts):
        from compression.learned import coder as learned
        from compression.metrics import psnr

        try:
            image = Image.open(opts["photo"]).convert("RGB")
        except OSError as exc:
            raise CommandError(f"Cannot read {opts['photo']!r}: {exc}") from exc
        if opts["megapixels"]:
            scale = (opts["megapixels"] * 1e6 / (image.width * image.height)) ** 0.5
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        pixels = np.asarray(image)
        loaded = learned.load_model("mscae")
        loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        def cpu():  # user + system seconds of this process (all its threads): steadier than wall time
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime

        cpu0, started = cpu(), time.perf_counter()
        data = learned.encode(loaded, pixels, opts["quality"])
        cpu1, encoded = cpu(), time.perf_counter()
        decoded = learned.decode(data, loaded)
        cpu2, done = cpu(), time.perf_counter()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pixels_digest = hashlib.sha256()
        for row in decoded:  # row by row: a contiguous copy of a 24-megapixel picture is 72 MB
            pixels_digest.update(row.tobytes())
        megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
        self.stdout.write(
            f"{image.width}x{image.height} ({megapixels:.1f} MP) quality {opts['quality']:g}: "
            f"{len(data)} bytes, {len(data) * 8 / (megapixels * 1e6):.3f} bpp, PSNR {psnr(pixels, decoded):.2f} dB; "
            f"encode {encoded - started:.1f} s, decode {done - encoded:.1f} s; peak RSS {peak_mb:.0f} MB "
            f"({loaded_mb:.0f} MB after loading the model); CPU time encode {cpu1 - cpu0:.1f} s, "
            f"decode {cpu2 - cpu1:.1f} s; sha256 {hashlib.sha256(data).hexdigest()}, decoded pixels sha256 "
            f"{pixels_digest.hexdigest()}"
        )
