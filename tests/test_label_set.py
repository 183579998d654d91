"""The label set is part of the threat model (DESIGN rule 8).

An attacker who may insert samples may also insert a *new* label, and one who
may remove samples may remove every sample of a class. With ``classes=None``
the label set is inferred from ``y`` and the radius must stay sound against both;
with ``classes`` given, labels are encoded against it and nothing re-indexes.
Every attack refits through the public API.
"""

import numpy as np
import pytest
from helpers import PositionalCentroids, SpyClassifier, near_copies_in
from numpy.testing import assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from skdpa import DPAClassifier, SSDPAClassifier, certified_radius


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(
        n_samples=400, centers=3, cluster_std=2.0, n_features=2, random_state=3
    )
    X_test, _ = make_blobs(
        n_samples=40, centers=3, cluster_std=2.0, n_features=2, random_state=4
    )
    return X, y, X_test


def _with_rare_class(X, y):
    """Labels 0, 2, 3 for the blobs and label 1 for two rows: removing those two
    rows re-indexes classes 2 and 3."""
    y = np.where(y == 0, 0, y + 1)
    rare = np.array([[30.0, 30.0], [31.0, 30.0]])
    return np.vstack([X, rare]), np.concatenate([y, [1, 1]]), len(X)


def test_removing_every_row_of_a_class_keeps_certified_predictions(blobs):
    X, y, X_test = blobs
    X, y, n_blobs = _with_rare_class(X, y)
    clf = DPAClassifier(KNeighborsClassifier(1), k=24).fit(X, y)
    assert_array_equal(clf.classes_, [0, 1, 2, 3])
    y_pred, radius = clf.predict_certified(X_test)
    assert (radius >= 2).sum() >= 20, "the attack needs certified points"
    # two removals: class 1 vanishes, classes 2 and 3 become codes 1 and 2
    gone = DPAClassifier(KNeighborsClassifier(1), k=24).fit(X[:n_blobs], y[:n_blobs])
    assert_array_equal(gone.classes_, [0, 2, 3])
    moved = gone.predict(X_test) != y_pred
    assert not np.any(moved & (radius >= 2))


def test_positional_members_need_a_fixed_label_set(blobs):
    """Members whose outputs follow the integer codes (torch logits) change when
    a class vanishes and the others are re-indexed: every member moves. With
    ``classes`` given the codes stay, and only touched members change."""
    X, y, X_test = blobs
    X, y, n_blobs = _with_rare_class(X, y)
    member = PositionalCentroids(n_classes=4)

    def fit(X, y, **kw):
        return DPAClassifier(member, k=24, random_state=0, **kw).fit(X, y)

    inferred, inferred_gone = fit(X, y), fit(X[:n_blobs], y[:n_blobs])
    touched = set(inferred.assign_partitions(X[n_blobs:]).tolist())
    untouched = [j for j in range(24) if j not in touched]
    before = inferred.member_predictions(X_test)[:, untouched]
    after = inferred_gone.member_predictions(X_test)[:, untouched]
    # the codes moved, so members no attack touched now vote differently
    assert np.any(inferred.classes_[before] != inferred_gone.classes_[after])

    fixed = fit(X, y, classes=[0, 1, 2, 3])
    fixed_gone = fit(X[:n_blobs], y[:n_blobs], classes=[0, 1, 2, 3])
    assert_array_equal(fixed_gone.classes_, [0, 1, 2, 3])
    assert_array_equal(
        fixed.member_predictions(X_test)[:, untouched],
        fixed_gone.member_predictions(X_test)[:, untouched],
    )
    y_pred, radius = fixed.predict_certified(X_test)
    assert (radius >= 2).any()
    moved = fixed_gone.predict(X_test) != y_pred
    assert not np.any(moved & (radius >= 2))


def _insert_new_label(clf, X, y, x, n, label, rng):
    """n near-copies of x labelled ``label``, each in a different bucket whose
    member votes for the current prediction (1-NN: each flips its member)."""
    c = int(np.argmax(clf.vote_counts(x[None])[0]))
    voting_c = np.flatnonzero(clf.member_predictions(x[None])[0] == c)
    X_new = near_copies_in(clf, x, voting_c[:n], rng)
    return np.vstack([X, X_new]), np.concatenate([y, np.full(len(X_new), label)])


