"""Storing (vault.uploads), opening (vault.images) and deleting encrypted images, and the orphan sweep,
end to end with storage."""
import errno
import hashlib
import io
from datetime import timedelta

import pytest
from tests.conftest import image_bytes, make_photo
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent
from vault import blobs, crypto, uploads
from vault.errors import (
    GENERIC_REFUSAL, BlobUnavailable, RetrievalLocked, RetrievalRefused, StorageFull, SweepRefused, VaultLocked,
)
from vault.images.deletion import delete_image
from vault.images.legacy import retrieve_image
from vault.images.opening import open_variant
from vault.models import ImageRecord, UserRetrievalGuard
from vault.sweep import sweep_orphan_blobs
from .vault_helpers import bad_uploads, files_under, key_needles, legacy_record, opened, scan_database, vault_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return vault_user("alice", "correct horse battery")


def store(owner, data=None, **kw):
    data = image_bytes(make_photo()) if data is None else data
    kw.setdefault("codec", "png")
    kw.setdefault("filename", "photo.png")
    record, _ = uploads.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=data, target=kw.pop("target", None),
        quality=kw.pop("quality", None), **kw,
    )
    return record


def open_(record, variant="original", master_key=None):
    return open_variant(record=record, master_key=master_key or record.owner.master_key, variant=variant)


def other_key(key: str) -> str:
    return crypto.format_retrieval_key(crypto.new_retrieval_key()) if key else key


def test_store_then_open_gives_back_the_exact_upload_the_codec_bytes_and_a_thumbnail(alice, _isolated_storage):
    upload = image_bytes(make_photo(seed=3, width=640, height=400), "JPEG", quality=93)
    record = store(alice, upload, codec="webp", quality=60, filename="holiday.jpg")
    record.owner = alice  # the fixture's object carries the master key

    assert open_(record) == upload
    compressed = open_(record, "compressed")
    assert compressed[:4] == b"RIFF" and compressed[8:12] == b"WEBP"
    exact = opened(record)  # the columns are Padmé-rounded; the exact sizes are sealed (vault/figures.py)
    assert len(compressed) == exact.compressed_size and record.compressed_size == crypto.padme(len(compressed))
    with Image.open(io.BytesIO(open_(record, "thumbnail"))) as thumb:
        assert thumb.format == "WEBP" and thumb.size == (320, 200)
    assert exact.original_size == len(upload) and record.original_size == crypto.padme(len(upload))
    # No unkeyed digest of the photo: a keyed one that only the data key's holder can compute.
    assert record.sha256_original == ""
    assert record.original_mac and record.original_mac != hashlib.sha256(upload).hexdigest()
    assert record.original_format == "JPEG" and record.original_media_type == "image/jpeg"
    assert record.codec == "webp" and record.compressed_media_type == "image/webp"
    assert (record.width, record.height) == (640, 400)
    assert record.name == "holiday.jpg"
    assert record.total_seconds >= record.encode_seconds > 0


def test_blobs_on_storage_are_ciphertext_with_recorded_sha256(alice, _isolated_storage):
    upload = image_bytes(make_photo())
    record = store(alice, upload)
    files = files_under(_isolated_storage)
    assert len(files) == 3
    for variant in ("original", "compressed", "thumbnail"):
        with default_storage.open(getattr(record, f"{variant}_blob"), "rb") as fh:
            blob = fh.read()
        assert blob[0] == crypto.CONTAINER_VERSION
        assert hashlib.sha256(blob).hexdigest() == getattr(record, f"sha256_{variant}_blob")
    original_blob = (_isolated_storage / record.original_blob).read_bytes()
    assert upload not in original_blob and b"IHDR" not in original_blob


def test_each_record_gets_its_own_data_key_and_a_wrap_moved_to_another_record_fails(alice):
    # The same photo twice: even identical uploads get unrelated data keys.
    a, b = store(alice), store(alice, allow_duplicate=True)
    a.owner = b.owner = alice
    assert bytes(a.dk_wrap) != bytes(b.dk_wrap)
    ImageRecord.objects.filter(pk=a.pk).update(dk_wrap=b.dk_wrap)  # b's wrapped DK, bound to b's id
    a.refresh_from_db()
    a.owner = alice
    with pytest.raises(RetrievalRefused):
        open_(a)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED, detail__contains="wrapped data key").exists()


