"""The ``skdpa`` command: certified evaluation from the shell.

``skdpa demo`` trains DPA and SS-DPA on scikit-learn's digits for a few ``k``
and prints the paper's Table 1 columns; ``skdpa evaluate`` does the same for a
bundled data set or the user's own CSV or parquet file (``--data FILE
--target COLUMN``), chosen methods, ``k``, voting rules and ``spread``, and
certifies regressors (``DPARegressor``, ``SSDPARegressor``) on the regression
data sets and with ``--task regression``. Both write a
summary CSV, the per-budget certified-accuracy curve as CSV and a plot into an
output directory, and never overwrite a file unless told to (``--force``). Run
``skdpa COMMAND --help`` for the options.
"""

import argparse
import csv
import itertools
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["main"]

DEMO_K = (10, 25, 50, 100)
SUMMARY_FILE = "certified_accuracy.csv"
CURVE_FILE = "certified_accuracy_curve.csv"
PLOT_FILE = "certified_accuracy.png"
OUTPUT_FILES = (SUMMARY_FILE, CURVE_FILE, PLOT_FILE)
METHOD_NAMES = {"dpa": "DPA", "ssdpa": "SS-DPA"}
VOTING_RULES = ("plurality", "runoff")
DATASETS = ("digits", "fashion-mnist", "mnist-5k", "idx:PATH")
# real-valued targets: evaluated by skdpa._cli_regression
REGRESSION_DATASETS = ("diabetes", "seattle-weather")
TASKS = ("auto", "classification", "regression")
# Decimal places of the times written to CSV (milliseconds).
TIME_DECIMALS = 3
# Decimal places of accuracies written to CSV and shown in logs: exact for
# test sets of up to a million samples, without float noise (0.68166, not
# 0.6816599999999999).
ACCURACY_DECIMALS = 6
DEFAULT_TEST_SIZE = 0.25

SUMMARY_FIELDS = (
    "method",
    "k",
    "spread",
    "voting",
    "clean_accuracy",
    "mean_member_accuracy",
    "median_certified_radius",
    "fit_time_s",
    "predict_time_s",
)
CURVE_FIELDS = ("method", "k", "spread", "voting", "budget", "certified_accuracy")
PREDICTION_FIELDS = (
    "method",
    "k",
    "spread",
    "voting",
    "sample",
    "y_true",
    "y_pred",
    "radius",
    "runner_up",
)


class _CommandError(Exception):
    """A problem reported as one line on stderr; exit status 1 (files and
    data sets that cannot be read or written) or 2 (the run itself cannot
    proceed: an empty subset, a member that fails to train)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def _one_line(exc):
    """An exception as one line: its type and its message's first line."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _make_estimator(name):
    """Base estimators by name: each fits in well under a second on a partition.

    Scaling, where a model needs it, sits inside the member's pipeline so it is
    fit per partition (a scaler fit on the whole training set would void the
    certificate).
    """
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    factories = {
        "knn": lambda: KNeighborsClassifier(n_neighbors=1),
        # graded scores (the distance-weighted share of 5 neighbours): what
        # the run-off's second round needs
        "knn5": lambda: KNeighborsClassifier(n_neighbors=5, weights="distance"),
        "tree": lambda: DecisionTreeClassifier(),
        "logistic": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000)
        ),
        "svc": lambda: make_pipeline(StandardScaler(), SVC()),
        "ridge": lambda: make_pipeline(StandardScaler(), RidgeClassifier()),
        "naive-bayes": lambda: GaussianNB(),
    }
    return factories[name]()


ESTIMATORS = ("knn", "knn5", "tree", "logistic", "svc", "ridge", "naive-bayes")


@dataclass(frozen=True)
class _Config:
    """One ensemble the command evaluates."""

    method: str
    k: int
    spread: int
    voting: str

    @property
    def n_members(self):
        return self.k * self.spread

    def describe(self):
        """``DPA k=50``, then ``spread=16`` and ``run-off`` where not default."""
        text = f"{METHOD_NAMES[self.method]} k={self.k}"
        if self.spread > 1:
            text += f" spread={self.spread}"
        if self.voting != "plurality":
            text += " run-off"
        return text

    def method_cell(self):
        name = METHOD_NAMES[self.method]
        return name if self.spread == 1 else f"{name} spread={self.spread}"


