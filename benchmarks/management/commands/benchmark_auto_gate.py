"""`python manage.py benchmark_auto_gate [--dataset DIR] [--names kodim01 …] [--target T]
[--effort E] [--codec mscae] [--no-warm-up]`

`auto`'s throughput with the learned codec searched like any other, without it, and behind the
gate, the three arms interleaved image by image, with the gated codec's share of each
selection's time (benchmarks/auto_gate.py).
"""
from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks import auto_gate as bench
from benchmarks.errors import BenchmarkError
from compression.datasets import KODAK, image_files
from compression.selection.options import EFFORTS


class Command(BaseCommand):
    help = "Throughput of auto with the learned codec ungated, excluded and gated, interleaved."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", type=Path, default=KODAK, help="Image folder.")
        parser.add_argument("--names", nargs="+", default=list(bench.DEFAULT_NAMES), help="Image names (stems) in it.")
        parser.add_argument("--target", default="balanced")
        parser.add_argument("--effort", default="default", choices=EFFORTS)
        parser.add_argument("--codec", default="mscae", help="The gated codec.")
        parser.add_argument("--no-warm-up", action="store_true", help=f"Skip the untimed round on {bench.WARM_UP_NAME}.")

    def handle(self, *args, dataset=KODAK, names=(), target="balanced", effort="default", codec="mscae",
               no_warm_up=False, **options):
        try:
            files = {p.stem: p for p in image_files(dataset)}
            missing = [n for n in names if n not in files]
            if missing:
                raise BenchmarkError(f"No image named {', '.join(missing)} in {dataset}.")
            gated = bench.gated_codec(codec)
            warm_up = None if no_warm_up else files.get(bench.WARM_UP_NAME)
            self.stdout.write(f"{dataset} · {len(names)} images · target {target} · effort {effort} · "
                              f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the start")
            self.stdout.write(bench.HEADER)
            runs = bench.run([files[n] for n in names], gated, target=target, effort=effort, warm_up=warm_up,
                             on_run=lambda r: self.stdout.write(bench.format_run(r)))
            for line in bench.summary(runs):
                self.stdout.write(line)
            self.stdout.write(f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end")
        except (BenchmarkError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
