"""Bad input gets a clear error naming the parameter, the limit and the value;
inputs users actually pass are accepted; nothing is left half-fitted."""

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import SpyClassifier
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_blobs, make_classification
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from skdpa import DPAClassifier, SSDPAClassifier

ESTIMATORS = [DPAClassifier, SSDPAClassifier]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    return X, y


class Returns(ClassifierMixin, BaseEstimator):
    """A classifier whose predict returns whatever ``output(X)`` builds."""

    def __init__(self, output=None):
        self.output = output

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return self.output(X)


class RaisesInPredict(Returns):
    def predict(self, X):
        raise ValueError("Found unknown categories ['z'] in column 1 during transform")


# -- members must be classifiers that predict class indices ------------------


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_regressor_is_refused_before_any_fit(Est, data):
    X, y = data
    with pytest.raises(ValueError, match="must be a classifier.*LinearRegression"):
        Est(LinearRegression(), k=3).fit(X, y)


@pytest.mark.parametrize(
    "output, match",
    [
        (lambda X: np.full(len(X), 0.4), r"returned 0\.4, which is not a class index"),
        (lambda X: np.full((len(X), 2), 0.5), r"predictions of shape \(\d+, 2\)"),
        (lambda X: np.array(["a"] * len(X)), "predictions of dtype <U1"),
        (lambda X: np.full(len(X), np.nan), "returned nan, which is not a class index"),
        (lambda X: np.zeros(len(X) - 1, dtype=int), r"expected \(\d+,\)"),
        (lambda X: np.full(len(X), 7), r"predicted 7, which is not a class index"),
    ],
)
def test_member_predictions_are_validated_and_the_member_named(data, output, match):
    X, y = data
    clf = DPAClassifier(Returns(output), k=3).fit(X, y)
    with pytest.raises(ValueError, match=match) as info:
        clf.predict(X)
    assert "member" in str(info.value) and "Returns" in str(info.value)


def test_a_member_failing_in_predict_is_named(data):
    X, y = data
    clf = DPAClassifier(RaisesInPredict(), k=3).fit(X, y)
    with pytest.raises(ValueError, match="unknown categories") as info:
        clf.predict(X)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "member" in notes and "RaisesInPredict" in notes and "rows" in notes


def test_a_member_failing_in_fit_is_named_and_nothing_is_half_fitted(data):
    X, y = data

    class Explodes(SpyClassifier):
        def fit(self, X, y, sample_weight=None):
            raise RuntimeError("member exploded")

    clf = DPAClassifier(Explodes(), k=3)
    with pytest.raises(RuntimeError, match="member exploded") as info:
        clf.fit(X, y)
    assert "fit on" in "\n".join(getattr(info.value, "__notes__", []))
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)


