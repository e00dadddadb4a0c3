"""The search of one codec (and variant) for the target, and the re-encode at the chosen effort.

* lossless codec: one encode, measured like any other (a codec claiming to be lossless that is
  not exact fails a lossless target instead of winning it);
* lossy codec, quality target: `threshold_search` for the lowest quality meeting the target,
  stopping early once its file misses the target while already larger than the best meeting file
  of any codec (files only grow with quality);
* lossy codec, size budget: the same search for the highest quality that fits (sizes only), then
  only the encoding this codec would offer is decoded and measured.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from ..base import Codec
from .search import threshold_search
from .trials import Search, Trial

FINAL_STEPS = 2  # encodes at the final preset, continuing from the fast search's threshold
# A search stops when its predicted smallest meeting file is this much larger than the best
# meeting file so far: well clear of the few per cent that decide close races (the final
# presets move sizes by ~5-10 %), it spares most of a losing codec's encodes on photos where
# AVIF wins by 50 % or more.
PREDICTED_LOSS = 1.3
MAX_LOG_GROWTH = 20.0  # e^20 ≈ 5·10^8 times the latest file: "much larger" without overflowing

StepHook = Callable[[], None]


def search_codec(search: Search, codec: Codec, options: dict[str, Any], *, on_step: StepHook | None = None) -> list[Trial]:
    """Every trial of this codec's search; `on_step` is called after each encode."""
    step = on_step or (lambda: None)
    if codec.lossless or codec.quality_range is None:
        trial = search.measure(search.encode(codec, None, options, fast=True))
        step()
        if trial.meets:
            search.offer(trial)
        return [trial]
    if search.budget is not None:
        return _search_budget(search, codec, options, step)
    return _search_quality(search, codec, options, step)


def _search_quality(search: Search, codec: Codec, options, step: StepHook) -> list[Trial]:
    def evaluate(q):
        trial = search.measure(search.encode(codec, q, options, fast=True))
        step()
        if trial.meets:
            search.offer(trial)
        return trial, bool(trial.meets), search.margin(trial)

    seen: list[Trial] = []

    def hopeless(trial, meets):
        # Files grow with quality: if this one misses the target and is already no smaller
        # than a file (of any codec) that meets it, nothing higher in this codec can win.
        name = trial.label().replace(f" q={trial.quality:g}", "")
        if not meets and trial.size >= search.best_meeting_size:
            search.pruned.append(name)
            return True
        seen.append(trial)
        predicted = _predicted_threshold_size(search, seen)
        if predicted is not None and predicted > PREDICTED_LOSS * search.best_meeting_size:
            search.pruned_predicted.append(name)
            return True
        return False

    lo, hi = search.bounds(codec)
    return threshold_search(evaluate, lo, hi, search.start(codec), ascending=True, stop=hopeless)


def _predicted_threshold_size(search: Search, trials: list[Trial]) -> float | None:
    """The file size this search would end on, extrapolated from its two latest trials (margin
    and log-size both roughly linear in quality); None until two trials give usable slopes.

    The extrapolation is bounded: the threshold is held inside the codec's quality range (a
    nearly flat margin, as on small noisy images, would otherwise put it thousands of steps
    away), and the predicted growth at `MAX_LOG_GROWTH`, far beyond any file worth comparing."""
    if len(trials) < 2:
        return None
    t0, t1 = sorted(trials[-2:], key=lambda t: t.quality)
    dq = t1.quality - t0.quality
    if dq <= 0:
        return None
    slope = (search.margin(t1) - search.margin(t0)) / dq
    growth = math.log(max(t1.size, 1) / max(t0.size, 1)) / dq
    if not (slope > 0 and growth > 0 and math.isfinite(slope) and math.isfinite(growth)):
        return None
    lo, hi = search.bounds(t1.codec)
    q_threshold = min(max(t1.quality - search.margin(t1) / slope, lo), hi)
    return t1.size * math.exp(min(growth * (q_threshold - t1.quality), MAX_LOG_GROWTH))


def _search_budget(search: Search, codec: Codec, options, step: StepHook) -> list[Trial]:
    def evaluate(q):
        trial = search.encode(codec, q, options, fast=True)
        step()
        trial.meets = trial.size <= search.budget
        return trial, trial.meets, search.margin(trial)

    lo, hi = search.bounds(codec)
    trials = threshold_search(evaluate, lo, hi, search.start(codec), ascending=False)
    fitting = [t for t in trials if t.meets]
    # Only the encode this codec would offer needs decoding and a quality measurement.
    search.measure(max(fitting, key=lambda t: t.quality) if fitting else min(trials, key=lambda t: t.size))
    return trials


def final_options(codec: Codec, options: dict[str, Any], effort: str) -> dict[str, Any]:
    """The encoder settings of an effort level: the search's options plus the codec's preset."""
    return {**options, **codec.effort_presets.get(effort, {})}


def finalise(search: Search, winner: Trial, group: list[Trial], effort: str) -> list[Trial]:
    """Re-encode a search result at the effort level's preset (`fast=False`).

    Slower presets move the quality curve a little (WebP method 6: smaller files, slightly lower
    PSNR; AVIF speed 6 or 4: smaller *and* better), so for a met quality target a short search at
    the preset continues from the fast threshold, its first step sized by the slope of the fast
    search (at most `FINAL_STEPS` encodes). Budgets and lossless codecs get one final encode.
    Returns the new, measured trials."""
    codec = winner.codec
    if codec.fast_is_final and not codec.effort_presets.get(effort):
        return []
    options = final_options(codec, winner.options, effort)
    if not winner.meets or winner.quality is None or search.budget is not None:
        return [search.measure(search.encode(codec, winner.quality, options, fast=False))]
    slope, _growth = local_slopes(search, winner, group)
    lo, hi = search.bounds(codec)
    step = max(1, int(codec.quality_step))

    def evaluate(q):
        trial = search.measure(search.encode(codec, q, options, fast=False))
        return trial, bool(trial.meets), search.margin(trial)

    def first_step(trial, meets):
        if slope is None:
            return step
        return max(step, math.floor(abs(search.margin(trial)) / slope / step) * step)

    return threshold_search(
        evaluate, lo, hi, int(winner.quality), ascending=True, max_steps=FINAL_STEPS, first_step=first_step
    )


def local_slopes(search: Search, winner: Trial, group: list[Trial]):
    """(margin per quality step, log-size per quality step) near the winner, from its search."""
    measured = {t.quality: t for t in group if t.fast and t.quality is not None and t.psnr is not None}
    if len(measured) < 2:
        return None, None
    near = sorted(measured, key=lambda q: (abs(q - winner.quality), q))[:2]
    t0, t1 = measured[min(near)], measured[max(near)]
    dq = t1.quality - t0.quality
    slope = (search.margin(t1) - search.margin(t0)) / dq
    growth = math.log(max(t1.size, 1) / max(t0.size, 1)) / dq
    return (slope if slope > 0 else None), (growth if growth > 0 else None)
