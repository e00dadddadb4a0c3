"""The vault's cryptography: per-image data keys, sealed blobs, keys a person types, and the
wraps of the per-user key hierarchy.

Design (see also vault/README.md):

* Every image gets a fresh random 256-bit **data key**. Its original, compressed bytes and
  thumbnail are each sealed with AES-256-GCM under it, each with its own fresh random 96-bit nonce.
* A **sealed blob** is a small versioned container::

      version (1 byte, 0x02) || nonce (12 bytes) || ciphertext || GCM tag (16 bytes)

  Its associated data binds the container version, the record id (8 bytes, big-endian) and the
  variant (``original`` / ``compressed`` / ``thumbnail``), so a blob copied to another record or
  swapped with another variant fails authentication instead of decrypting as the wrong image.
  Version 2 encrypts ``length (8 bytes) || plaintext || zeros`` padded to a Padmé length (Nikitin
  et al., PETS 2019: at most 12 % larger, and a padded size leaves only O(log log n) bits of the
  exact size), so a storage listing no longer shows each photo's exact file size. Version 1 blobs
  (unpadded, written before) still open.
* Keys a person types (recovery, share, and a legacy record's **retrieval key**) are random 256-bit
  secrets, shown once. Each is written as 52 base32 characters (RFC 4648 alphabet A-Z, 2-7, no
  padding) in 13 groups of four joined with dashes, e.g. ``ABCD-EFGH-...-WXY2``: case-insensitive,
  no look-alike 0/1/8/9 digits, easy to read aloud or retype; spaces, dashes and case are ignored
  when parsing.
* A record from before the per-user vault keeps its data key **wrapped** (RFC 3394 AES key wrap,
  which carries its own integrity check) under a wrapping key derived from its retrieval key with
  HKDF-SHA256, a random per-record salt and an ``info`` that binds the record id, and a hash of the
  retrieval key made with Django's password hasher (Argon2 first in production), so wrong keys are
  rejected before anything is unwrapped. The portal only reads these; tests/vault_helpers.py
  writes them.

Hashes: SHA-256 throughout. MD5 is never used for security: MD5 collisions can be produced in
seconds on a laptop, so an MD5 "integrity" check would let an attacker substitute a different blob
with the same digest. (The test settings use Django's MD5 password hasher purely for speed.)

Every failure to open anything (wrong key, flipped bit, swapped or missing blob) raises the single
`SealError` so that callers cannot accidentally tell an attacker which check failed.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from argon2.low_level import Type as Argon2Type
from argon2.low_level import hash_secret_raw
from django.contrib.auth.hashers import check_password, make_password
from django.views.decorators.debug import sensitive_variables

CONTAINER_VERSION = 2  # padded (Padmé); 1 is read for blobs written before padding
_UNPADDED_VERSION = 1
_LENGTH_BYTES = 8
KEY_BYTES = 32  # AES-256 and the retrieval secret: 256 bits each
NONCE_BYTES = 12  # 96 bits: GCM's native nonce size
TAG_BYTES = 16
# "rendition": the PNG a browser is shown of an original it cannot draw (vault/display.py).
VARIANTS = ("original", "compressed", "thumbnail", "rendition")

_HEADER_BYTES = 1 + NONCE_BYTES
_KEY_CHARS = 52  # ceil(256 / 5) base32 characters
_KEY_GROUP = 4
_KEY_RE = re.compile(r"^[A-Z2-7]{52}$")


class SealError(Exception):
    """A sealed blob or wrapped key could not be opened.

    Deliberately one type with one message for every cause (wrong key, tampering, wrong
    record/variant, missing blob): distinguishing them would tell an attacker which guess was
    closer.
    """

    def __init__(self, message: str = "The key does not open this image.") -> None:
        super().__init__(message)


class MalformedKey(ValueError):
    """Text that cannot be a retrieval key at all (wrong length or characters)."""


def new_data_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _record_bytes(record_id: int) -> bytes:
    # Fixed width (8 bytes, big-endian) so the encoding of the associated data is unambiguous.
    if isinstance(record_id, bool) or not isinstance(record_id, int) or not 0 < record_id < 2**63:
        raise ValueError(f"Record ids are positive integers, not {record_id!r}.")
    return record_id.to_bytes(8, "big")


def _associated_data(version: int, record_id, variant: str) -> bytes:
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}.")
    # Fixed-width fields first, the variant last: the encoding is unambiguous without separators
    # doing any work, so no two (version, record, variant) triples share associated data.
    return b"imagevault-blob" + bytes([version]) + _record_bytes(record_id) + variant.encode("ascii")


def padme(length: int) -> int:
    """Padmé: `length` rounded up so that only its top ~log2(log2(length)) bits vary (the low bits
    are zero). Overhead at most 12 %, under 3 % for photo-sized inputs."""
    if length < 2:
        return length
    exponent = length.bit_length() - 1  # floor(log2(length))
    size_bits = exponent.bit_length()  # floor(log2(exponent)) + 1
    mask = (1 << (exponent - size_bits)) - 1
    return (length + mask) & ~mask


def sealed_size(plaintext_length: int) -> int:
    """The size of the blob `seal` writes for a plaintext of this length."""
    return 1 + NONCE_BYTES + padme(_LENGTH_BYTES + plaintext_length) + TAG_BYTES


# Every local here is key material or plaintext: hidden from Django's error reports.
@sensitive_variables()
def seal(plaintext: bytes, *, key: bytes, record_id, variant: str) -> bytes:
    """Encrypt and authenticate `plaintext` for one record and variant, padded (see the module's
    docstring) so the blob's size tells only roughly how large the image is."""
    if len(key) != KEY_BYTES:
        raise ValueError("Data keys are 256 bits.")
    framed = len(plaintext).to_bytes(_LENGTH_BYTES, "big") + plaintext
    framed += bytes(padme(len(framed)) - len(framed))
    # A fresh random nonce for every seal. Reusing a nonce under one GCM key leaks the XOR of the
    # two plaintexts and lets an attacker recover the authentication subkey and forge tags, i.e.
    # it breaks both confidentiality and authenticity. Each key seals only two blobs, so random
    # 96-bit nonces are far below the birthday bound (the NIST limit is 2**32 per key).
    nonce = os.urandom(NONCE_BYTES)
    aad = _associated_data(CONTAINER_VERSION, record_id, variant)
    ciphertext = AESGCM(key).encrypt(nonce, framed, aad)
    return bytes([CONTAINER_VERSION]) + nonce + ciphertext


