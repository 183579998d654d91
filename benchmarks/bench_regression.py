"""Certified regression on two real data sets: median certified radius and error.

For each data set (scikit-learn's ``diabetes``; ``seattle-weather`` from the
``vega_datasets`` package) and each ``k``:

1. the training rows (75%, the split of ``skdpa.datasets.load_train_test``)
   are split again, 75/25, into fit and validation rows;
2. the member kind (``ridge``, ``tree``, ``knn``: the CLI's regression
   members, scaling inside each member) with the lowest validation MAE of
   ``DPARegressor(member, k)`` is chosen;
3. that ensemble is refit on all training rows and evaluated once on the test
   set: clean MAE and RMSE of the median prediction, the share of test
   predictions within the stated tolerance of the truth (clean coverage), the
   median over test rows of ``predict_certified(X, tolerance)``'s radius, and
   the certified coverage at a few attack sizes.

As a baseline measured in the same run, the same member kind fit once on all
training rows (no partitioning, no certificate) gives the ``single MAE``
column; ``MAE ratio`` is ensemble MAE / single MAE.

Three ensembles per ``k`` (``--method``): ``dpa`` (``DPARegressor``),
``fa`` (``DPARegressor(spread=4)``: ``4k`` members of about ``n/k`` rows each;
its radius counts ``4r`` changed members, sound but not tight) and ``ssdpa``
(``SSDPARegressor``: certifies changed targets only, the samples trusted). The
member kind is chosen for each ensemble on the validation split.

Usage::

    python benchmarks/bench_regression.py              # well under a minute
    python benchmarks/bench_regression.py --dataset diabetes
"""

import argparse

import numpy as np
from _harness import Run
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from skdpa import DPARegressor, SSDPARegressor
from skdpa._cli_regression import make_regressor_member
from skdpa.datasets import load_train_test
from skdpa.metrics import certified_coverage_curve

SETTINGS = {
    # tolerance in target units: diabetes' disease progression (std ~77),
    # seattle's highest temperature of the day in degrees Celsius
    "diabetes": {"tolerance": 25.0, "k": [5, 11, 21, 41]},
    "seattle-weather": {"tolerance": 2.0, "k": [11, 25, 51, 101]},
}
MEMBERS = ("ridge", "tree", "knn")
BUDGETS = (1, 2, 5, 10)


def mae(y, y_pred):
    return float(np.mean(np.abs(y - y_pred)))


METHODS = {
    "dpa": lambda member, k, seed: DPARegressor(member, k=k, random_state=seed),
    "fa": lambda member, k, seed: DPARegressor(
        member, k=k, spread=4, random_state=seed
    ),
    "ssdpa": lambda member, k, seed: SSDPARegressor(member, k=k, random_state=seed),
}


def choose_member(method, X_train, y_train, k, seed):
    """Member kind with the lowest validation MAE (validation rows only)."""
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_train, y_train, test_size=0.25, random_state=seed
    )
    scores = {}
    for name in MEMBERS:
        reg = METHODS[method](make_regressor_member(name), k, seed)
        try:
            scores[name] = mae(y_val, reg.fit(X_fit, y_fit).predict(X_val))
        except ValueError:
            # 5 neighbours need 5 rows in every partition: not at this k
            scores[name] = np.inf
    return min(scores, key=scores.get), scores


def run(dataset, methods, seed):
    setting = SETTINGS[dataset]
    tol = setting["tolerance"]
    X_train, X_test, y_train, y_test = load_train_test(dataset, random_state=seed)
    rows = []
    for method, k in [(m, k) for m in methods for k in setting["k"]]:
        member, _ = choose_member(method, X_train, y_train, k, seed)
        reg = METHODS[method](make_regressor_member(member), k, seed)
        reg.fit(X_train, y_train)
        outputs = reg.member_predictions(X_test)
        y_pred, radius = reg.predict_certified(X_test, tol)
        single = clone(make_regressor_member(member))
        seeds = {p: seed for p in single.get_params() if p.endswith("random_state")}
        single = single.set_params(**seeds).fit(X_train, y_train)
        single_mae = mae(y_test, single.predict(X_test))
        shifts = None if len(reg.shifts_) == 1 else reg.shifts_
        coverage = certified_coverage_curve(
            y_test, outputs, (0, *BUDGETS), tol, shifts=shifts
        )
        rows.append(
            {
                "dataset": dataset,
                "method": method,
                "n_train": len(y_train),
                "n_test": len(y_test),
                "k": k,
                "member": member,
                "tolerance": tol,
                "mae": mae(y_test, y_pred),
                "rmse": float(np.sqrt(np.mean((y_test - y_pred) ** 2))),
                "single_mae": single_mae,
                "coverage": coverage,
                "median_radius": float(np.median(radius)),
            }
        )
    return rows


def print_table(rows):
    header = (
        "| data set | method | n train/test | k | member | tolerance | MAE | RMSE "
        "| single MAE | MAE ratio | median certified radius | coverage b=0 | "
        + " | ".join(f"b={b}" for b in BUDGETS)
        + " |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        cells = [
            r["dataset"],
            r["method"],
            f"{r['n_train']}/{r['n_test']}",
            str(r["k"]),
            r["member"],
            f"{r['tolerance']:g}",
            f"{r['mae']:.2f}",
            f"{r['rmse']:.2f}",
            f"{r['single_mae']:.2f}",
            f"{r['mae'] / r['single_mae']:.2f}",
            f"{r['median_radius']:g}",
            *(f"{c:.1%}" for c in r["coverage"]),
        ]
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", nargs="+", choices=sorted(SETTINGS), default=sorted(SETTINGS)
    )
    parser.add_argument(
        "--method", nargs="+", choices=sorted(METHODS), default=["dpa", "fa", "ssdpa"]
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    record = Run(__file__, args)
    record.header("no figure below depends on timing: the run is the same on any load")
    rows = []
    for dataset in args.dataset:
        rows += run(dataset, args.method, args.seed)
    print_table(rows)
    record.save({"rows": rows})


if __name__ == "__main__":
    main()
