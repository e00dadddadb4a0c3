"""The evaluator, the report it writes, the evaluate_codecs / reproduce_paper commands and the
per-image RD plot."""
import csv
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from compression.evaluation import evaluator, paper, plots
from compression.registry import get_codec

from .conftest import make_photo

FAST_SWEEPS = ["--quality", "jpeg=20,50,90", "--quality", "webp=20,50,90", "--quality", "pca=30,60,90",
               "--quality", "kmeans=20,60,100"]


@pytest.fixture
def tiny_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    make_photo(48, 40, seed=1).save(folder / "a.png")
    make_photo(40, 48, seed=2).save(folder / "b.png")
    return folder


@pytest.fixture(scope="module")
def tiny_learned():
    from compression.learned.coder import wrap_model
    from compression.learned.models import build_model

    return wrap_model("mscae-tiny", build_model(8, 12))


def test_the_evaluators_bpp_is_file_size_times_eight_over_pixels():
    image = make_photo(48, 40, seed=5)
    spec = evaluator.CodecSpec("jpeg", get_codec("jpeg"), (50,))
    row = evaluator.measure(spec, image, 50, "x.png")
    size = len(get_codec("jpeg").encode(image, quality=50))  # JPEG encoding is deterministic
    assert row["bytes"] == size
    assert row["bpp"] == pytest.approx(size * 8 / (48 * 40))
    assert 0 < row["msssim"] < 1 and row["psnr"] > 20


def test_a_lossless_codec_is_recorded_with_infinite_psnr_and_no_bd_rate():
    rows = evaluator.evaluate([("a", make_photo(32, 32))], evaluator.build_specs(["png", "webp"])[0], progress=False)
    png = [r for r in rows if r["codec"] == "png"]
    assert len(png) == 1 and png[0]["lossless"] and png[0]["psnr"] is None and png[0]["msssim"] == 1.0
    table = evaluator.bd_rates(evaluator.summarise(rows), anchors=("webp",))
    assert table["webp"]["png"] == {"psnr": None, "msssim": None}
    assert table["webp"]["webp"]["psnr"] == pytest.approx(0.0, abs=1e-9)


