"""The pages in a real browser: Debian's chromium driven by Playwright, at a laptop's 1280 px
(light colour scheme) and a phone's 390 px (dark scheme, so both palettes meet the contrast
check). On every page: no horizontal overflow, and axe-core (served from our own static/) finds
no serious or critical violation. Full-page screenshots go to var/screenshots/ (git-ignored; CI
keeps them as artefacts).

Playwright never downloads a browser here: it drives /usr/bin/chromium (CHROMIUM overrides),
which `.ci/run` installs with apt. Without it these tests skip, saying so.
"""
import io
import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from PIL import Image, ImageChops

from tests.conftest import image_bytes, make_photo
from tests.live_server import start_live_server

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


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """The live server's throttle counts live in the cache table, which no test rolls back: each test
    starts as a new visitor would, not throttled by the logins of the tests before it."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="module")
def live_server(django_db_setup):
    server = start_live_server()
    yield server
    server.stop()


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
    if staff:  # the admin asks staff for their second factor (tests/test_accounts_two_factor.py)
        from tests.vault_helpers import verify_second_factor

        verify_second_factor(client, user)
    page.context.add_cookies([{"name": c.key, "value": c.value, "url": live_server.url} for c in client.cookies.values()])
    return user


def check_page(page, name):
    """What every page must pass: a screenshot kept, nothing wider than the screen, axe clean.
    Boxes that scroll or clip their content (tables, charts, the compare viewer's panes) are
    checked as boxes; what they hold may be wider."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{page.view_name}.png", full_page=True)
    overflow = page.evaluate(
        "() => ({page: document.documentElement.scrollWidth, screen: window.innerWidth,"
        " wide: [...document.querySelectorAll('body *')]"
        "   .filter(e => !e.closest('.table-wrap, .chart') && !(e.parentElement && e.parentElement.closest('.compare-pane')))"
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
    # The page's script sends it to the API and follows its background job (test_browser_upload.py).
    page.locator(".upload-item[data-state=done]", has_text="garden.png").wait_for(timeout=60_000)

    from tests.vault_helpers import opened
    from vault import keyring, presentation
    from vault.models import ImageRecord

    record = ImageRecord.objects.get(owner__username="carol")
    # The reason and candidates are sealed (vault/figures.py): read them as the unlocked page does.
    record = opened(record, keyring.unlock_with_password(user=record.owner, password=PASSWORD))
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
    # The codec parameters; the candidates are sealed under the owner's key (vault/figures.py).
    assert page.locator("table.vault-admin-table").count() == 1
    check_page(page, "admin-record")


# --- the compare view --------------------------------------------------------------------------

def stored(user, image, name="photo.png", **options):
    from vault import services

    record, _ = services.store_image(
        owner=user, master_key=user.master_key, uploaded_file_or_bytes=image_bytes(image), filename=name, **options
    )
    return record


def open_compare(page, live_server, record):
    page.goto(f"{live_server.url}/images/{record.pk}/compare/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.compare-pane img')].every(i => i.complete && i.naturalWidth > 0)"
        " && document.querySelector('.compare.is-live')"
    )


def zoom_percent(page):
    return float(page.locator(".compare-zoom").inner_text().rstrip(" %"))


def pictures(page, selector=".pane-original img, .pane-compressed img"):
    """Where each picture is drawn: its transform and size as set, and its box on screen."""
    return page.evaluate(
        "s => [...document.querySelectorAll(s)].map(e => { const r = e.getBoundingClientRect();"
        " return {transform: e.style.transform, width: e.style.width, box: [r.x, r.y, r.width, r.height].map(v => Math.round(v * 100) / 100)} })",
        selector,
    )


def assert_aligned(page, selector=".pane-original img, .pane-compressed img"):
    drawn = pictures(page, selector)
    assert len(drawn) >= 2 and all(d == drawn[0] for d in drawn), f"the pictures are drawn differently: {drawn}"
    return drawn[0]


def test_compare_zoom_moves_both_pictures_together_down_to_single_pixels(page, live_server):
    user = log_in(page, live_server)
    record = stored(user, make_photo(1200, 900, seed=1), codec="webp", quality=40)
    open_compare(page, live_server, record)
    check_page(page, "compare")
    stage = page.locator(".compare-stage").bounding_box()
    fitted = zoom_percent(page)
    drawn = assert_aligned(page)
    x, y, w, h = drawn["box"]
    assert fitted < 100 and x >= stage["x"] - 1 and x + w <= stage["x"] + stage["width"] + 1 and y + h <= stage["y"] + stage["height"] + 1

    page.get_by_role("button", name="Zoom in").click()
    assert zoom_percent(page) > fitted
    assert_aligned(page)
    page.get_by_role("button", name="Zoom out").click()
    page.get_by_role("button", name="Zoom out").click()
    assert zoom_percent(page) < fitted

    page.get_by_role("button", name="1:1").click()
    assert page.locator(".compare-zoom").inner_text() == "100 %"
    drawn = assert_aligned(page)
    assert drawn["box"][2:] == [1200, 900], "1:1 is not the picture's natural size"
    assert page.locator(".pane-compressed img").evaluate("e => getComputedStyle(e).imageRendering") == "pixelated"
    check_page(page, "compare-1to1")  # the pictures are wider than the screen, the page is not

    # Dragging pans both (away from the divider in the middle, which a drag would move instead).
    grab = (round(stage["x"] + stage["width"] * 0.2), round(stage["y"] + stage["height"] * 0.5))  # whole pixels, as a mouse reports them
    before = pictures(page)[0]["box"]
    page.mouse.move(*grab)
    page.mouse.down()
    page.mouse.move(grab[0] + 60, grab[1] + 30, steps=4)
    page.mouse.up()
    after = assert_aligned(page)["box"]
    assert (round(after[0] - before[0]), round(after[1] - before[1])) == (60, 30), (before, after, stage)

    # The wheel zooms around the pointer; the keyboard has + − 0 1 and the arrows.
    page.mouse.move(stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_function("() => document.querySelector('.compare-zoom').textContent !== '100 %'")
    assert zoom_percent(page) > 100
    assert_aligned(page)
    page.locator(".compare-stage").focus()
    page.keyboard.press("0")
    assert zoom_percent(page) == fitted
    page.keyboard.press("1")
    assert zoom_percent(page) == 100
    before = pictures(page)[0]["box"]
    page.keyboard.press("ArrowRight")
    after = assert_aligned(page)["box"]
    assert after[0] < before[0] and after[1] == before[1]  # looking right moves the picture left
    page.keyboard.press("+")
    assert zoom_percent(page) > 100
    page.keyboard.press("-")
    assert zoom_percent(page) == 100


def test_compare_divider_drags_and_each_side_stays_clipped_and_aligned(page, live_server):
    user = log_in(page, live_server)
    record = stored(user, make_photo(320, 240, seed=2), codec="webp", quality=50)
    open_compare(page, live_server, record)
    stage = page.locator(".compare-stage").bounding_box()
    handle = page.locator(".compare-divider").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] * 0.25, stage["y"] + stage["height"] / 2, steps=5)
    page.mouse.up()
    position = int(page.locator(".compare-divider").get_attribute("aria-valuenow"))
    assert 23 <= position <= 27, position
    assert_aligned(page)
    # Each side is clipped to its own part of the view, neither drawn over the other.
    pane_at = "([x, y]) => document.elementFromPoint(x, y).closest('.compare-pane').className"
    middle = stage["y"] + stage["height"] / 2
    assert "pane-original" in page.evaluate(pane_at, [stage["x"] + stage["width"] * 0.1, middle])
    assert "pane-compressed" in page.evaluate(pane_at, [stage["x"] + stage["width"] * 0.6, middle])

    page.locator(".compare-divider").focus()
    page.keyboard.press("ArrowRight")
    assert int(page.locator(".compare-divider").get_attribute("aria-valuenow")) == position + 2

    page.get_by_role("button", name="Side by side").click()
    assert page.get_by_role("button", name="Side by side").get_attribute("aria-pressed") == "true"
    assert not page.locator(".compare-divider").is_visible()
    first, second = (page.locator(p).bounding_box() for p in (".pane-original", ".pane-compressed"))
    assert (first["width"], first["height"]) == (second["width"], second["height"])
    if page.view_name == "laptop":
        assert first["x"] + first["width"] <= second["x"] and first["y"] == second["y"]
    else:  # one above the other on a phone
        assert first["y"] + first["height"] <= second["y"]
    page.get_by_role("button", name="Zoom in").click()
    drawn = pictures(page)
    assert drawn[0]["transform"] == drawn[1]["transform"] and drawn[0]["width"] == drawn[1]["width"]
    check_page(page, "compare-side-by-side")


