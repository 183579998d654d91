"""Fit-time benchmark of DPAClassifier on Fashion-MNIST.

Prints, from one run:

(a) ``DPAClassifier.fit`` time / a bare Python loop that fits the same members
    on the same partitions (clone, seed, fit). Goal <= 1.15.
(b) ``n_jobs=2`` speed-up of ``DPAClassifier.fit`` over ``n_jobs=1``. Goal >= 1.6.
(c) Hashing time for all 60,000 training rows (``assign_partitions`` with the
    ``"content"`` and ``"sum"`` hashers). Goal < 1 s.
(d) ``DPAClassifier.fit`` against the Adversarial Robustness Toolbox's
    ``DeepPartitionEnsemble`` on the same data, partitions and members where ART
    can run (it cannot take scikit-learn members; the script shows why, then
    compares torch MLP members: ART's ``PyTorchClassifier`` against skorch).

Every time is measured ``--repeats`` times, the contenders interleaved (in a
rotating order) so that load from other processes hits them alike; the table
gives min and median, and ratios both as best/best and as the median and range
of the per-repeat ratios. Timing, CPU seconds, the summary table and the run's
record under ``benchmarks/results/bench_dpa_fashion_mnist/`` come from
``_harness``.

Usage::

    python benchmarks/bench_dpa_fashion_mnist.py            # 5-9 min on 2 shared cores
    python benchmarks/bench_dpa_fashion_mnist.py --quick    # smoke run, 1-2 min

Fixed choices (stated in the output): members are
``LogisticRegression(max_iter=100)`` (lbfgs, C=1); on 100 samples of 784 pixels
the problem is separable and every member runs exactly 100 iterations, so the work
per member is fixed and the ConvergenceWarning is silenced. The main process is
limited to one BLAS thread (``threadpoolctl``) so that ``n_jobs=1`` and the loop
are single-core like each ``n_jobs=2`` worker (joblib limits those itself);
the output also shows why: tiny lbfgs fits with two OpenBLAS threads are many
times slower on a busy machine.
"""

import argparse
import statistics
import warnings

import numpy as np
from _harness import Run, Table, autogroup_scheduling, interleaved, section, timed
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from skdpa import DPAClassifier, certified_radius
from skdpa.datasets import load_fashion_mnist

try:  # section (d) only
    import torch
    from _torch_modules import MLP  # importable by joblib workers (see there)
    from torch import nn
except ImportError:
    torch = None

N_HASH = 60_000

# ---------------------------------------------------------------------------
# Data


def load_data(data_home):
    """(X_train, y_train, X_test, y_test): uint8 pixels (n, 784), uint8 labels."""
    X_train, y_train = load_fashion_mnist(data_home, "train", return_X_y=True)
    X_test, y_test = load_fashion_mnist(data_home, "test", return_X_y=True)
    return X_train, y_train, X_test, y_test


def show(times):
    """One line per contender: its wall times and CPU share."""
    for name, ts in times.items():
        print(
            f"  {name}: "
            + ", ".join(f"{t:.2f}" for t in ts)
            + f" s (CPU/wall {ts.cpu_share():.2f})"
        )


# ---------------------------------------------------------------------------
# The baseline: a bare loop over the same partitions


def member_seed(i):
    """The seed DPAClassifier(random_state=None) gives member i's random_state."""
    return int(np.random.RandomState(i).randint(np.iinfo(np.int32).max))


def bare_loop(estimator, X, y, samples):
    """Clone, seed and fit one member per partition; nothing else."""
    members = []
    for i, rows in enumerate(samples):
        y_i = y[rows]
        if len(np.unique(y_i)) < 2:  # DPAClassifier votes these without fitting
            members.append(None)
            continue
        member = clone(estimator)
        if "random_state" in member.get_params():
            member.set_params(random_state=member_seed(i))
        members.append(member.fit(X[rows], y_i))
    return members


def same_linear_members(ours, loop):
    return all(
        b is None or (np.array_equal(a.coef_, b.coef_))
        for a, b in zip(ours, loop, strict=True)
    )


