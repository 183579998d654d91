"""Prediction through many CNN members: direct module calls vs skorch vs a loop.

The ensembles call recognised skorch members' fitted modules directly
(:mod:`skdpa.torch._direct`); ``skdpa.torch.direct_prediction(False)`` forces
each member's own skorch ``predict_proba``. This script measures:

(a) ``DPAClassifier.predict`` through ``--members`` :class:`CompactCNN`
    members on the 8x8 digits (rows repeated to ``--rows``), one torch thread,
    ``n_jobs=1``: the direct path, the skorch path, and a careful loop over the
    same fitted modules (each member's :class:`ImageStandardizer` in NumPy,
    then one forward pass per batch under :func:`torch.inference_mode`, argmax),
    interleaved in the same run. Goal: direct / loop <= 1.25.
(b) ``--fm-rows`` Fashion-MNIST test rows through ``--fm-members`` CNN members
    (trained for one epoch: prediction cost does not depend on training):
    first the CPU seconds per member on those rows, direct and skorch path,
    one thread (four members, best of ``--repeats``; CPU time is less
    sensitive to other sessions than wall time), then, unless
    ``--fm-members 0``, the fit and one ``predict`` with ``n_jobs=2``.
    Goal: <= 120 s on two cores.

Both paths' votes are compared (they must be equal). Timing, the machine
header and the run's record under ``benchmarks/results/bench_torch_predict/``
come from ``_harness``.

Usage::

    python benchmarks/bench_torch_predict.py            # ~4 min on 2 cores
    python benchmarks/bench_torch_predict.py --quick    # smoke run
    python benchmarks/bench_torch_predict.py --skip-fmnist
"""

import argparse
import time

import numpy as np
import torch
from _harness import Run, interleaved, print_times, ratio

from skdpa import DPAClassifier
from skdpa.datasets import load_fashion_mnist
from skdpa.torch import direct_prediction, make_skorch_member, torch_threads


def careful_loop(clf, X):
    """Every member's class on X by its fitted module, no skorch in between."""
    out = np.empty((len(X), len(clf.estimators_)), dtype=np.int64)
    with torch.inference_mode():
        for j, member in enumerate(clf.estimators_):
            standardize, net = member.named_steps.values()
            module = net.module_.eval()
            Xt = standardize.transform(X)
            for a in range(0, len(X), 2048):
                logits = module(torch.from_numpy(Xt[a : a + 2048]))
                out[a : a + 2048, j] = logits.argmax(1).numpy()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=120)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fm-members", type=int, default=1200)
    parser.add_argument("--fm-rows", type=int, default=10000)
    parser.add_argument("--skip-fmnist", action="store_true")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.rows, args.repeats = 12, 300, 1
        args.fm_members, args.fm_rows = 24, 500

    from sklearn.datasets import load_digits

    run = Run(__file__, args)
    run.header(
        f"(a) {args.members} CompactCNN members on digits, {args.rows} rows, "
        "1 torch thread, n_jobs=1",
        f"(b) {args.fm_rows} Fashion-MNIST rows through {args.fm_members} members, "
        "n_jobs=2",
    )
    digits = load_digits()
    X_digits = (digits.data / 16.0).astype(np.float32)
    member = make_skorch_member(
        n_classes=10, max_epochs=1, module__image_shape=(1, 8, 8)
    )
    clf = DPAClassifier(
        member, k=args.members, classes=np.arange(10), random_state=0, n_jobs=2
    ).fit(X_digits, digits.target)
    clf.set_params(n_jobs=1)
    X = np.resize(X_digits, (args.rows, X_digits.shape[1]))

    def skorch_path():
        with direct_prediction(False):
            return clf.member_predictions(X)

    run.section("(a) predict through the members, one thread")
    with torch_threads(1):
        clf.predict(X[:10])  # warm up
        times, results = interleaved(
            {
                "direct (predict)": lambda: clf.predict(X),
                "direct (member_predictions)": lambda: clf.member_predictions(X),
                "careful loop": lambda: careful_loop(clf, X),
                "skorch path": skorch_path,
            },
            args.repeats,
            progress=True,
        )
    print_times(times, {"best/loop": "careful loop"}, digits=2)
    same_loop = bool(
        (results["direct (member_predictions)"] == results["careful loop"]).all()
    )
    same_skorch = bool(
        (results["direct (member_predictions)"] == results["skorch path"]).all()
    )
    print(f"  direct == careful loop votes: {same_loop}")
    print(f"  direct == skorch path votes: {same_skorch}")
    r = ratio(times["direct (predict)"], times["careful loop"])
    print(f"  predict / careful loop: best {r.best:.2f}, median {r.median:.2f}")
    results_out = {
        "a": {name: {"wall_s": list(t), "cpu_s": t.cpu} for name, t in times.items()},
        "a_same_votes_loop": same_loop,
        "a_same_votes_skorch": same_skorch,
    }

    if not args.skip_fmnist:
        run.section(
            f"(b) Fashion-MNIST: {args.fm_rows} rows through {args.fm_members} members"
        )
        X_tr, y_tr = load_fashion_mnist(args.data_home, "train", return_X_y=True)
        X_te, _ = load_fashion_mnist(args.data_home, "test", return_X_y=True)
        X_tr = X_tr.astype(np.float32) / np.float32(255)
        X_te = X_te[: args.fm_rows].astype(np.float32) / np.float32(255)
        small = DPAClassifier(
            make_skorch_member(n_classes=10, max_epochs=1),
            k=4,
            classes=np.arange(10),
            random_state=0,
        ).fit(X_tr[:2000], y_tr[:2000])
        cpu = {"direct": [], "skorch": []}
        with torch_threads(1):
            small.member_predictions(X_te[:100])  # warm up
            for _ in range(args.repeats):
                for name in cpu:
                    with direct_prediction(name == "direct"):
                        c0 = time.process_time()
                        small.member_predictions(X_te)
                        cpu[name].append((time.process_time() - c0) / 4)
        for name, seconds in cpu.items():
            print(
                f"  CPU s per member, {name} path, one thread: best "
                f"{min(seconds):.3f} (repeats {', '.join(f'{t:.3f}' for t in seconds)})"
                f"; x {args.fm_members or 1200} members / 2 cores = "
                f"{min(seconds) * (args.fm_members or 1200) / 2:.0f} s"
            )
        results_out["b_cpu_per_member_s"] = cpu
    if not args.skip_fmnist and args.fm_members > 0:
        fm = DPAClassifier(
            make_skorch_member(n_classes=10, max_epochs=1),
            k=args.fm_members,
            classes=np.arange(10),
            random_state=0,
            n_jobs=2,
        )
        t0 = time.perf_counter()
        fm.fit(X_tr, y_tr)
        fit_s = time.perf_counter() - t0
        print(f"  fit (1 epoch per member, n_jobs=2): {fit_s:.1f} s", flush=True)
        t0 = time.perf_counter()
        fm.predict(X_te)
        predict_s = time.perf_counter() - t0
        print(f"  predict, direct path (n_jobs=2): {predict_s:.1f} s (goal <= 120 s)")
        results_out["b"] = {"fit_s": fit_s, "predict_s": predict_s}
    run.save(results_out)


if __name__ == "__main__":
    main()
