"""The shared fixtures of conftest.py hand out the data they promise."""

import numpy as np
from helpers import digits_arrays
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits


def test_digits_default_split_is_the_first_900_and_next_200_rows(digits):
    X, y = load_digits(return_X_y=True)
    X_train, y_train, X_test, y_test = digits
    assert_array_equal(X_train, X[:900])
    assert_array_equal(y_train, y[:900])
    assert_array_equal(X_test, X[900:1100])
    assert_array_equal(y_test, y[900:1100])
    assert X_train.dtype == np.float64


def test_digits_are_copies_of_the_shared_arrays(digits):
    X_train = digits[0]
    assert X_train.flags.writeable
    assert not np.shares_memory(X_train, digits_arrays()[0])
    assert not digits_arrays()[0].flags.writeable