def test_inserting_a_new_first_label_never_moves_a_certified_prediction(blobs):
    X, y, X_test = blobs
    labels = np.array(["b", "c", "d"])[y]
    make = DPAClassifier(KNeighborsClassifier(1), k=10)
    clf = make.fit(X, labels)
    y_pred, radius = clf.predict_certified(X_test)
    unanimous = clf.vote_counts(X_test).max(axis=1) == 10
    assert unanimous.sum() >= 5
    # a unanimous vote of 10 members: the new label "a" wins a 5-5 tie
    assert (radius[unanimous] == 4).all()
    rng = np.random.default_rng(0)
    flipped_beyond = 0
    for x, c, r, all_c in zip(X_test, y_pred, radius, unanimous, strict=True):
        X_p, y_p = _insert_new_label(clf, X, labels, x, r, "a", rng)
        assert (
            DPAClassifier(KNeighborsClassifier(1), k=10)
            .fit(X_p, y_p)
            .predict(x[None])[0]
            == c
        )
        if all_c:
            X_p, y_p = _insert_new_label(clf, X, labels, x, r + 1, "a", rng)
            refit = DPAClassifier(KNeighborsClassifier(1), k=10).fit(X_p, y_p)
            flipped_beyond += refit.predict(x[None])[0] == "a"
    # teeth: radius + 1 insertions of the new label win every unanimous point
    assert flipped_beyond == unanimous.sum()


def test_a_given_label_set_refuses_new_labels_and_keeps_empty_classes(blobs):
    X, y, X_test = blobs
    labels = np.array(["b", "c", "d"])[y]
    classes = ["a", "b", "c", "d"]
    clf = DPAClassifier(SpyClassifier(), k=5, classes=classes).fit(X, labels)
    assert_array_equal(clf.classes_, classes)  # "a" has no rows
    assert clf.n_classes_ == 4
    votes = clf.vote_counts(X_test)
    assert votes.shape == (40, 4) and (votes[:, 0] == 0).all()
    # members are fit on codes against classes: "b" is 1, not 0
    for rows, member in zip(clf.estimators_samples_, clf.estimators_, strict=True):
        if hasattr(member, "y_seen_"):
            expected = np.searchsorted(classes, labels[rows])
            assert_array_equal(member.y_seen_, expected)
    # with a fixed label set no new label can be trained on: Theorem 1 as is
    assert_array_equal(clf.predict_certified(X_test)[1], certified_radius(votes))
    with pytest.raises(ValueError, match=r"labels that are not in classes: \['e'\]"):
        DPAClassifier(k=5, classes=classes).fit(X, np.where(y == 0, "e", labels))


def test_classes_keep_the_given_order_for_ties():
    X = np.arange(8, dtype=float).reshape(-1, 1)
    y = np.array(["x", "y"] * 4)
    clf = DPAClassifier(SpyClassifier(), k=2, classes=["y", "x"]).fit(X, y)
    assert_array_equal(clf.classes_, ["y", "x"])
    votes = clf.vote_counts(X[:1])
    if votes[0, 0] == votes[0, 1]:
        assert clf.predict(X[:1])[0] == "y"  # the class listed first


@pytest.mark.parametrize(
    "classes, match",
    [
        ([0], "at least 2 labels"),
        ([[0, 1]], "1-D array-like"),
        ([0, 1, 1], "must not repeat a label"),
    ],
)
def test_bad_classes(classes, match):
    X, y = make_blobs(n_samples=30, centers=2, random_state=0)
    with pytest.raises(ValueError, match=match):
        DPAClassifier(k=3, classes=classes).fit(X, y)


def test_ssdpa_classes_must_not_hold_the_unlabeled_marker():
    X, y = make_blobs(n_samples=30, centers=2, random_state=0)
    with pytest.raises(ValueError, match="must not contain -1"):
        SSDPAClassifier(k=3, classes=[-1, 0, 1]).fit(X, y)


def test_ssdpa_flip_to_a_new_label_within_radius_keeps_prediction(blobs):
    """SS-DPA, labels inferred: flipping labels to a brand-new first-sorting
    label is covered; the radius of a unanimous 10-member vote is 4."""
    X, y, X_test = blobs
    labels = np.array(["b", "c", "d"])[y]
    make = SSDPAClassifier(
        KNeighborsClassifier(1), k=10, embedding=PCA(2, svd_solver="full")
    )
    clf = make.fit(X, labels)
    y_pred, radius = clf.predict_certified(X_test)
    Z, z_test = clf.embedding_.transform(X), clf.embedding_.transform(X_test)
    checked = 0
    for i in np.flatnonzero(radius >= 1)[:10]:
        c = clf.classes_.tolist().index(y_pred[i])
        voting_c = np.flatnonzero(clf.member_predictions(X_test[i : i + 1])[0] == c)
        bad = labels.copy()
        for j in voting_c[: radius[i]]:  # each member's nearest row -> "a"
            rows = clf.estimators_samples_[j]
            bad[rows[np.argmin(((Z[rows] - z_test[i]) ** 2).sum(axis=1))]] = "a"
        assert make.fit(X, bad).predict(X_test[i : i + 1])[0] == y_pred[i]
        checked += 1
    assert checked == 10
