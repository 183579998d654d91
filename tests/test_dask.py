"""Fit and predict from Dask collections on a process-based LocalCluster.

The contract: a fit from Dask collections is the in-memory fit of
``(X.compute(), y.compute())`` bit for bit (member rows, seeds, fingerprints,
member outputs, votes and radii), whatever the chunking, and never gathers
the data on the client.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from helpers import DiesOnceTree, FailsOnRows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from skdpa import DPAClassifier, SSDPAClassifier

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def data():
    """Digits plus exact duplicates carrying other labels (tie-breaks matter)."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:900], y[:900]
    X = np.vstack([X, X[:40], X[:10]])
    y = np.concatenate([y, (y[:40] + 1) % 10, y[:10]])
    return X, y


def _tree():
    return DecisionTreeClassifier(max_features=0.5)


def _assert_same_fit(mem, dk, X_test):
    """Same member rows, fingerprints and outputs as the in-memory fit."""
    assert dk.n_members_ == mem.n_members_
    assert_array_equal(dk.shifts_, mem.shifts_)
    assert_array_equal(dk.classes_, mem.classes_)
    assert_array_equal(dk.partition_sizes_, mem.partition_sizes_)
    for a, b in zip(mem.estimators_samples_, dk.estimators_samples_, strict=True):
        assert_array_equal(a, b)
    assert dk._fingerprints == mem._fingerprints
    assert_array_equal(dk._constants, mem._constants)
    assert_array_equal(dk.member_predictions(X_test), mem.member_predictions(X_test))
    assert_array_equal(dk.member_scores(X_test), mem.member_scores(X_test))
    assert_array_equal(dk.vote_counts(X_test), mem.vote_counts(X_test))
    for a, b in zip(
        dk.predict_certified(X_test), mem.predict_certified(X_test), strict=True
    ):
        assert_array_equal(a, b)
    assert str(dk.certificate_) == str(mem.certificate_)


@pytest.mark.parametrize(
    "chunks, spread, voting",
    [
        ((100, 64), 1, "plurality"),  # one column block
        ((333, 16), 3, "runoff"),  # column blocks are joined; uneven rows
        ((950, 64), 2, "plurality"),  # one block
    ],
)
def test_array_fit_is_the_in_memory_fit(client, data, chunks, spread, voting):
    X, y = data
    kw = dict(k=7, spread=spread, voting=voting, random_state=0)
    mem = DPAClassifier(_tree(), **kw).fit(X, y)
    Xd, yd = da.from_array(X, chunks=chunks), da.from_array(y, chunks=chunks[0])
    dk = DPAClassifier(_tree(), **kw).fit(Xd, yd)
    _assert_same_fit(mem, dk, X[:200])
    assert dk.refitted_.all()


@pytest.mark.parametrize("npartitions", [1, 5])
def test_dataframe_fit_is_the_in_memory_fit(client, data, npartitions):
    X, y = data
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(X.shape[1])])
    frame["kind"] = np.where(np.arange(len(X)) % 3 == 0, "a", "b")  # hashed as text
    frame["label"] = np.asarray([f"c{v}" for v in y], dtype=object)
    ddf = dd.from_pandas(frame, npartitions=npartitions)
    features = [c for c in frame.columns if c.startswith("p")]
    member = make_pipeline(
        ColumnTransformer([("num", "passthrough", features)]), _tree()
    )
    kw = dict(k=6, spread=2, random_state=3)
    X_dask, y_dask = ddf.drop(columns="label"), ddf["label"]
    # the contract: the in-memory fit of what the collections compute to
    X_mem, y_mem = X_dask.compute(), y_dask.compute()
    mem = DPAClassifier(member, **kw).fit(X_mem, y_mem)
    dk = DPAClassifier(member, **kw).fit(X_dask, y_dask)
    _assert_same_fit(mem, dk, X_mem.iloc[:150])
    assert list(dk.feature_names_in_) == list(mem.feature_names_in_)


