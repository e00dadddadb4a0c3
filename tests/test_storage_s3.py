"""The vault on a real S3 API: moto's server on loopback, driven through django-storages.

Skipped (with the reason) where moto[server] is not installed: `make test` installs it from
requirements-test.txt.
"""
from datetime import timedelta
from io import BytesIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from portal.settings.base import s3_storage
from tests.conftest import image_bytes, make_photo
from tests.vault_helpers import vault_user
from vault import uploads
from vault.deployment import MARKER_NAME
from vault.errors import SweepRefused
from vault.images.deletion import delete_image
from vault.images.opening import open_variant
from vault.models import ImageRecord, VaultDeployment
from vault.sweep import sweep_orphan_blobs

moto_server = pytest.importorskip(
    "moto.moto_server.threaded_moto_server", reason="moto[server] is not installed (pip install -r requirements-test.txt)"
)
boto3 = pytest.importorskip("boto3")

pytestmark = pytest.mark.django_db
BUCKET = "portal-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch):
    """A fresh bucket per test, with the vault's default storage pointed at it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    use_s3(settings, s3_endpoint, location="")
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def use_s3(settings, endpoint, *, location):
    environ = {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": endpoint, "AWS_S3_REGION_NAME": "us-east-1"}
    if location is not None:
        environ["AWS_LOCATION"] = location
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(environ)}


def keys(client) -> list[str]:
    return sorted(obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.fixture
def alice():
    return vault_user("alice", "correct-Horse-battery-9")


def store(owner, seed=0):
    # A seed per stored image where a test stores several: the same photo again is a duplicate.
    return uploads.store_image(
        owner=owner, master_key=owner.master_key, uploaded_file_or_bytes=image_bytes(make_photo(seed=seed)), codec="png"
    )


def test_store_retrieve_and_delete_round_trip_on_s3(s3, alice, django_capture_on_commit_callbacks):
    upload = image_bytes(make_photo(seed=4))
    record, _ = uploads.store_image(
        owner=alice, master_key=alice.master_key, uploaded_file_or_bytes=upload, codec="webp", quality=70
    )
    assert open_variant(record=record, master_key=alice.master_key, variant="original") == upload
    assert set(keys(s3)) == {record.original_blob, record.compressed_blob, record.thumbnail_blob, MARKER_NAME}
    stored = s3.get_object(Bucket=BUCKET, Key=record.original_blob)["Body"].read()
    assert upload not in stored  # ciphertext on the server

    with django_capture_on_commit_callbacks(execute=True):
        delete_image(record=record)
    assert keys(s3) == [MARKER_NAME]


def test_blob_names_have_the_vault_prefix_once(s3_endpoint, s3, settings, alice):
    record, _ = store(alice)
    assert record.original_blob.startswith("vault/") and not record.original_blob.startswith("vault/vault/")
    assert record.original_blob in keys(s3)

    use_s3(settings, s3_endpoint, location="site-a")  # a deployment with its own folder
    other, _ = store(alice, seed=1)
    assert f"site-a/{other.original_blob}" in keys(s3)
    assert not any(k.startswith("vault/vault/") or "/vault/vault/" in k for k in keys(s3))


def test_the_sweep_deletes_old_orphans_and_keeps_records_blobs(s3, alice):
    record, _ = store(alice)
    orphan = default_storage.save("vault/999/original-deadbeef.sealed", BytesIO(b"x" * 40))
    assert sweep_orphan_blobs(older_than=timedelta(0)) == [orphan]
    assert set(keys(s3)) == {record.original_blob, record.compressed_blob, record.thumbnail_blob, MARKER_NAME}


def test_the_sweep_spares_young_orphans_and_foreign_names(s3, alice):
    store(alice)
    young = default_storage.save("vault/998/original-cafe.sealed", BytesIO(b"x" * 40))
    s3.put_object(Bucket=BUCKET, Key="vault/notes.txt", Body=b"not a blob")
    s3.put_object(Bucket=BUCKET, Key="other-app/1/original-aa.sealed", Body=b"someone else's")
    assert sweep_orphan_blobs(older_than=timedelta(hours=1)) == []
    assert sweep_orphan_blobs(older_than=timedelta(0)) == [young]
    assert {"vault/notes.txt", "other-app/1/original-aa.sealed"} <= set(keys(s3))


def test_the_sweep_lists_the_bucket_once_and_reads_no_object_metadata(s3, alice):
    for seed in range(3):
        store(alice, seed)
    for i in range(5):
        default_storage.save(f"vault/{900 + i}/compressed-beef.sealed", BytesIO(b"x"))
    calls = []
    client = default_storage.connection.meta.client
    client.meta.events.register("before-call.s3", lambda model, **kw: calls.append(model.name))
    assert len(sweep_orphan_blobs(older_than=timedelta(0))) == 5
    assert [c for c in calls if c.startswith("ListObjects")] == ["ListObjectsV2"]
    # Reading the deployment marker is the only other request besides the deletes: no request
    # per blob (11 blobs here) to learn its age.
    assert calls.count("HeadObject") <= 2 and calls.count("GetObject") == 1
    assert calls.count("DeleteObject") == 5


def test_an_empty_database_refuses_to_sweep_another_databases_blobs(s3, alice):
    store(alice)
    store(alice, seed=1)
    # DATABASE_URL now points at an empty database: no records, a new deployment id.
    ImageRecord.objects.all().delete()
    VaultDeployment.objects.all().delete()
    with pytest.raises(SweepRefused, match="marked for deployment"):
        sweep_orphan_blobs(older_than=timedelta(0))
    assert len(keys(s3)) == 7  # two records × three blobs and the marker, all still there


def test_a_database_that_knows_none_of_the_blobs_refuses_without_a_marker(s3, alice):
    default_storage.save("vault/5/original-aa.sealed", BytesIO(b"x"))  # e.g. blobs from before markers
    with pytest.raises(SweepRefused, match="knows none of the 1 blob"):
        sweep_orphan_blobs(older_than=timedelta(0))
    with pytest.raises(CommandError, match="looks empty or foreign"):
        call_command("vault_sweep", "--older-than-minutes", "0")
    assert "vault/5/original-aa.sealed" in keys(s3)
    # An operator who checked can still clear them.
    assert sweep_orphan_blobs(older_than=timedelta(0), force=True) == ["vault/5/original-aa.sealed"]


def test_force_never_overrides_another_deployments_marker(s3, alice):
    store(alice)
    VaultDeployment.objects.all().delete()
    with pytest.raises(SweepRefused, match="another database or deployment"):
        sweep_orphan_blobs(older_than=timedelta(0), force=True)


def test_two_deployments_in_one_bucket_only_sweep_their_own_prefix(s3_endpoint, s3, settings, alice):
    use_s3(settings, s3_endpoint, location="site-b")
    s3.put_object(Bucket=BUCKET, Key="site-c/vault/3/original-ab.sealed", Body=b"site c")
    record, _ = store(alice)
    default_storage.save("vault/777/original-cd.sealed", BytesIO(b"x"))
    assert sweep_orphan_blobs(older_than=timedelta(0)) == ["vault/777/original-cd.sealed"]
    assert "site-c/vault/3/original-ab.sealed" in keys(s3)
    assert f"site-b/{record.original_blob}" in keys(s3)
