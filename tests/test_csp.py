"""No inline styles or scripts on any page, so the Content-Security-Policy (portal/settings/base.py)
needs no 'unsafe-inline': the rendered HTML of every page, anonymous and signed in, with an image
(its detail page carries the candidates' chart), a share and the API docs. The browser's own verdict
is tests/test_browser_csp.py; this one needs no browser."""
from html.parser import HTMLParser

import pytest
from django.conf import settings

from tests.conftest import image_bytes, make_photo
from tests.vault_helpers import login_unlocked, vault_user

PASSWORD = "a-Long-enough-passw0rd"
ANONYMOUS_PAGES = ["/", "/accounts/login/", "/accounts/register/", "/accounts/password/reset/", "/benchmarks/",
                   "/api/docs/", "/no/such/page/"]
USER_PAGES = ["/", "/upload/", "/images/", "/images/?view=list", "/images/trash/", "/images/export/",
              "/images/{pk}/", "/images/{pk}/compare/", "/images/{pk}/delete/", "/accounts/profile/",
              "/accounts/password/change/", "/accounts/two-factor/", "/accounts/profile/delete/", "/api/docs/"]
# Data blocks (json_script) are not run, so the policy does not govern them.
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}


class InlineFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if "style" in names:
            self.found.append(f"<{tag} style={names['style']!r}>")
        self.found += [f"<{tag} {name}=…>" for name in names if name.startswith("on")]
        if tag == "style":
            self.found.append("<style> element")
        if tag == "script":
            self._in_script = "src" not in names and names.get("type") not in DATA_SCRIPT_TYPES
        if tag in ("a", "iframe", "form") and str(names.get("href") or names.get("src") or names.get("action") or "").startswith("javascript:"):
            self.found.append(f"<{tag}> with a javascript: URL")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


def test_the_finder_finds_what_the_policy_would_block():
    html = ('<p style="color:red" onclick="x()">a</p><style>p{}</style><script>alert(1)</script>'
            '<script src="/s.js"></script><script type="application/json">{"a": 1}</script>')
    assert inline_code(html) == ["<p style='color:red'>", "<p onclick=…>", "<style> element", "inline <script>: 'alert(1)'"]


def test_the_policy_allows_no_inline_script_or_style():
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    everything = [value for values in directives.values() for value in values]
    assert "'unsafe-inline'" not in everything and "'unsafe-eval'" not in everything
    assert directives["script-src"] and directives["style-src"]


@pytest.mark.django_db
def test_no_page_carries_inline_styles_or_scripts(client):
    from vault import services

    for path in ANONYMOUS_PAGES:
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert inline_code(response.content.decode()) == [], path
        assert "unsafe-inline" not in response.headers.get("Content-Security-Policy", ""), path

    user = vault_user("ines", PASSWORD)
    record, _ = services.store_image(
        owner=user, master_key=user.master_key, uploaded_file_or_bytes=image_bytes(make_photo(64, 48)),
        filename="garden.png", codec="auto",
    )
    share, _ = services.create_share(record=record, master_key=user.master_key)
    login_unlocked(client, "ines", PASSWORD)
    detail = client.get(f"/images/{record.pk}/").content.decode()
    assert "<svg" in detail, "the detail page should show the candidates' chart"
    for path in [*USER_PAGES, f"/s/{share.public_id}/"]:
        response = client.get(path.format(pk=record.pk))
        assert response.status_code == 200, (path, response.status_code)
        assert "text/html" in response["Content-Type"], path
        assert inline_code(response.content.decode()) == [], path
