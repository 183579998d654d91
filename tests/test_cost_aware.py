"""cost_aware=True on both estimators: brute force with refits, teeth, errors.

The brute force refits the ensemble after every small attack with a reference
(the members are refit with scikit-learn on their partition's poisoned rows,
the partition of every row taken from the fitted estimator), checked against
the estimator itself on the clean data and on a few attacks.
"""

import itertools
import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from skdpa import DPAClassifier, SSDPAClassifier, member_costs
from skdpa.member_costs import knn_costs

K_NN = 3  # neighbours of every member


def _knn():
    # a tree, not the OpenMP brute-force kernel: thousands of tiny refits
    return KNeighborsClassifier(K_NN, algorithm="kd_tree")


# ---------------------------------------------------------------------------
# the reference ensemble


def _vote(preds, labels):
    """Plurality over member outputs (labels or None), ties to the smaller label."""
    counts = {}
    for p in preds:
        if p is not None:
            counts[p] = counts.get(p, 0) + 1
    if not counts:
        return labels[0]
    best = max(counts.values())
    return min(c for c, v in counts.items() if v == best)


def _member_output(X, y, query):
    """A member refit on (X, y) rows with labels (None for unlabeled dropped).

    ``None`` abstains; a single-class partition votes its class; a partition
    with fewer than ``K_NN`` labeled rows of several classes cannot be served
    (the estimator raises): ``"error"``.
    """
    keep = np.array([v is not None for v in y], dtype=bool)
    X, y = X[keep], np.array([v for v in y if v is not None], dtype=object)
    if len(y) == 0:
        return None
    values = sorted(set(y.tolist()))
    if len(values) == 1:
        return values[0]
    if len(y) < K_NN:
        return "error"
    codes = np.array([values.index(v) for v in y.tolist()])
    return values[int(_knn().fit(X, codes).predict(query)[0])]


class _Reference:
    """Refits the members touched by an attack; the others are cached."""

    def __init__(self, member_of, X, y, query):
        self.member_of, self.X, self.y, self.query = member_of, X, y, query
        self.n_members = int(member_of.max()) + 1
        self.cache = {}

    def predict(self, X, y, member_of):
        outs = []
        for j in range(self.n_members):
            rows = np.flatnonzero(member_of == j)
            key = (j, tuple(rows.tolist()), tuple(y[rows].tolist()))
            if key not in self.cache:
                self.cache[key] = _member_output(X[rows], y[rows], self.query)
            outs.append(self.cache[key])
        if "error" in outs:
            return "error"
        labels = sorted({v for v in y.tolist() if v is not None})
        return _vote(outs, labels)


# ---------------------------------------------------------------------------
# SS-DPA: label edits


def _ssdpa_case(seed, n=15, k=3, classes=(0, 1), unlabeled=3):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 1))
    y = rng.choice(list(classes), size=n).astype(object)
    y[:2] = [classes[0], classes[1]]
    y[rng.choice(np.arange(2, n), unlabeled, replace=False)] = -1
    queries = np.linspace(-0.05, 1.05, 12)[:, None]
    # the partition of every row (labels do not move samples): fit with all
    # rows labeled
    full = SSDPAClassifier(_knn(), k=k).fit(X, np.arange(n) % 2)
    member_of = np.empty(n, dtype=np.int64)
    for j, rows in enumerate(full.estimators_samples_):
        member_of[rows] = j
    return X, y, queries, member_of


def _label_edits(y, labels):
    """Every single-row label edit: (row, new label or None for unlabeled)."""
    edits = []
    for i, v in enumerate(y.tolist()):
        for new in [*labels, None]:
            if new != (None if v == -1 else v):
                edits.append((i, new))
    return edits


def _first_move(ref, X, y, member_of, edits, budget, clean):
    """Size of the smallest set of <= budget edits (distinct rows) that moves
    the reference's prediction away from ``clean``; None if none does."""
    y0 = np.array([None if v == -1 else v for v in y.tolist()], dtype=object)
    for size in range(1, budget + 1):
        for chosen in itertools.combinations(edits, size):
            rows = [i for i, _ in chosen]
            if len(set(rows)) < size:
                continue
            yp = y0.copy()
            for i, new in chosen:
                yp[i] = new
            pred = ref.predict(X, yp, member_of)
            if pred != "error" and pred != clean:
                return size
    return None


