"""End-to-end tests of the ``skdpa`` command, called through ``main([...])``."""

import csv
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from test_datasets import write_mnist_dir

from skdpa import DPAClassifier, SSDPAClassifier
from skdpa.cli import (
    _curve,
    _format_table,
    _mean_member_accuracy,
    _write_summary,
    main,
)
from skdpa.datasets import load_train_test
from skdpa.metrics import certified_accuracy, median_certified_radius

COLUMNS = (
    "method",
    "k",
    "voting",
    "clean accuracy",
    "mean member accuracy",
    "median certified radius",
    "fit (s)",
    "predict (s)",
)
SUMMARY = [
    "method",
    "k",
    "spread",
    "voting",
    "clean_accuracy",
    "mean_member_accuracy",
    "median_certified_radius",
    "fit_time_s",
    "predict_time_s",
]
FILES = (
    "certified_accuracy.csv",
    "certified_accuracy_curve.csv",
    "certified_accuracy.png",
)
EVALUATE = ["evaluate", "--dataset", "digits", "--method", "dpa", "--estimator", "knn"]


@pytest.fixture(scope="module")
def digits():
    return load_train_test("digits")


def _table_rows(stdout):
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("method"))
    rows = []
    for line in lines[header + 2 :]:
        if line.startswith("wrote "):
            break
        rows.append(line.split())
    return lines[header], rows


def _is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _decimals(text):
    return len(text.partition(".")[2])


def test_demo_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    header, rows = _table_rows(captured.out)
    for column in COLUMNS:
        assert column in header
    assert [(r[0], int(r[1]), r[2]) for r in rows] == [
        (m, k, "plurality") for m in ("DPA", "SS-DPA") for k in (10, 25, 50, 100)
    ]
    for row in rows:
        clean, member = (float(v.rstrip("%")) for v in row[3:5])
        assert 80 < clean <= 100  # 1-NN members do well on digits
        assert 0 < member < clean  # the vote beats its members
        assert int(row[5]) <= int(row[1]) // 2  # a radius is at most k // 2
    for name in FILES:
        assert (tmp_path / name).exists()
        assert f"wrote {tmp_path / name}" in captured.out
    assert _is_png(tmp_path / "certified_accuracy.png")
    assert len(_read_csv(tmp_path / "certified_accuracy.csv")) == 8
    # Progress goes to stderr, one line per configuration.
    assert "[1/8] DPA k=10: fitting 10 members" in captured.err
    assert "[8/8] SS-DPA k=100" in captured.err


def test_evaluate_digits_end_to_end(tmp_path, capsys, digits):
    out = tmp_path / "run"
    status = main([*EVALUATE, "--k", "4", "12", "--out", str(out), "--quiet"])
    assert status == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    _, rows = _table_rows(captured.out)
    assert [r[:3] for r in rows] == [
        ["DPA", "4", "plurality"],
        ["DPA", "12", "plurality"],
    ]

    with open(out / "certified_accuracy.csv", newline="") as fh:
        raw = list(csv.reader(fh))
    assert raw[0] == SUMMARY
    table = _read_csv(out / "certified_accuracy.csv")
    assert _is_png(out / "certified_accuracy.png")

    # The numbers are those of the estimator the command describes.
    X_train, X_test, y_train, y_test = digits
    for record in table:
        k = int(record["k"])
        clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=k)
        clf.fit(X_train, y_train)
        y_pred, radius = clf.predict_certified(X_test)
        assert (record["spread"], record["voting"]) == ("1", "plurality")
        # rounded to 6 decimals: exact for up to a million test samples
        assert float(record["clean_accuracy"]) == round(clf.score(X_test, y_test), 6)
        assert float(record["mean_member_accuracy"]) == round(
            _mean_member_accuracy(clf, X_test, y_test), 6
        )
        assert int(record["median_certified_radius"]) == median_certified_radius(
            y_test, y_pred, radius
        )
        # times are rounded to milliseconds
        for key in ("fit_time_s", "predict_time_s"):
            assert float(record[key]) >= 0
            assert _decimals(record[key]) <= 3


def test_curve_csv_is_the_certified_accuracy_at_every_budget(tmp_path, digits):
    out = tmp_path / "run"
    assert main([*EVALUATE, "--k", "5", "20", "--out", str(out), "--quiet"]) == 0
    curve = _read_csv(out / "certified_accuracy_curve.csv")
    assert list(curve[0]) == [
        "method",
        "k",
        "spread",
        "voting",
        "budget",
        "certified_accuracy",
    ]
    X_train, X_test, y_train, y_test = digits
    for k in (5, 20):
        points = [r for r in curve if r["k"] == str(k)]
        budgets = [int(r["budget"]) for r in points]
        assert budgets == list(range(len(budgets)))  # 0, 1, 2, ... no gaps
        clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=k)
        y_pred, radius = clf.fit(X_train, y_train).predict_certified(X_test)
        expected = np.round(certified_accuracy(y_test, y_pred, radius, budgets), 6)
        np.testing.assert_array_equal(
            [float(r["certified_accuracy"]) for r in points], expected
        )
        assert float(points[-1]["certified_accuracy"]) == 0  # runs until it hits 0
        assert float(points[-2]["certified_accuracy"]) > 0


