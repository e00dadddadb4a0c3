"""vault/jobs/: an upload's compression as a background job — claimed by exactly one message,
cancellable, retried after a lost worker, failing with words a person can act on, and holding the
server-side wrap of the data key only while it is queued or running."""
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import crypto, uploads
from vault.errors import JobCancelled, JobConflict, JobLimit, RetrievalRefused
from vault.images import opening
from vault.jobs import dispatch, state, worker
from vault.models import ImageRecord

from .vault_helpers import files_under, vault_user

pytestmark = pytest.mark.django_db
Status = ImageRecord.Status


@pytest.fixture
def alice():
    return vault_user("alice", "correct horse battery")


def photo(seed: int) -> bytes:
    """A different photo per seed: the same one twice would be refused as a duplicate."""
    return image_bytes(make_photo(seed=seed))


def store(owner, data=None, **kw):
    kw.setdefault("codec", "png")
    record, _ = uploads.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=data or image_bytes(make_photo()),
        filename="photo.png", **kw,
    )
    return record


def run(record):
    record.refresh_from_db()
    worker.run_job(record_id=record.pk, task_id=record.job_task_id)
    record.refresh_from_db()
    return record


def test_an_upload_is_stored_and_queued_without_compressing(alice, no_worker, _isolated_storage):
    record = store(alice)
    assert record.status == Status.QUEUED and not record.has_compressed
    assert no_worker == [record.job_task_id]
    assert [p.name.split("-")[0] for p in files_under(_isolated_storage) if p.parent.name == str(record.pk)] == ["original"]
    assert record.job_options == {"codec": "png", "target": None, "quality": None, "effort": "default"}
    assert record.job_dk_wrap  # the worker's way to the data key


def test_the_worker_compresses_it_and_the_job_keys_wrap_is_gone_when_done(alice, no_worker):
    record = run(store(alice))
    assert record.status == Status.DONE and record.progress == 100 and record.attempts == 1
    assert record.codec == "png" and record.has_compressed and record.thumbnail_blob
    assert record.job_dk_wrap is None
    assert record.started_at and record.finished_at >= record.started_at >= record.queued_at
    assert opening.open_variant(record=record, master_key=alice.master_key, variant="compressed")[:4] == b"\x89PNG"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.JOB_DONE, record_id=record.pk).exists()


def test_the_job_key_wrap_opens_only_under_the_job_key_and_for_its_own_record(alice, no_worker, settings):
    record = store(alice)
    data_key = crypto.unwrap_key(record.dk_wrap, wrapping_key=alice.master_key, purpose="dk", ids=(record.pk,))
    assert crypto.unwrap_key(record.job_dk_wrap, wrapping_key=state.job_key(), purpose="job", ids=(record.pk,)) == data_key
    with pytest.raises(crypto.SealError):
        crypto.unwrap_key(record.job_dk_wrap, wrapping_key=state.job_key(), purpose="job", ids=(record.pk + 1,))
    settings.VAULT_JOB_KEY = "another-deployment's-job-key-0123456789"
    assert run(record).status == Status.FAILED  # a worker with the wrong job key cannot open it
    assert "could not be opened" in record.error


def test_a_message_for_another_task_id_does_nothing(alice, no_worker):
    record = store(alice)
    worker.run_job(record_id=record.pk, task_id="a-stale-message")
    record.refresh_from_db()
    assert record.status == Status.QUEUED and record.attempts == 0


def test_a_job_redelivered_after_its_worker_died_runs_again_and_counts_the_attempt(alice, no_worker):
    record = store(alice)
    assert worker.claim(record.pk, record.job_task_id) is not None  # the first worker took it, then died
    assert run(record).status == Status.DONE and record.attempts == 2


def test_a_job_whose_workers_keep_dying_fails_with_a_readable_error(alice, no_worker, settings):
    record = store(alice)
    for _ in range(settings.JOB_MAX_ATTEMPTS):
        assert worker.claim(record.pk, record.job_task_id) is not None
    record = run(record)
    assert record.status == Status.FAILED and "stopped 3 times" in record.error
    assert record.job_dk_wrap is None and record.original_blob