def _ssdpa_fit(X, y, k=3, classes=(0, 1)):
    est = SSDPAClassifier(_knn(), k=k, classes=classes, cost_aware=True)
    return est.fit(X, np.asarray(y.tolist()))


def test_ssdpa_reference_matches_the_estimator():
    X, y, queries, member_of = _ssdpa_case(0)
    est = _ssdpa_fit(X, y)
    rng = np.random.RandomState(1)
    edits = _label_edits(y, [0, 1])
    y0 = np.array([None if v == -1 else v for v in y.tolist()], dtype=object)
    for trial in range(4):
        yp = y0.copy()
        for e in rng.choice(len(edits), trial, replace=False):
            i, new = edits[e]
            yp[i] = new
        y_fit = np.array([-1 if v is None else v for v in yp.tolist()])
        refit = clone(est).fit(X, y_fit)
        for q in queries[:4]:
            ref = _Reference(member_of, X, y, q[None, :]).predict(X, yp, member_of)
            if ref != "error":
                assert refit.predict(q[None, :])[0] == ref


def test_ssdpa_label_edits_within_radius_never_move():
    """Every set of <= r + 1 label edits (class flips, to/from -1): none of
    size <= r moves the prediction; somewhere r + 1 does (tight)."""
    tight = 0
    for seed in range(3):
        X, y, queries, member_of = _ssdpa_case(seed)
        est = _ssdpa_fit(X, y)
        pred, radius = est.predict_certified(queries)
        edits = _label_edits(y, [0, 1])
        for q, clean, r in zip(queries, pred, radius, strict=True):
            if r > 2:
                continue
            ref = _Reference(member_of, X, y, q[None, :])
            moved = _first_move(ref, X, y, member_of, edits, r + 1, clean)
            assert moved is None or moved > r, (seed, q, r, moved)
            tight += r >= 1 and moved == r + 1
    assert tight > 0


class _Priced:
    """A fitted member whose costs are its k-NN costs, changed by ``how``."""

    def __init__(self, member, how):
        self.member, self.how = member, how

    def predict(self, X):
        return self.member.predict(X)

    def _costs(self, X, n_classes):
        costs = knn_costs(self.member, X, n_classes, self.member.n_samples_fit_)
        if self.how == "unit":
            return np.where(costs > 0, 1.0, 0.0)
        return np.where(costs > 0, costs + 1, 0.0)  # overstated by one

    flip_costs = poison_costs = _costs


def _price(est, members, how):
    est = pickle.loads(pickle.dumps(est))
    for j in members:
        if isinstance(est.estimators_[j], KNeighborsClassifier):
            est.estimators_[j] = _Priced(est.estimators_[j], how)
    return est


def test_overstating_one_member_by_one_is_caught():
    """Teeth: the same brute force finds an attack within the radius claimed
    from one member's costs overstated by one."""
    caught = 0
    for seed in range(3):
        X, y, queries, member_of = _ssdpa_case(seed)
        est = _ssdpa_fit(X, y)
        _, honest = est.predict_certified(queries)
        edits = _label_edits(y, [0, 1])
        for j in range(est.n_members_):
            pred, radius = _price(est, [j], "over").predict_certified(queries)
            for q, clean, r, h in zip(queries, pred, radius, honest, strict=True):
                if r == h or r > 2:
                    continue
                ref = _Reference(member_of, X, y, q[None, :])
                moved = _first_move(ref, X, y, member_of, edits, r, clean)
                caught += moved is not None
    assert caught > 0


