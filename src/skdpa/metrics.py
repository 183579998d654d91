"""Certified evaluation: accuracy under a poisoning budget, its median, a scorer.

A prediction is *certified at budget b* when it is correct and its certified
radius is at least ``b``: no poisoning of up to ``b`` training samples (insertions
or removals for :class:`~skdpa.DPAClassifier`, label flips for
:class:`~skdpa.SSDPAClassifier`) can change it. These functions take the
``(y_pred, radius)`` pair returned by ``predict_certified`` and never look at an
estimator, so they also work on stored predictions.
"""

import numbers

import numpy as np
from sklearn.metrics._scorer import _Scorer
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "certified_accuracy",
    "certified_coverage",
    "certified_coverage_curve",
    "certified_error",
    "certified_error_curve",
    "make_certified_regression_scorer",
    "make_certified_scorer",
    "median_certified_radius",
]


def _check_targets(y_true, y_pred, radius):
    """Validate the three per-sample arrays; return them as 1-D ndarrays."""
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    radius = column_or_1d(radius)
    check_consistent_length(y_true, y_pred, radius)
    if y_true.shape[0] == 0:
        raise ValueError(
            "y_true, y_pred and radius must hold at least one sample; got 0."
        )
    if radius.dtype.kind not in "iuf":
        raise ValueError(
            f"radius must be numeric (a count of training samples); got an array "
            f"of dtype {radius.dtype}."
        )
    if np.isnan(radius).any():
        raise ValueError("radius must not contain NaN.")
    if radius.min() < 0:
        raise ValueError(
            f"radius must be >= 0 (the certificate is never negative); got a "
            f"minimum of {radius.min()}."
        )
    return y_true, y_pred, radius


def _check_budget(budget):
    """Validate a scalar or 1-D budget; return (ndarray, is_scalar)."""
    if isinstance(budget, bool | np.bool_) or isinstance(budget, str | bytes):
        raise TypeError(
            f"budget must be a number or an array of numbers; got {budget!r}."
        )
    is_scalar = isinstance(budget, numbers.Real) or (
        isinstance(budget, np.ndarray) and budget.ndim == 0
    )
    arr = np.asarray(budget)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            "budget must be a number or an array of numbers; got an array of "
            f"dtype {arr.dtype}."
        )
    if arr.ndim > 1:
        raise ValueError(
            f"budget must be a number or a 1-D array; got an array of shape "
            f"{arr.shape}."
        )
    if np.isnan(arr).any():
        raise ValueError("budget must not be NaN.")
    if arr.size and arr.min() < 0:
        raise ValueError(
            "budget must be >= 0 (a number of poisoned training samples); got "
            f"{arr.min()}."
        )
    return arr, is_scalar


def certified_accuracy(y_true, y_pred, radius, budget):
    """Fraction of samples predicted correctly with a radius of at least `budget`.

    This is the paper's *certified accuracy* at attack size `budget`: the share
    of test samples that are both correctly classified and provably unaffected
    by any poisoning of up to `budget` training samples. At ``budget=0`` it is the
    plain accuracy, because a radius is never negative.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.

    y_pred : array-like of shape (n_samples,)
        Predicted labels, the first output of ``predict_certified``.

    radius : array-like of shape (n_samples,)
        Certified radii, the second output of ``predict_certified``;
        non-negative.

    budget : float or array-like of shape (n_budgets,)
        Attack size(s) to evaluate, each >= 0.

    Returns
    -------
    score : float or ndarray of shape (n_budgets,)
        A float for a scalar `budget`, otherwise one value per budget.

    See Also
    --------
    median_certified_radius : The largest budget with certified accuracy >= 50%.
    make_certified_scorer : Certified accuracy as a scikit-learn scorer.

    Examples
    --------
    >>> from skdpa.metrics import certified_accuracy
    >>> y_true = [0, 1, 1, 0]
    >>> y_pred = [0, 1, 0, 0]
    >>> radius = [3, 1, 5, 0]
    >>> certified_accuracy(y_true, y_pred, radius, budget=1)
    0.5
    >>> certified_accuracy(y_true, y_pred, radius, budget=[0, 1, 2, 4])
    array([0.75, 0.5 , 0.25, 0.  ])
    """
    y_true, y_pred, radius = _check_targets(y_true, y_pred, radius)
    budgets, is_scalar = _check_budget(budget)
    # Count, for each budget b, the correct samples whose radius is >= b:
    # sort the radii of the correct samples once and bisect every budget.
    correct_radii = np.sort(radius[y_true == y_pred])
    below = np.searchsorted(correct_radii, budgets, side="left")
    scores = (correct_radii.shape[0] - below) / y_true.shape[0]
    if is_scalar:
        return float(scores)
    return scores.astype(np.float64)