def test_compare_background_is_the_same_under_both_sides_and_a_lossless_copy_looks_identical(page, live_server):
    user = log_in(page, live_server)
    record = stored(user, make_photo(160, 120, seed=4, mode="RGBA"), name="logo.png", codec="png")
    open_compare(page, live_server, record)
    backgrounds = "() => [...document.querySelectorAll('.pane-original, .pane-compressed')].map(e => getComputedStyle(e).background)"
    under = page.evaluate(backgrounds)
    assert under[0] == under[1] and "conic-gradient" in under[0]
    for name, colour in (("Black", "rgb(0, 0, 0)"), ("White", "rgb(255, 255, 255)")):
        page.get_by_role("button", name=name, exact=True).click()
        under = page.evaluate(backgrounds)
        assert under[0] == under[1] and under[0].startswith(colour), under

    # All original, then all compressed: for a lossless copy the two views are the same pixels.
    page.get_by_role("button", name="Checkerboard").click()
    page.locator(".compare-divider").focus()
    shots = []
    for key in ("End", "Home"):
        page.keyboard.press(key)
        shot = Image.open(io.BytesIO(page.locator(".compare-stage").screenshot())).convert("RGB")
        width, height = shot.size
        shots.append(shot.crop((30, 40, width - 30, height - 10)))  # without the labels and the divider at the edges
    assert ImageChops.difference(*shots).getbbox() is None, "a lossless copy looks different from its original"

    page.get_by_role("button", name="Difference").click()
    page.wait_for_function("() => /Largest difference/.test(document.querySelector('.compare-diff-note').textContent)")
    assert "Largest difference 0 of 255" in page.locator(".compare-diff-note").inner_text()
    check_page(page, "compare-alpha")


