"""Progress reports of `compress_image(progress=...)`, cancellation by a raising callback, and
the codecs module importing on its own."""
import subprocess
import sys

import pytest

from compression.services import compress_image
from tests.conftest import make_photo


def _record(**kwargs):
    seen = []
    result = compress_image(progress=lambda stage, fraction: seen.append((stage, fraction)), **kwargs)
    return result, seen


@pytest.fixture
def small_sample_threshold(monkeypatch):
    import compression.selection.sampling as sampling

    monkeypatch.setattr(sampling, "SEARCH_MAX_PIXELS", 10_000)
    monkeypatch.setattr(sampling, "SAMPLE_TILE", 32)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"codec": "jpeg", "quality": 50},  # fixed
        {"target": "balanced"},  # quality target, every codec
        {"codec": "webp", "target": "psnr:35"},  # one named codec
        {"target": "bytes:3000"},  # size budget
        {"target": "lossless"},
        {"target": "balanced", "effort": "fast"},
        {"target": "high", "effort": "max"},
    ],
    ids=["fixed", "quality", "named", "budget", "lossless", "fast", "max"],
)
def test_progress_only_goes_up_and_ends_at_one(kwargs):
    _result, seen = _record(image=make_photo(64, 48, seed=2), **kwargs)
    fractions = [f for _, f in seen]
    assert len(seen) >= 3
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0 and fractions[0] < 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)


def test_progress_of_a_sampled_large_image_names_the_full_size_encode(small_sample_threshold):
    result, seen = _record(image=make_photo(256, 160, seed=4), target="balanced")
    fractions = [f for _, f in seen]
    assert "sample" in result.reason
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(stage.startswith("full-size encode") for stage, _ in seen)
    assert any(stage.startswith("searching") for stage, _ in seen)


class _Cancelled(Exception):
    pass


def test_a_raising_callback_stops_the_search_promptly(monkeypatch):
    from compression.selection.trials import Search

    calls, finished_after_cancel = [], []
    original_encode = Search.encode

    def counting_encode(self, *args, **kwargs):
        trial = original_encode(self, *args, **kwargs)
        if len(calls) >= 3:
            finished_after_cancel.append(trial)
        return trial

    def cancel_after_three(stage, fraction):
        calls.append(stage)
        if len(calls) == 3:
            raise _Cancelled("job cancelled")

    monkeypatch.setattr(Search, "encode", counting_encode)
    image = make_photo(64, 48, seed=3)
    encodes_without_cancelling = len(compress_image(image=image, target="high").candidates)
    with pytest.raises(_Cancelled, match="job cancelled"):
        compress_image(image=image, target="high", progress=cancel_after_three)
    assert encodes_without_cancelling > 10
    # The callback is not called again, and only encodes already under way when it raised may
    # finish (one per search thread, at most 4): no thread starts another.
    assert len(calls) == 3
    assert len(finished_after_cancel) <= 4


def test_codecs_module_imports_alone_without_the_registry():
    code = (
        "import sys, compression.codecs as c; "
        "assert 'compression.registry' not in sys.modules, 'codecs imported the registry'; "
        "print(len(c.CLASSICAL_CODECS))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"
