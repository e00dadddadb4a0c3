"""Compressing one image: a fixed encode, or the adaptive search for the smallest file meeting a
target. `compress_image` is the only entry point the rest of the portal uses.

How the winner is chosen lives in `compression.selection`:

* `options` checks codec, target, quality and effort (the page and the API use it too);
* `modes` plans which codecs compete and runs the fixed, search or sampled-search mode;
* `strategies` searches one codec (quality target, size budget, lossless) and re-encodes the
  winner at the effort's preset; `search` is the pure search over an integer quality knob;
* `gate` decides from one cheap probe whether `auto` searches a costly codec (the learned
  `mscae`) at all, after the others;
* `ranking` picks the winner; `sampling` handles large images (a mosaic of tiles, then a
  full-size verification that searches on upward after a miss); `reason` writes the
  explanation; `result` measures the final bytes (SSIMULACRA 2 always, at full size);
* `progress` reports stages and a fraction to a callback, which may raise to cancel.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace

from PIL import Image

from .base import CompressionResult, DecodeCheckError
from .selection import modes
from .selection.options import Request, parse_request
from .selection.progress import FINAL_END, Progress, ProgressCallback
from .selection.result import build_result
from .selection.trials import rgb_or_rgba
from .targets import Target

logger = logging.getLogger(__name__)


def compress_image(
    *,
    image: Image.Image,
    codec: str = "auto",
    target: str | Target | None = None,
    quality: float | None = None,
    effort: str | None = None,
    progress: ProgressCallback | None = None,
    exclude: tuple[str, ...] = (),
) -> CompressionResult:
    """Compress `image` (RGB, or RGBA to keep transparency).

    * `codec="<name>"` with `quality`: encode exactly at that quality (no search).
    * `codec="<name>"` without `quality`: search that codec's quality for `target`.
    * `codec="auto"`: search every suitable registered codec for `target` (default `balanced`);
      a valid `quality` is ignored (noted in `reason`).
    * `effort`: `fast` (the searched file), `default` or `max` (the winner re-encoded with slower
      presets that make smaller files).
    * `progress(stage, fraction)`: called as the work advances; raising from it stops the search
      and the exception propagates.

    Raises `CodecError` (a ValueError) for an unknown codec or effort, an out-of-range quality or
    an impossible combination, and ValueError for a bad target; messages quote the bad value.
    If the chosen codec cannot decode its own output (`DecodeCheckError`), that file is never
    stored: the search runs again without that codec, the event is logged, and `reason` and
    `params["fallback_from"]` say so.
    """
    request = parse_request(codec=codec, target=target, quality=quality, effort=effort)
    return _compress_or_fall_back(image, request, Progress(progress), exclude)


def _compress_or_fall_back(image, request: Request, reporter: Progress, exclude: tuple[str, ...]) -> CompressionResult:
    try:
        return _compress(image, request, reporter, exclude)
    except DecodeCheckError as exc:
        logger.warning("%s output failed its decode check (%s); falling back to other codecs", exc.codec, exc)
        # The same reporter: the bar keeps its place rather than starting again from zero.
        retry = replace(request, codec="auto", quality=None)
        result = _compress_or_fall_back(image, retry, reporter, (*exclude, exc.codec))
        result.reason = f"{exc.codec} output failed its decode check, so it was not used; {result.reason}"
        result.params["fallback_from"] = exc.codec
        return result


def _compress(image: Image.Image, request: Request, reporter: Progress, exclude: tuple[str, ...]) -> CompressionResult:
    started = time.perf_counter()
    reporter.report("preparing", 0.0)
    plan = modes.plan(rgb_or_rgba(image), request, exclude)
    run = modes.run_fixed if plan.mode == "fixed" else modes.run_search
    outcome = run(plan, request, reporter)
    reporter.report("measuring", FINAL_END)
    result = build_result(plan.image, outcome, request, mode=plan.mode, started=started)
    reporter.report("done", 1.0)
    return result
