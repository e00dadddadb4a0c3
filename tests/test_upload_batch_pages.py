"""Several files in one upload form, and the background jobs' states on the pages (gallery, an
image's page, the landing page): progress while queued or running, the error and Retry when failed,
Cancel while waiting, and "Compress again" from the stored original."""
import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import image_bytes, make_photo
from vault import jobs, services
from vault.models import ImageRecord

from .test_vault_pages import alice, client_alice  # noqa: F401 - fixtures used by name
from .vault_helpers import workers_away

pytestmark = pytest.mark.django_db
Status = ImageRecord.Status


def png(name, seed=0, data=None):
    return SimpleUploadedFile(name, image_bytes(make_photo(seed=seed)) if data is None else data, content_type="image/png")


def post_files(client, files, follow=False, **fields):
    payload = {"codec": "png", "target": "balanced", "custom_target": "", "quality": "", "file": files, **fields}
    return client.post(reverse("vault:upload"), payload, follow=follow)


def stored(owner, name="photo.png", seed=0, **options) -> ImageRecord:
    record, _ = services.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=image_bytes(make_photo(seed=seed)),
        filename=name, **{"codec": "png", **options},
    )
    return record


def failed(owner, name="broken.png", message="The codec gave up on 'broken.png'.", monkeypatch=None):
    """A record whose job ran and failed: the worker's own failure path."""
    record = stored(owner, name)
    assert record.status == Status.QUEUED

    def boom(**kwargs):
        raise ValueError(message)

    monkeypatch.setattr("vault.jobs.worker.compress_image", boom)
    jobs.run_job(record_id=record.pk, task_id=record.job_task_id)
    record.refresh_from_db()
    assert record.status == Status.FAILED
    return record


def page_text(response) -> str:
    return re.sub(r"\s+", " ", unescape(response.content.decode()))


# --- the form, several files at once ----------------------------------------------------------


def test_several_files_in_one_form_post_are_all_stored_and_the_gallery_says_so(client_alice, alice):
    response = post_files(client_alice, [png("a.png", 1), png("b.png", 2), png("c.png", 3)])

    assert response.status_code == 302 and response["Location"] == reverse("vault:gallery")
    records = ImageRecord.objects.filter(owner=alice)
    assert sorted(r.name for r in records) == ["a.png", "b.png", "c.png"]
    assert {r.status for r in records} == {Status.DONE}  # jobs run eagerly in tests
    gallery = client_alice.get(response["Location"])
    text = " ".join(str(m) for m in get_messages(gallery.wsgi_request))
    assert "'a.png'" in text and "'b.png'" in text and "'c.png'" in text
    for record in records:
        assert reverse("vault:detail", args=[record.pk]) in gallery.content.decode()


def test_one_bad_file_among_good_ones_stores_the_good_ones_and_names_the_bad_one(client_alice, alice):
    bad = png("notes.png", data=b"This is a shopping list, not a photo.\n" * 10)
    response = post_files(client_alice, [png("good1.png", 1), bad, png("good2.png", 2)], follow=True)

    assert response.redirect_chain[-1] == (reverse("vault:gallery"), 302)
    assert sorted(ImageRecord.objects.filter(owner=alice).values_list("name", flat=True)) == ["good1.png", "good2.png"]
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert len(errors) == 1 and "'notes.png'" in errors[0], errors


def test_a_post_whose_every_file_is_bad_stays_on_the_form_with_400(client_alice, alice):
    response = post_files(client_alice, [png("x.png", data=b""), png("y.png", data=b"not an image at all" * 5)])


    assert response.status_code == 400
    text = page_text(response)
    assert "'x.png'" in text and "'y.png'" in text
    assert not ImageRecord.objects.filter(owner=alice).exists()


