"""Quality target spellings: what they mean, and clear refusals of bad values."""
import math

import pytest

from compression.targets import parse_target


@pytest.mark.parametrize(
    "text,description",
    [
        ("lossless", "lossless (pixel-exact)"),
        ("visually-lossless", "MS-SSIM ≥ 0.99 or PSNR ≥ 40 dB"),
        ("high", "PSNR ≥ 36 dB"),
        ("balanced", "PSNR ≥ 33 dB"),
        ("small", "PSNR ≥ 30 dB"),
        ("psnr:38.5", "PSNR ≥ 38.5 dB"),
        ("msssim:0.97", "MS-SSIM ≥ 0.97"),
        ("bytes:50000", "≤ 50 000 bytes"),
        ("bpp:0.75", "≤ 0.75 bpp"),
        ("  High ", "PSNR ≥ 36 dB"),
    ],
)
def test_each_spelling_parses_and_describes_itself(text, description):
    assert parse_target(text).describe() == description


def test_default_is_balanced():
    assert parse_target(None).spec == "balanced"
    assert parse_target("").spec == "balanced"


def test_psnr_levels_are_floors():
    balanced = parse_target("balanced")
    assert balanced.is_met(psnr=33.0)
    assert not balanced.is_met(psnr=32.99)
    assert not balanced.is_met()  # nothing measured: not met


def test_visually_lossless_is_met_by_either_metric():
    target = parse_target("visually-lossless")
    assert target.is_met(psnr=40.0, msssim=0.5)
    assert target.is_met(psnr=30.0, msssim=0.99)
    assert not target.is_met(psnr=39.9, msssim=0.989)


def test_lossless_needs_exactness():
    target = parse_target("lossless")
    assert target.is_met(psnr=math.inf)
    assert not target.is_met(psnr=99.0)


def test_budgets_compare_size():
    assert parse_target("bytes:1000").is_met(size=1000)
    assert not parse_target("bytes:1000").is_met(size=1001)
    assert parse_target("bpp:1").is_met(bpp=1.0)
    assert not parse_target("bpp:1").is_met(bpp=1.01)
    assert parse_target("bpp:2").byte_budget(10, 10) == 25


@pytest.mark.parametrize(
    "text,quoted",
    [
        ("psnr:-3", "-3"),
        ("psnr:0", "0"),
        ("psnr:nan", "nan"),
        ("psnr:inf", "inf"),
        ("psnr:500", "500"),
        ("psnr:abc", "abc"),
        ("psnr:", "psnr:"),
        ("msssim:1.5", "1.5"),
        ("msssim:-0.2", "-0.2"),
        ("msssim:0", "0"),
        ("bytes:0", "0"),
        ("bytes:-5", "-5"),
        ("bytes:12.5", "12.5"),
        ("bytes:1e99", "1e99"),
        ("bpp:0", "0"),
        ("bpp:-1", "-1"),
        ("bpp:NaN", "NaN"),
        ("bpp:1000", "1000"),
        ("garbage", "garbage"),
        ("ssim:0.9", "ssim:0.9"),
        ("ultra", "ultra"),
    ],
)
def test_bad_values_are_refused_with_the_value_quoted(text, quoted):
    with pytest.raises(ValueError) as info:
        parse_target(text)
    assert f"'{quoted}" in str(info.value)
