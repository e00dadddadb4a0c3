"""The share recipient's page (vault/views/share_page.py): what a link that opens nothing says on
arrival, the key kept in a cookie for that share only, the page (name, who shared it, until
when, downloads) and its files. The browser side is in tests/test_browser_pages.py."""
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from vault import crypto
from vault.models import Share
from vault.views.share_page import COOKIE
from .test_vault_shares import PASSWORD, PHOTO, alice, create_share, owner, record  # noqa: F401 - fixtures
from .vault_helpers import key_needles, scan_database

pytestmark = pytest.mark.django_db


def share_url(share_or_id, *rest):
    public_id = getattr(share_or_id, "public_id", share_or_id)
    return reverse("vault:share", args=[public_id]) if not rest else reverse("vault:share-file", args=[public_id, *rest])


def opened(share, key, client=None):
    """A recipient's browser after the page's script sent the key from the link."""
    client = client or Client()
    response = client.post(share_url(share), {"key": key, "variant": "open"})
    assert response.status_code == 303 and response["Location"] == share_url(share)
    return client, response


def test_unknown_revoked_and_expired_links_all_say_the_same_on_arrival(owner):
    revoked, _ = create_share(owner)
    expired, _ = create_share(owner, expires_in_days="1")
    Share.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    owner.post(reverse("vault:share-revoke", args=[record().pk, revoked.pk]), {"confirm": "yes"})
    pages = [Client().get(share_url(public_id)) for public_id in ("made-up-link", revoked.public_id, expired.public_id)]
    assert {p.status_code for p in pages} == {404}
    texts = {p.content.decode() for p in pages}
    assert len(texts) == 1, "a stranger can tell an unknown link from a revoked or expired one"
    text = texts.pop()
    assert "This link opens nothing" in text and 'name="key"' not in text
    assert "alice" not in text and "cat.png" not in text  # nothing about the image or its owner


def test_the_right_key_opens_a_page_with_the_name_the_sharer_the_expiry_and_the_downloads(owner):
    share, key = create_share(owner)
    client, response = opened(share, key)
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == share_url(share)
    assert 0 < int(cookie["max-age"]) <= 8 * 3600
    page = client.get(share_url(share))
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"] and page["Referrer-Policy"] == "no-referrer"
    assert "cat.png" in html and "alice" in html
    assert share.expires_at.strftime("%Y") in html and "share-expiry" in html
    for what in ("picture", "compressed", "original"):
        assert share_url(share, what) in html
    assert key not in html  # the page never carries the key

    picture = client.get(share_url(share, "picture"))
    assert picture.status_code == 200 and picture["Content-Type"] == "image/webp"
    assert picture["Content-Disposition"].startswith("inline") and "no-store" in picture["Cache-Control"]
    original = client.get(share_url(share, "original"))
    assert original.content == PHOTO and original["Content-Disposition"].startswith("attachment")
    assert client.get(share_url(share, "compressed"))["Content-Disposition"].startswith("attachment")
    assert client.get(share_url(share, "thumbnail")).status_code == 404
    share.refresh_from_db()
    assert share.uses == 3  # each file counts; the page view only checks the key
    texts, raw = key_needles(key, crypto.parse_retrieval_key(key))
    assert scan_database(texts, raw) == [], "the share key reached the database"


def test_without_the_cookie_or_with_a_wrong_key_nothing_opens(owner):
    share, key = create_share(owner)
    assert Client().get(share_url(share, "picture")).status_code == 403
    other_key = crypto.format_retrieval_key(crypto.new_retrieval_key())
    wrong = Client().post(share_url(share), {"key": other_key, "variant": "open"})
    assert wrong.status_code == 403 and "does not open this share" in wrong.content.decode() and COOKIE not in wrong.cookies
    stale = Client()
    stale.cookies[COOKIE] = other_key
    page = stale.get(share_url(share))
    assert page.status_code == 200 and 'name="key"' in page.content.decode() and "cat.png" not in page.content.decode()
    assert stale.get(share_url(share, "picture")).status_code == 403


def test_a_share_revoked_while_its_page_is_open_stops_at_once(owner):
    share, key = create_share(owner)
    client, _ = opened(share, key)
    assert client.get(share_url(share, "picture")).status_code == 200
    owner.post(reverse("vault:share-revoke", args=[record().pk, share.pk]), {"confirm": "yes"})
    assert client.get(share_url(share)).status_code == 404
    assert client.get(share_url(share, "picture")).status_code == 404