@pytest.mark.parametrize("cls", [SSDPAClassifier, DPAClassifier])
@pytest.mark.parametrize("classes", [None, [0, 1, 2]])
def test_unit_costs_give_the_plain_radius(cls, classes, digits):
    """Members whose every change costs one sample: the plain certificate."""
    X, y, Xq, _ = digits
    est = cls(KNeighborsClassifier(3), k=15, classes=classes).fit(X, y % 3)
    unit = _price(est, range(est.n_members_), "unit").set_params(cost_aware=True)
    report = unit.certificate_report(Xq[:60])
    plain = est.certificate_report(Xq[:60])
    np.testing.assert_array_equal(report.radius, plain.radius)
    np.testing.assert_array_equal(report.targeted_radius, plain.targeted_radius)
    np.testing.assert_array_equal(report.y_pred, plain.y_pred)


@pytest.mark.parametrize("cls", [SSDPAClassifier, DPAClassifier])
@pytest.mark.parametrize("classes", [None, list(range(10))])
def test_cost_aware_never_below_plain(cls, classes, digits):
    X, y, Xq, _ = digits
    est = cls(KNeighborsClassifier(3), k=20, classes=classes).fit(X, y)
    y0, r0 = est.predict_certified(Xq)
    rep0 = est.certificate_report(Xq)
    votes0 = est.vote_counts(Xq)
    est.set_params(cost_aware=True)  # no refit needed
    y1, r1 = est.predict_certified(Xq)
    rep1 = est.certificate_report(Xq)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(est.predict(Xq), y0)
    np.testing.assert_array_equal(est.vote_counts(Xq), votes0)
    assert (r1 >= r0).all()
    assert (rep1.targeted_radius >= rep0.targeted_radius).all()
    np.testing.assert_array_equal(rep1.radius, r1)
    rivals = np.where(rep1.targeted_radius < 0, np.inf, rep1.targeted_radius)
    np.testing.assert_array_equal(rivals.min(axis=1), r1)
    assert (r1 <= est.certificate_.max_radius).all()
    if classes is not None:
        assert (r1 > r0).any()  # costs help k-NN members


# ---------------------------------------------------------------------------
# the new label (classes inferred)


def test_new_label_sorting_first_is_covered():
    """Labels 1 and 2; the attacker's new label 0 sorts first and wins ties.
    No set of <= r label edits (to 0 included) moves the prediction."""
    checked = 0
    for seed in range(2):
        X, y, queries, member_of = _ssdpa_case(seed, classes=(1, 2))
        est = SSDPAClassifier(_knn(), k=3, cost_aware=True)
        est.fit(X, np.asarray(y.tolist()))
        assert est.certificate_report(queries).targeted_radius.shape == (12, 3)
        pred, radius = est.predict_certified(queries)
        edits = _label_edits(y, [0, 1, 2])
        for q, clean, r in zip(queries, pred, radius, strict=True):
            if r > 2:
                continue
            ref = _Reference(member_of, X, y, q[None, :])
            moved = _first_move(ref, X, y, member_of, edits, r, clean)
            assert moved is None, (seed, q, r, moved)
            checked += 1
    assert checked > 0


def test_new_label_radius_is_below_given_classes():
    """With the label set inferred the new label is one more rival."""
    X, y, queries, _ = _ssdpa_case(0)
    inferred = SSDPAClassifier(_knn(), k=3, cost_aware=True)
    inferred.fit(X, np.asarray(y.tolist()))
    given = _ssdpa_fit(X, y)
    assert (
        inferred.predict_certified(queries)[1] <= given.predict_certified(queries)[1]
    ).all()


# ---------------------------------------------------------------------------
# DPA: insertions and removals from a candidate pool


def _dpa_case(seed, n=18, k=3):
    for s in itertools.count(seed * 100):
        rng = np.random.RandomState(s)
        X = rng.uniform(size=(n, 1))
        y = rng.randint(2, size=n)
        est = DPAClassifier(_knn(), k=k, classes=[0, 1])
        est.set_params(cost_aware=True).fit(X, y)
        if est.partition_sizes_.min() >= K_NN + 1:
            return X, y, est


