"""SSIMULACRA 2 (Jon Sneyers, libjxl `tools/ssimulacra2.cc`), vectorised and in row bands.

The metric: both images go to linear RGB, then at each of 6 scales (halving in linear RGB) to a
positive XYB; per XYB channel, an SSIM-like map from Gaussian-blurred (σ = 1.5) means, variances
and covariance, and two edge maps (new edges: ringing and blocking; lost edges: blur). Each map
gives its mean and its L4 norm; a weighted sum of those 108 numbers, through a fitted polynomial
and a power, is the score. Its scale, as libjxl documents it: 100 identical, 90 visually lossless
(no difference even when flicking between the two), 80 very high (none side by side at 1:1), 70
high (artefacts hard to notice without the original), 50 medium, 30 low, negative for worse.

Two things make it fit inside a search:

- **Row bands.** Each scale is computed in bands of rows with the blur's halo, one XYB channel at
  a time, so a 24-megapixel photo never holds more than `THREADS` bands' float planes (plus the
  next scale's linear image, a quarter of the size). The horizontal blur sees whole rows and the vertical one its halo, so the
  bands give exactly the whole-image maps.
- **Region scores for free.** The score only needs sums over each map (of the value and of its
  fourth power), so summing per cell of a fixed grid as well gives every region's own score from
  the same maps: `Score.worst` is the lowest of them. A region's maps see their neighbours through
  the blur, as in the whole image.

**Which reference.** This follows the `ssimulacra2` package on PyPI (0.3.0, BSD), the reference
available here and what the tests compare against (they agree to ±0.01 on JPEG at q5–95, noise,
blur, odd and tiny sizes). Its borders differ from libjxl's C++ tool: the package blurs with a
truncated FIR Gaussian (radius 5), mirroring rows at the top and bottom and taking zeros beyond
the left and right edges (it transposes the image inside its XYB conversion and pads what it
thinks are rows), where the C++ tool uses a recursive (IIR) Gaussian with zeros on all four sides.
Only pixels within a few of an edge see the difference, so whole-image scores differ by little;
small images and the worst region, which may lie on an edge, are where it shows.

Images under 8 px on a side have no scale the reference can measure (its tool refuses them; the
package scores them 100, a perfect score for any damage): here both images are first enlarged by
repeating each pixel, the smallest whole factor that reaches 8 px, so they get an honest score.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SCALES = 6
SIGMA = 1.5
_RADIUS = int(3.33 * SIGMA + 0.5)  # scipy's truncate=3.33: the reference port's kernel
_K = np.exp(-0.5 * (np.arange(-_RADIUS, _RADIUS + 1) / SIGMA) ** 2)
KERNEL = (_K / _K.sum()).astype(np.float32)
C2 = 0.0009
THREADS = 1  # bands in parallel; 2 was no faster here (docs/benchmarks/ssimulacra2.md)
# Rows per band: about BAND_PIXELS pixels, so a band's planes stay in the CPU's caches (larger
# bands were up to a third slower; docs/benchmarks/ssimulacra2.md), between 16 rows (the halo of
# 2 × 5 rows would dominate) and BAND_ROWS.
BAND_PIXELS = 1 << 17
BAND_ROWS = 256

_OPSIN = np.array([
    [0.30, 1.0 - 0.078 - 0.30, 0.078],
    [0.23, 1.0 - 0.078 - 0.23, 0.078],
    [0.24342268924547819, 0.20476744424496821, 1.0 - 0.24342268924547819 - 0.20476744424496821],
], dtype=np.float32)
_BIAS = np.float32(0.0037930732552754493)
_CBRT_BIAS = np.float32(np.cbrt(0.0037930732552754493))

_s = np.arange(256) / 255.0
SRGB_TO_LINEAR = np.where(_s <= 0.04045, _s / 12.92, ((_s + 0.055) / 1.055) ** 2.4).astype(np.float32)

WEIGHTS = np.array([
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379,
    0.0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752, 0.0, 0.0016406437456599754,
    0.0, 1.8422455520539298, 11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653,
    0.0, 1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072, 0.9677937080626833, 0.0,
    0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053, 0.0004550992113792063, 0.0,
    0.0, 0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0,
    0.0, 0.0, 34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0008680556573291698, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0, 0.0020827005846636437,
    0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682,
    0.9834382792465353, 0.0012286405048278493, 171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0,
    0.0005130064588990679, 0.0, 0.00010854057858411537,
])

# The per-pixel maps summed per region: for each XYB channel, the SSIM error, the new edges
# (artefacts) and the lost edges (detail), each summed as itself and as its fourth power.
_MAPS = 3


@dataclass(frozen=True)
class Score:
    """`score`: the whole image; `worst`: the lowest region of the `region`-px grid (the whole
    image's score where the image is a single region); `regions`: every region's score (rows ×
    columns of the grid)."""

    score: float
    worst: float
    regions: np.ndarray
    region: int


def _xyb(linear: np.ndarray, out: np.ndarray) -> None:
    """Linear RGB (rows, W, 3) float32 → the reference's positive XYB planes in `out` (3, rows, W)."""
    r, g, b = linear[..., 0], linear[..., 1], linear[..., 2]
    mixed = np.empty((3,) + r.shape, np.float32)
    for c in range(3):
        m = mixed[c]
        np.multiply(r, _OPSIN[c, 0], out=m)
        m += g * _OPSIN[c, 1]
        m += b * _OPSIN[c, 2]
        m += _BIAS
        np.maximum(m, 0, out=m)
        np.cbrt(m, out=m)
        m -= _CBRT_BIAS
    np.subtract(mixed[0], mixed[1], out=out[0])
    out[0] *= 0.5 * 14.0
    out[0] += 0.42
    np.add(mixed[0], mixed[1], out=out[1])
    out[1] *= 0.5
    np.subtract(mixed[2], out[1], out=out[2])
    out[2] += 0.55
    out[1] += 0.01


def _downsample(linear: np.ndarray) -> np.ndarray:
    """2 × 2 box mean; a leftover row or column is averaged over what there is (as the reference)."""
    h, w, _ = linear.shape
    if h % 2 or w % 2:
        linear = np.pad(linear, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    out = linear[0::2, 0::2] + linear[1::2, 0::2]
    out += linear[0::2, 1::2]
    out += linear[1::2, 1::2]
    out *= 0.25
    return out


def _blur_rows(stack: np.ndarray) -> np.ndarray:
    """The vertical Gaussian of planes (n, rows + 2R, W) whose R halo rows are already in place:
    (n, rows, W). The kernel is symmetric, so each pair of taps costs one multiply."""
    rows = stack.shape[1] - 2 * _RADIUS
    out = stack[:, _RADIUS: _RADIUS + rows] * KERNEL[_RADIUS]
    for t in range(1, _RADIUS + 1):
        pair = stack[:, _RADIUS - t: _RADIUS - t + rows] + stack[:, _RADIUS + t: _RADIUS + t + rows]
        pair *= KERNEL[_RADIUS + t]
        out += pair
    return out


def _band_maps(lin1: np.ndarray, lin2: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """The maps of rows [top, bottom) of one scale: (3 maps, 3 channels, rows, W) float32.

    One XYB channel at a time: its five planes (x1, x2, x1², x2², x1·x2) and their blurs stay
    small enough for the CPU's caches, which made this about a quarter faster than blurring all
    fifteen planes of a band together."""
    h, w = lin1.shape[:2]
    lo, hi = max(0, top - _RADIUS), min(h, bottom + _RADIUS)
    # Beyond the image's top and bottom the rows are mirrored (between bands, the real rows are
    # the halo); beyond its left and right edges the columns are zero: the reference's borders.
    pad_top, pad_bottom = _RADIUS - (top - lo), _RADIUS - (hi - bottom)
    rows = bottom - top
    xyb1 = np.empty((3, hi - lo, w), np.float32)
    xyb2 = np.empty_like(xyb1)
    _xyb(lin1[lo:hi], xyb1)
    _xyb(lin2[lo:hi], xyb2)
    stack = np.empty((5, rows + 2 * _RADIUS, w), np.float32)
    inner = stack[:, pad_top: pad_top + hi - lo]
    maps = np.empty((_MAPS, 3, rows, w), np.float32)
    for c in range(3):
        inner[0], inner[1] = xyb1[c], xyb2[c]
        np.multiply(inner[0], inner[0], out=inner[2])
        np.multiply(inner[1], inner[1], out=inner[3])
        np.multiply(inner[0], inner[1], out=inner[4])
        if pad_top:
            stack[:, :pad_top] = inner[:, pad_top - 1::-1]
        if pad_bottom:
            stack[:, -pad_bottom:] = inner[:, :-pad_bottom - 1:-1]
        mu1, mu2, s11, s22, s12 = ndimage.correlate1d(_blur_rows(stack), KERNEL, axis=2, mode="constant")
        x1, x2 = stack[0, _RADIUS:_RADIUS + rows], stack[1, _RADIUS:_RADIUS + rows]
        # SSIM error: 1 − (1 − (μ1 − μ2)²)·(2σ12 + C2)/(σ1² + σ2² + C2), from E[x²] − μ² terms.
        m12 = mu1 * mu2
        num = mu1 - mu2
        np.square(num, out=num)
        np.subtract(1.0, num, out=num)
        s12 -= m12
        s12 *= 2.0
        s12 += C2
        num *= s12
        # Both variances first, then their sum, grouped as the numerator's 2σ12: identical images
        # then give exactly 1 here (so exactly 100), not float32 rounding amplified by the score's power.
        s11 -= np.square(mu1, out=m12)
        s22 -= np.square(mu2, out=m12)
        den = s11 + s22
        den += C2
        num /= den
        np.subtract(1.0, num, out=num)
        np.maximum(num, 0.0, out=maps[0, c])
        # Edge ratio: > 0 where the distorted image has edges the original lacks, < 0 for lost edges.
        d = np.abs(x2 - mu2)
        d += 1.0
        e1 = np.abs(x1 - mu1)
        e1 += 1.0
        d /= e1
        d -= 1.0
        np.maximum(d, 0.0, out=maps[1, c])
        np.negative(d, out=d)
        np.maximum(d, 0.0, out=maps[2, c])
    return maps


def grid_starts(n: int, cell: int) -> np.ndarray:
    """Start index of each grid cell along a side of n pixels; a last cell narrower than half a
    cell joins the one before it, so no region is a sliver."""
    starts = list(range(0, n, cell))
    if len(starts) > 1 and n - starts[-1] < cell / 2:
        starts.pop()
    return np.asarray(starts)


def _features(sums: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per-scale sums (..., scales, 3 channels, 3 maps, 2 powers) → the reference's
    (mean, L4) features."""
    mean = sums[..., 0] / count
    l4 = np.sqrt(np.sqrt(sums[..., 1] / count))
    return np.stack([mean, l4], axis=-1)


def _score(features: np.ndarray) -> np.ndarray:
    """features (..., scales, 3 channels, 3 maps, 2 norms) → scores (...)."""
    # The reference's weight order: channel, scale, norm, then map (ssim, artefact, detail).
    ordered = np.moveaxis(features, -4, -3)  # (..., channel, scale, map, norm)
    ordered = np.swapaxes(ordered, -1, -2).reshape(features.shape[:-4] + (-1,))
    # With fewer scales (an image under 8 px at some scale) the reference keeps counting weights
    # from the start, so channel 1 takes weights meant for channel 0's later scales: kept as is.
    s = np.abs(ordered) @ WEIGHTS[: ordered.shape[-1]]
    s = s * 0.9562382616834844
    s = 2.326765642916932 * s - 0.020884521182843837 * s**2 + 6.248496625763138e-05 * s**3
    return np.where(s > 0, 100.0 - 10.0 * np.power(np.maximum(s, 0), 0.6276336467831387), 100.0)


MIN_SIDE = 8  # the reference measures a scale only when both of its sides have at least 8 px
# Regions at least one pixel at the coarsest scale (and even at every scale above it), so every
# region has pixels of its own at every scale.
MIN_REGION = 2 ** SCALES


def _as_rgb8(image, which: str) -> np.ndarray:
    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if arr.dtype != np.uint8:
        raise ValueError(f"SSIMULACRA 2 takes 8-bit images; the {which} image is {arr.dtype}")
    return arr


def _enlarged(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images with each pixel repeated so that both sides reach MIN_SIDE (see the module
    docstring); unchanged when they already do."""
    side = min(a.shape[:2])
    if side >= MIN_SIDE:
        return a, b
    factor = -(-MIN_SIDE // side)
    return tuple(np.repeat(np.repeat(x, factor, axis=0), factor, axis=1) for x in (a, b))


def ssimulacra2(reference, distorted, *, region: int = 256) -> Score:
    """Score `distorted` against `reference`: uint8 RGB arrays (H, W, 3) of the same size (or
    Pillow images, converted to RGB). `region`: side in pixels of the grid whose worst cell is
    reported (its edges scale with the image when a tiny one is enlarged)."""
    a, b = _as_rgb8(reference, "reference"), _as_rgb8(distorted, "distorted")
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
        raise ValueError(f"SSIMULACRA 2 needs two RGB images of one size, got {a.shape} and {b.shape}")
    if region < MIN_REGION:
        raise ValueError(f"SSIMULACRA 2 regions must be at least {MIN_REGION} px, got {region!r}")
    original_height = a.shape[0]
    a, b = _enlarged(a, b)
    region *= a.shape[0] // original_height
    h, w = a.shape[:2]
    rows, cols = grid_starts(h, region), grid_starts(w, region)
    sums = np.zeros((len(rows), len(cols), SCALES, 3, _MAPS, 2))
    counts = np.zeros((len(rows), len(cols), SCALES, 1, 1))
    lin1 = lin2 = None
    scales = 0
    with ThreadPoolExecutor(max(THREADS, 1), thread_name_prefix="ssimulacra2") as pool:
        mapper = pool.map if THREADS > 1 else map
        for scale in range(SCALES):
            sh, sw = (h + (1 << scale) - 1) >> scale, (w + (1 << scale) - 1) >> scale
            if sh < MIN_SIDE or sw < MIN_SIDE:
                break
            scales += 1
            # Even, so that every band downsamples on its own into the next scale.
            band = max(min(BAND_ROWS, BAND_PIXELS // sw) & ~1, 16)
            last = scale == SCALES - 1
            next1 = None if last else np.empty(((sh + 1) // 2, (sw + 1) // 2, 3), np.float32)
            next2 = None if last else np.empty_like(next1)
            r_edges = np.minimum(rows >> scale, sh)
            c_edges = np.minimum(cols >> scale, sw)

            def work(top, scale=scale, sh=sh, next1=next1, next2=next2, src1=lin1, src2=lin2,
                     r_edges=r_edges, c_edges=c_edges):
                bottom = min(sh, top + band)
                if scale == 0:
                    # Linear RGB of the band and its halo only, straight from the 8-bit pixels.
                    lo, hi = max(0, top - _RADIUS), min(sh, bottom + _RADIUS)
                    src1, src2, top_in = SRGB_TO_LINEAR[a[lo:hi]], SRGB_TO_LINEAR[b[lo:hi]], top - lo
                else:
                    top_in = top
                maps = _band_maps(src1, src2, top_in, top_in + bottom - top)
                if next1 is not None:
                    next1[top // 2: (bottom + 1) // 2] = _downsample(src1[top_in: top_in + bottom - top])
                    next2[top // 2: (bottom + 1) // 2] = _downsample(src2[top_in: top_in + bottom - top])
                # Summed here, in the worker: only the small per-cell sums wait for the main
                # thread, never a band's maps, so memory stays at THREADS bands in flight.
                band_sums = np.zeros(sums.shape[:2] + sums.shape[3:])
                band_counts = np.zeros(counts.shape[:2] + counts.shape[3:])
                _accumulate(band_sums, band_counts, maps, top, bottom, r_edges, c_edges)
                return band_sums, band_counts

            for band_sums, band_counts in mapper(work, range(0, sh, band)):
                sums[:, :, scale] += band_sums
                counts[:, :, scale] += band_counts
            lin1, lin2 = next1, next2
    sums, counts = sums[:, :, :scales], counts[:, :, :scales]
    regions = _score(_features(sums, counts))
    whole = float(_score(_features(sums.sum(axis=(0, 1)), counts.sum(axis=(0, 1)))))
    return Score(score=whole, worst=float(regions.min()), regions=regions, region=region)


def _accumulate(sums, counts, maps, top, bottom, r_edges, c_edges) -> None:
    """Add the band's maps (3 maps, 3 channels, rows [top, bottom), W) to the grid cells' sums
    (cell rows, cell columns, 3 channels, 3 maps, 2 powers) and pixel counts."""
    fourth = maps * maps
    fourth *= fourth
    widths = np.diff(np.append(c_edges, maps.shape[-1]))
    for i, r0 in enumerate(r_edges):
        r1 = r_edges[i + 1] if i + 1 < len(r_edges) else 1 << 60
        lo, hi = max(r0, top), min(r1, bottom)
        if lo >= hi:
            continue
        for power, m in enumerate((maps, fourth)):
            rows = m[:, :, lo - top: hi - top].sum(axis=2, dtype=np.float64)  # (3, 3, W)
            cells = np.add.reduceat(rows, c_edges, axis=2)  # (maps, channels, cells)
            sums[i, :, :, :, power] += cells.transpose(2, 1, 0)
        counts[i] += ((hi - lo) * widths)[:, None, None]
