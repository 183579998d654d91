"""``skdpa evaluate`` on the user's own CSV and parquet files, subsets, one-line
errors (issue 16's CLI items), predict progress, warnings as lines."""

import csv
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from skdpa import DPAClassifier
from skdpa._tabular import TableError, hash_split, read_labeled_table
from skdpa.cli import main

N_ROWS = 500


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:N_ROWS], y[:N_ROWS]


def _write_csv(path, X, y, names=None, target="digit"):
    names = names or [f"p{i}" for i in range(X.shape[1])]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*names, target])
        for row, label in zip(X, y, strict=True):
            writer.writerow([*(f"{v:g}" for v in row), label])
    return path


def _write_parquet(path, X, y):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    columns = {f"p{i}": X[:, i] for i in range(X.shape[1])}
    pq.write_table(pa.table({**columns, "digit": y}), path)
    return path


def _summary(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _evaluate(data, out, *extra):
    argv = ["evaluate", "--data", str(data), "--target", "digit", "--method", "dpa"]
    argv += ["--estimator", "knn"]
    return main([*argv, "--k", "5", "--out", str(out), "--quiet", *extra])


def test_csv_file_end_to_end_matches_the_library(tmp_path, capsys):
    X, y = _digits()
    path = _write_csv(tmp_path / "digits.csv", X, y)
    assert _evaluate(path, tmp_path / "run", "--voting", "plurality") == 0
    capsys.readouterr()
    (record,) = _summary(tmp_path / "run" / "certified_accuracy.csv")
    # the same split and ensemble by hand: labels are read as text
    test = hash_split(X, 0.25)
    assert 0.15 < test.mean() < 0.35
    clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=5)
    clf.fit(X[~test], y[~test].astype(str))
    y_pred, _ = clf.predict_certified(X[test])
    assert float(record["clean_accuracy"]) == round(
        float(np.mean(y_pred == y[test].astype(str))), 6
    )
    assert float(record["clean_accuracy"]) > 0.9


def test_parquet_file_gives_the_csv_numbers(tmp_path, capsys):
    X, y = _digits()
    _write_csv(tmp_path / "d.csv", X, y)
    _write_parquet(tmp_path / "d.parquet", X, y)
    assert _evaluate(tmp_path / "d.csv", tmp_path / "a") == 0
    assert _evaluate(tmp_path / "d.parquet", tmp_path / "b") == 0
    capsys.readouterr()
    keys = ("clean_accuracy", "mean_member_accuracy", "median_certified_radius")
    a = _summary(tmp_path / "a" / "certified_accuracy.csv")
    b = _summary(tmp_path / "b" / "certified_accuracy.csv")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]


def test_test_file_and_subsets(tmp_path, capsys):
    X, y = _digits()
    train = _write_csv(tmp_path / "train.csv", X[:400], y[:400])
    test = _write_csv(tmp_path / "test.csv", X[400:], y[400:])
    status = main(
        [
            "evaluate",
            "--data",
            str(train),
            "--test",
            str(test),
            "--target",
            "digit",
            "--method",
            "dpa",
            "--k",
            "4",
            "--estimator",
            "knn",
            "--n-train",
            "300",
            "--n-test",
            "60",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert status == 0
    err = capsys.readouterr().err
    assert f"{train}: 300 training and 60 test samples" in err
    (record,) = _summary(tmp_path / "run" / "certified_accuracy.csv")
    clf = DPAClassifier(KNeighborsClassifier(n_neighbors=1), k=4)
    clf.fit(X[:300], y[:300].astype(str))
    expected = clf.score(X[400:460], y[400:460].astype(str))
    assert float(record["clean_accuracy"]) == round(expected, 6)


def test_subsets_of_a_bundled_data_set(tmp_path, capsys):
    argv = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "3"]
    argv += ["--n-train", "200", "--n-test", "50", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "digits: 200 training and 50 test samples" in capsys.readouterr().err


def test_junk_cell_is_refused_with_its_place(tmp_path, capsys):
    X, y = _digits()
    path = _write_csv(tmp_path / "d.csv", X[:20], y[:20])
    lines = path.read_text().splitlines()
    lines.insert(5, ",".join(["1"] * 10 + ["maybe"] + ["0"] * 53 + ["3"]))
    path.write_text("\n".join(lines) + "\n")
    assert _evaluate(path, tmp_path / "run") == 1
    err = capsys.readouterr().err
    assert err == (
        f"skdpa evaluate: error: {path}, line 6, column 'p10': 'maybe' is not a "
        "finite number. Every feature cell must be one (nothing is inferred from "
        "other rows): encode it, or leave the column out with --features.\n"
    )
    # leaving the column out reads the file
    features = ["--features", *(f"p{i}" for i in range(64) if i != 10)]
    assert _evaluate(path, tmp_path / "run", *features) == 0


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
        max_size=8,
    ),
    extra=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        min_size=3,
        max_size=3,
    ),
    where=st.integers(0, 8),
)
def test_an_inserted_row_never_changes_how_other_rows_read(
    tmp_path_factory, rows, extra, where
):
    """Rule 9: the reader decides each cell alone, so the clean rows' values
    (and hence their hashes and partitions) are the same with or without an
    inserted row."""
    tmp = tmp_path_factory.mktemp("rows")
    X = np.asarray(rows, dtype=np.float64)
    y = np.arange(len(X)) % 2
    clean, _, _ = read_labeled_table(
        _write_csv(tmp / "a.csv", X, y, names=["a", "b", "c"]), target="digit"
    )
    where = min(where, len(X))
    X2 = np.insert(X, where, extra, axis=0)
    y2 = np.insert(y, where, 1)
    poisoned, _, _ = read_labeled_table(
        _write_csv(tmp / "b.csv", X2, y2, names=["a", "b", "c"]), target="digit"
    )
    np.testing.assert_array_equal(np.delete(poisoned, where, axis=0), clean)
    # and each row's side of the train/test split is its own
    np.testing.assert_array_equal(
        np.delete(hash_split(poisoned, 0.3), where), hash_split(clean, 0.3)
    )


