"""Adaptive selection: the chosen file meets the target (checked by decoding its bytes here),
is the smallest that does, respects budgets, and keeps exactness and alpha."""
import hashlib
import io
import math

import imagecodecs
import numpy as np
import pytest
from PIL import Image, ImageDraw

from compression import metrics
from compression.base import CodecError
from compression.codecs import JpegCodec
from compression.registry import register, unregister
from compression.services import compress_image
from tests.conftest import make_photo


def _decode(result) -> Image.Image:
    # Pillow directly (imagecodecs for JPEG XL, which Pillow cannot read), not the codec's own
    # decode: an independent reading of the bytes.
    if result.media_type == "image/jxl":
        return Image.fromarray(imagecodecs.jpegxl_decode(result.data))
    image = Image.open(io.BytesIO(result.data))
    image.load()
    assert image.format.lower() in {"jpeg", "png", "webp", "avif"}
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


LOSSLESS_CODECS = {"png", "webp-lossless", "jxl-lossless"}


def _numpy_psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    mse = np.mean((x - y) ** 2)
    return math.inf if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _graphic(width=96, height=64) -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for i in range(6):
        draw.rectangle([i * 14, i * 8, i * 14 + 30, i * 8 + 20], fill=(40 * i, 200 - 30 * i, 90), outline="black")
    draw.line([0, height - 1, width - 1, 0], fill=(0, 0, 255), width=2)
    return image


@pytest.fixture(scope="module")
def photo():
    return make_photo(96, 64, seed=1)


@pytest.mark.parametrize("target,floor", [("psnr:30", 30), ("psnr:33", 33), ("psnr:36", 36), ("psnr:41", 41)])
def test_chosen_file_meets_psnr_target_when_decoded(photo, target, floor):
    result = compress_image(image=photo, target=target)
    decoded = _decode(result)
    assert decoded.size == photo.size
    assert _numpy_psnr(photo, decoded) >= floor
    assert result.params["target_met"] is True


def test_chosen_file_meets_msssim_target_when_decoded(photo):
    result = compress_image(image=photo, target="msssim:0.97")
    assert metrics.ms_ssim(photo, _decode(result)) >= 0.97


def test_visually_lossless_meets_ssimulacra2_90_when_decoded(photo):
    result = compress_image(image=photo, target="visually-lossless")
    score = metrics.ssimulacra2(photo, _decode(result))
    assert score.score >= 90 and score.worst >= 80


@pytest.mark.parametrize("target", ["balanced", "high", "msssim:0.98"])
def test_winner_is_no_larger_than_any_candidate_meeting_the_target(photo, target):
    result = compress_image(image=photo, target=target)
    meeting = [c for c in result.candidates if c.meets_target]
    assert meeting, "at least one candidate meets an achievable target"
    assert result.size == min(c.size for c in meeting)
    assert {c.codec for c in result.candidates} >= {"jpeg", "webp", "avif", "png", "webp-lossless"}


def test_quality_search_is_bounded_per_candidate(photo):
    result = compress_image(image=photo, target="balanced")
    fast = [c for c in result.candidates if c.params.get("effort") == "fast"]
    per_candidate = {}
    for c in fast:
        key = (c.codec, c.params.get("subsampling"))
        per_candidate[key] = per_candidate.get(key, 0) + 1
    assert max(per_candidate.values()) <= 7
    assert ("jpeg", "4:2:0") in per_candidate and ("jpeg", "4:4:4") in per_candidate


def test_every_candidate_is_recorded_with_its_measurements(photo):
    result = compress_image(image=photo, target="psnr:33")
    for c in result.candidates:
        assert c.size > 0 and c.seconds >= 0 and c.meets_target in (True, False)
        assert c.psnr is not None or c.params.get("exact")
    assert result.reason.startswith(f"{result.codec}")
    assert "PSNR ≥ 33 dB" in result.reason


@pytest.mark.parametrize("target", ["lossless", "balanced", "small"])
def test_a_met_target_is_never_reported_as_missed(target):
    # Regression: the "no candidate met" text once replaced the winner's line whenever no
    # candidate had been pruned early.
    result = compress_image(image=make_photo(64, 48, mode="RGBA"), target=target)
    assert result.params["target_met"] is True
    assert "no candidate met" not in result.reason
    assert result.reason.startswith(result.codec)


