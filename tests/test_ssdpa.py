"""Tests for SSDPAClassifier: the label-flip certificate (Theorem 2) by brute force.

Black-box first: everything goes through ``fit``, ``predict``, ``vote_counts``,
``predict_certified`` and the fitted attributes of the public contract
(``estimators_``, ``estimators_samples_``, ``embedding_``, ...). Members are fit
on labels encoded as class indices, so ``member.predict`` returns indices into
``classes_``; the helpers below rely on that documented contract.
"""

import doctest
import itertools
from functools import cache

import numpy as np
import pytest
from helpers import runner_up
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

import skdpa._ssdpa
from skdpa import DPAClassifier, SSDPAClassifier
from skdpa._base import Certificate


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # The fits here are tiny: BLAS threads only add contention, which on a busy
    # 2-core machine makes a 20 ms LogisticRegression fit take 500 ms.
    with threadpool_limits(limits=1):
        yield


# --------------------------------------------------------------------------
# Data and helpers
# --------------------------------------------------------------------------


@cache
def _digits():
    X, y = load_digits(return_X_y=True)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def digits_split(n_train=600, n_test=200):
    """Disjoint train/test slices of scikit-learn's digits (no duplicate rows)."""
    X, y = _digits()
    return X[:n_train], y[:n_train].copy(), X[1500 : 1500 + n_test], y[1500:][:n_test]


def knn_ssdpa(k=15, **params):
    """1-nearest-neighbour members on a PCA embedding: each member's vote is
    decided by one training row, which makes the worst-case attack explicit."""
    return SSDPAClassifier(
        KNeighborsClassifier(1),
        k=k,
        embedding=PCA(8, svd_solver="covariance_eigh"),
        **params,
    )


def embed(clf, X):
    return X if clf.embedding is None else clf.embedding_.transform(X)


def member_votes(clf, X):
    """(k, n_samples) class index each member votes for; -1 where it abstains."""
    return clf.member_predictions(X).T


def decisive_flips(clf, X, y, x, n_flips):
    """The worst-case attack on 1-NN members: relabel, as the runner-up class,
    the training row nearest to x (in embedding space) in each of the first
    ``n_flips`` partitions whose member votes for the prediction.

    Returns the poisoned labels, the attacked partitions, c and the rival.
    """
    votes = clf.vote_counts(x[None])[0]
    c = int(np.argmax(votes))
    rival = runner_up(votes, c)
    voting_c = np.flatnonzero(member_votes(clf, x[None])[:, 0] == c)
    attacked = voting_c[:n_flips]
    assert len(attacked) == n_flips  # radius <= n_c / 2, so there are enough
    z = embed(clf, x[None])
    y_bad = y.copy()
    for i in attacked:
        rows = clf.estimators_samples_[i]
        dist = ((embed(clf, X[rows]) - z) ** 2).sum(axis=1)
        y_bad[rows[np.argmin(dist)]] = clf.classes_[rival]
    return y_bad, attacked, c, rival


