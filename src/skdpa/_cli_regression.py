"""``skdpa evaluate`` for regression: DPARegressor / SSDPARegressor on a data set.

Kept apart from :mod:`skdpa.cli` (which parses the arguments and calls
:func:`run` when the task is regression): the table, CSV files and plot of a
certified regressor. What is reported, per ensemble:

- clean error of the median prediction (MAE, RMSE) and the share of test
  predictions within ``--tolerance`` of the truth (clean coverage);
- the median certified radius at the tolerance: the median over test samples
  of ``predict_certified(X, tolerance)``'s radius (half the predictions are
  certified to move at most ``tolerance`` against that many poisoned
  samples);
- the certified coverage curve (:func:`skdpa.metrics.certified_coverage_curve`)
  against the attack size, as CSV and plot.
"""

import csv
import sys
import time
from pathlib import Path

import numpy as np

SUMMARY_FILE = "certified_regression.csv"
CURVE_FILE = "certified_coverage_curve.csv"
PLOT_FILE = "certified_coverage.png"
OUTPUT_FILES = (SUMMARY_FILE, CURVE_FILE, PLOT_FILE)
METHOD_NAMES = {"dpa": "DPA", "ssdpa": "SS-DPA"}
# the CLI's --estimator names for regression members; logistic (the CLI's
# default) and ridge both mean the linear member, knn and knn5 the neighbours
ESTIMATORS = ("knn", "knn5", "tree", "logistic", "ridge", "svc")

SUMMARY_FIELDS = (
    "method",
    "k",
    "spread",
    "tolerance",
    "clean_mae",
    "clean_rmse",
    "clean_coverage",
    "median_certified_radius",
    "fit_time_s",
    "predict_time_s",
)
CURVE_FIELDS = ("method", "k", "spread", "tolerance", "budget", "certified_coverage")
PREDICTION_FIELDS = (
    "method",
    "k",
    "spread",
    "sample",
    "y_true",
    "y_pred",
    "radius",
)


def make_regressor_member(name):
    """Base regressors by name; scaling sits inside each member's pipeline."""
    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor

    factories = {
        "knn": lambda: make_pipeline(StandardScaler(), KNeighborsRegressor(5)),
        "tree": lambda: DecisionTreeRegressor(min_samples_leaf=5),
        "ridge": lambda: make_pipeline(StandardScaler(), Ridge()),
        "svc": lambda: make_pipeline(StandardScaler(), SVR()),
    }
    factories["knn5"] = factories["knn"]
    factories["logistic"] = factories["ridge"]
    if name not in factories:
        raise ValueError(
            f"--estimator {name} is a classifier only; for regression choose one "
            f"of {', '.join(ESTIMATORS)} (logistic and ridge mean ridge "
            "regression, svc means SVR)."
        )
    return factories[name]()


def numeric_targets(y, which):
    """Targets as float64, each cell read alone (a table's labels come as
    text); a cell that is not a finite number raises, naming it."""
    y = np.asarray(y)
    if y.dtype.kind in "biuf":
        out = y.astype(np.float64)
    else:
        out = np.empty(len(y))
        for i, v in enumerate(y.tolist()):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise ValueError(
                    f"regression needs numeric targets; {which} row {i} has {v!r}."
                ) from None
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"regression needs finite targets; {which} row {i} has {y[i]!r}."
        )
    return out


def _make(method, k, spread, args, embedding_dim):
    from sklearn.decomposition import PCA

    from ._regression import DPARegressor, SSDPARegressor

    member = make_regressor_member(args.estimator)
    common = dict(k=k, n_jobs=args.n_jobs, random_state=args.random_state)
    if method == "dpa":
        return DPARegressor(member, spread=spread, **common)
    return SSDPARegressor(
        member, embedding=PCA(n_components=embedding_dim, random_state=0), **common
    )


