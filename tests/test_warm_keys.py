"""Rule 10: a warm refit reuses a member only when everything it sees is the
same, and then equals a cold fit bit for bit.

Functions and classes are keyed by code and identity (a notebook cell edited
and re-run defines a new function under the old name), sparse inputs by their
format, categorical columns by their category sets, torch members by the
thread setting they are fit under.
"""

import sys
import types

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skdpa
from skdpa import DPAClassifier, SSDPAClassifier


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300], X[1500:1560] / 16.0


def _cell(source, name):
    """Run a notebook 'cell': define ``name`` in an importable module, replacing
    the previous definition, as re-running an edited cell does in __main__."""
    module = sys.modules.setdefault(_NOTEBOOK, types.ModuleType(_NOTEBOOK))
    module.np = np
    module.BaseEstimator, module.ClassifierMixin = BaseEstimator, ClassifierMixin
    exec(source, module.__dict__)  # noqa: S102 - the test's own code
    return getattr(module, name)


_NOTEBOOK = "skdpa_test_notebook"


def _assert_warm_equals_cold(warm, make_cold, X, y, X_test):
    cold = make_cold().fit(X, y)
    assert_array_equal(warm.member_predictions(X_test), cold.member_predictions(X_test))
    assert_array_equal(warm.predict_proba(X_test), cold.predict_proba(X_test))
    for a, b in zip(warm.estimators_, cold.estimators_, strict=True):
        if hasattr(a, "predict_proba") and hasattr(b, "predict_proba"):
            assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_function_redefined_under_the_same_name_refits(digits):
    X, y, X_test = digits

    def make(func):
        member = make_pipeline(FunctionTransformer(func), LogisticRegression())
        return DPAClassifier(member, k=5, warm_start=True)

    first = _cell("def features(X):\n    return X\n", "features")
    clf = make(first).fit(X, y)
    clf.fit(X, y)
    assert not clf.refitted_.any()
    second = _cell("def features(X):\n    return np.sqrt(X)\n", "features")
    assert (first.__module__, first.__qualname__) == (
        second.__module__,
        second.__qualname__,
    )
    clf.set_params(estimator=make(second).estimator).fit(X, y)
    assert clf.refitted_.all()
    _assert_warm_equals_cold(clf, lambda: make(second), X, y, X_test)
    # the same function object again: nothing to refit
    clf.fit(X, y)
    assert not clf.refitted_.any()


def test_member_class_redefined_under_the_same_name_refits(digits):
    X, y, X_test = digits
    source = (
        "class Member(ClassifierMixin, BaseEstimator):\n"
        "    def fit(self, X, y):\n"
        "        self.classes_ = np.unique(y)\n"
        "        self.vote_ = int(np.bincount(y).argmax(){})\n"
        "        return self\n"
        "    def predict(self, X):\n"
        "        return np.full(len(X), self.vote_)\n"
    )
    first = _cell(source.format(""), "Member")
    clf = DPAClassifier(first(), k=6, warm_start=True).fit(X, y)
    second = _cell(source.format(" * 0 + y[0]"), "Member")
    clf.set_params(estimator=second()).fit(X, y)
    assert clf.refitted_[[m is not None for m in clf.estimators_]].all()
    _assert_warm_equals_cold(clf, lambda: DPAClassifier(second(), k=6), X, y, X_test)


def test_closure_and_default_values_are_part_of_the_key(digits):
    X, y, X_test = digits

    def scaled(factor):
        def features(X):
            return X * factor

        return features

    def make(func):
        member = make_pipeline(FunctionTransformer(func), LogisticRegression(C=0.1))
        return DPAClassifier(member, k=4, warm_start=True)

    clf = make(scaled(1.0)).fit(X, y)
    clf.set_params(estimator=make(scaled(50.0)).estimator).fit(X, y)
    assert clf.refitted_.all()
    _assert_warm_equals_cold(clf, lambda: make(scaled(50.0)), X, y, X_test)


def test_an_unhashable_parameter_refits_every_member(digits):
    X, y, _ = digits

    class Opaque:
        def __deepcopy__(self, memo):
            return self

        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    member = make_pipeline(
        FunctionTransformer(kw_args={"o": Opaque()}), LogisticRegression()
    )
    member.set_params(functiontransformer__func=lambda X, o: X)
    clf = DPAClassifier(member, k=3, warm_start=True).fit(X, y)
    clf.fit(X, y)
    assert clf.refitted_.all()


