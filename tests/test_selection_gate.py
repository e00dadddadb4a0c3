"""The `auto` gate (compression/selection/gate.py): a costly codec is probed once and searched only
when it can win. The gated codec here is a fake registered by the test: a classical codec's file
behind a key, padded or cut to `factor` times its size, so its rate–quality curve is that codec's
with every size scaled — a case it cannot win (factor 2) and one it must (factor 0.6), whatever
the classical codecs make of the test image."""
import math

import pytest

from compression.registry import get_codec, register, unregister
from compression.selection import gate
from compression.selection.search import MAX_STEPS
from compression.selection.trials import Search, Trial
from compression.services import compress_image
from compression.targets import parse_target

from .conftest import make_smooth_photo
from .gate_helpers import scaled as _scaled

WIDTH, HEIGHT = 320, 256  # large enough for the probe to be a mosaic of tiles, small enough to be quick


@pytest.fixture
def encodes(monkeypatch):
    """(codec name, image size) of every encode any search makes."""
    seen: list[tuple[str, tuple[int, int]]] = []
    original = Search.encode

    def counting(self, codec, quality, options, *, fast):
        seen.append((codec.name, self.image.size))
        return original(self, codec, quality, options, fast=fast)

    monkeypatch.setattr(Search, "encode", counting)
    return seen


@pytest.fixture
def photo():
    return make_smooth_photo(WIDTH, HEIGHT, seed=3)


def _gated(photo, target, factor, effort="fast"):
    """A fake gated codec over the classical winner of `photo`, registered."""
    classical = compress_image(image=photo, target=target, effort=effort)
    return register(_scaled(get_codec(classical.codec), factor)), classical


PROBE_SIZE = (gate.PROBE_GRID * gate.PROBE_TILE, gate.PROBE_GRID * gate.PROBE_TILE)


@pytest.mark.parametrize("target", ["balanced", "psnr:33"])
def test_a_codec_losing_by_more_than_the_margin_is_probed_once_and_not_searched(photo, encodes, target):
    fake, classical = _gated(photo, target, factor=2.0)
    try:
        encodes.clear()
        result = compress_image(image=photo, target=target, effort="fast")
    finally:
        unregister(fake.name)
    assert result.codec == classical.codec and result.size == classical.size
    assert fake.name not in {c.codec for c in result.candidates}
    assert f"{fake.name} not searched" in result.reason
    # The gate's whole cost: one encode of the gated codec and one of the classical winner, both
    # on the probe mosaic, a fraction of the image.
    probe = [e for e in encodes if e[1] == PROBE_SIZE]
    assert sorted(name for name, _ in probe) == sorted([fake.name, classical.codec])
    assert [e for e in encodes if e[0] == fake.name] == [(fake.name, PROBE_SIZE)]
    assert PROBE_SIZE[0] * PROBE_SIZE[1] * 2 <= WIDTH * HEIGHT


@pytest.mark.parametrize("target", ["balanced", "psnr:33"])
def test_a_codec_that_can_win_is_searched_and_wins(photo, encodes, target):
    fake, classical = _gated(photo, target, factor=0.6)
    try:
        encodes.clear()
        result = compress_image(image=photo, target=target, effort="fast")
    finally:
        unregister(fake.name)
    assert result.codec == fake.name and result.size < classical.size
    assert "not searched" not in result.reason
    full_size = [e for e in encodes if e == (fake.name, (WIDTH, HEIGHT))]
    assert 2 <= len(full_size) <= MAX_STEPS
    assert len([e for e in encodes if e[1] == PROBE_SIZE]) == 2  # the probe, then the search


def test_the_gate_applies_at_max_effort(photo, encodes):
    fake, _ = _gated(photo, "psnr:33", factor=2.0, effort="max")
    try:
        result = compress_image(image=photo, target="psnr:33", effort="max")
    finally:
        unregister(fake.name)
    assert f"{fake.name} not searched" in result.reason


def test_a_large_image_is_probed_on_its_search_sample(monkeypatch, encodes):
    import compression.selection.sampling as sampling

    monkeypatch.setattr(sampling, "SEARCH_MAX_PIXELS", 100_000)
    monkeypatch.setattr(sampling, "SAMPLE_TILE", 128)  # a 384×384 sample, probed on 4 of its parts
    image = make_smooth_photo(640, 512, seed=5)
    fake, _ = _gated(image, "psnr:33", factor=3.0)
    try:
        encodes.clear()
        result = compress_image(image=image, target="psnr:33", effort="fast")
    finally:
        unregister(fake.name)
    assert f"{fake.name} not searched" in result.reason and "sample" in result.reason
    assert [e for e in encodes if e[0] == fake.name] == [(fake.name, PROBE_SIZE)]