def test_another_vaults_master_key_opens_nothing(alice):
    record = store(alice)
    mallory = vault_user("mallory", "another password 1")
    with pytest.raises(RetrievalRefused):
        open_variant(record=record, master_key=mallory.master_key, variant="original")
    with pytest.raises(VaultLocked):
        uploads.store_image(owner=alice, master_key=mallory.master_key, uploaded_file_or_bytes=image_bytes(make_photo()), codec="png")


def test_the_same_upload_token_stores_one_image(alice, _isolated_storage):
    first, created = uploads.store_image(
        owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=image_bytes(make_photo()), codec="png", upload_token="form-1"
    )
    again, created_again = uploads.store_image(
        owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=image_bytes(make_photo(seed=5)), codec="png", upload_token="form-1"
    )
    assert created and not created_again and again.pk == first.pk
    assert ImageRecord.objects.count() == 1 and len(files_under(_isolated_storage)) == 3
    # Tokens are per user: another user's same token is a different upload.
    bob = vault_user("bob", "bob's password 1")
    _, bob_created = uploads.store_image(
        owner=bob, master_key=bob.master_key, uploaded_file_or_bytes=image_bytes(make_photo()), codec="png", upload_token="form-1"
    )
    assert bob_created and ImageRecord.objects.count() == 2


def test_a_malformed_upload_token_is_a_validation_error_quoting_it(alice):
    with pytest.raises(ValidationError, match="has space"):
        uploads.store_image(owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=image_bytes(make_photo()),
                            codec="png", upload_token="has space")
    assert not ImageRecord.objects.exists()


def test_lossless_target_stores_null_psnr_not_infinity(alice):
    record = opened(store(alice, codec="png", target="lossless"), alice)
    assert record.psnr is None and record.decided_by == "exact"
    assert all(c["psnr"] is None or c["psnr"] < float("inf") for c in record.candidates)


def test_auto_codec_records_candidates_and_reason(alice):
    record = opened(store(alice, codec="auto", target="balanced"), alice)
    assert record.candidates and {"codec", "size", "params"} <= set(record.candidates[0])
    assert record.reason
    assert record.codec in {c["codec"] for c in record.candidates}


def legacy(owner):
    return legacy_record(owner, image_bytes(make_photo()))


def test_wrong_key_is_refused_with_the_generic_message_and_audited(alice):
    record, key = legacy(alice)
    with pytest.raises(RetrievalRefused) as info:
        retrieve_image(record=record, key=other_key(key), variant="original")
    assert str(info.value) == GENERIC_REFUSAL
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETRIEVE_REFUSED)
    assert event.record_id == record.pk and event.actor == alice
    assert key not in event.detail and key.replace("-", "") not in event.detail
    record.refresh_from_db()
    assert record.failed_attempts == 1


def test_malformed_key_is_a_validation_error_and_not_counted(alice):
    record, _ = legacy(alice)
    with pytest.raises(ValidationError, match="not a retrieval key"):
        retrieve_image(record=record, key="not-a-key", variant="original")
    record.refresh_from_db()
    assert record.failed_attempts == 0
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED).exists()


def test_unknown_variant_is_rejected(alice):
    record = store(alice)
    with pytest.raises(ValidationError, match="bogus"):
        open_variant(record=record, master_key=alice.master_key, variant="bogus")
    legacy_one, key = legacy(alice)
    with pytest.raises(ValidationError, match="thumbnail"):  # records from before the vault have none
        retrieve_image(record=legacy_one, key=key, variant="thumbnail")


def _refusal_message(record, key=None, variant="original"):
    # The owner typed no key: a damaged file is said to be damaged (410), never "that key does not
    # open". A typed (legacy) key keeps the one refusal for every cause.
    with pytest.raises(RetrievalRefused if key is not None else BlobUnavailable) as info:
        if key is None:
            open_variant(record=record, master_key=record.owner.master_key, variant=variant)
        else:
            retrieve_image(record=record, key=key, variant=variant)
    return str(info.value)


def test_a_tampered_blob_tells_its_owner_the_file_is_damaged_not_that_a_key_is_wrong(alice, _isolated_storage):
    record = store(alice)
    record.owner = alice
    path = _isolated_storage / record.compressed_blob
    blob = bytearray(path.read_bytes())
    blob[20] ^= 0x01
    path.write_bytes(bytes(blob))
    message = _refusal_message(record, variant="compressed")
    assert message == "This image's stored compressed file is damaged or missing; its other versions may still open."
    assert GENERIC_REFUSAL not in message
    # The untouched variant still opens, as the message says.
    assert open_(record)


