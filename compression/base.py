"""The compression seam: what every codec offers and what compressing an image returns.

Codecs (Pillow's classical formats, the learned `mscae` codec, ...) register in
`compression.registry`; the rest of the portal only calls `compression.services.compress_image`
and `Codec.decode`, so a new codec needs no change elsewhere.
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from PIL import Image


class CodecError(ValueError):
    """A codec could not encode or decode; the message is safe to show a user."""


class DecodeCheckError(CodecError):
    """A codec could not decode its own fresh output (e.g. the learned codec's symbol check
    failed). The selector falls back to other codecs rather than store such a file."""

    def __init__(self, codec: str, message: str):
        super().__init__(message)
        self.codec = codec


class Codec:
    """One image format with a quality knob.

    `quality_range` is the knob's closed interval (higher = better quality, bigger file);
    lossless-only codecs have `quality_range = None`.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    media_type: ClassVar[str]
    extension: ClassVar[str]
    supports_alpha: ClassVar[bool] = False
    lossless: ClassVar[bool] = False  # True: every encoding is exact
    quality_range: ClassVar[tuple[float, float] | None] = (1, 100)
    default_quality: ClassVar[float | None] = 75
    # Smallest step of the quality knob that changes the output (1 for integer knobs); the
    # selector's bisection stops at this resolution.
    quality_step: ClassVar[float] = 1
    # Extra encoder settings the selector tries as separate candidates (e.g. JPEG chroma
    # subsampling); each dict is passed to `encode` as keyword arguments. `({},)`: just one.
    variants: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    # Codecs whose decoding depends on trained weights name them here (model, format version and
    # weights digest), so stored files of a replaced model can be found (`recompress_learned`).
    model_id: str | None = None
    # Name of this codec's exact (lossless) sibling, used when a lossless target names a lossy codec.
    lossless_variant: ClassVar[str | None] = None
    # Typical (PSNR dB, quality) pairs, ascending, where the search starts for a PSNR target; a
    # good start saves encodes, a poor one only costs them (the search never depends on it).
    psnr_hints: ClassVar[tuple[tuple[float, float], ...]] = ()
    # The same for SSIMULACRA 2 targets: typical (score, quality) pairs, ascending. Without them a
    # search starts at `default_quality`.
    ssimulacra2_hints: ClassVar[tuple[tuple[float, float], ...]] = ()
    # False keeps a codec out of `codec="auto"` (it can still be named explicitly), e.g. a codec
    # too slow to encode ~5 times per upload.
    auto_candidate: ClassVar[bool] = True
    # True for a codec whose search costs `auto` more than the others together (the learned
    # codec): it is searched after them, and only when one cheap probe says it can win
    # (`selection.gate`). Named explicitly, it is searched like any codec.
    auto_gated: ClassVar[bool] = False
    # Order in which the selector starts searches (higher first). Codecs that usually give the
    # smallest files go first, so their results let weaker candidates stop early.
    search_priority: ClassVar[int] = 0
    # True when `fast=True` already is the best setting, so the selector skips the final re-encode.
    fast_is_final: ClassVar[bool] = False
    # Extra `encode` keyword arguments for the final encode (`fast=False`) at each effort level
    # ("default", "max"), e.g. a slower encoder preset that makes smaller files; a level not
    # listed is a plain `fast=False` encode. The "fast" level keeps the searched (`fast=True`) file.
    effort_presets: ClassVar[dict[str, dict[str, Any]]] = {}

    def session(self, image: Image.Image):
        """What a search encodes one image through, trial after trial: a callable taking
        `quality=…, fast=…, **options`. Codecs with per-image work that does not depend on the
        quality (the learned codec's analysis transform) do it once per session."""
        return functools.partial(self.encode, image)

    def encode(self, image: Image.Image, *, quality: float | None = None, fast: bool = False) -> bytes:
        """Encode an RGB (or, when `supports_alpha`, RGBA) image.

        `fast=True` asks for quick encoder settings (used while searching); the chosen
        parameters are encoded once more with `fast=False`. Codecs with `variants` also accept
        those keyword arguments.
        """
        raise NotImplementedError

    def decode(self, data: bytes) -> Image.Image:
        raise NotImplementedError

    def checked_quality(self, quality) -> float:
        """The quality as a number inside `quality_range` (the default when None), or a
        CodecError quoting the bad value."""
        if quality is None:
            quality = self.default_quality
        lo, hi = self.quality_range  # type: ignore[misc]
        try:
            q = float(quality)
        except (TypeError, ValueError):
            raise CodecError(f"Quality {quality!r} is not a number; {self.name} takes {lo:g}–{hi:g}.") from None
        if not math.isfinite(q) or not lo <= q <= hi:
            raise CodecError(f"Quality {quality!r} is out of range for {self.name}; use {lo:g}–{hi:g}.")
        return q

    def decode_to_png(self, data: bytes) -> bytes:
        """This codec's file as a PNG, for viewers that cannot read the codec's own format."""
        import io

        buf = io.BytesIO()
        self.decode(data).save(buf, format="PNG")
        return buf.getvalue()

    def display_bytes(self, data: bytes) -> tuple[bytes, str, str]:
        """Bytes a browser can show: (data, media_type, extension). Browsers show our
        classical formats as they are; codecs browsers do not know override this (PNG)."""
        return data, self.media_type, self.extension


def json_safe(value):
    """`value` as JSON can hold it: infinities and NaN (a lossless PSNR) become None, tuples
    lists, keys strings, anything else its text."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        return json_safe(value.item())
    return str(value)


@dataclass
class Candidate:
    """One encoding tried while choosing a codec."""

    codec: str
    params: dict[str, Any]
    size: int
    psnr: float | None
    msssim: float | None
    seconds: float
    meets_target: bool | None = None
    ssimulacra2: float | None = None  # measured when the target needs it
    ssimulacra2_worst: float | None = None  # its worst region (targets.GUARD_REGION px)


@dataclass
class CompressionResult:
    codec: str
    params: dict[str, Any]
    data: bytes
    media_type: str
    extension: str
    size: int
    width: int
    height: int
    psnr: float | None  # None for lossless (infinite)
    ssim: float | None
    msssim: float | None
    bpp: float
    seconds: float
    candidates: list[Candidate] = field(default_factory=list)
    reason: str = ""
    ssimulacra2: float | None = None  # whole image, full size; 100 for an exact encoding
    ssimulacra2_worst: float | None = None  # its worst region (targets.GUARD_REGION px)
    # Which measurement decided that this file is good enough, and its value: "ssimulacra2",
    # "psnr", "msssim" (a quality floor), "bytes", "bpp" (a budget: the file's size), "exact"
    # (lossless; no value), or "quality" (a quality the user set; its value).
    decided_by: str = ""
    decided_value: float | None = None

    def __post_init__(self):
        # Stored as JSON (database, API) as it is: no caller has to reshape it.
        self.params = json_safe(self.params)
        for name in ("psnr", "ssim", "msssim", "ssimulacra2", "ssimulacra2_worst", "decided_value"):
            setattr(self, name, json_safe(None if getattr(self, name) is None else float(getattr(self, name))))

    def candidate_dicts(self) -> list[dict[str, Any]]:
        """Every encode tried, as JSON-safe dicts."""
        return [json_safe(asdict(c)) for c in self.candidates]
