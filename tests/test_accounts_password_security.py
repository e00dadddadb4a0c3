"""Password checks and the vault, after the review that attacked a running instance (issue 24):
a password change is atomic with the vault's re-wrap whatever the login lockout does, every
password check spends one budget per account and client, and a session alone (a copied cookie
pair) cannot mint tokens, replace the recovery key or share without a recent password."""
import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import keyring
from vault.models import Share, UserVault
from .vault_helpers import KEY_RE, login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
NEW_PASSWORD = "another-Strong-pass-42"


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD, email="alice@example.com")


def change(client, old, new=NEW_PASSWORD):
    return client.post(reverse("password_change"), {"old_password": old, "new_password1": new, "new_password2": new})


def wrong_logins(count, username="alice", **client_kwargs):
    stranger = Client(**client_kwargs)  # same address as the test client: 127.0.0.1
    for i in range(count):
        stranger.post(reverse("login"), {"username": username, "password": f"wrong-{i}"})


def forget_recent_password(client):
    """As if the password was typed long ago (the session itself is still alive)."""
    session = client.session
    session["recent_auth_at"] = int(time.time()) - 3600
    session.save()


def stolen_pair(client) -> Client:
    """A second browser holding copies of the session and vault cookies."""
    thief = Client()
    for name, morsel in client.cookies.items():
        thief.cookies[name] = morsel.value
    return thief


# --- finding 1: a password change under a login lockout ------------------------------------------


def test_a_password_change_during_a_login_lockout_is_refused_cleanly_and_changes_nothing(alice, settings):
    settings.AXES_FAILURE_LIMIT = 5
    client = login_unlocked(Client(), "alice", PASSWORD)
    wrong_logins(5)  # anyone behind the same address
    response = change(client, PASSWORD)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "Nothing was changed" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)  # the password did not change...
    assert keyring.unlock_with_password(user=alice, password=PASSWORD) == alice.master_key  # ...and still opens the vault


def test_a_password_change_from_another_address_during_that_lockout_rewraps_the_vault(alice, settings):
    settings.AXES_FAILURE_LIMIT = 5
    wrong_logins(5)  # from 127.0.0.1: locks that address only, not the account
    elsewhere = login_unlocked(Client(REMOTE_ADDR="10.0.0.7"), "alice", PASSWORD)
    assert change(elsewhere, PASSWORD).status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert keyring.unlock_with_password(user=alice, password=NEW_PASSWORD) == alice.master_key


def test_a_password_change_whose_rewrap_fails_changes_neither_the_password_nor_the_vault(alice, monkeypatch):
    client = login_unlocked(Client(raise_request_exception=False), "alice", PASSWORD)
    before = bytes(UserVault.objects.get(user=alice).password_wrap)
    real = keyring.record_event

    def failing(**kwargs):
        if kwargs.get("action") == AuditEvent.Action.VAULT_REWRAPPED:
            raise RuntimeError("database went away mid-change")
        return real(**kwargs)

    monkeypatch.setattr(keyring, "record_event", failing)
    assert change(client, PASSWORD).status_code == 500
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert bytes(UserVault.objects.get(user=alice).password_wrap) == before
    assert keyring.unlock_with_password(user=alice, password=PASSWORD) == alice.master_key


def test_a_reset_with_the_recovery_key_sets_the_password_and_the_wrap_together(alice):
    keyring.set_password_and_rewrap(user=alice, password=NEW_PASSWORD, master_key=alice.master_key, why="test")
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert keyring.unlock_with_password(user=alice, password=NEW_PASSWORD) == alice.master_key


# --- finding 3: one budget for every password check ---------------------------------------------


