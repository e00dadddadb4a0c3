"""The images API as a job API: 202 and polling, cancel, retry, recompress, and the per-user
bounds as 429/413 with messages."""
import pytest

from tests.conftest import image_bytes, make_photo
from vault import jobs
from vault.models import ImageRecord

from .test_api_images import IMAGES, PASSWORD, alice, api, bob, upload  # noqa: F401 - fixtures too
from .vault_helpers import token_client

pytestmark = pytest.mark.django_db


def photo(seed: int) -> bytes:
    """A different photo per seed: the same one twice would be refused as a duplicate."""
    return image_bytes(make_photo(seed=seed))


def test_an_upload_answers_202_queued_and_polling_shows_it_done_after_the_worker(api, no_worker):
    response = upload(api, codec="png")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["progress"] == 0 and body["compressed_size"] is None
    assert body["thumbnail_url"] is None  # no thumbnail until the job made one
    record = ImageRecord.objects.get(pk=body["id"])
    jobs.run_job(record_id=record.pk, task_id=record.job_task_id)
    polled = api.get(response["Location"]).json()
    assert polled["status"] == "done" and polled["progress"] == 100 and polled["compressed_size"] > 0


def test_the_status_endpoint_reports_several_of_your_images_and_leaves_out_others(api, bob, no_worker):
    mine = [upload(api, photo(seed), codec="png").json()["id"] for seed in range(2)]
    theirs = upload(token_client("bob", PASSWORD), codec="png").json()["id"]
    response = api.get(f"{IMAGES}status/?ids={mine[0]},{mine[1]},{theirs}")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert sorted(item["id"] for item in response.json()) == sorted(mine)
    assert {item["status"] for item in response.json()} == {"queued"}


@pytest.mark.parametrize("ids", ["", "1,,2", "a", ",".join(["1"] * 101)])
def test_the_status_endpoint_refuses_malformed_ids_with_a_message(api, ids):
    response = api.get(f"{IMAGES}status/?ids={ids}")
    assert response.status_code == 400 and "ids" in response.json()["detail"]


def test_cancel_then_retry_then_a_second_cancel_of_a_done_job_is_409(api, no_worker):
    pk = upload(api, codec="png").json()["id"]
    cancelled = api.post(f"{IMAGES}{pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    retried = api.post(f"{IMAGES}{pk}/retry/")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    record = ImageRecord.objects.get(pk=pk)
    jobs.run_job(record_id=pk, task_id=record.job_task_id)
    again = api.post(f"{IMAGES}{pk}/cancel/")
    assert again.status_code == 409 and "only a waiting or running job" in again.json()["detail"]


def test_recompress_takes_other_options_and_checks_them(api):
    pk = upload(api, codec="png").json()["id"]
    bad = api.post(f"{IMAGES}{pk}/recompress/", {"codec": "webp", "quality": 500}, format="json")
    assert bad.status_code == 400 and "500" in bad.json()["detail"]
    response = api.post(f"{IMAGES}{pk}/recompress/", {"codec": "webp", "quality": 60}, format="json")
    assert response.status_code == 202
    assert response.json()["codec"] == "webp" and response.json()["requested"]["quality"] == 60


def test_another_users_image_is_404_for_every_job_action(api, bob, no_worker):
    theirs = upload(token_client("bob", PASSWORD), codec="png").json()["id"]
    for action in ("cancel", "retry", "recompress"):
        assert api.post(f"{IMAGES}{theirs}/{action}/", {}, format="json").status_code == 404
    assert ImageRecord.objects.get(pk=theirs).status == "queued"


def test_too_many_waiting_images_is_429_and_over_quota_is_413(api, no_worker, settings):
    settings.USER_MAX_ACTIVE_JOBS = 1
    assert upload(api, photo(0), codec="png").status_code == 202
    refused = upload(api, photo(1), codec="png")
    assert refused.status_code == 429 and "images waiting" in refused.json()["detail"] and refused["Retry-After"]
    settings.USER_MAX_ACTIVE_JOBS, settings.USER_QUOTA_BYTES = 100, 10
    full = upload(api, photo(2), codec="png")
    assert full.status_code == 413 and "Delete some images" in full.json()["detail"]
    assert ImageRecord.objects.count() == 1


def test_a_file_that_is_not_an_image_is_400_before_anything_is_stored(api):
    response = upload(api, b"just some text, not a picture", name="notes.txt")
    assert response.status_code == 400 and "notes.txt" in response.json()["detail"]
    assert not ImageRecord.objects.exists()


def test_uploads_beyond_the_per_user_rate_are_429_with_a_wait(api, no_worker, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"uploads": "2/min", "retrievals": "9/min"}}
    assert [upload(api, photo(seed), codec="png").status_code for seed in range(3)] == [202, 202, 429]
    refused = upload(api, photo(3), codec="png")
    assert refused.status_code == 429 and "throttled" in refused.json()["detail"].lower() and int(refused["Retry-After"]) > 0
    assert ImageRecord.objects.count() == 2
    cache.clear()


def test_status_polls_beyond_the_per_user_rate_are_429(api, no_worker, settings):
    from django.core.cache import cache

    cache.clear()
    record_id = upload(api, codec="png").json()["id"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "status": "3/min"}}
    codes = [api.get(f"{IMAGES}status/?ids={record_id}").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    cache.clear()


def test_queued_images_report_their_place_in_the_owner_s_queue_and_an_estimate(api, bob, no_worker):
    theirs = upload(token_client("bob", PASSWORD), photo(9), codec="png").json()["id"]  # another user's queue: not counted
    mine = [upload(api, photo(seed), codec="png").json()["id"] for seed in range(3)]
    polled = {item["id"]: item for item in api.get(f"{IMAGES}status/?ids={','.join(map(str, mine))}").json()}
    assert [polled[i]["queue_position"] for i in mine] == [1, 2, 3]
    assert {polled[i]["queue_estimate_seconds"] for i in mine} == {None}  # no finished job anywhere yet: no guess
    # One of mine done (in 4 s, as the worker records it): the others' estimates follow from it.
    record = ImageRecord.objects.get(pk=mine[0])
    jobs.run_job(record_id=record.pk, task_id=record.job_task_id)
    ImageRecord.objects.filter(pk=mine[0]).update(total_seconds=4.0)
    ImageRecord.objects.filter(pk=theirs).update(status="done", total_seconds=100.0, finished_at=None)  # older, not mine
    polled = {item["id"]: item for item in api.get(f"{IMAGES}status/?ids={','.join(map(str, mine))}").json()}
    assert polled[mine[0]]["queue_position"] is None and polled[mine[0]]["queue_estimate_seconds"] is None
    assert [polled[i]["queue_position"] for i in mine[1:]] == [1, 2]
    assert [polled[i]["queue_estimate_seconds"] for i in mine[1:]] == [4.0, 8.0]  # my typical job × the jobs up to it
