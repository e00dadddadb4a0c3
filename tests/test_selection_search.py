"""The integer threshold search behind the quality and budget searches."""
import pytest

from compression.selection.search import MAX_STEPS, threshold_search


def _linear(threshold, slope):
    def evaluate(q):
        margin = slope * (q - threshold)
        return q, margin >= 0, margin

    return evaluate


@pytest.mark.parametrize("threshold", [1, 2, 17, 33, 50, 64, 88, 94, 95])
@pytest.mark.parametrize("start", [1, 55, 95])
@pytest.mark.parametrize("slope", [0.05, 0.4, 3.0])
def test_finds_the_lowest_meeting_quality_within_the_cap(threshold, start, slope):
    tried = threshold_search(_linear(threshold, slope), 1, 95, start, ascending=True)
    assert len(tried) <= MAX_STEPS
    assert min(q for q in tried if q >= threshold) == threshold
    assert threshold == 1 or threshold - 1 in tried  # proven minimal: the step below was tried and failed


def test_unreachable_target_ends_having_tried_the_top_quality():
    tried = threshold_search(_linear(500, 0.3), 0, 100, 60, ascending=True)
    assert 100 in tried and len(tried) <= MAX_STEPS


@pytest.mark.parametrize("limit", [0, 12, 40, 77, 100])
def test_descending_search_finds_the_highest_fitting_quality(limit):
    def evaluate(q):  # a size budget: fits up to `limit`
        margin = 0.05 * (limit - q) + 0.01
        return q, q <= limit, margin

    tried = threshold_search(evaluate, 0, 100, 60, ascending=False)
    assert max(q for q in tried if q <= limit) == limit
    assert limit == 100 or limit + 1 in tried


def _wavy(threshold):
    """A non-monotone codec: the margin wobbles around a rising trend, so single qualities above
    the threshold can miss and qualities below it can meet."""
    import math

    def evaluate(q):
        margin = 0.3 * (q - threshold) + 1.5 * math.sin(q * 1.7)
        return q, margin >= 0, margin

    return evaluate


@pytest.mark.parametrize("threshold", [5, 30, 61, 90])
@pytest.mark.parametrize("start", [1, 50, 100])
def test_non_monotone_curves_stay_within_the_step_budget_and_end_on_a_met_point(threshold, start):
    evaluate = _wavy(threshold)
    tried = threshold_search(evaluate, 0, 100, start, ascending=True)
    assert len(tried) <= MAX_STEPS
    assert len(set(tried)) == len(tried)  # never pays twice for one quality
    assert any(evaluate(q)[1] for q in tried)  # a meeting point is found (the top always meets)


def _trial(quality, size, meets, psnr):
    from compression.codecs import JpegCodec
    from compression.selection.trials import Trial

    return Trial(JpegCodec(), {}, quality, b"x" * size, 0.0, True, psnr=psnr, meets=meets)


def test_the_winner_is_never_larger_than_a_meeting_file_the_search_saw():
    from compression.selection.ranking import pick
    from compression.targets import parse_target

    # Non-monotone sizes: a higher quality that happens to give a smaller file wins.
    trials = [_trial(40, 900, False, 31.0), _trial(50, 1200, True, 33.4), _trial(55, 1100, True, 33.2),
              _trial(60, 1500, True, 34.0)]
    assert pick(parse_target("psnr:33"), trials).quality == 55
    # Nothing meets: the closest to the target.
    missing = [_trial(10, 300, False, 25.0), _trial(20, 500, False, 29.0)]
    assert pick(parse_target("psnr:33"), missing).quality == 20
    # A budget: the best quality that fits, not the smallest file.
    fitting = [_trial(30, 800, True, 30.0), _trial(45, 990, True, 32.5), _trial(60, 1400, False, 34.0)]
    assert pick(parse_target("bytes:1000"), fitting).quality == 45
