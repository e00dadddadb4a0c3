"""python manage.py evaluate_codecs [--dataset DIR] [--out DIR] [--codecs jpeg webp ...] [--limit N]

Every codec (the learned `mscae` at its trained levels when its weights exist, JPEG, WebP, AVIF,
PNG, and the PCA / K-Means baselines) on every image of a folder: real bytes -> bpp, PSNR,
MS-SSIM, encode/decode time. Writes results.json, results.csv, RD plots (PNG + SVG) and
report.md with the BD-rate table against WebP and JPEG. Default dataset: ../shared/data/kodak.
"""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compression.datasets import KODAK, image_files

DEFAULT_OUT = settings.BASE_DIR / "docs" / "benchmarks"


def _quality_list(text: str) -> tuple:
    try:
        return tuple(float(v) if "." in v else int(v) for v in text.split(","))
    except ValueError:
        raise CommandError(f"Qualities {text!r} must be comma-separated numbers, e.g. 10,30,50") from None


class Command(BaseCommand):
    help = "Rate–distortion evaluation of all codecs on an image folder; writes a report with BD-rates."

    def add_arguments(self, parser):
        from compression.evaluation.evaluator import DEFAULT_CODECS

        parser.add_argument("--dataset", default=str(KODAK), help="folder of images (default: Kodak)")
        parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: docs/benchmarks)")
        parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS),
                            help=f"codecs to evaluate (default: {' '.join(DEFAULT_CODECS)})")
        parser.add_argument("--limit", type=int, default=None, help="first N images only")
        parser.add_argument("--weights", default=None, help="mscae weights (default: the shipped ones)")
        parser.add_argument("--quality", action="append", default=[], metavar="CODEC=Q1,Q2,...",
                            help="override one codec's quality sweep, e.g. --quality webp=10,50,90")
        parser.add_argument("--note", action="append", default=[], help="a line to add to the report")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        from compression.base import CodecError
        from compression.evaluation import evaluator, report

        if opts["limit"] is not None and opts["limit"] < 1:
            raise CommandError(f"--limit must be a positive number of images, got {opts['limit']!r}")
        sweeps = {}
        for item in opts["quality"]:
            name, sep, values = item.partition("=")
            if not sep:
                raise CommandError(f"--quality {item!r} must look like CODEC=Q1,Q2,...")
            sweeps[name.strip()] = _quality_list(values)
        try:
            paths = image_files(opts["dataset"], limit=opts["limit"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        try:
            specs, notes = evaluator.build_specs(opts["codecs"], weights=opts["weights"], sweeps=sweeps)
        except CodecError as exc:
            raise CommandError(str(exc)) from None
        for note in notes:
            self.stderr.write(self.style.WARNING(note))

        try:
            rows = evaluator.evaluate(evaluator.load_images(paths), specs, total_images=len(paths),
                                      progress=not opts["no_progress"])
        except CodecError as exc:
            raise CommandError(f"Evaluation failed: {exc}") from None

        meta = {
            "title": f"Codec evaluation on {Path(opts['dataset']).name}",
            "dataset": _shown_path(opts["dataset"]),
            "images": len(paths),
            "limit": opts["limit"],
            "codecs": [s.name for s in specs],
            "sweeps": {s.name: list(s.qualities) for s in specs},
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python manage.py evaluate_codecs " + " ".join(_argv_echo(opts)),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
            "notes": notes + list(opts["note"]),
        }
        mscae = next((s for s in specs if s.name == "mscae"), None)
        if mscae is not None:
            loaded = mscae.codec.loaded
            meta["mscae"] = f"model {loaded.name!r}, weights digest {loaded.digest.hex()[:12]}"
        results = report.write_report(rows, opts["out"], meta)

        out = Path(opts["out"])
        self.stdout.write(f"Wrote {out / report.REPORT_MD}, {report.RESULTS_JSON}, {report.RESULTS_CSV}, "
                          + ", ".join(results["plots"]))
        for row in report.bd_table_rows(results):
            cells = "  ".join(
                f"vs {v['anchor']}: {_pct(v['psnr'])} (PSNR) {_pct(v['msssim'])} (MS-SSIM)" for v in row["values"])
            self.stdout.write(f"{row['label']:16} {cells}")


def _pct(value) -> str:
    return "   –   " if value is None else f"{value:+6.1f} %"


def _shown_path(path: str) -> str:
    """Paths relative to the repository's parent when possible: the report is committed, and the
    reader's checkout lives elsewhere."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(settings.BASE_DIR.parent.resolve()))
    except ValueError:
        return str(p)


def _argv_echo(opts) -> list[str]:
    parts = [f"--dataset {_shown_path(opts['dataset'])}"]
    from compression.evaluation.evaluator import DEFAULT_CODECS

    if list(opts["codecs"]) != list(DEFAULT_CODECS):
        parts.append("--codecs " + " ".join(opts["codecs"]))
    if opts["limit"]:
        parts.append(f"--limit {opts['limit']}")
    parts += [f"--quality {q}" for q in opts["quality"]]
    return parts