@pytest.mark.parametrize("budget", ["bytes:1500", "bytes:4000", "bpp:1.0"])
def test_size_budget_is_respected(photo, budget):
    result = compress_image(image=photo, target=budget)
    limit = int(budget.split(":")[1]) if budget.startswith("bytes") else 1.0 * photo.width * photo.height / 8
    assert len(result.data) <= limit
    assert result.params["target_met"] is True
    fitting = [c for c in result.candidates if c.meets_target and c.psnr is not None]
    # The best quality that fits: no fitting, measured candidate has a higher PSNR.
    assert (result.psnr or math.inf) >= max(c.psnr for c in fitting) - 1e-9


def test_bigger_budget_buys_at_least_as_much_quality(photo):
    tight = compress_image(image=photo, target="bytes:1200")
    loose = compress_image(image=photo, target="bytes:5000")
    assert loose.psnr is None or loose.psnr >= tight.psnr


def test_impossible_budget_takes_the_closest_and_says_so(photo):
    result = compress_image(image=photo, target="bytes:20")
    assert result.params["target_met"] is False
    assert "nothing fits" in result.reason
    assert result.size == min(c.size for c in result.candidates)


def test_unreachable_quality_takes_the_closest_and_says_so(photo):
    # Lossy codecs only: lossless candidates would trivially meet any PSNR.
    result = compress_image(image=photo, codec="jpeg", target="psnr:99")
    assert result.params["target_met"] is False
    assert result.reason.startswith("no candidate met PSNR ≥ 99 dB")
    assert result.psnr == pytest.approx(max(c.psnr for c in result.candidates))


@pytest.mark.parametrize("image_factory", [lambda: make_photo(48, 32), _graphic])
def test_lossless_target_round_trips_exactly(image_factory):
    image = image_factory()
    result = compress_image(image=image, target="lossless")
    assert result.codec in LOSSLESS_CODECS
    assert np.array_equal(np.asarray(_decode(result)), np.asarray(image))
    assert result.psnr is None and result.params["exact"] is True
    assert all(c.codec in LOSSLESS_CODECS for c in result.candidates)


@pytest.mark.parametrize("codec", sorted(LOSSLESS_CODECS))
def test_lossless_codecs_keep_every_rgba_value(codec):
    image = make_photo(40, 24, mode="RGBA")
    arr = np.asarray(image).copy()
    arr[:, :5, 3] = 0  # fully transparent strip whose colour must survive too
    image = Image.fromarray(arr, "RGBA")
    result = compress_image(image=image, codec=codec, target="lossless")
    decoded = _decode(result)
    assert decoded.mode == "RGBA"
    assert np.array_equal(np.asarray(decoded), arr)


def test_few_colour_png_uses_an_exact_palette():
    image = _graphic()
    result = compress_image(image=image, codec="png", quality=None, target="lossless")
    stored = Image.open(io.BytesIO(result.data))
    assert stored.mode == "P"
    assert np.array_equal(np.asarray(stored.convert("RGB")), np.asarray(image))


def test_alpha_survives_auto_selection():
    image = make_photo(64, 48, mode="RGBA")
    result = compress_image(image=image, target="balanced")
    decoded = _decode(result)
    assert decoded.mode == "RGBA"
    assert "jpeg" not in {c.codec for c in result.candidates}
    alpha_error = np.abs(np.asarray(decoded)[..., 3].astype(int) - np.asarray(image)[..., 3]).max()
    assert alpha_error <= 2
    assert metrics.ssimulacra2(image, decoded).score >= 70


def test_graphics_end_up_lossless_when_that_is_smallest():
    result = compress_image(image=_graphic(), target="balanced")
    assert result.codec in LOSSLESS_CODECS
    assert result.params["exact"] is True


def test_fixed_quality_encodes_exactly_once_at_that_quality(photo):
    result = compress_image(image=photo, codec="jpeg", quality=42)
    assert result.codec == "jpeg" and result.params["quality"] == 42
    assert len(result.candidates) == 1
    assert "chosen by the user" in result.reason
    reference = io.BytesIO()
    photo.save(reference, "JPEG", quality=42)
    assert _numpy_psnr(photo, _decode(result)) == pytest.approx(
        _numpy_psnr(photo, Image.open(reference).convert("RGB")), abs=0.05
    )


def test_named_codec_searches_only_that_codec(photo):
    result = compress_image(image=photo, codec="webp", target="psnr:30")
    assert result.codec == "webp"
    assert {c.codec for c in result.candidates} == {"webp"}
    assert _numpy_psnr(photo, _decode(result)) >= 30


