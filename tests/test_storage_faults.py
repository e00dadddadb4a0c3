"""A storage that refuses writes (full disk, quota, I/O error): the request answers 507 saying what
to do, nothing partial stays on storage or in the database, a job fails with the message and can
be retried, and deleting, trashing and restoring still work."""
import errno
import os
import subprocess
import uuid
from datetime import timedelta

import pytest
from django.core.files.storage import Storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from tests.conftest import image_bytes, make_photo
from vault import blobs, jobs
from vault.errors import StorageFull
from vault.images import deletion, trash
from vault.models import ImageRecord
from vault.sweep import sweep_orphan_blobs

from .test_api_images import IMAGES, alice, api, upload  # noqa: F401 - fixtures too
from .vault_helpers import files_under, login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"


class _FillsUp:
    """A file handle on a disk that fills up halfway through the write."""

    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.handle, name)


@pytest.fixture
def full_disk(monkeypatch):
    """Every blob write runs out of space after writing half its bytes."""
    real = os.fdopen
    monkeypatch.setattr(blobs.os, "fdopen", lambda fd, mode="r", *a, **k: _FillsUp(real(fd, mode, *a, **k)))


def test_an_api_upload_on_a_full_disk_is_507_in_words_and_leaves_no_partial_file_or_row(api, full_disk, settings):
    response = upload(api, codec="png", name="holiday.png")
    assert response.status_code == 507, response.content
    detail = response.json()["detail"]
    assert "ENOSPC" in detail and "storage is full" in detail and "deleting images" in detail
    assert not ImageRecord.objects.exists()
    assert files_under(settings.MEDIA_ROOT) == []


def test_a_page_upload_on_a_full_disk_is_a_507_page_saying_what_to_do(full_disk, settings):
    vault_user("carol", PASSWORD)
    client = login_unlocked(Client(), "carol", PASSWORD)
    data = image_bytes(make_photo())
    response = client.post(reverse("vault:upload"), {"codec": "webp", "target": "balanced", "file": SimpleUploadedFile("a.png", data)})
    assert response.status_code == 507
    assert "storage is full" in response.content.decode() and "<form" in response.content.decode()
    assert not ImageRecord.objects.exists() and files_under(settings.MEDIA_ROOT) == []


def test_a_job_whose_result_cannot_be_written_fails_with_the_message_and_a_retry_finishes(api, no_worker, monkeypatch, settings):
    pk = upload(api, codec="png").json()["id"]
    real = blobs._write_file

    def refuse_results(storage, name, data):
        if "/original-" not in name:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        return real(storage, name, data)

    monkeypatch.setattr(blobs, "_write_file", refuse_results)
    record = ImageRecord.objects.get(pk=pk)
    jobs.run_job(record_id=pk, task_id=record.job_task_id)
    record.refresh_from_db()
    assert record.status == "failed" and "EDQUOT" in record.error and not record.compressed_blob
    assert [p.name.split("-")[0] for p in files_under(settings.MEDIA_ROOT)] == ["original"]
    monkeypatch.setattr(blobs, "_write_file", real)
    assert api.post(f"{IMAGES}{pk}/retry/").status_code == 202
    record.refresh_from_db()
    jobs.run_job(record_id=pk, task_id=record.job_task_id)
    record.refresh_from_db()
    assert record.status == "done" and record.compressed_blob


def test_deleting_trashing_and_restoring_work_while_every_write_fails(api, monkeypatch, settings, django_capture_on_commit_callbacks):
    keep, gone = (upload(api, image_bytes(make_photo(seed=s)), codec="png").json()["id"] for s in (1, 2))
    monkeypatch.setattr(blobs, "_write_file", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    assert api.delete(f"{IMAGES}{keep}/").status_code == 204
    assert ImageRecord.objects.get(pk=keep).in_trash
    assert api.post(f"{IMAGES}{keep}/restore/").status_code == 200
    assert not ImageRecord.objects.get(pk=keep).in_trash
    before = len(files_under(settings.MEDIA_ROOT))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"{IMAGES}{gone}/?permanent=1").status_code == 204
    assert not ImageRecord.objects.filter(pk=gone).exists()
    assert len(files_under(settings.MEDIA_ROOT)) < before