def test_the_upload_page_takes_many_files_and_names_the_api_its_script_uses(client_alice):
    html = client_alice.get(reverse("vault:upload")).content.decode()

    file_input = re.search(r"<input[^>]*type=\"file\"[^>]*>", html).group(0)
    assert "multiple" in file_input and 'name="file"' in file_input
    assert f'data-api-upload="{reverse("image-list")}"' in html
    assert f'data-api-status="{reverse("image-status")}"' in html
    assert 'src="/static/js/upload-batch.js"' in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    inline = [tag for tag in scripts if "src=" not in tag and 'type="application/json"' not in tag]
    assert inline == [], "an inline script would be refused by the Content-Security-Policy"


# --- the gallery --------------------------------------------------------------------------------


def test_the_gallery_shows_a_queued_image_with_a_bar_and_cancel_instead_of_a_thumbnail(client_alice, alice, no_worker):
    post_files(client_alice, [png("waiting.png")])
    record = ImageRecord.objects.get(owner=alice)
    assert record.status == Status.QUEUED and no_worker == [record.job_task_id]

    for view in ("grid", "list"):
        html = client_alice.get(reverse("vault:gallery"), {"view": view}).content.decode()
        item = re.search(rf'<(?:li|tr)[^>]*data-job-id="{record.pk}"[^>]*>.*?</(?:li|tr)>', html, re.S).group(0)
        assert 'data-job-status="queued"' in item
        assert '<progress class="job-bar"' in item and "Queued" in item
        assert f'formaction="{reverse("vault:job-cancel", args=[record.pk])}"' in item
        assert reverse("vault:file", args=[record.pk, "thumbnail"]) not in item  # no broken image
        assert "0 bytes" not in item


def test_the_gallery_shows_a_running_job_s_progress_and_stage(client_alice, alice, no_worker):
    record = stored(alice)
    ImageRecord.objects.filter(pk=record.pk).update(status=Status.RUNNING, progress=42, stage="trying webp")

    html = page_text(client_alice.get(reverse("vault:gallery")))

    assert re.search(r'<progress class="job-bar" max="100" value="42"', html)
    assert "Compressing: trying webp · 42 %" in html


def test_the_gallery_shows_a_failed_job_s_error_with_retry_and_a_cancelled_one_says_so(client_alice, alice, no_worker, monkeypatch):
    broken = failed(alice, monkeypatch=monkeypatch)
    stopped = jobs.cancel_job(record=stored(alice, "stopped.png", seed=1))

    html = page_text(client_alice.get(reverse("vault:gallery")))

    assert "Failed: The codec gave up on 'broken.png'." in html
    assert f'formaction="{reverse("vault:job-retry", args=[broken.pk])}"' in html
    assert "Cancelled; the original is kept." in html
    assert f'formaction="{reverse("vault:job-retry", args=[stopped.pk])}"' in html
    assert "Cancel<" not in html and 'data-job-status="queued"' not in html


def test_cancel_and_retry_from_the_gallery_change_the_status_and_come_back(client_alice, alice, no_worker):
    record = stored(alice)
    gallery = reverse("vault:gallery") + "?sort=oldest"

    response = client_alice.post(reverse("vault:job-cancel", args=[record.pk]), {"next": gallery, "ids": [record.pk]})
    assert response.status_code == 302 and response["Location"] == gallery
    record.refresh_from_db()
    assert record.status == Status.CANCELLED and record.job_dk_wrap is None

    response = client_alice.post(reverse("vault:job-retry", args=[record.pk]), {"next": gallery})
    assert response.status_code == 302 and response["Location"] == gallery
    record.refresh_from_db()
    assert record.status == Status.QUEUED and len(no_worker) == 2  # sent to the broker again


def test_retry_of_a_failed_job_runs_it_again(client_alice, alice):
    # Queued without a worker, failed by one, then retried with workers back (eager).
    with workers_away(), pytest.MonkeyPatch.context() as patch:
        record = failed(alice, monkeypatch=patch)

    response = client_alice.post(reverse("vault:job-retry", args=[record.pk]), {"next": reverse("vault:gallery")})

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.status == Status.DONE and record.has_compressed and record.error == ""


