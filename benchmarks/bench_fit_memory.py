"""Fit memory: the temporaries of ``fit`` against a bare loop of member fits.

Fashion-MNIST (``skdpa.datasets.load_fashion_mnist``), the first ``--rows``
training images as float32 pixels in [0, 1], ``k=--k`` GaussianNB members.
For ``DPAClassifier`` and ``SSDPAClassifier`` (``n_jobs=None``) prints the peak
of Python-tracked allocations during ``fit`` (``tracemalloc``; NumPy arrays
included) and what stays allocated after it (the fitted members and the
estimator's per-row facts), and its wall time (best of ``--repeats``,
interleaved), against a bare loop that fits the same members on the same
partitions (``estimators_samples_``) and keeps them. The peak minus
what is kept is the fit's working memory; the goal is that it stays small
against the training data (X itself is allocated before tracing).

Timing, load, the machine header and the run's record under
``benchmarks/results/bench_fit_memory/`` come from ``_harness``. Usage::

    python benchmarks/bench_fit_memory.py            # 60,000 rows, k=1200, about 1 min
    python benchmarks/bench_fit_memory.py --quick    # 6,000 rows, k=120
"""

import argparse
import tracemalloc

import numpy as np
from _harness import Run, interleaved, ratio
from sklearn.base import clone
from sklearn.naive_bayes import GaussianNB

from skdpa import DPAClassifier, SSDPAClassifier
from skdpa.datasets import load_fashion_mnist


def traced(fn):
    """(peak MiB, MiB still allocated after fn, result) of fn()."""
    tracemalloc.start()
    try:
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, current / 2**20, result


def bare_loop(X, y, samples):
    return [GaussianNB().fit(X[rows], y[rows]) for rows in samples]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--k", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--quick", action="store_true", help="6,000 rows, k=120")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.k = 6_000, 120
    run = Run(__file__, args)
    run.header()
    X, y = load_fashion_mnist(subset="train", return_X_y=True, data_home=args.data_home)
    X = X[: args.rows].astype(np.float32) / np.float32(255)
    y = y[: args.rows]
    data_mib = X.nbytes / 2**20
    print(f"X: {X.shape[0]} x {X.shape[1]} float32, {data_mib:.0f} MiB")
    results = {"data_mib": data_mib}
    for name, est in (
        ("DPAClassifier", DPAClassifier(GaussianNB(), k=args.k, random_state=0)),
        ("SSDPAClassifier", SSDPAClassifier(GaussianNB(), k=args.k, random_state=0)),
    ):
        run.section(name)
        est = clone(est).fit(X, y)
        samples = est.estimators_samples_
        # timed without tracing (tracemalloc slows every allocation), then
        # traced once each for the peaks
        times, _ = interleaved(
            {
                "fit": lambda est=est: clone(est).fit(X, y),
                "loop": lambda samples=samples: bare_loop(X, y, samples),
            },
            args.repeats,
        )
        wall, loop_wall = times["fit"].best(), times["loop"].best()
        r = ratio(times["fit"], times["loop"])
        peak, kept, _ = traced(lambda est=est: clone(est).fit(X, y))
        loop_peak, loop_kept, _ = traced(
            lambda samples=samples: bare_loop(X, y, samples)
        )
        print(
            f"fit: {wall:.2f} s (best of {args.repeats}); traced peak {peak:.0f} "
            f"MiB, kept {kept:.0f} MiB, working memory {peak - kept:.1f} MiB "
            f"({(peak - kept) / data_mib:.3f} x X)"
        )
        print(
            f"bare loop: {loop_wall:.2f} s (best of {args.repeats}); traced peak "
            f"{loop_peak:.0f} MiB, kept {loop_kept:.0f} MiB, working memory "
            f"{loop_peak - loop_kept:.1f} MiB"
        )
        print(
            f"time fit / loop = {r.best:.2f} (median {r.median:.2f}, range "
            f"{r.low:.2f}-{r.high:.2f}); peak fit / loop = {peak / loop_peak:.2f}"
        )
        results[name] = {
            "wall_s": wall,
            "ratio_best": r.best,
            "peak_mib": peak,
            "kept_mib": kept,
            "loop_wall_s": loop_wall,
            "loop_peak_mib": loop_peak,
            "loop_kept_mib": loop_kept,
        }
    run.save(results)


if __name__ == "__main__":
    main()