def test_save_predictions_is_the_certificate_report(tmp_path, digits):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "reports" / "predictions.csv"
    argv = [*EVALUATE, "--k", "6", "--voting", "plurality", "runoff"]
    argv += ["--out", str(tmp_path / "run"), "--save-predictions", str(path)]
    assert main([*argv, "--quiet"]) == 0
    saved = pd.read_csv(path)
    X_train, X_test, y_train, y_test = digits
    assert len(saved) == 2 * len(y_test)
    for voting in ("plurality", "runoff"):
        part = saved[saved["voting"] == voting].reset_index(drop=True)
        assert (part["method"] == "DPA").all() and (part["k"] == 6).all()
        np.testing.assert_array_equal(part["sample"], np.arange(len(y_test)))
        np.testing.assert_array_equal(part["y_true"], y_test)
        clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=6, voting=voting)
        report = clf.fit(X_train, y_train).certificate_report(X_test).to_frame()
        pd.testing.assert_frame_equal(
            part[list(report.columns)], report, check_dtype=False
        )


def test_spread_and_runoff(tmp_path, digits):
    out = tmp_path / "fa"
    argv = [*EVALUATE, "--k", "5", "--spread", "3", "--voting", "runoff", "plurality"]
    assert main([*argv, "--estimator", "tree", "--out", str(out), "--quiet"]) == 0
    table = _read_csv(out / "certified_accuracy.csv")
    assert [(r["k"], r["spread"], r["voting"]) for r in table] == [
        ("5", "3", "runoff"),
        ("5", "3", "plurality"),
    ]
    # Both rules share one fit, and each row is what a cold fit with that rule
    # gives.
    assert table[0]["fit_time_s"] == table[1]["fit_time_s"]
    X_train, X_test, y_train, y_test = digits
    curve = _read_csv(out / "certified_accuracy_curve.csv")
    for record in table:
        clf = DPAClassifier(
            DecisionTreeClassifier(), k=5, spread=3, voting=record["voting"]
        ).fit(X_train, y_train)
        assert clf.n_members_ == 15
        y_pred, radius = clf.predict_certified(X_test)
        assert float(record["clean_accuracy"]) == round(np.mean(y_pred == y_test), 6)
        points = [r for r in curve if r["voting"] == record["voting"]]
        budgets = [int(r["budget"]) for r in points]
        np.testing.assert_array_equal(
            [float(r["certified_accuracy"]) for r in points],
            np.round(certified_accuracy(y_test, y_pred, radius, budgets), 6),
        )


def test_random_state_reaches_the_members(tmp_path, digits):
    argv = [*EVALUATE, "--k", "4", "--estimator", "tree", "--quiet"]
    for run in ("a", "b"):
        out = tmp_path / run
        assert main([*argv, "--random-state", "7", "--out", str(out)]) == 0
    a = _read_csv(tmp_path / "a" / "certified_accuracy_curve.csv")
    b = _read_csv(tmp_path / "b" / "certified_accuracy_curve.csv")
    assert a == b
    X_train, X_test, y_train, y_test = digits
    clf = DPAClassifier(DecisionTreeClassifier(), k=4, random_state=7)
    y_pred, radius = clf.fit(X_train, y_train).predict_certified(X_test)
    budgets = [int(r["budget"]) for r in a]
    np.testing.assert_array_equal(
        [float(r["certified_accuracy"]) for r in a],
        np.round(certified_accuracy(y_test, y_pred, radius, budgets), 6),
    )


def test_spread_is_refused_for_ssdpa(capsys):
    argv = ["evaluate", "--dataset", "digits", "--method", "dpa", "ssdpa"]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--k", "5", "--spread", "16"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: skdpa evaluate")
    assert re.search(
        r"argument --spread: applies to DPA only .*got --spread 16 with --method "
        "ssdpa",
        err,
    )


