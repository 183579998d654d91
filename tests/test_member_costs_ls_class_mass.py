"""KNNLabelSpreading(vote="soft", class_mass=...) costs against brute force.

The normalised scores ``w_c (a^T Y_c) / (m^T Y_c)`` are checked against their
definition, the hard vote's normalisation and ``transduction_``; then every
set of at most three label edits of the editable rows (to another class, to a
class the member never saw, to or from unlabeled ``-1``) is applied and the
member refit: no output may be reached with fewer edits than its cost, and a
cost one higher than stated is caught. End to end, no label-flip attack within
the radius of ``SSDPAClassifier(..., cost_aware=True)`` moves a prediction.
"""

import itertools

import numpy as np
import pytest
from helpers import (
    assert_costs_sound,
    check_costs_per_query_and_round_trip,
    check_spreading_costs_on_random_graph,
    check_ssdpa_flip_radius,
    soft_spreading,
    spreading_outputs,
    spreading_reached,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skdpa import SSDPAClassifier
from skdpa.member_costs import flip_costs
from skdpa.semi_supervised import (
    KNNLabelSpreading,
    _operator,
    _spread_mass,
    clear_graph_cache,
)


def _case(seed, n=9, seen=2, n_queries=5):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 2)).round(3)
    y = rng.randint(-1, seen, size=n)
    y[:seen] = np.arange(seen)  # every seen class present
    queries = np.concatenate([X[:2], rng.uniform(size=(n_queries - 2, 2)).round(3)])
    return X, y, queries


_member = soft_spreading
_outputs = spreading_outputs
_reached = spreading_reached
_check = assert_costs_sound


def _spread(X, y, params):
    """Label spreading by hand: F = P Y after exactly max_iter steps."""
    member = _member(**params).fit(X, y)
    S = _operator(member._graph, member.n_neighbors).toarray()
    classes = np.unique(y[y >= 0])
    Y = (y[:, None] == classes[None, :]).astype(float)
    F = Y.copy()
    for _ in range(member.max_iter):
        F = member.alpha * S @ F + (1 - member.alpha) * Y
    return member, Y, F


# ---------------------------------------------------------------------------
# the scores


@pytest.mark.parametrize("class_mass", ["uniform", "labels"])
def test_scores_are_the_normalised_definition(class_mass):
    X, y, queries = _case(3, n=12, seen=3)
    y[[3, 4, 5]] = [0, 0, 0]  # unequal class counts
    member, Y, F = _spread(X, y, {"class_mass": class_mass})
    plain = _member().fit(X, y)
    # class masses: the spread scores summed over the graph's rows, = m^T Y
    mass = F.sum(axis=0)
    m = _spread_mass(member._graph, 3, member.alpha, member.max_iter)
    np.testing.assert_allclose(m @ Y, mass, rtol=1e-12)
    assert (m >= 1 - member.alpha).all()
    n_c = Y.sum(axis=0)
    prior = np.full(3, 1 / 3) if class_mass == "uniform" else n_c / n_c.sum()
    raw = plain._soft_scores(queries)
    expected = raw * prior / mass
    np.testing.assert_allclose(member._soft_scores(queries), expected, rtol=1e-12)
    np.testing.assert_array_equal(member.predict(queries), expected.argmax(axis=1))
    proba = member.predict_proba(queries)
    np.testing.assert_allclose(proba, expected / expected.sum(1, keepdims=True))
    # transduction_: the training rows' spread scores, normalised the same way
    np.testing.assert_array_equal(
        member.transduction_, np.argmax(F * prior / mass, axis=1)
    )


