"""The Fashion-MNIST benchmark's k-nearest-neighbour member and its costs.

``benchmarks/_fmnist_members.Neighbours.poison_costs`` claims lower bounds on
the images inserted into or removed from a member's partition that make it
output each class. Checked by brute force: every set of up to two insertions
(from a pool: the queries, any label) and removals is applied, the member refit,
and the cheapest set reaching each class compared with the claim.
"""

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from _fmnist_members import Neighbours  # noqa: E402

N_CLASSES = 3


def _images(rng, labels, prototypes, noise=0.35):
    out = prototypes[labels] + noise * rng.rand(len(labels), 784)
    return out.astype(np.float32)


def _problem(seed):
    rng = np.random.RandomState(seed)
    prototypes = rng.rand(N_CLASSES, 784)
    y = rng.randint(0, N_CLASSES, 7)
    X = _images(rng, y, prototypes)
    queries = _images(rng, rng.randint(0, N_CLASSES, 3), prototypes, noise=0.6)
    # the queries themselves are the strongest insertions (distance 0)
    return X, y, queries, queries


def _cheapest(params, X, y, queries, pool, max_ops=2):
    """Fewest operations (<= max_ops) that make the member output each class.

    Operations: remove one image of the partition, or insert one pool image
    with any label (the same one more than once included). ``max_ops + 1``
    where none of up to ``max_ops`` operations does.
    """
    removals = [("remove", i) for i in range(len(X))]
    inserts = [("insert", p, c) for p in range(len(pool)) for c in range(N_CLASSES)]
    best = np.full((len(queries), N_CLASSES), max_ops + 1)
    for n_ops in range(max_ops + 1):
        for ops in itertools.combinations_with_replacement(removals + inserts, n_ops):
            gone = [op[1] for op in ops if op[0] == "remove"]
            if len(set(gone)) < len(gone):
                continue  # an image is removed once
            keep = np.setdiff1d(np.arange(len(X)), gone)
            added = [op for op in ops if op[0] == "insert"]
            Xp = np.vstack([X[keep]] + [pool[[p]] for _, p, _ in added])
            yp = np.concatenate([y[keep], [c for _, _, c in added]]).astype(int)
            pred = Neighbours(**params).fit(Xp, yp).predict(queries)
            rows = np.arange(len(queries))
            best[rows, pred] = np.minimum(best[rows, pred], n_ops)
    return best


def _sound(claimed, cheapest, max_ops=2):
    """No class is reached with fewer operations than claimed (up to max_ops)."""
    return bool(np.all((cheapest > max_ops) | (claimed <= cheapest)))


@pytest.fixture(autouse=True)
def _one_thread():
    # hundreds of tiny neighbour searches: thread start-up would dominate
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize(
    "params",
    [{"n_neighbors": 5}, {"n_neighbors": 5, "offsets": ((0, 0), (1, 0))}],
)
def test_poison_costs_sound_and_tight_by_brute_force(params):
    tight = 0
    for seed in range(2):
        X, y, queries, pool = _problem(seed)
        member = Neighbours(**params).fit(X, y)
        costs = member.poison_costs(queries, N_CLASSES)
        assert costs.shape == (len(queries), N_CLASSES + 1)
        rows = np.arange(len(queries))
        assert np.all(costs[rows, member.predict(queries)] == 0)
        assert np.all(costs[:, N_CLASSES] == len(X))  # abstain: remove all
        claimed = costs[:, :N_CLASSES]
        cheapest = _cheapest(params, X, y, queries, pool)
        assert _sound(claimed, cheapest)
        # teeth: where the claim is exactly the cheapest attack found, a claim
        # one higher is refuted by the enumeration
        overstated = claimed + (claimed > 0)
        tight += int(not _sound(overstated, cheapest))
    assert tight > 0


def test_poison_costs_cap_when_few_rows():
    # fewer rows than neighbours: a removal takes a vote away, claim 1 only
    X, y, queries, _ = _problem(0)
    member = Neighbours(n_neighbors=20).fit(X, y)
    costs = member.poison_costs(queries, N_CLASSES)
    pred = member.predict(queries)
    expected = np.ones((len(queries), N_CLASSES))
    expected[np.arange(len(queries)), pred] = 0
    np.testing.assert_array_equal(costs[:, :N_CLASSES], expected)


def test_features_must_be_hog_or_none():
    X, y, _, _ = _problem(0)
    with pytest.raises(ValueError, match="features must be 'hog' or None; got"):
        Neighbours(features="pca").fit(X, y)


def test_flip_costs_on_given_features():
    rng = np.random.RandomState(0)
    X = rng.rand(12, 4).astype(np.float32)
    y = np.array([0] * 6 + [1] * 6)
    member = Neighbours(5, features=None).fit(X, y)
    costs = member.flip_costs(X[:2], 2)
    np.testing.assert_array_equal(costs, member.poison_costs(X[:2], 2))
