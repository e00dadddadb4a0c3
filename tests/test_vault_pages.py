"""The vault's server-rendered pages, driven through Django's test client."""
import io
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import crypto, keyring, sessions
from vault.models import ImageRecord
from .vault_helpers import KEY_RE, bad_uploads, files_under, legacy_record, login_unlocked, opened, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD)


@pytest.fixture
def client_alice(alice):
    return login_unlocked(Client(), "alice", PASSWORD)


def post_upload(client, data=None, name="photo.png", **fields):
    data = image_bytes(make_photo()) if data is None else data
    payload = {"codec": "png", "target": "balanced", "custom_target": "", "quality": "", **fields}
    payload["file"] = SimpleUploadedFile(name, data, content_type="image/png")
    return client.post(reverse("vault:upload"), payload)


def file_url(record, variant):
    return reverse("vault:file", args=[record.pk, variant])


def test_register_save_the_recovery_key_upload_and_open_without_typing_a_key():
    client = Client()
    response = client.post(
        "/accounts/register/", {"username": "carol", "email": "", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 200 and KEY_RE.search(response.content.decode())
    response = client.post(reverse("vault:recovery-key-saved"), {"saved": "on", "next": reverse("vault:gallery")})
    assert response["Location"] == reverse("vault:gallery")

    original = image_bytes(make_photo(seed=4))
    response = post_upload(client, original, name="garden.png", codec="webp", quality="80")
    record = ImageRecord.objects.get(owner__username="carol")
    # No key page: to the gallery, where it shows (compressed already: jobs run eagerly here).
    assert response.status_code == 302 and response["Location"] == reverse("vault:gallery")
    assert record.name == "garden.png" and record.codec == "webp"
    detail = client.get(reverse("vault:detail", args=[record.pk])).content.decode()
    # The preview is the compressed WebP itself, large (a browser shows it as stored).
    assert "garden.png" in detail and file_url(record, "compressed-display") in detail and not KEY_RE.search(detail)

    compare = client.get(reverse("vault:compare", args=[record.pk]))
    html = compare.content.decode()
    # Each picture has its own URL; none is inlined into the page.
    assert file_url(record, "original-display") in html and file_url(record, "compressed-display") in html
    assert "base64," not in html
    shown = client.get(file_url(record, "original-display"))
    assert shown.status_code == 200 and shown.content == original and "no-store" in shown["Cache-Control"]
    webp = client.get(file_url(record, "compressed-display"))
    assert webp["Content-Type"] == "image/webp" and webp.content[8:12] == b"WEBP"

    download = client.get(file_url(record, "original") + "?download=1")
    assert download.content == original and download["Content-Disposition"].startswith("attachment")
    decoded = client.get(file_url(record, "decoded") + "?download=1")
    assert decoded["Content-Type"] == "image/png"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_OK, record_id=record.pk).count() >= 3


def test_the_gallery_is_a_grid_of_thumbnails_served_from_their_own_urls(client_alice):
    for seed in range(3):
        post_upload(client_alice, image_bytes(make_photo(seed=seed)), name=f"p{seed}.png")
    records = list(ImageRecord.objects.order_by("-created", "-id"))
    html = client_alice.get(reverse("vault:gallery")).content.decode()
    urls = re.findall(r'<img src="([^"]+)"[^>]*loading="lazy"', html)
    assert urls == [file_url(r, "thumbnail") for r in records]  # newest first, lazy-loaded
    thumb = client_alice.get(urls[0])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
    assert "no-store" in thumb["Cache-Control"]
    with Image.open(io.BytesIO(thumb.content)) as im:
        assert im.size == (48, 32)
    # Opening thumbnails is not audited row by row.
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_OK).exists()


def test_the_gallery_sorts_by_size_and_has_a_list_view(client_alice):
    post_upload(client_alice, image_bytes(make_photo(20, 20)), name="small.png")
    post_upload(client_alice, image_bytes(make_photo(90, 60)), name="large.png")
    post_upload(client_alice, image_bytes(make_photo(40, 40)), name="medium.png")
    names = lambda html: re.findall(r'class="thumb-name[^"]*"[^>]*>([^<]+)<', html)  # noqa: E731
    assert names(client_alice.get(reverse("vault:gallery") + "?sort=largest").content.decode()) == ["large.png", "medium.png", "small.png"]
    assert names(client_alice.get(reverse("vault:gallery") + "?sort=smallest").content.decode()) == ["small.png", "medium.png", "large.png"]
    listing = client_alice.get(reverse("vault:gallery") + "?view=list&sort=bogus")
    assert listing.context["sort"] == "newest" and "<table" in listing.content.decode()