def test_soft_normalises_as_the_hard_vote():
    """Both scale class c's spread scores by prior_c / (their sum over the
    graph's rows): with the same spreading, the same transduction."""
    X, y, _ = _case(4, n=14, seen=3)
    y[[3, 4, 5, 6]] = 0
    for class_mass in ("uniform", "labels"):
        # tol=0: the hard vote also spreads exactly max_iter steps
        params = {"class_mass": class_mass, "max_iter": 7}
        hard = _member(**params, vote="hard", tol=0.0).fit(X, y)
        soft = _member(**params).fit(X, y)
        assert hard.n_iter_ == 7
        np.testing.assert_array_equal(soft.transduction_, hard.transduction_)
    # and normalisation does change something here
    plain = _member(max_iter=7).fit(X, y)
    changed = _member(max_iter=7, class_mass="uniform").fit(X, y)
    assert (plain.transduction_ != changed.transduction_).any()


def test_mass_is_cached_by_everything_it_depends_on():
    X, y, _ = _case(5, n=10)
    clear_graph_cache()
    member = _member(class_mass="uniform").fit(X, y)
    m = _spread_mass(member._graph, 3, member.alpha, member.max_iter)
    assert _spread_mass(member._graph, 3, member.alpha, member.max_iter) is m
    assert not m.flags.writeable
    other = _spread_mass(member._graph, 3, 0.5, member.max_iter)
    longer = _spread_mass(member._graph, 3, member.alpha, member.max_iter + 4)
    assert not np.array_equal(m, other) and not np.array_equal(m, longer)
    moved = _member(class_mass="uniform").fit(
        X + 0.5 * (np.arange(10) == 0)[:, None], y
    )
    assert _spread_mass(moved._graph, 3, moved.alpha, moved.max_iter) is not m


def test_fit_does_not_spread():
    X, y, queries = _case(6, n=10)
    clear_graph_cache()
    from skdpa import semi_supervised as ss

    _member(class_mass="uniform").fit(X, y)
    assert len(ss._masses) == 0 and len(ss._influences) == 0
    _member(class_mass="uniform").fit(X, y).predict(queries)
    assert len(ss._masses) == 1


# ---------------------------------------------------------------------------
# costs against brute force


@pytest.mark.parametrize("class_mass", ["uniform", "labels"])
@pytest.mark.parametrize("seed", range(3))
def test_costs_are_sound_with_two_classes(seed, class_mass):
    X, y, queries = _case(seed)
    editable = np.zeros(len(y), dtype=bool)
    editable[[0, 1, 2, 4, 6]] = True
    params = {"class_mass": class_mass}
    member = _member(**params).fit(X, y)
    costs = flip_costs(member, queries, 2, editable=editable)
    reached = _reached(X, y, queries, 2, editable, params)
    _check(costs, reached)
    # not vacuous: rivals are reached within the budget, and priced above 0
    assert np.isfinite(reached[:, :2]).sum() > len(queries)
    assert (costs[:, :2] >= 1).sum() == len(queries)


@pytest.mark.parametrize("class_mass", ["uniform", "labels"])
@pytest.mark.parametrize("seed", range(2))
def test_costs_sound_with_three_seen_classes_and_a_new_one(seed, class_mass):
    """n_classes=4 while the member saw 3: index 3 is a never-seen label."""
    X, y, queries = _case(seed, n=8, seen=3, n_queries=4)
    editable = np.zeros(len(y), dtype=bool)
    editable[[0, 1, 3, 5]] = True
    params = {"max_iter": 3, "class_mass": class_mass}
    member = _member(**params).fit(X, y)
    costs = flip_costs(member, queries, 4, editable=editable)
    _check(costs, _reached(X, y, queries, 4, editable, params))
    assert np.isinf(costs[:, -1]).all()  # labels outside the editable rows


