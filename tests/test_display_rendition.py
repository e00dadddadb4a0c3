"""The web process never decodes an original: the worker makes a sealed PNG rendition of an original
no browser draws, and the display URL and a share's "Show the image" serve that (or say why not)."""
import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageFile

from compression.imageio import load_upload
from tests.conftest import image_bytes, make_photo
from vault.models import ImageRecord, Share
from vault.sweep import sweep_orphan_blobs

from .test_api_images import IMAGES, PASSWORD, alice, api, upload  # noqa: F401 - fixtures too
from .vault_helpers import KEY_RE, files_under, login_unlocked

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(alice):
    return login_unlocked(Client(), "alice", PASSWORD)


@pytest.fixture
def no_decoding(monkeypatch):
    """Once a test sets `guard["on"]`, any pixel decode in this process fails the test."""
    guard, real = {"on": False}, ImageFile.ImageFile.load

    def refuse(self, *args, **kwargs):
        if guard["on"]:
            raise AssertionError("an image was decoded at request time")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    return guard


def tiff_upload(api, seed=1, **fields):
    data = image_bytes(make_photo(60, 40, seed=seed), "TIFF")
    response = upload(api, data, name="scan.tiff", codec="png", **fields)
    assert response.status_code == 202, response.content
    return ImageRecord.objects.get(pk=response.json()["id"]), data


def test_the_job_makes_a_rendition_and_the_display_url_serves_it_without_decoding(api, page, no_decoding):
    record, data = tiff_upload(api)
    no_decoding["on"] = True
    assert record.rendition_blob and record.sha256_rendition_blob
    shown = page.get(reverse("vault:file", args=[record.pk, "original-display"]))
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert shown["Cache-Control"] == "no-store, private"
    no_decoding["on"] = False  # the test itself decodes, to check the pixels
    pixels = np.asarray(Image.open(io.BytesIO(shown.content)).convert("RGB"))
    assert np.array_equal(pixels, np.asarray(load_upload(data).image))


def test_a_shares_show_the_image_serves_the_rendition_without_decoding(api, page, no_decoding):
    record, _data = tiff_upload(api)
    no_decoding["on"] = True
    created = page.post(reverse("vault:share-create", args=[record.pk]), {"label": "", "expires_in_days": "7"})
    key = KEY_RE.search(created.content.decode()).group(0)
    shown = Client().post(reverse("vault:share", args=[Share.objects.get().public_id]), {"key": key, "variant": "display"})
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png" and shown.content[:4] == b"\x89PNG"


def test_while_queued_the_display_says_not_ready_in_words(api, page, no_worker):
    record, _data = tiff_upload(api)
    shown = page.get(reverse("vault:file", args=[record.pk, "original-display"]))
    assert shown.status_code == 409
    assert "not ready yet" in shown.content.decode() and "'scan.tiff'" in shown.content.decode()


def test_a_record_from_before_renditions_says_so_and_a_recompress_makes_one(api, page, no_decoding):
    record, _data = tiff_upload(api)
    ImageRecord.objects.filter(pk=record.pk).update(rendition_blob="", sha256_rendition_blob="")
    no_decoding["on"] = True
    shown = page.get(reverse("vault:file", args=[record.pk, "original-display"]))
    assert shown.status_code == 409 and "choose Recompress" in shown.content.decode()
    no_decoding["on"] = False  # the worker (eager here) decodes; the request after it does not
    assert api.post(f"{IMAGES}{record.pk}/retry/").status_code in (200, 202)
    no_decoding["on"] = True
    assert page.get(reverse("vault:file", args=[record.pk, "original-display"])).status_code == 200


def test_originals_browsers_draw_get_no_rendition_and_are_shown_as_stored(api, page, no_decoding):
    data = image_bytes(make_photo(seed=2), "JPEG")
    pk = upload(api, data, name="a.jpg", codec="png").json()["id"]
    no_decoding["on"] = True
    assert not ImageRecord.objects.get(pk=pk).rendition_blob
    shown = page.get(reverse("vault:file", args=[pk, "original-display"]))
    assert shown.status_code == 200 and shown.content == data


