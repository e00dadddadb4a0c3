"""The browser's console stays clean on every page: no Content-Security-Policy violation (an inline
style or script the policy refuses, the candidates' chart included), no script error, no other
console error. Anonymous, as a user with an image (gallery, detail, compare), on a share link and
on the API docs (Swagger UI drawn from the sidecar's local files). The fixtures are
tests/test_browser.py's; the same pages' HTML is checked without a browser in tests/test_csp.py."""
import pytest

from tests.conftest import make_photo
from tests.test_browser import browser, live_server, log_in, stored  # noqa: F401 - fixtures used by name
from tests.vault_helpers import opened

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.django_db(transaction=True)

# Recorded in the page itself: a violation is also a console error, but this names the directive.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", e => window.__violations.push(
  e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber));
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def watched(browser):  # noqa: F811 - the fixture imported above
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: page.console_errors.append(f"script error: {exc}"))
    page.view_name = "laptop"
    yield page
    context.close()


def visit(page, url, *, ready="main", allow_404=False):
    """Open `url`, wait for `ready`, and return what went wrong in the console meanwhile."""
    page.console_errors.clear()
    response = page.goto(url)
    assert response.status == (404 if allow_404 else 200), (url, response.status)
    page.locator(ready).first.wait_for()
    page.wait_for_load_state("networkidle")
    problems = [*page.console_errors, *page.evaluate("window.__violations")]
    if allow_404:  # the page's own status, reported as a failed load
        problems = [p for p in problems if "status of 404" not in p]
    return problems


def test_no_console_errors_for_a_visitor(watched, live_server):  # noqa: F811
    for path in ("/", "/accounts/login/", "/accounts/register/", "/accounts/password/reset/", "/benchmarks/"):
        assert visit(watched, f"{live_server.url}{path}") == [], path
    assert visit(watched, f"{live_server.url}/no/such/page/", allow_404=True) == []
    # Swagger UI draws the operations from the schema: scripts, styles and fonts all local.
    assert visit(watched, f"{live_server.url}/api/docs/", ready="#swagger-ui .opblock") == []


def test_no_console_errors_for_a_user_with_an_image(watched, live_server):  # noqa: F811
    from vault import services

    user = log_in(watched, live_server, "csp")
    record = stored(user, make_photo(96, 64, seed=2), name="garden.png", codec="auto")
    assert opened(record, user).candidates, "codec auto should leave candidates for the chart"
    share, key = services.create_share(record=record, master_key=user.master_key)
    pages = {
        "/": "main", "/upload/": "main", "/images/": "main", "/images/trash/": "main", "/images/export/": "main",
        f"/images/{record.pk}/": ".chart svg", f"/images/{record.pk}/compare/": ".compare.is-live",
        "/accounts/profile/": "main", "/accounts/password/change/": "main", "/api/docs/": "#swagger-ui .opblock",
        "/vault/recovery-key/": "main", f"/images/{record.pk}/shares/{share.pk}/revoke/": "main",
    }
    for path, ready in pages.items():
        assert visit(watched, f"{live_server.url}{path}", ready=ready) == [], path
    # A recipient opens the link in a browser of their own: no session, the key in the fragment.
    watched.context.clear_cookies()
    assert visit(watched, f"{live_server.url}/s/{share.public_id}/#{key}", ready=".share-figure img") == []
    assert visit(watched, f"{live_server.url}/s/not-a-share/", allow_404=True) == []