# ---------------------------------------------------------------------------
# (c) hashing


def bench_hashing(X_u8, k, repeats, table):
    section(f"(c) hashing {len(X_u8):,} rows x {X_u8.shape[1]} pixels")
    X_f64 = X_u8 / 255.0
    for hasher in ("content", "sum"):
        for name, X in (("uint8 pixels", X_u8), ("float64 in [0, 1]", X_f64)):
            est = DPAClassifier(k=k, hasher=hasher)
            times, _ = interleaved(
                {"h": lambda e=est, X=X: e.assign_partitions(X)}, max(repeats, 3)
            )
            times = times["h"]
            label = f"(c) hash {len(X):,} rows, {hasher!r}, {name}"
            print(f"  {label}: " + ", ".join(f"{t:.3f}" for t in times) + " s")
            table.time(label, times, "< 1 s", min(times) < 1.0)


# ---------------------------------------------------------------------------
# (a), (b): logistic-regression members


def bench_logistic(X, y, X_test, y_test, k, repeats, table):
    lr = LogisticRegression(max_iter=100)
    section(
        f"(a)(b) {len(X):,} rows, k={k}, members LogisticRegression(max_iter=100) "
        "(lbfgs, C=1)"
    )
    warnings.simplefilter("ignore", ConvergenceWarning)

    # Why the main process gets one BLAS thread: a few members, both ways.
    parts = DPAClassifier(k=k).assign_partitions(X)
    few = [np.flatnonzero(parts == i) for i in range(4)]

    def fit_few():
        for rows in few:
            clone(lr).fit(X[rows], y[rows])

    default_t, _, _ = timed(fit_few)
    with threadpool_limits(1):
        single_t, _, _ = timed(fit_few)
    print(
        f"  BLAS threads: 4 members take {default_t:.2f} s with the default "
        f"threads, {single_t:.2f} s with one ({default_t / single_t:.1f}x); "
        "timings below use one BLAS thread in the main process"
    )

    with threadpool_limits(1):
        reference = DPAClassifier(lr, k=k).fit(X, y)
        samples = reference.estimators_samples_
        sizes = reference.partition_sizes_
        print(
            f"  partitions: sizes {sizes.min()}-{sizes.max()} "
            f"(median {int(np.median(sizes))}); the loop reuses estimators_samples_"
        )
        # Start the n_jobs=2 workers before timing (loky reuses them).
        DPAClassifier(lr, k=4, n_jobs=2).fit(X[:400], y[:400])

        contenders = {
            "loop": lambda: bare_loop(lr, X, y, samples),
            "ours n_jobs=1": lambda: DPAClassifier(lr, k=k, n_jobs=1).fit(X, y),
            "ours n_jobs=2": lambda: DPAClassifier(lr, k=k, n_jobs=2).fit(X, y),
        }
        times, results = interleaved(contenders, repeats)
        show(times)

        loop_members = results["loop"]
        same1 = same_linear_members(results["ours n_jobs=1"].estimators_, loop_members)
        same2 = same_linear_members(results["ours n_jobs=2"].estimators_, loop_members)
        print(
            f"  identical coefficients: loop vs n_jobs=1 {same1}, vs n_jobs=2 {same2}"
        )

        # Fixed cost (validation, hashing, canonical order, joblib) with members
        # that cost almost nothing to fit.
        dummy = DummyClassifier(strategy="prior")
        fixed, _ = interleaved(
            {
                "loop": lambda: bare_loop(dummy, X, y, samples),
                "ours": lambda: DPAClassifier(dummy, k=k).fit(X, y),
            },
            max(repeats, 3),
        )
        med = {name: statistics.median(ts) for name, ts in fixed.items()}
        cpu = {name: statistics.median(ts.cpu) for name, ts in fixed.items()}
        overhead = med["ours"] - med["loop"]
        overhead_cpu = cpu["ours"] - cpu["loop"]
        print(
            f"  fixed cost with DummyClassifier members (median): ours "
            f"{med['ours']:.3f} s (CPU {cpu['ours']:.3f} s), loop {med['loop']:.3f} s "
            f"(CPU {cpu['loop']:.3f} s): {overhead:.3f} s = "
            f"{overhead / statistics.median(times['loop']):.1%} of the LR loop"
        )

    ours = results["ours n_jobs=1"]
    y_pred, radius = ours.predict_certified(X_test)
    print(
        f"  test accuracy {np.mean(y_pred == y_test):.3f}, median certified radius "
        f"{int(np.median(radius))} (on {len(X_test):,} test rows)"
    )

    table.time("    bare loop (clone, seed, fit)", times["loop"])
    table.time("    ours n_jobs=1", times["ours n_jobs=1"])
    table.time("    ours n_jobs=2", times["ours n_jobs=2"])
    table.ratio(
        "(a) ours n_jobs=1 / bare loop",
        times["ours n_jobs=1"],
        times["loop"],
        "<= 1.15",
        lambda r: r <= 1.15,
    )
    table.ratio(
        "(b) speed-up n_jobs=1 / n_jobs=2",
        times["ours n_jobs=1"],
        times["ours n_jobs=2"],
        ">= 1.6",
        lambda r: r >= 1.6,
    )
    table.ratio(
        "    CPU seconds n_jobs=2 / n_jobs=1",
        times["ours n_jobs=2"].cpu,
        times["ours n_jobs=1"].cpu,
    )
    share1 = times["ours n_jobs=1"].cpu_share()
    share2 = times["ours n_jobs=2"].cpu_share()
    cpu_ratio = min(times["ours n_jobs=2"].cpu) / min(times["ours n_jobs=1"].cpu)
    table.footnotes += [
        f"(a) Fixed cost of our fit (validation, hashing, canonical order, seeding, "
        f"joblib), measured with DummyClassifier members: {overhead:.3f} s wall, "
        f"{overhead_cpu:.3f} s CPU, for {len(X):,} rows and k={k}.",
        "(b) CPU/wall = CPU seconds of this process and its joblib workers per "
        "wall second (1.0: one busy core, 2.0: both cores). n_jobs=1 got "
        f"{share1:.2f}, n_jobs=2 got {share2:.2f}; speed-up = CPU/wall ratio "
        f"({share2 / share1:.2f}) / CPU-seconds ratio. The CPU-seconds ratio (work "
        "added by fitting in parallel) hardly depends on the load; the CPU/wall "
        "ratio is what the machine's other users left us. With both cores free "
        f"the speed-up would be about 2 / {cpu_ratio:.2f} = {2 / cpu_ratio:.2f} "
        "(an estimate from CPU seconds, not a measurement; it ignores imbalance "
        "between the two workers).",
        *(
            [
                "(b) Linux autogroup scheduling is on here: CPU time is shared "
                "between sessions, not processes, so while other sessions keep the "
                "cores busy, n_jobs=2 gets about as much CPU as n_jobs=1 (compare "
                "their CPU/wall)."
            ]
            if autogroup_scheduling()
            else []
        ),
        f"(a)(b) The main process ran with one BLAS thread: with the default "
        f"threads 4 LR members took {default_t / single_t:.1f}x longer (OpenBLAS "
        "threads on tiny lbfgs problems, on a shared machine).",
    ]


