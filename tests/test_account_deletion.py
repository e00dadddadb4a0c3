"""Deleting an account (accounts/deletion.py, the profile's "Delete my account"): after the password
is entered again, every blob, wrap, share, token and record of the user goes, and one audit event
without personal content says so."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import uploads
from vault.images.shares import create_share
from vault.images.trash import move_to_trash
from vault.models import ImageRecord, Share, UserRetrievalGuard, UserVault

from .vault_helpers import files_under, login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
DELETE = reverse("account-delete")


def store(owner, seed, name):
    record, _ = uploads.store_image(owner=owner, master_key=owner.master_key,
                                    uploaded_file_or_bytes=image_bytes(make_photo(seed=seed)), filename=name, codec="webp")
    return record


@pytest.fixture
def alice():
    user = vault_user("alice", PASSWORD)
    kept, trashed = store(user, 1, "holiday in Lisbon.png"), store(user, 2, "old.png")
    move_to_trash(record=trashed)
    create_share(record=kept, master_key=user.master_key, label="for mum")
    UserRetrievalGuard.objects.create(user=user, failed_attempts=1)
    return user


@pytest.fixture
def bob():
    user = vault_user("bob", PASSWORD)
    store(user, 3, "bob.png")
    return user


def api_token(username) -> str:
    response = APIClient().post("/api/v1/auth/token/", {"username": username, "password": PASSWORD}, format="json")
    return response.json()["token"]


def test_a_wrong_password_or_no_confirmation_deletes_nothing(alice, _isolated_storage):
    client = login_unlocked(Client(), "alice", PASSWORD)
    page = client.get(DELETE)
    assert page.status_code == 200 and "Export your vault" in page.content.decode()
    wrong = client.post(DELETE, {"password": "not it", "confirm": "on"})
    assert wrong.status_code == 400 and "That password is not right." in wrong.content.decode()
    unconfirmed = client.post(DELETE, {"password": PASSWORD})
    assert unconfirmed.status_code == 400
    assert get_user_model().objects.filter(username="alice").exists()
    assert ImageRecord.objects.filter(owner=alice).count() == 2 and len(files_under(_isolated_storage)) == 6
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ACCOUNT_DELETED).exists()


def test_deleting_the_account_leaves_no_blob_and_no_row(alice, bob, _isolated_storage, django_capture_on_commit_callbacks):
    token = api_token("alice")
    client = login_unlocked(Client(), "alice", PASSWORD)
    bobs_files = {p for p in files_under(_isolated_storage) if f"/{ImageRecord.objects.get(owner=bob).pk}/" in str(p)}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DELETE, {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("vault:landing")

    assert set(files_under(_isolated_storage)) == bobs_files  # alice's six blobs are gone, bob's three stay
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["bob"]
    assert list(ImageRecord.objects.values_list("owner__username", flat=True)) == ["bob"]
    assert list(UserVault.objects.values_list("user__username", flat=True)) == ["bob"]
    # alice's only: her share (and its wrap), her token (and its wrap of her master key), her guard.
    assert not Share.objects.exists() and not ApiToken.objects.exists() and not UserRetrievalGuard.objects.exists()

    # The browser is logged out and the token opens nothing.
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("vault:gallery")).status_code == 302
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert stale.get("/api/v1/images/").status_code == 401


def test_the_deletion_is_audited_without_personal_content(alice, django_capture_on_commit_callbacks):
    client = login_unlocked(Client(), "alice", PASSWORD, REMOTE_ADDR="203.0.113.9")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(DELETE, {"password": PASSWORD, "confirm": "on"}, REMOTE_ADDR="203.0.113.9")
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACCOUNT_DELETED)
    assert event.actor is None and event.actor_username == "" and event.ip is None
    assert event.record_id is None and event.record_name == ""
    assert "alice" not in event.detail and "Lisbon" not in event.detail and "mum" not in event.detail
    assert "2 image(s)" in event.detail and "1 share(s)" in event.detail


def test_the_profile_links_to_the_deletion_and_the_export(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    html = client.get(reverse("profile")).content.decode()
    assert DELETE in html and reverse("vault:export") in html and reverse("vault:trash") in html
    assert Client().get(DELETE).status_code == 302  # anonymous: to the login page