def test_an_image_that_does_not_decode_fails_with_the_decoders_message(alice, no_worker):
    data = image_bytes(make_photo(64, 64), "JPEG")
    record = run(store(alice, data=data[: len(data) // 2]))  # the header passes the upload's checks
    assert record.status == Status.FAILED and "truncated" in record.error and "photo.png" in record.error


def test_cancelling_a_queued_job_keeps_the_original_and_drops_the_wrap(alice, no_worker):
    record = store(alice)
    record = dispatch.cancel_job(record=record)
    assert record.status == Status.CANCELLED and record.job_dk_wrap is None
    assert run(record).status == Status.CANCELLED and not record.has_compressed  # its message does nothing
    assert opening.open_variant(record=record, master_key=alice.master_key, variant="original") == image_bytes(make_photo())


def test_cancelling_a_running_job_stops_it_at_its_next_progress_report(alice, no_worker, monkeypatch, _isolated_storage):
    record = store(alice, codec="auto")
    real_compress = worker.compress_image

    def cancel_midway(**kwargs):
        dispatch.cancel_job(record=record)
        return real_compress(**kwargs)

    monkeypatch.setattr(worker, "compress_image", cancel_midway)
    record = run(record)
    assert record.status == Status.CANCELLED and not record.has_compressed
    assert len(files_under(_isolated_storage / "vault" / str(record.pk))) == 1  # the original only


def test_cancelling_a_finished_job_is_a_conflict(alice, no_worker):
    record = run(store(alice))
    with pytest.raises(JobConflict, match="only a waiting or running job"):
        dispatch.cancel_job(record=record)


def test_retry_needs_the_owners_master_key_and_runs_the_same_options(alice, no_worker):
    record = dispatch.cancel_job(record=store(alice))
    with pytest.raises(RetrievalRefused):
        dispatch.requeue(record=record, master_key=crypto.new_data_key())
    record = dispatch.requeue(record=record, master_key=alice.master_key)
    assert record.status == Status.QUEUED and record.job_dk_wrap and record.attempts == 0
    assert run(record).status == Status.DONE and record.codec == "png"


def test_recompressing_replaces_the_compressed_file_only_when_the_new_one_is_done(
    alice, no_worker, _isolated_storage, django_capture_on_commit_callbacks
):
    record = run(store(alice))
    old_blob = record.compressed_blob
    record = dispatch.requeue(record=record, master_key=alice.master_key, options={"codec": "webp", "quality": 50, "effort": "fast"})
    assert record.status == Status.QUEUED and record.compressed_blob == old_blob  # still shown meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        record = run(record)
    assert record.status == Status.DONE and record.codec == "webp" and record.compressed_blob != old_blob
    assert old_blob not in {str(p.relative_to(_isolated_storage)) for p in files_under(_isolated_storage)}


def test_a_second_retry_while_queued_is_a_conflict(alice, no_worker):
    record = dispatch.requeue(record=dispatch.cancel_job(record=store(alice)), master_key=alice.master_key)
    with pytest.raises(JobConflict, match="already queued"):
        dispatch.requeue(record=record, master_key=alice.master_key)


def test_too_many_waiting_jobs_is_refused_with_429(alice, no_worker, settings):
    settings.USER_MAX_ACTIVE_JOBS = 2
    store(alice, data=photo(0)), store(alice, data=photo(1))
    with pytest.raises(JobLimit, match="2 images waiting") as refused:
        store(alice, data=photo(2))
    assert refused.value.status == 429
    assert ImageRecord.objects.count() == 2


def test_an_upload_beyond_the_quota_is_refused_with_413(alice, no_worker, settings):
    data = image_bytes(make_photo())
    settings.USER_QUOTA_BYTES = crypto.sealed_size(len(data)) + 10  # the quota counts stored (sealed) bytes
    store(alice, data=data)
    with pytest.raises(JobLimit, match="the limit is") as refused:
        store(alice, data=photo(1))
    assert refused.value.status == 413


def test_stalled_jobs_are_sent_again_and_dead_uploads_marked_incomplete_not_deleted(alice, no_worker, settings):
    queued = store(alice, data=photo(0))
    running = store(alice, data=photo(1))
    worker.claim(running.pk, running.job_task_id)
    half = store(alice, data=photo(2))
    ImageRecord.objects.filter(pk=half.pk).update(original_blob="", dk_wrap=None)  # died before its original was written
    later = timezone.now() + settings.JOB_REQUEUE_AFTER + timedelta(seconds=state.hard_limit_for({}) + 61)
    counts = dispatch.requeue_stalled(now=later)
    assert counts == {"resent": 2, "failed": 0, "incomplete": 1}
    half.refresh_from_db()
    assert half.status == Status.FAILED and half.error.startswith("Upload incomplete") and half.job_dk_wrap is None
    for record in (queued, running):
        old_task = record.job_task_id
        record.refresh_from_db()
        assert record.status == Status.QUEUED and record.job_task_id != old_task
        assert run(record).status == Status.DONE


def test_a_running_job_silent_past_its_limit_fails_once_its_attempts_are_used_up(alice, no_worker, settings):
    record = store(alice)
    for _ in range(settings.JOB_MAX_ATTEMPTS):
        worker.claim(record.pk, record.job_task_id)
    later = timezone.now() + timedelta(seconds=state.hard_limit_for({}) + 61)
    assert dispatch.requeue_stalled(now=later)["failed"] == 1
    record.refresh_from_db()
    assert record.status == Status.FAILED and "stopped 3 times" in record.error and record.job_dk_wrap is None


@pytest.mark.django_db(transaction=True)
def test_progress_from_search_threads_is_written_by_one_thread_and_a_cancel_stops_the_next_callback(no_worker, monkeypatch):
    import threading
    import time

    monkeypatch.setattr(worker, "PROGRESS_INTERVAL", 0.02)
    owner = vault_user("carol", "correct horse battery")
    record = store(owner)
    worker.claim(record.pk, record.job_task_id)

    def wait_for(predicate):
        deadline = time.monotonic() + 10
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)

    with worker.ProgressWriter(record.pk, record.job_task_id) as progress:
        searcher = threading.Thread(target=progress, args=("searching webp", 0.42))  # as the selector's threads call
        searcher.start()
        searcher.join()
        wait_for(lambda: ImageRecord.objects.get(pk=record.pk).progress == 42)
        assert ImageRecord.objects.get(pk=record.pk).stage == "searching webp"
        dispatch.cancel_job(record=record)
        progress("searching avif", 0.5)
        wait_for(lambda: progress.cancelled)
        with pytest.raises(JobCancelled):
            progress("searching avif", 0.6)
    assert ImageRecord.objects.get(pk=record.pk).status == Status.CANCELLED


def test_an_original_altered_in_storage_fails_the_job_as_damaged_and_is_audited(alice, no_worker, _isolated_storage):
    record = store(alice)
    blob = _isolated_storage / record.original_blob
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    record = run(record)
    assert record.status == Status.FAILED and "could not be opened" in record.error
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED, record_id=record.pk).exists()