def median_certified_radius(y_true, y_pred, radius):
    """Largest attack size at which certified accuracy is still at least 50%.

    The paper's *median certified robustness* (Table 1): the largest budget
    ``b`` with ``certified_accuracy(y_true, y_pred, radius, b) >= 0.5``. It is
    the ``ceil(n_samples / 2)``-th largest radius among the correctly classified
    samples.

    The reference implementation of Levine & Feizi prints
    ``sum(certified_accuracy(b) >= 0.5 for b in 0..max)``, which is one more
    than this value (it counts budget 0); this function returns the budget
    itself.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.

    y_pred : array-like of shape (n_samples,)
        Predicted labels, the first output of ``predict_certified``.

    radius : array-like of shape (n_samples,)
        Certified radii, the second output of ``predict_certified``.

    Returns
    -------
    median : int, float or None
        The largest such budget (an ``int`` for integer radii), or ``None`` when
        fewer than half of the samples are classified correctly, so that even
        budget 0 stays below 50% (the paper's "N/A").

    See Also
    --------
    certified_accuracy : Certified accuracy at given budgets.

    Examples
    --------
    >>> from skdpa.metrics import median_certified_radius
    >>> y_true = [0, 0, 0, 0]
    >>> median_certified_radius(y_true, [0, 0, 0, 0], [0, 1, 2, 3])
    2
    >>> print(median_certified_radius(y_true, [0, 1, 1, 1], [9, 9, 9, 9]))
    None
    """
    y_true, y_pred, radius = _check_targets(y_true, y_pred, radius)
    n_samples = y_true.shape[0]
    needed = (n_samples + 1) // 2  # at least half of the samples, rounded up
    correct_radii = np.sort(radius[y_true == y_pred])[::-1]
    if correct_radii.shape[0] < needed:
        return None
    median = correct_radii[needed - 1]
    if radius.dtype.kind in "iu":
        return int(median)
    return float(median)


def _certifying_step(estimator, X):
    """The estimator that certifies, and ``X`` as it reaches that estimator.

    An estimator with ``predict_certified`` certifies itself. A fitted
    :class:`~sklearn.pipeline.Pipeline` whose last step certifies: ``X`` goes
    through the earlier steps' ``transform`` first. A fitted search
    (:class:`~sklearn.model_selection.GridSearchCV` and the like): its
    ``best_estimator_``. Only the last step is certified: what the earlier steps
    learnt from the whole training set is outside the guarantee.
    """
    from sklearn.pipeline import Pipeline

    if hasattr(estimator, "predict_certified"):
        return estimator, X
    if isinstance(estimator, Pipeline):
        if not estimator.steps:
            raise TypeError("The pipeline has no steps; nothing certifies.")
        final = estimator.steps[-1][1]
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        if final is not None and final != "passthrough":
            return _certifying_step(final, X)
    elif hasattr(estimator, "best_estimator_"):
        return _certifying_step(estimator.best_estimator_, X)
    elif hasattr(estimator, "cv_results_"):
        raise TypeError(
            f"This {type(estimator).__name__} was fitted with refit=False: it has "
            "no best_estimator_ to certify. Refit it (refit=True, the default)."
        )
    raise TypeError(
        "estimator must have a predict_certified method returning (y_pred, "
        "radius) (a fitted DPAClassifier or SSDPAClassifier), or be a Pipeline "
        "whose last step has one or a fitted search over one (best_estimator_); "
        f"got {type(estimator).__name__}."
    )


