"""vault.metadata (reading EXIF/XMP, sealing, the renditions' EXIF) and vault.renditions (adding
that EXIF to a compressed file without re-encoding it)."""
import io
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from compression.imageio import load_upload
from vault import crypto, metadata, renditions
from .metadata_helpers import EXIF_IFD, LENS, MAKE, MODEL, XMP, encode, exif_of, gps_of, split_photo


def read_file(data: bytes) -> dict:
    upload = load_upload(data)
    return metadata.read(exif=upload.exif, xmp=upload.xmp, width=upload.width, height=upload.height, orientation=upload.orientation)


def test_a_phone_jpeg_gives_date_camera_lens_exposure_orientation_and_place():
    meta = read_file(encode(split_photo(), "JPEG", orientation=6))
    assert meta["taken"] == "2023-07-14T18:42:05" and meta["taken_offset"] == "+02:00"
    assert (meta["make"], meta["model"], meta["lens"]) == (MAKE, MODEL, LENS)
    assert meta["exposure_time"] == [1, 120] and meta["f_number"] == 1.8 and meta["iso"] == 80
    assert meta["orientation"] == 6 and (meta["width"], meta["height"]) == (40, 64)  # as displayed
    place = meta["location"]
    assert place["latitude"] == pytest.approx(48.858222, abs=1e-5) and place["longitude"] == pytest.approx(2.294500, abs=1e-5)
    assert place["altitude"] == pytest.approx(35.5)
    assert metadata.taken_at(meta) == datetime(2023, 7, 14, 18, 42, 5, tzinfo=timezone.utc)
    shown = dict(metadata.rows(meta))
    assert shown["Taken"] == "2023-07-14 18:42:05 (UTC+02:00)" and shown["Camera"] == "Apple iPhone 15 Pro"
    assert shown["Exposure"].startswith("1/120 s · f/1.8 · ISO 80") and "48.85822° N" in shown["Location"]


def test_xmp_alone_gives_the_date_and_the_place():
    packet = XMP.replace(b'photoshop:City="Paris"', b'photoshop:DateCreated="2019-02-03T04:05:06+01:00"')
    meta = metadata.read(exif=None, xmp=packet, width=10, height=10)
    assert (meta["taken"], meta["taken_offset"]) == ("2019-02-03T04:05:06", "+01:00")
    assert meta["location"]["latitude"] == pytest.approx(48 + 51.4933 / 60)


@pytest.mark.parametrize("stamp", ["0000:00:00 00:00:00", "not a date", "2023:13:45 10:00:00", ""])
def test_a_missing_or_impossible_date_is_no_date(stamp):
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[0x9003] = stamp
    meta = metadata.read(exif=exif, width=1, height=1)
    assert meta["taken"] is None and metadata.taken_at(meta) is None


def test_a_picture_without_metadata_reads_as_nothing_but_its_size():
    buf = io.BytesIO()
    split_photo().save(buf, format="PNG")
    meta = read_file(buf.getvalue())
    assert meta["width"] == 64 and not any(meta[k] for k in ("taken", "make", "model", "lens", "location"))
    assert metadata.rows(meta) == [] and metadata.rendition_exif(meta) == b""


def test_sealed_metadata_opens_only_with_its_key_and_record():
    meta = read_file(encode(split_photo(), "JPEG"))
    key = crypto.new_data_key()
    sealed = metadata.seal(meta, data_key=key, record_id=7)
    assert b"iPhone" not in sealed and b"Apple" not in sealed
    assert metadata.open_sealed(sealed, data_key=key, record_id=7) == meta
    for other in ({"data_key": crypto.new_data_key(), "record_id": 7}, {"data_key": key, "record_id": 8}):
        with pytest.raises(crypto.SealError):
            metadata.open_sealed(sealed, **other)
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(crypto.SealError):
        metadata.open_sealed(bytes(flipped), data_key=key, record_id=7)


def test_the_renditions_exif_keeps_date_and_camera_and_drops_place_orientation_and_maker_note():
    exif = Image.Exif()
    exif.load(metadata.rendition_exif(read_file(encode(split_photo(), "JPEG", orientation=6))))
    ifd = exif.get_ifd(EXIF_IFD)
    assert exif[0x010F] == MAKE and exif[0x0110] == MODEL and ifd[0x9003] == "2023:07:14 18:42:05"
    assert ifd[0xA434] == LENS and float(ifd[0x829A]) == pytest.approx(1 / 120)
    assert exif.get_ifd(0x8825) == {} and 0x0112 not in exif and 0x927C not in ifd


def _coded(fmt, mode="RGB", **kw):
    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 255, (40, 56, len(mode)), dtype=np.uint8), mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt,media_type,mode,kw",
    [
        ("JPEG", "image/jpeg", "RGB", {"quality": 80}),
        ("PNG", "image/png", "RGBA", {}),
        ("WEBP", "image/webp", "RGB", {"quality": 70}),
        ("WEBP", "image/webp", "RGBA", {"lossless": True}),
        ("AVIF", "image/avif", "RGB", {"quality": 60}),
        ("AVIF", "image/avif", "RGBA", {"quality": 60}),  # an alpha plane: libavif's own item reference
    ],
)
def test_exif_is_added_to_a_compressed_file_without_touching_its_picture(fmt, media_type, mode, kw):
    data = _coded(fmt, mode, **kw)
    tags = metadata.rendition_exif(read_file(encode(split_photo(), "JPEG")))
    tagged = renditions.with_exif(data, media_type, tags)
    ifd0, ifd = exif_of(tagged)
    assert ifd0[0x0110] == MODEL and ifd[0x9003] == "2023:07:14 18:42:05" and gps_of(tagged) == {}
    with Image.open(io.BytesIO(data)) as before, Image.open(io.BytesIO(tagged)) as after:
        assert after.mode == before.mode and np.array_equal(np.asarray(after), np.asarray(before))
    assert len(tagged) - len(data) < len(tags) + 120  # the EXIF and its container's few bytes


def test_a_file_it_cannot_tag_is_kept_as_it_came():
    assert renditions.with_exif(b"MSC\x02 learned codec bytes", "application/x-msc", b"Exif\x00\x00MM\x00*") == b"MSC\x02 learned codec bytes"
    broken = _coded("WEBP")[:-10]
    assert renditions.with_exif(broken, "image/webp", metadata.rendition_exif({"make": "X"})) == broken