def test_sorting_by_saving_puts_images_not_compressed_yet_last(client_alice, alice):
    done = stored(alice, "done.png", seed=1)
    with workers_away():
        waiting = stored(alice, "waiting.png", seed=2)
    assert done.compressed_size and waiting.compressed_size is None

    for sort in ("saving", "largest", "smallest", "newest"):
        for view in ("grid", "list"):
            response = client_alice.get(reverse("vault:gallery"), {"sort": sort, "view": view})
            assert response.status_code == 200
    names = [r.name for r in client_alice.get(reverse("vault:gallery"), {"sort": "saving"}).context["records"]]
    assert names == ["done.png", "waiting.png"]


# --- an image's page ----------------------------------------------------------------------------


def test_the_page_of_a_queued_image_shows_its_job_and_no_compressed_figures(client_alice, alice, no_worker):
    record = stored(alice)

    response = client_alice.get(reverse("vault:detail", args=[record.pk]))

    assert response.status_code == 200
    html = page_text(response)
    assert 'data-job-status="queued"' in html and "Compressing in the background" in html
    assert f'action="{reverse("vault:job-cancel", args=[record.pk])}"' in html
    assert reverse("vault:compare", args=[record.pk]) not in html
    assert reverse("vault:file", args=[record.pk, "thumbnail"]) not in html
    assert reverse("vault:file", args=[record.pk, "compressed"]) not in html
    assert reverse("vault:file", args=[record.pk, "original"]) in html  # the original is there already
    assert "Not compressed yet." in html and "∞" not in html and "0 bytes" not in html
    # "Compress again" is there, but waits for this job.
    assert re.search(r'<button type="submit" class="btn" disabled>Compress again</button>', html)


def test_the_page_of_a_failed_image_shows_the_error_and_retry(client_alice, alice, no_worker, monkeypatch):
    record = failed(alice, monkeypatch=monkeypatch)

    html = page_text(client_alice.get(reverse("vault:detail", args=[record.pk])))

    assert "Compression failed" in html and "The codec gave up on 'broken.png'." in html
    assert f'action="{reverse("vault:job-retry", args=[record.pk])}"' in html
    assert reverse("vault:job-cancel", args=[record.pk]) not in html
    assert reverse("vault:compare", args=[record.pk]) not in html


def test_a_done_image_has_compare_and_compress_again_with_its_options(client_alice, alice):
    record = stored(alice, codec="webp", quality=70, target=None)
    assert record.status == Status.DONE

    response = client_alice.get(reverse("vault:detail", args=[record.pk]))

    html = page_text(response)
    assert reverse("vault:compare", args=[record.pk]) in html
    assert 'id="job"' not in html  # nothing to follow
    form = response.context["recompress_form"]
    assert form.initial["codec"] == "webp" and form.initial["quality"] == 70
    assert f'action="{reverse("vault:job-recompress", args=[record.pk])}"' in html
    assert re.search(r'<button type="submit" class="btn">Compress again</button>', html)


def test_compress_again_posts_other_options_and_the_image_is_compressed_anew(client_alice, alice):
    record = stored(alice, codec="png")
    assert record.codec == "png"

    response = client_alice.post(
        reverse("vault:job-recompress", args=[record.pk]),
        {"codec": "webp", "target": "custom", "custom_target": "psnr:30", "quality": "", "effort": "fast"},
    )

    assert response.status_code == 302 and response["Location"] == reverse("vault:detail", args=[record.pk])
    record.refresh_from_db()
    assert record.status == Status.DONE and record.codec == "webp"
    assert record.job_options["target"] == "psnr:30"
    form = client_alice.get(reverse("vault:detail", args=[record.pk])).context["recompress_form"]
    assert form.initial["target"] == "custom" and form.initial["custom_target"] == "psnr:30"


def test_landing_and_delete_pages_render_for_images_not_compressed_yet(client_alice, alice, no_worker):
    record = stored(alice)

    landing = page_text(client_alice.get(reverse("vault:landing")))
    assert "Your 1 image:" in landing and "0 bytes compressed" not in landing
    delete = client_alice.get(reverse("vault:delete", args=[record.pk]))
    assert delete.status_code == 200 and "original)" in page_text(delete)
