"""A JPEG XL record on every page that shows the compressed image: the pages work, browsers get
a PNG of the decoded JXL pixels (not the original, not a re-encode), and the download is the
stored .jxl file."""
import io
import re

import imagecodecs
import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from tests.conftest import image_bytes, make_photo
from vault import services
from vault.models import Share

from .vault_helpers import KEY_RE, login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
PHOTO = make_photo(72, 48, seed=4, mode="RGBA")


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD)


@pytest.fixture
def client_alice(alice):
    return login_unlocked(Client(), "alice", PASSWORD)


@pytest.fixture
def jxl_record(alice):
    # Quality 30: far enough from the original that showing it instead would be caught.
    record, _ = services.store_image(owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=image_bytes(PHOTO),
                                     filename="cat.png", codec="jxl", quality=30)
    record.refresh_from_db()
    assert record.codec == "jxl" and record.compressed_media_type == "image/jxl"
    return record


def _file(client, record, variant, **query):
    response = client.get(reverse("vault:file", args=[record.pk, variant]), query)
    assert response.status_code == 200, (variant, response.status_code)
    assert "no-store" in response["Cache-Control"]
    return response


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def test_the_stored_file_downloads_as_jxl_and_every_rendition_holds_its_decoded_pixels(client_alice, jxl_record):
    stored = _file(client_alice, jxl_record, "compressed", download="1")
    assert stored["Content-Type"] == "image/jxl" and stored["Content-Disposition"].endswith('.jxl"')
    decoded = imagecodecs.jpegxl_decode(stored.content)
    assert decoded.shape == (48, 72, 4)
    assert not np.array_equal(decoded, np.asarray(PHOTO))  # lossy: a rendition of the original would differ

    shown = _file(client_alice, jxl_record, "compressed-display")  # the compare view's right side
    assert shown["Content-Type"] == "image/png" and np.array_equal(_pixels(shown.content), decoded)
    as_png = _file(client_alice, jxl_record, "decoded", download="1")
    assert as_png["Content-Type"] == "image/png" and np.array_equal(_pixels(as_png.content), decoded)
    thumb = _file(client_alice, jxl_record, "thumbnail")
    assert thumb["Content-Type"] == "image/webp" and Image.open(io.BytesIO(thumb.content)).size[0] > 0


def test_detail_compare_and_gallery_pages_show_a_jxl_record(client_alice, jxl_record):
    detail = client_alice.get(reverse("vault:detail", args=[jxl_record.pk]))
    assert detail.status_code == 200 and "JPEG XL" in detail.content.decode()
    compare = client_alice.get(reverse("vault:compare", args=[jxl_record.pk])).content.decode()
    assert reverse("vault:file", args=[jxl_record.pk, "compressed-display"]) in compare
    assert 'data-mode="diff"' in compare  # the difference view works on the two displayed PNGs
    gallery = client_alice.get(reverse("vault:gallery"))
    assert gallery.status_code == 200
    assert reverse("vault:file", args=[jxl_record.pk, "thumbnail"]) in gallery.content.decode()


def test_a_share_of_a_jxl_record_gives_the_decoded_pixels_as_png(client_alice, jxl_record):
    response = client_alice.post(reverse("vault:share-create", args=[jxl_record.pk]), {"label": "", "expires_in_days": "7"})
    key = KEY_RE.search(response.content.decode()).group(0)
    share = Share.objects.get()
    stranger = Client()
    got = stranger.post(reverse("vault:share", args=[share.public_id]), {"key": key, "variant": "decoded"})
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    stored = _file(client_alice, jxl_record, "compressed", download="1").content
    assert np.array_equal(_pixels(got.content), imagecodecs.jpegxl_decode(stored))


def test_the_api_lists_jxl_and_serves_the_record(alice, jxl_record):
    api = APIClient()
    api.force_authenticate(alice)
    token = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}).data["token"]
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    codecs = {c["name"]: c for c in api.get("/api/v1/codecs/").data}
    assert codecs["jxl"]["media_type"] == "image/jxl" and codecs["jxl-lossless"]["lossless"] is True
    body = api.get(f"/api/v1/images/{jxl_record.pk}/").data
    assert body["codec"] == "jxl" and body["compressed_extension"] == "jxl"
    decoded = api.get(f"/api/v1/images/{jxl_record.pk}/download/", {"variant": "decoded"})
    assert decoded.status_code == 200 and decoded["Content-Type"] == "image/png"
    assert re.search(r'cat\.jxl\.png"?$', decoded["Content-Disposition"])