def test_tampered_blob_with_matching_sha256_is_still_refused_by_gcm(alice, _isolated_storage):
    record = store(alice)
    path = _isolated_storage / record.original_blob
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x80  # the GCM tag
    path.write_bytes(bytes(blob))
    ImageRecord.objects.filter(pk=record.pk).update(sha256_original_blob=hashlib.sha256(bytes(blob)).hexdigest())
    record.refresh_from_db()
    record.owner = alice
    assert "original file is damaged" in _refusal_message(record)


def test_a_changed_keyed_digest_is_refused(alice):
    record = store(alice)
    ImageRecord.objects.filter(pk=record.pk).update(original_mac="0" * 64)
    record.refresh_from_db()
    record.owner = alice
    assert "damaged or missing" in _refusal_message(record)
    assert AuditEvent.objects.filter(detail__contains="keyed digest mismatch").exists()


def test_a_missing_blob_tells_its_owner_so(alice, _isolated_storage):
    record = store(alice)
    record.owner = alice
    (_isolated_storage / record.original_blob).unlink()
    assert _refusal_message(record) == "This image's stored original file is damaged or missing; its other versions may still open."
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED, detail__contains="missing").exists()


def test_blobs_swapped_between_variants_are_refused_even_with_their_hashes(alice):
    record = store(alice)
    ImageRecord.objects.filter(pk=record.pk).update(
        original_blob=record.compressed_blob,
        compressed_blob=record.original_blob,
        sha256_original_blob=record.sha256_compressed_blob,
        sha256_compressed_blob=record.sha256_original_blob,
    )
    record.refresh_from_db()
    record.owner = alice
    assert "original file is damaged" in _refusal_message(record, variant="original")
    assert "compressed file is damaged" in _refusal_message(record, variant="compressed")


def test_blob_moved_to_another_record_is_refused_even_with_the_same_data_key(alice, monkeypatch):
    # Same data key for both records isolates the associated data: only the record id differs.
    fixed = crypto.new_data_key()
    monkeypatch.setattr(crypto, "new_data_key", lambda: fixed)
    a, b = store(alice), store(alice, allow_duplicate=True)  # the same plaintext too
    ImageRecord.objects.filter(pk=a.pk).update(original_blob=b.original_blob, sha256_original_blob=b.sha256_original_blob)
    a.refresh_from_db()
    a.owner = alice
    assert "damaged or missing" in _refusal_message(a)


def test_wrong_keys_lock_the_record_then_429_semantics_until_cooloff(alice, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 3
    settings.RETRIEVE_COOLOFF = timedelta(minutes=10)
    record, key = legacy(alice)
    for _ in range(3):
        with pytest.raises(RetrievalRefused):
            retrieve_image(record=record, key=other_key(key), variant="original")
    # Locked: even the right key is refused now, with a retry-after.
    with pytest.raises(RetrievalLocked) as info:
        retrieve_image(record=record, key=key, variant="original")
    assert 9 * 60 < info.value.retry_after <= 10 * 60
    refused = AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_REFUSED, record_id=record.pk)
    assert refused.count() == 4
    assert refused.filter(detail__contains="locked").count() == 1
    lockout = AuditEvent.objects.get(action=AuditEvent.Action.LOCKOUT)
    assert lockout.record_id == record.pk and "this image" in lockout.detail

    # After the cool-off the right key works and clears the record's counter.
    ImageRecord.objects.filter(pk=record.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    UserRetrievalGuard.objects.filter(user=alice).update(locked_until=None)
    assert retrieve_image(record=record, key=key, variant="original")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RETRIEVE_OK, record_id=record.pk).count() == 1