@pytest.mark.parametrize("class_mass", ["uniform", "labels"])
def test_costs_can_exceed_one(class_mass):
    """Two tight clusters with three labels each: turning a query in one
    cluster takes several edits, priced at 2 or more and reached at exactly
    that here (the bound can be tight)."""
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(0, 0.05, (6, 2)), rng.normal(1, 0.05, (6, 2))])
    y = np.array([0, 0, 0, -1, -1, -1, 1, 1, 1, -1, -1, -1])
    queries = np.array([[0.0, 0.0], [1.0, 1.0]])
    params = {"class_mass": class_mass, "alpha": 0.9}
    member = _member(**params).fit(X, y)
    costs = member.flip_costs(queries, 2)
    reached = _reached(X, y, queries, 2, np.ones(12, dtype=bool), params)
    _check(costs, reached)
    assert (costs[:, :2].max(axis=1) >= 2).all()
    np.testing.assert_array_equal(reached[:, :2], costs[:, :2])


@pytest.mark.parametrize("class_mass", ["uniform", "labels"])
def test_overstating_a_cost_by_one_is_caught(class_mass):
    """Teeth: the brute force rejects costs that are one too high."""
    X, y, queries = _case(0)
    editable = np.ones(len(y), dtype=bool)
    params = {"class_mass": class_mass}
    costs = flip_costs(_member(**params).fit(X, y), queries, 2, editable=editable)
    reached = _reached(X, y, queries, 2, editable, params)
    _check(costs, reached)
    finite = np.isfinite(reached) & (reached > 0)
    assert finite.any()
    overstated = costs.copy()
    overstated[finite] += 1
    with pytest.raises(AssertionError, match="reached below cost"):
        _check(overstated, reached)


def test_dilution_is_priced():
    """Normalisation opens an attack the raw scores do not have: labelling
    rows far from the query with the current class dilutes its mass. With
    only far rows editable, nothing moves the raw scores' output, while one
    far label moves the normalised one, and both costs say so."""
    rng = np.random.RandomState(1)
    near = rng.normal(0, 0.05, (3, 2))
    far = rng.normal(3, 0.05, (6, 2))
    X = np.concatenate([near, [[0.4, 0.4]], far])
    y = np.array([0, 0, 1, -1, -1, -1, -1, -1, -1, -1])
    queries = np.array([[0.0, 0.0]])
    editable = np.zeros(len(y), dtype=bool)
    editable[4:] = True  # the far rows
    expected = {None: np.inf, "uniform": 1.0}
    for class_mass, cost in expected.items():
        params = {"class_mass": class_mass, "alpha": 0.9, "max_iter": 8}
        member = _member(**params).fit(X, y)
        costs = member.flip_costs(queries, 2, editable=editable)
        reached = _reached(X, y, queries, 2, editable, params, max_edits=2)
        _check(costs, reached)
        assert costs[0, 1] == cost == reached[0, 1]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(4, 8),
    k=st.integers(1, 4),
    steps=st.integers(1, 8),
    alpha=st.sampled_from([0.3, 0.9, 0.99]),
    class_mass=st.sampled_from(["uniform", "labels"]),
)
def test_costs_sound_on_random_graphs(seed, n, k, steps, alpha, class_mass):
    check_spreading_costs_on_random_graph(
        seed, n, k, steps, alpha, class_mass=class_mass
    )


def test_a_query_does_not_depend_on_its_batch_nor_on_a_round_trip():
    X, y, queries = _case(2, n=12, n_queries=7)
    member = _member(class_mass="labels").fit(X, y)
    check_costs_per_query_and_round_trip(member, queries)


# ---------------------------------------------------------------------------
# end to end: SSDPAClassifier(KNNLabelSpreading(vote="soft",
# class_mass="uniform"), pass_unlabeled=True, cost_aware=True)

_E2E = {"n_neighbors": 3, "metric": "euclidean", "vote": "soft", "max_iter": 4}


def _member_vote(X, y_member, queries, class_mass):
    """What the ensemble makes of a member: no label abstains, one class
    votes it (the ensembles' rule), else the member's prediction."""
    present = np.unique(y_member[y_member >= 0])
    if len(present) == 0:
        return np.full(len(queries), -1)
    if len(present) == 1:
        return np.full(len(queries), present[0])
    member = KNNLabelSpreading(**_E2E, class_mass=class_mass)
    return member.fit(X, y_member).predict(queries)


