"""Quality targets: what "good enough" means for one upload.

Accepted spellings (case-insensitive; blank means the default, `balanced`):

=====================  ==================================================================
`lossless`             pixel-exact; only lossless codecs compete
`visually-lossless`    SSIMULACRA 2 ≥ 90, every 256-px region ≥ 80
`high`                 SSIMULACRA 2 ≥ 80, every 256-px region ≥ 70
`balanced`             SSIMULACRA 2 ≥ 70, every 256-px region ≥ 60 (default)
`small`                SSIMULACRA 2 ≥ 55, every 256-px region ≥ 45
`ssimulacra2:<score>`  SSIMULACRA 2 ≥ score, every 256-px region ≥ score − 10; 0 < score ≤ 100
`psnr:<dB>`            PSNR ≥ dB, 0 < dB ≤ 100
`msssim:<x>`           MS-SSIM ≥ x, 0 < x ≤ 1
`bytes:<n>`            file size ≤ n bytes, n a whole number ≥ 1 — best quality that fits
`bpp:<x>`              file size ≤ x bits per pixel, 0 < x ≤ 32 — best quality that fits
=====================  ==================================================================

**Why SSIMULACRA 2 for the named targets.** A name is a promise about what a person sees. PSNR
cannot keep it: a dark photo with a smooth sky has a small mean error whatever happens to its
texture (a 4K mountain photo at AVIF quality 8, 50 and 70 measured 41.3, 44.4 and 45.1 dB, while
SSIMULACRA 2 gave 23.7, 72 and 81 and the first was a blocky smear). SSIMULACRA 2 (Sneyers, the
perceptual metric of libjxl; `compression.ssimulacra2`) was fitted to people's judgements, and
its scale reads in words: 90 visually lossless (no difference even flicking between the two), 80
very high (none side by side at 1:1), 70 high (artefacts hard to notice without the original),
50 medium, 30 low. The names take those levels; `small` sits between high and medium.

**The worst-region guard.** The score of a whole photo is a mean, and the mean over a large sky
can hide a destroyed mountain. So a named (or `ssimulacra2:`) target also needs every region of a
fixed grid of `GUARD_REGION`-px squares to score at least the target minus `GUARD_MARGIN`. Both
come from measurements on seven large photos of ../shared/data/photos with AVIF and WebP
(docs/benchmarks/selection_perceptual.md): at the quality where a photo's whole score first
reached 70, its worst 256-px region lay 3–9 points below on the five photos that degrade evenly,
and 14–33 points below on the two whose smooth skies hide smeared rock (Mountain, Peaks). A margin
of 10 leaves the even photos alone (no extra bytes) and makes those two pay what their rock
needs (1.2–1.8 × the bytes). 256 px is the search sample's tile (each tile is one region, so the
sample and the whole image are judged alike) and about what one looks at on a screen at 1:1;
512-px regions dilute a small smeared area with its surroundings: on Peaks the 512-px guard passed
at a quality whose worst 256-px region scored about 44. A photo smaller than one region has one
region, the whole image.

**Lossless inputs.** An exact encoding meets every quality floor (SSIMULACRA 2 scores it 100).
PSNR and MS-SSIM are defined in `compression.metrics` (RGB; alpha composited over black and white,
the worse counting), as is SSIMULACRA 2's handling of alpha.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_TARGET = "balanced"

PSNR_MAX = 100.0  # dB; 8-bit images at 100 dB differ by far less than one level: use `lossless`
SSIMULACRA2_MAX = 100.0  # identical images
BPP_MAX = 32.0  # uncompressed RGBA
BYTES_MAX = 10**12
GUARD_REGION = 256  # px: side of the squares whose worst score the guard checks
GUARD_MARGIN = 10.0  # points of SSIMULACRA 2 the worst region may fall below the target

NAMED_LEVELS = {"visually-lossless": 90.0, "high": 80.0, "balanced": 70.0, "small": 55.0}

NAMED_TARGETS: dict[str, str] = {
    "lossless": "Pixel-exact (only lossless codecs)",
    "visually-lossless": "SSIMULACRA 2 ≥ 90, no 256-px region below 80: no difference even flicking between the two",
    "high": "SSIMULACRA 2 ≥ 80, no 256-px region below 70: no artefact you would notice side by side at 100 %",
    "balanced": (
        "SSIMULACRA 2 ≥ 70, no 256-px region below 60 (default): artefacts hard to notice without the original"
    ),
    "small": "SSIMULACRA 2 ≥ 55, no 256-px region below 45: some softness or artefacts at 100 %, fine at screen size",
}
PARAMETRIC_TARGETS: dict[str, str] = {
    "ssimulacra2:<score>": (
        f"SSIMULACRA 2 at least <score> (0 < score ≤ {SSIMULACRA2_MAX:g}), "
        f"no {GUARD_REGION}-px region below <score> − {GUARD_MARGIN:g}"
    ),
    "psnr:<dB>": f"PSNR at least <dB> (0 < dB ≤ {PSNR_MAX:g})",
    "msssim:<x>": "MS-SSIM at least <x> (0 < x ≤ 1)",
    "bytes:<n>": "At most <n> bytes: the best quality that fits",
    "bpp:<x>": f"At most <x> bits per pixel (0 < x ≤ {BPP_MAX:g}): the best quality that fits",
}

HELP_TEXT = (
    "One of lossless, visually-lossless, high, balanced (default), small, ssimulacra2:<score>, "
    "psnr:<dB>, msssim:<0..1>, bytes:<n> or bpp:<x>."
)


@dataclass(frozen=True)
class Target:
    """A parsed target. Exactly one family is set: lossless, one quality floor (with the guard for
    SSIMULACRA 2), or a size budget."""

    spec: str  # canonical spelling, e.g. "balanced", "ssimulacra2:75", "psnr:35", "bytes:50000"
    lossless: bool = False
    min_psnr: float | None = None
    min_msssim: float | None = None
    min_ssimulacra2: float | None = None
    min_region: float | None = None  # the guard: the worst region's SSIMULACRA 2 floor
    region: int = GUARD_REGION
    max_bytes: int | None = None
    max_bpp: float | None = None

    @property
    def is_budget(self) -> bool:
        return self.max_bytes is not None or self.max_bpp is not None

    @property
    def needs_msssim(self) -> bool:
        return self.min_msssim is not None

    @property
    def needs_ssimulacra2(self) -> bool:
        return self.min_ssimulacra2 is not None

    @property
    def metric(self) -> str:
        """The measurement that decides this target: "exact", "ssimulacra2", "psnr", "msssim",
        "bytes" or "bpp"."""
        if self.lossless:
            return "exact"
        if self.max_bytes is not None:
            return "bytes"
        if self.max_bpp is not None:
            return "bpp"
        if self.min_ssimulacra2 is not None:
            return "ssimulacra2"
        if self.min_msssim is not None:
            return "msssim"
        return "psnr"

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
        if self.min_ssimulacra2 is not None:
            text = f"SSIMULACRA 2 ≥ {self.min_ssimulacra2:g}"
            if self.min_region is not None:
                text += f", every {self.region}-px region ≥ {self.min_region:g}"
            return text
        if self.min_msssim is not None:
            return f"MS-SSIM ≥ {self.min_msssim:g}"
        return f"PSNR ≥ {self.min_psnr:g} dB"

    def is_met(
        self,
        *,
        psnr: float | None = None,
        msssim: float | None = None,
        ssimulacra2: float | None = None,
        worst_region: float | None = None,
        size: int | None = None,
        bpp: float | None = None,
    ) -> bool:
        """Whether measured values satisfy the target. `psnr=inf` means pixel-exact, which meets
        every quality floor. A value the target needs but that was not given counts as not met:
        a PSNR alone never meets an SSIMULACRA 2 target."""
        exact = psnr is not None and math.isinf(psnr) and psnr > 0
        if self.lossless:
            return exact
        if self.max_bytes is not None:
            return size is not None and size <= self.max_bytes
        if self.max_bpp is not None:
            return bpp is not None and bpp <= self.max_bpp + 1e-12
        if exact:
            return True
        if self.min_ssimulacra2 is not None:
            if ssimulacra2 is None or ssimulacra2 < self.min_ssimulacra2:
                return False
            return self.min_region is None or (worst_region is not None and worst_region >= self.min_region)
        if self.min_msssim is not None:
            return msssim is not None and msssim >= self.min_msssim
        return psnr is not None and self.min_psnr is not None and psnr >= self.min_psnr

    def __str__(self) -> str:
        return self.spec


def perceptual(spec: str, score: float) -> Target:
    """An SSIMULACRA 2 target with the worst-region guard."""
    return Target(spec=spec, min_ssimulacra2=score, min_region=score - GUARD_MARGIN)


_NAMED = {
    "lossless": Target(spec="lossless", lossless=True),
    **{name: perceptual(name, score) for name, score in NAMED_LEVELS.items()},
}


def _number(raw: str, text: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"Target {text!r}: {raw!r} is not a number. {HELP_TEXT}") from None
    if not math.isfinite(value):
        raise ValueError(f"Target {text!r}: the value must be a finite number, got {raw!r}.")
    return value


_KINDS = ("ssimulacra2", "ssimulacra", "psnr", "msssim", "ms-ssim", "bytes", "bpp")

# The spellings an API schema documents (plain decimals, lower case), ranges included, so that a
# client generated from it never sends a target parse_target refuses. parse_target also takes
# upper case, spaces and exponents; tests/test_compression_targets.py checks the two agree.
_UP_TO_100 = r"(?:100(?:\.0+)?|[1-9][0-9]?(?:\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)"
_UP_TO_1 = r"(?:1(?:\.0+)?|0\.[0-9]*[1-9][0-9]*)"
_UP_TO_32 = r"(?:32(?:\.0+)?|(?:[1-9]|[12][0-9]|3[01])(?:\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)"
TARGET_PATTERN = (
    r"^(?:" + "|".join(NAMED_TARGETS)
    + rf"|ssimulacra2:{_UP_TO_100}|psnr:{_UP_TO_100}|msssim:{_UP_TO_1}|bpp:{_UP_TO_32}"
    + r"|bytes:(?:[1-9][0-9]{0,11}|1000000000000))?$"
)


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
    if not sep or kind not in _KINDS:
        raise ValueError(f"Unknown target {text!r}. {HELP_TEXT}")
    if raw == "":
        raise ValueError(f"Target {text!r} needs a value after the colon. {HELP_TEXT}")
    if kind in ("ssimulacra2", "ssimulacra"):
        value = _number(raw, text)
        if not 0 < value <= SSIMULACRA2_MAX:
            raise ValueError(
                f"SSIMULACRA 2 target {raw!r} is out of range; use more than 0 and at most "
                f"{SSIMULACRA2_MAX:g} (90 is visually lossless; or 'lossless')."
            )
        return perceptual(f"ssimulacra2:{value:g}", value)
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
