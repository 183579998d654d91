"""Certified regression: partition ensembles that predict the median of their members.

Data flows as in the classifiers: validate -> partition (the same partitioners,
hashers and canonical order) -> plan (rows, seeds, fingerprints per member) ->
engine (:func:`skdpa._engine.fit_members`) -> member outputs -> aggregate. The
aggregate is the median (:func:`skdpa.certify.median_prediction`) and the
certificate an interval of order statistics (:func:`skdpa.certify.median_interval`).

Pieces shared with the classifiers are called, not copied: the partition
value (:func:`skdpa._partition.partition`), member seeds and the
:class:`~skdpa._plan.FitPlan` with its warm-start ``diff``, the engine and its
row source; X validation, the size check, fit-parameter routing, the base seed
and the warm-start key from :class:`~skdpa._base.BasePartitionEnsemble`, the
hashers from :class:`~skdpa.DPAClassifier`, the embedding from
:class:`~skdpa.SSDPAClassifier` (their methods only read parameters these
estimators share). ``_SHARED`` below lists every such method call.

The plan is built here (:func:`regression_plan`) rather than by
:func:`skdpa._plan.build_plan`, which serves class labels: a regression
member has no single-class shortcut, and its fingerprint must cover float
targets exactly (``member_fingerprint`` hashes targets as int64 class
indices, so they go into its ``extra`` bytes).
"""

from abc import ABCMeta, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn import config_context as sklearn_config_context
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._tags import get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import certify
from ._base import _CHUNK_ITEMS, BasePartitionEnsemble, _check_positive_int
from ._config import get_config
from ._dpa import DPAClassifier
from ._engine import _add_note, _batches, _thread_limits, fit_members
from ._fingerprint import member_fingerprint, params_digest, row_digests
from ._hashing import (
    canonical_order,
    content_hash,
    is_text_input,
    take_rows,
    unique_sample_ids,
)
from ._members import num_rows as _num_rows
from ._members import sample_aligned, slice_params
from ._partition import partition, spread_shifts
from ._plan import FitPlan, member_seeds
from ._ssdpa import SSDPAClassifier

__all__ = ["DPARegressor", "SSDPARegressor", "RegressionCertificate"]

# The classifiers' methods these estimators call on themselves. They read only
# parameters both kinds share (k, spread, hasher, embedding, random_state, ...)
# and the hooks defined below.
_SHARED = {
    "check_X": BasePartitionEnsemble._check_X,
    "check_X_unfitted": BasePartitionEnsemble._check_X_unfitted,
    "check_size": BasePartitionEnsemble._check_size,
    "member_fit_params": BasePartitionEnsemble._member_fit_params,
    "base_seed": BasePartitionEnsemble._base_seed,
    "warm_key": BasePartitionEnsemble._warm_key,
    "previous_fit": BasePartitionEnsemble._previous_fit,
    "hash": DPAClassifier._hash,
    "embed_fit": SSDPAClassifier._fit_inputs,
    "embed": SSDPAClassifier._predict_inputs,
    "check_embedded": SSDPAClassifier._check_embedded,
}


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


def _check_member_output(pred, n_samples, where):
    pred = np.asarray(pred)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred.ravel()
    if pred.shape != (n_samples,):
        raise ValueError(
            f"{where} returned predictions of shape {pred.shape}; expected "
            f"({n_samples},): one number per sample (single-output regressors)."
        )
    if pred.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} returned predictions of dtype {pred.dtype}; members must "
            "predict numbers."
        )
    pred = pred.astype(np.float64)
    if not np.isfinite(pred).all():
        raise ValueError(
            f"{where} returned a non-finite prediction "
            f"({float(pred[~np.isfinite(pred)][0])!r}); member outputs must be finite."
        )
    return pred


def hidden_targets(y, fit_rows, own_rows):
    """The targets a member is fit on: its rows' targets, or (``own_rows``
    given) the targets of ``fit_rows`` with those outside ``own_rows`` hidden
    as NaN (missing).

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._regression import hidden_targets
    >>> y = np.array([0.5, 1.5, 2.5])
    >>> hidden_targets(y, np.array([2, 0]), None).tolist()
    [2.5, 0.5]
    >>> hidden_targets(y, np.arange(3), np.array([1])).tolist()
    [nan, 1.5, nan]
    """
    if own_rows is None:
        return y[fit_rows]
    target = np.full(len(fit_rows), np.nan)
    mine = np.isin(fit_rows, own_rows)
    target[mine] = y[fit_rows[mine]]
    return target


