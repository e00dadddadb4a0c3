"""Quality and size metrics, checked against independent numpy / scikit-image computations."""
import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from compression import metrics
from tests.conftest import make_photo


def test_psnr_of_identical_images_is_infinite():
    photo = np.asarray(make_photo())
    assert metrics.psnr(photo, photo.copy()) == math.inf


def test_psnr_matches_a_known_mse():
    a = np.full((8, 10, 3), 100, dtype=np.uint8)
    b = a.copy()
    b[..., 0] += 6  # squared error 36 on one channel of three: MSE 12
    expected = 10 * np.log10(255.0**2 / 12.0)
    assert metrics.psnr(a, b) == pytest.approx(expected, abs=1e-9)


def test_psnr_matches_numpy_on_noisy_photo():
    rng = np.random.default_rng(5)
    a = np.asarray(make_photo(40, 30))
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-9)


def test_ssim_and_ms_ssim_are_one_for_identical_and_drop_with_noise():
    a = np.asarray(make_photo(200, 180))
    rng = np.random.default_rng(2)
    light = np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0)
    assert 1.0 > metrics.ms_ssim(a, light) > metrics.ms_ssim(a, heavy) > 0
    assert 1.0 > metrics.ssim(a, light) > metrics.ssim(a, heavy)


def test_ssim_is_scikit_image_with_wang_settings():
    rng = np.random.default_rng(3)
    a = np.asarray(make_photo(48, 40))
    b = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(
        a.astype(float), b.astype(float), data_range=255, channel_axis=-1,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    )
    assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-5)


def test_single_scale_ms_ssim_equals_ssim_for_small_images():
    # 16 px cannot be halved and still hold an 11 px window: one scale, which is plain SSIM.
    rng = np.random.default_rng(4)
    a = np.asarray(make_photo(16, 16))
    b = np.clip(a + rng.normal(0, 6, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim_scales(16, 16) == 1
    assert metrics.ms_ssim(a, b) == pytest.approx(metrics.ssim(a, b), abs=1e-4)


@pytest.mark.parametrize("size,scales", [((768, 512), 5), ((176, 176), 5), ((175, 300), 4), ((48, 32), 2), ((8, 8), 1)])
def test_ms_ssim_uses_as_many_scales_as_fit(size, scales):
    assert metrics.ms_ssim_scales(*size) == scales


def test_ms_ssim_weights_are_wang_2003():
    assert metrics.MS_SSIM_WEIGHTS == (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def test_invisible_colour_under_full_transparency_does_not_count_but_alpha_does():
    a = np.zeros((8, 8, 4), dtype=np.uint8)
    a[..., :3] = 120
    a[..., 3] = 255
    a[:4, :, 3] = 0  # top half fully transparent
    b = a.copy()
    b[:4, :, :3] = 7  # different colour nobody can see
    assert metrics.psnr(a, b) == math.inf
    c = a.copy()
    c[4:, :, 3] = 200  # visible change of opacity
    assert metrics.psnr(a, c) < 40


def test_size_metrics():
    assert metrics.bits_per_pixel(1000, 10, 20) == pytest.approx(40.0)


def test_mismatched_sizes_are_an_error():
    with pytest.raises(ValueError, match="differ"):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_one_pass_ssim_equals_scikit_image_ssim():
    rng = np.random.default_rng(6)
    a = np.asarray(make_photo(64, 48))
    b = np.clip(a + rng.normal(0, 7, a.shape), 0, 255).astype(np.uint8)
    ssim_value, msssim_value = metrics.ssim_and_ms_ssim(a, b)
    assert ssim_value == pytest.approx(metrics.ssim(a, b), abs=1e-5)
    assert msssim_value == pytest.approx(metrics.ms_ssim(a, b))
