"""Linear members with proven costs: a ridge classifier that keeps its rows.

:class:`sklearn.linear_model.RidgeClassifier` keeps only its coefficients, so
nothing can say afterwards how many label edits would turn it.
:class:`RidgeClassifier` here predicts exactly as scikit-learn's (it fits the
same :class:`~sklearn.linear_model.Ridge` on the same targets) and keeps the
rows and the regularised Gram matrix its costs need: its class scores are
linear in the labels, ``s(q) = w(q)^T T``, so the label edits that turn it can
be counted (:meth:`RidgeClassifier.flip_costs`, proofs on the theory page,
:ref:`member-costs`).

Rows labelled ``-1`` are unlabeled: they stay in the fit with an all-zero
target row, so a label given to one, or taken from a labelled row, is a
linear change of the targets like any class flip. With
``SSDPAClassifier(RidgeClassifier(), pass_unlabeled=True)`` every member is
fit on every row, labels hidden outside its partition, and SS-DPA's whole
threat model (class flips and edits to and from ``-1``) is covered.
"""

import threading
import weakref
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._persistence import ParamDefaultsOnLoad
from .member_costs import _checked_editable, _checked_n_classes, _label_budget
from .semi_supervised import _digest, _labeled_rows

__all__ = ["RidgeClassifier"]

# queries per block of influences (a block holds block * n_rows floats)
_BLOCK_ITEMS = 1 << 22


# Fit rows shared by the members of this process: k members fit on the same
# rows (SSDPAClassifier with pass_unlabeled=True) hold one read-only array,
# not k copies. Keyed by a digest of the rows and checked equal before it is
# shared, so an entry only ever stands for equal rows (a loaded file cannot
# make a member read another's rows); an entry lives while a member holds it.
_rows_lock = threading.Lock()
_rows = weakref.WeakValueDictionary()


def _shared_rows(X, owned):
    """A read-only array equal to ``X``, shared with every member of this
    process fit on equal rows; ``owned``: whether ``X`` may be kept as it is
    (not the caller's array)."""
    X = np.ascontiguousarray(X)
    key = _digest(X)  # of the values, shape and dtype
    with _rows_lock:
        hit = _rows.get(key)
        if hit is not None and np.array_equal(hit, X):
            return hit
        kept = X if owned else X.copy()
        kept.setflags(write=False)
        _rows[key] = kept
        return kept


