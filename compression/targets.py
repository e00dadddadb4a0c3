"""Quality targets: what "good enough" means for one upload.

Accepted spellings (case-insensitive; blank means the default, `balanced`):

==================  =====================================================================
`lossless`          pixel-exact; only lossless codecs compete
`visually-lossless` MS-SSIM ≥ 0.99 **or** PSNR ≥ 40 dB
`high`              PSNR ≥ 36 dB
`balanced`          PSNR ≥ 33 dB (default)
`small`             PSNR ≥ 30 dB
`psnr:<dB>`         PSNR ≥ dB, 0 < dB ≤ 100
`msssim:<x>`        MS-SSIM ≥ x, 0 < x ≤ 1
`bytes:<n>`         file size ≤ n bytes, n a whole number ≥ 1 — best quality that fits
`bpp:<x>`           file size ≤ x bits per pixel, 0 < x ≤ 32 — best quality that fits
==================  =====================================================================

PSNR and MS-SSIM are defined in `compression.metrics` (RGB; alpha composited over black and white).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_TARGET = "balanced"

PSNR_MAX = 100.0  # dB; 8-bit images at 100 dB differ by far less than one level: use `lossless`
BPP_MAX = 32.0  # uncompressed RGBA
BYTES_MAX = 10**12

NAMED_TARGETS: dict[str, str] = {
    "lossless": "Pixel-exact (only lossless codecs)",
    "visually-lossless": "MS-SSIM ≥ 0.99 or PSNR ≥ 40 dB",
    "high": "PSNR ≥ 36 dB",
    "balanced": "PSNR ≥ 33 dB (default)",
    "small": "PSNR ≥ 30 dB",
}
PARAMETRIC_TARGETS: dict[str, str] = {
    "psnr:<dB>": f"PSNR at least <dB> (0 < dB ≤ {PSNR_MAX:g})",
    "msssim:<x>": "MS-SSIM at least <x> (0 < x ≤ 1)",
    "bytes:<n>": "At most <n> bytes: the best quality that fits",
    "bpp:<x>": f"At most <x> bits per pixel (0 < x ≤ {BPP_MAX:g}): the best quality that fits",
}

HELP_TEXT = (
    "One of lossless, visually-lossless, high, balanced (default), small, psnr:<dB>, "
    "msssim:<0..1>, bytes:<n> or bpp:<x>."
)


@dataclass(frozen=True)
class Target:
    """A parsed target. Exactly one family is set: lossless, quality floors, or a size budget."""

    spec: str  # canonical spelling, e.g. "balanced", "psnr:35", "bytes:50000"
    lossless: bool = False
    min_psnr: float | None = None
    min_msssim: float | None = None
    either: bool = False  # True: meeting min_psnr OR min_msssim is enough (visually-lossless)
    max_bytes: int | None = None
    max_bpp: float | None = None

    @property
    def is_budget(self) -> bool:
        return self.max_bytes is not None or self.max_bpp is not None

    @property
    def needs_msssim(self) -> bool:
        return self.min_msssim is not None

    def byte_budget(self, width: int, height: int) -> int | None:
        if self.max_bytes is not None:
            return self.max_bytes
        if self.max_bpp is not None:
            return int(math.floor(self.max_bpp * width * height / 8))
        return None

    def describe(self) -> str:
        if self.lossless:
            return "lossless (pixel-exact)"
        if self.max_bytes is not None:
            return f"≤ {self.max_bytes:,} bytes".replace(",", " ")
        if self.max_bpp is not None:
            return f"≤ {self.max_bpp:g} bpp"
        parts = []
        if self.min_msssim is not None:
            parts.append(f"MS-SSIM ≥ {self.min_msssim:g}")
        if self.min_psnr is not None:
            parts.append(f"PSNR ≥ {self.min_psnr:g} dB")
        return (" or " if self.either else " and ").join(parts)

    def is_met(
        self,
        *,
        psnr: float | None = None,
        msssim: float | None = None,
        size: int | None = None,
        bpp: float | None = None,
    ) -> bool:
        """Whether measured values satisfy the target. `psnr=inf` means pixel-exact.

        A value the target needs but that was not given counts as not met."""
        if self.lossless:
            return psnr is not None and math.isinf(psnr) and psnr > 0
        if self.max_bytes is not None:
            return size is not None and size <= self.max_bytes
        if self.max_bpp is not None:
            return bpp is not None and bpp <= self.max_bpp + 1e-12
        checks = []
        if self.min_psnr is not None:
            checks.append(psnr is not None and psnr >= self.min_psnr)
        if self.min_msssim is not None:
            checks.append(msssim is not None and msssim >= self.min_msssim)
        return any(checks) if self.either else all(checks)

    def __str__(self) -> str:
        return self.spec


_NAMED = {
    "lossless": Target(spec="lossless", lossless=True),
    "visually-lossless": Target(spec="visually-lossless", min_psnr=40.0, min_msssim=0.99, either=True),
    "high": Target(spec="high", min_psnr=36.0),
    "balanced": Target(spec="balanced", min_psnr=33.0),
    "small": Target(spec="small", min_psnr=30.0),
}


def _number(raw: str, text: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"Target {text!r}: {raw!r} is not a number. {HELP_TEXT}") from None
    if not math.isfinite(value):
        raise ValueError(f"Target {text!r}: the value must be a finite number, got {raw!r}.")
    return value


def parse_target(text: str | Target | None) -> Target:
    """Parse a target spelling; raises ValueError quoting the bad value."""
    if isinstance(text, Target):
        return text
    if text is None:
        return _NAMED[DEFAULT_TARGET]
    if not isinstance(text, str):
        raise ValueError(f"Target {text!r} is not text. {HELP_TEXT}")
    key = text.strip().lower()
    if key == "":
        return _NAMED[DEFAULT_TARGET]
    if key in _NAMED:
        return _NAMED[key]
    kind, sep, _ = key.partition(":")
    kind = kind.strip()
    raw = text.strip().partition(":")[2].strip()  # quoted back as the user wrote it
    if not sep or kind not in ("psnr", "msssim", "ms-ssim", "bytes", "bpp"):
        raise ValueError(f"Unknown target {text!r}. {HELP_TEXT}")
    if raw == "":
        raise ValueError(f"Target {text!r} needs a value after the colon. {HELP_TEXT}")
    if kind == "psnr":
        value = _number(raw, text)
        if not 0 < value <= PSNR_MAX:
            raise ValueError(
                f"PSNR target {raw!r} dB is out of range; use more than 0 and at most {PSNR_MAX:g} dB "
                "(or 'lossless')."
            )
        return Target(spec=f"psnr:{value:g}", min_psnr=value)
    if kind in ("msssim", "ms-ssim"):
        value = _number(raw, text)
        if not 0 < value <= 1:
            raise ValueError(f"MS-SSIM target {raw!r} is out of range; use a number above 0 and at most 1.")
        return Target(spec=f"msssim:{value:g}", min_msssim=value)
    if kind == "bytes":
        if not raw.isdigit():
            raise ValueError(f"Byte budget {raw!r} is not a whole number of bytes (e.g. bytes:50000).")
        value = int(raw)
        if not 1 <= value <= BYTES_MAX:
            raise ValueError(f"Byte budget {raw!r} is out of range; use 1 to {BYTES_MAX} bytes.")
        return Target(spec=f"bytes:{value}", max_bytes=value)
    value = _number(raw, text)
    if not 0 < value <= BPP_MAX:
        raise ValueError(f"Bits-per-pixel budget {raw!r} is out of range; use more than 0 and at most {BPP_MAX:g}.")
    return Target(spec=f"bpp:{value:g}", max_bpp=value)