def test_never_overwrites_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*EVALUATE, "--k", "3", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    capsys.readouterr()
    before = {name: (out / name).read_bytes() for name in FILES}
    (out / "certified_accuracy.csv").write_text("my notes\n")

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"skdpa evaluate: error: refusing to overwrite {out / FILES[0]}, "
        f"{out / FILES[1]}, {out / FILES[2]}: pass --force"
    )
    assert "training" not in err  # refused before loading data or training
    assert (out / "certified_accuracy.csv").read_text() == "my notes\n"
    assert (out / FILES[2]).read_bytes() == before[FILES[2]]

    assert main([*argv, "--force", "--quiet"]) == 0
    assert (out / FILES[0]).read_text().startswith("method,k,spread,voting,")
    assert (out / FILES[1]).read_bytes() == before[FILES[1]]  # same curve


def test_save_predictions_never_overwrites(tmp_path, capsys):
    path = tmp_path / "predictions.csv"
    path.write_text("keep me\n")
    argv = [*EVALUATE, "--k", "3", "--out", str(tmp_path / "run")]
    assert main([*argv, "--save-predictions", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"refusing to overwrite {path}: pass --force" in err
    assert path.read_text() == "keep me\n"
    assert not (tmp_path / "run").exists()


def test_without_out_each_run_gets_a_fresh_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [*EVALUATE, "--k", "3", "--quiet"]
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wrote skdpa-evaluate/certified_accuracy.csv" in out
    assert "wrote skdpa-evaluate-2/certified_accuracy.csv" in out
    # nothing is written into the working directory itself
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "skdpa-evaluate",
        "skdpa-evaluate-2",
    ]
    for name in ("skdpa-evaluate", "skdpa-evaluate-2"):
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted(FILES)


def test_out_must_be_a_directory(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert main([*EVALUATE, "--k", "3", "--out", str(target)]) == 1
    assert capsys.readouterr().err == (
        f"skdpa evaluate: error: --out {target} exists and is not a directory.\n"
    )


def test_save_predictions_must_not_be_an_output_file(tmp_path, capsys):
    argv = [*EVALUATE, "--k", "3", "--out", str(tmp_path)]
    argv += ["--save-predictions", str(tmp_path / "certified_accuracy.csv")]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert re.search(
        r"argument --save-predictions: .*certified_accuracy.csv is one of the files "
        "skdpa evaluate writes into --out",
        capsys.readouterr().err,
    )


def test_progress_bar_counts_every_member(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    argv = [*EVALUATE, "--k", "6", "--spread", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "fitting 12 members" in err
    assert re.search(r"DPAClassifier fit: 100%.*12/12", err), err


def test_evaluate_ssdpa_on_idx_directory(tmp_path, capsys):
    write_mnist_dir(tmp_path / "mnist", n_train=40, n_test=10)
    status = main(
        [
            "evaluate",
            "--dataset",
            f"idx:{tmp_path / 'mnist'}",
            "--method",
            "ssdpa",
            "dpa",
            "--k",
            "3",
            "--estimator",
            "tree",
            "--embedding-dim",
            "5",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert "training and 10 test samples" in captured.err
    table = _read_csv(tmp_path / "run" / "certified_accuracy.csv")
    assert [(r["method"], r["k"]) for r in table] == [("SS-DPA", "3"), ("DPA", "3")]
    assert _is_png(tmp_path / "run" / "certified_accuracy.png")


def test_evaluate_missing_fashion_mnist_one_line_error(tmp_path, capsys):
    status = main(
        [
            "evaluate",
            "--dataset",
            "fashion-mnist",
            "--data-home",
            str(tmp_path),
            "--method",
            "dpa",
            "--k",
            "10",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("skdpa evaluate: error: Fashion-MNIST not found")
    assert "apt-get install dataset-fashion-mnist" in err
    assert "--data-home" in err
    assert not (tmp_path / "run").exists()


def test_evaluate_without_matplotlib_still_writes_tables(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main([*EVALUATE, "--k", "3", "--out", str(tmp_path), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "matplotlib is not installed: skipped certified_accuracy.png" in captured.err
    assert (tmp_path / "certified_accuracy.csv").exists()
    assert (tmp_path / "certified_accuracy_curve.csv").exists()
    assert not (tmp_path / "certified_accuracy.png").exists()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["evaluate", "--dataset", "cifar", "--method", "dpa", "--k", "5"],
         r"expected one of digits, fashion-mnist, mnist-5k, idx:PATH; got 'cifar'"),
        (["evaluate", "--dataset", "idx:", "--method", "dpa", "--k", "5"],
         r"got 'idx:'"),
        (["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "0"],
         r"argument --k: must be >= 1; got 0"),
        (["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "many"],
         r"argument --k: expected an integer; got 'many'"),
        (["evaluate", "--dataset", "digits", "--method", "bagging", "--k", "5"],
         r"argument --method: invalid choice: 'bagging'"),
        (["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "5",
          "--estimator", "resnet"],
         r"argument --estimator: invalid choice: 'resnet'"),
        (["evaluate", "--dataset", "digits", "--method", "dpa"],
         r"the following arguments are required: --k"),
        (["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "5",
          "--spread", "0"],
         r"argument --spread: must be >= 1; got 0"),
        (["demo", "--voting", "majority"],
         r"argument --voting: invalid choice: 'majority'"),
        (["demo", "--random-state", "-1"],
         r"argument --random-state: must be in \[0, 2\*\*32\); got -1"),
        (["demo", "--random-state", "seven"],
         r"argument --random-state: expected an integer; got 'seven'"),
        (["demo", "--spread", "2"], r"unrecognized arguments: --spread 2"),
        ([], r"the following arguments are required: COMMAND"),
    ],
)  # fmt: skip
def test_invalid_arguments_exit_2(argv, match, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: skdpa")
    assert re.search(match, err), err


def test_version(capsys):
    from skdpa import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skdpa {__version__}"


def test_format_table_marks_missing_median():
    row = {
        "method": "DPA",
        "k": 1000,
        "spread": 4,
        "voting": "runoff",
        "clean_accuracy": 0.4452,
        "mean_member_accuracy": 0.232,
        "median_certified_radius": None,
        "fit_time_s": 12.345,
        "predict_time_s": 0.5,
    }
    lines = _format_table([row]).splitlines()
    assert lines[0].split("  ")[0] == "method"
    assert lines[2].split() == [
        "DPA",
        "spread=4",
        "1000",
        "runoff",
        "44.52%",
        "23.20%",
        "N/A",
        "12.35",
        "0.50",
    ]


@settings(max_examples=50, deadline=None)
@given(
    times=st.lists(
        st.floats(0, 1e5, allow_nan=False, allow_infinity=False),
        min_size=2,
        max_size=2,
    )
)
def test_summary_rounds_times_to_milliseconds(tmp_path_factory, times):
    path = tmp_path_factory.mktemp("summary") / "summary.csv"
    row = dict.fromkeys(SUMMARY, 0)
    row.update(fit_time_s=times[0], predict_time_s=times[1], median_certified_radius=1)
    _write_summary([{"row": row}], path)
    (record,) = _read_csv(path)
    for key, value in zip(("fit_time_s", "predict_time_s"), times, strict=True):
        assert _decimals(record[key]) <= 3
        assert float(record[key]) == pytest.approx(value, abs=5e-4 + 1e-9)


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 40)),
        min_size=1,
        max_size=50,
    )
)
def test_curve_runs_from_zero_until_it_reaches_zero(data):
    y_true, y_pred, radius = (np.array(c) for c in zip(*data, strict=True))
    budgets, scores = _curve(y_true, y_pred, radius)
    np.testing.assert_array_equal(budgets, np.arange(len(budgets)))
    np.testing.assert_array_equal(
        scores, certified_accuracy(y_true, y_pred, radius, budgets)
    )
    assert scores[-1] == 0
    if len(scores) > 2:
        assert scores[-2] > 0  # no trailing budgets past the first zero


def test_mean_member_accuracy_skips_abstaining_members(digits):
    X_train, X_test, y_train, y_test = digits
    X_train, y_train = X_train[:30], y_train[:30]
    # 30 samples in 40 partitions: some partitions are empty and abstain.
    with pytest.warns(UserWarning, match="members get no sample"):
        clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=40)
        clf.fit(X_train, y_train)
    assert any(m is None for m in clf.estimators_)
    y_index = np.searchsorted(clf.classes_, y_test)
    expected = [
        np.mean(clone(KNeighborsClassifier(n_neighbors=1)).fit(
            X_train[rows], np.searchsorted(clf.classes_, y_train[rows])
        ).predict(X_test) == y_index)
        for rows in clf.estimators_samples_
        if len(rows)
    ]  # fmt: skip
    assert _mean_member_accuracy(clf, X_test, y_test) == pytest.approx(
        np.mean(expected)
    )


def test_mean_member_accuracy_ssdpa_uses_embedding(digits):
    from sklearn.decomposition import PCA

    X_train, X_test, y_train, y_test = digits
    clf = SSDPAClassifier(
        KNeighborsClassifier(n_neighbors=1), k=5, embedding=PCA(8, random_state=0)
    ).fit(X_train, y_train)
    Z = clf.embedding_.transform(X_test)
    y_index = np.searchsorted(clf.classes_, y_test)
    expected = np.mean([np.mean(m.predict(Z) == y_index) for m in clf.estimators_])
    assert _mean_member_accuracy(clf, X_test, y_test) == pytest.approx(expected)
    # Labels the ensemble never saw count as misses, not as errors.
    y_unseen = np.where(y_test == 0, 42, y_test)
    assert _mean_member_accuracy(clf, X_test, y_unseen) < expected