def test_wrong_keys_spread_over_records_lock_the_user(alice, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 10
    settings.RETRIEVE_USER_FAILURE_LIMIT = 4
    (a, key_a), (b, key_b) = legacy(alice), legacy(alice)
    for record, key in ((a, key_a), (b, key_b), (a, key_a), (b, key_b)):
        with pytest.raises(RetrievalRefused):
            retrieve_image(record=record, key=other_key(key), variant="original")
    for record, key in ((a, key_a), (b, key_b)):
        with pytest.raises(RetrievalLocked):
            retrieve_image(record=record, key=key, variant="original")
    assert "all of the user's images" in AuditEvent.objects.get(action=AuditEvent.Action.LOCKOUT).detail


def test_old_failures_are_forgotten_after_the_cooloff_window(alice, settings):
    settings.RETRIEVE_FAILURE_LIMIT = 2
    record, key = legacy(alice)
    with pytest.raises(RetrievalRefused):
        retrieve_image(record=record, key=other_key(key), variant="original")
    long_ago = timezone.now() - settings.RETRIEVE_COOLOFF - timedelta(minutes=1)
    ImageRecord.objects.filter(pk=record.pk).update(last_failed_at=long_ago)
    UserRetrievalGuard.objects.filter(user=alice).update(last_failed_at=long_ago)
    record.refresh_from_db()
    with pytest.raises(RetrievalRefused):
        retrieve_image(record=record, key=other_key(key), variant="original")
    assert retrieve_image(record=record, key=key, variant="original")


@pytest.mark.parametrize("kind", ["non-image", "truncated-png", "truncated-jpeg", "zero-bytes", "bomb", "disallowed-format"])
def test_bad_uploads_raise_validation_error_and_leave_nothing(alice, _isolated_storage, kind):
    data = bad_uploads(make_photo())[kind]
    with pytest.raises(ValidationError) as info:
        store(alice, data, filename=f"{kind}.bin")
    assert " ".join(info.value.messages)
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []


def test_oversize_upload_is_refused_before_decoding(alice, settings, _isolated_storage):
    settings.UPLOAD_MAX_BYTES = 1000
    data = image_bytes(make_photo(64, 64))
    assert len(data) > 1000
    with pytest.raises(ValidationError, match="too large|limit"):
        store(alice, data)
    assert not ImageRecord.objects.exists() and files_under(_isolated_storage) == []


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"codec": "gif89"}, "gif89"), ({"target": "psnr:abc"}, "abc"), ({"codec": "jpeg", "quality": 400}, "400")],
)
def test_bad_codec_target_or_quality_is_a_validation_error_quoting_the_value(alice, kwargs, needle, _isolated_storage):
    with pytest.raises(ValidationError) as info:
        store(alice, **kwargs)
    assert needle in " ".join(info.value.messages)
    assert not ImageRecord.objects.exists() and files_under(_isolated_storage) == []


def test_storage_failure_while_storing_the_original_leaves_no_row_and_no_file(alice, monkeypatch, _isolated_storage):
    def failing_write(storage, name, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(blobs, "_write_file", failing_write)
    with pytest.raises(StorageFull, match="ENOSPC"):
        store(alice)
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.UPLOAD).exists()


def test_database_failure_after_the_original_is_written_leaves_no_row_and_no_file(alice, monkeypatch, _isolated_storage):
    def failing_audit(**kwargs):
        assert len(files_under(_isolated_storage)) == 1  # the original really was written
        raise RuntimeError("database went away")

    monkeypatch.setattr(uploads, "record_event", failing_audit)
    with pytest.raises(RuntimeError, match="went away"):
        store(alice)
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []


def test_storage_failure_in_the_job_keeps_the_original_and_fails_the_job_readably(alice, monkeypatch, _isolated_storage):
    real_write = blobs._write_file

    def write_only_originals(storage, name, data):
        if "/compressed-" in name or "/thumbnail-" in name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(storage, name, data)

    monkeypatch.setattr(blobs, "_write_file", write_only_originals)
    record = store(alice)
    assert record.status == "failed" and "storage is full" in record.error
    assert record.job_dk_wrap is None and not record.compressed_blob
    assert [p.name.split("-")[0] for p in files_under(_isolated_storage)] == ["original"]
    assert open_(record, master_key=alice.master_key) == image_bytes(make_photo())


def test_upload_is_audited_without_key_material(alice):
    record = store(alice)
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPLOAD)
    assert event.record_id == record.pk and event.actor == alice
    assert alice.master_key.hex() not in event.detail and bytes(record.dk_wrap).hex() not in event.detail


def test_delete_removes_row_and_blobs_after_commit_and_is_audited(alice, _isolated_storage, django_capture_on_commit_callbacks):
    record = store(alice)
    pk = record.pk
    assert len(files_under(_isolated_storage)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        delete_image(record=record)
    assert not ImageRecord.objects.exists()
    assert files_under(_isolated_storage) == []
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DELETE, record_id=pk, actor=alice).exists()


