"""skdpa.linear_model.RidgeClassifier: scikit-learn's predictions, and label-
edit costs checked against brute force (every small set of edits, refit)."""

import itertools

import numpy as np
import pytest
from helpers import check_ssdpa_flip_radius
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import RidgeClassifier as SkRidgeClassifier

from skdpa import SSDPAClassifier
from skdpa.linear_model import RidgeClassifier


def _problem(seed, n=9, n_classes=2, n_unlabeled=2, n_features=2):
    rng = np.random.RandomState(seed)
    centers = 2.0 * rng.normal(size=(n_classes, n_features))
    y = rng.randint(n_classes, size=n)
    y[:n_classes] = np.arange(n_classes)  # every class present
    X = (centers[y] + rng.normal(size=(n, n_features))).round(2)
    y[n - n_unlabeled :] = -1
    # queries at the centers (costly to turn) and at random (cheap)
    queries = np.vstack([centers, rng.normal(size=(3, n_features))]).round(2)
    return X, y, queries


def _outcome(X, y, queries, **params):
    """What the member's vote becomes after an attack, as the ensembles run it:
    no label left abstains, one class left votes it without a fit."""
    present = np.unique(y[y >= 0])
    if len(present) == 0:
        return np.full(len(queries), -1)
    if len(present) == 1:
        return np.full(len(queries), present[0])
    return RidgeClassifier(**params).fit(X, y).predict(queries)


def _reached(X, y, queries, n_classes, editable, max_edits=3, **params):
    """Fewest edits (class flips, to/from -1) of editable rows found to reach
    each output (last column: abstain); inf where none within max_edits."""
    idx = np.arange(len(queries))
    reached = np.full((len(queries), n_classes + 1), np.inf)
    reached[idx, _outcome(X, y, queries, **params)] = 0
    values = range(-1, n_classes)
    for t in range(1, max_edits + 1):
        for rows in itertools.combinations(np.flatnonzero(editable), t):
            choices = [[v for v in values if v != y[r]] for r in rows]
            for labels in itertools.product(*choices):
                edited = y.copy()
                edited[list(rows)] = labels
                out = _outcome(X, edited, queries, **params)
                reached[idx, out] = np.minimum(reached[idx, out], t)
    return reached


def _check_sound(costs, reached):
    """Nothing reached below its cost."""
    finite = np.isfinite(reached)
    return bool((reached[finite] >= costs[finite]).all())


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_predicts_like_scikit_learn(n_classes, fit_intercept):
    rng = np.random.RandomState(n_classes)
    X = rng.normal(size=(40, 3))
    y = rng.randint(n_classes, size=40)
    queries = rng.normal(size=(30, 3))
    for alpha in (0.0, 0.3, 10.0):
        ours = RidgeClassifier(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
        ref = SkRidgeClassifier(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
        np.testing.assert_allclose(
            ours.decision_function(queries), ref.decision_function(queries), atol=1e-10
        )
        np.testing.assert_array_equal(ours.predict(queries), ref.predict(queries))
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-10)
        np.testing.assert_array_equal(ours.classes_, ref.classes_)


def test_string_labels_and_unlabeled_rows():
    X = np.array([[0.0], [0.1], [0.5], [1.0], [1.1]])
    y = np.array(["a", "a", -1, "b", "b"], dtype=object)
    member = RidgeClassifier().fit(X, y)
    assert member.classes_.tolist() == ["a", "b"]
    assert member.predict([[0.0], [1.1]]).tolist() == ["a", "b"]
    # the -1 row stays in the fit with a zero target: not scikit-learn's fit
    # on the labelled rows alone
    ref = SkRidgeClassifier().fit(X[[0, 1, 3, 4]], y[[0, 1, 3, 4]].astype(str))
    assert not np.allclose(member.coef_, ref.coef_)


@pytest.mark.parametrize("fit_intercept, alpha", [(True, 1.0), (False, 0.5)])
@pytest.mark.parametrize("seed", [0, 2])
def test_two_class_costs_are_sound_and_exact(seed, fit_intercept, alpha):
    """Every set of <= 3 edits: nothing below its cost; two-class costs
    within three edits are reached exactly (raising one by one fails)."""
    X, y, queries = _problem(seed)
    params = {"alpha": alpha, "fit_intercept": fit_intercept}
    member = RidgeClassifier(**params).fit(X, y)
    costs = member.flip_costs(queries, 2)
    reached = _reached(X, y, queries, 2, np.ones(len(y), bool), **params)
    assert _check_sound(costs, reached)
    small = costs[:, :2] <= 3
    assert np.array_equal(reached[:, :2][small], costs[:, :2][small])
    # teeth: one more on any cost fails soundness
    for i, c in zip(*np.nonzero(small & (costs[:, :2] > 0)), strict=True):
        bumped = costs.copy()
        bumped[i, c] += 1
        assert not _check_sound(bumped, reached)


@pytest.mark.parametrize("seed", [0, 2])
def test_multiclass_costs_are_sound_with_a_mask(seed):
    """Three seen classes plus an index the member never saw; only some rows
    are the attacker's (a labelled row outside them: abstaining is inf)."""
    X, y, queries = _problem(seed, n=7, n_classes=3, n_unlabeled=2)
    editable = np.ones(len(y), bool)
    editable[[0, 5]] = False
    member = RidgeClassifier(alpha=0.5).fit(X, y)
    costs = member.flip_costs(queries, 4, editable=editable)
    assert np.isinf(costs[:, -1]).all()
    reached = _reached(X, y, queries, 4, editable, alpha=0.5)
    assert _check_sound(costs, reached)
    assert (costs[:, :4] >= 2).any()
    # some cost is reached exactly
    assert ((reached == costs) & (costs >= 1)).any()


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_classes=st.integers(2, 3),
    alpha=st.sampled_from([0.01, 0.3, 3.0]),
    fit_intercept=st.booleans(),
)
def test_costs_are_sound_on_random_problems(seed, n_classes, alpha, fit_intercept):
    X, y, queries = _problem(seed, n=6, n_classes=n_classes, n_unlabeled=1)
    params = {"alpha": alpha, "fit_intercept": fit_intercept}
    member = RidgeClassifier(**params).fit(X, y)
    costs = member.flip_costs(queries, n_classes + 1)
    assert (costs.min(axis=1) == 0).all()
    assert ((costs == 0).sum(axis=1) == 1).all()
    reached = _reached(
        X, y, queries, n_classes + 1, np.ones(len(y), bool), max_edits=2, **params
    )
    assert _check_sound(costs, reached)


