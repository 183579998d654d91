"""One partition-ensemble base for the classifiers and the regressors.

:class:`PartitionEnsemble` holds what every partition ensemble shares: the
parameters and their checks, X validation, the size check, fit-parameter
routing, seeds, the warm-start key and the previous fit, member input, and
the fit flow up to the engine::

    validate -> targets -> partition (``_partition`` hook, a
    :class:`~skdpa._partition.Partition`) -> plan (:func:`~skdpa._plan.build_plan`)
    -> diff against the last fit -> engine (:func:`~skdpa._engine.fit_members`,
    from an :class:`~skdpa._sources.ArraySource`) -> fitted state, set once.

:class:`~skdpa._base.BasePartitionEnsemble` (class votes) and
:class:`~skdpa._regression.BasePartitionRegressor` (the median) derive from
it and add their targets (``_check_y``, ``_fit_targets``), how a hidden
target is written (``_hidden_target``: ``-1`` or NaN), their certificate and
their outputs. The partitioners shared by the classifier and the regressor
of each kind are the mixins :class:`HashPartitionMixin` (DPA: content hash,
``assign_partitions``) and :class:`EmbeddingPartitionMixin` (SS-DPA: the
embedding, sorted or hash partitions over every sample, hidden targets).
"""

import warnings
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager, nullcontext
from numbers import Integral

import numpy as np
from sklearn import config_context as sklearn_config_context
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
)
from sklearn.utils._tags import get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._config import get_config
from ._engine import fit_members, member_outputs
from ._fingerprint import member_fingerprint, row_digests, warm_key
from ._hashing import (
    canonical_order,
    check_hash_values,
    check_text_sequence,
    content_hash,
    is_text_input,
    sum_hash,
    take_rows,
    unique_sample_ids,
)
from ._members import (
    cannot_predict,
    fit_accepts,
    involves_torch,
    num_rows,
    rejects_nan,
    sample_aligned,
    set_random_states,
)
from ._partition import partition, spread_shifts
from ._persistence import ParamDefaultsOnLoad
from ._plan import build_plan, member_seeds
from ._sources import ArraySource
from ._warnings import _user_stacklevel

# ---------------------------------------------------------------------------
# Validation helpers


def _is_frame(X):
    return hasattr(X, "iloc") and hasattr(X, "dtypes")


def _check_positive_int(value, name, owner):
    """Reject bool (an Integral to Python) where a count is expected."""
    if isinstance(value, bool | np.bool_):
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be an int in the range "
            f"[1, inf). Got {value!r} instead."
        )


# Member outputs of one chunk of rows in predict-like methods, in array items
# (8 bytes each): 64 MiB a chunk.
_CHUNK_ITEMS = 1 << 23


@contextmanager
def restored_on_error(estimator):
    """Put ``estimator`` back as it was if the block raises (anything).

    Nothing half-fitted is left behind: a failed ``fit`` leaves the attributes
    of the call's start, a fitted ensemble still fitted.
    """
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise


def checked_once(X):
    """Context in which members skip scikit-learn's NaN/inf check of ``X``.

    Every member would check the same rows again (for 1,200 cheap members
    that check costs a sixth of the prediction): a numeric array is checked
    once here, and when it is finite the members are told so. Rows with NaN
    or inf reach the members unchanged, and each member decides.
    """
    finite = (
        isinstance(X, np.ndarray)
        and X.dtype.kind in "biuf"
        and bool(np.isfinite(X).all())
    )
    return sklearn_config_context(assume_finite=True) if finite else nullcontext()