def test_evaluate_codecs_writes_results_csv_report_and_plots(tiny_folder, tmp_path):
    out = tmp_path / "report"
    call_command("evaluate_codecs", "--dataset", str(tiny_folder), "--out", str(out), "--no-progress",
                 "--codecs", "jpeg", "webp", "png", "pca", "kmeans", *FAST_SWEEPS)
    for name in ("results.json", "results.csv", "report.md", "rd_psnr.svg", "rd_psnr.png",
                 "rd_msssim.svg", "rd_msssim.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["images"] == 2
    assert len(results["rows"]) == 2 * (3 + 3 + 1 + 3 + 3)
    for row in results["rows"]:
        # results.json keeps 6 significant digits
        assert row["bpp"] == pytest.approx(row["bytes"] * 8 / (row["width"] * row["height"]), rel=1e-5)
    assert set(results["bd_rate"]) == {"webp", "jpeg"}
    assert results["bd_rate"]["webp"]["webp"]["psnr"] == pytest.approx(0.0, abs=1e-9)
    assert set(results["timings"]) == {"jpeg", "webp", "png", "pca", "kmeans"}
    with open(out / "results.csv") as fh:
        assert len(list(csv.DictReader(fh))) == len(results["rows"])
    md = (out / "report.md").read_text()
    assert "| codec | vs WEBP (PSNR) |" in md and "| K-Means |" in md and "![rd_psnr.svg](rd_psnr.svg)" in md
    assert (out / "rd_psnr.svg").read_text().lstrip().startswith("<?xml")


def test_evaluate_codecs_measures_the_learned_codec_given_a_model(tiny_folder, tiny_learned):
    specs, _ = evaluator.build_specs(["mscae", "webp"], learned=tiny_learned, sweeps={"mscae": (0, 100)})
    rows = evaluator.evaluate(evaluator.load_images(evaluator.image_paths(tiny_folder, limit=1)), specs, progress=False)
    learned_rows = [r for r in rows if r["codec"] == "mscae"]
    assert [r["quality"] for r in learned_rows] == [0, 100]
    assert learned_rows[0]["bytes"] == len(specs[0].codec.encode(make_photo(48, 40, seed=1), quality=0))


def test_evaluate_codecs_refuses_an_explicit_mscae_without_weights(tiny_folder, tmp_path):
    with pytest.raises(CommandError, match="no weights"):
        call_command("evaluate_codecs", "--dataset", str(tiny_folder), "--out", str(tmp_path / "o"),
                     "--codecs", "mscae", "--weights", str(tmp_path / "missing.weights.h5"))


def test_evaluate_codecs_names_an_unknown_codec_and_an_empty_folder(tiny_folder, tmp_path):
    with pytest.raises(CommandError, match="'nosuch'"):
        call_command("evaluate_codecs", "--dataset", str(tiny_folder), "--out", str(tmp_path / "o"), "--codecs", "nosuch")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="No images"):
        call_command("evaluate_codecs", "--dataset", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_reproduce_paper_runs_on_a_tiny_folder_and_reports_the_papers_numbers(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(3):
        make_photo(150, 140, seed=seed).save(folder / f"{seed}.png")
    out = tmp_path / "paper"
    call_command("reproduce_paper", "--dataset", str(folder), "--out", str(out), "--limit", "3", "--no-mscae")
    md = (out / "report.md").read_text()
    for text in ("Table 1", "Table 2", "Table 3", "7.6", "6.41", "3.95", "56.9", "Which claims hold",
                 "lossless PNG", "not measured"):
        assert text in md, text
    results = json.loads((out / "results.json").read_text())
    assert {k: v["side"] for k, v in results["sets"].items()} == {"32": 32, "128": 128}
    assert results["sets"]["32"]["images"] == 3
    kmeans = results["sets"]["128"]["methods"]["kmeans"]
    assert [p["setting"] for p in kmeans][:2] == ["2 colours", "4 colours"]
    # Real sizes: a 2-colour indexed PNG of a 128×128 photo is far smaller than its PNG original.
    assert 0 < kmeans[0]["bytes"] < results["sets"]["128"]["original_png_bytes"]
    assert kmeans[-1]["psnr"] > kmeans[0]["psnr"]


def test_reproduce_paper_refuses_kodak(tmp_path):
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    make_photo(40, 40).save(kodak / "kodim01.png")
    with pytest.raises(CommandError, match="Kodak"):
        call_command("reproduce_paper", "--dataset", str(kodak), "--out", str(tmp_path / "o"), "--no-mscae")


def test_the_paper_experiment_measures_the_autoencoders_real_bytes(tiny_learned):
    methods, notes = paper.default_methods(tiny_learned)
    learned = [m for m in methods if m.name == "mscae"]
    learned[0].settings = learned[0].settings[:1]
    images = [np.asarray(make_photo(32, 32, seed=s)) for s in range(2)]
    result = paper.run_set(images, learned)
    from PIL import Image

    expected = np.mean([len(learned[0].codec.encode(Image.fromarray(a), quality=0)) for a in images])
    assert result["methods"]["mscae"][0]["bytes"] == pytest.approx(expected)
    assert not notes


def test_paper_analysis_picks_the_smallest_setting_reaching_the_target_and_judges_claims():
    def pts(*triples):
        return [{"setting": s, "bytes": b, "psnr": p, "mse": 10 ** (-p / 10), "reduction_pct": 100 * (1 - b / 1000)}
                for s, b, p in triples]

    results = {"sets": {"32": {"methods": {
        "kmeans": pts(("k4", 300, 25.0), ("k16", 500, 30.5)),
        "pca": pts(("q10", 100, 31.0), ("q50", 400, 36.0)),
        "mscae": pts(("q0", 80, 29.0), ("q20", 140, 32.0)),
    }}}}
    analysis = paper.analyse(results, target_psnr=30.0)
    table = analysis["tables"]["32"]
    assert (table["kmeans"]["setting"], table["pca"]["setting"], table["mscae"]["setting"]) == ("k16", "q10", "q20")
    claims = {c["claim"]: c["holds"] for c in analysis["claims"]}
    assert claims["32×32, PCA: ≥ 30 dB PSNR at 85 % size reduction"] is True  # 90 % at 31 dB
    assert claims["32×32, K-Means: ≥ 30 dB PSNR at 85 % size reduction"] is False  # 50 % at 30.5 dB
    assert claims["32×32: PCA files are smaller than K-Means files (paper: 3.69 vs 3.95 KB)"] is True
    assert claims["32×32: the autoencoder's files are the smallest (paper: 2.88 KB)"] is False  # 140 > 100
    assert claims["Average reduction: the autoencoder highest (Table 3: 56.9 %)"] is False


def test_a_method_that_never_reaches_the_quality_bar_cannot_win_a_size_claim():
    def pts(*triples):
        return [{"setting": s, "bytes": b, "psnr": p, "mse": 10 ** (-p / 10), "reduction_pct": 100 * (1 - b / 1000)}
                for s, b, p in triples]

    # The autoencoder's files are the smallest, but only because it never reaches 30 dB.
    results = {"sets": {"128": {"methods": {
        "kmeans": pts(("k16", 500, 30.5)),
        "pca": pts(("q40", 400, 31.0)),
        "mscae": pts(("q0", 50, 26.0), ("q100", 90, 28.0)),
    }}}}
    analysis = paper.analyse(results, target_psnr=30.0)
    claims = {c["claim"]: c for c in analysis["claims"]}
    smallest = claims["128×128: the autoencoder's files are the smallest (paper: 3.1 KB)"]
    assert smallest["holds"] is False and "never reaches 30 dB" in smallest["evidence"]
    assert claims["Average reduction: the autoencoder highest (Table 3: 56.9 %)"]["holds"] is False


def test_candidates_svg_plots_each_candidate_at_its_bpp_without_external_resources():
    candidates = [
        {"codec": "webp", "params": {"quality": 50}, "size": 2000, "psnr": 33.0, "msssim": 0.97, "seconds": 0.1, "meets_target": True},
        {"codec": "jpeg", "params": {"quality": 50}, "size": 3000, "psnr": 31.0, "msssim": 0.95, "seconds": 0.1, "meets_target": False},
        {"codec": "png", "params": {}, "size": 9000, "psnr": None, "msssim": None, "seconds": 0.2, "meets_target": True},
    ]
    svg = plots.candidates_svg(candidates, 100, 80, chosen={"codec": "webp", "params": {"quality": 50}})
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "WebP" in svg and "JPEG" in svg and "lossless" in svg and "chosen" in svg
    assert "<image" not in svg and 'href="http' not in svg
    assert plots.candidates_svg([], 100, 80) == ""
    with pytest.raises(ValueError, match="0×80"):
        plots.candidates_svg(candidates, 0, 80)


def test_candidates_svg_carries_no_css_the_pages_policy_would_block():
    """Inline in the detail page, whose CSP allows no inline styles: the colours are SVG attributes."""
    from xml.dom import minidom

    candidates = [{"codec": "webp", "params": {"quality": 50}, "size": 2000, "psnr": 33.0, "meets_target": False}]
    svg = plots.candidates_svg(candidates, 100, 80, chosen=candidates[0])
    assert "<style" not in svg and " style=" not in svg
    assert 'fill="none"' in svg and 'stroke="#2ca02c"' in svg  # the missed target's hollow WebP mark
    assert minidom.parseString(svg).documentElement.getAttribute("stroke-linejoin") == "round"


def test_candidates_svg_accepts_candidate_dataclasses():
    from compression.base import Candidate

    svg = plots.candidates_svg([Candidate("avif", {"quality": 40}, 1500, 30.0, 0.9, 0.3, None)], 64, 64)
    assert svg.startswith("<svg") and "AVIF" in svg
