"""Member costs against brute force: refit the member after every small attack."""

import itertools

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from skdpa.certify import cost_certify
from skdpa.member_costs import knn_costs


def _data(seed, n=8, n_classes=3):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 2)).round(3)
    y = rng.randint(n_classes, size=n)
    y[:n_classes] = np.arange(n_classes)  # every class present
    queries = rng.uniform(size=(4, 2)).round(3)
    return X, y, queries


def _predict(k, X, y, queries):
    if len(y) == 0:
        return np.full(len(queries), -1)
    if len(np.unique(y)) == 1:
        return np.full(len(queries), y[0])  # the ensembles' constant member
    return KNeighborsClassifier(min(k, len(y))).fit(X, y).predict(queries)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("seed", range(2))
def test_knn_flip_costs_are_exact(k, seed):
    """Every set of <= 3 label flips: a class is reached exactly at its cost."""
    n_classes = 3
    X, y, queries = _data(seed, n_classes=n_classes)
    member = KNeighborsClassifier(k).fit(X, y)
    costs = knn_costs(member, queries, n_classes, n_rows=len(y))
    reached = np.full((len(queries), n_classes), np.inf)
    reached[np.arange(len(queries)), member.predict(queries)] = 0
    for t in range(1, 4):
        for rows in itertools.combinations(range(len(y)), t):
            for labels in itertools.product(range(n_classes), repeat=t):
                if any(y[r] == lab for r, lab in zip(rows, labels, strict=True)):
                    continue
                flipped = y.copy()
                flipped[list(rows)] = labels
                pred = _predict(k, X, flipped, queries)
                idx = np.arange(len(queries))
                reached[idx, pred] = np.minimum(reached[idx, pred], t)
    finite = np.isfinite(reached)
    # sound: nothing reached below its cost; exact: reached at its cost
    assert (reached[finite] >= costs[:, :n_classes][finite]).all()
    small = costs[:, :n_classes] <= 3
    assert np.array_equal(reached[small], costs[:, :n_classes][small])


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("seed", range(3))
def test_knn_costs_bound_insertions_and_removals(k, seed):
    """Every attack of <= 2 insertions (copies of a query, any label, or
    points near the training rows) and removals: never below the cost."""
    n_classes = 3
    X, y, queries = _data(seed, n_classes=n_classes)
    member = KNeighborsClassifier(k).fit(X, y)
    costs = knn_costs(member, queries, n_classes, n_rows=len(y))
    pool = [(q, c) for q in queries for c in range(n_classes)]
    pool += [(x + 0.001, c) for x in X[:3] for c in range(n_classes)]
    moves = [("remove", i) for i in range(len(y))] + [("insert", p) for p in pool]
    idx = np.arange(len(queries))
    for t in (1, 2):
        for attack in itertools.combinations(moves, t):
            removed = [i for kind, i in attack if kind == "remove"]
            keep = np.setdiff1d(np.arange(len(y)), removed)
            Xa, ya = X[keep], y[keep]
            inserted = [p for kind, p in attack if kind == "insert"]
            if inserted:
                Xa = np.vstack([Xa, [p[0] for p in inserted]])
                ya = np.concatenate([ya, [p[1] for p in inserted]])
            pred = _predict(k, Xa, ya, queries)
            abstain = pred < 0
            cls = np.where(abstain, n_classes, pred)
            assert (costs[idx, cls] <= t).all(), (attack, pred)


def test_knn_costs_feed_cost_certify_and_certify_more_than_plurality():
    rng = np.random.RandomState(0)
    centers = np.array([[0, 0], [3, 0], [0, 3]])
    y = rng.randint(3, size=300)
    X = centers[y] + rng.normal(scale=0.8, size=(300, 2))
    queries = centers + 0.1
    members = [KNeighborsClassifier(5).fit(X[i::10], y[i::10]) for i in range(10)]
    costs = np.stack(
        [knn_costs(m, queries, 3, n_rows=len(y[i::10])) for i, m in enumerate(members)],
        axis=1,
    )
    winner, radius = cost_certify(costs)
    from skdpa.certify import plurality_certify

    preds = np.stack([m.predict(queries) for m in members], axis=1)
    w0, r0 = plurality_certify(preds, 3)
    assert np.array_equal(winner, w0)
    assert (radius >= r0).all() and (radius > r0).any()


def test_knn_costs_refuse_what_they_cannot_bound():
    X, y = np.eye(3), [0, 1, 2]
    with pytest.raises(TypeError, match="needs a fitted KNeighborsClassifier"):
        knn_costs(object(), X, 3, 3)
    weighted = KNeighborsClassifier(1, weights="distance").fit(X, y)
    with pytest.raises(
        ValueError, match="weights='uniform' only; got weights='distance'"
    ):
        knn_costs(weighted, X, 3, 3)
