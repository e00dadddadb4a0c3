"""How the winner is chosen among measured trials.

Quality targets: the smallest file meeting the target; when none does, the one closest to it.
Size budgets: the best quality that fits (ties: the smaller file); when none fits, the smallest.
"""
from __future__ import annotations

import math

from ..targets import Target
from .trials import Trial


def quality_key(target: Target, trial: Trial) -> float:
    """Higher is better: what "closest to the target" and "best within budget" compare. For an
    SSIMULACRA 2 target, the distance to failing on the whole image or on the worst region."""
    if target.min_ssimulacra2 is not None and not target.is_budget:
        if trial.psnr is not None and math.isinf(trial.psnr):
            return math.inf
        if trial.ssimulacra2 is None:
            return -math.inf
        key = trial.ssimulacra2 - target.min_ssimulacra2
        if target.min_region is not None and trial.worst_region is not None:
            key = min(key, trial.worst_region - target.min_region)
        return key
    if target.min_msssim is not None:
        return trial.msssim if trial.msssim is not None else -math.inf
    return trial.psnr if trial.psnr is not None else -math.inf


def better(target: Target, a: Trial, b: Trial | None) -> bool:
    """Is `a` a better pick than `b`?"""
    if b is None:
        return True
    if a.meets != b.meets:
        return bool(a.meets)
    ka, kb = quality_key(target, a), quality_key(target, b)
    if target.is_budget:
        if a.meets:  # both fit: best quality, then smaller
            return ka > kb or (ka == kb and a.size < b.size)
        return a.size < b.size  # neither fits: the smallest is closest
    if a.meets:
        return a.size < b.size
    return ka > kb or (ka == kb and a.size < b.size)


def pick(target: Target, trials: list[Trial]) -> Trial:
    best = None
    for trial in trials:
        if trial.meets is None or (target.is_budget and trial.meets and trial.psnr is None):
            continue  # budget encodes that were never measured do not compete
        if better(target, trial, best):
            best = trial
    assert best is not None, "every search measures at least one trial"
    return best


def ordered(target: Target, trials: list[Trial]) -> list[Trial]:
    """`trials` from the best pick to the worst (`pick` takes the first)."""
    def key(trial: Trial):
        quality = quality_key(target, trial)
        if target.is_budget:
            return (not trial.meets, -quality, trial.size) if trial.meets else (True, trial.size, -quality)
        return (not trial.meets, trial.size, -quality) if trial.meets else (True, -quality, trial.size)

    return sorted(trials, key=key)


def representatives(target: Target, groups: list[list[Trial]]) -> list[Trial]:
    """Each search's own best trial."""
    return [pick(target, group) for group in groups if group]