# ---------------------------------------------------------------------------
# (d) Adversarial Robustness Toolbox


def art_with_sklearn_members(k):
    """Why ART's DeepPartitionEnsemble cannot take LogisticRegression members."""
    from art.estimators.classification import DeepPartitionEnsemble, SklearnClassifier

    wrapped = SklearnClassifier(LogisticRegression(max_iter=100))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            DeepPartitionEnsemble(wrapped, ensemble_size=k)
    except TypeError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def bench_art(X_u8, y, X_test_u8, y_test, k, epochs, repeats, table):
    section(f"(d) against ART's DeepPartitionEnsemble, {len(X_u8):,} rows, k={k}")
    try:
        import art
    except ImportError:
        print("  ART is not installed: pip install adversarial-robustness-toolbox")
        table.note("(d) ART", "not installed")
        return
    print(f"  adversarial-robustness-toolbox {art.__version__}")

    reason = art_with_sklearn_members(k)
    if reason is not None:
        print(
            "  LogisticRegression members: ART cannot run them. DeepPartitionEnsemble "
            "accepts only neural-network wrappers:\n    " + reason + "\n    (and its "
            "fit passes batch_size=/nb_epochs= to every member's fit, which "
            "LogisticRegression.fit rejects)"
        )
        table.note("(d) ART, LogisticRegression members", "cannot run")

    try:
        if torch is None:
            raise ImportError("torch is not installed")
        import skorch
        from skorch import NeuralNetClassifier
    except ImportError as exc:
        print(f"  torch members skipped: {exc}")
        return
    from art.estimators.classification import DeepPartitionEnsemble, PyTorchClassifier

    torch.set_num_threads(1)
    X = X_u8.astype(np.float32)
    y = y.astype(np.int64)
    lr, momentum, batch = 0.1, 0.9, 128
    print(
        f"  torch {torch.__version__}, skorch {skorch.__version__}; "
        f"members: MLP 784-64-10, SGD(lr={lr}, momentum={momentum}), "
        f"batch {batch}, {epochs} epochs, shuffled, CrossEntropyLoss; raw pixels "
        f"(the module divides by 255) so that ART's default hash int(sum(x)) % k "
        f"and hasher='sum' give the same partitions; torch.set_num_threads(1)"
    )

    def art_fit_on(X, y, k):
        torch.manual_seed(0)  # ART draws every member from torch's global RNG
        model = MLP()
        wrapped = PyTorchClassifier(
            model=model,
            loss=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum),
            input_shape=(784,),
            nb_classes=10,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            # channels_first must match PyTorchClassifier's default (True)
            ensemble = DeepPartitionEnsemble(
                wrapped, ensemble_size=k, channels_first=True
            )
        ensemble.fit(X, y, batch_size=batch, nb_epochs=epochs)
        return ensemble

    def art_fit():
        return art_fit_on(X, y, k)

    def skorch_member(**extra):
        return NeuralNetClassifier(
            MLP,
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.SGD,
            lr=lr,
            optimizer__momentum=momentum,
            batch_size=batch,
            max_epochs=epochs,
            train_split=None,
            iterator_train__shuffle=True,
            verbose=0,
            **extra,
        )

    net = skorch_member()
    lean = skorch_member(callbacks="disable")
    # First calls pay one-off costs (imports in the workers, lazy set-up in torch
    # and ART): pay them on a small problem before the clock starts.
    for est in (net, lean):
        for n_jobs in (1, 2):
            DPAClassifier(est, k=4, hasher="sum", n_jobs=n_jobs).fit(X[:400], y[:400])
    art_fit_on(X[:400], y[:400], 4)

    contenders = {
        "ART": art_fit,
        "ours n_jobs=1": lambda: DPAClassifier(net, k=k, hasher="sum").fit(X, y),
        "ours n_jobs=2": lambda: DPAClassifier(net, k=k, hasher="sum", n_jobs=2).fit(
            X, y
        ),
        "ours lean n_jobs=1": lambda: DPAClassifier(lean, k=k, hasher="sum").fit(X, y),
    }
    times, results = interleaved(contenders, repeats)
    show(times)

    ensemble = results["ART"]
    ours = results["ours n_jobs=1"]
    art_parts = np.array([ensemble.hash_function(x) for x in X])
    same_parts = np.array_equal(art_parts, ours.assign_partitions(X))
    print(f"  same partitions (ART's hash vs assign_partitions): {same_parts}")

    X_test = X_test_u8.astype(np.float32)
    art_votes = np.rint(ensemble.predict(X_test)).astype(np.int64)
    ours_votes = ours.vote_counts(X_test)
    par_votes = results["ours n_jobs=2"].vote_counts(X_test)
    same_votes = np.array_equal(ours_votes, par_votes)
    print(f"  identical votes n_jobs=1 vs n_jobs=2 (ours): {same_votes}")
    for name, votes in (("ART", art_votes), ("ours", ours_votes)):
        acc = np.mean(votes.argmax(axis=1) == y_test)
        med = int(np.median(certified_radius(votes)))
        print(
            f"  {name}: test accuracy {acc:.3f}, median radius {med} "
            + (
                "(radius computed by skdpa.certified_radius from ART's vote counts)"
                if name == "ART"
                else "(predict_certified)"
            )
        )

    table.time(f"    ART DeepPartitionEnsemble (torch, {epochs} ep)", times["ART"])
    table.time("    ours + skorch, n_jobs=1", times["ours n_jobs=1"])
    table.time("    ours + skorch, n_jobs=2", times["ours n_jobs=2"])
    table.time(
        "    ours + skorch callbacks='disable', n_jobs=1", times["ours lean n_jobs=1"]
    )
    table.ratio(
        "(d) ours + skorch n_jobs=1 / ART", times["ours n_jobs=1"], times["ART"]
    )
    table.ratio(
        "(d) ours + skorch n_jobs=2 / ART", times["ours n_jobs=2"], times["ART"]
    )
    table.ratio(
        "(d) ours + lean skorch n_jobs=1 / ART",
        times["ours lean n_jobs=1"],
        times["ART"],
    )
    table.footnotes += [
        "(d) Certificates: DPAClassifier returns a certified radius with every "
        "prediction (predict_certified) and certificate_ states the threat model; "
        "ART's DeepPartitionEnsemble.predict returns vote counts only (its median "
        "radius above was computed with skdpa.certified_radius from those counts).",
        "(d) Partitions: both are deterministic functions of each row's content (ART: "
        "int(sum(x)) % k, a Python call per row; ours: vectorised content or sum "
        f"hash); identical here: {same_parts}. On data scaled to [0, 1] ART's "
        "int(sum(x)) drops the fractions (at most 785 distinct values).",
        "(d) Member randomness: ART initialises and shuffles every member from "
        "torch's global RNG in sequence (reproducible only if the caller seeds it); "
        "ours seeds member i from (random_state, i): identical votes for n_jobs=1 "
        f"and 2: {same_votes}. ART fits members one after another in one process.",
    ]


