"""Duplicates (vault/duplicates.py): the same original uploaded twice by one user is recognised by a
digest keyed with a key derived from that user's master key, never by a plain hash; the user is
offered the image already stored (page: a message with a link and "keep both"; API: 409 with its
id unless allow_duplicate=true)."""
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.conftest import image_bytes, make_photo
from vault import crypto, uploads
from vault.duplicates import duplicate_digest
from vault.errors import DuplicateImage
from vault.models import ImageRecord

from .test_api_images import IMAGES, PASSWORD, alice, api, bob, upload  # noqa: F401 - fixtures too
from .vault_helpers import files_under, login_unlocked, scan_database

pytestmark = pytest.mark.django_db
PHOTO = image_bytes(make_photo(seed=21), "JPEG", quality=90)


def store(owner, data=PHOTO, name="photo.jpg", **kw):
    record, _ = uploads.store_image(owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=data, filename=name,
                                    codec="png", **kw)
    return record


def post_upload(client, *files, follow=False, **fields):
    payload = {"codec": "png", "target": "balanced", "custom_target": "", "quality": "", **fields}
    payload["file"] = [SimpleUploadedFile(name, data, content_type="image/jpeg") for name, data in files]
    return client.post(reverse("vault:upload"), payload, follow=follow)


def test_the_same_bytes_again_are_refused_naming_the_image_already_stored(alice, _isolated_storage):
    first = store(alice, name="beach.jpg")
    with pytest.raises(DuplicateImage) as refused:
        store(alice, name="beach copy.jpg")
    assert refused.value.status == 409 and refused.value.existing_id == first.pk and not refused.value.in_trash
    assert "'beach copy.jpg' is already in your vault as 'beach.jpg'" in str(refused.value)
    assert ImageRecord.objects.count() == 1 and len(files_under(_isolated_storage)) == 3
    second = store(alice, name="beach copy.jpg", allow_duplicate=True)
    assert second.pk != first.pk and ImageRecord.objects.count() == 2
    # Other bytes of the same picture (re-encoded) are another file, not a duplicate.
    store(alice, data=image_bytes(make_photo(seed=21), "JPEG", quality=80))


def test_another_users_same_photo_is_not_detected_and_their_digests_are_unrelated(alice, bob):
    mine = store(alice)
    theirs = store(bob)  # the same bytes, stored: no DuplicateImage across accounts
    assert ImageRecord.objects.filter(owner=bob).get() == theirs
    assert mine.duplicate_mac != theirs.duplicate_mac


def test_the_database_holds_no_unkeyed_digest_of_the_upload(alice):
    record = store(alice)
    plain = [hashlib.new(name, PHOTO).hexdigest() for name in ("md5", "sha1", "sha256", "sha512", "blake2b", "sha3_256")]
    raw = [hashlib.new(name, PHOTO).digest() for name in ("md5", "sha1", "sha256", "sha512")]
    assert scan_database(plain, raw) == []
    # What is stored is keyed by the owner's master key: nobody without it can compute it for a
    # photo they hold, and a random key gives another value.
    assert record.duplicate_mac == duplicate_digest(PHOTO, master_key=alice.master_key)
    assert record.duplicate_mac != duplicate_digest(PHOTO, master_key=crypto.new_master_key())
    # Not the image's own integrity digest either (that one is keyed per image).
    assert record.duplicate_mac != record.original_mac


def test_the_api_answers_409_with_the_existing_id_unless_duplicates_are_allowed(api, alice):
    created = upload(api, PHOTO, name="a.jpg")
    assert created.status_code == 202
    again = upload(api, PHOTO, name="b.jpg")
    body = again.json()
    assert again.status_code == 409 and body["existing_id"] == created.json()["id"] and body["existing_in_trash"] is False
    assert "'b.jpg' is already in your vault as 'a.jpg'" in body["detail"]
    kept = upload(api, PHOTO, name="b.jpg", allow_duplicate="true")
    assert kept.status_code == 202 and kept.json()["id"] != created.json()["id"]
    # An Idempotency-Key retry is still the first upload (200), not a duplicate (409).
    def keyed():
        payload = {"file": SimpleUploadedFile("c.jpg", image_bytes(make_photo(seed=22)))}
        return api.post(IMAGES, payload, format="multipart", HTTP_IDEMPOTENCY_KEY="k-1")

    first, retry = keyed(), keyed()
    assert (first.status_code, retry.status_code) == (202, 200) and retry.json()["id"] == first.json()["id"]


def test_the_upload_page_offers_the_existing_image_and_keeping_both(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    first = store(alice, name="a.jpg")
    response = post_upload(client, ("again.jpg", PHOTO))
    html = response.content.decode()
    assert response.status_code == 409 and ImageRecord.objects.count() == 1
    assert reverse("vault:detail", args=[first.pk]) in html and "'again.jpg'" in html and "Keep a second copy" in html
    kept = post_upload(client, ("again.jpg", PHOTO), allow_duplicate="on")
    assert kept.status_code == 302 and ImageRecord.objects.count() == 2


def test_a_batch_stores_the_new_files_and_links_the_duplicates(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    first = store(alice, name="a.jpg")
    response = post_upload(client, ("again.jpg", PHOTO), ("new.jpg", image_bytes(make_photo(seed=23), "JPEG")), follow=True)
    assert ImageRecord.objects.filter(name="new.jpg").exists() and not ImageRecord.objects.filter(name="again.jpg").exists()
    html = response.content.decode()
    link = f'<a href="{reverse("vault:detail", args=[first.pk])}">'
    assert f"Not stored again: 'again.jpg' is already in your vault as {link}'a.jpg'</a>" in html  # a link, not escaped markup


def test_a_file_name_with_markup_is_escaped_in_the_duplicate_message(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    store(alice, name="a.jpg")
    response = post_upload(client, ("<i>x.jpg", PHOTO), ("new.jpg", image_bytes(make_photo(seed=24), "JPEG")), follow=True)
    html = response.content.decode()
    assert "<i>x.jpg" not in html and "'&lt;i&gt;x.jpg' is already in your vault" in html