def _certified_accuracy_score(y_true, prediction, *, budget):
    """Score function for make_scorer: `prediction` is ``(y_pred, radius)``."""
    try:
        y_pred, radius = prediction
    except (TypeError, ValueError):
        raise TypeError(
            "The certified scorer needs an estimator whose predict_certified(X) "
            "returns a (y_pred, radius) pair."
        ) from None
    return certified_accuracy(y_true, y_pred, radius, budget)


def make_certified_scorer(budget):
    """Make a scorer of certified accuracy at a fixed poisoning budget.

    The scorer calls the estimator's ``predict_certified(X)`` and returns
    :func:`certified_accuracy` at `budget`, so model selection can trade clean
    accuracy for robustness: ``GridSearchCV(DPAClassifier(...),
    {"k": [10, 50, 100]}, scoring=make_certified_scorer(5))`` picks the ``k``
    that keeps the most test points correct against 5 poisoned samples.

    It is a scikit-learn scorer, so it works wherever scikit-learn accepts one
    (``GridSearchCV``, ``cross_val_score``, ``cross_validate``). In a dict of
    several scorers, ``predict_certified`` runs once per fold and is shared by
    all budgets.

    The estimator scored may also be a :class:`~sklearn.pipeline.Pipeline`
    whose last step is a certified classifier, or a fitted search over one
    (its ``best_estimator_``). The earlier steps of a pipeline transform ``X``
    and the last step certifies: the radius counts poisoned samples *of the
    last step's training set*. A step before it that is fit on the whole
    training set (a scaler, PCA) is outside the guarantee: one poisoned sample
    can move what it learnt, and with it every prediction. Put such steps
    inside the base estimator, where each member fits its own.

    Parameters
    ----------
    budget : float
        Attack size at which to score, >= 0. ``budget=0`` scores plain accuracy
        (through ``predict_certified``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``, greater is better.

    Examples
    --------
    Pick ``k`` for an attacker who may poison 3 training samples: with ``k=5``
    no radius exceeds 2, so certified accuracy at 3 is 0 and ``k=20`` wins.

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skdpa import DPAClassifier
    >>> from skdpa.metrics import make_certified_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> search = GridSearchCV(DPAClassifier(KNeighborsClassifier(1)),
    ...                       {"k": [5, 20]}, scoring=make_certified_scorer(3), cv=3)
    >>> search.fit(X, y).best_params_
    {'k': 20}
    >>> float(search.cv_results_["mean_test_score"][0])
    0.0

    Through a pipeline whose last step certifies (a fixed, data-independent
    transform before it):

    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> pipe = make_pipeline(FunctionTransformer(np.sqrt),
    ...                      DPAClassifier(KNeighborsClassifier(1), k=20))
    >>> scores = cross_val_score(pipe, X, y, scoring=make_certified_scorer(3), cv=3)
    >>> bool(np.isnan(scores).any())
    False
    """
    budgets, is_scalar = _check_budget(budget)
    if not is_scalar:
        raise ValueError(
            f"budget must be a single number for a scorer; got an array of shape "
            f"{budgets.shape}. Pass a dict of scorers to score several budgets."
        )
    return _CertifiedScorer(
        _certified_accuracy_score,
        sign=1,
        kwargs={"budget": budget},
        response_method=("predict_certified", "predict"),
    )


