"""SSIMULACRA 2 (compression.ssimulacra2) against the reference implementation on the package
index (`ssimulacra2`, requirements-test.txt), on pairs made here; its region scores and the
worst-region guard; and its alpha handling (compression.metrics)."""
import io

import numpy as np
import pytest
from PIL import Image, ImageFilter
from ssimulacra2 import compute_ssimulacra2

from compression import metrics, ssimulacra2
from compression.targets import parse_target
from tests.conftest import make_photo, make_smooth_photo


def _reference(a: np.ndarray, b: np.ndarray, tmp_path) -> float:
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    return compute_ssimulacra2(str(tmp_path / "a.png"), str(tmp_path / "b.png"))


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def _pairs():
    photo = np.asarray(make_smooth_photo(160, 112, seed=3))
    noisy_photo = np.asarray(make_photo(96, 80, seed=2))
    rng = np.random.default_rng(0)
    noise = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(2)))
    odd = photo[:71, :97]
    return {
        "jpeg q10": (photo, _jpeg(photo, 10)),
        "jpeg q50": (photo, _jpeg(photo, 50)),
        "jpeg q90": (photo, _jpeg(photo, 90)),
        "grainy jpeg q40": (noisy_photo, _jpeg(noisy_photo, 40)),
        "gaussian noise": (photo, noise),
        "blur": (photo, blurred),
        "odd 97x71 jpeg q30": (odd, _jpeg(odd, 30)),
        # 40 px: scales of 40, 20, 10 px and no more (5 px < 8), so fewer than six scales.
        "60x40 jpeg q20": (photo[:40, :60], _jpeg(photo[:40, :60], 20)),
    }


@pytest.mark.parametrize("name", list(_pairs()))
def test_scores_agree_with_the_reference_package(name, tmp_path):
    a, b = _pairs()[name]
    ours = ssimulacra2.ssimulacra2(a, b)
    assert ours.score == pytest.approx(_reference(a, b, tmp_path), abs=1.0)


def test_bands_give_the_whole_image_result(monkeypatch, tmp_path):
    a, b = _pairs()["jpeg q50"]
    whole = ssimulacra2.ssimulacra2(a, b)
    monkeypatch.setattr(ssimulacra2, "BAND_ROWS", 16)  # 112 rows: seven bands at scale 0
    banded = ssimulacra2.ssimulacra2(a, b)
    assert banded.score == pytest.approx(whole.score, abs=1e-3)
    assert banded.score == pytest.approx(_reference(a, b, tmp_path), abs=1.0)


def test_threads_give_the_same_result(monkeypatch):
    a, b = _pairs()["jpeg q10"]
    monkeypatch.setattr(ssimulacra2, "BAND_ROWS", 16)
    monkeypatch.setattr(ssimulacra2, "THREADS", 1)
    one = ssimulacra2.ssimulacra2(a, b).score
    monkeypatch.setattr(ssimulacra2, "THREADS", 2)
    assert ssimulacra2.ssimulacra2(a, b).score == pytest.approx(one, abs=1e-3)


def test_identical_images_score_100_and_damage_scores_lower():
    a, b = _pairs()["jpeg q10"]
    assert ssimulacra2.ssimulacra2(a, a).score == pytest.approx(100.0)
    assert ssimulacra2.ssimulacra2(a, b).score < ssimulacra2.ssimulacra2(a, _jpeg(a, 90)).score < 100


def test_an_image_under_8_px_is_enlarged_not_scored_perfect(tmp_path):
    photo = np.asarray(make_smooth_photo(7, 5, seed=1))
    damaged = photo.copy()
    damaged[1:4, 1:5] = 255 - damaged[1:4, 1:5]
    score = ssimulacra2.ssimulacra2(photo, damaged)
    assert _reference(photo, damaged, tmp_path) == 100.0  # the package measures nothing under 8 px
    assert score.score < 90
    big = [np.repeat(np.repeat(x, 2, axis=0), 2, axis=1) for x in (photo, damaged)]  # 14×10
    assert score.score == pytest.approx(_reference(big[0], big[1], tmp_path), abs=1.0)


def test_mismatched_or_unsupported_inputs_are_refused():
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="one size"):
        ssimulacra2.ssimulacra2(a, np.zeros((16, 17, 3), np.uint8))
    with pytest.raises(ValueError, match="8-bit"):
        ssimulacra2.ssimulacra2(a, a.astype(np.float32))
    with pytest.raises(ValueError, match="at least 64 px"):
        ssimulacra2.ssimulacra2(a, a, region=32)


def _damaged_region(size=768, region=256):
    """A photo and a copy with one region-sized square destroyed (flattened to its mean colour)."""
    photo = np.asarray(make_smooth_photo(size, size, seed=5))
    good = _jpeg(photo, 92)
    bad = good.copy()
    square = bad[region: 2 * region, region: 2 * region]
    square[:] = square.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return photo, good, bad


def test_regions_find_the_destroyed_square():
    photo, good, bad = _damaged_region()
    result = ssimulacra2.ssimulacra2(photo, bad, region=256)
    assert result.regions.shape == (3, 3)
    assert np.unravel_index(np.argmin(result.regions), result.regions.shape) == (1, 1)
    assert result.worst == pytest.approx(result.regions.min())
    assert result.worst < result.score - 20
    assert ssimulacra2.ssimulacra2(photo, good).worst > result.worst + 20


def test_the_guard_refuses_an_image_whose_mean_passes_with_one_region_destroyed():
    photo = np.asarray(make_smooth_photo(1024, 1024, seed=5))
    damaged = _jpeg(photo, 92).copy()
    square = np.ascontiguousarray(photo[256:512, 256:512])
    damaged[256:512, 256:512] = _jpeg(square, 25)  # one region blocky, the rest near perfect
    score = metrics.ssimulacra2(photo, damaged)
    target = parse_target("balanced")
    assert score.score >= target.min_ssimulacra2  # the mean passes…
    assert score.worst < target.min_region  # …one region does not
    assert not target.is_met(psnr=metrics.psnr(photo, damaged), ssimulacra2=score.score, worst_region=score.worst)


def test_alpha_counts_over_black_and_over_white():
    rgb = np.asarray(make_smooth_photo(64, 48, seed=2))
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    original = np.concatenate([rgb, alpha], axis=-1)
    holed = original.copy()
    holed[10:30, 10:40, 3] = 0  # the colour is kept; only the alpha is lost
    assert metrics.ssimulacra2(original, original).score == pytest.approx(100.0)
    assert metrics.ssimulacra2(original, holed).score < 50
