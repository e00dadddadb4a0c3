"""Progress of one `compress_image` call, for a progress bar, and the way to stop it.

The caller passes `progress=callback`; the callback receives `(stage, fraction)` where `stage` is a
short English phrase ("searching webp, mscae", "mscae: analysing the image", "full-size encode
avif", ...) and `fraction` a number in [0, 1] that never goes down and ends at exactly 1.0. The
callback may raise (a job that was cancelled or ran out of time): every search thread then stops
before its next encode and `compress_image` raises that same exception.

What the label names: the codecs still at work in a phase, not the last one to report. The
searches run in parallel and finish at very different times (the learned codec's encodes take
seconds where WebP's take milliseconds), so "the last report" named a codec long finished while
`mscae` ran on for most of a minute.

The bar moves during a long step too: while a phase runs, a ticker thread reports every
`TICK_SECONDS`, crediting each running task with part of its current step, estimated from how
long its previous step took (`DEFAULT_STEP_SECONDS` before there is one), and reading the phase
by time as well (`_Span.fraction`). The credit approaches, and never reaches, the phase's end, so
the bar neither stalls nor runs ahead of the work.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

ProgressCallback = Callable[[str, float], object]

# Share of the bar each phase fills; the search is most of the work. Measuring the result
# (decode, PSNR, SSIM) takes the rest.
SEARCH_END = 0.75
FINAL_END = 0.9
TICK_SECONDS = 0.5
DEFAULT_STEP_SECONDS = 2.0
# At most this much of a step's share is credited before the step ends.
STEP_CREDIT = 0.9
MAX_NAMED = 3  # codecs named in a label; the rest are counted


class Progress:
    """Thread-safe, monotone progress reports; a no-op (bar the cancellation check) without a callback."""

    def __init__(self, callback: ProgressCallback | None = None):
        self._callback = callback
        self._fraction = 0.0
        self._lock = threading.Lock()
        self.cancelled_by: BaseException | None = None  # what the callback raised, if it did
        self._activities: dict[str, str] = {}
        self._activity_lock = threading.Lock()

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

    def doing(self, name: str, activity: str | None) -> None:
        """What codec `name` is busy with inside its current step ("analysing the image"), shown
        with its name until called again with None."""
        with self._activity_lock:
            if activity:
                self._activities[name] = activity
            else:
                self._activities.pop(name, None)

    def activity_of(self, name: str) -> str | None:
        with self._activity_lock:
            return self._activities.get(name)

    def span(self, start: float, end: float, n_tasks: int, verb: str = "searching") -> "_Span":
        return _Span(self, start, end, max(n_tasks, 1), verb)


class _Span:
    """One phase of the bar shared by `n_tasks` parallel tasks of up to `steps` steps each. Used as
    a context manager it keeps a ticker thread reporting while the phase runs."""

    def __init__(self, progress: Progress, start: float, end: float, n_tasks: int, verb: str):
        self.progress, self.start, self.end, self.n_tasks, self.verb = progress, start, end, n_tasks, verb
        self._done: dict[object, float] = {}
        self._running: dict[object, str] = {}  # task -> the codec it runs, in the order they began
        self._step_started: dict[object, float] = {}
        self._step_seconds: dict[object, float] = {}
        self._step_share: dict[object, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._began: float | None = None  # when the first task began

    def __enter__(self) -> "_Span":
        if self.progress._callback is not None:
            self._ticker = threading.Thread(target=self._tick, name="progress-ticker", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()

    def begin(self, task: object, name: str, steps: int = 1) -> None:
        """`task` (running codec `name`) starts; it expects `steps` steps."""
        with self._lock:
            self._running[task] = name
            self._step_started[task] = time.monotonic()
            if self._began is None:
                self._began = self._step_started[task]
            self._step_share[task] = 1.0 / max(steps, 1)
        self._report()

    def step(self, task: object, name: str, steps: int) -> None:
        """One of `steps` expected steps of `task` is done (a search may stop early: `finish`)."""
        now = time.monotonic()
        with self._lock:
            self._running.setdefault(task, name)
            if task in self._step_started:
                self._step_seconds[task] = now - self._step_started[task]
            self._step_started[task] = now
            self._step_share[task] = 1.0 / max(steps, 1)
            self._done[task] = min(1.0, self._done.get(task, 0.0) + 1.0 / max(steps, 1))
        self._report()

    def finish(self, task: object, name: str = "") -> None:
        with self._lock:
            self._done[task] = 1.0
            self._running.pop(task, None)
        self._report()

    def label(self) -> str:
        with self._lock:
            names = list(dict.fromkeys(self._running.values()))
        busy = [(n, self.progress.activity_of(n)) for n in names]
        doing = [f"{n}: {a}" for n, a in busy if a]
        if doing:
            return "; ".join(doing)  # e.g. the learned codec's analysis: the longest single step
        if not names:
            return f"{self.verb} finished"
        if len(names) > MAX_NAMED:  # the record keeps 64 characters of it
            return f"{self.verb} {', '.join(names[:MAX_NAMED])} and {len(names) - MAX_NAMED} more"
        return f"{self.verb} {', '.join(names)}"

    def fraction(self) -> float:
        """The larger of two readings: tasks done (each task an equal part), and time — the time
        spent in this phase against the time the slowest running task still needs (its step time
        × its steps left). The second keeps the bar moving when one slow codec (the learned one)
        runs on alone after the quick ones, which by count would leave it a tenth of the phase."""
        now = time.monotonic()
        with self._lock:
            total = sum(self._done.values())
            remaining = 0.0
            for task in self._running:
                share = self._step_share.get(task, 0.0)
                expected = self._step_seconds.get(task) or DEFAULT_STEP_SECONDS
                elapsed = now - self._step_started.get(task, now)
                partial = share * STEP_CREDIT * (1.0 - math.exp(-elapsed / expected))
                total += min(partial, max(0.0, 1.0 - self._done.get(task, 0.0)))
                steps_left = max(1, round((1.0 - self._done.get(task, 0.0)) / share)) if share else 1
                remaining = max(remaining, expected * steps_left - elapsed, 0.25 * expected)
            share_done = total / self.n_tasks
            if self._running and self._began is not None:
                spent = now - self._began
                share_done = max(share_done, STEP_CREDIT * spent / (spent + remaining))
        return self.start + (self.end - self.start) * min(1.0, share_done)

    def _report(self) -> None:
        self.progress.report(self.label(), self.fraction())

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self._report()
            except BaseException:  # noqa: BLE001 - cancelled: Progress keeps it for the search threads
                return