# -- k -----------------------------------------------------------------------


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_k_true_is_not_one(Est, data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'k' parameter .* Got True"):
        Est(k=True).fit(X, y)


def test_spread_true_is_not_one(data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'spread' parameter .* Got True"):
        DPAClassifier(k=3, spread=True).fit(X, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_huge_k_raises_before_allocating(Est, data):
    X, y = data
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"k=1000000000 asks for 1000000000 members"):
        Est(k=10**9).fit(X, y)
    assert time.perf_counter() - start < 5  # nothing of size k was built


def test_a_huge_spread_raises_too(data):
    X, y = data
    with pytest.raises(ValueError, match="with spread=100000000"):
        DPAClassifier(k=10, spread=10**8).fit(X, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_k_above_the_sample_count_warns(Est, data):
    X, y = data
    with pytest.warns(UserWarning, match=r"k=200 gives 200 members for 120 labeled"):
        clf = Est(k=200).fit(X, y)
    assert sum(m is None for m in clf.estimators_) >= 80


# -- labels --------------------------------------------------------------------


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_fewer_than_two_classes_raise(Est, data):
    X, _ = data
    with pytest.raises(ValueError, match="at least 2 classes.*1 class: 3"):
        Est(k=3).fit(X, np.full(len(X), 3))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_one_class_with_the_label_set_given_fits(Est, data):
    # removing every sample of the other classes must not make fit fail (a
    # denial of service against the certificate): with classes= given, data
    # of one class fits, and every member votes that class
    X, y = data
    keep = y == 1
    clf = Est(k=5, classes=[0, 1]).fit(X[keep], y[keep])
    assert_array_equal(clf.classes_, [0, 1])
    y_pred, radius = clf.predict_certified(X)
    assert (y_pred == 1).all()
    voting = int(np.count_nonzero(clf.partition_sizes_))
    votes = clf.vote_counts(X)
    assert (votes[:, 1] == voting).all() and (votes[:, 0] == 0).all()
    # a gap of n votes survives (n - 1) // 2 poisoned samples (ties go to 0)
    assert (radius == (voting - 1) // 2).all()
    # a removal that takes the last sample of a class is a fit like any other
    full = Est(k=5, classes=[0, 1]).fit(X, y)
    assert set(np.unique(full.predict(X))) == {0, 1}
    with pytest.raises(ValueError, match="at least 2 classes.*1 class: 1"):
        Est(k=5).fit(X[keep], y[keep])  # without classes=, still refused


def test_ssdpa_minus_one_plus_one_labels_warn_and_raise(data):
    X, y = data
    with pytest.warns(UserWarning, match="y holds only -1 and 1"):
        with pytest.raises(ValueError, match="at least 2 classes.*1 class: 1"):
            SSDPAClassifier(k=3).fit(X, 2 * y - 1)


def test_ssdpa_string_labels_with_unlabeled_rows(data):
    X, y = data
    labels = np.array(["cat", "dog"], dtype=object)[y]
    labels[::3] = -1  # unlabeled rows among string labels: an object array
    clf = SSDPAClassifier(k=4).fit(X, labels)
    assert_array_equal(clf.classes_, ["cat", "dog"])
    assert clf.partition_sizes_.sum() == 80


# -- inputs users pass -----------------------------------------------------------


def test_nan_reaches_members_that_impute(data):
    X, y = data
    X = X.copy()
    X[::5, 1] = np.nan
    member = make_pipeline(SimpleImputer(), LogisticRegression())
    clf = DPAClassifier(member, k=3).fit(X, y)
    assert clf.predict(X).shape == (120,)
    # a member that is sure to refuse NaN is named up front, for every row
    with pytest.raises(ValueError, match="Input X contains NaN"):
        DPAClassifier(LogisticRegression(), k=3).fit(X, y)


def test_a_mixed_object_array_reaches_members_as_is(data):
    X, y = data
    X_obj = np.empty((len(X), 2), dtype=object)
    X_obj[:, 0] = X[:, 0]
    X_obj[:, 1] = np.where(y == 1, "red", "blue")
    X_obj[::7, 1] = "green"
    member = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), [1]), remainder="passthrough"
        ),
        LogisticRegression(),
    )
    clf = DPAClassifier(member, k=3).fit(X_obj, y)
    assert (clf.predict(X_obj) == y).mean() > 0.9
    frame = pd.DataFrame(X_obj, columns=["a_x", "b_colour"])
    frame["a_x"] = frame["a_x"].astype(float)
    # the same content as a DataFrame lands in the same partitions (frames
    # hash their columns in name order: these names are in array order)
    assert_array_equal(clf.assign_partitions(X_obj), clf.assign_partitions(frame))


def test_sample_weight_needs_a_member_that_takes_it(data):
    X, y = data
    w = np.ones(len(y))
    member = make_pipeline(StandardScaler(), LogisticRegression())
    with pytest.raises(ValueError, match=r"'<step>__sample_weight'"):
        DPAClassifier(member, k=3).fit(X, y, sample_weight=w)
    clf = DPAClassifier(member, k=3).fit(X, y, logisticregression__sample_weight=w)
    assert clf.predict(X).shape == (120,)

    class NoWeights(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            raise AssertionError("must not be reached")

        def predict(self, X):
            return np.zeros(len(X), dtype=int)

    with pytest.raises(ValueError, match="does not accept the fit parameter"):
        DPAClassifier(NoWeights(), k=3).fit(X, y, sample_weight=w)


def test_blobs_with_duplicate_rows_and_string_labels_fit():
    X, y = make_blobs(n_samples=60, centers=3, random_state=0)
    X = np.vstack([X, X[:10]])
    labels = np.array(["a", "b", "c"])[np.concatenate([y, y[:10]])]
    clf = DPAClassifier(k=4).fit(X, labels)
    assert set(clf.predict(X)) <= {"a", "b", "c"}


def test_big_integers_in_a_frame_are_placed_exactly():
    """A numeric frame is hashed column by column: int64 values beyond 2**53
    are not rounded to float64 on the way, so neighbours stay apart."""
    big = 2**60
    frame = pd.DataFrame({"id": [big + i for i in range(8)], "x": np.arange(8.0)})
    ids = pd.DataFrame({"id": [big + i for i in range(8)]})
    clf = DPAClassifier(k=1000)
    assert len(set(clf.assign_partitions(ids).tolist())) == 8
    assert_array_equal(
        clf.assign_partitions(frame), clf.assign_partitions(frame.to_numpy(object))
    )


def test_ssdpa_warns_when_the_string_minus_one_is_a_class():
    X = np.arange(12.0).reshape(6, 2)
    y = np.array(["a", "b", -1, "a", "b", -1])  # NumPy makes -1 the string "-1"
    with pytest.warns(UserWarning, match="the string '-1'"):
        clf = SSDPAClassifier(k=2).fit(X, y)
    assert "-1" in clf.classes_.tolist()
    ok = np.array(["a", "b", -1, "a", "b", -1], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SSDPAClassifier(k=2).fit(X, ok).classes_.tolist() == ["a", "b"]
