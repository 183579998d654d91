"""skdpa.torch: what involves torch, once-per-fit warnings, threads, the factory.

Fast, in-process tests; worker processes (loky, dask) are exercised in
``test_torch_workers.py``.
"""

import doctest
import importlib
import pickle
import re
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from joblib import parallel_config  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import VotingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from skorch.dataset import ValidSplit  # noqa: E402
from torch import nn  # noqa: E402

import skdpa.torch._seeding as seeding  # noqa: E402
from skdpa import DPAClassifier  # noqa: E402
from skdpa._engine import check_member_travels  # noqa: E402
from skdpa.torch import (  # noqa: E402
    check_main_objects,
    involves_torch,
    make_skorch_member,
    seeded_fit,
    torch_member_warnings,
    torch_threads,
)
from skdpa.torch._seeding import register_main_objects  # noqa: E402

pytestmark = pytest.mark.torch

SPLIT_WARNING = "The least populated class in y has only"
THREADS_SEEN = []  # torch.get_num_threads() inside _ThreadProbe.forward


class _Tiny(nn.Module):
    def __init__(self, n_classes=3, n_features=64):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.linear(x.float())


class _ThreadProbe(_Tiny):
    def forward(self, x):
        THREADS_SEEN.append(torch.get_num_threads())
        return super().forward(x)


class _Warns(_Tiny):
    def forward(self, x):
        warnings.warn("a real problem in the module", UserWarning, stacklevel=1)
        return super().forward(x)


class _NumClassesNet(nn.Module):
    def __init__(self, num_classes=2, n_features=64):
        super().__init__()
        self.linear = nn.Linear(n_features, num_classes)

    def forward(self, x):
        return self.linear(x.float())


class _TakesAnything(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.linear = nn.Linear(64, kwargs.get("classes_out", 2))

    def forward(self, x):
        return self.linear(x.float())


class _ModuleHolder(ClassifierMixin, BaseEstimator):
    """An estimator (not skorch) with a torch module among its parameters."""

    def __init__(self, module=None):
        self.module = module

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


class _DrawsFromTorch(ClassifierMixin, BaseEstimator):
    """Not a torch member, but draws from torch's global generator in fit."""

    def fit(self, X, y):
        self.draw_ = float(torch.rand(1))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def _net(module=_Tiny, **params):
    defaults = dict(criterion=nn.CrossEntropyLoss, max_epochs=2, verbose=0)
    defaults.update(params)
    return skorch.NeuralNetClassifier(module, **defaults)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (1, 4, 7))
    return X[keep][:120].astype(np.float32) / 16, np.searchsorted([1, 4, 7], y[keep])[
        :120
    ]


# -- involves_torch -----------------------------------------------------------


@pytest.mark.parametrize(
    "estimator, expected",
    [
        (LogisticRegression(), False),
        (make_pipeline(StandardScaler(), LogisticRegression()), False),
        (_DrawsFromTorch(), False),
        (_ModuleHolder(), False),
        (_net(), True),
        (make_skorch_member(n_classes=3), True),
        (Pipeline([("scale", StandardScaler()), ("net", _net())]), True),
        (VotingClassifier([("lr", LogisticRegression()), ("net", _net())]), True),
        (_ModuleHolder(module=_Tiny), True),
        (_ModuleHolder(module=_Tiny()), True),
        (_ModuleHolder(module=[("head", nn.Linear(2, 2))]), True),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v),
)
def test_involves_torch_looks_at_the_estimator_not_at_what_is_loaded(
    estimator, expected
):
    assert "torch" in sys.modules  # loaded here, yet only modules count
    assert involves_torch(estimator) is expected


def test_involves_torch_sees_a_fitted_net(digits):
    X, y = digits
    fitted = seeded_fit(_net(train_split=None), X, y, seed=0)
    assert involves_torch(fitted)


