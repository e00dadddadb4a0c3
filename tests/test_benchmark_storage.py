"""benchmarks/storage.py: the figures come from real records stored through the service in each
mode, and the run leaves nothing behind."""
import pytest
from django.contrib.auth import get_user_model

from benchmarks import storage as bench
from tests.conftest import image_bytes, make_photo
from vault.models import ImageRecord

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _recompress_originals(settings):
    settings.VAULT_RECOMPRESS_ORIGINALS = True


def test_each_mode_is_measured_on_real_records_and_the_run_cleans_up(tmp_path):
    photos, kodak = tmp_path / "photos", tmp_path / "kodak"
    photos.mkdir(), kodak.mkdir()
    for seed in range(2):
        (photos / f"p{seed}.jpg").write_bytes(image_bytes(make_photo(256, 192, seed=seed), "JPEG", quality=92))
    (kodak / "k.png").write_bytes(image_bytes(make_photo(96, 64, seed=5)))
    report = bench.run(photos=photos, kodak=kodak, kodak_count=1, limit=None, codec="webp", target="bytes:3000",
                       big=False, log=lambda line: None)
    assert [(r.name, r.mode) for r in report.rows] == [(n, m) for n in ("p0.jpg", "p1.jpg", "k.png") for m in bench.MODES]
    for row in report.rows:
        assert row.stored_bytes == row.original_bytes + row.compressed_bytes + row.thumbnail_bytes
        if row.mode == "saver":
            assert row.original_bytes == 0 and row.original_storage == "not-kept" and row.archive_seconds is None
        else:
            assert row.original_storage == ("jxl-jpeg" if row.name.endswith(".jpg") else "jxl-lossless")
            assert row.archive_seconds > 0 and row.archive_cpu_seconds > 0
    text = "\n".join(report.lines())
    assert "original all  n= 3" in text and "saver    all  n= 3" in text and "CPU-s/MP" in text and "load average" in text
    assert not ImageRecord.objects.exists() and not get_user_model().objects.filter(username__startswith="storage-bench").exists()


def test_spread_takes_photos_across_the_folder():
    files = [f"f{i}" for i in range(10)]
    assert bench.spread(files, 3) == ["f0", "f4", "f9"] or bench.spread(files, 3) == ["f0", "f5", "f9"]
    assert bench.spread(files, None) == files and bench.spread(files, 20) == files
