"""The learned codec on the command line.

    python manage.py codec encode IN... (-o OUT.msc | --out-dir DIR) [--quality Q | --target-bpp B | --target-psnr P]
                                        [--effort max [--refine-steps N]]
    python manage.py codec decode IN.msc... (-o OUT.png | --out-dir DIR)
    python manage.py codec info IN.msc...

Several inputs in one call load the model once. Bad input: exit status 1 and one line saying why.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Encode photos with the learned codec (.msc), decode .msc files to PNG, or describe them."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        enc = sub.add_parser("encode", help="image(s) -> .msc")
        enc.add_argument("inputs", nargs="+")
        out = enc.add_mutually_exclusive_group(required=True)
        out.add_argument("-o", "--output")
        out.add_argument("--out-dir")
        rate = enc.add_mutually_exclusive_group()
        rate.add_argument("--quality", type=float, default=None, help="0–100 (default 50)")
        rate.add_argument("--target-bpp", type=float, default=None)
        rate.add_argument("--target-psnr", type=float, default=None)
        enc.add_argument("--weights", default=None, help="weights file (default: the shipped one)")
        enc.add_argument("--model", default="mscae", help="model name from compression.learned.zoo")
        enc.add_argument("--effort", choices=("default", "max"), default="default",
                         help="max: refine the latents on the photo before coding (minutes per photo); "
                              "with a target, the file at the quality found is refined")
        enc.add_argument("--refine-steps", type=int, default=None, help="max effort's steps (default: the preset's)")

        dec = sub.add_parser("decode", help=".msc -> PNG")
        dec.add_argument("inputs", nargs="+")
        out = dec.add_mutually_exclusive_group(required=True)
        out.add_argument("-o", "--output")
        out.add_argument("--out-dir")
        dec.add_argument("--weights", default=None)
        dec.add_argument("--model", default="mscae")

        info = sub.add_parser("info", help="print model, quality, size and bpp of .msc files")
        info.add_argument("inputs", nargs="+")

    def handle(self, *args, **opts):
        try:
            getattr(self, f"_{opts['action']}")(opts)
        except CommandError:
            raise
        except (OSError, ValueError) as exc:  # CodecError and BitstreamError are ValueErrors
            raise CommandError(str(exc)) from None

    @staticmethod
    def _outputs(opts, suffix):
        inputs = [Path(p) for p in opts["inputs"]]
        for p in inputs:
            if not p.is_file():
                raise CommandError(f"Input {str(p)!r} does not exist")
        if opts["output"]:
            if len(inputs) != 1:
                raise CommandError("-o takes one input; use --out-dir for several")
            return list(zip(inputs, [Path(opts["output"])]))
        out_dir = Path(opts["out_dir"])
        out_dir.mkdir(parents=True, exist_ok=True)
        return [(p, out_dir / (p.stem + suffix)) for p in inputs]

    def _model(self, opts):
        from compression.learned.coder import load_model

        return load_model(opts["model"], opts.get("weights"))

    def _encode(self, opts):
        from compression.imageio import InvalidImage, load_upload
        from compression.learned import codec, coder, refine
        from compression.selection.modes import search_one
        from compression.targets import parse_target

        pairs = self._outputs(opts, ".msc")
        for name in ("quality", "target_bpp", "target_psnr"):
            value = opts[name]
            if value is not None and not (value == value and value >= 0):
                raise CommandError(f"--{name.replace('_', '-')} must be a non-negative number, got {value!r}")
        if opts["quality"] is not None and opts["quality"] > 100:
            raise CommandError(f"--quality must be 0–100, got {opts['quality']!r}")
        steps = 0
        if opts["effort"] == "max":
            steps = opts["refine_steps"]
            if steps is None:
                steps = codec.LearnedCodec.effort_presets["max"]["refine_steps"]
            if steps < 1:
                raise CommandError(f"--refine-steps must be a positive integer, got {opts['refine_steps']!r}")
        target = None
        if opts["target_bpp"] is not None or opts["target_psnr"] is not None:
            spec = (f"bpp:{opts['target_bpp']!r}" if opts["target_bpp"] is not None
                    else f"psnr:{opts['target_psnr']!r}")
            try:
                target = parse_target(spec)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        loaded = self._model(opts)
        weights = opts.get("weights") or coder.default_weights_path(opts["model"])
        for src, dst in pairs:
            try:
                image = load_upload(src.read_bytes(), filename=src.name).image
            except InvalidImage as exc:
                raise CommandError(f"{src}: {exc}") from None
            started = time.perf_counter()
            if target is not None:
                # The portal's own quality search, on these weights; max effort then refines the
                # file at the quality it found.
                trial = search_one(codec.LearnedCodec(loaded=loaded, weights_path=weights), image, target)
                quality = trial.quality
                data = refine.encode_effort(coder.EncoderSession(loaded, image), quality, steps) if steps else trial.data
            else:
                quality = 50.0 if opts["quality"] is None else opts["quality"]
                data = refine.encode_effort(coder.EncoderSession(loaded, image), quality, steps)
            dst.write_bytes(data)
            bpp = len(data) * 8 / (image.width * image.height)
            self.stdout.write(
                f"{src} -> {dst}: {len(data)} bytes, {bpp:.4f} bpp, quality {quality:.1f}, "
                f"{time.perf_counter() - started:.2f} s"
            )

    def _decode(self, opts):
        from PIL import Image

        from compression.learned import coder

        pairs = self._outputs(opts, ".png")
        loaded = self._model(opts)
        for src, dst in pairs:
            try:
                pixels = coder.decode(src.read_bytes(), loaded)
            except ValueError as exc:
                raise CommandError(f"{src}: {exc}") from None
            Image.fromarray(pixels, "RGB").save(dst, format="PNG")
            self.stdout.write(f"{src} -> {dst}: {pixels.shape[1]}×{pixels.shape[0]}")

    def _info(self, opts):
        from compression.learned import coder

        for src in (Path(p) for p in opts["inputs"]):
            if not src.is_file():
                raise CommandError(f"Input {str(src)!r} does not exist")
            data = src.read_bytes()
            try:
                h = coder.read_header(data)
            except ValueError as exc:
                raise CommandError(f"{src}: {exc}") from None
            bpp = len(data) * 8 / (h.width * h.height)
            self.stdout.write(
                f"{src}: model {h.model} (weights {h.digest.hex()[:12]}), quality level {h.quality:.2f}, "
                f"{h.width}×{h.height}, {len(data)} bytes, {bpp:.4f} bpp"
            )
        sys.stdout.flush()