@pytest.fixture
def tiny_disk(tmp_path, settings):
    """A 1 MiB tmpfs as the blob storage: needs root and mount(2); skipped otherwise."""
    mount = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(mount)}}}
    settings.MEDIA_ROOT = mount
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_on_a_real_full_filesystem_uploads_answer_507_leave_nothing_partial_and_deleting_frees_space(
    api, tiny_disk, django_capture_on_commit_callbacks
):
    # Noise does not compress: each upload costs its size in originals plus its compressed file.
    noise = [image_bytes(make_photo(200, 150, seed=s), "BMP") for s in range(12)]
    answers = [upload(api, data, name=f"n{i}.bmp", codec="png") for i, data in enumerate(noise)]
    codes = [a.status_code for a in answers]
    assert 202 in codes and 507 in codes, codes
    refused = next(a for a in answers if a.status_code == 507)
    assert "storage is full" in refused.json()["detail"]
    assert not list(tiny_disk.rglob("*.part"))
    records = ImageRecord.objects.all()
    stored = {name for r in records for name in deletion.blob_names(r)}
    on_disk = {str(p.relative_to(tiny_disk)) for p in files_under(tiny_disk)}
    assert on_disk == stored  # every file belongs to a record: no partial or orphaned blob
    assert all(r.original_blob for r in records)  # no half-made record either
    first = records.filter(status="done").first()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"{IMAGES}{first.pk}/?permanent=1").status_code == 204
    assert upload(api, noise[-1], name="again.bmp", codec="png").status_code == 202


def _database_full_once(monkeypatch, module):
    real, calls = module.record_event, []

    def full_then_real(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("database or disk is full")
        return real(**kwargs)

    monkeypatch.setattr(module, "record_event", full_then_real)


def test_deleting_for_good_when_the_database_cannot_write_frees_the_blobs_first_and_then_succeeds(
    api, monkeypatch, settings
):
    pk = upload(api, codec="png").json()["id"]
    _database_full_once(monkeypatch, deletion)
    assert api.delete(f"{IMAGES}{pk}/?permanent=1").status_code == 204
    assert not ImageRecord.objects.filter(pk=pk).exists()
    assert files_under(settings.MEDIA_ROOT) == []  # gone before the row, to make room for its deletion


def test_a_database_out_of_space_answers_507_in_words_not_500(api, monkeypatch):
    pk = upload(api, codec="png").json()["id"]
    _database_full_once(monkeypatch, trash)
    response = api.delete(f"{IMAGES}{pk}/")
    assert response.status_code == 507 and "database has no space left" in response.json()["detail"]
    assert not ImageRecord.objects.get(pk=pk).in_trash


class _FullBucket(Exception):
    """botocore's ClientError as MinIO raises it when its disks are full."""

    response = {"Error": {"Code": "XMinioStorageFull", "Message": "Storage backend has reached its minimum free drive threshold."},
                "ResponseMetadata": {"HTTPStatusCode": 507}}


class _FullObjectStore(Storage):
    """An object store (not a filesystem: `write_whole` sends each blob whole) that is full."""

    def __init__(self, **kwargs):
        self.deleted = []

    def save(self, name, content, max_length=None):
        raise _FullBucket()

    def delete(self, name):
        self.deleted.append(name)


def test_an_object_store_that_is_full_answers_507_and_nothing_is_left():
    store = _FullObjectStore()
    with pytest.raises(StorageFull, match="XMinioStorageFull"):
        blobs.write_whole("vault/1/original-00.sealed", b"sealed bytes", storage=store)
    assert store.deleted == ["vault/1/original-00.sealed"]  # a multipart upload's parts go too


def test_other_object_store_errors_are_not_mistaken_for_a_full_store():
    class Denied(Exception):
        response = {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}

    class DeniedStore(_FullObjectStore):
        def save(self, name, content, max_length=None):
            raise Denied()

    with pytest.raises(Denied):
        blobs.write_whole("vault/1/original-00.sealed", b"x", storage=DeniedStore())


def test_a_temporary_file_a_killed_writer_left_is_swept_with_the_orphans(api, settings):
    pk = upload(api, codec="png").json()["id"]
    record = ImageRecord.objects.get(pk=pk)
    leftover = settings.MEDIA_ROOT / f"{record.original_blob}.0badf00d.part"
    leftover.write_bytes(b"half a blob")
    assert sweep_orphan_blobs(older_than=timedelta(0)) == [str(leftover.relative_to(settings.MEDIA_ROOT))]
    assert not leftover.exists() and (settings.MEDIA_ROOT / record.original_blob).exists()
