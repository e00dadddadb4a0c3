"""The auto-gate benchmark command: three arms per image, interleaved, with the gated codec's
share of each selection; the gate is restored afterwards; bad options are refused."""
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from benchmarks import auto_gate
from compression.registry import get_codec, register, unregister
from tests.conftest import make_smooth_photo
from tests.gate_helpers import scaled


@pytest.fixture
def folder(tmp_path):
    for seed in (1, 2):
        make_smooth_photo(320, 256, seed=seed).save(tmp_path / f"photo{seed}.png")
    return tmp_path


@pytest.fixture
def losing_codec():
    codec = register(scaled(get_codec("avif"), 10.0))  # loses to any classical winner
    yield codec
    unregister(codec.name)


def test_the_arms_run_in_turn_and_the_gate_is_restored(folder, losing_codec):
    out = io.StringIO()
    call_command("benchmark_auto_gate", dataset=folder, names=["photo1", "photo2"], codec=losing_codec.name,
                 effort="fast", no_warm_up=True, stdout=out)
    lines = out.getvalue().splitlines()
    rows = [line.split() for line in lines if line.startswith("photo")]
    assert [(r[0], r[1]) for r in rows] == [(n, arm) for n in ("photo1", "photo2") for arm in auto_gate.ARMS]
    by_arm = {arm: [r for r in rows if r[1] == arm] for arm in auto_gate.ARMS}
    assert all(float(r[6]) > 0 for r in by_arm["ungated"])  # its search took time there
    assert all(float(r[6]) == 0 for r in by_arm["without"])
    assert all(r[-3] == "skipped" and float(r[-2]) > 1.3 and r[2] != losing_codec.name for r in by_arm["gated"])
    assert any("skipped on 2/2" in line for line in lines)
    assert losing_codec.auto_gated and "auto_gated" not in vars(losing_codec)


def _run(arm, wall, share=0.0, searched=None):
    return auto_gate.Run("x", arm, result=None, wall=wall, cpu=wall, gated_seconds=share * wall,
                         gate_searched=searched, load=1.0)


def test_the_summary_gives_images_per_minute_per_arm():
    runs = [_run("ungated", 6.0, 0.5), _run("without", 2.0), _run("gated", 3.0, 0.2, False)]
    lines = auto_gate.summary([r for r in runs if r.arm != "ungated"])
    assert any(line.startswith("without") and "30.0 images/min" in line for line in lines)
    assert any(line.startswith("gated") and "20.0 images/min" in line for line in lines)
    assert any("gated / without: 0.67×" in line for line in lines)


@pytest.mark.parametrize("options,quoted", [({"codec": "webp"}, "not gated"), ({"names": ["nope"]}, "nope"),
                                            ({"codec": "no-such"}, "no-such")])
def test_bad_options_are_refused(folder, options, quoted):
    with pytest.raises(CommandError, match=quoted):
        call_command("benchmark_auto_gate", dataset=folder, no_warm_up=True, **{"names": ["photo1"], **options})
