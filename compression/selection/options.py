"""What a caller asked for (codec, target, quality, effort), checked in one place.

The upload page, the API and `compress_image` all go through `parse_request`, so a bad value gets
the same message everywhere; the messages quote the bad value and are safe to show a user.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..base import CodecError
from ..registry import available_codecs, get_codec
from ..targets import Target, parse_target

EFFORTS = ("fast", "default", "max")
DEFAULT_EFFORT = "default"
EFFORT_CHOICES = (
    # Short enough for a select on a phone; the form's help says the rest.
    ("fast", "Fast"),
    ("default", "Default: smaller, slower"),
    ("max", "Max: smallest, slowest"),
)


@dataclass(frozen=True)
class Request:
    codec: str  # "auto" or a registered codec's name
    target: Target
    quality: float | None
    effort: str


def parse_effort(effort: str | None) -> str:
    if effort is None or (isinstance(effort, str) and not effort.strip()):
        return DEFAULT_EFFORT
    key = effort.strip().lower() if isinstance(effort, str) else effort
    if key not in EFFORTS:
        raise CodecError(f"Unknown effort {effort!r}; choose one of: {', '.join(EFFORTS)}.")
    return key


def parse_codec(codec: str | None) -> str:
    if codec is None or (isinstance(codec, str) and not codec.strip()):
        return "auto"
    if not isinstance(codec, str):
        raise CodecError(f"Codec {codec!r} is not a name; choose auto or a codec name.")
    name = codec.strip().lower()
    if name != "auto":
        get_codec(name)  # CodecError naming the choices
    return name


def parse_quality(quality, codec: str) -> float | None:
    """None, or a finite number the codec accepts. With `auto` the quality is not used (the search
    chooses it), but a value no codec accepts is still refused rather than silently dropped."""
    if quality is None or (isinstance(quality, str) and not quality.strip()):
        return None
    if isinstance(quality, bool):
        raise CodecError(f"Quality {quality!r} is not a number.")
    try:
        value = float(quality)
    except (TypeError, ValueError):
        raise CodecError(f"Quality {quality!r} is not a number.") from None
    if not math.isfinite(value):
        raise CodecError(f"Quality {quality!r} is not a finite number.")
    if codec == "auto":
        ranges = [c.quality_range for c in available_codecs() if c.quality_range is not None]
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        if not lo <= value <= hi:
            raise CodecError(
                f"Quality {quality!r} is out of range; codecs take {lo:g}–{hi:g} "
                "(and auto chooses the quality itself: leave it empty)."
            )
        return value
    chosen = get_codec(codec)
    if chosen.quality_range is None:
        return value  # a lossless codec has no quality knob: the selector notes it is ignored
    return chosen.checked_quality(value)


def parse_request(*, codec=None, target=None, quality=None, effort=None) -> Request:
    """The checked request; CodecError (a ValueError) or ValueError quoting the bad value."""
    name = parse_codec(codec)
    return Request(
        codec=name,
        target=parse_target(target),
        quality=parse_quality(quality, name),
        effort=parse_effort(effort),
    )
