"""Storage-saver mode: the original goes once the compressed version is stored and reads back, never
before and never when the compression fails; its downloads answer 410 in words on the pages, the
API and shares; what is kept (the compressed version) still opens everywhere."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import image_bytes, make_photo
from vault import blobs, crypto, uploads
from vault.errors import JobConflict, OriginalNotKept
from vault.images import opening
from vault.jobs import dispatch, worker
from vault.models import ImageRecord, Share

from .storage_helpers import PASSWORD, alice, recompress_originals  # noqa: F401 (fixtures)
from .vault_helpers import KEY_RE, files_under, login_unlocked, opened

pytestmark = pytest.mark.django_db
Storage = ImageRecord.OriginalStorage


def jpeg(seed=0) -> bytes:
    return image_bytes(make_photo(320, 240, seed=seed), "JPEG", quality=92)


def store(owner, data, **kw):
    kw.setdefault("codec", "webp")
    kw.setdefault("quality", 60)
    record, _ = uploads.store_image(owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=data,
                                    filename="trip.jpg", storage="saver", **kw)
    record.refresh_from_db()
    return record


def api_client() -> APIClient:
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_saver_keeps_only_the_compressed_version_and_the_thumbnail(alice, django_capture_on_commit_callbacks, _isolated_storage):
    data = jpeg()
    with django_capture_on_commit_callbacks(execute=True):
        record = store(alice, data)
    assert record.status == "done" and record.storage_mode == "saver"
    assert record.original_storage == Storage.NOT_KEPT and not record.original_blob and not record.original_kept
    names = sorted(p.name.split("-")[0] for p in files_under(_isolated_storage) if p.parent.name == str(record.pk))
    assert names == ["compressed", "thumbnail"]
    assert record.stored_bytes == blobs.stored_size(record.compressed_blob) + blobs.stored_size(record.thumbnail_blob)
    assert record.stored_bytes < opened(record, alice).original_size
    compressed = opening.open_variant(record=record, master_key=alice.master_key, variant="compressed")
    assert compressed.startswith(b"RIFF")


def test_the_original_is_deleted_only_after_the_compressed_version_is_committed(alice, monkeypatch, django_capture_on_commit_callbacks):
    seen = []
    real_delete = blobs.delete_blobs_quietly

    def spy(names):
        names = [n for n in names if n]
        if any("/original-" in n for n in names):
            fresh = ImageRecord.objects.get(pk=record_id[0])
            # The row already names the stored, readable compressed file; the original is no longer referred to.
            assert fresh.compressed_blob and blobs.stored_size(fresh.compressed_blob) > 0 and not fresh.original_blob
            seen.append(names)
        real_delete(names)

    record_id = []
    monkeypatch.setattr(blobs, "delete_blobs_quietly", spy)
    with django_capture_on_commit_callbacks(execute=True):
        record, _ = uploads.store_image(owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=jpeg(1),
                                        filename="a.jpg", codec="webp", quality=60, storage="saver", upload_token=None)
        record_id.append(record.pk)
    # The job ran eagerly inside store_image; the on-commit deletion ran when the capture ended.
    assert len(seen) == 1


def test_a_failed_compression_keeps_the_original(alice, monkeypatch, django_capture_on_commit_callbacks):
    def failing(**kwargs):
        raise ValueError("the codec could not encode this image")

    monkeypatch.setattr(worker, "compress_image", failing)
    data = jpeg(2)
    with django_capture_on_commit_callbacks(execute=True):
        record = store(alice, data)
    assert record.status == "failed" and "could not encode" in record.error
    assert record.original_kept and record.original_storage == Storage.AS_UPLOADED
    assert opening.open_variant(record=record, master_key=alice.master_key, variant="original") == data


def test_a_compressed_file_that_does_not_read_back_keeps_the_original(alice, monkeypatch, django_capture_on_commit_callbacks):
    real_write = blobs.write_sealed

    def corrupting(record_id, variant, plaintext, *, data_key):
        name, digest = real_write(record_id, variant, plaintext, data_key=data_key)
        return name, ("0" * 64 if variant == "compressed" else digest)  # as if storage kept other bytes

    monkeypatch.setattr(blobs, "write_sealed", corrupting)
    data = jpeg(3)
    with django_capture_on_commit_callbacks(execute=True):
        record = store(alice, data)
    assert record.status == "failed" and "did not read back" in record.error
    assert record.original_kept and not record.compressed_blob
    assert opening.open_variant(record=record, master_key=alice.master_key, variant="original") == data


def test_original_downloads_answer_410_in_words_everywhere(alice):
    record = store(alice, jpeg(4))
    with pytest.raises(OriginalNotKept):
        opening.open_variant(record=record, master_key=alice.master_key, variant="original")
    # API
    api = api_client()
    response = api.get(f"/api/v1/images/{record.pk}/download/?variant=original")
    assert response.status_code == 410 and "storage-saver" in response.json()["detail"]
    assert api.get(f"/api/v1/images/{record.pk}/download/?variant=compressed").status_code == 200
    # Pages
    client = login_unlocked(Client(), "alice", PASSWORD)
    page = client.get(f"/images/{record.pk}/file/original/?download=1")
    assert page.status_code == 410 and "storage-saver" in page.content.decode()
    detail = client.get(f"/images/{record.pk}/").content.decode()
    assert "storage-saver mode" in detail
    assert reverse("vault:file", args=[record.pk, "original"]) not in detail  # no broken download link
    assert reverse("vault:compare", args=[record.pk]) not in detail
    assert client.get(reverse("vault:compare", args=[record.pk])).status_code == 302


def test_a_share_shows_the_compressed_version_and_refuses_the_original(alice):
    record = store(alice, jpeg(5))
    owner = login_unlocked(Client(), "alice", PASSWORD)
    created = owner.post(reverse("vault:share-create", args=[record.pk]), {"label": "x", "expires_in_days": "7"})
    key = KEY_RE.search(created.content.decode()).group(0)
    share = Share.objects.get()
    stranger = Client()
    url = reverse("vault:share", args=[share.public_id])
    shown = stranger.post(url, {"key": key, "variant": "display"})
    assert shown.status_code == 200 and shown["Content-Type"] == "image/webp"
    refused = stranger.post(url, {"key": key, "variant": "original"})
    assert refused.status_code == 410 and "not kept" in refused.content.decode()
    api = APIClient().post(f"/api/v1/shares/{share.public_id}/retrieve/", {"key": key, "variant": "original"}, format="json")
    assert api.status_code == 410 and "storage-saver" in api.json()["detail"]


def test_a_saver_image_cannot_be_compressed_again(alice):
    record = store(alice, jpeg(6))
    with pytest.raises(JobConflict, match="storage-saver"):
        dispatch.requeue(record=record, master_key=alice.master_key)


def test_the_api_upload_takes_storage_saver(alice):
    response = api_client().post("/api/v1/images/", {"file": SimpleUploadedFile("b.jpg", jpeg(7)), "storage": "saver",
                                                     "codec": "webp", "quality": 60}, format="multipart")
    assert response.status_code == 202
    body = response.json()
    assert body["storage"] == "saver" and body["original_kept"] is False and body["original_storage"] == "not-kept"
    assert body["stored_bytes"] < body["original_size"]


def test_the_export_holds_the_compressed_version(alice):
    import io
    import json
    import zipfile

    record = store(alice, jpeg(8))
    client = login_unlocked(Client(), "alice", PASSWORD)
    response = client.get(reverse("vault:export-download"))
    assert response.status_code == 200  # the login just typed the password (step-up)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))["images"]
    assert manifest[0]["content"] == "compressed" and manifest[0]["storage_mode"] == "saver"
    assert manifest[0]["stored_bytes"] == record.stored_bytes


def test_a_tiff_in_saver_mode_loses_its_display_rendition_with_the_original(alice, django_capture_on_commit_callbacks, _isolated_storage):
    data = image_bytes(make_photo(160, 120, seed=9), "TIFF")
    with django_capture_on_commit_callbacks(execute=True):
        record, _ = uploads.store_image(owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=data,
                                        filename="scan.tif", codec="webp", quality=60, storage="saver")
    record.refresh_from_db()
    assert record.status == "done" and not record.original_blob and not record.rendition_blob
    names = sorted(p.name.split("-")[0] for p in files_under(_isolated_storage) if p.parent.name == str(record.pk))
    assert names == ["compressed", "thumbnail"]
    client = login_unlocked(Client(), "alice", PASSWORD)
    assert client.get(f"/images/{record.pk}/file/original-display/").status_code == 410
