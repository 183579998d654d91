"""Certified accuracy against attack size, in scikit-learn's Display style.

matplotlib is an optional dependency (``pip install "scikit-dpa[plot]"``); it is
imported only when something is drawn.
"""

import warnings

import numpy as np

from .metrics import _certifying_step, _check_targets, certified_accuracy

__all__ = ["CertifiedAccuracyDisplay", "CertifiedCoverageDisplay"]

_GENERIC_XLABEL = "Attack size (poisoned training samples)"
_RULE_LABELS = {"runoff": "run-off"}


def _import_pyplot(what):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{what} requires matplotlib; install it with "
            '`pip install "scikit-dpa[plot]"` (or `pip install matplotlib`).'
        ) from exc
    return plt


def _attack_xlabel(estimator):
    """Axis label saying what the estimator's radius counts.

    Read from the fitted ``certificate_`` (its ``attack_unit``), so any
    estimator that states its certificate gets the right label.
    """
    certificate = getattr(estimator, "certificate_", None)
    unit = getattr(certificate, "attack_unit", None)
    return _GENERIC_XLABEL if not unit else f"Attack size ({unit})"


def _estimator_name(estimator):
    """Default legend entry: the class name and what shapes its certificate.

    ``"DPAClassifier (k=50)"``; finite aggregation and run-off voting add
    ``spread=16`` and ``run-off``, read from ``certificate_``.
    """
    certificate = getattr(estimator, "certificate_", None)
    details = []
    k = getattr(certificate, "k", getattr(estimator, "k", None))
    if k is not None:
        details.append(f"k={k}")
    spread = getattr(certificate, "spread", 1)
    if spread is not None and spread > 1:
        details.append(f"spread={spread}")
    rule = getattr(certificate, "rule", "plurality")
    if rule != "plurality":
        details.append(_RULE_LABELS.get(rule, rule))
    name = type(estimator).__name__
    return f"{name} ({', '.join(details)})" if details else name


def _legend_entry(line_kw):
    """Whether a line keyword set puts an entry in the legend."""
    label = line_kw.get("label")
    return label is not None and not str(label).startswith("_")


def _draw_curve(display, what, ax, name, values, ylabel, clean, clean_kw, kwargs):
    """Draw a display's step curve against ``display.budgets`` and its clean line.

    Sets ``display.ax_`` and ``display.figure_``; returns the curve's line and
    the clean line (``None`` when ``clean`` is ``None``).
    """
    plt = _import_pyplot(what)
    if ax is None:
        _, ax = plt.subplots()
    name = display.name if name is None else name
    line_kw = {"drawstyle": "steps-post"}
    if name is not None:
        line_kw["label"] = name
    line_kw.update(kwargs)
    (line,) = ax.plot(display.budgets, values, **line_kw)
    # The curve starts at budget 0: no margin left of it, while the axes
    # keep autoscaling to the right for curves added later (larger k).
    line.sticky_edges.x.append(0)
    clean_line = None
    if clean is not None:
        style = {"linestyle": "--", "color": line.get_color()}
        style.update(clean_kw or {})
        clean_line = ax.axhline(clean, **style)
    ax.set_xlabel(display.xlabel if display.xlabel is not None else _GENERIC_XLABEL)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.01, 1.01)
    if _legend_entry(line_kw):
        ax.legend(loc="best")
    display.ax_ = ax
    display.figure_ = ax.figure
    return line, clean_line


