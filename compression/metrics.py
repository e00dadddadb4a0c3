"""Image quality and size metrics.

Definitions (the UI, API and stored records all use these):

* **PSNR** — on 8-bit RGB: 10·log10(255² / MSE), the MSE taken over every pixel and all three
  channels together. Identical images give `inf`.
* **SSIM** — scikit-image `structural_similarity` on RGB (per channel, averaged), Gaussian window
  σ = 1.5, population covariance, K1 = 0.01, K2 = 0.03, data range 255 — the settings of Wang et
  al. 2004.
* **MS-SSIM** — Wang, Simoncelli & Bovik 2003: five scales with weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); contrast-structure terms at scales 1–4 and full SSIM at
  scale 5, 2×2 average pooling between scales, per RGB channel then averaged (as tf.image does).
  The per-scale terms use the same Gaussian-window SSIM as scikit-image (checked by a test). An
  image whose shorter side is below 11·2⁴ = 176 px cannot hold five scales: it uses as many as fit
  (at least one; the weights of the scales used are renormalised) — `ms_ssim_scales()` says how many.
  Images smaller than the 11 px window use a window as large as the image allows.
* **SSIMULACRA 2** — `compression.ssimulacra2` (Sneyers; the PyPI `ssimulacra2` package's
  definition): 100 identical, 90 visually lossless, 70 high, 30 low, negative for worse; with the
  score of every square region of a fixed grid, whose lowest is the "worst region".
* **Alpha** — images with an alpha channel are compared as they would be seen: composited over black
  and over white; the metric is the worse of the two, so an error in either colour or alpha counts
  (for SSIMULACRA 2 each region takes its worse background too; composites are rounded to 8 bits).
* **bpp** — bits per pixel of the file: 8·bytes / (width·height).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from . import ssimulacra2 as _s2
from .ssimulacra2 import Score

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_SIGMA = 1.5
_TRUNCATE = 3.5  # scikit-image's choice: an 11-tap window at σ = 1.5
_WIN = 11
_K1, _K2 = 0.01, 0.03


def _planes(image: Image.Image | np.ndarray) -> list[np.ndarray]:
    """float32 RGB arrays as they would be seen: one for opaque images, two (over black and over
    white) for images with alpha."""
    if isinstance(image, Image.Image):
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        arr = np.asarray(image)
    else:
        arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = arr.astype(np.float32)
    if arr.shape[-1] == 4:
        alpha = arr[..., 3:4] / 255.0
        rgb = arr[..., :3]
        return [rgb * alpha, rgb * alpha + 255.0 * (1.0 - alpha)]
    return [arr[..., :3]]


def _pairs(a, b):
    pa, pb = _planes(a), _planes(b)
    if pa[0].shape != pb[0].shape:
        raise ValueError(f"image sizes differ: {pa[0].shape[:2]} vs {pb[0].shape[:2]}")
    if len(pa) != len(pb):
        # One side has alpha, the other not: treat the opaque one as alpha = 255.
        if len(pa) == 1:
            pa = pa * 2
        else:
            pb = pb * 2
    return list(zip(pa, pb))


_MSE_ROWS = 256  # rows per block: bounds the float copies of a 24 MP image to a few tens of MB


def _opaque_pixels(image) -> np.ndarray | None:
    """The 8-bit RGB array of an opaque image, without a copy where possible; None otherwise."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            return None
        image = np.asarray(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
        return None
    return arr


def mse(a, b) -> float:
    x, y = _opaque_pixels(a), _opaque_pixels(b)
    if x is not None and y is not None and x.shape == y.shape:
        # Exact integer arithmetic, block by block: 5× faster than float copies of both images
        # (measured on Kodak) and never more than a block of a large photo in memory.
        total = 0
        for start in range(0, x.shape[0], _MSE_ROWS):
            d = x[start : start + _MSE_ROWS].astype(np.int16)
            d -= y[start : start + _MSE_ROWS]
            d = d.astype(np.int32)
            d *= d
            total += int(d.sum(dtype=np.int64))
        return total / x.size
    return max(float(np.mean((x - y) ** 2, dtype=np.float64)) for x, y in _pairs(a, b))


def psnr(a, b) -> float:
    """PSNR in dB between two 8-bit images; `inf` when they are identical."""
    err = mse(a, b)
    if err == 0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / err)


def ssim(a, b) -> float:
    values = []
    for x, y in _pairs(a, b):
        win = _window_for(x.shape[:2])
        values.append(
            float(
                structural_similarity(
                    x,
                    y,
                    data_range=255.0,
                    channel_axis=-1,
                    gaussian_weights=True,
                    sigma=_SIGMA,
                    use_sample_covariance=False,
                    win_size=win,
                )
            )
        )
    return min(values)


