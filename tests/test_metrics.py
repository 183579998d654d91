"""Tests for skdpa.metrics: hand-computed values, brute force, the scorer."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate

from skdpa.metrics import (
    certified_accuracy,
    make_certified_scorer,
    median_certified_radius,
)

# --------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------

# Samples 0, 1 and 3 are correct with radii 3, 1 and 0; sample 2 is wrong.
Y_TRUE = [0, 1, 1, 0]
Y_PRED = [0, 1, 0, 0]
RADIUS = [3, 1, 5, 0]


@pytest.mark.parametrize(
    "budget, expected",
    [(0, 0.75), (1, 0.5), (2, 0.25), (3, 0.25), (4, 0.0), (100, 0.0)],
)
def test_certified_accuracy_hand_computed(budget, expected):
    score = certified_accuracy(Y_TRUE, Y_PRED, RADIUS, budget)
    assert isinstance(score, float)
    assert score == expected


def test_certified_accuracy_wrong_prediction_never_counts():
    # Sample 2 has the largest radius but is wrong: it counts at no budget.
    assert certified_accuracy(Y_TRUE, Y_PRED, RADIUS, 5) == 0.0


def test_certified_accuracy_array_budget_returns_array():
    scores = certified_accuracy(Y_TRUE, Y_PRED, RADIUS, [0, 1, 2, 3, 4])
    assert isinstance(scores, np.ndarray)
    assert scores.dtype == np.float64
    np.testing.assert_array_equal(scores, [0.75, 0.5, 0.25, 0.25, 0.0])
    # An unsorted array keeps its order.
    np.testing.assert_array_equal(
        certified_accuracy(Y_TRUE, Y_PRED, RADIUS, np.array([4, 0])), [0.0, 0.75]
    )
    assert certified_accuracy(Y_TRUE, Y_PRED, RADIUS, []).shape == (0,)


def test_certified_accuracy_scalar_like_budgets_return_float():
    for budget in (np.int64(1), np.float32(1.0), np.array(1), 1.0):
        score = certified_accuracy(Y_TRUE, Y_PRED, RADIUS, budget)
        assert isinstance(score, float)
        assert score == 0.5


def test_certified_accuracy_budget_zero_is_accuracy():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 50)
    y_pred = rng.integers(0, 3, 50)
    radius = rng.integers(0, 5, 50)
    assert certified_accuracy(y_true, y_pred, radius, 0) == np.mean(y_true == y_pred)


def test_certified_accuracy_fractional_and_infinite_budget():
    # radius >= 1.5 means radius >= 2 for integer radii.
    assert certified_accuracy(Y_TRUE, Y_PRED, RADIUS, 1.5) == 0.25
    assert certified_accuracy(Y_TRUE, Y_PRED, RADIUS, np.inf) == 0.0


def test_certified_accuracy_string_labels():
    y_true = ["ham", "spam", "spam"]
    y_pred = ["ham", "spam", "ham"]
    assert certified_accuracy(y_true, y_pred, [2, 4, 9], 3) == pytest.approx(1 / 3)


def test_certified_accuracy_column_vectors_accepted():
    y = np.array([[0], [1]])
    assert certified_accuracy(y, y, np.array([[1], [1]]), 1) == 1.0


@pytest.mark.parametrize(
    "y_true, y_pred, radius, expected",
    [
        # Fully correct, radii 0..3: CA(2) = 2/4 >= 50%, CA(3) = 1/4.
        ([0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 2, 3], 2),
        # Odd n = 5: CA(2) = 3/5, CA(3) = 2/5.
        ([1] * 5, [1] * 5, [4, 0, 3, 1, 2], 2),
        # Exactly half correct: the median is the smaller of their radii.
        ([0, 0, 1, 1], [0, 0, 0, 0], [7, 9, 50, 50], 7),
        # Mixed case used above: CA(1) = 0.5, CA(2) = 0.25.
        (Y_TRUE, Y_PRED, RADIUS, 1),
        # Everything correct with radius 0: median 0, not None.
        ([2, 2, 2], [2, 2, 2], [0, 0, 0], 0),
        # One sample.
        ([3], [3], [6], 6),
    ],
)
def test_median_certified_radius_hand_computed(y_true, y_pred, radius, expected):
    median = median_certified_radius(y_true, y_pred, radius)
    assert isinstance(median, int)
    assert median == expected
    # The defining property: CA(median) >= 0.5 > CA(median + 1).
    assert certified_accuracy(y_true, y_pred, radius, median) >= 0.5
    assert certified_accuracy(y_true, y_pred, radius, median + 1) < 0.5


@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        ([0, 0, 0, 0], [0, 1, 1, 1]),  # 25% correct
        ([0, 0, 0], [0, 1, 1]),  # 1 of 3 correct
        ([0, 0], [1, 1]),  # nothing correct
    ],
)
def test_median_certified_radius_none_below_half(y_true, y_pred):
    assert median_certified_radius(y_true, y_pred, [9] * len(y_true)) is None


def test_median_certified_radius_float_radii():
    median = median_certified_radius([0, 0, 0], [0, 0, 0], [0.5, 2.5, 1.5])
    assert isinstance(median, float)
    assert median == 1.5


def _reference_median(y_true, y_pred, radius):
    """What the reference code (SupContrast/certify.py) prints, in NumPy.

    certs = radius, set to -1 where wrong; accs[b] = mean(certs >= b) for
    b in 0..max(certs); it prints sum(accs >= .5).
    """
    certs = np.where(np.asarray(y_true) == np.asarray(y_pred), radius, -1)
    accs = np.array([(certs >= b).mean() for b in np.arange(certs.max() + 1)])
    return int(np.sum(accs >= 0.5))


def test_median_is_reference_minus_one_hand_case():
    # The reference prints 3 for radii 0..3 (it counts budgets 0, 1 and 2).
    args = ([0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 2, 3])
    assert _reference_median(*args) == 3
    assert median_certified_radius(*args) == 2
    # Where we say None, the reference prints 0.
    args = ([0, 0, 0, 0], [0, 1, 1, 1], [5, 5, 5, 5])
    assert _reference_median(*args) == 0
    assert median_certified_radius(*args) is None


# --------------------------------------------------------------------------
# Brute force on random data
# --------------------------------------------------------------------------


@st.composite
def certified_predictions(draw):
    n = draw(st.integers(1, 30))
    n_classes = draw(st.integers(1, 4))
    labels = st.integers(0, n_classes - 1)
    y_true = draw(st.lists(labels, min_size=n, max_size=n))
    y_pred = draw(st.lists(labels, min_size=n, max_size=n))
    radius = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    return np.array(y_true), np.array(y_pred), np.array(radius)


def _brute_force_accuracy(y_true, y_pred, radius, budget):
    hits = 0
    for t, p, r in zip(y_true, y_pred, radius, strict=True):
        if t == p and r >= budget:
            hits += 1
    return hits / len(y_true)


@settings(max_examples=200, deadline=None)
@given(certified_predictions(), st.lists(st.integers(0, 14), max_size=6))
def test_certified_accuracy_matches_brute_force(data, budgets):
    y_true, y_pred, radius = data
    expected = [_brute_force_accuracy(y_true, y_pred, radius, b) for b in budgets]
    for b, e in zip(budgets, expected, strict=True):
        assert certified_accuracy(y_true, y_pred, radius, b) == e
    np.testing.assert_array_equal(
        certified_accuracy(y_true, y_pred, radius, budgets),
        np.array(expected, dtype=float),
    )


@settings(max_examples=200, deadline=None)
@given(certified_predictions())
def test_median_certified_radius_matches_brute_force(data):
    y_true, y_pred, radius = data
    passing = [
        b
        for b in range(0, radius.max() + 2)
        if _brute_force_accuracy(y_true, y_pred, radius, b) >= 0.5
    ]
    expected = max(passing) if passing else None
    assert median_certified_radius(y_true, y_pred, radius) == expected
    # ... and it is the reference code's value minus one.
    reference = _reference_median(y_true, y_pred, radius)
    assert (expected is None and reference == 0) or expected == reference - 1


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "func", [certified_accuracy, median_certified_radius], ids=["accuracy", "median"]
)
@pytest.mark.parametrize(
    "y_true, y_pred, radius, err, match",
    [
        ([0, 1], [0], [1, 1], ValueError, r"inconsistent numbers of samples: \[2, 1"),
        ([0, 1], [0, 1], [1], ValueError, r"inconsistent numbers of samples"),
        ([], [], [], ValueError, r"at least one sample; got 0"),
        ([0, 1], [0, 1], [1, -1], ValueError, r"radius must be >= 0.*minimum of -1"),
        ([0, 1], [0, 1], [1, np.nan], ValueError, r"radius must not contain NaN"),
        ([0, 1], [0, 1], ["a", "b"], ValueError, r"radius must be numeric.*dtype <U1"),
        ([[0, 1], [0, 1]], [0, 1], [1, 1], ValueError, r"y should be a 1d array"),
    ],
)
def test_invalid_targets(func, y_true, y_pred, radius, err, match):
    args = (y_true, y_pred, radius) + ((0,) if func is certified_accuracy else ())
    with pytest.raises(err, match=match):
        func(*args)


@pytest.mark.parametrize(
    "budget, err, match",
    [
        (-1, ValueError, r"budget must be >= 0 .*; got -1"),
        ([0, 2, -0.5], ValueError, r"budget must be >= 0 .*; got -0.5"),
        (np.nan, ValueError, r"budget must not be NaN"),
        ([[0, 1]], ValueError, r"1-D array; got an array of shape \(1, 2\)"),
        (True, TypeError, r"budget must be a number .*; got True"),
        ("3", TypeError, r"budget must be a number .*; got '3'"),
        (["a"], TypeError, r"array of dtype <U1"),
    ],
)
def test_invalid_budget(budget, err, match):
    with pytest.raises(err, match=match):
        certified_accuracy(Y_TRUE, Y_PRED, RADIUS, budget)


# --------------------------------------------------------------------------
# The scorer
# --------------------------------------------------------------------------


class _MemorisingCertified(ClassifierMixin, BaseEstimator):
    """Test double: predicts the label of the nearest training point, with a
    radius equal to ``k`` everywhere, and counts predict_certified calls."""

    def __init__(self, k=1):
        self.k = k

    def fit(self, X, y):
        self.X_ = np.asarray(X, dtype=float)
        self.y_ = np.asarray(y)
        self.classes_ = np.unique(y)
        self.n_certified_calls_ = 0
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        dist = ((X[:, None, :] - self.X_[None, :, :]) ** 2).sum(axis=2)
        return self.y_[dist.argmin(axis=1)]

    def predict_certified(self, X):
        self.n_certified_calls_ += 1
        y_pred = self.predict(X)
        return y_pred, np.full(len(y_pred), self.k)


def _blobs():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = rng.normal(size=(40, 2)) + 6 * y[:, None]
    return X, y


def test_scorer_scores_certified_accuracy():
    X, y = _blobs()
    est = _MemorisingCertified(k=3).fit(X, y)
    y_pred, radius = est.predict_certified(X)
    for budget in (0, 3, 4):
        scorer = make_certified_scorer(budget)
        expected = certified_accuracy(y, y_pred, radius, budget)
        assert scorer(est, X, y) == expected
    assert make_certified_scorer(3)(est, X, y) == 1.0
    assert make_certified_scorer(4)(est, X, y) == 0.0


def test_scorer_in_grid_search_picks_k_for_the_budget():
    X, y = _blobs()
    # Every k classifies the blobs perfectly; only k >= 4 survives budget 4.
    search = GridSearchCV(
        _MemorisingCertified(),
        {"k": [1, 2, 4, 8]},
        scoring=make_certified_scorer(4),
        cv=3,
    )
    search.fit(X, y)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], [0.0, 0.0, 1.0, 1.0]
    )
    assert search.best_params_ == {"k": 4}


def test_scorer_in_cross_val_score():
    X, y = _blobs()
    scores = cross_val_score(
        _MemorisingCertified(k=2), X, y, scoring=make_certified_scorer(2), cv=4
    )
    np.testing.assert_array_equal(scores, [1.0] * 4)


def test_multimetric_scorers_share_one_predict_certified_call():
    X, y = _blobs()
    scoring = {f"b{b}": make_certified_scorer(b) for b in (0, 2, 5)}
    result = cross_validate(
        _MemorisingCertified(k=2),
        X,
        y,
        scoring=scoring,
        cv=2,
        return_estimator=True,
    )
    np.testing.assert_array_equal(result["test_b0"], [1.0, 1.0])
    np.testing.assert_array_equal(result["test_b2"], [1.0, 1.0])
    np.testing.assert_array_equal(result["test_b5"], [0.0, 0.0])
    assert [e.n_certified_calls_ for e in result["estimator"]] == [1, 1]


def test_scorer_rejects_array_budget():
    with pytest.raises(ValueError, match=r"single number for a scorer.*shape \(2,\)"):
        make_certified_scorer([1, 2])
    with pytest.raises(ValueError, match=r"budget must be >= 0 .*; got -3"):
        make_certified_scorer(-3)


def test_scorer_needs_predict_certified():
    X, y = _blobs()

    class NoCertificate(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.zeros(len(X), dtype=int)

    est = NoCertificate().fit(X, y)
    with pytest.raises(TypeError, match="must have a predict_certified.*NoCertif"):
        make_certified_scorer(1)(est, X, y)

    class NotAPair(NoCertificate):
        def predict_certified(self, X):
            return np.zeros(len(X), dtype=int)

    with pytest.raises(TypeError, match=r"returns a \(y_pred, radius\) pair"):
        make_certified_scorer(1)(NotAPair().fit(X, y), X, y)


def test_scorer_with_dpa_classifier_in_grid_search():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import KFold
    from sklearn.neighbors import KNeighborsClassifier

    from skdpa import DPAClassifier

    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        DPAClassifier(KNeighborsClassifier(1)),
        {"k": [4, 16]},
        scoring=make_certified_scorer(3),
        cv=cv,
    ).fit(X, y)
    # k=4 cannot certify 3 poisoned samples (radius <= 2); k=16 can.
    assert search.cv_results_["mean_test_score"][0] == 0.0
    assert search.best_params_ == {"k": 16}
    # Each fold's score is certified_accuracy of predict_certified on that fold.
    train, test = next(iter(cv.split(X)))
    clf = DPAClassifier(KNeighborsClassifier(1), k=16).fit(X[train], y[train])
    y_pred, radius = clf.predict_certified(X[test])
    assert search.cv_results_["split0_test_score"][1] == certified_accuracy(
        y[test], y_pred, radius, 3
    )


# --------------------------------------------------------------------------
# Through a Pipeline whose last step certifies, and through a fitted search
# --------------------------------------------------------------------------


def _sqrt_pipeline(k=2):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return make_pipeline(
        FunctionTransformer(lambda X: np.asarray(X) + 100.0),
        _MemorisingCertified(k=k),
    )


def test_scorer_through_pipeline_scores_the_transformed_last_step():
    X, y = _blobs()
    pipe = _sqrt_pipeline(k=3).fit(X, y)
    last = pipe[-1]
    # the last step sees the transformed rows: its stored X is shifted
    np.testing.assert_allclose(last.X_, X + 100.0)
    expected_pred, expected_radius = last.predict_certified(X + 100.0)
    for budget in (0, 3, 4):
        expected = certified_accuracy(y, expected_pred, expected_radius, budget)
        assert make_certified_scorer(budget)(pipe, X, y) == expected
    assert make_certified_scorer(3)(pipe, X, y) == 1.0
    assert make_certified_scorer(4)(pipe, X, y) == 0.0


def test_cross_val_score_through_pipeline_gives_numbers_not_nan():
    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skdpa import DPAClassifier

    X, y = load_digits(return_X_y=True)
    X, y = X[:450], y[:450]
    pipe = make_pipeline(
        FunctionTransformer(np.sqrt), DPAClassifier(KNeighborsClassifier(1), k=8)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no per-fold "scoring failed" warning
        scores = cross_val_score(pipe, X, y, scoring=make_certified_scorer(1), cv=3)
    assert not np.isnan(scores).any()
    # the same numbers as certifying the last step by hand on each fold
    from sklearn.model_selection import check_cv

    for score, (train, test) in zip(
        scores, check_cv(3, y, classifier=True).split(X, y), strict=True
    ):
        fitted = clone(pipe).fit(X[train], y[train])
        y_pred, radius = fitted[-1].predict_certified(np.sqrt(X[test]))
        assert score == certified_accuracy(y[test], y_pred, radius, 1)
    assert 0.0 < scores.min()


def test_multimetric_scorers_through_pipeline_share_one_call():
    X, y = _blobs()
    scoring = {f"b{b}": make_certified_scorer(b) for b in (0, 2, 5)}
    result = cross_validate(
        _sqrt_pipeline(k=2), X, y, scoring=scoring, cv=2, return_estimator=True
    )
    np.testing.assert_array_equal(result["test_b2"], [1.0, 1.0])
    np.testing.assert_array_equal(result["test_b5"], [0.0, 0.0])
    assert [e[-1].n_certified_calls_ for e in result["estimator"]] == [1, 1]


@pytest.mark.parametrize("search_class", ["grid", "randomized"])
def test_scorer_through_fitted_search_uses_best_estimator(search_class):
    from sklearn.model_selection import RandomizedSearchCV

    X, y = _blobs()
    grid = {"_memorisingcertified__k": [1, 4]}
    if search_class == "grid":
        search = GridSearchCV(_sqrt_pipeline(), grid, cv=2)
    else:
        search = RandomizedSearchCV(
            _sqrt_pipeline(), grid, n_iter=2, cv=2, random_state=0
        )
    search.set_params(scoring=make_certified_scorer(4)).fit(X, y)
    assert search.best_params_ == {"_memorisingcertified__k": 4}
    calls = search.best_estimator_[-1].n_certified_calls_
    assert make_certified_scorer(4)(search, X, y) == 1.0
    assert make_certified_scorer(5)(search, X, y) == 0.0
    assert search.best_estimator_[-1].n_certified_calls_ == calls + 2


def test_scorer_search_without_refit_and_non_certifying_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _blobs()
    search = GridSearchCV(_MemorisingCertified(), {"k": [1, 2]}, cv=2, refit=False).fit(
        X, y
    )
    with pytest.raises(TypeError, match="GridSearchCV was fitted with refit=False"):
        make_certified_scorer(1)(search, X, y)
    plain = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with pytest.raises(
        TypeError, match="must have a predict_certified.*LogisticRegression"
    ):
        make_certified_scorer(1)(plain, X, y)