def test_a_named_gated_codec_is_searched_without_a_probe(photo, encodes):
    fake, _ = _gated(photo, "balanced", factor=2.0)
    try:
        encodes.clear()
        result = compress_image(image=photo, codec=fake.name, target="balanced")
    finally:
        unregister(fake.name)
    assert result.codec == fake.name
    assert all(size == (WIDTH, HEIGHT) for _, size in encodes) and len(encodes) >= 2


def test_a_size_budget_searches_the_gated_codec_as_before(photo, encodes):
    fake, _ = _gated(photo, "bytes:3000", factor=2.0)
    try:
        result = compress_image(image=photo, target="bytes:3000", effort="fast")
    finally:
        unregister(fake.name)
    assert fake.name in {c.codec for c in result.candidates}
    assert all(size != PROBE_SIZE for _, size in encodes)


def test_with_nothing_meeting_the_target_the_gated_codec_is_searched(photo, encodes):
    search = Search(photo, parse_target("psnr:33"))
    verdict = gate.decide(search, _scaled(get_codec("webp"), 2.0), {}, [])
    assert verdict.search and encodes == []


def _trial(size: int, psnr: float) -> Trial:
    trial = Trial(get_codec("webp"), {}, 50, bytes(size), 0.0, True, psnr=psnr)
    trial.meets = psnr >= 33
    return trial


@pytest.mark.parametrize(
    "gated_size, gated_psnr, slope, searched",
    [
        (1500, 33.5, 0.2, False),  # same PSNR, 50 % larger
        (1200, 33.5, 0.2, True),  # same PSNR, 20 % larger: within the margin
        (1500, 36.5, 0.2, True),  # 50 % larger but 3 dB better: the classical file would be 82 % larger there
        (1500, 36.5, None, True),  # better and no slope to compare with: searched
        (1500, 31.0, None, False),  # worse and larger: lost whatever the slope
        (900, 31.0, None, True),  # worse but smaller, no slope: searched
        (1000, 30.5, 0.2, False),  # same size, 3 dB worse: the classical file would be 45 % smaller there
    ],
)
def test_the_probe_compares_at_equal_psnr(gated_size, gated_psnr, slope, searched):
    verdict = gate.compare(_trial(gated_size, gated_psnr), _trial(1000, 33.5), slope)
    assert verdict.search is searched


@pytest.mark.parametrize(
    "gated_size, gated_psnr, searched",
    [
        (900, 33.3, False),  # smaller, and within the margin on the line, but it cannot get higher
        (1200, 33.5, True),  # reaches the classical file's PSNR: compared as usual
        (1500, 34.0, False),  # above it but too large: compared as usual
    ],
)
def test_a_gated_codec_whose_top_level_stays_below_the_classical_psnr_is_not_searched(gated_size, gated_psnr, searched):
    classical = _trial(1000, 33.5)
    verdict = gate.compare(_trial(gated_size, gated_psnr), classical, 0.2, at_top=True)
    assert verdict.search is searched
    # Below its top level the same files are only compared along the line.
    assert gate.compare(_trial(900, 33.3), classical, 0.2).search is True


def test_a_lossless_classical_file_is_compared_as_it_is():
    exact = _trial(1000, float("inf"))
    assert gate.compare(_trial(1400, 40.0), exact, None).search is False
    assert gate.compare(_trial(1200, 40.0), exact, None).search is True
    assert gate.compare(_trial(1200, 40.0), exact, None, at_top=True).search is True  # no PSNR floor


def test_the_slope_is_a_line_through_the_search_and_needs_two_qualities():
    group = [_trial(size, psnr) for size, psnr in ((800, 31.0), (1000, 33.0), (1250, 35.0), (1560, 37.0))]
    slope = gate.log_size_per_db(group)
    assert slope == pytest.approx(math.log(1.25) / 2, rel=0.05)  # ~25 % more bytes per 2 dB
    assert gate.log_size_per_db(group[1:2]) is None
    assert gate.log_size_per_db(group[::-1][:1] + [_trial(500, 40.0)]) is None  # falling: unusable
