"""The images API: /api/v1/images/ with token and session authentication."""
import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import crypto
from vault.models import ImageRecord
from .vault_helpers import bad_uploads, files_under, legacy_record, token_client, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
IMAGES = "/api/v1/images/"


def make_user(name):
    return vault_user(name, PASSWORD)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def api(alice):
    return token_client("alice", PASSWORD)


def upload(client, data=None, name="photo.png", **fields):
    data = image_bytes(make_photo()) if data is None else data
    payload = {"file": SimpleUploadedFile(name, data, content_type="application/octet-stream"), **fields}
    return client.post(IMAGES, payload, format="multipart")


def retrieve(client, pk, key, variant="original"):
    return client.post(f"{IMAGES}{pk}/retrieve/", {"key": key, "variant": variant}, format="json")


def download(client, pk, variant=None):
    return client.get(f"{IMAGES}{pk}/download/" + (f"?variant={variant}" if variant else ""))


def legacy(owner):
    record, key = legacy_record(owner, image_bytes(make_photo()))
    return {"id": record.pk, "key": key}


def wrong_key():
    return crypto.format_retrieval_key(crypto.new_retrieval_key())


def test_create_returns_202_with_a_location_and_the_record_its_job_filled_in(api):
    response = upload(api, codec="png")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/images/{body['id']}/")
    assert body["status"] == "done" and body["progress"] == 100  # jobs run eagerly in the suite
    assert body["requested"] == {"codec": "png", "target": None, "quality": None, "effort": "default"}
    assert "key" not in body
    assert body["codec"] == "png"
    assert body["original_size"] == len(image_bytes(make_photo()))
    assert body["compressed_size"] > 0
    assert "psnr" in body and "candidates" in body and "reason" in body
    assert body["width"] == 48 and body["height"] == 32
    assert body["thumbnail_url"].endswith(f"/api/v1/images/{body['id']}/download/?variant=thumbnail")
    assert response["Cache-Control"] == "no-store"
    for secret_field in ("wrapped_key", "wrap_salt", "key_hash", "dk_wrap", "original_mac", "sha256_original"):
        assert secret_field not in body


def test_create_with_auto_codec_target_and_explicit_quality(api):
    response = upload(api, codec="auto", target="psnr:30")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["candidates"]
    # Every stored image reports SSIMULACRA 2 and what its target was judged on.
    assert body["decided_by"] in ("psnr", "exact") and 0 < body["ssimulacra2"] <= 100
    assert body["ssimulacra2_worst"] <= body["ssimulacra2"]
    assert body["decided_value"] == (None if body["decided_by"] == "exact" else pytest.approx(body["psnr"]))
    response = upload(api, image_bytes(make_photo(seed=1)), codec="jpeg", quality="55")
    assert response.status_code == 202, response.content
    assert response.json()["codec"] == "jpeg"


