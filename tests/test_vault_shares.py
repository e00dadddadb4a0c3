"""Share keys: one image, one key, opened without an account; lockout, expiry, revocation, audit."""
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import crypto
from vault.models import ImageRecord, Share
from .vault_helpers import KEY_RE, key_needles, login_unlocked, scan_database, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"
PHOTO = image_bytes(make_photo(seed=8))


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD)


@pytest.fixture
def owner(alice):
    client = login_unlocked(Client(), "alice", PASSWORD)
    client.post(reverse("vault:upload"), {"codec": "webp", "target": "balanced", "file": SimpleUploadedFile("cat.png", PHOTO)})
    return client


def record():
    return ImageRecord.objects.get()


def create_share(client, **fields):
    response = client.post(reverse("vault:share-create", args=[record().pk]), {"label": "for bob", "expires_in_days": "7", **fields})
    assert response.status_code == 200
    html = response.content.decode()
    key = KEY_RE.search(html).group(0)
    share = Share.objects.order_by("-id").first()
    assert f"/s/{share.public_id}/#{key}" in html and "no-store" in response["Cache-Control"]
    return share, key


def open_as_stranger(share, key, variant="display", client=None):
    client = client or Client()  # a private window: no account, no cookies
    page = client.get(reverse("vault:share", args=[share.public_id]))
    # A link that opens nothing says so on arrival (tests/test_share_page.py); a live one asks for its key.
    assert (page.status_code, 'name="key"' in page.content.decode()) in ((200, True), (404, False))
    return client.post(reverse("vault:share", args=[share.public_id]), {"key": key, "variant": variant})


def test_a_share_link_opens_that_image_in_a_private_window_and_is_audited(owner):
    share, key = create_share(owner)
    shown = open_as_stranger(share, key)
    assert shown.status_code == 200 and shown.content == PHOTO and "no-store" in shown["Cache-Control"]
    original = open_as_stranger(share, key, "original")
    assert original.content == PHOTO and original["Content-Disposition"].startswith("attachment")
    assert open_as_stranger(share, key, "decoded")["Content-Type"] == "image/png"
    share.refresh_from_db()
    assert share.uses == 3 and share.label == "for bob"
    assert share.expires_at - timezone.now() > timedelta(days=6)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.SHARE_OPENED, record_id=record().pk)
    assert events.count() == 3 and all(key.replace("-", "") not in e.detail.replace("-", "") for e in events)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SHARE_CREATED).count() == 1


def test_the_share_key_is_stored_nowhere(owner):
    share, key = create_share(owner)
    open_as_stranger(share, key)
    texts, raw = key_needles(key, crypto.parse_retrieval_key(key))
    assert scan_database(texts, raw) == []


def test_wrong_keys_lock_the_share_and_then_even_the_right_key_waits(owner, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 2
    share, key = create_share(owner)
    other_share, other_key = create_share(owner)
    assert open_as_stranger(share, "not a key").status_code == 400  # not counted: not a guess
    for _ in range(2):
        response = open_as_stranger(share, crypto.format_retrieval_key(crypto.new_retrieval_key()))
        assert response.status_code == 403 and "does not open" in response.content.decode()
    locked = open_as_stranger(share, key)
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert open_as_stranger(other_share, other_key).status_code == 200  # the lock is per share
    assert open_as_stranger(share, other_key).status_code == 429  # a key of another share is no key here
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SHARE_REFUSED).count() >= 3


def test_a_key_of_one_share_does_not_open_another(owner):
    share, _ = create_share(owner)
    _, other_key = create_share(owner)
    assert open_as_stranger(share, other_key).status_code == 403


def test_revoked_and_expired_shares_open_nothing(owner):
    share, key = create_share(owner)
    asked = owner.post(reverse("vault:share-revoke", args=[record().pk, share.pk]))  # no confirm: the question
    assert asked.status_code == 200 and "cannot be undone" in asked.content.decode() and Share.objects.filter(pk=share.pk).exists()
    response = owner.post(reverse("vault:share-revoke", args=[record().pk, share.pk]), {"confirm": "yes"})
    assert response.status_code == 302 and not Share.objects.filter(pk=share.pk).exists()
    assert open_as_stranger(share, key).status_code == 404
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SHARE_REVOKED).exists()
    expiring, expiring_key = create_share(owner, expires_in_days="1")
    Share.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert open_as_stranger(expiring, expiring_key).status_code == 404