def test_parquet_label_column_read_with_the_features(client, data, tmp_path):
    """Dask reads a lone label column with fewer, fused partitions than the
    features; X and y still pair row for row."""
    X, y = data
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(X.shape[1])])
    frame["label"] = y
    for i, part in enumerate(np.array_split(np.arange(len(X)), 5)):
        frame.iloc[part].to_parquet(tmp_path / f"part{i}.parquet", index=False)
    ddf = dd.read_parquet(tmp_path)
    X_dask, y_dask = ddf.drop(columns="label"), ddf["label"]
    mem = DPAClassifier(_tree(), k=5, random_state=0)
    mem.fit(X_dask.compute(), y_dask.compute())
    dk = DPAClassifier(_tree(), k=5, random_state=0).fit(X_dask, y_dask)
    _assert_same_fit(mem, dk, X_dask.compute().iloc[:100])


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cuts=st.lists(st.integers(1, 949), min_size=0, max_size=6, unique=True),
    k=st.integers(2, 12),
)
def test_any_chunking_gives_the_same_members(client, data, cuts, k):
    X, y = data
    bounds = np.diff(np.concatenate(([0], np.sort(cuts), [len(X)])))
    chunks = tuple(int(b) for b in bounds)
    mem = DPAClassifier(_tree(), k=k, random_state=1).fit(X, y)
    Xd = da.from_array(X, chunks=(chunks, 64))
    yd = da.from_array(y, chunks=(chunks,))
    dk = DPAClassifier(_tree(), k=k, random_state=1).fit(Xd, yd)
    for a, b in zip(mem.estimators_samples_, dk.estimators_samples_, strict=True):
        assert_array_equal(a, b)
    assert dk._fingerprints == mem._fingerprints
    assert_array_equal(dk.vote_counts(X), mem.vote_counts(X))


def test_empty_blocks_and_empty_members(client, data):
    X, y = data
    X, y = X[:24], y[:24]
    kw = dict(k=40, random_state=0)
    with pytest.warns(UserWarning, match="members get no sample"):
        mem = DPAClassifier(_tree(), **kw).fit(X, y)
    chunks = (0, 10, 0, 14, 0)
    with pytest.warns(UserWarning, match="members get no sample"):
        dk = DPAClassifier(_tree(), **kw).fit(
            da.from_array(X, chunks=(chunks, 64)), da.from_array(y, chunks=(chunks,))
        )
    assert (dk.partition_sizes_ == 0).any()
    _assert_same_fit(mem, dk, X)


def test_groups_without_rows_on_a_dataframe(client):
    """Most groups of members get no row: their members' fingerprints still
    carry the frame's columns and dtypes."""
    frame = pd.DataFrame(
        {"a": [1, 2, 3, 4], "b": [0.5, 1.5, 2.5, 3.5], "c": ["x", "y", "x", "z"]}
    )
    y = pd.Series([0, 1, 0, 1], name="label")
    ddf = dd.from_pandas(frame.assign(label=y), npartitions=2)
    X_dask, y_dask = ddf.drop(columns="label"), ddf["label"]
    member = make_pipeline(
        ColumnTransformer([("num", "passthrough", ["a", "b"])]), _tree()
    )
    kw = dict(k=40, random_state=0)
    with pytest.warns(UserWarning, match="members get no sample"):
        mem = DPAClassifier(member, **kw).fit(X_dask.compute(), y_dask.compute())
    with pytest.warns(UserWarning, match="members get no sample"):
        dk = DPAClassifier(member, **kw).fit(X_dask, y_dask)
    assert (dk.partition_sizes_ == 0).sum() >= 36
    _assert_same_fit(mem, dk, X_dask.compute())


def test_ssdpa_hash_partitioning_with_unlabeled_rows(client, data):
    X, y = data
    y = y.copy()
    y[::4] = -1
    kw = dict(k=5, partitioning="hash", voting="runoff", random_state=0)
    mem = SSDPAClassifier(_tree(), **kw).fit(X, y)
    dk = SSDPAClassifier(_tree(), **kw).fit(
        da.from_array(X, chunks=(250, 64)), da.from_array(y, chunks=250)
    )
    _assert_same_fit(mem, dk, X[:100])


