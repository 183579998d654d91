"""KNNLabelSpreading: the shared-graph semi-supervised member of SS-DPA."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdpa import SSDPAClassifier
from skdpa.semi_supervised import (
    KNNLabelSpreading,
    LabeledOnly,
    SemiSupervisedVoting,
    clear_graph_cache,
    graph_cache_info,
)
from skdpa.semi_supervised import _nearest as nearest


@pytest.fixture(autouse=True)
def _cold_cache():
    clear_graph_cache()
    yield
    clear_graph_cache()


def blobs(n=300, labeled=0.1, seed=0, centers=3, std=1.5):
    X, y = make_blobs(
        n_samples=n, centers=centers, n_features=4, cluster_std=std, random_state=seed
    )
    rng = np.random.default_rng(seed)
    y_semi = np.where(rng.random(n) < labeled, y, -1)
    return X, y, y_semi


def fitted_state(clf):
    return clf.transduction_, clf.confidence_, clf.n_iter_


# --------------------------------------------------------------------------
# the member alone


def test_labels_spread_through_clusters():
    X, y, y_semi = blobs()
    clf = KNNLabelSpreading(n_neighbors=8).fit(X, y_semi)
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert np.mean(clf.transduction_ == y) > 0.9
    X_new, y_new = make_blobs(
        n_samples=90, centers=3, n_features=4, cluster_std=1.5, random_state=0
    )
    assert np.mean(clf.predict(X_new) == y_new) > 0.9
    proba = clf.predict_proba(X_new)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X_new))


def test_any_integer_labels_with_the_unlabeled_marker():
    X, y, y_semi = blobs(seed=1)
    names = np.array([-7, 5, 40])
    y_named = np.where(y_semi == -1, -1, names[np.maximum(y_semi, 0)])
    clf = KNNLabelSpreading().fit(X, y_named)
    assert_array_equal(clf.classes_, names)
    ref = KNNLabelSpreading().fit(X, y_semi)
    assert_array_equal(clf.predict(X), names[ref.predict(X)])
    assert_array_equal(clf.transduction_, names[ref.transduction_])


def test_rows_no_label_reaches_fall_back_to_the_most_frequent_label():
    # two far clusters; only the first one has labels (two of class 7, one 3)
    near = np.random.default_rng(0).normal(0, 0.1, (20, 2))
    far = near + 1000.0
    X = np.concatenate([near, far])
    y = np.full(40, -1)
    y[[0, 1, 2]] = [7, 7, 3]
    clf = KNNLabelSpreading(n_neighbors=3, metric="euclidean").fit(X, y)
    assert np.all(clf.confidence_[20:] == 0)
    assert np.all(clf.confidence_[:20] > 0)
    assert_array_equal(clf.predict(far), np.full(20, 7))


def test_class_mass_normalisation_balances_the_spread_labels():
    # three labels of class 0, one of class 1, two equal clusters: without
    # normalisation class 0's extra labels reach further
    X, y = make_blobs(
        n_samples=200, centers=[[0, 0], [2.5, 0]], cluster_std=1.0, random_state=0
    )
    y_semi = np.full(len(y), -1)
    first0 = np.flatnonzero(y == 0)[:3]
    y_semi[first0] = 0
    y_semi[np.flatnonzero(y == 1)[0]] = 1
    shares = {}
    for mass in (None, "labels", "uniform"):
        clf = KNNLabelSpreading(
            n_neighbors=8, metric="euclidean", alpha=0.9, class_mass=mass
        ).fit(X, y_semi)
        shares[mass] = np.mean(clf.transduction_ == 0)
    assert shares["uniform"] < shares[None]
    assert abs(shares["uniform"] - 0.5) < abs(shares[None] - 0.5)
    # "labels" aims at the labels' 3:1 proportions
    assert shares["labels"] >= shares["uniform"]


def test_graph_never_depends_on_labels():
    X, _, y_semi = blobs(seed=2)
    first = KNNLabelSpreading().fit(X, y_semi)
    other = np.where(y_semi == -1, -1, (y_semi + 1) % 3)
    other[::7] = -1
    second = KNNLabelSpreading().fit(X, other)
    info = graph_cache_info()
    assert (info["graph_misses"], info["graph_hits"]) == (1, 1)
    assert second._graph is first._graph
    # a cold cache builds exactly the same graph from X alone
    clear_graph_cache()
    cold = KNNLabelSpreading().fit(X, np.ones(len(X), dtype=int))
    assert cold._graph.key == first._graph.key
    assert (cold._graph.S != first._graph.S).nnz == 0


def test_cache_changes_time_not_results():
    X, _, y_semi = blobs(seed=3)
    X_new = X[:50] + 0.1
    cold = KNNLabelSpreading().fit(X, y_semi)
    cold_proba = cold.predict_proba(X_new)
    # warm: graph and query neighbours come from the cache
    warm = KNNLabelSpreading().fit(X.copy(), y_semi)
    warm_proba = warm.predict_proba(X_new.copy())
    info = graph_cache_info()
    assert info["graph_hits"] == 1 and info["query_hits"] == 1
    for a, b in zip(fitted_state(cold), fitted_state(warm), strict=True):
        assert_array_equal(a, b)
    assert_array_equal(cold_proba, warm_proba)
    # and a fitted member predicts the same after the cache is dropped
    clear_graph_cache()
    assert_array_equal(cold.predict_proba(X_new), cold_proba)
    assert graph_cache_info()["query_misses"] == 1


def test_other_rows_or_parameters_get_their_own_graph():
    X, _, y_semi = blobs(seed=4)
    KNNLabelSpreading().fit(X, y_semi)
    X2 = X.copy()
    X2[0, 0] += 1e-3
    KNNLabelSpreading().fit(X2, y_semi)
    KNNLabelSpreading(n_neighbors=5).fit(X, y_semi)
    KNNLabelSpreading(metric="euclidean").fit(X, y_semi)
    assert graph_cache_info()["graph_misses"] == 4


def test_pickled_members_share_one_copy_of_the_rows():
    X, _, y_semi = blobs(seed=5)
    a = KNNLabelSpreading().fit(X, y_semi)
    b = KNNLabelSpreading().fit(X, np.where(y_semi == 0, -1, y_semi))
    blob_a, blob_b = pickle.dumps(a), pickle.dumps(b)
    clear_graph_cache()
    a2, b2 = pickle.loads(blob_a), pickle.loads(blob_b)
    assert a2._graph.X is b2._graph.X  # interned on load
    assert a2._graph.S is None  # the operator does not travel
    assert_array_equal(a2.predict_proba(X), a.predict_proba(X))
    assert_array_equal(b2.predict_proba(X), b.predict_proba(X))
    # refitting an unpickled member rebuilds the operator, same result
    again = clone(a2).fit(X, y_semi)
    assert_array_equal(again.transduction_, a.transduction_)


def test_row_order_is_the_only_order_dependence():
    X, _, y_semi = blobs(seed=6)
    perm = np.random.default_rng(0).permutation(len(X))
    a = KNNLabelSpreading().fit(X, y_semi)
    b = KNNLabelSpreading().fit(X[perm], y_semi[perm])
    # same rows in another order: the same labels up to float rounding
    assert np.mean(a.transduction_[perm] == b.transduction_) > 0.99
    assert_array_equal(a.predict(X[:40]), b.predict(X[:40]))


def test_errors_name_parameter_and_value():
    X, _, _ = blobs()
    with pytest.raises(ValueError, match=r"y has no labeled samples .*every label"):
        KNNLabelSpreading().fit(X, np.full(len(X), -1))
    with pytest.raises(InvalidParameterError, match=r"'alpha' parameter .* Got 1.5"):
        KNNLabelSpreading(alpha=1.5).fit(X, np.zeros(len(X)))
    with pytest.raises(InvalidParameterError, match=r"'n_neighbors' .* Got 0"):
        KNNLabelSpreading(n_neighbors=0).fit(X, np.zeros(len(X)))
    with pytest.raises(InvalidParameterError, match=r"'metric' .* Got 'l1'"):
        KNNLabelSpreading(metric="l1").fit(X, np.zeros(len(X)))
    with pytest.raises(InvalidParameterError, match=r"'class_mass' .* Got 'equal'"):
        KNNLabelSpreading(class_mass="equal").fit(X, np.zeros(len(X)))


@settings(max_examples=40, deadline=None)
@given(
    data=arrays(
        np.int8,
        st.tuples(st.integers(2, 30), st.integers(1, 4)),
        elements=st.integers(-3, 3),
    ),
    k=st.integers(1, 6),
)
def test_nearest_matches_a_naive_search(data, k):
    # small integers: every squared distance is exact in float32, so ties are
    # real ties and must go to the smaller index
    X = data.astype(np.float32)
    n = len(X)
    k = min(k, n - 1)
    dist, index = nearest(X, X, k, exclude_self=True)
    d2 = ((X[:, None, :].astype(np.float64) - X[None, :, :]) ** 2).sum(axis=2)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        expected = sorted(others, key=lambda j: (d2[i, j], j))[:k]
        assert_array_equal(index[i], expected)
        assert_array_equal(dist[i], d2[i, expected])


# --------------------------------------------------------------------------
# inside SS-DPA


def voting():
    return SemiSupervisedVoting(
        [
            ("spread", KNNLabelSpreading(n_neighbors=8)),
            ("linear", LabeledOnly(LogisticRegression())),
        ]
    )


def ssdpa(member=None, **params):
    if member is None:
        member = KNNLabelSpreading(n_neighbors=8, class_mass="uniform")
    return SSDPAClassifier(member, k=6, pass_unlabeled=True, **params)


def member_votes(clf, X):
    return np.array(
        [
            np.zeros(len(X), int) - 1 if m is None else m.predict(X)
            for m in clf.estimators_
        ]
    )


def test_ssdpa_builds_the_graph_once_for_all_members():
    X, y, y_semi = blobs(n=400, labeled=0.3, seed=7)
    clf = ssdpa(random_state=0).fit(X, y_semi)
    fitted = sum(isinstance(m, KNNLabelSpreading) for m in clf.estimators_)
    assert fitted == clf.k
    info = graph_cache_info()
    assert (info["graph_misses"], info["graph_hits"]) == (1, clf.k - 1)
    shared = {id(m._graph.X) for m in clf.estimators_}
    assert len(shared) == 1
    y_pred, radius = clf.predict_certified(X)
    assert np.mean(y_pred == y) > 0.9
    assert graph_cache_info()["query_misses"] == 1


def test_ssdpa_votes_are_identical_with_cold_and_warm_cache_and_n_jobs():
    X, _, y_semi = blobs(n=300, labeled=0.3, seed=8)
    X_test = X[:60] + 0.05
    warm = ssdpa(random_state=1).fit(X, y_semi)
    votes = warm.vote_counts(X_test)
    cold_votes = []
    for member in warm.estimators_:
        clear_graph_cache()
        cold_votes.append(member.predict(X_test))
    assert_array_equal(np.array(cold_votes), member_votes(warm, X_test))
    perm = np.random.default_rng(1).permutation(len(X))
    par = ssdpa(random_state=1, n_jobs=2).fit(X[perm], y_semi[perm])
    assert_array_equal(par.vote_counts(X_test), votes)


@pytest.mark.parametrize("member", [None, voting()], ids=["spreading", "voting"])
def test_ssdpa_label_flip_moves_one_member_only(member):
    X, _, y_semi = blobs(n=300, labeled=0.3, seed=9, std=3.0)
    X_test = np.random.default_rng(2).uniform(X.min(0), X.max(0), (80, X.shape[1]))
    clf = ssdpa(member, random_state=0).fit(X, y_semi)
    before = member_votes(clf, X_test)
    y_pred, radius = clf.predict_certified(X_test)
    labeled = np.flatnonzero(y_semi != -1)
    rng = np.random.default_rng(3)
    for flip in rng.choice(labeled, 5, replace=False):
        y_bad = y_semi.copy()
        y_bad[flip] = (y_semi[flip] + 1) % 3
        after_clf = clone(clf).fit(X, y_bad)
        after = member_votes(after_clf, X_test)
        owner = [i for i, rows in enumerate(clf.estimators_samples_) if flip in rows]
        untouched = np.setdiff1d(np.arange(clf.k), owner)
        assert_array_equal(after[untouched], before[untouched])
        # one flip is within every radius >= 1
        keep = radius >= 1
        assert_array_equal(after_clf.predict(X_test)[keep], y_pred[keep])


def spreading_ensemble(k, voting_rule):
    return SSDPAClassifier(
        KNNLabelSpreading(n_neighbors=6),
        k=k,
        pass_unlabeled=True,
        classes=[0, 1, 2],
        voting=voting_rule,
        random_state=0,
    )


def flipped(y_semi, rows, target):
    y_bad = y_semi.copy()
    y_bad[rows] = target
    return y_bad


def test_ssdpa_label_spreading_radius_is_exact_with_one_label_per_member():
    # one label per member: flipping it turns the member's vote for certain,
    # so r flips of members voting for the prediction must fail and r + 1 win
    X, y = make_blobs(
        n_samples=150, centers=3, n_features=3, cluster_std=3.0, random_state=5
    )
    k = 25
    # partitions rank all samples, labeled or not: label one row of each
    rng = np.random.default_rng(5)
    slots = spreading_ensemble(k, "plurality").fit(X, y).estimators_samples_
    labeled = np.array([rng.choice(rows) for rows in slots])
    y_semi = np.full(len(X), -1)
    y_semi[labeled] = y[labeled]
    X_test = X[:12] + 0.01
    clf = spreading_ensemble(k, "plurality").fit(X, y_semi)
    assert all(len(rows) == 1 for rows in clf.estimators_samples_)
    y_pred, radius = clf.predict_certified(X_test)
    report = clf.certificate_report(X_test)
    owners = np.array([rows[0] for rows in clf.estimators_samples_])
    votes = clf.member_predictions(X_test)
    for j in range(len(X_test)):
        target = report.runner_up[j]
        voters = owners[votes[j] == np.searchsorted(clf.classes_, y_pred[j])]
        within = clone(clf).fit(X, flipped(y_semi, voters[: radius[j]], target))
        assert within.predict(X_test[j : j + 1])[0] == y_pred[j]
        beyond = clone(clf).fit(X, flipped(y_semi, voters[: radius[j] + 1], target))
        assert beyond.predict(X_test[j : j + 1])[0] != y_pred[j]


@pytest.mark.parametrize("voting_rule", ["plurality", "runoff"])
def test_ssdpa_label_spreading_certificate_survives_greedy_flips(voting_rule):
    # three labels per member, spread over the shared graph: flip, within the
    # radius, the label of each member voting for the prediction that moves
    # its vote (or the first one), towards every rival class; then add random
    # flips of other rows up to the budget
    X, y = make_blobs(
        n_samples=180, centers=3, n_features=3, cluster_std=3.5, random_state=6
    )
    k = 12
    rng = np.random.default_rng(6)
    labeled = rng.choice(len(X), 3 * k, replace=False)
    y_semi = np.full(len(X), -1)
    y_semi[labeled] = y[labeled]
    X_test = rng.uniform(X.min(0), X.max(0), (4, X.shape[1]))
    clf = spreading_ensemble(k, voting_rule).fit(X, y_semi)
    y_pred, radius = clf.predict_certified(X_test)
    assert radius.max() >= 1
    votes = clf.member_predictions(X_test)
    for j in np.flatnonzero(radius >= 1):
        point = X_test[j : j + 1]
        pred_index = np.searchsorted(clf.classes_, y_pred[j])
        for target in np.setdiff1d(clf.classes_, y_pred[j]):
            rows = []
            for i in np.flatnonzero(votes[j] == pred_index)[: radius[j]]:
                mine = clf.estimators_samples_[i]
                # the row whose flip turns this member's vote, if one does
                pick = mine[0]
                for row in mine:
                    trial = clone(clf).fit(X, flipped(y_semi, rows + [row], target))
                    if trial.member_predictions(point)[0, i] != pred_index:
                        pick = row
                        break
                rows.append(pick)
            spare = np.setdiff1d(labeled, rows)
            rows += list(rng.choice(spare, radius[j] - len(rows), replace=False))
            attacked = clone(clf).fit(X, flipped(y_semi, rows, target))
            assert attacked.predict(point)[0] == y_pred[j]


# --------------------------------------------------------------------------
# combining a supervised and a spreading member


def test_labeled_only_fits_on_the_labeled_rows_alone():
    X, _, y_semi = blobs(seed=10)
    clf = LabeledOnly(LogisticRegression()).fit(X, y_semi)
    labeled = y_semi != -1
    ref = LogisticRegression().fit(X[labeled], y_semi[labeled])
    assert_array_equal(clf.classes_, ref.classes_)
    np.testing.assert_array_equal(clf.estimator_.coef_, ref.coef_)
    assert_array_equal(clf.predict(X), ref.predict(X))
    assert_array_equal(clf.predict_proba(X), ref.predict_proba(X))


@settings(max_examples=10, deadline=None)
@given(w=st.floats(0.05, 20.0))
def test_voting_averages_member_probabilities(w):
    X, _, y_semi = blobs(seed=11, std=3.0)
    clf = voting().set_params(weights=[1.0, w]).fit(X, y_semi)
    spread, linear = clf.estimators_
    expected = (spread.predict_proba(X) + w * linear.predict_proba(X)) / (1 + w)
    np.testing.assert_allclose(clf.predict_proba(X), expected)
    assert_array_equal(clf.predict(X), clf.classes_[np.argmax(expected, axis=1)])
    assert -1 not in clf.classes_


def test_voting_aligns_members_with_fewer_classes():
    # a member that only knows classes 0 and 2 contributes 0 to class 1
    X, _, y_semi = blobs(seed=12)
    sub = LabeledOnly(LogisticRegression())
    y_sub = np.where(y_semi == 1, -1, y_semi)
    clf = SemiSupervisedVoting([("a", sub), ("b", sub)]).fit(X, y_sub)
    assert_array_equal(clf.classes_, [0, 2])
    mixed = SemiSupervisedVoting([("all", KNNLabelSpreading())]).fit(X, y_semi)
    assert mixed.predict_proba(X).shape == (len(X), 3)


def test_voting_errors_name_the_problem():
    X, _, y_semi = blobs()
    with pytest.raises(ValueError, match="estimators must be a non-empty list"):
        SemiSupervisedVoting([]).fit(X, y_semi)
    with pytest.raises(ValueError, match=r"one entry per estimator \(2\); got 3"):
        voting().set_params(weights=[1, 1, 1]).fit(X, y_semi)
    with pytest.raises(ValueError, match="y has no labeled samples"):
        LabeledOnly(LogisticRegression()).fit(X, np.full(len(X), -1))


# --------------------------------------------------------------------------
# scikit-learn's checks


@parametrize_with_checks(
    [
        KNNLabelSpreading(n_neighbors=3),
        KNNLabelSpreading(n_neighbors=3, vote="soft"),
        LabeledOnly(LogisticRegression()),
        voting(),
    ],
    expected_failed_checks=lambda est: {
        "check_classifiers_classes": (
            "y == -1 marks unlabeled rows (scikit-learn's semi-supervised "
            "convention), so -1 is never a class"
        ),
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_docstring_examples():
    import doctest

    import skdpa.semi_supervised as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
