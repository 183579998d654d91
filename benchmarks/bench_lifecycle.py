"""Living with a fitted ensemble: fit, warm refit, predict and hash costs.

Prints, from one run on Fashion-MNIST (``skdpa.datasets.load_fashion_mnist``,
pixels scaled to [0, 1]):

(a) ``DPAClassifier.fit`` with the defaults (``n_jobs=None``) against a bare
    Python loop that fits the same members on the same partitions
    (``estimators_samples_``) with one BLAS thread (threadpoolctl). Goal
    <= 1.15. And ``n_jobs=2`` against that loop: goal >= 1.7 times faster.
    20,000 rows, ``k=200``, ``LogisticRegression(max_iter=100)`` members.
(b) ``warm_start=True`` refit after removing 1% (and 0.1%) of the rows against
    a cold fit of the same rows: time, number of members refit, and whether
    the votes equal the cold fit's.
(c) ``predict_certified`` of 10,000 rows through 1,200 members (``k=1200`` on
    60,000 rows, ``NearestCentroid`` members) against a bare loop of member
    ``predict`` calls (one BLAS thread, finite-value checks skipped) plus
    :func:`skdpa.certified_radius`.
(d) Hashing all 60,000 x 784 training rows (``assign_partitions``), as uint8
    pixels and as float64; reported only.

Every contender is timed ``--repeats`` times, interleaved in a rotating order
so that load from other processes hits them alike; ratios are given as
best/best and as the median and range of the per-repeat ratios. CPU seconds
(this process and its joblib workers) per wall second say how many cores a
call actually got. The load average is printed before and after each section.
Timing, CPU seconds, the summary table and the run's record under
``benchmarks/results/bench_lifecycle/`` come from ``_harness``.

Usage::

    python benchmarks/bench_lifecycle.py            # about 6-10 min on 2 shared cores
    python benchmarks/bench_lifecycle.py --quick    # smoke run, about 1 min
"""

import argparse
import copy
import warnings

import numpy as np
import sklearn
from _harness import Run, Table, Times, format_load, interleaved, section, timed
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid
from threadpoolctl import threadpool_limits

import skdpa
from skdpa import DPAClassifier, certified_radius
from skdpa.datasets import load_fashion_mnist

# ---------------------------------------------------------------------------
# Baselines: what a user would write without skdpa's ensemble machinery


def bare_fit_loop(estimator, X, y_enc, samples):
    """Clone and fit one member per partition, one BLAS thread."""
    members = []
    with threadpool_limits(limits=1):
        for rows in samples:
            members.append(clone(estimator).fit(X[rows], y_enc[rows]))
    return members


def bare_predict_loop(members, X, n_classes):
    """Each member's predict, then votes and the plurality radius.

    As a careful user would write it: one BLAS thread, and scikit-learn's
    finite-value check of the same (finite) test rows skipped in every member
    call (``assume_finite``), as the ensemble does.
    """
    preds = np.empty((X.shape[0], len(members)), dtype=np.int64)
    with threadpool_limits(limits=1), sklearn.config_context(assume_finite=True):
        for j, member in enumerate(members):
            preds[:, j] = member.predict(X)
    votes = np.zeros((X.shape[0], n_classes), dtype=np.int64)
    for c in range(n_classes):
        votes[:, c] = (preds == c).sum(axis=1)
    return np.argmax(votes, axis=1), certified_radius(votes)


