"""A web process that dies between inserting an upload's row and writing its original: the
client's retry with the same Idempotency-Key completes that record (never 200 with a half-made
one), opening it says what happened, and housekeeping marks it failed instead of deleting it."""
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import image_bytes, make_photo
from vault import blobs, uploads
from vault.jobs import dispatch
from vault.models import ImageRecord

from .test_api_images import IMAGES, PASSWORD, alice, api  # noqa: F401 - fixtures too
from .vault_helpers import files_under, login_unlocked

pytestmark = pytest.mark.django_db


class Crash(BaseException):
    """The process dying: nothing after it runs, not even the upload's own clean-up."""


@pytest.fixture
def crashing(monkeypatch):
    """The next upload dies right after its row is inserted, before the original is written."""
    real = uploads._store_original

    def dies_once(*args, **kwargs):
        monkeypatch.setattr(uploads, "_store_original", real)
        raise Crash()

    monkeypatch.setattr(uploads, "_store_original", dies_once)


def upload(client, data, *, name="beach.png", key="retry-me-1"):
    payload = {"file": SimpleUploadedFile(name, data), "codec": "png"}
    return client.post(IMAGES, payload, format="multipart", HTTP_IDEMPOTENCY_KEY=key)


def crashed_upload(api, data, key="retry-me-1"):
    with pytest.raises(Crash):
        upload(api, data, key=key)
    record = ImageRecord.objects.get()
    assert record.upload_incomplete and record.dk_wrap is None
    return record


def test_a_retry_with_the_same_idempotency_key_completes_the_record_the_crash_left(api, crashing):
    data = image_bytes(make_photo(seed=3))
    half = crashed_upload(api, data)
    retried = upload(api, data)
    assert retried.status_code == 202, retried.content
    assert retried.json()["id"] == half.pk and retried.json()["status"] in ("queued", "done")
    assert ImageRecord.objects.count() == 1
    record = ImageRecord.objects.get()
    assert record.original_blob and record.dk_wrap and record.status == "done"
    assert api.get(f"{IMAGES}{record.pk}/download/?variant=original").content == data
    again = upload(api, data)
    assert again.status_code == 200 and again.json()["id"] == record.pk  # complete now: plain idempotency


def test_the_same_key_with_another_file_is_409_asking_for_the_first_file(api, crashing):
    crashed_upload(api, image_bytes(make_photo(seed=3)))
    other = upload(api, image_bytes(make_photo(seed=4)), name="other.png")
    assert other.status_code == 409
    detail = other.json()["detail"]
    assert "'retry-me-1'" in detail and "'beach.png'" in detail and "send that file again" in detail
    assert ImageRecord.objects.get().upload_incomplete


def test_opening_a_record_whose_original_never_arrived_says_so_not_retrieval_key(api, crashing):
    half = crashed_upload(api, image_bytes(make_photo(seed=3)))
    response = api.get(f"{IMAGES}{half.pk}/download/?variant=original")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "never fully uploaded" in detail and "retrieval key" not in detail


def test_housekeeping_marks_it_failed_visible_and_deletable_and_a_reupload_completes_it(api, crashing, settings):
    data = image_bytes(make_photo(seed=3))
    half = crashed_upload(api, data)
    counts = dispatch.requeue_stalled(now=timezone.now() + settings.UPLOAD_INCOMPLETE_AFTER + timedelta(seconds=1))
    assert counts["incomplete"] == 1
    half.refresh_from_db()
    assert half.status == "failed" and "Upload incomplete" in half.error
    page = login_unlocked(Client(), "alice", PASSWORD)
    detail = page.get(reverse("vault:detail", args=[half.pk]))
    assert detail.status_code == 200 and "Upload incomplete" in detail.content.decode()
    assert page.get(reverse("vault:gallery")).status_code == 200
    listed = api.get(IMAGES).json()["results"]
    assert [(item["id"], item["status"]) for item in listed] == [(half.pk, "failed")]
    # From the upload page, without the API's key: the same bytes complete the same record.
    stored = page.post(reverse("vault:upload"), {"codec": "webp", "target": "balanced", "file": SimpleUploadedFile("b.png", data)})
    assert stored.status_code == 302
    record = ImageRecord.objects.get()
    assert record.pk == half.pk and record.status == "done" and not record.upload_incomplete
    assert api.delete(f"{IMAGES}{record.pk}/?permanent=1").status_code == 204
    assert not ImageRecord.objects.exists()


def test_an_incomplete_record_can_be_deleted_before_anyone_retries(api, crashing):
    half = crashed_upload(api, image_bytes(make_photo(seed=3)))
    assert api.delete(f"{IMAGES}{half.pk}/?permanent=1").status_code == 204
    assert not ImageRecord.objects.exists()


def test_two_retries_completing_the_same_record_keep_one_original_and_no_orphan(api, crashing, monkeypatch, settings):
    data = image_bytes(make_photo(seed=3))
    half = crashed_upload(api, data)
    real, answers = blobs.write_sealed, []

    def second_retry_meanwhile(record_id, variant, plaintext, **kwargs):
        written = real(record_id, variant, plaintext, **kwargs)
        if variant == "original" and not answers:
            answers.append(None)
            answers[0] = upload(api, data)  # the other retry runs to the end while this one is between steps
        return written

    monkeypatch.setattr(blobs, "write_sealed", second_retry_meanwhile)
    first = upload(api, data)
    assert answers[0].status_code == 202 and first.status_code == 200
    assert first.json()["id"] == answers[0].json()["id"] == half.pk
    originals = [p for p in files_under(settings.MEDIA_ROOT) if p.name.startswith("original-")]
    record = ImageRecord.objects.get()
    assert [str(p.relative_to(settings.MEDIA_ROOT)) for p in originals] == [record.original_blob]
    assert api.get(f"{IMAGES}{record.pk}/download/?variant=original").content == data
