"""BD-rate (compression.bdrate.bd_rate) on curves whose answer is known in closed form."""
import math

import numpy as np
import pytest

from compression.bdrate import bd_rate

RATES = np.array([0.2, 0.4, 0.8, 1.6])
PSNR = np.array([28.0, 31.0, 34.5, 38.0])


def test_a_curve_against_itself_has_zero_bd_rate():
    assert bd_rate(RATES, PSNR, RATES, PSNR) == pytest.approx(0.0, abs=1e-9)


def test_the_same_quality_at_half_the_rate_is_minus_fifty_percent():
    assert bd_rate(RATES, PSNR, RATES / 2, PSNR) == pytest.approx(-50.0, abs=1e-6)


def test_the_same_quality_at_twice_the_rate_is_plus_one_hundred_percent():
    assert bd_rate(RATES, PSNR, RATES * 2, PSNR) == pytest.approx(100.0, abs=1e-6)


def test_a_better_codec_has_negative_bd_rate_against_a_worse_one():
    assert bd_rate(RATES, PSNR, RATES, PSNR + 1.0) < 0 < bd_rate(RATES, PSNR + 1.0, RATES, PSNR)


def test_curves_that_do_not_overlap_in_quality_give_nan():
    assert math.isnan(bd_rate(RATES, PSNR, RATES, PSNR + 20.0))
