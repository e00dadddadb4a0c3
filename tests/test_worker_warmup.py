"""A worker process warms its codecs when it starts (Celery's worker_process_init), before its
first job, and says so through /healthz."""
import pytest
from celery.signals import worker_process_init

from compression import registry
from compression.base import Codec
from compression.warmup import warm_codecs
from vault.jobs.readiness import readiness

from .test_learned_portal import tiny_model  # noqa: F401 - a fixture


class _SlowToStart(Codec):
    name = "slow-start"
    label = "Slow to start"
    media_type = "image/x-test"
    extension = "tst"

    def __init__(self, fail: bool = False):
        self.warmed, self.fail = 0, fail

    def warm_up(self):
        self.warmed += 1
        if self.fail:
            raise RuntimeError("weights missing")


@pytest.fixture
def slow_codec():
    codec = registry.register(_SlowToStart())
    yield codec
    registry.unregister(codec.name)


@pytest.mark.django_db
def test_the_worker_start_signal_warms_every_codec_that_can_be_and_records_it(slow_codec, client):
    assert client.get("/healthz").json()["workers"] == {"warm": False, "last_warm_up": None}
    worker_process_init.send(sender=None)
    assert slow_codec.warmed == 1
    ready = readiness()
    assert "slow-start" in ready["codecs"] and ready["codecs"]["slow-start"] >= 0
    workers = client.get("/healthz").json()["workers"]
    assert workers["warm"] is True and workers["last_warm_up"]["worker"] == ready["worker"]


def test_a_codec_that_cannot_warm_is_left_cold_without_failing_the_start(caplog):
    broken = registry.register(_SlowToStart(fail=True))
    try:
        seconds = warm_codecs()
    finally:
        registry.unregister(broken.name)
    assert broken.warmed == 1 and "slow-start" not in seconds
    assert "could not warm codec slow-start" in caplog.text


def test_the_learned_codec_loads_its_model_in_its_warm_up_not_in_the_first_job(tiny_model, monkeypatch):
    from PIL import Image

    from compression.learned import codec as learned_codec

    loads = []
    monkeypatch.setattr(learned_codec, "load_model", lambda name, path: loads.append(path) or tiny_model)
    codec = learned_codec.LearnedCodec(weights_path="shipped.weights.h5")
    codec.warm_up()
    assert loads == ["shipped.weights.h5"]
    codec.decode(codec.encode(Image.new("RGB", (32, 32), (10, 200, 30)), quality=50))
    assert len(loads) == 1  # the job found the model loaded
