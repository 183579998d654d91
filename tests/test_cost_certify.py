"""cost_certify against enumeration of every choice of member outputs."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skdpa.certify import cost_certify, plurality_certify, plurality_winner

INF = np.inf


def _brute_radius(costs):
    """Largest r such that no output choice of total cost <= r changes the
    plurality winner (ties to the smaller index); inf if none ever does."""
    n_members, width = costs.shape
    n_classes = width - 1
    current = costs.argmin(axis=1)
    as_pred = np.where(current == n_classes, -1, current)
    winner = plurality_winner(as_pred[None, :], n_classes)[0]
    cheapest = INF
    for choice in itertools.product(range(width), repeat=n_members):
        total = sum(costs[j, c] for j, c in enumerate(choice))
        if total >= cheapest:
            continue
        pred = np.array([c if c < n_classes else -1 for c in choice])
        if plurality_winner(pred[None, :], n_classes)[0] != winner:
            cheapest = total
    return winner, cheapest


def _random_costs(rng, n_members, n_classes, values=(1, 2, 3, 5, INF)):
    costs = rng.choice(values, size=(n_members, n_classes + 1))
    current = rng.randint(0, n_classes + 1, size=n_members)
    costs[np.arange(n_members), current] = 0
    return costs


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("n_members", [1, 2, 3, 4, 5])
def test_exact_against_enumeration(n_members, n_classes):
    rng = np.random.RandomState(1000 * n_members + n_classes)
    n_cases = 150 if n_members <= 4 else 40
    cases = np.array([_random_costs(rng, n_members, n_classes) for _ in range(n_cases)])
    winner, radius = cost_certify(cases)
    for i, costs in enumerate(cases):
        w, cheapest = _brute_radius(costs)
        assert winner[i] == w
        expected = np.iinfo(np.int64).max if np.isinf(cheapest) else cheapest - 1
        assert radius[i] == expected, (costs, radius[i], cheapest)


def test_fractional_costs_round_up_to_samples():
    rng = np.random.RandomState(7)
    cases = np.array([_random_costs(rng, 4, 2, (0.5, 1.5, 2.2, 4)) for _ in range(100)])
    _, radius = cost_certify(cases)
    for i, costs in enumerate(cases):
        _, cheapest = _brute_radius(costs)
        assert radius[i] == max(0, int(np.ceil(cheapest)) - 1)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(2, 4),
    st.integers(0, 2**31 - 1),
)
def test_unit_costs_are_plurality_and_larger_costs_never_certify_less(
    n_members, n_classes, seed
):
    rng = np.random.RandomState(seed)
    pred = rng.randint(-1, n_classes, size=(5, n_members))
    ones = np.ones((5, n_members, n_classes + 1))
    current = np.where(pred < 0, n_classes, pred)
    np.put_along_axis(ones, current[..., None], 0, axis=2)
    w1, r1 = cost_certify(ones)
    w0, r0 = plurality_certify(pred, n_classes)
    assert np.array_equal(w1, w0) and np.array_equal(r1, r0)
    heavier = ones * rng.randint(1, 4, size=ones.shape)
    w2, r2 = cost_certify(heavier)
    assert np.array_equal(w2, w0) and (r2 >= r0).all()


def test_the_enumeration_sees_an_overstated_cost():
    """Teeth of the exact comparison: overstating one member's cost by one on
    a vote that member decides changes the true radius the enumeration finds."""
    costs = np.array([[0, 2, 4], [0, 5, 5], [3, 0, 3]], dtype=float)
    _, cheapest = _brute_radius(costs)
    lifted = costs.copy()
    lifted[0, 1] += 1
    _, lifted_cheapest = _brute_radius(lifted)
    assert lifted_cheapest > cheapest
    assert cost_certify(costs[None])[1][0] == cheapest - 1
    assert cost_certify(lifted[None])[1][0] == lifted_cheapest - 1


@pytest.mark.parametrize(
    "costs, match",
    [
        (np.zeros((2, 3)), "must be a 3-D array"),
        (np.zeros((1, 2, 2)), "at least 3 columns"),
        (np.array([[[0, 1, np.nan]]]), "must not contain NaN"),
        (np.array([[[0, -1, 1]]]), "non-negative; got a minimum of -1"),
        (np.array([[[0, 0, 1]]]), "exactly one 0 per member and sample"),
        (np.array([[["0", "1", "1"]]]), "must hold real numbers"),
    ],
)
def test_errors(costs, match):
    with pytest.raises(ValueError, match=match):
        cost_certify(costs)