def test_the_core_check_never_imports_torch():
    code = (
        "import sys\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from skdpa._members import involves_torch\n"
        "print(involves_torch(LogisticRegression()), 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]


# -- seeded_fit: torch members only --------------------------------------------


def test_seeded_fit_leaves_torch_alone_for_other_estimators():
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    threads = torch.get_num_threads()
    torch.manual_seed(11)
    direct = _DrawsFromTorch().fit(X, y)
    after_direct = torch.rand(3)
    torch.manual_seed(11)
    member = seeded_fit(_DrawsFromTorch(), X, y, seed=5, n_threads=1)
    # the global generator was neither reseeded nor restored: not a torch member
    assert member.draw_ == direct.draw_
    torch.testing.assert_close(torch.rand(3), after_direct)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("n_threads", [1, 2, 3, None])
def test_seeded_fit_runs_torch_with_n_threads_and_restores(digits, n_threads):
    X, y = digits
    before = torch.get_num_threads()
    THREADS_SEEN.clear()
    seeded_fit(_net(_ThreadProbe, train_split=None), X, y, seed=0, n_threads=n_threads)
    assert THREADS_SEEN  # forward ran
    assert set(THREADS_SEEN) == {before if n_threads is None else n_threads}
    assert torch.get_num_threads() == before


def test_seeded_fit_default_is_one_thread(digits):
    X, y = digits
    THREADS_SEEN.clear()
    with torch_threads(2):
        seeded_fit(_net(_ThreadProbe, train_split=None), X, y, seed=0)
        assert torch.get_num_threads() == 2
    assert set(THREADS_SEEN) == {1}


# -- torch_threads ---------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 8), inner=st.one_of(st.none(), st.integers(1, 8)))
def test_torch_threads_sets_and_restores(n, inner):
    before = torch.get_num_threads()
    with torch_threads(n):
        assert torch.get_num_threads() == n
        with torch_threads(inner):
            assert torch.get_num_threads() == (n if inner is None else inner)
        assert torch.get_num_threads() == n
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(n):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_torch_threads_none_leaves_torch_alone():
    before = torch.get_num_threads()
    with torch_threads(None):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "value, error, match",
    [
        (0, ValueError, r"n_threads must be None or an int >= 1; got 0\."),
        (-3, ValueError, r"n_threads must be None or an int >= 1; got -3\."),
        (1.5, TypeError, r"int >= 1; got 1\.5 of type float"),
        (True, TypeError, r"int >= 1; got True of type bool"),
    ],
)
def test_n_threads_errors(value, error, match):
    with pytest.raises(error, match=match):
        with torch_threads(value):
            pass  # pragma: no cover
    with pytest.raises(error, match=match):
        seeded_fit(LogisticRegression(), [[0], [1]], [0, 1], seed=0, n_threads=value)


# -- torch_member_warnings --------------------------------------------------------


def test_default_train_split_is_reported_once_with_the_fix():
    (message,) = torch_member_warnings(_net(), classes_given=True)
    assert message.startswith("The member's NeuralNetClassifier has ")
    assert "train_split=ValidSplit(cv=5, stratified=True)" in message
    assert "holds out 20% of every partition" in message
    assert "about 80% of its rows" in message
    assert "Pass train_split=None" in message


def test_train_split_inside_a_pipeline_names_the_step():
    member = Pipeline([("scale", StandardScaler()), ("deep", _net())])
    (message,) = torch_member_warnings(member, classes_given=True)
    assert "step 'deep' of the member" in message


def test_custom_train_split_is_reported_without_a_share():
    def split(dataset, y=None, **kwargs):  # pragma: no cover - never called
        return dataset, None

    (message,) = torch_member_warnings(_net(train_split=split), classes_given=True)
    assert "train_split=test_custom_train_split_is_reported" in message
    assert "part of every partition for validation" in message


@settings(max_examples=25, deadline=None)
@given(
    cv=st.one_of(
        st.integers(2, 50),
        st.floats(0.01, 0.99, allow_nan=False, allow_subnormal=False),
    )
)
def test_reported_shares_match_the_split(cv):
    (message,) = torch_member_warnings(
        _net(train_split=ValidSplit(cv)), classes_given=True
    )
    held = int(re.search(r"holds out (\d+)% of every", message).group(1))
    kept = int(re.search(r"about (\d+)% of its rows", message).group(1))
    share = 1 / cv if isinstance(cv, int) else cv
    assert abs(held - 100 * share) <= 0.5 + 1e-9
    assert abs(held + kept - 100) <= 1