class CertifiedAccuracyDisplay:
    """Certified accuracy as a function of attack size.

    The step curve shows, for each attack size ``b`` (a number of poisoned
    training samples), the fraction of test samples that are correct *and*
    certified at ``b``; a dashed line in the same colour marks the clean
    accuracy, as in the figures of Levine & Feizi (ICLR 2021). Draw several
    displays on one axes (``ax=``) to compare values of ``k``, voting rules or
    ``spread``.

    Create it with :meth:`from_estimator` or :meth:`from_predictions`; the
    constructor only stores its arguments, and :meth:`plot` draws them. As in
    scikit-learn's displays, ``name`` is the legend entry.

    Parameters
    ----------
    budgets : ndarray of shape (n_budgets,)
        Attack sizes, increasing.

    certified_accuracy : ndarray of shape (n_budgets,)
        Certified accuracy at each budget.

    clean_accuracy : float
        Accuracy of the predictions (certified accuracy at budget 0).

    name : str, default=None
        Legend entry of the curve. ``None`` draws no legend entry.

    xlabel : str, default=None
        Label of the x axis; ``None`` means a generic "Attack size" label.

    label : str, default="deprecated"
        Former name of ``name``.

        .. deprecated:: 0.2
           ``label`` was renamed ``name`` (as in scikit-learn's displays) and
           will be removed in 0.4. The ``label=`` keyword of :meth:`plot`,
           :meth:`from_estimator` and :meth:`from_predictions` is matplotlib's
           and stays.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The certified accuracy curve.

    clean_accuracy_line_ : matplotlib Line2D or None
        The dashed clean-accuracy line, ``None`` when not drawn.

    ax_ : matplotlib Axes
        Axes with the curve.

    figure_ : matplotlib Figure
        Figure containing the curve.

    See Also
    --------
    skdpa.metrics.certified_accuracy : The values on the curve.
    skdpa.metrics.median_certified_radius : Where the curve crosses 50%.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdpa.plotting import CertifiedAccuracyDisplay
    >>> display = CertifiedAccuracyDisplay.from_predictions(
    ...     y_true=[0, 1, 1, 0], y_pred=[0, 1, 0, 0], radius=[3, 1, 5, 0],
    ...     name="k=10")
    >>> display.certified_accuracy
    array([0.75, 0.5 , 0.25, 0.25, 0.  ])
    >>> display.clean_accuracy
    0.75
    >>> display.line_.get_label()
    'k=10'
    """

    def __init__(
        self,
        *,
        budgets,
        certified_accuracy,
        clean_accuracy,
        name=None,
        xlabel=None,
        label="deprecated",
    ):
        if label != "deprecated":
            if name is not None:
                raise ValueError(
                    "Pass only name (label is its deprecated former name); got "
                    f"name={name!r} and label={label!r}."
                )
            warnings.warn(
                "The label parameter of CertifiedAccuracyDisplay was renamed name "
                "in 0.2 and will be removed in 0.4; pass name= instead.",
                FutureWarning,
                stacklevel=2,
            )
            name = label
        self.budgets = budgets
        self.certified_accuracy = certified_accuracy
        self.clean_accuracy = clean_accuracy
        self.name = name
        self.xlabel = xlabel

    def plot(
        self,
        ax=None,
        *,
        name=None,
        plot_clean_accuracy=True,
        clean_accuracy_kw=None,
        **kwargs,
    ):
        """Draw the curve (and the clean-accuracy line).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes. Pass the
            ``ax_`` of another display to compare curves.

        name : str, default=None
            Legend entry; ``None`` uses the ``name`` given at construction
            (if that is ``None`` too, no legend entry is drawn).

        plot_clean_accuracy : bool, default=True
            Draw a dashed horizontal line at the clean accuracy.

        clean_accuracy_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.axhline` drawing
            the clean-accuracy line (default: dashed, the curve's colour).

        **kwargs : dict
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot` drawing the
            curve. Its ``label`` takes precedence over ``name``, as in the
            ``curve_kwargs`` of scikit-learn's displays.

        Returns
        -------
        display : CertifiedAccuracyDisplay
            Object that stores the computed values and the drawn artists.
        """
        self.line_, self.clean_accuracy_line_ = _draw_curve(
            self,
            "CertifiedAccuracyDisplay.plot",
            ax,
            name,
            self.certified_accuracy,
            "Certified accuracy",
            self.clean_accuracy if plot_clean_accuracy else None,
            clean_accuracy_kw,
            kwargs,
        )
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_pred,
        radius,
        *,
        name=None,
        xlabel=None,
        ax=None,
        plot_clean_accuracy=True,
        clean_accuracy_kw=None,
        **kwargs,
    ):
        """Plot certified accuracy from stored predictions and radii.

        Works for every voting rule and ``spread``: the curve only needs each
        prediction and its radius.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.

        y_pred : array-like of shape (n_samples,)
            Predicted labels, the first output of ``predict_certified``.

        radius : array-like of shape (n_samples,)
            Certified radii, the second output of ``predict_certified``.

        name : str, default=None
            Legend entry of the curve; ``None`` draws no legend entry.

        xlabel : str, default=None
            Label of the x axis; ``None`` means a generic "Attack size" label.

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes.

        plot_clean_accuracy : bool, default=True
            Draw a dashed horizontal line at the clean accuracy.

        clean_accuracy_kw : dict, default=None
            Keyword arguments for the clean-accuracy line.

        **kwargs : dict
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot`; a
            ``label`` here takes precedence over ``name``.

        Returns
        -------
        display : CertifiedAccuracyDisplay
            The drawn display. The curve runs from budget 0 to one past the
            largest radius of a correct prediction, where it reaches 0.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skdpa.plotting import CertifiedAccuracyDisplay
        >>> d = CertifiedAccuracyDisplay.from_predictions([0, 1], [0, 1], [2, 0])
        >>> d.budgets
        array([0, 1, 2, 3])
        >>> d.line_.get_drawstyle()
        'steps-post'
        """
        y_true, y_pred, radius = _check_targets(y_true, y_pred, radius)
        correct = radius[y_true == y_pred]
        last = int(np.ceil(correct.max())) + 1 if correct.size else 1
        budgets = np.arange(last + 1)
        scores = certified_accuracy(y_true, y_pred, radius, budgets)
        display = cls(
            budgets=budgets,
            certified_accuracy=scores,
            clean_accuracy=float(scores[0]),
            name=name,
            xlabel=xlabel,
        )
        return display.plot(
            ax=ax,
            plot_clean_accuracy=plot_clean_accuracy,
            clean_accuracy_kw=clean_accuracy_kw,
            **kwargs,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        name=None,
        ax=None,
        plot_clean_accuracy=True,
        clean_accuracy_kw=None,
        **kwargs,
    ):
        """Plot certified accuracy of a fitted estimator on test data.

        Calls ``estimator.predict_certified(X)`` once. The x axis says what the
        radius counts, read from the estimator's ``certificate_``
        (its ``attack_unit``).

        Parameters
        ----------
        estimator : estimator instance
            Fitted :class:`~skdpa.DPAClassifier`, :class:`~skdpa.SSDPAClassifier`
            or any classifier with ``predict_certified(X) -> (y_pred, radius)``;
            or a fitted :class:`~sklearn.pipeline.Pipeline` whose last step is
            one (``X`` goes through the earlier steps' ``transform``, and only
            the last step is certified), or a fitted search such as
            :class:`~sklearn.model_selection.GridSearchCV` (its
            ``best_estimator_``).

        X : array-like of shape (n_samples, n_features) or sequence of str
            Test inputs.

        y : array-like of shape (n_samples,)
            True labels.

        name : str, default=None
            Legend entry; ``None`` means the class name with ``k`` and, where
            they differ from the defaults, ``spread`` and the voting rule
            (``"DPAClassifier (k=50)"``, ``"DPAClassifier (k=50, spread=16,
            run-off)"``).

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes.

        plot_clean_accuracy : bool, default=True
            Draw a dashed horizontal line at the clean accuracy.

        clean_accuracy_kw : dict, default=None
            Keyword arguments for the clean-accuracy line.

        **kwargs : dict
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot`; a
            ``label`` here takes precedence over ``name``.

        Returns
        -------
        display : CertifiedAccuracyDisplay
            The drawn display; the x axis says what the radius counts
            (insertions, removals and relabellings for DPA, label flips for
            SS-DPA).

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sklearn.datasets import load_digits
        >>> from skdpa import DPAClassifier
        >>> from skdpa.plotting import CertifiedAccuracyDisplay
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = DPAClassifier(k=10, random_state=0).fit(X[:1000], y[:1000])
        >>> display = CertifiedAccuracyDisplay.from_estimator(clf, X[1000:], y[1000:])
        >>> display.line_.get_label()
        'DPAClassifier (k=10)'
        >>> display.ax_.get_xlabel()
        'Attack size (training samples inserted, removed or relabelled)'
        """
        final, X_final = _certifying_step(estimator, X)
        y_pred, radius = final.predict_certified(X_final)
        return cls.from_predictions(
            y,
            y_pred,
            radius,
            name=_estimator_name(final) if name is None else name,
            xlabel=_attack_xlabel(final),
            ax=ax,
            plot_clean_accuracy=plot_clean_accuracy,
            clean_accuracy_kw=clean_accuracy_kw,
            **kwargs,
        )