@pytest.mark.parametrize("class_mass", ["uniform", "labels"])
def test_ssdpa_certificate_holds_against_brute_force(class_mass):
    rng = np.random.RandomState(2)
    n, k = 16, 3
    y = rng.randint(2, size=n)
    X = (np.array([[-1.0, 0.0], [1.0, 0.0]])[y] + rng.normal(0, 0.5, (n, 2))).round(2)
    y[rng.choice(n, 4, replace=False)] = -1
    queries = np.array([[-1.0, 0.0], [1.0, 0.0], [-0.3, 0.2], [0.2, -0.5]])
    params = dict(k=k, pass_unlabeled=True, classes=[0, 1])
    member = KNNLabelSpreading(**_E2E, class_mass=class_mass)
    est = SSDPAClassifier(member, cost_aware=True, **params).fit(X, y)
    plain = SSDPAClassifier(member, **params).fit(X, y)
    y_pred, radius = est.predict_certified(queries)
    _, plain_radius = plain.predict_certified(queries)
    assert (radius >= plain_radius).all()
    if class_mass == "uniform":  # the costs add something here
        assert (radius > plain_radius).any()

    check_ssdpa_flip_radius(
        est,
        X,
        y,
        queries,
        lambda y_member: _member_vote(X, y_member, queries, class_mass),
        lambda y_new: SSDPAClassifier(member, **params).fit(X, y_new),
    )


def test_errors():
    X, y, queries = _case(0)
    hard = KNNLabelSpreading(3, metric="euclidean", class_mass="uniform").fit(X, y)
    with pytest.raises(ValueError, match="flip_costs needs vote='soft'"):
        hard.flip_costs(queries, 2)
    soft = _member(class_mass="uniform").fit(X, y)
    with pytest.raises(ValueError, match=r"n_classes must be an integer above .*1"):
        soft.flip_costs(queries, 1)
    with pytest.raises(ValueError, match=r"editable must be a boolean array of shape"):
        soft.flip_costs(queries, 2, editable=np.ones(3, dtype=bool))


@pytest.mark.parametrize("cap", [1, 2])
def test_capped_search_states_one_more_than_the_cap(cap, monkeypatch):
    """Bounds are computed up to _MAX_MASS_EDITS edits: a cost not reached by
    then is stated as cap + 1 (a lower bound), never more."""
    from skdpa import semi_supervised as ss

    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(0, 0.05, (8, 2)), rng.normal(1, 0.05, (8, 2))])
    y = np.array([0] * 5 + [-1] * 3 + [1] * 5 + [-1] * 3)
    queries = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    member = _member(class_mass="uniform", alpha=0.9).fit(X, y)
    full = member.flip_costs(queries, 3)
    assert (full[:, :3] > cap).any()
    monkeypatch.setattr(ss, "_MAX_MASS_EDITS", cap)
    capped = member.flip_costs(queries, 3)
    np.testing.assert_array_equal(capped[:, :3], np.minimum(full[:, :3], cap + 1))
    np.testing.assert_array_equal(capped[:, 3], full[:, 3])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n_e=st.integers(1, 6),
    b=st.integers(0, 3),
    minimise=st.booleans(),
)
def test_certified_ratio_bounds_the_exact_extreme(seed, n_e, b, minimise):
    """_certified_ratio against every reachable label set: on the right side
    of the true extreme ratio, and within the bisection's resolution."""
    from skdpa.semi_supervised import _certified_ratio

    rng = np.random.RandomState(seed)
    a = rng.uniform(size=(1, n_e)) * (rng.rand(1, n_e) < 0.8)
    m = rng.uniform(0.2, 1.5, size=n_e)
    inside = rng.rand(n_e) < 0.5
    locked_a, locked_m = (rng.uniform(), rng.uniform(0.2, 1.5)) if seed % 2 else (0, 0)
    N_c = a[0, inside].sum() + locked_a
    M_c = m[inside].sum() + locked_m
    ratios = []
    for t in range(min(b, n_e) + 1):
        for rows in itertools.combinations(range(n_e), t):
            members = inside.copy()
            members[list(rows)] = ~members[list(rows)]
            mass = m[members].sum() + locked_m
            if mass > 0:
                ratios.append((a[0, members].sum() + locked_a) / mass)
    if not ratios or M_c == 0:
        return
    extreme = min(ratios) if minimise else max(ratios)
    start = N_c / M_c
    lo, hi = (0.0, start) if minimise else (start, max(ratios) * 2 + 1)
    got = _certified_ratio(
        a,
        m,
        inside,
        np.array([N_c]),
        M_c,
        np.array([min(b, n_e)]),
        np.array([lo]),
        np.array([hi]),
        minimise=minimise,
    )[0]
    if minimise:
        assert got <= extreme
        # proven unless the empty set is reachable (then it proves nothing)
        if not (locked_m == 0 and inside.sum() <= b):
            assert got >= extreme - 1e-5 * (hi - lo) - 1e-12
    else:
        assert got >= extreme
        if not (locked_m == 0 and inside.sum() <= b):
            assert got <= extreme + 1e-5 * (hi - lo) + 1e-12


