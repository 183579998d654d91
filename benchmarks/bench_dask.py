"""Fit and predict from Dask collections: client memory, time against in memory.

Writes its data sets as parquet (generated on the workers, seeded per
partition) to a temporary directory, then measures:

(a) client memory: ``DPAClassifier.fit`` from ``dd.read_parquet`` of a data set
    larger than the cluster's total worker memory limit (spilling allowed);
    200 float64 features by default, so that 2 GiB is about 1.3 million rows.
    Reports the client's peak RSS growth during the fit (goal < 300 MB) and
    whether any worker was lost (goal: none).
(b) Dask fit vs in-memory fit of the same rows (both read the same parquet
    files; the in-memory fit with ``n_jobs=1`` and with ``n_jobs=<workers>``).
    Goal: Dask / in-memory <= 1.5.
(c) Dask fit time against the number of rows (expect linear).
(d) lazy ``predict_certified`` of the rows of (b): Dask against in memory.

Every size is an option; the defaults are a smoke run of about two minutes
on two shared cores. The full figures of the docs page::

    python benchmarks/bench_dask.py --memory-gb 2.0 --worker-memory 0.75 \\
        --rows 1000000 --scaling 100000,300000,1000000

Each run prints the machine, versions, load average and the command.
"""

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time

import numpy as np
from _harness import Run, best_of, timed


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Peak resident memory of this process while the block runs, sampled."""

    def __enter__(self):
        self.start = _rss_mb()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        last = time.perf_counter()
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb())
            if time.perf_counter() - last > 60:  # a run cut short still tells
                last = time.perf_counter()
                print(
                    f"    ... client RSS peak so far {self.peak:.0f} MB "
                    f"(growth {self.peak - self.start:.0f} MB)",
                    flush=True,
                )

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())
        self.growth = self.peak - self.start


def _partition(i, rows, n_features, seed):
    import pandas as pd

    rng = np.random.default_rng([seed, i])
    X = rng.normal(size=(rows, n_features))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(n_features)])
    frame["label"] = y
    return frame


def write_parquet(path, n_rows, n_features, rows_per_file, seed=0):
    """Write ``n_rows`` rows as parquet, generated on the workers."""
    import dask.dataframe as dd

    sizes = [rows_per_file] * (n_rows // rows_per_file)
    if n_rows % rows_per_file:
        sizes.append(n_rows % rows_per_file)
    meta = _partition(0, 0, n_features, seed)
    ddf = dd.from_map(
        lambda a: _partition(a[0], a[1], n_features, seed),
        list(enumerate(sizes)),
        meta=meta,
        enforce_metadata=False,
    )
    ddf.to_parquet(path, write_index=False)
    size = sum(
        os.path.getsize(os.path.join(path, f))
        for f in os.listdir(path)
        if f.endswith(".parquet")
    )
    return size


def _member():
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=6)


def _read(path):
    import dask.dataframe as dd

    ddf = dd.read_parquet(path)
    return ddf.drop(columns="label"), ddf["label"]


def _workers(client):
    return set(client.scheduler_info(n_workers=-1)["workers"])


def bench_memory(client, tmp, args):
    from skdpa import DPAClassifier

    path = os.path.join(tmp, "memory")
    d = args.memory_features
    n_rows = int(args.memory_gb * 2**30 / (8 * (d + 1)))
    t = time.perf_counter()
    size = write_parquet(path, n_rows, d, max(1, args.rows_per_file * 20 // d))
    print(
        f"(a) wrote {n_rows:,} rows x {d} features, {size / 2**30:.2f} GiB parquet "
        f"({8 * n_rows * (d + 1) / 2**30:.2f} GiB in memory) in "
        f"{time.perf_counter() - t:.0f} s",
        flush=True,
    )
    X, y = _read(path)
    before = _workers(client)
    clf = DPAClassifier(_member(), k=args.k, random_state=0)
    with PeakRSS() as rss:
        wall, _, _ = timed(lambda: clf.fit(X, y))
    lost = before - _workers(client)
    print(
        f"(a) fit {wall:.0f} s; client RSS {rss.start:.0f} MB -> peak "
        f"{rss.peak:.0f} MB: growth {rss.growth:.0f} MB (goal < 300); workers "
        f"lost: {len(lost)} (goal 0); ru_maxrss "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    shutil.rmtree(path, ignore_errors=True)
    return {"growth_mb": rss.growth, "lost": len(lost), "wall": wall}


def _time(fn, repeats):
    """(best wall seconds, last result) of ``repeats`` calls, timed by _harness."""
    times, out = best_of(fn, repeats)
    return times.best(), out


def bench_time(client, tmp, args):
    import dask
    import pandas as pd

    from skdpa import DPAClassifier

    n_workers = len(_workers(client))
    path = os.path.join(tmp, "time")
    write_parquet(path, args.rows, args.features, args.rows_per_file)

    def in_memory(n_jobs):
        frame = pd.read_parquet(path)
        X, y = frame.drop(columns="label"), frame["label"]
        return DPAClassifier(_member(), k=args.k, random_state=0, n_jobs=n_jobs).fit(
            X, y
        )

    def on_dask():
        return DPAClassifier(_member(), k=args.k, random_state=0).fit(*_read(path))

    # warm-up: the workers import scikit-learn, pandas and skdpa on their first
    # task; a long-lived cluster has paid that already
    warm = os.path.join(tmp, "warm")
    write_parquet(warm, 2000, args.features, 1000)
    DPAClassifier(_member(), k=5).fit(*_read(warm))
    t_dask, dk = _time(on_dask, args.repeats)
    t_one, mem = _time(lambda: in_memory(None), args.repeats)
    t_par, _ = _time(lambda: in_memory(n_workers), args.repeats)
    same = dk._fingerprints == mem._fingerprints
    print(
        f"(b) {args.rows:,} rows, k={args.k}: Dask fit {t_dask:.1f} s; in memory "
        f"n_jobs=1 {t_one:.1f} s, n_jobs={n_workers} {t_par:.1f} s; ratio Dask / "
        f"in memory {t_dask / t_one:.2f} (n_jobs=1), {t_dask / t_par:.2f} "
        f"(n_jobs={n_workers}) (goal <= 1.5); same members: {same}"
    )

    # (d) lazy predict of the same rows
    X, _ = _read(path)
    frame = pd.read_parquet(path).drop(columns="label")
    t_lazy, (y_dask, r_dask) = _time(
        lambda: dask.compute(*dk.predict_certified(X)), args.repeats
    )
    t_local, (y_mem, r_mem) = _time(lambda: mem.predict_certified(frame), args.repeats)
    same = bool(np.array_equal(y_dask, y_mem) and np.array_equal(r_dask, r_mem))
    print(
        f"(d) predict_certified of {args.rows:,} rows: lazy Dask (read included, "
        "y_pred and radius in one dask.compute) "
        f"{t_lazy:.1f} s, in memory (frame already read) {t_local:.1f} s; ratio "
        f"{t_lazy / t_local:.2f}; same output: {same}"
    )
    shutil.rmtree(path, ignore_errors=True)
    return {"dask": t_dask, "one": t_one, "par": t_par}


def bench_scaling(client, tmp, args):
    from skdpa import DPAClassifier

    print("(c) Dask fit time against rows:")
    rows = [int(float(v)) for v in args.scaling.split(",") if v]
    first = None
    for n in rows:
        path = os.path.join(tmp, f"scale{n}")
        write_parquet(path, n, args.features, min(args.rows_per_file, n))
        t, _ = _time(
            lambda path=path: DPAClassifier(_member(), k=args.k, random_state=0).fit(
                *_read(path)
            ),
            1,
        )
        first = first or (n, t)
        print(
            f"    {n:>12,} rows: {t:7.1f} s, {t / n * 1e6:6.2f} us/row "
            f"(x{t / first[1]:.1f} time for x{n / first[0]:.0f} rows)"
        )
        shutil.rmtree(path, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-memory", type=float, default=0.5, help="GiB per worker"
    )
    parser.add_argument(
        "--memory-gb", type=float, default=0.6, help="(a) data size, GiB"
    )
    parser.add_argument("--rows", type=int, default=200_000, help="(b), (d) rows")
    parser.add_argument("--scaling", default="100000,300000", help="(c) rows, comma")
    parser.add_argument("--features", type=int, default=20, help="(b)-(d)")
    parser.add_argument(
        "--memory-features",
        type=int,
        default=200,
        help="(a): wide rows reach the size with fewer rows",
    )
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip", default="", help="letters to skip, e.g. 'ac'")
    parser.add_argument("--tmp", default=None, help="where to write the parquet")
    args = parser.parse_args(argv)

    import distributed

    run = Run(__file__, args)
    run.header()
    results = {}
    tmp = tempfile.mkdtemp(prefix="skdpa-bench-dask-", dir=args.tmp)
    try:
        with (
            distributed.LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=f"{args.worker_memory}GiB",
                dashboard_address=None,
                local_directory=tmp,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            print(
                f"cluster: {args.workers} workers x 1 thread, memory limit "
                f"{args.worker_memory} GiB each "
                f"({args.workers * args.worker_memory:.2f} GiB in all)"
            )
            if "a" not in args.skip:
                run.section("(a) client memory")
                results["a"] = bench_memory(client, tmp, args)
            if "b" not in args.skip:
                run.section("(b) and (d): Dask against in memory")
                results["b"] = bench_time(client, tmp, args)
            if "c" not in args.skip:
                run.section("(c) fit time against rows")
                bench_scaling(client, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    run.save(results)


if __name__ == "__main__":
    main()
