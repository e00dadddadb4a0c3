"""The per-user key hierarchy end to end: wraps, password change and reset, recovery key, and what
a database dump or an error report can reveal."""
import base64
import re
import sys

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.conftest import image_bytes, make_photo
from vault import crypto, keyring, sessions
from vault.models import ImageRecord, UserVault
from .vault_helpers import KEY_RE, files_under, key_needles, login_unlocked, scan_database, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
NEW_PASSWORD = "another-Strong-pass-42"


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD, email="alice@example.com")


def upload(client, seed=0):
    response = client.post(
        reverse("vault:upload"),
        {"codec": "png", "target": "balanced", "file": SimpleUploadedFile("p.png", image_bytes(make_photo(seed=seed)))},
    )
    assert response.status_code == 302, response.content[:300]
    return ImageRecord.objects.order_by("-id").first()


def thumbnail_status(client, record) -> int:
    return client.get(reverse("vault:file", args=[record.pk, "thumbnail"])).status_code


# --- crypto -------------------------------------------------------------------------------------


def test_a_wrap_opens_only_with_its_key_purpose_and_ids():
    key, wrapping_key = crypto.new_master_key(), crypto.new_master_key()
    wrapped = crypto.wrap_key(key, wrapping_key=wrapping_key, purpose="dk", ids=(7,))
    assert key not in wrapped and len(wrapped) == 1 + 12 + 32 + 16
    assert crypto.unwrap_key(wrapped, wrapping_key=wrapping_key, purpose="dk", ids=(7,)) == key
    for kwargs in (
        {"wrapping_key": crypto.new_master_key(), "purpose": "dk", "ids": (7,)},
        {"wrapping_key": wrapping_key, "purpose": "dk", "ids": (8,)},  # moved to another record
        {"wrapping_key": wrapping_key, "purpose": "mk-token", "ids": (7,)},  # reused for another purpose
    ):
        with pytest.raises(crypto.SealError):
            crypto.unwrap_key(wrapped, **kwargs)
    tampered = bytearray(wrapped)
    tampered[20] ^= 1
    with pytest.raises(crypto.SealError):
        crypto.unwrap_key(bytes(tampered), wrapping_key=wrapping_key, purpose="dk", ids=(7,))


def test_the_password_key_is_argon2id_with_the_stored_parameters():
    params = crypto.KdfParams(time_cost=1, memory_kib=8, parallelism=1)
    salt = crypto.new_kdf_salt()
    key = crypto.password_key("pw", salt=salt, params=params)
    assert len(key) == 32 and key == crypto.password_key("pw", salt=salt, params=params)
    assert key != crypto.password_key("pw", salt=crypto.new_kdf_salt(), params=params)
    assert key != crypto.password_key("pw", salt=salt, params=crypto.KdfParams(2, 8, 1))


def test_the_keyed_digest_needs_the_data_key():
    data, dk = b"a photo", crypto.new_data_key()
    assert crypto.keyed_digest(data, data_key=dk) == crypto.keyed_digest(data, data_key=dk)
    assert crypto.keyed_digest(data, data_key=dk) != crypto.keyed_digest(data, data_key=crypto.new_data_key())


def test_password_recovery_and_token_wraps_open_the_same_master_key_and_wrong_ones_are_refused(alice):
    assert keyring.unlock_with_password(user=alice, password=PASSWORD) == alice.master_key
    assert keyring.unlock_with_recovery_key(user=alice, recovery_key=alice.recovery_key.lower()) == alice.master_key
    with pytest.raises(keyring.WrongSecret):
        keyring.unlock_with_password(user=alice, password="not it")
    with pytest.raises(keyring.WrongSecret):
        keyring.unlock_with_recovery_key(user=alice, recovery_key=crypto.format_retrieval_key(crypto.new_retrieval_key()))
    token_secret = "t" * 43
    wrap = sessions.wrap_for_token(master_key=alice.master_key, token_secret=token_secret, token_id=5, user_id=alice.pk)
    token = ApiToken(pk=5, user=alice, master_key_wrap=wrap)
    token.secret = token_secret
    assert sessions.token_master_key(token) == alice.master_key
    token.secret = "u" * 43
    assert sessions.token_master_key(token) is None
    token.secret, token.pk = token_secret, 6  # the wrap copied onto another token row
    assert sessions.token_master_key(token) is None


def test_the_argon2_costs_are_stored_per_user_so_raising_them_keeps_old_wraps_working(alice, settings):
    settings.VAULT_ARGON2_TIME_COST = 2
    assert keyring.unlock_with_password(user=alice, password=PASSWORD) == alice.master_key
    vault = UserVault.objects.get(user=alice)
    assert (vault.kdf_time_cost, vault.kdf_memory_kib) == (1, 8)