@dataclass(frozen=True, eq=False)
class RegressionSource:
    """In-memory training data for regression members (a row source).

    As :class:`skdpa._sources.ArraySource`, but the targets are floats and a
    member fit on every row sees the targets outside its own rows as NaN.
    """

    X: object
    y: np.ndarray
    params: dict

    def member_data(self, task):
        """(X, y, fit parameters) of one member's fit, rows in the task's order."""
        rows = task.fit_rows
        return (
            _safe_indexing(self.X, rows),
            hidden_targets(self.y, rows, task.own_rows),
            slice_params(self.params, rows, len(self.y)),
        )


def regression_plan(partition, y, seeds, digests, layout, params, n_samples):
    """The :class:`~skdpa._plan.FitPlan` of a regression ensemble. Fits nothing.

    Kinds are ``"empty"`` (abstains) and ``"fit"``; each fingerprint covers the
    member's rows (by content digest, in order), its float targets exactly, its
    fit parameters and its seed.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._fingerprint import row_digests
    >>> from skdpa._partition import partition
    >>> from skdpa._plan import member_seeds
    >>> from skdpa._regression import regression_plan
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> part = partition(np.array([0, 0, 1]), np.arange(3), 3)
    >>> digests, layout = row_digests(X)
    >>> a = regression_plan(part, np.array([1.0, 1.5, 2.0]), member_seeds(None, 3),
    ...                     digests, layout, {}, 3)
    >>> a.kinds
    ('fit', 'fit', 'empty')
    >>> b = regression_plan(part, np.array([1.0, 1.25, 2.0]), member_seeds(None, 3),
    ...                     digests, layout, {}, 3)
    >>> b.diff(a.fingerprints).tolist()  # a float target changed in member 0
    [True, False, False]
    """
    kinds, fingerprints = [], []
    for j, own in enumerate(partition.rows):
        kind = "fit" if len(own) else "empty"
        fit_rows = partition.fit_rows(j)
        own_rows = own if partition.hides_labels() else None
        target = hidden_targets(y, fit_rows, own_rows)
        extra = np.ascontiguousarray(target, dtype=np.float64).tobytes()
        if params:
            extra += params_digest(params, fit_rows, n_samples)
        fingerprints.append(
            member_fingerprint(
                kind, seeds[j], digests, layout, fit_rows, np.zeros(0), extra
            )
        )
        kinds.append(kind)
    return FitPlan(
        partition=partition,
        kinds=tuple(kinds),
        seeds=np.asarray(seeds, dtype=np.int64),
        constants=np.full(partition.n_members, -1, dtype=np.int64),
        fingerprints=tuple(fingerprints),
    )


def _predict_batch(batch, X):
    out = []
    for index, member, n_rows in batch:
        where = f"member {index} ({type(member).__name__}, fit on {n_rows} rows)"
        try:
            pred = member.predict(X)
        except Exception as exc:
            _add_note(exc, f"skdpa: raised by {where} while predicting.")
            raise
        out.append(_check_member_output(pred, _num_rows(X), where))
    return out


def _finite_numeric(X):
    return (
        isinstance(X, np.ndarray)
        and X.dtype.kind in "biuf"
        and bool(np.isfinite(X).all())
    )


