"""The admin shows compression records read-only and never any key material."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from compression.imageio import human_bytes
from tests.conftest import image_bytes, make_photo
from vault import services
from .vault_helpers import as_before_sealing, opened, verify_second_factor, vault_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_and_record():
    owner = vault_user("owner", "x")
    record, _ = services.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=image_bytes(make_photo()),
        filename="sunset.png", codec="png",
    )
    key = owner.recovery_key
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(admin)
    verify_second_factor(client, admin)  # the admin asks staff for their second factor
    return client, record, key


def test_admin_lists_and_shows_records_without_key_material(admin_client_and_record):
    client, record, key = admin_client_and_record
    listing = client.get("/admin/vault/imagerecord/")
    assert listing.status_code == 200
    assert "sunset.png" in listing.content.decode()
    page = client.get(f"/admin/vault/imagerecord/{record.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert record.sha256_original_blob in html and "sunset.png" in html
    vault = owner_vault(record)
    for secret in (
        bytes(record.dk_wrap).hex(), record.original_mac, bytes(vault.password_wrap).hex(),
        bytes(vault.recovery_wrap).hex(), vault.key_check, key, key.replace("-", ""),
    ):
        assert secret not in html
    for label in ("Dk wrap", "Original mac", "Upload token", "Wrapped key", "Key hash"):
        assert label not in html
    vault_page = client.get(f"/admin/vault/uservault/{vault.pk}/change/").content.decode()
    assert "owner" in vault_page
    for secret in (bytes(vault.password_wrap).hex(), bytes(vault.kdf_salt).hex(), vault.key_check):
        assert secret not in vault_page


def owner_vault(record):
    from vault.models import UserVault

    return UserVault.objects.get(user=record.owner)


def test_admin_search_and_filters_work(admin_client_and_record):
    client, record, _ = admin_client_and_record
    assert "sunset.png" in client.get("/admin/vault/imagerecord/?q=owner").content.decode()
    assert "sunset.png" not in client.get("/admin/vault/imagerecord/?q=nobody-here").content.decode()
    assert "sunset.png" in client.get("/admin/vault/imagerecord/?codec__exact=png").content.decode()


def test_admin_cannot_add_change_or_delete_records(admin_client_and_record):
    client, record, _ = admin_client_and_record
    assert client.get("/admin/vault/imagerecord/add/").status_code == 403
    assert client.post(f"/admin/vault/imagerecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post(f"/admin/vault/imagerecord/{record.pk}/change/", {"name": "renamed.png"})
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.name == "sunset.png"


def lake_record():
    """Another user's WebP-compressed photo: (owner, record)."""
    owner = vault_user("lake-owner", "x")
    record, _ = services.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=image_bytes(make_photo(seed=5)), filename="lake.png", codec="webp",
        quality=60,
    )
    return owner, record


def test_admin_shows_only_coarse_figures_of_a_sealed_record(admin_client_and_record):
    client, _, _ = admin_client_and_record
    owner, record = lake_record()
    exact = opened(record, owner)  # the admin holds no user's key: it must show none of these
    listing = client.get("/admin/vault/imagerecord/").content.decode()
    assert f"about {human_bytes(record.compressed_size)}" in listing and ">sealed<" in listing
    assert f"{exact.psnr:.2f} dB" not in listing
    page = client.get(f"/admin/vault/imagerecord/{record.pk}/change/").content.decode()
    assert f"about {human_bytes(record.original_size)}" in page and str(exact.original_size) not in page
    assert f"{exact.bpp:.3f}" not in page and "<td>webp</td>" not in page  # no candidates
    assert "sealed (only the owner&#x27;s key opens it)" in page


def test_admin_shows_rounded_figures_named_properly_and_candidates_as_a_table(admin_client_and_record):
    client, _, _ = admin_client_and_record
    owner, stored = lake_record()
    record = as_before_sealing(stored, owner)  # exact figures in the clear until its owner's next unlock
    assert len(repr(record.psnr)) > 8  # a float with many decimals, so rounding is visible
    listing = client.get("/admin/vault/imagerecord/").content.decode()
    assert ">PSNR<" in listing and "Psnr" not in listing
    assert f"{record.psnr:.2f} dB" in listing and repr(record.psnr) not in listing
    page = client.get(f"/admin/vault/imagerecord/{record.pk}/change/").content.decode()
    for label in ("PSNR", "SSIM", "MS-SSIM", "Bits per pixel (bpp)", "Candidates tried"):
        assert f"{label}:</label>" in page
    for clumsy in ("Psnr", "Ssim", "Msssim", "Bpp:"):
        assert clumsy not in page
    assert page.count('<table class="vault-admin-table" tabindex="0">') == 2
    assert "<td>webp</td>" in page and "[{&quot;" not in page  # candidates as rows, not a JSON dump
    assert f"{record.bpp:.3f}" in page and repr(record.psnr) not in page


def test_admin_shows_a_queued_record_with_its_job_and_without_the_job_keys_wrap(no_worker):
    owner = vault_user("owner", "x")
    record, _ = services.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=image_bytes(make_photo()),
        filename="waiting.png", codec="png",
    )
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(admin)
    verify_second_factor(client, admin)
    listing = client.get("/admin/vault/imagerecord/?status__exact=queued").content.decode()
    assert "waiting.png" in listing and "Queued" in listing
    html = client.get(f"/admin/vault/imagerecord/{record.pk}/change/").content.decode()
    assert "waiting for a worker" in html and bytes(record.job_dk_wrap).hex() not in html
    assert "Job dk wrap" not in html and record.job_task_id not in html


@pytest.mark.django_db
def test_read_only_admins_never_add_or_edit_and_delete_only_where_a_service_or_policy_allows(rf, admin_user):
    from django.contrib import admin

    from accounts.models import ApiToken
    from audit.models import AuditEvent
    from vault.models import ImageRecord, UserRetrievalGuard, UserVault

    request = rf.get("/admin/")
    request.user = admin_user
    expected = {  # (add, change, delete) for a superuser
        ImageRecord: (False, False, False),
        AuditEvent: (False, False, False),
        ApiToken: (False, False, True),
        UserVault: (False, False, True),
        UserRetrievalGuard: (False, True, True),
    }
    for model, permissions in expected.items():
        model_admin = admin.site.get_model_admin(model)
        granted = (
            model_admin.has_add_permission(request),
            model_admin.has_change_permission(request),
            model_admin.has_delete_permission(request),
        )
        assert granted == permissions, model.__name__
