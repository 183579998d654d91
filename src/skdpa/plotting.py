"""Certified accuracy against attack size, in scikit-learn's Display style.

matplotlib is an optional dependency (``pip install "scikit-dpa[plot]"``); it is
imported only when something is drawn.
"""

import numpy as np

from .metrics import _check_targets, certified_accuracy

__all__ = ["CertifiedAccuracyDisplay"]

_GENERIC_XLABEL = "Attack size (poisoned training samples)"


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
    """Axis label saying what the estimator's radius counts."""
    from ._dpa import DPAClassifier
    from ._ssdpa import SSDPAClassifier

    if isinstance(estimator, SSDPAClassifier):
        return "Attack size (training labels flipped)"
    if isinstance(estimator, DPAClassifier):
        return "Attack size (training samples inserted, removed or relabelled)"
    return _GENERIC_XLABEL


class CertifiedAccuracyDisplay:
    """Certified accuracy as a function of attack size.

    The step curve shows, for each attack size ``b`` (a number of poisoned
    training samples), the fraction of test samples that are correct *and*
    certified at ``b``; a dashed line in the same colour marks the clean
    accuracy, as in the figures of Levine & Feizi (ICLR 2021). Draw several
    displays on one axes (``ax=``) to compare values of ``k``.

    Create it with :meth:`from_estimator` or :meth:`from_predictions`; the
    constructor only stores its arguments, and :meth:`plot` draws them.

    Parameters
    ----------
    budgets : ndarray of shape (n_budgets,)
        Attack sizes, increasing.

    certified_accuracy : ndarray of shape (n_budgets,)
        Certified accuracy at each budget.

    clean_accuracy : float
        Accuracy of the predictions (certified accuracy at budget 0).

    label : str, default=None
        Legend entry of the curve. ``None`` draws no legend entry.

    xlabel : str, default=None
        Label of the x axis; ``None`` means a generic "Attack size" label.

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
    ...     label="k=10")
    >>> display.certified_accuracy
    array([0.75, 0.5 , 0.25, 0.25, 0.  ])
    >>> display.clean_accuracy
    0.75
    """

    def __init__(
        self, *, budgets, certified_accuracy, clean_accuracy, label=None, xlabel=None
    ):
        self.budgets = budgets
        self.certified_accuracy = certified_accuracy
        self.clean_accuracy = clean_accuracy
        self.label = label
        self.xlabel = xlabel

    def plot(
        self,
        ax=None,
        *,
        label=None,
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

        label : str, default=None
            Legend entry; overrides the ``label`` given at construction.

        plot_clean_accuracy : bool, default=True
            Draw a dashed horizontal line at the clean accuracy.

        clean_accuracy_kw : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.axhline` drawing
            the clean-accuracy line (default: dashed, the curve's colour).

        **kwargs : dict
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot` drawing the
            curve.

        Returns
        -------
        display : CertifiedAccuracyDisplay
            Object that stores the computed values and the drawn artists.
        """
        plt = _import_pyplot("CertifiedAccuracyDisplay.plot")
        if ax is None:
            _, ax = plt.subplots()
        label = self.label if label is None else label

        line_kw = {"drawstyle": "steps-post"}
        if label is not None:
            line_kw["label"] = label
        line_kw.update(kwargs)
        (self.line_,) = ax.plot(self.budgets, self.certified_accuracy, **line_kw)
        # The curve starts at budget 0: no margin left of it, while the axes
        # keep autoscaling to the right for curves added later (larger k).
        self.line_.sticky_edges.x.append(0)

        if plot_clean_accuracy:
            clean_kw = {"linestyle": "--", "color": self.line_.get_color()}
            clean_kw.update(clean_accuracy_kw or {})
            self.clean_accuracy_line_ = ax.axhline(self.clean_accuracy, **clean_kw)
        else:
            self.clean_accuracy_line_ = None

        ax.set_xlabel(self.xlabel if self.xlabel is not None else _GENERIC_XLABEL)
        ax.set_ylabel("Certified accuracy")
        ax.set_ylim(-0.01, 1.01)
        if label is not None:
            ax.legend(loc="best")

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_pred,
        radius,
        *,
        label=None,
        xlabel=None,
        ax=None,
        plot_clean_accuracy=True,
        clean_accuracy_kw=None,
        **kwargs,
    ):
        """Plot certified accuracy from stored predictions and radii.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.

        y_pred : array-like of shape (n_samples,)
            Predicted labels, the first output of ``predict_certified``.

        radius : array-like of shape (n_samples,)
            Certified radii, the second output of ``predict_certified``.

        label : str, default=None
            Legend entry of the curve.

        xlabel : str, default=None
            Label of the x axis; ``None`` means a generic "Attack size" label.

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes.

        plot_clean_accuracy : bool, default=True
            Draw a dashed horizontal line at the clean accuracy.

        clean_accuracy_kw : dict, default=None
            Keyword arguments for the clean-accuracy line.

        **kwargs : dict
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot`.

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
            label=label,
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
        label=None,
        ax=None,
        plot_clean_accuracy=True,
        clean_accuracy_kw=None,
        **kwargs,
    ):
        """Plot certified accuracy of a fitted estimator on test data.

        Calls ``estimator.predict_certified(X)`` once.

        Parameters
        ----------
        estimator : estimator instance
            Fitted :class:`~skdpa.DPAClassifier`, :class:`~skdpa.SSDPAClassifier`
            or any classifier with ``predict_certified(X) -> (y_pred, radius)``.

        X : array-like of shape (n_samples, n_features) or sequence of str
            Test inputs.

        y : array-like of shape (n_samples,)
            True labels.

        label : str, default=None
            Legend entry; ``None`` means the class name and ``k``
            (``"DPAClassifier (k=50)"``).

        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` creates a new figure and axes.

        plot_clean_accuracy : bool, default=True
            Draw a dashed horizontal line at the clean accuracy.

        clean_accuracy_kw : dict, default=None
            Keyword arguments for the clean-accuracy line.

        **kwargs : dict
            Keyword arguments for :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : CertifiedAccuracyDisplay
            The drawn display; the x axis says what the radius counts
            (insertions and removals for DPA, label flips for SS-DPA).

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
        """
        if not hasattr(estimator, "predict_certified"):
            raise TypeError(
                "estimator must have a predict_certified method (a fitted "
                f"DPAClassifier or SSDPAClassifier); got {type(estimator).__name__}."
            )
        if label is None:
            label = type(estimator).__name__
            k = getattr(estimator, "k", None)
            if k is not None:
                label = f"{label} (k={k})"
        y_pred, radius = estimator.predict_certified(X)
        return cls.from_predictions(
            y,
            y_pred,
            radius,
            label=label,
            xlabel=_attack_xlabel(estimator),
            ax=ax,
            plot_clean_accuracy=plot_clean_accuracy,
            clean_accuracy_kw=clean_accuracy_kw,
            **kwargs,
        )
