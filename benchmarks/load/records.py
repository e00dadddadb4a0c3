"""What a load-benchmark run records: one `Request` per upload sent, one `Job` per upload
accepted, and how to read the job states and timestamps the API reports."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SUCCESS = frozenset({200, 201, 202})
TERMINAL = frozenset({"done", "failed", "cancelled"})


def parse_timestamp(value) -> float | None:
    """Epoch seconds of an ISO 8601 timestamp from the API (DRF writes `...Z`), or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a naive time cannot be compared with this machine's clock
    return moment.timestamp()


def job_status(record: dict) -> str:
    # Until uploads become background jobs the API answers with a finished record and no
    # `status` field: that record is done.
    return record.get("status") or "done"


def error_key(status: int | None, error: str | None) -> str:
    return error if status is None else f"HTTP {status}" + (f" ({error})" if error else "")


@dataclass
class Job:
    """One accepted upload, followed until it ends."""
    user: int
    record_id: int
    url: str
    accepted_at: float  # epoch seconds when the upload's response arrived
    record: dict = field(default_factory=dict)
    ended_seen_at: float | None = None  # when this client first saw it in a terminal state

    @property
    def status(self) -> str:
        return job_status(self.record)

    def finish_time(self) -> float | None:
        """When the job ended: the server's `finished_at` when it reports one, else when the
        client saw it ended (for a synchronous upload: when the upload's response arrived)."""
        if self.status not in TERMINAL:
            return None
        return parse_timestamp(self.record.get("finished_at")) or self.ended_seen_at or self.accepted_at


@dataclass
class Request:
    user: int
    image: str
    started: float  # epoch seconds
    latency: float  # seconds, until the whole response was read
    status: int | None  # None: no HTTP answer (the error says why)
    error: str | None = None  # with a status: a success answer that cannot be followed

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS and self.error is None
