"""The JPEG XL codecs: lossy quality behaves like a quality knob, lossless is exact (alpha too),
both are registered and compete in `auto`, and what pages show is a browser format holding the
decoded JXL pixels."""
import io

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from compression.base import CodecError
from compression.jxl import JxlCodec, JxlError, JxlLosslessCodec, distance_for_quality
from compression.metrics import psnr, ssimulacra2
from compression.registry import available_codecs, get_codec
from compression.services import compress_image
from tests.conftest import make_photo


def _decoded_independently(data: bytes) -> np.ndarray:
    # imagecodecs directly, not the codec's decode: an independent reading of the bytes.
    return imagecodecs.jpegxl_decode(data)


def test_lossy_psnr_rises_with_quality_and_stays_close():
    photo = make_photo(96, 64, seed=2)
    codec = get_codec("jxl")
    values = []
    for quality in (20, 50, 80, 95):
        data = codec.encode(photo, quality=quality)
        assert data[:2] == b"\xff\x0a"  # a bare JPEG XL codestream
        values.append(psnr(photo, Image.fromarray(_decoded_independently(data))))
    assert values == sorted(values) and values[0] < values[-1] - 3
    assert values[-1] > 32  # distance 0.55; libjxl drops some of this photo's pixel noise, which PSNR counts


def test_lossy_size_falls_with_quality_and_effort_presets_are_valid():
    photo = make_photo(96, 64, seed=3)
    codec = get_codec("jxl")
    sizes = [len(codec.encode(photo, quality=q)) for q in (95, 60, 20)]
    assert sizes == sorted(sizes, reverse=True)
    for effort in ("default", "max"):
        data = codec.encode(photo, quality=80, **codec.effort_presets[effort])
        assert codec.decode(data).size == photo.size
    with pytest.raises(JxlError, match="effort 12"):
        codec.encode(photo, quality=80, jxl_effort=12)
    with pytest.raises(CodecError, match="'150'"):
        codec.encode(photo, quality="150")


def test_max_effort_stays_at_the_default_effort_on_large_images(monkeypatch):
    # Efforts 8-9 take ~250 MB per megapixel; the limit is patched down instead of encoding 2 MP.
    import compression.jxl as jxl_module

    seen = []
    monkeypatch.setattr(jxl_module, "encode_array", lambda pixels, *, effort, **kw: seen.append(effort) or b"")
    monkeypatch.setattr(jxl_module, "HIGH_EFFORT_MAX_PIXELS", 40 * 30)
    codec = get_codec("jxl")
    codec.encode(make_photo(40, 30), quality=80, jxl_effort="max")
    codec.encode(make_photo(41, 30), quality=80, jxl_effort="max")
    get_codec("jxl-lossless").encode(make_photo(41, 30), jxl_effort="max")
    codec.encode(make_photo(41, 30), quality=80, fast=True)
    assert seen == [9, 7, 7, 4]


def test_quality_maps_to_libjxl_distance():
    assert distance_for_quality(90) == pytest.approx(1.0)
    assert distance_for_quality(0) == pytest.approx(25.0)
    assert distance_for_quality(30) == pytest.approx(6.4)  # the two pieces meet
    assert distance_for_quality(29.999) == pytest.approx(6.4, abs=1e-3)


def test_lossy_keeps_alpha():
    photo = make_photo(64, 48, seed=1, mode="RGBA")
    decoded = get_codec("jxl").decode(get_codec("jxl").encode(photo, quality=90))
    assert decoded.mode == "RGBA"
    # libjxl codes the alpha channel losslessly even in lossy mode.
    assert np.array_equal(np.asarray(decoded)[..., 3], np.asarray(photo)[..., 3])


@pytest.mark.parametrize("fast", [True, False])
def test_lossless_is_exact_in_all_four_channels(fast):
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (33, 47, 4), dtype=np.uint8)
    rgba[..., 3][rgba[..., 3] < 90] = 0  # invisible pixels keep their colour too
    image = Image.fromarray(rgba, "RGBA")
    data = get_codec("jxl-lossless").encode(image, fast=fast)
    assert np.array_equal(_decoded_independently(data), rgba)
    assert np.array_equal(np.asarray(get_codec("jxl-lossless").decode(data)), rgba)


def test_registry_lists_both_and_lossless_target_moves_jxl_to_its_lossless_sibling():
    names = {c.name for c in available_codecs()}
    assert {"jxl", "jxl-lossless"} <= names
    assert isinstance(get_codec("jxl"), JxlCodec) and isinstance(get_codec("jxl-lossless"), JxlLosslessCodec)
    assert get_codec("jxl").lossless_variant == "jxl-lossless" and get_codec("jxl-lossless").lossless
    photo = make_photo(40, 30, seed=4)
    result = compress_image(image=photo, codec="jxl", target="lossless")
    assert result.codec == "jxl-lossless" and result.media_type == "image/jxl"
    assert np.array_equal(_decoded_independently(result.data), np.asarray(photo))


def test_auto_tries_both_and_returns_a_valid_result_whatever_wins():
    photo = make_photo(24, 16, seed=5)
    result = compress_image(image=photo, codec="auto", target="balanced", effort="fast")
    tried = {c.codec for c in result.candidates}
    assert {"jxl", "jxl-lossless"} <= tried
    decoded = get_codec(result.codec).decode(result.data)
    assert decoded.size == photo.size
    assert result.params["target_met"] is True
    # balanced: SSIMULACRA 2 of at least 70, measured again here on the stored file's pixels.
    assert ssimulacra2(photo, decoded).score >= 70 - 0.5


def test_max_effort_encodes_are_recorded_as_max():
    result = compress_image(image=make_photo(40, 30, seed=9), codec="jxl", target="psnr:33", effort="max")
    finals = [c for c in result.candidates if c.params["effort"] == "final"]
    assert finals and all(c.params["jxl_effort"] == "max" for c in finals)


def test_search_of_jxl_alone_meets_a_psnr_target():
    photo = make_photo(64, 48, seed=6)
    result = compress_image(image=photo, codec="jxl", target="psnr:36", effort="default")
    assert result.codec == "jxl"
    assert psnr(photo, Image.fromarray(_decoded_independently(result.data))) >= 36


@pytest.mark.parametrize("name,mode", [("jxl", "RGB"), ("jxl", "RGBA"), ("jxl-lossless", "RGBA")])
def test_display_rendition_is_a_png_of_the_decoded_jxl_pixels(name, mode):
    photo = make_photo(40, 28, seed=8, mode=mode)
    codec = get_codec(name)
    data = codec.encode(photo, quality=30) if not codec.lossless else codec.encode(photo)
    shown, media_type, extension = codec.display_bytes(data)
    assert (media_type, extension) == ("image/png", "png")
    with Image.open(io.BytesIO(shown)) as png:
        assert png.format == "PNG" and png.mode == mode
        # The stored file's own pixels (lossy at quality 30: not the original's).
        assert np.array_equal(np.asarray(png), _decoded_independently(data))
    if not codec.lossless:
        assert not np.array_equal(np.asarray(Image.open(io.BytesIO(shown))), np.asarray(photo))


def test_decoding_garbage_is_a_codec_error_quoting_the_size():
    with pytest.raises(JxlError, match="7 bytes"):
        get_codec("jxl").decode(b"garbage")
    assert issubclass(JxlError, CodecError)
