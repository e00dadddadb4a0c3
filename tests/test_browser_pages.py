"""Issue 27's pages in a real browser (the fixtures and checks of tests/test_browser.py): the
password change says what it does, a lossless copy's difference is all zero, the share recipient's
page at 1280 and 390 px (and a link that opens nothing, said on arrival), confirmations that block
until confirmed, the progress label naming `mscae` while it searches, queue places, the gallery's
sort and selection, and the list view on a phone as cards. Screenshots: var/screenshots/."""
import re
import threading
import time

import pytest
from django.utils import timezone

from tests.conftest import make_photo
from tests.test_learned_portal import tiny_model  # noqa: F401 - fixture
from tests.test_browser import (  # noqa: F401 - fixtures used by name
    PASSWORD, VIEWS, _fresh_throttles, browser, check_page, live_server, log_in, open_compare, page, stored, view,
)

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.django_db(transaction=True)

from tests.live_server import ONE_AT_A_TIME, server_answers_one_request_at_a_time  # noqa: F401 (autouse)


@pytest.fixture
def laptop(browser):
    """One view is enough where the layout is not what is tested."""
    width, height, scheme = VIEWS["laptop"]
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    errors = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.view_name = "laptop"
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def test_the_password_change_warns_before_and_says_what_happened_after(laptop, live_server):
    from accounts.models import ApiToken
    from accounts.services import create_api_token

    page = laptop
    user = log_in(page, live_server)
    create_api_token(user=user, name="script", master_key=user.master_key)
    page.goto(f"{live_server.url}/accounts/password/change/")
    warning = page.get_by_role("note")
    expect(warning).to_contain_text("revokes all your API tokens")
    check_page(page, "password-change-warning")
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-New-and-long-passw0rd")
    page.get_by_label("New password confirmation").fill("a-New-and-long-passw0rd")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(re.compile(r"/password/change/done/$"))
    result = page.locator("main").inner_text()
    assert "API tokens were revoked" in result and "keep working" not in result
    assert not ApiToken.objects.filter(user=user).exists()  # what the page says is what happened
    page.goto(f"{live_server.url}/accounts/profile/")
    expect(page.locator("body")).to_contain_text("no API tokens")


def test_the_difference_view_of_a_lossless_transparent_image_is_all_zero(laptop, live_server):
    page = laptop
    user = log_in(page, live_server)
    record = stored(user, make_photo(160, 120, seed=4, mode="RGBA"), name="transparent.png", codec="webp-lossless")
    open_compare(page, live_server, record)
    page.get_by_role("button", name="Difference").click()
    page.wait_for_function("() => /Largest difference/.test(document.querySelector('.compare-diff-note').textContent)")
    note = page.locator(".compare-diff-note").inner_text()
    assert "Largest difference 0 of 255, mean 0.00" in note, note
    brightest = page.evaluate(
        "() => { const c = document.querySelector('.pane-diff canvas'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let m = 0; for (let i = 0; i < d.length; i += 4) m = Math.max(m, d[i], d[i+1], d[i+2]); return m; }"
    )
    assert brightest == 0
    check_page(page, "compare-difference-lossless")


def _share(user, record, *, days=3, **extra):
    from vault import services

    share, key = services.create_share(record=record, master_key=user.master_key, label="for Dana",
                                       expires_at=timezone.now() + timezone.timedelta(days=days), **extra)
    return share, key


def test_the_share_recipient_s_page_shows_the_image_who_shared_it_until_when_and_the_downloads(page, live_server):
    from django.contrib.auth import get_user_model

    from vault import keyring

    owner = get_user_model().objects.create_user("alice", password=PASSWORD)
    owner.master_key, _ = keyring.create_vault(user=owner, password=PASSWORD)
    record = stored(owner, make_photo(1200, 800, seed=3), name="harbour-at-dusk.png", codec="webp", quality=70)
    share, key = _share(owner, record)

    page.goto(f"{live_server.url}/s/{share.public_id}/#{key}")  # a private window: no account, no cookies
    page.wait_for_url(re.compile(rf"/s/{share.public_id}/$"))  # opened by itself, the key gone from the address
    picture = page.locator(".share-figure img")
    page.wait_for_function("() => { const i = document.querySelector('.share-figure img'); return i && i.complete && i.naturalWidth > 0; }")
    assert picture.evaluate("i => i.naturalWidth") == 1200
    box, screen = picture.bounding_box(), page.viewport_size
    assert box["width"] <= screen["width"] and box["height"] <= screen["height"], (box, screen)  # fitted
    assert box["width"] >= min(screen["width"] - 80, 600), box  # and large, not a thumbnail
    expect(page.locator("h1")).to_have_text("harbour-at-dusk.png")
    meta = page.locator(".share-meta").inner_text()
    assert "alice" in meta and share.expires_at.strftime("%Y") in meta and "until" in meta
    for name in ("Compressed", "Original"):
        expect(page.get_by_role("link", name=re.compile(name))).to_be_visible()
    check_page(page, "share-page")

    page.get_by_role("button", name="Full size").click()
    assert page.locator(".share-figure").get_attribute("data-zoom") == "full"
    assert round(picture.bounding_box()["width"]) == 1200  # one image pixel per screen pixel
    page.get_by_role("button", name="Fit to screen").click()
    assert picture.bounding_box()["width"] <= screen["width"]

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Original")).click()
    assert download.value.suggested_filename == "harbour-at-dusk.png"

    # A made-up link says so as soon as it is opened, with nothing to submit.
    response = page.goto(f"{live_server.url}/s/not-a-share/#{key}")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("This link opens nothing")
    assert page.locator("input[name=key]").count() == 0
    check_page(page, "share-invalid")


