"""The selection benchmark command: per effort level, bits per pixel saved, seconds per
megapixel and peak memory are reported; bad options are refused with a message."""
import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import make_photo


@pytest.fixture
def folder(tmp_path):
    for seed in (1, 2):
        make_photo(64, 48, seed=seed).save(tmp_path / f"p{seed}.png")
    make_photo(32, 24, seed=3).save(tmp_path / "small.png")
    return tmp_path


def test_reports_each_effort_level_with_savings_speed_and_memory(folder):
    out = io.StringIO()
    call_command("benchmark_selection", dataset=folder, effort="fast,default", min_mp=0.003, stdout=out)
    text = out.getvalue()
    assert text.count("p1.png") == 2 and "small.png" not in text  # below --min-mp
    assert "effort fast" in text and "effort default" in text
    assert "bpp saved vs fast" in text
    assert "s per MP" in text
    assert "peak memory MB" in text


def test_perceptual_runs_report_full_size_misses_and_bpp_before_and_after(folder):
    out = io.StringIO()
    call_command("benchmark_selection", dataset=folder, effort="fast", names="p1", baseline="psnr:33",
                 megapixels=0.01, stdout=out)
    text = out.getvalue()
    assert "p2.png" not in text and "resized to 0.01 MP" in text
    assert "misses           0 below SSIMULACRA 2 70 · 0 with a region below 60 (of 1 checked)" in text
    assert "bpp per image: psnr:33 (before) → balanced (after)" in text
    assert re.search(r"codecs chosen +[a-z0-9-]+ ×1 \(100 %\)", text)  # one image: its codec's share is all


def test_unknown_effort_is_refused(folder):
    with pytest.raises(CommandError, match="turbo"):
        call_command("benchmark_selection", dataset=folder, effort="fast,turbo")