def with_unlabeled(y, fraction, seed=0):
    """Copy of y with a random `fraction` of the rows marked unlabeled (-1)."""
    rng = np.random.RandomState(seed)
    y = y.copy()
    y[rng.rand(len(y)) < fraction] = -1
    return y


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Spy member: records what fit received, votes its most common label."""

    def fit(self, X, y):
        self.X_seen_ = np.array(X, copy=True)
        self.y_seen_ = np.array(y, copy=True)
        labels = self.y_seen_[self.y_seen_ != -1]
        self.vote_ = int(np.bincount(labels).argmax())
        return self

    def predict(self, X):
        return np.full(len(X), self.vote_)


_EMBEDDING_FITS = []


class RecordingEmbedding(TransformerMixin, BaseEstimator):
    """Spy embedding: records every fit call in a module-level list."""

    def __init__(self, n_components=2):
        self.n_components = n_components

    def fit(self, X, y=None):
        _EMBEDDING_FITS.append((np.array(X, copy=True), y))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float)[:, : self.n_components] * 2.0 + 1.0


class RefusesToFit(ClassifierMixin, BaseEstimator):
    """A base estimator that must never be fit (degenerate partitions)."""

    def fit(self, X, y):
        raise AssertionError(f"fit was called with classes {np.unique(y)}")

    def predict(self, X):
        raise AssertionError("predict was called")


def sorted_rows(A):
    return A[np.lexsort(A.T[::-1])]


# --------------------------------------------------------------------------
# The certificate, by brute force (Theorem 2)
# --------------------------------------------------------------------------


def test_member_votes_helper_matches_vote_counts():
    # The attack helpers read individual members; they must agree with the
    # estimator's own tally or the brute-force tests below prove nothing.
    X, y, X_test, _ = digits_split()
    clf = knn_ssdpa().fit(X, y)
    per_member = member_votes(clf, X_test)
    tally = np.stack([(per_member == c).sum(axis=0) for c in range(10)], axis=1)
    assert_array_equal(tally, clf.vote_counts(X_test))


@pytest.mark.parametrize("partitioning", ["sorted", "hash"])
def test_decisive_label_flips_within_radius_never_change_prediction(partitioning):
    """Flip the rows that decide the members voting for the prediction.

    Within the radius the prediction holds; one flip beyond, it falls. For
    1-NN members this attack is the worst case (each flip turns one vote for c
    into one for the runner-up), so the radius is tight and the r + 1 attack
    must succeed for every point: the test has teeth.
    """
    X, y, X_test, _ = digits_split()
    clf = knn_ssdpa(partitioning=partitioning).fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    # one test point per radius value seen, so small and large radii are all
    # exercised, and three where the tie-break decides the radius (the
    # runner-up has the smaller class index)
    picks = [np.flatnonzero(radius == r)[0] for r in np.unique(radius)]
    votes = clf.vote_counts(X_test)
    c = np.argmax(votes, axis=1)
    tie_break = [
        j
        for j in range(len(X_test))
        if radius[j] > 0 and runner_up(votes[j], c[j]) < c[j]
    ]
    assert len(tie_break) >= 3
    picks = np.unique(np.concatenate([picks, tie_break[:3]]))
    assert len(np.unique(radius[picks])) >= 5
    broken = 0
    for j in picks:
        x, r = X_test[j], int(radius[j])
        before = member_votes(clf, x[None])[:, 0]
        for n_flips in (r, r + 1):
            y_bad, attacked, c, rival = decisive_flips(clf, X, y, x, n_flips)
            assert np.count_nonzero(y_bad != y) == n_flips
            poisoned = clone(clf).fit(X, y_bad)
            assert_array_equal(poisoned.classes_, clf.classes_)
            after = member_votes(poisoned, x[None])[:, 0]
            # each flip moved exactly its own member, to the rival; no other
            # member noticed anything
            assert_array_equal(np.flatnonzero(before != after), np.sort(attacked))
            assert np.all(after[attacked] == rival)
            pred = poisoned.predict(x[None])[0]
            if n_flips == r:
                assert pred == y_pred[j], (j, r)
            else:
                broken += pred != y_pred[j]
    assert broken == len(picks)


def test_every_label_flip_set_within_radius_keeps_prediction():
    """Exhaustive: every relabelling of up to 2 of 12 rows, every test point."""
    X, y = make_blobs(
        n_samples=12, centers=3, n_features=3, cluster_std=4.0, random_state=5
    )
    X_test = np.random.RandomState(0).uniform(X.min(0), X.max(0), size=(40, 3))
    make = SSDPAClassifier(
        KNeighborsClassifier(1),
        k=4,
        embedding=PCA(2, svd_solver="covariance_eigh"),
        classes=[0, 1, 2],
    )
    clf = clone(make).fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    assert set(np.unique(radius)) == {0, 1, 2}  # every radius is exercised
    broken = np.zeros(len(X_test), dtype=bool)  # by a set of radius + 1 flips
    n_sets = 0
    for size in (1, 2):
        for rows in itertools.combinations(range(len(y)), size):
            for shifts in itertools.product((1, 2), repeat=size):
                y_bad = y.copy()
                y_bad[list(rows)] = (y[list(rows)] + np.array(shifts)) % 3
                pred = clone(make).fit(X, y_bad).predict(X_test)
                moved = pred != y_pred
                assert not np.any(moved & (radius >= size)), (rows, shifts)
                broken |= moved & (radius == size - 1)
                n_sets += 1
    assert n_sets == 12 * 2 + 66 * 4
    # with 1-NN members the bound is tight: radius + 1 flips always suffice
    assert np.all(broken[radius <= 1])


@pytest.mark.parametrize("partitioning", ["sorted", "hash"])
def test_flips_to_and_from_unlabeled_count_once(partitioning):
    """Exhaustive: every change of up to 2 of 12 labels, to or from -1 (unlabeled)
    or between classes, keeps every prediction whose radius covers it."""
    X, y = make_blobs(
        n_samples=12, centers=3, n_features=3, cluster_std=4.0, random_state=5
    )
    y[[1, 6]] = -1
    X_test = np.random.RandomState(0).uniform(X.min(0), X.max(0), size=(40, 3))
    make = SSDPAClassifier(
        KNeighborsClassifier(1),
        k=4,
        embedding=PCA(2, svd_solver="covariance_eigh"),
        classes=[0, 1, 2],
        partitioning=partitioning,
    )
    clf = clone(make).fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    assert set(np.unique(radius)) >= {0, 1}
    broken = np.zeros(len(X_test), dtype=bool)
    n_sets = 0
    for size in (1, 2):
        for rows in itertools.combinations(range(len(y)), size):
            choices = [[v for v in (-1, 0, 1, 2) if v != y[i]] for i in rows]
            for labels in itertools.product(*choices):
                y_bad = y.copy()
                y_bad[list(rows)] = labels
                poisoned = clone(make).fit(X, y_bad)
                # one changed label touches one partition
                changed = [
                    j
                    for j in range(clf.k)
                    if not np.array_equal(
                        clf.member_predictions(X_test)[:, j],
                        poisoned.member_predictions(X_test)[:, j],
                    )
                ]
                assert len(changed) <= size, (rows, labels)
                moved = poisoned.predict(X_test) != y_pred
                assert not np.any(moved & (radius >= size)), (rows, labels)
                broken |= moved & (radius == size - 1)
                n_sets += 1
    assert n_sets == 12 * 3 + 66 * 9
    # with 1-NN members the bound is tight: radius + 1 changes suffice
    assert np.all(broken[radius <= 1])


@cache
def _fitted_for_random_flips():
    X, y, X_test, _ = digits_split(n_test=150)
    clf = knn_ssdpa().fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    return X, y, X_test, clf, y_pred, radius, member_votes(clf, X_test)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_label_flips_within_radius_never_change_prediction(data):
    X, y, X_test, clf, y_pred, radius, before = _fitted_for_random_flips()
    budget = data.draw(st.integers(1, 5), label="budget")
    rows = data.draw(
        st.lists(
            st.integers(0, len(y) - 1),
            min_size=budget,
            max_size=budget,
            unique=True,
        ),
        label="rows",
    )
    shifts = data.draw(
        st.lists(st.integers(1, 9), min_size=budget, max_size=budget),
        label="shifts",
    )
    y_bad = y.copy()
    y_bad[rows] = (y[rows] + np.array(shifts)) % 10
    poisoned = clone(clf).fit(X, y_bad)
    touched = {i for i, s in enumerate(clf.estimators_samples_) if set(s) & set(rows)}
    assert len(touched) <= budget
    after = member_votes(poisoned, X_test)
    # members whose partition holds no flipped row are exactly as they were
    untouched = [i for i in range(clf.k) if i not in touched]
    assert_array_equal(after[untouched], before[untouched])
    safe = radius >= budget
    assert_array_equal(poisoned.predict(X_test)[safe], y_pred[safe])


# --------------------------------------------------------------------------
# What a label flip may and may not change
# --------------------------------------------------------------------------


@pytest.mark.parametrize("partitioning", ["sorted", "hash"])
def test_label_flips_move_no_row_and_leave_the_embedding_unchanged(partitioning):
    X, y, X_test, _ = digits_split(n_train=400)
    y = with_unlabeled(y, 0.25)
    labeled = np.flatnonzero(y != -1)
    rng = np.random.RandomState(1)
    y_bad = y.copy()
    flipped = rng.choice(labeled, size=len(labeled) // 3, replace=False)
    y_bad[flipped] = (y[flipped] + rng.randint(1, 10, size=len(flipped))) % 10
    make = SSDPAClassifier(
        KNeighborsClassifier(1),
        k=25,
        embedding=PCA(8, svd_solver="randomized", random_state=0),
        partitioning=partitioning,
    )
    clean, poisoned = clone(make).fit(X, y), clone(make).fit(X, y_bad)
    for a, b in zip(
        clean.estimators_samples_, poisoned.estimators_samples_, strict=True
    ):
        assert_array_equal(a, b)
    assert_array_equal(clean.partition_sizes_, poisoned.partition_sizes_)
    assert_array_equal(
        clean.embedding_.transform(X_test), poisoned.embedding_.transform(X_test)
    )
    # the flips were plenty: most members did change
    changed = np.any(member_votes(clean, X_test) != member_votes(poisoned, X_test), 1)
    assert changed.sum() > clean.k // 2


def test_label_flips_do_not_change_member_seeds():
    # A member's seed must depend on its partition index only: were it drawn
    # from the labels, one flip would re-seed every member.
    X, y, _, _ = digits_split(n_train=300)
    y_bad = y.copy()
    y_bad[:20] = (y[:20] + 1) % 10
    make = SSDPAClassifier(DecisionTreeClassifier(max_features=0.3), k=10)
    seeds = [
        [m.random_state for m in clone(make).fit(X, labels).estimators_]
        for labels in (y, y_bad)
    ]
    assert seeds[0] == seeds[1]


# --------------------------------------------------------------------------
# Order invariance and parallelism
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {
            "estimator": DecisionTreeClassifier(max_features=0.3),
            "embedding": PCA(6, svd_solver="randomized"),
        },
        {"estimator": DecisionTreeClassifier(max_features=0.3)},
        {
            "estimator": SelfTrainingClassifier(
                DecisionTreeClassifier(max_features=0.3), max_iter=2
            ),
            "pass_unlabeled": True,
        },
        {"partitioning": "hash", "embedding": PCA(6, svd_solver="randomized")},
    ],
    ids=["embedding", "raw", "pass_unlabeled", "hash"],
)
def test_shuffling_rows_changes_no_vote(params):
    X, y, X_test, _ = digits_split(n_train=300, n_test=100)
    y = with_unlabeled(y, 0.3)
    perm = np.random.RandomState(0).permutation(len(y))
    make = SSDPAClassifier(k=12, random_state=0, **params)
    clf, shuffled = clone(make).fit(X, y), clone(make).fit(X[perm], y[perm])
    assert_array_equal(clf.vote_counts(X_test), shuffled.vote_counts(X_test))
    for a, b in zip(clf.estimators_samples_, shuffled.estimators_samples_, strict=True):
        assert_array_equal(np.sort(a), np.sort(perm[b]))
    # random members: a wrong seed or row order would show in the votes
    assert len({tuple(v) for v in member_votes(clf, X_test).T}) > 1


def test_n_jobs_gives_identical_votes():
    X, y, X_test, _ = digits_split(n_train=300, n_test=100)
    make = SSDPAClassifier(
        DecisionTreeClassifier(max_features=0.3),
        k=12,
        embedding=PCA(6, svd_solver="randomized"),
        random_state=7,
    )
    one = clone(make).set_params(n_jobs=1).fit(X, y)
    two = clone(make).set_params(n_jobs=2).fit(X, y)
    assert_array_equal(one.vote_counts(X_test), two.vote_counts(X_test))
    assert_array_equal(member_votes(one, X_test), member_votes(two, X_test))


# --------------------------------------------------------------------------
# Partitioning: duplicates, sizes, unlabeled rows
# --------------------------------------------------------------------------


def _partition_of(clf, n_rows):
    part = np.full(n_rows, -1)
    for i, rows in enumerate(clf.estimators_samples_):
        part[rows] = i
    return part


@pytest.mark.parametrize("partitioning", ["sorted", "hash"])
def test_duplicates_share_a_partition_and_count_once(partitioning):
    X, y = make_blobs(n_samples=80, centers=3, random_state=0)
    rng = np.random.RandomState(0)
    dup = rng.choice(80, size=10, replace=False)
    # the copies carry other labels; one copy of each also comes unlabeled
    X_all = np.vstack([X, X[dup], X[dup]])
    y_all = np.concatenate([y, (y[dup] + 1) % 3, np.full(10, -1)])
    make = SSDPAClassifier(
        KNeighborsClassifier(1), k=7, partitioning=partitioning, random_state=0
    )
    clf = clone(make).fit(X_all, y_all)
    part = _partition_of(clf, len(y_all))
    assert_array_equal(part[dup], part[80:90])
    assert np.all(part[90:] == -1)  # unlabeled copies join no partition
    # relabelling every copy of one sample touches one member only
    y_bad = y_all.copy()
    y_bad[[dup[0], 80]] = (y_all[[dup[0], 80]] + 1) % 3
    X_test = rng.uniform(X.min(0), X.max(0), size=(200, 2))
    moved = np.any(
        member_votes(clf, X_test)
        != member_votes(clone(make).fit(X_all, y_bad), X_test),
        axis=1,
    )
    assert_array_equal(np.flatnonzero(moved), [part[dup[0]]])


@pytest.mark.parametrize("n_samples, k", [(100, 7), (50, 50), (37, 10), (300, 1)])
def test_sorted_partition_sizes_differ_by_at_most_one(n_samples, k):
    X, y = make_blobs(n_samples=n_samples, centers=3, random_state=1)
    clf = SSDPAClassifier(KNeighborsClassifier(1), k=k).fit(X, y)
    assert clf.partition_sizes_.sum() == n_samples
    assert clf.partition_sizes_.max() - clf.partition_sizes_.min() <= 1
    assert_array_equal(clf.partition_sizes_, [len(s) for s in clf.estimators_samples_])
    rows = np.sort(np.concatenate(clf.estimators_samples_))
    assert_array_equal(rows, np.arange(n_samples))  # each row exactly once


def test_hash_partitions_are_the_dpa_content_hash_partitions():
    # Appendix E: SS-DPA with the hash partitions DPA uses; a row's partition
    # depends on its content only, not on labels or on the other rows.
    X, y, _, _ = digits_split(n_train=1000)
    y = with_unlabeled(y, 0.2)
    k = 50
    clf = SSDPAClassifier(KNeighborsClassifier(1), k=k, partitioning="hash").fit(X, y)
    expected = DPAClassifier(k=k).assign_partitions(X)
    part = _partition_of(clf, len(y))
    labeled = y != -1
    assert_array_equal(part[labeled], expected[labeled])
    # a subset of the rows keeps its partitions (sorted partitioning would not)
    half = SSDPAClassifier(KNeighborsClassifier(1), k=k, partitioning="hash")
    half.fit(X[:500], y[:500])
    assert_array_equal(
        _partition_of(half, 500)[labeled[:500]], part[:500][labeled[:500]]
    )
    # and the price the paper points out: uneven sizes, unlike sorting
    assert clf.partition_sizes_.max() - clf.partition_sizes_.min() > 1
    y_all = np.where(labeled, y, y[0])  # sorted sizes are even over all samples
    sorted_clf = SSDPAClassifier(KNeighborsClassifier(1), k=k).fit(X, y_all)
    assert sorted_clf.partition_sizes_.max() - sorted_clf.partition_sizes_.min() <= 1


def test_hash_partitioning_survives_removing_a_label():
    # With hash partitions, turning a labeled row into an unlabeled one (-1)
    # only empties its own slot: every other row stays where it was.
    X, y, X_test, _ = digits_split(n_train=300, n_test=50)
    make = SSDPAClassifier(
        KNeighborsClassifier(1), k=10, embedding=PCA(6), partitioning="hash"
    )
    clf = clone(make).fit(X, y)
    y_bad = y.copy()
    y_bad[5] = -1
    poisoned = clone(make).fit(X, y_bad)
    part = _partition_of(clf, len(y))
    for a, b in zip(clf.estimators_samples_, poisoned.estimators_samples_, strict=True):
        assert_array_equal(np.setdiff1d(a, [5]), np.sort(b))
    moved = np.any(member_votes(clf, X_test) != member_votes(poisoned, X_test), 1)
    assert set(np.flatnonzero(moved)) <= {part[5]}


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_unlabeled_rows_feed_the_embedding_but_never_a_partition(dtype):
    X, y, X_test, _ = digits_split(n_train=400)
    y = with_unlabeled(y, 0.4).astype(dtype)
    labeled = np.flatnonzero(y != -1)
    clf = knn_ssdpa(k=20).fit(X, y)
    assert -1 not in clf.classes_
    assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_classes_ == 10
    assert_array_equal(np.sort(np.concatenate(clf.estimators_samples_)), labeled)
    assert clf.partition_sizes_.sum() == len(labeled)
    # ranks are taken over all 400 samples: each partition holds 20 of them,
    # labeled or not, so the labeled counts differ with the unlabeled ones
    assert clf.partition_sizes_.max() <= 20
    # PCA's mean is the mean of every row it was fit on: all 400, not only
    # the labeled ones
    np.testing.assert_allclose(clf.embedding_.mean_, X.mean(axis=0))
    assert not np.allclose(clf.embedding_.mean_, X[labeled].mean(axis=0))
    y_pred = clf.predict(X_test)
    assert y_pred.dtype == y.dtype
    assert set(np.unique(y_pred)) <= set(range(10))
    assert clf.vote_counts(X_test).shape == (len(X_test), 10)


def test_embedding_is_fit_once_on_all_rows_without_labels():
    X, y = make_blobs(n_samples=90, centers=3, n_features=4, random_state=2)
    y = with_unlabeled(y, 0.3)
    _EMBEDDING_FITS.clear()
    clf = SSDPAClassifier(
        RecordingClassifier(), k=4, embedding=RecordingEmbedding(2)
    ).fit(X, y)
    assert len(_EMBEDDING_FITS) == 1
    X_seen, y_seen = _EMBEDDING_FITS[0]
    assert y_seen is None
    assert_array_equal(sorted_rows(X_seen), sorted_rows(X))
    # members are fit on the embedded rows of their partition and their labels
    Z = clf.embedding_.transform(X)
    for rows, member in zip(clf.estimators_samples_, clf.estimators_, strict=True):
        if hasattr(member, "X_seen_"):
            assert_array_equal(member.X_seen_, Z[rows])
            assert_array_equal(member.y_seen_, y[rows])
            assert np.all(member.y_seen_ != -1)


# --------------------------------------------------------------------------
# pass_unlabeled=True: semi-supervised members
# --------------------------------------------------------------------------


def test_pass_unlabeled_fits_every_member_on_all_rows_labels_of_its_own():
    X, y = make_blobs(n_samples=120, centers=3, n_features=2, random_state=4)
    y = np.array([3, 5, 9])[y]  # encoded as 0, 1, 2 for the members
    y = with_unlabeled(y, 0.3)
    X = np.column_stack([np.arange(len(y)), X])  # column 0 names the row
    clf = SSDPAClassifier(RecordingClassifier(), k=5, pass_unlabeled=True).fit(X, y)
    y_enc = np.full(len(y), -1)
    y_enc[y != -1] = np.searchsorted(clf.classes_, y[y != -1])
    n_fitted = 0
    for rows, member in zip(clf.estimators_samples_, clf.estimators_, strict=True):
        if not hasattr(member, "X_seen_"):
            continue  # a single-class partition votes without fitting
        n_fitted += 1
        ids = member.X_seen_[:, 0].astype(int)
        assert_array_equal(np.sort(ids), np.arange(len(y)))  # every row, once
        assert_array_equal(member.X_seen_, X[ids])
        expected = np.where(np.isin(ids, rows), y_enc[ids], -1)
        assert_array_equal(member.y_seen_, expected)
        assert np.count_nonzero(member.y_seen_ != -1) == len(rows)
    assert n_fitted == clf.k


@pytest.mark.parametrize(
    "estimator",
    [
        LabelSpreading(gamma=0.5),
        SelfTrainingClassifier(LogisticRegression(), max_iter=3),
    ],
    ids=["LabelSpreading", "SelfTraining"],
)
def test_pass_unlabeled_certificate_holds_under_label_flips(estimator):
    X, y = make_blobs(
        n_samples=240, centers=3, n_features=2, cluster_std=3.0, random_state=5
    )
    y = with_unlabeled(y, 0.5)
    X_test = np.random.RandomState(1).uniform(X.min(0), X.max(0), size=(60, 2))
    make = SSDPAClassifier(estimator, k=9, pass_unlabeled=True)
    clf = clone(make).fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    before = member_votes(clf, X_test)
    labeled = np.flatnonzero(y != -1)
    rng = np.random.RandomState(2)
    checked = 0
    for j in [int(np.flatnonzero(radius == r)[0]) for r in np.unique(radius)]:
        r = int(radius[j])
        if r == 0:
            continue
        votes = clf.vote_counts(X_test[j : j + 1])[0]
        c = int(np.argmax(votes))
        rival = runner_up(votes, c)
        # relabel as the rival the labeled row nearest x in r partitions that
        # vote for c: the attack most likely to move them
        y_bad = y.copy()
        attacked = np.flatnonzero(before[:, j] == c)[:r]
        for i in attacked:
            rows = clf.estimators_samples_[i]
            near = rows[np.argmin(((X[rows] - X_test[j]) ** 2).sum(axis=1))]
            y_bad[near] = clf.classes_[rival]
        # and r random flips anywhere, as a second attack
        y_rand = y.copy()
        rows = rng.choice(labeled, size=r, replace=False)
        y_rand[rows] = (y[rows] + rng.randint(1, 3, size=r)) % 3
        for poisoned_y, touched in [(y_bad, attacked), (y_rand, None)]:
            poisoned = clone(make).fit(X, poisoned_y)
            assert poisoned.predict(X_test[j : j + 1])[0] == y_pred[j]
            after = member_votes(poisoned, X_test)
            if touched is not None:
                untouched = np.setdiff1d(np.arange(clf.k), touched)
                assert_array_equal(after[untouched], before[untouched])
            checked += 1
    assert checked >= 4


def test_pass_unlabeled_with_a_supervised_member_raises():
    X, y = make_blobs(n_samples=200, centers=3, random_state=0)
    y = with_unlabeled(y, 0.5)
    clf = SSDPAClassifier(DecisionTreeClassifier(), k=5, pass_unlabeled=True)
    # (it used to fit, and count every -1 prediction as a vote for class 2)
    with pytest.raises(
        ValueError,
        match=r"pass_unlabeled=True needs a semi-supervised base estimator .* "
        r"DecisionTreeClassifier learned -1 as a class",
    ):
        clf.fit(X, y)
    assert not hasattr(clf, "estimators_")


class WeightRecordingClassifier(RecordingClassifier):
    def fit(self, X, y, sample_weight=None):
        self.w_seen_ = np.array(sample_weight, copy=True)
        return super().fit(X, y)


def test_pass_unlabeled_label_flip_of_a_duplicate_leaves_other_members_alone():
    # Duplicates with different labels and sample weights: relabelling them
    # must not even reorder what the members of other partitions receive
    # (an order-sensitive member would otherwise change its vote).
    X, y = make_blobs(n_samples=40, centers=2, random_state=0)
    X = np.vstack([X, X[:1], X[:1]])
    y = np.concatenate([y, [1, 0]])
    y[0] = 0
    w = np.arange(1.0, 43.0)
    y_bad = y.copy()
    y_bad[[0, 40]] = [1, 0]
    make = SSDPAClassifier(WeightRecordingClassifier(), k=4, pass_unlabeled=True)
    clean = clone(make).fit(X, y, sample_weight=w)
    poisoned = clone(make).fit(X, y_bad, sample_weight=w)
    part = _partition_of(clean, len(y))
    assert part[0] == part[40] == part[41]
    for i, (a, b) in enumerate(
        zip(clean.estimators_, poisoned.estimators_, strict=True)
    ):
        if i == part[0]:
            assert not np.array_equal(a.y_seen_, b.y_seen_)
            continue
        assert_array_equal(a.X_seen_, b.X_seen_)
        assert_array_equal(a.y_seen_, b.y_seen_)
        assert_array_equal(a.w_seen_, b.w_seen_)


# --------------------------------------------------------------------------
# Certificate, degenerate partitions, seeding
# --------------------------------------------------------------------------


def test_certificate_counts_label_flips():
    X, y, X_test, _ = digits_split(n_train=300)
    clf = knn_ssdpa(k=21).fit(X, y)
    cert = clf.certificate_
    assert isinstance(cert, Certificate)
    assert cert.threat_model == "relabelling"
    assert "relabelling at most r training samples" in str(cert)
    assert "changed to, from or between classes and unlabeled (-1)" in str(cert)
    assert "insert" not in str(cert)  # unlike DPA's certificate
    assert "insert" in str(DPAClassifier(k=21).fit(X, y).certificate_)
    assert (cert.k, cert.n_voting, cert.max_radius) == (21, 21, 10)
    _, radius = clf.predict_certified(X_test)
    assert radius.min() >= 0 and radius.max() <= cert.max_radius


def test_more_partitions_than_labeled_samples_leaves_empty_ones_abstaining():
    X, y = make_blobs(n_samples=20, centers=3, random_state=0)
    y = np.where(np.arange(20) < 8, y, -1)  # 8 labeled rows, 12 unlabeled
    with pytest.warns(UserWarning, match="at least 12 members get no sample"):
        clf = SSDPAClassifier(RefusesToFit(), k=20, embedding=PCA(1)).fit(X, y)
    # one sample per partition (ranks over all 20): 8 labeled, 12 abstain
    assert_array_equal(np.sort(clf.partition_sizes_), [0] * 12 + [1] * 8)
    assert sum(m is None for m in clf.estimators_) == 12
    # labels inferred from y: a flip to a new first-sorting label is a rival
    assert (clf.certificate_.n_voting, clf.certificate_.max_radius) == (8, 3)
    # every non-empty partition holds one row and votes its label, unfit
    votes = clf.vote_counts(X)
    assert_array_equal(votes, np.tile(np.bincount(y[:8], minlength=3), (20, 1)))
    y_pred, radius = clf.predict_certified(X)
    assert radius.max() <= 4


@pytest.mark.parametrize(
    "estimator, pass_unlabeled",
    [
        (LogisticRegression(), False),
        (SelfTrainingClassifier(LogisticRegression()), True),
    ],
    ids=["supervised", "pass_unlabeled"],
)
def test_single_class_partitions_vote_without_fitting(estimator, pass_unlabeled):
    # LogisticRegression refuses a single class (SelfTrainingClassifier too,
    # through it); the ensemble must vote that class without asking it.
    X, _ = make_blobs(n_samples=60, centers=2, random_state=0)
    y = np.zeros(60, dtype=int)
    y[0] = 1  # one partition sees two classes, the others only class 0
    y[40:] = -1
    clf = SSDPAClassifier(estimator, k=5, pass_unlabeled=pass_unlabeled).fit(X, y)
    part = _partition_of(clf, 60)[0]
    fitted = [type(m) is type(estimator) for m in clf.estimators_]
    assert fitted == [i == part for i in range(5)]
    votes = clf.vote_counts(X)
    assert_array_equal(votes.sum(axis=1), np.full(60, 5))
    assert np.all(votes[:, 0] >= 4)  # the four single-class members


def test_random_state_int_is_reproducible_and_changes_the_members():
    X, y, X_test, _ = digits_split(n_train=300, n_test=100)
    make = SSDPAClassifier(
        DecisionTreeClassifier(max_features=0.3),
        k=10,
        embedding=PCA(6, svd_solver="randomized"),
    )
    a = clone(make).set_params(random_state=0).fit(X, y)
    b = clone(make).set_params(random_state=0).fit(X, y)
    c = clone(make).set_params(random_state=1).fit(X, y)
    assert_array_equal(member_votes(a, X_test), member_votes(b, X_test))
    assert a.embedding_.random_state == b.embedding_.random_state
    assert a.embedding_.random_state != c.embedding_.random_state
    seeds = [m.random_state for m in a.estimators_]
    assert len(set(seeds)) == a.k  # distinct seeds per partition (appendix F)
    assert seeds != [m.random_state for m in c.estimators_]
    assert not np.array_equal(member_votes(a, X_test), member_votes(c, X_test))


def test_random_state_none_seeds_member_i_from_its_index():
    X, y, X_test, _ = digits_split(n_train=300, n_test=100)
    make = SSDPAClassifier(DecisionTreeClassifier(max_features=0.3), k=10)
    np.random.seed(0)
    a = clone(make).fit(X, y)
    np.random.seed(1)  # the global RNG is never used
    b = clone(make).fit(X, y)
    assert_array_equal(member_votes(a, X_test), member_votes(b, X_test))
    # member i's seed is i (as in the paper's code): its random_state is the
    # first draw of RandomState(i), whatever the data
    expected = [
        np.random.RandomState(i).randint(np.iinfo(np.int32).max) for i in range(10)
    ]
    assert [m.random_state for m in a.estimators_] == expected
    other = clone(make).fit(X[:150], y[:150])
    assert [m.random_state for m in other.estimators_] == expected


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, match",
    [
        ({"k": 0}, r"'k' parameter of SSDPAClassifier must be an int in the range"),
        ({"k": 2.5}, r"'k' parameter .* Got 2.5 instead"),
        ({"k": "ten"}, r"'k' parameter .* Got 'ten' instead"),
        (
            {"embedding": LogisticRegression()},
            r"'embedding' parameter .* implementing 'fit' and 'transform'",
        ),
        ({"embedding": "pca"}, r"'embedding' parameter .* Got 'pca' instead"),
        ({"estimator": object()}, r"'estimator' parameter .* 'fit' and 'predict'"),
        ({"pass_unlabeled": "yes"}, r"'pass_unlabeled' parameter .* Got 'yes'"),
        (
            {"partitioning": "lex"},
            r"'partitioning' parameter .* Got 'lex' instead",
        ),
    ],
)
def test_invalid_parameters_are_named(params, match):
    X, y = make_blobs(n_samples=30, centers=3, random_state=0)
    with pytest.raises(ValueError, match=match):
        SSDPAClassifier(**params).fit(X, y)


def test_fit_rejects_bad_targets():
    X, y = make_blobs(n_samples=30, centers=3, random_state=0)
    clf = SSDPAClassifier(k=3)
    with pytest.raises(ValueError, match="y has no labeled samples"):
        clf.fit(X, np.full(30, -1))
    with pytest.raises(ValueError, match="X has 30, y has 29"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X, np.linspace(0, 1, 30))
    assert not hasattr(clf, "estimators_")  # nothing half-fitted is left


@pytest.mark.parametrize("method", ["predict", "predict_certified", "vote_counts"])
def test_predict_before_fit_raises(method):
    X, _ = make_blobs(n_samples=10, random_state=0)
    with pytest.raises(NotFittedError, match="SSDPAClassifier instance is not fitted"):
        getattr(SSDPAClassifier(embedding=PCA(2)), method)(X)


def test_predict_checks_the_number_of_features():
    X, y = make_blobs(n_samples=30, centers=3, n_features=3, random_state=0)
    clf = SSDPAClassifier(KNeighborsClassifier(1), k=3, embedding=PCA(2)).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but SSDPAClassifier"):
        clf.predict(X[:, :2])


def test_docstring_example_runs():
    result = doctest.testmod(skdpa._ssdpa, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