def test_confirmations_block_revoking_a_share_and_a_new_recovery_key_until_confirmed(laptop, live_server):
    from vault import keyring
    from vault.models import Share

    page = laptop
    user = log_in(page, live_server)
    record = stored(user, make_photo(96, 64, seed=2), name="field.png", codec="webp", quality=70)
    share, _key = _share(user, record)
    page.goto(f"{live_server.url}/images/{record.pk}/")
    page.get_by_role("link", name="Revoke…").click()
    expect(page.locator("h1")).to_have_text("Revoke this share?")
    check_page(page, "share-revoke")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(rf"/images/{record.pk}/$"))
    assert Share.objects.filter(pk=share.pk).exists()
    page.get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name="Revoke the link").click()
    page.wait_for_url(re.compile(rf"/images/{record.pk}/$"))
    assert not Share.objects.filter(pk=share.pk).exists()

    with ONE_AT_A_TIME:
        old_wrap = bytes(keyring.vault_of(user).recovery_wrap)
    page.goto(f"{live_server.url}/accounts/profile/")
    page.get_by_role("link", name="Make a new recovery key…").click()
    replace = page.get_by_role("button", name="Replace my recovery key")
    replace.click()  # neither ticked nor the password typed: the browser keeps the page
    assert page.url.endswith("/vault/recovery-key/") and page.locator("#recovery-key").count() == 0
    page.get_by_label("I understand").check()
    replace.click()  # the password still missing
    assert page.locator("#recovery-key").count() == 0
    with ONE_AT_A_TIME:
        assert bytes(keyring.vault_of(user).recovery_wrap) == old_wrap  # nothing replaced so far
    check_page(page, "recovery-key-confirm")
    page.get_by_label("Your password").fill(PASSWORD)
    replace.click()
    expect(page.locator("#recovery-key")).to_be_visible()
    with ONE_AT_A_TIME:
        assert bytes(keyring.vault_of(user).recovery_wrap) != old_wrap
    page.get_by_role("button", name="Continue").click()  # the "I have saved it" box left unticked
    page.goto(f"{live_server.url}/accounts/profile/")
    expect(page.locator(".recovery-reminder")).to_contain_text("not confirmed saving your recovery key")


def test_deleting_from_the_trash_and_revoking_a_token_wait_for_ok(laptop, live_server):
    from accounts.models import ApiToken
    from accounts.services import create_api_token
    from vault import services
    from vault.models import ImageRecord

    page = laptop
    user = log_in(page, live_server)
    record = stored(user, make_photo(96, 64, seed=6), name="gone.png", codec="webp", quality=70)
    services.move_to_trash(record=record)
    create_api_token(user=user, name="script", master_key=user.master_key)
    asked = []

    def answer(accept):
        def handle(dialog):
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    for url, button, still_there in (
        ("/images/trash/", re.compile("^Delete now"), lambda: ImageRecord.objects.filter(pk=record.pk).exists()),
        ("/accounts/profile/", re.compile("^Revoke script"), lambda: ApiToken.objects.filter(user=user).exists()),
    ):
        page.goto(f"{live_server.url}{url}")
        page.once("dialog", answer(False))
        page.get_by_role("button", name=button).click()
        page.wait_for_timeout(300)  # time for a form that was (wrongly) sent to arrive
        with ONE_AT_A_TIME:
            assert still_there(), f"{url}: done without the OK"
        page.once("dialog", answer(True))
        with page.expect_navigation():
            page.get_by_role("button", name=button).click()
        with ONE_AT_A_TIME:
            assert not still_there(), f"{url}: not done after the OK"
    assert "cannot be restored" in asked[0] and "cannot be undone" in asked[2] and len(asked) == 4


