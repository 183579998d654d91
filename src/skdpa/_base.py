"""Shared ensemble machinery for the partition-aggregation classifiers.

Data flows one way: validate -> partition -> fit members (joblib) -> members'
outputs -> votes -> prediction and radius. Subclasses only decide how rows are
assigned to partitions and what inputs the members see.
"""

import sys
from abc import ABCMeta, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.dummy import DummyClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils._tags import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from threadpoolctl import threadpool_limits

from ._hashing import canonical_order, content_hash, is_text_input
from .certify import certified_radius, plurality_vote

# ---------------------------------------------------------------------------
# Certificates


@dataclass(frozen=True)
class Certificate:
    """What a certified radius counts, for one fitted ensemble.

    ``str(certificate)`` is a sentence that states the threat model.

    The labels an attacker inserts (or flips to) are taken to be among the
    fitted ``classes_``, as in the paper, where labels are ``0..C-1``: a new
    label that sorts *before* the predicted class would win its ties, which the
    formula does not charge for. With the paper's non-negative integer labels
    ``0..C-1`` no such label exists.

    Attributes
    ----------
    threat_model : str
        What one unit of radius stands for.
    k : int
        Number of partitions.
    n_voting : int
        Partitions that vote (non-empty ones); empty partitions abstain.
    max_radius : int
        Largest radius any prediction can reach, ``n_voting // 2``.
    """

    threat_model: str
    k: int
    n_voting: int
    max_radius: int

    def __str__(self):
        return (
            f"A prediction with radius r cannot be changed by {self.threat_model} "
            "at most r training samples, with labels among classes_ "
            f"(k={self.k} partitions, {self.n_voting} voting; largest reachable "
            f"radius {self.max_radius})."
        )


# ---------------------------------------------------------------------------
# Members: module-level workers that joblib ships to processes


def _set_member_random_states(estimator, seed):
    """Give every ``random_state`` parameter of a clone a seed drawn from ``seed``."""
    rng = np.random.RandomState(seed)
    to_set = {}
    for key in sorted(estimator.get_params(deep=True)):
        if key == "random_state" or key.endswith("__random_state"):
            to_set[key] = int(rng.randint(np.iinfo(np.int32).max))
    if to_set:
        estimator.set_params(**to_set)


def _seeded(seed):
    """Context that seeds torch (when loaded) for fitting one part of the model.

    With torch in use this is :func:`skdpa.torch.seeded_torch`: seeded and
    afterwards restored generators, deterministic kernels. Without torch there
    is nothing global to seed: scikit-learn estimators get their seed through
    ``random_state``.
    """
    if "torch" not in sys.modules:
        return nullcontext()
    from .torch._seeding import seeded_torch

    return seeded_torch(seed)


def _seeded_fit(estimator, X, y, seed, fit_params):
    """Fit one member deterministically from its seed."""
    _set_member_random_states(estimator, seed)
    if "torch" in sys.modules:
        # torch members: seeded generators, deterministic kernels, a lock for
        # threads, and __main__ classes made picklable back to the parent
        from .torch._seeding import seeded_fit

        return seeded_fit(estimator, X, y, seed, fit_params)
    estimator.fit(X, y, **fit_params)
    return estimator


def _index_params(params, indices, n_samples):
    """Rows ``indices`` of every sample-aligned fit parameter."""
    out = {}
    for key, value in params.items():
        if (
            value is not None
            and not np.isscalar(value)
            and hasattr(value, "__len__")
            and len(value) == n_samples
        ):
            out[key] = _safe_indexing(value, indices)
        else:
            out[key] = value
    return out


def _fit_member_batch(estimator, X, y, fit_params, tasks, target_for):
    """Fit the members of one batch. ``X`` is shared; each task carries indices.

    ``target_for(y, indices)`` builds a member's labels (DPA: the partition's
    labels; SS-DPA with unlabeled data: every row, -1 outside the partition).
    """
    n_samples = len(y)
    fitted = []
    for rows, fit_rows, seed in tasks:
        member = clone(estimator)
        X_fit = _safe_indexing(X, fit_rows)
        y_fit = target_for(y, rows, fit_rows)
        params = _index_params(fit_params, fit_rows, n_samples)
        fitted.append(_seeded_fit(member, X_fit, y_fit, seed, params))
    return fitted


