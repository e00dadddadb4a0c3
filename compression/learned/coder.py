"""The learned codec's coder: load a model's weights and coding tables once per process (or adopt
an in-memory model), encode a photo to an `.msc` file (`EncoderSession`: one photo, many
qualities) and decode any `.msc` file, or refuse it with a BitstreamError that says why.

Quality is 0–100 like the classical codecs; it maps linearly onto the model's continuous knob
0 … K−1 (K trained levels, as many as its weights have, interpolated in between), so 100 is always
the top level. Files record the knob, not the quality, and name the weights that made them. Max
effort (`refine`) and the portal's `Codec` adapter (`codec`) build on this module; TensorFlow is
imported only when a model is built.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from compression.base import CodecError

from . import bitstream
from .coding import DOWNSAMPLING, pad
from .zoo import DEFAULT_MODEL, MODELS, level_lambdas, model_config

_lock = threading.Lock()
_loaded: dict[tuple[str, str], "LoadedModel"] = {}


@dataclass
class LoadedModel:
    name: str
    model: object  # MSCAE
    digest: bytes

    @property
    def num_levels(self) -> int:
        return self.model.num_levels

    def knob(self, quality: float) -> float:
        return float(np.clip(quality, 0, 100)) / 100.0 * (self.num_levels - 1)


def weights_digest(model) -> bytes:
    """What a file is tied to: the float weights and the integer coding tables."""
    from .tables import digest

    weights = [np.asarray(w.numpy() if hasattr(w, "numpy") else w) for w in model.weights]
    return digest(model.tables, weights)[: bitstream.DIGEST_BYTES]


def default_weights_path(name: str) -> Path:
    from django.conf import settings

    return Path(settings.CODEC_WEIGHTS_DIR) / f"{name}.weights.h5"


def synthetic_images(count: int = 3, side: int = 128) -> list[np.ndarray]:
    """Smooth gradients with noise: calibration for in-memory models that have no photos."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    return [
        np.clip(np.stack([128 + 90 * np.sin(xx / (4 + i + c) + c) * np.cos(yy / (6 + i)) for c in range(3)], -1)
                + rng.normal(0, 8, (side, side, 3)), 0, 255).astype(np.uint8)
        for i in range(count)
    ]


def wrap_model(name: str, model, calibration_images=None) -> LoadedModel:
    """Adopt an in-memory model (tests, training, export): build its integer coding tables,
    calibrated on `calibration_images` (validation photos at export; synthetic ones otherwise)."""
    from .tables import build_tables

    model.tables = build_tables(model, calibration_images or synthetic_images())
    return LoadedModel(name, model, weights_digest(model))


def load_model(name: str = DEFAULT_MODEL, weights_path: str | Path | None = None) -> LoadedModel:
    """Build the model and load its weights and coding tables once per process (thread-safe).
    The tables are read, never rebuilt: see tables.py."""
    from .tables import CodingTables, TablesError, tables_path

    path = Path(weights_path) if weights_path else default_weights_path(name)
    key = (name, str(path))
    with _lock:
        if key not in _loaded:
            if not path.exists():
                raise CodecError(f"Weights for learned model {name!r} not found at {str(path)!r}")
            from .levels import num_levels_in
            from .models import build_model

            config = model_config(name)
            try:  # as many levels as the weights have (zoo.LAMBDAS)
                lambdas = level_lambdas(num_levels_in(path))
            except ValueError as exc:
                raise CodecError(str(exc)) from exc
            model = build_model(config["N"], config["M"], lambdas)
            model.load_weights(path)
            try:
                model.tables = CodingTables.load(tables_path(path))
            except TablesError as exc:
                raise CodecError(str(exc)) from exc
            _loaded[key] = LoadedModel(name, model, weights_digest(model))
        return _loaded[key]


def save_model(loaded: LoadedModel, weights_path: str | Path) -> None:
    """Write the weights and their coding tables side by side."""
    from .tables import tables_path

    loaded.model.save_weights(weights_path)
    loaded.model.tables.save(tables_path(weights_path))


