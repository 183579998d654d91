"""Leaf facts about members: what a member involves, how it is seeded, what it takes.

Nothing here imports another skdpa module (nor torch), so the engine, the
estimators and :mod:`skdpa.torch` can all ask these questions without an
import cycle.
"""

import inspect

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils._tags import get_tags

__all__ = [
    "cannot_predict",
    "fit_accepts",
    "involves_torch",
    "num_rows",
    "rejects_nan",
    "sample_aligned",
    "random_state_keys",
    "score_method",
    "set_random_states",
    "slice_params",
]

# Module names whose classes make a member "torch": its fit must seed torch's
# generators in the worker. Checked without importing torch.
_TORCH_MODULES = ("torch", "skorch", "skdpa.torch")
_MAX_VISITED = 10_000


def _is_torch_name(module):
    return isinstance(module, str) and (
        module in _TORCH_MODULES
        or module.startswith(tuple(m + "." for m in _TORCH_MODULES))
    )


def _is_torch_object(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    return any(_is_torch_name(getattr(c, "__module__", None)) for c in cls.__mro__)


def involves_torch(estimator):
    """Whether an estimator trains or runs torch: a torch module class or
    instance, a skorch net or a ``skdpa.torch`` object among its parameters.

    Walks ``get_params(deep=False)`` recursively, containers included; a class
    or instance counts when a class in its MRO comes from ``torch``,
    ``skorch`` or ``skdpa.torch``. Whether torch happens to be imported does
    not matter, and torch is never imported: a scikit-learn member stays on
    the plain path in a process that has torch loaded.

    Parameters
    ----------
    estimator : object
        A scikit-learn estimator, fitted or not.

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdpa._members import involves_torch
    >>> involves_torch(make_pipeline(StandardScaler(), LogisticRegression()))
    False
    """
    stack, seen = [estimator], set()
    while stack and len(seen) < _MAX_VISITED:
        item = stack.pop()
        if id(item) in seen or item is None or isinstance(item, str | bytes):
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            continue
        if _is_torch_object(item):
            return True
        if isinstance(item, type):
            continue
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif hasattr(item, "get_params"):
            try:
                stack.extend(item.get_params(deep=False).values())
            except Exception:  # noqa: BLE001 - an odd estimator: look no deeper
                continue
    return False


def random_state_keys(estimator):
    """Names of every ``random_state`` parameter of ``estimator``, sorted.

    Clones of one estimator share them, so a caller seeding many clones can
    look them up once and pass them to :func:`set_random_states`.
    """
    return [
        key
        for key in sorted(estimator.get_params(deep=True))
        if key == "random_state" or key.endswith("__random_state")
    ]


def set_random_states(estimator, seed, keys=None):
    """Give every ``random_state`` parameter of ``estimator`` a draw from ``seed``.

    As scikit-learn's ``_set_random_states``: nested parameters included, in
    sorted order of their names, so the draw depends on ``seed`` alone.
    ``keys``: the estimator's :func:`random_state_keys` when already known
    (e.g. for a clone of an estimator they were read from).

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skdpa._members import set_random_states
    >>> a = set_random_states(DecisionTreeClassifier(), 7)
    >>> a.random_state == set_random_states(DecisionTreeClassifier(), 7).random_state
    True
    """
    if keys is None:
        keys = random_state_keys(estimator)
    if keys:  # a RandomState costs more to make than many small member fits
        rng = np.random.RandomState(seed)
        estimator.set_params(
            **{key: int(rng.randint(np.iinfo(np.int32).max)) for key in keys}
        )
    return estimator


def num_rows(X):
    """Number of rows of an array, sparse matrix, DataFrame or sequence."""
    if hasattr(X, "shape"):
        return X.shape[0]
    return len(X)


def sample_aligned(value, n_samples):
    """Whether a fit parameter has one entry per training sample."""
    return (
        value is not None
        and not np.isscalar(value)
        and hasattr(value, "__len__")
        and not isinstance(value, str | bytes | dict)
        and len(value) == n_samples
    )


def slice_params(params, rows, n_samples):
    """Rows ``rows`` of every sample-aligned fit parameter; others as they are."""
    return {
        key: _safe_indexing(value, rows) if sample_aligned(value, n_samples) else value
        for key, value in params.items()
    }


def cannot_predict(member):
    """Whether a fitted member cannot predict for want of training rows.

    A k-nearest-neighbours estimator (alone or last in a Pipeline) fit on
    fewer rows than its ``n_neighbors`` raises at every prediction. The
    ensembles let such a member abstain, like a member with no rows, so that
    removing rows from a partition (poisoning, or just a small partition)
    cannot make the ensemble's predict raise.
    """
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    final = member
    while isinstance(final, Pipeline):
        final = final.steps[-1][1]
    if not isinstance(final, (KNeighborsClassifier, KNeighborsRegressor)):
        return False
    n_fit = getattr(final, "n_samples_fit_", None)
    return n_fit is not None and n_fit < final.n_neighbors


def rejects_nan(estimator):
    """Whether an estimator is sure to reject NaN and inf in its input.

    Only a plain estimator that declares ``allow_nan=False`` counts: a
    Pipeline reports ``allow_nan=False`` even when its first step imputes, so
    composites decide for themselves when they are fit (as in
    BaggingClassifier).
    """
    if isinstance(estimator, Pipeline) or hasattr(estimator, "transformers"):
        return False
    if hasattr(estimator, "transformer_list"):
        return False
    return not get_tags(estimator).input_tags.allow_nan


def fit_accepts(estimator, key):
    """Whether ``estimator.fit`` takes keyword ``key`` (None: cannot tell)."""
    if isinstance(estimator, Pipeline):
        step, sep, param = key.partition("__")
        if not sep or step not in estimator.named_steps:
            return False
        inner = estimator.named_steps[step]
        return True if inner in (None, "passthrough") else fit_accepts(inner, param)
    try:
        params = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return None
    if key in params:
        return True
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return False


def score_method(estimator):
    """Where a member's scores come from: predict_proba, else decision_function,
    else its predictions (one-hot)."""
    for method in ("predict_proba", "decision_function"):
        if hasattr(estimator, method):
            return method
    return "predict"