class _CertifiedScorer(_Scorer):
    """make_scorer's scorer, certifying through pipelines and searches.

    scikit-learn calls ``method_caller(estimator, name, X)``, which caches the
    output per method name across the scorers of a multimetric dict: here the
    method is always the certifying step's ``predict_certified``, so one call
    per fold serves every budget. ``"predict"`` in the response methods only
    lets scikit-learn's multimetric cache accept a Pipeline (which has no
    ``predict_certified`` of its own); it is never called.

    Why scikit-learn's private ``_Scorer`` and not a plain callable
    ``scorer(estimator, X, y)``: the multimetric cache
    (``_MultimetricScorer._use_cache``) serves ``_BaseScorer`` instances
    only. A plain callable works everywhere ``scoring=`` is taken, but a dict
    of three budgets then calls ``predict_certified`` three times a fold
    (tried; ``tests/test_metrics.py::test_multimetric_scorers_share_*`` fail).
    """

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        final, X_final = _certifying_step(estimator, X)
        prediction = method_caller(final, "predict_certified", X_final)
        scoring_kwargs = {**self._kwargs, **kwargs}
        return self._sign * self._score_func(y_true, prediction, **scoring_kwargs)


# ---------------------------------------------------------------------------
# Certified regression (DPARegressor, SSDPARegressor)
#
# A regression prediction is *certified within tolerance t at budget b* when
# every prediction reachable by poisoning at most b training samples lies
# within t of the true target: [lower, upper] = predict_interval(X, b) is inside
# [y_true - t, y_true + t]. At b = 0 the interval is the prediction itself, so
# the share of such rows is the clean share of predictions within t.


def _check_intervals(y_true, lower, upper):
    y_true = column_or_1d(y_true).astype(np.float64)
    lower = column_or_1d(lower).astype(np.float64)
    upper = column_or_1d(upper).astype(np.float64)
    check_consistent_length(y_true, lower, upper)
    if y_true.shape[0] == 0:
        raise ValueError(
            "y_true, lower and upper must hold at least one sample; got 0."
        )
    if np.isnan(lower).any() or np.isnan(upper).any() or (lower > upper).any():
        raise ValueError(
            "lower and upper must be intervals (lower <= upper, no NaN), as "
            "predict_interval returns them."
        )
    return y_true, lower, upper


def _check_tolerance(tolerance, n_samples):
    if isinstance(tolerance, bool | np.bool_) or isinstance(tolerance, str | bytes):
        raise TypeError(f"tolerance must be a number >= 0; got {tolerance!r}.")
    tol = np.asarray(tolerance, dtype=np.float64)
    if tol.ndim > 1 or (tol.ndim == 1 and tol.shape[0] != n_samples):
        raise ValueError(
            f"tolerance must be a number or one per sample ({n_samples},); got "
            f"shape {tol.shape}."
        )
    if np.isnan(tol).any() or (tol < 0).any():
        bad = float(tol[np.isnan(tol) | (tol < 0)].ravel()[0])
        raise ValueError(f"tolerance must be >= 0; got {bad!r}.")
    return tol


def certified_coverage(y_true, lower, upper, tolerance):
    """Fraction of samples whose every reachable prediction is within `tolerance`.

    *Certified coverage* at a budget ``b``: the share of samples whose
    certified interval ``[lower, upper] = est.predict_interval(X, b)`` lies
    inside ``[y_true - tolerance, y_true + tolerance]``, so that no poisoning
    of up to ``b`` training samples can push the prediction further than
    ``tolerance`` from the truth. It is the regression analogue of
    :func:`certified_accuracy` (a prediction "correct" when within
    ``tolerance``); at ``b = 0`` the interval is the prediction itself and the
    coverage is the plain share of predictions within ``tolerance``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True targets.
    lower, upper : array-like of shape (n_samples,)
        Certified interval of each prediction (``predict_interval``).
    tolerance : float or array-like of shape (n_samples,)
        Largest acceptable absolute error, ``>= 0``.

    Returns
    -------
    coverage : float
        In ``[0, 1]``.

    See Also
    --------
    certified_error_curve : the certified error against the budget.

    Examples
    --------
    >>> from skdpa.metrics import certified_coverage
    >>> y_true = [10.0, 20.0, 30.0]
    >>> lower, upper = [9.0, 15.0, 29.0], [12.0, 21.0, 40.0]
    >>> certified_coverage(y_true, lower, upper, tolerance=2.0)
    0.3333333333333333
    >>> certified_coverage(y_true, lower, upper, tolerance=10.0)
    1.0
    """
    y_true, lower, upper = _check_intervals(y_true, lower, upper)
    tol = _check_tolerance(tolerance, y_true.shape[0])
    inside = (lower >= y_true - tol) & (upper <= y_true + tol)
    return float(np.mean(inside))


