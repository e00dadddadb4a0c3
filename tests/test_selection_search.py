"""The integer threshold search behind the quality and budget searches."""
import pytest

from compression.services import MAX_STEPS, _threshold_search


def _linear(threshold, slope):
    def evaluate(q):
        margin = slope * (q - threshold)
        return q, margin >= 0, margin

    return evaluate


@pytest.mark.parametrize("threshold", [1, 2, 17, 33, 50, 64, 88, 94, 95])
@pytest.mark.parametrize("start", [1, 55, 95])
@pytest.mark.parametrize("slope", [0.05, 0.4, 3.0])
def test_finds_the_lowest_meeting_quality_within_the_cap(threshold, start, slope):
    tried = _threshold_search(_linear(threshold, slope), 1, 95, start, ascending=True)
    assert len(tried) <= MAX_STEPS
    assert min(q for q in tried if q >= threshold) == threshold
    assert threshold == 1 or threshold - 1 in tried  # proven minimal: the step below was tried and failed


def test_unreachable_target_ends_having_tried_the_top_quality():
    tried = _threshold_search(_linear(500, 0.3), 0, 100, 60, ascending=True)
    assert 100 in tried and len(tried) <= MAX_STEPS


@pytest.mark.parametrize("limit", [0, 12, 40, 77, 100])
def test_descending_search_finds_the_highest_fitting_quality(limit):
    def evaluate(q):  # a size budget: fits up to `limit`
        margin = 0.05 * (limit - q) + 0.01
        return q, q <= limit, margin

    tried = _threshold_search(evaluate, 0, 100, 60, ascending=False)
    assert max(q for q in tried if q <= limit) == limit
    assert limit == 100 or limit + 1 in tried
