"""Write an evaluation's results: results.json (everything, the Benchmarks page reads it),
results.csv (one row per image × codec × quality), the RD plots and report.md."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from . import evaluator, plots

RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_MD = "report.md"
CSV_FIELDS = ("image", "width", "height", "codec", "quality", "params", "bytes", "bpp", "psnr",
              "msssim", "msssim_db", "ssimulacra2", "ssimulacra2_worst", "encode_s", "decode_s", "lossless")


def _clean(value):
    """JSON has no NaN/inf: those become null (the readers treat null as "not applicable")."""
    if isinstance(value, float):
        # 6 significant digits: far below measurement noise, and keeps the committed file small.
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _fmt(value, spec: str, none: str = "–") -> str:
    return none if value is None else format(value, spec)


def build_results(rows: list[dict], meta: dict) -> dict:
    summary = evaluator.summarise(rows)
    return _clean({
        "meta": meta,
        "summary": summary,
        "bd_rate": evaluator.bd_rates(summary),
        "timings": evaluator.timings(rows),
        "rows": rows,
    })


def write_report(rows: list[dict], out_dir: str | Path, meta: dict) -> dict:
    """Write all outputs to out_dir; returns the results dict (as in results.json)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = build_results(rows, meta)
    results["plots"] = plots.save_rd_plots(results["summary"], out_dir, title=meta.get("title", ""))
    (out_dir / RESULTS_JSON).write_text(dump_results(results))
    with open(out_dir / RESULTS_CSV, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "params": json.dumps(row["params"], sort_keys=True),
                             "psnr": "inf" if row["psnr"] is None else row["psnr"]})
    (out_dir / REPORT_MD).write_text(render_markdown(results))
    return results


def dump_results(results: dict) -> str:
    """Indented JSON, except one line per measurement row (readable diffs, a third of the size)."""
    body = {k: v for k, v in results.items() if k != "rows"}
    text = json.dumps(body, indent=1, ensure_ascii=False)
    rows = ",\n".join("  " + json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in results.get("rows", []))
    return text[:-2] + ',\n "rows": [\n' + rows + "\n ]\n}\n"


def bd_table_rows(results: dict) -> list[dict]:
    """Rows for the BD-rate table: codec, then per anchor the PSNR and MS-SSIM BD-rates."""
    table = results.get("bd_rate") or {}
    anchors = list(table)
    codecs = list(dict.fromkeys(p["codec"] for p in results.get("summary", [])))
    rows = []
    for codec in codecs:
        row = {"codec": codec, "label": plots.LABELS.get(codec, codec), "values": []}
        for anchor in anchors:
            entry = table[anchor].get(codec, {})
            row["values"].append({"anchor": anchor, "psnr": entry.get("psnr"), "msssim": entry.get("msssim")})
        rows.append(row)
    return rows


def render_markdown(results: dict) -> str:
    meta = results["meta"]
    anchors = list(results.get("bd_rate") or {})
    lines = [f"# {meta.get('title', 'Codec evaluation')}", ""]
    lines.append(f"- Dataset: `{meta.get('dataset', '?')}` — {meta.get('images', '?')} images"
                 + (f" (first {meta['limit']} only)" if meta.get("limit") else ""))
    lines.append(f"- Generated {meta.get('generated', '?')} by `{meta.get('command', 'evaluate_codecs')}`")
    if meta.get("machine"):
        lines.append(f"- Machine: {meta['machine']}")
    if meta.get("mscae"):
        lines.append(f"- Learned codec: {meta['mscae']}")
    for note in meta.get("notes", []):
        lines.append(f"- **Note:** {note}")
    lines += ["", "bpp = 8 × file bytes / pixels (whole files: headers, palettes, the PCA basis included). "
              "PSNR on 8-bit RGB, MS-SSIM per RGB channel, SSIMULACRA 2 (0–100: 90 visually lossless, 70 high, "
              "30 low; compression.metrics); points are means over images.", ""]

    lines += ["## BD-rate", "",
              "Bjøntegaard delta rate (piecewise cubic, `compression.bdrate.bd_rate`) of each codec's mean "
              "curve against the anchor: negative = fewer bits for the same quality. MS-SSIM in dB. "
              "– = the curves do not overlap in quality (or a single lossless point).", ""]
    if anchors:
        header = "| codec | " + " | ".join(f"vs {a.upper()} (PSNR) | vs {a.upper()} (MS-SSIM)" for a in anchors) + " |"
        lines += [header, "|---|" + "---:|" * (2 * len(anchors))]
        for row in bd_table_rows(results):
            cells = []
            for v in row["values"]:
                cells += [_fmt(v["psnr"], "+.1f") + (" %" if v["psnr"] is not None else ""),
                          _fmt(v["msssim"], "+.1f") + (" %" if v["msssim"] is not None else "")]
            lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    else:
        lines.append("No anchor (WebP/JPEG) among the codecs evaluated: no BD-rate table.")
    lines.append("")

    lines += ["## Rate–distortion plots", ""]
    for name in results.get("plots", []):
        if name.endswith(".svg"):
            lines.append(f"![{name}]({name})")
    lines.append("")

    lines += ["## Mean points", "",
              "| codec | quality | parameters | bpp | PSNR (dB) | MS-SSIM | SSIMULACRA 2 | encode (s) | decode (s) |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    rows_by_point = {}
    for row in results.get("rows", []):
        rows_by_point.setdefault((row["codec"], row["quality"]), row)
    for p in results["summary"]:
        params = dict(rows_by_point.get((p["codec"], p["quality"]), {}).get("params") or {})
        params.pop("quality", None)
        # Data-dependent parameters (PCA components kept) vary per image: show the first image's.
        shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "–"
        lines.append(f"| {plots.LABELS.get(p['codec'], p['codec'])} | {_fmt(p['quality'], 'g')} | {shown} | "
                     f"{p['bpp']:.3f} | {_fmt(p['psnr'], '.2f', '∞')} | {_fmt(p['msssim'], '.4f')} | "
                     f"{_fmt(p.get('ssimulacra2'), '.1f')} | "
                     f"{_fmt(p['encode_s'], '.3f')} | {_fmt(p['decode_s'], '.3f')} |")
    lines.append("")

    lines += ["## Mean times", "", "Over all images and qualities (the PCA and K-Means encoders fit their model "
              "per image, so their encode time includes scikit-learn's fit).", "",
              "| codec | encode (s) | decode (s) | encode (s/Mpx) | decode (s/Mpx) |", "|---|---:|---:|---:|---:|"]
    for codec, t in results.get("timings", {}).items():
        lines.append(f"| {plots.LABELS.get(codec, codec)} | {t['encode_s']:.3f} | {t['decode_s']:.3f} | "
                     f"{t['encode_s_per_mpix']:.3f} | {t['decode_s_per_mpix']:.3f} |")
    lines.append("")
    lines.append("Raw per-image numbers: `results.csv`; everything above as data: `results.json`.")
    return "\n".join(lines) + "\n"
