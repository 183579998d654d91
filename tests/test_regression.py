"""DPARegressor and SSDPARegressor: brute-force certificate checks and behaviour.

The attacks poison chosen members with extreme targets (+-1e6), refit, and
compare the poisoned prediction with ``predict_interval`` of the clean fit:
inside for ``r`` poisoned samples, outside for ``r + 1`` in the same attack.
"""

import numpy as np
import pytest
from helpers import CentredRidge, near_copies_in
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.datasets import load_diabetes
from sklearn.decomposition import PCA
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from skdpa import DPARegressor, SSDPARegressor
from skdpa.certify import median_interval

EXTREME = 1e6

X_ALL, Y_ALL = load_diabetes(return_X_y=True)
X_TRAIN, Y_TRAIN = X_ALL[:300], Y_ALL[:300]
X_TEST = X_ALL[400:410]


def _fit(reg, X, y):
    return clone(reg).fit(X, y)


def _members_by_output(reg, x):
    """Voting members sorted by their output at x (lowest first)."""
    out = reg.member_predictions(x[None, :])[0]
    voting = np.flatnonzero(~np.isnan(out))
    return voting[np.argsort(out[voting], kind="stable")]


def _insert_attack(reg, x, n_poison, direction, rng):
    """Near-copies of x with extreme targets, one in each of the members whose
    outputs at x are highest (direction -1) or lowest (+1)."""
    ranked = _members_by_output(reg, x)
    targets = ranked[::-1][:n_poison] if direction < 0 else ranked[:n_poison]
    X_new = near_copies_in(reg, x, targets, rng)
    return X_new, np.full(len(X_new), direction * EXTREME)