def test_predict_is_lazy_and_chunked_like_the_input(client, data):
    X, y = data
    mem = DPAClassifier(_tree(), k=5, random_state=0).fit(X, y)
    Xd = da.from_array(X, chunks=(120, 64))
    dk = DPAClassifier(_tree(), k=5, random_state=0).fit(
        Xd, da.from_array(y, chunks=120)
    )
    outputs = {
        "predict": dk.predict(Xd),
        "predict_proba": dk.predict_proba(Xd),
        "vote_counts": dk.vote_counts(Xd),
        "member_predictions": dk.member_predictions(Xd),
        "member_scores": dk.member_scores(Xd),
    }
    for name, out in outputs.items():
        assert isinstance(out, da.Array), name
        assert out.chunks[0] == Xd.chunks[0], name
        assert_array_equal(out.compute(), getattr(mem, name)(X), err_msg=name)
    y_pred, radius = dk.predict_certified(Xd)
    assert isinstance(y_pred, da.Array) and isinstance(radius, da.Array)
    expected = mem.predict_certified(X)
    assert_array_equal(y_pred.compute(), expected[0])
    assert_array_equal(radius.compute(), expected[1])
    report, expected = dk.certificate_report(Xd), mem.certificate_report(X)
    for key in ("y_pred", "radius", "runner_up", "targeted_radius", "votes"):
        assert isinstance(report[key], da.Array)
        assert_array_equal(report[key].compute(), expected[key], err_msg=key)
    # the graph grows with the blocks only, not with members x blocks
    n_blocks = Xd.numblocks[0]
    graph = dict(outputs["member_scores"].__dask_graph__())
    assert len(graph) <= 3 * n_blocks
    # a DataFrame: one output block per partition
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    fitted_on_frame = DPAClassifier(_tree(), k=5, random_state=0).fit(
        pd.DataFrame(X), y
    )
    lazy = fitted_on_frame.predict(frame)
    assert isinstance(lazy, da.Array) and lazy.numblocks[0] == 3
    assert_array_equal(lazy.compute(), fitted_on_frame.predict(pd.DataFrame(X)))


def test_warm_start_on_dask_input_is_the_cold_fit(client, data):
    X, y = data
    y2 = y.copy()
    y2[:3] = (y2[:3] + 1) % 10  # three flips touch at most three members
    kw = dict(k=8, random_state=0, warm_start=True)

    def dask_xy(y_):
        return da.from_array(X, chunks=(200, 64)), da.from_array(y_, chunks=200)

    warm = DPAClassifier(_tree(), **kw).fit(*dask_xy(y))
    first = list(warm.estimators_)
    warm.fit(*dask_xy(y2))
    mem = DPAClassifier(_tree(), **kw).fit(X, y)
    mem.fit(X, y2)
    assert_array_equal(warm.refitted_, mem.refitted_)
    assert 1 <= warm.refitted_.sum() <= 3
    for j in np.flatnonzero(~warm.refitted_):
        assert warm.estimators_[j] is first[j]
    cold = DPAClassifier(_tree(), k=8, random_state=0).fit(X, y2)
    _assert_same_fit(cold, warm, X[:150])


def test_a_worker_lost_mid_fit_gives_the_same_result(client, data, tmp_path):
    X, y = data
    marker = str(tmp_path / "died")
    kw = dict(k=4, random_state=0)
    dk = DPAClassifier(DiesOnceTree(marker=marker), **kw).fit(
        da.from_array(X, chunks=(300, 64)), da.from_array(y, chunks=300)
    )
    assert os.path.exists(marker)  # a worker did die
    mem = DPAClassifier(DiesOnceTree(), **kw).fit(X, y)
    assert_array_equal(dk.member_scores(X[:100]), mem.member_scores(X[:100]))
    client.wait_for_workers(2, timeout=60)


def test_a_failed_fit_leaves_the_estimator_as_it_was(client, data):
    X, y = data
    clf = DPAClassifier(FailsOnRows(max_rows=200), k=8).fit(X, y)
    before = {k: v for k, v in vars(clf).items()}
    clf.set_params(estimator=FailsOnRows(max_rows=50))
    with pytest.raises(RuntimeError, match="refusing"):
        clf.fit(da.from_array(X, chunks=(300, 64)), da.from_array(y, chunks=300))
    assert set(vars(clf)) == set(before)
    assert clf.estimators_ is before["estimators_"]
    assert clf._fingerprints is before["_fingerprints"]


def _xy(data, chunks=(300, 64)):
    X, y = data
    return da.from_array(X, chunks=chunks), da.from_array(y, chunks=chunks[0])


def test_unknown_chunk_sizes_raise(client, data):
    X, y = data
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    Xd = frame.to_dask_array()
    with pytest.raises(ValueError, match=r"X is a Dask array with unknown chunk"):
        DPAClassifier(k=3).fit(Xd, da.from_array(y, chunks=300))
    y_unknown = dd.from_pandas(pd.Series(y), npartitions=3).to_dask_array()
    with pytest.raises(ValueError, match=r"y is a Dask array with unknown chunk"):
        DPAClassifier(k=3).fit(da.from_array(X, chunks=(317, 64)), y_unknown)


