"""KNNLabelSpreading(vote="soft").flip_costs against brute force.

Every set of at most three label edits of the editable rows (to another
class, to a class the member never saw, to or from unlabeled ``-1``) is
applied and the member refit: no output may be reached with fewer edits than
its cost, and with two classes every cost up to three is reached exactly.
"""

import numpy as np
import pytest
from helpers import (
    assert_costs_sound,
    check_costs_per_query_and_round_trip,
    check_spreading_costs_on_random_graph,
    soft_spreading,
    spreading_outputs,
    spreading_reached,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skdpa.member_costs import flip_costs
from skdpa.semi_supervised import KNNLabelSpreading

MAX_EDITS = 3


def _case(seed, n=9, seen=2, n_queries=5):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 2)).round(3)
    y = rng.randint(-1, seen, size=n)
    y[:seen] = np.arange(seen)  # every seen class present
    queries = rng.uniform(size=(n_queries, 2)).round(3)
    return X, y, queries


_member = soft_spreading
_outputs = spreading_outputs
_reached = spreading_reached
_check = assert_costs_sound


@pytest.mark.parametrize("seed", range(3))
def test_costs_are_exact_with_two_classes(seed):
    X, y, queries = _case(seed)
    editable = np.zeros(len(y), dtype=bool)
    editable[[0, 1, 2, 4, 6]] = True
    member = _member().fit(X, y)
    costs = flip_costs(member, queries, 2, editable=editable)
    reached = _reached(X, y, queries, 2, editable, {})
    _check(costs, reached)
    small = costs[:, :2] <= MAX_EDITS
    assert small.sum() > len(queries)  # some rival is within reach
    np.testing.assert_array_equal(costs[:, :2][small], reached[:, :2][small])


@pytest.mark.parametrize("seed", range(2))
def test_costs_sound_with_three_seen_classes_and_a_new_one(seed):
    """n_classes=4 while the member saw 3: index 3 is a never-seen label."""
    X, y, queries = _case(seed, n=8, seen=3, n_queries=4)
    editable = np.zeros(len(y), dtype=bool)
    editable[[0, 1, 3, 5]] = True
    member = _member(max_iter=3).fit(X, y)
    costs = flip_costs(member, queries, 4, editable=editable)
    _check(costs, _reached(X, y, queries, 4, editable, {"max_iter": 3}))
    assert np.isinf(costs[:, -1]).all()  # labels outside the editable rows


def test_abstain_costs_every_label():
    X = np.array([[0.0], [0.1], [1.0], [1.1], [2.0]])
    y = np.array([0, -1, 1, 1, -1])
    member = _member(n_neighbors=2).fit(X, y)
    costs = flip_costs(member, [[0.0], [1.0]], 2)
    np.testing.assert_array_equal(costs[:, -1], [3, 3])
    editable = np.array([True, True, True, True, True])
    reached = _reached(X, y, np.array([[0.0], [1.0]]), 2, editable, {"n_neighbors": 2})
    _check(costs, reached)
    np.testing.assert_array_equal(reached[:, -1], [3, 3])


def test_overstating_a_cost_by_one_is_caught():
    """Teeth: the brute force rejects costs that are one too high."""
    X, y, queries = _case(0)
    editable = np.ones(len(y), dtype=bool)
    costs = flip_costs(_member().fit(X, y), queries, 2, editable=editable)
    reached = _reached(X, y, queries, 2, editable, {})
    _check(costs, reached)
    finite = np.isfinite(reached) & (reached > 0)
    assert finite.any()
    overstated = costs.copy()
    overstated[finite] += 1
    with pytest.raises(AssertionError, match="reached below cost"):
        _check(overstated, reached)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(4, 8),
    k=st.integers(1, 4),
    steps=st.integers(1, 8),
    alpha=st.sampled_from([0.3, 0.9, 0.99]),
)
def test_costs_sound_on_random_graphs(seed, n, k, steps, alpha):
    check_spreading_costs_on_random_graph(seed, n, k, steps, alpha)


def test_predict_matches_scores_and_default_is_unchanged():
    X, y, queries = _case(1, n=12)
    soft = _member().fit(X, y)
    np.testing.assert_array_equal(
        soft.predict(queries), np.argmax(soft.predict_proba(queries), axis=1)
    )
    hard = KNNLabelSpreading(3, metric="euclidean").fit(X, y)
    assert hard.vote == "hard" and not hasattr(soft, "confidence_")
    assert hard.confidence_.shape == (len(X),)


def test_errors():
    X, y, queries = _case(0)
    hard = KNNLabelSpreading(3, metric="euclidean").fit(X, y)
    with pytest.raises(ValueError, match="flip_costs needs vote='soft'"):
        hard.flip_costs(queries, 2)
    soft = _member().fit(X, y)
    with pytest.raises(ValueError, match=r"n_classes must be an integer above .*1"):
        soft.flip_costs(queries, 1)
    with pytest.raises(ValueError, match=r"editable must be a boolean array of shape"):
        soft.flip_costs(queries, 2, editable=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match=r"editable must be a boolean .*int64"):
        soft.flip_costs(queries, 2, editable=np.ones(len(X), dtype=np.int64))


def test_a_query_does_not_depend_on_its_batch_nor_on_a_round_trip():
    """Influences are per query: subsets, and a pickled member, agree."""
    X, y, queries = _case(2, n=12, n_queries=7)
    check_costs_per_query_and_round_trip(_member().fit(X, y), queries)
