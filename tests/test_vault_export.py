"""Exporting the vault (vault/images/export.py): a zip streamed while it is made, every original
byte for byte (or the compressed file where no original is kept), a JSON and a CSV manifest, and
memory that does not grow with the vault."""
import csv
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.services import create_api_token
from audit.models import AuditEvent
from tests.conftest import image_bytes, make_photo
from vault import uploads
from vault.images import export
from vault.images.opening import open_variant
from vault.models import ImageRecord

from .test_api_images import IMAGES, PASSWORD, alice, api, bob  # noqa: F401 - fixtures too
from .vault_helpers import legacy_record, login_unlocked

pytestmark = pytest.mark.django_db
EXPORT = f"{IMAGES}export/"


def store(owner, data, name="photo.png"):
    record, _ = uploads.store_image(owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=data, filename=name, codec="png")
    return record


def noise_png(seed: int, side: int = 320) -> bytes:
    """Incompressible pixels: the PNG is about side² × 3 bytes, so sizes add up as they look."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return image_bytes(Image.fromarray(pixels, "RGB"))


def unzip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def manifest(archive: zipfile.ZipFile) -> list[dict]:
    return json.loads(archive.read("manifest.json"))["images"]


def test_the_export_streams_the_first_bytes_before_it_has_opened_every_image(api, alice, no_worker, monkeypatch):
    for seed in range(6):
        store(alice, image_bytes(make_photo(seed=seed)), name=f"{seed}.png")
    opened = []
    real = export.open_sealed_blobs

    def counting(**kwargs):
        opened.append(kwargs["record"].pk)
        return real(**kwargs)

    monkeypatch.setattr(export, "open_sealed_blobs", counting)
    response = api.get(EXPORT)
    assert isinstance(response, StreamingHttpResponse) and not response.has_header("Content-Length")
    assert response["Content-Type"] == "application/zip" and response["Cache-Control"] == "no-store"
    assert "attachment" in response["Content-Disposition"] and ".zip" in response["Content-Disposition"]
    assert opened == []  # answering opened nothing yet: the images are read while the zip is sent
    chunks = iter(response.streaming_content)
    first = next(chunks)
    assert first.startswith(b"PK\x03\x04") and len(opened) == 1
    rest = b"".join(chunks)
    assert len(opened) == 6
    with zipfile.ZipFile(io.BytesIO(first + rest)) as archive:
        assert len(archive.namelist()) == 6 + 2


def test_every_original_comes_back_byte_exact_with_a_json_and_csv_manifest(api, alice, no_worker):
    originals = {
        "beach.jpg": image_bytes(make_photo(seed=1), "JPEG", quality=92),
        "scan.tiff": image_bytes(make_photo(seed=2), "TIFF"),
        "photo.png": image_bytes(make_photo(seed=3)),
    }
    records = {name: store(alice, data, name=name) for name, data in originals.items()}
    same_name = store(alice, image_bytes(make_photo(seed=4)), name="photo.png")  # a second photo.png
    with unzip(api.get(EXPORT)) as archive:
        assert archive.testzip() is None  # every CRC checks out
        for name, data in originals.items():
            assert archive.read(f"images/{name}") == data
        assert archive.read("images/photo (2).png") == image_bytes(make_photo(seed=4))
        rows = {row["id"]: row for row in manifest(archive)}
        table = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert set(rows) == {r.pk for r in records.values()} | {same_name.pk}
    beach = rows[records["beach.jpg"].pk]
    assert beach["file"] == "images/beach.jpg" and beach["content"] == "original" and beach["name"] == "beach.jpg"
    assert beach["original_size"] == len(originals["beach.jpg"]) and beach["original_media_type"] == "image/jpeg"
    assert beach["width"] == 48 and beach["height"] == 32 and beach["uploaded"].startswith(f"{records['beach.jpg'].created:%Y-%m-%d}")
    assert beach["not_exported"] is None
    assert [row["id"] for row in table] == [str(pk) for pk in rows]  # the CSV lists the same images
    assert table[0].keys() == set(export.MANIFEST_FIELDS)


def test_an_image_without_its_original_exports_its_compressed_file(api, alice):
    record = store(alice, image_bytes(make_photo(seed=5)))  # compressed at once (eager jobs)
    compressed = open_variant(record=record, master_key=alice.master_key, variant="compressed")
    # As in the storage-saver mode: only the compressed version is kept.
    ImageRecord.objects.filter(pk=record.pk).update(original_blob="", sha256_original_blob="0" * 64)
    with unzip(api.get(EXPORT)) as archive:
        row, = manifest(archive)
        assert row["content"] == "compressed" and row["file"] == f"images/photo.{record.compressed_extension}"
        assert archive.read(row["file"]) == compressed
        assert row["codec"] == "png" and row["compressed_size"] == len(compressed) and row["compressed_at"]


def test_images_that_cannot_be_opened_are_listed_with_the_reason_and_the_rest_exported(api, alice, no_worker, _isolated_storage):
    good = store(alice, image_bytes(make_photo(seed=6)), name="good.png")
    damaged = store(alice, image_bytes(make_photo(seed=7)), name="damaged.png")
    path = _isolated_storage / damaged.original_blob
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    old, _key = legacy_record(alice, image_bytes(make_photo(seed=8)))
    with unzip(api.get(EXPORT)) as archive:
        rows = {row["id"]: row for row in manifest(archive)}
        assert archive.namelist() == ["images/good.png", "manifest.json", "manifest.csv"]
    assert rows[good.pk]["file"] == "images/good.png"
    assert rows[damaged.pk]["file"] is None and "missing or damaged" in rows[damaged.pk]["not_exported"]
    assert rows[old.pk]["file"] is None and "retrieval key" in rows[old.pk]["not_exported"]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED, record_id=damaged.pk).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORTED, detail="3 images").exists()


def test_memory_stays_far_below_the_size_of_the_export(api, alice, no_worker):
    total = 0
    for seed in range(40):
        data = noise_png(seed)
        store(alice, data, name="n.png")
        total += len(data)
    del data
    response = api.get(EXPORT)
    tracemalloc.start()
    try:
        streamed = sum(len(chunk) for chunk in response.streaming_content)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert streamed > total  # every image went through (plus headers and the manifest)
    # One image (~0.3 MB) is in memory a few times over while it is sealed, opened and written;
    # an archive built in memory would hold all of it (~12 MB).
    assert peak < total / 4, (peak, total)


def test_a_selection_by_id_leaves_out_other_users_images_and_the_whole_vault_leaves_out_the_trash(api, alice, bob, no_worker):
    mine = [store(alice, image_bytes(make_photo(seed=s)), name=f"{s}.png") for s in range(3)]
    theirs = store(bob, image_bytes(make_photo(seed=9)), name="bob.png")
    with unzip(api.get(f"{EXPORT}?ids={mine[0].pk},{theirs.pk}")) as archive:
        assert [row["id"] for row in manifest(archive)] == [mine[0].pk]
    api.delete(f"{IMAGES}{mine[1].pk}/")  # to the trash
    with unzip(api.get(EXPORT)) as archive:
        assert [row["id"] for row in manifest(archive)] == [mine[0].pk, mine[2].pk]
    with unzip(api.get(f"{EXPORT}?ids={mine[1].pk}")) as archive:  # named explicitly: exported
        assert manifest(archive)[0]["in_trash_since"]
    assert api.get(f"{EXPORT}?ids=1,,2").status_code == 400


def test_a_token_without_the_vault_key_is_refused_before_anything_streams(alice):
    from rest_framework.test import APIClient

    _token, plaintext = create_api_token(user=alice, name="no vault")  # made without the master key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    response = client.get(EXPORT)
    assert response.status_code == 403 and "vault" in response.json()["detail"].lower()


def test_the_export_page_describes_it_and_its_download_streams_the_vault(alice, no_worker):
    data = image_bytes(make_photo(seed=11))
    store(alice, data, name="x.png")
    client = login_unlocked(Client(), "alice", PASSWORD)
    page = client.get(reverse("vault:export"))
    assert page.status_code == 200 and "1 image" in page.content.decode() and "manifest.json" in page.content.decode()
    with unzip(client.get(reverse("vault:export-download"))) as archive:
        assert archive.read("images/x.png") == data
    client.post(reverse("vault:lock-vault"))
    locked = client.get(reverse("vault:export-download"))
    assert locked.status_code == 302 and locked["Location"].startswith(reverse("vault:unlock-vault"))


def test_exporting_needs_a_recent_password_not_just_a_session_or_an_old_token(alice, api, no_worker):
    """Every original at once: a copied cookie pair or a long-lived token must not be enough."""
    import time
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import ApiToken

    store(alice, image_bytes(make_photo(seed=12)), name="y.png")
    client = login_unlocked(Client(), "alice", PASSWORD)
    session = client.session
    session["recent_auth_at"] = int(time.time()) - 3600  # the password was typed an hour ago
    session.save()
    prompt = client.get(reverse("vault:export-download"))
    assert not isinstance(prompt, StreamingHttpResponse) and 'name="stepup_password"' in prompt.content.decode()

    ApiToken.objects.filter(user=alice).update(created=timezone.now() - timedelta(hours=2))
    refused = api.get(EXPORT)
    assert refused.status_code == 403 and refused.json()["code"] == "step_up_required"
