"""Whether `auto` searches a costly codec (`Codec.auto_gated`: the learned `mscae`) at all.

Searching `mscae` costs `auto` more than every classical codec together, and on most photos it
cannot win. So a gated codec is searched after the others, and only when a cheap probe says it
can win:

* the probe is a mosaic of `PROBE_GRID` × `PROBE_GRID` tiles of `PROBE_TILE` px spread over
  the image (the whole image when that is hardly larger), so it costs a fraction of one
  full-size encode, whose analysis and synthesis transforms are most of the learned codec's time;
* on it, the best classical result (codec, variant and quality) is encoded once, and the gated
  codec once at the level its calibration predicts for the PSNR the classical file reached there;
* the classical file is moved along its own rate–PSNR curve (log size per dB, from its search on
  the image) to the gated codec's PSNR, and the gated codec is skipped when its file is more
  than `PROBE_LOSS` times that size, i.e. when it loses by more than the margin at which a
  search is pruned anyway (`strategies.PREDICTED_LOSS`), or when even its top level stays below
  the PSNR at which the classical file met the target.

The probe compares PSNR whatever the target: SSIMULACRA 2 and MS-SSIM are unreliable on a small
mosaic of tiles (docs/benchmarks/auto_gate.md), a mean squared error is not. For a codec trained
on squared error, as `mscae` is, PSNR is the measure that flatters it most, so the gate errs
towards searching it. The search itself, when the gate lets it through, is for the target.

There is no probe (the codec is searched as before) when nothing else met the target (it may be
the only one that can), for a size budget (its search measures one file per codec, so there is
no classical rate–quality curve to compare with), and for a named codec (`codec=mscae`).
The gate applies at every effort: max effort refines only the fast winner and a runner-up within
`modes.CONTENDER_MARGIN`, so a codec losing by more than PROBE_LOSS would not have been refined,
and what refinement gains (docs/benchmarks/max_effort.md) is far inside that margin.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from ..base import Codec
from ..targets import PSNR_MAX, parse_target
from . import ranking
from .sampling import mosaic
from .strategies import MAX_LOG_GROWTH, PREDICTED_LOSS, search_codec
from .trials import Search, Trial

logger = logging.getLogger(__name__)

PROBE_LOSS = PREDICTED_LOSS
# 2 × 2 tiles of 96 px (a multiple of 16 px: the learned codec's latent cell, the classical
# codecs' macroblocks): few pixels, because the probe is what the gate costs on every photo, and
# few seams, which cost the learned codec more bits than the classical ones (9 tiles of 64 px
# overstated its loss; docs/benchmarks/auto_gate.md).
PROBE_GRID = 2
PROBE_TILE = 96


@dataclass
class Verdict:
    search: bool
    why: str
    ratio: float | None = None  # the gated codec's size over the classical one's at equal PSNR


def probe_boxes(width: int, height: int) -> list[tuple[int, int, int, int]] | None:
    """Tiles spread over the image, or None when the image itself is hardly larger."""
    tile = PROBE_TILE
    nx, ny = min(PROBE_GRID, width // tile), min(PROBE_GRID, height // tile)
    if nx < 1 or ny < 1 or 2 * nx * ny * tile * tile > width * height:
        return None
    xs = [round(i * (width - tile) / (nx - 1)) if nx > 1 else (width - tile) // 2 for i in range(nx)]
    ys = [round(j * (height - tile) / (ny - 1)) if ny > 1 else (height - tile) // 2 for j in range(ny)]
    return [(x, y, x + tile, y + tile) for x in xs for y in ys]


def reference(search: Search, groups: list[list[Trial]]) -> tuple[Trial, list[Trial]] | None:
    """The best result meeting the target so far and its search's trials, or None."""
    best = ranking.pick(search.target, ranking.representatives(search.target, groups)) if groups else None
    if best is None or not best.meets:
        return None
    return best, next(g for g in groups if any(t is best for t in g))


def probe_quality(codec: Codec, probe_search: Search, psnr: float | None) -> int:
    """The gated codec's level for `psnr` (what the classical file reached on the probe) by its
    PSNR calibration, else where its search would start."""
    if not codec.psnr_hints or psnr is None or not math.isfinite(psnr):
        return probe_search.start(codec)
    lo, hi = probe_search.bounds(codec)
    xs, ys = zip(*sorted(codec.psnr_hints))
    return int(min(max(round(float(np.interp(psnr, xs, ys))), lo), hi))