def in_chunks(X, per_row, outputs, func, items=_CHUNK_ITEMS):
    """``[func(rows, outputs(X[rows])) for each chunk of rows of X]``.

    ``rows`` is the chunk's slice of the rows of ``X``; a chunk's outputs
    take at most ``items`` array items (``per_row`` a row, at least one row
    a chunk) and are released before the next chunk's exist, so a
    predict-like method holds one chunk of member outputs whatever the
    number of rows.
    """
    n = num_rows(X)
    step = max(1, items // per_row)
    if step >= n:
        return [func(slice(0, n), outputs(X))]
    results = []
    for start in range(0, n, step):
        stop = min(n, start + step)
        out = outputs(take_rows(X, np.arange(start, stop)))
        results.append(func(slice(start, stop), out))
        del out  # before the next chunk's outputs exist
    return results


# Memory the fit keeps per member (index array, seed, fingerprint, estimator
# slot): a k far beyond the data would need more for bookkeeping than the data.
_BYTES_PER_MEMBER = 256
_MIN_BOOKKEEPING = 1 << 26


# ---------------------------------------------------------------------------
# The base


class PartitionEnsemble(
    ParamDefaultsOnLoad, MetaEstimatorMixin, BaseEstimator, metaclass=ABCMeta
):
    """Machinery shared by every partition ensemble. Not public.

    A concrete subclass lists every parameter in its ``__init__`` (passing
    the shared ones to this one) and implements
    ``_partition`` (which rows each member owns), ``_base_estimator``,
    ``_check_member``, ``_check_y`` (targets and the mask of rows without
    one), ``_fit_targets`` and ``_make_certificate``; it may override the
    hooks below. A copy saved before one of its parameters existed loads
    with that parameter at its default
    (:class:`~skdpa._persistence.ParamDefaultsOnLoad`).
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "k": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # how a target a member must not see is written (member_target)
    _hidden_target = -1
    # whether a member whose rows hold one class votes it without a fit
    _constant_members = True
    # raised when no row has a target
    _no_targets_message = "y has no labeled samples; at least one is required."

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
    def _partition(self, X, h, labeled, y_enc, aligned):
        """The :class:`~skdpa._partition.Partition` of the training rows.

        ``X`` is the content input, ``h`` its content hash, ``labeled`` the
        rows with a target, ``y_enc`` the targets as a sort key (class
        indices, or real values with 0 where missing) and ``aligned`` the
        sample-aligned fit parameters (tie-breaks of the canonical order).
        """

    def _fit_inputs(self, X, X_content, h, base_seed, previous):
        """(what members are fit on, fitted state to set). Default: X, {}."""
        return X, {}

    def _predict_inputs(self, X):
        return X

    def _n_spread(self):
        """Members each training sample trains (1 but for finite aggregation)."""
        return getattr(self, "spread", 1)

    def _input_tags_source(self):
        return self._base_estimator()

    def _check_options(self, estimator):
        """Hook: refuse parameter combinations before any data is read."""

    def _check_torch_member(self, estimator, remote=False):
        """Hook: checks once per fit for members that involve torch
        (``remote``: members are fit in other processes)."""

    def _check_content(self, X_content):
        """Hook: warnings about the content input, once per fit."""

    def _content_facts(self, X_content):
        """Hook: what :meth:`_check_content` reads of one block of the content
        input (a Dask fit checks its blocks apart), or None."""
        return None

    def _warn_content(self, facts):
        """Hook: :meth:`_check_content`'s warnings for the whole data, from
        every block's :meth:`_content_facts` (None entries left out)."""

    def _members_to_build(self, plan, previous_fingerprints):
        """Members this fit builds: those whose input changed."""
        return plan.diff(previous_fingerprints)

    def _check_fitted_members(self, members):
        """Hook: reject members that cannot serve (SS-DPA checks -1)."""

    def _set_fit_state(self, estimator, plan):
        """Hook: fitted state beyond the shared attributes."""

    def _after_fit(self, X_members, n_samples):
        """Hook: checks on the fitted ensemble (run-off scores), given the
        member input of (the first) ``n_samples`` training rows."""

    # -- helpers -------------------------------------------------------------

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
            A :class:`~sklearn.utils.metadata_routing.MetadataRouter` routing
            ``fit`` metadata (e.g. ``sample_weight``) to the base estimator's
            ``fit``; sample-aligned values are sliced to each member's rows.
        """
        return MetadataRouter(owner=self).add(
            estimator=self._base_estimator(),
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def _check_X(self, X, reset):
        """Validate X; return (member input, content input for hashing).

        Three kinds of input: arrays and sparse matrices (numeric or object:
        the members decide what they accept, as in BaggingClassifier; NaN is
        hashed canonically), 1-D sequences of strings (text pipelines), and
        DataFrames (passed to the members as they are).
        """
        check_text_sequence(X)
        if is_text_input(X):
            if not reset and not getattr(self, "_text_input", False):
                raise ValueError(
                    f"{type(self).__name__} was fitted on 2-D features but X is a "
                    "1-D sequence of strings."
                )
            validate_data(self, X, skip_check_array=True, reset=reset)
            return X, X
        if not reset and getattr(self, "_text_input", False):
            raise ValueError(
                f"{type(self).__name__} was fitted on a 1-D sequence of strings; "
                f"got X of type {type(X).__name__}."
            )
        if _is_frame(X) and not all(dt.kind in "biuf" for dt in X.dtypes):
            validate_data(self, X, skip_check_array=True, reset=reset)
            check_array(X, dtype=None, ensure_all_finite=False, estimator=self)
            return X, X
        input_tags = get_tags(self).input_tags
        # The first consumer of X decides about NaN (as in BaggingClassifier).
        # One that is sure to reject it is checked here, so that rows landing
        # in single-class partitions (whose member is never called) are
        # refused too.
        checked = validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=["csr", "csc"] if input_tags.sparse else False,
            dtype=None,
            ensure_all_finite=rejects_nan(self._input_tags_source()),
        )
        # DataFrames reach the members as they are (pipelines select columns
        # by name) and are hashed column by column: a conversion to one array
        # would round integers beyond 2**53 to float64.
        if _is_frame(X):
            return X, X
        if isinstance(X, list | tuple):
            # hashed cell by cell, not as the array NumPy infers from all rows
            return checked, X
        return checked, checked

    def _check_X_unfitted(self, X):
        """Validate X for a method that needs no fitted state (sets nothing)."""
        check_text_sequence(X)
        if is_text_input(X):
            return X
        if _is_frame(X):
            return X
        checked = check_array(
            X, accept_sparse=True, dtype=None, ensure_all_finite=False, estimator=self
        )
        return X if isinstance(X, list | tuple) else checked

    def _check_size(self, n_labeled, X_content):
        spread = self._n_spread()
        n_members = self.k * spread
        data_bytes = getattr(X_content, "nbytes", None)
        if data_bytes is None:
            data_bytes = (
                8 * num_rows(X_content) * max(1, getattr(self, "n_features_in_", 1))
            )
        bookkeeping = n_members * _BYTES_PER_MEMBER
        if bookkeeping > max(data_bytes, _MIN_BOOKKEEPING):
            raise ValueError(
                f"k={self.k}"
                + (f" with spread={spread}" if spread > 1 else "")
                + f" asks for {n_members} members: their bookkeeping alone "
                f"(~{bookkeeping / 2**20:.0f} MiB) would exceed the training data "
                f"({n_labeled} labeled samples). Use k <= the number of samples."
            )
        if n_members > n_labeled:
            warnings.warn(
                f"k={self.k} gives {n_members} members for {n_labeled} labeled "
                f"samples: at least {n_members - n_labeled} members get no "
                "sample and abstain.",
                UserWarning,
                stacklevel=_user_stacklevel(),
            )

    def _member_fit_params(self, estimator, fit_params, n_samples):
        """Parameters every member's fit receives, checked before any fit."""
        if _routing_enabled():
            routed = process_routing(self, "fit", **fit_params)
            params = dict(routed.estimator.fit)
        else:
            params = dict(fit_params)
            for key in params:
                if fit_accepts(estimator, key) is False:
                    raise ValueError(
                        f"The base estimator {type(estimator).__name__} does not "
                        f"accept the fit parameter {key!r}, so no member can be "
                        "fit with it."
                        + (
                            f" In a Pipeline, name the step: '<step>__{key}'."
                            if isinstance(estimator, Pipeline)
                            else ""
                        )
                    )
        weight = params.get("sample_weight")
        if weight is not None:
            weight = np.asarray(weight)
            if weight.shape != (n_samples,):
                raise ValueError(
                    f"sample_weight must have shape ({n_samples},); got {weight.shape}."
                )
        return params

    def _base_seed(self):
        """None, the int random_state, or one draw from a RandomState instance."""
        rs = self.random_state
        if rs is None or isinstance(rs, Integral):
            return rs
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _warm_key(self):
        """Digest of every parameter that shapes members beyond their data
        (functions and classes by code and identity; see ``warm_key``)."""
        estimator = self._base_estimator()
        extra = ()
        if involves_torch(estimator) or (
            getattr(self, "embedding", None) is not None
            and involves_torch(self.embedding)
        ):
            extra = ("member_threads", get_config()["member_threads"])
        exclude = ("warm_start", "n_jobs", "verbose", "voting", "cost_aware")
        return warm_key(self, exclude=exclude, extra=extra)

    def _previous_fit(self):
        """What a warm refit may reuse: the last fit's key, members, fingerprints."""
        if not (self.warm_start and self.__sklearn_is_fitted__()):
            return None
        return {
            "key": getattr(self, "_fit_key", None),
            "members": self.estimators_,
            "fingerprints": getattr(self, "_fingerprints", None),
            "embedding": getattr(self, "embedding_", None),
            "embedding_fingerprint": getattr(self, "_embedding_fingerprint", None),
        }

    def _member_input(self, X):
        check_is_fitted(self)
        X_members, _ = self._check_X(X, reset=False)
        return self._predict_inputs(X_members)

    def _member_outputs(self, X_in, kind, **options):
        """Every member's output on the member input ``X_in`` (see
        :func:`~skdpa._engine.member_outputs`), members in threads."""
        with checked_once(X_in):
            return member_outputs(
                self.estimators_,
                getattr(self, "_constants", None),
                self.partition_sizes_,
                X_in,
                kind=kind,
                n_jobs=self.n_jobs,
                member_threads=get_config()["member_threads"],
                # every member called is a clone of estimator_ (see there)
                torch_member=involves_torch(self.estimator_),
                **options,
            )

    # -- fit -----------------------------------------------------------------

    def _validate_fit_input(self, X, y):
        """(member input, content input, targets, mask of rows without one)."""
        self._text_input = is_text_input(X)
        if y is None:
            # raises scikit-learn's "requires y to be passed" error
            validate_data(self, X, y=None, skip_check_array=True)
        X_members, X_content = self._check_X(X, reset=True)
        y, unlabeled = self._check_y(y)
        if num_rows(X_content) != len(y):
            raise ValueError(
                "X and y have inconsistent numbers of samples: "
                f"X has {num_rows(X_content)}, y has {len(y)}."
            )
        if unlabeled.all():
            raise ValueError(self._no_targets_message)
        return X_members, X_content, y, unlabeled

    # The fit's steps. The in-memory fit (``_fit``) and the Dask fit
    # (:func:`skdpa._dask.dask_fit`) both run ``_fit_start``, then
    # ``_check_fit_data`` once the rows are known, ``_reusable``, and
    # ``_fit_finish`` with the plan the members were built from: a check
    # added to one of these reaches both paths.

    def _fit_start(self):
        """Checks before any data is read; clears the fitted state.

        Returns (base estimator, what a warm refit may reuse or None).
        """
        _check_positive_int(self.k, "k", type(self).__name__)
        previous = self._previous_fit()
        for attr in [a for a in vars(self) if a.endswith("_") and a[:2] != "__"]:
            delattr(self, attr)
        estimator = self._base_estimator()
        self._check_member(estimator)
        self._check_options(estimator)
        return estimator, previous

    def _check_fit_data(
        self, estimator, fit_params, n_samples, n_labeled, X_content, remote=False
    ):
        """Checks once the rows are counted; returns the members' fit parameters.

        ``remote``: members are fit in other processes (the Dask fit).
        """
        self._check_size(n_labeled, X_content)
        params = self._member_fit_params(estimator, fit_params, n_samples)
        self._check_torch_member(estimator, remote=remote)
        return params

    def _reusable(self, previous):
        """(warm key, whether the previous fit's members and embedding may be
        reused: same key)."""
        key = self._warm_key()
        return key, previous is not None and key is not None and previous["key"] == key

    def _fit_finish(
        self, estimator, plan, members, build, previous, key, state, X_members
    ):
        """Check what was built, reuse the rest, set the fitted state once.

        ``members`` holds the members built (``build``) per ``plan``;
        ``X_members`` is (a sample of) the member input, for ``_after_fit``.
        """
        built = [j for j in np.flatnonzero(build) if plan.kinds[j] == "fit"]
        for j in built:
            if cannot_predict(members[j]):
                members[j] = None  # too few rows to predict: abstains
        self._check_fitted_members(
            [members[j] for j in built if members[j] is not None]
        )
        for j in np.flatnonzero(~build):
            if plan.kinds[j] != "empty":  # an empty member is None
                members[j] = previous["members"][j]

        # fitted state, assigned once
        for attr, value in state.items():
            setattr(self, attr, value)
        self.estimator_ = estimator
        self.n_members_ = plan.n_members
        self.shifts_ = plan.partition.shifts
        self.estimators_samples_ = plan.partition.rows
        self.partition_sizes_ = plan.sizes
        self.estimators_ = members
        self.refitted_ = build
        self._set_fit_state(estimator, plan)
        self._fingerprints = plan.fingerprints
        self._fit_key = key
        self.certificate_ = self._make_certificate()
        self._after_fit(X_members, num_rows(X_members))
        return self

    def _fit(self, X, y, fit_params):
        # validate -> targets -> partition -> plan -> diff -> engine -> state
        estimator, previous = self._fit_start()
        X_members, X_content, y, unlabeled = self._validate_fit_input(X, y)
        n_samples, labeled = len(y), ~unlabeled
        targets, sort_key, target_state = self._fit_targets(y, labeled)
        params = self._check_fit_data(
            estimator, fit_params, n_samples, int(labeled.sum()), X_content
        )

        h = content_hash(X_content)
        self._check_content(X_content)
        aligned = [
            np.asarray(v)
            for _, v in sorted(params.items())
            if sample_aligned(v, n_samples)
        ]
        partition = self._partition(X_content, h, labeled, sort_key, aligned)

        base_seed = self._base_seed()
        key, reuse = self._reusable(previous)
        X_fit, extra_state = self._fit_inputs(
            X_members, X_content, h, base_seed, previous if reuse else None
        )
        plan = build_plan(
            partition,
            targets,
            member_seeds(base_seed, partition.n_members),
            *row_digests(X_fit),
            params,
            n_samples,
            hidden=self._hidden_target,
            constant_members=self._constant_members,
        )
        build = self._members_to_build(
            plan, previous["fingerprints"] if reuse else None
        )
        members = fit_members(
            estimator,
            plan,
            build,
            ArraySource(X_fit, targets, params, hidden=self._hidden_target),
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=f"{type(self).__name__} fit",
            member_threads=get_config()["member_threads"],
        )
        return self._fit_finish(
            estimator,
            plan,
            members,
            build,
            previous,
            key,
            {**extra_state, **target_state},
            X_members,
        )


# ---------------------------------------------------------------------------
# Partitioners shared by the classifier and the regressor of each kind


class HashPartitionMixin:
    """DPA's partitions: ``k * spread`` buckets by a hash of each row alone.

    For estimators with ``k``, ``spread`` and ``hasher`` parameters. Finite
    aggregation: a row in bucket ``b`` trains the members ``(b + s) mod
    k*spread``; ``spread=1`` is DPA's one bucket per member.
    """

    def _hash(self, X, content=None):
        if self.hasher == "content":
            return content_hash(X) if content is None else content
        if self.hasher == "sum":
            return sum_hash(X)
        return check_hash_values(self.hasher(X), num_rows(X))

    def _hash_buckets(self, X, h=None):
        """Bucket of every row in ``[0, k*spread)``, from its hash alone."""
        _check_positive_int(self.spread, "spread", type(self).__name__)
        if self.k * self.spread >= 2**64:
            raise ValueError(
                "k * spread must be below 2**64 (the hash range); got "
                f"k={self.k}, spread={self.spread} (k * spread = "
                f"{self.k * self.spread})."
            )
        return (self._hash(X, h) % np.uint64(self.k * self.spread)).astype(np.int64)

    def _partition(self, X, h, labeled, y_enc, aligned):
        n_members = self.k * self.spread
        bucket = self._hash_buckets(X, h)
        order = canonical_order(X, h, tiebreak=[y_enc, *aligned])
        return partition(
            bucket,
            order[labeled[order]],
            n_members,
            spread_shifts(self.k, self.spread),
        )

    def _assign_partitions(self, X):
        """``assign_partitions``: the bucket of each row, no fitted state needed."""
        self._validate_params()
        if self.__sklearn_is_fitted__():
            _, X = self._check_X(X, reset=False)
        else:
            X = self._check_X_unfitted(X)
        _check_positive_int(self.k, "k", type(self).__name__)
        _check_positive_int(self.spread, "spread", type(self).__name__)
        return self._hash_buckets(X)


def _seeded(estimator, seed):
    """Seed torch around the embedding's fit when (and only when) it uses torch."""
    if not involves_torch(estimator):
        return nullcontext()
    from .torch._seeding import seeded_torch

    return seeded_torch(seed)


class EmbeddingPartitionMixin:
    """SS-DPA's partitions and member input, for estimators with ``k``,
    ``embedding``, ``pass_unlabeled`` and ``partitioning`` parameters.

    Every sample, with a target or not, is placed by its features alone (its
    rank among the distinct samples, or its content hash); members are fit on
    the rows of their partition that have a target, or (``pass_unlabeled``)
    on every row with the other targets hidden. ``embedding`` is fit once on
    all samples, targets never seen.
    """

    def _input_tags_source(self):
        if self.embedding is not None:
            return self.embedding
        return self._base_estimator()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.embedding is not None:
            # NaN passes through most embeddings to the members
            member = get_tags(self._base_estimator()).input_tags
            tags.input_tags.allow_nan = tags.input_tags.allow_nan and member.allow_nan
        return tags

    def _check_embedded(self, Xt):
        """The embedding's output, refused here when the members would refuse
        NaN or inf (rows in single-class partitions never reach a member)."""
        if rejects_nan(self._base_estimator()):
            check_array(
                Xt,
                accept_sparse=True,
                dtype=None,
                ensure_all_finite=True,
                input_name="embedded X",
                estimator=self._base_estimator(),
            )
        return Xt

    def _rank_buckets(self, X, h, labeled):
        """Bucket of every row with a target in ``[0, k)``, -1 for the others."""
        bucket = np.full(len(h), -1, dtype=np.int64)
        rows = np.flatnonzero(labeled)
        if self.partitioning == "hash":
            bucket[rows] = (h[rows] % np.uint64(self.k)).astype(np.int64)
        else:
            # Rank over every sample, labeled or not (the samples are trusted):
            # a label changed to or from -1 then moves no other sample.
            ids = unique_sample_ids(X, h)
            bucket[rows] = ids[rows] % self.k
        return bucket

    def _partition(self, X, h, labeled, y_enc, aligned):
        order = canonical_order(X, h, tiebreak=[y_enc, *aligned])
        if not self.pass_unlabeled:
            return partition(
                self._rank_buckets(X, h, labeled), order[labeled[order]], self.k
            )
        # every member sees every row in one canonical order; equal rows are
        # ordered by the other tie-breaks first and by label last, so a flip
        # swaps only rows that look identical to a member outside their
        # partition
        shared = canonical_order(X, h, tiebreak=[*aligned, y_enc])
        # the partition of every row, unlabeled ones included (a label given
        # to one joins that partition): a row's place never depends on labels
        every = self._rank_buckets(X, h, np.ones(len(h), dtype=bool))
        return partition(
            np.where(labeled, every, -1),
            order[labeled[order]],
            self.k,
            shared_rows=shared,
            owners=every,
        )

    def _fit_inputs(self, X, X_content, h, base_seed, previous):
        if self.embedding is None:
            return X, {}
        # Fit on all samples in a canonical order (content only): the embedding
        # never sees a label and does not depend on the row order. A warm refit
        # keeps the fitted embedding when its input and seed are unchanged.
        order = canonical_order(X_content, h)
        X_order = take_rows(X, order)
        seed = 0
        if base_seed is not None:
            sequence = np.random.SeedSequence([base_seed, 2**32 - 1])
            seed = int(sequence.generate_state(1)[0])
        digests, layout = row_digests(X_order)
        fingerprint = member_fingerprint(
            "embedding", seed, digests, layout, np.arange(len(order)), np.zeros(0)
        )
        if previous is not None and previous["embedding_fingerprint"] == fingerprint:
            embedding = previous["embedding"]
        else:
            embedding = clone(self.embedding)
            set_random_states(embedding, seed)
            with _seeded(embedding, seed):
                embedding.fit(X_order)
        state = {"embedding_": embedding, "_embedding_fingerprint": fingerprint}
        return self._check_embedded(embedding.transform(X)), state

    def _predict_inputs(self, X):
        if self.embedding is None:
            return X
        check_is_fitted(self, "embedding_")
        return self._check_embedded(self.embedding_.transform(X))
