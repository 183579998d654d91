"""Adversarial audit of the member-aware certificates (issue 17).

Independent brute force against every part a cost-aware radius rests on:

- ``cost_certify`` and the cost rule's per-class radii against an exhaustive
  enumeration of member-output choices (inf costs, abstaining members, ties,
  fractional costs, a new label at every sort position);
- ``RidgeClassifier.flip_costs`` on awkward inputs (constant, duplicate and
  collinear features, tiny and huge ``alpha`` and feature scales, float32, one
  row, editable masks with few True, queries on the decision boundary),
  refitting after every set of up to two label edits;
- ``knn_costs`` (through ``poison_costs``) against every set of up to two
  insertions/removals, with several metrics and search structures, duplicate
  rows and distance ties, each refit in two row orders;
- both estimators end to end: poison within the reported radius (rows that
  hash into a chosen partition, duplicates of existing rows, new labels,
  label flips to and from ``-1``), refit, the prediction never moves; the
  three certificate views agree; options the maths does not cover are
  refused everywhere, ``certificate_`` included.
"""

import itertools
import warnings

import numpy as np
import pytest
from helpers import near_copies_in
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skdpa import DPAClassifier, SSDPAClassifier
from skdpa._cost_rule import CostRule
from skdpa.certify import cost_certify, plurality_winner
from skdpa.linear_model import RidgeClassifier
from skdpa.member_costs import poison_costs

INF = np.inf
INT_MAX = np.iinfo(np.int64).max


# ---------------------------------------------------------------------------
# cost_certify: exhaustive enumeration of member-output choices


def _all_choices(n_members, width):
    """Every assignment of an output column to each member: (width**m, m)."""
    return np.indices((width,) * n_members).reshape(n_members, -1).T


def _cheapest_change(costs):
    """(winner, least total cost of outputs that change it; inf if none)."""
    n_members, width = costs.shape
    n_classes = width - 1
    current = costs.argmin(axis=1)
    pred = np.where(current == n_classes, -1, current)
    winner = plurality_winner(pred[None, :], n_classes)[0]
    choices = _all_choices(n_members, width)
    total = costs[np.arange(n_members), choices].sum(axis=1)
    outs = np.where(choices == n_classes, -1, choices)
    moved = plurality_winner(outs, n_classes) != winner
    return winner, (total[moved].min() if moved.any() else INF)


def _radius_from(cheapest):
    if np.isinf(cheapest):
        return INT_MAX
    return max(0, int(np.ceil(cheapest - 1e-9)) - 1)


@st.composite
def _cost_tensors(draw):
    n_classes = draw(st.integers(2, 4))
    n_members = draw(st.integers(1, 5 if n_classes < 4 else 4))
    values = draw(
        st.sampled_from(
            [(1.0, 2.0, 3.0, INF), (1.0, 1.0, 2.0, INF), (0.5, 1.5, 2.2, 4.0, INF)]
        )
    )
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    costs = rng.choice(values, size=(n_members, n_classes + 1))
    # current outputs: any class or the abstain column, often all alike
    if draw(st.booleans()):
        current = np.full(n_members, rng.randint(n_classes + 1))
    else:
        current = rng.randint(0, n_classes + 1, size=n_members)
    costs[np.arange(n_members), current] = 0
    return costs


@settings(max_examples=250, deadline=None)
@given(_cost_tensors())
def test_cost_certify_is_exact_against_every_output_choice(costs):
    winner, radius = cost_certify(costs[None])
    expected_winner, cheapest = _cheapest_change(costs)
    assert winner[0] == expected_winner
    assert radius[0] == _radius_from(cheapest), (costs.tolist(), radius[0], cheapest)


def test_cost_certify_edge_tensors():
    # one member, voting class 1 of 3: abstaining (all-zero votes) gives class 0
    one = np.array([[[3.0, 0.0, 5.0, 4.0]]])
    assert cost_certify(one) == (np.array([1]), np.array([2]))
    # every member abstains: class 0 wins with no vote; one vote for class 1
    # at cost 2 moves it
    idle = np.array([[[INF, 2.0, 0.0], [INF, INF, 0.0]]])
    assert cost_certify(idle) == (np.array([0]), np.array([1]))
    # nothing can ever move it
    fixed = np.array([[[0.0, INF, INF], [0.0, INF, INF], [INF, 0.0, INF]]])
    assert cost_certify(fixed)[1][0] == INT_MAX