def test_misaligned_y_raises(client, data):
    X, y = data
    Xd, _ = _xy(data)
    with pytest.raises(ValueError, match=r"row chunks differ"):
        DPAClassifier(k=3).fit(Xd, da.from_array(y, chunks=((250, 300, 300, 100),)))
    with pytest.raises(ValueError, match=r"X has 4 blocks, y has 2"):
        DPAClassifier(k=3).fit(Xd, da.from_array(y, chunks=(475,)))
    frame = pd.DataFrame(X)
    frame["label"] = y
    a = dd.from_pandas(frame, npartitions=3)
    other = a["label"].repartition(divisions=(0, 100, 500, a.divisions[-1]))
    assert other.npartitions == a.npartitions
    with pytest.raises(ValueError, match=r"their divisions differ"):
        DPAClassifier(k=3).fit(a.drop(columns="label"), other)
    # divisions unknown: the blocks' lengths are compared on the workers
    with pytest.raises(ValueError, match=r"a block of X has \d+ rows and the"):
        DPAClassifier(k=3).fit(
            a.drop(columns="label").clear_divisions(), other.clear_divisions()
        )


def test_unsupported_inputs_raise(client, data):
    X, y = data
    Xd, yd = _xy(data)
    with pytest.raises(TypeError, match=r"needs y to be a 1-D dask.array.Array"):
        DPAClassifier(k=3).fit(Xd, y)
    with pytest.raises(TypeError, match=r"needs X to be a dask.array.Array"):
        DPAClassifier(k=3).fit(X, yd)
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=2)
    with pytest.raises(TypeError, match=r"X and y of one family: .* a frame and"):
        DPAClassifier(k=3).fit(frame, da.from_array(y, chunks=475))
    with pytest.raises(ValueError, match=r"needs a 2-D X .* ndim=1"):
        DPAClassifier(k=3).fit(Xd[:, 0], yd)
    with pytest.raises(ValueError, match=r"scalar fit parameters only; 'sample_"):
        DPAClassifier(SpyLike(), k=3).fit(Xd, yd, sample_weight=np.ones(len(y)))


class SpyLike(DecisionTreeClassifier):
    pass


def test_ssdpa_options_that_need_all_rows_raise(client, data):
    Xd, yd = _xy(data)
    with pytest.raises(ValueError, match=r"Use partitioning='hash'"):
        SSDPAClassifier(k=3).fit(Xd, yd)
    with pytest.raises(ValueError, match=r"Fit the embedding yourself"):
        SSDPAClassifier(k=3, partitioning="hash", embedding=PCA(2)).fit(Xd, yd)
    with pytest.raises(ValueError, match=r"every member would need every row"):
        SSDPAClassifier(k=3, partitioning="hash", pass_unlabeled=True).fit(Xd, yd)


def test_cost_aware_options_are_checked_before_the_cluster_fits(client, data):
    """As in memory: a member without costs, run-off or spread refuse at fit,
    and the estimator is left unfitted."""
    Xd, yd = _xy(data)
    est = DPAClassifier(k=3, cost_aware=True)
    with pytest.raises(TypeError, match="DecisionTreeClassifier offers none"):
        est.fit(Xd, yd)
    assert not hasattr(est, "estimators_")
    with pytest.raises(ValueError, match="voting='runoff'"):
        DPAClassifier(
            KNeighborsClassifier(3), k=3, voting="runoff", cost_aware=True
        ).fit(Xd, yd)


def test_dask_input_without_distributed_raises(client, data, monkeypatch):
    Xd, yd = _xy(data)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    clf = DPAClassifier(k=3)
    with pytest.raises(ImportError, match=r"needs the 'distributed' package"):
        clf.fit(Xd, yd)
    assert not hasattr(clf, "estimators_")


