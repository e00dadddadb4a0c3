"""The scaled-out deployment on several hosts (docs/deploy.md, "Several hosts").

Two web servers (gunicorn, production settings) and two worker hosts, each a Linux network
namespace with its own address on a private bridge, share what the design says they share:
PostgreSQL (a database made for this test and dropped after), Redis (broker and cache), an S3
bucket (moto's server) and the secrets (SECRET_KEY, VAULT_JOB_KEY). Each host has its own
DATA_DIR and nothing else. PostgreSQL and Redis listen on this machine's 127.0.0.1, which a
namespace cannot reach, so a small forwarder (tests/multihost/forward.py) relays them from the
bridge's address.

A user registers and uploads on web A and follows the progress on web B; the worker host holding
the slow job loses every process at once (SIGKILL); the other worker host finishes it, the
original downloaded through web B is the uploaded file byte for byte, every record is there and
every blob in the bucket belongs to a record.

Skipped, saying why, without root, iproute2's network namespaces, PostgreSQL or Redis on
127.0.0.1; `.ci/run` runs it once (PORTAL_SKIP_MULTIHOST=1 in its PostgreSQL pass, as it makes its
own PostgreSQL database anyway).
"""
import io
import json
import os
import secrets

import pytest
from PIL import Image

from tests.conftest import image_bytes, make_photo
from tests.multihost.client import Web
from tests.multihost.cluster import BUCKET, Cluster, services_missing, wait_until
from tests.multihost.network import NetworkUnavailable
from vault.deployment import MARKER_NAME

PASSWORD = "multi-Host-passw0rd"
WEBS, WORKERS = ("web-a", "web-b"), ("worker-a", "worker-b")


def _started(cluster: Cluster, name: str, predicate, timeout: float):
    try:
        wait_until(predicate, timeout=timeout, what=f"{name} to start")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- {name}'s log ---\n{cluster.log(name)}") from None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.environ.get("PORTAL_SKIP_MULTIHOST"):
        pytest.skip("PORTAL_SKIP_MULTIHOST is set (.ci/run's second pass: the first one ran it)")
    missing = services_missing()
    if missing:
        pytest.skip(f"the multi-host test needs the machine's services: {missing}")
    try:
        with Cluster(tmp_path_factory.mktemp("multihost")) as running:
            webs = {name: Web(running.start_web(name)) for name in WEBS}
            for name in WORKERS:
                running.start_worker(name)
            for name, web in webs.items():
                _started(running, name, web.healthy, timeout=180)
            for name in WORKERS:
                _started(running, name, lambda name=name: " ready." in running.log(name), timeout=180)
            yield running, webs
    except NetworkUnavailable as exc:
        pytest.skip(f"the multi-host test needs network namespaces: {exc}")


def _query(cluster: Cluster, sql: str, *args) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{cluster.database}", connect_timeout=5) as db:
        return db.execute(sql, args).fetchall()


def _referenced_blobs(cluster: Cluster) -> set[str]:
    """Every blob name any table of the database refers to (columns named …_blob), so that a blob
    kind added later is counted without touching this test."""
    columns = _query(cluster, """
        select table_name, column_name from information_schema.columns
        where table_schema = 'public' and column_name like '%%\\_blob' and column_name not like 'sha256%%'
    """)
    assert ("vault_imagerecord", "original_blob") in columns
    names = set()
    for table, column in columns:
        names |= {value for (value,) in _query(cluster, f'select "{column}" from "{table}"') if value}
    return names


def _bucket_keys(cluster: Cluster) -> set[str]:
    pages = cluster.s3_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def _worker_holding(cluster: Cluster, task_id: str) -> str | None:
    held = [name for name in WORKERS if f"[{task_id}] received" in cluster.log(name)]
    return held[0] if len(held) == 1 else None


