"""Theorem 1 by brute force: poison within the radius, refit, nothing moves.

Members are 1-nearest-neighbour classifiers, for which the worst case is easy to
build: a near-duplicate of the test point inserted into a partition makes that
member vote for the inserted label. Every attack refits through the public API.
"""

import numpy as np
import pytest
from helpers import near_copies_in, runner_up
from sklearn.datasets import make_blobs
from sklearn.neighbors import KNeighborsClassifier

from skdpa import DPAClassifier

K = 25


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(
        n_samples=500, centers=3, cluster_std=2.5, n_features=2, random_state=0
    )
    X_test, _ = make_blobs(
        n_samples=30, centers=3, cluster_std=2.5, n_features=2, random_state=1
    )
    return X, y, X_test


def _fit(X, y):
    return DPAClassifier(KNeighborsClassifier(1), k=K).fit(X, y)


def _member_votes(clf, x):
    """Class index each member votes for at x (-1: abstains)."""
    return clf.member_predictions(x[None, :])[0]


def _insertion_attack(clf, X, y, x, n, rng):
    """Insert n near-copies of x labelled with the runner-up, each into a
    different partition currently voting for the prediction."""
    votes = clf.vote_counts(x[None, :])[0]
    c = int(np.argmax(votes))
    rival = runner_up(votes, c)
    voting_c = np.flatnonzero(_member_votes(clf, x) == c)
    targets = rng.permutation(voting_c)[:n]
    X_new = near_copies_in(clf, x, targets, rng)
    X_p = np.vstack([X, X_new])
    y_p = np.concatenate([y, np.full(len(X_new), clf.classes_[rival])])
    return _fit(X_p, y_p).predict(x[None, :])[0]


def test_insertions_within_radius_never_change_the_prediction(data):
    X, y, X_test = data
    clf = _fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    assert radius.max() >= 3, "the test needs non-trivial radii to mean anything"
    rng = np.random.default_rng(0)
    moved_beyond = 0
    for x, c, r in zip(X_test, y_pred, radius, strict=True):
        assert _insertion_attack(clf, X, y, x, r, rng) == c
        # one step beyond the radius the same attack usually wins
        moved_beyond += _insertion_attack(clf, X, y, x, r + 1, rng) != c
    assert moved_beyond >= 0.8 * len(X_test)


def test_removals_within_radius_never_change_the_prediction(data):
    """Remove, from r partitions voting for c, the row that decides the vote."""
    X, y, X_test = data
    clf = _fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    changed_members = 0
    for x, c_label, r in zip(X_test, y_pred, radius, strict=True):
        c = int(np.searchsorted(clf.classes_, c_label))
        voting_c = np.flatnonzero(_member_votes(clf, x) == c)[:r]
        drop = []
        for i in voting_c:
            rows = clf.estimators_samples_[i]
            drop.append(rows[np.argmin(np.linalg.norm(X[rows] - x, axis=1))])
        keep = np.setdiff1d(np.arange(len(X)), drop)
        poisoned = _fit(X[keep], y[keep])
        assert poisoned.predict(x[None, :])[0] == c_label
        changed_members += int(
            (_member_votes(poisoned, x) != _member_votes(clf, x)).sum()
        )
    assert changed_members > 0, "the removals must actually move some members"


def test_label_flips_count_once_for_dpa(data):
    """The content hash ignores labels: relabelling r rows is within radius r."""
    X, y, X_test = data
    clf = _fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    moved_beyond = 0
    for x, c_label, r in zip(X_test, y_pred, radius, strict=True):
        votes = clf.vote_counts(x[None, :])[0]
        c = int(np.argmax(votes))
        rival = clf.classes_[runner_up(votes, c)]
        voting_c = np.flatnonzero(_member_votes(clf, x) == c)
        nearest = [
            rows[np.argmin(np.linalg.norm(X[rows] - x, axis=1))]
            for rows in (clf.estimators_samples_[i] for i in voting_c)
        ]
        for n, expect_same in ((r, True), (r + 1, False)):
            y_p = y.copy()
            y_p[nearest[:n]] = rival
            same = _fit(X, y_p).predict(x[None, :])[0] == c_label
            if expect_same:
                assert same
            else:
                moved_beyond += not same
    assert moved_beyond >= 0.8 * len(X_test)


