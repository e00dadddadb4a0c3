"""API token policy: expiry, idle expiry, a per-user limit, read-only scope, and revocation when
the password changes or is reset."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import create_api_token
from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from tests.vault_helpers import login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-Horse-battery-9"
NEW_PASSWORD = "another-Horse-staple-42"
IMAGES = "/api/v1/images/"


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD, email="alice@example.com")


def api_with(plaintext) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    return client


def test_a_new_token_expires_after_the_configured_lifetime(alice, settings):
    settings.API_TOKEN_LIFETIME = timedelta(days=90)
    before = timezone.now()
    token, _ = create_api_token(user=alice, name="laptop")
    assert before + timedelta(days=90) <= token.expires <= timezone.now() + timedelta(days=90)


def test_an_expired_token_is_refused_with_a_message_saying_so(alice):
    token, plaintext = create_api_token(user=alice, name="old")
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    response = api_with(plaintext).get(IMAGES)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_unused_for_longer_than_the_idle_timeout_is_refused(alice, settings):
    settings.API_TOKEN_IDLE_TIMEOUT = timedelta(days=30)
    token, plaintext = create_api_token(user=alice, name="idle")
    ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now() - timedelta(days=31))
    response = api_with(plaintext).get(IMAGES)
    assert response.status_code == 401
    assert "unused for more than 30 days" in response.json()["detail"]
    # Recently used, the same token works.
    ApiToken.objects.filter(pk=token.pk).update(last_used=timezone.now() - timedelta(days=29))
    assert api_with(plaintext).get(IMAGES).status_code == 200


def test_a_user_cannot_hold_more_than_the_token_limit(alice, settings):
    settings.API_TOKEN_MAX_PER_USER = 3
    for i in range(3):
        create_api_token(user=alice, name=f"t{i}")
    with pytest.raises(ValidationError, match="already have 3 API tokens"):
        create_api_token(user=alice, name="one too many")
    assert ApiToken.objects.filter(user=alice).count() == 3


def test_expired_tokens_do_not_count_towards_the_limit(alice, settings):
    settings.API_TOKEN_MAX_PER_USER = 2
    old, _ = create_api_token(user=alice, name="old")
    create_api_token(user=alice, name="current")
    ApiToken.objects.filter(pk=old.pk).update(expires=timezone.now() - timedelta(days=1))
    create_api_token(user=alice, name="new")
    assert sorted(ApiToken.objects.filter(user=alice).values_list("name", flat=True)) == ["current", "new"]


def test_the_token_endpoint_answers_400_with_the_limit_message(alice, settings):
    settings.API_TOKEN_MAX_PER_USER = 1
    client = APIClient()
    first = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert first.status_code == 200 and first.json()["scope"] == "read_write"
    second = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert second.status_code == 400
    assert "the most allowed" in second.json()["detail"]


def test_a_read_only_token_can_list_and_download_but_not_upload_or_delete(alice):
    _, writer = create_api_token(user=alice, name="writer", master_key=alice.master_key)
    created = api_with(writer).post(
        IMAGES, {"file": _png_upload(), "codec": "png"}, format="multipart"
    )
    assert created.status_code == 202, created.content
    record_id = created.json()["id"]

    token, reader_plaintext = create_api_token(
        user=alice, name="reader", scope=ApiToken.Scope.READ, master_key=alice.master_key
    )
    reader = api_with(reader_plaintext)
    assert reader.get(IMAGES).json()["count"] == 1
    download = reader.get(f"{IMAGES}{record_id}/download/", {"variant": "original"})
    assert download.status_code == 200, download.content

    refused = reader.post(IMAGES, {"file": _png_upload(), "codec": "png"}, format="multipart")
    assert refused.status_code == 403
    assert "read-only" in refused.json()["detail"]
    assert reader.delete(f"{IMAGES}{record_id}/").status_code == 403
    assert api_with(writer).get(f"{IMAGES}{record_id}/").status_code == 200


def test_the_token_endpoint_issues_a_read_only_token_on_request(alice):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD, "scope": "read"}, format="json"
    )
    assert response.status_code == 200
    assert ApiToken.objects.get(user=alice).scope == ApiToken.Scope.READ


def test_changing_the_password_revokes_every_token(alice):
    _, plaintext = create_api_token(user=alice, name="a")
    create_api_token(user=alice, name="b")
    browser = login_unlocked(Client(), "alice", PASSWORD)
    response = browser.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=alice).exists()
    assert api_with(plaintext).get(IMAGES).status_code == 401
    assert AuditEvent.objects.filter(action=AuditEvent.Action.TOKEN_REVOKED, detail__contains="password changed").exists()


def test_resetting_the_password_revokes_every_token(alice):
    create_api_token(user=alice, name="a")
    browser = Client()
    browser.post(reverse("password_reset"), {"email": "alice@example.com"})
    link = re.search(r"/accounts/reset/[^/]+/[^/]+/", mail.outbox[0].body).group(0)
    form_url = browser.get(link, follow=True).redirect_chain[-1][0]
    response = browser.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD,
                                       "recovery_key": alice.recovery_key})
    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=alice).exists()


def test_a_rehash_of_the_same_password_keeps_the_tokens(alice):
    # Django re-saves the hash of an unchanged password when hashers change; that is no change.
    create_api_token(user=alice, name="a")
    alice.set_password(PASSWORD)
    alice.save(update_fields=["password"])
    assert ApiToken.objects.filter(user=alice).count() == 1
    alice.last_name = "Liddell"
    alice.save()
    assert ApiToken.objects.filter(user=alice).count() == 1


def _png_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("p.png", image_bytes(make_photo()), content_type="image/png")