def _make_classifier(config, estimator, args, *, embedding_dim, verbose):
    from sklearn.decomposition import PCA

    from ._dpa import DPAClassifier
    from ._ssdpa import SSDPAClassifier

    common = dict(
        k=config.k,
        voting=config.voting,
        # Further voting rules refit warm: the members are reused, only the
        # certificate changes.
        warm_start=True,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
        verbose=verbose,
    )
    if config.method == "dpa":
        return DPAClassifier(_make_estimator(estimator), spread=config.spread, **common)
    # SS-DPA: one PCA on all (trusted, unlabeled) training samples, shared by
    # every member; the labels never reach it. SS-DPA seeds it from
    # random_state.
    partitioning = getattr(args, "partitioning", None)
    if partitioning is not None:
        common["partitioning"] = partitioning
    return SSDPAClassifier(
        _make_estimator(estimator),
        embedding=PCA(n_components=embedding_dim, random_state=0),
        **common,
    )


def _mean_member_accuracy(clf, X, y):
    """Mean accuracy of the voting members (empty partitions abstain).

    Read from ``clf.member_predictions``: class indices into ``clf.classes_``,
    computed under the library's thread limits (calling tiny members directly,
    with all BLAS/OpenMP threads, was 10 times slower on 2 cores).
    """
    classes = clf.classes_
    known = np.isin(y, classes)
    y_index = np.where(known, np.searchsorted(classes, y), -1)
    voting = np.flatnonzero(np.asarray(clf.partition_sizes_) > 0)
    if not voting.size:
        return math.nan
    predictions = clf.member_predictions(X)[:, voting]
    return float(np.mean(predictions == y_index[:, None], axis=0).mean())


