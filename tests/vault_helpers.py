"""Helpers for the vault's tests: hostile uploads, a scan of every database cell, users with a vault,
records from before the vault, and uploads that stay queued. The page, API and domain test modules
share these definitions."""
from __future__ import annotations

import base64
import io
import os
import re
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from PIL import Image

KEY_RE = re.compile(r"\b(?:[A-Z2-7]{4}-){12}[A-Z2-7]{4}\b")


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny, valid-looking PNG whose header declares an enormous canvas."""
    raw = png_bytes(Image.new("RGB", (1, 1)))
    ihdr_data = struct.pack(">II", width, height) + raw[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr_data) & 0xFFFFFFFF)
    return raw[:16] + ihdr_data + crc + raw[33:]


def disallowed_format_bytes(image: Image.Image) -> bytes:
    """A real image in a format the portal refuses (Windows icon)."""
    buf = io.BytesIO()
    image.save(buf, format="ICO")
    return buf.getvalue()


def bad_uploads(image: Image.Image) -> dict[str, bytes]:
    png = png_bytes(image)
    jpeg = jpeg_bytes(image)
    return {
        "non-image": b"This is a plain text file, not a photo.\n" * 20,
        "truncated-png": png[: len(png) // 2],
        "truncated-jpeg": jpeg[: len(jpeg) // 2],
        "zero-bytes": b"",
        "bomb": bomb_png(),
        "disallowed-format": disallowed_format_bytes(image),
        "multi-page-tiff": multi_page_tiff(image),
    }


def multi_page_tiff(image: Image.Image, pages: int = 3) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="TIFF", save_all=True, append_images=[image] * (pages - 1))
    return buf.getvalue()


def files_under(root: Path) -> list[Path]:
    """The blob files under a storage root (not the deployment marker, see vault/deployment.py)."""
    root = Path(root)
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".deployment"]


def key_needles(key_text: str, secret: bytes, extra_secrets: tuple[bytes, ...] = ()) -> tuple[list[str], list[bytes]]:
    """Every spelling of a key (and other secrets) that must not appear in stored data."""
    compact = key_text.replace("-", "")
    texts = [key_text, compact, key_text.lower(), compact.lower()]
    raw = [secret, *extra_secrets]
    for value in raw:
        texts += [
            value.hex(),
            base64.b64encode(value).decode(),
            base64.urlsafe_b64encode(value).decode().rstrip("="),
            base64.b32encode(value).decode().rstrip("="),
        ]
    return texts, raw


def scan_database(texts: list[str], raw: list[bytes]) -> list[str]:
    """Every (table, column) whose value contains any needle, reading every cell of every table
    and, on SQLite, the full SQL dump as well."""
    hits: list[str] = []
    lowered = [t.lower() for t in texts]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row):
                    if value is None:
                        continue
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, (bytes, bytearray)):
                        blob = bytes(value)
                        as_text = blob.decode("latin-1").lower()
                        if any(r in blob for r in raw) or any(t in as_text for t in lowered):
                            hits.append(f"{table}.{column}")
                    else:
                        text = str(value).lower()
                        if any(t in text for t in lowered):
                            hits.append(f"{table}.{column}")
    if connection.vendor == "sqlite":
        dump = "\n".join(connection.connection.iterdump()).lower()
        hits += [f"sql dump contains {t[:6]}…" for t in lowered if t in dump]
    return hits


# --- users with a vault -------------------------------------------------------------------------


def vault_user(username: str, password: str, **extra):
    """A user whose vault exists (as after registering); the MK and recovery key are attached to
    the returned object for the tests' own checks."""
    from django.contrib.auth import get_user_model

    from vault import keyring

    user = get_user_model().objects.create_user(username, password=password, **extra)
    user.master_key, user.recovery_key = keyring.create_vault(user=user, password=password)
    return user


def login_unlocked(client, username: str, password: str, **extra):
    """Log in through the login page, which is what unlocks the vault for the client's session."""
    from django.urls import reverse

    response = client.post(reverse("login"), {"username": username, "password": password, **extra})
    assert response.status_code == 302, response.content[:300]
    return client


