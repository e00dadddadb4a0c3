"""benchmarks/metadata.py: the figures it reports come from the work it says it measured."""
from benchmarks import metadata as bench
from .metadata_helpers import encode, split_photo


def test_a_photo_with_a_location_is_measured_and_reported(tmp_path):
    path = tmp_path / "trip.jpg"
    path.write_bytes(encode(split_photo(96, 64), "JPEG", quality=90))
    row = bench.measure(path)
    assert row.had_location and row.megapixels == 96 * 64 / 1e6 and row.file_bytes == path.stat().st_size
    assert set(row.tag_bytes) == {"jpeg", "webp", "avif"} and all(n > 0 for n in row.tag_bytes.values())
    assert row.heic_bytes > 0 and row.heic_decode_s > 0 and row.jpeg_decode_s > 0
    text = bench.report([row])
    assert "| trip.jpg | 0.0 |" in text and "| yes |" in text and "HEIC" in text and "ms per MB" in text
