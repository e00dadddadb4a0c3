"""The SSIMULACRA 2 benchmark command: a row per size and thread count with seconds per megapixel
and memory, the same score whatever the thread count; bad options are refused with a message."""
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import make_smooth_photo


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    make_smooth_photo(160, 120, seed=4).save(path)
    return path


def test_reports_each_size_and_thread_count(photo):
    out = io.StringIO()
    call_command("benchmark_ssimulacra2", photo=photo, sizes="0.01,0.02", threads="1,2", repeats=1, stdout=out)
    lines = [line.split() for line in out.getvalue().splitlines()[2:]]
    assert [(row[2]) for row in lines] == ["1", "2", "1", "2"]  # thread counts, per size
    assert lines[0][-2] == lines[1][-2] and lines[2][-2] == lines[3][-2]  # same score either way
    assert all(float(row[4]) > 0 for row in lines)  # seconds per megapixel


@pytest.mark.parametrize("options,quoted", [({"sizes": "0,1"}, "0,1"), ({"threads": "two"}, "two"),
                                            ({"repeats": 0}, "0")])
def test_bad_options_are_refused(photo, options, quoted):
    with pytest.raises(CommandError, match=quoted):
        call_command("benchmark_ssimulacra2", photo=photo, **options)
