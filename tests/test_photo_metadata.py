"""Photo metadata end to end: an iPhone HEIC uploaded through the API; its metadata sealed on the
record (only the capture date in the clear), shown on the detail page and in the API; the
renditions keep date and camera but not the place; the gallery sorted by date taken."""
import io
from datetime import datetime, timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from audit.models import AuditEvent
from vault import presentation
from vault.models import ImageRecord
from .metadata_helpers import LENS, MAKE, MODEL, PLACE, encode, exif_of, gps_of, split_photo
from .vault_helpers import login_unlocked, opened, scan_database, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
IMAGES = "/api/v1/images/"


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD)


@pytest.fixture
def api(alice):
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def upload(client, data, name, **fields):
    response = client.post(IMAGES, {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "done", response.json()  # jobs run eagerly in the suite
    return response.json()


def download(client, pk, variant):
    response = client.get(f"{IMAGES}{pk}/download/?variant={variant}")
    assert response.status_code == 200, response.content
    return response.content


def heic_from_an_iphone() -> bytes:
    # Stored landscape with EXIF orientation 6 (show rotated 90° clockwise), as phones do.
    return encode(split_photo(64, 40), "HEIF", orientation=6, xmp=True, quality=90)


def test_a_heic_upload_is_kept_as_uploaded_shown_upright_and_compressed(api):
    data = heic_from_an_iphone()
    assert data[4:12] == b"ftypheic"
    body = upload(api, data, "IMG_0042.HEIC", codec="webp")
    assert (body["original_format"], body["original_media_type"]) == ("HEIF", "image/heic")
    assert (body["width"], body["height"]) == (40, 64)  # the orientation applied
    assert download(api, body["id"], "original") == data  # kept byte for byte

    compressed = Image.open(io.BytesIO(download(api, body["id"], "compressed")))
    assert compressed.format == "WEBP" and compressed.size == (40, 64)
    top, bottom = compressed.convert("RGB").getpixel((20, 4)), compressed.convert("RGB").getpixel((20, 60))
    assert top[0] > 180 and top[2] < 80 and bottom[2] > 180  # the stored left (red) half is now on top


def test_compressed_versions_and_thumbnails_keep_date_and_camera_but_not_the_location(api, alice):
    photo = encode(split_photo(), "JPEG", xmp=True, quality=95)
    for codec in ("jpeg", "png", "webp", "avif"):
        body = upload(api, photo, f"photo-{codec}.jpg", codec=codec, allow_duplicate="true")  # one photo, four codecs
        for variant in ("compressed", "thumbnail"):
            data = download(api, body["id"], variant)
            ifd0, ifd = exif_of(data)
            assert ifd0.get(0x0110) == MODEL and ifd.get(0x9003) == "2023:07:14 18:42:05", (codec, variant)
            assert gps_of(data) == {} and b"GPS" not in data and b"Paris" not in data, (codec, variant)
        record = opened(ImageRecord.objects.get(pk=body["id"]), alice)  # metadata_bytes is sealed with the figures
        # The stored file is the codec's plus its EXIF; the detail page still finds the winner.
        assert record.codec_params["metadata_bytes"] > 0 and presentation.winner_index(record) is not None
    assert gps_of(download(api, body["id"], "original"))  # the owner's own original is untouched


def test_the_api_detail_shows_the_metadata_and_the_list_sorts_by_date_taken(api):
    body = upload(api, heic_from_an_iphone(), "IMG_0042.HEIC", codec="webp")
    detail = api.get(f"{IMAGES}{body['id']}/").json()
    assert detail["taken_at"] == "2023-07-14T18:42:05"
    meta = detail["metadata"]
    assert meta["camera"] == f"{MAKE} {MODEL}" and meta["lens"] == LENS and meta["taken_offset"] == "+02:00"
    assert meta["exposure_time"] == pytest.approx(1 / 120) and meta["iso"] == 80 and meta["orientation"] == 6
    assert meta["location"]["latitude"] == pytest.approx(48.858222, abs=1e-5)
    listed = api.get(IMAGES).json()["results"][0]
    assert listed["taken_at"] == "2023-07-14T18:42:05" and listed["metadata"] is None  # sealed: detail only
    assert api.get(f"{IMAGES}?sort=shuffle").status_code == 400


def test_the_capture_date_is_the_only_metadata_in_the_clear(api):
    upload(api, heic_from_an_iphone(), "IMG_0042.HEIC", codec="webp")
    record = ImageRecord.objects.get()
    assert record.taken_at == datetime(2023, 7, 14, 18, 42, 5, tzinfo=timezone.utc)
    assert record.metadata_sealed
    needles = [MAKE, MODEL, "iPhone", LENS, "48.85", "2.294", "48,51", "Paris", PLACE, "1/120"]
    assert scan_database(needles, []) == []


def _three_photos_and_one_without_a_date(client):
    for name, taken in (("b.jpg", "2021:06:01 12:00:00"), ("a.jpg", "2023:01:01 08:00:00"), ("c.jpg", "2019:12:31 23:59:00")):
        client.post(reverse("vault:upload"), {"codec": "jpeg", "target": "balanced",
                                              "file": SimpleUploadedFile(name, encode(split_photo(), "JPEG", taken=taken))})
    buf = io.BytesIO()
    split_photo().save(buf, format="PNG")
    client.post(reverse("vault:upload"), {"codec": "png", "target": "balanced", "file": SimpleUploadedFile("none.png", buf.getvalue())})


def test_the_gallery_sorts_by_date_taken_with_undated_images_last(alice, api):
    client = login_unlocked(Client(), "alice", PASSWORD)
    _three_photos_and_one_without_a_date(client)
    assert ImageRecord.objects.filter(status="done").count() == 4

    def order(sort):
        html = client.get(reverse("vault:gallery") + f"?sort={sort}&view=list").content.decode()
        names = ["a.jpg", "b.jpg", "c.jpg", "none.png"]
        return sorted(names, key=lambda n: html.index(f">{n}</a>"))

    assert order("taken") == ["a.jpg", "b.jpg", "c.jpg", "none.png"]
    assert order("taken-oldest") == ["c.jpg", "b.jpg", "a.jpg", "none.png"]
    assert order("newest") == ["none.png", "c.jpg", "a.jpg", "b.jpg"]
    listed = api.get(f"{IMAGES}?sort=taken").json()["results"]
    assert [r["name"] for r in listed] == ["a.jpg", "b.jpg", "c.jpg", "none.png"]
    html = client.get(reverse("vault:gallery") + "?sort=taken&view=list").content.decode()
    assert "2023-01-01 08:00" in html and 'value="taken" selected' in html


def test_the_detail_page_shows_date_camera_exposure_and_place_to_its_owner_only_when_unlocked(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    client.post(reverse("vault:upload"), {"codec": "webp", "target": "balanced",
                                          "file": SimpleUploadedFile("IMG_0042.HEIC", heic_from_an_iphone())})
    url = reverse("vault:detail", args=[ImageRecord.objects.get().pk])
    html = client.get(url).content.decode()
    for text in ("2023-07-14 18:42:05 (UTC+02:00)", f"{MAKE} {MODEL}", "1/120 s · f/1.8 · ISO 80", "48.85822° N, 2.29450° E",
                 "rotated 90° clockwise"):
        assert text in html, text
    client.post(reverse("vault:lock-vault"))
    locked = client.get(url)
    assert locked.status_code == 200 and MODEL not in locked.content.decode()
    assert "Unlock your vault to see the date" in locked.content.decode()


def test_tampered_metadata_is_refused_and_audited_and_the_rest_of_the_record_still_shows(alice, api):
    body = upload(api, heic_from_an_iphone(), "IMG_0042.HEIC", codec="webp")
    record = ImageRecord.objects.get()
    flipped = bytearray(record.metadata_sealed)
    flipped[-1] ^= 1
    ImageRecord.objects.filter(pk=record.pk).update(metadata_sealed=bytes(flipped))
    detail = api.get(f"{IMAGES}{body['id']}/")
    assert detail.status_code == 200 and detail.json()["metadata"] is None and detail.json()["codec"] == "webp"
    page = login_unlocked(Client(), "alice", PASSWORD).get(reverse("vault:detail", args=[record.pk]))
    assert page.status_code == 200 and MODEL not in page.content.decode()
    refusals = AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED, record_id=record.pk)
    assert refusals.count() == 2 and all("metadata" in e.detail for e in refusals)


def test_the_upload_page_accepts_heic(alice):
    html = login_unlocked(Client(), "alice", PASSWORD).get(reverse("vault:upload")).content.decode()
    assert "HEIC/HEIF" in html and 'accept="image/*,.heic,.heif"' in html
