"""Test helpers shared by the test modules (one place, imported as ``helpers``).

Fixtures are in ``conftest.py``.
"""

import functools

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.linear_model import Ridge


@functools.cache
def digits_arrays():
    """scikit-learn's digits ``(X, y)``, loaded once and read-only.

    Shared by every module through the ``digits`` fixture, which hands out
    copies; a test that wrote to these arrays would change the others' data.
    """
    X, y = load_digits(return_X_y=True)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def runner_up(votes, c):
    """The rival that needs the fewest extra votes to beat class index ``c``."""
    score = np.asarray(votes) + (np.arange(len(votes)) < c)  # ties: smaller index
    score[c] = -1
    return int(np.argmax(score))


def near_copies_in(clf, x, members, rng, n_candidates=20000, scale=1e-7):
    """One near-copy of ``x`` per requested bucket, found with assign_partitions."""
    candidates = x + rng.normal(scale=scale, size=(n_candidates, len(x)))
    where = clf.assign_partitions(candidates)
    picked = []
    for p in members:
        hits = np.flatnonzero(where == p)
        assert hits.size, f"no candidate landed in bucket {p}"
        picked.append(candidates[hits[0]])
    return np.array(picked).reshape(-1, len(x))


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Records what fit received; predicts the majority class of its fit."""

    def fit(self, X, y, sample_weight=None):
        self.X_seen_ = np.asarray(X)
        self.y_seen_ = np.asarray(y)
        self.sample_weight_seen_ = sample_weight
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


class PositionalCentroids(ClassifierMixin, BaseEstimator):
    """A member whose outputs depend on the integer codes of the labels, like a
    torch net's logits: class code ``c`` owns a seeded random offset, so the
    same rows with re-indexed labels give another model."""

    def __init__(self, n_classes=3, random_state=None):
        self.n_classes = n_classes
        self.random_state = random_state

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        rng = np.random.RandomState(self.random_state)
        offsets = rng.normal(scale=3.0, size=(self.n_classes, X.shape[1]))
        self.centroids_ = np.array(
            [
                X[y == c].mean(axis=0) if np.any(y == c) else np.full(X.shape[1], 1e9)
                for c in range(self.n_classes)
            ]
        )
        self.centroids_ += offsets
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        d = ((X[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1)


class DiesOnceTree(ClassifierMixin, BaseEstimator):
    """A decision tree whose first fit in a Dask worker kills that worker.

    The first call that finds no file at ``marker`` creates it and ends its
    process at once (``os._exit``), as a lost machine would; every later fit
    is a plain seeded decision tree.
    """

    def __init__(self, marker=None, random_state=None):
        self.marker = marker
        self.random_state = random_state

    def fit(self, X, y):
        import os

        from sklearn.tree import DecisionTreeClassifier

        if self.marker is not None:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(1)
        self.tree_ = DecisionTreeClassifier(
            max_features=0.5, random_state=self.random_state
        ).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X):
        return self.tree_.predict(X)

    def predict_proba(self, X):
        return self.tree_.predict_proba(X)


class FailsOnRows(ClassifierMixin, BaseEstimator):
    """Fits like a stump, but raises when fit on more than ``max_rows`` rows."""

    def __init__(self, max_rows=10**9):
        self.max_rows = max_rows

    def fit(self, X, y):
        if len(X) > self.max_rows:
            raise RuntimeError(f"refusing {len(X)} rows")
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


class MissingTargetRidge(Ridge):
    """Ridge that takes NaN (missing) targets: fit on the rows that have one.
    Records how many rows it was given. For ``SSDPARegressor(pass_unlabeled=
    True)``, behind steps that learn from every row."""

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        self.n_rows_seen_ = X.shape[0]
        known = ~np.isnan(y)
        return super().fit(X[known], y[known])


class CentredRidge(MissingTargetRidge):
    """Uses every row it is given: centres X on all rows (with a target or
    not), then fits ridge on the rows that have a target."""

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        self.centre_ = X.mean(axis=0)
        return super().fit(X - self.centre_, y)

    def predict(self, X):
        return super().predict(np.asarray(X, dtype=float) - self.centre_)
