"""The codec registry: every codec the portal can use, by name.

The classical Pillow codecs and the JPEG XL codecs are registered on first use; others (the
learned `mscae` codec) call `register()` themselves. Imports go one way only, registry → codecs
(and jxl) → base: a codec module never imports the registry, so `compression.codecs` and
`compression.jxl` can be imported on their own. The selector iterates `available_codecs()`, so a newly registered
codec becomes a candidate without any change elsewhere.
"""
from __future__ import annotations

import threading

from .base import Codec, CodecError
from .codecs import CLASSICAL_CODECS
from .jxl import JXL_CODECS

_codecs: dict[str, Codec] = {}
_lock = threading.RLock()
_defaults_loaded = False


def _ensure_defaults() -> None:
    global _defaults_loaded
    if _defaults_loaded:
        return
    with _lock:
        if _defaults_loaded:
            return
        _defaults_loaded = True
        for codec in (*CLASSICAL_CODECS, *JXL_CODECS):
            register(codec)


def register(codec: Codec) -> Codec:
    """Add (or replace, by name) a codec; returns it so it can be used as a decorator-like call."""
    name = getattr(codec, "name", None)
    if not name or not isinstance(name, str):
        raise CodecError(f"A codec needs a string name, got {name!r}.")
    with _lock:
        _codecs[name] = codec
    return codec


def unregister(name: str) -> None:
    with _lock:
        _codecs.pop(name, None)


def available_codecs() -> list[Codec]:
    _ensure_defaults()
    with _lock:
        return list(_codecs.values())


def get_codec(name: str) -> Codec:
    _ensure_defaults()
    with _lock:
        codec = _codecs.get(name) if isinstance(name, str) else None
        if codec is None:
            choices = ", ".join(sorted(_codecs))
            raise CodecError(f"Unknown codec {name!r}; choose one of: auto, {choices}.")
        return codec


def codec_choices(*, include_auto: bool = True) -> list[tuple[str, str]]:
    """(value, label) pairs for a form's choice field, `auto` first."""
    choices = [("auto", "Automatic (smallest file meeting the target)")] if include_auto else []
    return choices + [(c.name, c.label) for c in available_codecs()]
