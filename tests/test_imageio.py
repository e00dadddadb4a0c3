"""Upload decoding: what we accept, what we refuse, and that refusals are always InvalidImage."""
import io
import struct
import zlib

import numpy as np
import pytest
from tests.conftest import image_bytes, make_photo
from PIL import Image

from compression.imageio import ALLOWED_FORMATS, InvalidImage, load_upload, probe_upload


def _load(data, **kw):
    kw.setdefault("max_bytes", 10**8)
    kw.setdefault("max_pixels", 50_000_000)
    return load_upload(data, **kw)


def _png_declaring(width, height):
    data = bytearray(image_bytes(make_photo(16, 16)))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "AVIF", "HEIF", "GIF", "BMP", "TIFF"])
def test_every_allowed_format_decodes_to_rgb_of_the_right_size(fmt):
    source = make_photo(40, 24)
    if fmt == "GIF":
        source = source.convert("P")
    upload = _load(image_bytes(source, fmt))
    assert upload.format == fmt
    assert (upload.width, upload.height) == (40, 24) == upload.image.size
    assert upload.image.mode == "RGB" and upload.has_alpha is False
    assert fmt in ALLOWED_FORMATS


def test_decoded_pixels_match_a_lossless_source():
    source = make_photo(20, 10, seed=3)
    upload = _load(image_bytes(source, "PNG"))
    assert np.array_equal(np.asarray(upload.image), np.asarray(source))


def test_zero_bytes_is_refused():
    with pytest.raises(InvalidImage, match="empty"):
        _load(b"", filename="blank.png")


