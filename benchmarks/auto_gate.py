"""The `auto` gate's benchmark behind `benchmark_auto_gate`: what searching the learned codec costs
`auto`, with and without the gate (compression/selection/gate.py).

Three arms per image, run one after another on the same image and in turn over the images
(A, B, C, A, B, C, …) so that a shared machine's changing load falls on all three alike:

* `ungated`: `auto` with the gated codec searched like any other (the gate turned off);
* `without`: `auto` without it (`exclude`);
* `gated`: `auto` as shipped.

Per run: wall and CPU seconds (all threads), the codec chosen and its size, the gated codec's
share of the selection's wall time: its candidates' encode and measure seconds in the ungated arm
(run beside the other searches, so a share of contended time), the gate's probe plus any search
of it in the gated arm (run after the others, so time the selection waited); and `ratio`, what
the gate judged by in the gated arm (the probe's size ratio at equal PSNR) beside what happened
in the ungated arm (the gated codec's smallest file meeting the target over the winner's). The
summary gives images per minute per arm, and how often the gated arm chose the ungated arm's file.
"""
from __future__ import annotations

import contextlib
import logging
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from benchmarks.errors import BenchmarkError
from compression.base import Codec, CodecError, CompressionResult
from compression.registry import get_codec
from compression.services import compress_image

ARMS = ("ungated", "without", "gated")
DEFAULT_NAMES = ("kodim01", "kodim02", "kodim03", "kodim05", "kodim06", "kodim07", "kodim08", "kodim11")
WARM_UP_NAME = "kodim12"  # one untimed selection per arm first: model load and first traces


@dataclass
class Run:
    name: str
    arm: str
    result: CompressionResult
    wall: float
    cpu: float
    gated_seconds: float  # the gated codec's time in this selection (see the module docstring)
    gate_searched: bool | None  # the gate's verdict in the gated arm; None elsewhere
    load: float  # 1-minute load average when the run ended
    # Gated arm: the probe's size ratio at equal PSNR. Ungated arm: the gated codec's smallest
    # file meeting the target over the winner's (None when its search stopped before meeting it).
    ratio: float | None = None

    @property
    def share(self) -> float:
        return self.gated_seconds / self.wall if self.wall > 0 else 0.0


def gated_codec(name: str) -> Codec:
    try:
        codec = get_codec(name)
    except CodecError as exc:
        raise BenchmarkError(f"{exc} (is the learned codec's weights file installed?)") from None
    if not codec.auto_gated:
        raise BenchmarkError(f"Codec {name!r} is not gated in auto; nothing to compare.")
    return codec


@contextlib.contextmanager
def gate_off(codec: Codec):
    """`codec` searched like any other while inside (an instance attribute over the class's)."""
    codec.auto_gated = False
    try:
        yield
    finally:
        del codec.auto_gated


class _GateLog(logging.Handler):
    """Collects the gate's log records (compression.selection.gate) during one selection."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if hasattr(record, "gate_seconds"):
            self.records.append(record)


@contextlib.contextmanager
def _gate_log():
    logger = logging.getLogger("compression.selection.gate")
    handler, level = _GateLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run_arm(name: str, image: Image.Image, arm: str, codec: Codec, *, target: str, effort: str) -> Run:
    exclude = (codec.name,) if arm == "without" else ()
    context = gate_off(codec) if arm == "ungated" else contextlib.nullcontext()
    with context, _gate_log() as log:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = compress_image(image=image, codec="auto", target=target, effort=effort, exclude=exclude)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    searched = sum(c.seconds for c in result.candidates if c.codec == codec.name)
    gate = [r for r in log.records if r.gate_codec == codec.name]
    meeting = [c.size for c in result.candidates if c.codec == codec.name and c.meets_target]
    ratio = gate[-1].gate_ratio if gate else (min(meeting) / result.size if meeting else None)
    return Run(
        name, arm, result, wall, cpu,
        gated_seconds=searched + sum(r.gate_seconds for r in gate),
        gate_searched=gate[-1].gate_searched if gate else None,
        load=os.getloadavg()[0],
        ratio=ratio,
    )


def run(files: list[Path], codec: Codec, *, target: str, effort: str, warm_up: Path | None, on_run=None) -> list[Run]:
    """Every image through the three arms in turn; `on_run(run)` after each (for printing)."""
    if warm_up is not None:
        image = Image.open(warm_up).convert("RGB")
        for arm in ARMS:
            run_arm(warm_up.stem, image, arm, codec, target=target, effort=effort)
    runs = []
    for path in files:
        image = Image.open(path).convert("RGB")
        for arm in ARMS:
            done = run_arm(path.stem, image, arm, codec, target=target, effort=effort)
            runs.append(done)
            if on_run is not None:
                on_run(done)
    return runs


HEADER = (f"{'image':<10} {'arm':<8} {'codec':<8} {'bytes':>7} {'wall s':>7} {'cpu s':>7} {'gated s':>7} "
          f"{'share':>6} {'gate':<8} {'ratio':>5} {'load':>5}")


def format_run(run_: Run) -> str:
    verdict = {True: "searched", False: "skipped", None: ""}[run_.gate_searched]
    ratio = "" if run_.ratio is None else f"{run_.ratio:.2f}"
    return (f"{run_.name:<10} {run_.arm:<8} {run_.result.codec:<8} {run_.result.size:>7} {run_.wall:>7.2f} "
            f"{run_.cpu:>7.2f} {run_.gated_seconds:>7.2f} {run_.share:>6.1%} {verdict:<8} {ratio:>5} {run_.load:>5.2f}")


def summary(runs: list[Run]) -> list[str]:
    """Images per minute and the gated codec's share per arm; the gated arm against the others."""
    by_arm = {arm: [r for r in runs if r.arm == arm] for arm in ARMS}
    lines = []
    for arm, rows in by_arm.items():
        if not rows:
            continue
        wall = statistics.mean(r.wall for r in rows)
        lines.append(
            f"{arm:<8} {len(rows)} images · {60 / wall:.1f} images/min (mean wall {wall:.2f} s, "
            f"median {statistics.median(r.wall for r in rows):.2f} s) · CPU {statistics.mean(r.cpu for r in rows):.2f} s · "
            f"gated codec's share of wall: mean {statistics.mean(r.share for r in rows):.1%}, "
            f"max {max(r.share for r in rows):.1%}"
        )
    ungated, gated = {r.name: r for r in by_arm["ungated"]}, {r.name: r for r in by_arm["gated"]}
    if ungated and gated:
        same = sum(1 for n in gated if n in ungated and gated[n].result.data == ungated[n].result.data)
        skipped = sum(1 for r in gated.values() if r.gate_searched is False)
        lines.append(f"gated arm: codec skipped on {skipped}/{len(gated)} images; same file as ungated on {same}/{len(gated)}")
        shares = [r.share for r in gated.values() if r.gate_searched is False]
        if shares:
            lines.append(f"gated arm, where it was skipped: its share of wall mean {statistics.mean(shares):.1%}, max {max(shares):.1%}")
    if by_arm["without"] and by_arm["gated"]:
        without = statistics.mean(r.wall for r in by_arm["without"])
        for arm in ("ungated", "gated"):
            if by_arm[arm]:
                lines.append(f"throughput {arm} / without: {without / statistics.mean(r.wall for r in by_arm[arm]):.2f}×")
    return lines