def certified_error(y_true, lower, upper):
    """Largest absolute error any poisoning within the budget can cause, per sample.

    ``max(y_true - lower, upper - y_true)`` (at least ``|y_pred - y_true|``):
    an upper bound on ``|poisoned prediction - y_true|``, reached by an attack
    for :class:`~skdpa.DPARegressor` with ``spread=1``. ``inf`` where the
    interval is unbounded.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True targets.
    lower, upper : array-like of shape (n_samples,)
        Certified interval of each prediction (``predict_interval``).

    Returns
    -------
    error : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from skdpa.metrics import certified_error
    >>> certified_error([10.0, 20.0], [9.0, 21.0], [12.0, 25.0]).tolist()
    [2.0, 5.0]
    """
    y_true, lower, upper = _check_intervals(y_true, lower, upper)
    return np.maximum(np.maximum(y_true - lower, upper - y_true), 0.0)


def _error_quantile(errors, q):
    # an observed value (no interpolation, which would turn inf into NaN)
    return float(np.quantile(errors, q, method="inverted_cdf"))


def _budget_intervals(member_predictions, budgets, shifts):
    from .certify import median_interval

    for b in np.atleast_1d(budgets):
        yield median_interval(member_predictions, int(b), shifts)


def _check_integer_budgets(budget):
    budgets, is_scalar = _check_budget(budget)
    if (budgets != np.round(budgets)).any():
        raise ValueError(
            f"budget must be whole numbers of training samples; got {budget!r}."
        )
    return budgets.astype(np.int64), is_scalar


def certified_error_curve(y_true, member_predictions, budget, *, shifts=None, q=0.5):
    """Quantile ``q`` over samples of the certified error, for each attack size.

    For each budget ``b`` the certified interval of every sample comes from
    the members' outputs (:func:`skdpa.certify.median_interval`), then
    :func:`certified_error`; the curve is its ``q``-quantile over samples
    (the median by default: half the samples are certified to stay within
    that error of the truth against any ``b`` poisoned samples; an observed
    value, NumPy's ``"inverted_cdf"`` quantile). At ``b = 0``
    it is the same quantile of ``|y_pred - y_true|``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True targets.
    member_predictions : array-like of shape (n_samples, n_members)
        ``est.member_predictions(X)``; NaN where a member abstains.
    budget : int or array-like of int
        Attack sizes, ``>= 0``.
    shifts : array-like of int, default=None
        ``est.shifts_`` for finite aggregation (``spread > 1``).
    q : float, default=0.5
        Quantile over samples, in ``[0, 1]``.

    Returns
    -------
    error : float or ndarray of shape (n_budgets,)
        ``inf`` once more than a share ``1 - q`` of the samples have an
        unbounded interval.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.metrics import certified_error_curve
    >>> outputs = np.array([[9.0, 10.0, 11.0, 13.0, 20.0]])
    >>> certified_error_curve([10.0], outputs, [0, 1, 2, 3]).tolist()
    [1.0, 3.0, 10.0, inf]
    """
    budgets, is_scalar = _check_integer_budgets(budget)
    y_true = column_or_1d(y_true).astype(np.float64)
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1]; got {q!r}.")
    errors = [
        _error_quantile(certified_error(y_true, lo, hi), q)
        for lo, hi in _budget_intervals(member_predictions, budgets, shifts)
    ]
    return errors[0] if is_scalar else np.array(errors)


