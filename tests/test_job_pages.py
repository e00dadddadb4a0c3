"""The pages' job actions: cancel, retry and compress again, each back to where the user was."""
import pytest
from django.urls import reverse

from tests.conftest import image_bytes, make_photo
from vault import jobs, services
from vault.models import ImageRecord

from .vault_helpers import login_unlocked, vault_user

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-enough-passw0rd"


@pytest.fixture
def alice_client(client):
    vault_user("alice", PASSWORD)
    return login_unlocked(client, "alice", PASSWORD)


def stored(codec="png"):
    """Alice's upload: done at once, or still queued under the `no_worker` fixture."""
    owner = ImageRecord._meta.get_field("owner").related_model.objects.get(username="alice")
    from vault import keyring

    master_key = keyring.unlock_with_password(user=owner, password=PASSWORD)
    record, _ = services.store_image(owner=owner, master_key=master_key, uploaded_file_or_bytes=image_bytes(make_photo()),
                                     filename="p.png", codec=codec)
    return record


def test_cancel_from_the_gallery_returns_there_with_a_message(alice_client, no_worker):
    record = stored()
    response = alice_client.post(reverse("vault:job-cancel", args=[record.pk]), {"next": reverse("vault:gallery")}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("vault:gallery")
    assert "Cancelled the compression of" in response.content.decode()
    record.refresh_from_db()
    assert record.status == "cancelled"


def test_retry_queues_it_again_and_an_offsite_next_goes_to_the_image_instead(alice_client, no_worker):
    record = jobs.cancel_job(record=stored())
    response = alice_client.post(reverse("vault:job-retry", args=[record.pk]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("vault:detail", args=[record.pk])
    record.refresh_from_db()
    assert record.status == "queued" and record.job_dk_wrap


def test_retry_with_a_locked_vault_asks_for_the_password_and_changes_nothing(alice_client, no_worker):
    record = jobs.cancel_job(record=stored())
    alice_client.post(reverse("vault:lock-vault"))
    response = alice_client.post(reverse("vault:job-retry", args=[record.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("vault:unlock-vault") + "?next=")
    record.refresh_from_db()
    assert record.status == "cancelled"


def test_compress_again_with_another_codec_replaces_the_file(alice_client):
    record = stored()
    response = alice_client.post(
        reverse("vault:job-recompress", args=[record.pk]),
        {"codec": "webp", "target": "balanced", "quality": "60", "effort": "fast"}, follow=True,
    )
    assert "queued for compression again" in response.content.decode()
    record.refresh_from_db()
    assert record.status == "done" and record.codec == "webp"


def test_compress_again_with_a_bad_quality_says_why_and_changes_nothing(alice_client):
    record = stored()
    response = alice_client.post(reverse("vault:job-recompress", args=[record.pk]),
                                 {"codec": "webp", "target": "balanced", "quality": "500"}, follow=True)
    assert "500" in response.content.decode()
    record.refresh_from_db()
    assert record.codec == "png" and record.status == "done"


def test_another_users_image_is_404_for_the_job_actions(alice_client, no_worker):
    record = stored()
    vault_user("mallory", PASSWORD)
    other = login_unlocked(type(alice_client)(), "mallory", PASSWORD)
    for name in ("vault:job-cancel", "vault:job-retry", "vault:job-recompress"):
        assert other.post(reverse(name, args=[record.pk])).status_code == 404
