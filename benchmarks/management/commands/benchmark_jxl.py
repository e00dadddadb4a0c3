"""python manage.py benchmark_jxl [--kodak DIR] [--photos DIR] [--bsds DIR] [--large PHOTO]
       [--parts efforts lossless transcode memory perceptual hints] [--every 3] [--json out.json]

JPEG XL's presets and the originals' helpers measured (benchmarks/jxl.py): encode/decode s/MP per
effort, lossless against PNG and lossless WebP, JPEG → JPEG XL transcoding, peak memory of one
encode at 24 MP, BD-rate on SSIMULACRA 2 against AVIF and WebP, and the `jxl` psnr_hints. Prints markdown for docs/benchmarks/jxl.md. A figure, never a test.
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks import jxl
from benchmarks.errors import BenchmarkError
from compression.datasets import BSDS500, KODAK, PHOTOS

PARTS = ("efforts", "lossless", "transcode", "memory", "perceptual", "hints")


class Command(BaseCommand):
    help = "JPEG XL: effort timings, lossless against PNG/WebP, JPEG transcoding, psnr_hints."

    def add_arguments(self, parser):
        parser.add_argument("--kodak", default=str(KODAK))
        parser.add_argument("--photos", default=str(PHOTOS))
        parser.add_argument("--bsds", default=str(BSDS500 / "train"))
        parser.add_argument("--large", default=str(PHOTOS / "enlightenment-data__Mountain.jpg"),
                            help="one large photo for the effort timings")
        parser.add_argument("--parts", nargs="*", default=list(PARTS), choices=PARTS)
        parser.add_argument("--every", type=int, default=3, help="perceptual part: every n-th Kodak image")
        parser.add_argument("--json", default=None)

    def handle(self, *args, **opts):
        parts, results = opts["parts"], {}
        try:
            if "efforts" in parts:
                kodak = jxl._paths(opts["kodak"], names=["kodim03", "kodim13", "kodim19", "kodim23"])
                large = [Path(opts["large"])]
                results["lossy_efforts"] = (jxl.effort_rows(kodak, (3, 4, 5, 7, 9), lossless=False)
                                            + jxl.effort_rows(large, (4, 7, 9), lossless=False))
                results["lossless_efforts"] = jxl.effort_rows(kodak[:2], (1, 2, 3, 5, 7, 9), lossless=True)
            if "lossless" in parts:
                results["lossless"] = jxl.lossless_rows(jxl._paths(opts["kodak"], names=["kodim03", "kodim23"]))
            if "transcode" in parts:
                photos = [p for p in jxl._paths(opts["photos"]) if p.suffix.lower() in (".jpg", ".jpeg")]
                results["transcode"] = jxl.transcode_rows(photos[::max(1, len(photos) // 5)][:5])
            if "memory" in parts:
                results["memory"] = jxl.memory_rows(Path(opts["large"]))
            if "perceptual" in parts:
                results["perceptual"] = jxl.perceptual_rows(jxl._paths(opts["kodak"])[::opts["every"]])
            if "hints" in parts:
                results["hints"] = jxl.psnr_hints(jxl._paths(opts["bsds"], limit=16))
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
        for line in jxl.markdown(results):
            self.stdout.write(line)
        if opts["json"]:
            Path(opts["json"]).write_text(json.dumps(results, indent=1))