def test_the_detail_page_and_profile_list_shares(owner):
    share, key = create_share(owner)
    detail = owner.get(reverse("vault:detail", args=[record().pk])).content.decode()
    profile = owner.get(reverse("profile")).content.decode()
    for html in (detail, profile):
        assert "for bob" in html and reverse("vault:share-revoke", args=[record().pk, share.pk]) in html
        assert key not in html


def test_other_users_cannot_share_or_revoke_my_image(owner):
    share, _ = create_share(owner)
    vault_user("bob", PASSWORD)
    bob = login_unlocked(Client(), "bob", PASSWORD)
    assert bob.post(reverse("vault:share-create", args=[record().pk]), {"expires_in_days": "7"}).status_code == 404
    assert bob.post(reverse("vault:share-revoke", args=[record().pk, share.pk])).status_code == 404
    assert "for bob" not in bob.get(reverse("profile")).content.decode()
    anonymous = Client().post(reverse("vault:share-create", args=[record().pk]), {"expires_in_days": "7"})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert Share.objects.count() == 1


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api(owner):
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_api_share_lifecycle(api):
    url = f"/api/v1/images/{record().pk}/shares/"
    created = api.post(url, {"label": "press", "expires_in_days": 2}, format="json")
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    body = created.json()
    assert KEY_RE.fullmatch(body["key"]) and body["url"].endswith(f"/s/{body['id']}/#{body['key']}")
    listed = api.get(url).json()
    assert [s["id"] for s in listed] == [body["id"]] and "key" not in listed[0]

    stranger = APIClient()
    retrieve = f"/api/v1/shares/{body['id']}/retrieve/"
    response = stranger.post(retrieve, {"key": body["key"], "variant": "original"}, format="json")
    assert response.status_code == 200 and response.content == PHOTO
    thumb = stranger.post(retrieve, {"key": body["key"], "variant": "thumbnail"}, format="json")
    assert thumb["Content-Type"] == "image/webp"
    wrong = stranger.post(retrieve, {"key": crypto.format_retrieval_key(crypto.new_retrieval_key())}, format="json")
    assert wrong.status_code == 403 and wrong["Content-Type"] == "application/json"
    assert wrong.json()["detail"] == "That key does not open this share."  # worded for a share, not an image
    # The old retrieve endpoint still takes a share key, for the owner.
    old = api.post(f"/api/v1/images/{record().pk}/retrieve/", {"key": body["key"], "variant": "original"}, format="json")
    assert old.status_code == 200 and old.content == PHOTO

    assert api.delete(f"{url}{body['id']}/").status_code == 204  # by the id the API showed
    gone = stranger.post(retrieve, {"key": body["key"]}, format="json")
    assert gone.status_code == 404 and "revoked" in gone.json()["detail"]
    assert api.get(url).json() == []


def test_api_shares_of_another_users_image_are_404_and_anonymous_is_401(api):
    share = api.post(f"/api/v1/images/{record().pk}/shares/", {}, format="json").json()
    vault_user("bob", PASSWORD)
    bob = APIClient()
    token = bob.post("/api/v1/auth/token/", {"username": "bob", "password": PASSWORD}, format="json").json()["token"]
    bob.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    url = f"/api/v1/images/{record().pk}/shares/"
    assert bob.get(url).status_code == 404 and bob.post(url, {}, format="json").status_code == 404
    assert bob.delete(f"{url}{share['id']}/").status_code == 404
    assert APIClient().get(url).status_code == 401
    assert Share.objects.count() == 1 and share["expires_at"] is None


# --- records from before the vault --------------------------------------------------------------


