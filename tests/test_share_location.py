"""Shares and the photo's location: removed from what a share serves unless its owner chose to
include it, on the share page and through the API."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from vault.models import ImageRecord, Share
from .metadata_helpers import MODEL, encode, exif_of, gps_of, names_a_place, split_photo
from .vault_helpers import KEY_RE, login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
PHOTO = encode(split_photo(), "JPEG", xmp=True, quality=95)


@pytest.fixture
def owner():
    vault_user("alice", PASSWORD)
    client = login_unlocked(Client(), "alice", PASSWORD)
    client.post(reverse("vault:upload"), {"codec": "webp", "target": "balanced", "file": SimpleUploadedFile("trip.jpg", PHOTO)})
    return client


def share_on_the_page(client, **fields):
    record = ImageRecord.objects.get()
    response = client.post(reverse("vault:share-create", args=[record.pk]), {"label": "x", "expires_in_days": "7", **fields})
    assert response.status_code == 200
    return Share.objects.order_by("-id").first(), KEY_RE.search(response.content.decode()).group(0)


def open_as_stranger(share, key, variant):
    response = Client().post(reverse("vault:share", args=[share.public_id]), {"key": key, "variant": variant})
    assert response.status_code == 200, response.content[:300]
    return response.content


def _scan(data: bytes) -> bytes:
    return data[data.index(b"\xff\xda") :]


def test_a_share_serves_the_original_without_its_location_by_default(owner):
    assert gps_of(PHOTO) and names_a_place(PHOTO)
    share, key = share_on_the_page(owner)
    assert share.include_location is False
    for variant in ("original", "display"):
        served = open_as_stranger(share, key, variant)
        assert gps_of(served) == {} and not names_a_place(served), variant
        assert len(served) == len(PHOTO) and _scan(served) == _scan(PHOTO)  # the same JPEG picture, not re-encoded
        assert exif_of(served)[0][0x0110] == MODEL  # the camera stays
    for variant in ("compressed", "decoded"):
        served = open_as_stranger(share, key, variant)
        assert gps_of(served) == {} and not names_a_place(served), variant


def test_a_share_that_includes_the_location_serves_the_original_as_uploaded(owner):
    share, key = share_on_the_page(owner, include_location="on")
    assert share.include_location is True
    assert open_as_stranger(share, key, "original") == PHOTO
    assert gps_of(open_as_stranger(share, key, "compressed")) == {}  # the rendition never had it
    html = owner.get(reverse("vault:detail", args=[share.record_id])).content.decode()
    assert "Include where it was taken" in html and "<td>included</td>" in html


@pytest.fixture
def api(owner):
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_the_api_strips_the_location_unless_include_location_is_true(api):
    url = f"/api/v1/images/{ImageRecord.objects.get().pk}/shares/"
    plain = api.post(url, {}, format="json").json()
    located = api.post(url, {"include_location": True}, format="json").json()
    assert plain["include_location"] is False and located["include_location"] is True
    assert {s["id"]: s["include_location"] for s in api.get(url).json()} == {plain["id"]: False, located["id"]: True}

    stranger = APIClient()

    def fetch(share, variant):
        response = stranger.post(f"/api/v1/shares/{share['id']}/retrieve/", {"key": share["key"], "variant": variant}, format="json")
        assert response.status_code == 200, response.content
        return response.content

    assert gps_of(fetch(plain, "original")) == {} and not names_a_place(fetch(plain, "original"))
    assert gps_of(fetch(plain, "thumbnail")) == {}
    assert fetch(located, "original") == PHOTO
    assert api.post(url, {"include_location": "perhaps"}, format="json").status_code == 400