def test_reader_errors_name_what_is_wrong(tmp_path):
    X, y = _digits()
    path = _write_csv(tmp_path / "d.csv", X[:5, :2], y[:5], names=["a", "b"])
    with pytest.raises(TableError, match=r"no column 'label' \(--target\); the co"):
        read_labeled_table(path, target="label")
    with pytest.raises(TableError, match=r"no column 'z' \(--features\)"):
        read_labeled_table(path, target="digit", features=["z"])
    with pytest.raises(TableError, match="expected a .csv or .parquet file"):
        read_labeled_table(tmp_path / "d.txt", target="digit")
    with pytest.raises(TableError, match="no such file"):
        read_labeled_table(tmp_path / "missing.csv", target="digit")
    path.write_text("a,b,digit\n1,2,3\n4,5\n")
    with pytest.raises(TableError, match="line 3: 2 cells; the header has 3"):
        read_labeled_table(path, target="digit")
    path.write_text("a,b,digit\n1,,3\n")
    with pytest.raises(TableError, match="column 'b': '' is not a finite number"):
        read_labeled_table(path, target="digit")
    path.write_text("a,b,digit\n1,inf,3\n")
    with pytest.raises(TableError, match="column 'b': 'inf' is not a finite"):
        read_labeled_table(path, target="digit")


def test_parquet_reader_checks_column_types(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": ["x", "y"], "b": [1, 2], "t": [0, 1]}), path)
    with pytest.raises(TableError, match="column 'a': type string; feature col"):
        read_labeled_table(path, target="t")
    X, y, names = read_labeled_table(path, target="t", features=["b"])
    assert X.tolist() == [[1.0], [2.0]] and y.tolist() == [0, 1] and names == ["b"]
    pq.write_table(pa.table({"b": [1.0, None], "t": [0, 1]}), path)
    with pytest.raises(TableError, match=r"column 'b': 1 missing \(null\) cells"):
        read_labeled_table(path, target="t")


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch, capsys):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert _evaluate(path, tmp_path / "run") == 1
    assert capsys.readouterr().err == (
        f"skdpa evaluate: error: reading {path} needs pyarrow, which is not "
        "installed: pip install pyarrow (or save the table as CSV).\n"
    )


def test_empty_test_set_is_one_line_exit_2(tmp_path, capsys):
    X, y = _digits()
    train = _write_csv(tmp_path / "train.csv", X[:50], y[:50])
    test = _write_csv(tmp_path / "test.csv", X[:0], y[:0])
    argv = ["evaluate", "--data", str(train), "--test", str(test)]
    argv += ["--target", "digit", "--method", "dpa", "--k", "3"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        "skdpa evaluate: error: the test set is empty; nothing to certify (give "
        "--test FILE, a larger --test-size, or more data).\n"
    )
    assert not (tmp_path / "run").exists()


