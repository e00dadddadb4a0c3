"""Background compression jobs: from an upload's sealed original to its compressed file.

`state` holds the states, the job key's wrap and the limits; `worker` the Celery task and what it
does for one message; `dispatch` sending, cancelling, requeueing and the housekeeping. The names
below are the ones callers used before the package was split.
"""
from vault.errors import JobCancelled, JobConflict, JobLimit, NotCompressedYet
from vault.jobs.dispatch import cancel_job, enqueue, flag_old_model_files, queue_flagged, requeue, requeue_stalled
from vault.jobs.state import check_limits, describe_options, hard_limit_for, job_options, mark_queued, usage
from vault.jobs.worker import ProgressWriter, run_job

__all__ = [
    "JobCancelled", "JobConflict", "JobLimit", "NotCompressedYet", "ProgressWriter", "cancel_job", "check_limits",
    "describe_options", "enqueue", "flag_old_model_files", "hard_limit_for", "job_options", "mark_queued",
    "queue_flagged", "requeue", "requeue_stalled", "run_job", "usage",
]