def test_a_job_survives_losing_its_worker_host_and_nothing_is_lost(cluster):
    cluster, webs = cluster
    web_a, web_b = webs["web-a"], webs["web-b"]

    assert web_a.register("hosts", PASSWORD) == 200
    status, _, issued = web_a.json("POST", "/api/v1/auth/token/", body=json.dumps({"username": "hosts", "password": PASSWORD}).encode(),
                                   headers_extra={"Content-Type": "application/json"})
    assert status == 200, issued
    token = issued["token"]

    # One job that takes seconds (a 640×480 photo, every classical codec tried) and two quick ones.
    # A JPEG: its exact bytes come back even when the vault keeps it as a JPEG XL transcoding
    # (a PNG original comes back as a re-made PNG with the same pixels, not the same bytes).
    slow = image_bytes(make_photo(640, 480, seed=3), "JPEG", quality=92)
    uploads = {"slow.jpg": slow, **{f"small-{s}.png": image_bytes(make_photo(96, 64, seed=s)) for s in (11, 12)}}
    ids = {}
    for filename, data in uploads.items():
        status, headers, body = web_a.upload(token, filename, data, idempotency_key=secrets.token_hex(8), codec="auto")
        assert status == 202, body
        ids[filename] = body["id"]
    slow_id = ids["slow.jpg"]

    def statuses():
        status, _, rows = web_b.json("GET", f"/api/v1/images/status/?ids={','.join(map(str, ids.values()))}", token=token)
        assert status == 200, rows
        return {row["id"]: row for row in rows}

    # The record names the message that runs its job; the host whose worker logs that message
    # holds it. It goes down as soon as web B reports the job running: mid-job even where it
    # takes a second or two (attempts == 2 below shows it did not finish first).
    (task_id,) = _query(cluster, "select job_task_id from vault_imagerecord where id = %s", slow_id)[0]
    holder = wait_until(lambda: _worker_holding(cluster, task_id), timeout=120, what="a worker to take the job",
                        interval=0.05)
    survivor = next(name for name in WORKERS if name != holder)
    wait_until(lambda: statuses()[slow_id]["status"] == "running", timeout=30, what="web B to report the job running",
               interval=0.05)
    killed = cluster.network.kill_host(holder)
    assert killed, f"{holder} had no processes"
    wait_until(lambda: not cluster.network.pids(holder), timeout=30, what=f"{holder}'s processes to die")

    final = wait_until(lambda: (rows := statuses()) and all(r["status"] in ("done", "failed", "cancelled") for r in rows.values()) and rows,
                       timeout=240, what=f"the jobs to end on {survivor}\n{cluster.log(survivor)}", interval=1)
    assert {row["status"] for row in final.values()} == {"done"}, final
    assert f"[{task_id}] succeeded" in cluster.log(survivor)
    status, _, detail = web_b.json("GET", f"/api/v1/images/{slow_id}/", token=token)
    assert status == 200 and detail["attempts"] == 2, detail  # the lost attempt, then the one that finished

    # The original decrypts to the uploaded bytes through the other web server; so does the rest.
    status, _, original = web_b.request("GET", f"/api/v1/images/{slow_id}/download/?variant=original", token=token)
    assert status == 200 and original == slow
    status, _, compressed = web_b.request("GET", f"/api/v1/images/{slow_id}/download/?variant=compressed", token=token)
    assert status == 200 and Image.open(io.BytesIO(compressed)).size == (640, 480)

    # No record lost, none doubled: the API and the database both hold exactly the three uploads.
    status, _, listing = web_b.json("GET", "/api/v1/images/", token=token)
    assert status == 200 and sorted(r["id"] for r in listing["results"]) == sorted(ids.values())
    assert _query(cluster, "select count(*) from vault_imagerecord")[0][0] == len(uploads)

    # No blob orphaned, none missing: the bucket holds exactly the blobs the records name (and the
    # deployment marker), and the sweep, run on the surviving host, finds nothing to delete.
    referenced = _referenced_blobs(cluster)
    assert len(referenced) >= 3 * len(uploads)  # original, compressed and thumbnail each
    assert _bucket_keys(cluster) == referenced | {MARKER_NAME}
    assert "0 orphan blob(s) found" in cluster.manage(survivor, "vault_sweep", "--dry-run", "--older-than-minutes", "0")