def _curve(y_test, outputs, shifts, tolerance):
    from .metrics import certified_coverage_curve

    spread = 1 if shifts is None else len(shifts)
    budgets, scores = [], []
    for b in range(outputs.shape[1] // spread + 1):
        scores.append(
            certified_coverage_curve(y_test, outputs, b, tolerance, shifts=shifts)
        )
        budgets.append(b)
        if scores[-1] == 0:
            break
    return np.array(budgets), np.array(scores)


def _format_table(rows):
    headers = [
        "method",
        "k",
        "clean MAE",
        "clean RMSE",
        "clean coverage",
        "median certified radius",
        "fit (s)",
        "predict (s)",
    ]
    cells = [
        [
            row["method"]
            if row["spread"] == 1
            else f"{row['method']} spread={row['spread']}",
            str(row["k"]),
            f"{row['clean_mae']:.4g}",
            f"{row['clean_rmse']:.4g}",
            f"{row['clean_coverage']:.2%}",
            f"{row['median_certified_radius']:g}",
            f"{row['fit_time_s']:.2f}",
            f"{row['predict_time_s']:.2f}",
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def fmt(values):
        parts = [
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    lines = [fmt(headers), fmt(["-" * w for w in widths])]
    return "\n".join(lines + [fmt(c) for c in cells])


def _write_plot(results, path, title, tolerance):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    from .plotting import CertifiedCoverageDisplay, _attack_xlabel

    methods = list(dict.fromkeys(r["row"]["method"] for r in results))
    fig = Figure(figsize=(5.5 * len(methods), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    for ax, method in zip(axes, methods, strict=True):
        for r in results:
            if r["row"]["method"] != method:
                continue
            name = f"k={r['row']['k']}"
            if r["row"]["spread"] > 1:
                name += f", spread={r['row']['spread']}"
            display = CertifiedCoverageDisplay(
                budgets=r["budgets"],
                certified_coverage=r["coverage"],
                clean_coverage=float(r["coverage"][0]),
                tolerance=tolerance,
                name=name,
                xlabel=_attack_xlabel(r["reg"]),
            )
            display.plot(ax=ax)
        ax.set_title(f"{method} ({title})")
    fig.savefig(path, dpi=110)
    return True


def run(methods, ks, data, args, title, out_directory):
    """Fit, certify and report every (method, k); returns the exit status."""
    log = (
        (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    )
    X_train, X_test, y_train, y_test = data
    tolerance = args.tolerance
    if tolerance is None:
        # a quarter of the training targets' standard deviation, stated in the output
        tolerance = float(0.25 * np.std(y_train))
    embedding_dim = min(args.embedding_dim, X_train.shape[1], X_train.shape[0])
    spread = getattr(args, "spread", 1)
    configs = [(m, k, spread if m == "dpa" else 1) for m in methods for k in ks]
    results = []
    for i, (method, k, d) in enumerate(configs, start=1):
        desc = f"{METHOD_NAMES[method]} k={k}" + (f" spread={d}" if d > 1 else "")
        log(f"[{i}/{len(configs)}] {desc}: fitting {k * d} members")
        reg = _make(method, k, d, args, embedding_dim)
        start = time.perf_counter()
        reg.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        outputs = reg.member_predictions(X_test)
        predict_time = time.perf_counter() - start
        from .certify import median_radius

        shifts = None if len(reg.shifts_) == 1 else reg.shifts_
        y_pred, radius = median_radius(outputs, tolerance, shifts)
        error = y_pred - y_test
        row = {
            "method": METHOD_NAMES[method],
            "k": k,
            "spread": d,
            "tolerance": tolerance,
            "clean_mae": float(np.mean(np.abs(error))),
            "clean_rmse": float(np.sqrt(np.mean(error**2))),
            "clean_coverage": float(np.mean(np.abs(error) <= tolerance)),
            "median_certified_radius": float(np.median(radius)),
            "fit_time_s": fit_time,
            "predict_time_s": predict_time,
        }
        budgets, coverage = _curve(y_test, outputs, shifts, tolerance)
        log(
            f"  clean MAE {row['clean_mae']:.4g}, median certified radius "
            f"{row['median_certified_radius']:g} at tolerance {tolerance:.4g}, "
            f"fit {fit_time:.1f} s"
        )
        results.append(
            {
                "row": row,
                "reg": reg,
                "y_pred": y_pred,
                "radius": radius,
                "budgets": budgets,
                "coverage": coverage,
            }
        )
    print(f"tolerance: {tolerance:.4g} (absolute, in target units)")
    print(_format_table([r["row"] for r in results]))

    out = out_directory()
    with open(out / SUMMARY_FILE, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for r in results:
            row = dict(r["row"])
            for key in ("fit_time_s", "predict_time_s"):
                row[key] = round(row[key], 3)
            writer.writerow(row)
    print(f"wrote {out / SUMMARY_FILE}")
    with open(out / CURVE_FILE, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CURVE_FIELDS)
        for r in results:
            row = r["row"]
            for b, c in zip(r["budgets"], r["coverage"], strict=True):
                writer.writerow(
                    [row["method"], row["k"], row["spread"], tolerance, int(b), c]
                )
    print(f"wrote {out / CURVE_FILE}")
    if _write_plot(results, out / PLOT_FILE, title, tolerance):
        print(f"wrote {out / PLOT_FILE}")
    else:
        print(
            f"matplotlib is not installed: skipped {PLOT_FILE} "
            '(pip install "scikit-dpa[plot]")',
            file=sys.stderr,
        )
    if args.save_predictions is not None:
        path = Path(args.save_predictions)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=PREDICTION_FIELDS)
            writer.writeheader()
            for r in results:
                row = r["row"]
                for i in range(len(y_test)):
                    writer.writerow(
                        {
                            "method": row["method"],
                            "k": row["k"],
                            "spread": row["spread"],
                            "sample": i,
                            "y_true": float(y_test[i]),
                            "y_pred": float(r["y_pred"][i]),
                            "radius": int(r["radius"][i]),
                        }
                    )
        print(f"wrote {path}")
    return 0
