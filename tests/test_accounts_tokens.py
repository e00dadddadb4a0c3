"""API tokens: the profile page, token authentication, and the token endpoint."""
import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.selectors import api_tokens_for_user
from accounts.services import create_api_token, revoke_api_token
from audit.models import AuditEvent
from .vault_helpers import login_unlocked, vault_user

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "correct-Horse-battery-9"
TOKEN_URL = "/api/v1/auth/token/"
WHOAMI_URL = "/api/test/whoami/"


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD, email="alice@example.com")


@pytest.fixture
def bob():
    return vault_user("bob", PASSWORD, email="bob@example.com")


@pytest.fixture
def test_urls(settings):
    # The real portal URLs plus one token-protected endpoint that exists only for these tests.
    settings.ROOT_URLCONF = "tests.accounts_urls"


def dump_database_text() -> str:
    """Every value of every table, as text, to search for secrets that must not be stored."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


# --- services -----------------------------------------------------------------------------------


def test_create_api_token_stores_only_a_sha256_digest_and_a_short_prefix(alice):
    token, plaintext = create_api_token(user=alice, name="laptop")
    assert len(plaintext) >= 43  # 32 random bytes, url-safe base64
    token.refresh_from_db()
    assert token.digest == hashlib.sha256(plaintext.encode()).hexdigest()
    assert token.prefix == plaintext[:8]
    assert token.name == "laptop"
    assert plaintext not in dump_database_text()


def test_tokens_are_unique(alice, settings):
    settings.API_TOKEN_MAX_PER_USER = 20  # above the default limit, which is tested on its own
    plaintexts = {create_api_token(user=alice, name=f"t{i}")[1] for i in range(20)}
    assert len(plaintexts) == 20


def test_create_api_token_refuses_an_empty_name(alice):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        create_api_token(user=alice, name="   ")
    assert not ApiToken.objects.exists()


def test_revoking_another_users_token_is_a_404_and_keeps_it(alice, bob):
    from django.http import Http404

    token, _ = create_api_token(user=alice, name="mine")
    with pytest.raises(Http404):
        revoke_api_token(user=bob, token_id=token.pk)
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_token_creation_and_revocation_are_audited_without_the_token(alice):
    token, plaintext = create_api_token(user=alice, name="ci")
    revoke_api_token(user=alice, token_id=token.pk)
    created = AuditEvent.objects.get(action=AuditEvent.Action.TOKEN_CREATED)
    revoked = AuditEvent.objects.get(action=AuditEvent.Action.TOKEN_REVOKED)
    assert created.actor == alice and revoked.actor == alice
    assert '"ci"' in created.detail
    assert plaintext not in created.detail + revoked.detail
    assert token.prefix not in created.detail + revoked.detail


def test_selector_lists_only_the_users_tokens(alice, bob):
    create_api_token(user=alice, name="a1")
    create_api_token(user=bob, name="b1")
    assert [t.name for t in api_tokens_for_user(user=alice)] == ["a1"]


# --- profile page -------------------------------------------------------------------------------


def test_profile_requires_login(client):
    response = client.get(reverse("profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_profile_lists_only_the_users_own_tokens(client, alice, bob):
    create_api_token(user=alice, name="alice-laptop")
    bobs, _ = create_api_token(user=bob, name="bob-server")
    client.force_login(alice)
    html = client.get(reverse("profile")).content.decode()
    assert "alice-laptop" in html
    assert "bob-server" not in html
    assert bobs.prefix not in html


def test_profile_shows_a_new_token_once_and_never_again(client, alice):
    login_unlocked(client, "alice", PASSWORD)  # the token wraps the vault key: the vault must be open
    response = client.post(reverse("token-create"), {"name": "script"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=alice)
    html = response.content.decode()
    plaintext = html.split('id="new-token-value"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert hashlib.sha256(plaintext.encode()).hexdigest() == token.digest
    assert "shown only this once" in html

    again = client.get(reverse("profile")).content.decode()
    assert "script" in again and token.prefix in again
    assert plaintext not in again
    assert plaintext not in dump_database_text()  # not in the session table either


def test_profile_token_form_without_a_name_shows_an_error(client, alice):
    login_unlocked(client, "alice", PASSWORD)  # a password typed just now: no step-up prompt
    response = client.post(reverse("token-create"), {"name": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_profile_revokes_the_users_token(client, alice):
    token, _ = create_api_token(user=alice, name="old")
    client.force_login(alice)
    response = client.post(reverse("token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_profile_revoking_another_users_token_is_404(client, alice, bob):
    token, _ = create_api_token(user=bob, name="bobs")
    client.force_login(alice)
    response = client.post(reverse("token-revoke", args=[token.pk]))
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_profile_revoke_is_post_only(client, alice):
    token, _ = create_api_token(user=alice, name="keep")
    client.force_login(alice)
    assert client.get(reverse("token-revoke", args=[token.pk])).status_code == 405
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_profile_token_forms_are_csrf_protected(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.get(reverse("login"))
    login_unlocked(strict, "alice", PASSWORD, csrfmiddlewaretoken=strict.cookies["csrftoken"].value)
    refused = strict.post(reverse("token-create"), {"name": "sneaky"})
    assert refused.status_code == 403
    assert not ApiToken.objects.exists()

    token, _ = create_api_token(user=alice, name="keep")
    assert strict.post(reverse("token-revoke", args=[token.pk])).status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()

    strict.get(reverse("profile"))
    csrf = strict.cookies["csrftoken"].value
    ok = strict.post(reverse("token-create"), {"name": "fine", "csrfmiddlewaretoken": csrf})
    assert ok.status_code == 200
    assert ApiToken.objects.filter(name="fine").exists()


# --- API: obtaining a token -------------------------------------------------------------------


def test_obtain_token_with_good_credentials_returns_a_working_token(alice, test_urls):
    api = APIClient()
    response = api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    plaintext = response.json()["token"]
    token = ApiToken.objects.get(user=alice)
    assert token.name == "api"
    assert token.digest == hashlib.sha256(plaintext.encode()).hexdigest()

    api.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    me = api.get(WHOAMI_URL)
    assert me.status_code == 200
    assert me.json() == {"username": "alice", "auth": "ApiToken"}
    assert plaintext not in dump_database_text()


def test_obtain_token_accepts_form_encoded_credentials(alice):
    response = Client().post(TOKEN_URL, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert "token" in response.json()


def test_obtain_token_with_a_wrong_password_is_400_with_a_detail(alice):
    response = APIClient().post(TOKEN_URL, {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Unable to log in with the provided username and password."
    assert not ApiToken.objects.exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert '"alice"' in event.detail


def test_obtain_token_with_missing_fields_is_400_naming_them(alice):
    response = APIClient().post(TOKEN_URL, {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["detail"]


def test_obtain_token_needs_no_csrf_token(alice):
    strict = APIClient(enforce_csrf_checks=True)
    strict.force_login(alice)  # a session cookie must not turn CSRF checking on
    response = strict.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_obtain_token_is_locked_out_by_axes_with_a_json_429(alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    api = APIClient()
    first = api.post(TOKEN_URL, {"username": "alice", "password": "bad-1"}, format="json")
    second = api.post(TOKEN_URL, {"username": "alice", "password": "bad-2"}, format="json")
    assert first.status_code == 400
    assert second.status_code == 429

    locked = api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert "Too many failed login attempts" in locked.json()["detail"]
    assert "15 minutes" in locked.json()["detail"]
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOCKOUT).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).count() == 3


def test_a_successful_token_request_resets_the_failure_count(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    api = APIClient()
    for _ in range(2):
        api.post(TOKEN_URL, {"username": "alice", "password": "bad"}, format="json")
    assert api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json").status_code == 200
    for _ in range(2):
        api.post(TOKEN_URL, {"username": "alice", "password": "bad"}, format="json")
    assert api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json").status_code == 200


# --- API: token authentication ----------------------------------------------------------------


def test_unauthenticated_api_call_is_401_with_www_authenticate(test_urls):
    response = APIClient().get(WHOAMI_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["detail"]


@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token", "Token a b"])
def test_bad_token_headers_are_401(test_urls, alice, header):
    response = APIClient().get(WHOAMI_URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_revoked_token_is_401(test_urls, alice):
    token, plaintext = create_api_token(user=alice, name="soon-gone")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert api.get(WHOAMI_URL).status_code == 200
    revoke_api_token(user=alice, token_id=token.pk)
    response = api.get(WHOAMI_URL)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked API token."


def test_a_token_of_a_deactivated_user_is_401(test_urls, alice):
    _, plaintext = create_api_token(user=alice, name="t")
    alice.is_active = False
    alice.save()
    response = APIClient().get(WHOAMI_URL, HTTP_AUTHORIZATION=f"Token {plaintext}")
    assert response.status_code == 401


def test_using_a_token_records_last_used(test_urls, alice):
    token, plaintext = create_api_token(user=alice, name="t")
    assert token.last_used is None
    APIClient().get(WHOAMI_URL, HTTP_AUTHORIZATION=f"Token {plaintext}")
    token.refresh_from_db()
    assert token.last_used is not None
