"""A stored original that no longer decodes (truncated TIFF, BMP, GIF) is refused in words where it
would be shown (the display URL, a share's "Show the image", a legacy record's unlock page), never
with a server error; the file itself still downloads as it was stored."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.conftest import image_bytes, make_photo
from vault.models import ImageRecord, Share
from .vault_helpers import KEY_RE, legacy_record, login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"


def truncated(fmt: str) -> bytes:
    source = make_photo(64, 48, seed=5)
    data = image_bytes(source.convert("P") if fmt == "GIF" else source, fmt)
    return data[: len(data) * 2 // 3]  # the header is intact: the upload's cheap check accepts it


@pytest.fixture
def owner():
    vault_user("alice", PASSWORD)
    return login_unlocked(Client(), "alice", PASSWORD)


def upload(client, data: bytes, name: str) -> ImageRecord:
    client.post(reverse("vault:upload"), {"codec": "webp", "target": "balanced", "file": SimpleUploadedFile(name, data)})
    return ImageRecord.objects.get()


@pytest.mark.parametrize("fmt", ["TIFF", "BMP", "GIF"])
def test_the_display_url_of_a_truncated_original_is_a_4xx_in_words_and_the_download_still_works(owner, fmt):
    data = truncated(fmt)
    record = upload(owner, data, f"scan.{fmt.lower()}")
    url = reverse("vault:file", args=[record.pk, "original-display"])
    shown = owner.get(url)
    assert shown.status_code == 422
    text = shown.content.decode()
    assert "original cannot be shown" in text and f"'scan.{fmt.lower()}' is truncated or corrupt" in text
    assert "Download it instead" in text
    download = owner.get(reverse("vault:file", args=[record.pk, "original"]) + "?download=1")
    assert download.status_code == 200 and download.content == data


def test_a_shares_show_the_image_of_a_truncated_tiff_is_a_4xx_page(owner):
    record = upload(owner, truncated("TIFF"), "scan.tiff")
    created = owner.post(reverse("vault:share-create", args=[record.pk]), {"label": "", "expires_in_days": "7"})
    assert created.status_code == 200, created.content
    key = KEY_RE.search(created.content.decode()).group(0)
    share = Share.objects.get()
    stranger = Client()
    shown = stranger.post(reverse("vault:share", args=[share.public_id]), {"key": key, "variant": "display"})
    assert shown.status_code == 422
    assert "original cannot be shown" in shown.content.decode() and 'name="key"' in shown.content.decode()
    original = stranger.post(reverse("vault:share", args=[share.public_id]), {"key": key, "variant": "original"})
    assert original.status_code == 200 and original.content == truncated("TIFF")


def test_a_legacy_records_unlock_page_with_a_truncated_original_says_so(owner, django_user_model):
    alice = django_user_model.objects.get(username="alice")
    record, key = legacy_record(alice, truncated("TIFF"), name="old.tiff")
    ImageRecord.objects.filter(pk=record.pk).update(original_format="TIFF", original_media_type="image/tiff")
    response = owner.post(reverse("vault:unlock", args=[record.pk]), {"key": key})
    assert response.status_code == 422
    assert "original cannot be shown" in response.content.decode()
