"""Whether `auto` searches a costly codec (`Codec.auto_gated`: the learned `mscae`) at all.

Searching `mscae` costs `auto` more than every classical codec together, and on most photos it
cannot win. So a gated codec is searched after the others, and only when a cheap probe says it
can win:

* the probe is a mosaic of `PROBE_GRID` × `PROBE_GRID` tiles of `PROBE_TILE` px spread over
  the image (the whole image when that is hardly larger), so it costs a fraction of one
  full-size encode, whose analysis and synthesis transforms are most of the learned codec's time;
* on it, the best classical result (codec, variant and quality) is encoded once, and the gated
  codec once at the level its calibration predicts for the PSNR the classical file reached there;
* the classical file is moved along its own rate–quality curve (log size per unit of margin, from
  its search on the image) to the gated codec's quality, and the gated codec is skipped when its
  file is more than `PROBE_LOSS` times that size, i.e. when it loses by more than the margin at
  which a search is pruned anyway (`strategies.PREDICTED_LOSS`).

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
from dataclasses import dataclass

import numpy as np

from ..base import Codec
from . import ranking
from .sampling import mosaic
from .strategies import MAX_LOG_GROWTH, PREDICTED_LOSS, local_slopes, search_codec
from .trials import Search, Trial

logger = logging.getLogger(__name__)

PROBE_LOSS = PREDICTED_LOSS
PROBE_GRID = 3
# 64 px: a multiple of every codec's block (the learned codec's hyper-latent cell included), so
# the seams fall on block edges. Few, small tiles because the probe's cost is what the gate costs
# on every photo (docs/benchmarks/auto_gate.md).
PROBE_TILE = 64


@dataclass
class Verdict:
    search: bool
    why: str


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
    return best, next(g for g in groups if best in g)


def probe_quality(codec: Codec, probe_search: Search, psnr: float | None) -> int:
    """The gated codec's level for the target: its own hint for the target's metric, else the
    level its PSNR calibration gives for `psnr` (what the classical file reached), else where
    its search would start."""
    metric_hints = codec.ssimulacra2_hints if probe_search.target.min_ssimulacra2 is not None else codec.psnr_hints
    if metric_hints or not codec.psnr_hints or psnr is None or not math.isfinite(psnr):
        return probe_search.start(codec)
    lo, hi = probe_search.bounds(codec)
    xs, ys = zip(*sorted(codec.psnr_hints))
    return int(min(max(round(float(np.interp(psnr, xs, ys))), lo), hi))


def compare(probe_search: Search, gated: Trial, classical: Trial, log_size_per_margin: float | None) -> Verdict:
    """Does `gated` (measured on the probe) lose to `classical` (the same probe) by more than
    PROBE_LOSS at equal quality? `log_size_per_margin`: the classical codec's local slope."""
    m_gated, m_classical = probe_search.margin(gated), probe_search.margin(classical)
    if log_size_per_margin is None:
        if m_gated > m_classical:
            return Verdict(True, "no rate–quality slope to compare at its higher quality")
        expected = float(classical.size)  # the classical file is at least as good: compare sizes as they are
    else:
        shift = max(-MAX_LOG_GROWTH, min(MAX_LOG_GROWTH, (m_gated - m_classical) * log_size_per_margin))
        expected = classical.size * math.exp(shift)
    ratio = gated.size / max(expected, 1.0)
    comparison = f"{abs(ratio - 1):.0%} {'larger' if ratio >= 1 else 'smaller'} than {classical.label()} at the same quality"
    return Verdict(ratio <= PROBE_LOSS, comparison)


def decide(search: Search, codec: Codec, options, groups: list[list[Trial]], *, on_step=None) -> Verdict:
    """Search `codec` fully, or not (see the module docstring); `on_step` after each probe encode."""
    if search.budget is not None:
        return Verdict(True, "size budget: no probe")
    found = reference(search, groups)
    if found is None:
        return Verdict(True, "nothing else met the target")
    best, group = found
    boxes = probe_boxes(search.width, search.height)
    image = search.image if boxes is None else mosaic(search.image, boxes)
    probe_search = Search(image, search.target, progress=search.progress)
    classical = probe_search.measure(probe_search.encode(best.codec, best.quality, best.options, fast=True))
    gated = probe_search.measure(probe_search.encode(
        codec, probe_quality(codec, probe_search, classical.psnr), options, fast=True))
    if on_step is not None:
        on_step()
    slope, growth = local_slopes(search, best, group) if best.quality is not None else (None, None)
    verdict = compare(probe_search, gated, classical, None if slope is None or growth is None else growth / slope)
    where = f"on a {image.width}×{image.height} probe" + ("" if boxes is None else f" of {len(boxes)} tiles")
    verdict.why = f"{where}, {gated.label()} {gated.size} bytes was {verdict.why}"
    return verdict


def gated_search(search: Search, codec: Codec, options, groups: list[list[Trial]], notes: list[str], *, on_step=None) -> list[Trial]:
    """`codec`'s trials if the gate lets it through, else none; a skip is noted for the reason."""
    verdict = decide(search, codec, options, groups, on_step=on_step)
    logger.info("auto gate: %s %s (%s)", codec.name, "searched" if verdict.search else "skipped", verdict.why)
    if not verdict.search:
        notes.append(f"{codec.name} not searched: {verdict.why} (over {PROBE_LOSS - 1:.0%} larger)")
        return []
    return search_codec(search, codec, options, on_step=on_step)