def test_dask_input_without_a_client_raises(tmp_path):
    script = textwrap.dedent(
        """
        import dask.array as da
        import numpy as np
        from skdpa import DPAClassifier
        X = da.from_array(np.arange(40.0).reshape(20, 2), chunks=(10, 2))
        y = da.from_array(np.arange(20) % 2, chunks=10)
        try:
            DPAClassifier(k=2).fit(X, y)
        except ValueError as exc:
            print(exc)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert "needs a running distributed.Client" in out.stdout, out.stderr


def test_import_skdpa_does_not_import_dask():
    code = "import sys, skdpa; print('dask' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert out.stdout.strip() == "False", out.stderr


def test_small_skorch_member_is_the_in_memory_fit(client):
    pytest.importorskip("skorch")
    from skdpa.torch import make_skorch_member

    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (1, 4, 7))
    X, y = (X[keep] / 16.0)[:150].astype(np.float32), y[keep][:150]
    member = make_skorch_member(
        n_classes=3,
        max_epochs=2,
        lr=3e-3,
        module__image_shape=(1, 8, 8),
        module__channels=(2, 4),
    )
    kw = dict(k=2, classes=[1, 4, 7], random_state=0)
    mem = DPAClassifier(member, **kw).fit(X, y)
    dk = DPAClassifier(member, **kw).fit(
        da.from_array(X, chunks=(40, 64)), da.from_array(y, chunks=40)
    )
    _assert_same_fit(mem, dk, X[:30])


# -- the Dask fit runs the in-memory fit's steps ------------------------------

FIT_STEPS = (
    "_fit_start",
    "_check_options",
    "_check_member",
    "_check_fit_data",
    "_check_size",
    "_member_fit_params",
    "_check_torch_member",
    "_reusable",
    "_fit_finish",
    "_check_fitted_members",
    "_set_fit_state",
    "_make_certificate",
    "_after_fit",
)


def test_dask_fit_runs_every_step_of_the_in_memory_fit(client, data, monkeypatch):
    """A check added to one of the fit's steps reaches the Dask fit too."""
    X, y = data
    calls = []
    for step in FIT_STEPS:
        original = getattr(DPAClassifier, step)

        def spy(self, *args, _original=original, _step=step, **kwargs):
            calls.append(_step)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DPAClassifier, step, spy)
    DPAClassifier(k=5, random_state=0).fit(X, y)
    in_memory = sorted(calls)
    calls.clear()
    DPAClassifier(k=5, random_state=0).fit(*_xy(data))
    assert sorted(calls) == in_memory
    assert set(in_memory) == set(FIT_STEPS)


def test_dask_fit_checks_k_as_in_memory(client, data):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = data
    match = r"The 'k' parameter of DPAClassifier must be an int .* Got True"
    with pytest.raises(InvalidParameterError, match=match):
        DPAClassifier(k=True).fit(X, y)
    with pytest.raises(InvalidParameterError, match=match):
        DPAClassifier(k=True).fit(*_xy(data))


def test_dask_runoff_fit_warns_about_one_hot_members_as_in_memory(client, data):
    # rows without the fixture's relabelled duplicates: fully grown trees
    # score every training row one-hot
    X, y = data[0][100:900], data[1][100:900]
    match = r"voting='runoff' with 5 of 5 fitted members that give one-hot"
    with pytest.warns(UserWarning, match=match):
        DPAClassifier(k=5, voting="runoff").fit(X, y)
    with pytest.warns(UserWarning, match=match):
        DPAClassifier(k=5, voting="runoff").fit(*_xy((X, y)))


def test_dask_fit_runs_the_content_checks_on_every_block(client):
    """_check_content (the lossy-integer warning) reaches Dask input too."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": 2.0**60 + 4096.0 * np.arange(120),
            "x": rng.normal(size=120),
            "label": np.arange(120) % 2,
        }
    )
    ddf = dd.from_pandas(frame, npartitions=3)

    def lossy(fit):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit()
        return [
            (str(w.message), w.filename)
            for w in caught
            if "integers beyond 2**53" in str(w.message)
        ]

    in_memory = lossy(
        lambda: DPAClassifier(k=3).fit(frame.drop(columns="label"), frame["label"])
    )
    on_dask = lossy(
        lambda: DPAClassifier(k=3).fit(ddf.drop(columns="label"), ddf["label"])
    )
    assert len(in_memory) == 1 and "column 'id'" in in_memory[0][0]
    assert on_dask == [(in_memory[0][0], __file__)]


def test_dask_content_warning_is_the_whole_datas_once(client):
    # block 1 reaches beyond 2**53 in "a" and "b"; block 2 holds a fraction in
    # "b" (a float column, not ids) and ids beyond 2**53 in "c": the whole data
    # warns about "a" and "c", once, as the in-memory fit does
    n = 60
    frame = pd.DataFrame(
        {
            "a": np.r_[2.0**60 + 4096.0 * np.arange(n // 2), np.arange(n // 2)],
            "b": np.r_[2.0**60 + 4096.0 * np.arange(n // 2), np.full(n // 2, 0.5)],
            "c": np.r_[np.arange(n // 2), 2.0**61 + 4096.0 * np.arange(n // 2)],
            "label": np.arange(n) % 2,
        }
    )
    ddf = dd.from_pandas(frame, npartitions=2)

    def lossy(fit):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit()
        return [str(w.message) for w in caught if "beyond 2**53" in str(w.message)]

    in_memory = lossy(
        lambda: DPAClassifier(k=3).fit(frame.drop(columns="label"), frame["label"])
    )
    on_dask = lossy(
        lambda: DPAClassifier(k=3).fit(ddf.drop(columns="label"), ddf["label"])
    )
    assert len(in_memory) == 1
    assert "column 'a', column 'c' holds" in in_memory[0]
    assert on_dask == in_memory