def _partition_targets(y, rows, fit_rows):
    return y[fit_rows]


def _vote_batch(members, X, n_samples, n_classes):
    votes = np.zeros((n_samples, n_classes), dtype=np.int64)
    rows = np.arange(n_samples)
    for member in members:
        pred = np.asarray(member.predict(X)).astype(np.intp, copy=False).ravel()
        if pred.size and (pred.min() < 0 or pred.max() >= n_classes):
            bad = pred[(pred < 0) | (pred >= n_classes)][0]
            raise ValueError(
                f"A member ({type(member).__name__}) predicted {bad}, which is not "
                f"a class index in [0, {n_classes}): members are fit on labels "
                "encoded as class indices and must predict those."
            )
        votes[rows, pred] += 1  # one vote per row: the index pairs never repeat
    return votes


def _batches(items, n_batches):
    n_batches = max(1, min(len(items), n_batches))
    bounds = np.linspace(0, len(items), n_batches + 1).astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _progress_bar(total, desc, verbose):
    if not verbose:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # joblib's own verbose messages take over
        return None
    return tqdm(total=total, desc=desc, unit="member", leave=verbose > 1)


# ---------------------------------------------------------------------------
# The estimator


class BasePartitionEnsemble(
    ClassifierMixin, MetaEstimatorMixin, BaseEstimator, metaclass=ABCMeta
):
    """Machinery shared by :class:`DPAClassifier` and :class:`SSDPAClassifier`.

    Not part of the public API: subclasses implement ``_assign_training``
    (which partition each training row joins) and may override
    ``_fit_inputs`` / ``_predict_inputs`` (what the members see).
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "k": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    _threat_model = "changes"

    @abstractmethod
    def __init__(
        self, estimator=None, k=50, *, n_jobs=None, random_state=None, verbose=0
    ):
        self.estimator = estimator
        self.k = k
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- hooks ---------------------------------------------------------------

    @abstractmethod
    def _assign_training(self, X, h, labeled):
        """Partition index of each training row in [0, k), -1 for none."""

    def _fit_inputs(self, X, X_content, h, base_seed):
        """What members are fit on (rows are sliced from it). Default: X."""
        return X

    def _predict_inputs(self, X):
        return X

    def _member_targets(self):
        return _partition_targets

    def _input_tags_source(self):
        return self._base_estimator()

    # -- helpers -------------------------------------------------------------

    def _base_estimator(self):
        return DecisionTreeClassifier() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._input_tags_source())
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.string = inner.input_tags.string
        tags.input_tags.categorical = inner.input_tags.categorical
        tags.input_tags.two_d_array = inner.input_tags.two_d_array
        tags.classifier_tags.multi_label = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimators_")

    def _check_X(self, X, reset):
        """Validate X; return (member input, content input for hashing).

        Three kinds of input: numeric arrays/sparse matrices (validated by
        ``check_array``), 1-D sequences of strings (text pipelines), and
        DataFrames with non-numeric columns (passed to the members as they are).
        """
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
        input_tags = get_tags(self).input_tags
        finite = "allow-nan" if input_tags.allow_nan else True
        is_frame = hasattr(X, "iloc") and hasattr(X, "dtypes")
        if is_frame and not all(dt.kind in "biuf" for dt in X.dtypes):
            validate_data(self, X, skip_check_array=True, reset=reset)
            check_array(X, dtype=None, ensure_all_finite=False, estimator=self)
            return X, X
        sparse_ok = input_tags.sparse
        checked = validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=["csr", "csc"] if sparse_ok else False,
            dtype="numeric",
            ensure_all_finite=finite,
        )
        # DataFrames keep their column names for the members (pipelines that
        # select columns by name); their numeric values are what gets hashed.
        return (X if is_frame else checked), checked

    def _check_y(self, y):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return y

    def _base_seed(self):
        """None, the int random_state, or one draw from a RandomState instance."""
        rs = self.random_state
        if rs is None or isinstance(rs, Integral):
            return rs
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _member_seeds(self, base):
        """Seed of member i: i when random_state is None, else from (base, i)."""
        if base is None:
            return np.arange(self.k, dtype=np.int64)
        return np.array(
            [
                np.random.SeedSequence([base, i]).generate_state(1)[0]
                for i in range(self.k)
            ],
            dtype=np.int64,
        )

    def _check_X_unfitted(self, X):
        """Validate X for a method that needs no fitted state (sets nothing)."""
        if is_text_input(X):
            return X
        if hasattr(X, "iloc") and not all(dt.kind in "biuf" for dt in X.dtypes):
            return X
        return check_array(
            X,
            accept_sparse=True,
            dtype="numeric",
            ensure_all_finite=False,
            estimator=self,
        )

    def _unlabeled_mask(self, y):
        """Rows without a label. DPA has none; SS-DPA marks them with -1."""
        return np.zeros(len(y), dtype=bool)

    # -- fit -----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit one clone of the base estimator per partition.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Training data. A 1-D sequence of strings is passed to the members
            as is (text pipelines).
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).
        **fit_params : dict
            Passed to every member's ``fit``; sample-aligned arrays such as
            ``sample_weight`` are sliced to the member's rows.

        Returns
        -------
        self : object
            The fitted ensemble.
        """
        # Nothing half-fitted is left behind: on any error the estimator is
        # returned to the state it had before this call.
        saved = dict(self.__dict__)
        try:
            return self._fit(X, y, fit_params)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y, fit_params):
        for attr in [a for a in vars(self) if a.endswith("_") and a[:2] != "__"]:
            delattr(self, attr)
        self._text_input = is_text_input(X)
        if y is None:
            # raises scikit-learn's "requires y to be passed" error
            validate_data(self, X, y=None, skip_check_array=True)
        X_members, X_content = self._check_X(X, reset=True)
        y = self._check_y(y)
        n_samples = len(y)
        if _num_rows(X_content) != n_samples:
            raise ValueError(
                "X and y have inconsistent numbers of samples: "
                f"X has {_num_rows(X_content)}, y has {n_samples}."
            )
        unlabeled = self._unlabeled_mask(y)
        labeled = ~unlabeled
        if not labeled.any():
            raise ValueError("y has no labeled samples; at least one is required.")
        classes, y_enc_labeled = np.unique(y[labeled], return_inverse=True)
        y_enc = np.full(n_samples, -1, dtype=np.int64)
        y_enc[labeled] = y_enc_labeled

        h = content_hash(X_content)
        partition = np.asarray(self._assign_training(X_content, h, labeled))

        sample_weight = fit_params.get("sample_weight")
        tiebreak = [y_enc]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.shape != (n_samples,):
                raise ValueError(
                    f"sample_weight must have shape ({n_samples},); got "
                    f"{sample_weight.shape}."
                )
            tiebreak.append(sample_weight)
        order = canonical_order(X_content, h, tiebreak=tiebreak)
        order = order[labeled[order]]
        order = order[np.argsort(partition[order], kind="stable")]
        bounds = np.searchsorted(partition[order], np.arange(self.k + 1))
        samples = [order[bounds[i] : bounds[i + 1]] for i in range(self.k)]

        estimator = self._base_estimator()
        base_seed = self._base_seed()
        X_fit = self._fit_inputs(X_members, X_content, h, base_seed)
        fit_order = self._member_fit_rows(X_content, h, tiebreak)
        seeds = self._member_seeds(base_seed)
        members = [None] * self.k
        tasks = []
        for i, rows in enumerate(samples):
            present = np.unique(y_enc[rows])
            if len(present) == 1:
                # Single-class partitions vote their class without fitting the
                # base estimator (many refuse one class): still a deterministic
                # function of the partition.
                members[i] = DummyClassifier(
                    strategy="constant", constant=int(present[0])
                ).fit(np.zeros((len(rows), 1)), y_enc[rows])
            elif len(present) > 1:
                fit_rows = rows if fit_order is None else fit_order(rows)
                tasks.append((i, (rows, fit_rows, int(seeds[i]))))

        fitted = self._fit_members(estimator, X_fit, y_enc, fit_params, tasks)
        for (i, _), member in zip(tasks, fitted, strict=True):
            members[i] = member

        self.estimator_ = estimator
        self.classes_ = classes
        self.n_classes_ = len(classes)
        self.estimators_samples_ = samples
        self.partition_sizes_ = np.array([len(s) for s in samples], dtype=np.int64)
        self.estimators_ = members
        n_voting = int(np.count_nonzero(self.partition_sizes_))
        self.certificate_ = Certificate(
            threat_model=self._threat_model,
            k=self.k,
            n_voting=n_voting,
            max_radius=n_voting // 2,
        )
        return self

    def _member_fit_rows(self, X_content, h, tiebreak):
        """Rows a member is fit on, given its partition's rows (None: the same)."""
        return None

    def _fit_members(self, estimator, X, y, fit_params, tasks):
        if not tasks:
            return []
        n_jobs = self.n_jobs
        from joblib import effective_n_jobs

        workers = effective_n_jobs(n_jobs)
        # A few batches per worker balance the load while keeping the joblib
        # overhead per member small; X travels once per batch (memory-mapped by
        # loky for large arrays), each task carries only its indices.
        n_batches = 1 if workers == 1 else 4 * workers
        batches = _batches([task for _, task in tasks], n_batches)
        target_for = self._member_targets()
        bar = _progress_bar(len(tasks), f"{type(self).__name__} fit", self.verbose)
        parallel = Parallel(
            n_jobs=n_jobs,
            verbose=0 if bar is not None else self.verbose,
            return_as="generator" if bar is not None else "list",
        )
        results = parallel(
            delayed(_fit_member_batch)(estimator, X, y, fit_params, batch, target_for)
            for batch in batches
        )
        fitted = []
        for batch_result in results:
            fitted.extend(batch_result)
            if bar is not None:
                bar.update(len(batch_result))
        if bar is not None:
            bar.close()
        return fitted

    # -- predict -------------------------------------------------------------

    def vote_counts(self, X):
        """Number of members voting for each class.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        votes : ndarray of shape (n_samples, `n_classes_`), dtype int64
            Columns in ``classes_`` order. Empty partitions abstain, so each row
            sums to the number of non-empty partitions.
        """
        check_is_fitted(self)
        X_members, X_content = self._check_X(X, reset=False)
        n_samples = _num_rows(X_content)
        X_members = self._predict_inputs(X_members)
        votes = np.zeros((n_samples, self.n_classes_), dtype=np.int64)
        fitted = []
        for member in self.estimators_:
            if member is None:
                continue
            if isinstance(member, DummyClassifier):
                votes[:, int(member.constant)] += 1
            else:
                fitted.append(member)
        if fitted:
            from joblib import effective_n_jobs

            n_threads = effective_n_jobs(self.n_jobs)
            batches = _batches(fitted, n_threads)
            # threads: members are read, never copied; most predict methods
            # release the GIL (NumPy, torch). Each thread then gets one BLAS
            # thread, so n_jobs threads do not oversubscribe the cores.
            with threadpool_limits(limits=1 if n_threads > 1 else None):
                partial = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                    delayed(_vote_batch)(batch, X_members, n_samples, self.n_classes_)
                    for batch in batches
                )
            for part in partial:
                votes += part
        return votes

    def predict(self, X):
        """Plurality vote of the members, ties going to the smaller class index.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, values from ``classes_``.
        """
        votes = self.vote_counts(X)
        return self.classes_[plurality_vote(votes)]

    def predict_certified(self, X):
        """Predict and certify each prediction.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features) \
                or sequence of str of shape (n_samples,)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, as :meth:`predict` returns them.
        radius : ndarray of shape (n_samples,), dtype int64
            Certified radius of each prediction (see ``certificate_`` for what
            it counts); always ``>= 0`` and at most ``certificate_.max_radius``.
        """
        votes = self.vote_counts(X)
        return self.classes_[plurality_vote(votes)], certified_radius(votes)


def _num_rows(X):
    if sp.issparse(X) or hasattr(X, "shape"):
        return X.shape[0]
    return len(X)