def test_result_metrics_and_digest_come_from_the_final_bytes(photo):
    result = compress_image(image=photo, target="psnr:33")
    decoded = _decode(result)
    assert result.size == len(result.data)
    assert result.psnr == pytest.approx(_numpy_psnr(photo, decoded), abs=1e-6)
    assert result.params["decoded_sha256"] == hashlib.sha256(decoded.tobytes()).hexdigest()
    assert result.bpp == pytest.approx(8 * len(result.data) / (photo.width * photo.height))


def test_unknown_codec_is_refused_with_the_name_quoted(photo):
    with pytest.raises(CodecError, match="Unknown codec 'xyz'; choose one of: auto, .*jpeg"):
        compress_image(image=photo, codec="xyz")


@pytest.mark.parametrize("quality", [0, 96, -1, float("nan")])
def test_out_of_range_quality_is_refused(photo, quality):
    with pytest.raises(CodecError, match="(?i)quality"):
        compress_image(image=photo, codec="jpeg", quality=quality)


def test_bad_target_is_refused(photo):
    with pytest.raises(ValueError, match="'-3'"):
        compress_image(image=photo, target="psnr:-3")


def test_lossless_target_with_a_lossy_only_codec_is_refused(photo):
    with pytest.raises(CodecError, match="'jpeg' cannot encode losslessly"):
        compress_image(image=photo, codec="jpeg", target="lossless")


def test_lossless_target_moves_webp_to_its_lossless_mode(photo):
    result = compress_image(image=photo, codec="webp", target="lossless")
    assert result.codec == "webp-lossless" and result.params["exact"] is True


class _RenamedJpeg(JpegCodec):
    name = "test-extra"
    label = "Extra codec registered by a test"
    variants = ({},)


def test_a_newly_registered_codec_competes_without_selector_changes(photo):
    register(_RenamedJpeg())
    try:
        result = compress_image(image=photo, target="balanced")
    finally:
        unregister("test-extra")
    assert "test-extra" in {c.codec for c in result.candidates}


def test_large_images_are_searched_on_a_sample_and_the_full_file_meets_the_target(monkeypatch):
    import compression.selection.sampling as sampling

    monkeypatch.setattr(sampling, "SEARCH_MAX_PIXELS", 10_000)
    monkeypatch.setattr(sampling, "SAMPLE_TILE", 32)
    image = make_photo(256, 160, seed=4)
    result = compress_image(image=image, target="psnr:33")
    assert "sample" in result.reason
    assert any(c.params.get("sample") for c in result.candidates)
    assert _numpy_psnr(image, _decode(result)) >= 33
    assert result.params["target_met"] is True
    assert not result.params.get("sample")  # the result itself is the full-size encode


def test_large_images_respect_a_byte_budget_at_full_size(monkeypatch):
    import compression.selection.sampling as sampling

    monkeypatch.setattr(sampling, "SEARCH_MAX_PIXELS", 10_000)
    monkeypatch.setattr(sampling, "SAMPLE_TILE", 32)
    image = make_photo(256, 160, seed=5)
    result = compress_image(image=image, target="bytes:6000")
    assert len(result.data) <= 6000


def test_a_search_stops_once_its_missing_file_is_larger_than_a_meeting_one():
    from compression.registry import get_codec
    from compression.selection.strategies import search_codec
    from compression.selection.trials import Search
    from compression.targets import parse_target

    search = Search(make_photo(96, 64, seed=1), parse_target("psnr:45"))
    search.best_meeting_size = 10  # another codec already met the target with 10 bytes
    trials = search_codec(search, get_codec("jpeg"), {"subsampling": "4:2:0"})
    assert len(trials) == 1 and trials[0].meets is False
    assert search.pruned == ["jpeg 4:2:0"]

    unhindered = Search(make_photo(96, 64, seed=1), parse_target("psnr:45"))
    assert len(search_codec(unhindered, get_codec("jpeg"), {"subsampling": "4:2:0"})) > 1


class _ManualOnlyJpeg(JpegCodec):
    name = "test-manual"
    label = "Codec kept out of auto by a test"
    variants = ({},)
    auto_candidate = False


def test_a_codec_can_opt_out_of_auto_but_still_be_named(photo):
    register(_ManualOnlyJpeg())
    try:
        auto = compress_image(image=photo, target="small")
        named = compress_image(image=photo, codec="test-manual", target="small")
    finally:
        unregister("test-manual")
    assert "test-manual" not in {c.codec for c in auto.candidates}
    assert named.codec == "test-manual"