def test_costs_above_one_are_reached_exactly():
    """Costs of 2 and 3 occur, and an attack of exactly that size is found."""
    X, y, queries = _problem(0)
    params = {"alpha": 0.5, "fit_intercept": False}
    costs = RidgeClassifier(**params).fit(X, y).flip_costs(queries, 2)
    reached = _reached(X, y, queries, 2, np.ones(len(y), bool), **params)
    for cost in (2, 3):
        hit = costs[:, :2] == cost
        assert hit.any() and np.array_equal(reached[:, :2][hit], costs[:, :2][hit])


def test_duplicate_rows_and_exact_ties_are_not_overstated():
    """Duplicate rows with different labels, queries on the decision boundary
    (scores tied exactly) and just off it: brute force finds nothing cheaper."""
    X = np.array([[-1.0], [-1.0], [-1.0], [1.0], [1.0], [1.0], [0.0]])
    y = np.array([0, 0, 1, 1, 1, 0, -1])
    queries = np.array([[0.0], [1e-12], [-1e-12], [1.0], [-1.0]])
    for fit_intercept in (True, False):
        member = RidgeClassifier(fit_intercept=fit_intercept).fit(X, y)
        costs = member.flip_costs(queries, 2)
        editable = np.ones(len(y), bool)
        reached = _reached(
            X, y, queries, 2, editable, max_edits=2, fit_intercept=fit_intercept
        )
        assert _check_sound(costs, reached)
        # on the boundary a tie is one edit away whatever the tie order
        assert costs[0, :2].max() == 1


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_flip_costs_errors():
    member = RidgeClassifier().fit([[0.0], [1.0], [2.0]], [0, 1, 1])
    with pytest.raises(ValueError, match="n_classes must be an integer above"):
        member.flip_costs([[0.0]], 1)
    with pytest.raises(
        ValueError, match=r"editable must be a boolean array of shape \(3,\)"
    ):
        member.flip_costs([[0.0]], 2, editable=np.ones(2, bool))
    singular = RidgeClassifier(alpha=0.0).fit([[0.0, 0.0], [1.0, 1.0]], [0, 1])
    with pytest.raises(ValueError, match="alpha > 0 or features of full column rank"):
        singular.flip_costs([[0.0, 0.0]], 2)
    with pytest.raises(ValueError, match="no labeled samples"):
        RidgeClassifier().fit([[0.0], [1.0]], [-1, -1])


def test_poison_costs_claim_one_sample():
    X, y, queries = _problem(0)
    member = RidgeClassifier().fit(X, y)
    costs = member.poison_costs(queries, 3)
    pred = member.predict(queries)
    assert (costs[np.arange(len(pred)), pred] == 0).all()
    assert ((costs[:, :3] == 1).sum(axis=1) == 2).all()
    assert (costs[:, 3] == (y >= 0).sum()).all()


# ---------------------------------------------------------------------------
# end to end: SSDPAClassifier(RidgeClassifier(), pass_unlabeled=True,
# cost_aware=True) against every small set of label edits


def _member_vote(X, y_member, queries):
    present = np.unique(y_member[y_member >= 0])
    if len(present) == 0:
        return np.full(len(queries), -1)
    if len(present) == 1:
        return np.full(len(queries), present[0])
    return RidgeClassifier().fit(X, y_member).predict(queries)


