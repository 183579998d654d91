"""Prediction holds one chunk of member outputs at a time (issue 16: 0.2 peaked
at 1.0-1.8 GB of temporaries for a 2 MB result)."""

import tracemalloc

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import skdpa._base
from skdpa import DPAClassifier

# The budget the estimators document: member outputs of one chunk (8-byte
# items); the certify functions' own working arrays stay under a fraction.
BUDGET = skdpa._base._CHUNK_ITEMS * 8


class Threshold(ClassifierMixin, BaseEstimator):
    """A member that costs nothing to fit or to call: x0 above its rows' mean."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.t_ = float(np.mean(X[:, 0]))
        return self

    def predict_proba(self, X):
        p = (np.asarray(X)[:, 0] > self.t_).astype(float)
        proba = np.column_stack([1 - p, p])
        return proba[:, : len(self.classes_)]

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@pytest.fixture(scope="module")
def wide():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(25_000, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=len(X)) > 0).astype(int)
    return X[:5000], y[:5000], X[5000:]


def _peak(func, *args):
    tracemalloc.start()
    try:
        result = func(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.mark.parametrize("voting", ["plurality", "runoff"])
@pytest.mark.parametrize(
    "method", ["predict", "predict_certified", "vote_counts", "certificate_report"]
)
def test_prediction_memory_stays_within_twice_the_chunk_budget(wide, voting, method):
    X, y, X_test = wide
    clf = DPAClassifier(Threshold(), k=1000, voting=voting).fit(X, y)
    per_row = clf.n_members_ * (2 if voting == "runoff" else 1) * 8
    # the outputs of all rows would not fit in the budget: chunking is exercised
    assert per_row * len(X_test) > 2.2 * BUDGET
    peak, result = _peak(getattr(clf, method), X_test)
    assert peak <= 2 * BUDGET, f"{method} peaked at {peak / 2**20:.0f} MiB"
    # chunked results equal the unchunked computation on a few rows
    head = getattr(clf, method)(X_test[:50])
    if method == "certificate_report":
        result, head = result.radius, head.radius
    elif method == "predict_certified":
        result, head = result[1], head[1]
    assert np.array_equal(np.asarray(result)[:50], np.asarray(head))
