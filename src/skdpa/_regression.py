"""Certified regression: partition ensembles that predict the median of their members.

Data flows as in the classifiers: validate -> partition (the same partitioners,
hashers and canonical order) -> plan (rows, seeds, fingerprints per member) ->
engine (:func:`skdpa._engine.fit_members`) -> member outputs -> aggregate. The
aggregate is the median (:func:`skdpa.certify.median_prediction`) and the
certificate an interval of order statistics (:func:`skdpa.certify.median_interval`).

The fit flow, validation, parameters, seeds and warm start are
:class:`~skdpa._ensemble.PartitionEnsemble`'s, shared with the classifiers;
:class:`DPARegressor` partitions as :class:`~skdpa.DPAClassifier` does
(:class:`~skdpa._ensemble.HashPartitionMixin`) and :class:`SSDPARegressor` as
:class:`~skdpa.SSDPAClassifier` (:class:`~skdpa._ensemble.EmbeddingPartitionMixin`).
What is the regressors' own: float targets (NaN hidden or missing, no
single-class shortcut: every non-empty member is fit, its fingerprint covers
its targets exactly), the median and its certificate.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.base import RegressorMixin, _fit_context, is_classifier
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import column_or_1d

from . import certify
from ._ensemble import (
    _CHUNK_ITEMS,
    EmbeddingPartitionMixin,
    HashPartitionMixin,
    PartitionEnsemble,
    in_chunks,
    restored_on_error,
)
from ._members import num_rows as _num_rows

__all__ = ["DPARegressor", "SSDPARegressor", "RegressionCertificate"]


@dataclass(frozen=True)
class RegressionCertificate:
    """What a regression certificate promises, for one fitted ensemble.

    ``str(certificate)`` is a sentence that states the rule and the threat
    model.

    Attributes
    ----------
    threat_model : str
        What the attacker may do to at most ``radius`` training samples.
    k : int
        Number of partitions.
    n_voting : int
        Members fit on a non-empty partition; the others abstain.
    spread : int
        Members each training sample trains (1 for DPA).
    n_members : int
        Number of members, ``k * spread``.
    max_radius : int
        Largest radius with a bounded interval, ``((n_voting - 1) // 2) //
        spread``: beyond it the attacker controls half the members.
    rule : str
        ``"median"``.
    attack_unit : str
        What one unit of radius is, for axis labels.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skdpa import DPARegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> cert = DPARegressor(k=9).fit(X, y).certificate_
    >>> cert.n_voting, cert.max_radius, cert.rule
    (9, 4, 'median')
    >>> str(cert).startswith("Median certificate: after inserting, removing")
    True
    """

    threat_model: str
    k: int
    n_voting: int
    spread: int
    n_members: int
    max_radius: int
    rule: str = "median"
    attack_unit: str = "training samples"

    def __str__(self):
        layout = f"k={self.k} partitions"
        if self.spread > 1:
            layout += f", spread {self.spread} ({self.n_members} members)"
        return (
            "Median certificate: after "
            f"{self.threat_model} at most r training samples, the prediction "
            "lies in predict_interval(X, r), between order statistics of the "
            f"members' outputs ({layout}, {self.n_voting} voting; the interval "
            f"is bounded up to r={self.max_radius}). predict_certified(X, "
            "tolerance) gives the largest r whose interval stays within the "
            "tolerance of the prediction."
        )


class BasePartitionRegressor(RegressorMixin, PartitionEnsemble):
    """Machinery shared by :class:`DPARegressor` and :class:`SSDPARegressor`.

    Not public. The fit flow, validation and warm start are
    :class:`~skdpa._ensemble.PartitionEnsemble`'s; subclasses choose the
    partition (``_partition``), what members are fit on and which targets
    count as missing. What is the regressors' own: float targets (hidden or
    missing ones NaN), every non-empty member fit (no single-class
    shortcut), the median and its certificate.
    """

    _threat_model = "changes to"
    _attack_unit = "training samples"

    _hidden_target = np.nan
    _constant_members = False
    _no_targets_message = "y has no targets (all NaN); at least one is required."

    # -- hooks ---------------------------------------------------------------

    def _missing_targets(self, y):
        """Rows without a target: none for DPA; NaN for SS-DPA."""
        return np.zeros(len(y), dtype=bool)

    def _fit_targets(self, y, labeled):
        """(targets, NaN where missing; the sort key, 0 there; no state)."""
        # NaN would not sort; a missing target is never fit on
        return np.where(labeled, y, np.nan), np.where(labeled, y, 0.0), {}

    def _members_to_build(self, plan, previous_fingerprints):
        # an empty member abstains: nothing to build, nothing refitted
        changed = plan.diff(previous_fingerprints)
        return changed & np.array([kind == "fit" for kind in plan.kinds])

    # -- helpers -------------------------------------------------------------

    def _base_estimator(self):
        return DecisionTreeRegressor() if self.estimator is None else self.estimator

    def _check_member(self, estimator):
        if is_classifier(estimator):
            raise ValueError(
                f"The estimator of {type(self).__name__} must be a regressor; got "
                f"the classifier {type(estimator).__name__}. Use DPAClassifier or "
                "SSDPAClassifier for class labels."
            )

    def _check_y(self, y):
        """Targets as float64 and the mask of rows without one."""
        y = column_or_1d(y, warn=True)
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{type(self).__name__} needs numeric targets; got y of dtype "
                f"{np.asarray(y).dtype} (e.g. {np.asarray(y)[:3].tolist()!r})."
            ) from None
        missing = self._missing_targets(y)
        bad = ~np.isfinite(y) & ~missing
        if bad.any():
            raise ValueError(
                f"y must be finite{self._missing_hint()}; got {float(y[bad][0])!r} at "
                f"row {int(np.flatnonzero(bad)[0])}."
            )
        return y, missing

    def _missing_hint(self):
        return ""

    # -- fit -----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit one clone of the base regressor per member.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Training data, hashed cell by cell as in :class:`DPAClassifier`.
        y : array-like of shape (n_samples,)
            Real-valued targets.
        **fit_params : dict
            Passed to every member's ``fit``; sample-aligned arrays such as
            ``sample_weight`` are sliced to the member's rows.

        Returns
        -------
        self : object
            The fitted ensemble. With ``warm_start=True`` only members whose
            training input changed are refit (see ``refitted_``).
        """
        with restored_on_error(self):
            return self._fit(X, y, fit_params)

    def _make_certificate(self):
        n_voting = int(np.count_nonzero(self.partition_sizes_))
        spread = len(self.shifts_)
        return RegressionCertificate(
            threat_model=self._threat_model,
            k=self.k,
            n_voting=n_voting,
            spread=spread,
            n_members=self.n_members_,
            max_radius=((n_voting - 1) // 2) // spread,
            attack_unit=self._attack_unit,
        )

    # -- outputs -------------------------------------------------------------

    def _shifts_arg(self):
        return None if len(self.shifts_) == 1 else self.shifts_

    def member_predictions(self, X):
        """Each member's prediction.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        predictions : ndarray of shape (n_samples, `n_members_`), dtype float64
            Each member's ``predict``; NaN where a member abstains (its
            partition is empty). The input of
            :func:`skdpa.certify.median_interval` and
            :func:`skdpa.certify.median_radius`.
        """
        return self._outputs(self._member_input(X))

    def _map_chunks(self, X, func):
        """``[func(rows, n, outputs) for each row chunk of X]``: one chunk of
        member outputs (at most ``_CHUNK_ITEMS`` floats) at a time, as the
        classifiers predict (:func:`~skdpa._ensemble.in_chunks`); ``rows`` is
        the chunk's slice of the ``n`` rows."""
        X_in = self._member_input(X)
        n = _num_rows(X_in)
        return in_chunks(
            X_in,
            self.n_members_,
            self._outputs,
            lambda rows, out: func(rows, n, out),
            _CHUNK_ITEMS,
        )

    @staticmethod
    def _per_row(value, name):
        """``take(rows, n)``: a number (or callable) as is, or the chunk's part
        of one value per row, checked against the row count."""
        if callable(value) or np.ndim(value) == 0:
            return lambda rows, n: value
        value = np.asarray(value)

        def take(rows, n):
            if value.shape != (n,):
                raise ValueError(
                    f"{name} must be a number or one per row ({n},); got shape "
                    f"{value.shape}."
                )
            return value[rows]

        return take

    def _outputs(self, X_in):
        return self._member_outputs(X_in, "values")

    def predict(self, X):
        """The median of the voting members' predictions.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            For ``N`` voting members (non-empty partitions) sorted
            ``v_0 <= ... <= v_{N-1}``: the mean of ``v_{(N-1)//2}`` and
            ``v_{N//2}``.
        """
        parts = self._map_chunks(X, lambda rows, n, out: certify.median_prediction(out))
        return np.concatenate(parts)

    def predict_interval(self, X, radius):
        """Where the prediction can go under ``radius`` poisoned training samples.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.
        radius : int or array-like of shape (n_samples,)
            Number of poisoned training samples (``certificate_`` says what
            the attacker may do to each).

        Returns
        -------
        lower, upper : ndarray of shape (n_samples,)
            After any such attack and a refit, :meth:`predict` lies in
            ``[lower, upper]``; infinite where the attack could change as many
            members as vote. Tight for ``spread=1`` (an attack that sets the
            changed members freely reaches both ends).
        """
        radius_of = self._per_row(radius, "radius")
        parts = self._map_chunks(
            X,
            lambda rows, n, out: certify.median_interval(
                out, radius_of(rows, n), self._shifts_arg()
            ),
        )
        lower, upper = (np.concatenate(c) for c in zip(*parts, strict=True))
        return lower, upper

    def predict_certified(self, X, tolerance):
        """Predict, and certify how many poisoned samples keep it within ``tolerance``.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.
        tolerance : float, array-like of shape (n_samples,) or callable
            How far (absolute, ``>= 0``) a prediction may move. A callable is
            called with the predictions and returns the tolerance of each row,
            e.g. ``lambda y: 0.1 * abs(y)`` for 10%% (it is called once per
            chunk of rows, so it must work row by row).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            As :meth:`predict` returns it.
        radius : ndarray of shape (n_samples,), dtype int64
            The largest ``r`` whose :meth:`predict_interval` stays inside
            ``[y_pred - tolerance, y_pred + tolerance]``; ``>= 0`` and at most
            ``certificate_.max_radius``.
        """
        tolerance_of = self._per_row(tolerance, "tolerance")

        def certify_chunk(rows, n, out):
            tol = tolerance_of(rows, n)
            if callable(tol):
                tol = tol(certify.median_prediction(out))
            return certify.median_radius(out, tol, self._shifts_arg())

        parts = self._map_chunks(X, certify_chunk)
        y_pred, radius = (np.concatenate(c) for c in zip(*parts, strict=True))
        return y_pred, radius


_COMMON_PARAMS = """warm_start : bool, default=False
        When fitting again, refit only the members whose training input
        changed (their rows by content, targets, sample-aligned fit
        parameters, seed) and keep the others; a change of any other
        parameter refits all. The result equals a fresh fit on the same data.
    n_jobs : int, default=None
        Members fitted (and predicted) in parallel through joblib. ``None``
        means 1 unless in a :func:`joblib.parallel_backend` context.
    random_state : int, RandomState instance or None, default=None
        Seeds the members: member ``j`` gets a seed derived from
        ``(random_state, j)`` (``j`` itself when ``None``), applied to every
        ``random_state`` parameter of its clone. The global RNG is never used.
    verbose : int, default=0
        Show a progress bar over all members."""

_COMMON_ATTRIBUTES = """n_members_ : int
        Number of members.
    estimator_ : estimator
        The base regressor the members were cloned from.
    estimators_ : list of length `n_members_`
        Fitted members; ``None`` where the partition is empty, or holds
        fewer rows than a k-nearest-neighbours member's ``n_neighbors`` (the
        member abstains).
    partition_sizes_ : ndarray of shape (`n_members_`,)
        Number of training samples (with a target) each member was fit on.
    refitted_ : ndarray of shape (`n_members_`,), dtype bool
        Members (re)built by the last ``fit``.
    certificate_ : RegressionCertificate
        What a radius counts; ``print(est.certificate_)`` says it in words.
    n_features_in_ : int
        Number of features seen during fit (not set for text input).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X was a DataFrame."""


def _fill(doc):
    return doc.replace("%(common)s", _COMMON_PARAMS).replace(
        "%(attributes)s", _COMMON_ATTRIBUTES
    )


class DPARegressor(HashPartitionMixin, BasePartitionRegressor):
    """Deep Partition Aggregation for regression: the median of partition members.

    The training set is split into ``k`` partitions by a deterministic hash of
    each sample's features (the target never enters), one clone of
    ``estimator`` is fit per non-empty partition, and the prediction is the
    median of the members' predictions. An attack that inserts, removes or
    changes the target of at most ``r`` training samples, in any combination,
    changes at most ``r`` members (``r * spread`` with finite aggregation;
    changing a sample's features counts twice: a removal and an insertion), so
    the
    prediction stays between order statistics of the clean members' outputs:
    :meth:`predict_interval` gives them, :meth:`predict_certified` the largest
    ``r`` that keeps the prediction within a tolerance. Empty partitions
    abstain; the proof covers attacks that fill or empty a partition (see
    :ref:`theory`).

    Parameters
    ----------
    estimator : object, default=None
        The base regressor, cloned once per member; ``None`` means
        :class:`~sklearn.tree.DecisionTreeRegressor`. Classifiers are
        refused. Preprocessing belongs inside it (a Pipeline), fit per
        partition.
    k : int, default=50
        Number of partitions.
    spread : int, default=1
        Members each sample trains (finite aggregation's ``d``): ``k*spread``
        members. The interval then counts ``r * spread`` changed members:
        sound, not tight.
    hasher : {"content", "sum"} or callable, default="content"
        How a sample's bucket is chosen, as in :class:`DPAClassifier`.
    %(common)s

    Attributes
    ----------
    %(attributes)s
    shifts_ : ndarray of shape (spread,)
        A sample in bucket ``b`` trains members ``(b + s) %% n_members_``.
    estimators_samples_ : list of `n_members_` ndarrays
        Indices into the training data of each member's rows, in the
        canonical order it was fit in.

    See Also
    --------
    SSDPARegressor : certificates against changed targets, with all samples.
    skdpa.certify.median_interval : the interval from stored member outputs.

    References
    ----------
    .. [1] A. Levine and S. Feizi, "Deep Partition Aggregation: Provable
       Defenses against General Poisoning Attacks", ICLR 2021.
    .. [2] Z. Hammoudeh and D. Lowd, "Reducing Certified Regression to
       Certified Classification for General Poisoning Attacks", SaTML 2023.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skdpa import DPARegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = DPARegressor(k=21, random_state=0).fit(X[:400], y[:400])
    >>> lower, upper = reg.predict_interval(X[400:], radius=3)
    >>> y_pred = reg.predict(X[400:])
    >>> bool(((lower <= y_pred) & (y_pred <= upper)).all())
    True
    >>> y_pred, radius = reg.predict_certified(X[400:], tolerance=50.0)
    >>> bool(0 <= radius.min() and radius.max() <= reg.certificate_.max_radius)
    True
    """

    _parameter_constraints: dict = {
        **BasePartitionRegressor._parameter_constraints,
        "spread": [Interval(Integral, 1, None, closed="left")],
        "hasher": [StrOptions({"content", "sum"}), callable],
    }

    _threat_model = "inserting, removing or changing the target of (in any combination)"
    _attack_unit = "training samples inserted, removed or re-targeted"

    def __init__(
        self,
        estimator=None,
        k=50,
        *,
        spread=1,
        hasher="content",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            estimator=estimator,
            k=k,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.spread = spread
        self.hasher = hasher

    def assign_partitions(self, X):
        """Bucket each sample would be placed in, were it in the training set.

        Needs no fitted state: it depends only on the sample's features,
        ``hasher``, ``k`` and ``spread`` (never on the target).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Samples.

        Returns
        -------
        partitions : ndarray of shape (n_samples,), dtype int64
            Bucket of each sample in ``[0, k * spread)``; a sample in bucket
            ``b`` trains members ``(b + s) %% n_members_`` for ``s`` in
            ``shifts_``.

        Examples
        --------
        >>> import numpy as np
        >>> from skdpa import DPARegressor
        >>> X = np.array([[1.0, 2.0], [1, 2], [3, 4]])
        >>> p = DPARegressor(k=7).assign_partitions(X)
        >>> bool(p[0] == p[1]), bool(0 <= p.min() and p.max() < 7)
        (True, True)
        """
        return self._assign_partitions(X)


DPARegressor.__doc__ = _fill(DPARegressor.__doc__).replace("%%", "%")


class SSDPARegressor(EmbeddingPartitionMixin, BasePartitionRegressor):
    """Semi-Supervised DPA for regression: certified against changed targets.

    The samples are trusted, their targets are not. Every distinct sample gets
    its rank in a canonical order of the features alone (``"sorted"``) or its
    content hash (``"hash"``), and joins partition ``rank %% k``: the
    partition of a sample never depends on any target, so changing the
    target of one sample (to any value, to missing or from missing) changes
    one member. Identical samples share a partition, so changing the targets
    of a group of duplicates counts once. Members use every sample through
    ``embedding`` (an unsupervised transformer fit once on all rows, targets
    never seen) and are fit on the rows of their partition that have a
    target (with ``pass_unlabeled=True``: on every row, the targets outside
    their partition hidden as NaN). The prediction is the median of the
    members; empty partitions (no target) abstain.

    Missing targets are NaN.

    Parameters
    ----------
    estimator : object, default=None
        The base regressor; ``None`` means
        :class:`~sklearn.tree.DecisionTreeRegressor`.
    k : int, default=50
        Number of partitions.
    embedding : transformer, default=None
        Unsupervised transformer (PCA, a self-supervised encoder, ...) fit
        once on all samples; members are fit on and predict from its output.
        ``None``: members see the raw features.
    pass_unlabeled : bool, default=False
        Fit every member on all samples, with the targets outside its own
        partition hidden as NaN: for base regressors that learn from rows
        without a target (a semi-supervised regressor, or a pipeline whose
        unsupervised steps use every row); the base regressor must accept NaN
        in ``y``. Members whose partition holds no target still abstain.
    partitioning : {"sorted", "hash"}, default="sorted"
        ``"sorted"``: rank among the distinct samples (equal partition sizes
        over all samples). ``"hash"``: the content hash of
        :class:`DPARegressor`.
    %(common)s

    Attributes
    ----------
    %(attributes)s
    embedding_ : transformer
        The fitted embedding (only when ``embedding`` is given).
    shifts_ : ndarray of shape (1,)
        ``[0]``: each sample trains one member.
    estimators_samples_ : list of k ndarrays
        Indices of each partition's training rows that have a target.

    See Also
    --------
    DPARegressor : certificates against insertions and removals too.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.decomposition import PCA
    >>> from skdpa import SSDPARegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> y_part = y[:400].copy()
    >>> y_part[::2] = np.nan  # half the targets are missing
    >>> reg = SSDPARegressor(k=20, embedding=PCA(5, random_state=0))
    >>> reg = reg.fit(X[:400], y_part)
    >>> int(reg.partition_sizes_.sum())
    200
    >>> y_pred, radius = reg.predict_certified(X[400:], tolerance=50.0)
    >>> bool((radius >= 0).all())
    True
    """

    _parameter_constraints: dict = {
        **BasePartitionRegressor._parameter_constraints,
        "embedding": [HasMethods(["fit", "transform"]), None],
        "pass_unlabeled": ["boolean"],
        "partitioning": [StrOptions({"sorted", "hash"})],
    }

    _threat_model = "changing the targets (to any value, to or from missing) of"
    _attack_unit = "training targets changed"

    def __init__(
        self,
        estimator=None,
        k=50,
        *,
        embedding=None,
        pass_unlabeled=False,
        partitioning="sorted",
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            estimator=estimator,
            k=k,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.embedding = embedding
        self.pass_unlabeled = pass_unlabeled
        self.partitioning = partitioning

    def _missing_targets(self, y):
        return np.isnan(y)

    def _missing_hint(self):
        return " (NaN marks a missing target)"


SSDPARegressor.__doc__ = _fill(SSDPARegressor.__doc__).replace("%%", "%")
