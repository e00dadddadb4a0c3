"""An image's exact figures (sizes, scores, candidates, the JPEG XL form's byte count, the decoded
pixels' digest) are sealed under a subkey of its data key (vault/figures.py): what the database's
clear columns and the audit log keep, what pages and the API show with and without the vault's
key, records from before sealed at their owner's unlock, and a damaged seal."""
import logging

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from compression.imageio import human_bytes
from tests.conftest import image_bytes, make_photo
from vault import crypto, figures, jobs, uploads
from vault.models import ImageRecord
from .vault_helpers import (
    as_before_sealing, legacy_record, login_unlocked, opened, scan_database, token_client, vault_user,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-enough-passw0rd"
SCORES = ("psnr", "ssim", "msssim", "ssimulacra2", "ssimulacra2_worst", "decided_value", "bpp")


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD)


def photo_jpeg(seed=5) -> bytes:
    data = image_bytes(make_photo(seed=seed, width=160, height=120), "JPEG", quality=92)
    assert crypto.padme(len(data)) != len(data)  # else a rounded column could not be told from an exact one
    return data


def store(owner, data, **options):
    options = {"codec": "auto", "target": "balanced", "filename": "beach.jpg", **options}
    record, _ = uploads.store_image(owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=data, **options)
    return ImageRecord.objects.get(pk=record.pk)


