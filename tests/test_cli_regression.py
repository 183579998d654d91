"""``skdpa evaluate`` on regression data sets (DPARegressor, SSDPARegressor)."""

import csv
import sys

import numpy as np
import pytest

from skdpa import DPARegressor
from skdpa._cli_regression import make_regressor_member
from skdpa.certify import median_radius
from skdpa.cli import main
from skdpa.datasets import load_seattle_weather, load_train_test

FILES = (
    "certified_regression.csv",
    "certified_coverage_curve.csv",
    "certified_coverage.png",
)
DIABETES = ["evaluate", "--dataset", "diabetes", "--quiet"]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_diabetes_is_detected_and_matches_the_library(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    args = [*DIABETES, "--method", "dpa", "--k", "9", "21", "--estimator", "ridge"]
    args += ["--tolerance", "30", "--random-state", "0", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "tolerance: 30 (absolute, in target units)" in printed
    assert "median certified radius" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    summary = _rows(out / FILES[0])
    assert [r["k"] for r in summary] == ["9", "21"]
    X_train, X_test, y_train, y_test = load_train_test("diabetes")
    for row in summary:
        reg = DPARegressor(
            make_regressor_member("ridge"), k=int(row["k"]), random_state=0
        ).fit(X_train, y_train)
        y_pred, radius = reg.predict_certified(X_test, 30.0)
        assert float(row["clean_mae"]) == pytest.approx(
            np.mean(np.abs(y_pred - y_test))
        )
        assert float(row["median_certified_radius"]) == np.median(radius)
        assert float(row["clean_coverage"]) == pytest.approx(
            np.mean(np.abs(y_pred - y_test) <= 30)
        )
    curve = _rows(out / FILES[1])
    k21 = [float(r["certified_coverage"]) for r in curve if r["k"] == "21"]
    assert k21[0] == pytest.approx(float(summary[1]["clean_coverage"]))
    assert k21[-1] == 0 and all(np.diff(k21) <= 0)


def test_ssdpa_spread_and_saved_predictions(tmp_path):
    out, saved = tmp_path / "o", tmp_path / "p.csv"
    args = [*DIABETES, "--method", "ssdpa", "--k", "5", "--estimator", "tree"]
    args += ["--out", str(out), "--save-predictions", str(saved)]
    assert main(args) == 0
    rows = _rows(saved)
    assert len(rows) == 111 and {r["method"] for r in rows} == {"SS-DPA"}
    _, _, _, y_test = load_train_test("diabetes")
    assert [float(r["y_true"]) for r in rows] == y_test.tolist()
    out2 = tmp_path / "fa"
    args = [
        *DIABETES,
        "--method",
        "dpa",
        "--k",
        "4",
        "--spread",
        "3",
        "--out",
        str(out2),
    ]
    assert main(args) == 0
    assert _rows(out2 / FILES[0])[0]["spread"] == "3"


def test_task_regression_on_a_classification_data_set(tmp_path):
    """--task regression treats the digit labels as numbers."""
    args = ["evaluate", "--dataset", "digits", "--method", "dpa", "--k", "5"]
    args += ["--task", "regression", "--estimator", "tree", "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert (tmp_path / FILES[0]).exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--voting", "runoff"], r"--voting runoff applies to classification"),
        (["--estimator", "naive-bayes"], r"--estimator naive-bayes is a classifier"),
    ],
)
def test_regression_errors(tmp_path, capsys, extra, message):
    args = [*DIABETES, "--method", "dpa", "--k", "5", "--out", str(tmp_path), *extra]
    assert main(args) == 1
    assert message.replace("\\", "") in capsys.readouterr().err


def test_bad_tolerance_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([*DIABETES, "--method", "dpa", "--k", "5", "--tolerance", "-1"])
    assert exc.value.code == 2
    assert "must be a finite number >= 0; got -1" in capsys.readouterr().err


def test_regression_outputs_are_not_overwritten(tmp_path, capsys):
    (tmp_path / FILES[0]).write_text("keep")
    args = [*DIABETES, "--method", "dpa", "--k", "5", "--out", str(tmp_path)]
    assert main(args) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / FILES[0]).read_text() == "keep"


def test_seattle_weather_without_its_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "vega_datasets", None)
    with pytest.raises(ImportError, match=r"scikit-dpa\[regression-data\]"):
        load_seattle_weather()
    args = ["evaluate", "--dataset", "seattle-weather", "--method", "dpa", "--k", "5"]
    assert main([*args, "--out", str(tmp_path)]) == 1
    assert "install it with" in capsys.readouterr().err


def test_seattle_weather_loads_from_the_package():
    pytest.importorskip("vega_datasets")
    data = load_seattle_weather()
    assert data.data.shape == (1461, 5) and data.target.shape == (1461,)
    assert data.feature_names[1] == "temp_min" and data.target_name == "temp_max"
    assert np.isfinite(data.data).all()
    X_train, X_test, _, _ = load_train_test("seattle-weather")
    assert len(X_train) + len(X_test) == 1461


def test_median_radius_is_what_predict_certified_gives():
    X_train, X_test, y_train, _ = load_train_test("diabetes")
    reg = DPARegressor(k=7).fit(X_train, y_train)
    assert np.array_equal(
        median_radius(reg.member_predictions(X_test), 20.0)[1],
        reg.predict_certified(X_test, 20.0)[1],
    )


def _write_table(path, y_cells):
    X, _ = load_train_test("diabetes")[0:3:2]
    rows = ["a,b,c,target"]
    for i, cell in enumerate(y_cells):
        rows.append(f"{X[i % len(X), 0]},{X[i % len(X), 1]},{i},{cell}")
    path.write_text("\n".join(rows) + "\n")


def test_user_table_with_task_regression(tmp_path, capsys):
    """--data FILE: labels come as text and are read as numbers cell by cell;
    auto stays classification for files (the task is never inferred from a
    file's values)."""
    table = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    _write_table(table, [f"{v:.3f}" for v in rng.normal(100, 20, size=120)])
    args = ["evaluate", "--data", str(table), "--target", "target", "--quiet"]
    args += ["--method", "dpa", "--k", "5", "--estimator", "ridge"]
    assert main([*args, "--task", "regression", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / FILES[0]).exists()
    assert "tolerance:" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "certified_accuracy.csv").exists()


@pytest.mark.parametrize(
    "cell, message", [("abc", r"has 'abc'"), ("nan", r"finite targets")]
)
def test_user_table_with_bad_targets(tmp_path, capsys, cell, message):
    table = tmp_path / "t.csv"
    _write_table(table, ["1.5"] * 60 + [cell] + ["2.5"] * 59)
    args = ["evaluate", "--data", str(table), "--target", "target", "--quiet"]
    args += ["--method", "dpa", "--k", "3", "--task", "regression"]
    assert main([*args, "--out", str(tmp_path / "o"), "--test-size", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "regression needs" in err and message.replace("\\", "") in err