# ---------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--data-home", default=None)
    parser.add_argument(
        "--only",
        default="abcd",
        help="sections to run, e.g. --only a (default: abcd)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (1 if quick else 3)
    n_fit, k_fit = (2_000, 20) if quick else (20_000, 200)
    n_pred_train, k_pred, n_pred_test = (
        (6_000, 120, 1_000) if quick else (60_000, 1_200, 10_000)
    )

    run = Run(__file__, args)
    run.header(f"skdpa config: {skdpa.get_config()}")
    table = Table()
    X_all, y_all = load_fashion_mnist(args.data_home, return_X_y=True)
    X_test_all, _ = load_fashion_mnist(args.data_home, subset="test", return_X_y=True)
    X01 = X_all.astype(np.float64) / 255.0
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    # NearestCentroid warns about pixels constant within a class (image borders)
    warnings.filterwarnings("ignore", message=".*zero standard deviation")

    X, y = X01[:n_fit], y_all[:n_fit]
    member = LogisticRegression(max_iter=100)

    # -- (a) fit --------------------------------------------------------------
    if "a" in args.only:
        section(f"(a) fit: {n_fit:,} rows, k={k_fit}, LogisticRegression(max_iter=100)")
        ref = DPAClassifier(member, k=k_fit).fit(X, y)
        y_enc = np.searchsorted(ref.classes_, y)
        sizes = ref.partition_sizes_
        print(
            f"partitions: {sizes.min()}-{sizes.max()} rows (median "
            f"{int(np.median(sizes))}); the loop fits on estimators_samples_"
        )
        contenders = {
            "bare loop (1 BLAS thread)": lambda: bare_fit_loop(
                member, X, y_enc, ref.estimators_samples_
            ),
            "DPAClassifier.fit, n_jobs=None": lambda: DPAClassifier(
                member, k=k_fit
            ).fit(X, y),
            "DPAClassifier.fit, n_jobs=2": lambda: DPAClassifier(
                member, k=k_fit, n_jobs=2
            ).fit(X, y),
        }
        # warm the loky workers once, untimed (a first n_jobs=2 call starts them)
        DPAClassifier(member, k=k_fit, n_jobs=2).fit(X[:2000], y[:2000])
        times, outs = interleaved(contenders, repeats)
        loop_members = outs["bare loop (1 BLAS thread)"]
        for name in ("DPAClassifier.fit, n_jobs=None", "DPAClassifier.fit, n_jobs=2"):
            same = all(
                np.array_equal(a.coef_, b.coef_)
                for a, b in zip(loop_members, outs[name].estimators_, strict=True)
            )
            print(f"{name}: coefficients identical to the loop's: {same}")
        for name in contenders:
            table.time("    " + name, times[name])
        loop = times["bare loop (1 BLAS thread)"]
        table.ratio(
            "(a) n_jobs=None / bare loop",
            times["DPAClassifier.fit, n_jobs=None"],
            loop,
            "<= 1.15",
            lambda r: r <= 1.15,
        )
        table.ratio(
            "    CPU seconds: n_jobs=None / bare loop",
            times["DPAClassifier.fit, n_jobs=None"].cpu,
            loop.cpu,
        )
        table.ratio(
            "(a) speed-up: bare loop / n_jobs=2",
            loop,
            times["DPAClassifier.fit, n_jobs=2"],
            ">= 1.7",
            lambda r: r >= 1.7,
        )
        table.ratio(
            "    CPU seconds: n_jobs=2 / bare loop",
            times["DPAClassifier.fit, n_jobs=2"].cpu,
            loop.cpu,
        )
        print("load average after (a):", format_load())

    # -- (b) warm refit -------------------------------------------------------
    if "b" in args.only:
        section("(b) warm refit after removing rows, against a cold fit")
        rng = np.random.default_rng(0)
        base = DPAClassifier(member, k=k_fit, warm_start=True).fit(X, y)
        for fraction in (0.01, 0.001):
            n_drop = max(1, int(round(fraction * n_fit)))
            keep = np.ones(n_fit, dtype=bool)
            keep[rng.choice(n_fit, n_drop, replace=False)] = False

            def warm(keep=keep):
                est = copy.deepcopy(base)  # fitted on all rows, untimed
                wall, cpu, _ = timed(lambda: est.fit(X[keep], y[keep]))
                return wall, cpu, est

            cold_times, warm_times = Times(), Times()
            for r in range(repeats):
                order = ("cold", "warm") if r % 2 == 0 else ("warm", "cold")
                for which in order:
                    if which == "cold":
                        wall, cpu, cold = timed(
                            lambda keep=keep: DPAClassifier(member, k=k_fit).fit(
                                X[keep], y[keep]
                            )
                        )
                        cold_times.append(wall)
                        cold_times.cpu.append(cpu)
                    else:
                        wall, cpu, est = warm()
                        warm_times.append(wall)
                        warm_times.cpu.append(cpu)
            n_refit = int(est.refitted_.sum())
            X_check = X_test_all[:2000].astype(np.float64) / 255.0
            identical = np.array_equal(
                est.vote_counts(X_check), cold.vote_counts(X_check)
            )
            print(
                f"removed {n_drop} rows ({fraction:.1%}): warm refit fit {n_refit} of "
                f"{est.n_members_} members; votes on 2,000 test rows identical to "
                f"the cold fit: {identical}"
            )
            table.time(f"    cold fit, {fraction:.1%} removed", cold_times)
            table.time(f"    warm refit ({n_refit}/{est.n_members_} refit)", warm_times)
            table.ratio(
                f"(b) warm / cold, {fraction:.1%} removed", warm_times, cold_times
            )
        print("load average after (b):", format_load())

    # -- (c) predict ----------------------------------------------------------
    if "c" in args.only:
        section(
            f"(c) predict_certified: {n_pred_test:,} rows through {k_pred:,} "
            f"NearestCentroid members ({n_pred_train:,} training rows)"
        )
        Xp = X01[:n_pred_train]
        yp = y_all[:n_pred_train]
        Xq = X_test_all[:n_pred_test].astype(np.float64) / 255.0
        wall, _, big = timed(
            lambda: DPAClassifier(NearestCentroid(), k=k_pred).fit(Xp, yp)
        )
        print(f"fit (untimed in the table): {wall:.1f} s; {big.n_members_} members")
        big2 = DPAClassifier(NearestCentroid(), k=k_pred, n_jobs=2).fit(Xp, yp)
        members = big.estimators_
        assert all(m is not None for m in members)  # no partition is empty here
        contenders = {
            "bare loop of member predicts": lambda: bare_predict_loop(members, Xq, 10),
            "predict_certified, n_jobs=None": lambda: big.predict_certified(Xq),
            "predict_certified, n_jobs=2": lambda: big2.predict_certified(Xq),
        }
        times, outs = interleaved(contenders, repeats)
        winner, radius = outs["bare loop of member predicts"]
        for name in ("predict_certified, n_jobs=None", "predict_certified, n_jobs=2"):
            y_pred, r = outs[name]
            same = np.array_equal(big.classes_[winner], y_pred) and np.array_equal(
                radius, r
            )
            print(f"{name}: predictions and radii identical to the loop's: {same}")
        calls = big.n_members_ * n_pred_test
        for name in contenders:
            table.time("    " + name, times[name])
        table.ratio(
            "(c) n_jobs=None / bare loop",
            times["predict_certified, n_jobs=None"],
            times["bare loop of member predicts"],
        )
        table.ratio(
            "(c) n_jobs=2 / bare loop",
            times["predict_certified, n_jobs=2"],
            times["bare loop of member predicts"],
        )
        best = min(times["predict_certified, n_jobs=None"])
        print(
            f"{big.n_members_} members x {n_pred_test:,} rows = {calls:,} member-row "
            f"predictions; n_jobs=None: {1e6 * best / calls:.2f} us each"
        )
        print("load average after (c):", format_load())

    # -- (d) hashing ----------------------------------------------------------
    if "d" in args.only:
        section(f"(d) hashing {X_all.shape[0]:,} x {X_all.shape[1]} rows (report only)")
        hasher = DPAClassifier(k=k_pred)
        times, _ = interleaved(
            {
                "assign_partitions, uint8 pixels": lambda: hasher.assign_partitions(
                    X_all
                ),
                "assign_partitions, float64 in [0, 1]": lambda: (
                    hasher.assign_partitions(X01)
                ),
            },
            repeats,
        )
        for name in times:
            table.time(f"(d) {name}", times[name])

    print()
    table.print(repeats)
    run.save(table.records)


if __name__ == "__main__":
    main()