def _random_case(seed, class_mass=None):
    """A random small problem (two or three classes; the costs also priced
    for a new label), as a stress run of the brute force drew them."""
    rng = np.random.RandomState(seed)
    n, k, steps = rng.randint(4, 9), rng.randint(1, 5), rng.randint(1, 9)
    alpha = [0.3, 0.9, 0.99][rng.randint(3)]
    class_mass = class_mass or ["uniform", "labels"][seed % 2]
    n_classes = rng.randint(2, 4)
    X = rng.uniform(size=(n, 2)).round(2)
    y = rng.randint(-1, n_classes, size=n)
    y[rng.randint(n)] = rng.randint(n_classes)
    queries = np.concatenate([X[:2], rng.uniform(size=(2, 2)).round(2)])
    editable = rng.rand(n) < 0.7
    params = dict(n_neighbors=k, max_iter=steps, alpha=alpha, class_mass=class_mass)
    return X, y, queries, n_classes, editable, params


@pytest.mark.parametrize("seed", [156, 224, 286])
def test_costs_sound_on_cases_where_mass_matters(seed):
    """Random problems on which bounding the dilution mass of the current
    class by the smallest masses instead of the largest gives costs above
    the brute force: a mutation check found them among 300."""
    X, y, queries, n_classes, editable, params = _random_case(seed)
    member = _member(**params).fit(X, y)
    costs = member.flip_costs(queries, n_classes + 1, editable=editable)
    max_edits = 3 if n_classes == 2 else 2
    reached = _reached(X, y, queries, n_classes + 1, editable, params, max_edits)
    _check(costs, reached)


@pytest.mark.parametrize("seed", [18, 184])
def test_one_budget_for_both_classes_raises_costs_soundly(seed, monkeypatch):
    """With "uniform", a proof that shares the edits between the current
    class and the rival (one edit moves one row) raises costs the per-class
    bounds leave low; the brute force still reaches nothing below them."""
    from skdpa import semi_supervised as ss

    X, y, queries, n_classes, editable, params = _random_case(seed, "uniform")
    assert n_classes == 2
    member = _member(**params).fit(X, y)
    costs = member.flip_costs(queries, 3, editable=editable)
    monkeypatch.setattr(ss, "_JOINT_MAX_EDITS", 0)
    apart = member.flip_costs(queries, 3, editable=editable)
    assert (costs >= apart).all() and (costs > apart).any()
    _check(costs, _reached(X, y, queries, 3, editable, params))