@sensitive_variables()
def open_sealed(blob: bytes | None, *, key: bytes, record_id, variant: str) -> bytes:
    """Decrypt a blob made by `seal` (either container version); any mismatch raises `SealError`."""
    if blob is None or len(blob) < _HEADER_BYTES + TAG_BYTES or len(key) != KEY_BYTES:
        raise SealError()
    version = blob[0]
    if version not in (CONTAINER_VERSION, _UNPADDED_VERSION):
        raise SealError()
    nonce = blob[1:_HEADER_BYTES]
    try:
        aad = _associated_data(version, record_id, variant)
        plaintext = AESGCM(key).decrypt(nonce, blob[_HEADER_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise SealError() from exc
    if version == _UNPADDED_VERSION:
        return plaintext
    # Authenticated already (the version is in the AAD), so a bad frame means a bug, not an attack;
    # it is refused all the same rather than trusted.
    length = int.from_bytes(plaintext[:_LENGTH_BYTES], "big")
    if len(plaintext) < _LENGTH_BYTES + length:
        raise SealError()
    return plaintext[_LENGTH_BYTES : _LENGTH_BYTES + length]


# --- retrieval keys -----------------------------------------------------------------------


def new_retrieval_key() -> bytes:
    return os.urandom(KEY_BYTES)


@sensitive_variables()
def format_retrieval_key(secret: bytes) -> str:
    """The form a person sees: 13 dash-separated groups of four base32 characters."""
    text = base64.b32encode(secret).decode("ascii").rstrip("=")
    return "-".join(text[i : i + _KEY_GROUP] for i in range(0, len(text), _KEY_GROUP))


@sensitive_variables()
def parse_retrieval_key(text: str) -> bytes:
    """Accept the key as shown, ignoring case, spaces and dashes; raise `MalformedKey` otherwise."""
    if not isinstance(text, str):
        raise MalformedKey("A retrieval key is text.")
    compact = re.sub(r"[\s\-]", "", text).upper()
    if not _KEY_RE.match(compact):
        raise MalformedKey(
            f"That is not a retrieval key: expected {_KEY_CHARS} letters A-Z and digits 2-7 "
            f"(dashes and spaces are ignored), got {len(compact)} characters."
        )
    try:
        secret = base64.b32decode(compact + "====")
    except binascii.Error as exc:  # pragma: no cover - the regex already guarantees the alphabet
        raise MalformedKey("That is not a retrieval key.") from exc
    # 52 characters carry 260 bits; the last 4 must be zero in a key we produced.
    if format_retrieval_key(secret).replace("-", "") != compact:
        raise MalformedKey("That is not a retrieval key: its last character is not possible.")
    return secret


@sensitive_variables()
def canonical_key_text(secret: bytes) -> str:
    return format_retrieval_key(secret).replace("-", "")


@sensitive_variables()
def hash_retrieval_key(secret: bytes) -> str:
    """A Django password hash of the key, so wrong keys are rejected before any unwrapping."""
    return make_password(canonical_key_text(secret))


@sensitive_variables()
def check_retrieval_key(secret: bytes, encoded: str, setter=None) -> bool:
    return check_password(canonical_key_text(secret), encoded, setter=setter)


@sensitive_variables()
def _wrapping_key(secret: bytes, *, salt: bytes, record_id) -> bytes:
    # HKDF rather than the raw secret: domain-separates the wrapping key from the hashed form
    # of the same secret, and the per-record salt and record-bound info make every record's
    # wrapping key distinct even if a key were ever reused.
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=salt,
        info=b"imagevault-wrap-v1" + _record_bytes(record_id),
    ).derive(secret)


@sensitive_variables()
def unwrap_data_key(wrapped: bytes, *, secret: bytes, salt: bytes, record_id) -> bytes:
    try:
        return aes_key_unwrap(_wrapping_key(secret, salt=bytes(salt), record_id=record_id), bytes(wrapped))
    except (InvalidUnwrap, ValueError) as exc:
        raise SealError() from exc


# --- the per-user key hierarchy -----------------------------------------------------------
#
#   password --Argon2id--> password key --wraps--> master key (MK) --wraps--> data key (DK, per image)
#   recovery key ----HKDF---> recovery wrapping key --wraps--> MK
#   API token secret --HKDF--> token wrapping key ---wraps--> MK
#   per-session cookie secret --HKDF--> session key --seals--> MK (kept in the server-side session)
#
# Every wrap is AES-256-GCM with a fresh nonce and associated data naming what is wrapped and
# whose it is (purpose + user/record/token id). GCM rather than RFC 3394 key wrap because the AAD
# gives us the binding for free: a wrapped DK copied onto another record, or a user's MK wrap
# copied onto another user, fails authentication instead of unwrapping.

WRAP_VERSION = 1
_WRAP_BYTES = 1 + NONCE_BYTES + KEY_BYTES + TAG_BYTES


def new_master_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _wrap_aad(purpose: str, *ids: int) -> bytes:
    # Fixed-width ids after a fixed prefix and the purpose length: an unambiguous encoding, so no
    # two (purpose, ids) pairs share associated data.
    tag = purpose.encode("ascii")
    return b"imagevault-wrap" + bytes([WRAP_VERSION, len(tag)]) + tag + b"".join(_record_bytes(i) for i in ids)


@sensitive_variables()
def wrap_key(key: bytes, *, wrapping_key: bytes, purpose: str, ids: tuple[int, ...]) -> bytes:
    """Seal a 256-bit key under another, bound to `purpose` and `ids`: version || nonce || ct || tag."""
    if len(key) != KEY_BYTES or len(wrapping_key) != KEY_BYTES:
        raise ValueError("Keys are 256 bits.")
    nonce = os.urandom(NONCE_BYTES)
    return bytes([WRAP_VERSION]) + nonce + AESGCM(wrapping_key).encrypt(nonce, key, _wrap_aad(purpose, *ids))


@sensitive_variables()
def unwrap_key(wrapped, *, wrapping_key: bytes, purpose: str, ids: tuple[int, ...]) -> bytes:
    """The key sealed by `wrap_key`; any mismatch (key, purpose, ids, a flipped bit) is `SealError`."""
    wrapped = bytes(wrapped or b"")
    if len(wrapped) != _WRAP_BYTES or wrapped[0] != WRAP_VERSION or len(wrapping_key) != KEY_BYTES:
        raise SealError()
    try:
        return AESGCM(wrapping_key).decrypt(wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :], _wrap_aad(purpose, *ids))
    except (InvalidTag, ValueError) as exc:
        raise SealError() from exc


