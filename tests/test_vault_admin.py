"""The admin shows compression records read-only and never any key material."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import image_bytes, make_photo
from vault import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_and_record():
    owner = get_user_model().objects.create_user("owner", password="x")
    record, key = services.store_image(
        owner=owner, uploaded_file_or_bytes=image_bytes(make_photo()), filename="sunset.png", codec="png"
    )
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(admin)
    return client, record, key


def test_admin_lists_and_shows_records_without_key_material(admin_client_and_record):
    client, record, key = admin_client_and_record
    listing = client.get("/admin/vault/imagerecord/")
    assert listing.status_code == 200
    assert "sunset.png" in listing.content.decode()
    page = client.get(f"/admin/vault/imagerecord/{record.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert record.sha256_original in html and "sunset.png" in html
    for secret in (record.key_hash, bytes(record.wrapped_key).hex(), bytes(record.wrap_salt).hex(), key, key.replace("-", "")):
        assert secret not in html
    for label in ("Wrapped key", "Wrap salt", "Key hash"):
        assert label not in html


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