@pytest.mark.parametrize("seed", range(2))
def test_dpa_insertions_removals_within_radius_never_move(seed):
    X, y, est = _dpa_case(seed)
    queries = np.linspace(0.02, 0.98, 8)[:, None]
    pred, radius = est.predict_certified(queries)
    member_of = est.assign_partitions(X)
    checked = 0
    for q, clean, r in zip(queries, pred, radius, strict=True):
        if r > 2:
            continue
        # copies of the query (a hair apart, so they hash apart) with every label
        copies = q[None, :] + 1e-4 * np.arange(1, 7)[:, None]
        labels = np.arange(6) % 2
        pool = [("remove", i) for i in range(len(X))]
        pool += [("insert", i) for i in range(len(copies))]
        copy_member = est.assign_partitions(copies)
        ref = _Reference(member_of, X, y, q[None, :])
        for size in range(1, r + 1):
            for chosen in itertools.combinations(pool, size):
                keep = np.ones(len(X), dtype=bool)
                ins = []
                for what, i in chosen:
                    if what == "remove":
                        keep[i] = False
                    else:
                        ins.append(i)
                Xp = np.vstack([X[keep], copies[ins]])
                yp = np.concatenate([y[keep], labels[ins]]).astype(object)
                mp = np.concatenate([member_of[keep], copy_member[ins]])
                out = ref.predict(Xp, yp, mp)
                assert out == "error" or out == clean, (q, r, chosen)
        checked += 1
    assert checked > 0


def test_dpa_reference_matches_the_estimator():
    X, y, est = _dpa_case(0)
    queries = np.linspace(0.02, 0.98, 8)[:, None]
    member_of = est.assign_partitions(X)
    for q, p in zip(queries, est.predict(queries), strict=True):
        ref = _Reference(member_of, X, y, q[None, :]).predict(X, y, member_of)
        assert ref == p


# ---------------------------------------------------------------------------
# empty and single-class members


@pytest.mark.parametrize("cls", [SSDPAClassifier, DPAClassifier])
def test_members_the_engine_does_not_fit(cls):
    X = np.arange(12, dtype=float)[:, None]
    y = np.array([0] * 6 + [1] * 6)
    with pytest.warns(UserWarning, match="abstain"):
        est = cls(KNeighborsClassifier(1), k=30, cost_aware=True, classes=[0, 1])
        est.fit(X, y)
    costs = est._member_costs(X[:2], est._rule())
    empty = [j for j, m in enumerate(est.estimators_) if m is None]
    const = np.flatnonzero(est._constants >= 0)
    assert empty and len(const)
    np.testing.assert_array_equal(costs[:, empty, :2], 1)
    np.testing.assert_array_equal(costs[:, empty, 2], 0)
    for j in const:
        c = est._constants[j]
        assert (costs[:, j, c] == 0).all() and (costs[:, j, 1 - c] == 1).all()
        assert (costs[:, j, 2] == est.partition_sizes_[j]).all()
    # one member per row, all single-class: the plain certificate stands
    plain = clone(est).set_params(cost_aware=False).fit(X, y)
    np.testing.assert_array_equal(
        est.predict_certified(X)[1], plain.predict_certified(X)[1]
    )


# ---------------------------------------------------------------------------
# errors


def test_member_without_costs_fails_at_fit():
    X, y = np.arange(20.0)[:, None], np.arange(20) % 2
    est = DPAClassifier(DecisionTreeClassifier(), k=3, cost_aware=True)
    with pytest.raises(TypeError, match="DecisionTreeClassifier offers none"):
        est.fit(X, y)
    assert not hasattr(est, "estimators_")
    with pytest.raises(TypeError, match=r"\(flip_costs\); DecisionTreeClassifier"):
        SSDPAClassifier(k=3, cost_aware=True).fit(X, y)


def test_member_without_costs_fails_at_certificate_after_set_params():
    X, y = np.arange(20.0)[:, None], np.arange(20) % 2
    est = DPAClassifier(k=3).fit(X, y).set_params(cost_aware=True)
    np.testing.assert_array_equal(est.predict(X), est.predict(X))
    with pytest.raises(TypeError, match="DecisionTreeClassifier offers none"):
        est.predict_certified(X)
    with pytest.raises(TypeError, match="DecisionTreeClassifier offers none"):
        est.certificate_report(X)


