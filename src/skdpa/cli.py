"""The ``skdpa`` command: certified evaluation from the shell.

``skdpa demo`` trains DPA and SS-DPA on scikit-learn's digits for a few ``k``
and prints the paper's Table 1 columns; ``skdpa evaluate`` does the same for a
chosen data set, method and ``k`` and writes a CSV and a plot. Run
``skdpa COMMAND --help`` for the options.
"""

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main"]

DEMO_K = (10, 25, 50, 100)
TABLE_FILE = "certified_accuracy.csv"
PLOT_FILE = "certified_accuracy.png"
METHOD_NAMES = {"dpa": "DPA", "ssdpa": "SS-DPA"}
DATASETS = ("digits", "fashion-mnist", "mnist-5k", "idx:PATH")


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
        "tree": lambda: DecisionTreeClassifier(),
        "logistic": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000)
        ),
        "svc": lambda: make_pipeline(StandardScaler(), SVC()),
        "ridge": lambda: make_pipeline(StandardScaler(), RidgeClassifier()),
        "naive-bayes": lambda: GaussianNB(),
    }
    return factories[name]()


ESTIMATORS = ("knn", "tree", "logistic", "svc", "ridge", "naive-bayes")


def _make_classifier(method, k, estimator, *, n_jobs, embedding_dim, verbose):
    from sklearn.decomposition import PCA

    from ._dpa import DPAClassifier
    from ._ssdpa import SSDPAClassifier

    if method == "dpa":
        return DPAClassifier(
            _make_estimator(estimator), k=k, n_jobs=n_jobs, verbose=verbose
        )
    # SS-DPA: one PCA on all (trusted, unlabeled) training samples, shared by
    # every member; the labels never reach it.
    return SSDPAClassifier(
        _make_estimator(estimator),
        k=k,
        embedding=PCA(n_components=embedding_dim, random_state=0),
        n_jobs=n_jobs,
        verbose=verbose,
    )


def _mean_member_accuracy(clf, X, y):
    """Mean accuracy of the voting members (empty partitions abstain).

    Members predict class indices into ``clf.classes_``; SS-DPA members see the
    embedded inputs.
    """
    classes = clf.classes_
    known = np.isin(y, classes)
    y_index = np.where(known, np.searchsorted(classes, y), -1)
    embedding = getattr(clf, "embedding_", None)
    X_members = X if embedding is None else embedding.transform(X)
    scores = [
        np.mean(np.asarray(member.predict(X_members)) == y_index)
        for member in clf.estimators_
        if member is not None
    ]
    return float(np.mean(scores)) if scores else math.nan


def _evaluate_one(method, k, data, args, log):
    from .metrics import median_certified_radius

    X_train, X_test, y_train, y_test = data
    verbose = 1 if (not args.quiet and sys.stderr.isatty()) else 0
    embedding_dim = min(args.embedding_dim, X_train.shape[1], X_train.shape[0])
    clf = _make_classifier(
        method,
        k,
        args.estimator,
        n_jobs=args.n_jobs,
        embedding_dim=embedding_dim,
        verbose=verbose,
    )
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    y_pred, radius = clf.predict_certified(X_test)
    row = {
        "method": METHOD_NAMES[method],
        "k": k,
        "clean_accuracy": float(np.mean(y_pred == y_test)),
        "mean_member_accuracy": _mean_member_accuracy(clf, X_test, y_test),
        "median_certified_radius": median_certified_radius(y_test, y_pred, radius),
        "fit_time_s": fit_time,
    }
    log(
        f"  clean accuracy {row['clean_accuracy']:.2%}, median certified radius "
        f"{_fmt_radius(row['median_certified_radius'])}, fit {fit_time:.1f} s"
    )
    return row, clf, y_pred, radius


def _fmt_radius(value):
    return "N/A" if value is None else str(value)


