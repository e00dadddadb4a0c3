"""The trash (vault/images/trash.py): deleting moves an image there for 30 days, restorable from
the Trash page and the API, still counted in the quota, left out of the lists, its shares closed;
the periodic task deletes it for good once its time is up, and "Empty trash now" at once."""
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import create_api_token
from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import tasks, uploads
from vault.errors import JobLimit
from vault.images.trash import empty_trash, move_to_trash
from vault.models import ImageRecord

from .test_api_images import IMAGES, PASSWORD, alice, api, bob  # noqa: F401 - fixtures too
from .vault_helpers import token_client
from .vault_helpers import files_under, login_unlocked

pytestmark = pytest.mark.django_db


def store(owner, seed=0, name="photo.png"):
    record, _ = uploads.store_image(owner=owner, master_key=owner.master_key,
                                    uploaded_file_or_bytes=image_bytes(make_photo(seed=seed)), filename=name, codec="png")
    return record


@pytest.fixture
def browser(alice):
    return login_unlocked(Client(), "alice", PASSWORD)


def listed(api, **query):
    return [item["id"] for item in api.get(IMAGES, query).json()["results"]]


def test_deleting_on_the_page_moves_to_the_trash_and_restoring_brings_it_back(browser, alice, _isolated_storage):
    store(alice, 0, "kept.png")
    trashed = store(alice, 1, "trashed.png")
    response = browser.post(reverse("vault:delete", args=[trashed.pk]))
    assert response.status_code == 302
    gallery = browser.get(reverse("vault:gallery"))
    assert [r.name for r in gallery.context["records"]] == ["kept.png"] and "Trash (1)" in gallery.content.decode()
    trash = browser.get(reverse("vault:trash")).content.decode()
    trashed.refresh_from_db()
    assert "trashed.png" in trash and "kept.png" not in trash
    assert f"{trashed.purge_after:%Y-%m-%d %H:%M}" in trash
    assert trashed.purge_after - trashed.trashed_at == timedelta(days=30)
    assert len(files_under(_isolated_storage)) == 6  # nothing deleted yet
    assert "In your" in browser.get(reverse("vault:detail", args=[trashed.pk])).content.decode()

    response = browser.post(reverse("vault:restore", args=[trashed.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("vault:trash")
    assert [r.name for r in browser.get(reverse("vault:gallery")).context["records"]] == ["trashed.png", "kept.png"]
    actions = list(AuditEvent.objects.filter(record_id=trashed.pk).values_list("action", flat=True))
    assert AuditEvent.Action.TRASHED in actions and AuditEvent.Action.RESTORED in actions


def test_the_api_delete_trashes_lists_the_trash_on_request_and_restores(api, alice):
    record = store(alice)
    assert api.delete(f"{IMAGES}{record.pk}/").status_code == 204
    assert api.delete(f"{IMAGES}{record.pk}/").status_code == 204  # again: still in the trash, same date
    assert listed(api) == []
    body = api.get(IMAGES, {"trash": "true"}).json()["results"]
    assert [item["id"] for item in body] == [record.pk] and body[0]["trashed_at"] and body[0]["purge_after"]
    assert api.get(f"{IMAGES}{record.pk}/download/?variant=original").status_code == 200  # still yours to look at
    restored = api.post(f"{IMAGES}{record.pk}/restore/")
    assert restored.status_code == 200 and restored.json()["trashed_at"] is None
    assert listed(api) == [record.pk] and listed(api, trash="true") == []


def test_a_read_only_token_can_neither_trash_nor_restore(alice):
    record = store(alice)
    _token, plaintext = create_api_token(user=alice, name="read", scope="read", master_key=alice.master_key)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert reader.delete(f"{IMAGES}{record.pk}/").status_code == 403
    assert reader.post(f"{IMAGES}{record.pk}/restore/").status_code == 403
    assert reader.post(f"{IMAGES}trash/empty/").status_code == 403
    record.refresh_from_db()
    assert not record.in_trash


def test_the_periodic_task_deletes_only_what_has_been_in_the_trash_30_days(
    alice, monkeypatch, _isolated_storage, django_capture_on_commit_callbacks
):
    assert any(entry["task"] == "vault.empty_expired_trash" for entry in settings.CELERY_BEAT_SCHEDULE.values())
    kept, trashed = store(alice, 0), store(alice, 1)
    move_to_trash(record=trashed)
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(days=29, hours=23))
    assert tasks.empty_expired_trash() == 0
    assert ImageRecord.objects.filter(pk=trashed.pk).exists()
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(days=30, minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.empty_expired_trash() == 1
    assert list(ImageRecord.objects.all()) == [kept]
    assert len(files_under(_isolated_storage)) == 3  # only the kept image's blobs
    event = AuditEvent.objects.get(action=AuditEvent.Action.DELETE, record_id=trashed.pk)
    assert "30 days in the trash" in event.detail


def test_the_trash_counts_in_the_quota_until_it_is_emptied(alice, settings, django_capture_on_commit_callbacks):
    first = store(alice, 0)
    settings.USER_QUOTA_BYTES = first.original_size + (first.compressed_size or 0) + 10
    move_to_trash(record=first)
    with pytest.raises(JobLimit) as full:
        store(alice, 1)
    assert full.value.status == 413
    with django_capture_on_commit_callbacks(execute=True):
        assert empty_trash(owner=alice) == 1
    assert store(alice, 1).pk


def test_an_images_shares_stop_opening_in_the_trash_and_open_again_once_restored(api, alice):
    record = store(alice)
    share = api.post(f"{IMAGES}{record.pk}/shares/", {}, format="json").json()
    stranger = APIClient()
    retrieve = f"/api/v1/shares/{share['id']}/retrieve/"
    assert stranger.post(retrieve, {"key": share["key"]}, format="json").status_code == 200
    api.delete(f"{IMAGES}{record.pk}/")
    gone = stranger.post(retrieve, {"key": share["key"]}, format="json")
    assert gone.status_code == 404 and gone.json()["detail"].startswith("This share link does not exist")
    api.post(f"{IMAGES}{record.pk}/restore/")
    assert stranger.post(retrieve, {"key": share["key"]}, format="json").status_code == 200


def test_empty_trash_now_on_the_page_and_the_api_deletes_only_the_trash(
    browser, api, alice, _isolated_storage, django_capture_on_commit_callbacks
):
    kept, *trashed = [store(alice, seed) for seed in range(4)]
    for record in trashed[:2]:
        browser.post(reverse("vault:delete", args=[record.pk]))
    confirm = browser.get(reverse("vault:trash-empty"))
    assert confirm.status_code == 200 and "Delete 2 images for good" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post(reverse("vault:trash-empty")).status_code == 302
    assert set(ImageRecord.objects.values_list("pk", flat=True)) == {kept.pk, trashed[2].pk}
    api.delete(f"{IMAGES}{trashed[2].pk}/")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{IMAGES}trash/empty/")
    assert response.status_code == 200 and response.json() == {"deleted": 1}
    assert list(ImageRecord.objects.all()) == [kept] and len(files_under(_isolated_storage)) == 3


def test_another_users_trash_is_not_mine(api, alice, bob):
    theirs = store(bob, 5)
    assert api.post(f"{IMAGES}{theirs.pk}/restore/").status_code == 404
    bob_api = token_client("bob", PASSWORD)
    bob_api.delete(f"{IMAGES}{theirs.pk}/")
    assert api.get(IMAGES, {"trash": "true"}).json()["results"] == []
    assert api.post(f"{IMAGES}trash/empty/").json() == {"deleted": 0}
    assert ImageRecord.objects.filter(pk=theirs.pk).exists()


def test_an_upload_of_a_photo_in_the_trash_points_to_the_trash(browser, alice):
    record = store(alice, 3, "old.png")
    browser.post(reverse("vault:delete", args=[record.pk]))
    response = browser.post(reverse("vault:upload"), {
        "codec": "png", "target": "balanced", "custom_target": "", "quality": "",
        "file": SimpleUploadedFile("again.png", image_bytes(make_photo(seed=3)), content_type="image/png"),
    })
    html = response.content.decode()
    assert response.status_code == 409 and "in your trash" in html and reverse("vault:trash") in html