# --- password change, reset, recovery key -------------------------------------------------------


def test_password_change_keeps_the_images_and_ends_other_sessions_and_tokens(alice):
    here = login_unlocked(Client(), "alice", PASSWORD)
    elsewhere = login_unlocked(Client(), "alice", PASSWORD)
    record = upload(here)
    api = APIClient()
    token = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(f"/api/v1/images/{record.pk}/download/").status_code == 200
    before = bytes(UserVault.objects.get(user=alice).password_wrap)

    response = here.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert bytes(UserVault.objects.get(user=alice).password_wrap) != before
    assert ImageRecord.objects.get().dk_wrap == record.dk_wrap  # nothing re-encrypted
    assert thumbnail_status(here, record) == 200
    assert elsewhere.get(reverse("vault:gallery")).status_code == 302  # logged out
    assert api.get("/api/v1/images/").status_code == 401 and not ApiToken.objects.exists()
    fresh = login_unlocked(Client(), "alice", NEW_PASSWORD)
    assert thumbnail_status(fresh, record) == 200


def reset_password_by_email(client, new_password, **fields):
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
    form = client.get(link, follow=True)
    return client.post(form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password, **fields})


def test_a_reset_with_the_recovery_key_keeps_every_image(alice):
    record = upload(login_unlocked(Client(), "alice", PASSWORD))
    client = Client()
    wrong = reset_password_by_email(client, NEW_PASSWORD, recovery_key=crypto.format_retrieval_key(crypto.new_retrieval_key()))
    assert wrong.status_code == 200 and "does not open your vault" in wrong.content.decode()
    done = reset_password_by_email(client, NEW_PASSWORD, recovery_key=alice.recovery_key)
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert thumbnail_status(login_unlocked(Client(), "alice", NEW_PASSWORD), record) == 200
    assert UserVault.objects.get(user=alice).epoch == 1


def test_a_reset_without_the_recovery_key_starts_a_new_vault_and_old_images_stay_locked(alice, _isolated_storage):
    record = upload(login_unlocked(Client(), "alice", PASSWORD))
    client = Client()
    response = reset_password_by_email(client, NEW_PASSWORD, start_new_vault="on")
    new_recovery = KEY_RE.search(response.content.decode()).group(0)  # the new vault's key, shown once
    assert new_recovery != alice.recovery_key and UserVault.objects.get(user=alice).epoch == 2
    login_unlocked(client, "alice", NEW_PASSWORD)
    assert thumbnail_status(client, record) == 409  # listed, locked
    assert record.name in client.get(reverse("vault:gallery")).content.decode()
    new_record = upload(client, seed=3)
    assert thumbnail_status(client, new_record) == 200
    with pytest.raises(keyring.WrongSecret):  # the old recovery key opens nothing now
        keyring.unlock_with_recovery_key(user=alice, recovery_key=alice.recovery_key)
    assert client.post(reverse("vault:delete", args=[record.pk])).status_code == 302


