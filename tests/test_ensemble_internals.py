"""Ensemble internals that a user can see: estimators saved by an earlier
release, and what a failed fit leaves behind."""

import inspect
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier

import skdpa
from skdpa import DPAClassifier, DPARegressor, SSDPAClassifier, SSDPARegressor
from skdpa.semi_supervised import KNNLabelSpreading


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def _fitted(name, X, y):
    hidden = y.copy()
    hidden[::3] = -1
    if name == "dpa":
        return DPAClassifier(KNeighborsClassifier(3), k=5, random_state=0).fit(X, y)
    if name == "ssdpa":
        return SSDPAClassifier(
            KNNLabelSpreading(5), k=3, pass_unlabeled=True, cost_aware=True
        ).fit(X, hidden)
    if name == "dpa_reg":
        return DPARegressor(k=5).fit(X, y.astype(float))
    if name == "ssdpa_reg":
        return SSDPARegressor(k=5).fit(X, y.astype(float))
    return KNNLabelSpreading(5).fit(X, hidden)


def _as_saved_without(est, names):
    """A pickle of ``est`` as a release before ``names`` existed wrote it."""
    old = pickle.loads(pickle.dumps(est))
    for name in names:
        del old.__dict__[name]
    return pickle.dumps(old)


# -- 1. estimators saved before a parameter existed ---------------------------


def _default(cls, name):
    return inspect.signature(cls.__init__).parameters[name].default


# parameters added to __init__ since 0.2 (checked against 0.2.0 and 0.3.0)
ADDED = {
    "dpa": ["cost_aware"],
    "ssdpa": ["cost_aware"],
    "ls": ["vote"],
    # the regressors came with 0.3: every parameter, to check the mechanism
    "dpa_reg": ["spread", "hasher", "warm_start"],
    "ssdpa_reg": ["partitioning", "pass_unlabeled", "embedding"],
}


@pytest.mark.parametrize("name", sorted(ADDED))
def test_pickle_without_a_later_parameter_gets_its_default(iris, name):
    X, y = iris
    est = _fitted(name, X, y)
    expected = est.predict(X)
    loaded = pickle.loads(_as_saved_without(est, ADDED[name]))
    params = loaded.get_params(deep=False)
    for param in ADDED[name]:
        assert params[param] == _default(type(est), param)
    assert type(clone(loaded)) is type(est)
    assert type(est).__name__ in repr(loaded)
    # cost_aware=True on the fitted SS-DPA: the old file means False
    np.testing.assert_array_equal(loaded.predict(X), expected)


def test_a_saved_parameter_is_kept(iris):
    X, y = iris
    est = _fitted("ssdpa", X, y)
    assert pickle.loads(pickle.dumps(est)).cost_aware is True


def test_old_classifier_certifies_as_it_did(iris):
    X, y = iris
    est = _fitted("dpa", X, y)
    loaded = pickle.loads(_as_saved_without(est, ["cost_aware"]))
    y_pred, radius = loaded.predict_certified(X)
    y_plain, radius_plain = est.predict_certified(X)
    np.testing.assert_array_equal(radius, radius_plain)
    assert loaded.certificate_ == est.certificate_
    assert not loaded.certificate_.cost_aware
    # a loaded old estimator can be grid-searched (clone + set_params)
    search = GridSearchCV(loaded, {"k": [3, 5]}, cv=2).fit(X, y)
    assert search.best_params_["k"] in (3, 5)


def test_skops_file_without_a_later_parameter(iris):
    sio = pytest.importorskip("skops.io")
    X, y = iris
    est = DPAClassifier(LogisticRegression(), k=5).fit(X, y)
    old = pickle.loads(pickle.dumps(est))
    del old.__dict__["cost_aware"]  # as saved before cost_aware existed
    loaded = skdpa.load(sio.dumps(old))
    assert loaded.get_params()["cost_aware"] is False
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_unfitted_estimator_without_a_later_parameter():
    old = KNNLabelSpreading(3, vote="soft")
    del old.__dict__["vote"]
    assert pickle.loads(pickle.dumps(old)).get_params()["vote"] == "hard"
