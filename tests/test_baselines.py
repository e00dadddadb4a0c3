"""The PCA and K-Means baseline codecs: real bytes that decode to an image of the right shape,
with quality knobs that trade size for fidelity."""
import io

import numpy as np
import pytest
from PIL import Image

from compression.base import CodecError
from compression.evaluation.baselines import KMeansCodec, PcaCodec
from compression.metrics import psnr
from compression.registry import available_codecs

from .conftest import make_photo


@pytest.fixture(scope="module")
def photo():
    return make_photo(70, 45, seed=3)  # odd sizes: blocks and chroma subsampling must crop back


def test_pca_round_trips_to_an_rgb_image_of_the_original_size(photo):
    codec = PcaCodec()
    data = codec.encode(photo, quality=60)
    decoded = codec.decode(data)
    assert isinstance(data, bytes) and data[:4] == b"PCB1"
    assert decoded.mode == "RGB" and decoded.size == photo.size
    assert psnr(photo, decoded) > 25


def test_pca_with_more_components_is_more_faithful_and_larger(photo):
    codec = PcaCodec()
    few = codec.encode(photo, step=2.0, components=2)
    many = codec.encode(photo, step=2.0, components=40)
    assert PcaCodec.info(few)["components"][0] == 2
    assert psnr(photo, codec.decode(many)) > psnr(photo, codec.decode(few)) + 3
    assert len(many) > len(few)


def test_pca_higher_quality_means_bigger_file_and_higher_psnr(photo):
    codec = PcaCodec()
    low, high = codec.encode(photo, quality=20), codec.encode(photo, quality=80)
    assert len(high) > len(low)
    assert psnr(photo, codec.decode(high)) > psnr(photo, codec.decode(low))


def test_pca_uses_small_blocks_on_thumbnails_and_the_configured_block_otherwise():
    thumb = make_photo(32, 32, seed=1)
    assert PcaCodec.info(PcaCodec().encode(thumb, quality=50))["block"] == 4
    assert PcaCodec.info(PcaCodec(block=8).encode(thumb, quality=50))["block"] == 8
    assert PcaCodec.info(PcaCodec().encode(make_photo(80, 64), quality=50))["block"] == 8


@pytest.mark.parametrize("data", [b"", b"PCB1", b"JUNKJUNKJUNKJUNKJUNKJUNKJUNKJUNK"])
def test_pca_refuses_bytes_that_are_not_its_files(data):
    with pytest.raises(CodecError):
        PcaCodec().decode(data)


def test_pca_refuses_a_truncated_file(photo):
    data = PcaCodec().encode(photo, quality=50)
    with pytest.raises(CodecError, match="corrupt"):
        PcaCodec().decode(data[: len(data) - 20])


def test_pca_rejects_an_out_of_range_quality_quoting_it(photo):
    with pytest.raises(CodecError, match="140"):
        PcaCodec().encode(photo, quality=140)


def test_kmeans_round_trips_to_an_rgb_image_of_the_original_size_via_an_indexed_png(photo):
    codec = KMeansCodec()
    data = codec.encode(photo, colors=16)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.format == "PNG" and stored.mode == "P"
        assert len(stored.getpalette()) // 3 <= 16
    decoded = codec.decode(data)
    assert decoded.mode == "RGB" and decoded.size == photo.size
    assert len(decoded.getcolors(256)) <= 16


def test_kmeans_with_more_colours_is_more_faithful(photo):
    codec = KMeansCodec()
    assert psnr(photo, codec.decode(codec.encode(photo, colors=64))) > \
        psnr(photo, codec.decode(codec.encode(photo, colors=4))) + 3


def test_kmeans_quality_maps_onto_two_to_256_colours():
    assert KMeansCodec.colors_for(0) == 2
    assert KMeansCodec.colors_for(100) == 256
    assert KMeansCodec.colors_for(40) < KMeansCodec.colors_for(60)


def test_kmeans_keeps_an_image_with_few_colours_exactly():
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, 10:20] = (200, 30, 40)
    arr[:, 20:] = (10, 220, 90)
    image = Image.fromarray(arr, "RGB")
    decoded = KMeansCodec().decode(KMeansCodec().encode(image, colors=8))
    assert np.array_equal(np.asarray(decoded), arr)


def test_baselines_are_not_offered_by_the_portal_registry():
    names = {c.name for c in available_codecs()}
    assert "pca" not in names and "kmeans" not in names


def test_baselines_refuse_images_with_transparency():
    rgba = make_photo(16, 16, mode="RGBA")
    for codec in (PcaCodec(), KMeansCodec()):
        with pytest.raises(CodecError, match="transparency"):
            codec.encode(rgba, quality=50)
