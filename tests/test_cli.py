"""End-to-end tests of the ``skdpa`` command, called through ``main([...])``."""

import csv
import re
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from test_datasets import write_mnist_dir

from skdpa import DPAClassifier, SSDPAClassifier
from skdpa.cli import _format_table, _mean_member_accuracy, main
from skdpa.datasets import load_train_test

COLUMNS = (
    "method",
    "k",
    "clean accuracy",
    "mean member accuracy",
    "median certified radius",
    "fit time (s)",
)


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


def test_demo_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    header, rows = _table_rows(captured.out)
    for column in COLUMNS:
        assert column in header
    assert [(r[0], int(r[1])) for r in rows] == [
        (m, k) for m in ("DPA", "SS-DPA") for k in (10, 25, 50, 100)
    ]
    for row in rows:
        clean, member = (float(v.rstrip("%")) for v in row[2:4])
        assert 80 < clean <= 100  # 1-NN members do well on digits
        assert 0 < member < clean  # the vote beats its members
        assert int(row[4]) <= int(row[1]) // 2  # a radius is at most k // 2
    assert _is_png(tmp_path / "certified_accuracy.png")
    assert not (tmp_path / "certified_accuracy.csv").exists()
    # Progress goes to stderr, one line per configuration.
    assert "[1/8] DPA k=10: fitting 10 members" in captured.err
    assert "[8/8] SS-DPA k=100" in captured.err


def test_evaluate_digits_end_to_end(tmp_path, capsys):
    status = main(
        [
            "evaluate",
            "--dataset",
            "digits",
            "--method",
            "dpa",
            "--k",
            "4",
            "12",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    _, rows = _table_rows(captured.out)
    assert [r[:2] for r in rows] == [["DPA", "4"], ["DPA", "12"]]

    table = _read_csv(tmp_path / "run" / "certified_accuracy.csv")
    assert list(table[0]) == [
        "method",
        "k",
        "clean_accuracy",
        "mean_member_accuracy",
        "median_certified_radius",
        "fit_time_s",
    ]
    assert _is_png(tmp_path / "run" / "certified_accuracy.png")

    # The numbers are those of the estimator the command describes.
    X_train, X_test, y_train, y_test = load_train_test("digits")
    for record in table:
        k = int(record["k"])
        clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=k)
        clf.fit(X_train, y_train)
        assert float(record["clean_accuracy"]) == clf.score(X_test, y_test)
        assert float(record["mean_member_accuracy"]) == _mean_member_accuracy(
            clf, X_test, y_test
        )
        assert float(record["fit_time_s"]) > 0


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
            str(tmp_path),
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert "training and 10 test samples" in captured.err
    table = _read_csv(tmp_path / "certified_accuracy.csv")
    assert [(r["method"], r["k"]) for r in table] == [("SS-DPA", "3"), ("DPA", "3")]
    assert _is_png(tmp_path / "certified_accuracy.png")


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
            str(tmp_path),
        ]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("skdpa evaluate: error: Fashion-MNIST not found")
    assert "apt-get install dataset-fashion-mnist" in err
    assert "--data-home" in err


def test_evaluate_without_matplotlib_still_writes_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    args = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "3"]
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "matplotlib is not installed: skipped certified_accuracy.png" in captured.err
    assert (tmp_path / "certified_accuracy.csv").exists()
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
        "clean_accuracy": 0.4452,
        "mean_member_accuracy": 0.232,
        "median_certified_radius": None,
        "fit_time_s": 12.345,
    }
    lines = _format_table([row]).splitlines()
    assert lines[0].split("  ")[0] == "method"
    assert lines[2].split() == ["DPA", "1000", "44.52%", "23.20%", "N/A", "12.35"]


def test_mean_member_accuracy_skips_abstaining_members():
    X_train, X_test, y_train, y_test = load_train_test("digits")
    X_train, y_train = X_train[:30], y_train[:30]
    # 30 samples in 40 partitions: some partitions are empty and abstain.
    clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=40).fit(X_train, y_train)
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


def test_mean_member_accuracy_ssdpa_uses_embedding():
    from sklearn.decomposition import PCA

    X_train, X_test, y_train, y_test = load_train_test("digits")
    clf = SSDPAClassifier(
        KNeighborsClassifier(n_neighbors=1), k=5, embedding=PCA(8, random_state=0)
    ).fit(X_train, y_train)
    Z = clf.embedding_.transform(X_test)
    y_index = np.searchsorted(clf.classes_, y_test)
    expected = np.mean([np.mean(m.predict(Z) == y_index) for m in clf.estimators_])
    assert _mean_member_accuracy(clf, X_test, y_test) == expected
    # Labels the ensemble never saw count as misses, not as errors.
    y_unseen = np.where(y_test == 0, 42, y_test)
    assert _mean_member_accuracy(clf, X_test, y_unseen) < expected
