"""Clear errors at the edges of the API: each names the parameter, the limit
and the value received (scikit-learn style), and is pinned here."""

import datetime
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression

from skdpa import DPAClassifier, SSDPAClassifier, certified_radius
from skdpa._hashing import content_hash
from skdpa.certify import plurality_certify, plurality_winner, runoff_certify
from skdpa.semi_supervised import KNNLabelSpreading, SemiSupervisedVoting

X = np.arange(40.0).reshape(20, 2)
y = np.arange(20) % 2


@pytest.mark.parametrize(
    "classes, labels, match",
    [
        (["0", "1"], y, r"classes holds strings but y holds numbers"),
        ([0, 1], y.astype(str), r"classes holds numbers but y holds strings"),
        ([False, True], y, r"classes holds booleans but y holds numbers"),
        ([0, 1], y.astype(bool), r"classes holds numbers but y holds booleans"),
    ],
)
def test_classes_of_another_type_than_y(classes, labels, match):
    with pytest.raises(ValueError, match=match):
        DPAClassifier(k=2, classes=classes).fit(X, labels)


def test_classes_mixing_strings_and_numbers():
    with pytest.raises(
        ValueError, match=r"classes must not mix strings and numbers; got \[0, 'a'\]"
    ):
        DPAClassifier(k=2, classes=[0, "a"]).fit(X, y)


def test_classes_of_the_type_of_y_still_work():
    DPAClassifier(k=2, classes=[False, True]).fit(X, y.astype(bool))
    DPAClassifier(k=2, classes=np.array([0.0, 1.0])).fit(X, y)
    DPAClassifier(k=2, classes=["a", "b"]).fit(X, np.array(["a", "b"] * 10))
    # SS-DPA: the unlabeled marker -1 is not a label
    y_semi = np.array(["a", "b", -1, "a"] * 5, dtype=object)
    SSDPAClassifier(k=2, classes=["a", "b"]).fit(X, y_semi)


def test_a_text_list_with_one_non_string_element():
    docs = ["spam eggs", "ham", 3, "eggs"]
    match = r"X looks like a sequence of documents, but element 2 is int 3"
    with pytest.raises(ValueError, match=match):
        DPAClassifier(k=2).fit(docs, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=match):
        DPAClassifier(k=2).assign_partitions(docs)


def test_time_cells_hash_canonically():
    naive = datetime.time(10, 11, 12, 5)
    aware = datetime.time(
        11, 11, 12, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    rows = np.array([[naive, "x"], [aware, "x"], [datetime.time(10, 11), "x"]])
    h = content_hash(rows.astype(object))
    assert h[0] == h[1] != h[2]
    # a time of day is not a duration or an instant
    assert (
        h[2]
        != content_hash(
            np.array([[datetime.timedelta(hours=10, minutes=11), "x"]], dtype=object)
        )[0]
    )


def test_k_times_spread_beyond_the_hash_range():
    with pytest.raises(
        ValueError,
        match=r"k \* spread must be below 2\*\*64 \(the hash range\); got "
        r"k=4294967296, spread=4294967296",
    ):
        DPAClassifier(k=2**32, spread=2**32).assign_partitions(X)


def test_uint64_votes_beyond_int64():
    votes = np.array([[2**63 + 5, 1]], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"votes must be below 2\*\*63; got a maximum"):
        certified_radius(votes)
    assert_array_equal(certified_radius(np.array([[5, 1]], dtype=np.uint64)), [2])


@pytest.mark.parametrize(
    "weights, match",
    [
        ([0], r"weights must sum to a positive number; got \[0\]"),
        ([-1.0], r"weights must be non-negative and finite; got \[-1.0\]"),
        ([np.nan], r"weights must be non-negative and finite; got \[nan\]"),
    ],
)
def test_semi_supervised_voting_weights(weights, match):
    y_semi = np.where(np.arange(20) % 3 == 0, y, -1)
    voting = SemiSupervisedVoting([("knn", KNNLabelSpreading())], weights=weights)
    with pytest.raises(ValueError, match=match):
        voting.fit(X, y_semi)


def test_huge_n_classes():
    preds = np.zeros((5, 3), dtype=int)
    match = r"n_classes must be at most 1048575 .*; got 1000000000000"
    with pytest.raises(ValueError, match=match):
        plurality_certify(preds, 10**12)
    with pytest.raises(ValueError, match=match):
        plurality_winner(preds, 10**12)


@pytest.mark.parametrize("value", ["yes", 2, None, np.array([True])])
def test_per_class_must_be_a_boolean(value):
    match = r"per_class must be a bool; got "
    with pytest.raises(ValueError, match=match):
        plurality_certify(np.zeros((5, 3), dtype=int), 2, per_class=value)
    with pytest.raises(ValueError, match=match):
        runoff_certify(np.zeros((5, 3, 2)), per_class=value)


def test_minus_one_labels_in_dpa_warn():
    with pytest.warns(UserWarning, match=r"y holds -1, which DPAClassifier trains"):
        clf = DPAClassifier(LogisticRegression(), k=2).fit(X, np.where(y == 0, -1, 2))
    assert clf.classes_.tolist() == [-1, 2]
    # a +-1 coding is a binary problem: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DPAClassifier(LogisticRegression(), k=2).fit(X, np.where(y == 0, -1, 1))
