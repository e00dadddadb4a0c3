"""The compare page as the server renders it: pictures by URL, the figures, no inline code, and
markup that still shows both pictures when JavaScript does not run. Its behaviour in a browser
(zoom, divider, background, difference) is in test_browser.py."""
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import image_bytes, make_photo
from vault import services
from .vault_helpers import legacy_record, login_unlocked, opened, reseal, vault_user

from .test_vault_pages import PASSWORD, alice, client_alice  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def stored(owner, image=None, name="photo.png", **options):
    image = make_photo(seed=2) if image is None else image
    record, _ = services.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=image_bytes(image), filename=name, **options
    )
    return record


class Markup(HTMLParser):
    """The page's <img>s (with whether an ancestor hides them), scripts and style elements."""

    VOID = {"img", "input", "br", "hr", "meta", "link", "source", "wbr", "area", "col", "embed", "track"}

    def __init__(self, html):
        super().__init__()
        self.stack, self.images, self.scripts, self.styles = [], [], [], 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        hidden = "hidden" in attrs or any(self.stack)
        if tag == "img":
            self.images.append({**attrs, "shown_without_js": not hidden})
        elif tag == "script":
            self.scripts.append(attrs)
        elif tag == "style":
            self.styles += 1
        if tag not in self.VOID:
            self.stack.append(hidden)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()


def page_of(client, record):
    response = client.get(reverse("vault:compare", args=[record.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_both_pictures_come_from_their_own_urls_and_none_is_inlined(client_alice, alice):
    record = stored(alice, codec="webp", quality=60)
    html = page_of(client_alice, record)
    sources = [img["src"] for img in Markup(html).images]
    original = reverse("vault:file", args=[record.pk, "original-display"])
    compressed = reverse("vault:file", args=[record.pk, "compressed-display"])
    assert sources == [original, compressed]
    assert "data:" not in html and "base64," not in html
    for url in sources:
        response = client_alice.get(url)
        assert response.status_code == 200 and "no-store" in response["Cache-Control"]


def test_without_javascript_both_pictures_show_at_their_size(client_alice, alice):
    record = stored(alice, make_photo(60, 40), codec="webp", quality=60)
    images = Markup(page_of(client_alice, record)).images
    assert len(images) == 2 and all(img["shown_without_js"] for img in images)
    assert all((img["width"], img["height"]) == ("60", "40") for img in images)
    assert [img["alt"] for img in images] == ["Original photo.png", "Compressed photo.png (webp)"]


def test_the_viewer_has_its_controls_and_loads_its_script_from_static(client_alice, alice):
    record = stored(alice, make_photo(60, 40), codec="webp", quality=60)
    html = page_of(client_alice, record)
    markup = Markup(html)
    assert markup.styles == 0 and all(script.get("src") for script in markup.scripts)  # CSP: no inline code
    assert any(script["src"].endswith("js/compare.js") for script in markup.scripts)
    assert 'data-width="60" data-height="40"' in html
    for control in ('data-mode="split"', 'data-mode="sides"', 'data-mode="diff"', 'data-zoom="in"', 'data-zoom="out"',
                    'data-zoom="fit"', 'data-zoom="actual"', 'data-background="checker"', 'data-background="black"',
                    'data-background="white"', 'class="compare-gain"'):
        assert control in html, control


def test_the_figures_beside_the_pictures(client_alice, alice):
    record = reseal(stored(alice, make_photo(60, 40), codec="webp", quality=60), alice, msssim=0.987654)
    html = page_of(client_alice, record)
    figures = html[html.index('class="card compare-figures"'):]
    assert f"{record.psnr:.2f} dB" in figures
    assert "0.9877" in figures  # MS-SSIM
    assert f"{record.bpp:.3f}" in figures
    assert f"{record.stored_percent:.0f} % of the upload" in figures  # stored, every file counted
    assert "60 × 40" in figures


def test_a_lossless_record_reads_exact_and_without_ms_ssim_a_dash(client_alice, alice):
    record = opened(stored(alice, make_photo(60, 40, mode="RGBA"), codec="png"), alice)
    assert record.psnr is None and record.has_alpha
    html = page_of(client_alice, record)
    figures = html[html.index('class="card compare-figures"'):]
    assert "∞ (exact)" in figures and "with transparency" in figures
    if record.msssim is None:
        assert "<dt>MS-SSIM</dt><dd>–</dd>" in figures


def test_another_users_record_is_404_on_the_compare_page_and_its_pictures(alice):
    record = stored(alice, codec="webp", quality=60)
    vault_user("bob", PASSWORD)
    bob = login_unlocked(Client(), "bob", PASSWORD)
    assert bob.get(reverse("vault:compare", args=[record.pk])).status_code == 404
    for variant in ("original-display", "compressed-display"):
        assert bob.get(reverse("vault:file", args=[record.pk, variant])).status_code == 404


def test_a_missing_record_is_404_and_an_anonymous_visitor_is_sent_to_log_in(client_alice, alice):
    assert client_alice.get(reverse("vault:compare", args=[987654])).status_code == 404
    record = stored(alice, codec="webp", quality=60)
    response = Client().get(reverse("vault:compare", args=[record.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_legacy_record_opened_with_its_key_gets_the_same_viewer(client_alice, alice):
    # Such a record opens only with the key typed on the page, so it has no picture URLs to use.
    record, key = legacy_record(alice, image_bytes(make_photo(seed=9)))
    response = client_alice.post(reverse("vault:unlock", args=[record.pk]), {"key": key})
    html = response.content.decode()
    assert response.status_code == 200 and 'class="compare-stage' in html and "js/compare.js" in html
    assert all(img["shown_without_js"] for img in Markup(html).images)