# ---------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 rows, k=20"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="default 3 (quick: 1)"
    )
    parser.add_argument("--n-train", type=int, default=None, help="default 20000")
    parser.add_argument("--k", type=int, default=None, help="default 200")
    parser.add_argument(
        "--epochs", type=int, default=None, help="torch epochs, default 10"
    )
    parser.add_argument(
        "--data-home",
        default=None,
        help="directory of the Fashion-MNIST IDX files (default: Debian's)",
    )
    parser.add_argument("--no-art", action="store_true", help="skip section (d)")
    args = parser.parse_args(argv)

    # --quick keeps ~100 rows per member (as the full run) with fewer members
    n_train = args.n_train or (2_000 if args.quick else 20_000)
    k = args.k or (20 if args.quick else 200)
    repeats = args.repeats or (1 if args.quick else 3)
    epochs = args.epochs or (3 if args.quick else 10)
    n_test = 500 if args.quick else 2_000

    X_train, y_train, X_test, y_test = load_data(args.data_home)
    X_test, y_test = X_test[:n_test], y_test[:n_test]

    run = Run(__file__, args)
    run.header(
        f"{n_train:,} training rows, k={k}, {repeats} repeat(s), {n_test:,} test rows"
    )

    table = Table()
    bench_hashing(X_train[:N_HASH], k, repeats, table)
    X = X_train[:n_train] / 255.0
    y = y_train[:n_train]
    bench_logistic(X, y, X_test / 255.0, y_test, k, repeats, table)
    if not args.no_art:
        bench_art(X_train[:n_train], y, X_test, y_test, k, epochs, repeats, table)

    section("summary")
    table.print(repeats)
    run.save({"table": table.records, "footnotes": table.footnotes})


if __name__ == "__main__":
    main()
