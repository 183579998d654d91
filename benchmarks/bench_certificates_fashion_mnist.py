"""Stronger certificates from the same members: DPA, DPA+ROE, FA, FA+ROE.

On all 60,000 Fashion-MNIST training images and the 10,000 test images, for
each ``k`` and spread ``d`` the script fits ONE ensemble,
``DPAClassifier(LogisticRegression(), k, spread=d, classes=range(10))``
(``d=1`` is DPA, ``d>1`` finite aggregation), stores its members' outputs on
the test set once, and certifies them with both rules from
:mod:`skdpa.certify`:

- plurality: ``plurality_certify(member_predictions, 10, shifts)`` (DPA's
  Theorem 1 for ``d=1``, the finite-aggregation certificate for ``d>1``);
- run-off election: ``runoff_certify(member_scores, shifts)`` (DPA+ROE,
  FA+ROE), over the members' ``predict_proba``.

So each pair of rows compares the rules on identical members; nothing is
refit. Per row: clean accuracy, mean member accuracy, median certified radius,
certified accuracy at budgets k/10, k/4 and k/3, the fit time of the ensemble
(shared by both rules) and the time each certificate takes on the 10,000 test
points. A plot of certified accuracy against attack size per k is written next
to the CSV.

Usage::

    # k 50 and 250 with d 1, 4, 16, plus k 1200 with d 1:
    python benchmarks/bench_certificates_fashion_mnist.py
    # smoke run on 6,000 rows:
    python benchmarks/bench_certificates_fashion_mnist.py --quick
    python benchmarks/bench_certificates_fashion_mnist.py --k 50 --spread 1 4

Fixed choices: pixels divided by 255 (a constant: no training statistic);
``LogisticRegression()`` (lbfgs, C=1, 100 iterations; ConvergenceWarnings of
the larger partitions silenced); ``classes=range(10)`` (the label set is
known, so Theorem 1 applies as stated); ``random_state=0``; ``n_jobs=2``; one
BLAS thread per member (the library's default).

Timing, the machine header, the CSV and the run's record under
``benchmarks/results/`` come from ``_harness``.
"""

import argparse
import time
import warnings

import numpy as np
from _harness import RESULTS, Run, timed, write_csv
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skdpa import DPAClassifier
from skdpa.certify import plurality_certify, runoff_certify
from skdpa.datasets import load_fashion_mnist
from skdpa.metrics import certified_accuracy, median_certified_radius

CHUNK = 500  # test rows per batch of member outputs (bounds memory)


def load(quick):
    X, y = load_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
    X = X.astype(np.float32) / 255
    X_test = X_test.astype(np.float32) / 255
    if quick:
        X, y, X_test, y_test = X[:6000], y[:6000], X_test[:1000], y_test[:1000]
    return X, y, X_test, y_test


def outputs_and_certificates(clf, X_test):
    """Member outputs on X_test in chunks; both rules' (winner, radius)."""
    shifts = None if clf.n_members_ == clf.k else clf.shifts_
    n = len(X_test)
    out = {
        rule: (np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64))
        for rule in ("plurality", "runoff")
    }
    member_correct = np.zeros(clf.n_members_)
    times = {"outputs": 0.0, "plurality": 0.0, "runoff": 0.0}
    for start in range(0, n, CHUNK):
        rows = slice(start, min(n, start + CHUNK))
        t, _, (preds, scores) = timed(
            lambda rows=rows: (
                clf.member_predictions(X_test[rows]),
                clf.member_scores(X_test[rows]),
            )
        )
        times["outputs"] += t
        member_correct += (preds == _y_test_index[rows, None]).sum(axis=0)
        t, _, (w, r) = timed(
            lambda p=preds: plurality_certify(p, clf.n_classes_, shifts)
        )
        times["plurality"] += t
        out["plurality"][0][rows], out["plurality"][1][rows] = w, r
        t, _, (w, r) = timed(lambda s=scores: runoff_certify(s, shifts))
        times["runoff"] += t
        out["runoff"][0][rows], out["runoff"][1][rows] = w, r
    voting = clf.partition_sizes_ > 0
    member_acc = float(np.mean(member_correct[voting] / n))
    return out, member_acc, times


