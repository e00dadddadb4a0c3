"""A fake gated codec for the gate's tests (tests/test_selection_gate.py, tests/test_benchmark_auto_gate.py)."""
import itertools

from compression.base import Codec

KEY = 8


def scaled(base: Codec, factor: float, name: str = "test-gated") -> Codec:
    """A gated codec with `base`'s rate–quality curve and every file `factor` times as large: the
    real file is kept in memory behind a key, and the bytes returned are the key padded (or cut)
    to that size, so it can be made to lose or win by any margin."""
    class Scaled(Codec):
        label = f"{base.label} × {factor:g} (test)"
        media_type = "application/octet-stream"
        extension = "bin"
        quality_range = base.quality_range
        default_quality = base.default_quality
        psnr_hints = base.psnr_hints
        ssimulacra2_hints = base.ssimulacra2_hints
        fast_is_final = True
        auto_gated = True

        def __init__(self):
            self.files: dict[bytes, bytes] = {}
            self.counter = itertools.count()

        def encode(self, image, *, quality=None, fast=False):
            inner = base.encode(image, quality=quality, fast=True)
            key = next(self.counter).to_bytes(KEY, "big")
            self.files[key] = inner
            return key + bytes(max(0, round(len(inner) * factor) - KEY))

        def decode(self, data):
            return base.decode(self.files[data[:KEY]])

    Scaled.name = name
    return Scaled()
