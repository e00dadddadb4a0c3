"""Effort levels: fast keeps the searched file, default and max re-encode the winner with slower
presets and keep that only if it still meets the target; large images measure structure on the
search tiles unless the target needs MS-SSIM."""
import pytest

from compression.services import compress_image
from tests.conftest import make_photo


@pytest.fixture(scope="module")
def photo():
    return make_photo(96, 64, seed=7)


def test_fast_effort_keeps_the_searched_file(photo):
    result = compress_image(image=photo, target="balanced", effort="fast")
    assert result.params["effort_level"] == "fast"
    assert {c.params["effort"] for c in result.candidates} == {"fast"}
    assert result.params["target_met"] is True


@pytest.mark.parametrize("effort", ["default", "max"])
def test_slower_efforts_meet_the_target_and_are_never_larger_than_fast(photo, effort):
    fast = compress_image(image=photo, target="balanced", effort="fast")
    slower = compress_image(image=photo, target="balanced", effort=effort)
    assert slower.params["target_met"] is True
    assert slower.size <= fast.size
    assert any(c.params["effort"] == "final" for c in slower.candidates)


def test_max_effort_encodes_avif_at_its_slowest_preset(photo):
    result = compress_image(image=photo, codec="avif", target="balanced", effort="max")
    finals = [c for c in result.candidates if c.params["effort"] == "final"]
    assert finals and all(c.params["speed"] == 2 for c in finals)


@pytest.fixture
def tiny_tiles(monkeypatch):
    import compression.selection.sampling as sampling

    monkeypatch.setattr(sampling, "SEARCH_MAX_PIXELS", 10_000)
    monkeypatch.setattr(sampling, "SAMPLE_TILE", 32)


def test_large_images_measure_structure_on_the_search_tiles(tiny_tiles):
    result = compress_image(image=make_photo(256, 160, seed=4), target="psnr:33")
    assert "9 search tiles" in result.params["quality_sample"]
    assert 0 < result.msssim <= 1 and 0 < result.ssim <= 1


def test_an_msssim_target_is_judged_on_the_full_image(tiny_tiles):
    from compression import metrics
    from compression.codecs import AvifCodec

    image = make_photo(256, 160, seed=4)
    result = compress_image(image=image, codec="avif", target="msssim:0.97")
    assert "quality_sample" not in result.params
    decoded = AvifCodec().decode(result.data)
    assert result.msssim == pytest.approx(metrics.ms_ssim(image, decoded), abs=1e-6)
    assert result.msssim >= 0.97


def test_large_images_at_default_effort_look_below_a_full_size_quality_that_met(tiny_tiles):
    image = make_photo(256, 160, seed=4)
    result = compress_image(image=image, codec="webp", target="psnr:33", effort="default")
    full_size = [c for c in result.candidates if not c.params.get("sample")]
    assert result.params["target_met"] is True
    assert result.size == min(c.size for c in full_size if c.meets_target)
    assert full_size[0].meets_target  # the sample's quality met at full size, so lower ones were tried
    assert min(c.params["quality"] for c in full_size) < full_size[0].params["quality"]


def test_max_effort_falls_back_to_default_presets_file_when_its_own_misses(tiny_tiles):
    """At full size max's slowest preset can fall just under the target where default's preset
    met it; max must then not keep the larger fast file."""
    from compression.base import Codec
    from compression.codecs import WebpCodec
    from compression.registry import register, unregister

    webp = WebpCodec()

    class Presets(Codec):
        name = "test-presets"
        label = "WebP with a broken max preset (test)"
        media_type, extension = "image/webp", "webp"
        quality_range, default_quality = webp.quality_range, webp.default_quality
        effort_presets = {"default": {"preset": "default"}, "max": {"preset": "max"}}

        def encode(self, image, *, quality=None, fast=False, preset=None):
            # max's preset: a tiny file far below any target; default's: WebP's slow method.
            if preset == "max":
                return webp.encode(image, quality=0, fast=True)
            return webp.encode(image, quality=quality, fast=preset is None and fast)

        def decode(self, data):
            return webp.decode(data)

    register(Presets())
    try:
        image = make_photo(256, 160, seed=4)
        default = compress_image(image=image, codec="test-presets", target="psnr:33", effort="default")
        best_max = compress_image(image=image, codec="test-presets", target="psnr:33", effort="max")
    finally:
        unregister("test-presets")
    assert best_max.params["target_met"] is True
    assert best_max.size <= default.size
    presets = [c.params.get("preset") for c in best_max.candidates if not c.params.get("sample")]
    assert "max" in presets and "default" in presets
