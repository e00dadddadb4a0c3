"""What the progress label and bar say while the codecs work (compression/selection/progress.py):
the codecs still running, the learned codec's analysis by name, and a bar that moves inside a
long step. The learned codec here is the tiny test model, slowed by a hook so its steps are long
next to WebP's and JPEG's, as the shipped model's are."""
import threading
import time

import pytest

from compression import registry
from compression.learned.codec import LearnedCodec
from compression.selection import progress as progress_module
from compression.services import compress_image
from tests.conftest import make_photo
from tests.test_learned_portal import tiny_model  # noqa: F401 - the fixture

ANALYSIS_SECONDS = 1.2
ENCODE_SECONDS = 0.3


def slow_learned_codec(model, monkeypatch, *, analysis_seconds=ANALYSIS_SECONDS, encode_seconds=ENCODE_SECONDS):
    """Registers the tiny learned codec as `mscae`, slowed by a hook (also used by the browser test)."""
    monkeypatch.setattr(progress_module, "TICK_SECONDS", 0.1)

    class SlowLearned(LearnedCodec):
        def session(self, image):
            time.sleep(analysis_seconds)  # the hook: a long analysis transform
            inner = super().session(image)

            def encode(**kwargs):
                time.sleep(encode_seconds)
                return inner(**kwargs)

            return encode

    return registry.register(SlowLearned(loaded=model))


@pytest.fixture
def slow_mscae(tiny_model, monkeypatch):  # noqa: F811
    return slow_learned_codec(tiny_model, monkeypatch)


def _run(**kwargs):
    seen, lock = [], threading.Lock()

    def note(stage, fraction):
        with lock:
            seen.append((stage, fraction))

    result = compress_image(image=make_photo(64, 48, seed=4), progress=note, **kwargs)
    return result, seen


def test_the_label_names_the_learned_codec_s_analysis_and_its_search_while_it_runs_alone(slow_mscae):
    _result, seen = _run(codec="auto", target="small", effort="fast")
    # mscae is searched (or probed, compression/selection/gate.py) after the others: alone, and slowly.
    stages = [s for s, _ in seen]
    assert "mscae: analysing the image" in stages
    # Once the quick codecs are done, the label names the one still searching, not the last to report.
    assert "searching mscae" in stages, sorted(set(stages))
    last_search = max(i for i, s in enumerate(stages) if s.startswith("searching"))
    assert stages[last_search] in ("searching mscae", "searching finished")
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_the_bar_moves_during_a_long_step(slow_mscae):
    _result, seen = _run(codec="mscae", quality=4)
    during = [f for s, f in seen if s == "mscae: analysing the image"]
    # The ticker reports every 0.1 s through a 1.2 s analysis: the bar moves without a finished step.
    assert len(set(during)) >= 3, during
    assert all(f < progress_module.FINAL_END for f in during)


def test_a_label_names_at_most_three_codecs_and_counts_the_rest():
    span = progress_module.Progress().span(0.0, 1.0, 5)
    for task, name in enumerate(["avif", "jxl", "webp", "jpeg", "png"]):
        span.begin(task, name)
    assert span.label() == "searching avif, jxl, webp and 2 more"
    span.finish(0)
    span.finish(1)
    assert span.label() == "searching webp, jpeg, png"
