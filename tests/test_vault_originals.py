"""vault/originals.py through the worker and the download endpoints: `original` mode keeps a JPEG as
its JPEG XL transcoding and gives back the exact JPEG, keeps a PNG as lossless JPEG XL and gives
back a PNG with the same pixels and metadata, keeps the upload as it came when the check fails,
and every record knows the bytes it stores (the quota counts them)."""
import io
import re

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from compression import jxl_archive
from tests.conftest import image_bytes, make_photo
from vault import blobs, crypto, originals, uploads
from vault.errors import JobLimit
from vault.images import opening
from vault.jobs import state
from vault.models import ImageRecord

from .storage_helpers import PASSWORD, alice, recompress_originals  # noqa: F401 (fixtures)
from .vault_helpers import files_under, login_unlocked, opened

pytestmark = pytest.mark.django_db
Storage = ImageRecord.OriginalStorage


def exif(camera="TestCam"):
    tags = Image.Exif()
    tags[0x010F], tags[0x0132] = camera, "2021:05:06 07:08:09"
    return tags.tobytes()


def jpeg_upload(seed=0, size=(256, 192)) -> bytes:
    return image_bytes(make_photo(*size, seed=seed), "JPEG", quality=90, exif=exif())


def png_upload(seed=0, mode="RGBA") -> bytes:
    return image_bytes(make_photo(128, 96, seed=seed, mode=mode), "PNG", exif=exif(), icc_profile=_icc())


def _icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def store(owner, data, name, **kw):
    kw.setdefault("codec", "webp")
    kw.setdefault("quality", 70)
    record, _ = uploads.store_image(owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=data, filename=name, **kw)
    record.refresh_from_db()
    return record


def stored_plaintext(record, owner) -> bytes:
    """The original blob as stored (before any rebuilding)."""
    data_key = opening.vault_data_key(record=record, master_key=owner.master_key)
    return blobs.open_blobs(record, data_key=data_key, variants=["original"])["original"]


def api_client(username) -> APIClient:
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD}, format="json")
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


# ---- the module on its own ---------------------------------------------------------------------


def test_which_form_each_upload_gets():
    photo = make_photo(64, 48)
    assert originals.form_for(image_bytes(photo, "JPEG"), "JPEG") == Storage.JXL_JPEG
    for fmt in ("PNG", "TIFF", "BMP"):
        assert originals.form_for(image_bytes(photo, fmt), fmt) == Storage.JXL_LOSSLESS
    assert originals.form_for(image_bytes(photo, "WEBP", lossless=True), "WEBP") == Storage.JXL_LOSSLESS
    assert originals.form_for(image_bytes(photo, "WEBP", quality=80), "WEBP") == Storage.AS_UPLOADED
    assert originals.form_for(b"....", "AVIF") == Storage.AS_UPLOADED
    assert originals.form_for(b"....", "HEIF") == Storage.AS_UPLOADED


def test_a_tiff_comes_back_as_a_png_with_its_pixels():
    data = image_bytes(make_photo(96, 64), "TIFF")
    archived = originals.archive(data, "TIFF")
    assert archived.storage == Storage.JXL_LOSSLESS and len(archived.data) < len(data)
    png = originals.rebuild(archived.data, archived.storage)
    assert png.startswith(b"\x89PNG")
    assert np.array_equal(np.array(Image.open(io.BytesIO(png))), np.array(Image.open(io.BytesIO(data))))


def test_a_larger_jpeg_xl_is_not_kept():
    # A tiny JPEG: its transcoding (container, boxes) is not smaller once sealed.
    data = image_bytes(Image.new("RGB", (8, 8), "white"), "JPEG")
    archived = originals.archive(data, "JPEG")
    assert archived.storage == Storage.AS_UPLOADED and archived.data is None and "not smaller" in archived.note


# ---- original mode through the worker and the downloads ----------------------------------------


def test_a_jpeg_is_stored_as_jpeg_xl_and_every_download_gives_back_its_exact_bytes(alice, client):
    data = jpeg_upload()
    record = store(alice, data, "holiday.jpg")
    assert record.status == "done" and record.storage_mode == "original"
    assert record.original_storage == Storage.JXL_JPEG
    stored = stored_plaintext(record, alice)
    assert jxl_archive.holds_jpeg(stored) and len(stored) < len(data)
    assert jxl_archive.reconstruct_jpeg(stored) == data
    # The stored-bytes figure is the sum of the sealed blobs on storage, and below the upload's.
    on_disk = sum(blobs.stored_size(name) for name in (record.original_blob, record.compressed_blob, record.thumbnail_blob, record.rendition_blob))
    assert record.stored_bytes == on_disk
    assert record.codec_params["original_storage"]["storage"] == Storage.JXL_JPEG
    # The API's download.
    response = api_client("alice").get(f"/api/v1/images/{record.pk}/download/?variant=original")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response.content == data
    # The page's download.
    login_unlocked(client, "alice", PASSWORD)
    page = client.get(f"/images/{record.pk}/file/original/?download=1")
    assert page.status_code == 200 and page.content == data
    assert 'filename="holiday.jpg"' in page["Content-Disposition"]
    # Shown in a browser as it is (a JPEG), not re-encoded.
    assert client.get(f"/images/{record.pk}/file/original-display/").content == data