def test_runoff_and_spread_refused():
    X, y = np.arange(20.0)[:, None], np.arange(20) % 2
    knn = KNeighborsClassifier(1)
    with pytest.raises(
        ValueError, match="voting='plurality' only; got voting='runoff'"
    ):
        DPAClassifier(knn, k=3, voting="runoff", cost_aware=True).fit(X, y)
    with pytest.raises(ValueError, match="spread=1\\) only; got spread=2"):
        DPAClassifier(knn, k=3, spread=2, cost_aware=True).fit(X, y)
    est = SSDPAClassifier(knn, k=3, voting="runoff").fit(X, y)
    est.set_params(cost_aware=True)
    with pytest.raises(ValueError, match="got voting='runoff': run-off"):
        est.predict_certified(X)
    with pytest.raises(ValueError, match="'cost_aware' parameter"):
        DPAClassifier(knn, cost_aware="yes").fit(X, y)


# ---------------------------------------------------------------------------
# a scikit-learn hyper-parameter


def test_hyper_parameter_behaviour():
    X, y = np.random.RandomState(0).uniform(size=(60, 2)), np.arange(60) % 3
    est = DPAClassifier(KNeighborsClassifier(3), k=5, cost_aware=True).fit(X, y)
    assert clone(est).cost_aware is True
    again = pickle.loads(pickle.dumps(est))
    assert again.cost_aware and again.certificate_.cost_aware
    np.testing.assert_array_equal(
        again.predict_certified(X)[1], est.predict_certified(X)[1]
    )
    assert "Member-aware" in str(est.certificate_)
    est.set_params(cost_aware=False)
    assert not est.certificate_.cost_aware and "Member-aware" not in str(
        est.certificate_
    )
    # warm start: switching cost_aware refits nothing
    warm = DPAClassifier(KNeighborsClassifier(3), k=5, warm_start=True).fit(X, y)
    warm.set_params(cost_aware=True).fit(X, y)
    assert not warm.refitted_.any()
    search = GridSearchCV(
        DPAClassifier(KNeighborsClassifier(3), k=5), {"cost_aware": [False, True]}, cv=2
    ).fit(X, y)
    assert search.best_params_["cost_aware"] in (False, True)


# ---------------------------------------------------------------------------
# members fit on every row (pass_unlabeled=True): the editable mask


class _Recorder(ClassifierMixin, BaseEstimator):
    """A semi-supervised stand-in that predicts class 0."""

    def fit(self, X, y):
        self.classes_ = np.unique(y[y >= 0])
        self.n_fit_ = len(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=np.int64)

    def flip_costs(self, X, n_classes, editable=None):
        costs = np.ones((len(X), n_classes + 1))
        costs[:, 0] = 0
        return costs


def test_pass_unlabeled_members_get_their_partition_mask(monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 2))
    y = rng.randint(2, size=30)
    y[rng.choice(30, 8, replace=False)] = -1
    est = SSDPAClassifier(
        _Recorder(), k=4, pass_unlabeled=True, classes=[0, 1], cost_aware=True
    ).fit(X, y)
    masks = [est._editable(j) for j in range(4)]
    assert all(m.shape == (30,) for m in masks)
    # every row belongs to exactly one partition, labeled or not
    np.testing.assert_array_equal(np.sum(masks, axis=0), 1)
    shared = est._editable_state[0]
    for j, m in enumerate(masks):
        assert set(est.estimators_samples_[j].tolist()) <= set(shared[m].tolist())
    seen = {}

    def dispatch(member, Xq, n_classes, editable=None):
        seen[id(member)] = editable
        return member.flip_costs(Xq, n_classes, editable)

    monkeypatch.setattr(member_costs, "flip_costs", dispatch)
    est.predict_certified(X[:3])
    for j, member in enumerate(est.estimators_):
        if id(member) in seen:
            np.testing.assert_array_equal(seen[id(member)], masks[j])
    assert seen
    # members fit on their own rows get no mask
    plain = SSDPAClassifier(KNeighborsClassifier(1), k=4, classes=[0, 1]).fit(X, y)
    assert plain._editable(0) is None


