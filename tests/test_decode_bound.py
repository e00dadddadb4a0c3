"""The worker decodes originals under a CPU-time bound: a file whose decoder runs on is stopped,
its job fails with a message, and the image's pages show that message rather than a server error."""
import time

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from compression.imageio import InvalidImage, load_upload
from tests.conftest import image_bytes, make_photo
from tests.test_imageio_frames import _tiff_of_pages
from vault import decoding, jobs
from vault.models import ImageRecord

from .test_api_images import IMAGES, PASSWORD, alice, api, upload  # noqa: F401 - fixtures too
from .vault_helpers import login_unlocked

pytestmark = pytest.mark.django_db


def spins_forever(*args, **kwargs):
    while True:  # a decoder stuck on a file built to be slow
        pass


def test_the_bounded_decode_gives_what_load_upload_gives():
    data = image_bytes(make_photo(40, 30, seed=2), "TIFF")
    bounded = decoding.decode_original(data, filename="a.tiff", max_pixels=10**6)
    direct = load_upload(data, filename="a.tiff")
    assert (bounded.width, bounded.height, bounded.format) == (direct.width, direct.height, direct.format)
    assert np.array_equal(np.asarray(bounded.image), np.asarray(direct.image))


def test_a_refusal_inside_the_child_comes_back_with_its_message():
    data = image_bytes(make_photo(40, 30), "BMP")
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        decoding.decode_original(data[: len(data) // 2], filename="half.bmp", max_pixels=10**6)


def test_a_decoder_that_runs_on_is_stopped_at_the_cpu_budget(monkeypatch, settings):
    settings.DECODE_CPU_SECONDS = 1
    monkeypatch.setattr(decoding, "load_upload", spins_forever)
    started = time.monotonic()
    with pytest.raises(InvalidImage, match="more than 1 CPU seconds to decode"):
        decoding.decode_original(b"x", filename="slow.tiff", max_pixels=10**6)
    # Stopped by the kernel's CPU limit, not left running until some wall-clock timeout.
    assert time.monotonic() - started < 60


def test_the_job_of_such_a_file_fails_with_the_message_and_its_pages_show_it(api, no_worker, monkeypatch, settings):
    pk = upload(api, codec="png", name="slow.png").json()["id"]
    settings.DECODE_CPU_SECONDS = 1
    monkeypatch.setattr(decoding, "load_upload", spins_forever)
    record = ImageRecord.objects.get(pk=pk)
    jobs.run_job(record_id=pk, task_id=record.job_task_id)
    record.refresh_from_db()
    assert record.status == "failed" and "'slow.png' took more than 1 CPU seconds" in record.error
    assert "took more than 1 CPU seconds" in api.get(f"{IMAGES}{pk}/").json()["error"]
    page = login_unlocked(Client(), "alice", PASSWORD)
    detail = page.get(reverse("vault:detail", args=[pk]))
    assert detail.status_code == 200 and "took more than 1 CPU seconds" in detail.content.decode()
    shown = page.get(reverse("vault:file", args=[pk, "original-display"]))
    assert shown.status_code < 500


def test_a_real_many_page_tiff_admitted_past_the_page_limit_is_stopped_by_the_cpu_budget(settings):
    # The header check refuses it at the default page limit; an operator who raises the limit
    # still gets the bound. Pillow's page walk is quadratic: 20,000 pages cost seconds of CPU.
    settings.UPLOAD_MAX_TIFF_PAGES, settings.DECODE_CPU_SECONDS = 10**6, 1
    with pytest.raises(InvalidImage, match="'pages.tiff' took more than 1 CPU seconds"):
        decoding.decode_original(_tiff_of_pages(20_000), filename="pages.tiff", max_pixels=10**6)
