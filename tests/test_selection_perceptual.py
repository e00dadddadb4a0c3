"""Perceptual targets in the selector: the stored file meets SSIMULACRA 2 and the worst-region
guard when decoded here, the result says which measurement decided, PSNR alone never satisfies
visually-lossless, and a large image verified at full size continues its search upward when the
search sample passed but the whole image does not."""
import io

import numpy as np
import pytest
from PIL import Image

from compression import metrics
from compression.services import compress_image
from tests.conftest import make_smooth_photo


def _decode(result) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image.convert("RGB")


@pytest.fixture(scope="module")
def photo():
    return make_smooth_photo(128, 96, seed=1)


@pytest.mark.parametrize("target,floor", [("small", 55), ("balanced", 70), ("ssimulacra2:62", 62)])
def test_the_stored_file_meets_ssimulacra2_and_the_guard_when_decoded(photo, target, floor):
    result = compress_image(image=photo, target=target, effort="fast")
    score = metrics.ssimulacra2(photo, _decode(result))
    assert score.score >= floor and score.worst >= floor - 10
    assert result.params["target_met"] is True
    assert result.ssimulacra2 == pytest.approx(score.score, abs=1e-3)
    assert result.ssimulacra2_worst == pytest.approx(score.worst, abs=1e-3)
    assert result.decided_by == "ssimulacra2" and result.decided_value == pytest.approx(result.ssimulacra2)


def test_the_reason_gives_the_deciding_score_and_the_worst_region(photo):
    result = compress_image(image=photo, target="balanced", effort="fast")
    assert result.codec not in ("png", "webp-lossless")  # a lossy file met it: its score is quoted
    assert result.reason.startswith(f"{result.codec} q=")
    assert f"SSIMULACRA 2 {result.ssimulacra2:.1f} (worst region {result.ssimulacra2_worst:.1f})" in result.reason
    assert "smaller than" in result.reason


def test_visually_lossless_is_never_met_by_psnr_alone(photo):
    result = compress_image(image=photo, target="visually-lossless", effort="fast")
    assert metrics.ssimulacra2(photo, _decode(result)).score >= 90
    # The search saw files that the old "PSNR ≥ 40 dB" reading would have taken, and refused them.
    high_psnr = [c for c in result.candidates if c.psnr is not None and c.psnr >= 40]
    assert high_psnr and all(not c.meets_target for c in high_psnr if c.ssimulacra2 < 90)


def test_other_targets_still_report_ssimulacra2_and_their_own_decider(photo):
    result = compress_image(image=photo, target="psnr:38", effort="fast")
    assert result.decided_by == "psnr" and result.decided_value == pytest.approx(result.psnr)
    assert result.ssimulacra2 == pytest.approx(metrics.ssimulacra2(photo, _decode(result)).score, abs=1e-3)
    fixed = compress_image(image=photo, codec="webp", quality=50)
    assert fixed.decided_by == "quality" and fixed.decided_value == 50
    exact = compress_image(image=photo, target="lossless")
    assert (exact.decided_by, exact.decided_value, exact.ssimulacra2) == ("exact", None, 100.0)


@pytest.fixture
def easy_sample(monkeypatch):
    """A large-image search on 64-px tiles at fixed places, and an image that is smooth exactly
    there and grainy everywhere else: the sample passes at qualities the whole image fails."""
    import compression.selection.sampling as sampling

    monkeypatch.setattr(sampling, "SEARCH_MAX_PIXELS", 10_000)
    monkeypatch.setattr(sampling, "SAMPLE_TILE", 64)
    smooth = np.asarray(make_smooth_photo(640, 384, seed=2))
    grain = np.random.default_rng(0).normal(0, 10, smooth.shape)
    image = np.clip(smooth + grain, 0, 255).astype(np.uint8)
    for x0, y0, x1, y1 in sampling.sample_boxes(640, 384):
        image[y0:y1, x0:x1] = smooth[y0:y1, x0:x1]
    return Image.fromarray(image)


def test_a_full_size_miss_continues_the_search_upward(easy_sample):
    result = compress_image(image=easy_sample, codec="avif", target="balanced", effort="fast")
    sampled = [c for c in result.candidates if c.params.get("sample")]
    full_size = [c for c in result.candidates if not c.params.get("sample")]
    assert any(c.meets_target for c in sampled)
    assert full_size[0].meets_target is False  # the sample's winner missed on the whole image…
    assert len(full_size) > 1 and full_size[-1].params["quality"] > full_size[0].params["quality"]
    assert result.params["target_met"] is True
    score = metrics.ssimulacra2(easy_sample, _decode(result))
    assert score.score >= 70 and score.worst >= 60
    assert "at full size" in result.reason
