"""When do parallel torch members pay? ``n_jobs=1`` against ``n_jobs=2``.

Small skorch members (:class:`skdpa.torch.CompactCNN` on 8x8 digits,
``module__image_shape=(1, 8, 8)``) in a :class:`~skdpa.DPAClassifier` with
``k=10``, at two sizes of work per member (``max_epochs``). For each size:

- ``n_jobs=1``: members fit one after another in this process;
- ``n_jobs=2``, first fit: loky starts two worker processes, and each imports
  torch, skorch and scikit-dpa before its first member;
- ``n_jobs=2``, second fit: the same workers are reused (loky keeps them for
  a while), so the imports are paid already.

Also printed: the time to import torch and skorch in a fresh interpreter,
which every new worker pays once. One run each (a shared machine: read the
load average printed with the results). Timing, load, the machine header and
the run's record under ``benchmarks/results/bench_torch_n_jobs/`` come from
``_harness``. Usage::

    python benchmarks/bench_torch_n_jobs.py          # about 2 minutes on 2 cores
    python benchmarks/bench_torch_n_jobs.py --quick  # smoke run: 2 epochs only
"""

import argparse
import subprocess
import sys

import numpy as np
from _harness import Run, timed
from sklearn.datasets import load_digits

from skdpa import DPAClassifier
from skdpa.torch import make_skorch_member


def _import_time():
    code = "import time; t = time.perf_counter(); import torch, skorch; "
    code += "print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def _fit(X, y, epochs, n_jobs):
    member = make_skorch_member(
        n_classes=10, max_epochs=epochs, module__image_shape=(1, 8, 8)
    )
    clf = DPAClassifier(member, k=10, classes=range(10), n_jobs=n_jobs, random_state=0)
    wall, _, _ = timed(lambda: clf.fit(X, y))
    return wall, clf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: max_epochs=2 only"
    )
    args = parser.parse_args(argv)
    run = Run(__file__, args)
    run.header()
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    imports = _import_time()
    print(f"import torch, skorch in a fresh interpreter: {imports:.2f} s")
    results = {"import_s": imports}
    for epochs in (2,) if args.quick else (2, 30):
        seq, a = _fit(X, y, epochs, n_jobs=1)
        first, b = _fit(X, y, epochs, n_jobs=2)
        second, c = _fit(X, y, epochs, n_jobs=2)
        same = np.array_equal(a.vote_counts(X), b.vote_counts(X)) and np.array_equal(
            a.vote_counts(X), c.vote_counts(X)
        )
        print(
            f"max_epochs={epochs:2d}: n_jobs=1 {seq:6.2f} s | n_jobs=2 first fit "
            f"{first:6.2f} s ({first / seq:.2f}x) | n_jobs=2 reused workers "
            f"{second:6.2f} s ({second / seq:.2f}x) | same votes: {same}"
        )
        results[f"epochs_{epochs}"] = {
            "n_jobs_1_s": seq,
            "n_jobs_2_first_s": first,
            "n_jobs_2_reused_s": second,
            "same_votes": bool(same),
        }
    run.save(results)


if __name__ == "__main__":
    main()
