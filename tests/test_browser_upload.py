"""Batch upload in a real browser (the fixtures and checks of tests/test_browser.py): several files
chosen at once, each sent by the page's script with its own bar, followed to "done" with a link to
its page, then found in the gallery; a file the API refuses shows the API's message in its row;
the gallery follows a job from queued to done without a reload. At 1280 and 390 px, with the
overflow and axe checks of every page."""
import re

import pytest

from tests.conftest import image_bytes, make_photo
from tests.test_browser import _fresh_throttles, browser, check_page, log_in, page, view  # noqa: F401 - fixtures used by name

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.django_db(transaction=True)
DONE_TIMEOUT = 60_000  # ms: each job runs eagerly inside its upload request on this slow machine


from tests.live_server import ONE_AT_A_TIME, server_answers_one_request_at_a_time  # noqa: F401 (autouse)


def photo(name, seed, width=96, height=64):
    return {"name": name, "mimeType": "image/png", "buffer": image_bytes(make_photo(width, height, seed=seed))}


def test_three_files_upload_side_by_side_each_reaching_done_then_the_gallery(page, live_server):
    from vault.models import ImageRecord

    user = log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    names = ["beach.png", "a-rather-long-file-name-from-a-phone-IMG_20261125_203000.png", "forest.png"]
    page.get_by_label("Images").set_input_files([photo(name, seed) for seed, name in enumerate(names)])
    rows = page.locator(".upload-item")
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-state", "ready")
    check_page(page, "upload-batch-chosen")

    page.get_by_role("button", name="Compress and encrypt").click()
    for name in names:
        row = page.locator(".upload-item", has_text=name)
        expect(row).to_have_attribute("data-state", "done", timeout=DONE_TIMEOUT)
        expect(row.locator(".upload-state")).to_contain_text("Done")
        link = row.get_by_role("link", name=name)
        assert re.fullmatch(r"/images/\d+/", link.get_attribute("href")), link.get_attribute("href")
    expect(page.locator("[data-upload-summary]")).to_contain_text("3 images: 3 done")
    assert page.get_by_label("Images").evaluate("e => e.files.length") == 0  # sent: not sent again
    check_page(page, "upload-batch-done")

    with ONE_AT_A_TIME:
        records = list(ImageRecord.objects.filter(owner=user))
    assert sorted(r.name for r in records) == sorted(names) and {r.status for r in records} == {"done"}
    assert len({r.upload_token for r in records}) == 3  # one Idempotency-Key per file

    page.get_by_role("link", name="See them in your gallery").click()
    page.wait_for_url(re.compile(r"/images/$"))
    for record in records:
        expect(page.locator(f'.thumb[data-job-id="{record.pk}"] img')).to_be_visible()
    check_page(page, "gallery-batch")


def test_a_file_the_api_refuses_shows_its_message_and_the_others_go_on(page, live_server):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    page.get_by_label("Images").set_input_files(
        [photo("good.png", 1), {"name": "notes.png", "mimeType": "image/png", "buffer": b"a shopping list, not a photo\n" * 20}]
    )
    page.get_by_role("button", name="Compress and encrypt").click()

    bad = page.locator(".upload-item", has_text="notes.png")
    expect(bad).to_have_attribute("data-state", "error", timeout=DONE_TIMEOUT)
    expect(bad.locator(".upload-state")).to_contain_text("'notes.png' is not an image we can read")
    expect(bad.get_by_role("button")).to_have_count(0)  # the same bytes would be refused again
    expect(page.locator(".upload-item", has_text="good.png")).to_have_attribute("data-state", "done", timeout=DONE_TIMEOUT)
    check_page(page, "upload-batch-refused")


