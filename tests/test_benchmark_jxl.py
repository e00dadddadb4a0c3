"""benchmark_jxl's arithmetic: the BD-rate on SSIMULACRA 2 curves and its high-quality cut."""
import pytest

from benchmarks import jxl


def _rows(curves):
    return [{"image": "a.png", "codec": codec, "quality": q, "bpp": bpp, "ssimulacra2": score}
            for codec, points in curves.items() for q, (bpp, score) in enumerate(points)]


def test_ten_percent_fewer_bits_everywhere_is_minus_ten_percent():
    anchor = [(0.5, 55.0), (1.0, 70.0), (2.0, 82.0), (3.0, 88.0)]
    rows = _rows({"avif": anchor, "jxl": [(0.9 * b, s) for b, s in anchor]})
    assert jxl.perceptual_bd(rows)["avif"]["jxl"] == pytest.approx(-10.0, abs=0.01)


def test_the_floor_keeps_only_the_high_quality_end():
    # jxl 20 % larger at the low end and 20 % smaller above 70: the cut sees only the latter.
    low, high = [(0.5, 50.0), (0.8, 60.0)], [(1.5, 72.0), (2.5, 80.0), (3.5, 86.0)]
    rows = _rows({"avif": low + high,
                  "jxl": [(1.2 * b, s) for b, s in low] + [(0.8 * b, s) for b, s in high]})
    assert jxl.perceptual_bd(rows, floor=70.0)["avif"]["jxl"] == pytest.approx(-20.0, abs=0.01)
    assert jxl.perceptual_bd(rows)["avif"]["jxl"] > -20.0


def test_report_lists_the_curves_and_both_cuts():
    anchor = [(0.5, 55.0), (1.0, 72.0), (2.0, 82.0)]
    lines = jxl.markdown({"perceptual": _rows({"avif": anchor, "jxl": [(0.9 * b, s) for b, s in anchor]})})
    text = "\n".join(lines)
    assert "| jxl | 0 | 0.450 | 55.0 |" in text
    assert "whole curves" in text and "points scoring ≥ 70" in text and "jxl -10.0 %" in text