@sensitive_variables()
def subkey(secret: bytes, *, purpose: str) -> bytes:
    """A 256-bit key for one purpose from a high-entropy secret (recovery key, token, cookie, DK).

    HKDF without a salt is fine here: the inputs are already uniformly random 256-bit secrets, so
    HKDF only has to separate purposes (a token's wrapping key must never equal its MAC key)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"imagevault-" + purpose.encode("ascii")).derive(secret)


@dataclass(frozen=True)
class KdfParams:
    """Argon2id costs, stored with each user's vault so they can be raised later without breaking
    existing wraps (a user's next password change re-derives with the current settings)."""

    time_cost: int
    memory_kib: int
    parallelism: int


@sensitive_variables()
def password_key(password: str, *, salt: bytes, params: KdfParams) -> bytes:
    """The key that wraps MK under a login password: Argon2id (memory-hard, so a stolen database
    costs an attacker memory as well as time per guess), per-user random salt."""
    return hash_secret_raw(
        secret=password.encode("utf-8"),
        salt=bytes(salt),
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Argon2Type.ID,
    )


def new_kdf_salt() -> bytes:
    return os.urandom(16)  # Argon2's recommended salt length


@sensitive_variables()
def keyed_digest(data: bytes, *, data_key: bytes) -> str:
    """HMAC-SHA256 of an image under a subkey of its DK. Replaces the plain SHA-256 of the original:
    an unkeyed digest would let anyone holding the database test whether a user stored a known
    photo; this one can only be computed by someone who already holds the DK."""
    return hmac.new(subkey(data_key, purpose="digest-v1"), data, hashlib.sha256).hexdigest()


def digests_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