def test_a_double_submit_of_the_upload_form_stores_one_image(client_alice, _isolated_storage):
    form = client_alice.get(reverse("vault:upload"))
    token = form.context["form"]["upload_token"].value()
    assert token and f'value="{token}"' in form.content.decode()
    first = post_upload(client_alice, upload_token=token)
    second = post_upload(client_alice, upload_token=token)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert ImageRecord.objects.count() == 1 and len(files_under(_isolated_storage)) == 3
    # A new form is a new upload (of another photo: the same one again is a duplicate).
    new_token = client_alice.get(reverse("vault:upload")).context["form"]["upload_token"].value()
    post_upload(client_alice, image_bytes(make_photo(seed=1)), upload_token=new_token)
    assert ImageRecord.objects.count() == 2


def test_a_locked_vault_asks_for_the_password_and_comes_back(client_alice, alice):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    client_alice.post(reverse("vault:lock-vault"))
    assert "vault_key" not in client_alice.cookies or not client_alice.cookies["vault_key"].value
    wanted = reverse("vault:compare", args=[record.pk])
    response = client_alice.get(wanted)
    assert response.status_code == 302 and response["Location"].startswith(reverse("vault:unlock-vault"))
    assert client_alice.get(file_url(record, "thumbnail")).status_code == 302
    assert "_auth_user_id" in client_alice.session  # still logged in: only the vault is locked

    wrong = client_alice.post(reverse("vault:unlock-vault"), {"method": "password", "password": "nope", "next": wanted})
    assert wrong.status_code == 403 and "not right" in wrong.content.decode()
    response = client_alice.post(reverse("vault:unlock-vault"), {"method": "password", "password": PASSWORD, "next": wanted})
    assert response.status_code == 302 and response["Location"] == wanted
    assert client_alice.get(file_url(record, "thumbnail")).status_code == 200