def test_a_token_alone_downloads_every_variant(api):
    original = image_bytes(make_photo(seed=2), "JPEG", quality=95)
    created = upload(api, original, name="beach day.jpg", codec="webp", quality="70").json()

    response = download(api, created["id"], "original")
    assert response.status_code == 200 and response.content == original
    assert response["Content-Type"] == "image/jpeg" and response["Cache-Control"].startswith("no-store")
    assert 'filename="beach day.jpg"' in response["Content-Disposition"]
    assert download(api, created["id"]).content == original  # original by default

    response = download(api, created["id"], "compressed")
    assert response["Content-Type"] == "image/webp"
    assert response.content[8:12] == b"WEBP" and len(response.content) == created["compressed_size"]
    assert download(api, created["id"], "decoded")["Content-Type"] == "image/png"
    thumb = api.get(created["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"


def test_download_ignores_an_image_accept_header_and_refuses_a_bad_variant(api):
    created = upload(api).json()
    response = api.get(f"{IMAGES}{created['id']}/download/?variant=original", HTTP_ACCEPT="image/png")
    assert response.status_code == 200 and response.content == image_bytes(make_photo())
    bad = api.get(f"{IMAGES}{created['id']}/download/?variant=keys", HTTP_ACCEPT="image/png")
    assert bad.status_code == 400 and "keys" in bad.json()["detail"]


def test_idempotency_key_makes_a_retried_upload_store_one_image(api, _isolated_storage):
    first = api.post(IMAGES, {"file": SimpleUploadedFile("a.png", image_bytes(make_photo()))}, format="multipart", HTTP_IDEMPOTENCY_KEY="retry-7")
    again = api.post(IMAGES, {"file": SimpleUploadedFile("a.png", image_bytes(make_photo()))}, format="multipart", HTTP_IDEMPOTENCY_KEY="retry-7")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert ImageRecord.objects.count() == 1 and len(files_under(_isolated_storage)) == 3
    bad = api.post(IMAGES, {"file": SimpleUploadedFile("a.png", image_bytes(make_photo()))}, format="multipart", HTTP_IDEMPOTENCY_KEY="x" * 65)
    assert bad.status_code == 400 and "idempotency key" in bad.json()["detail"]


def test_a_token_made_without_the_vault_can_list_but_not_open(alice):
    from accounts.services import create_api_token

    _, plaintext = create_api_token(user=alice, name="metadata only")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert client.get(IMAGES).status_code == 200
    response = upload(client)
    assert response.status_code == 403 and "without access to your vault" in response.json()["detail"]
    assert not ImageRecord.objects.exists()


def test_a_session_with_a_locked_vault_gets_403_not_a_redirect(alice):
    client = APIClient()
    client.force_login(alice)  # logged in, vault never unlocked
    response = upload(client)
    assert response.status_code == 403 and "locked" in response.json()["detail"]


def test_legacy_records_still_open_with_their_key_through_retrieve(api, alice):
    created = legacy(alice)
    assert download(api, created["id"]).status_code == 409
    response = retrieve(api, created["id"], created["key"], "original")
    assert response.status_code == 200 and response.content == image_bytes(make_photo())
    assert response["Content-Disposition"].startswith("attachment")
    refused = api.post(f"{IMAGES}{created['id']}/retrieve/", {"key": wrong_key()}, format="json", HTTP_ACCEPT="image/png")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/json"
    assert refused.json()["detail"] == "That key does not open this image."


@pytest.mark.parametrize(
    "payload, needle",
    [({"key": "abc", "variant": "original"}, "not a retrieval key"), ({"variant": "original"}, "key"),
     ({"key": "AAAA", "variant": "thumbnail"}, "thumbnail")],
)
def test_malformed_retrieve_requests_are_400_with_detail(api, alice, payload, needle):
    created = legacy(alice)
    response = api.post(f"{IMAGES}{created['id']}/retrieve/", payload, format="json")
    assert response.status_code == 400
    assert needle in response.json()["detail"]


def test_repeated_wrong_keys_give_429_with_retry_after_and_audit_events(api, alice, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 3
    settings.RETRIEVE_COOLOFF = timedelta(minutes=5)
    created = legacy(alice)
    statuses = [retrieve(api, created["id"], wrong_key()).status_code for _ in range(3)]
    assert statuses == [403, 403, 403]
    locked = retrieve(api, created["id"], created["key"])
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 300
    assert "Too many wrong keys" in locked.json()["detail"]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED, record_id=created["id"]).count() == 4


def test_a_missing_blob_tells_its_owner_it_is_gone_not_that_a_key_is_wrong(api, _isolated_storage):
    created = upload(api).json()
    record = ImageRecord.objects.get(pk=created["id"])
    (_isolated_storage / record.original_blob).unlink()
    response = download(api, created["id"])
    assert response.status_code == 410
    assert response.json()["detail"] == "This image's stored original file is damaged or missing; its other versions may still open."
    assert download(api, created["id"], "thumbnail").status_code == 200  # as it says


def test_list_is_paginated_and_shows_only_your_images(api, bob):
    mine = [upload(api, image_bytes(make_photo(seed=i))).json()["id"] for i in range(2)]
    theirs = upload(token_client("bob", PASSWORD)).json()["id"]
    body = api.get(IMAGES).json()
    ids = [item["id"] for item in body["results"]]
    assert sorted(ids) == sorted(mine) and theirs not in ids
    assert body["count"] == 2


def test_another_users_image_is_404_for_detail_download_retrieve_and_delete(api, bob, _isolated_storage):
    created = upload(api).json()
    intruder = token_client("bob", PASSWORD)
    assert intruder.get(f"{IMAGES}{created['id']}/").status_code == 404
    for variant in ("original", "thumbnail", "decoded"):
        assert download(intruder, created["id"], variant).status_code == 404
    assert retrieve(intruder, created["id"], wrong_key()).status_code == 404
    assert intruder.delete(f"{IMAGES}{created['id']}/").status_code == 404
    assert created["id"] not in [i["id"] for i in intruder.get(IMAGES).json()["results"]]
    assert ImageRecord.objects.filter(pk=created["id"]).exists()
    assert len(files_under(_isolated_storage)) == 3
    assert APIClient().get(f"{IMAGES}{created['id']}/download/").status_code == 401
    # An id that never existed looks exactly the same.
    assert intruder.get(f"{IMAGES}999999/").json() == intruder.get(f"{IMAGES}{created['id']}/").json()


def test_delete_moves_to_the_trash_and_permanent_removes_the_record_and_its_blobs(
    api, _isolated_storage, django_capture_on_commit_callbacks
):
    created = upload(api).json()
    assert api.delete(f"{IMAGES}{created['id']}/").status_code == 204
    assert api.get(f"{IMAGES}{created['id']}/").json()["trashed_at"] is not None
    assert len(files_under(_isolated_storage)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"{IMAGES}{created['id']}/?permanent=true")
    assert response.status_code == 204
    assert api.get(f"{IMAGES}{created['id']}/").status_code == 404
    assert files_under(_isolated_storage) == []
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DELETE, record_id=created["id"]).exists()


def test_requests_without_credentials_or_with_a_bad_token_are_refused(alice):
    anonymous = APIClient()
    assert anonymous.get(IMAGES).status_code == 401
    assert upload(anonymous).status_code == 401
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert forged.get(IMAGES).status_code == 401
    assert not ImageRecord.objects.exists()


def test_session_posts_need_a_csrf_token(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(IMAGES).status_code == 200  # safe methods need no token
    response = upload(client)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not ImageRecord.objects.exists()


def test_token_posts_need_no_csrf_token(alice):
    client = token_client("alice", PASSWORD)
    client.enforce_csrf_checks = True
    assert upload(client).status_code == 202


@pytest.mark.parametrize("kind", ["non-image", "truncated-png", "truncated-jpeg", "zero-bytes", "bomb", "disallowed-format", "multi-page-tiff"])
def test_bad_uploads_are_400_with_detail_and_leave_nothing(api, kind, _isolated_storage):
    response = upload(api, bad_uploads(make_photo())[kind], name=f"{kind}.png")
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    if kind == "multi-page-tiff":
        assert "TIFF of 3 pages" in response.json()["detail"]
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []


def test_oversize_upload_is_400(api, settings, _isolated_storage):
    settings.UPLOAD_MAX_BYTES = 2000
    response = upload(api, image_bytes(make_photo(80, 80)))
    assert response.status_code == 400
    assert re.search(r"too large|limit", response.json()["detail"])
    assert not ImageRecord.objects.exists() and files_under(_isolated_storage) == []


@pytest.mark.parametrize(
    "fields, needle",
    [({"codec": "bogus"}, "bogus"), ({"target": "psnr:nope"}, "nope"), ({"codec": "jpeg", "quality": "900"}, "900")],
)
def test_bad_options_are_400_quoting_the_value(api, fields, needle):
    response = upload(api, **fields)
    assert response.status_code == 400
    assert needle in response.json()["detail"]
    assert not ImageRecord.objects.exists()


def test_missing_file_is_400(api):
    response = api.post(IMAGES, {"codec": "png"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["detail"]


def test_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = out.read_text()
    assert "/api/v1/images/{id}/retrieve/" in schema and "/api/v1/images/{id}/download/" in schema
    assert "format: binary" in schema
