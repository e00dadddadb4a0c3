"""The benchmarks' arithmetic and reports, without a model: what each benchmark computes from
its measurements, how infinite PSNR (an identical reconstruction) is kept out of the curves, and
which images a folder gives."""
import json
import math

import numpy as np
import pytest

from benchmarks import codec, exact_prior, large_photo, max_effort
from benchmarks.errors import BenchmarkError
from compression.metrics import psnr
from tests.conftest import make_photo


def test_identical_images_have_infinite_psnr_where_the_old_private_one_said_148_db():
    image = np.asarray(make_photo(16, 12))
    assert psnr(image, image) == math.inf
    assert psnr(image, np.round(image.astype(np.float32))) == math.inf  # a float reconstruction too


def _exact_rows(file_psnr_of_last=None):
    rows = []
    for name, offset in (("a.png", 0.0), ("b.png", 1.0)):
        for level in range(3):
            rows.append({"image": name, "level": level, "pixels": 100,
                         "float_bpp": 0.2 * (level + 1), "float_psnr": 28.0 + 2 * level + offset,
                         "file_bpp": 0.21 * (level + 1), "file_psnr": 28.0 + 2 * level + offset - 0.01,
                         "decode_s": 0.001})
    if file_psnr_of_last is not None:
        rows[-1]["file_psnr"] = file_psnr_of_last
    return rows


def test_exact_prior_summary_compares_the_files_with_the_float_model():
    report = exact_prior.summarize(_exact_rows(), levels=3)
    assert report["images"] == 2 and report["identical_reconstructions"] == 0
    assert report["bd_rate_files_vs_float_mean_curve"] == pytest.approx(5.2, abs=0.2)  # 5 % more bits, a hair less PSNR
    assert report["max_psnr_difference_db"] == pytest.approx(0.01)
    assert report["decode_seconds_per_megapixel"] == pytest.approx(10.0)
    assert report["per_level"]["float_psnr"] == pytest.approx([28.5, 30.5, 32.5])
    lines = exact_prior.report_lines(report)
    assert lines[0].startswith("2 images × 3 levels") and "identical" not in lines[0] and len(lines) == 4


def test_an_identical_reconstruction_is_counted_and_kept_out_of_the_means_and_the_json():
    report = exact_prior.summarize(_exact_rows(file_psnr_of_last=math.inf), levels=3)
    assert report["identical_reconstructions"] == 1
    assert report["per_level"]["file_psnr"][2] == pytest.approx(32.0 - 0.01)  # a.png's only
    assert report["max_psnr_difference_db"] == pytest.approx(0.01)
    assert math.isfinite(report["bd_rate_files_vs_float_per_image_mean"])
    assert "1 reconstruction(s) identical to the original" in exact_prior.report_lines(report)[0]
    written = json.loads(exact_prior.to_json(report))  # strict JSON: no Infinity
    assert written["rows"][-1]["file_psnr"] is None and written["identical_reconstructions"] == 1


def test_codec_report_has_the_table_the_estimate_check_and_bd_rates():
    measured = codec.Measurements(rows={}, estimate_ratios=[1.001, 1.004], header_sizes=[60, 61])
    for k, q in enumerate(codec.learned_qualities(3)):
        measured.rows[("mscae", q)] = [(0.2 * 1.5**k, 27.0 + 2 * k, 0.5)]
    for name, qs in codec.CLASSICAL_QUALITIES.items():
        for k, q in enumerate(qs):
            measured.rows[(name, q)] = [(0.15 * 1.4**k, 26.0 + 1.8 * k, 0.01)]
    assert codec.learned_qualities(3) == [0.0, 50.0, 100.0]
    lines = codec.report_lines(measured)
    assert lines[0].split() == ["codec", "quality", "bpp", "PSNR", "dB", "enc+dec", "s"]
    assert "mscae           0   0.2000    27.00      0.500" in lines
    assert "mscae coded strings / model estimate: mean 1.0025, max 1.0040 (container header: 61 bytes per file)" in lines
    assert any(line.startswith("BD-rate mscae vs webp: ") and line.endswith(" %") for line in lines)
    assert lines[-1].startswith("mscae PSNR at 0.30 bpp (interpolated between levels): ")


def test_codec_dataset_skip_and_limit(tmp_path):
    for name in ("b.png", "a.png", "c.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in codec.dataset_images(tmp_path, skip=1, limit=1)] == ["b.png"]
    with pytest.raises(BenchmarkError, match="--skip 3 leaves no image"):
        codec.dataset_images(tmp_path, skip=3)
    with pytest.raises(BenchmarkError, match="does not exist"):
        codec.dataset_images(tmp_path / "missing")


def test_max_effort_summary_against_default_effort(tmp_path):
    assert max_effort.step_counts([50, 100, 0, 300], 200) == [50, 100, 200]
    rows = []
    for quality, (bpp, db) in zip((20, 80), ((0.3, 28.0), (0.9, 33.0))):
        rows.append({"image": "k", "quality": quality, "steps": 0, "bpp": bpp, "psnr": db, "loss": 2.0})
        rows.append({"image": "k", "quality": quality, "steps": 4, "bpp": bpp * 0.95, "psnr": db, "loss": 1.9,
                     "seconds_per_megapixel": 300.0})
    summary = max_effort.summarize(rows, ["k"], [4], peak_rss_mb=900.0)
    assert summary["bd_rate_vs_default"][4]["mean"] == pytest.approx(-5.0, abs=0.01)
    assert summary["loss_change_percent"][4] == pytest.approx({"mean": -5.0, "max": -5.0})
    lines = max_effort.summary_lines(summary, ["k"])
    assert lines[-1] == "refining 4 steps: 300 s per megapixel (max 300); peak RSS 900 MB"
    assert max_effort.row_line(rows[1]) == "k q=20 steps=   4: 0.2850 bpp 28.00 dB loss 1.9000  300 s/MP"
    make_photo().save(tmp_path / "kodim07.png")
    assert max_effort.find_image(tmp_path, "kodim07").name == "kodim07.png"
    with pytest.raises(BenchmarkError, match="No image 'kodim01'"):
        max_effort.find_image(tmp_path, "kodim01")


def test_large_photo_is_resized_to_the_megapixels_asked_and_unreadable_files_are_refused(tmp_path):
    make_photo(400, 300).save(tmp_path / "p.png")
    image = large_photo.load_photo(str(tmp_path / "p.png"), megapixels=0.03)
    assert (image.width, image.height) == (200, 150)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(BenchmarkError, match="Cannot read"):
        large_photo.load_photo(str(tmp_path / "bad.jpg"))