def legacy_wrap(data_key: bytes, *, secret: bytes, salt: bytes, record_id: int) -> bytes:
    """A data key wrapped as the portal wrapped it before the per-user vault: RFC 3394 under
    HKDF-SHA256(retrieval key, per-record salt, "imagevault-wrap-v1" || record id as 8 bytes). The
    portal only reads these (`crypto.unwrap_data_key`); this writer is the format written down
    again, independently of the reader."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    info = b"imagevault-wrap-v1" + record_id.to_bytes(8, "big")
    return aes_key_wrap(HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret), data_key)


@dataclass(frozen=True)
class LegacyKeys:
    """What a record from before the vault stored (wrapped key, salt, hash) and what only its owner
    received (the retrieval key)."""

    data_key: bytes
    retrieval_key: str
    wrapped_key: bytes
    wrap_salt: bytes
    key_hash: str


def legacy_keys(*, record_id: int) -> LegacyKeys:
    from vault import crypto

    data_key, secret, salt = crypto.new_data_key(), crypto.new_retrieval_key(), os.urandom(32)
    return LegacyKeys(
        data_key=data_key,
        retrieval_key=crypto.format_retrieval_key(secret),
        wrapped_key=legacy_wrap(data_key, secret=secret, salt=salt, record_id=record_id),
        wrap_salt=salt,
        key_hash=crypto.hash_retrieval_key(secret),
    )


def legacy_record(owner, data: bytes, name: str = "old.png"):
    """A record as the portal stored it before the per-user vault: sealed under its own data key,
    wrapped under a per-image retrieval key that only the user held. Returns (record, key text)."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from vault import crypto
    from vault.models import ImageRecord

    record = ImageRecord.objects.create(
        owner=owner, name=name, original_format="PNG", original_media_type="image/png", width=48, height=32,
        codec="png", compressed_media_type="image/png", compressed_extension="png", original_size=len(data),
        compressed_size=len(data), bpp=1.0, encode_seconds=0.01, total_seconds=0.02,
        sha256_original=hashlib.sha256(data).hexdigest(), sha256_original_blob="0" * 64, sha256_compressed_blob="0" * 64,
    )
    material = legacy_keys(record_id=record.pk)
    for variant in ("original", "compressed"):
        sealed = crypto.seal(data, key=material.data_key, record_id=record.pk, variant=variant)
        setattr(record, f"{variant}_blob", default_storage.save(f"vault/{record.pk}/{variant}-legacy.sealed", ContentFile(sealed)))
        setattr(record, f"sha256_{variant}_blob", hashlib.sha256(sealed).hexdigest())
    record.wrapped_key, record.wrap_salt, record.key_hash = material.wrapped_key, material.wrap_salt, material.key_hash
    record.save()
    return record, material.retrieval_key


@contextmanager
def workers_away():
    """Uploads stay queued, as when no worker has taken them yet: dispatch.enqueue sends them to
    a broker (here a list of task ids) instead of running them in the test."""
    from portal.celery import app
    from vault.jobs.worker import compress_job

    sent = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compress_job, "apply_async", lambda *args, **kwargs: sent.append(kwargs.get("task_id")))
        app.conf.task_always_eager = False
        try:
            yield sent
        finally:
            app.conf.task_always_eager = True


def verify_second_factor(client, user):
    """Give `user` a confirmed authenticator and mark `client`'s session as having passed it, as the
    login's code step does (the admin requires it of staff). Returns the device."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def opened(record, owner=None):
    """The record as its owner's unlocked pages see it: read again, its sealed exact figures
    (vault/figures.py) opened with the owner's MK (`owner`: a `vault_user`, or MK itself; by
    default the record's owner object, where it still carries its MK)."""
    from vault.images.opening import reveal_figures
    from vault.models import ImageRecord

    owner = record.owner if owner is None else owner
    fresh = ImageRecord.objects.get(pk=record.pk)
    reveal_figures([fresh], master_key=owner if isinstance(owner, bytes) else owner.master_key)
    assert fresh.figures_exact, f"record {record.pk}'s figures did not open"
    return fresh


def reseal(record, owner=None, **changes):
    """Change some of a record's exact figures, sealed again as a job would (tests of what a page
    shows for given figures)."""
    from vault import figures
    from vault.images.opening import vault_data_key
    from vault.models import ImageRecord

    exact = opened(record, owner)
    owner = record.owner if owner is None else owner
    data_key = vault_data_key(record=exact, master_key=owner if isinstance(owner, bytes) else owner.master_key)
    fields = figures.sealed_fields(figures.from_record(exact) | changes, data_key=data_key, record_id=record.pk)
    ImageRecord.objects.filter(pk=record.pk).update(**fields)
    return opened(record, owner)


def as_before_sealing(record, owner=None, **changes):
    """The record as it was stored before figures were sealed: its exact figures in the clear
    columns, nothing in figures_sealed (until its owner's next unlock seals them)."""
    from vault.models import ImageRecord

    exact = opened(record, owner)
    fields = {name: getattr(exact, name) for name in ImageRecord.FIGURE_FIELDS} | changes
    ImageRecord.objects.filter(pk=record.pk).update(figures_sealed=None, **fields)
    return ImageRecord.objects.get(pk=record.pk)


def token_client(username: str, password: str):
    """An API client holding a fresh token of `username` (the token carries the vault's key)."""
    from rest_framework.test import APIClient

    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client