def test_a_png_comes_back_with_identical_pixels_alpha_icc_and_metadata(alice, client):
    data = png_upload()
    record = store(alice, data, "drawing.png")
    assert record.original_storage == Storage.JXL_LOSSLESS
    assert len(stored_plaintext(record, alice)) < len(data)
    response = api_client("alice").get(f"/api/v1/images/{record.pk}/download/?variant=original")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    back = response.content
    assert back != data  # a re-made PNG: the same pixels and metadata, not the same bytes (README)
    got, want = jxl_archive.read_lossless_source(back), jxl_archive.read_lossless_source(data)
    assert got.mode == want.mode == "RGBA" and np.array_equal(got.pixels, want.pixels)
    assert (got.icc_profile, got.exif, got.xmp) == (want.icc_profile, want.exif, want.xmp)
    assert Image.open(io.BytesIO(back)).getexif()[0x010F] == "TestCam"


def test_a_failed_verification_keeps_the_upload_as_it_came(alice, monkeypatch):
    data = jpeg_upload(seed=3)
    real = jxl_archive.reconstruct_jpeg
    # An injected fault: the rebuilt JPEG differs from the upload by one byte.
    monkeypatch.setattr(jxl_archive, "reconstruct_jpeg", lambda jxl: real(jxl)[:-1] + b"\x00")
    record = store(alice, data, "fault.jpg")
    assert record.status == "done" and record.original_storage == Storage.AS_UPLOADED
    assert stored_plaintext(record, alice) == data
    assert "kept as uploaded" in opened(record, alice).codec_params["original_storage"]["note"]
    assert "note" not in record.codec_params["original_storage"]  # it may quote byte counts: sealed
    monkeypatch.undo()
    assert opening.open_variant(record=record, master_key=alice.master_key, variant="original") == data