def test_the_unlock_page_refuses_to_redirect_elsewhere(client_alice):
    response = client_alice.post(
        reverse("vault:unlock-vault"), {"method": "password", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("vault:gallery")


def test_the_vault_locks_after_the_idle_timeout(client_alice, settings):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    session = client_alice.session
    session[sessions.SESSION_SEEN] = int(time.time()) - 31 * 60
    session.save()
    response = client_alice.get(file_url(record, "thumbnail"))
    assert response.status_code == 302 and "unlock" in response["Location"]
    assert sessions.SESSION_SEALED not in client_alice.session


def test_logout_locks_the_vault_and_drops_its_cookie(client_alice):
    assert client_alice.cookies["vault_key"].value
    response = client_alice.post(reverse("logout"))
    assert response.cookies["vault_key"].value == ""  # deleted


def test_the_vault_cookie_is_httponly_and_the_session_alone_opens_nothing(alice):
    client = Client()
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    cookie = response.cookies["vault_key"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    post_upload(client)
    record = ImageRecord.objects.get()
    # The session cookie without the vault cookie (e.g. one stolen alone) cannot open images.
    thief = Client()
    thief.cookies["sessionid"] = client.cookies["sessionid"].value
    assert thief.get(file_url(record, "original")).status_code == 302
    assert client.get(file_url(record, "original")).status_code == 200


@pytest.mark.parametrize("kind", ["non-image", "truncated-png", "truncated-jpeg", "zero-bytes", "bomb", "disallowed-format", "multi-page-tiff"])
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


def test_custom_target_must_parse(client_alice, alice):
    response = post_upload(client_alice, codec="auto", target="custom", custom_target="psnr:lots")
    assert response.status_code == 400
    assert "lots" in response.content.decode()
    response = post_upload(client_alice, codec="auto", target="custom", custom_target="bytes:4000")
    assert response.status_code == 302
    assert opened(ImageRecord.objects.get(), alice).compressed_size <= 4000


def test_out_of_range_quality_is_shown_on_the_form(client_alice):
    response = post_upload(client_alice, codec="jpeg", quality="900")
    assert response.status_code == 400
    # Checked up front by compression's option rules, so the message sits on the quality field.
    assert "900" in " ".join(response.context["form"].errors["quality"])
    assert not ImageRecord.objects.exists()


def test_gallery_paginates(client_alice, monkeypatch):
    from vault.views import images

    monkeypatch.setattr(images, "GALLERY_PAGE_SIZE", 4)
    size = images.GALLERY_PAGE_SIZE
    for seed in range(size + 1):
        post_upload(client_alice, image_bytes(make_photo(seed=seed)))
    page1 = client_alice.get(reverse("vault:gallery"))
    assert len(page1.context["records"]) == size
    assert "Page 1 of 2" in page1.content.decode()
    assert len(client_alice.get(reverse("vault:gallery") + "?page=2").context["records"]) == 1


def test_detail_shows_metadata_candidates_and_reason_but_no_unkeyed_digest(client_alice, alice):
    post_upload(client_alice, codec="auto", target="high")
    record = opened(ImageRecord.objects.get(), alice)  # the reason is sealed with the figures
    html = client_alice.get(reverse("vault:detail", args=[record.pk])).content.decode()
    assert "Candidates tried" in html
    assert record.reason.split()[0] in html
    assert "Rate–distortion of the candidates" in html and "<svg" in html
    assert record.original_mac not in html and "HMAC-SHA256" in html


def test_another_users_record_is_404_on_every_page(client_alice):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    vault_user("bob", PASSWORD)
    intruder = login_unlocked(Client(), "bob", PASSWORD)
    assert record.name not in intruder.get(reverse("vault:gallery")).content.decode()
    for name in ("detail", "compare", "unlock", "delete"):
        assert intruder.get(reverse(f"vault:{name}", args=[record.pk])).status_code == 404
    for variant in ("original", "compressed", "thumbnail", "decoded", "original-display"):
        assert intruder.get(file_url(record, variant)).status_code == 404
    assert intruder.post(reverse("vault:delete", args=[record.pk])).status_code == 404
    for name in ("adopt", "share-create", "download"):
        assert intruder.post(reverse(f"vault:{name}", args=[record.pk]), {"key": "x", "expires_in_days": "7"}).status_code == 404
    assert intruder.post(reverse("vault:bulk"), {"ids": [record.pk], "action": "zip"}).status_code == 404
    assert ImageRecord.objects.filter(pk=record.pk).exists() and not record.shares.exists()


def test_pages_require_login(alice):
    client = Client()
    for url in (reverse("vault:upload"), reverse("vault:gallery"), reverse("vault:unlock-vault"), "/images/1/file/original/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(reverse("vault:landing")).status_code == 200


def test_session_posts_without_csrf_token_are_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))
    login_unlocked(client, "alice", PASSWORD, csrfmiddlewaretoken=client.cookies["csrftoken"].value)
    assert post_upload(client).status_code == 403
    assert not ImageRecord.objects.exists()
    token = client.get(reverse("vault:upload")).context["csrf_token"]
    response = client.post(
        reverse("vault:upload"),
        {"codec": "png", "target": "balanced", "csrfmiddlewaretoken": str(token),
         "file": SimpleUploadedFile("p.png", image_bytes(make_photo()))},
    )
    assert response.status_code == 302
    record = ImageRecord.objects.get()
    assert client.post(reverse("vault:delete", args=[record.pk])).status_code == 403
    assert client.post(reverse("vault:lock-vault")).status_code == 403
    assert ImageRecord.objects.filter(pk=record.pk).exists()


def test_delete_asks_then_moves_to_the_trash_and_deleting_permanently_removes_everything(
    client_alice, _isolated_storage, django_capture_on_commit_callbacks
):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    confirm = client_alice.get(reverse("vault:delete", args=[record.pk]))
    assert confirm.status_code == 200 and "restore it for 30 days" in confirm.content.decode()
    response = client_alice.post(reverse("vault:delete", args=[record.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("vault:gallery")
    record.refresh_from_db()
    assert record.in_trash and len(files_under(_isolated_storage)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = client_alice.post(reverse("vault:delete", args=[record.pk]), {"permanent": "1"})
    assert response.status_code == 302
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []


def test_compare_shows_non_browser_originals_as_png(client_alice):
    tiff = image_bytes(make_photo(), "TIFF")
    post_upload(client_alice, tiff, name="scan.tiff", codec="webp", quality="90")
    record = ImageRecord.objects.get()
    assert record.original_format == "TIFF"
    shown = client_alice.get(file_url(record, "original-display"))
    assert shown["Content-Type"] == "image/png"  # browsers cannot show TIFF: it is converted
    with Image.open(io.BytesIO(shown.content)) as im:
        assert im.convert("RGB").tobytes() == make_photo().tobytes()
    response = client_alice.get(file_url(record, "original") + "?download=1")
    assert response.content == tiff and response["Content-Type"] == "image/tiff"


def test_a_quality_with_the_auto_codec_is_refused_not_ignored(client_alice):
    response = post_upload(client_alice, codec="auto", quality="70")
    assert response.status_code == 400
    assert "Quality 70 needs a codec" in response.content.decode()
    assert not ImageRecord.objects.exists()


def test_the_size_limit_in_the_help_is_the_number_the_error_quotes(client_alice, settings, _isolated_storage):
    settings.UPLOAD_MAX_BYTES = 26_214_400
    help_text = client_alice.get(reverse("vault:upload")).content.decode()
    assert "Up to 25.0 MiB each." in help_text
    settings.UPLOAD_MAX_BYTES = 1500
    help_text = client_alice.get(reverse("vault:upload")).content.decode()
    limit = re.search(r"Up to ([\d.]+ (?:KiB|bytes)) each\.", help_text).group(1)
    error = post_upload(client_alice, image_bytes(make_photo(80, 80))).content.decode()
    assert f"the limit is {limit}" in error


def test_unknown_file_variant_is_404(client_alice):
    post_upload(client_alice)
    record = ImageRecord.objects.get()
    assert client_alice.get(file_url(record, "keys")).status_code == 404


# --- records stored before the vault: they still open with their own key -----------------------


def test_a_legacy_record_opens_with_its_key_on_the_unlock_page(client_alice, alice):
    data = image_bytes(make_photo(seed=9))
    record, key = legacy_record(alice, data)
    assert "Open with its retrieval key" in client_alice.get(reverse("vault:detail", args=[record.pk])).content.decode()
    assert client_alice.get(file_url(record, "original")).status_code == 409
    response = client_alice.post(reverse("vault:unlock", args=[record.pk]), {"key": key})
    assert response.status_code == 200 and "Download original" in response.content.decode()
    response = client_alice.post(reverse("vault:download", args=[record.pk]), {"key": key, "variant": "original"})
    assert response.content == data


def test_a_wrong_key_for_a_legacy_record_is_403_then_locked_out(client_alice, alice, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 2
    record, key = legacy_record(alice, image_bytes(make_photo()))
    url = reverse("vault:unlock", args=[record.pk])
    assert client_alice.post(url, {"key": "hunter2"}).status_code == 400
    for _ in range(2):
        wrong = crypto.format_retrieval_key(crypto.new_retrieval_key())
        response = client_alice.post(url, {"key": wrong})
        assert response.status_code == 403 and "That key does not open this image." in response.content.decode()
    response = client_alice.post(url, {"key": key})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_selected_images_download_as_one_zip_with_unique_names(client_alice):
    import zipfile

    photos = [image_bytes(make_photo(seed=s)) for s in (1, 2)]
    for data in photos:
        post_upload(client_alice, data, name="same.png")
    ids = [r.pk for r in ImageRecord.objects.order_by("id")]
    response = client_alice.post(reverse("vault:bulk"), {"ids": ids, "action": "zip"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert archive.namelist() == ["images/same.png", "images/same (2).png", "manifest.json", "manifest.csv"]
        assert [archive.read(n) for n in archive.namelist()[:2]] == photos


def test_deleting_selected_images_asks_first_and_refuses_other_users_ids(client_alice, _isolated_storage, django_capture_on_commit_callbacks):
    for seed in range(3):
        post_upload(client_alice, image_bytes(make_photo(seed=seed)))
    keep, *gone = ImageRecord.objects.order_by("id")
    confirm = client_alice.post(reverse("vault:bulk"), {"ids": [r.pk for r in gone], "action": "delete"})
    assert confirm.status_code == 200 and "restore them for 30 days" in confirm.content.decode()
    assert ImageRecord.objects.count() == 3
    vault_user("bob", PASSWORD)
    bob = login_unlocked(Client(), "bob", PASSWORD)
    assert bob.post(reverse("vault:bulk"), {"ids": [keep.pk], "action": "delete", "confirm": "yes"}).status_code == 404
    done = client_alice.post(reverse("vault:bulk"), {"ids": [r.pk for r in gone], "action": "delete", "confirm": "yes"})
    assert done.status_code == 302
    assert list(ImageRecord.objects.filter(trashed_at__isnull=True)) == [keep] and len(files_under(_isolated_storage)) == 9
    with django_capture_on_commit_callbacks(execute=True):
        done = client_alice.post(reverse("vault:bulk"), {"ids": [r.pk for r in gone], "action": "delete", "confirm": "yes",
                                                          "permanent": "1"})
    assert list(ImageRecord.objects.all()) == [keep] and len(files_under(_isolated_storage)) == 3
    assert client_alice.post(reverse("vault:bulk"), {"action": "zip"}).status_code == 302  # nothing selected


def test_a_damaged_file_tells_its_owner_on_the_page_without_blaming_a_key(_isolated_storage):
    """The owner typed no key: the page says the stored file is damaged or missing (410)."""
    vault_user("dora", "a-Long-enough-passw0rd")
    client = login_unlocked(Client(), "dora", "a-Long-enough-passw0rd")
    client.post(reverse("vault:upload"), {"codec": "png", "target": "balanced",
                                          "file": SimpleUploadedFile("d.png", image_bytes(make_photo(seed=5)))})
    record = ImageRecord.objects.get(owner__username="dora")
    (_isolated_storage / record.original_blob).unlink()
    response = client.get(reverse("vault:file", args=[record.pk, "original"]))
    assert response.status_code == 410
    text = response.content.decode()
    assert "stored original file is damaged or missing" in text and "does not open" not in text
    assert client.get(reverse("vault:file", args=[record.pk, "thumbnail"])).status_code == 200
