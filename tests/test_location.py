"""vault.location: an original's GPS position and place names removed without re-encoding it."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vault.errors import LocationNotRemovable
from vault.location import has_location, without_location
from .metadata_helpers import MODEL, XMP, encode, exif_of, gps_of, names_a_place, split_photo


def _scan(data: bytes) -> bytes:
    """A JPEG's entropy-coded data: everything from the start of scan on."""
    return data[data.index(b"\xff\xda") :]


def test_a_jpeg_loses_its_gps_and_xmp_places_and_keeps_every_picture_byte():
    data = encode(split_photo(), "JPEG", orientation=6, xmp=True, quality=92)
    assert gps_of(data) and names_a_place(data) and has_location(data)
    cleaned = without_location(data, "JPEG")
    assert len(cleaned) == len(data) and _scan(cleaned) == _scan(data)  # not re-encoded
    assert gps_of(cleaned) == {} and not names_a_place(cleaned) and has_location(cleaned) is False
    ifd0, ifd = exif_of(cleaned)
    assert ifd0[0x0110] == MODEL and ifd0[0x0112] == 6 and ifd[0x9003] == "2023:07:14 18:42:05"
    assert ifd[0x927C] == exif_of(data)[1][0x927C]  # the maker note is untouched
    assert b"<dc:creator>Ada</dc:creator>" in cleaned  # the rest of the XMP stays


def test_a_jpeg_without_a_location_comes_back_as_it_was():
    data = encode(split_photo(), "JPEG", gps=False)
    assert has_location(data) is False and without_location(data, "JPEG") is data


@pytest.mark.parametrize("fmt", ["WEBP", "HEIF", "AVIF", "TIFF"])
def test_other_formats_lose_their_gps_with_the_same_pixels(fmt):
    kw = {"xmp": fmt in ("WEBP", "HEIF", "AVIF"), **({"lossless": True} if fmt == "WEBP" else {})}
    data = encode(split_photo(), fmt, **kw)
    assert gps_of(data)
    cleaned = without_location(data, fmt)
    assert gps_of(cleaned) == {} and not names_a_place(cleaned) and len(cleaned) == len(data)
    assert exif_of(cleaned)[0][0x0110] == MODEL
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(cleaned)) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))


def _png_with(chunks: list[tuple[bytes, bytes]]) -> bytes:
    buf = io.BytesIO()
    split_photo().save(buf, format="PNG", exif=encode_exif_only())
    data = buf.getvalue()
    at = data.index(b"IDAT") - 4
    extra = b"".join(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks)
    return data[:at] + extra + data[at:]


def encode_exif_only() -> bytes:
    with Image.open(io.BytesIO(encode(split_photo(), "JPEG"))) as image:
        return image.info["exif"]


def test_a_png_loses_gps_from_exif_and_from_compressed_xmp_with_valid_checksums():
    compressed_xmp = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(XMP)
    data = _png_with([(b"iTXt", compressed_xmp), (b"zTXt", b"Raw profile type exif\x00\x00" + zlib.compress(b"4578696600"))])
    assert gps_of(data) and has_location(data)
    cleaned = without_location(data, "PNG")
    assert gps_of(cleaned) == {} and has_location(cleaned) is False
    with Image.open(io.BytesIO(cleaned)) as image:
        image.load()  # Pillow checks every chunk's CRC
        assert "Paris" not in image.info["XML:com.adobe.xmp"] and "Ada" in image.info["XML:com.adobe.xmp"]
        assert "Raw profile type exif" not in image.info
        with Image.open(io.BytesIO(data)) as before:
            assert np.array_equal(np.asarray(before), np.asarray(image))


def test_a_location_it_cannot_remove_refuses_instead_of_leaking():
    # A GIF's XMP: its application extension's sub-block lengths sit inside the packet.
    buf = io.BytesIO()
    split_photo().save(buf, format="GIF")
    data = buf.getvalue()
    data = data[:-1] + b"!\xff\x0bXMP DataXMP" + XMP + bytes(range(255, -1, -1)) + b"\x00;"
    assert has_location(data)
    with pytest.raises(LocationNotRemovable) as refused:
        without_location(data, "GIF")
    assert refused.value.status == 409 and "compressed version" in str(refused.value)


def test_a_malformed_text_chunk_is_refused_not_a_server_error():
    broken_xmp = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + b"not zlib data exif:GPSLatitude='1'"
    data = _png_with([(b"iTXt", broken_xmp)])
    with pytest.raises(LocationNotRemovable):
        without_location(data, "PNG")
