"""Fixtures shared by the test modules (pytest finds them here by name).

Helper functions and small test estimators live in ``helpers.py``.

``digits`` is the one train/test split of scikit-learn's 8x8 digits that most
modules use; a module that needs other rows says which in a module-level
``DIGITS_SPLIT`` dict (the keys of ``_DIGITS_SPLIT``), as pytest's fixtures
may read their requesting module. A module whose fixture returns something
else (other rows *and* another shape) keeps its own ``digits``, which
overrides this one.
"""

import numpy as np
import pytest
from helpers import digits_arrays

_DIGITS_SPLIT = {
    "classes": None,  # keep only these labels (before slicing); None: all ten
    "scale": None,  # divide the pixels (0-16) by this; None: raw values
    "dtype": None,  # cast X to this after scaling; None: float64
    "n_train": 900,  # training rows: the first n_train
    "test": (900, 1100),  # test rows: [start, stop)
}


@pytest.fixture(scope="module")
def digits(request):
    """``(X_train, y_train, X_test, y_test)`` of the digits, split per module.

    Defaults: rows ``[:900]`` train, ``[900:1100]`` test, raw pixel values;
    a module's ``DIGITS_SPLIT`` overrides any key of ``_DIGITS_SPLIT``.
    """
    unknown = set(getattr(request.module, "DIGITS_SPLIT", {})) - set(_DIGITS_SPLIT)
    assert not unknown, f"unknown DIGITS_SPLIT keys: {sorted(unknown)}"
    split = _DIGITS_SPLIT | getattr(request.module, "DIGITS_SPLIT", {})
    X, y = digits_arrays()
    if split["classes"] is not None:
        keep = np.isin(y, split["classes"])
        X, y = X[keep], y[keep]
    if split["scale"] is not None:
        X = X / split["scale"]
    X = X.astype(split["dtype"] or np.float64)  # a copy
    y = y.copy()
    n_train, (start, stop) = split["n_train"], split["test"]
    return X[:n_train], y[:n_train], X[start:stop], y[start:stop]


@pytest.fixture(scope="module")
def digits_split(digits):
    """``digits`` under the name ``test_plotting`` uses."""
    return digits