class BasePartitionRegressor(
    RegressorMixin, MetaEstimatorMixin, BaseEstimator, metaclass=ABCMeta
):
    """Machinery shared by :class:`DPARegressor` and :class:`SSDPARegressor`.

    Not public: subclasses choose each row's bucket (``_buckets``), the shifts,
    what members are fit on and which targets count as missing.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "k": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _threat_model = "changes to"
    _attack_unit = "training samples"

    @abstractmethod
    def __init__(
        self,
        estimator=None,
        k=50,
        *,
        warm_start=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.k = k
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- hooks ---------------------------------------------------------------

    @abstractmethod
    def _buckets(self, X, h, labeled):
        """Bucket of each training row in [0, n_members), -1 for none."""

    def _n_spread(self):
        return 1

    def _shifts(self):
        return np.zeros(1, dtype=np.int64)

    def _fit_inputs(self, X, X_content, h, base_seed, previous):
        return X, {}

    def _predict_inputs(self, X):
        return X

    def _missing_targets(self, y):
        """Rows without a target: none for DPA; NaN for SS-DPA."""
        return np.zeros(len(y), dtype=bool)

    def _shared_rows(self, X, h, aligned, y_fit):
        """None, or the rows every member is fit on (targets outside its own
        partition hidden as NaN), in one canonical order."""
        return None

    def _input_tags_source(self):
        return self._base_estimator()

    # -- helpers -------------------------------------------------------------

    def _base_estimator(self):
        return DecisionTreeRegressor() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._input_tags_source())
        for name in ("allow_nan", "sparse", "string", "categorical", "two_d_array"):
            setattr(tags.input_tags, name, getattr(inner.input_tags, name))
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimators_")

    def get_metadata_routing(self):
        """Metadata routing of this ensemble: ``fit`` parameters go to every member.

        Returns
        -------
        routing : MetadataRouter
            Routes ``fit`` metadata (e.g. ``sample_weight``) to the base
            estimator's ``fit``; sample-aligned values are sliced to each
            member's rows.
        """
        return MetadataRouter(owner=self).add(
            estimator=self._base_estimator(),
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def _check_X(self, X, reset):
        return _SHARED["check_X"](self, X, reset)

    def _check_member(self, estimator):
        if is_classifier(estimator):
            raise ValueError(
                f"The estimator of {type(self).__name__} must be a regressor; got "
                f"the classifier {type(estimator).__name__}. Use DPAClassifier or "
                "SSDPAClassifier for class labels."
            )

    def _check_y(self, y):
        """Targets as float64 and the mask of rows that have one."""
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
        return y, ~missing

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
        saved = dict(self.__dict__)
        try:
            return self._fit(X, y, fit_params)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y, fit_params):
        # validate -> partition -> plan -> diff -> engine -> state, as in the
        # classifiers (BasePartitionEnsemble._fit), with float targets
        name = type(self).__name__
        _check_positive_int(self.k, "k", name)
        previous = _SHARED["previous_fit"](self)
        for attr in [a for a in vars(self) if a.endswith("_") and a[:2] != "__"]:
            delattr(self, attr)
        estimator = self._base_estimator()
        self._check_member(estimator)
        self._text_input = is_text_input(X)
        if y is None:
            validate_data(self, X, y=None, skip_check_array=True)
        X_members, X_content = self._check_X(X, reset=True)
        y, labeled = self._check_y(y)
        n_samples = len(y)
        if _num_rows(X_content) != n_samples:
            raise ValueError(
                "X and y have inconsistent numbers of samples: "
                f"X has {_num_rows(X_content)}, y has {n_samples}."
            )
        if not labeled.any():
            raise ValueError("y has no targets (all NaN); at least one is required.")
        _SHARED["check_size"](self, int(labeled.sum()), X_content)
        params = _SHARED["member_fit_params"](self, estimator, fit_params, n_samples)

        # partition: buckets from each row alone, rows in canonical order
        h = content_hash(X_content)
        aligned = [
            np.asarray(v)
            for _, v in sorted(params.items())
            if sample_aligned(v, n_samples)
        ]
        y_fit = np.where(labeled, y, 0.0)  # NaN would not sort; never fit on
        order = canonical_order(X_content, h, tiebreak=[y_fit, *aligned])
        shifts = self._shifts()
        part = partition(
            np.asarray(self._buckets(X_content, h, labeled)),
            order[labeled[order]],
            self.k * len(shifts),
            shifts,
            shared_rows=self._shared_rows(X_content, h, aligned, y_fit),
        )

        # plan: rows, seeds, fingerprints; a warm refit builds what changed
        base_seed = _SHARED["base_seed"](self)
        key = _SHARED["warm_key"](self)
        reuse = previous is not None and key is not None and previous["key"] == key
        X_fit, extra_state = self._fit_inputs(
            X_members, X_content, h, base_seed, previous if reuse else None
        )
        plan = regression_plan(
            part,
            np.where(labeled, y, np.nan),
            member_seeds(base_seed, part.n_members),
            *row_digests(X_fit),
            params,
            n_samples,
        )
        build = plan.diff(previous["fingerprints"] if reuse else None)
        build &= np.array([kind == "fit" for kind in plan.kinds])
        members = fit_members(
            estimator,
            plan,
            build,
            RegressionSource(X_fit, np.where(labeled, y, np.nan), params),
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=f"{name} fit",
            member_threads=get_config()["member_threads"],
        )
        for j in np.flatnonzero(~build):
            if plan.kinds[j] == "fit":
                members[j] = previous["members"][j]

        # fitted state, assigned once
        for attr, value in extra_state.items():
            setattr(self, attr, value)
        self.estimator_ = estimator
        self.n_members_ = plan.n_members
        self.shifts_ = part.shifts
        self.estimators_samples_ = part.rows
        self.partition_sizes_ = plan.sizes
        self.estimators_ = members
        self.refitted_ = build
        self._fingerprints = plan.fingerprints
        self._fit_key = key
        self.certificate_ = self._make_certificate()
        return self

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

    def _member_input(self, X):
        check_is_fitted(self)
        X_members, _ = self._check_X(X, reset=False)
        return self._predict_inputs(X_members)

    def _map_chunks(self, X, func):
        """``[func(rows, n, outputs) for each row chunk of X]``: one chunk of
        member outputs (at most ``_CHUNK_ITEMS`` floats) at a time, as the
        classifiers predict; ``rows`` is the chunk's slice of the ``n`` rows."""
        X_in = self._member_input(X)
        n = _num_rows(X_in)
        step = max(1, _CHUNK_ITEMS // self.n_members_)
        if step >= n:
            return [func(slice(0, n), n, self._outputs(X_in))]
        results = []
        for start in range(0, n, step):
            rows = np.arange(start, min(n, start + step))
            out = self._outputs(take_rows(X_in, rows))
            results.append(func(slice(start, rows[-1] + 1), n, out))
            del out  # before the next chunk's outputs exist
        return results

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
        n = _num_rows(X_in)
        out = np.full((n, self.n_members_), np.nan)
        work = [
            (j, m, int(self.partition_sizes_[j]))
            for j, m in enumerate(self.estimators_)
            if m is not None
        ]
        from joblib import effective_n_jobs

        batches = _batches(work, effective_n_jobs(self.n_jobs))
        # members skip scikit-learn's finite check when X was checked once here
        finite = _finite_numeric(X_in)
        with (
            sklearn_config_context(assume_finite=True) if finite else nullcontext(),
            _thread_limits(get_config()["member_threads"], False),
        ):
            parts = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(_predict_batch)(batch, X_in) for batch in batches
            )
        for batch, blocks in zip(batches, parts, strict=True):
            for (j, _, _), block in zip(batch, blocks, strict=True):
                out[:, j] = block
        return out

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
        Fitted members; ``None`` where the partition is empty (the member
        abstains).
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


