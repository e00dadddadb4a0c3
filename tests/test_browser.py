"""The pages in a real browser: Debian's chromium driven by Playwright, at a laptop's 1280 px
(light colour scheme) and a phone's 390 px (dark scheme, so both palettes meet the contrast
check). On every page: no horizontal overflow, and axe-core (served from our own static/) finds
no serious or critical violation. Full-page screenshots go to var/screenshots/ (git-ignored; CI
keeps them as artefacts).

Playwright never downloads a browser here: it drives /usr/bin/chromium (CHROMIUM overrides),
which `.ci/run` installs with apt. Without it these tests skip, saying so.
"""
import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import image_bytes, make_photo

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", settings.BASE_DIR / "var" / "screenshots"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
PASSWORD = "a-Long-enough-passw0rd"
VIEWS = {"laptop": (1280, 800, "light"), "phone": (390, 844, "dark")}

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Browser tests skipped: playwright is not installed (make test installs requirements-test.txt)."
)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"Browser tests skipped: no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does).",
        allow_module_level=True,
    )

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop running in this thread, and Django then refuses
    # ORM calls from it as "async"; the tests are plain sequential code, so the check is moot here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:  # e.g. a chromium this Playwright cannot drive
        playwright.stop()
        pytest.skip(f"Browser tests skipped: chromium at {CHROMIUM} did not start ({exc}).")
    yield chromium
    chromium.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(params=list(VIEWS))
def view(request):
    return request.param


@pytest.fixture
def page(browser, view):
    width, height, scheme = VIEWS[view]
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.view_name = view
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def log_in(page, live_server, username="alice", *, staff=False):
    """Log the browser in with the cookies of a test client that logged in through the login page
    (which unlocks the vault: the session and the vault cookie); the login form has its own test."""
    from vault import keyring

    if staff:
        user = get_user_model().objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    else:
        user = get_user_model().objects.create_user(username, password=PASSWORD)
    user.master_key, _ = keyring.create_vault(user=user, password=PASSWORD)
    client = Client()
    assert client.post("/accounts/login/", {"username": username, "password": PASSWORD}).status_code == 302
    page.context.add_cookies([{"name": c.key, "value": c.value, "url": live_server.url} for c in client.cookies.values()])
    return user