class RidgeClassifier(ParamDefaultsOnLoad, ClassifierMixin, BaseEstimator):
    """Ridge classifier whose label-flip costs are proven (SS-DPA members).

    Predicts as :class:`sklearn.linear_model.RidgeClassifier` with the same
    ``alpha`` and ``fit_intercept`` (targets ``+1`` for a row's class and
    ``-1`` for the others, one column for two classes, a least-squares fit
    with an L2 penalty, the largest score wins, ties to the smaller class),
    and keeps its training rows so that :meth:`flip_costs` can count the label
    edits that turn it. Rows labelled ``-1`` are unlabeled: they stay in the
    fit with a zero target (they move the Gram matrix, not the scores' sign
    conventions), which keeps every score linear in the labels. Without
    ``-1`` rows the fit is scikit-learn's.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the L2 penalty (scikit-learn's ``alpha``). ``alpha=0``
        needs features of full column rank for :meth:`flip_costs`.
    fit_intercept : bool, default=True
        Fit an intercept (center the features and targets), as scikit-learn.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Classes seen among the labelled rows.
    coef_ : ndarray of shape (n_features,) or (n_classes, n_features)
        Coefficients of the decision function (scikit-learn's layout: one
        row of them with one or two classes).
    intercept_ : float or ndarray of shape (n_classes,)
        Intercepts (0.0 with ``fit_intercept=False``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.linear_model.RidgeClassifier : The same predictions, no costs.
    skdpa.semi_supervised.KNNLabelSpreading : Label spreading with costs.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.linear_model import RidgeClassifier
    >>> X = np.array([[0.0], [0.1], [0.2], [0.3], [1.0], [1.1], [1.2], [1.3]])
    >>> member = RidgeClassifier(alpha=0.1).fit(X, [0, 0, 0, -1, 1, 1, 1, -1])
    >>> member.predict([[0.1], [1.2]])
    array([0, 1])
    >>> member.flip_costs([[0.1], [1.2]], n_classes=2)
    array([[0., 2., 6.],
           [2., 0., 6.]])

    Turning either query takes two label edits (of the labelled rows or the
    unlabeled ones); leaving the member without a label (it then abstains)
    takes all six.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
    }
    # flip_costs count a tie as reached wherever the tied class sorts, so its
    # cost for a class index after every class holds for a new label first
    _costs_count_ties = True
    # flip_costs price edits of the rows it was fit on (a graph or Gram matrix
    # over them): SSDPAClassifier must give it every row (pass_unlabeled=True)
    _flip_costs_need_unlabeled_rows = True

    def __init__(self, alpha=1.0, *, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit on every row; rows labelled ``-1`` enter with a zero target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Labels; ``-1`` marks an unlabeled row. At least one row needs a
            label.

        Returns
        -------
        self : RidgeClassifier
            The fitted member.
        """
        given = X
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        y = column_or_1d(y, warn=True)
        labeled = _labeled_rows(y)
        check_classification_targets(y[labeled])
        self.classes_, codes = np.unique(y[labeled], return_inverse=True)
        n_seen = len(self.classes_)
        targets = np.zeros((len(y), 1 if n_seen <= 2 else n_seen))
        if n_seen <= 2:
            targets[labeled, 0] = np.where(codes == n_seen - 1, 1.0, -1.0)
        else:
            targets[labeled] = -1.0
            targets[np.flatnonzero(labeled), codes] = 1.0
        ridge = Ridge(alpha=self.alpha, fit_intercept=self.fit_intercept)
        ridge.fit(X, targets)
        # scikit-learn's layout: one target column gives 1-d coefficients
        self.coef_ = ridge.coef_
        self.intercept_ = ridge.intercept_
        # what flip_costs needs: the rows, their mean and the penalised Gram
        # the caller's own array is copied: changing it later must not change
        # what the costs read
        shared = isinstance(given, np.ndarray) and np.shares_memory(X, given)
        self._X_fit = _shared_rows(X, owned=not shared)
        self._labels = np.where(labeled, 0, -1)
        self._labels[labeled] = codes
        self._x_mean = X.mean(axis=0) if self.fit_intercept else np.zeros(X.shape[1])
        centered = X - self._x_mean
        gram = centered.T @ centered + self.alpha * np.eye(X.shape[1])
        eig = np.linalg.eigvalsh(gram) if X.shape[1] else np.ones(1)
        self._gram_cond = float(eig.max() / eig.min()) if eig.min() > 0 else np.inf
        self._gram = gram
        return self

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_X_fit" in self.__dict__:
            # members unpickled from workers or a file share equal rows again
            self._X_fit = _shared_rows(self._X_fit, owned=True)

    def decision_function(self, X):
        """Class scores, as scikit-learn's ``RidgeClassifier``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column (positive: ``classes_[1]``) with two classes or one.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        scores = X @ np.atleast_2d(self.coef_).T + np.atleast_1d(self.intercept_)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Class of the largest score (ties to the smaller class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted classes.
        """
        scores = self.decision_function(X)
        if len(self.classes_) == 1:
            return np.full(len(scores), self.classes_[0])
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _influences(self, X, cols):
        """``w(q)[cols]``: the weight of each fit row's target on each query's
        scores (``s(q) = w(q)^T T``, the intercept folded in)."""
        query = (X - self._x_mean) @ np.linalg.solve(
            self._gram, (self._X_fit[cols] - self._x_mean).T
        )
        if self.fit_intercept:
            query += 1.0 / len(self._X_fit)
        return query

    def flip_costs(self, X, n_classes, editable=None):
        """Fewest label edits that can turn this member, per row and class.

        A query's scores are ``s_c = 2 W_c - W`` (one column ``W_1 - W_0``
        with two classes), where ``W_c = sum of w_i over rows labelled c``,
        ``W`` the sum over every labelled row and ``w = w(q)`` the influence
        of each training row (of either sign): the member outputs the class
        of largest ``W_c`` among the classes it has a label of. To output
        ``c`` instead of the current ``p`` while ``p`` keeps a label, the
        margin ``W_p - W_c`` must close; editing row ``i`` closes at most
        ``2 max(w_i, 0)`` if it is labelled ``p``, ``2 max(-w_i, 0)`` if
        labelled ``c``, and ``|w_i|`` otherwise (``-1`` or another class), so
        the fewest edits are found by taking those gains largest first (exact
        for the pairwise margin). The other way is to take every label of
        ``p`` (their number). The cost is the smaller, at least 1: a lower
        bound, exact when the member has labels of exactly two classes and
        ``c`` is one of them. Margins are compared with a tolerance that
        grows with the Gram matrix's condition number (at least ``1e-6``
        times the sum of ``|w_i|``), which can only lower a cost; so is a
        tie, wherever the tied class sorts. Abstaining (no label left: the
        ensembles then give the member no vote) costs every label, or
        ``inf`` when a labelled row is not editable.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to price.
        n_classes : int
            Classes of the ensemble; the member was fit on class indices
            below it.
        editable : array-like of bool of shape (n_fit_rows,) or None, \
default=None
            True for the rows (in the order fit saw them) whose labels count
            against this member (its own partition); None: every row. Rows
            that are not in the fit cannot be priced: fit the member on its
            partition's unlabeled rows too (``pass_unlabeled=True``).

        Returns
        -------
        costs : ndarray of shape (n_samples, n_classes + 1)
            Column ``c``: a lower bound on the edits that make the member
            output class index ``c``; last column: abstain. 0 at its output.

        Raises
        ------
        ValueError
            If ``n_classes`` does not cover the member's classes, ``editable``
            has the wrong shape, or ``alpha=0`` with rank-deficient features
            (the fit is then not a function of the labels alone).

        Examples
        --------
        >>> import numpy as np
        >>> from skdpa.linear_model import RidgeClassifier
        >>> X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
        >>> member = RidgeClassifier().fit(X, [0, 0, 0, 1, 1, 2])
        >>> member.flip_costs([[0.0]], n_classes=3)
        array([[0., 2., 2., 6.]])
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        seen = _checked_n_classes(self.classes_, n_classes)
        if not np.isfinite(self._gram_cond):
            raise ValueError(
                "flip_costs needs alpha > 0 or features of full column rank; got "
                f"alpha={self.alpha!r} with a singular Gram matrix."
            )
        editable = _checked_editable(editable, len(self._X_fit))
        labels = np.where(self._labels >= 0, seen[np.maximum(self._labels, 0)], -1)
        labeled = labels >= 0
        remove, abstain = _label_budget(labels, editable, n_classes)
        q = len(X)
        costs = np.empty((q, n_classes + 1))
        costs[:, n_classes] = abstain
        if q == 0:
            return costs
        # columns that matter: labelled rows (the scores) and editable rows
        cols = np.flatnonzero(labeled | editable)
        col_labels = labels[cols]
        col_edit = editable[cols]
        onehot = np.zeros((len(cols), n_classes))
        onehot[col_labels >= 0, col_labels[col_labels >= 0]] = 1.0
        current_all = self.predict(X).astype(np.int64)
        raw_all = self.decision_function(X)
        rel = max(1e-6, 1e3 * np.finfo(float).eps * self._gram_cond)
        step = max(1, _BLOCK_ITEMS // max(1, len(cols)))
        for start in range(0, q, step):
            stop = min(q, start + step)
            rows = np.arange(stop - start)
            w = self._influences(X[start:stop], cols)
            current = current_all[start:stop]
            W = w @ onehot  # (block, n_classes)
            tol = rel * (
                np.abs(w).sum(axis=1)
                + np.abs(raw_all[start:stop]).reshape(stop - start, -1).max(axis=1)
            )
            margin_s = self._score_margins(raw_all[start:stop], current, n_classes)
            we = w[:, col_edit]
            le = col_labels[col_edit]
            for c in range(n_classes):
                margin = W[rows, current] - W[:, c]
                margin = np.minimum(margin, margin_s[:, c])
                need = margin - tol
                gain = np.where(
                    le[None, :] == current[:, None],
                    2.0 * np.maximum(we, 0.0),
                    np.where(le[None, :] == c, 2.0 * np.maximum(-we, 0.0), np.abs(we)),
                )
                gain = -np.sort(-gain, axis=1)
                reach = np.cumsum(gain, axis=1)
                total = reach[:, -1] if reach.shape[1] else np.zeros(len(need))
                t = (reach < need[:, None]).sum(axis=1) + 1.0
                t[need <= 0] = 0.0
                t[total < need] = np.inf
                t = np.minimum(t, remove[current])
                costs[start:stop, c] = np.maximum(t, 1.0)
            costs[start + rows, current] = 0.0
        return costs

    def _score_margins(self, raw, current, n_classes):
        """``W_p - W_c`` read from the member's own scores where they tell it
        (both classes seen), ``inf`` elsewhere: the costs use the smaller of
        this and the influences' margin, so rounding can only lower them."""
        seen = np.asarray(self.classes_)
        n = len(current)
        out = np.full((n, n_classes), np.inf)
        if len(seen) == 2:
            # one column: W_b - W_a, b = seen[1]
            sign = np.where(current == seen[1], 1.0, -1.0)
            out[:, seen[0]] = np.where(current == seen[1], sign * raw, np.inf)
            out[:, seen[1]] = np.where(current == seen[0], sign * raw, np.inf)
        elif len(seen) > 2:
            at = np.searchsorted(seen, current)
            own = raw[np.arange(n), at]
            out[:, seen] = (own[:, None] - raw) / 2.0
        return out

    def poison_costs(self, X, n_classes):
        """Costs of insertions and removals (DPA): one sample for any class.

        One inserted row can move a least-squares fit arbitrarily far (its
        features are the attacker's), so no class is proven to cost more than
        one sample. Abstaining needs every labelled row removed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to price.
        n_classes : int
            Classes of the ensemble.

        Returns
        -------
        costs : ndarray of shape (n_samples, n_classes + 1)
            1 for every class but the current output (0); the last column:
            the member's labelled rows.

        Examples
        --------
        >>> import numpy as np
        >>> from skdpa.linear_model import RidgeClassifier
        >>> member = RidgeClassifier().fit([[0.0], [1.0], [2.0]], [0, 1, 1])
        >>> member.poison_costs([[2.0]], n_classes=2)
        array([[1., 0., 3.]])
        """
        check_is_fitted(self)
        pred = self.predict(X)
        costs = np.ones((len(pred), n_classes + 1))
        costs[:, n_classes] = int((self._labels >= 0).sum())
        costs[np.arange(len(pred)), pred.astype(np.int64)] = 0.0
        return costs