# ---------------------------------------------------------------------------
# Certified regression


class CertifiedCoverageDisplay:
    """Certified coverage of a regressor as a function of attack size.

    The step curve shows, for each attack size ``b``, the share of test
    samples whose every reachable prediction stays within ``tolerance`` of the
    truth (:func:`skdpa.metrics.certified_coverage` of
    ``predict_interval(X, b)``); a dashed line in the same colour marks the
    clean coverage (``|y_pred - y_true| <= tolerance``), as
    :class:`CertifiedAccuracyDisplay` does for classifiers.

    Create it with :meth:`from_estimator` or :meth:`from_predictions`; the
    constructor only stores its arguments, and :meth:`plot` draws them.

    Parameters
    ----------
    budgets : ndarray of shape (n_budgets,)
        Attack sizes, increasing.
    certified_coverage : ndarray of shape (n_budgets,)
        Certified coverage at each budget.
    clean_coverage : float
        Coverage of the predictions themselves (budget 0).
    tolerance : float
        The tolerance the coverage was computed at (for the axis label).
    name : str, default=None
        Legend entry of the curve. ``None`` draws no legend entry.
    xlabel : str, default=None
        Label of the x axis; ``None`` means a generic "Attack size" label.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The certified coverage curve.
    clean_coverage_line_ : matplotlib Line2D or None
        The dashed clean-coverage line, ``None`` when not drawn.
    ax_ : matplotlib Axes
        Axes with the curve.
    figure_ : matplotlib Figure
        Figure containing the curve.

    See Also
    --------
    skdpa.metrics.certified_coverage_curve : The values on the curve.
    skdpa.metrics.certified_error_curve : The certified error per attack size.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdpa.plotting import CertifiedCoverageDisplay
    >>> outputs = np.array([[9.0, 10.0, 11.0, 13.0, 20.0], [0.0, 5.0, 6.0, 7.0, 8.0]])
    >>> display = CertifiedCoverageDisplay.from_predictions(
    ...     [10.0, 6.0], outputs, tolerance=2.0, name="k=5")
    >>> display.certified_coverage
    array([1. , 0.5, 0. ])
    >>> display.line_.get_label(), display.ax_.get_ylabel()
    ('k=5', 'Certified coverage (|error| <= 2)')
    """

    def __init__(
        self,
        *,
        budgets,
        certified_coverage,
        clean_coverage,
        tolerance,
        name=None,
        xlabel=None,
    ):
        self.budgets = budgets
        self.certified_coverage = certified_coverage
        self.clean_coverage = clean_coverage
        self.tolerance = tolerance
        self.name = name
        self.xlabel = xlabel

    def plot(
        self,
        ax=None,
        *,
        name=None,
        plot_clean_coverage=True,
        clean_coverage_kw=None,
        **kwargs,
    ):
        """Draw the curve (and the clean-coverage line).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes.
        name : str, default=None
            Legend entry; ``None`` uses the ``name`` given at construction.
        plot_clean_coverage : bool, default=True
            Draw a dashed horizontal line at the clean coverage.
        clean_coverage_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.axhline`.
        **kwargs : dict
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot`; a
            ``label`` here takes precedence over ``name``.

        Returns
        -------
        display : CertifiedCoverageDisplay
        """
        self.line_, self.clean_coverage_line_ = _draw_curve(
            self,
            "CertifiedCoverageDisplay.plot",
            ax,
            name,
            self.certified_coverage,
            f"Certified coverage (|error| <= {self.tolerance:.4g})",
            self.clean_coverage if plot_clean_coverage else None,
            clean_coverage_kw,
            kwargs,
        )
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        member_predictions,
        *,
        tolerance,
        shifts=None,
        name=None,
        xlabel=None,
        ax=None,
        plot_clean_coverage=True,
        clean_coverage_kw=None,
        **kwargs,
    ):
        """Plot certified coverage from stored member outputs.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True targets.
        member_predictions : array-like of shape (n_samples, n_members)
            ``est.member_predictions(X)``; NaN where a member abstains.
        tolerance : float
            Largest acceptable absolute error, ``>= 0``.
        shifts : array-like of int, default=None
            ``est.shifts_`` for finite aggregation.
        name, xlabel, ax, plot_clean_coverage, clean_coverage_kw, **kwargs
            As in :meth:`plot`.

        Returns
        -------
        display : CertifiedCoverageDisplay
            The curve runs from budget 0 to the first budget where the
            coverage is 0.
        """
        from .metrics import certified_coverage_curve

        values = np.asarray(member_predictions, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(
                "member_predictions must be 2-D (n_samples, n_members); got an "
                f"array of shape {values.shape}."
            )
        spread = 1 if shifts is None else len(shifts)
        scores = []
        for b in range(values.shape[1] // spread + 1):
            scores.append(
                certified_coverage_curve(y_true, values, b, tolerance, shifts=shifts)
            )
            if scores[-1] == 0:
                break
        display = cls(
            budgets=np.arange(len(scores)),
            certified_coverage=np.array(scores),
            clean_coverage=float(scores[0]),
            tolerance=float(tolerance),
            name=name,
            xlabel=xlabel,
        )
        return display.plot(
            ax=ax,
            plot_clean_coverage=plot_clean_coverage,
            clean_coverage_kw=clean_coverage_kw,
            **kwargs,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        tolerance,
        name=None,
        ax=None,
        plot_clean_coverage=True,
        clean_coverage_kw=None,
        **kwargs,
    ):
        """Plot certified coverage of a fitted certified regressor on test data.

        Calls ``estimator.member_predictions(X)`` once.

        Parameters
        ----------
        estimator : DPARegressor or SSDPARegressor
            Fitted.
        X : array-like of shape (n_samples, n_features)
            Test inputs.
        y : array-like of shape (n_samples,)
            True targets.
        tolerance : float
            Largest acceptable absolute error, ``>= 0``.
        name : str, default=None
            Legend entry; ``None`` means the class name with ``k`` (and
            ``spread``).
        ax, plot_clean_coverage, clean_coverage_kw, **kwargs
            As in :meth:`plot`.

        Returns
        -------
        display : CertifiedCoverageDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sklearn.datasets import load_diabetes
        >>> from skdpa import DPARegressor
        >>> from skdpa.plotting import CertifiedCoverageDisplay
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = DPARegressor(k=15, random_state=0).fit(X[:350], y[:350])
        >>> d = CertifiedCoverageDisplay.from_estimator(reg, X[350:], y[350:],
        ...                                             tolerance=60.0)
        >>> d.line_.get_label()
        'DPARegressor (k=15)'
        >>> d.ax_.get_xlabel()
        'Attack size (training samples inserted, removed or re-targeted)'
        """
        if not hasattr(estimator, "member_predictions") or not hasattr(
            estimator, "predict_interval"
        ):
            raise TypeError(
                "estimator must be a fitted certified regressor (DPARegressor, "
                f"SSDPARegressor); got {type(estimator).__name__}."
            )
        shifts = getattr(estimator, "shifts_", None)
        if shifts is not None and len(shifts) == 1:
            shifts = None
        if name is None:
            name = _estimator_name(estimator).replace(", median", "")
        return cls.from_predictions(
            y,
            estimator.member_predictions(X),
            tolerance=tolerance,
            shifts=shifts,
            name=name,
            xlabel=_attack_xlabel(estimator),
            ax=ax,
            plot_clean_coverage=plot_clean_coverage,
            clean_coverage_kw=clean_coverage_kw,
            **kwargs,
        )