_y_test_index = None


def main(argv=None):
    global _y_test_index
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[50, 250])
    parser.add_argument("--spread", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--runoff-k",
        type=int,
        nargs="*",
        default=[1200],
        help="extra k values fit with spread 1 only (DPA vs DPA+ROE)",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.k, args.spread, args.runoff_k = [20], [1, 4], [60]

    started = time.perf_counter()
    run = Run(__file__, args)
    run.header()
    X, y, X_test, y_test = load(args.quick)
    _y_test_index = y_test.astype(np.int64)  # classes are 0..9
    print(f"train {X.shape}, test {X_test.shape}")
    configs = [(k, d) for k in args.k for d in args.spread]
    configs += [(k, 1) for k in args.runoff_k if (k, 1) not in configs]
    rows, curves = [], {}
    header = (
        f"{'rule':8} {'k':>5} {'d':>3} {'members':>7} {'clean':>7} {'member':>7} "
        f"{'median r':>8} {'CA@k/10':>8} {'CA@k/4':>7} {'CA@k/3':>7} "
        f"{'fit (s)':>8} {'outputs (s)':>11} {'certify (s)':>11}"
    )
    print(header)
    print("-" * len(header))
    for k, d in configs:
        clf = DPAClassifier(
            LogisticRegression(),
            k=k,
            spread=d,
            classes=range(10),
            n_jobs=args.n_jobs,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit_time = timed(lambda clf=clf: clf.fit(X, y))[0]
        certs, member_acc, times = outputs_and_certificates(clf, X_test)
        for rule, (winner, radius) in certs.items():
            y_pred = clf.classes_[winner]
            budgets = [k // 10, k // 4, k // 3]
            ca = [certified_accuracy(y_test, y_pred, radius, b) for b in budgets]
            row = {
                "rule": ("DPA" if d == 1 else "FA")
                + ("+ROE" if rule == "runoff" else ""),
                "k": k,
                "spread": d,
                "members": clf.n_members_,
                "clean_accuracy": float(np.mean(y_pred == y_test)),
                "member_accuracy": member_acc,
                "median_radius": median_certified_radius(y_test, y_pred, radius),
                "ca_k10": ca[0],
                "ca_k4": ca[1],
                "ca_k3": ca[2],
                "fit_s": round(fit_time, 1),
                "outputs_s": round(times["outputs"], 1),
                "certify_s": round(times[rule], 2),
            }
            rows.append(row)
            grid = np.arange(0, int(radius.max()) + 2)
            curves[(row["rule"], k, d)] = (
                grid,
                certified_accuracy(y_test, y_pred, radius, grid),
            )
            print(
                f"{row['rule']:8} {k:>5} {d:>3} {clf.n_members_:>7} "
                f"{row['clean_accuracy']:>7.2%} {member_acc:>7.2%} "
                f"{str(row['median_radius']):>8} {ca[0]:>8.2%} {ca[1]:>7.2%} "
                f"{ca[2]:>7.2%} {fit_time:>8.1f} {times['outputs']:>11.1f} "
                f"{times[rule]:>11.2f}",
                flush=True,
            )
    suffix = "_quick" if args.quick else ""
    path = RESULTS / f"certificates_fashion_mnist{suffix}.csv"
    write_csv(path, rows)
    print(f"wrote {path}")
    _plot(curves, RESULTS / f"certificates_fashion_mnist{suffix}.png")
    print(f"total {time.perf_counter() - started:.0f} s")
    run.save(rows)


def _plot(curves, path):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return
    ks = sorted({k for _, k, _ in curves})
    fig = Figure(figsize=(5 * len(ks), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(ks)))
    for ax, k in zip(axes, ks, strict=True):
        for (rule, kk, d), (grid, ca) in sorted(curves.items()):
            if kk != k:
                continue
            label = rule if d == 1 else f"{rule} (d={d})"
            ax.step(grid, ca, where="post", label=label)
        ax.set_title(f"Fashion-MNIST, k={k}")
        ax.set_xlabel("Attack size (training samples inserted, removed or relabelled)")
        ax.set_ylabel("Certified accuracy")
        ax.legend()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