def test_cost_certify_refuses_one_class_and_no_member():
    with pytest.raises(ValueError, match="at least 3 columns .* got 2"):
        cost_certify(np.array([[[0.0, 1.0]]]))
    with pytest.raises(ValueError, match="at least one member; got 0"):
        cost_certify(np.zeros((1, 0, 3)))


@pytest.mark.parametrize(
    "big, expected", [(1e15, 10**15 - 1), (1e18, 10**18 - 1), (1e19, INT_MAX)]
)
def test_cost_certify_huge_finite_costs_saturate_quietly(big, expected):
    # a radius beyond int64 saturates at its maximum without a cast warning
    costs = np.array([[[0.0, big, INF], [0.0, big, INF], [big, 0.0, INF]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, radius = cost_certify(costs)
    assert radius[0] == expected


# The cost rule of the estimators: per-class (targeted) radii and a new label
# that may sort anywhere among the known classes.


def _rule_brute(costs, new_label):
    """Least cost that makes each column the winner, over every sort position
    of the new label (any change costs at least one sample)."""
    n_members, width = costs.shape
    n_classes = width - 1 - int(new_label)
    n_out = n_classes + int(new_label)
    current = costs.argmin(axis=1)
    pred = np.where(current >= n_classes, -1, current)
    choices = _all_choices(n_members, width)
    total = np.maximum(costs[np.arange(n_members), choices].sum(axis=1), 1)
    outs = np.where(choices >= n_out, -1, choices)
    best = np.full(n_out, INF)
    for pos in range(n_classes + 1) if new_label else [None]:
        # rank[c]: tie order of column c (the new label, column n_classes, at pos)
        if pos is None:
            rank = np.arange(n_classes)
        else:
            seq = [*range(pos), n_classes, *range(pos, n_classes)]
            rank = np.argsort(seq)
        # plurality over ranks; the clean vote never has the new label
        clean = plurality_winner(np.where(pred >= 0, rank[pred], -1)[None], n_out)
        ranked = np.where(outs >= 0, rank[np.maximum(outs, 0)], -1)
        win_rank = plurality_winner(ranked, n_out)
        to_col = np.argsort(rank)
        for c in range(n_out):
            hit = (win_rank == rank[c]) & (win_rank != clean[0])
            # with no vote at all the plurality names rank 0; that is a real
            # win only for a known class (a new label needs a sample)
            hit &= (outs >= 0).any(axis=1) | (to_col[0] < n_classes)
            if hit.any():
                best[c] = min(best[c], total[hit].min())
    return best


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 3), st.integers(1, 4), st.booleans(), st.integers(0, 2**31 - 1))
def test_cost_rule_targeted_radii_hold_for_a_new_label_anywhere(
    n_classes, n_members, new_label, seed
):
    rng = np.random.RandomState(seed)
    width = n_classes + int(new_label) + 1
    costs = rng.choice([1.0, 2.0, 3.0, INF], size=(n_members, width))
    current = rng.choice([*range(n_classes), width - 1], size=n_members)
    costs[np.arange(n_members), current] = 0
    rule = CostRule(n_classes, new_label=new_label, max_radius=10**6)
    winner, radius, targeted = rule.certify(costs[None], per_class=True)
    best = _rule_brute(costs, new_label)
    for c in range(len(best)):
        if c != winner[0] and np.isfinite(best[c]):
            assert targeted[0, c] <= best[c] - 1, (costs.tolist(), c, targeted, best)
    finite = best[np.isfinite(best)]
    if finite.size:
        assert radius[0] <= finite.min() - 1
    assert radius[0] == min(targeted[0, c] for c in range(len(best)) if c != winner[0])


# ---------------------------------------------------------------------------
# RidgeClassifier.flip_costs: refit after every set of up to two edits


def _ridge_output(X, y, Q, alpha, fit_intercept, n_classes):
    """The member an ensemble would use after the edit (no label: abstain)."""
    if not (y >= 0).any():
        return np.full(len(Q), n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        member = RidgeClassifier(alpha=alpha, fit_intercept=fit_intercept)
        return member.fit(X, y).predict(Q).astype(np.int64)


def _ridge_fewest_edits(X, y, Q, alpha, fit_intercept, n_classes, editable, depth):
    """Fewest edits of editable rows (to any class or -1) reaching each output
    column, found by refitting every set of at most ``depth`` edits."""
    best = np.full((len(Q), n_classes + 1), INF)
    rows = np.flatnonzero(editable)
    q = np.arange(len(Q))
    for size in range(depth + 1):
        for chosen in itertools.combinations(rows, size):
            options = [[v for v in range(-1, n_classes) if v != y[i]] for i in chosen]
            for labels in itertools.product(*options):
                edited = y.copy()
                edited[list(chosen)] = labels
                out = _ridge_output(X, edited, Q, alpha, fit_intercept, n_classes)
                best[q, out] = np.minimum(best[q, out], size)
    return best


def _boundary_queries(member, rng, n_lines=3):
    """Points within rounding of the member's decision boundary (classes 0/1)."""
    d = member.n_features_in_
    scale = member._X_fit.std() + 1e-300
    centre = member._X_fit.mean(axis=0)

    def margin(point):
        s = np.atleast_2d(member.decision_function(point[None]))[0]
        return s[0] if s.size == 1 else s[1] - s[0]

    out = []
    for _ in range(n_lines):
        a = centre + scale * rng.randn(d)
        b = scale * rng.randn(d)
        lo, hi = -50.0, 50.0
        if margin(a + lo * b) * margin(a + hi * b) > 0:
            continue
        for _ in range(120):
            mid = (lo + hi) / 2
            if margin(a + lo * b) * margin(a + mid * b) <= 0:
                hi = mid
            else:
                lo = mid
        out += [a + lo * b, a + hi * b]
    return np.array(out).reshape(-1, d)


def _ridge_case(name, rng):
    """(X, y, n_classes, alpha, fit_intercept, editable) of a named edge."""
    X = rng.randn(6, 2)
    y = np.array([0, 0, 1, 1, 0, -1])
    n_classes, alpha, fit_intercept, editable = 2, 1.0, True, None
    if name == "constant feature":
        X[:, 1] = 3.0
    elif name == "duplicate feature":
        X[:, 1] = X[:, 0]
    elif name == "collinear no intercept":
        X[:, 1] = 2.0 * X[:, 0] + 1.0
        fit_intercept = False
    elif name == "duplicate rows":
        X[1] = X[0]
        X[3] = X[2]
    elif name == "tiny alpha":
        alpha = 1e-8
    elif name == "huge alpha":
        alpha = 1e6
    elif name == "zero alpha":
        alpha = 0.0  # least squares: full column rank is needed
    elif name == "huge scale":
        X = X * 1e6
    elif name == "small scale":
        X = X * 1e-6
    elif name == "large offset":
        X = X + 1e6
    elif name == "float32":
        X = X.astype(np.float32)
    elif name == "three classes":
        y = np.array([0, 1, 2, 2, 0, -1])
        n_classes = 3
    elif name == "absent class":
        n_classes = 3  # class 2 is in the ensemble, never in this member
    elif name == "absent middle class":
        y = np.array([0, 0, 2, 2, 0, -1])  # class 1 never in this member
        n_classes = 3
    elif name == "one class seen":
        y = np.array([1, 1, -1, 1, -1, -1])
    elif name == "few editable":
        editable = np.array([False, False, True, False, False, True])
    elif name == "one row":
        X, y = X[:1], np.array([1])
    return X, y, n_classes, alpha, fit_intercept, editable


RIDGE_CASES = [
    "plain",
    "constant feature",
    "duplicate feature",
    "collinear no intercept",
    "duplicate rows",
    "tiny alpha",
    "huge alpha",
    "zero alpha",
    "huge scale",
    "small scale",
    "large offset",
    "float32",
    "three classes",
    "absent class",
    "absent middle class",
    "one class seen",
    "few editable",
    "one row",
]


@pytest.mark.parametrize("name", RIDGE_CASES)
def test_ridge_flip_costs_never_overstate_on_edge_inputs(name):
    rng = np.random.RandomState(RIDGE_CASES.index(name))
    X, y, n_classes, alpha, fit_intercept, editable = _ridge_case(name, rng)
    member = RidgeClassifier(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    queries = [X[:3], X.mean(axis=0) + X.std() * rng.randn(3, X.shape[1])]
    if len(member.classes_) == 2:
        queries.append(_boundary_queries(member, rng))
    Q = np.vstack(queries).astype(X.dtype)
    costs = member.flip_costs(Q, n_classes, editable=editable)
    mask = np.ones(len(y), dtype=bool) if editable is None else editable
    found = _ridge_fewest_edits(X, y, Q, alpha, fit_intercept, n_classes, mask, 2)
    # sound: no output is reached with fewer edits than its cost
    assert (costs <= found).all(), (costs, found)
    assert (costs[np.arange(len(Q)), member.predict(Q)] == 0).all()
    # teeth: the two-class costs are exact where the refits found a way
    # (away from the rounding tolerance of the boundary queries)
    if name in ("plain", "huge alpha", "duplicate rows", "few editable"):
        head = found[:6, :n_classes]
        reached = np.isfinite(head)
        np.testing.assert_array_equal(costs[:6, :n_classes][reached], head[reached])


@settings(max_examples=25, deadline=None)
@given(
    st.integers(2, 6),
    st.integers(1, 3),
    st.sampled_from([1e-6, 0.1, 1.0, 100.0]),
    st.booleans(),
    st.sampled_from([1e-3, 1.0, 1e3]),
    st.integers(0, 2**31 - 1),
)
def test_ridge_flip_costs_sound_on_random_members(
    n_rows, n_features, alpha, fit_intercept, scale, seed
):
    rng = np.random.RandomState(seed)
    X = scale * rng.randn(n_rows, n_features)
    y = rng.randint(-1, 3, size=n_rows)
    y[0] = max(y[0], 0)
    n_classes = 3
    member = RidgeClassifier(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    editable = rng.rand(n_rows) < 0.6
    Q = np.vstack([X[:2], scale * rng.randn(2, n_features)])
    try:
        costs = member.flip_costs(Q, n_classes, editable=editable)
    except ValueError as exc:  # a singular Gram matrix is refused, not priced
        assert "singular Gram matrix" in str(exc)
        return
    found = _ridge_fewest_edits(X, y, Q, alpha, fit_intercept, n_classes, editable, 2)
    assert (costs <= found).all(), (costs, found)


# ---------------------------------------------------------------------------
# knn_costs: insertions and removals, refit in two row orders


def _knn_output(make, X, y, q, n_classes, n_neighbors, orders=2):
    """Outputs of the member an ensemble would use, for ``orders`` row orders
    (after one poisoned sample the tie order of equidistant rows is the
    attacker's)."""
    if len(y) == 0:
        return {n_classes}
    if len(np.unique(y)) == 1:
        return {int(y[0])}
    if len(y) < n_neighbors:
        return {n_classes}
    outs = set()
    for order in (np.arange(len(y)), np.arange(len(y))[::-1])[:orders]:
        outs.add(int(make().fit(X[order], y[order]).predict(q)[0]))
    return outs


def _knn_fewest_changes(make, X, y, q, pool, n_classes, n_neighbors, depth):
    """Fewest insertions (from ``pool``) and removals reaching each output."""
    best = np.full(n_classes + 1, INF)
    ops = [("remove", i) for i in range(len(X))]
    ops += [("insert", i) for i in range(len(pool))]
    for size in range(depth + 1):
        for chosen in itertools.combinations(ops, size):
            keep = np.ones(len(X), dtype=bool)
            rows, labels = [X], [y]
            for what, i in chosen:
                if what == "remove":
                    keep[i] = False
                else:
                    rows.append(pool[i][0][None])
                    labels.append(np.array([pool[i][1]]))
            Xp = np.vstack([X[keep], *rows[1:]])
            yp = np.concatenate([y[keep], *labels[1:]])
            orders = 1 if size == 0 else 2
            for out in _knn_output(make, Xp, yp, q, n_classes, n_neighbors, orders):
                best[out] = min(best[out], size)
    return best


KNN_CASES = [
    ("euclidean", "brute", 3),
    ("euclidean", "kd_tree", 4),
    ("manhattan", "ball_tree", 3),
    ("chebyshev", "kd_tree", 3),
    ("cosine", "brute", 3),
    ("minkowski", "ball_tree", 4),
]


@pytest.mark.parametrize("metric, algorithm, n_neighbors", KNN_CASES)
def test_knn_poison_costs_never_overstate(metric, algorithm, n_neighbors):
    rng = np.random.RandomState(KNN_CASES.index((metric, algorithm, n_neighbors)))
    extra = {"p": 3} if metric == "minkowski" else {}

    def make():
        return KNeighborsClassifier(
            n_neighbors, metric=metric, algorithm=algorithm, **extra
        )

    # a coarse grid: many rows at equal distances, one duplicated row
    X = np.round(rng.uniform(0.1, 1.0, size=(9, 2)), 1)
    X[1] = X[0]
    y = (rng.rand(9) < 0.3).astype(np.int64)
    y[:2] = [0, 1]
    n_classes = 3  # class 2: no row of it yet
    member = make().fit(X, y)
    queries = np.vstack([X[:2], np.round(rng.uniform(0.1, 1.0, size=(2, 2)), 1)])
    costs = poison_costs(member, queries, n_classes)
    tight = 0
    for q, cost in zip(queries, costs, strict=True):
        # insertions: the query itself and an existing row, with every label
        pool = [(point, c) for point in (q, X[2]) for c in range(n_classes)]
        # one thread: thousands of tiny searches (OpenMP start-up dominates)
        with threadpool_limits(1):
            found = _knn_fewest_changes(
                make, X, y, q[None], pool, n_classes, n_neighbors, depth=2
            )
        assert (cost <= found).all(), (q, cost, found)
        tight += int(((cost == found) & (cost > 0)).sum())
    # teeth: some cost is reached exactly (one more would fail above); in the
    # kd_tree case every query has a tied neighbour and the costs stay below
    assert tight > 0 or (metric, algorithm) == ("euclidean", "kd_tree")


def test_knn_distance_weights_are_refused_at_fit():
    X, y = np.arange(20.0)[:, None], np.arange(20) % 2
    knn = KNeighborsClassifier(3, weights="distance")
    with pytest.raises(ValueError, match="weights='uniform'.* got weights='distance'"):
        DPAClassifier(knn, k=3, cost_aware=True).fit(X, y)
    fitted = DPAClassifier(knn, k=3).fit(X, y).set_params(cost_aware=True)
    with pytest.raises(ValueError, match="got weights='distance'"):
        fitted.predict_certified(X)
    with pytest.raises(ValueError, match="got weights='distance'"):
        fitted.certificate_  # noqa: B018


# ---------------------------------------------------------------------------
# end to end: poison within the radius, refit, the prediction never moves


def _moves_within_radius(est, X, y, Xq, attacks):
    """Refit a clone on every (X', y') of ``attacks`` (with its size) and
    return those that move a prediction whose radius covers the size."""
    pred, radius = est.predict_certified(Xq)
    bad = []
    for size, Xp, yp in attacks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moved = clone(est).fit(Xp, yp).predict(Xq) != pred
        if (moved & (radius >= size)).any():
            bad.append((size, np.flatnonzero(moved & (radius >= size))))
    return bad


def _sample(attacks, rng, n_singles, n_pairs):
    """A seeded sample of the single changes and of the pairs."""
    out = []
    for size, n_take in ((1, n_singles), (2, n_pairs)):
        these = [a for a in attacks if a[0] == size]
        picked = rng.choice(len(these), size=min(n_take, len(these)), replace=False)
        out += [these[i] for i in sorted(picked)]
    return out


def _three_views_agree(est, Xq):
    pred, radius = est.predict_certified(Xq)
    report = est.certificate_report(Xq)
    np.testing.assert_array_equal(report.y_pred, pred)
    np.testing.assert_array_equal(report.radius, radius)
    assert est.certificate_.cost_aware
    assert radius.max() <= est.certificate_.max_radius
    return pred, radius


@pytest.mark.parametrize("classes", [None, [0, 1, 2]])
def test_dpa_poison_aimed_at_partitions_never_moves_within_radius(classes):
    rng = np.random.RandomState(3)
    X = np.round(rng.uniform(size=(45, 1)), 2)
    y = (X[:, 0] > 0.6).astype(np.int64)
    est = DPAClassifier(
        KNeighborsClassifier(3, algorithm="kd_tree"),
        k=3,
        classes=classes,
        cost_aware=True,
    ).fit(X, y)
    Xq = np.array([[0.1], [0.3], [0.5], [0.62], [0.9]])
    pred, radius = _three_views_agree(est, Xq)
    assert radius.max() >= 1  # the brute force below reaches it
    labels = [0, 1, 2] if classes else [0, 1, -5, 99]  # new labels sort first, last
    # near-copies of each query aimed at each partition, exact duplicates of
    # existing rows (they share the original's partition), every label
    pool = []
    for q in Xq:
        for row in near_copies_in(est, q, range(est.k), rng, n_candidates=2000):
            pool += [(row, c) for c in labels]
    pool += [(X[i], c) for i in (0, 15, 29, 44) for c in labels]
    attacks = []
    for size in (1, 2):
        for chosen in itertools.combinations(range(len(X) + len(pool)), size):
            keep = np.ones(len(X), dtype=bool)
            add = [pool[i - len(X)] for i in chosen if i >= len(X)]
            keep[[i for i in chosen if i < len(X)]] = False
            Xp = np.vstack([X[keep]] + [r[None] for r, _ in add])
            yp = np.concatenate([y[keep], [c for _, c in add]]).astype(np.int64)
            if len(np.unique(yp)) < 2:
                continue
            attacks.append((size, Xp, yp))
    # a seeded sample keeps the test fast (of 100-120 single changes, 5-7k pairs)
    attacks = _sample(attacks, rng, n_singles=90, n_pairs=60)
    assert _moves_within_radius(est, X, y, Xq, attacks) == []


@pytest.mark.parametrize("classes", [None, [0, 1, 2]])
def test_ssdpa_ridge_flips_to_and_from_unlabeled_never_move_within_radius(classes):
    rng = np.random.RandomState(0)
    X = rng.randn(12, 2)
    y = (X[:, 0] > 0).astype(np.int64)
    y[rng.choice(12, 3, replace=False)] = -1
    est = SSDPAClassifier(
        RidgeClassifier(alpha=0.1),
        k=3,
        pass_unlabeled=True,
        classes=classes,
        cost_aware=True,
    ).fit(X, y)
    Xq = np.vstack([X[:4], rng.randn(4, 2)])
    pred, radius = _three_views_agree(est, Xq)
    assert radius.max() >= 1
    labels = [-1, 0, 1, 2] if classes else [-1, 0, 1, -5, 99]
    edits = [(i, v) for i in range(len(y)) for v in labels if v != y[i]]
    attacks = []
    for size in (1, 2):
        for chosen in itertools.combinations(edits, size):
            if len({i for i, _ in chosen}) < size:
                continue
            yp = y.copy()
            for i, v in chosen:
                yp[i] = v
            if len(np.unique(yp[yp != -1])) < 2:
                continue
            attacks.append((size, X, yp))
    attacks = _sample(attacks, rng, n_singles=60, n_pairs=90)  # of 34-46, 0.6-1k
    assert _moves_within_radius(est, X, y, Xq, attacks) == []


def test_warm_start_refits_certify_like_cold_fits():
    rng = np.random.RandomState(0)
    X = np.round(rng.uniform(size=(40, 2)), 2)
    y = (X[:, 0] > 0.5).astype(np.int64)
    Xq = rng.uniform(size=(10, 2))
    knn = KNeighborsClassifier(3, algorithm="kd_tree")
    warm = DPAClassifier(knn, k=3, warm_start=True, cost_aware=True).fit(X, y)
    for step in range(3):
        # insert a near-copy of a query with the other label, remove a row
        X = np.vstack([np.delete(X, step, axis=0), Xq[step] + 1e-6])
        y = np.append(np.delete(y, step), 1 - warm.predict(Xq[step : step + 1]))
        warm.fit(X, y)
        assert not warm.refitted_.all()
        cold = DPAClassifier(knn, k=3, cost_aware=True).fit(X, y)
        warm_pred, warm_radius = warm.predict_certified(Xq)
        cold_pred, cold_radius = cold.predict_certified(Xq)
        np.testing.assert_array_equal(warm_pred, cold_pred)
        np.testing.assert_array_equal(warm_radius, cold_radius)


# ---------------------------------------------------------------------------
# what the maths does not cover is refused by every certificate view


@pytest.mark.parametrize(
    "params, match",
    [
        ({"spread": 2}, "spread=1\\) only; got spread=2"),
        ({"voting": "runoff"}, "got voting='runoff'"),
    ],
)
def test_uncovered_options_are_refused_by_certificate_too(params, match):
    X, y = np.arange(30.0)[:, None], np.arange(30) % 2
    est = DPAClassifier(KNeighborsClassifier(3), k=3, **params).fit(X, y)
    est.set_params(cost_aware=True)
    with pytest.raises(ValueError, match=match):
        est.predict_certified(X)
    with pytest.raises(ValueError, match=match):
        est.certificate_  # noqa: B018
    # back to the plain certificate: nothing is refused
    assert not est.set_params(cost_aware=False).certificate_.cost_aware


def test_members_without_costs_are_refused_by_certificate_too():
    X, y = np.arange(30.0)[:, None], np.arange(30) % 2
    piped = make_pipeline(StandardScaler(), KNeighborsClassifier(3))
    with pytest.raises(TypeError, match="Pipeline offers none"):
        DPAClassifier(piped, k=3, cost_aware=True).fit(X, y)
    est = DPAClassifier(piped, k=3).fit(X, y).set_params(cost_aware=True)
    with pytest.raises(TypeError, match="Pipeline offers none"):
        est.predict_certified(X)
    with pytest.raises(TypeError, match="Pipeline offers none"):
        est.certificate_  # noqa: B018
    ridge = SSDPAClassifier(RidgeClassifier(), k=3).fit(X, y)
    with pytest.raises(ValueError, match="needs pass_unlabeled=True"):
        ridge.set_params(cost_aware=True).certificate_  # noqa: B018


def test_warm_start_pass_unlabeled_refits_certify_like_cold_fits():
    # members fit on every row: their editable masks follow the latest fit
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    y = (X[:, 0] > 0).astype(np.int64)
    y[rng.choice(40, 10, replace=False)] = -1
    Xq = rng.randn(15, 3)
    params = {"k": 4, "pass_unlabeled": True, "cost_aware": True}
    warm = SSDPAClassifier(RidgeClassifier(alpha=0.5), warm_start=True, **params)
    warm.fit(X, y)
    for step in range(3):
        y = y.copy()
        i = rng.randint(len(y))
        y[i] = [-1, 0, 1][(y[i] + 2) % 3]  # -1 -> 0 -> 1 -> -1
        if step == 1:  # a new row: every member sees it
            X, y = np.vstack([X, rng.randn(1, 3)]), np.append(y, 1)
        warm.fit(X, y)
        assert warm.refitted_.all() == (step == 1)
        cold = SSDPAClassifier(RidgeClassifier(alpha=0.5), **params).fit(X, y)
        warm_pred, warm_radius = warm.predict_certified(Xq)
        cold_pred, cold_radius = cold.predict_certified(Xq)
        np.testing.assert_array_equal(warm_pred, cold_pred)
        np.testing.assert_array_equal(warm_radius, cold_radius)


def test_single_class_knn_member_abstains_after_one_sample():
    """A single-class partition smaller than ``n_neighbors - 1`` (voting its
    class without a fit) abstains once one row of another class joins it: the
    member then holds two classes and too few rows to predict. Its abstain
    cost is one sample, not every row of the partition."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.uniform(0, 1, size=(40, 1)), [[5.0], [5.1]]])
    y = np.r_[np.arange(40) % 2, 0, 0]
    est = DPAClassifier(KNeighborsClassifier(5), k=3, cost_aware=True).fit(X, y)
    # the far rows are alone in one partition: find it and make it single-class
    part = est.assign_partitions(X)
    j = part[40]
    keep = (part != j) | (np.arange(42) >= 40)
    X, y = X[keep], y[keep]
    est.fit(X, y)
    assert est.partition_sizes_[j] == 2 or est.partition_sizes_[j] == 1
    query = np.array([[5.05]])
    # one inserted row of class 1 aimed at partition j: the member abstains
    row = near_copies_in(est, query[0], [j], rng, n_candidates=2000)
    poisoned = clone(est).fit(np.vstack([X, row]), np.r_[y, 1])
    assert poisoned.member_predictions(query)[0, j] == -1
    costs = est._member_costs(query, est._rule())
    assert costs[0, j, -1] <= 1


def test_certificate_follows_the_fitted_members_not_a_later_estimator():
    X, y = np.arange(30.0)[:, None], np.arange(30) % 2
    est = DPAClassifier(KNeighborsClassifier(3), k=3, cost_aware=True).fit(X, y)
    est.set_params(estimator=make_pipeline(StandardScaler(), KNeighborsClassifier(3)))
    # the members are still the fitted k-NN: every view certifies them
    _three_views_agree(est, X)