def detail_html(client, record) -> str:
    response = client.get(reverse("vault:detail", args=[record.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_upload_and_its_job_leave_no_exact_figure_in_any_clear_column(alice, settings):
    settings.VAULT_RECOMPRESS_ORIGINALS = True  # codec_params then describe the original's JPEG XL form
    data = photo_jpeg()
    clear = store(alice, data)
    exact = opened(clear, alice)

    assert clear.status == ImageRecord.Status.DONE and clear.figures_sealed and not clear.figures_exact
    assert exact.original_size == len(data) and clear.original_size == crypto.padme(len(data)) != len(data)
    assert clear.compressed_size == crypto.padme(exact.compressed_size)
    for name in SCORES:
        assert getattr(clear, name) is None, name
    assert exact.ssimulacra2 is not None and exact.bpp > 0 and exact.ssim is not None
    assert clear.candidates == [] and clear.reason == ""
    assert exact.candidates and all("size" in c for c in exact.candidates) and exact.reason
    # codec_params: the options stay readable, not the content's byte counts or pixel digest.
    assert clear.codec_params["target"] == exact.codec_params["target"]
    for key in ("decoded_sha256", "metadata_bytes"):
        assert key not in clear.codec_params and key in exact.codec_params
    storage = clear.codec_params["original_storage"]
    assert storage["storage"] and "bytes" not in storage and "upload_bytes" not in storage
    assert exact.codec_params["original_storage"]["upload_bytes"] == len(data)
    # Nowhere else either: the decoded pixels' digest is in no cell of any table.
    assert scan_database([exact.codec_params["decoded_sha256"]], []) == []


def test_audit_details_and_logs_carry_no_exact_byte_count(alice, caplog):
    data = photo_jpeg(seed=6)
    caplog.set_level(logging.INFO)
    record = store(alice, data, codec="webp", quality=60)
    exact = opened(record, alice)
    details = list(AuditEvent.objects.filter(record_id=record.pk).values_list("action", "detail"))
    assert {AuditEvent.Action.UPLOAD, AuditEvent.Action.JOB_DONE} <= {action for action, _ in details}
    for _action, detail in details:
        assert str(exact.original_size) not in detail and str(exact.compressed_size) not in detail, detail
    assert any(f"about {human_bytes(crypto.padme(len(data)))}" in detail for _a, detail in details)
    logged = [r for r in caplog.records if hasattr(r, "original_bytes")]
    assert logged and all(r.original_bytes == crypto.padme(len(data)) for r in logged)
    assert all(getattr(r, "compressed_bytes", None) in (None, record.compressed_size) for r in logged)


def test_the_detail_page_shows_exact_figures_unlocked_and_approximate_ones_without_the_vault(alice):
    record = store(alice, photo_jpeg())
    exact = opened(record, alice)

    html = detail_html(login_unlocked(Client(), "alice", PASSWORD), record)
    assert f"{exact.original_size} bytes" in html and f"{exact.compressed_size} bytes" in html
    assert f"<tr><th>SSIMULACRA 2</th><td>{exact.ssimulacra2:.1f}" in html
    assert "Candidates tried" in html

    locked = Client()
    locked.force_login(alice)  # a session without the vault's key
    html = detail_html(locked, record)
    assert f"{exact.original_size} bytes" not in html and f"{exact.compressed_size} bytes" not in html
    assert f"about {human_bytes(record.original_size)}" in html and f"about {human_bytes(record.compressed_size)}" in html
    assert "unlock it to see the exact sizes" in html and "Candidates tried" not in html
    assert f"{exact.ssimulacra2:.1f}" not in html


def test_the_gallery_list_says_about_without_the_vault(alice):
    record = store(alice, photo_jpeg())
    exact = opened(record, alice)
    unlocked = login_unlocked(Client(), "alice", PASSWORD).get(reverse("vault:gallery") + "?view=list").content.decode()
    assert f">{human_bytes(exact.original_size)}<" in unlocked
    locked = Client()
    locked.force_login(alice)
    html = locked.get(reverse("vault:gallery") + "?view=list").content.decode()
    assert f">about {human_bytes(record.original_size)}<" in html


def test_the_api_gives_exact_figures_with_the_vault_key_and_padded_or_null_without(alice):
    record = store(alice, photo_jpeg())
    exact = opened(record, alice)

    body = token_client("alice", PASSWORD).get(f"/api/v1/images/{record.pk}/").json()
    assert body["figures_exact"] is True
    assert (body["original_size"], body["compressed_size"]) == (exact.original_size, exact.compressed_size)
    assert body["ssimulacra2"] == exact.ssimulacra2 and body["bpp"] == exact.bpp and body["candidates"]
    assert body["ratio"] == pytest.approx(exact.original_size / exact.compressed_size)

    keyless = APIClient()
    keyless.force_authenticate(user=alice)  # authenticated, but the request carries no vault key
    body = keyless.get(f"/api/v1/images/{record.pk}/").json()
    assert body["figures_exact"] is False
    assert (body["original_size"], body["compressed_size"]) == (record.original_size, record.compressed_size)
    assert body["original_size"] != exact.original_size
    assert all(body[name] is None for name in SCORES) and body["candidates"] == [] and body["reason"] == ""
    listed = keyless.get("/api/v1/images/").json()["results"][0]
    assert listed["original_size"] == record.original_size and listed["figures_exact"] is False


def test_a_record_from_before_is_sealed_and_coarsened_at_its_owners_next_unlock(alice):
    data = photo_jpeg()
    before = as_before_sealing(store(alice, data), alice)
    assert before.figures_sealed is None and before.original_size == len(data) and before.psnr is not None
    legacy, _key = legacy_record(alice, image_bytes(make_photo(48, 32)))

    login_unlocked(Client(), "alice", PASSWORD)

    after = ImageRecord.objects.get(pk=before.pk)
    assert after.figures_sealed and after.original_size == crypto.padme(len(data))
    assert after.compressed_size == crypto.padme(before.compressed_size)
    assert all(getattr(after, name) is None for name in SCORES) and after.candidates == [] and after.reason == ""
    assert figures.from_record(opened(after, alice)) == figures.from_record(before)
    # A legacy record opens only with its own retrieval key: it stays as it was.
    old = ImageRecord.objects.get(pk=legacy.pk)
    assert old.figures_sealed is None and old.original_size == legacy.original_size


def test_the_api_token_grant_seals_records_from_before_too(alice):
    before = as_before_sealing(store(alice, photo_jpeg()), alice)
    token_client("alice", PASSWORD)
    assert ImageRecord.objects.get(pk=before.pk).original_size == crypto.padme(before.original_size)


def test_damaged_sealed_figures_leave_approximate_values_an_audit_event_and_no_500(alice):
    record = store(alice, photo_jpeg())
    other = store(alice, photo_jpeg(seed=7), filename="other.jpg")
    sealed = bytearray(record.figures_sealed)
    sealed[-1] ^= 1
    ImageRecord.objects.filter(pk=record.pk).update(figures_sealed=bytes(sealed))
    # Another record's intact document does not open here either: the record id is bound in.
    ImageRecord.objects.filter(pk=other.pk).update(figures_sealed=record.figures_sealed)

    client = login_unlocked(Client(), "alice", PASSWORD)
    for damaged in (record, other):
        html = detail_html(client, damaged)
        assert "sealed sizes and scores are damaged" in html and f"about {human_bytes(damaged.original_size)}" in html
        refused = AuditEvent.objects.filter(record_id=damaged.pk, action=AuditEvent.Action.RETRIEVE_REFUSED)
        assert refused.filter(detail__contains="do not authenticate").exists()

    body = token_client("alice", PASSWORD).get(f"/api/v1/images/{record.pk}/").json()
    assert body["figures_exact"] is False and body["original_size"] == record.original_size

    # A recompression needs the exact upload size: its job fails, saying why, instead of guessing.
    jobs.requeue(record=ImageRecord.objects.get(pk=record.pk), master_key=alice.master_key)
    failed = ImageRecord.objects.get(pk=record.pk)
    assert failed.status == ImageRecord.Status.FAILED and "do not authenticate" in failed.error


def test_a_recompression_replaces_the_sealed_figures(alice):
    record = store(alice, photo_jpeg(), codec="webp", quality=90)
    first = opened(record, alice)
    jobs.requeue(record=record, master_key=alice.master_key, options={"codec": "webp", "target": None, "quality": 20, "effort": None})
    second = opened(record, alice)
    assert second.original_size == first.original_size
    assert second.compressed_size < first.compressed_size and second.codec_params["quality"] == 20
    assert ImageRecord.objects.get(pk=record.pk).compressed_size == crypto.padme(second.compressed_size)


def test_an_instance_showing_exact_figures_refuses_to_save_them_in_the_clear(alice):
    exact = opened(store(alice, photo_jpeg()), alice)
    with pytest.raises(ValueError, match="in the clear"):
        exact.save()
    with pytest.raises(ValueError, match="in the clear"):
        exact.save(update_fields=["original_size"])
    exact.save(update_fields=["name"])  # other columns still save
    assert ImageRecord.objects.get(pk=exact.pk).original_size == crypto.padme(exact.original_size)


def test_the_sealed_document_is_bound_to_its_record_and_padded():
    key = crypto.new_data_key()
    document = figures.of_upload(123_456) | {"reason": "x" * 40}
    sealed = figures.seal(document, data_key=key, record_id=7)
    assert figures.open_sealed(sealed, data_key=key, record_id=7) == document
    with pytest.raises(figures.FiguresError, match="record 8"):
        figures.open_sealed(sealed, data_key=key, record_id=8)
    with pytest.raises(figures.FiguresError, match="version byte 09"):
        figures.open_sealed(b"\x09" + sealed[1:], data_key=key, record_id=7)
    with pytest.raises(figures.FiguresError):
        figures.open_sealed(sealed, data_key=crypto.new_data_key(), record_id=7)
    body = len(sealed) - 1 - crypto.NONCE_BYTES - crypto.TAG_BYTES
    assert body == crypto.padme(body)  # its length is a Padmé length, whatever the candidates' count
    assert figures.coarse(document)["original_size"] == crypto.padme(123_456) != 123_456


def test_the_migration_rewrites_exact_byte_counts_in_audit_events_from_before(alice):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("audit.migrations.0004_redact_exact_sizes")
    old = {
        AuditEvent.Action.UPLOAD: "1234567 bytes, codec=auto, storage=original",
        AuditEvent.Action.JOB_DONE: "webp 1234567->234567 bytes; original as-uploaded; stored 1500000 bytes",
        AuditEvent.Action.DELETE: "avif, 2345678 bytes original; emptied from the trash",
        AuditEvent.Action.LOGIN: "1234567 bytes",  # not an image's figure: left alone
    }
    events = {action: AuditEvent.objects.create(action=action, actor=alice, detail=detail) for action, detail in old.items()}

    migration.redact_events(apps, None)

    after = {action: AuditEvent.objects.get(pk=event.pk).detail for action, event in events.items()}
    for action in (AuditEvent.Action.UPLOAD, AuditEvent.Action.JOB_DONE, AuditEvent.Action.DELETE):
        for exact in ("1234567", "234567", "1500000", "2345678"):
            assert exact not in after[action]
        assert "about " in after[action]
    assert after[AuditEvent.Action.UPLOAD] == f"about {human_bytes(crypto.padme(1234567))}, codec=auto, storage=original"
    assert after[AuditEvent.Action.JOB_DONE].startswith(
        f"webp about {human_bytes(crypto.padme(1234567))} -> about {human_bytes(crypto.padme(234567))};"
    )
    assert after[AuditEvent.Action.LOGIN] == old[AuditEvent.Action.LOGIN]