def test_the_change_form_locks_after_n_wrong_old_passwords_and_so_does_the_unlock_page(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = login_unlocked(Client(), "alice", PASSWORD)
    statuses = [change(client, f"guess-{i}").status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    right = change(client, PASSWORD)
    assert right.status_code == 429  # the lockout refuses the attempt before checking it
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    # The same budget: the unlock page and the login are locked for this address too.
    client.post(reverse("vault:lock-vault"))
    unlock = client.post(reverse("vault:unlock-vault"), {"method": "password", "password": PASSWORD})
    assert unlock.status_code == 429 and "Too many wrong passwords" in unlock.content.decode()
    assert Client().post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 429
    # Another address is not locked out: the lock is on the attempt, never on the account or its data.
    assert login_unlocked(Client(REMOTE_ADDR="10.0.0.7"), "alice", PASSWORD)
    failed = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED, detail__contains="password change")
    assert failed.count() == 3 and all('"alice"' in e.detail for e in failed)


def test_guesses_on_the_unlock_page_and_the_change_form_add_up(alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = login_unlocked(Client(), "alice", PASSWORD)
    client.post(reverse("vault:lock-vault"))
    assert client.post(reverse("vault:unlock-vault"), {"method": "password", "password": "guess"}).status_code == 403
    assert change(client, "another guess").status_code == 429


def test_wrong_passwords_typed_into_the_forms_are_not_kept_in_clear_by_the_lockout(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    change(client, "typo-of-the-Real-password")
    client.post(reverse("vault:unlock-vault"), {"method": "recovery", "recovery-recovery_key": alice.recovery_key,
                                                "recovery-password": "another-Typo-of-it"})
    stored = " ".join(a.post_data for a in AccessAttempt.objects.all())
    assert stored  # axes did record the attempts...
    for secret in ("typo-of-the-Real-password", "another-Typo-of-it", alice.recovery_key, NEW_PASSWORD):
        assert secret not in stored  # ...with every password and key field masked


def test_a_wrong_recovery_key_on_the_reset_form_spends_the_same_budget(alice, settings):
    from vault import crypto
    from vault.errors import PasswordLocked

    settings.AXES_FAILURE_LIMIT = 2
    request = Client().get("/").wsgi_request
    wrong = crypto.format_retrieval_key(crypto.new_retrieval_key())
    with pytest.raises(keyring.WrongSecret):
        keyring.unlock_with_recovery_key(user=alice, recovery_key=wrong, request=request)
    with pytest.raises(PasswordLocked):
        keyring.unlock_with_recovery_key(user=alice, recovery_key=wrong, request=request)
    with pytest.raises(PasswordLocked):  # locked: even the right key waits
        keyring.unlock_with_recovery_key(user=alice, recovery_key=alice.recovery_key, request=request)


# --- finding 2: a copied cookie pair and step-up ------------------------------------------------


def test_a_copied_session_without_a_recent_password_cannot_mint_a_token_replace_the_recovery_key_or_share(alice):
    victim = login_unlocked(Client(), "alice", PASSWORD)
    victim.post(reverse("vault:upload"), {"codec": "png", "target": "balanced",
                                          "file": SimpleUploadedFile("p.png", image_bytes(make_photo()))})
    record = alice.image_records.get()
    forget_recent_password(victim)
    thief = stolen_pair(victim)
    assert thief.get(reverse("vault:file", args=[record.pk, "thumbnail"])).status_code == 200  # the pair works (as documented)

    token = thief.post(reverse("token-create"), {"name": "mine now"})
    assert token.status_code == 403 and "Confirm it is you" in token.content.decode()
    # A new recovery key asks the password every time, step-up window or not.
    recovery = thief.post(reverse("vault:regenerate-recovery-key"), {"understood": "on", "password": "a guess"})
    assert recovery.status_code == 403 and not KEY_RE.search(recovery.content.decode())
    share = thief.post(reverse("vault:share-create", args=[record.pk]), {"expires_in_days": "7"})
    assert share.status_code == 403
    guessed = thief.post(reverse("token-create"), {"name": "mine now", "stepup_password": "a guess"})
    assert guessed.status_code == 403 and "not right" in guessed.content.decode()
    assert not ApiToken.objects.exists() and not Share.objects.exists()
    assert keyring.unlock_with_recovery_key(user=alice, recovery_key=alice.recovery_key) == alice.master_key


def test_the_prompt_asks_on_the_spot_and_the_action_goes_on_with_the_password(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    forget_recent_password(client)
    prompt = client.post(reverse("token-create"), {"name": "laptop", "scope": "read"})
    html = prompt.content.decode()
    assert 'name="stepup_password"' in html and 'value="laptop"' in html and 'value="read"' in html
    assert "no-store" in prompt["Cache-Control"]
    done = client.post(reverse("token-create"), {"name": "laptop", "scope": "read", "stepup_password": PASSWORD})
    assert done.status_code == 200 and "Your new API token" in done.content.decode()
    token = ApiToken.objects.get()
    assert token.name == "laptop" and token.scope == "read"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.STEP_UP, actor=alice).exists()
    # Remembered for a few minutes: the next sensitive action is not asked again.
    assert client.post(reverse("token-create"), {"name": "desktop", "scope": "read"}).status_code == 200


def test_a_new_token_and_a_new_recovery_key_are_told_to_the_owner(alice, django_capture_on_commit_callbacks):
    client = login_unlocked(Client(), "alice", PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("token-create"), {"name": "script"})
    client.post(reverse("vault:regenerate-recovery-key"), {"understood": "on", "password": PASSWORD})
    subjects = [m.subject for m in mail.outbox]
    assert any("new API token" in s for s in subjects) and any("recovery key was replaced" in s for s in subjects)
    assert all(m.to == ["alice@example.com"] for m in mail.outbox)
    assert not any(KEY_RE.search(m.body) for m in mail.outbox)  # never the key itself
    profile = client.get(reverse("profile")).content.decode()
    assert "Recent security events" in profile and "script" in profile and "Recovery key regenerated" in profile


def test_a_page_that_is_only_opened_asks_and_comes_back(alice, settings):
    settings.ROOT_URLCONF = "tests.accounts_urls"
    client = login_unlocked(Client(), "alice", PASSWORD)
    forget_recent_password(client)
    page = client.get("/test/sensitive/")
    assert page.status_code == 200 and 'name="next" value="/test/sensitive/"' in page.content.decode()
    wrong = client.post(reverse("stepup-confirm"), {"stepup_password": "nope", "next": "/test/sensitive/"})
    assert wrong.status_code == 403
    back = client.post(reverse("stepup-confirm"), {"stepup_password": PASSWORD, "next": "/test/sensitive/"})
    assert back.status_code == 302 and back["Location"] == "/test/sensitive/"
    assert client.get("/test/sensitive/").content == b"the sensitive page"


def test_the_step_up_window_ends(alice, settings):
    settings.STEPUP_WINDOW = timedelta(minutes=5)
    client = login_unlocked(Client(), "alice", PASSWORD)
    assert client.post(reverse("token-create"), {"name": "now"}).status_code == 200
    forget_recent_password(client)
    assert client.post(reverse("token-create"), {"name": "later"}).status_code == 403


def test_the_api_asks_for_the_password_with_a_code_the_client_can_act_on(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    client.post(reverse("vault:upload"), {"codec": "png", "target": "balanced",
                                          "file": SimpleUploadedFile("p.png", image_bytes(make_photo()))})
    record = alice.image_records.get()
    api = APIClient()
    plaintext = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    url = f"/api/v1/images/{record.pk}/shares/"
    assert api.post(url, {}, format="json").status_code == 201  # minted with the password just now
    ApiToken.objects.update(created=timezone.now() - timedelta(hours=1))  # an older token proves only possession
    refused = api.post(url, {}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "step_up_required"
    assert "password" in refused.json()["detail"]
    wrong = api.post(url, {"password": "nope"}, format="json")
    assert wrong.status_code == 403 and Share.objects.count() == 1
    assert api.post(url, {"password": PASSWORD}, format="json").status_code == 201
    # A session on the API: the same rule.
    forget_recent_password(client)
    session_refused = client.post(url, {}, content_type="application/json")
    assert session_refused.status_code == 403 and session_refused.json()["code"] == "step_up_required"


def test_the_prompt_never_writes_a_secret_of_the_refused_form_into_the_page(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    forget_recent_password(client)
    prompt = client.post(reverse("two-factor-confirm"), {"device": "7", "code": "123456"}).content.decode()
    assert 'name="device" value="7"' in prompt and "123456" not in prompt