# JPEG XL: browsers get a PNG of its decoded pixels, and the difference is taken from those.
@pytest.mark.parametrize("codec", ["webp", "jxl"])
def test_compare_difference_view_amplifies_what_the_codec_changed(page, live_server, codec):
    user = log_in(page, live_server)
    record = stored(user, make_photo(200, 150, seed=5), codec=codec, quality=20)
    open_compare(page, live_server, record)
    page.get_by_role("button", name="Difference").click()
    note = page.locator(".compare-diff-note")
    page.wait_for_function("() => /Largest difference/.test(document.querySelector('.compare-diff-note').textContent)")
    largest = int(re.search(r"Largest difference (\d+)", note.inner_text()).group(1))
    assert largest > 0
    assert "× 8" in note.inner_text() and page.locator(".pane-diff .compare-label").inner_text().endswith("× 8")
    bright = "() => { const c = document.querySelector('.pane-diff canvas'); const d = c.getContext('2d')" \
             ".getImageData(0, 0, c.width, c.height).data; let m = 0; for (let i = 0; i < d.length; i += 4) m = Math.max(m, d[i], d[i+1], d[i+2]); return m; }"
    assert page.evaluate(bright) == min(255, largest * 8)
    page.get_by_label("Amplify").select_option("32")
    assert "× 32" in note.inner_text() and page.evaluate(bright) == min(255, largest * 32)
    # The difference zooms with the same controls and lines up with the pictures.
    page.get_by_role("button", name="1:1").click()
    canvas = pictures(page, ".pane-diff canvas")[0]
    assert canvas["box"][2:] == [200, 150]
    page.get_by_role("button", name="Divider").click()
    assert pictures(page)[0]["transform"] == canvas["transform"]
    page.get_by_role("button", name="Difference").click()
    check_page(page, f"compare-difference-{codec}")


def test_gallery_then_detail_then_compare_then_share_then_delete(page, live_server):
    user = log_in(page, live_server)
    stored(user, make_photo(120, 80, seed=7), name="harbour.png", codec="webp", quality=70)
    stored(user, make_photo(90, 60, seed=8), name="field.png", codec="webp", quality=70)
    page.goto(f"{live_server.url}/images/")
    check_page(page, "gallery")
    page.get_by_role("link", name=re.compile("harbour.png")).first.click()
    page.wait_for_url(re.compile(r"/images/\d+/$"))
    assert page.locator("h1").inner_text() == "harbour.png"

    page.get_by_role("link", name="Compare").click()
    page.wait_for_url(re.compile(r"/compare/$"))
    page.wait_for_function("() => [...document.querySelectorAll('.compare-pane img')].every(i => i.complete && i.naturalWidth === 120)")
    page.go_back()

    page.get_by_label("Label").fill("for Dana")
    page.get_by_role("button", name="Create a share link").click()
    assert page.locator("h1").inner_text() == "Share link for harbour.png"
    link = page.locator("#share-link").inner_text().strip()
    check_page(page, "share-created")

    visitor = page.context.browser.new_page()  # no cookies: someone without an account
    try:
        visitor.goto(link)  # the page sends the key from the link by itself and shows the image's page
        visitor.wait_for_function("() => { const i = document.querySelector('.share-figure img'); return i && i.complete && i.naturalWidth === 120; }")
        assert "#" not in visitor.url and visitor.locator("h1").inner_text() == "harbour.png"
    finally:
        visitor.close()

    page.get_by_role("link", name="Back to harbour.png").click()
    shares = page.locator("#shares tbody tr")
    assert shares.count() == 1 and "for Dana" in shares.inner_text()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete permanently").click()
    page.wait_for_url(re.compile(r"/images/$"))
    assert "Deleted" in page.locator(".messages").inner_text()
    assert page.get_by_role("link", name=re.compile("harbour.png")).count() == 0
    assert page.get_by_role("link", name=re.compile("field.png")).count() >= 1