def test_factory_member_with_classes_has_nothing_to_report():
    assert (
        torch_member_warnings(make_skorch_member(n_classes=3), classes_given=True) == []
    )


def test_missing_classes_is_reported_for_torch_members_only():
    (message,) = torch_member_warnings(
        make_skorch_member(n_classes=3), classes_given=False
    )
    assert "classes= was not given" in message
    assert "re-indexes the targets of every member" in message
    assert "Pass the full label set as classes=" in message
    plain = make_pipeline(StandardScaler(), LogisticRegression())
    assert torch_member_warnings(plain, classes_given=False) == []
    assert len(torch_member_warnings(_net(), classes_given=False)) == 2


def test_per_member_split_warnings_are_silenced_but_not_others(digits):
    X, y = digits
    rare = np.r_[
        np.flatnonzero(y == 0)[:20],
        np.flatnonzero(y == 1)[:20],
        [
            np.flatnonzero(y == 2)[0],
            np.flatnonzero(y == 2)[1],
        ],
    ]
    with pytest.warns(UserWarning, match=SPLIT_WARNING):  # skorch alone warns
        _net(max_epochs=1).fit(X[rare], y[rare])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seeded_fit(_net(_Warns, max_epochs=1), X[rare], y[rare], seed=0)
    messages = [str(w.message) for w in caught]
    assert not any(SPLIT_WARNING in m for m in messages)
    assert "a real problem in the module" in messages
    # and the filter is gone afterwards
    with pytest.warns(UserWarning, match=SPLIT_WARNING):
        _net(max_epochs=1).fit(X[rare], y[rare])


def test_ensemble_warns_once_per_fit_at_the_callers_line(digits):
    X, y = digits
    clf = DPAClassifier(_net(max_epochs=1), k=6, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    ours = [w for w in caught if "train_split=" in str(w.message)]
    labels = [w for w in caught if "classes= was not given" in str(w.message)]
    assert len(ours) == 1
    # the label-set warning needs the ensembles' classes= parameter to exist
    assert len(labels) == int("classes" in clf.get_params())
    assert not [w for w in caught if SPLIT_WARNING in str(w.message)]
    assert {w.filename for w in ours + labels} == {__file__}
    assert clf.n_classes_ == 3


# -- make_skorch_member: n_classes_param --------------------------------------------


def test_n_classes_param_names_the_module_argument(digits):
    X, y = digits
    member = make_skorch_member(
        _NumClassesNet,
        n_classes=3,
        n_classes_param="num_classes",
        standardize=False,
        max_epochs=2,
    )
    assert member.module__num_classes == 3
    assert "module__n_classes" not in member.get_params()
    fitted = seeded_fit(member, X[y < 2], y[y < 2], seed=0)  # sees 2 classes
    assert fitted.predict_proba(X).shape == (len(X), 3)


def test_n_classes_param_none_and_var_keyword_modules():
    member = make_skorch_member(
        _NumClassesNet, n_classes=3, n_classes_param=None, standardize=False
    )
    assert not any(k.startswith("module__") for k in member.get_params())
    member = make_skorch_member(
        _TakesAnything, n_classes=4, n_classes_param="classes_out", standardize=False
    )
    assert member.module__classes_out == 4


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            dict(module=_NumClassesNet),
            ValueError,
            r"n_classes_param='n_classes' is not an argument of _NumClassesNet; "
            r"its arguments are: num_classes, n_features\.",
        ),
        (
            dict(module=_Tiny, n_classes_param="classes"),
            ValueError,
            r"n_classes_param='classes' is not an argument of _Tiny",
        ),
        (
            dict(n_classes_param="1st"),
            ValueError,
            r"n_classes_param must be None or the name of an argument of the "
            r"module; got '1st'\.",
        ),
        (dict(n_classes=1), ValueError, r"n_classes must be an int >= 2; got 1\."),
        (
            dict(n_classes=3.0),
            TypeError,
            r"n_classes must be an int >= 2; got 3\.0 of type float\.",
        ),
    ],
)
def test_factory_errors(kwargs, error, match):
    kwargs = {"n_classes": 3, **kwargs}
    with pytest.raises(error, match=match):
        make_skorch_member(**kwargs)


