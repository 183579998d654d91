"""Certified regression metrics, scorer and display."""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score

from skdpa import DPARegressor, SSDPARegressor
from skdpa.metrics import (
    certified_coverage,
    certified_coverage_curve,
    certified_error,
    certified_error_curve,
    make_certified_regression_scorer,
)

X, Y = load_diabetes(return_X_y=True)
REG = DPARegressor(Ridge(), k=11, random_state=0).fit(X[:330], Y[:330])
X_TEST, Y_TEST = X[330:], Y[330:]


def test_coverage_matches_a_row_by_row_count():
    for b in range(4):
        lower, upper = REG.predict_interval(X_TEST, b)
        expected = np.mean(
            [
                y - 40 <= lo and hi <= y + 40
                for y, lo, hi in zip(Y_TEST, lower, upper, strict=True)
            ]
        )
        assert certified_coverage(Y_TEST, lower, upper, 40.0) == expected
    y_pred = REG.predict(X_TEST)
    assert certified_coverage(Y_TEST, *REG.predict_interval(X_TEST, 0), 40.0) == (
        np.mean(np.abs(y_pred - Y_TEST) <= 40)
    )


def test_curves_follow_the_intervals():
    outputs = REG.member_predictions(X_TEST)
    budgets = np.arange(7)
    coverage = certified_coverage_curve(Y_TEST, outputs, budgets, 50.0)
    errors = certified_error_curve(Y_TEST, outputs, budgets)
    assert (np.diff(coverage) <= 0).all() and (np.diff(errors) >= 0).all()
    assert coverage[-1] == 0.0 and errors[-1] == np.inf  # b=6 > (11-1)//2
    for b in budgets:
        lower, upper = REG.predict_interval(X_TEST, b)
        assert coverage[b] == certified_coverage(Y_TEST, lower, upper, 50.0)
        err = certified_error(Y_TEST, lower, upper)
        assert errors[b] == np.quantile(err, 0.5, method="inverted_cdf")
    y_pred = REG.predict(X_TEST)
    np.testing.assert_allclose(
        certified_error(Y_TEST, *REG.predict_interval(X_TEST, 0)),
        np.abs(y_pred - Y_TEST),
    )
    assert certified_error_curve(Y_TEST, outputs, 0, q=1.0) == pytest.approx(
        np.abs(y_pred - Y_TEST).max()
    )


def test_scorer_in_grid_search_and_cross_validation():
    scorer = make_certified_regression_scorer(3, tolerance=80.0)
    search = GridSearchCV(
        DPARegressor(Ridge(), random_state=0), {"k": [5, 21]}, scoring=scorer, cv=3
    ).fit(X, Y)
    assert search.best_params_ == {"k": 21}
    # k=5: three poisoned samples control a majority of the members
    assert search.cv_results_["mean_test_score"][0] == 0.0
    neg_error = make_certified_regression_scorer(1)
    scores = cross_val_score(DPARegressor(Ridge(), k=9), X, Y, scoring=neg_error, cv=3)
    assert (scores < 0).all() and np.isfinite(scores).all()
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(FunctionTransformer(np.tanh), DPARegressor(Ridge(), k=9))
    through = cross_val_score(pipe, X, Y, scoring=scorer, cv=3)
    assert ((0 <= through) & (through <= 1)).all()
    assert repr(scorer) == (
        "make_certified_regression_scorer(budget=3, tolerance=80.0)"
    )


def test_display_from_estimator_and_predictions():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skdpa.plotting import CertifiedCoverageDisplay

    d = CertifiedCoverageDisplay.from_estimator(REG, X_TEST, Y_TEST, tolerance=60.0)
    outputs = REG.member_predictions(X_TEST)
    expected = certified_coverage_curve(Y_TEST, outputs, d.budgets, 60.0)
    np.testing.assert_array_equal(d.certified_coverage, expected)
    assert d.certified_coverage[-1] == 0 and (d.certified_coverage[:-1] > 0).all()
    assert d.clean_coverage == d.certified_coverage[0]
    assert d.line_.get_label() == "DPARegressor (k=11)"
    assert d.clean_coverage_line_.get_linestyle() == "--"
    y = np.where(np.arange(330) % 2, Y[:330], np.nan)
    ss = SSDPARegressor(Ridge(), k=6).fit(X[:330], y)
    d2 = CertifiedCoverageDisplay.from_estimator(
        ss, X_TEST, Y_TEST, tolerance=60.0, ax=d.ax_, plot_clean_coverage=False
    )
    assert d2.ax_ is d.ax_ and d2.clean_coverage_line_ is None
    assert d2.ax_.get_xlabel() == "Attack size (training targets changed)"
    fa = DPARegressor(Ridge(), k=4, spread=2).fit(X[:330], Y[:330])
    d3 = CertifiedCoverageDisplay.from_estimator(fa, X_TEST, Y_TEST, tolerance=60.0)
    assert d3.line_.get_label() == "DPARegressor (k=4, spread=2)"
    with pytest.raises(ValueError, match=r"member_predictions must be 2-D"):
        CertifiedCoverageDisplay.from_predictions(Y_TEST, Y_TEST, tolerance=1.0)
    with pytest.raises(TypeError, match=r"must be a fitted certified regressor"):
        CertifiedCoverageDisplay.from_estimator(Ridge(), X_TEST, Y_TEST, tolerance=1)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: certified_coverage([1.0], [2.0], [1.0], 1.0),
            ValueError,
            r"lower and upper must be intervals",
        ),
        (
            lambda: certified_coverage([1.0], [1.0], [1.0], -0.5),
            ValueError,
            r"tolerance must be >= 0; got -0.5",
        ),
        (
            lambda: certified_coverage([1.0], [1.0], [1.0], True),
            TypeError,
            r"tolerance must be a number >= 0; got True",
        ),
        (
            lambda: certified_coverage([], [], [], 1.0),
            ValueError,
            r"must hold at least one sample; got 0",
        ),
        (
            lambda: certified_error_curve([1.0], [[1.0]], 0.5),
            ValueError,
            r"budget must be whole numbers of training samples; got 0.5",
        ),
        (
            lambda: certified_error_curve([1.0], [[1.0]], 0, q=2),
            ValueError,
            r"q must be in \[0, 1\]; got 2",
        ),
        (
            lambda: make_certified_regression_scorer([1, 2]),
            ValueError,
            r"budget must be a single number for a scorer",
        ),
        (
            lambda: make_certified_regression_scorer(1, tolerance=-1.0),
            ValueError,
            r"tolerance must be >= 0; got -1.0",
        ),
        (
            lambda: make_certified_regression_scorer(1)(Ridge(), X_TEST, Y_TEST),
            TypeError,
            r"needs an estimator with predict_interval\(X, radius\)",
        ),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