@pytest.mark.parametrize("first, second", [("csr", "csc"), ("csc", "csr")])
def test_sparse_format_is_part_of_the_key(digits, first, second):
    X, y, X_test = digits
    A, B = sp.csr_matrix(X).asformat(first), sp.csr_matrix(X).asformat(second)
    make = lambda: DPAClassifier(LogisticRegression(), k=4, warm_start=True)  # noqa: E731
    clf = make().fit(A, y)
    clf.fit(B, y)
    assert clf.refitted_.all()
    _assert_warm_equals_cold(clf, make, B, y, sp.csr_matrix(X_test).asformat(second))
    clf.fit(B, y)
    assert not clf.refitted_.any()


def test_category_sets_are_part_of_the_key():
    rng = np.random.default_rng(0)
    n = 200
    values = rng.choice(["a", "b", "c"], n)
    y = (values == "a").astype(int) ^ (rng.random(n) < 0.1)
    x = rng.normal(size=n)

    def frame(categories):
        return pd.DataFrame(
            {"c": pd.Categorical(values, categories=categories), "x": x}
        )

    member = HistGradientBoostingClassifier(
        max_iter=5, categorical_features="from_dtype", random_state=0
    )
    make = lambda: DPAClassifier(member, k=3, warm_start=True)  # noqa: E731
    small, large = frame(["a", "b", "c"]), frame(["a", "b", "c", "d"])
    clf = make().fit(small, y)
    clf.fit(large, y)
    assert clf.refitted_.all()
    clf.predict(large)  # members fit on the new category set accept it
    _assert_warm_equals_cold(clf, make, large, y, large)


def test_member_threads_are_part_of_the_key_for_torch_members():
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, X):
            return self.linear(X)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = skorch.NeuralNetClassifier(
        Tiny,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        verbose=0,
        train_split=None,
    )
    clf = DPAClassifier(net, k=2, warm_start=True)
    with skdpa.config_context(member_threads=1):
        # (skorch builds its default callbacks on the first fit, which changes
        # the net's parameters once: the second fit may refit)
        clf.fit(X, y)
        clf.fit(X, y)
        clf.fit(X, y)
        assert not clf.refitted_.any()
    with skdpa.config_context(member_threads=2):
        clf.fit(X, y)
    assert clf.refitted_.all()
    # a scikit-learn member ignores the setting
    plain = DPAClassifier(LogisticRegression(), k=2, warm_start=True).fit(X, y)
    with skdpa.config_context(member_threads=2):
        plain.fit(X, y)
    assert not plain.refitted_.any()


def test_ssdpa_embedding_function_redefined_refits_the_embedding(digits):
    X, y, X_test = digits
    first = _cell("def embed(X):\n    return X\n", "embed")

    def make(func):
        return SSDPAClassifier(
            LogisticRegression(),
            k=4,
            embedding=FunctionTransformer(func),
            warm_start=True,
        )

    clf = make(first).fit(X, y)
    second = _cell("def embed(X):\n    return X ** 2\n", "embed")
    clf.set_params(embedding=FunctionTransformer(second)).fit(X, y)
    assert clf.refitted_.all()
    assert_array_equal(clf.embedding_.transform(X_test), X_test**2)
    _assert_warm_equals_cold(clf, lambda: make(second), X, y, X_test)


def test_a_pickled_ensemble_keeps_its_members_on_a_warm_refit(digits):
    import pickle

    X, y, _ = digits
    member = make_pipeline(FunctionTransformer(np.sqrt), LogisticRegression())
    clf = DPAClassifier(member, k=4, warm_start=True).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    loaded.fit(X, y)
    assert not loaded.refitted_.any()


def test_the_warm_key_is_stable_across_processes():
    import subprocess

    code = (
        "import numpy as np;"
        "from sklearn.linear_model import LogisticRegression;"
        "from sklearn.pipeline import make_pipeline;"
        "from sklearn.preprocessing import FunctionTransformer;"
        "from skdpa import DPAClassifier;"
        "member = make_pipeline(FunctionTransformer(np.sqrt), LogisticRegression());"
        "print(DPAClassifier(member, k=4)._warm_key())"
    )
    env = {"PATH": "", "PYTHONPATH": ":".join(p for p in sys.path if p)}
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**env, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("0", "123")
    }
    assert len(keys) == 1
    assert keys.pop() not in ("", "None")
