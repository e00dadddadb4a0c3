"""Bjøntegaard delta rate (VCEG-M33; piecewise-cubic variant of VCEG-AL22, as used by JVET and
CompressAI): the average bit-rate difference of a test codec against an anchor at equal quality,
in percent (negative = the test codec needs fewer bits)."""
from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator


def _curve(rates, quality):
    rates, quality = np.asarray(rates, float), np.asarray(quality, float)
    ok = np.isfinite(rates) & np.isfinite(quality) & (rates > 0)
    rates, quality = rates[ok], quality[ok]
    order = np.argsort(quality)
    quality, log_rate = quality[order], np.log(rates[order])
    # PCHIP needs strictly increasing abscissae: merge points of equal quality.
    uq, idx = np.unique(quality, return_inverse=True)
    lr = np.array([log_rate[idx == i].mean() for i in range(len(uq))])
    return uq, lr


def bd_rate(anchor_rates, anchor_quality, test_rates, test_quality) -> float:
    """BD-rate in % of `test` against `anchor`; NaN when the curves do not overlap in quality
    or have fewer than two distinct points each."""
    qa, la = _curve(anchor_rates, anchor_quality)
    qt, lt = _curve(test_rates, test_quality)
    if len(qa) < 2 or len(qt) < 2:
        return float("nan")
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if hi <= lo:
        return float("nan")
    int_a = PchipInterpolator(qa, la).integrate(lo, hi)
    int_t = PchipInterpolator(qt, lt).integrate(lo, hi)
    return float((np.exp((int_t - int_a) / (hi - lo)) - 1) * 100)
