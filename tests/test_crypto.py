"""The vault's cryptographic building blocks, without the database or storage."""
import os

import pytest

from vault import crypto

from .vault_helpers import legacy_keys, legacy_wrap


@pytest.fixture
def data_key():
    return crypto.new_data_key()


def flip_bit(blob: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(blob)
    out[index] ^= 1 << bit
    return bytes(out)


def test_seal_round_trip_returns_the_exact_plaintext(data_key):
    plaintext = os.urandom(1000) + b"\x00" * 10
    blob = crypto.seal(plaintext, key=data_key, record_id=7, variant="original")
    assert plaintext not in blob
    assert crypto.open_sealed(blob, key=data_key, record_id=7, variant="original") == plaintext


def test_container_layout_is_version_nonce_padded_ciphertext_tag(data_key):
    plaintext = b"hello vault"
    blob = crypto.seal(plaintext, key=data_key, record_id=1, variant="compressed")
    assert blob[0] == crypto.CONTAINER_VERSION == 2
    assert len(blob) == 1 + 12 + crypto.padme(8 + len(plaintext)) + 16 == crypto.sealed_size(len(plaintext))


def test_padme_rounds_up_by_at_most_12_percent_and_leaves_few_distinct_sizes():
    for length in [1, 2, 9, 100, 1000, 4097, 65_537, 1_234_567, 25_000_000]:
        padded = crypto.padme(length)
        assert length <= padded <= length * 1.12 + 1
    # Photos between 2.0 and 2.1 MB: 100,000 exact sizes, a handful of padded ones.
    assert len({crypto.padme(n) for n in range(2_000_000, 2_100_000, 7)}) <= 8


def test_sealed_sizes_no_longer_give_away_the_exact_file_size(data_key):
    a = crypto.seal(os.urandom(2_000_000), key=data_key, record_id=1, variant="original")
    b = crypto.seal(os.urandom(2_000_900), key=data_key, record_id=1, variant="original")
    assert len(a) == len(b)  # two different photos, one stored size
    assert len(a) != 2_000_000 + 29  # the old "file size + 29"


def test_a_blob_sealed_before_padding_still_opens(data_key):
    """Version 1 (unpadded), written here from the documented layout, not by the code under test."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, plaintext = os.urandom(12), b"an old photo"
    aad = b"imagevault-blob" + bytes([1]) + (4).to_bytes(8, "big") + b"original"
    old = bytes([1]) + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)
    assert crypto.open_sealed(old, key=data_key, record_id=4, variant="original") == plaintext
    relabelled = bytes([2]) + old[1:]  # claiming the other version breaks authentication
    with pytest.raises(crypto.SealError):
        crypto.open_sealed(relabelled, key=data_key, record_id=4, variant="original")


def test_empty_plaintext_round_trips(data_key):
    blob = crypto.seal(b"", key=data_key, record_id=3, variant="original")
    assert crypto.open_sealed(blob, key=data_key, record_id=3, variant="original") == b""


@pytest.mark.parametrize(
    "where",
    ["version", "nonce_first", "nonce_last", "ciphertext", "tag_first", "tag_last"],
)
def test_a_flipped_bit_anywhere_is_refused(data_key, where):
    plaintext = b"A" * 64
    blob = crypto.seal(plaintext, key=data_key, record_id=5, variant="original")
    index = {
        "version": 0,
        "nonce_first": 1,
        "nonce_last": 12,
        "ciphertext": 13 + 20,
        "tag_first": len(blob) - 16,
        "tag_last": len(blob) - 1,
    }[where]
    for bit in (0, 7):
        with pytest.raises(crypto.SealError):
            crypto.open_sealed(flip_bit(blob, index, bit), key=data_key, record_id=5, variant="original")


def test_truncated_or_missing_blob_is_refused(data_key):
    blob = crypto.seal(b"data", key=data_key, record_id=5, variant="original")
    for broken in (None, b"", blob[:13], blob[:-1], blob + b"\x00"):
        with pytest.raises(crypto.SealError):
            crypto.open_sealed(broken, key=data_key, record_id=5, variant="original")


def test_wrong_data_key_is_refused(data_key):
    blob = crypto.seal(b"secret pixels", key=data_key, record_id=9, variant="original")
    with pytest.raises(crypto.SealError):
        crypto.open_sealed(blob, key=crypto.new_data_key(), record_id=9, variant="original")


def test_blob_moved_to_another_record_is_refused(data_key):
    blob = crypto.seal(b"pixels", key=data_key, record_id=10, variant="original")
    with pytest.raises(crypto.SealError):
        crypto.open_sealed(blob, key=data_key, record_id=11, variant="original")


def test_blob_swapped_between_variants_is_refused(data_key):
    original = crypto.seal(b"original", key=data_key, record_id=10, variant="original")
    compressed = crypto.seal(b"compressed", key=data_key, record_id=10, variant="compressed")
    with pytest.raises(crypto.SealError):
        crypto.open_sealed(original, key=data_key, record_id=10, variant="compressed")
    with pytest.raises(crypto.SealError):
        crypto.open_sealed(compressed, key=data_key, record_id=10, variant="original")


def test_unknown_variant_is_rejected_when_sealing(data_key):
    with pytest.raises(ValueError, match="preview"):
        crypto.seal(b"x", key=data_key, record_id=1, variant="preview")


def test_nonces_never_repeat_across_many_seals(data_key):
    nonces = {
        crypto.seal(b"same plaintext", key=data_key, record_id=1, variant="original")[1:13] for _ in range(2000)
    }
    assert len(nonces) == 2000


def test_same_plaintext_sealed_twice_gives_different_ciphertexts(data_key):
    a = crypto.seal(b"same", key=data_key, record_id=1, variant="original")
    b = crypto.seal(b"same", key=data_key, record_id=1, variant="original")
    assert a != b


def test_data_keys_and_retrieval_keys_are_256_bit_and_fresh():
    keys = {crypto.new_data_key() for _ in range(100)} | {crypto.new_retrieval_key() for _ in range(100)}
    assert len(keys) == 200
    assert all(len(k) == 32 for k in keys)


def test_retrieval_key_format_round_trips_and_ignores_case_spaces_and_dashes():
    secret = crypto.new_retrieval_key()
    text = crypto.format_retrieval_key(secret)
    groups = text.split("-")
    assert len(groups) == 13 and all(len(g) == 4 for g in groups)
    assert crypto.parse_retrieval_key(text) == secret
    assert crypto.parse_retrieval_key(" " + text.lower().replace("-", " ") + "\n") == secret
    assert crypto.parse_retrieval_key(text.replace("-", "")) == secret


@pytest.mark.parametrize("bad", ["", "hello", "A" * 51, "A" * 53, "0" * 52, "1" * 52, "A" * 51 + "B"])
def test_text_that_cannot_be_a_key_is_malformed(bad):
    with pytest.raises(crypto.MalformedKey):
        crypto.parse_retrieval_key(bad)


def test_malformed_key_message_does_not_echo_the_key():
    attempt = "SECRETSECRETSECRET"
    with pytest.raises(crypto.MalformedKey) as info:
        crypto.parse_retrieval_key(attempt)
    assert attempt not in str(info.value)


def test_wrapped_data_key_unwraps_only_with_the_right_key_salt_and_record():
    data_key = crypto.new_data_key()
    secret = crypto.new_retrieval_key()
    salt = os.urandom(32)
    wrapped = legacy_wrap(data_key, secret=secret, salt=salt, record_id=42)
    assert data_key not in wrapped
    assert crypto.unwrap_data_key(wrapped, secret=secret, salt=salt, record_id=42) == data_key
    for kwargs in (
        {"secret": crypto.new_retrieval_key(), "salt": salt, "record_id": 42},
        {"secret": secret, "salt": os.urandom(32), "record_id": 42},
        {"secret": secret, "salt": salt, "record_id": 43},
    ):
        with pytest.raises(crypto.SealError):
            crypto.unwrap_data_key(wrapped, **kwargs)
    with pytest.raises(crypto.SealError):
        crypto.unwrap_data_key(flip_bit(wrapped, 5), secret=secret, salt=salt, record_id=42)


def test_key_hash_accepts_the_key_and_rejects_another():
    secret = crypto.new_retrieval_key()
    encoded = crypto.hash_retrieval_key(secret)
    assert crypto.canonical_key_text(secret) not in encoded
    assert crypto.check_retrieval_key(secret, encoded)
    assert not crypto.check_retrieval_key(crypto.new_retrieval_key(), encoded)


def test_key_hash_uses_argon2_when_it_is_the_first_hasher(settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    secret = crypto.new_retrieval_key()
    encoded = crypto.hash_retrieval_key(secret)
    assert encoded.startswith("argon2$")
    assert crypto.check_retrieval_key(secret, encoded)


def test_the_keys_of_a_record_from_before_the_vault_fit_together():
    material = legacy_keys(record_id=99)
    secret = crypto.parse_retrieval_key(material.retrieval_key)
    assert crypto.check_retrieval_key(secret, material.key_hash)
    assert (
        crypto.unwrap_data_key(material.wrapped_key, secret=secret, salt=material.wrap_salt, record_id=99)
        == material.data_key
    )
    blob = crypto.seal(b"img", key=material.data_key, record_id=99, variant="original")
    assert crypto.open_sealed(blob, key=material.data_key, record_id=99, variant="original") == b"img"
