"""Rate–distortion plots (matplotlib, Agg/SVG backends only: no display, no external resources).

SVGs keep text as <text> elements (`svg.fonttype = none`): a third of the size of outlined
glyphs, and the browser's sans-serif renders them.
"""
from __future__ import annotations

import dataclasses
import io
import itertools
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the server and CI have no display

import matplotlib.pyplot as plt  # noqa: E402

STYLES = {
    "mscae": dict(color="#d62728", marker="o", lw=2.2),
    "jpeg": dict(color="#1f77b4", marker="s"),
    "webp": dict(color="#2ca02c", marker="^"),
    "avif": dict(color="#9467bd", marker="D"),
    "pca": dict(color="#8c564b", marker="v"),
    "kmeans": dict(color="#e377c2", marker="P"),
    "png": dict(color="#7f7f7f", marker="*"),
    "webp-lossless": dict(color="#bcbd22", marker="X"),
    "jxl": dict(color="#ff7f0e", marker="h"),
    "jxl-lossless": dict(color="#17becf", marker="p"),
}
LABELS = {"mscae": "MSCAE (ours)", "jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "pca": "PCA",
          "kmeans": "K-Means", "png": "PNG (lossless)", "webp-lossless": "WebP lossless",
          "jxl": "JPEG XL", "jxl-lossless": "JPEG XL lossless"}
METRICS = {"psnr": ("PSNR (dB, RGB)", "psnr"), "msssim": ("MS-SSIM (dB: −10·log10(1−MS-SSIM))", "msssim_db")}
_counter = itertools.count()


def _rc():
    # A fresh hash salt per figure: two inline SVGs on one page must not share element ids.
    return {"svg.fonttype": "none", "svg.hashsalt": f"rd{next(_counter)}", "font.size": 9}


def _style(codec: str) -> dict:
    return STYLES.get(codec, dict(marker="o"))


def rd_figure(summary: list[dict], metric: str = "psnr", title: str = ""):
    """Mean RD curves, one line per codec; lossless codecs as a dashed vertical line at their bpp."""
    ylabel, key = METRICS[metric]
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(7, 4.6))
        by_codec: dict[str, list[dict]] = {}
        for p in summary:
            by_codec.setdefault(p["codec"], []).append(p)
        for codec, points in by_codec.items():
            style = _style(codec)
            lossy = sorted((p["bpp"], p[key]) for p in points if p.get(key) is not None and not p.get("lossless"))
            if lossy:
                xs, ys = zip(*lossy)
                ax.plot(xs, ys, label=LABELS.get(codec, codec), ms=5, **{"lw": 1.5, **style})
            elif points and points[0].get("bpp"):
                ax.axvline(points[0]["bpp"], ls="--", color=style.get("color", "grey"), lw=1,
                           label=f"{LABELS.get(codec, codec)}: {points[0]['bpp']:.2f} bpp")
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (real file size, log scale)")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
    return fig


def save_rd_plots(summary: list[dict], out_dir: str | Path, *, title: str = "") -> list[str]:
    """rd_psnr.{png,svg} and rd_msssim.{png,svg} in out_dir; returns the file names."""
    out_dir = Path(out_dir)
    names = []
    for metric in METRICS:
        fig = rd_figure(summary, metric, title=title)
        with plt.rc_context(_rc()):
            for ext in ("svg", "png"):
                name = f"rd_{metric}.{ext}"
                fig.savefig(out_dir / name, format=ext, dpi=110, metadata={"Date": None} if ext == "svg" else None)
                names.append(name)
        plt.close(fig)
    return names


def _as_dict(candidate) -> dict:
    if dataclasses.is_dataclass(candidate) and not isinstance(candidate, type):
        return dataclasses.asdict(candidate)
    return dict(candidate)


# metric → (axis label, top of the axis when nothing is finite, gap above it of the lossless line)
_CANDIDATE_AXES = {"psnr": ("PSNR (dB)", 50.0, 2.0), "msssim": ("MS-SSIM", 1.0, 0.01),
                   "ssimulacra2": ("SSIMULACRA 2", 100.0, 3.0)}


