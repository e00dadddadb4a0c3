"""One encode of one image (`Trial`) and the context that makes and measures encodes (`Search`).

A `Search` belongs to one image (the upload, or the search sample of a large one) and one target.
It encodes, decodes and measures; the strategies (`strategies.py`) decide which encodes to make
and `ranking.py` which one wins.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .. import metrics
from ..base import Candidate, Codec, CodecError
from ..targets import Target
from .progress import Progress


@dataclass
class Trial:
    codec: Codec
    options: dict[str, Any]
    quality: float | None
    data: bytes
    seconds: float
    fast: bool
    psnr: float | None = None
    msssim: float | None = None
    ssimulacra2: float | None = None
    worst_region: float | None = None  # SSIMULACRA 2 of its worst region
    meets: bool | None = None
    sampled: bool = False  # measured on the search sample of a large image, not the full image
    # The decoded pixels, kept (for the full-size image only) so the result is not decoded twice.
    decoded: Image.Image | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    def label(self) -> str:
        text = self.codec.name
        if self.quality is not None:
            text += f" q={self.quality:g}"
        if self.options.get("subsampling"):
            text += f" {self.options['subsampling']}"
        return text

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.quality is not None:
            out["quality"] = self.quality
        out.update(self.options)
        out["effort"] = "fast" if self.fast else "final"
        if self.sampled:
            out["sample"] = True
        if self.psnr is not None and math.isinf(self.psnr):
            out["exact"] = True
        return out

    def to_candidate(self) -> Candidate:
        return Candidate(
            codec=self.codec.name,
            params=self.params(),
            size=self.size,
            psnr=metrics.finite_or_none(self.psnr),
            msssim=None if self.msssim is None else round(float(self.msssim), 6),
            seconds=round(self.seconds, 4),
            meets_target=self.meets,
            ssimulacra2=None if self.ssimulacra2 is None else round(float(self.ssimulacra2), 3),
            ssimulacra2_worst=None if self.worst_region is None else round(float(self.worst_region), 3),
        )


def rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")  # opaque alpha: no reason to restrict the codecs
    image.load()
    return image


def msssim_db(value: float) -> float:
    return -10.0 * math.log10(max(1.0 - value, 1e-10))


class Search:
    """Encodes and measures trials of one image against one target; shared by parallel searches."""

    def __init__(self, image: Image.Image, target: Target, *, progress: Progress | None = None, keep_decoded=False):
        self.image = image
        # The original's pixels, read once: every measurement compares against them.
        self.pixels = np.asarray(image)
        self.target = target
        self.width, self.height = image.size
        self.budget = target.byte_budget(self.width, self.height)
        self.progress = progress or Progress()
        self.keep_decoded = keep_decoded
        # Shared by the parallel searches: the smallest file meeting the target so far.
        self.best_meeting_size = math.inf
        self.pruned: list[str] = []  # searches stopped on a missing file larger than a meeting one
        self.pruned_predicted: list[str] = []  # stopped on an extrapolation (strategies.PREDICTED_LOSS)
        self._lock = threading.Lock()
        self._sessions: dict[str, object] = {}

    def _session(self, codec: Codec):
        with self._lock:
            if codec.name not in self._sessions:
                # Per-image work before the first encode (the learned codec's analysis transform)
                # can be a step's longest part: the progress label says so while it runs.
                own_work = type(codec).session is not Codec.session
                if own_work:
                    self.progress.doing(codec.name, "analysing the image")
                try:
                    self._sessions[codec.name] = codec.session(self.image)
                finally:
                    if own_work:
                        self.progress.doing(codec.name, None)
            return self._sessions[codec.name]

    def encode(self, codec: Codec, quality, options, *, fast: bool) -> Trial:
        self.progress.checkpoint()  # a cancelled job stops before its next encode
        started = time.perf_counter()
        data = self._session(codec)(quality=quality, fast=fast, **options)
        return Trial(codec, dict(options), quality, data, time.perf_counter() - started, fast)

    def measure(self, trial: Trial) -> Trial:
        """Decode and compute what the target needs (PSNR always; MS-SSIM or SSIMULACRA 2 with
        its worst region when the target asks for them); sets `meets`."""
        self.progress.checkpoint()
        started = time.perf_counter()
        decoded = rgb_or_rgba(trial.codec.decode(trial.data))
        if decoded.size != self.image.size:
            raise CodecError(f"{trial.codec.label} returned a {decoded.size} image for a {self.image.size} input.")
        decoded_pixels = np.asarray(decoded)
        if trial.psnr is None:
            trial.psnr = metrics.psnr(self.pixels, decoded_pixels)
        exact = math.isinf(trial.psnr)
        if self.target.needs_msssim and trial.msssim is None:
            trial.msssim = 1.0 if exact else metrics.ms_ssim(self.pixels, decoded_pixels)
        if self.target.needs_ssimulacra2 and trial.ssimulacra2 is None:
            if exact:
                trial.ssimulacra2 = trial.worst_region = 100.0
            else:
                self.progress.checkpoint()
                score = metrics.ssimulacra2(self.pixels, decoded_pixels, region=self.target.region)
                trial.ssimulacra2, trial.worst_region = score.score, score.worst
        trial.meets = self.target.is_met(
            psnr=trial.psnr,
            msssim=trial.msssim,
            ssimulacra2=trial.ssimulacra2,
            worst_region=trial.worst_region,
            size=trial.size,
            bpp=metrics.bits_per_pixel(trial.size, self.width, self.height),
        )
        if self.keep_decoded:
            trial.decoded = decoded
        trial.seconds += time.perf_counter() - started
        return trial

    def offer(self, trial: Trial) -> None:
        """Record a file meeting the target, so other searches can stop once they are larger."""
        with self._lock:
            self.best_meeting_size = min(self.best_meeting_size, trial.size)

    def bounds(self, codec: Codec) -> tuple[int, int]:
        lo, hi = codec.quality_range  # type: ignore[misc]
        return int(math.ceil(lo)), int(math.floor(hi))

    def start(self, codec: Codec) -> int:
        """Where a quality search starts: the codec's hint for the target's metric, else its default."""
        lo, hi = self.bounds(codec)
        guess = codec.default_quality if codec.default_quality is not None else (lo + hi) / 2
        target = self.target
        if self.budget is None and target.min_ssimulacra2 is not None:
            level, hints = target.min_ssimulacra2, codec.ssimulacra2_hints
        elif self.budget is None and target.min_psnr is not None:
            level, hints = target.min_psnr, codec.psnr_hints
        else:
            level, hints = None, ()
        if hints:
            xs, ys = zip(*sorted(hints))
            guess = float(np.interp(level, xs, ys))
        return int(min(max(round(guess), lo), hi))

    def margin(self, trial: Trial) -> float:
        """How far a measured trial is above (+) or below (−) the target, in units that are
        roughly linear in the quality knob: dB of PSNR, dB of (1 − MS-SSIM), points of
        SSIMULACRA 2 (the whole image's or its worst region's, whichever is closer to failing),
        log of size. Finite always: the searches extrapolate from it."""
        target = self.target
        if self.budget is not None:
            return math.log(self.budget / max(trial.size, 1))
        if target.lossless or trial.meets is None:
            return 0.0 if trial.meets else -1.0
        if trial.psnr is not None and math.isinf(trial.psnr):
            return 100.0  # exact: far above any floor
        if target.min_ssimulacra2 is not None and trial.ssimulacra2 is not None:
            margin = trial.ssimulacra2 - target.min_ssimulacra2
            if target.min_region is not None and trial.worst_region is not None:
                margin = min(margin, trial.worst_region - target.min_region)
            return margin
        if target.min_msssim is not None and trial.msssim is not None:
            return msssim_db(trial.msssim) - msssim_db(target.min_msssim)
        if target.min_psnr is not None and trial.psnr is not None:
            return trial.psnr - target.min_psnr
        return 0.0 if trial.meets else -1.0