class DPARegressor(BasePartitionRegressor):
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

    def _n_spread(self):
        return self.spread

    def _shifts(self):
        _check_positive_int(self.spread, "spread", type(self).__name__)
        return spread_shifts(self.k, self.spread)

    def _hash(self, X, content=None):
        return _SHARED["hash"](self, X, content)

    def _buckets(self, X, h, labeled):
        return (self._hash(X, h) % np.uint64(self.k * self.spread)).astype(np.int64)

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
        self._validate_params()
        if self.__sklearn_is_fitted__():
            _, X = self._check_X(X, reset=False)
        else:
            X = _SHARED["check_X_unfitted"](self, X)
        _check_positive_int(self.k, "k", type(self).__name__)
        _check_positive_int(self.spread, "spread", type(self).__name__)
        return (self._hash(X) % np.uint64(self.k * self.spread)).astype(np.int64)


DPARegressor.__doc__ = _fill(DPARegressor.__doc__).replace("%%", "%")


class SSDPARegressor(BasePartitionRegressor):
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

    def _input_tags_source(self):
        return self._base_estimator() if self.embedding is None else self.embedding

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.embedding is not None:
            member = get_tags(self._base_estimator()).input_tags
            tags.input_tags.allow_nan = tags.input_tags.allow_nan and member.allow_nan
        return tags

    def _missing_targets(self, y):
        return np.isnan(y)

    def _missing_hint(self):
        return " (NaN marks a missing target)"

    def _buckets(self, X, h, labeled):
        # every sample, with or without a target: its partition is a function
        # of the features alone
        if self.partitioning == "hash":
            return (h % np.uint64(self.k)).astype(np.int64)
        return unique_sample_ids(X, h) % self.k

    def _shared_rows(self, X, h, aligned, y_fit):
        if not self.pass_unlabeled:
            return None
        # Every member sees every row in one canonical order; identical rows
        # share a partition, so a member outside it sees them all with NaN
        # targets and their order (by target last) is invisible to it.
        return canonical_order(X, h, tiebreak=[*aligned, y_fit])

    def _check_embedded(self, Xt):
        return _SHARED["check_embedded"](self, Xt)

    def _fit_inputs(self, X, X_content, h, base_seed, previous):
        return _SHARED["embed_fit"](self, X, X_content, h, base_seed, previous)

    def _predict_inputs(self, X):
        return _SHARED["embed"](self, X)


SSDPARegressor.__doc__ = _fill(SSDPARegressor.__doc__).replace("%%", "%")
