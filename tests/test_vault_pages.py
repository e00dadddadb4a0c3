"""The vault's server-rendered pages, driven through Django's test client."""
import base64
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import crypto
from vault.models import ImageRecord
from .vault_helpers import KEY_RE, bad_uploads, files_under, key_needles, scan_database

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def client_alice(alice):
    client = Client()
    client.force_login(alice)
    return client


def post_upload(client, data=None, name="photo.png", **fields):
    data = image_bytes(make_photo()) if data is None else data
    payload = {"codec": "png", "target": "balanced", "custom_target": "", "quality": "", **fields}
    payload["file"] = SimpleUploadedFile(name, data, content_type="image/png")
    return client.post(reverse("vault:upload"), payload)


def key_from(response) -> str:
    match = KEY_RE.search(response.content.decode())
    assert match, "no retrieval key on the page"
    return match.group(0)


def data_uris(html: str) -> list[tuple[str, bytes]]:
    return [(m.group(1), base64.b64decode(m.group(2))) for m in re.finditer(r'src="data:([^;]+);base64,([^"]+)"', html)]


def test_register_upload_unlock_and_download_flow():
    client = Client()
    response = client.post(
        "/accounts/register/",
        {"username": "carol", "email": "", "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    assert response.status_code == 200
    assert response.context["user"].is_authenticated

    original = image_bytes(make_photo(seed=4))
    response = post_upload(client, original, name="garden.png", codec="webp", quality="80")
    assert response.status_code == 200
    key = key_from(response)
    page = response.content.decode()
    assert "cannot recover" in page
    record = ImageRecord.objects.get(owner__username="carol")
    assert record.name == "garden.png" and record.codec == "webp"

    # The key is shown once: the gallery and the detail page never show it again.
    for url in (reverse("vault:gallery"), reverse("vault:detail", args=[record.pk])):
        html = client.get(url).content.decode()
        assert "garden.png" in html and key not in html

    response = client.post(reverse("vault:unlock", args=[record.pk]), {"key": key})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    images = data_uris(response.content.decode())
    assert ("image/png", original) in images
    assert any(media == "image/webp" and data[8:12] == b"WEBP" for media, data in images)

    response = client.post(reverse("vault:download", args=[record.pk]), {"key": key, "variant": "original"})
    assert response.status_code == 200 and response.content == original
    assert response["Content-Disposition"].startswith("attachment")
    response = client.post(reverse("vault:download", args=[record.pk]), {"key": key, "variant": "compressed"})
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_OK, record_id=record.pk).count() >= 3


def test_page_upload_never_puts_the_key_in_the_database(client_alice):
    response = post_upload(client_alice)
    key = key_from(response)
    # Sessions live in the database: the key must not have been parked there either.
    texts, raw = key_needles(key, crypto.parse_retrieval_key(key))
    assert scan_database(texts, raw) == []


def test_key_file_download_and_unlock_with_the_key_file(client_alice):
    response = post_upload(client_alice, name="cat.png")
    key = key_from(response)
    record = ImageRecord.objects.get()
    response = client_alice.post(reverse("vault:key-file", args=[record.pk]), {"key": key})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="cat.key"'
    key_file = response.content
    assert key.encode() in key_file

    response = client_alice.post(
        reverse("vault:unlock", args=[record.pk]),
        {"key": "", "key_file": SimpleUploadedFile("cat.key", key_file, content_type="text/plain")},
    )
    assert response.status_code == 200
    assert "Download original" in response.content.decode()


def test_key_file_view_refuses_text_that_is_not_a_key(client_alice):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    response = client_alice.post(reverse("vault:key-file", args=[record.pk]), {"key": "<script>alert(1)</script>"})
    assert response.status_code == 400
    assert b"<script>" not in response.content


def test_wrong_key_on_the_unlock_page_is_403_with_a_generic_message(client_alice):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    wrong = crypto.format_retrieval_key(crypto.new_retrieval_key())
    response = client_alice.post(reverse("vault:unlock", args=[record.pk]), {"key": wrong})
    assert response.status_code == 403
    assert "That key does not open this image." in response.content.decode()
    assert not data_uris(response.content.decode())


def test_malformed_key_on_the_unlock_page_is_400(client_alice):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    response = client_alice.post(reverse("vault:unlock", args=[record.pk]), {"key": "hunter2"})
    assert response.status_code == 400
    assert "not a retrieval key" in response.content.decode()


def test_unlock_page_locks_out_with_429_after_repeated_wrong_keys(client_alice, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 2
    key = key_from(post_upload(client_alice))
    record = ImageRecord.objects.get()
    url = reverse("vault:unlock", args=[record.pk])
    for _ in range(2):
        wrong = crypto.format_retrieval_key(crypto.new_retrieval_key())
        assert client_alice.post(url, {"key": wrong}).status_code == 403
    response = client_alice.post(url, {"key": key})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many wrong keys" in response.content.decode()


@pytest.mark.parametrize("kind", ["non-image", "truncated-png", "truncated-jpeg", "zero-bytes", "bomb", "disallowed-format"])
def test_bad_uploads_rerender_the_form_with_400_and_leave_nothing(client_alice, kind, _isolated_storage):
    response = post_upload(client_alice, bad_uploads(make_photo())[kind], name=f"{kind}.png")
    assert response.status_code == 400
    assert response.context["form"].errors
    assert 'enctype="multipart/form-data"' in response.content.decode()
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []


def test_oversize_upload_page_is_400(client_alice, settings, _isolated_storage):
    settings.UPLOAD_MAX_BYTES = 1500
    response = post_upload(client_alice, image_bytes(make_photo(80, 80)))
    assert response.status_code == 400
    assert re.search(r"too large|limit", response.content.decode())
    assert not ImageRecord.objects.exists() and files_under(_isolated_storage) == []


def test_custom_target_must_parse(client_alice):
    response = post_upload(client_alice, codec="auto", target="custom", custom_target="psnr:lots")
    assert response.status_code == 400
    assert "lots" in response.content.decode()
    response = post_upload(client_alice, codec="auto", target="custom", custom_target="bytes:4000")
    assert response.status_code == 200
    assert ImageRecord.objects.get().compressed_size <= 4000


def test_out_of_range_quality_is_shown_on_the_form(client_alice):
    response = post_upload(client_alice, codec="jpeg", quality="900")
    assert response.status_code == 400
    # Checked up front by compression's option rules, so the message sits on the quality field.
    assert "900" in " ".join(response.context["form"].errors["quality"])
    assert not ImageRecord.objects.exists()


def test_gallery_lists_metadata_and_paginates(client_alice, alice):
    for _ in range(13):
        post_upload(client_alice)
    page1 = client_alice.get(reverse("vault:gallery"))
    assert len(page1.context["records"]) == 12
    html = page1.content.decode()
    assert "photo.png" in html and "png" in html and "Page 1 of 2" in html
    page2 = client_alice.get(reverse("vault:gallery") + "?page=2")
    assert len(page2.context["records"]) == 1


def test_detail_shows_metadata_candidates_and_reason(client_alice):
    post_upload(client_alice, codec="auto", target="high")
    record = ImageRecord.objects.get()
    html = client_alice.get(reverse("vault:detail", args=[record.pk])).content.decode()
    assert record.sha256_original in html
    assert "Candidates tried" in html
    assert record.reason.split()[0] in html
    # The candidates' own rate–distortion points, drawn inline (no external resources).
    assert "Rate–distortion of the candidates" in html and "<svg" in html


def test_another_users_record_is_404_on_every_page(client_alice):
    key = key_from(post_upload(client_alice))
    record = ImageRecord.objects.get()
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    intruder = Client()
    intruder.force_login(bob)
    assert record.name not in intruder.get(reverse("vault:gallery")).content.decode()
    for name in ("detail", "unlock", "delete"):
        assert intruder.get(reverse(f"vault:{name}", args=[record.pk])).status_code == 404
    assert intruder.post(reverse("vault:unlock", args=[record.pk]), {"key": key}).status_code == 404
    assert intruder.post(reverse("vault:download", args=[record.pk]), {"key": key, "variant": "original"}).status_code == 404
    assert intruder.post(reverse("vault:delete", args=[record.pk])).status_code == 404
    assert ImageRecord.objects.filter(pk=record.pk).exists()


def test_pages_require_login(alice):
    client = Client()
    for url in (reverse("vault:upload"), reverse("vault:gallery")):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(reverse("vault:landing")).status_code == 200


def test_session_posts_without_csrf_token_are_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert post_upload(client).status_code == 403
    assert not ImageRecord.objects.exists()
    # With the token from the form, the same post works.
    token = client.get(reverse("vault:upload")).context["csrf_token"]
    response = client.post(
        reverse("vault:upload"),
        {"codec": "png", "target": "balanced", "csrfmiddlewaretoken": str(token),
         "file": SimpleUploadedFile("p.png", image_bytes(make_photo()))},
    )
    assert response.status_code == 200
    record = ImageRecord.objects.get()
    assert client.post(reverse("vault:delete", args=[record.pk])).status_code == 403
    assert client.post(reverse("vault:unlock", args=[record.pk]), {"key": key_from(response)}).status_code == 403
    assert ImageRecord.objects.filter(pk=record.pk).exists()


def test_delete_asks_for_confirmation_then_removes_everything(client_alice, _isolated_storage, django_capture_on_commit_callbacks):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    confirm = client_alice.get(reverse("vault:delete", args=[record.pk]))
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert ImageRecord.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_alice.post(reverse("vault:delete", args=[record.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("vault:gallery")
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []


def test_compare_page_shows_non_browser_originals_as_png(client_alice):
    tiff = image_bytes(make_photo(), "TIFF")
    key = key_from(post_upload(client_alice, tiff, name="scan.tiff", codec="webp", quality="90"))
    record = ImageRecord.objects.get()
    assert record.original_format == "TIFF"
    images = data_uris(client_alice.post(reverse("vault:unlock", args=[record.pk]), {"key": key}).content.decode())
    media_types = {media for media, _ in images}
    assert media_types == {"image/png", "image/webp"}  # browsers cannot show TIFF: it is converted
    shown = next(data for media, data in images if media == "image/png")
    with Image.open(io.BytesIO(shown)) as im:
        assert im.size == (48, 32)
        assert im.convert("RGB").tobytes() == make_photo().tobytes()
    response = client_alice.post(reverse("vault:download", args=[record.pk]), {"key": key, "variant": "original"})
    assert response.content == tiff and response["Content-Type"] == "image/tiff"