def candidates_svg(candidates, width: int, height: int, *, chosen: dict | None = None,
                   metric: str = "psnr") -> str:
    """A small inline SVG of one image's candidates: quality (PSNR, or MS-SSIM with
    metric="msssim", or SSIMULACRA 2 with metric="ssimulacra2") against bpp = size·8/(width·height), one colour per codec; hollow markers
    missed the target, a ring marks `chosen` (a dict with codec and params). Lossless candidates
    (PSNR None) sit on a "lossless" line above the rest. Returns "" when there is nothing to
    plot. The string starts at <svg> (no XML prolog), ready for `|safe` in a template."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    items = [_as_dict(c) for c in candidates or []]
    items = [c for c in items if c.get("size")]
    if not items:
        return ""
    if metric not in _CANDIDATE_AXES:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(_CANDIDATE_AXES)}")
    key = metric
    label, default_top, lossless_gap = _CANDIDATE_AXES[key]
    pixels = width * height
    finite = [c[key] for c in items if c.get(key) is not None and math.isfinite(c[key])]
    top = max(finite) if finite else default_top
    lossless_y = top + lossless_gap
    # Drawn as wide as a laptop card and scaled to it (width:100%), so text keeps ~14 px there;
    # phones scroll it sideways inside the card (site.css .chart) rather than shrink it unreadably.
    with plt.rc_context({**_rc(), "font.size": 11}):
        fig, ax = plt.subplots(figsize=(8, 4.6))
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FuncFormatter, LogLocator

        handles, seen, any_missed, any_lossless, xs = [], set(), False, False, []
        for c in items:
            value = c.get(key)
            lossless = value is None or not math.isfinite(value)
            if lossless and key != "psnr" and c.get("psnr") is not None:
                continue  # lossy candidate without this metric measured: nothing to plot
            any_lossless = any_lossless or lossless
            y = lossless_y if lossless else value
            x = c["size"] * 8.0 / pixels
            xs.append(x)
            style = _style(c["codec"])
            colour = style.get("color", "#333333")
            marker = style.get("marker", "o")
            missed = c.get("meets_target") is False
            any_missed = any_missed or missed
            ax.scatter([x], [y], marker=marker, s=36, facecolors="none" if missed else colour,
                       edgecolors=colour, linewidths=1.2, zorder=3)
            if c["codec"] not in seen:
                seen.add(c["codec"])
                handles.append(Line2D([], [], ls="", marker=marker, color=colour,
                                      label=LABELS.get(c["codec"], c["codec"])))
            if chosen and c["codec"] == chosen.get("codec") and c.get("params") == chosen.get("params"):
                ax.scatter([x], [y], marker="o", s=180, facecolors="none", edgecolors="black",
                           linewidths=1.5, zorder=4)
                if "chosen" not in seen:
                    seen.add("chosen")
                    handles.append(Line2D([], [], ls="", marker="o", ms=11, mfc="none", color="black", label="chosen"))
        if any_missed:
            handles.append(Line2D([], [], ls="", marker="o", mfc="none", color="#555555", label="missed target"))
        if xs and max(xs) > 8 * min(xs):
            ax.set_xscale("log")  # a lossless file dwarfs the lossy ones: keep them apart
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # 0.5, 1, 2 — not 10⁰
        if any_lossless:
            ax.axhline(lossless_y, color="#999999", lw=0.8, ls=":")
            ax.annotate("lossless", (0.01, lossless_y), xycoords=("axes fraction", "data"),
                        fontsize=9, color="#555555", va="bottom")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        # Below the plot, not beside it: a phone scrolling the chart sideways still sees it whole.
        ax.legend(handles=handles, fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  ncol=min(len(handles), 4), frameon=False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    svg = buf.getvalue()
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    # The page's CSS scales it to the card's width (site.css .chart svg), keeping the viewBox's ratio.
    return without_inline_css(svg).replace(
        "<svg ", '<svg role="img" aria-label="Rate–distortion points of the candidates" ', 1)


_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>(.*?)</style>\s*", re.S)


def _as_attributes(declarations: str) -> str:
    pairs = (d.split(":", 1) for d in declarations.split(";") if ":" in d)
    return "".join(f' {name.strip()}="{value.strip()}"' for name, value in pairs)


def without_inline_css(svg: str) -> str:
    """Matplotlib's SVG with its CSS turned into presentation attributes (fill="…" rather than
    style="fill: …"), so it can sit inline in a page whose Content-Security-Policy allows no inline
    styles: the attributes are SVG's own and no policy blocks them. Its one <style> element, a
    `*{…}` rule of inherited stroke properties, moves onto the root <svg> element."""
    root_rules = ""
    match = _STYLE_ELEMENT.search(svg)
    if match:
        rule = re.fullmatch(r"\s*\*\s*\{([^}]*)\}\s*", match.group(1))
        if rule is None:
            raise ValueError(f"unexpected CSS in a matplotlib SVG: {match.group(1)[:80]!r}")
        root_rules = _as_attributes(rule.group(1))
        svg = svg[: match.start()] + svg[match.end():]
    svg = _STYLE_ATTRIBUTE.sub(lambda m: _as_attributes(m.group(1)), svg)
    return svg.replace("<svg ", "<svg" + root_rules + " ", 1) if root_rules else svg
