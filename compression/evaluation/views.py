"""The Benchmarks page: the latest committed evaluation report (docs/benchmarks/results.json)
with its RD plots and BD-rate table. Public: it shows measurements, no user data."""
from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import plots as plot_module
from .report import RESULTS_JSON, bd_table_rows

PLOT_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}


def benchmarks_dir() -> Path:
    return Path(getattr(settings, "BENCHMARKS_DIR", settings.BASE_DIR / "docs" / "benchmarks"))


def load_results(folder: Path | None = None) -> dict | None:
    """The committed results, or None when there is no (readable) report."""
    path = (folder or benchmarks_dir()) / RESULTS_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pct(value) -> str:
    return "–" if value is None else f"{value:+.1f} %"


@require_GET
def benchmarks(request):
    results = load_results()
    context = {"results": results}
    if results:
        context.update(
            meta=results.get("meta", {}),
            anchors=list(results.get("bd_rate") or {}),
            bd_rows=[{**row, "values": [{**v, "psnr_text": _pct(v["psnr"]), "msssim_text": _pct(v["msssim"])}
                                         for v in row["values"]]} for row in bd_table_rows(results)],
            summary=[{**p, "label": plot_module.LABELS.get(p["codec"], p["codec"])} for p in results.get("summary", [])],
            timings=[{"codec": c, "label": plot_module.LABELS.get(c, c), **t}
                     for c, t in (results.get("timings") or {}).items()],
            # SVG where there is one (sharp at any size), else PNG.
            plots=[name for name in results.get("plots", []) if name.endswith(".svg")]
            or [name for name in results.get("plots", []) if name.endswith(".png")],
        )
    return render(request, "compression/benchmarks.html", context)


@require_GET
def plot(request, name: str):
    """One plot file of the committed report: only names the report lists, from its folder."""
    results = load_results() or {}
    suffix = Path(name).suffix.lower()
    if name not in results.get("plots", []) or suffix not in PLOT_TYPES or Path(name).name != name:
        raise Http404(f"No benchmark plot {name!r}")
    path = benchmarks_dir() / name
    if not path.is_file():
        raise Http404(f"No benchmark plot {name!r}")
    response = FileResponse(open(path, "rb"), content_type=PLOT_TYPES[suffix])
    # Our own SVG, but opened directly it is a document: no scripts, no fetches.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=3600"
    return response
