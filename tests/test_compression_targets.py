"""Quality target spellings: what they mean, and clear refusals of bad values."""
import math

import pytest

from compression.targets import parse_target


@pytest.mark.parametrize(
    "text,description",
    [
        ("lossless", "lossless (pixel-exact)"),
        ("visually-lossless", "SSIMULACRA 2 ≥ 90, every 256-px region ≥ 80"),
        ("high", "SSIMULACRA 2 ≥ 80, every 256-px region ≥ 70"),
        ("balanced", "SSIMULACRA 2 ≥ 70, every 256-px region ≥ 60"),
        ("small", "SSIMULACRA 2 ≥ 55, every 256-px region ≥ 45"),
        ("ssimulacra2:75", "SSIMULACRA 2 ≥ 75, every 256-px region ≥ 65"),
        ("SSIMULACRA2: 62.5", "SSIMULACRA 2 ≥ 62.5, every 256-px region ≥ 52.5"),
        ("psnr:38.5", "PSNR ≥ 38.5 dB"),
        ("msssim:0.97", "MS-SSIM ≥ 0.97"),
        ("bytes:50000", "≤ 50 000 bytes"),
        ("bpp:0.75", "≤ 0.75 bpp"),
        ("  High ", "SSIMULACRA 2 ≥ 80, every 256-px region ≥ 70"),
    ],
)
def test_each_spelling_parses_and_describes_itself(text, description):
    assert parse_target(text).describe() == description


def test_default_is_balanced():
    assert parse_target(None).spec == "balanced"
    assert parse_target("").spec == "balanced"


@pytest.mark.parametrize("name,score", [("visually-lossless", 90), ("high", 80), ("balanced", 70), ("small", 55)])
def test_named_targets_are_ssimulacra2_floors_with_the_region_guard(name, score):
    target = parse_target(name)
    assert target.metric == "ssimulacra2"
    assert (target.min_ssimulacra2, target.min_region) == (score, score - 10)
    assert target.min_psnr is None and target.min_msssim is None
    assert parse_target(f"ssimulacra2:{score}").min_region == target.min_region


def test_psnr_levels_are_floors():
    target = parse_target("psnr:33")
    assert target.metric == "psnr"
    assert target.is_met(psnr=33.0)
    assert not target.is_met(psnr=32.99)
    assert not target.is_met()  # nothing measured: not met


@pytest.mark.parametrize("name", ["visually-lossless", "high", "balanced", "small", "ssimulacra2:50"])
def test_named_targets_are_never_met_by_psnr_or_msssim_alone(name):
    target = parse_target(name)
    assert not target.is_met(psnr=60.0, msssim=0.9999)
    assert target.is_met(psnr=60.0, ssimulacra2=95.0, worst_region=95.0)


def test_the_guard_refuses_a_passing_mean_with_a_bad_region():
    target = parse_target("balanced")
    assert target.is_met(ssimulacra2=70.0, worst_region=60.0)
    assert not target.is_met(ssimulacra2=75.0, worst_region=59.9)  # the mean passes, one region does not
    assert not target.is_met(ssimulacra2=69.9, worst_region=80.0)
    assert not target.is_met(ssimulacra2=75.0)  # a worst region that was not measured: not met


def test_an_exact_file_meets_every_quality_floor():
    for name in ("visually-lossless", "psnr:60", "msssim:0.999", "lossless"):
        assert parse_target(name).is_met(psnr=math.inf)


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
        ("ssimulacra2:0", "0"),
        ("ssimulacra2:-5", "-5"),
        ("ssimulacra2:101", "101"),
        ("ssimulacra2:nan", "nan"),
        ("ssimulacra2:high", "high"),
        ("ultra", "ultra"),
    ],
)
def test_bad_values_are_refused_with_the_value_quoted(text, quoted):
    with pytest.raises(ValueError) as info:
        parse_target(text)
    assert f"'{quoted}" in str(info.value)


def test_every_target_spelling_the_api_schema_documents_parses():
    hypothesis = pytest.importorskip("hypothesis", reason="hypothesis comes with schemathesis (requirements-test.txt)")
    import re

    from compression.targets import TARGET_PATTERN

    @hypothesis.settings(max_examples=300, database=None, deadline=None)
    @hypothesis.given(hypothesis.strategies.from_regex(TARGET_PATTERN))
    def parses(text):
        parse_target(text)

    parses()
    for refused in ("psnr:0", "psnr:100.5", "bpp:32.1", "msssim:0", "bytes:0", "bytes:1000000000001", "ssimulacra2:0.0"):
        assert not re.match(TARGET_PATTERN, refused), refused
        with pytest.raises(ValueError):
            parse_target(refused)
