"""DPA*: one member made of several seeded runs on the same partition."""

from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._tags import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._members import involves_torch, set_random_states
from ._persistence import ParamDefaultsOnLoad

__all__ = ["MultiSeedClassifier"]


def _run_seeds(random_state, n_seeds):
    """Seeds of the runs: from (random_state, r), or r when it is None."""
    if random_state is None:
        return [int(r) for r in range(n_seeds)]
    if not isinstance(random_state, Integral):
        random_state = int(check_random_state(random_state).randint(2**31 - 1))
    return [
        int(np.random.SeedSequence([int(random_state), r]).generate_state(1)[0])
        for r in range(n_seeds)
    ]


def _fit_run(estimator, X, y, seed, fit_params):
    set_random_states(estimator, seed)
    if involves_torch(estimator):
        # torch generators seeded (and restored) around this run alone
        from .torch._seeding import seeded_fit

        return seeded_fit(estimator, X, y, seed, fit_params, n_threads=None)
    return estimator.fit(X, y, **fit_params)


class MultiSeedClassifier(
    ParamDefaultsOnLoad, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Several seeded runs of one classifier on the same data, outputs summed.

    The DPA* member of Rezaei et al. (ICML 2023): instead of one network per
    partition, train ``n_seeds`` copies with different seeds (initialisation,
    batch order, augmentation) and add their outputs. The member stays a
    deterministic function of its data and its own ``random_state``, from
    which every run's seed is derived, so the partition ensembles' certificates
    hold unchanged; :class:`~skdpa.DPAClassifier` and
    :class:`~skdpa.SSDPAClassifier` set that ``random_state`` per member.

    Parameters
    ----------
    estimator : classifier
        Cloned once per run; must have ``predict_proba``. Every
        ``random_state`` parameter of a run (nested ones included) is set
        from the run's seed; torch-based runs are also fit inside
        :func:`skdpa.torch.seeded_torch` with that seed.
    n_seeds : int, default=5
        Number of runs.
    combine : {"log_proba", "proba"}, default="log_proba"
        ``"log_proba"`` adds the runs' log-probabilities. For networks with a
        softmax output this picks the same class as adding their logits
        (``log softmax(z) = z - logsumexp(z)``, and the subtracted term does
        not depend on the class), which is what DPA* does. ``"proba"``
        averages the probabilities.
    random_state : int, RandomState instance or None, default=None
        Seed the runs' seeds are derived from (run ``r`` gets ``r`` when
        None).

    Attributes
    ----------
    estimators_ : list of length n_seeds
        The fitted runs.
    seeds_ : list of int
        Seed of each run.
    classes_ : ndarray of shape (n_classes,)
        Label of each column of ``predict_proba``: the runs' ``classes_``, or
        the column indices when a run outputs more columns than it saw classes
        (as a :class:`skorch.NeuralNetClassifier` member whose partition
        misses some classes does; its ``predict`` returns column indices).

    See Also
    --------
    skdpa.DPAClassifier : the ensemble these members are meant for.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skdpa import MultiSeedClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MultiSeedClassifier(SGDClassifier(loss="log_loss"), n_seeds=3,
    ...                           random_state=0).fit(X, y)
    >>> len(set(clf.seeds_)), clf.predict_proba(X[:2]).shape
    (3, (2, 3))
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "n_seeds": [Interval(Integral, 1, None, closed="left")],
        "combine": [StrOptions({"log_proba", "proba"})],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, n_seeds=5, *, combine="log_proba", random_state=None):
        self.estimator = estimator
        self.n_seeds = n_seeds
        self.combine = combine
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator).input_tags
        tags.input_tags.allow_nan = inner.allow_nan
        tags.input_tags.sparse = inner.sparse
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit ``n_seeds`` clones of the estimator on the same data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, passed to every run as it is.
        y : array-like of shape (n_samples,)
            Labels.
        **fit_params : dict
            Passed to every run's ``fit``.

        Returns
        -------
        self : MultiSeedClassifier
            The fitted classifier.
        """
        X, y = self._check_data(X, y, fitting=True)
        self.seeds_ = _run_seeds(self.random_state, self.n_seeds)
        self.estimators_ = [
            _fit_run(clone(self.estimator), X, y, seed, fit_params)
            for seed in self.seeds_
        ]
        first = self.estimators_[0]
        labels = np.asarray(getattr(first, "classes_", np.unique(y)))
        n_columns = np.shape(first.predict_proba(_safe_indexing(X, [0])))[1]
        # a skorch net whose partition missed classes still outputs one column
        # per global class, and its predict returns column indices
        self.classes_ = labels if len(labels) == n_columns else np.arange(n_columns)
        return self

    def _check_data(self, X, y, fitting):
        """Validate as the runs' tags allow; dtypes (float32 for torch) are kept."""
        inner = get_tags(self.estimator).input_tags
        kwargs = dict(
            accept_sparse=["csr", "csc"] if inner.sparse else False,
            dtype=None,
            ensure_all_finite="allow-nan" if inner.allow_nan else True,
        )
        if not fitting:
            return validate_data(self, X, reset=False, **kwargs)
        X, y = validate_data(self, X, y, **kwargs)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return X, y

    def _combined(self, X):
        """(column labels, combined scores: summed log-proba or mean proba)."""
        check_is_fitted(self)
        X = self._check_data(X, None, fitting=False)
        tiny = np.finfo(np.float64).tiny
        total = None
        for run in self.estimators_:
            proba = np.asarray(run.predict_proba(X), dtype=np.float64)
            part = (
                np.log(np.maximum(proba, tiny))
                if self.combine == "log_proba"
                else proba
            )
            total = part if total is None else total + part
        return self.classes_, total

    def predict_proba(self, X):
        """Combined class probabilities of the runs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_columns)
            ``"proba"``: the mean of the runs' probabilities. ``"log_proba"``:
            the softmax of the mean log-probability (normalised geometric
            mean), whose largest entry is the class :meth:`predict` returns.
        """
        _, total = self._combined(X)
        if self.combine == "proba":
            return total / len(self.estimators_)
        mean = total / len(self.estimators_)
        mean -= mean.max(axis=1, keepdims=True)
        proba = np.exp(mean)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Class with the largest combined score (ties to the first column).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        labels, total = self._combined(X)
        return labels[np.argmax(total, axis=1)]