def test_an_encoder_error_keeps_the_upload_too(alice, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("libjxl fell over")

    monkeypatch.setattr(jxl_archive, "encode_lossless", broken)
    data = png_upload(seed=4)
    record = store(alice, data, "broken.png")
    assert record.status == "done" and record.original_storage == Storage.AS_UPLOADED
    assert stored_plaintext(record, alice) == data


def test_a_damaged_jpeg_xl_is_refused_as_damaged_not_served(alice, monkeypatch):
    record = store(alice, jpeg_upload(seed=5), "damaged.jpg")
    # The rebuilt JPEG no longer matches the upload's keyed digest (as if the decoder changed).
    ImageRecord.objects.filter(pk=record.pk).update(upload_mac="0" * 64)
    record.refresh_from_db()
    from vault.errors import BlobUnavailable

    with pytest.raises(BlobUnavailable, match="original"):
        opening.open_variant(record=record, master_key=alice.master_key, variant="original")


def test_a_recompression_opens_the_rebuilt_original_and_keeps_the_jpeg_xl(alice, django_capture_on_commit_callbacks, _isolated_storage):
    from vault.jobs import dispatch

    data = jpeg_upload(seed=6)
    with django_capture_on_commit_callbacks(execute=True):
        record = store(alice, data, "again.jpg")
    original_blob = record.original_blob
    with django_capture_on_commit_callbacks(execute=True):
        record = dispatch.requeue(record=record, master_key=alice.master_key, options=state.job_options(codec="png", target=None, quality=None))
    record.refresh_from_db()
    assert record.status == "done" and record.codec == "png"
    assert record.original_blob == original_blob and record.original_storage == Storage.JXL_JPEG
    assert opening.open_variant(record=record, master_key=alice.master_key, variant="original") == data
    # The replaced upload and the earlier compressed file and thumbnail are gone: three blobs.
    assert len([p for p in files_under(_isolated_storage) if p.parent.name == str(record.pk)]) == 3


# ---- accounting ---------------------------------------------------------------------------------


def test_a_queued_upload_stores_its_sealed_original(alice, no_worker):
    data = jpeg_upload(seed=7)
    record = store(alice, data, "queued.jpg")
    assert record.status == "queued" and record.stored_bytes == crypto.sealed_size(len(data))
    assert record.stored_bytes == blobs.stored_size(record.original_blob)


def test_the_quota_counts_stored_bytes_not_uploaded_ones(alice, settings):
    first = store(alice, jpeg_upload(seed=8, size=(800, 600)), "one.jpg", quality=5)
    upload_size = opened(first, alice).original_size
    assert first.stored_bytes < upload_size  # JPEG XL original + small rendition + thumbnail
    second = jpeg_upload(seed=9)
    # Room for what is stored plus the second upload's sealed size, not for the first upload's bytes.
    settings.USER_QUOTA_BYTES = first.stored_bytes + crypto.sealed_size(len(second))
    assert upload_size + len(second) > settings.USER_QUOTA_BYTES
    store(alice, second, "two.jpg", quality=5)  # fits (its rendition is counted after its job)
    with pytest.raises(JobLimit, match="stores") as refused:
        store(alice, jpeg_upload(seed=10), "three.jpg")
    assert refused.value.status == 413
    assert state.usage(alice)["stored"] == sum(ImageRecord.objects.filter(owner=alice).values_list("stored_bytes", flat=True))


def test_pages_and_api_show_stored_bytes_and_their_share_of_the_upload(alice, client):
    record = opened(store(alice, jpeg_upload(seed=11), "shown.jpg"), alice)  # exact sizes: the key is at hand
    body = api_client("alice").get(f"/api/v1/images/{record.pk}/").json()
    assert body["stored_bytes"] == record.stored_bytes and body["storage"] == "original"
    assert body["original_storage"] == "jxl-jpeg" and body["original_kept"] is True
    assert body["stored_percent"] == pytest.approx(100 * record.stored_bytes / record.original_size)
    login_unlocked(client, "alice", PASSWORD)
    percent = f"{round(100 * record.stored_bytes / record.original_size)} % of the upload"
    gallery = client.get("/images/").content.decode()
    assert percent in gallery and "saved" not in gallery.lower()
    detail = client.get(f"/images/{record.pk}/").content.decode()
    assert "of the upload" in detail and "byte for byte" in detail
    profile = client.get("/accounts/profile/").content.decode()
    assert "stores" in profile and "quota" in profile


def test_the_data_migration_gives_existing_records_their_blob_sizes(alice):
    from importlib import import_module

    from django.apps import apps

    record = store(alice, jpeg_upload(seed=12), "old.jpg")
    ImageRecord.objects.filter(pk=record.pk).update(stored_bytes=0)
    migration = import_module("vault.migrations.0010_storage_modes_and_stored_bytes")
    migration.stored_bytes_from_blobs(apps, None)
    record.refresh_from_db()
    assert record.stored_bytes == sum(blobs.stored_size(n) for n in (record.original_blob, record.compressed_blob, record.thumbnail_blob, record.rendition_blob))


# ---- the storage field ------------------------------------------------------------------------


def test_the_api_refuses_an_unknown_storage_mode_quoting_it(alice):
    payload = {"file": SimpleUploadedFile("x.jpg", jpeg_upload(seed=13)), "storage": "bogus"}
    response = api_client("alice").post("/api/v1/images/", payload, format="multipart")
    assert response.status_code == 400 and "bogus" in response.content.decode()
    assert not ImageRecord.objects.exists()


def test_the_service_refuses_an_unknown_storage_mode_quoting_it(alice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="bogus"):
        store(alice, jpeg_upload(seed=14), "x.jpg", storage="bogus")


def test_the_profile_default_applies_when_an_upload_names_none(alice, client):
    login_unlocked(client, "alice", PASSWORD)
    assert client.post("/accounts/profile/storage/", {"storage_mode": "saver"}).status_code == 302
    upload_page = client.get("/upload/").content.decode()
    assert re.search(r'<input[^>]*value="saver"[^>]*checked', upload_page)
    response = api_client("alice").post("/api/v1/images/", {"file": SimpleUploadedFile("d.jpg", jpeg_upload(seed=15)),
                                                            "codec": "webp", "quality": 70}, format="multipart")
    assert response.status_code == 202 and response.json()["storage"] == "saver"
    response = api_client("alice").post("/api/v1/images/", {"file": SimpleUploadedFile("e.jpg", jpeg_upload(seed=16)),
                                                            "storage": "original"}, format="multipart")
    assert response.json()["storage"] == "original"


def test_the_upload_page_says_what_storage_saver_gives_up(alice, client):
    login_unlocked(client, "alice", PASSWORD)
    page = client.get("/upload/").content.decode()
    assert 'name="storage"' in page and "Storage saver" in page
    assert "deleted" in page and "cannot download it" in page


def test_the_preference_values_are_the_record_values():
    from accounts.models import Preferences

    assert Preferences.StorageMode.values == ImageRecord.StorageMode.values


def test_a_png_kept_as_jpeg_xl_is_shown_as_its_rebuilt_png(alice, client):
    data = png_upload(seed=20, mode="RGB")
    record = store(alice, data, "shown.png")
    assert record.original_storage == Storage.JXL_LOSSLESS and not record.rendition_blob
    login_unlocked(client, "alice", PASSWORD)
    shown = client.get(f"/images/{record.pk}/file/original-display/")
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert np.array_equal(np.array(Image.open(io.BytesIO(shown.content))), np.array(Image.open(io.BytesIO(data))))