def test_non_image_is_refused_with_the_allowed_formats_listed():
    with pytest.raises(InvalidImage, match="JPEG, PNG"):
        _load(b"this is a text file, honestly" * 10, filename="notes.txt")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_refused(fmt):
    data = image_bytes(make_photo(64, 64), fmt)
    with pytest.raises(InvalidImage, match="truncated|corrupt"):
        _load(data[: len(data) // 2])


def test_png_cut_after_its_pixel_data_is_refused():
    data = image_bytes(make_photo(32, 32))
    with pytest.raises(InvalidImage, match="truncated"):
        _load(data[:-12])  # drops only the IEND chunk


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(InvalidImage, match="MP"):
        _load(_png_declaring(100_000, 100_000))


def test_declared_size_over_our_own_pixel_limit_is_refused_and_quoted():
    # 3000×3000 is under Pillow's bomb threshold; our limit must catch it from the header alone.
    with pytest.raises(InvalidImage, match="3000×3000"):
        _load(_png_declaring(3000, 3000), max_pixels=1_000_000)


def test_pixel_limit_defaults_to_the_setting(settings):
    settings.UPLOAD_MAX_PIXELS = 100
    with pytest.raises(InvalidImage, match="16×16"):
        load_upload(image_bytes(make_photo(16, 16)))


@pytest.mark.parametrize("fmt,name", [("PPM", "PPM"), ("ICO", "ICO"), ("TGA", "TGA")])
def test_disallowed_format_is_refused_and_named(fmt, name):
    with pytest.raises(InvalidImage, match=f"Unsupported image format '{name}'"):
        _load(image_bytes(make_photo(16, 16), fmt))


def test_oversize_file_is_refused_with_the_limit(settings):
    data = image_bytes(make_photo(32, 32))
    settings.UPLOAD_MAX_BYTES = len(data) - 1
    with pytest.raises(InvalidImage, match="limit"):
        load_upload(data)
    assert load_upload(data, max_bytes=len(data)).width == 32


def test_exif_orientation_is_applied():
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    upload = _load(image_bytes(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert upload.image.size == (20, 40)
    top = upload.image.getpixel((10, 5))
    bottom = upload.image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # the stored left column is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_gif_keeps_the_first_frame():
    frames = [Image.new("RGB", (16, 16), c).convert("P") for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    upload = _load(buf.getvalue())
    assert upload.format == "GIF"
    assert upload.image.getpixel((8, 8)) == (255, 0, 0)


def test_meaningful_alpha_is_kept_and_opaque_alpha_dropped():
    rgba = make_photo(24, 16, mode="RGBA")
    kept = _load(image_bytes(rgba, "PNG"))
    assert kept.has_alpha and kept.image.mode == "RGBA"
    assert np.array_equal(np.asarray(kept.image), np.asarray(rgba))
    opaque = make_photo(24, 16)
    opaque.putalpha(255)
    dropped = _load(image_bytes(opaque, "PNG"))
    assert not dropped.has_alpha and dropped.image.mode == "RGB"


def test_palette_with_transparency_becomes_rgba():
    pal = make_photo(24, 16, mode="RGBA").convert("P")
    upload = _load(image_bytes(pal, "PNG"))
    assert upload.image.mode in ("RGB", "RGBA")
    assert upload.source_mode == "P"


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    arr = np.array([[0, 32896, 65535]], dtype=np.uint16).repeat(4, axis=0)
    upload = _load(image_bytes(Image.fromarray(arr), "PNG"))
    row = np.asarray(upload.image)[0, :, 0]
    assert list(row) == [0, 128, 255]


def test_cmyk_jpeg_becomes_rgb():
    upload = _load(image_bytes(make_photo(16, 16).convert("CMYK"), "JPEG"))
    assert upload.image.mode == "RGB"


def test_corrupted_bytes_never_escape_as_anything_but_invalid_image():
    rng = np.random.default_rng(1)
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "TIFF"):
        source = make_photo(24, 24)
        clean = bytearray(image_bytes(source.convert("P") if fmt == "GIF" else source, fmt))
        for _ in range(12):
            data = bytearray(clean)
            for pos in rng.integers(0, len(data), size=6):
                data[pos] = int(rng.integers(0, 256))
            try:
                upload = _load(bytes(data))
            except InvalidImage as exc:
                assert str(exc)
            else:
                assert upload.image.size[0] > 0


def test_a_heic_from_a_phone_is_probed_and_decoded_upright_with_its_metadata():
    # Stored landscape, EXIF orientation 6, as an iPhone writes it (pillow-heif turns the EXIF
    # orientation into the file's own rotation, which libheif applies).
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112], exif[0x0110] = 6, "iPhone 15 Pro"
    data = image_bytes(stored, "HEIF", exif=exif.tobytes(), quality=90)
    assert data[4:12] == b"ftypheic"
    probed = probe_upload(data, max_bytes=10**8, max_pixels=10**6)
    assert (probed.format, probed.media_type, probed.width, probed.height) == ("HEIF", "image/heic", 20, 40)
    upload = _load(data)
    assert upload.image.size == (20, 40) and upload.orientation == 6
    assert upload.image.getpixel((10, 5))[0] > 200 and upload.image.getpixel((10, 35))[2] > 200
    assert upload.exif.get(0x0110) == "iPhone 15 Pro"


def test_a_truncated_heic_is_refused_in_words():
    data = image_bytes(make_photo(64, 48), "HEIF", quality=80)
    with pytest.raises(InvalidImage, match="corrupt|truncated"):
        _load(data[: len(data) // 2])


def test_probing_a_png_reads_its_header_only_and_still_sees_its_rotation(monkeypatch):
    # Pillow's getexif() on a PNG decodes all its pixels (looking for EXIF after the image
    # data): in the upload request, that was a full decode per PNG upload.
    from PIL import ExifTags, PngImagePlugin

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # a quarter turn: shown 20 wide, 40 high
    turned = io.BytesIO()
    make_photo(40, 20).save(turned, "PNG", exif=exif.tobytes())

    def no_decoding(self):
        raise AssertionError("the header check decoded the pixels")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    plain = probe_upload(image_bytes(make_photo(40, 20)), filename="plain.png")  # no EXIF: the costly case
    assert (plain.format, plain.width, plain.height) == ("PNG", 40, 20)
    probed = probe_upload(turned.getvalue(), filename="turned.png")
    assert (probed.format, probed.width, probed.height) == ("PNG", 20, 40)
