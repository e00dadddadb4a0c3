"""The `CompressionResult` of an outcome: everything reported comes from decoding the bytes returned.

`params["decoded_sha256"]` is the SHA-256 of the decoded pixels (`Image.tobytes()` of the RGB or
RGBA image, row-major, 8 bits per channel; `params["decoded_mode"]` says which).

SSIM and MS-SSIM of a large image are measured on the tiles the search used (`params
["quality_sample"]` says so) unless the target depends on MS-SSIM: at full size they cost 11 s
of a 13 MP upload and decide nothing. PSNR and SSIMULACRA 2 (with its worst region) are always
full size: the search has measured them on the winner already for a perceptual target, and for
any other target SSIMULACRA 2 is measured here once, so every stored image reports it.

`decided_by` and `decided_value` name the measurement the target was judged on and its value
(`CompressionResult` says which).
"""
from __future__ import annotations

import hashlib
import math
import time

import numpy as np
from PIL import Image

from .. import metrics
from ..base import CodecError, CompressionResult
from .modes import Outcome
from .options import Request
from .sampling import mosaic
from .trials import rgb_or_rgba


def _decoded(outcome: Outcome, image: Image.Image) -> Image.Image:
    winner = outcome.winner
    decoded = winner.decoded if winner.decoded is not None else rgb_or_rgba(winner.codec.decode(winner.data))
    if decoded.size != image.size:
        raise CodecError(f"{winner.codec.label} returned a {decoded.size} image for a {image.size} input.")
    return decoded


def _structure(image, decoded, outcome: Outcome, request: Request) -> tuple[float, float, int, bool]:
    """(SSIM, MS-SSIM, MS-SSIM scales, measured on the sample)."""
    boxes = outcome.sample_boxes
    if boxes is None:
        ssim, msssim = metrics.ssim_and_ms_ssim(image, decoded)
        return ssim, msssim, metrics.ms_ssim_scales(image.width, image.height), False
    original_tiles, decoded_tiles = mosaic(image, boxes), mosaic(decoded, boxes)
    ssim, msssim = metrics.ssim_and_ms_ssim(original_tiles, decoded_tiles)
    if request.target.needs_msssim and outcome.winner.msssim is not None and not outcome.winner.sampled:
        msssim = outcome.winner.msssim  # measured at full size already, because the target asked
        return ssim, msssim, metrics.ms_ssim_scales(image.width, image.height), False
    return ssim, msssim, metrics.ms_ssim_scales(*original_tiles.size), True


def build_result(image: Image.Image, outcome: Outcome, request: Request, *, mode: str, started: float) -> CompressionResult:
    winner = outcome.winner
    decoded = _decoded(outcome, image)
    pixels = np.asarray(decoded)
    psnr_value = winner.psnr if winner.psnr is not None and not winner.sampled else metrics.psnr(image, pixels)
    exact = math.isinf(psnr_value)
    ssim_value, msssim_value, scales, on_sample = (1.0, 1.0, metrics.ms_ssim_scales(*image.size), False)
    if not exact:
        ssim_value, msssim_value, scales, on_sample = _structure(image, decoded, outcome, request)
    bpp = metrics.bits_per_pixel(winner.size, image.width, image.height)
    s2_value, worst = _perceptual(image, pixels, winner, request, exact)
    met = request.target.is_met(
        psnr=psnr_value, msssim=msssim_value, ssimulacra2=s2_value, worst_region=worst, size=winner.size, bpp=bpp
    )
    s2_value, worst = round(float(s2_value), 3), round(float(worst), 3)  # as the candidates are stored
    decided_by, decided_value = _decision(request, mode, winner, exact=exact, psnr=psnr_value,
                                          msssim=msssim_value, ssimulacra2=s2_value, bpp=bpp)

    params = winner.params()
    params.update(
        {
            "target": request.target.spec,
            "target_description": request.target.describe(),
            "target_met": met,
            "selection": mode,
            "effort_level": request.effort,
            "exact": exact,
            "alpha": decoded.mode == "RGBA",
            "msssim_scales": scales,
            "decoded_mode": decoded.mode,
            "decoded_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
        }
    )
    if winner.codec.model_id:
        params["model"] = winner.codec.model_id
    if on_sample:
        params["quality_sample"] = f"SSIM and MS-SSIM on the {len(outcome.sample_boxes)} search tiles"
    return CompressionResult(
        codec=winner.codec.name,
        params=params,
        data=winner.data,
        media_type=winner.codec.media_type,
        extension=winner.codec.extension,
        size=winner.size,
        width=image.width,
        height=image.height,
        psnr=metrics.finite_or_none(psnr_value),
        ssim=round(float(ssim_value), 6),
        msssim=round(float(msssim_value), 6),
        bpp=bpp,
        seconds=time.perf_counter() - started,
        candidates=[t.to_candidate() for t in outcome.trials],
        reason=outcome.reason,
        ssimulacra2=s2_value,
        ssimulacra2_worst=worst,
        decided_by=decided_by,
        decided_value=decided_value,
    )


def _perceptual(image, pixels, winner, request: Request, exact: bool) -> tuple[float, float]:
    """(SSIMULACRA 2, its worst region) of the final file at full size."""
    if exact:
        return 100.0, 100.0
    if winner.ssimulacra2 is not None and winner.worst_region is not None and not winner.sampled:
        return winner.ssimulacra2, winner.worst_region
    score = metrics.ssimulacra2(image, pixels, region=request.target.region)
    return score.score, score.worst


def _decision(request: Request, mode: str, winner, *, exact, psnr, msssim, ssimulacra2, bpp):
    """(the measurement that decided, its value)."""
    if mode == "fixed" and winner.quality is not None:
        return "quality", float(winner.quality)
    metric = request.target.metric
    if exact or metric == "exact":
        return "exact", None
    values = {"ssimulacra2": ssimulacra2, "psnr": psnr, "msssim": msssim, "bytes": winner.size, "bpp": bpp}
    value = values[metric]
    return metric, None if value is None else float(value)