def test_the_rendition_is_bounded_in_pixels(api, settings):
    settings.DISPLAY_MAX_PIXELS = 600
    record, _data = tiff_upload(api)
    shown = login_unlocked(Client(), "alice", PASSWORD).get(reverse("vault:file", args=[record.pk, "original-display"]))
    width, height = Image.open(io.BytesIO(shown.content)).size
    assert width * height <= 600 and abs(width / height - 60 / 40) < 0.1


def test_deleting_removes_the_rendition_and_the_sweep_keeps_it_while_its_record_lives(
    api, settings, django_capture_on_commit_callbacks
):
    record, _data = tiff_upload(api)
    assert sweep_orphan_blobs(older_than=timedelta(0)) == []
    assert any(p.name.startswith("rendition-") for p in files_under(settings.MEDIA_ROOT))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"{IMAGES}{record.pk}/?permanent=1").status_code == 204
    assert files_under(settings.MEDIA_ROOT) == []


def test_a_truncated_tiff_fails_its_job_and_its_display_is_a_4xx_not_a_500(api, page):
    data = image_bytes(make_photo(64, 48, seed=5), "TIFF")
    pk = upload(api, data[: len(data) * 2 // 3], name="cut.tiff", codec="png").json()["id"]
    record = ImageRecord.objects.get(pk=pk)
    assert record.status == "failed" and not record.rendition_blob
    shown = page.get(reverse("vault:file", args=[pk, "original-display"]))
    assert shown.status_code == 422 and "'cut.tiff' is truncated or corrupt" in shown.content.decode()


def test_the_backfill_command_flags_old_records_and_the_owners_next_unlock_makes_their_rendition(api):
    record, _data = tiff_upload(api)
    jpeg = upload(api, image_bytes(make_photo(seed=9), "JPEG"), name="b.jpg", codec="png").json()["id"]
    ImageRecord.objects.filter(pk=record.pk).update(rendition_blob="", sha256_rendition_blob="")
    out = io.StringIO()
    call_command("flag_display_renditions", stdout=out)
    assert "Flagged 1 image of 1 user" in out.getvalue()
    assert ImageRecord.objects.get(pk=record.pk).needs_recompress and not ImageRecord.objects.get(pk=jpeg).needs_recompress
    page = login_unlocked(Client(), "alice", PASSWORD)  # the login queues it (eager here: done at once)
    record.refresh_from_db()
    assert record.rendition_blob and not record.needs_recompress
    assert page.get(reverse("vault:file", args=[record.pk, "original-display"])).status_code == 200


@pytest.mark.parametrize("truncate", [False, True])
def test_adding_an_old_tiff_to_the_vault_makes_its_rendition_and_a_truncated_one_still_joins(alice, truncate):
    from .vault_helpers import legacy_record

    data = image_bytes(make_photo(60, 40, seed=4), "TIFF")
    data = data[: len(data) * 2 // 3] if truncate else data
    page = login_unlocked(Client(), "alice", PASSWORD)
    old, key = legacy_record(alice, data, name="old.tiff")
    ImageRecord.objects.filter(pk=old.pk).update(original_format="TIFF", original_media_type="image/tiff")
    response = page.post(reverse("vault:adopt", args=[old.pk]), {"key": key})
    assert response.status_code == 302
    old.refresh_from_db()
    assert not old.is_legacy and bool(old.rendition_blob) == (not truncate) and bool(old.thumbnail_blob) == (not truncate)
    shown = page.get(reverse("vault:file", args=[old.pk, "original-display"]))
    assert (shown.status_code, shown["Content-Type"].split(";")[0]) == ((409, "text/plain") if truncate else (200, "image/png"))
    assert page.get(reverse("vault:file", args=[old.pk, "original"])).content == data