@pytest.mark.parametrize("k", [7, 12])
@pytest.mark.parametrize("direction", [-1, 1])
@pytest.mark.parametrize("row", [0, 3, 7])
def test_insertions_stay_inside_and_one_more_escapes(k, direction, row):
    base = DPARegressor(Ridge(alpha=1e-3), k=k, random_state=0)
    clean = _fit(base, X_TRAIN, Y_TRAIN)
    x = X_TEST[row]
    rng = np.random.default_rng(row)
    for r in range(0, (k - 1) // 2):
        lower, upper = (b[0] for b in clean.predict_interval(x[None, :], r))
        X_bad, y_bad = _insert_attack(clean, x, r + 1, direction, rng)
        within = _fit(base, np.vstack([X_TRAIN, X_bad[:r]]), np.r_[Y_TRAIN, y_bad[:r]])
        beyond = _fit(base, np.vstack([X_TRAIN, X_bad]), np.r_[Y_TRAIN, y_bad])
        y_within = within.predict(x[None, :])[0]
        y_beyond = beyond.predict(x[None, :])[0]
        assert lower <= y_within <= upper
        # the attack reaches the end it aims at (the interval is tight) ...
        assert y_within == pytest.approx(lower if direction < 0 else upper)
        # ... and one more poisoned sample leaves the interval
        assert not lower <= y_beyond <= upper


@pytest.mark.parametrize("r", [1, 2, 3])
def test_changed_targets_and_removals_stay_inside(r):
    """Change r targets (to -1e6) in the highest members, or remove r rows.

    A strong ridge penalty keeps each member close to its partition's mean, so
    a changed target anywhere in a partition pulls its output at x the same way.
    """
    base = DPARegressor(Ridge(alpha=10.0), k=9, random_state=0)
    clean = _fit(base, X_TRAIN, Y_TRAIN)
    x = X_TEST[2]
    lower, upper = (b[0] for b in clean.predict_interval(x[None, :], r))
    top = _members_by_output(clean, x)[::-1]
    victims = [clean.estimators_samples_[j][0] for j in top[: r + 1]]

    y_changed = Y_TRAIN.copy()
    y_changed[victims[:r]] = -EXTREME
    y_pred = _fit(base, X_TRAIN, y_changed).predict(x[None, :])[0]
    assert lower <= y_pred <= upper
    assert y_pred == pytest.approx(lower)
    y_changed[victims[r]] = -EXTREME
    assert _fit(base, X_TRAIN, y_changed).predict(x[None, :])[0] < lower

    keep = np.setdiff1d(np.arange(len(Y_TRAIN)), victims[:r])
    y_pred = _fit(base, X_TRAIN[keep], Y_TRAIN[keep]).predict(x[None, :])[0]
    assert lower <= y_pred <= upper


@settings(max_examples=12, deadline=None)
@given(
    n_insert=st.integers(0, 2),
    n_remove=st.integers(0, 2),
    n_change=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_mixed_attacks_stay_inside(n_insert, n_remove, n_change, seed):
    """Any mix of insertions, removals and changed targets, at random places."""
    rng = np.random.default_rng(seed)
    base = DPARegressor(DecisionTreeRegressor(max_depth=3), k=11, random_state=0)
    clean = _fit(base, X_TRAIN, Y_TRAIN)
    r = n_insert + n_remove + n_change
    lower, upper = clean.predict_interval(X_TEST, r)
    rows = rng.permutation(len(Y_TRAIN))
    removed, changed = rows[:n_remove], rows[n_remove : n_remove + n_change]
    keep = np.setdiff1d(np.arange(len(Y_TRAIN)), removed)
    y = Y_TRAIN.copy()
    y[changed] = rng.choice([-EXTREME, EXTREME], size=n_change)
    X_new = X_TEST[rng.integers(0, len(X_TEST), n_insert)] + rng.normal(
        scale=1e-3, size=(n_insert, X_TRAIN.shape[1])
    )
    y_new = rng.choice([-EXTREME, EXTREME], size=n_insert)
    poisoned = _fit(base, np.vstack([X_TRAIN[keep], X_new]), np.r_[y[keep], y_new])
    y_pred = poisoned.predict(X_TEST)
    assert ((lower <= y_pred) & (y_pred <= upper)).all()


def test_empty_partitions_abstain_and_filling_them_is_covered():
    """k above the data: empty members abstain (NaN); an insertion that makes
    one vote and a removal that silences one stay within the interval."""
    X, y = X_TRAIN[:9], Y_TRAIN[:9]
    base = DPARegressor(DummyRegressor(), k=15)
    with pytest.warns(UserWarning, match=r"at least 6 members get no sample"):
        clean = _fit(base, X, y)
    out = clean.member_predictions(X_TEST[:1])[0]
    empty = clean.partition_sizes_ == 0
    assert np.isnan(out[empty]).all() and not np.isnan(out[~empty]).any()
    assert clean.predict(X_TEST[:1])[0] == pytest.approx(np.median(out[~empty]))
    lower, upper = (b[0] for b in clean.predict_interval(X_TEST[:1], 1))
    target = np.flatnonzero(empty)[:1]
    X_new = near_copies_in(clean, X_TEST[0], target, np.random.default_rng(0))
    with pytest.warns(UserWarning):
        filled = _fit(base, np.vstack([X, X_new]), np.r_[y, -EXTREME])
    assert lower <= filled.predict(X_TEST[:1])[0] <= upper
    single = [j for j in range(15) if clean.partition_sizes_[j] == 1]
    if single:
        keep = np.setdiff1d(np.arange(9), clean.estimators_samples_[single[0]])
        with pytest.warns(UserWarning):
            emptied = _fit(base, X[keep], y[keep])
        assert lower <= emptied.predict(X_TEST[:1])[0] <= upper


@pytest.mark.parametrize("r", [1, 2])
def test_finite_aggregation_insertions_stay_inside(r):
    base = DPARegressor(Ridge(alpha=1e-3), k=6, spread=2, random_state=0)
    clean = _fit(base, X_TRAIN, Y_TRAIN)
    x = X_TEST[5]
    lower, upper = (b[0] for b in clean.predict_interval(x[None, :], r))
    ranked = _members_by_output(clean, x)[::-1]
    # buckets feeding the highest members: bucket b trains (b + s) mod 12
    buckets = [(ranked[i] - clean.shifts_[0]) % 12 for i in range(r)]
    X_bad = near_copies_in(clean, x, buckets, np.random.default_rng(1))
    poisoned = _fit(base, np.vstack([X_TRAIN, X_bad]), np.r_[Y_TRAIN, [-EXTREME] * r])
    y_pred = poisoned.predict(x[None, :])[0]
    assert lower <= y_pred <= upper
    assert y_pred < clean.predict(x[None, :])[0]


@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("direction", [-1, 1])
def test_ssdpa_changed_targets_inside_and_one_more_escapes(r, direction):
    y = Y_TRAIN.copy()
    y[::3] = np.nan
    base = SSDPARegressor(Ridge(alpha=10.0), k=9, embedding=PCA(4, random_state=0))
    clean = _fit(base, X_TRAIN, y)
    x = X_TEST[4]
    lower, upper = (b[0] for b in clean.predict_interval(x[None, :], r))
    ranked = _members_by_output(clean, x)
    ranked = ranked[::-1] if direction < 0 else ranked
    victims = [clean.estimators_samples_[j][0] for j in ranked[: r + 1]]
    y_bad = y.copy()
    y_bad[victims[:r]] = direction * EXTREME
    y_pred = _fit(base, X_TRAIN, y_bad).predict(x[None, :])[0]
    assert lower <= y_pred <= upper
    assert y_pred == pytest.approx(lower if direction < 0 else upper)
    y_bad[victims[r]] = direction * EXTREME
    assert not lower <= _fit(base, X_TRAIN, y_bad).predict(x[None, :])[0] <= upper


def test_ssdpa_labelling_an_unlabelled_row_is_one_change():
    """A missing target that gets a value touches one member (its partition
    depends on the features alone)."""
    y = Y_TRAIN.copy()
    y[::2] = np.nan
    base = SSDPARegressor(Ridge(alpha=1e-3), k=7)
    clean = _fit(base, X_TRAIN, y)
    y_bad = y.copy()
    y_bad[0] = -EXTREME
    poisoned = _fit(base, X_TRAIN, y_bad)
    changed = [
        j
        for j in range(7)
        if not np.array_equal(
            clean.member_predictions(X_TEST)[:, j],
            poisoned.member_predictions(X_TEST)[:, j],
        )
    ]
    assert len(changed) == 1
    lower, upper = clean.predict_interval(X_TEST, 1)
    y_pred = poisoned.predict(X_TEST)
    assert ((lower <= y_pred) & (y_pred <= upper)).all()


# ---------------------------------------------------------------------------
# Behaviour


def test_order_invariance_and_parallel_fit():
    perm = np.random.default_rng(0).permutation(len(Y_TRAIN))
    a = DPARegressor(k=8, random_state=3).fit(X_TRAIN, Y_TRAIN)
    b = DPARegressor(k=8, random_state=3, n_jobs=2).fit(X_TRAIN[perm], Y_TRAIN[perm])
    np.testing.assert_array_equal(
        a.member_predictions(X_TEST), b.member_predictions(X_TEST)
    )


def test_estimators_samples_reproduce_members():
    reg = DPARegressor(Ridge(), k=5).fit(X_TRAIN, Y_TRAIN)
    for j, rows in enumerate(reg.estimators_samples_):
        again = Ridge().fit(X_TRAIN[rows], Y_TRAIN[rows])
        np.testing.assert_allclose(
            again.predict(X_TEST), reg.member_predictions(X_TEST)[:, j]
        )
    assert sorted(np.concatenate(reg.estimators_samples_).tolist()) == list(range(300))
    buckets = reg.assign_partitions(X_TRAIN)
    for j, rows in enumerate(reg.estimators_samples_):
        assert (buckets[rows] == j).all()


def test_predict_certified_matches_the_interval():
    reg = DPARegressor(k=15, random_state=0).fit(X_TRAIN, Y_TRAIN)
    y_pred, radius = reg.predict_certified(X_TEST, tolerance=40.0)
    np.testing.assert_array_equal(y_pred, reg.predict(X_TEST))
    lower, upper = reg.predict_interval(X_TEST, radius)
    assert ((y_pred - 40 <= lower) & (upper <= y_pred + 40)).all()
    lower, upper = reg.predict_interval(X_TEST, radius + 1)
    assert ((lower < y_pred - 40) | (upper > y_pred + 40)).all()
    assert radius.max() <= reg.certificate_.max_radius == 7
    _, relative = reg.predict_certified(X_TEST, tolerance=lambda y: 0.2 * np.abs(y))
    _, absolute = reg.predict_certified(X_TEST, tolerance=0.2 * np.abs(y_pred))
    np.testing.assert_array_equal(relative, absolute)
    outputs = reg.member_predictions(X_TEST)
    np.testing.assert_array_equal(
        median_interval(outputs, 2)[0], reg.predict_interval(X_TEST, 2)[0]
    )


def test_warm_start_refits_only_the_member_whose_target_changed():
    y = Y_TRAIN.copy()
    reg = DPARegressor(Ridge(), k=6, warm_start=True).fit(X_TRAIN, y)
    row = reg.estimators_samples_[2][0]
    y[row] += 0.25  # a float change that int64 casting would not see
    reg.fit(X_TRAIN, y)
    assert reg.refitted_.tolist() == [j == 2 for j in range(6)]
    fresh = DPARegressor(Ridge(), k=6).fit(X_TRAIN, y)
    np.testing.assert_array_equal(reg.predict(X_TEST), fresh.predict(X_TEST))


def test_certificate_text_and_attributes():
    reg = DPARegressor(k=4, spread=2).fit(X_TRAIN, Y_TRAIN)
    assert reg.n_members_ == 8 and len(reg.shifts_) == 2
    assert "Median certificate" in str(reg.certificate_)
    assert "spread 2 (8 members)" in str(reg.certificate_)
    assert reg.certificate_.max_radius == 1
    ss = SSDPARegressor(k=4).fit(X_TRAIN, np.where(np.arange(300) % 2, Y_TRAIN, np.nan))
    assert "targets" in str(ss.certificate_) and ss.partition_sizes_.sum() == 150


@pytest.mark.parametrize(
    "estimator, X, y, match",
    [
        (
            DPARegressor(LogisticRegression()),
            X_TRAIN,
            Y_TRAIN,
            r"must be a regressor; got the classifier LogisticRegression",
        ),
        (DPARegressor(k=3), X_TRAIN[:3], ["a", "b", "c"], r"needs numeric targets"),
        (
            DPARegressor(k=3),
            X_TRAIN[:3],
            [1.0, np.nan, 2.0],
            r"y must be finite; got nan",
        ),
        (
            SSDPARegressor(k=3),
            X_TRAIN[:3],
            [1.0, np.inf, 2.0],
            r"y must be finite \(NaN marks a missing target\); got inf at row 1",
        ),
        (SSDPARegressor(k=3), X_TRAIN[:3], [np.nan] * 3, r"y has no targets"),
    ],
)
def test_fit_errors(estimator, X, y, match):
    with pytest.raises(ValueError, match=match):
        estimator.fit(X, y)


class NaNRegressor(DummyRegressor):
    def predict(self, X):
        return np.full(len(X), np.nan)


def test_member_outputs_are_checked():
    reg = DPARegressor(NaNRegressor(), k=2).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(
        ValueError, match=r"member 0 .* returned a non-finite prediction"
    ):
        reg.predict(X_TEST)
    reg = DPARegressor(k=2).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(ValueError, match=r"tolerance must be >= 0; got -1.0"):
        reg.predict_certified(X_TEST, tolerance=-1.0)
    with pytest.raises(ValueError, match=r"radius must be a non-negative integer"):
        reg.predict_interval(X_TEST, -2)


class _FailsAtPredict(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        raise ValueError("this member cannot predict")


def test_member_errors_name_the_member():
    # (a k-NN member on too few rows no longer raises: it abstains, see
    # tests/test_small_partitions.py)
    reg = DPARegressor(_FailsAtPredict(), k=10).fit(X_TRAIN, Y_TRAIN)
    with pytest.raises(ValueError, match=r"cannot predict") as info:
        reg.predict(X_TEST)
    notes = getattr(info.value, "__notes__", [])
    assert any("while predicting" in n and "fit on" in n for n in notes)


@settings(max_examples=8, deadline=None)
@given(n_insert=st.integers(0, 2), n_change=st.integers(0, 2), seed=st.integers(0, 999))
def test_finite_aggregation_random_attacks_stay_inside(n_insert, n_change, seed):
    """spread=3: each poisoned sample changes three members; the interval
    counts r * 3 changed members."""
    rng = np.random.default_rng(seed)
    base = DPARegressor(Ridge(alpha=10.0), k=7, spread=3, random_state=0)
    clean = _fit(base, X_TRAIN, Y_TRAIN)
    r = n_insert + n_change
    lower, upper = clean.predict_interval(X_TEST, r)
    y = Y_TRAIN.copy()
    y[rng.choice(len(y), n_change, replace=False)] = rng.choice(
        [-EXTREME, EXTREME], size=n_change
    )
    X_new = X_TEST[rng.integers(0, len(X_TEST), n_insert)] + 1e-3
    y_new = rng.choice([-EXTREME, EXTREME], size=n_insert)
    poisoned = _fit(base, np.vstack([X_TRAIN, X_new]), np.r_[y, y_new])
    y_pred = poisoned.predict(X_TEST)
    assert ((lower <= y_pred) & (y_pred <= upper)).all()
    if r:
        # members that changed: at most r * spread
        changed = (
            clean.member_predictions(X_TEST) != poisoned.member_predictions(X_TEST)
        ).any(axis=0)
        assert changed.sum() <= 3 * r


def test_ssdpa_warm_start_refits_one_member():
    y = np.where(np.arange(len(Y_TRAIN)) % 3 == 0, np.nan, Y_TRAIN)
    reg = SSDPARegressor(Ridge(), k=5, embedding=PCA(3), warm_start=True)
    reg.fit(X_TRAIN, y)
    embedding = reg.embedding_
    row = reg.estimators_samples_[3][0]
    y[row] = 1e3
    reg.fit(X_TRAIN, y)
    assert reg.refitted_.tolist() == [False, False, False, True, False]
    assert reg.embedding_ is embedding  # the samples did not change
    fresh = SSDPARegressor(Ridge(), k=5, embedding=PCA(3)).fit(X_TRAIN, y)
    np.testing.assert_array_equal(reg.predict(X_TEST), fresh.predict(X_TEST))


def _half_labelled():
    y = Y_TRAIN.copy()
    y[1::2] = np.nan
    return y


def test_pass_unlabeled_members_see_every_row():
    y = _half_labelled()
    reg = SSDPARegressor(CentredRidge(alpha=10.0), k=6, pass_unlabeled=True)
    reg.fit(X_TRAIN, y)
    assert [m.n_rows_seen_ for m in reg.estimators_] == [len(y)] * 6
    assert reg.partition_sizes_.sum() == np.count_nonzero(~np.isnan(y))
    plain = SSDPARegressor(CentredRidge(alpha=10.0), k=6).fit(X_TRAIN, y)
    assert [
        m.n_rows_seen_ for m in plain.estimators_
    ] == plain.partition_sizes_.tolist()


@pytest.mark.parametrize("r", [1, 2, 3])
def test_pass_unlabeled_changed_targets_inside_and_one_more_escapes(r):
    y = _half_labelled()
    base = SSDPARegressor(CentredRidge(alpha=10.0), k=9, pass_unlabeled=True)
    clean = _fit(base, X_TRAIN, y)
    x = X_TEST[6]
    lower, upper = (b[0] for b in clean.predict_interval(x[None, :], r))
    top = _members_by_output(clean, x)[::-1]
    victims = [clean.estimators_samples_[j][0] for j in top[: r + 1]]
    y_bad = y.copy()
    y_bad[victims[:r]] = -EXTREME
    poisoned = _fit(base, X_TRAIN, y_bad)
    assert lower <= poisoned.predict(x[None, :])[0] <= upper
    assert poisoned.predict(x[None, :])[0] == pytest.approx(lower)
    # exactly the victims' members changed, although every member saw the rows
    changed = clean.member_predictions(X_TEST) != poisoned.member_predictions(X_TEST)
    assert sorted(np.flatnonzero(changed.any(axis=0))) == sorted(top[:r])
    y_bad[victims[r]] = -EXTREME
    assert _fit(base, X_TRAIN, y_bad).predict(x[None, :])[0] < lower


def test_pass_unlabeled_labelling_a_row_and_warm_start():
    y = _half_labelled()
    reg = SSDPARegressor(
        CentredRidge(alpha=10.0), k=5, pass_unlabeled=True, warm_start=True
    ).fit(X_TRAIN, y)
    before = reg.member_predictions(X_TEST)
    y[1] = 500.0  # a missing target gets a value
    reg.fit(X_TRAIN, y)
    assert reg.refitted_.sum() == 1
    changed = (before != reg.member_predictions(X_TEST)).any(axis=0)
    assert changed.tolist() == reg.refitted_.tolist()
    fresh = SSDPARegressor(CentredRidge(alpha=10.0), k=5, pass_unlabeled=True)
    np.testing.assert_array_equal(
        fresh.fit(X_TRAIN, y).predict(X_TEST), reg.predict(X_TEST)
    )


def test_pass_unlabeled_needs_a_member_that_takes_missing_targets():
    reg = SSDPARegressor(Ridge(), k=3, pass_unlabeled=True)
    with pytest.raises(ValueError, match=r"Input y contains NaN") as info:
        reg.fit(X_TRAIN, _half_labelled())
    assert any("while fitting member" in n for n in info.value.__notes__)


def test_prediction_in_row_chunks_matches_one_chunk(monkeypatch):
    """Predict-like methods hold one chunk of member outputs at a time."""
    import skdpa._regression as regression

    reg = DPARegressor(Ridge(), k=7).fit(X_TRAIN, Y_TRAIN)
    X = X_ALL[300:]
    radius = np.arange(len(X)) % 4
    tolerance = np.linspace(1, 60, len(X))
    whole = (
        reg.predict(X),
        *reg.predict_interval(X, radius),
        *reg.predict_certified(X, tolerance),
        *reg.predict_certified(X, lambda p: 0.1 * np.abs(p)),
    )
    monkeypatch.setattr(regression, "_CHUNK_ITEMS", 7 * 10)  # 10 rows a chunk
    chunked = (
        reg.predict(X),
        *reg.predict_interval(X, radius),
        *reg.predict_certified(X, tolerance),
        *reg.predict_certified(X, lambda p: 0.1 * np.abs(p)),
    )
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"radius must be a number or one per row"):
        reg.predict_interval(X, radius[:-1])
    with pytest.raises(ValueError, match=r"tolerance must be a number or one per row"):
        reg.predict_certified(X, tolerance[:5])
