"""Where a queued job stands: its place in its owner's queue and a rough wait.

The place counts the owner's own jobs only (another user's uploads are not theirs to see): the
jobs queued before it, by the time they were queued. The estimate is the owner's typical job
time (the median of their last finished jobs, or everyone's when they have none yet) times the
jobs that go first, this one included, and the ones already running. It assumes one worker for
this owner, so with more workers it errs long, which a waiting person minds less than a wait
that overruns. No history at all: no estimate.
"""
from __future__ import annotations

from statistics import median

from vault.models import ImageRecord

HISTORY = 20  # finished jobs the typical time is taken from


def typical_job_seconds(owner) -> float | None:
    done = ImageRecord.objects.filter(status=ImageRecord.Status.DONE, total_seconds__isnull=False).order_by("-finished_at", "-id")
    for scope in (done.filter(owner=owner), done):
        seconds = list(scope.values_list("total_seconds", flat=True)[:HISTORY])
        if seconds:
            return float(median(seconds))
    return None


def queue_places(owner, record_ids) -> dict[int, tuple[int, float | None]]:
    """{id: (place in the owner's queue counting from 1, estimated seconds until done or None)}
    for those of `record_ids` that are queued."""
    mine = ImageRecord.objects.filter(owner=owner)
    queued = list(mine.filter(status=ImageRecord.Status.QUEUED).order_by("queued_at", "id").values_list("pk", flat=True))
    wanted = {int(i) for i in record_ids} & set(queued)
    if not wanted:
        return {}
    running = mine.filter(status=ImageRecord.Status.RUNNING).count()
    typical = typical_job_seconds(owner)
    places = {}
    for place, pk in enumerate(queued, start=1):
        if pk in wanted:
            places[pk] = (place, None if typical is None else typical * (place + running))
    return places
