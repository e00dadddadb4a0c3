"""An image's exact figures, sealed under a subkey of its data key, and the coarse values the
database keeps of them in the clear.

Why: codecs are deterministic. Whoever holds the database and a photo they suspect a user stored
can compress it the same way and compare: the exact upload size, the compressed size, the quality
scores, every candidate's size and score, the byte count of the original's JPEG XL form, or the
SHA-256 of the decoded pixels (`codec_params["decoded_sha256"]`) each pin the photo without any
hash of the upload. So the exact values of `ImageRecord.FIGURE_FIELDS` are one small JSON document
sealed with AES-256-GCM under HKDF(DK, "record-figures-v1"), associated data
`"imagevault-figures" || version || record id` (`ImageRecord.figures_sealed`), and the columns keep:

* sizes Padmé-rounded (`crypto.padme`, the blobs' own padding: a step of about 1.6-3 % around
  1 MiB), for the gallery's sorting, the profile's totals and the admin;
* scores, bpp, decided_value: NULL (no page sorts or filters on them); candidates: none; `reason`
  (it quotes scores and byte counts): empty; `codec_params` without its exact byte counts and the
  decoded pixels' digest.

Its owner's pages and API open the document with DK (`images.opening.reveal_figures`) and show the
exact values; without DK they show the coarse ones as approximate. The document itself is padded
to a Padmé length, so its size says little about how many candidates were tried.

Whoever sets the figures (the upload, the worker, the conversion at unlock) calls `sealed_fields`
and saves its result in the same save. Pure functions: nothing here reads the database.
"""
from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.views.decorators.debug import sensitive_variables

from vault import crypto
from vault.models import ImageRecord

FIELDS = ImageRecord.FIGURE_FIELDS
_VERSION = 1
_PURPOSE = "record-figures-v1"
# codec_params entries that are exact figures of the content; the rest (codec options, target,
# model, timings) stays in the clear.
_EXACT_PARAMS = ("decoded_sha256", "metadata_bytes")
# The note may quote the JPEG XL form's byte count ("JPEG XL (N bytes) was not smaller").
_EXACT_STORAGE_PARAMS = ("bytes", "upload_bytes", "note")


class FiguresError(ValueError):
    """A record's sealed figures do not open: altered, moved from another record, or not a
    document this version writes. Its message names the record, never the bytes."""


def of_upload(size: int) -> dict:
    """The figures of an upload no job has compressed yet: its size, nothing else."""
    return {name: None for name in FIELDS} | {"original_size": int(size), "candidates": [], "reason": "", "codec_params": {}}


def from_record(record: ImageRecord) -> dict:
    """The figures an instance holds now (exact on a record not sealed yet, or set by a worker)."""
    return {name: getattr(record, name) for name in FIELDS}


def coarse(figures: dict) -> dict:
    """What the clear columns keep of exact `figures`."""
    compressed = figures.get("compressed_size")
    return {name: None for name in FIELDS} | {
        "original_size": crypto.padme(int(figures["original_size"])),
        "compressed_size": None if compressed is None else crypto.padme(int(compressed)),
        "candidates": [],
        "reason": "",
        "codec_params": _coarse_params(figures.get("codec_params") or {}),
    }


def _coarse_params(params: dict) -> dict:
    kept = {k: v for k, v in params.items() if k not in _EXACT_PARAMS}
    if isinstance(kept.get("original_storage"), dict):
        kept["original_storage"] = {k: v for k, v in kept["original_storage"].items() if k not in _EXACT_STORAGE_PARAMS}
    return kept


def _associated_data(record_id: int) -> bytes:
    return b"imagevault-figures" + bytes([_VERSION]) + int(record_id).to_bytes(8, "big")


@sensitive_variables("data_key", "key", "figures", "plaintext")
def seal(figures: dict, *, data_key: bytes, record_id: int) -> bytes:
    """version || nonce || AES-256-GCM(JSON padded with spaces to a Padmé length)."""
    missing = [name for name in FIELDS if name not in figures]
    if missing:
        raise ValueError(f"Figures of record {record_id} lack {', '.join(missing)}.")
    plaintext = json.dumps({name: figures[name] for name in FIELDS}, separators=(",", ":"), sort_keys=True).encode()
    plaintext = plaintext.ljust(crypto.padme(len(plaintext)))
    key = crypto.subkey(data_key, purpose=_PURPOSE)
    nonce = os.urandom(crypto.NONCE_BYTES)
    return bytes([_VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, _associated_data(record_id))


@sensitive_variables("data_key", "key")
def open_sealed(sealed, *, data_key: bytes, record_id: int) -> dict:
    """The exact figures; `FiguresError` when they do not authenticate or are not a document."""
    sealed = bytes(sealed or b"")
    if len(sealed) < 1 + crypto.NONCE_BYTES + crypto.TAG_BYTES or sealed[0] != _VERSION:
        raise FiguresError(f"The sealed figures of record {record_id} are not a version {_VERSION} document "
                           f"({len(sealed)} bytes, version byte {sealed[:1].hex() or 'missing'}).")
    key = crypto.subkey(data_key, purpose=_PURPOSE)
    nonce, body = sealed[1 : 1 + crypto.NONCE_BYTES], sealed[1 + crypto.NONCE_BYTES :]
    try:
        figures = json.loads(AESGCM(key).decrypt(nonce, body, _associated_data(record_id)))
    except (InvalidTag, ValueError):
        raise FiguresError(f"The sealed sizes and scores of record {record_id} do not authenticate under its data key "
                           "(altered, or copied from another record).") from None
    if not isinstance(figures, dict) or any(name not in figures for name in FIELDS):
        raise FiguresError(f"The sealed figures of record {record_id} lack some of {', '.join(FIELDS)}.")
    return figures


@sensitive_variables("data_key", "figures")
def sealed_fields(figures: dict, *, data_key: bytes, record_id: int) -> dict:
    """The columns a record saves for exact `figures`: the sealed document and the coarse values."""
    return {"figures_sealed": seal(figures, data_key=data_key, record_id=record_id), **coarse(figures)}


def reveal(record: ImageRecord, figures: dict) -> None:
    """Put the exact figures on this instance for its owner's page or API answer. The instance is
    marked (`figures_open`): `ImageRecord.save` refuses to write them back in the clear."""
    for name in FIELDS:
        setattr(record, name, figures[name])
    record.figures_open = True