def test_compare_pinch_zooms_both_pictures_around_the_fingers(page, live_server):
    user = log_in(page, live_server)
    record = stored(user, make_photo(800, 600, seed=3), codec="webp", quality=50)
    open_compare(page, live_server, record)
    fitted = zoom_percent(page)
    stage = page.locator(".compare-stage").bounding_box()
    x, y = round(stage["x"] + stage["width"] * 0.3), round(stage["y"] + stage["height"] * 0.5)
    before = pictures(page)[0]["box"]
    # Two fingers spreading from 50 to 100 px apart (touch events as the browser would send them).
    page.evaluate(
        """([x, y, from, to]) => {
          const stage = document.querySelector('.compare-stage');
          const fire = (type, id, px) => stage.dispatchEvent(new PointerEvent(type,
            {pointerId: id, pointerType: 'touch', isPrimary: id === 1, clientX: px, clientY: y, bubbles: true}));
          fire('pointerdown', 11, x - from / 2); fire('pointerdown', 12, x + from / 2);
          for (let step = 1; step <= 5; step++) {
            const d = (from + (to - from) * step / 5) / 2;
            fire('pointermove', 11, x - d); fire('pointermove', 12, x + d);
          }
          fire('pointerup', 11, x - to / 2); fire('pointerup', 12, x + to / 2);
        }""",
        [x, y, 50, 100],
    )
    assert zoom_percent(page) == pytest.approx(2 * fitted, rel=0.02)
    after = assert_aligned(page)["box"]
    # The picture's point under the fingers stays under them.
    assert (x - after[0]) / after[2] == pytest.approx((x - before[0]) / before[2], abs=0.005)
    assert (y - after[1]) / after[3] == pytest.approx((y - before[1]) / before[3], abs=0.005)


def test_compare_without_javascript_still_shows_both_pictures(browser, view, live_server):
    width, height, _scheme = VIEWS[view]
    context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=False)
    try:
        page = context.new_page()
        user = log_in(page, live_server)
        record = stored(user, make_photo(640, 480, seed=6), codec="webp", quality=50)
        page.goto(f"{live_server.url}/images/{record.pk}/compare/")
        images = page.locator(".compare-pane img")
        assert images.count() == 2
        for image in images.all():
            image.scroll_into_view_if_needed()
            assert image.is_visible() and image.evaluate("e => e.complete && e.naturalWidth") == 640
            box = image.bounding_box()
            assert box["width"] > 100 and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert not page.get_by_role("button", name="Zoom in").is_visible()  # the viewer's controls need the script
    finally:
        context.close()


def test_compare_shows_a_tiny_image_large_and_pixel_sharp(page, live_server):
    user = log_in(page, live_server)
    record = stored(user, make_photo(16, 16, seed=9), name="icon.png", codec="webp", quality=50)
    open_compare(page, live_server, record)
    stage = page.locator(".compare-stage")
    inner = stage.evaluate("e => [e.clientWidth, e.clientHeight]")
    drawn = assert_aligned(page)
    assert drawn["box"][2] == pytest.approx(min(inner), abs=1), f"a 16 px image fitted as {drawn['box']} in {inner}"
    assert page.locator(".pane-original img").evaluate("e => getComputedStyle(e).imageRendering") == "pixelated"
    fitted = zoom_percent(page)
    page.get_by_role("button", name="Zoom in").click()
    assert zoom_percent(page) >= fitted  # never smaller for a zoom in
    check_page(page, "compare-tiny")


def test_the_trash_export_and_account_deletion_pages_fit_and_pass_axe(page, live_server):
    from vault import services

    user = log_in(page, live_server)
    kept = stored(user, make_photo(96, 64, seed=1), name="kept.png", codec="webp", quality=70)
    gone = stored(user, make_photo(96, 64, seed=2), name="a-long-name-from-a-phone-IMG_20261125_203000.png", codec="webp", quality=70)
    services.move_to_trash(record=gone)
    page.goto(f"{live_server.url}/images/trash/")
    check_page(page, "trash")
    page.get_by_role("button", name=re.compile("^Restore")).click()
    page.wait_for_url(re.compile(r"/images/trash/$"))
    assert "Restored" in page.locator(".messages").inner_text()
    page.goto(f"{live_server.url}/images/{kept.pk}/delete/")
    check_page(page, "delete-to-trash")
    page.get_by_role("button", name="Move to trash").click()
    page.wait_for_url(re.compile(r"/images/$"))
    assert page.get_by_role("link", name="Open the trash").is_visible()
    page.goto(f"{live_server.url}/images/trash/empty/")
    check_page(page, "trash-empty")
    page.goto(f"{live_server.url}/images/export/")
    check_page(page, "export")
    page.goto(f"{live_server.url}/accounts/profile/delete/")
    check_page(page, "account-delete")
