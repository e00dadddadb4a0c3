"""python manage.py reproduce_paper [--cifar DIR | --dataset DIR] [--out docs/paper] [--limit N]

The seed paper's comparison (K-Means, PCA, autoencoder on 32×32 and 128×128 images: file size,
average size reduction, PSNR, MSE) with real files, written as docs/paper/report.md next to the
paper's own numbers, with a verdict on each claim. See compression/evaluation/paper.py.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compression.datasets import BSDS500, DATA_ROOT

DEFAULT_CIFAR = DATA_ROOT / "cifar-10-batches-py"
DEFAULT_DATASET = BSDS500 / "test"
DEFAULT_OUT = settings.BASE_DIR / "docs" / "paper"


class Command(BaseCommand):
    help = "Reproduce the paper's K-Means / PCA / autoencoder comparison with real file sizes."

    def add_arguments(self, parser):
        parser.add_argument("--cifar", default=None,
                            help=f"cifar-10-batches-py folder for the 32×32 experiment (default: {DEFAULT_CIFAR} if present)")
        parser.add_argument("--dataset", default=None,
                            help=f"image folder for the 128×128 experiment, and 32×32 without CIFAR (default: {DEFAULT_DATASET})")
        parser.add_argument("--out", default=str(DEFAULT_OUT))
        parser.add_argument("--limit", type=int, default=100, help="images per experiment (default 100)")
        parser.add_argument("--target-psnr", type=float, default=30.0,
                            help="PSNR (dB) each method's table row must reach (default 30, the paper's bar)")
        parser.add_argument("--weights", default=None, help="mscae weights (default: the shipped ones)")
        parser.add_argument("--no-mscae", action="store_true", help="leave the autoencoder out")

    def handle(self, *args, **opts):
        from compression.base import CodecError
        from compression.evaluation import paper

        if opts["limit"] < 1:
            raise CommandError(f"--limit must be a positive number of images, got {opts['limit']!r}")
        cifar = opts["cifar"] or (str(DEFAULT_CIFAR) if DEFAULT_CIFAR.is_dir() else None)
        dataset = opts["dataset"] or (str(DEFAULT_DATASET) if DEFAULT_DATASET.is_dir() else None)
        for flag, value in (("--cifar", opts["cifar"]), ("--dataset", opts["dataset"])):
            if value and not Path(value).is_dir():
                raise CommandError(f"{flag} {value!r} is not a folder")
        try:
            sets, notes = paper.load_sets(cifar=cifar, dataset=dataset, limit=opts["limit"])
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from None

        learned = None
        if not opts["no_mscae"]:
            from compression.learned import coder as learned_codec

            try:
                learned = learned_codec.load_model("mscae", opts["weights"])
            except CodecError as exc:
                if opts["weights"]:
                    raise CommandError(str(exc)) from None
                self.stderr.write(self.style.WARNING(f"Autoencoder left out: {exc}"))
        methods, method_notes = paper.default_methods(learned)
        if learned is not None:
            method_notes.append(f"Autoencoder: our `mscae` codec, weights digest {learned.digest.hex()[:12]}.")

        from tqdm import tqdm

        results = {"sets": {}}
        total = sum(len(m.settings) for m in methods) * len(sets)
        with tqdm(total=total, unit="setting", dynamic_ncols=True) as bar:
            for key, images in sets.items():
                results["sets"][key] = paper.run_set(
                    images, methods, progress=lambda name, label, key=key: (bar.set_postfix_str(f"{key}px {name} {label}"), bar.update(1)))
        results["meta"] = {
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python manage.py reproduce_paper" + (f" --limit {opts['limit']}" if opts["limit"] != 100 else ""),
            "notes": notes + method_notes,
        }
        analysis = paper.analyse(results, opts["target_psnr"])
        out = Path(opts["out"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(paper.render_markdown(results, analysis))
        (out / "results.json").write_text(json.dumps(
            {"paper": paper.PAPER, **results, "analysis": analysis}, indent=1, ensure_ascii=False,
            default=lambda o: None) + "\n")
        self.stdout.write(f"Wrote {out / 'report.md'} and {out / 'results.json'}")
        for c in analysis["claims"]:
            verdict = {True: "holds", False: "does NOT hold", None: "not tested"}[c["holds"]]
            self.stdout.write(f"- {c['claim']}: {verdict} ({c['evidence']})")
