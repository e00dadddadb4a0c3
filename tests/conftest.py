"""Shared fixtures: every test gets its own blob directory and small images it makes itself.
Settings that are the same for every test (fast hashing, eager jobs) are in portal/settings/test.py."""
import io

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def _progress_writes_only_where_asked(monkeypatch):
    """A job's progress thread writes through its own database connection, which on PostgreSQL
    cannot see the rows of the test's uncommitted transaction: it takes the running record for
    deleted and cancels the job whenever the job outlasts one interval (under load). Tests of the
    progress writes set their own interval (tests/test_jobs.py); real workers are unaffected."""
    from vault.jobs import worker

    monkeypatch.setattr(worker, "PROGRESS_INTERVAL", 3600)


@pytest.fixture(autouse=True)
def _without_shipped_learned_codec():
    """The shipped learned model takes seconds to load and run; tests that want a learned codec
    register a tiny one themselves (see tests/test_learned_portal.py)."""
    from compression import registry
    from compression.base import CodecError

    try:
        shipped = registry.get_codec("mscae")
    except CodecError:
        shipped = None
    registry.unregister("mscae")
    yield
    registry.unregister("mscae")
    if shipped is not None:
        registry.register(shipped)


@pytest.fixture
def no_worker():
    """Uploads stay queued, as when no worker has taken them yet; the task ids dispatch.enqueue sent."""
    from tests.vault_helpers import workers_away

    with workers_away() as sent:
        yield sent


def make_photo(width=48, height=32, seed=0, mode="RGB") -> Image.Image:
    """A smooth, photo-like test image (gradients + noise), deterministic per seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [
        128 + 100 * np.sin(xx / (5 + seed % 3) + c) * np.cos(yy / 7 + c) + rng.normal(0, 6, (height, width))
        for c in range(3)
    ]
    arr = np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)
    image = Image.fromarray(arr, "RGB")
    if mode == "RGBA":
        alpha = np.clip(xx * 255 / max(width - 1, 1), 0, 255).astype(np.uint8)
        image.putalpha(Image.fromarray(alpha, "L"))
    return image


def make_smooth_photo(width=128, height=96, seed=0) -> Image.Image:
    """A photo-like image without make_photo's strong noise: soft gradients, a few blurred
    shapes and faint grain, so lossy codecs can reach perceptual targets (SSIMULACRA 2 scores
    lost noise as lost detail)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for c in range(3):
        plane = 90 + 60 * np.sin(xx / (17 + 3 * c) + seed) * np.cos(yy / 23 + c) + 40 * yy / max(height, 1)
        for _ in range(4):
            cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(6, 20)
            plane += rng.uniform(-50, 50) / (1 + ((xx - cx) ** 2 + (yy - cy) ** 2) / r**2) ** 2
        channels.append(plane + rng.normal(0, 1.0, (height, width)))
    return Image.fromarray(np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8), "RGB")


def photo_folder(path, count, width, height):
    """A folder of `count` PNG photos (training data for the tiny model)."""
    path.mkdir()
    for i in range(count):
        make_photo(width, height, seed=i).save(path / f"{i}.png")
    return path


def image_bytes(image: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def photo():
    return make_photo()


@pytest.fixture
def png_bytes():
    return image_bytes(make_photo())