def check_page(page, name):
    """What every page must pass: a screenshot kept, nothing wider than the screen, axe clean."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{page.view_name}.png", full_page=True)
    overflow = page.evaluate(
        "() => ({page: document.documentElement.scrollWidth, screen: window.innerWidth,"
        " wide: [...document.querySelectorAll('body *')].filter(e => !e.closest('.table-wrap, .chart'))"
        "   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        "   .slice(0, 5).map(e => e.tagName + '.' + e.className)})"
    )
    assert overflow["page"] <= overflow["screen"], f"{name}: page is {overflow['page']} px wide on a {overflow['screen']} px screen: {overflow['wide']}"
    origin = page.evaluate("location.origin")
    page.add_script_tag(url=f"{origin}/{settings.STATIC_URL.strip('/')}/vendor/axe-core/axe.min.js")
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    assert violations == [], f"{name} ({page.view_name}): axe found {violations}"


def luminance(rgb):
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(float(c)) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def rgb_of(css: str):
    return tuple(int(v) for v in re.findall(r"\d+", css)[:3])


def contrast(a, b):
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_a_primary_button_is_filled_with_readable_text(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    button = page.locator("button.btn-primary", has_text="Log in")
    background, colour = button.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]")
    assert rgb_of(background) != (255, 255, 255), f"the primary button is white ({background})"
    assert contrast(rgb_of(background), rgb_of(colour)) >= 4.5, (background, colour)
    check_page(page, "login")


def test_the_404_page_is_ours(page, live_server):
    response = page.goto(f"{live_server.url}/no/such/page/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.get_by_role("link", name="Go to the home page").is_visible()
    # Content keeps its distance from the header (.wrap's padding once overrode main's).
    gap = page.evaluate(
        "document.querySelector('main').firstElementChild.getBoundingClientRect().top"
        " - document.querySelector('header').getBoundingClientRect().bottom"
    )
    assert gap >= 12, f"the content starts {gap} px below the header"
    check_page(page, "404")


def test_register_then_upload_then_the_detail_page(page, live_server):
    page.goto(f"{live_server.url}/accounts/register/")
    check_page(page, "register")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    # The vault's recovery key, shown once: continuing needs the "saved it" box ticked.
    key = page.locator("#recovery-key").inner_text().strip()
    assert len(re.sub(r"[^A-Z2-7]", "", key)) == 52, key
    check_page(page, "recovery-key")
    page.get_by_role("button", name="Continue").click()  # unticked: the browser keeps the page
    assert page.locator("#recovery-key").is_visible()
    page.get_by_label("I have saved my recovery key").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/images/$"))
    assert page.get_by_role("link", name="carol").is_visible()

    page.goto(f"{live_server.url}/upload/")
    check_page(page, "upload")
    page.get_by_label("Image").set_input_files(
        {"name": "garden.png", "mimeType": "image/png", "buffer": image_bytes(make_photo(96, 64, seed=3))}
    )
    page.get_by_label("Codec").select_option("auto")
    page.get_by_role("button", name="Compress and encrypt").click()
    page.wait_for_load_state()
    assert "garden.png" in page.content()

    from vault import presentation
    from vault.models import ImageRecord

    record = ImageRecord.objects.get(owner__username="carol")
    page.goto(f"{live_server.url}/images/{record.pk}/")
    assert page.locator("h1").inner_text() == "garden.png"
    chosen = page.locator("tr.chosen")
    assert chosen.count() == 1 and record.codec in chosen.inner_text().lower()
    why = page.locator("section", has=page.get_by_role("heading", name="Why this codec")).inner_text()
    assert presentation.plain_reason(record) in why
    assert "decoded_sha256" not in page.content()
    width, card = page.locator(".chart svg").evaluate("e => [e.getBoundingClientRect().width, e.closest('.card').clientWidth]")
    assert width >= 0.85 * card - 40, f"chart {width} px wide in a {card} px card"
    check_page(page, "detail")

    page.get_by_role("link", name="Delete").click()
    danger = page.get_by_role("button", name="Delete permanently")
    cancel = page.get_by_role("link", name="Cancel")
    red, plain = (rgb_of(b.evaluate("e => getComputedStyle(e).backgroundColor")) for b in (danger, cancel))
    assert red != plain and red[0] > red[1] + 60, f"'Delete permanently' is {red}, 'Cancel' {plain}"
    check_page(page, "delete")
    danger.click()
    page.wait_for_url(re.compile(r"/images/$"))
    assert "Deleted" in page.locator(".messages").inner_text()
    assert not ImageRecord.objects.filter(pk=record.pk).exists()


def test_the_upload_form_shows_fields_only_when_they_apply_and_keeps_the_file(page, live_server):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    custom, quality = page.get_by_label("Custom target"), page.get_by_label("Explicit quality")
    assert not custom.is_visible() and not quality.is_visible()  # balanced target, automatic codec
    page.get_by_label("Codec").select_option("jpeg")
    assert quality.is_visible() and quality.get_attribute("max") == "95"
    page.get_by_label("Quality target").select_option("custom")
    assert custom.is_visible() and custom.evaluate("e => e.required")
    assert "(optional)" not in page.locator("label", has=page.locator("text=Custom target")).inner_text()
    check_page(page, "upload-custom")

    page.get_by_label("Image").set_input_files(
        {"name": "garden.png", "mimeType": "image/png", "buffer": image_bytes(make_photo(48, 32))}
    )
    page.get_by_role("button", name="Compress and encrypt").click()
    # The empty custom target is caught before sending: same page, the chosen file still there.
    assert page.url.endswith("/upload/")
    assert custom.evaluate("e => !e.validity.valid")
    assert page.get_by_label("Image").evaluate("e => e.files.length && e.files[0].name") == "garden.png"


def test_the_benchmark_charts_fill_their_card(page, live_server):
    page.goto(f"{live_server.url}/benchmarks/")
    charts = page.locator(".chart img")
    assert charts.count() == 2
    for chart in charts.all():
        chart.scroll_into_view_if_needed()
        loaded, width, card = chart.evaluate(
            "e => [e.complete && e.naturalWidth > 0, e.getBoundingClientRect().width, e.closest('.card').clientWidth]"
        )
        assert loaded and width >= 0.85 * card - 40, f"chart {width} px wide in a {card} px card"
    check_page(page, "benchmarks")


def test_the_other_pages_fit_and_pass_axe(page, live_server):
    for name, path in {"landing": "/", "password-reset": "/accounts/password/reset/"}.items():
        page.goto(f"{live_server.url}{path}")
        check_page(page, name)
    log_in(page, live_server)
    for name, path in {"landing-user": "/", "profile": "/accounts/profile/", "password-change": "/accounts/password/change/"}.items():
        page.goto(f"{live_server.url}{path}")
        check_page(page, name)


def test_the_admin_record_pages_fit(page, live_server):
    from vault import services

    user = log_in(page, live_server, "root", staff=True)
    record, _ = services.store_image(
        owner=user, master_key=user.master_key, uploaded_file_or_bytes=image_bytes(make_photo(seed=6)), filename="a-rather-long-file-name-"
        "from-a-camera-IMG_20261125_203000.png", codec="auto",
    )
    page.goto(f"{live_server.url}/admin/vault/imagerecord/")
    psnr = page.get_by_role("columnheader", name="PSNR")
    assert psnr.is_visible()
    if page.view_name == "laptop":  # every column on screen, none cut off by the sidebars
        last = page.locator("#result_list thead th").last
        edges = last.evaluate("e => [e.getBoundingClientRect().right, e.closest('.results').getBoundingClientRect().right]")
        assert edges[0] <= edges[1] + 1, f"the last column ends at {edges[0]} px, its box at {edges[1]} px"
    check_page(page, "admin-list")
    page.goto(f"{live_server.url}/admin/vault/imagerecord/{record.pk}/change/")
    assert page.locator("table.vault-admin-table").count() == 2
    check_page(page, "admin-record")
