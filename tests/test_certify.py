"""The radius formula, pinned and checked against exhaustive vote changes."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skdpa import certified_radius
from skdpa.certify import plurality_vote


@pytest.mark.parametrize(
    "votes, expected",
    [
        ([7, 2, 1], 2),  # (7 - 2) // 2
        ([3, 5, 0], 0),  # class 0 wins ties against 1: gap 5 - (3 + 1) = 1
        ([4, 4, 0], 0),  # a tie goes to class 0, which then has no margin
        ([0, 4, 4], 0),  # 1 wins the tie with 2 (no bonus for larger indices)
        ([0, 5, 4], 0),  # 5 - (0 + 1) vs 4 + 0: runner-up 4, gap 1
        ([0, 6, 3], 1),
        ([10, 0], 5),  # k // 2 when unanimous for class 0
        ([0, 10], 4),  # unanimous for class 1: class 0 still wins ties
        ([9], 4),  # one class: the runner-up has no votes
        ([0, 0, 0], 0),  # everybody abstained
    ],
)
def test_radius_pinned(votes, expected):
    assert certified_radius([votes]).tolist() == [expected]


def test_plurality_tie_goes_to_smaller_index():
    assert plurality_vote([[2, 2, 2], [0, 3, 3], [1, 0, 1]]).tolist() == [0, 1, 0]


def test_radius_shape_and_dtype():
    r = certified_radius(np.array([[1, 2], [3, 0]], dtype=np.uint8))
    assert r.dtype == np.int64 and r.shape == (2,)


@pytest.mark.parametrize(
    "votes, match",
    [
        ([1, 2], "2-D array"),
        ([[1, -1]], "non-negative counts; got a minimum of -1"),
        ([[0.5, 1]], "whole numbers"),
        (np.zeros((2, 0)), "at least one class column"),
        ([["a", "b"]], "integer counts"),
    ],
)
def test_radius_rejects_bad_votes(votes, match):
    with pytest.raises(ValueError, match=match):
        certified_radius(votes)


def _winner_after(votes, moves):
    v = list(votes)
    for src, dst in moves:
        if src is not None:
            if v[src] == 0:
                return None  # not a possible change
            v[src] -= 1
        if dst is not None:
            v[dst] += 1
    return int(np.argmax(v))


def _changes(n_classes):
    """One member changing: move a vote, or (abstain <-> vote) at a partition."""
    options = [None, *range(n_classes)]
    return [(a, b) for a in options for b in options if a != b]


@settings(max_examples=60, deadline=None)
@given(arrays(np.int64, st.integers(2, 3), elements=st.integers(0, 5)))
def test_radius_is_exact_by_exhaustion(votes):
    """No r changed members flip the winner; some r + 1 do (the bound is tight)."""
    r = int(certified_radius(votes[None, :])[0])
    winner = int(plurality_vote(votes[None, :])[0])
    changes = _changes(len(votes))
    for moves in itertools.product(changes, repeat=r):
        after = _winner_after(votes, moves)
        assert after is None or after == winner
    flipped = any(
        (after := _winner_after(votes, moves)) is not None and after != winner
        for moves in itertools.product(changes, repeat=r + 1)
    )
    assert flipped


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.int64,
        st.tuples(st.integers(1, 5), st.integers(1, 6)),
        elements=st.integers(0, 50),
    )
)
def test_radius_bounds(votes):
    r = certified_radius(votes)
    assert (r >= 0).all()
    assert (r <= votes.sum(axis=1) // 2).all()