def test_dropped_and_pasted_images_join_the_list_and_a_too_large_one_is_refused_before_sending(page, live_server, settings):
    settings.UPLOAD_MAX_BYTES = 20_000
    log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    small, large = image_bytes(make_photo(48, 32, seed=1)), image_bytes(make_photo(200, 200, seed=2))
    assert len(small) < 20_000 < len(large)
    page.evaluate(
        """([small, large]) => {
            const file = (bytes, name) => new File([new Uint8Array(bytes)], name, {type: "image/png"});
            const dropped = new DataTransfer();
            dropped.items.add(file(small, "dropped.png"));
            dropped.items.add(file(large, "huge.png"));
            const zone = document.querySelector("[data-drop-zone]");
            zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: dropped, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dropped, bubbles: true, cancelable: true}));
            const pasted = new DataTransfer();
            pasted.items.add(file(small, "image.png"));  // what a screenshot in the clipboard is called
            document.body.dispatchEvent(new ClipboardEvent("paste", {clipboardData: pasted, bubbles: true, cancelable: true}));
        }""",
        [list(small), list(large)],
    )
    rows = page.locator(".upload-item")
    expect(rows).to_have_count(3)
    expect(page.locator(".upload-item", has_text="dropped.png")).to_have_attribute("data-state", "ready")
    huge = page.locator(".upload-item", has_text="huge.png")
    expect(huge).to_have_attribute("data-state", "refused")
    expect(huge).to_contain_text("The file is too large: ")
    expect(huge).to_contain_text("the limit is 19.5 KiB.")  # the units every page and message use
    pasted = page.locator(".upload-item", has_text=re.compile(r"pasted-\d{8}-\d{6}-1\.png"))
    expect(pasted).to_have_attribute("data-state", "ready")
    # The form's own file input now holds what will be sent: the two that fit.
    assert page.get_by_label("Images").evaluate("e => [...e.files].map(f => f.name).length") == 2
    expect(page.locator("[data-drop-zone]")).not_to_have_class(re.compile("is-dragging"))
    check_page(page, "upload-batch-dropped")

    page.locator(".upload-item", has_text="dropped.png").get_by_role("button", name=re.compile("^Remove")).click()
    expect(rows).to_have_count(2)
    assert page.get_by_label("Images").evaluate("e => e.files.length") == 1
    # Sent: the summary counts every row, the refused one too.
    page.get_by_role("button", name="Compress and encrypt").click()
    expect(page.locator("[data-upload-summary]")).to_contain_text("2 images: 1 done, 1 refused before sending.", timeout=DONE_TIMEOUT)


def test_the_gallery_follows_a_job_from_queued_to_done_without_a_reload(page, live_server):
    from tests.test_upload_batch_pages import stored
    from tests.vault_helpers import workers_away
    from vault import jobs

    user = log_in(page, live_server)
    with workers_away():
        record = stored(user, "waiting.png", seed=5)
    page.goto(f"{live_server.url}/images/")
    item = page.locator(f'.thumb[data-job-id="{record.pk}"]')
    expect(item.locator("progress")).to_be_visible()
    expect(item.locator(".job-stage")).to_contain_text("Queued")
    expect(item.get_by_role("button", name=re.compile("^Cancel"))).to_be_visible()
    check_page(page, "gallery-queued")
    page.goto(f"{live_server.url}/images/{record.pk}/")
    expect(page.locator("#job")).to_contain_text("Compressing in the background")
    expect(page.get_by_role("link", name="Compare")).to_have_count(0)
    expect(page.get_by_role("button", name="Compress again")).to_be_disabled()
    check_page(page, "detail-queued")
    page.go_back()
    page.evaluate("window.marker = 'same page'")

    with ONE_AT_A_TIME:
        jobs.run_job(record_id=record.pk, task_id=record.job_task_id)  # a worker takes it and finishes

    expect(item.locator("img")).to_be_visible(timeout=10_000)
    expect(item.locator("progress")).to_have_count(0)
    expect(item.locator(".thumb-meta .tag")).to_have_text("png")
    assert page.evaluate("window.marker") == "same page"  # updated in place, not reloaded


def test_a_failed_image_s_page_shows_the_error_and_retry_compresses_it(page, live_server):
    from tests.test_upload_batch_pages import failed, stored
    from tests.vault_helpers import workers_away
    from vault import jobs

    user = log_in(page, live_server)
    with workers_away(), pytest.MonkeyPatch.context() as patch:
        record = failed(user, "stubborn.png", message="The codec gave up on 'stubborn.png'.", monkeypatch=patch)
        stopped = jobs.cancel_job(record=stored(user, "stopped.png", seed=3))
        stored(user, "waiting.png", seed=4)
    for view_name in ("grid", "list"):
        page.goto(f"{live_server.url}/images/?view={view_name}")
        item = page.locator(f'[data-job-id="{record.pk}"]')
        expect(item).to_contain_text("Failed: The codec gave up on 'stubborn.png'.")
        expect(item.get_by_role("button", name=re.compile("^Retry"))).to_be_visible()
        expect(page.locator(f'[data-job-id="{stopped.pk}"]')).to_contain_text("Cancelled; the original is kept.")
        check_page(page, f"gallery-{view_name}-job-states")
    page.goto(f"{live_server.url}/images/{record.pk}/")
    job = page.locator("#job")
    expect(job).to_contain_text("Compression failed")
    expect(job).to_contain_text("The codec gave up on 'stubborn.png'.")
    check_page(page, "detail-failed")

    job.get_by_role("button", name=re.compile("^Retry")).click()  # workers are back: it runs at once
    page.wait_for_url(re.compile(rf"/images/{record.pk}/$"))
    expect(page.locator(".messages")).to_contain_text("queued for compression again")
    expect(page.locator("#job")).to_have_count(0)
    expect(page.get_by_role("link", name="Compare")).to_be_visible()


