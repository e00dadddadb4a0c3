"""How the detail page tells a person what the compressor did: which candidate won, the
parameters worth knowing, and why, in one plain sentence.

Everything here reads `ImageRecord.codec_params` and `.candidates` as `compression.services`
wrote them; internals (digests, encoder effort, MS-SSIM scales) are left out on purpose. Those
are the exact figures once the page opened them (`images.opening.reveal_figures`); without the
vault's key a record has no candidates nor scores (vault/figures.py), and these say nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

CODEC_NAMES = {
    "jpeg": "JPEG", "png": "PNG", "webp": "WebP", "webp-lossless": "lossless WebP", "avif": "AVIF",
    "jxl": "JPEG XL", "jxl-lossless": "lossless JPEG XL", "mscae": "our learned codec (MSCAE)",
}
HOW_CHOSEN = {
    "auto": "automatic: every suitable codec searched",
    "search": "this codec's quality searched",
    "fixed": "the quality you set",
}


def codec_name(codec: str) -> str:
    return CODEC_NAMES.get(codec, codec)


def _quality_text(value) -> str:
    return f"{float(value):g}"


def _is_winner(candidate: dict, record) -> bool:
    # The record's params are the winner's plus bookkeeping (target, digest, ...): the winner is
    # the candidate of that codec and size whose every own param agrees with the record's. The
    # stored file is larger than the codec's by the EXIF added to it (`metadata_bytes`).
    params = record.codec_params or {}
    return (
        candidate.get("codec") == record.codec
        and candidate.get("size") == (record.compressed_size or 0) - int(params.get("metadata_bytes") or 0)
        and all(params.get(k) == v for k, v in (candidate.get("params") or {}).items())
    )


def winner_index(record) -> int | None:
    """Position of the stored encoding among `record.candidates` (the last match: final encodes
    come after the search's), or None for records from before candidates were kept."""
    matches = [i for i, c in enumerate(record.candidates or []) if _is_winner(c, record)]
    return matches[-1] if matches else None


def shown_params(record) -> list[tuple[str, str]]:
    """(label, value) pairs a person can act on, in a fixed order."""
    params = record.codec_params or {}
    rows = []
    if params.get("quality") is not None:
        rows.append(("Quality", _quality_text(params["quality"])))
    if params.get("subsampling"):
        rows.append(("Chroma subsampling", params["subsampling"]))
    if params.get("target_description"):
        met = params.get("target_met")
        rows.append(("Target", params["target_description"] + ("" if met is None else " (met)" if met else " (not met)")))
    if params.get("selection") in HOW_CHOSEN:
        rows.append(("Chosen by", HOW_CHOSEN[params["selection"]]))
    if params.get("fallback_from"):
        rows.append(("Fallback", f"{codec_name(params['fallback_from'])} failed its decode check and was not used"))
    return rows


@dataclass
class _Pick:
    codec: str
    size: int
    quality: float | None
    psnr: float | None


def _picks(candidates: list[dict]) -> list[_Pick]:
    return [
        _Pick(c["codec"], c["size"], (c.get("params") or {}).get("quality"), c.get("psnr"))
        for c in candidates
        if c.get("size")
    ]


def _label(codec: str, quality) -> str:
    return codec_name(codec) + ("" if quality is None else f" at quality {_quality_text(quality)}")


def _quality_words(psnr) -> str:
    return "pixel-exact" if psnr is None else f"PSNR {psnr:.1f} dB"


def _record_quality_words(record) -> str:
    """The stored file's quality in the terms its target was judged on."""
    if record.decided_by == "ssimulacra2" and record.ssimulacra2 is not None:
        return decided_text(record)
    return _quality_words(record.psnr)


def decided_text(record) -> str | None:
    """What the target was judged on, e.g. "SSIMULACRA 2 71.3 (worst 256-px region 63.0)"; None
    for records stored before this was kept."""
    value = record.decided_value
    by = record.decided_by
    if by == "ssimulacra2" and value is not None:
        text = f"SSIMULACRA 2 {value:.1f}"
        if record.ssimulacra2_worst is not None:
            text += f" (worst 256-px region {record.ssimulacra2_worst:.1f})"
        return text
    if by == "psnr" and value is not None:
        return f"PSNR {value:.2f} dB"
    if by == "msssim" and value is not None:
        return f"MS-SSIM {value:.4f}"
    if by in ("bytes", "bpp"):
        return "the file's size (a size budget)"
    if by == "exact":
        return "exactness (every pixel kept)"
    if by == "quality" and value is not None:
        return f"the quality you set ({value:g})"
    return None


def plain_reason(record) -> str | None:
    """The choice in one sentence, e.g. "AVIF at quality 52 was the smallest file that kept PSNR ≥
    33 dB: 41 % smaller than WebP, the runner-up." None when the record lacks what it needs (the
    page then shows the compressor's own log)."""
    params = record.codec_params or {}
    target = params.get("target_description")
    winner_at = winner_index(record)
    if not target or params.get("selection") not in HOW_CHOSEN or winner_at is None:
        return None
    candidates = record.candidates
    label = _label(record.codec, params.get("quality"))
    if params["selection"] == "fixed":
        text = f"{label}, the quality you chose"
        return text + ("." if params.get("target_met") else f"; it does not reach {target}.")
    if not params.get("target_met"):
        return f"No candidate reached {target}; {label} came closest ({_record_quality_words(record)})."
    # A large image is searched on a sample of tiles: only sizes measured on that sample compare.
    sampled = [c for c in candidates if (c.get("params") or {}).get("sample")]
    pool = _picks([c for c in (sampled or candidates) if c.get("meets_target")])
    on_sample = " (compared on a sample of the image)" if sampled else ""
    rivals = [p for p in pool if p.codec != record.codec]
    if target.startswith("≤"):  # a size budget: the best quality that fits
        text = f"{label} gave the best quality that fits {target} ({_quality_words(record.psnr)})"
        finite = [p for p in rivals if p.psnr is not None]
        if finite:
            best = max(finite, key=lambda p: p.psnr)
            text += f"; the best {codec_name(best.codec)} reached {_quality_words(best.psnr)}{on_sample}"
        return text + "."
    kept = "was the smallest lossless file" if "lossless" in target else f"was the smallest file that kept {target}"
    own = [p for p in pool if p.codec == record.codec]
    if not rivals or not own:
        alone = "only this codec was searched" if params["selection"] == "search" else "no other codec met the target"
        return f"{label} {kept}; {alone}."
    ours = min(own, key=lambda p: p.size) if sampled else _picks([candidates[winner_at]])[0]
    runner = min(rivals, key=lambda p: p.size)
    saving = (1 - ours.size / runner.size) * 100
    if round(saving) <= 0:  # a rival's fast trial can be as small; the final encode decided
        return f"{label} {kept}; {codec_name(runner.codec)}, the runner-up, was about as small{on_sample}."
    return f"{label} {kept}: {saving:.0f} % smaller than {codec_name(runner.codec)}, the runner-up{on_sample}."


# Media types every browser shows in <img> as they are (vault.responses.BROWSER_FORMATS).
SHOWN_AS_IS = {"image/jpeg", "image/png", "image/webp", "image/avif"}


def preview_variant(record) -> str:
    """What the detail page shows large: the compressed file where a browser reads it as stored
    (no decoding on the way out), else the thumbnail (the learned codec's and JPEG XL's files
    would be decoded on every page view)."""
    if record.has_compressed and record.compressed_media_type in SHOWN_AS_IS:
        return "compressed-display"
    return "thumbnail"