def test_ssdpa_certificate_holds_against_brute_force():
    rng = np.random.RandomState(5)
    n, k = 18, 3
    y = rng.randint(2, size=n)
    X = (np.array([[-2.0, 0.0], [2.0, 0.0]])[y] + rng.normal(size=(n, 2))).round(2)
    y[rng.choice(n, 4, replace=False)] = -1
    queries = np.array([[-2.0, 0.0], [2.0, 0.0], [-0.5, 0.3], [0.4, -1.0]])
    params = dict(k=k, pass_unlabeled=True, classes=[0, 1])
    est = SSDPAClassifier(RidgeClassifier(), cost_aware=True, **params).fit(X, y)
    plain = SSDPAClassifier(RidgeClassifier(), **params).fit(X, y)
    y_pred, radius = est.predict_certified(queries)
    _, plain_radius = plain.predict_certified(queries)
    assert (radius >= plain_radius).all() and (radius > plain_radius).any()

    check_ssdpa_flip_radius(
        est,
        X,
        y,
        queries,
        lambda y_member: _member_vote(X, y_member, queries),
        lambda y_new: SSDPAClassifier(RidgeClassifier(), **params).fit(X, y_new),
    )


def test_ssdpa_refuses_cost_aware_ridge_without_the_unlabeled_rows():
    """Fit on its labelled rows only, a label given to an unlabeled row of
    high leverage moves the member below its costs: refused, at fit and at
    a certificate after set_params."""
    rng = np.random.RandomState(0)
    y = rng.randint(2, size=8)
    X = (np.array([[-2.0, 0], [2.0, 0]])[y] + rng.normal(size=(8, 2))).round(2)
    queries = rng.normal(size=(4, 2)) * 2
    member = RidgeClassifier().fit(X, y)
    costs = member.flip_costs(queries, 2)
    grown = RidgeClassifier().fit(np.vstack([X, [[-30.0, 5.0]]]), np.r_[y, 0])
    moved = grown.predict(queries) != member.predict(queries)
    assert (costs[moved, grown.predict(queries)[moved]] > 1).any()  # the gap

    match = "needs pass_unlabeled=True: their flip_costs price label edits"
    with pytest.raises(ValueError, match=match):
        SSDPAClassifier(RidgeClassifier(), k=2, cost_aware=True).fit(X, y)
    est = SSDPAClassifier(RidgeClassifier(), k=2).fit(X, y)
    est.set_params(cost_aware=True)
    with pytest.raises(ValueError, match=match):
        est.predict_certified(queries)


def test_costs_do_not_follow_the_callers_array():
    X, y, queries = _problem(0)
    member = RidgeClassifier().fit(X, y)
    before = member.flip_costs(queries, 2)
    X[:] = 0.0
    np.testing.assert_array_equal(member.flip_costs(queries, 2), before)


def test_members_fit_on_equal_rows_share_one_read_only_array():
    # SSDPAClassifier(pass_unlabeled=True) fits every member on every row: the
    # members of a process hold one copy of the rows, not k (memory), also
    # after a pickle round trip (members come back from workers pickled)
    import pickle

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    y = rng.integers(0, 3, 60)
    clf = SSDPAClassifier(
        RidgeClassifier(), k=5, pass_unlabeled=True, cost_aware=True, n_jobs=2
    ).fit(X, y)
    rows = {id(m._X_fit) for m in clf.estimators_}
    assert len(rows) == 1
    shared = clf.estimators_[0]._X_fit
    assert not shared.flags.writeable
    np.testing.assert_array_equal(shared, clf.estimators_[0]._X_fit)
    loaded = pickle.loads(pickle.dumps(clf))
    assert len({id(m._X_fit) for m in loaded.estimators_}) == 1
    np.testing.assert_array_equal(
        loaded.predict_certified(X[:10])[1], clf.predict_certified(X[:10])[1]
    )


def test_shared_rows_are_keyed_by_content():
    # a member whose rows differ (fit on other rows, or loaded with other
    # rows) never reads another member's
    import pickle

    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 2))
    y = rng.integers(0, 2, 12)
    a = RidgeClassifier().fit(X, y)
    b = RidgeClassifier().fit(X + 1.0, y)
    assert a._X_fit is not b._X_fit
    state = pickle.loads(pickle.dumps(a)).__getstate__()
    state["_X_fit"] = X[::-1].copy()  # other rows, same shape and dtype
    forged = RidgeClassifier.__new__(RidgeClassifier)
    forged.__setstate__(state)
    np.testing.assert_array_equal(forged._X_fit, X[::-1])
    assert forged._X_fit is not a._X_fit
    c = RidgeClassifier().fit(X.copy(), y)
    assert c._X_fit is a._X_fit  # equal rows: shared
