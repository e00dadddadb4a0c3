"""Large images: search on a mosaic of tiles, then verify (and if needed correct) at full size.

A search needs ~25 encodes; at 12 MP each takes seconds, so images above `SEARCH_MAX_PIXELS` are
searched on up to SAMPLE_GRID × SAMPLE_GRID tiles of `SAMPLE_TILE` px spread over the image, and
only the winner is encoded at full size. The same tiles serve to estimate SSIM / MS-SSIM of the final file when the
target does not depend on them (see `services`): at 24 MP the full-size MS-SSIM alone took 13 s.
"""
from __future__ import annotations

import math
from dataclasses import replace

from PIL import Image

from ..codecs import LARGE_IMAGE_PIXELS
from ..targets import Target
from . import ranking
from .search import MAX_STEPS, threshold_search
from .strategies import final_options, local_slopes
from .trials import Search, Trial

SEARCH_MAX_PIXELS = LARGE_IMAGE_PIXELS  # larger images are searched on a sample
SAMPLE_GRID = 3  # tiles across and down: 9 tiles (0.6 MP) cost 40 % less CPU than 16 and chose as well on 12-16 MP photos
SAMPLE_TILE = 256  # a multiple of every codec's block size: the seams fall on block edges
# Full-size encodes allowed to correct a quality the sample got wrong: as many as a whole search,
# so a miss is searched upward until it meets (a bad region the sample did not see costs time,
# never a stored miss).
FULL_SIZE_RETRIES = MAX_STEPS
FULL_SIZE_LOWER = 2  # full-size encodes at efforts default/max trying below a quality that met


def sample_boxes(width: int, height: int) -> list[tuple[int, int, int, int]] | None:
    """Crop boxes of up to SAMPLE_GRID × SAMPLE_GRID tiles spread over a large image, or None when the image is small
    enough to use whole."""
    if width * height <= SEARCH_MAX_PIXELS:
        return None
    tile = min(SAMPLE_TILE, width, height)
    nx, ny = max(1, min(SAMPLE_GRID, width // tile)), max(1, min(SAMPLE_GRID, height // tile))
    if nx * ny * tile * tile * 2 > width * height:
        return None  # a sample would be most of the image anyway
    boxes = []
    for i in range(nx):
        x = round(i * (width - tile) / (nx - 1)) if nx > 1 else (width - tile) // 2
        for j in range(ny):
            y = round(j * (height - tile) / (ny - 1)) if ny > 1 else (height - tile) // 2
            boxes.append((x, y, x + tile, y + tile))
    return boxes


def mosaic(image: Image.Image, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """The tiles of `boxes` side by side, column by column."""
    tile = boxes[0][2] - boxes[0][0]
    ny = len({b[1] for b in boxes})
    nx = len(boxes) // ny
    out = Image.new(image.mode, (nx * tile, ny * tile))
    for k, box in enumerate(boxes):
        out.paste(image.crop(box), ((k // ny) * tile, (k % ny) * tile))
    return out


def scaled_target(target: Target, image: Image.Image, sample: Image.Image) -> Target:
    """The same target for the sample: quality floors as they are, a byte budget as bits per pixel."""
    budget = target.byte_budget(image.width, image.height)
    if budget is None:
        return target
    return replace(target, max_bytes=None, max_bpp=8.0 * budget / (image.width * image.height))


def confirm_full_size(search: Search, sample_search: Search, winner: Trial, group: list[Trial], effort: str) -> list[Trial]:
    """The sample's winner at full size, all measured: returns the full-size trials.

    Full-size encodes are the expensive ones, so the quality is settled with fast encodes: if the
    full image misses the target (or the budget), at most `FULL_SIZE_RETRIES` more encodes search on
    the side that can fix it, starting where the sample's slope predicts (and for a quality target
    still missed then, one at the codec's highest quality); if it meets a quality
    target at effort default or max, at most `FULL_SIZE_LOWER` look lower (whole photos have more
    smooth area than the tiles, so the sample's quality is often more than they need). Then, at
    default or max effort, one encode at the effort's preset at the quality found (at max, when that
    misses, one more at default's preset); the caller keeps it if it still meets the target and is
    smaller."""
    codec = winner.codec
    measured: list[Trial] = []

    def encode(q, options=winner.options, fast=True):
        trial = search.measure(search.encode(codec, q, options, fast=fast))
        measured.append(trial)
        best = ranking.pick(search.target, measured)
        for other in measured:
            if other is not best:
                other.decoded = None  # a full-size image each: only the winner's is needed again
        return trial

    slow = effort != "fast" and not codec.fast_is_final
    trials = [encode(winner.quality)]
    if winner.quality is not None:
        trials += _correct_quality(search, sample_search, winner, group, trials[0], encode, look_lower=slow)
    if slow:
        best = ranking.pick(search.target, trials)
        trials.append(encode(best.quality, final_options(codec, winner.options, effort), fast=False))
        default = final_options(codec, winner.options, "default")
        if effort == "max" and not trials[-1].meets and default != trials[-1].options:
            # The slowest preset can land just under the target (a region guard's margin) where
            # default's did not: without this, max would keep the larger fast file.
            trials.append(encode(best.quality, default, fast=False))
    return trials


def _correct_quality(search, sample_search, winner, group, first, encode, *, look_lower: bool) -> list[Trial]:
    if first.meets and (not look_lower or search.budget is not None):
        return []
    lo, hi = search.bounds(winner.codec)
    slope, growth = local_slopes(sample_search, winner, group)
    step = max(1, int(winner.codec.quality_step))
    q0 = int(winner.quality)
    if first.meets:
        dq = step if slope is None else max(step, math.floor(search.margin(first) / slope))
        lo, hi, start, ascending, steps = lo, q0 - step, q0 - dq, True, FULL_SIZE_LOWER
    elif search.budget is not None:
        dq = step if growth is None else max(step, math.ceil(math.log(first.size / search.budget) / growth))
        lo, hi, start, ascending, steps = lo, q0 - step, q0 - dq, False, FULL_SIZE_RETRIES
    else:
        dq = step if slope is None else max(step, math.ceil(-search.margin(first) / slope))
        lo, hi, start, ascending, steps = q0 + step, hi, q0 + dq, True, FULL_SIZE_RETRIES
    if lo > hi:
        return []

    def evaluate(q):
        trial = encode(q)
        return trial, bool(trial.meets), search.margin(trial)

    start = min(max(start, lo), hi)
    found = threshold_search(evaluate, lo, hi, start, ascending=ascending, max_steps=steps)
    if ascending and not first.meets and not any(t.meets for t in found) and all(t.quality != hi for t in found):
        found.append(encode(hi))  # the search ran out of steps below the threshold: the top decides
    return found