def certified_coverage_curve(
    y_true, member_predictions, budget, tolerance, *, shifts=None
):
    """:func:`certified_coverage` at each attack size, from the members' outputs.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True targets.
    member_predictions : array-like of shape (n_samples, n_members)
        ``est.member_predictions(X)``; NaN where a member abstains.
    budget : int or array-like of int
        Attack sizes, ``>= 0``.
    tolerance : float or array-like of shape (n_samples,)
        Largest acceptable absolute error, ``>= 0``.
    shifts : array-like of int, default=None
        ``est.shifts_`` for finite aggregation (``spread > 1``).

    Returns
    -------
    coverage : float or ndarray of shape (n_budgets,)

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.metrics import certified_coverage_curve
    >>> outputs = np.array([[9.0, 10.0, 11.0, 13.0, 20.0], [0.0, 5.0, 6.0, 7.0, 8.0]])
    >>> certified_coverage_curve([10.0, 6.0], outputs, [0, 1, 2], 2.0).tolist()
    [1.0, 0.5, 0.0]
    """
    budgets, is_scalar = _check_integer_budgets(budget)
    scores = [
        certified_coverage(y_true, lo, hi, tolerance)
        for lo, hi in _budget_intervals(member_predictions, budgets, shifts)
    ]
    return scores[0] if is_scalar else np.array(scores)


class _CertifiedRegressionScorer:
    """Picklable scorer(estimator, X, y) for certified regression."""

    def __init__(self, budget, tolerance):
        self.budget = budget
        self.tolerance = tolerance

    def __call__(self, estimator, X, y, **kwargs):
        # a pipeline or a fitted search certifies through its last step
        try:
            final, X_final = _certifying_step(estimator, X)
        except TypeError:
            final = X_final = None
        if not hasattr(final, "predict_interval"):
            raise TypeError(
                "The certified regression scorer needs an estimator with "
                "predict_interval(X, radius) (DPARegressor, SSDPARegressor, or a "
                f"pipeline or search ending in one); got {type(estimator).__name__}."
            )
        lower, upper = final.predict_interval(X_final, self.budget)
        if self.tolerance is None:
            return -_error_quantile(certified_error(y, lower, upper), 0.5)
        return certified_coverage(y, lower, upper, self.tolerance)

    def __repr__(self):
        return (
            f"make_certified_regression_scorer(budget={self.budget!r}, "
            f"tolerance={self.tolerance!r})"
        )


def make_certified_regression_scorer(budget, tolerance=None):
    """Make a scorer for certified regressors, for ``GridSearchCV`` and friends.

    ``scorer(estimator, X, y)`` calls ``estimator.predict_interval(X, budget)``
    and returns, greater being better:

    - with ``tolerance``: :func:`certified_coverage`, the share of samples
      certified to stay within ``tolerance`` of the truth against ``budget``
      poisoned samples;
    - without: minus the median :func:`certified_error` (the lower median,
      ``-inf`` when half the intervals are unbounded).

    Parameters
    ----------
    budget : int
        Attack size, ``>= 0``.
    tolerance : float, default=None
        Largest acceptable absolute error, ``>= 0``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    With 4 poisoned samples, ``k=5`` members certify nothing (the attacker
    controls a majority of them) and ``k=25`` wins.

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdpa import DPARegressor
    >>> from skdpa.metrics import make_certified_regression_scorer
    >>> X, y = load_diabetes(return_X_y=True)
    >>> scorer = make_certified_regression_scorer(4, tolerance=100.0)
    >>> search = GridSearchCV(DPARegressor(random_state=0), {"k": [5, 25]},
    ...                       scoring=scorer, cv=3).fit(X, y)
    >>> search.best_params_
    {'k': 25}
    >>> float(search.cv_results_["mean_test_score"][0])
    0.0
    """
    budgets, is_scalar = _check_integer_budgets(budget)
    if not is_scalar:
        raise ValueError(
            f"budget must be a single number for a scorer; got an array of shape "
            f"{budgets.shape}. Pass a dict of scorers to score several budgets."
        )
    if tolerance is not None:
        _check_tolerance(tolerance, 1)
    return _CertifiedRegressionScorer(int(budgets), tolerance)
