"""Members that cannot predict for want of rows abstain instead of raising.

A k-nearest-neighbours member fit on fewer rows than its ``n_neighbors``
raises at every prediction. Small partitions happen (large ``k``), and
poisoning by removal can shrink any partition below ``n_neighbors``: the
ensemble must then count the member as abstaining, as an empty one, not let
``predict`` raise. These tests refit after removals and check the plain and
cost-aware certificates against them.
"""

from itertools import combinations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skdpa import DPAClassifier, DPARegressor
from skdpa._members import cannot_predict
from skdpa.certify import plurality_winner

rng = np.random.default_rng(0)
X = rng.normal(size=(30, 3))
y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)


@pytest.mark.parametrize(
    "member",
    [KNeighborsClassifier(5), make_pipeline(StandardScaler(), KNeighborsClassifier(5))],
    ids=["knn", "pipeline"],
)
def test_members_with_fewer_rows_than_neighbours_abstain(member):
    clf = DPAClassifier(member, k=10, random_state=0).fit(X, y)
    # members whose rows hold one class vote it without a fit; the others
    # need n_neighbors rows to predict
    mixed = np.array([len(np.unique(y[r])) > 1 for r in clf.estimators_samples_])
    small = mixed & (clf.partition_sizes_ < 5)
    assert small.any() and (~small & mixed).any()  # both kinds present
    assert [m is None for m in clf.estimators_] == (
        small | (clf.partition_sizes_ == 0)
    ).tolist()
    votes = clf.member_predictions(X)
    assert (votes[:, small] == -1).all()
    assert (votes[:, ~small & (clf.partition_sizes_ > 0)] >= 0).all()
    # the plurality over the members that can vote, ties to the smaller index
    counts = np.stack([(votes == c).sum(axis=1) for c in range(2)], axis=1)
    expected = np.where(counts[:, 1] > counts[:, 0], 1, 0)
    assert_array_equal(clf.predict(X), clf.classes_[expected])
    assert_array_equal(expected, plurality_winner(votes, 2))
    y_pred, radius = clf.predict_certified(X)
    assert_array_equal(y_pred, clf.predict(X))
    assert (radius >= 0).all()


def test_cannot_predict_reads_the_fitted_rows():
    assert cannot_predict(KNeighborsClassifier(3).fit(X[:2], y[:2]))
    assert not cannot_predict(KNeighborsClassifier(3).fit(X[:3], y[:3]))
    assert cannot_predict(
        make_pipeline(StandardScaler(), KNeighborsRegressor(4)).fit(X[:3], y[:3])
    )
    assert not cannot_predict(DecisionTreeClassifier().fit(X[:1], y[:1]))


def test_regressor_members_with_too_few_rows_abstain():
    reg = DPARegressor(KNeighborsRegressor(5), k=10).fit(X, X[:, 0])
    small = reg.partition_sizes_ < 5
    assert small.any()
    assert [m is None for m in reg.estimators_] == small.tolist()
    assert np.isfinite(reg.predict(X)).all()


def test_a_warm_refit_after_a_removal_abstains_the_shrunk_member():
    clf = DPAClassifier(KNeighborsClassifier(3), k=4, random_state=0, warm_start=True)
    clf.fit(X, y)
    j = next(
        i
        for i, r in enumerate(clf.estimators_samples_)
        if len(r) >= 3 and len(np.unique(y[r])) == 2
    )
    rows = clf.estimators_samples_[j]
    # keep one row of each class of member j's, remove the rest: the other
    # members are reused untouched
    kept = [rows[y[rows] == 0][0], rows[y[rows] == 1][0]]
    keep = np.setdiff1d(np.arange(len(X)), np.setdiff1d(rows, kept))
    before = [m for m in clf.estimators_]
    clf.fit(X[keep], y[keep])
    assert clf.estimators_[j] is None
    assert clf.refitted_.tolist() == [i == j for i in range(4)]
    assert all(clf.estimators_[i] is before[i] for i in range(4) if i != j)
    clf.predict(X)  # no error


@pytest.mark.parametrize("cost_aware", [False, True])
def test_no_removal_within_the_radius_moves_a_prediction(cost_aware):
    # k-NN members on small partitions: removals shrink members below
    # n_neighbors (they abstain); every set of removals up to the certified
    # radius is refit and must leave the prediction where it was
    Xs, ys = X[:12], y[:12]
    queries = rng.normal(size=(6, 3))
    make = lambda: DPAClassifier(  # noqa: E731
        KNeighborsClassifier(3), k=3, random_state=0, cost_aware=cost_aware
    )
    clf = make().fit(Xs, ys)
    y_pred, radius = clf.predict_certified(queries)
    checked = moved_beyond = shrunk = 0
    for r_max in (1, 2):
        for removed in combinations(range(len(Xs)), r_max):
            keep = np.setdiff1d(np.arange(len(Xs)), removed)
            refit = make().fit(Xs[keep], ys[keep])
            pred = refit.predict(queries)
            shrunk += any(
                m is None and n > 0
                for m, n in zip(refit.estimators_, refit.partition_sizes_, strict=True)
            )
            within = radius >= r_max
            assert_array_equal(pred[within], y_pred[within])
            checked += int(within.sum())
            moved_beyond += int((pred != y_pred).sum())
    assert checked > 0
    assert shrunk > 0  # some refits have a member below n_neighbors
    assert moved_beyond > 0  # removals beyond the radius do move something