def _to_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            raise CodecError("The learned codec stores RGB only; this image has an alpha channel")
        image = image.convert("RGB")
        return np.asarray(image, dtype=np.uint8)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise CodecError(f"expected an RGB uint8 image, got array {arr.shape} {arr.dtype}")
    return arr


class EncoderSession:
    """One photo, many qualities: what a rate search (the selector's trials, `manage.py codec
    --target-bpp`) encodes. The analysis transform, the encoder's largest, does not depend on the
    quality, so it runs once per session; `compress` itself stays a pure function of its inputs."""

    def __init__(self, loaded: LoadedModel, image):
        self.loaded = loaded
        self.array = _to_array(image)
        self._analysis = None
        self._lock = threading.Lock()

    def analysis(self) -> np.ndarray:
        with self._lock:  # parallel trials of one search share it
            if self._analysis is None:
                # The padded copy, as large as the photo, lives only while g_a runs.
                self._analysis = self.loaded.model.analysis(pad(self.array))
            return self._analysis

    def encode_with_estimate(self, quality: float, analysis: np.ndarray | None = None) -> tuple[bytes, float]:
        """-> (.msc file, the bits the entropy models predicted for its two coded strings).
        `analysis`: latents to code in place of g_a(photo) (max effort's refined ones)."""
        h, w = self.array.shape[:2]
        knob = self.loaded.knob(quality)
        analysis = self.analysis() if analysis is None else analysis
        compressed = self.loaded.model.compress(None, knob, analysis=analysis)
        y_string, z_string = compressed.strings
        header = bitstream.Header(self.loaded.name, self.loaded.digest,
                                  bitstream.symbols_digest(*compressed.symbols), knob, h, w)
        return bitstream.pack(header, z_string, y_string), compressed.estimated_bits

    def encode(self, quality: float, analysis: np.ndarray | None = None) -> bytes:
        return self.encode_with_estimate(quality, analysis)[0]


def encode(loaded: LoadedModel, image, quality: float) -> bytes:
    return EncoderSession(loaded, image).encode(quality)


def encode_with_estimate(loaded: LoadedModel, image, quality: float) -> tuple[bytes, float]:
    return EncoderSession(loaded, image).encode_with_estimate(quality)


def read_header(data: bytes) -> bitstream.Header:
    return bitstream.unpack(data)[0]


def decode(data: bytes, loaded: LoadedModel | None = None) -> np.ndarray:
    """Any bytes -> (H, W, 3) uint8, or BitstreamError with a clear message."""
    from .entropy_models import EntropyCoderError

    header, z_string, y_string = bitstream.unpack(data)
    if loaded is None:
        if header.model not in MODELS:
            raise bitstream.BitstreamError(
                f"file was made by learned model {header.model!r}, which this server does not have"
            )
        try:
            loaded = load_model(header.model)
        except CodecError as exc:
            raise bitstream.BitstreamError(str(exc)) from exc
    if header.model != loaded.name or header.digest != loaded.digest:
        raise bitstream.BitstreamError(
            f"file was made by model {header.model!r} (weights {header.digest.hex()[:12]}), "
            f"but the decoder has {loaded.name!r} (weights {loaded.digest.hex()[:12]}); re-encode it from its "
            "original (images kept in the vault: python manage.py recompress_learned)"
        )
    if not 0 <= header.quality <= loaded.num_levels - 1:
        raise bitstream.BitstreamError(f"quality {header.quality:g} is outside this model's levels")
    shape = (-(-header.height // DOWNSAMPLING), -(-header.width // DOWNSAMPLING))

    def check(z_symbols, y_symbols):
        if bitstream.symbols_digest(z_symbols, y_symbols) != header.symbols_digest:
            raise bitstream.BitstreamError(
                "decoded symbols differ from the encoded ones (the file is damaged, or this machine "
                "computes the model differently from the encoder)"
            )

    try:
        out = loaded.model.decompress((y_string, z_string), shape, header.quality, check=check)
    except EntropyCoderError as exc:
        raise bitstream.BitstreamError(str(exc)) from exc
    return out[: header.height, : header.width]
