"""Progress of one `compress_image` call, for a progress bar, and the way to stop it.

The caller passes `progress=callback`; the callback receives `(stage, fraction)` where `stage` is a
short English phrase ("searching webp", "full-size encode", ...) and `fraction` a number in
[0, 1] that never goes down and ends at exactly 1.0. The callback may raise (a job that was
cancelled or ran out of time): every search thread then stops before its next encode and
`compress_image` raises that same exception.
"""
from __future__ import annotations

import threading
from typing import Callable

ProgressCallback = Callable[[str, float], object]

# Share of the bar each phase fills; the search is most of the work. Measuring the result
# (decode, PSNR, SSIM) takes the rest.
SEARCH_END = 0.75
FINAL_END = 0.9


class Progress:
    """Thread-safe, monotone progress reports; a no-op (bar the cancellation check) without a callback."""

    def __init__(self, callback: ProgressCallback | None = None):
        self._callback = callback
        self._fraction = 0.0
        self._lock = threading.Lock()
        self.cancelled_by: BaseException | None = None  # what the callback raised, if it did

    def report(self, stage: str, fraction: float) -> None:
        self.checkpoint()
        if self._callback is None:
            return
        with self._lock:
            # Parallel searches finish out of order; the bar only ever moves forward.
            self._fraction = min(1.0, max(self._fraction, fraction))
            try:
                self._callback(stage, self._fraction)
            except BaseException as exc:  # the caller's way to cancel: remembered for every thread
                self.cancelled_by = exc
                raise

    def checkpoint(self) -> None:
        """Raise the callback's exception again in whichever thread asks next."""
        if self.cancelled_by is not None:
            raise self.cancelled_by

    def span(self, start: float, end: float, n_tasks: int) -> "_Span":
        return _Span(self, start, end, max(n_tasks, 1))


class _Span:
    """One phase of the bar shared by `n_tasks` parallel tasks of up to `steps` steps each."""

    def __init__(self, progress: Progress, start: float, end: float, n_tasks: int):
        self.progress, self.start, self.end, self.n_tasks = progress, start, end, n_tasks
        self._done: dict[object, float] = {}
        self._lock = threading.Lock()

    def step(self, task: object, stage: str, steps: int) -> None:
        """One of `steps` expected steps of `task` is done (a search may stop early: `finish`)."""
        self._advance(task, stage, 1.0 / max(steps, 1))

    def finish(self, task: object, stage: str) -> None:
        self._advance(task, stage, 1.0)

    def _advance(self, task: object, stage: str, amount: float) -> None:
        with self._lock:
            self._done[task] = min(1.0, self._done.get(task, 0.0) + amount)
            share = sum(self._done.values()) / self.n_tasks
        self.progress.report(stage, self.start + (self.end - self.start) * share)