def test_a_password_set_outside_the_portal_reopens_the_vault_with_the_recovery_key(alice):
    record = upload(login_unlocked(Client(), "alice", PASSWORD))
    alice.set_password(NEW_PASSWORD)  # e.g. an administrator in a shell
    alice.save()
    client = Client()
    response = client.post(reverse("login"), {"username": "alice", "password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(reverse("vault:unlock-vault"))
    assert thumbnail_status(client, record) == 302  # locked
    typo = client.post(reverse("vault:unlock-vault"), {
        "method": "recovery", "recovery-recovery_key": alice.recovery_key, "recovery-password": "typo",
    })
    assert typo.status_code == 403 and thumbnail_status(client, record) == 302
    page = client.post(reverse("vault:unlock-vault"), {
        "method": "recovery", "recovery-recovery_key": alice.recovery_key, "recovery-password": NEW_PASSWORD,
    })
    assert page.status_code == 302 and thumbnail_status(client, record) == 200
    # From now on the new password opens the vault by itself.
    assert thumbnail_status(login_unlocked(Client(), "alice", NEW_PASSWORD), record) == 200


def test_without_any_key_the_unlock_page_can_start_a_new_vault_after_a_confirmation(alice):
    record = upload(login_unlocked(Client(), "alice", PASSWORD))
    alice.set_password(NEW_PASSWORD)
    alice.save()
    client = Client()
    client.post(reverse("login"), {"username": "alice", "password": NEW_PASSWORD})
    refused = client.post(reverse("vault:unlock-vault"), {"method": "new", "new-password": NEW_PASSWORD})
    assert refused.status_code == 400 and UserVault.objects.get(user=alice).epoch == 1  # not confirmed
    wrong = client.post(reverse("vault:unlock-vault"), {"method": "new", "new-password": "not mine", "new-confirm": "on"})
    assert wrong.status_code == 403 and UserVault.objects.get(user=alice).epoch == 1
    response = client.post(reverse("vault:unlock-vault"), {"method": "new", "new-password": NEW_PASSWORD, "new-confirm": "on"})
    assert response.status_code == 200 and KEY_RE.search(response.content.decode())
    assert UserVault.objects.get(user=alice).epoch == 2 and thumbnail_status(client, record) == 409


def test_regenerating_the_recovery_key_retires_the_old_one(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    response = client.post(reverse("vault:regenerate-recovery-key"), {"understood": "on", "password": PASSWORD})
    new_key = KEY_RE.search(response.content.decode()).group(0)
    assert new_key != alice.recovery_key and "no longer works" in response.content.decode()
    assert keyring.unlock_with_recovery_key(user=alice, recovery_key=new_key) == alice.master_key
    with pytest.raises(keyring.WrongSecret):
        keyring.unlock_with_recovery_key(user=alice, recovery_key=alice.recovery_key)
    locked = Client()
    locked.force_login(alice)  # a session whose vault is locked: sent to unlock it first
    confirmed = locked.post(reverse("vault:regenerate-recovery-key"), {"understood": "on", "password": PASSWORD})
    assert confirmed.status_code == 302 and reverse("vault:unlock-vault") in confirmed["Location"]


def test_a_new_recovery_key_needs_the_tick_and_the_password_every_time(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)  # a fresh login: inside the step-up window
    url = reverse("vault:regenerate-recovery-key")
    page = client.get(url).content.decode()
    assert "stops working at once" in page and 'name="password"' in page and not KEY_RE.search(page)
    for fields in ({}, {"password": PASSWORD}, {"understood": "on"}):
        refused = client.post(url, fields)
        assert refused.status_code == 400 and not KEY_RE.search(refused.content.decode()), fields
    wrong = client.post(url, {"understood": "on", "password": "not my password"})
    assert wrong.status_code == 403 and "not right" in wrong.content.decode().lower()
    assert keyring.unlock_with_recovery_key(user=alice, recovery_key=alice.recovery_key) == alice.master_key  # unchanged
    assert client.post(url, {"understood": "on", "password": PASSWORD}).status_code == 200


def test_the_profile_reminds_about_the_recovery_key_until_it_is_confirmed(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    UserVault.objects.filter(user=alice).update(recovery_key_saved_at=None)
    assert "not confirmed saving your recovery key" in client.get(reverse("profile")).content.decode()
    client.post(reverse("vault:recovery-key-saved"), {"next": reverse("profile")})  # the box left unticked
    assert "not confirmed saving your recovery key" in client.get(reverse("profile")).content.decode()
    client.post(reverse("vault:recovery-key-saved"), {"saved": "on", "next": reverse("profile")})
    assert "not confirmed saving your recovery key" not in client.get(reverse("profile")).content.decode()
    client.post(reverse("vault:regenerate-recovery-key"), {"understood": "on", "password": PASSWORD})
    assert "not confirmed saving your recovery key" in client.get(reverse("profile")).content.decode()


def test_unlocking_on_the_unlock_page_queues_the_images_flagged_for_recompression(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    record = upload(client)
    client.post(reverse("vault:lock-vault"))
    ImageRecord.objects.filter(pk=record.pk).update(needs_recompress=True)  # as `recompress_learned` flags
    response = client.post(reverse("vault:unlock-vault"), {"method": "password", "password": PASSWORD})
    assert response.status_code == 302
    old_blob = record.compressed_blob
    record.refresh_from_db()  # jobs run eagerly here: re-encoded during the unlock
    assert not record.needs_recompress and record.status == "done" and record.compressed_blob != old_blob


# --- what a dump, the storage folder and an error report reveal ----------------------------------


def test_a_database_dump_with_the_sessions_and_the_storage_folder_hold_no_key_or_plaintext(monkeypatch, _isolated_storage):
    made = []
    for name in ("new_master_key", "new_data_key", "new_retrieval_key"):
        real = getattr(crypto, name)
        monkeypatch.setattr(crypto, name, lambda real=real: made.append(real()) or made[-1])
    client = Client()
    registered = client.post(reverse("register"), {"username": "zoe", "password1": PASSWORD, "password2": PASSWORD})
    recovery = KEY_RE.search(registered.content.decode()).group(0)
    photo = image_bytes(make_photo(seed=11))
    client.post(reverse("vault:upload"), {"codec": "webp", "target": "balanced", "file": SimpleUploadedFile("z.png", photo)})
    record = ImageRecord.objects.get()
    thumbnail = client.get(reverse("vault:file", args=[record.pk, "thumbnail"])).content
    compressed = client.get(reverse("vault:file", args=[record.pk, "compressed"])).content
    api_token = APIClient().post("/api/v1/auth/token/", {"username": "zoe", "password": PASSWORD}, format="json").json()["token"]
    vault = UserVault.objects.get()
    params = crypto.KdfParams(vault.kdf_time_cost, vault.kdf_memory_kib, vault.kdf_parallelism)
    password_key = crypto.password_key(PASSWORD, salt=bytes(vault.kdf_salt), params=params)
    cookie = client.cookies[sessions.COOKIE_NAME].value
    cookie_secret = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))

    secrets = (*made, password_key, cookie_secret, thumbnail, compressed, photo)
    texts, raw = key_needles(recovery, crypto.parse_retrieval_key(recovery), extra_secrets=secrets)
    import hashlib

    texts += [api_token, hashlib.sha256(photo).hexdigest(), PASSWORD]
    assert len(made) == 3  # MK, DK, recovery secret: all of them are searched for
    assert scan_database(texts, raw) == []
    # The session store, decoded: only MK sealed under the cookie's secret.
    for session in Session.objects.all():
        decoded = repr(SessionStore().decode(session.session_data))
        assert not [t for t in texts if t.lower() in decoded.lower()]
    for path in files_under(_isolated_storage):
        blob = path.read_bytes()
        assert not [s for s in secrets if s in blob], path
    # And the scan does find what is there (it is not blind).
    assert scan_database([bytes(record.dk_wrap).hex()], [bytes(record.dk_wrap)])


def test_an_error_report_of_a_failing_unlock_shows_no_password_key_or_secret(alice, monkeypatch, settings):
    settings.DEBUG = False  # error reports filter sensitive variables only outside debug mode
    client = login_unlocked(Client(raise_request_exception=False), "alice", PASSWORD)
    client.post(reverse("vault:lock-vault"))
    reports = []

    def capture(sender, request, **kwargs):
        reporter = ExceptionReporter(request, *sys.exc_info())
        # The HTML report is the one with every frame's local variables (DEBUG pages, and admin
        # e-mails with include_html); the text one has the request's POST data and cookies.
        reports.append(reporter.get_traceback_html() + reporter.get_traceback_text())

    def broken_open_session(request, *, master_key):
        raise RuntimeError("session store went away")

    monkeypatch.setattr(sessions, "open_session", broken_open_session)
    got_request_exception.connect(capture)
    try:
        response = client.post(reverse("vault:unlock-vault"), {"method": "password", "password": PASSWORD})
    finally:
        got_request_exception.disconnect(capture)
    assert response.status_code == 500 and len(reports) == 1
    report = reports[0]
    assert "session store went away" in report and "unlock_vault" in report  # it is the right report
    assert "Local vars" in report
    for secret in (PASSWORD, alice.master_key.hex(), repr(alice.master_key)[2:-1][:40]):
        assert secret not in report


def test_an_error_report_of_a_failing_api_upload_shows_no_token_or_master_key(alice, monkeypatch, settings):
    from vault import deployment

    settings.DEBUG = False
    api = APIClient(raise_request_exception=False)
    token = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    reports = []

    def capture(sender, request, **kwargs):
        reporter = ExceptionReporter(request, *sys.exc_info())
        # The HTML report is the one with every frame's local variables (DEBUG pages, and admin
        # e-mails with include_html); the text one has the request's POST data and cookies.
        reports.append(reporter.get_traceback_html() + reporter.get_traceback_text())

    def broken_storage(**kwargs):  # fails deep inside store_image, which holds MK and the DK
        raise RuntimeError("storage went away")

    monkeypatch.setattr(deployment, "ensure_marker", broken_storage)
    got_request_exception.connect(capture)
    try:
        response = api.post("/api/v1/images/", {"file": SimpleUploadedFile("p.png", image_bytes(make_photo()))}, format="multipart")
    finally:
        got_request_exception.disconnect(capture)
    assert response.status_code == 500 and len(reports) == 1
    report = reports[0]
    assert "storage went away" in report and "store_image" in report and "Local vars" in report
    for secret in (token, alice.master_key.hex(), repr(alice.master_key)[2:-1][:40]):
        assert secret not in report