def _window_for(shape) -> int:
    side = min(shape)
    if side >= _WIN:
        return _WIN
    return max(1, side if side % 2 else side - 1)


def ms_ssim_scales(width: int, height: int) -> int:
    """How many of the five MS-SSIM scales an image of this size supports."""
    side = min(width, height)
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and side // (2**scales) >= _WIN:
        scales += 1
    return scales


def _ssim_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure of one channel, Gaussian window as scikit-image."""
    c1 = (_K1 * 255.0) ** 2
    c2 = (_K2 * 255.0) ** 2
    small = min(x.shape) < _WIN
    if small:
        # Too small for the full window: a smaller Gaussian (like scikit-image with win_size < 11).
        sigma = max(min(x.shape) - 1, 1) / (2 * _TRUNCATE)
    else:
        sigma = _SIGMA

    def filt(z):
        return gaussian_filter(z, sigma=sigma, truncate=_TRUNCATE, mode="reflect")

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x * mu_x
    syy = filt(y * y) - mu_y * mu_y
    sxy = filt(x * y) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = ((2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)) * cs_map
    # Crop the border where the window hangs over the edge, as scikit-image does.
    pad = 0 if small else (_WIN - 1) // 2
    if pad:
        cs_map = cs_map[pad:-pad, pad:-pad]
        ssim_map = ssim_map[pad:-pad, pad:-pad]
    return float(ssim_map.mean(dtype=np.float64)), float(cs_map.mean(dtype=np.float64))


def _downsample(z: np.ndarray) -> np.ndarray:
    h, w = (z.shape[0] // 2) * 2, (z.shape[1] // 2) * 2
    z = z[:h, :w]
    return (z[0::2, 0::2] + z[1::2, 0::2] + z[0::2, 1::2] + z[1::2, 1::2]) * 0.25


def _ms_ssim_plane(x: np.ndarray, y: np.ndarray, scales: int) -> tuple[float, float]:
    """(SSIM, MS-SSIM) of one RGB plane: the first scale's SSIM is plain single-scale SSIM."""
    weights = np.array(MS_SSIM_WEIGHTS[:scales], dtype=np.float64)
    weights /= weights.sum()
    per_channel = []
    full_scale_ssim = []
    for c in range(x.shape[-1]):
        xc, yc = x[..., c], y[..., c]
        terms = []
        for s in range(scales):
            s_val, cs_val = _ssim_cs(xc, yc)
            if s == 0:
                full_scale_ssim.append(s_val)
            if s == scales - 1:
                terms.append(s_val)
            else:
                terms.append(cs_val)
                xc, yc = _downsample(xc), _downsample(yc)
        # Negative terms (anti-correlated structure) would make the product meaningless.
        terms = np.maximum(np.array(terms, dtype=np.float64), 0.0)
        per_channel.append(float(np.prod(terms**weights)))
    return float(np.mean(full_scale_ssim)), float(np.mean(per_channel))


def ms_ssim(a, b) -> float:
    """MS-SSIM in [0, 1] (1 = identical); see the module docstring for the exact definition."""
    return ssim_and_ms_ssim(a, b)[1]


def ssim_and_ms_ssim(a, b) -> tuple[float, float]:
    """(SSIM, MS-SSIM) in one pass: MS-SSIM's first scale already is SSIM with scikit-image's
    settings (equal to `ssim()` to ~1e-6, checked by a test), so the selector need not filter twice."""
    pairs = _pairs(a, b)
    h, w = pairs[0][0].shape[:2]
    scales = ms_ssim_scales(w, h)
    values = [_ms_ssim_plane(x, y, scales) for x, y in pairs]
    return min(v[0] for v in values), min(v[1] for v in values)


def ssimulacra2(a, b, *, region: int = 256) -> Score:
    """SSIMULACRA 2 of `b` against `a` (8-bit RGB or RGBA, Pillow images or arrays), with the
    score of every `region`-px square; see the module docstring for alpha."""
    x, y = _opaque_pixels(a), _opaque_pixels(b)
    if x is not None and y is not None and x.shape == y.shape:
        pairs = [(x, y)]
    else:
        pairs = [tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in pair) for pair in _pairs(a, b)]
    scores = [_s2.ssimulacra2(p, q, region=region) for p, q in pairs]
    if len(scores) == 1:
        return scores[0]
    regions = np.minimum(scores[0].regions, scores[1].regions)
    return Score(min(s.score for s in scores), float(regions.min()), regions, scores[0].region)


def bits_per_pixel(size: int, width: int, height: int) -> float:
    return 8.0 * size / (width * height)


def finite_or_none(value: float | None) -> float | None:
    """JSON (and so the database and API) cannot hold infinity: exact results store None."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
