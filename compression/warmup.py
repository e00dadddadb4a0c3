"""Start-up work for a process that will compress: every registered codec that has costly
one-off work (`warm_up`: the learned codec loads TensorFlow and its model, tens of seconds on a
cold start) does it now, so that the first upload a new worker takes costs what any other does."""
from __future__ import annotations

import logging
import time

from compression import registry

logger = logging.getLogger(__name__)


def warm_codecs() -> dict[str, float]:
    """Warm every registered codec that can be: {codec name: seconds}. A codec that fails to warm
    is logged and left cold (its first job will load it, or report its error): start-up must not
    fail because one codec cannot."""
    seconds = {}
    for codec in registry.available_codecs():
        warm = getattr(codec, "warm_up", None)
        if warm is None:
            continue
        started = time.perf_counter()
        try:
            warm()
        except Exception:  # noqa: BLE001 - logged; the codec stays available and cold
            logger.exception("could not warm codec %s", codec.name)
            continue
        seconds[codec.name] = round(time.perf_counter() - started, 2)
    return seconds