def test_an_image_s_page_shows_the_result_by_itself_when_its_job_ends(page, live_server):
    from tests.test_upload_batch_pages import stored
    from tests.vault_helpers import workers_away
    from vault import jobs

    user = log_in(page, live_server)
    with workers_away():
        record = stored(user, "patience.png", seed=7, codec="webp")
    page.goto(f"{live_server.url}/images/{record.pk}/")
    expect(page.locator("#job .job-stage")).to_contain_text("Queued")
    ImageRecord = type(record)
    with ONE_AT_A_TIME:
        ImageRecord.objects.filter(pk=record.pk).update(status="running", progress=37, stage="searching webp")
    expect(page.locator("#job .job-stage")).to_have_text("Compressing: searching webp · 37 %")
    assert page.locator("#job progress").evaluate("e => e.value") == 37

    with ONE_AT_A_TIME:
        ImageRecord.objects.filter(pk=record.pk).update(status="queued")  # as the worker finds it
        jobs.run_job(record_id=record.pk, task_id=record.job_task_id)

    expect(page.get_by_role("link", name="Compare")).to_be_visible(timeout=10_000)
    expect(page.locator("#job")).to_have_count(0)
    expect(page.locator(".preview img")).to_be_visible()


def test_an_upload_waiting_for_a_worker_can_be_cancelled_and_retried_from_its_row(page, live_server):
    from tests.vault_helpers import workers_away

    log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    page.get_by_label("Images").set_input_files([photo("later.png", 4)])
    row = page.locator(".upload-item", has_text="later.png")
    with workers_away() as sent:
        page.get_by_role("button", name="Compress and encrypt").click()
        expect(row).to_have_attribute("data-state", "queued", timeout=DONE_TIMEOUT)
        expect(row.locator(".upload-state")).to_contain_text("Stored; next in your queue")  # its place, not just "waiting"
        assert len(sent) == 1
        row.get_by_role("button", name=re.compile("^Cancel")).click()
        expect(row).to_have_attribute("data-state", "cancelled")
    # Workers are back: Retry runs the job again (at once, in the test's eager mode).
    row.get_by_role("button", name=re.compile("^Retry")).click()
    expect(row).to_have_attribute("data-state", "done", timeout=DONE_TIMEOUT)
    expect(row.get_by_role("link", name="later.png")).to_be_visible()


def test_without_javascript_the_form_posts_several_files_and_lands_on_the_gallery(browser, live_server):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(DONE_TIMEOUT)
        log_in(page, live_server)
        page.goto(f"{live_server.url}/upload/")
        expect(page.locator("[data-upload-list]")).to_be_hidden()  # the script's list and hint only with the script
        page.get_by_label("Images").set_input_files([photo("one.png", 1), photo("two.png", 2)])
        page.get_by_role("button", name="Compress and encrypt").click()
        page.wait_for_url(re.compile(r"/images/$"))
        expect(page.locator(".messages")).to_contain_text("'one.png', 'two.png'")
        expect(page.locator(".thumb")).to_have_count(2)
    finally:
        context.close()


def test_uploads_over_the_throttle_wait_as_the_server_says_then_go_on(page, live_server, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "1/s"},
    }
    answers = []
    page.on("response", lambda r: r.request.method == "POST" and "/api/v1/images/" in r.url and answers.append(r.status))
    log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    page.get_by_label("Images").set_input_files([photo(f"burst{i}.png", i) for i in range(3)])
    page.get_by_role("button", name="Compress and encrypt").click()

    for i in range(3):
        expect(page.locator(".upload-item", has_text=f"burst{i}.png")).to_have_attribute("data-state", "done", timeout=DONE_TIMEOUT)
    assert 429 in answers and answers.count(202) == 3, answers


def test_a_file_already_in_the_vault_offers_the_existing_image_or_keeping_both(page, live_server):
    from vault.models import ImageRecord

    user = log_in(page, live_server)
    page.goto(f"{live_server.url}/upload/")
    page.get_by_label("Images").set_input_files([photo("first.png", 5)])
    page.get_by_role("button", name="Compress and encrypt").click()
    expect(page.locator(".upload-item", has_text="first.png")).to_have_attribute("data-state", "done", timeout=DONE_TIMEOUT)
    page.goto(f"{live_server.url}/upload/")
    page.get_by_label("Images").set_input_files([photo("again.png", 5)])
    page.get_by_role("button", name="Compress and encrypt").click()
    row = page.locator(".upload-item", has_text="again.png")
    expect(row.locator(".upload-state")).to_contain_text("already in your vault as 'first.png'", timeout=DONE_TIMEOUT)
    with ONE_AT_A_TIME:
        first = ImageRecord.objects.get(owner=user)
    expect(row.get_by_role("link", name="Open the one you have")).to_have_attribute("href", f"/images/{first.pk}/")
    check_page(page, "upload-duplicate")
    row.get_by_role("button", name=re.compile("^Keep both")).click()
    expect(row).to_have_attribute("data-state", "done", timeout=DONE_TIMEOUT)
    with ONE_AT_A_TIME:
        assert ImageRecord.objects.filter(owner=user).count() == 2
