"""Prediction memory: the temporaries of ``predict_certified`` against its result.

Issue 16's case: 200,000 rows of 20 features, ``k=2000`` GaussianNB members
(fit on the first ``--n-train`` rows). Prints, for ``voting`` plurality and
run-off:

- the peak of Python-tracked allocations during ``predict_certified`` (a
  second call, traced; NumPy
  arrays included; ``tracemalloc``) against the chunk budget of member outputs
  (``skdpa._base._CHUNK_ITEMS`` 8-byte items) -- the goal is at most twice the
  budget -- and against the size of the result;
- the wall time against a careful user's loop in the same run: the same
  members' ``predict`` over the same row chunks, votes counted per chunk and
  the radius from :func:`skdpa.certified_radius` (one BLAS thread and
  ``assume_finite`` for both, as the ensemble runs its members).

Timing, load, the machine header and the run's record under
``benchmarks/results/bench_predict_memory/`` come from ``_harness``. Usage::

    python benchmarks/bench_predict_memory.py            # issue 16's case, minutes
    python benchmarks/bench_predict_memory.py --quick    # 20,000 rows, k=200
"""

import argparse
import tracemalloc

import numpy as np
from _harness import Run, interleaved, ratio
from sklearn import config_context
from sklearn.naive_bayes import GaussianNB
from threadpoolctl import threadpool_limits

import skdpa._base
from skdpa import DPAClassifier, certified_radius


def traced_peak(fn):
    """(peak bytes of allocations made during fn(), result)."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def careful_loop(clf, X, step):
    """Votes of the same members chunk by chunk, then Theorem 1."""
    radius = np.empty(len(X), dtype=np.int64)
    with threadpool_limits(1), config_context(assume_finite=True):
        for start in range(0, len(X), step):
            rows = X[start : start + step]
            votes = np.zeros((len(rows), clf.n_classes_ + 1), dtype=np.int64)
            for member, constant in zip(clf.estimators_, clf._constants, strict=True):
                if member is None:
                    continue
                pred = member.predict(rows) if constant < 0 else constant
                # one vote per row: plain fancy-index addition is exact here
                votes[np.arange(len(rows)), pred + 1] += 1
            radius[start : start + step] = certified_radius(votes, new_label=False)
    return radius


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, k=200")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.n_train, args.k = 20_000, 4_000, 200
    run = Run(__file__, args)
    run.header()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(args.rows, 20))
    y = (X[:, 0] + 0.3 * rng.normal(size=args.rows) > 0).astype(int)
    budget = skdpa._base._CHUNK_ITEMS * 8
    results = {"budget_mib": budget / 2**20}
    for voting in ("plurality", "runoff"):
        run.section(f"voting={voting}")
        clf = DPAClassifier(GaussianNB(), k=args.k, voting=voting, classes=[0, 1])
        clf.fit(X[: args.n_train], y[: args.n_train])
        step = max(1, skdpa._base._CHUNK_ITEMS // clf.n_members_)
        contenders = {"ours": lambda clf=clf: clf.predict_certified(X)[1]}
        if voting == "plurality":
            contenders["loop"] = lambda clf=clf, step=step: careful_loop(clf, X, step)
        # timed without tracing (tracemalloc slows every allocation), then
        # traced once for the peak
        times, radii = interleaved(contenders, args.repeats)
        wall, radius = times["ours"].best(), radii["ours"]
        peak, _ = traced_peak(lambda clf=clf: clf.predict_certified(X))
        result_bytes = radius.nbytes + len(X) * 8
        print(
            f"predict_certified: {wall:.1f} s (best of {args.repeats}), peak "
            "temporaries "
            f"{peak / 2**20:.0f} MiB = {peak / budget:.2f} x the chunk budget "
            f"({budget / 2**20:.0f} MiB; goal <= 2), "
            f"{peak / result_bytes:.0f} x the result ({result_bytes / 2**20:.1f} MiB)"
        )
        entry = {
            "wall_s": wall,
            "peak_mib": peak / 2**20,
            "peak_over_budget": peak / budget,
        }
        if voting == "plurality":
            r = ratio(times["ours"], times["loop"])
            print(
                "careful loop of member predicts: "
                f"{times['loop'].best():.1f} s (best of {args.repeats}); "
                f"ours / loop = {r.best:.2f} (median {r.median:.2f}; "
                "identical radii: "
                f"{bool(np.array_equal(radii['loop'], radius))})"
            )
            entry["loop_s"] = times["loop"].best()
            entry["ratio_best"] = r.best
        results[voting] = entry
    run.save(results)


if __name__ == "__main__":
    main()