def log_size_per_db(group: list[Trial]) -> float | None:
    """The slope of log file size against PSNR over a search's trials (a least-squares line: a
    search's neighbouring qualities can differ by less than their PSNR's noise); None when they
    give no rising line (one trial, a lossless file)."""
    points = [(t.psnr, math.log(max(t.size, 1))) for t in group
              if t.fast and t.quality is not None and t.psnr is not None and math.isfinite(t.psnr)]
    if len({p for p, _ in points}) < 2:
        return None
    slope = float(np.polyfit(*zip(*points), 1)[0])
    return slope if slope > 0 and math.isfinite(slope) else None


def compare(gated: Trial, classical: Trial, slope: float | None, *, at_top: bool = False) -> Verdict:
    """Does `gated` lose to `classical` (both measured on the probe) by more than PROBE_LOSS at
    equal PSNR? `slope`: the classical codec's log size per dB (`log_size_per_db`). `at_top`:
    `gated` is at its highest quality, so below the classical file's PSNR it cannot get nearer."""
    if at_top and gated.psnr < classical.psnr < math.inf:
        # The classical file met the target at this PSNR; a codec trained on squared error will
        # not meet it at a lower one, so its search could only fail (docs/benchmarks/auto_gate.md).
        # A lossless file proves no such floor: it may be far above what the target needs.
        return Verdict(False, f"{gated.label()} reaches {gated.psnr:.2f} dB at its top level, below "
                       f"{classical.label()}'s {classical.psnr:.2f} dB")
    gap = gated.psnr - classical.psnr if math.isfinite(gated.psnr) and math.isfinite(classical.psnr) else None
    if slope is None or gap is None:
        if gated.psnr > classical.psnr:
            return Verdict(True, f"{gated.label()} {gated.size} bytes at a higher PSNR than {classical.label()}, no slope to compare")
        expected = float(classical.size)  # the classical file is at least as good: sizes compare as they are
    else:
        expected = classical.size * math.exp(max(-MAX_LOG_GROWTH, min(MAX_LOG_GROWTH, gap * slope)))
    ratio = gated.size / max(expected, 1.0)
    return Verdict(ratio <= PROBE_LOSS, ratio=ratio, why=f"{gated.label()} {gated.size} bytes at {gated.psnr:.2f} dB, "
                   f"{abs(ratio - 1):.0%} {'larger' if ratio >= 1 else 'smaller'} than {classical.label()} at that PSNR")


def decide(search: Search, codec: Codec, options, groups: list[list[Trial]], *, on_step=None) -> Verdict:
    """Search `codec` fully, or not (see the module docstring); `on_step` after the probe."""
    if search.budget is not None:
        return Verdict(True, "size budget: no probe")
    found = reference(search, groups)
    if found is None:
        return Verdict(True, "nothing else met the target")
    best, group = found
    boxes = probe_boxes(search.width, search.height)
    image = search.image if boxes is None else mosaic(search.image, boxes)
    # A PSNR floor: the probe measures PSNR alone (any floor would do; the verdict reads PSNR).
    probe_search = Search(image, parse_target(f"psnr:{PSNR_MAX:g}"), progress=search.progress)
    classical = probe_search.measure(probe_search.encode(best.codec, best.quality, best.options, fast=True))
    quality = probe_quality(codec, probe_search, classical.psnr)
    gated = probe_search.measure(probe_search.encode(codec, quality, options, fast=True))
    if on_step is not None:
        on_step()
    verdict = compare(gated, classical, log_size_per_db(group), at_top=quality >= probe_search.bounds(codec)[1])
    where = f"on a {image.width}×{image.height} probe" + ("" if boxes is None else f" of {len(boxes)} tiles")
    verdict.why = f"{where}, {verdict.why}"
    return verdict


def gated_search(search: Search, codec: Codec, options, groups: list[list[Trial]], notes: list[str], *, on_step=None) -> list[Trial]:
    """`codec`'s trials if the gate lets it through, else none; a skip is noted for the reason."""
    started = time.perf_counter()
    verdict = decide(search, codec, options, groups, on_step=on_step)
    seconds = time.perf_counter() - started
    # `gate_seconds` lets a benchmark read what the gate cost each selection (benchmarks/auto_gate.py).
    logger.info("auto gate: %s %s after %.2f s (%s)", codec.name, "searched" if verdict.search else "skipped",
                seconds, verdict.why, extra={"gate_codec": codec.name, "gate_seconds": seconds,
                                             "gate_searched": verdict.search, "gate_ratio": verdict.ratio})
    if not verdict.search:
        notes.append(f"{codec.name} not searched: {verdict.why} (over {PROBE_LOSS - 1:.0%} larger)")
        return []
    return search_codec(search, codec, options, on_step=on_step)
