"""Ensemble internals that a user can see: estimators saved by an earlier
release, and what a failed fit leaves behind."""

import inspect
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_iris
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier

import skdpa
import skdpa._persistence
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
            KNNLabelSpreading(5, vote="soft"), k=3, pass_unlabeled=True, cost_aware=True
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


def _skdpa_estimator_classes():
    """Every concrete scikit-learn estimator class defined in skdpa."""
    import importlib
    import pkgutil

    found = {}
    for info in pkgutil.walk_packages(skdpa.__path__, "skdpa."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra (torch) is missing
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseEstimator)
                and cls.__module__.startswith("skdpa")
                and not inspect.isabstract(cls)
            ):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


@pytest.mark.parametrize("cls", _skdpa_estimator_classes(), ids=lambda c: c.__name__)
def test_every_estimator_loads_without_a_later_parameter(cls):
    # whichever parameter a later release adds, an older file loads with its
    # default: every estimator skdpa defines, members and embeddings included
    assert issubclass(cls, skdpa._persistence.ParamDefaultsOnLoad), cls
    params = inspect.signature(cls.__init__).parameters
    required = {
        name: None
        for name, p in params.items()
        if name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    est = cls(**required)
    names = [n for n in est.get_params(deep=False) if n not in required]
    if not names:
        return
    loaded = pickle.loads(_as_saved_without(est, names))
    for name in names:
        assert loaded.get_params(deep=False)[name] == _default(cls, name), name
    assert type(clone(loaded)) is cls


# -- 2. the partition is a value; state is set once, after the engine ---------


def _half_hidden(y):
    hidden = y.copy()
    hidden[::3] = -1
    return hidden


def test_partition_hook_sets_nothing(iris):
    X, y = iris
    hidden = _half_hidden(y)
    clf = SSDPAClassifier(KNNLabelSpreading(5), k=3, pass_unlabeled=True)
    before = dict(vars(clf))
    labeled = hidden != -1
    part = clf._partition(
        X, skdpa._hashing.content_hash(X), labeled, np.where(labeled, hidden, 0), []
    )
    assert vars(clf).keys() == before.keys()
    # every row's owner: the partition holding it, labeled or not
    assert part.owners.shape == (len(y),)
    for j, rows in enumerate(part.rows):
        assert (part.owners[rows] == j).all()
    # unlabeled rows have owners too, spread over the partitions
    assert sorted(set(part.owners[~labeled].tolist())) == [0, 1, 2]
    # the same partition of the labeled rows as without pass_unlabeled
    clf.set_params(pass_unlabeled=False)
    alone = clf._partition(
        X, skdpa._hashing.content_hash(X), labeled, np.where(labeled, hidden, 0), []
    )
    assert alone.owners is None
    for own, shared in zip(alone.rows, part.rows, strict=True):
        np.testing.assert_array_equal(own, shared)


def test_editable_masks_come_from_the_fitted_partition(iris):
    X, y = iris
    clf = SSDPAClassifier(
        KNNLabelSpreading(5, vote="soft"), k=3, pass_unlabeled=True, cost_aware=True
    ).fit(X, _half_hidden(y))
    masks = [clf._editable(j) for j in range(3)]
    # the masks split the shared rows between the members
    np.testing.assert_array_equal(np.sum(masks, axis=0), np.ones(len(y)))
    for j, mask in enumerate(masks):
        # a member's labeled rows are among its editable ones
        assert mask.sum() >= clf.partition_sizes_[j]
    assert SSDPAClassifier(k=3).fit(X, _half_hidden(y))._editable(0) is None


def test_failed_fit_leaves_the_fitted_ensemble_as_it_was(iris):
    X, y = iris
    clf = SSDPAClassifier(
        KNNLabelSpreading(5, vote="soft"), k=3, pass_unlabeled=True, cost_aware=True
    ).fit(X, _half_hidden(y))
    state = {name: pickle.dumps(value) for name, value in vars(clf).items()}
    y_pred, radius = clf.predict_certified(X)
    other = y.copy()
    other[1::4] = -1
    # fails after the partition and the engine: k-NN learns -1 as a class
    clf.set_params(estimator=KNeighborsClassifier(3))
    with pytest.raises(ValueError, match="learned -1 as a class"):
        clf.fit(X[::-1], other)
    clf.set_params(estimator=pickle.loads(state["estimator"]))
    assert {n: pickle.dumps(v) for n, v in vars(clf).items()} == state
    again = clf.predict_certified(X)
    np.testing.assert_array_equal(again[0], y_pred)
    np.testing.assert_array_equal(again[1], radius)


# -- 3. one predict path for classifiers and regressors -----------------------


class _ChattyRegressor(DummyRegressor):
    """Warns at every predict, as members with feature-name checks do."""

    def predict(self, X):
        warnings.warn("member says hello", UserWarning, stacklevel=2)
        return super().predict(X)


def test_regressor_member_warnings_are_shown_once_with_a_count(iris):
    X, y = iris
    reg = DPARegressor(_ChattyRegressor(), k=6, random_state=0).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.predict(X[:4])
    texts = [str(w.message) for w in caught if "hello" in str(w.message)]
    assert texts == [
        "member says hello\n[skdpa: shown once; raised by 6 of 6 members "
        "(first: member 0) while predicting.]"
    ]


@pytest.mark.parametrize("per_chunk", [1, 7, 1000])
def test_regressor_and_classifier_share_the_chunking(iris, monkeypatch, per_chunk):
    import skdpa._base as base
    import skdpa._regression as regression

    X, y = iris
    reg = DPARegressor(k=5, random_state=0).fit(X, y.astype(float))
    clf = DPAClassifier(k=5, random_state=0).fit(X, y)
    whole = reg.predict_certified(X, 0.5), clf.predict_certified(X)
    seen = []
    in_chunks = skdpa._ensemble.in_chunks

    def spy(X_in, per_row, outputs, func, items):
        seen.append((per_row, items))
        return in_chunks(X_in, per_row, outputs, func, items)

    monkeypatch.setattr(regression, "in_chunks", spy)
    monkeypatch.setattr(base, "in_chunks", spy)
    monkeypatch.setattr(regression, "_CHUNK_ITEMS", 5 * per_chunk)
    monkeypatch.setattr(base, "_CHUNK_ITEMS", 5 * per_chunk)
    chunked = reg.predict_certified(X, 0.5), clf.predict_certified(X)
    assert seen == [(5, 5 * per_chunk)] * 2
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_in_chunks_covers_every_row_once():
    from skdpa._ensemble import in_chunks

    X = np.arange(23.0)[:, None]
    for items in (1, 4, 22, 23, 100):
        parts = in_chunks(
            X, 2, lambda rows: rows[:, 0] * 10, lambda r, o: (r, o), items
        )
        starts = [r.start for r, _ in parts]
        assert starts == list(range(0, 23, max(1, items // 2)))[: len(parts)]
        np.testing.assert_array_equal(
            np.concatenate([o for _, o in parts]), np.arange(23.0) * 10
        )
        assert all(len(o) <= max(1, items // 2) for _, o in parts)


# -- 5. which members involve torch ------------------------------------------


class _Majority(ClassifierMixin, BaseEstimator):
    """Votes its rows' majority class; ``module`` is only a parameter."""

    def __init__(self, module=None):
        self.module = module

    def fit(self, X, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.vote_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.vote_)


def _torch_tagged():
    torch = pytest.importorskip("torch")
    return _Majority(module=torch.nn.Linear)


def test_member_outputs_decide_torch_member_by_member(iris, monkeypatch):
    import skdpa._engine as engine

    X, y = iris
    plain = _Majority().fit(X, y)
    tagged = _torch_tagged().fit(X, y)
    seen = []
    limits = engine._thread_limits
    monkeypatch.setattr(
        engine,
        "_thread_limits",
        lambda threads, torch_member: (
            seen.append(torch_member) or limits(threads, torch_member)
        ),
    )
    for members, expected in [
        ([plain, tagged], True),  # the first member says no torch
        ([tagged, plain], True),
        ([plain, None, plain], False),
    ]:
        out = engine.member_outputs(
            members,
            None,
            np.full(len(members), 10),
            X[:3],
            kind="predict",
            method="predict",
            n_classes=3,
            n_jobs=None,
            member_threads=None,
        )
        assert out.shape == (3, len(members))
        assert seen.pop() is expected


def test_every_called_member_is_a_clone_of_the_base_estimator(iris):
    """What lets the ensembles decide torch once, from ``estimator_``: a warm
    refit with another base estimator keeps none of the old members."""
    X, y = iris
    clf = DPAClassifier(_torch_tagged(), k=4, classes=[0, 1, 2], warm_start=True)
    clf.fit(X, y)
    assert skdpa._members.involves_torch(clf.estimator_)
    clf.set_params(estimator=_Majority()).fit(X, y)
    fitted = clf.partition_sizes_ > 0
    assert clf.refitted_[fitted].all()
    called = fitted & (clf._constants < 0)
    assert called.any()
    for member in np.asarray(clf.estimators_, dtype=object)[called]:
        assert type(member) is _Majority and member.module is None