def test_delete_keeps_blobs_when_the_transaction_rolls_back(alice, _isolated_storage, django_capture_on_commit_callbacks):
    from django.db import transaction

    record = store(alice)
    pk = record.pk
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                delete_image(record=record)
                raise RuntimeError("something later in the request failed")
    assert callbacks == []
    assert ImageRecord.objects.filter(pk=pk).exists()
    assert len(files_under(_isolated_storage)) == 3


def test_sweep_removes_only_blobs_without_a_row(alice, _isolated_storage):
    record = store(alice)
    orphan = default_storage.save("vault/999/original-deadbeef.sealed", ContentFile(b"x" * 40))
    removed = sweep_orphan_blobs(older_than=timedelta(0))
    assert removed == [orphan]
    remaining = {p.relative_to(_isolated_storage).as_posix() for p in files_under(_isolated_storage)}
    assert remaining == {record.original_blob, record.compressed_blob, record.thumbnail_blob}


def test_the_celery_sweep_task_removes_orphans_and_is_scheduled(alice, _isolated_storage, settings):
    from vault.tasks import sweep_orphan_blobs

    store(alice)
    default_storage.save("vault/998/original-cafe.sealed", ContentFile(b"x" * 40))
    assert sweep_orphan_blobs.delay(older_than_minutes=0).get() == 1  # eager without a broker
    assert len(files_under(_isolated_storage)) == 3
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert sweep_orphan_blobs.name in scheduled


def test_filenames_are_sanitised():
    assert uploads.sanitize_filename("../../etc/passwd") == "passwd"
    assert uploads.sanitize_filename("C:\\Users\\me\\photo 1.png") == "photo 1.png"
    assert uploads.sanitize_filename("bad\x00name\n.png") == "badname.png"
    assert uploads.sanitize_filename("") == "image"
    assert len(uploads.sanitize_filename("a" * 400 + ".jpeg")) <= 150
    assert uploads.sanitize_filename("a" * 400 + ".jpeg").endswith(".jpeg")


def test_sweep_command_dry_run_lists_but_keeps_orphans(alice, _isolated_storage):
    from io import BytesIO, StringIO

    from django.core.management import call_command

    store(alice)  # the database owns blobs here; a sweep of a database that knows none refuses
    orphan = default_storage.save("vault/12345/compressed-cafe.sealed", BytesIO(b"y" * 40))
    out = StringIO()
    call_command("vault_sweep", "--older-than-minutes", "0", "--dry-run", stdout=out)
    assert f"would delete {orphan}" in out.getvalue()
    assert default_storage.exists(orphan)
    call_command("vault_sweep", "--older-than-minutes", "0", stdout=StringIO())
    assert not default_storage.exists(orphan)


def test_sweep_spares_young_orphans_that_may_still_be_committing(alice, _isolated_storage):
    from io import BytesIO

    store(alice)
    young = default_storage.save("vault/777/original-beef.sealed", BytesIO(b"z" * 40))
    assert sweep_orphan_blobs(older_than=timedelta(hours=1)) == []
    assert default_storage.exists(young)


def test_sweep_on_disk_refuses_when_the_database_is_not_the_one_that_marked_the_folder(alice, _isolated_storage):
    from vault.models import VaultDeployment

    store(alice)
    ImageRecord.objects.all().delete()  # as if DATABASE_URL now named an empty database
    VaultDeployment.objects.all().delete()
    with pytest.raises(SweepRefused):
        sweep_orphan_blobs(older_than=timedelta(0))
    assert len(files_under(_isolated_storage)) == 3  # original, compressed, thumbnail


def test_a_second_writer_of_the_same_marker_is_fine_and_a_different_one_is_refused(_isolated_storage):
    from vault.deployment import read_marker, write_marker

    write_marker("id-one")
    write_marker("id-one")  # another process of the same deployment, a moment later
    assert read_marker() == "id-one"
    with pytest.raises(RuntimeError, match="id-one"):
        write_marker("id-two")
    assert read_marker() == "id-one"
    assert sorted(p.name for p in _isolated_storage.rglob("*") if p.is_file()) == [".deployment"]


def test_stored_blobs_are_padded_so_their_size_hides_the_exact_file_size(alice, _isolated_storage):
    record = store(alice)
    original_blob = (_isolated_storage / record.original_blob).stat().st_size
    size = opened(record, alice).original_size
    assert original_blob == crypto.sealed_size(size)
    assert original_blob != size + 29  # what a bare storage listing showed before
