"""Loads cannot reach other models (rule 10): ``skdpa.load`` trusts skops'
defaults plus exactly skdpa's own classes, and loading never writes a
process-wide cache."""

import io

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import skdpa
from skdpa import DPAClassifier, SSDPAClassifier
from skdpa import semi_supervised as ss

sio = pytest.importorskip("skops.io")


@pytest.fixture
def blobs():
    X, y = make_blobs(n_samples=200, centers=3, random_state=0)
    return X, y


def test_load_accepts_a_path_bytes_and_a_file_object(blobs, tmp_path):
    X, y = blobs
    clf = DPAClassifier(LogisticRegression(), k=5).fit(X, y)
    data = sio.dumps(clf)
    path = tmp_path / "dpa.skops"
    path.write_bytes(data)
    for source in (path, str(path), data, io.BytesIO(data)):
        loaded = skdpa.load(source)
        assert_array_equal(loaded.predict(X), clf.predict(X))
    assert "load" in skdpa.__all__


def test_load_raises_naming_a_type_that_is_not_skdpas(blobs):
    X, y = blobs
    trees = DPAClassifier(DecisionTreeClassifier(), k=5).fit(X, y)
    with pytest.raises(TypeError, match=r"sklearn\.tree\._tree\.Tree"):
        skdpa.load(sio.dumps(trees))


def test_load_does_not_trust_names_under_skdpa_that_resolve_elsewhere(blobs):
    # skdpa._base imports scikit-learn's DummyClassifier: a file naming it
    # under skdpa resolves, through the module attribute, to a class that is
    # not skdpa's
    import zipfile

    X, y = blobs
    clf = DPAClassifier(LogisticRegression(), k=60).fit(X[:70], y[:70])
    assert any(type(m).__name__ == "DummyClassifier" for m in clf.estimators_)
    source = zipfile.ZipFile(io.BytesIO(sio.dumps(clf)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as forged:
        for name in source.namelist():
            content = source.read(name)
            if name == "schema.json":
                content = content.replace(b'"sklearn.dummy"', b'"skdpa._base"')
            forged.writestr(name, content)
    data = out.getvalue()
    assert "skdpa._base.DummyClassifier" in sio.get_untrusted_types(data=data)
    with pytest.raises(TypeError, match=r"\['skdpa\._base\.DummyClassifier'\]"):
        skdpa.load(data)


def _fit_knn_ssdpa(X, y):
    member = ss.KNNLabelSpreading(n_neighbors=5)
    clf = SSDPAClassifier(member, k=4, pass_unlabeled=True).fit(X, y)
    return clf.predict_proba(X)


def _forged_knn_file(X_target):
    """A skops file of a fitted KNNLabelSpreading whose graph claims the key of
    ``X_target``'s graph and carries a forged operator."""
    X, y = make_blobs(n_samples=30, centers=2, random_state=3)
    member = ss.KNNLabelSpreading(n_neighbors=3).fit(X, y)
    graph = member._graph
    prepared = ss._prepare(X_target, member.metric)
    graph.key = (ss._digest(prepared), 5, member.metric)
    n = len(X_target)
    graph.X = prepared
    graph.sigma2 = 1e-12
    forged = np.ones((n, n)) / n  # a dense operator: only trusted types

    original = ss._Graph.__getstate__
    ss._Graph.__getstate__ = lambda self: dict(self.__dict__, S=forged)
    graph.S = forged
    try:
        return sio.dumps(member)
    finally:
        ss._Graph.__getstate__ = original


def test_a_forged_graph_in_a_loaded_file_cannot_reach_a_later_fit():
    X, y = make_blobs(n_samples=120, centers=3, random_state=1)
    y = np.where(np.arange(len(y)) % 3 == 0, y, -1)
    ss.clear_graph_cache()
    clean = _fit_knn_ssdpa(X, y)
    data = _forged_knn_file(X)
    for load in (
        skdpa.load,
        lambda d: sio.loads(d, trusted=sio.get_untrusted_types(data=d)),
    ):
        ss.clear_graph_cache()
        load(data)
        assert ss.graph_cache_info()["graphs"] == 0
        assert_array_equal(_fit_knn_ssdpa(X, y), clean)


def test_a_loaded_member_still_predicts_with_its_own_graph():
    X, y = make_blobs(n_samples=60, centers=2, random_state=4)
    member = ss.KNNLabelSpreading(n_neighbors=4).fit(X, y)
    expected = member.predict_proba(X)
    ss.clear_graph_cache()
    loaded = skdpa.load(sio.dumps(member))
    assert_array_equal(loaded.predict_proba(X), expected)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("n_features", [3, 37])
def test_knn_label_spreading_outputs_do_not_depend_on_the_batch(metric, n_features):
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(400, n_features)).astype(np.float32) * 10
    y = np.where(rng.random(400) < 0.3, (X[:, 0] > 0).astype(int), -1)
    member = ss.KNNLabelSpreading(n_neighbors=7, metric=metric).fit(X, y)
    queries = rng.normal(size=(300, n_features)) * 10
    batch = member.predict_proba(queries)
    order = rng.permutation(len(queries))
    assert_array_equal(member.predict_proba(queries[order]), batch[order])
    for size in (1, 2, 5, 17):
        for start in range(0, 60, size):
            part = member.predict_proba(queries[start : start + size])
            assert_array_equal(part, batch[start : start + size])