# -- __main__ objects: registration in workers, checks in the parent ---------------


def _main_class(name, module="__main__", qualname=None):
    cls = type(name, (_Tiny,), {"__module__": module})
    cls.__qualname__ = qualname or name
    return cls


@pytest.fixture
def fake_main(monkeypatch):
    """A fresh ``__main__`` (and no earlier bindings) for one test."""

    def make(name="__main__"):
        main = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, "__main__", main)
        return main

    monkeypatch.setattr(seeding, "_BOUND", {})
    return make


def test_register_binds_free_names_and_leaves_others_alone(fake_main):
    main = fake_main()
    net_cls, taken_cls = _main_class("Net"), _main_class("Taken")
    main.Taken = foreign = object()
    register_main_objects(_net(net_cls, module__n_classes=2))
    register_main_objects(_net(taken_cls))
    assert main.Net is net_cls
    assert main.Taken is foreign
    pickle.dumps(net_cls)  # now picklable by name


def test_register_rebinds_its_own_earlier_binding(fake_main):
    main = fake_main()
    first, second = _main_class("Net"), _main_class("Net")
    register_main_objects(_net(first))
    register_main_objects(_net(second))  # redefined in a notebook
    assert main.Net is second


def test_register_in_a_spawned_process_rebinds_twins_only(fake_main):
    main = fake_main("__mp_main__")
    main.Net = _main_class("Net", module="__mp_main__")  # the script, re-imported
    main.Other = other = _main_class("Other", module="elsewhere")
    received = {
        name: _main_class(name) for name in ("Net", "Other", "Guarded", "Local")
    }
    for cls in received.values():
        register_main_objects(_net(cls))
    assert main.Net is received["Net"]
    assert main.Other is other
    assert not hasattr(main, "Guarded") and not hasattr(main, "Local")


def test_check_main_objects_names_the_problem(fake_main):
    main = fake_main()
    main.Net = net_cls = _main_class("Net")
    local_cls = _main_class("Local", qualname="build.<locals>.Local")
    stale_cls = _main_class("Net")  # main.Net was redefined since
    check_main_objects(_net(net_cls), n_jobs=2)
    with pytest.raises(pickle.PicklingError, match=r"build\.<locals>\.Local is "):
        check_main_objects(_net(local_cls), n_jobs=2)
    with pytest.raises(
        pickle.PicklingError,
        match=r"the name __main__\.Net does not hold that class any more",
    ):
        check_main_objects(_net(stale_cls), n_jobs=3)
    nested_cls = _main_class("Inner", qualname="Outer.Inner")
    with pytest.raises(
        pickle.PicklingError,
        match=r"class Outer\.Inner from __main__, and Outer\.Inner is defined "
        r"inside a class\. With n_jobs=2, members are fit in worker processes",
    ):
        check_main_objects(_net(nested_cls), n_jobs=2)
    # fits that stay in this process need no names
    check_main_objects(_net(local_cls), n_jobs=1)
    with parallel_config(backend="threading"):
        check_main_objects(_net(local_cls), n_jobs=2)


def test_check_member_travels_only_acts_in_remote_dask_workers(monkeypatch):
    import threading

    unpicklable = _ModuleHolder(module=_Tiny)
    unpicklable.lock_ = threading.Lock()
    check_member_travels(unpicklable)  # not in a dask worker: nothing to do
    worker = types.SimpleNamespace(address="tcp://127.0.0.1:1")
    fake = types.SimpleNamespace(get_worker=lambda: worker)
    monkeypatch.setitem(sys.modules, "distributed", fake)
    with pytest.raises(
        pickle.PicklingError,
        match=r"\(_ModuleHolder\) cannot be sent back from this dask worker: "
        r"TypeError: cannot pickle '_thread.lock' object\. .*fit with n_jobs=1",
    ):
        check_member_travels(unpicklable)
    check_member_travels(_ModuleHolder(module=_Tiny))  # picklable: fine
    worker.address = "inproc://1"  # results stay in this process
    check_member_travels(unpicklable)


# -- docstring examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["skdpa.torch._checks", "skdpa.torch._seeding", "skdpa.torch._members"]
)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
