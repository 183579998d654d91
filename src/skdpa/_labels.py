"""Checks of the label set against the labels (one module, no estimator state)."""

import numbers

import numpy as np

__all__ = ["check_label_kinds", "check_minus_one_class"]


def _kind(value):
    if isinstance(value, bool | np.bool_):
        return "booleans"
    if isinstance(value, str | bytes | np.str_ | np.bytes_):
        return "strings"
    if isinstance(value, numbers.Number | np.number):
        return "numbers"
    return type(value).__name__


def _kinds(values):
    return {_kind(v) for v in values}


def check_label_kinds(classes, y):
    """Raise when ``classes`` mixes kinds of labels or differs in kind from y.

    Labels of another kind never match (``"1"`` is not ``1``), except booleans
    and the integers 0 and 1, which Python compares equal: ``classes=[False,
    True]`` with labels 0/1 would silently train on them. Both are refused.

    Parameters
    ----------
    classes : sequence
        The given label set, as passed (before NumPy converts it).
    y : array-like
        The labeled rows' labels.

    Examples
    --------
    >>> from skdpa._labels import check_label_kinds
    >>> check_label_kinds(["a", "b"], ["b", "a"])
    >>> check_label_kinds([False, True], [0, 1])
    Traceback (most recent call last):
    ...
    ValueError: classes holds booleans but y holds numbers; got
    classes=[False, True]. Give classes of the type of the labels.
    """
    given = list(classes.tolist() if hasattr(classes, "tolist") else classes)
    kinds = _kinds(given)
    if "strings" in kinds and "numbers" in kinds:
        raise ValueError(f"classes must not mix strings and numbers; got {given!r}.")
    labels = np.asarray(y)
    y_kinds = {
        {"b": "booleans", "U": "strings", "S": "strings"}.get(
            labels.dtype.kind, "numbers"
        )
    }
    if labels.dtype.kind == "O":
        y_kinds = _kinds(labels.tolist())
    if not labels.size or len(kinds) != 1 or len(y_kinds) != 1 or kinds == y_kinds:
        return
    raise ValueError(
        f"classes holds {kinds.pop()} but y holds {y_kinds.pop()}; got "
        f"classes={given!r}. Give classes of the type of the labels."
    )


def check_minus_one_class(y, owner):
    """Warn when ``y`` holds -1 in an estimator that trains it as a class.

    scikit-learn's semi-supervised convention marks unlabeled rows with -1;
    ``DPAClassifier`` has no unlabeled rows and trains -1 as a label. A
    ``-1``/``+1`` coding of a binary problem does not warn.

    Examples
    --------
    >>> import warnings
    >>> from skdpa._labels import check_minus_one_class
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_minus_one_class([-1, 0, 1], "DPAClassifier")
    >>> len(caught)
    1
    """
    labels = np.asarray(y)
    if labels.dtype.kind in "iuf":
        values = set(np.unique(labels).tolist())
    elif labels.dtype.kind == "O":
        values = {
            v
            for v in labels.tolist()
            if isinstance(v, numbers.Number) and not isinstance(v, bool)
        }
        values |= {"other"} if len(values) < len(set(labels.tolist())) else set()
    else:
        return
    if -1 in values and values != {-1, 1}:
        import warnings

        warnings.warn(
            f"y holds -1, which {owner} trains as a class: it does not mark "
            "unlabeled rows (scikit-learn's semi-supervised convention). Drop "
            "unlabeled rows, or use SSDPAClassifier, which reads y == -1 as "
            "unlabeled; if -1 is a real class, ignore this warning.",
            UserWarning,
            stacklevel=4,
        )
