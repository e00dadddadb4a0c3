"""The search never crashes: random, flat, tiny and steep-gradient images (a seeded loop over
kinds, sizes and targets) all come back compressed, with the target met or the reason saying
why not; a codec whose search fails is dropped with a logged reason, never the job."""
import logging

import numpy as np
import pytest
from PIL import Image

from compression.base import CodecError
from compression.codecs import WebpCodec
from compression.registry import get_codec, register, unregister
from compression.services import compress_image

TARGETS = ("balanced", "visually-lossless", "small", "psnr:33", "psnr:40", "msssim:0.95", "bytes:400", "lossless")


def _noise(rng, w, h):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _flat(rng, w, h):
    return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (h, w, 3)).copy()


def _steep(rng, w, h):
    # Full-range ramps a few pixels long, and one-pixel stripes: the largest gradients there are.
    period = int(rng.integers(2, 6))
    x = (np.arange(w) % period) * (255 // (period - 1))
    y = np.where(np.arange(h) % 2, 255, 0)[:, None]
    return np.stack([np.broadcast_to(x, (h, w)), np.broadcast_to(y, (h, w)), (x + y) % 256], -1).astype(np.uint8)


def _cases(count=24, seed=22):
    rng = np.random.default_rng(seed)
    kinds = [_noise, _flat, _steep]
    for i in range(count):
        tiny = i % 4 == 0
        w, h = (int(v) for v in rng.integers(1, 8 if tiny else 97, 2))
        kind = kinds[i % len(kinds)]
        pixels = kind(rng, w, h)
        mode = "RGB"
        if i % 5 == 4:
            alpha = rng.integers(0, 256, (h, w, 1), dtype=np.uint8)
            pixels, mode = np.concatenate([pixels, alpha], -1), "RGBA"
        yield f"{kind.__name__[1:]}-{w}x{h}-{mode}", Image.fromarray(pixels, mode), TARGETS[i % len(TARGETS)]
    # The uploads that once failed with "math range error" (PSNR targets on small noise).
    for seed_ in (3, 8, 11):
        rng = np.random.default_rng(seed_)
        h, w = (int(v) for v in rng.integers(8, 80, 2))
        yield f"noise-{w}x{h}", Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)), "psnr:33"


@pytest.mark.parametrize("name,image,target", list(_cases()), ids=lambda v: v if isinstance(v, str) else None)
def test_any_image_is_compressed_or_explained(name, image, target):
    result = compress_image(image=image, target=target, effort="fast")
    decoded = get_codec(result.codec).decode(result.data)  # the winner may be a format Pillow cannot read (JXL)
    assert decoded.size == image.size
    assert result.candidates and result.reason
    assert "skipped" not in result.reason  # no codec's search failed on it either
    assert result.ssimulacra2 is not None and result.decided_by
    if not result.params["target_met"]:
        assert "no candidate met" in result.reason or "nothing fits" in result.reason


class _BrokenWebp(WebpCodec):
    """An encoder with a bug: every encode raises something that is not a CodecError."""

    name = "test-broken"
    label = "Broken codec registered by a test"

    def encode(self, image, *, quality=None, fast=False):
        raise ZeroDivisionError("a bug in the encoder")


def test_a_codec_whose_search_fails_is_dropped_with_a_logged_reason(caplog):
    register(_BrokenWebp())
    try:
        with caplog.at_level(logging.ERROR, logger="compression.selection.modes"):
            result = compress_image(image=Image.new("RGB", (40, 30), (10, 120, 200)), target="balanced")
    finally:
        unregister("test-broken")
    assert result.codec != "test-broken" and result.params["target_met"] is True
    assert "test-broken skipped" in result.reason and "ZeroDivisionError" in result.reason
    assert any("test-broken search failed" in r.getMessage() for r in caplog.records)


def test_a_named_codec_whose_search_fails_fails_with_a_readable_error():
    register(_BrokenWebp())
    try:
        with pytest.raises(CodecError, match="search failed on this image"):
            compress_image(image=Image.new("RGB", (40, 30)), codec="test-broken", target="balanced")
    finally:
        unregister("test-broken")