def test_adding_an_old_record_to_the_vault_keeps_its_key_as_a_share_key(alice, _isolated_storage):
    import hashlib

    from .vault_helpers import legacy_record

    client = login_unlocked(Client(), "alice", PASSWORD)
    old, key = legacy_record(alice, PHOTO)
    page = client.post(reverse("vault:unlock", args=[old.pk]), {"key": key})
    assert "Add to my vault" in page.content.decode()
    wrong = client.post(reverse("vault:adopt", args=[old.pk]), {"key": crypto.format_retrieval_key(crypto.new_retrieval_key())})
    assert wrong.status_code == 403 and ImageRecord.objects.get(pk=old.pk).is_legacy

    response = client.post(reverse("vault:adopt", args=[old.pk]), {"key": key})
    assert response.status_code == 302 and response["Location"] == reverse("vault:detail", args=[old.pk])
    old.refresh_from_db()
    assert not old.is_legacy and old.key_hash == "" and old.wrapped_key is None
    assert old.sha256_original == "" and old.original_mac != hashlib.sha256(PHOTO).hexdigest()
    # Opens without a key now, with a thumbnail it never had.
    assert client.get(reverse("vault:file", args=[old.pk, "original"])).content == PHOTO
    assert client.get(reverse("vault:file", args=[old.pk, "thumbnail"]))["Content-Type"] == "image/webp"
    # The old key became a share key: its link page opens the image for anyone holding it.
    share = Share.objects.get(record=old)
    assert open_as_stranger(share, key).content == PHOTO
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VAULT_ADOPTED, record_id=old.pk).exists()
    again = client.post(reverse("vault:adopt", args=[old.pk]), {"key": key})
    assert again.status_code == 400 and "already in your vault" in again.content.decode()


# --- a share's lockout cannot be turned against its recipients (issue 24) -----------------------


def wrong_key():
    return crypto.format_retrieval_key(crypto.new_retrieval_key())


def test_wrong_keys_from_one_client_do_not_block_another_client_with_the_right_key(owner, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 5
    share, key = create_share(owner)
    outsider = Client(REMOTE_ADDR="198.51.100.7")  # knows the share's id from a URL or a log
    assert [open_as_stranger(share, wrong_key(), client=outsider).status_code for _ in range(5)] == [403] * 5
    assert open_as_stranger(share, key, client=outsider).status_code == 429  # the guesser waits...
    recipient = Client(REMOTE_ADDR="203.0.113.20")
    assert open_as_stranger(share, key, client=recipient).content == PHOTO  # ...the recipient does not


def test_a_guessing_client_waits_longer_after_each_wrong_key(owner, settings):
    from django.core.cache import cache

    from vault.images.lockout import ShareBackoff

    settings.RETRIEVE_FAILURE_LIMIT = 1  # every wrong key starts a wait
    settings.SHARE_BACKOFF_SECONDS = 30
    share, key = create_share(owner)
    guesser = Client(REMOTE_ADDR="198.51.100.7")
    backoff = ShareBackoff(share, guesser.get("/").wsgi_request)
    waits = []
    for _ in range(4):
        assert open_as_stranger(share, wrong_key(), client=guesser).status_code == 403
        waiting = open_as_stranger(share, wrong_key(), client=guesser)  # refused unread while it waits
        waits.append(int(waiting["Retry-After"]) if waiting.status_code == 429 else 0)
        state = cache.get(backoff.key)  # let the wait pass without sleeping: the count stays
        if state:
            state["until"] = 0
            cache.set(backoff.key, state)
    assert waits == [30, 60, 120, 240]


def test_the_owner_is_told_when_a_share_reaches_its_ceiling_and_recipients_still_open_it(owner, settings):
    from django.core import mail

    settings.SHARE_FAILURE_CEILING = 3
    share, key = create_share(owner)
    alice = share.record.owner
    alice.email = "alice@example.com"
    alice.save()
    for i in range(3):
        open_as_stranger(share, wrong_key(), client=Client(REMOTE_ADDR=f"198.51.100.{i + 1}"))
    assert len([m for m in mail.outbox if "guessing the key" in m.subject]) == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOCKOUT, record_id=share.record_id)
    assert event.actor == alice and "3 wrong keys" in event.detail
    assert "3 wrong keys" in owner.get(reverse("vault:detail", args=[share.record_id])).content.decode()
    assert open_as_stranger(share, key, client=Client(REMOTE_ADDR="203.0.113.20")).content == PHOTO
    # An address that errs once the ceiling is reached waits the longest at once.
    late = Client(REMOTE_ADDR="198.51.100.99")
    open_as_stranger(share, wrong_key(), client=late)
    waiting = open_as_stranger(share, key, client=late)
    assert waiting.status_code == 429 and int(waiting["Retry-After"]) == int(settings.RETRIEVE_COOLOFF.total_seconds())
