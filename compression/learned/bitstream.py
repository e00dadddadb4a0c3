"""The `.msc` container: a self-describing file for one image coded by a learned model.

Layout (big-endian)::

    offset  size  field
    0       4     magic b"MSCA"
    4       1     format version (2)
    5       1     n = length of the model name
    6       n     model name, ASCII (e.g. "mscae")
    6+n     16    digest of the model's weights (first 16 bytes of SHA-256)
    ...     8     digest of the coded symbols (first 8 bytes of SHA-256 of z then y symbols)
    ...     4     quality knob, float32 (0 … K−1: the level, with interpolation)
            4     image height, 4 image width, 1 channels (3)
            4     length of the hyper-latent string z, 4 length of the latent string y
            4     CRC-32 of everything above and of both strings
            …     z string, then y string (32-bit words from constriction's range coder)

The digest ties a file to the exact weights that made it: decoding with other weights would
silently produce garbage, so it is refused with a message naming both models. The CRC turns a
damaged file into a clean error instead of a garbage picture. The symbol digest lets the decoder
prove it recovered exactly the symbols the encoder wrote: the probability model is computed in
exact integers (tables.py), so that holds on every machine, and if it ever did not, the range
decoder would desynchronise, which must be an error, not a picture.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"MSCA"
VERSION = 2
# Version 1 files were coded with a float hyperprior and no context model: they only decode where
# the floating-point arithmetic matched the encoder's, and the current model cannot read them.
DIGEST_BYTES = 16
SYMBOLS_DIGEST_BYTES = 8
MAX_DIMENSION = 1 << 16
MAX_PIXELS = 50_000_000


class BitstreamError(ValueError):
    """The bytes are not a decodable .msc file; the message says why."""


@dataclass(frozen=True)
class Header:
    model: str
    digest: bytes
    symbols_digest: bytes
    quality: float
    height: int
    width: int
    channels: int = 3


def pack(header: Header, z_string: bytes, y_string: bytes) -> bytes:
    name = header.model.encode("ascii")
    if len(header.digest) != DIGEST_BYTES:
        raise ValueError("weights digest must be 16 bytes")
    if len(header.symbols_digest) != SYMBOLS_DIGEST_BYTES:
        raise ValueError("symbols digest must be 8 bytes")
    head = (
        MAGIC
        + struct.pack(">BB", VERSION, len(name))
        + name
        + header.digest
        + header.symbols_digest
        + struct.pack(">fIIBII", header.quality, header.height, header.width, header.channels,
                      len(z_string), len(y_string))
    )
    crc = zlib.crc32(y_string, zlib.crc32(z_string, zlib.crc32(head)))
    return head + struct.pack(">I", crc) + z_string + y_string


def unpack(data: bytes) -> tuple[Header, bytes, bytes]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError("expected bytes")
    data = bytes(data)
    if len(data) < 6 or data[:4] != MAGIC:
        raise BitstreamError("not an MSCAE file (bad magic number)")
    version, name_len = data[4], data[5]
    if version == 1:
        raise BitstreamError(
            "this is a version 1 MSCAE file, made by an earlier learned model this server no longer "
            "has; re-encode it from its original (images kept in the vault: python manage.py "
            "recompress_learned)"
        )
    if version != VERSION:
        raise BitstreamError(f"unsupported MSCAE format version {version} (this build reads {VERSION})")
    pos = 6
    fixed = struct.calcsize(">fIIBII")
    if len(data) < pos + name_len + DIGEST_BYTES + SYMBOLS_DIGEST_BYTES + fixed + 4:
        raise BitstreamError("file is truncated (header incomplete)")
    try:
        model = data[pos : pos + name_len].decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError("model name in header is not ASCII") from None
    pos += name_len
    digest = data[pos : pos + DIGEST_BYTES]
    pos += DIGEST_BYTES
    symbols_digest = data[pos : pos + SYMBOLS_DIGEST_BYTES]
    pos += SYMBOLS_DIGEST_BYTES
    quality, height, width, channels, z_len, y_len = struct.unpack_from(">fIIBII", data, pos)
    pos += fixed
    (crc,) = struct.unpack_from(">I", data, pos)
    head_end = pos
    pos += 4
    if not (quality == quality) or not (-1e3 < quality < 1e3):
        raise BitstreamError(f"quality {quality!r} in header is not a number in range")
    if channels != 3:
        raise BitstreamError(f"unsupported channel count {channels}")
    if not (0 < height <= MAX_DIMENSION and 0 < width <= MAX_DIMENSION) or height * width > MAX_PIXELS:
        raise BitstreamError(f"image size {width}×{height} in header is out of range")
    if z_len % 4 or y_len % 4:
        raise BitstreamError("coded string lengths must be multiples of 4 bytes")
    if len(data) != pos + z_len + y_len:
        raise BitstreamError(
            f"file length {len(data)} does not match its header (expected {pos + z_len + y_len} bytes)"
        )
    z_string, y_string = data[pos : pos + z_len], data[pos + z_len :]
    if zlib.crc32(y_string, zlib.crc32(z_string, zlib.crc32(data[:head_end]))) != crc:
        raise BitstreamError("checksum mismatch: the file is corrupted")
    return Header(model, digest, symbols_digest, float(quality), height, width, channels), z_string, y_string


def symbols_digest(z_symbols, y_symbols) -> bytes:
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for arr in (z_symbols, y_symbols):
        h.update(np.ascontiguousarray(arr, dtype="<i4").tobytes())
    return h.digest()[:SYMBOLS_DIGEST_BYTES]
