"""Exact storage of originals as JPEG XL: JPEGs come back byte for byte, pixel images with the
same samples (alpha and 16-bit included) and the same ICC profile, EXIF and XMP; what cannot be
kept exactly is refused with JxlError."""
import io

import imagecodecs
import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from compression.jxl import JxlError
from compression.jxl_archive import (
    decode_lossless,
    encode_lossless,
    holds_jpeg,
    read_lossless_source,
    reconstruct_jpeg,
    transcode_jpeg,
)
from tests.conftest import make_photo

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal
    return exif


def _jpeg(**options) -> bytes:
    buf = io.BytesIO()
    make_photo(120, 80, seed=3).save(buf, format="JPEG", quality=88, exif=_exif(), icc_profile=SRGB_ICC, **options)
    return buf.getvalue()


@pytest.mark.parametrize("options", [
    {"subsampling": "4:4:4"},
    {"subsampling": "4:2:2"},
    {"subsampling": "4:2:0"},
    {"subsampling": "4:2:0", "progressive": True},
    {"subsampling": "4:4:4", "progressive": True, "optimize": True},
])
def test_jpeg_transcoding_rebuilds_the_same_bytes(options):
    jpeg = _jpeg(**options)
    jxl = transcode_jpeg(jpeg)
    assert jxl[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n" and holds_jpeg(jxl)
    back = reconstruct_jpeg(jxl)
    assert back == jpeg  # byte for byte: EXIF and ICC markers included
    with Image.open(io.BytesIO(back)) as image:
        assert image.getexif()[0x0110] == "Model 7" and image.info["icc_profile"] == SRGB_ICC


def test_transcoding_refuses_what_is_not_a_jpeg():
    with pytest.raises(JxlError, match="Not a JPEG"):
        transcode_jpeg(b"\x89PNG\r\n\x1a\nrest")
    with pytest.raises(JxlError, match="could not transcode"):
        transcode_jpeg(b"\xff\xd8\xff\xe0 broken")


def test_reconstruction_refuses_a_jxl_without_jpeg_data():
    pixels_only = encode_lossless(make_photo(20, 10))
    assert not holds_jpeg(pixels_only)
    with pytest.raises(JxlError, match="No JPEG can be rebuilt"):
        reconstruct_jpeg(pixels_only)


def _png_with_metadata(image: Image.Image, icc=SRGB_ICC) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    buf = io.BytesIO()
    image.save(buf, format="PNG", icc_profile=icc, exif=_exif(), pnginfo=info)
    return buf.getvalue()


def test_png_with_alpha_round_trips_pixel_exact_with_its_metadata():
    rng = np.random.default_rng(11)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    rgba[..., 3][rgba[..., 3] < 80] = 0
    upload = _png_with_metadata(Image.fromarray(rgba, "RGBA"))
    stored = encode_lossless(upload)
    back = decode_lossless(stored)
    assert back.mode == "RGBA" and np.array_equal(back.pixels, rgba)
    assert back.icc_profile == SRGB_ICC and back.xmp == XMP
    assert back.exif.startswith(b"Exif\x00\x00")  # Pillow's form, ready for save(exif=...)
    png = back.to_png()
    with Image.open(io.BytesIO(png)) as again:
        assert again.format == "PNG" and np.array_equal(np.asarray(again), rgba)
        assert again.info["icc_profile"] == SRGB_ICC and again.info["xmp"] == XMP
        exif = again.getexif()
        assert exif[0x010F] == "TestCam" and exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    # A standard reader sees the same pixels and the EXIF box.
    assert np.array_equal(imagecodecs.jpegxl_decode(stored), rgba)
    assert b"Exif" in stored and b"xml " in stored


def test_other_icc_profiles_are_kept_in_our_own_box():
    lab_like = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    upload = _png_with_metadata(make_photo(30, 20, seed=2), icc=lab_like)
    back = decode_lossless(encode_lossless(upload))
    assert back.icc_profile == lab_like


@pytest.mark.parametrize("shape", [(9, 13), (9, 13, 2), (9, 13, 3), (9, 13, 4)])
def test_sixteen_bit_pngs_keep_every_sample(shape):
    rng = np.random.default_rng(5)
    samples = rng.integers(0, 65536, shape, dtype=np.uint16)
    upload = imagecodecs.png_encode(samples)
    back = decode_lossless(encode_lossless(upload))
    assert back.pixels.dtype == np.uint16 and np.array_equal(back.pixels, samples)
    assert np.array_equal(imagecodecs.png_decode(back.to_png()), samples)


def test_palette_and_grey_images_keep_their_pixel_values():
    grey = Image.fromarray(np.arange(200, dtype=np.uint8).reshape(10, 20), "L")
    assert np.array_equal(decode_lossless(encode_lossless(grey)).pixels, np.asarray(grey))
    palette = make_photo(24, 16).quantize(16)
    back = decode_lossless(encode_lossless(palette))
    assert np.array_equal(back.pixels, np.asarray(palette.convert("RGB")))


def test_pixels_only_when_metadata_is_not_wanted():
    back = decode_lossless(encode_lossless(_png_with_metadata(make_photo(16, 12)), keep_metadata=False))
    assert (back.icc_profile, back.exif, back.xmp) == (None, None, None)


def test_what_cannot_be_kept_exactly_is_refused():
    cmyk = Image.new("CMYK", (8, 8), (1, 2, 3, 4))
    with pytest.raises(JxlError, match="'CMYK'"):
        encode_lossless(cmyk)
    frames = [make_photo(16, 12, seed=i) for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(JxlError, match="2 frames"):
        encode_lossless(buf.getvalue())
    with pytest.raises(JxlError, match="Could not read"):
        read_lossless_source(b"not an image")


def test_to_image_gives_pillow_the_pixels_and_metadata_it_can_hold():
    rgba = np.asarray(make_photo(20, 10, mode="RGBA"))
    image = decode_lossless(encode_lossless(_png_with_metadata(Image.fromarray(rgba, "RGBA")))).to_image()
    assert image.mode == "RGBA" and np.array_equal(np.asarray(image), rgba)
    assert image.info["icc_profile"] == SRGB_ICC and image.info["xmp"] == XMP
    grey16 = np.arange(200, dtype=np.uint16).reshape(10, 20) * 300
    as_image = decode_lossless(encode_lossless(imagecodecs.png_encode(grey16))).to_image()
    assert as_image.mode == "I;16" and np.array_equal(np.asarray(as_image), grey16)
    colour16 = np.full((4, 5, 3), 40000, dtype=np.uint16)
    with pytest.raises(JxlError, match="RGB;16"):
        decode_lossless(encode_lossless(imagecodecs.png_encode(colour16))).to_image()
