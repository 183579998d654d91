"""Median certificates (skdpa.certify.median_*) against exhaustive poisoning.

The reference is written from the definitions only: a plain sorted list of the
voting members' outputs, its middle value (mean of the two middle values for
an even count), and an attack that gives every member it touches any output
at all, or makes it abstain, or makes an abstaining member vote.
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skdpa.certify import median_interval, median_prediction, median_radius

BIG = 1e6


def reference_median(outputs):
    """Median of the outputs that are not None; None when nobody votes."""
    voters = sorted(v for v in outputs if v is not None)
    if not voters:
        return None
    n = len(voters)
    return (voters[(n - 1) // 2] + voters[n // 2]) / 2


def reachable_medians(outputs, members_sets):
    """Every median an attack may reach by changing one of ``members_sets``."""
    finite = [v for v in outputs if v is not None]
    candidates = {None, -BIG, BIG, *finite}
    candidates |= {v + 0.5 for v in finite} | {v - 0.5 for v in finite}
    medians = []
    for members in members_sets:
        for values in itertools.product(
            sorted(candidates, key=str), repeat=len(members)
        ):
            poisoned = list(outputs)
            for j, v in zip(members, values, strict=True):
                poisoned[j] = v
            medians.append(reference_median(poisoned))
    return medians


def member_sets(n_members, t):
    for size in range(t + 1):
        yield from itertools.combinations(range(n_members), size)


def bucket_sets(n_members, shifts, r):
    """Members touched by poisoning at most r buckets (finite aggregation)."""
    for size in range(r + 1):
        for buckets in itertools.combinations(range(n_members), size):
            yield sorted({(b + s) % n_members for b in buckets for s in shifts})


def as_array(outputs):
    return np.array([[np.nan if v is None else v for v in outputs]])


small_outputs = st.lists(
    st.one_of(st.none(), st.integers(-5, 5).map(float)), min_size=1, max_size=5
).filter(lambda o: any(v is not None for v in o))


@settings(max_examples=60, deadline=None)
@given(outputs=small_outputs)
def test_median_prediction_matches_sorted_list(outputs):
    assert median_prediction(as_array(outputs))[0] == reference_median(outputs)


@settings(max_examples=60, deadline=None)
@given(outputs=small_outputs, t=st.integers(0, 2))
def test_interval_is_sound_and_tight(outputs, t):
    """Every reachable median lies in the interval; both ends are reached."""
    low, high = (b[0] for b in median_interval(as_array(outputs), t))
    reached = [
        v
        for v in reachable_medians(outputs, member_sets(len(outputs), t))
        if v is not None
    ]
    n_vote = sum(v is not None for v in outputs)
    if t >= n_vote:
        # every voter can be changed (or silenced): nothing is certified
        assert low == -np.inf and high == np.inf
        return
    assert all(low <= v <= high for v in reached)
    if math.isinf(low):
        assert min(reached) <= -BIG / 4
    else:
        assert min(reached) == pytest.approx(low)
    if math.isinf(high):
        assert max(reached) >= BIG / 4
    else:
        assert max(reached) == pytest.approx(high)


@settings(max_examples=40, deadline=None)
@given(outputs=small_outputs, tol=st.sampled_from([0.0, 0.5, 1.0, 2.5, 6.0]))
def test_radius_is_the_largest_safe_attack(outputs, tol):
    """Within the radius every median stays within tol; one more sample escapes."""
    y_pred, radius = median_radius(as_array(outputs), tol)
    centre = reference_median(outputs)
    assert y_pred[0] == centre
    r = int(radius[0])
    assert r >= 0

    def escapes(t):
        reached = reachable_medians(outputs, member_sets(len(outputs), t))
        return any(v is None or abs(v - centre) > tol for v in reached)

    assert not escapes(r)
    if r + 1 <= len(outputs):
        assert escapes(r + 1)


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.integers(-5, 5).map(float)), min_size=4, max_size=4
    ),
    shifts=st.sampled_from([(0, 1), (0, 2), (0, 3)]),
    r=st.integers(0, 1),
)
def test_finite_aggregation_interval_is_sound(values, shifts, r):
    """spread=2: poisoning r buckets changes the members those buckets feed."""
    outputs = values
    if all(v is None for v in outputs):
        outputs = [1.0, *outputs[1:]]
    low, high = (b[0] for b in median_interval(as_array(outputs), r, shifts=shifts))
    wide_low, wide_high = (b[0] for b in median_interval(as_array(outputs), 2 * r))
    assert (low, high) == (wide_low, wide_high)
    for v in reachable_medians(outputs, bucket_sets(4, shifts, r)):
        if v is not None:
            assert low <= v <= high
        else:
            assert (low, high) == (-np.inf, np.inf)


def test_vectorised_rows_match_one_by_one():
    rng = np.random.default_rng(0)
    outputs = rng.normal(size=(50, 7))
    outputs[rng.random(outputs.shape) < 0.2] = np.nan
    outputs[0] = np.nan  # nobody votes
    radius = rng.integers(0, 4, size=50)
    low, high = median_interval(outputs, radius)
    for i in range(50):
        lo_i, hi_i = median_interval(outputs[i : i + 1], int(radius[i]))
        assert (lo_i[0], hi_i[0]) == (low[i], high[i])
    y_pred, r = median_radius(outputs, 0.3)
    assert np.isnan(y_pred[0]) and r[0] == -1
    assert (r[1:] >= 0).all()


def test_tolerance_per_row():
    outputs = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]] * 2)
    _, radius = median_radius(outputs, [0.0, 1.0])
    assert radius.tolist() == [0, 1]


@pytest.mark.parametrize(
    "args, match",
    [
        (([1.0, 2.0], 0), r"member_predictions must be 2-D"),
        ((np.zeros((2, 0)), 0), r"at least one member column"),
        (([[1.0, np.inf]], 0), r"must be finite, with NaN where a member abstains"),
        (([[1.0, 2.0]], -1), r"radius must be a non-negative integer .* got -1"),
        (([[1.0, 2.0]], 0.5), r"radius must be a non-negative integer"),
        (([[1.0, 2.0]], 1, [0, 0]), r"shifts must be distinct"),
    ],
)
def test_interval_errors(args, match):
    with pytest.raises(ValueError, match=match):
        median_interval(*args)


@pytest.mark.parametrize(
    "tolerance, match",
    [
        (-1.0, r"tolerance must be >= 0; got -1.0"),
        (np.nan, r"tolerance must be >= 0; got nan"),
        ([0.1, 0.2, 0.3], r"tolerance must be a number or one per row \(2,\)"),
    ],
)
def test_radius_errors(tolerance, match):
    with pytest.raises(ValueError, match=match):
        median_radius([[1.0, 2.0], [3.0, 4.0]], tolerance)
