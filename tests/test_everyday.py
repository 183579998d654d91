"""Small everyday behaviours: the report joins back to a DataFrame's rows, the
pandas hint of ``to_frame``, the refusal of a non-classifier names its kind,
text progress without tqdm."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.linear_model import LinearRegression

from skdpa import DPAClassifier, SSDPAClassifier


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def test_report_frame_keeps_the_index_of_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = _digits()
    frame = pd.DataFrame(X, index=[f"row{i}" for i in range(len(X))])
    frame.columns = [f"p{i}" for i in range(X.shape[1])]
    clf = DPAClassifier(k=5, random_state=0).fit(frame, y)
    test = frame.iloc[[10, 3, 500]]
    report = clf.certificate_report(test).to_frame()
    assert report.index.tolist() == ["row10", "row3", "row500"]
    joined = test.join(report)
    np.testing.assert_array_equal(joined["y_pred"], clf.predict(test))
    # arrays keep their 0 .. n - 1 index
    plain = clf.certificate_report(X[[10, 3]]).to_frame()
    assert plain.index.tolist() == [0, 1]


def test_to_frame_without_pandas_says_what_to_do(monkeypatch):
    X, y = _digits()
    report = DPAClassifier(k=5).fit(X, y).certificate_report(X[:3])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"to_frame\(\) needs pandas.*pip install"):
        report.to_frame()
    assert report.radius.shape == (3,)  # the arrays need no pandas


@pytest.mark.parametrize(
    "estimator, kind",
    [(KMeans(2, n_init=1), "a clusterer's"), (LinearRegression(), "a regressor's")],
)
@pytest.mark.parametrize("cls", [DPAClassifier, SSDPAClassifier])
def test_non_classifier_refusal_names_its_kind(cls, estimator, kind):
    X, y = _digits()
    name = type(estimator).__name__
    with pytest.raises(
        ValueError,
        match=re.escape(f"got {name}. Members vote with class labels: {kind} outputs"),
    ):
        cls(estimator, k=3).fit(X, y)


def test_text_progress_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    X, y = _digits()
    DPAClassifier(k=30, verbose=1).fit(X, y)
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("DPAClassifier fit: 30/30 members (100%, ")
    # about every tenth of the members, then the last line stays
    assert 5 <= len(err) <= 11
    assert all(
        re.fullmatch(r"DPAClassifier fit: \d+/30 members \(\d+%, [\d.]+ s\)", e)
        for e in err
    )


def test_tqdm_bar_stays_after_fit(capsys):
    pytest.importorskip("tqdm")
    X, y = _digits()
    DPAClassifier(k=6, verbose=1).fit(X, y)
    err = capsys.readouterr().err
    # a bar left on screen ends with a newline after its final state
    assert re.search(r"6/6 \[[^\]]*\]\n$", err), err


def test_deep_member_on_other_image_sizes_hints_at_image_shape():
    pytest.importorskip("skorch")
    from skdpa.torch import make_skorch_member

    X, y = _digits()
    member = make_skorch_member(n_classes=10, max_epochs=1)
    clf = DPAClassifier(member, k=2, classes=range(10))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "image_shape=(1, 28, 28) needs rows of 784 values; got input of shape"
        )
        + r".*module__image_shape=\(1, 8, 8\)",
    ):
        clf.fit(X.astype(np.float32), y)
    fitted = DPAClassifier(
        make_skorch_member(n_classes=10, max_epochs=1, module__image_shape=(1, 8, 8)),
        k=2,
        classes=range(10),
    ).fit(X.astype(np.float32), y)
    assert fitted.predict(X[:5].astype(np.float32)).shape == (5,)


# --------------------------------------------------------------------------
# Through a pipeline: a fixed step keeps the guarantee, a fitted one voids it
# --------------------------------------------------------------------------


def _pipeline_data():
    X, y = load_digits(return_X_y=True)
    return X[:700], y[:700], X[1500:1560], y[1500:1560]


def _sqrt_dpa():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return make_pipeline(
        FunctionTransformer(np.sqrt),
        DPAClassifier(KNeighborsClassifier(1), k=15, classes=range(10)),
    )


def _poison(pipe, x_raw, target, partitions):
    """One raw row per partition, each a tiny variant of ``x_raw`` that the
    pipeline's last step hashes into that partition, labelled ``target``."""
    last = pipe[-1]
    rows, wanted = [], list(partitions)
    rng = np.random.default_rng(0)
    while wanted:
        candidate = x_raw + rng.integers(1, 4, size=x_raw.shape) * 1e-3
        bucket = int(last.assign_partitions(np.sqrt(candidate[None, :]))[0])
        if bucket in wanted:
            wanted.remove(bucket)
            rows.append(candidate)
    return np.array(rows), np.full(len(rows), target)


