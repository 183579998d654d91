"""Intra-op torch threads for deep members: 1 vs 2, in-process and in workers.

``skdpa.torch.seeded_fit`` runs every torch member with one intra-op torch
thread by default (``n_threads=1``). This script measures what that choice
costs or saves for a small CNN member (:class:`skdpa.torch.CompactCNN`,
standardised Fashion-MNIST rows, Adam, a few epochs):

(a) one member fit in this process with 1 and with 2 torch threads;
(b) ``--members`` member fits (``--rows`` rows each), as the ensemble's engine
    runs them: ``n_jobs=1`` with 1 and with 2 threads, ``n_jobs=2`` (loky
    workers) with 1 thread each, and ``n_jobs=2`` with 2 threads each;
(c) the same members' votes through ``DPAClassifier`` with ``n_jobs=1`` and
    ``n_jobs=2`` (the core's defaults), as a cross-check;
(d) whether the thread count changes the fitted member (its predicted
    probabilities), i.e. whether a member is the same function of its
    partition on machines with different core counts.

Every ratio divides by the baseline measured in the same run (1 thread,
``n_jobs=1``); contenders are interleaved in a rotating order so that load on
a shared machine hits them alike. ``CPU/wall`` is CPU seconds of this process
and its live workers per wall second (1.0 = one busy core). Timing, CPU
seconds, the machine header and the run's record under
``benchmarks/results/bench_torch_threads/`` come from ``_harness``.

Usage::

    python benchmarks/bench_torch_threads.py             # ~3-5 min on 2 cores
    python benchmarks/bench_torch_threads.py --quick     # smoke run
"""

import argparse

import numpy as np
import torch
from _harness import Run, interleaved, print_times
from joblib import Parallel, delayed
from sklearn.base import clone

from skdpa import DPAClassifier
from skdpa.datasets import load_fashion_mnist
from skdpa.torch import make_skorch_member, seeded_fit


def report(title, times, baseline):
    """Best and median seconds, CPU/wall and ratios to the baseline contender."""
    print_times(times, {"best/base": baseline}, title=title, digits=2)


def member(epochs):
    return make_skorch_member(n_classes=10, max_epochs=epochs)


def fit_members(template, parts, n_jobs, n_threads):
    """Fit one clone per part like the ensemble's engine (loky for n_jobs=2)."""
    return Parallel(n_jobs=n_jobs)(
        delayed(seeded_fit)(clone(template), X, y, seed=i, n_threads=n_threads)
        for i, (X, y) in enumerate(parts)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500, help="rows per member")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.members, args.epochs, args.repeats = 200, 2, 1, 1

    default_threads = torch.get_num_threads()
    run = Run(__file__, args)
    run.header(
        f"default intra-op torch threads here: {default_threads}",
        f"member: make_skorch_member(CompactCNN, n_classes=10, "
        f"max_epochs={args.epochs}), {args.rows} rows each, "
        f"{args.members} members, {args.repeats} repeats",
    )

    X_all, y_all = load_fashion_mnist(args.data_home, "train", return_X_y=True)
    n = args.rows * args.members
    X_all = X_all[:n].astype(np.float32) / np.float32(255)
    y_all = y_all[:n].astype(np.int64)
    starts = np.arange(args.members) * args.rows
    parts = [(X_all[a : a + args.rows], y_all[a : a + args.rows]) for a in starts]
    template = member(args.epochs)

    # start loky's workers, and their torch and skorch imports, before
    # anything is timed; warm this process too
    fit_members(template, parts, n_jobs=2, n_threads=1)
    seeded_fit(clone(template), *parts[0], seed=0)

    print("\n(a) one member fit, in this process")
    X0, y0 = parts[0]
    times_a, fitted_a = interleaved(
        {
            "1 thread": lambda: seeded_fit(clone(template), X0, y0, 0, n_threads=1),
            "2 threads": lambda: seeded_fit(clone(template), X0, y0, 0, n_threads=2),
        },
        args.repeats,
        progress=True,
    )
    report("(a) one member fit", times_a, "1 thread")

    print(f"\n(b) {args.members} member fits, engine-style")
    times_b, _ = interleaved(
        {
            "n_jobs=1, 1 thread": lambda: fit_members(template, parts, 1, 1),
            "n_jobs=1, 2 threads": lambda: fit_members(template, parts, 1, 2),
            "n_jobs=2, 1 thread each": lambda: fit_members(template, parts, 2, 1),
            "n_jobs=2, 2 threads each": lambda: fit_members(template, parts, 2, 2),
        },
        args.repeats,
        progress=True,
    )
    report(f"(b) {args.members} member fits", times_b, "n_jobs=1, 1 thread")

    print(f"\n(c) DPAClassifier(k={args.members}) fit on {n} rows (core defaults)")
    times_c, fitted_c = interleaved(
        {
            f"DPA n_jobs={j}": (
                lambda j=j: DPAClassifier(
                    template, k=args.members, random_state=0, n_jobs=j
                ).fit(X_all, y_all)
            )
            for j in (1, 2)
        },
        args.repeats,
        progress=True,
    )
    report("(c) DPAClassifier fit", times_c, "DPA n_jobs=1")
    votes = [fitted_c[f"DPA n_jobs={j}"].vote_counts(X_all) for j in (1, 2)]
    print(f"  identical votes n_jobs=1 vs 2: {bool((votes[0] == votes[1]).all())}")

    print("\n(d) does the thread count change the fitted member?")
    p1 = fitted_a["1 thread"].predict_proba(X_all)
    p2 = fitted_a["2 threads"].predict_proba(X_all)
    print(
        f"  max |proba(1 thread) - proba(2 threads)| = {np.abs(p1 - p2).max():.3g}; "
        f"predictions differ on {int((p1.argmax(1) != p2.argmax(1)).sum())} of "
        f"{len(X_all)} rows"
    )
    assert torch.get_num_threads() == default_threads  # restored everywhere
    run.save(
        {
            section: {
                name: {"wall_s": list(t), "cpu_s": t.cpu} for name, t in times.items()
            }
            for section, times in (("a", times_a), ("b", times_b), ("c", times_c))
        }
        | {"max_proba_difference": float(np.abs(p1 - p2).max())}
    )


if __name__ == "__main__":
    main()