class _Broken(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise ValueError("cannot fit these rows\nsecond line of detail")

    def predict(self, X):  # pragma: no cover - never fitted
        return np.zeros(len(X))


def test_training_error_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    import skdpa.cli

    monkeypatch.setattr(skdpa.cli, "_make_estimator", lambda name: _Broken())
    argv = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "3"]
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "skdpa evaluate: error: training DPA k=3 failed: ValueError: cannot fit "
        "these rows\n"
    )
    assert "Traceback" not in err


def test_argument_combinations_exit_2(tmp_path, capsys):
    base = ["evaluate", "--method", "dpa", "--k", "3"]
    for argv, message in [
        (["--data", "x.csv"], "argument --data: needs --target COLUMN"),
        (["--dataset", "digits", "--target", "y"], "--target: applies to --data"),
        (["--dataset", "digits", "--test-size", "0.2"], "--test-size: applies to"),
        (["--data", "x.csv", "--target", "y", "--test-size", "1.5"], r"\(0, 1\)"),
        (["--dataset", "digits", "--partitioning", "hash"], "SS-DPA only"),
        (["--dataset", "digits", "--data", "x.csv"], "not allowed with"),
    ]:
        with pytest.raises(SystemExit) as info:
            main([*base, *argv])
        assert info.value.code == 2
        assert re.search(message, capsys.readouterr().err), message


def test_predict_progress_and_warnings_as_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    argv = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "4"]
    argv += ["--voting", "runoff", "--estimator", "knn", "--out", str(tmp_path)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    # a progress display for predict (tqdm bar, or text lines without tqdm)
    assert re.search(r"DPAClassifier predict.*450/450", err), err
    # the run-off advice as one line, with no file:line prefix
    assert "skdpa evaluate: warning: voting='runoff' with 4 of 4 fitted" in err
    assert "UserWarning" not in err and "cli.py:" not in err


def test_predict_progress_without_tqdm(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    argv = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "20"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"DPAClassifier fit: 20/20 members \(100%, [\d.]+ s\)", err)
    assert re.search(r"DPAClassifier predict: 450/450 rows \(100%", err)
    assert re.search(r"DPAClassifier fit: \d+/20 members \(\d+%", err)


def test_ssdpa_partitioning_reaches_the_estimator(tmp_path, capsys):
    argv = ["evaluate", "--dataset", "digits", "--method", "ssdpa", "--k", "4"]
    for partitioning in ("sorted", "hash"):
        out = tmp_path / partitioning
        args = [*argv, "--partitioning", partitioning, "--out", str(out)]
        assert main([*args, "--quiet", "--n-train", "300"]) == 0
    capsys.readouterr()
    a = _summary(tmp_path / "sorted" / "certified_accuracy.csv")
    b = _summary(tmp_path / "hash" / "certified_accuracy.csv")
    assert a[0]["mean_member_accuracy"] != b[0]["mean_member_accuracy"]


def test_overwrite_refusal_names_the_option_of_the_file(tmp_path, capsys):
    path = tmp_path / "preds.csv"
    path.write_text("keep me\n")
    argv = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "3"]
    argv += ["--out", str(tmp_path / "run"), "--save-predictions", str(path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == (
        f"skdpa evaluate: error: refusing to overwrite {path}: pass --force to "
        "overwrite, or choose another --save-predictions file.\n"
    )


def test_plot_gives_each_ensemble_one_colour_and_each_rule_its_lines(
    tmp_path, monkeypatch, capsys
):
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **kw: saved.append(self))
    argv = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "3", "5"]
    argv += ["--voting", "plurality", "runoff", "--n-train", "300"]
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    (fig,) = saved
    (ax,) = fig.axes
    curves = [line for line in ax.get_lines() if line.get_label()[0] != "_"]
    assert [c.get_label() for c in curves] == [
        "k=3, plurality",
        "k=3, run-off",
        "k=5, plurality",
        "k=5, run-off",
    ]
    colour = [to_rgba(c.get_color())[:3] for c in curves]
    # both rules of one k share a colour; the two k differ
    assert colour[0] == colour[1] and colour[2] == colour[3]
    assert colour[0] != colour[2]
    assert [c.get_linestyle() for c in curves] == ["-", "-.", "-", "-."]
    # one clean-accuracy line per curve, dashed differently per rule
    clean = [line for line in ax.get_lines() if line.get_label()[0] == "_"]
    assert len(clean) == 4
    assert [c.get_linestyle() for c in clean] == ["--", ":", "--", ":"]
    assert [to_rgba(c.get_color())[:3] for c in clean] == colour
