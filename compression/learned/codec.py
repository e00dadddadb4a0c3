"""The learned codec as the portal's registry sees it: `LearnedCodec`, the `Codec` adapter over
`coder` (max effort from `refine`), and `register_learned_codec`, which offers it when its shipped
weights are present. TensorFlow is imported on first use, not when the portal starts.
"""
from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

from PIL import Image

from compression.base import Codec, DecodeCheckError

from . import bitstream
from .coder import EncoderSession, LoadedModel, decode, default_weights_path, load_model
from .zoo import DEFAULT_MODEL


class LearnedCodec(Codec):
    name = DEFAULT_MODEL
    label = "MSCAE (learned)"
    media_type = "application/x-mscae"
    extension = "msc"
    supports_alpha = False
    lossless = False
    quality_range = (0, 100)
    default_quality = 50
    # The search's files are final at fast and default effort; max effort re-encodes the winner
    # with its latents refined on the photo (SGA, refine.py): minutes per photo, for background
    # jobs. 150 steps: about 3 minutes for a 768×512 photo on this 2-core machine (see
    # docs/benchmarks/max_effort.md).
    fast_is_final = True
    effort_presets = {"max": {"refine_steps": 150}}
    # Its search costs `auto` more than the classical codecs' together (docs/benchmarks/auto_gate.md).
    auto_gated = True

    def __init__(self, loaded: LoadedModel | None = None, weights_path: str | Path | None = None):
        self._loaded = loaded
        self._weights_path = weights_path
        # Decided here, not from `_loaded` later: loading the shipped model sets `_loaded` too.
        self._in_memory = loaded is not None and weights_path is None
        # A worker warms the model in its start-up while a job may already ask for it: one load.
        self._load_lock = threading.Lock()

    @functools.cached_property
    def psnr_hints(self) -> tuple[tuple[float, float], ...]:
        """(PSNR, quality) on validation photos, written beside the weights by `train_codec
        --export`; the selector starts its search there."""
        if self._in_memory:
            return ()  # an in-memory model: the shipped model's calibration does not apply
        path = Path(self._weights_path) if self._weights_path else default_weights_path(DEFAULT_MODEL)
        sidecar = path.with_suffix("").with_suffix(".json")
        try:
            return tuple(tuple(p) for p in json.loads(sidecar.read_text())["psnr_hints"])
        except (OSError, ValueError, KeyError, TypeError):
            return ()

    @property
    def loaded(self) -> LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = load_model(DEFAULT_MODEL, self._weights_path)
        return self._loaded

    def warm_up(self) -> None:
        """Load TensorFlow and the model, and code one small image so the transforms are traced:
        a worker does this at start-up, so its first job costs what any other does."""
        image = Image.new("RGB", (64, 64), (128, 96, 64))
        self.decode(self.encode(image, quality=self.default_quality))

    @property
    def model_id(self) -> str:
        return f"{self.loaded.name}/v{bitstream.VERSION}/{self.loaded.digest.hex()}"

    def encode(self, image, *, quality=None, fast=False, refine_steps=0) -> bytes:
        # `fast` changes nothing: the learned codec's effort is `refine_steps` alone.
        from .refine import encode_effort

        return encode_effort(EncoderSession(self.loaded, image), self.checked_quality(quality), int(refine_steps))

    def session(self, image):
        """A search's trials of one photo share its analysis transform (see EncoderSession)."""
        from .refine import encode_effort

        session = EncoderSession(self.loaded, image)
        return lambda *, quality=None, fast=False, refine_steps=0: encode_effort(
            session, self.checked_quality(quality), int(refine_steps))

    def decode(self, data: bytes) -> Image.Image:
        try:
            return Image.fromarray(decode(data, self.loaded), "RGB")
        except bitstream.BitstreamError as exc:
            raise DecodeCheckError(self.name, f"Cannot decode MSCAE file: {exc}") from exc

    def display_bytes(self, data: bytes) -> tuple[bytes, str, str]:
        return self.decode_to_png(data), "image/png", "png"


def register_learned_codec() -> bool:
    """Register `mscae` when its shipped weights are present (checked without importing
    TensorFlow; the model itself loads on first use) and LEARNED_CODEC_ENABLED is on."""
    from django.conf import settings

    from compression.registry import register

    if not getattr(settings, "LEARNED_CODEC_ENABLED", True) or not default_weights_path(DEFAULT_MODEL).exists():
        return False
    register(LearnedCodec())
    return True