def _predict_certified(clf, X, desc, verbose):
    """``clf.predict_certified(X)`` in row chunks, with a progress display.

    Each row's prediction and radius depend on that row alone, so chunks give
    the same arrays as one call.
    """
    from ._progress import progress_bar

    n = len(X)
    bar = progress_bar(n, desc, verbose, unit="row")
    if bar is None:
        return clf.predict_certified(X)
    step = max(256, -(-n // 20))
    parts = []
    for start in range(0, n, step):
        parts.append(clf.predict_certified(X[start : start + step]))
        bar.update(min(step, n - start))
    bar.close()
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _evaluate(config, clf, fit_time, data, args, log, verbose=0):
    """Certify the test set with a fitted ensemble; the summary row and arrays."""
    from .metrics import median_certified_radius

    _, X_test, _, y_test = data
    start = time.perf_counter()
    try:
        y_pred, radius = _predict_certified(
            clf, X_test, f"{type(clf).__name__} predict", verbose
        )
    except Exception as exc:
        raise _CommandError(
            f"certifying the test set with {config.describe()} failed: "
            f"{_one_line(exc)}",
            status=2,
        ) from None
    predict_time = time.perf_counter() - start
    row = {
        "method": METHOD_NAMES[config.method],
        "k": config.k,
        "spread": config.spread,
        "voting": config.voting,
        "clean_accuracy": round(float(np.mean(y_pred == y_test)), ACCURACY_DECIMALS),
        "mean_member_accuracy": round(
            _mean_member_accuracy(clf, X_test, y_test), ACCURACY_DECIMALS
        ),
        "median_certified_radius": median_certified_radius(y_test, y_pred, radius),
        "fit_time_s": fit_time,
        "predict_time_s": predict_time,
    }
    report = clf.certificate_report(X_test) if args.save_predictions else None
    log(
        f"  clean accuracy {row['clean_accuracy']:.2%}, median certified radius "
        f"{_fmt_radius(row['median_certified_radius'])}, fit {fit_time:.1f} s, "
        f"predict {predict_time:.1f} s"
    )
    return {
        "config": config,
        "row": row,
        "clf": clf,
        "y_pred": y_pred,
        "radius": radius,
        "report": report,
    }


def _fmt_radius(value):
    return "N/A" if value is None else str(value)


def _format_table(rows):
    headers = [
        "method",
        "k",
        "voting",
        "clean accuracy",
        "mean member accuracy",
        "median certified radius",
        "fit (s)",
        "predict (s)",
    ]
    cells = [
        [
            row["method"]
            if row.get("spread", 1) == 1
            else f"{row['method']} spread={row['spread']}",
            str(row["k"]),
            row.get("voting", "plurality"),
            f"{row['clean_accuracy']:.2%}",
            f"{row['mean_member_accuracy']:.2%}",
            _fmt_radius(row["median_certified_radius"]),
            f"{row['fit_time_s']:.2f}",
            f"{row['predict_time_s']:.2f}",
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    # Text columns left-aligned, numbers right-aligned.
    def fmt(values):
        parts = [
            v.ljust(w) if i in (0, 2) else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    lines = [fmt(headers), fmt(["-" * w for w in widths])]
    lines += [fmt(c) for c in cells]
    return "\n".join(lines)


def _write_summary(results, path):
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for result in results:
            out = dict(result["row"])
            if out["median_certified_radius"] is None:
                out["median_certified_radius"] = ""
            for key in ("fit_time_s", "predict_time_s"):
                out[key] = round(out[key], TIME_DECIMALS)
            for key in ("clean_accuracy", "mean_member_accuracy"):
                out[key] = round(out[key], ACCURACY_DECIMALS)
            writer.writerow(out)


def _curve(y_true, y_pred, radius):
    """Budgets 0 .. one past the largest radius of a correct prediction (where
    certified accuracy reaches 0) and the certified accuracy at each."""
    from .metrics import certified_accuracy

    correct = radius[y_true == y_pred]
    last = int(correct.max()) + 1 if correct.size else 1
    budgets = np.arange(last + 1)
    return budgets, certified_accuracy(y_true, y_pred, radius, budgets)


def _write_curve(results, y_test, path):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CURVE_FIELDS)
        for result in results:
            row = result["row"]
            budgets, scores = _curve(y_test, result["y_pred"], result["radius"])
            for budget, score in zip(budgets, scores, strict=True):
                writer.writerow(
                    [
                        row["method"],
                        row["k"],
                        row["spread"],
                        row["voting"],
                        int(budget),
                        round(float(score), ACCURACY_DECIMALS),
                    ]
                )


def _write_predictions(results, y_test, path):
    """Every certificate report, one row per (ensemble, test sample).

    Columns as ``CertificateReport.to_frame()`` names them, after the
    ensemble's description, the sample's position in the test set and its true
    label. Written with the csv module: pandas is not a dependency.
    """
    classes = []
    for result in results:
        for label in result["report"].classes.tolist():
            if label not in classes:
                classes.append(label)
    fields = list(PREDICTION_FIELDS)
    fields += [f"votes[{c}]" for c in classes]
    fields += [f"targeted_radius[{c}]" for c in classes]
    new_label = "targeted_radius[<new label>]"
    if any(result["report"].get("new_label", False) for result in results):
        fields.append(new_label)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        for result in results:
            row, report = result["row"], result["report"]
            own = report.classes.tolist()
            votes = np.asarray(report.votes)
            targeted = np.asarray(report.targeted_radius)
            for i in range(len(y_test)):
                record = {
                    "method": row["method"],
                    "k": row["k"],
                    "spread": row["spread"],
                    "voting": row["voting"],
                    "sample": i,
                    "y_true": y_test[i].item(),
                    "y_pred": report.y_pred[i].item(),
                    "radius": int(report.radius[i]),
                    "runner_up": report.runner_up[i].item(),
                }
                for j, label in enumerate(own):
                    record[f"votes[{label}]"] = int(votes[i, j])
                    record[f"targeted_radius[{label}]"] = int(targeted[i, j])
                if report.get("new_label", False):
                    record[new_label] = int(targeted[i, -1])
                writer.writerow(record)


def _curve_name(config, several_rules):
    name = f"k={config.k}"
    if config.spread > 1:
        name += f", spread={config.spread}"
    if several_rules or config.voting != "plurality":
        name += ", run-off" if config.voting == "runoff" else ", plurality"
    return name


def _write_plot(results, y_test, path, title):
    """One panel per method, one curve per ensemble; False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    from .plotting import CertifiedAccuracyDisplay, _attack_xlabel

    methods = list(dict.fromkeys(r["row"]["method"] for r in results))
    several_rules = len({r["config"].voting for r in results}) > 1
    # One colour per ensemble (k, spread): its rules are shades of it, the
    # run-off dash-dotted, and each rule's clean accuracy has its own dashes.
    ensembles = list(
        dict.fromkeys((r["config"].k, r["config"].spread) for r in results)
    )
    styles = {
        "plurality": ({"linestyle": "-"}, {"linestyle": "--"}),
        "runoff": ({"linestyle": "-."}, {"linestyle": ":", "linewidth": 1.8}),
    }
    fig = Figure(figsize=(5.5 * len(methods), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    for ax, method in zip(axes, methods, strict=True):
        for result in results:
            if result["row"]["method"] != method:
                continue
            config = result["config"]
            colour = f"C{ensembles.index((config.k, config.spread)) % 10}"
            line_kw, clean_kw = styles[config.voting]
            if config.voting == "runoff":
                line_kw = {**line_kw, "alpha": 0.75}
            CertifiedAccuracyDisplay.from_predictions(
                y_test,
                result["y_pred"],
                result["radius"],
                name=_curve_name(config, several_rules),
                xlabel=_attack_xlabel(result["clf"]),
                ax=ax,
                color=colour,
                clean_accuracy_kw={"color": colour, **clean_kw},
                **line_kw,
            )
        ax.set_title(f"{method} ({title})")
    fig.savefig(path, dpi=110)
    return True


# ---------------------------------------------------------------------------
# Output files: never overwritten unless --force


def _planned_outputs(args):
    """Files the command will write whose place is known before it runs."""
    planned = []
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise _CommandError(f"--out {args.out} exists and is not a directory.")
        planned += [out / name for name in _output_files(args)]
    if args.save_predictions is not None:
        planned.append(Path(args.save_predictions))
    return planned


def _output_files(args):
    """The files of the task (both sets while it is not known yet)."""
    from ._cli_regression import OUTPUT_FILES as REGRESSION_FILES

    task = getattr(args, "task", "classification")
    if task == "auto" and getattr(args, "dataset", None) in REGRESSION_DATASETS:
        task = "regression"
    elif task == "auto" and getattr(args, "dataset", "") in DATASETS[:3]:
        task = "classification"
    files = {"classification": OUTPUT_FILES, "regression": REGRESSION_FILES}
    return files.get(task, OUTPUT_FILES + REGRESSION_FILES)


def _check_overwrite(planned, force, args=None):
    existing = [p for p in planned if p.exists()]
    if existing and not force:
        predictions = (
            None
            if args is None or args.save_predictions is None
            else Path(args.save_predictions)
        )
        remedies = []
        if any(p != predictions for p in existing):
            remedies.append(
                "choose another --out (without --out, every run writes into a "
                "fresh directory)"
            )
        if predictions is not None and predictions in existing:
            remedies.append("choose another --save-predictions file")
        raise _CommandError(
            f"refusing to overwrite {', '.join(map(str, existing))}: pass --force "
            f"to overwrite, or {' and '.join(remedies)}."
        )


def _fresh_directory(command):
    """``skdpa-<command>`` in the working directory, or ``-2``, ``-3``, ... when
    taken. ``mkdir`` claims it, so concurrent runs never share one."""
    base = f"skdpa-{command}"
    for i in itertools.count(1):
        path = Path(base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")  # pragma: no cover


def _output_directory(args):
    if args.out is None:
        return _fresh_directory(args.command)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------------------
# Commands


def _fit(clf, X, y, config):
    """Fit, turning any failure into one line (exit status 2)."""
    try:
        clf.fit(X, y)
    except Exception as exc:
        raise _CommandError(
            f"training {config.describe()} failed: {_one_line(exc)}", status=2
        ) from None


def _subsets(data, args):
    """The first ``--n-train`` / ``--n-test`` rows; refuses empty sets."""
    X_train, X_test, y_train, y_test = data
    n_train = getattr(args, "n_train", None)
    n_test = getattr(args, "n_test", None)
    if n_train is not None:
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    if n_test is not None:
        X_test, y_test = X_test[:n_test], y_test[:n_test]
    if len(y_train) == 0:
        raise _CommandError("the training set is empty; nothing to train.", status=2)
    if len(y_test) == 0:
        raise _CommandError(
            "the test set is empty; nothing to certify (give --test FILE, a "
            "larger --test-size, or more data).",
            status=2,
        )
    return X_train, X_test, y_train, y_test


def _run(methods, ks, data, args, title):
    log = (
        (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    )
    # a bar per ensemble that stays on screen: it ends at "N/N members"
    verbose = 2 if (not args.quiet and sys.stderr.isatty()) else 0
    X_train, _, y_train, _ = data
    embedding_dim = min(args.embedding_dim, X_train.shape[1], X_train.shape[0])
    spread = getattr(args, "spread", 1)
    votings = list(dict.fromkeys(args.voting))
    configs = [
        _Config(m, k, spread if m == "dpa" else 1, v)
        for m in methods
        for k in ks
        for v in votings
    ]
    results = []
    for i, config in enumerate(configs, start=1):
        step = f"[{i}/{len(configs)}] {config.describe()}"
        if config.voting == votings[0]:
            log(f"{step}: fitting {config.n_members} members")
            clf = _make_classifier(
                config,
                args.estimator,
                args,
                embedding_dim=embedding_dim,
                verbose=verbose,
            )
            start = time.perf_counter()
            _fit(clf, X_train, y_train, config)
            fit_time = time.perf_counter() - start
        else:
            # Same members, another rule: a warm refit reuses every member.
            log(f"{step}: the same {config.n_members} members, {config.voting} vote")
            _fit(
                clf.set_params(voting=config.voting, verbose=0),
                X_train,
                y_train,
                config,
            )
        results.append(_evaluate(config, clf, fit_time, data, args, log, verbose))
    print(_format_table([r["row"] for r in results]))

    y_test = data[3]
    out = _output_directory(args)
    _write_summary(results, out / SUMMARY_FILE)
    print(f"wrote {out / SUMMARY_FILE}")
    _write_curve(results, y_test, out / CURVE_FILE)
    print(f"wrote {out / CURVE_FILE}")
    if _write_plot(results, y_test, out / PLOT_FILE, title):
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
        _write_predictions(results, y_test, path)
        print(f"wrote {path}")
    return 0


def _cmd_demo(args):
    from .datasets import load_train_test

    data = load_train_test("digits")
    if not args.quiet:
        print(
            f"digits: {len(data[2])} training and {len(data[3])} test images; "
            f"DPA and SS-DPA (PCA embedding) with 1-nearest-neighbour members",
            file=sys.stderr,
        )
    return _run(("dpa", "ssdpa"), DEMO_K, data, args, "digits")


def _load_table_data(args):
    """(X_train, X_test, y_train, y_test) from --data (and --test)."""
    from ._tabular import TableError, hash_split, read_labeled_table

    try:
        X, y, names = read_labeled_table(
            args.data, target=args.target, features=args.features
        )
        if args.test is not None:
            X_test, y_test, _ = read_labeled_table(
                args.test, target=args.target, features=names
            )
            return X, X_test, y, y_test
    except (TableError, OSError, UnicodeDecodeError) as exc:
        raise _CommandError(str(exc)) from None
    test = hash_split(X, args.test_size)
    return X[~test], X[test], y[~test], y[test]


def _cmd_evaluate(args):
    from .datasets import load_train_test

    if args.data is not None:
        data = _load_table_data(args)
        name = Path(args.data).name
        source = args.data
    else:
        try:
            data = load_train_test(args.dataset, data_home=args.data_home)
        except (FileNotFoundError, ImportError, ValueError) as exc:
            raise _CommandError(str(exc)) from None
        name = args.dataset if not args.dataset.startswith("idx:") else "IDX data"
        source = args.dataset
    data = _subsets(data, args)
    methods = list(dict.fromkeys(args.method))
    if _regression_task(args):
        return _evaluate_regression(methods, data, args, name, source)
    if not args.quiet:
        print(
            f"{source}: {len(data[2])} training and {len(data[3])} test "
            f"samples; members: {args.estimator}",
            file=sys.stderr,
        )
    return _run(methods, list(dict.fromkeys(args.k)), data, args, name)


def _regression_task(args):
    """Regression for --task regression and, with --task auto, for the bundled
    regression data sets. Never inferred from the values of a file: one
    poisoned row (a label 0.5 among integers) must not change the task."""
    if args.task != "auto":
        return args.task == "regression"
    return args.dataset in REGRESSION_DATASETS


def _evaluate_regression(methods, data, args, name, source):
    from . import _cli_regression

    if "runoff" in args.voting:
        raise _CommandError(
            "--voting runoff applies to classification; regression ensembles "
            "predict the median of their members."
        )
    try:
        _cli_regression.make_regressor_member(args.estimator)
        X_train, X_test, y_train, y_test = data
        data = (
            X_train,
            X_test,
            _cli_regression.numeric_targets(y_train, "training"),
            _cli_regression.numeric_targets(y_test, "test"),
        )
    except ValueError as exc:
        raise _CommandError(str(exc)) from None
    if not args.quiet:
        print(
            f"{source}: {len(data[2])} training and {len(data[3])} test "
            f"samples, real-valued targets (regression); members: {args.estimator}",
            file=sys.stderr,
        )
    return _cli_regression.run(
        methods,
        list(dict.fromkeys(args.k)),
        data,
        args,
        name,
        lambda: _output_directory(args),
    )


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32); got {value}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1); got {value}")
    return value


def _dataset(text):
    if text in DATASETS[:3] or (text.startswith("idx:") and len(text) > 4):
        return text
    if text in REGRESSION_DATASETS:
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(DATASETS)}; got {text!r}. Regression data "
        f"sets: {', '.join(REGRESSION_DATASETS)}"
    )


def _build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skdpa",
        description=(
            "Certified defences against training-set poisoning (Deep Partition "
            "Aggregation): train, certify and report."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=(
            f"directory for {', '.join(OUTPUT_FILES)} (created if missing). "
            "Existing files are never overwritten without --force. Default: a "
            "fresh directory skdpa-COMMAND (or skdpa-COMMAND-2, -3, ...) in the "
            "working directory"
        ),
    )
    common.add_argument(
        "--force",
        action="store_true",
        help="overwrite output files that already exist",
    )
    common.add_argument(
        "--save-predictions",
        default=None,
        metavar="FILE.csv",
        help=(
            "also write the certificate report of every test sample (prediction, "
            "radius, runner-up, votes and targeted radius per class) with its true "
            "label; a relative path is relative to the working directory"
        ),
    )
    common.add_argument(
        "--voting",
        nargs="+",
        choices=VOTING_RULES,
        default=["plurality"],
        help=(
            "voting rules to certify (default: plurality); several rules share "
            "one fit of the members"
        ),
    )
    common.add_argument(
        "--random-state",
        type=_seed,
        default=None,
        metavar="SEED",
        help=(
            "seed of the members and of the SS-DPA embedding (default: member i "
            "is seeded with i); the train/test split is fixed"
        ),
    )
    common.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="members fitted in parallel (joblib; -1: all cores)",
    )
    common.add_argument(
        "--quiet", action="store_true", help="print only the table and file names"
    )

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="DPA and SS-DPA on scikit-learn's digits (under a minute)",
        description=(
            f"Train DPA and SS-DPA on scikit-learn's digits for k in {DEMO_K}, "
            f"print the table and write {', '.join(OUTPUT_FILES)}."
        ),
    )
    demo.set_defaults(func=_cmd_demo, parser=demo, estimator="knn", embedding_dim=20)

    evaluate = sub.add_parser(
        "evaluate",
        parents=[common],
        help="certified accuracy of DPA or SS-DPA on a data set",
        description=(
            f"Train, certify and report: prints the table and writes "
            f"{', '.join(OUTPUT_FILES)}. idx:PATH names a directory holding "
            "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and the "
            "same two with t10k (the MNIST layout)."
        ),
    )
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dataset",
        type=_dataset,
        metavar="{" + ",".join(DATASETS + REGRESSION_DATASETS) + "}",
        help=(
            "a bundled data set, read from local files only; diabetes and "
            "seattle-weather have real-valued targets (seattle-weather needs "
            '`pip install "scikit-dpa[regression-data]"`)'
        ),
    )
    source.add_argument(
        "--data",
        metavar="FILE",
        help=(
            "your own table: FILE.csv (header line; every feature cell a "
            "number, read cell by cell: no type is inferred from other rows; "
            "labels read as text) or FILE.parquet (needs pyarrow; numeric or "
            "boolean feature columns). Needs --target"
        ),
    )
    evaluate.add_argument(
        "--target",
        metavar="COLUMN",
        help="with --data: the label column",
    )
    evaluate.add_argument(
        "--features",
        nargs="+",
        metavar="COLUMN",
        help="with --data: the feature columns (default: every other column)",
    )
    split = evaluate.add_mutually_exclusive_group()
    split.add_argument(
        "--test",
        metavar="FILE",
        help="with --data: a test table with the same columns",
    )
    split.add_argument(
        "--test-size",
        type=_fraction,
        default=None,
        metavar="F",
        help=(
            "with --data and no --test: the fraction of rows held out for "
            f"testing (default: {DEFAULT_TEST_SIZE}). Each row's side depends on "
            "its own content alone (a hash), so adding rows never moves others"
        ),
    )
    evaluate.add_argument(
        "--n-train",
        type=_positive_int,
        default=None,
        metavar="N",
        help="train on the first N training samples only (quick runs)",
    )
    evaluate.add_argument(
        "--n-test",
        type=_positive_int,
        default=None,
        metavar="N",
        help="certify the first N test samples only (quick runs)",
    )
    evaluate.add_argument(
        "--partitioning",
        choices=("sorted", "hash"),
        default=None,
        help=(
            "SS-DPA only: how samples are assigned to partitions, as "
            "SSDPAClassifier's partitioning (default: the library's, sorted)"
        ),
    )
    evaluate.add_argument(
        "--task",
        choices=TASKS,
        default="auto",
        help=(
            "classification (DPAClassifier, SSDPAClassifier) or regression "
            "(DPARegressor, SSDPARegressor: median of the members, certified "
            "intervals); auto (default): regression for diabetes and "
            "seattle-weather, classification otherwise (never inferred from a "
            "file's values: pass --task regression with --data)"
        ),
    )
    evaluate.add_argument(
        "--tolerance",
        type=_non_negative_float,
        default=None,
        metavar="T",
        help=(
            "regression only: how far (absolute, in target units) a prediction "
            "may move for the certified radius and the coverage curve. Default: "
            "a quarter of the training targets' standard deviation"
        ),
    )
    evaluate.add_argument(
        "--method",
        required=True,
        nargs="+",
        choices=sorted(METHOD_NAMES),
        help="dpa: insertions/removals; ssdpa: label flips (PCA embedding)",
    )
    evaluate.add_argument(
        "--k",
        required=True,
        nargs="+",
        type=_positive_int,
        metavar="K",
        help="numbers of partitions to try",
    )
    evaluate.add_argument(
        "--spread",
        type=_positive_int,
        default=1,
        metavar="D",
        help=(
            "DPA only: train every sample into D members (finite aggregation; "
            "k*D members). Default: 1, the paper's DPA"
        ),
    )
    evaluate.add_argument(
        "--estimator",
        default="logistic",
        choices=ESTIMATORS,
        help=(
            "base estimator of each member (default: logistic, standardised "
            "per partition: graded scores, which run-off voting needs; knn is "
            "1 nearest neighbour, knn5 5 distance-weighted neighbours). For "
            "regression: logistic and ridge mean ridge regression, knn and knn5 "
            "5 neighbours, svc SVR (all standardised per partition), tree a "
            "regression tree; naive-bayes is classification only"
        ),
    )
    evaluate.add_argument(
        "--embedding-dim",
        type=_positive_int,
        default=20,
        metavar="N",
        help="PCA components of the SS-DPA embedding (default: 20)",
    )
    evaluate.add_argument(
        "--data-home",
        default=None,
        metavar="DIR",
        help="directory holding the Fashion-MNIST IDX files "
        "(default: /usr/share/datasets/fashion-mnist)",
    )
    evaluate.set_defaults(func=_cmd_evaluate, parser=evaluate)
    return parser


def _check_arguments(args):
    """Checks that involve several arguments (argparse errors, exit status 2)."""
    parser = args.parser
    if args.command == "evaluate":
        if args.data is None:
            for option in ("target", "features", "test", "test_size"):
                if getattr(args, option) is not None:
                    flag = "--" + option.replace("_", "-")
                    parser.error(f"argument {flag}: applies to --data only.")
        elif args.target is None:
            parser.error("argument --data: needs --target COLUMN (the labels).")
        elif args.test is None and args.test_size is None:
            args.test_size = DEFAULT_TEST_SIZE
        if args.partitioning is not None and "ssdpa" not in args.method:
            parser.error(
                "argument --partitioning: applies to SS-DPA only (--method ssdpa)."
            )
    if getattr(args, "spread", 1) > 1 and "ssdpa" in args.method:
        parser.error(
            f"argument --spread: applies to DPA only (finite aggregation); got "
            f"--spread {args.spread} with --method ssdpa. SS-DPA certifies label "
            "flips with one member per sample: drop --spread or run ssdpa "
            "separately."
        )
    if args.save_predictions is not None and args.out is not None:
        target = Path(args.save_predictions).resolve()
        if target in {(Path(args.out) / f).resolve() for f in OUTPUT_FILES}:
            parser.error(
                f"argument --save-predictions: {args.save_predictions} is one of "
                f"the files {parser.prog} writes into --out; choose another name."
            )


def main(argv=None):
    """Run the ``skdpa`` command.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success; 1 when a data set cannot be loaded or an output file
        already exists (and ``--force`` is not given); 2 when the run cannot
        proceed (an empty training or test set, a member that fails to train
        or predict), with one line on stderr. Invalid arguments exit with
        status 2 (argparse).

    Examples
    --------
    >>> from skdpa.cli import main
    >>> main(["demo", "--out", "/tmp/skdpa-demo", "--force"])  # doctest: +SKIP
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    _check_arguments(args)
    try:
        with _warnings_as_lines(f"skdpa {args.command}"):
            # before loading data or training: a refusal costs nothing
            _check_overwrite(_planned_outputs(args), args.force, args)
            return args.func(args)
    except _CommandError as exc:
        print(f"skdpa {args.command}: error: {exc}", file=sys.stderr)
        return exc.status


class _warnings_as_lines:
    """Show warnings as ``skdpa COMMAND: warning: ...`` on one line each,
    without the file and line of the library code that raised them; a
    repeated warning is shown once."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.seen = set()

    def _show(self, message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if text in self.seen:
            return
        self.seen.add(text)
        print(f"{self.prefix}: warning: {text}", file=sys.stderr)

    def __enter__(self):
        self._saved = warnings.showwarning
        warnings.showwarning = self._show
        return self

    def __exit__(self, *exc):
        warnings.showwarning = self._saved
        return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