def _format_table(rows):
    headers = [
        "method",
        "k",
        "clean accuracy",
        "mean member accuracy",
        "median certified radius",
        "fit time (s)",
    ]
    cells = [
        [
            row["method"],
            str(row["k"]),
            f"{row['clean_accuracy']:.2%}",
            f"{row['mean_member_accuracy']:.2%}",
            _fmt_radius(row["median_certified_radius"]),
            f"{row['fit_time_s']:.2f}",
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    # Text columns left-aligned, numbers right-aligned.
    def fmt(values):
        parts = [
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    lines = [fmt(headers), fmt(["-" * w for w in widths])]
    lines += [fmt(c) for c in cells]
    return "\n".join(lines)


def _write_csv(rows, path):
    fields = [
        "method",
        "k",
        "clean_accuracy",
        "mean_member_accuracy",
        "median_certified_radius",
        "fit_time_s",
    ]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            out = dict(row)
            if out["median_certified_radius"] is None:
                out["median_certified_radius"] = ""
            writer.writerow(out)


def _write_plot(results, y_test, path, title):
    """One panel per method, one curve per k; False if matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    from .plotting import CertifiedAccuracyDisplay, _attack_xlabel

    methods = list(dict.fromkeys(row["method"] for row, *_ in results))
    fig = Figure(figsize=(5.5 * len(methods), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    for ax, method in zip(axes, methods, strict=True):
        for row, clf, y_pred, radius in results:
            if row["method"] != method:
                continue
            CertifiedAccuracyDisplay.from_predictions(
                y_test,
                y_pred,
                radius,
                label=f"k={row['k']}",
                xlabel=_attack_xlabel(clf),
                ax=ax,
            )
        ax.set_title(f"{method} ({title})")
    fig.savefig(path, dpi=110)
    return True


def _run(methods, ks, data, args, title, *, write_csv):
    log = (
        (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    )
    configs = [(m, k) for m in methods for k in ks]
    results = []
    for i, (method, k) in enumerate(configs, start=1):
        log(f"[{i}/{len(configs)}] {METHOD_NAMES[method]} k={k}: fitting {k} members")
        results.append(_evaluate_one(method, k, data, args, log))
    rows = [r[0] for r in results]
    print(_format_table(rows))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if write_csv:
        _write_csv(rows, out / TABLE_FILE)
        print(f"wrote {out / TABLE_FILE}")
    if _write_plot(results, data[3], out / PLOT_FILE, title):
        print(f"wrote {out / PLOT_FILE}")
    else:
        print(
            f"matplotlib is not installed: skipped {PLOT_FILE} "
            '(pip install "scikit-dpa[plot]")',
            file=sys.stderr,
        )
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
    return _run(("dpa", "ssdpa"), DEMO_K, data, args, "digits", write_csv=False)


def _cmd_evaluate(args):
    from .datasets import load_train_test

    try:
        data = load_train_test(args.dataset, data_home=args.data_home)
    except (FileNotFoundError, ImportError, ValueError) as exc:
        print(f"skdpa evaluate: error: {exc}", file=sys.stderr)
        return 1
    methods = list(dict.fromkeys(args.method))
    name = args.dataset if not args.dataset.startswith("idx:") else "IDX data"
    if not args.quiet:
        print(
            f"{args.dataset}: {len(data[2])} training and {len(data[3])} test "
            f"samples; members: {args.estimator}",
            file=sys.stderr,
        )
    return _run(methods, args.k, data, args, name, write_csv=True)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _dataset(text):
    if text in DATASETS[:3] or (text.startswith("idx:") and len(text) > 4):
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(DATASETS)}; got {text!r}"
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
        default=".",
        metavar="DIR",
        help="directory for the output files (default: the working directory)",
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
            f"print the table and write {PLOT_FILE} into --out."
        ),
    )
    demo.set_defaults(func=_cmd_demo, estimator="knn", embedding_dim=20)

    evaluate = sub.add_parser(
        "evaluate",
        parents=[common],
        help="certified accuracy of DPA or SS-DPA on a data set",
        description=(
            f"Train, certify and report: prints the table, writes {TABLE_FILE} "
            f"and {PLOT_FILE} into --out. idx:PATH names a directory holding "
            "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and the "
            "same two with t10k (the MNIST layout)."
        ),
    )
    evaluate.add_argument(
        "--dataset",
        required=True,
        type=_dataset,
        metavar="{" + ",".join(DATASETS) + "}",
        help="data set, read from local files only",
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
        "--estimator",
        default="knn",
        choices=ESTIMATORS,
        help="base estimator of each member (default: knn, 1 nearest neighbour)",
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
    evaluate.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv=None):
    """Run the ``skdpa`` command.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 1 when a data set cannot be loaded. Invalid arguments
        exit with status 2 (argparse).

    Examples
    --------
    >>> from skdpa.cli import main
    >>> main(["demo", "--out", "/tmp/skdpa-demo"])  # doctest: +SKIP
    """
    args = _build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