def test_a_storage_saver_upload_waits_for_ok(laptop, live_server):
    from tests.conftest import image_bytes
    from vault.models import ImageRecord

    page = laptop
    log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    page.locator("input[name=storage][value=saver]").check()
    page.get_by_label("Images").set_input_files(
        {"name": "saver.png", "mimeType": "image/png", "buffer": image_bytes(make_photo(48, 32, seed=9))})
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Compress and encrypt").click()
    page.wait_for_timeout(500)
    with ONE_AT_A_TIME:
        assert not ImageRecord.objects.exists(), "sent without the OK"
    assert asked and "deletes the original" in asked[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Compress and encrypt").click()
    page.locator(".upload-item[data-state=done]", has_text="saver.png").wait_for(timeout=60_000)
    with ONE_AT_A_TIME:
        assert ImageRecord.objects.get().storage_mode == "saver"


def test_the_progress_label_names_mscae_while_it_searches_and_the_bar_moves(laptop, live_server, tiny_model, monkeypatch):
    """The worker's progress callback writes (stage, percent) to the record (vault/jobs/worker.py's
    ProgressWriter); here the test thread writes what the real search reports, since a second
    thread cannot share the in-memory test database. The learned codec is slowed by a hook."""
    from compression.services import compress_image
    from tests.test_progress_labels import slow_learned_codec
    from tests.test_upload_batch_pages import stored as queued_record
    from tests.vault_helpers import workers_away
    from vault.models import ImageRecord

    page = laptop
    user = log_in(page, live_server)
    with workers_away():
        record = queued_record(user, "slow.png", seed=5, codec="auto")
    page.goto(f"{live_server.url}/images/{record.pk}/")
    expect(page.locator("#job .job-stage")).to_contain_text("next in your queue")
    slow_learned_codec(tiny_model, monkeypatch, analysis_seconds=2.5, encode_seconds=2.5)
    latest = {}
    search = threading.Thread(target=lambda: compress_image(
        image=make_photo(64, 48, seed=4), codec="auto", target="small", effort="fast",
        progress=lambda stage, fraction: latest.update(stage=stage, percent=min(99, int(fraction * 100))),
    ))
    search.start()
    shown = []
    while search.is_alive():
        if latest:
            with ONE_AT_A_TIME:
                ImageRecord.objects.filter(pk=record.pk).update(status="running", stage=latest["stage"][:64], progress=latest["percent"])
        time.sleep(0.25)
        shown.append(page.locator("#job .job-stage").inner_text())
    search.join()
    about_mscae = [text for text in shown if "mscae" in text]
    assert any("mscae: analysing the image" in text for text in about_mscae), sorted(set(shown))
    assert any(text.startswith("Compressing: searching mscae ·") for text in about_mscae), sorted(set(shown))
    percents = {int(re.search(r"(\d+) %", text).group(1)) for text in about_mscae}
    assert len(percents) >= 3, about_mscae  # the bar moves while mscae works


def test_the_gallery_sorts_on_change_shows_selection_actions_and_queue_places(laptop, live_server):
    from tests.test_upload_batch_pages import stored as queued_record
    from tests.vault_helpers import workers_away

    page = laptop
    user = log_in(page, live_server)
    stored(user, make_photo(96, 64, seed=1), name="older.png", codec="webp", quality=70)
    with workers_away():
        first = queued_record(user, "first.png", seed=2)
        second = queued_record(user, "second.png", seed=3)
    page.goto(f"{live_server.url}/images/")
    expect(page.locator(f'[data-job-id="{first.pk}"] .job-stage')).to_contain_text("next in your queue")
    expect(page.locator(f'[data-job-id="{second.pk}"] .job-stage')).to_contain_text("2nd in your queue")
    assert not page.get_by_role("button", name="Apply").is_visible()
    actions = page.locator("[data-selection-actions]")
    assert not actions.is_visible()  # nothing selected, nothing to act on
    page.get_by_label("Select older.png").check()
    expect(actions).to_be_visible()
    expect(actions).to_contain_text("1 selected")
    page.get_by_label("Sort").select_option("oldest")
    page.wait_for_url(re.compile(r"sort=oldest"))
    assert page.locator(".thumb-name").first.inner_text() == "older.png"
    select = page.get_by_label("Sort")
    height = select.evaluate("e => e.getBoundingClientRect().height")
    assert height >= 32, f"the sort select is {height} px high"
    # Locked, the finished image shows a drawn padlock (inline SVG), not an emoji needing a font.
    page.goto(f"{live_server.url}/accounts/profile/")
    page.get_by_role("button", name="Lock now").click()
    page.goto(f"{live_server.url}/images/")
    padlock = page.locator(".thumb-locked svg.icon")
    assert padlock.count() == 1 and padlock.bounding_box()["width"] >= 24
    assert "\U0001f512" not in page.content()


def test_the_list_view_on_a_phone_shows_every_column(page, live_server):
    user = log_in(page, live_server)
    stored(user, make_photo(96, 64, seed=1), name="transparent-background-logo-final.png", codec="webp", quality=70)
    stored(user, make_photo(96, 64, seed=2), name="field.png", codec="png")
    page.goto(f"{live_server.url}/images/?view=list")
    rows = page.locator("table.data tbody tr")
    assert rows.count() == 2
    labels = ["Taken", "Uploaded", "Codec", "Original", "Compressed", "Stored", "PSNR"]
    width = page.viewport_size["width"]
    for row in rows.all():
        for label in labels:
            cell = row.locator(f'td[data-label="{label}"]')
            box = cell.bounding_box()
            assert box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (label, box)
            if page.view_name == "phone":  # a card: each value with its column's name beside it
                shown = cell.evaluate("e => getComputedStyle(e, '::before').content")
                assert shown == f'"{label}"', shown
    check_page(page, "gallery-list")