def test_random_mixed_poisoning_within_radius(data):
    """Random insertions, removals and flips, r in total, anywhere."""
    X, y, X_test = data
    clf = _fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    rng = np.random.default_rng(3)
    for x, c_label, r in zip(X_test[:12], y_pred[:12], radius[:12], strict=True):
        n_ins, n_del = rng.integers(0, r + 1, 2)
        n_del = min(n_del, r - n_ins)
        n_flip = r - n_ins - n_del
        idx = rng.permutation(len(X))
        removed, flipped = idx[:n_del], idx[n_del : n_del + n_flip]
        y_p = y.copy()
        y_p[flipped] = (y_p[flipped] + 1) % 3
        keep = np.setdiff1d(np.arange(len(X)), removed)
        X_ins = x + rng.normal(scale=0.01, size=(n_ins, 2))
        X_p = np.vstack([X[keep], X_ins])
        y_ins = rng.integers(0, 3, n_ins)
        y_p = np.concatenate([y_p[keep], y_ins])
        assert _fit(X_p, y_p).predict(x[None, :])[0] == c_label


def test_inserting_a_new_label_within_radius(data):
    """Labels 0..C-1 (the paper's setting): an unseen label sorts after every
    class, so insertions that introduce it are covered by the radius too."""
    X, y, X_test = data
    clf = _fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    rng = np.random.default_rng(7)
    for x, c_label, r in zip(X_test[:10], y_pred[:10], radius[:10], strict=True):
        c = int(np.searchsorted(clf.classes_, c_label))
        voting_c = np.flatnonzero(_member_votes(clf, x) == c)[:r]
        X_new = near_copies_in(clf, x, voting_c, rng)
        X_p = np.vstack([X, X_new])
        y_p = np.concatenate([y, np.full(len(X_new), 3)])  # a fourth class
        poisoned = _fit(X_p, y_p)
        assert poisoned.n_classes_ == (4 if r else 3)
        assert poisoned.predict(x[None, :])[0] == c_label


# -- finite aggregation and run-off election, at the estimator level ----------


def _bucket_attack(clf, make, X, y, x, n_buckets, rng):
    """Insert, labelled with the rival, a near-copy of x into each of the
    ``n_buckets`` buckets whose members vote most for the prediction (each
    copy makes every 1-NN member its bucket feeds vote for the rival)."""
    preds = clf.member_predictions(x[None, :])[0]
    c = int(np.argmax(clf.vote_counts(x[None, :])[0]))
    rival = runner_up(clf.vote_counts(x[None, :])[0], c)
    n_members = clf.n_members_
    feeds = (np.arange(n_members)[:, None] + clf.shifts_[None, :]) % n_members
    gain = (preds[feeds] == c).sum(axis=1) + (preds[feeds] != rival).sum(axis=1)
    buckets = np.argsort(-gain, kind="stable")[:n_buckets]
    X_new = near_copies_in(clf, x, buckets, rng)
    X_p = np.vstack([X, X_new])
    y_p = np.concatenate([y, np.full(len(X_new), clf.classes_[rival])])
    return make().fit(X_p, y_p).predict(x[None, :])[0]


@pytest.mark.parametrize(
    "params",
    [
        {"k": 10, "spread": 3},
        {"k": 10, "spread": 3, "classes": [0, 1, 2]},
        {"k": 20, "voting": "runoff"},
        {"k": 8, "spread": 2, "voting": "runoff"},
    ],
)
def test_bucket_attacks_within_the_radius_never_flip(data, params):
    X, y, X_test = data

    def make():
        return DPAClassifier(KNeighborsClassifier(1), **params)

    clf = make().fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    assert (radius <= clf.certificate_.max_radius).all()
    assert radius[:15].max() >= 2, "the attacks need non-trivial radii"
    rng = np.random.default_rng(1)
    moved = 0
    for x, c, r in zip(X_test[:15], y_pred[:15], radius[:15], strict=True):
        assert _bucket_attack(clf, make, X, y, x, r, rng) == c
        moved += _bucket_attack(clf, make, X, y, x, 2 * r + 2, rng) != c
    assert moved > 0, "a larger attack must move some predictions"


def test_spread_one_is_dpa(data):
    X, y, X_test = data
    dpa = DPAClassifier(KNeighborsClassifier(1), k=K).fit(X, y)
    fa1 = DPAClassifier(KNeighborsClassifier(1), k=K, spread=1).fit(X, y)
    np.testing.assert_array_equal(fa1.shifts_, [0])
    pairs = zip(
        dpa.predict_certified(X_test), fa1.predict_certified(X_test), strict=True
    )
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)


def test_spread_members_train_on_their_buckets(data):
    X, y, _ = data
    clf = DPAClassifier(KNeighborsClassifier(1), k=7, spread=3).fit(X, y)
    bucket = clf.assign_partitions(X)
    assert clf.n_members_ == 21 and len(set(clf.shifts_.tolist())) == 3
    for j, rows in enumerate(clf.estimators_samples_):
        expected = np.flatnonzero(np.isin(bucket, (j - clf.shifts_) % 21))
        np.testing.assert_array_equal(np.sort(rows), expected)
    # every sample trains exactly `spread` members
    counts = np.bincount(np.concatenate(clf.estimators_samples_), minlength=len(X))
    assert (counts == 3).all()