def test_costs_are_computed_chunk_by_chunk(monkeypatch, digits):
    """Member costs in chunks of rows give the one-chunk certificates."""
    import skdpa._base as base

    X, y, Xq, _ = digits
    est = DPAClassifier(KNeighborsClassifier(3), k=10, cost_aware=True).fit(X, y)
    whole = est.certificate_report(Xq[:50])
    calls = []
    member_costs_of = est._member_costs
    monkeypatch.setattr(
        est,
        "_member_costs",
        lambda X, rule: calls.append(len(X)) or member_costs_of(X, rule),
    )
    monkeypatch.setattr(base, "_CHUNK_ITEMS", 10 * 12 * 7)  # 7 rows a chunk
    chunked = est.certificate_report(Xq[:50])
    assert max(calls) == 7 and sum(calls) == 50
    np.testing.assert_array_equal(chunked.radius, whole.radius)
    np.testing.assert_array_equal(chunked.targeted_radius, whole.targeted_radius)


def test_skops_round_trip_keeps_cost_aware(tmp_path):
    sio = pytest.importorskip("skops.io")

    X, y = np.random.RandomState(0).uniform(size=(40, 2)), np.arange(40) % 2
    est = SSDPAClassifier(KNeighborsClassifier(3), k=4, cost_aware=True).fit(X, y)
    path = tmp_path / "aware.skops"
    sio.dump(est, path)
    # k-NN members hold a KDTree, which skops does not trust by default
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert loaded.cost_aware and loaded.certificate_.cost_aware
    np.testing.assert_array_equal(
        loaded.predict_certified(X)[1], est.predict_certified(X)[1]
    )


@pytest.mark.slow
def test_soft_label_spreading_keeps_its_costs_against_a_new_label():
    """Inferred labels {1, 2}: label spreading's costs count ties as reached,
    so they hold for an attacker's label 0 (sorting first, winning ties) too.
    Refit after every set of <= min(r, 2) edits to 0 or -1: nothing moves
    within the radius, and the radius is above the plain one somewhere."""
    from skdpa.semi_supervised import KNNLabelSpreading

    rng = np.random.RandomState(3)
    X = np.concatenate([rng.normal(0, 0.3, (12, 2)), rng.normal(2, 0.3, (12, 2))])
    y = np.array([1] * 12 + [2] * 12)
    queries = np.array([[0.0, 0.1], [2.1, 1.9], [1.0, 1.0]])

    def fit(labels, cost_aware=True):
        member = KNNLabelSpreading(
            6, alpha=0.5, max_iter=5, metric="euclidean", vote="soft"
        )
        est = SSDPAClassifier(member, k=3, pass_unlabeled=True, cost_aware=cost_aware)
        return est.fit(X, labels)

    est = fit(y)
    pred, radius = est.predict_certified(queries)
    plain = fit(y, cost_aware=False).predict_certified(queries)[1]
    assert (radius >= plain).all() and (radius > plain).any()
    checked = 0
    for t in range(1, min(int(radius.max()), 2) + 1):
        for rows in itertools.combinations(range(len(y)), t):
            # the new label 0 and unlabelling (class flips: tests above)
            for labels in itertools.product([-1, 0], repeat=t):
                poisoned = y.copy()
                poisoned[list(rows)] = labels
                try:
                    moved = fit(poisoned, cost_aware=False).predict(queries)
                except ValueError:
                    continue  # a member left without labels of two classes
                within = radius >= t
                assert (moved[within] == pred[within]).all(), (rows, labels)
                checked += 1
    assert checked > 0


def test_hard_vote_label_spreading_is_refused_at_fit():
    from skdpa.semi_supervised import KNNLabelSpreading

    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 2))
    y = np.arange(30) % 2
    y[::4] = -1
    with pytest.raises(ValueError, match=r"vote='soft' only .*got vote='hard'"):
        SSDPAClassifier(
            KNNLabelSpreading(3), k=3, pass_unlabeled=True, cost_aware=True
        ).fit(X, y)
    # soft: fits and certifies
    clf = SSDPAClassifier(
        KNNLabelSpreading(3, vote="soft"), k=3, pass_unlabeled=True, cost_aware=True
    ).fit(X, y)
    assert clf.predict_certified(X[:3])[1].shape == (3,)