def test_fixed_step_before_the_last_keeps_the_certificate():
    """Brute force through a Pipeline: poisoning within the radius (insertions
    aimed at the members that vote for the prediction) never moves it, one
    more does."""
    from skdpa.metrics import _certifying_step

    X, y, X_test, _ = _pipeline_data()
    pipe = _sqrt_dpa().fit(X, y)
    last, X_last = _certifying_step(pipe, X_test)
    report = last.certificate_report(X_last)
    votes = last.member_predictions(X_last)
    checked = 0
    for i in np.flatnonzero(report.radius >= 1)[:6]:
        radius = int(report.radius[i])
        winner = int(np.searchsorted(last.classes_, report.y_pred[i]))
        voters = np.flatnonzero(votes[i] == winner)
        for budget, moves in ((radius, False), (radius + 1, True)):
            rows, labels = _poison(
                pipe, X_test[i], report.runner_up[i], voters[:budget]
            )
            poisoned = _sqrt_dpa().fit(np.vstack([X, rows]), np.r_[y, labels])
            moved = poisoned.predict(X_test[i : i + 1])[0] != report.y_pred[i]
            assert moved == moves, (i, radius, budget)
        checked += 1
    assert checked >= 3


def test_scaler_fit_before_the_last_step_voids_the_certificate():
    """The documented limit: a StandardScaler before DPAClassifier is fit on
    the whole training set, so one inserted row moves predictions certified
    at radius >= 1."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def scaled():
        return make_pipeline(
            StandardScaler(),
            DPAClassifier(KNeighborsClassifier(1), k=15, classes=range(10)),
        )

    X, y, X_test, _ = _pipeline_data()
    clean = scaled().fit(X, y)
    y_pred, radius = clean[-1].predict_certified(clean[:-1].transform(X_test))
    outlier = np.zeros((1, X.shape[1]))
    outlier[0, 30] = 1e6  # one row: rescales a feature for every member
    poisoned = scaled().fit(np.vstack([X, outlier]), np.r_[y, 0])
    moved = poisoned.predict(X_test) != y_pred
    assert np.any(moved & (radius >= 1))


def test_seeding_torch_does_not_load_inductor(tmp_path):
    """A fresh worker fits its first torch member without importing Inductor
    (and torch._dynamo) just to set the deterministic flag; the flag is set
    inside the block and restored after."""
    pytest.importorskip("skorch")
    import subprocess

    script = tmp_path / "s.py"
    script.write_text(
        "import sys, os, torch\n"
        "from skdpa.torch import seeded_torch\n"
        "with seeded_torch(3):\n"
        "    inside = torch.are_deterministic_algorithms_enabled()\n"
        "    env = os.environ.get('TORCHINDUCTOR_DETERMINISTIC')\n"
        "print(inside, env, torch.are_deterministic_algorithms_enabled(),\n"
        "      'torch._inductor.config' in sys.modules,\n"
        "      os.environ.get('TORCHINDUCTOR_DETERMINISTIC'))\n"
    )
    env = dict(__import__("os").environ)
    env.pop("TORCHINDUCTOR_DETERMINISTIC", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "1", "False", "False", "None"]


def test_seeding_torch_with_inductor_loaded_sets_and_restores_its_flag():
    pytest.importorskip("torch")
    import torch._inductor.config as inductor_config

    from skdpa.torch import seeded_torch

    before = inductor_config.deterministic
    with seeded_torch(0):
        assert inductor_config.deterministic is True
        assert torch_deterministic()
    assert inductor_config.deterministic == before
    assert not torch_deterministic()


def torch_deterministic():
    import torch

    return torch.are_deterministic_algorithms_enabled()
