"""The `reason` text: one sentence a person can read on why this file was chosen."""
from __future__ import annotations

import math

from ..targets import Target
from .ranking import quality_key
from .strategies import PREDICTED_LOSS
from .trials import Trial


def describe_value(target: Target, trial: Trial) -> str:
    """The measurements that decide `target`, e.g. "SSIMULACRA 2 71.3 (worst region 63.0)"; PSNR
    too when nothing else was measured."""
    if trial.psnr is not None and math.isinf(trial.psnr):
        return "exact"
    parts = []
    if trial.ssimulacra2 is not None:
        text = f"SSIMULACRA 2 {trial.ssimulacra2:.1f}"
        if trial.worst_region is not None and target.min_region is not None:
            text += f" (worst region {trial.worst_region:.1f})"
        parts.append(text)
    if target.min_msssim is not None and trial.msssim is not None:
        parts.append(f"MS-SSIM {trial.msssim:.4f}")
    if trial.psnr is not None and (not parts or target.min_psnr is not None):
        parts.append(f"PSNR {trial.psnr:.2f} dB")
    return ", ".join(parts)


def _percent_smaller(a: int, b: int) -> str:
    """How much smaller a is than b."""
    percent = (1 - a / b) * 100
    return f"{percent:.1f} %" if percent < 10 else f"{percent:.0f} %"


def reason_text(
    target: Target,
    winner: Trial,
    representatives: list[Trial],
    notes: list[str],
    *,
    pruned: list[str] = (),
    pruned_predicted: list[str] = (),
    described: str | None = None,
) -> str:
    """Why `winner` won, against each other search's best (`representatives`); `pruned` names the
    searches that stopped early, `notes` are appended as they are."""
    described = described or target.describe()
    others = [t for t in representatives if t.codec.name != winner.codec.name or t.options != winner.options]
    if target.is_budget:
        budget_text = described
        if winner.meets:
            text = f"{winner.label()}: best quality within {budget_text} ({describe_value(target, winner)})"
            rivals = [t for t in others if t.meets and t.psnr is not None]
            if rivals:
                runner = max(rivals, key=lambda t: quality_key(target, t))
                text += f"; {runner.label()} reached {describe_value(target, runner)}"
        else:
            text = (
                f"nothing fits {budget_text}; closest: {winner.label()} at {winner.size} bytes "
                f"({describe_value(target, winner)})"
            )
    else:
        goal = "lossless encoding" if target.lossless else f"meeting {described}"
        if winner.meets:
            text = f"{winner.label()}: {describe_value(target, winner)}, the smallest {goal}"
            rivals = [t for t in others if t.meets]
            if rivals:
                runner = min(rivals, key=lambda t: t.size)
                text += f", {_percent_smaller(winner.size, runner.size)} smaller than {runner.label()}"
            elif not others:
                text += f" (only {winner.codec.name} searched)"
            elif not pruned and not pruned_predicted:
                text += "; no other candidate met it"
            if pruned:
                text += f"; stopped early, already larger below the target: {', '.join(sorted(set(pruned)))}"
            if pruned_predicted:
                text += f"; stopped early, predicted over {PREDICTED_LOSS - 1:.0%} larger: {', '.join(sorted(set(pruned_predicted)))}"
        else:
            text = f"no candidate met {described}; closest: {winner.label()} ({describe_value(target, winner)})"
    return "; ".join([text, *notes])
