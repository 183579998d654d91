"""DPAClassifier with skorch or batched members vs ART's DeepPartitionEnsemble.

Same data (Fashion-MNIST rows scaled to [0, 1]), same torch module
(:class:`skdpa.torch.CompactCNN` with its dropout 0.25 and random shifts of
up to 2 pixels), same optimiser, learning rate, batch size and epochs. Our
contenders: skorch members (:func:`skdpa.torch.make_skorch_member`) and
members trained in groups (:func:`skdpa.torch.make_batched_member`, default
``strategy="auto"``, which on a CPU for this module (it has dropout) trains
one member after another by a lean loop, the members split between workers
as skorch members are, and on CUDA stacks them),
each with ``n_jobs=1`` and ``n_jobs=2``, and two stacked groups of ``k / 2``
members (``strategy="vmap"``, each member drawing its dropout masks and
shifts from its own stream), one per worker. ``--dropout 0 --max-shift 0``
sets every contender's module (ART's included) without random draws in
training. ART runs on one torch thread, and once more on two (its one
process given both cores: the most a careful ART user gets from two cores),
and every contender of ours is compared with both. Prints, from one run:
fit time of each contender, the ratio to ART, clean accuracy, and whether
each gives certificates.

What differs by design:

* partitions: ours hash each row's content (``hasher="content"``); ART's
  default puts a row in ``int(sum(pixels)) % k``;
* randomness: ours seeds each member from ``(random_state, i)`` inside the
  process that fits it; ART clones the model k times and re-initialises each
  clone from torch's global generator when the ensemble is built, and batches
  are drawn from that generator too, so a member depends on the global RNG
  state and on the order of construction and fitting, not only on its
  partition;
* dropout masks: on a CPU the batched member's loop draws the masks of the
  module's ``nn.Dropout`` layers as ``rand < 1 - p`` (the distribution of
  torch's ``bernoulli_``, which draws element by element on CPUs without
  MKL's generator); ART and the skorch members use torch's dropout; the
  module and its settings are the same for every contender;
* execution: ART fits members one after another in the calling process
  (so does ``n_jobs=1``);
* certificates: ours return a certified radius per prediction
  (``predict_certified``); ART returns vote counts only.

Last, the machine itself: the same 10 members trained by one worker process
alone, then by two at once, one thread each. On a 2-core machine where the
two runs slow each other (shared caches, memory bandwidth or host cores), the
gain of ``n_jobs=2`` over one process is at most 2 over that slowdown.

Where ART is not installed, only our two contenders run (no ratio to ART).
``--device cuda`` trains every contender on the GPU (ART's
``PyTorchClassifier`` with ``device_type="gpu"``), with ``n_jobs=1`` only (one
GPU), plus one stacked group of ``k`` members; the
machine-scaling measurement is skipped.
Timing, CPU seconds, the machine header and the run's record under
``benchmarks/results/bench_torch_art/`` come from ``_harness``.

Usage::

    python benchmarks/bench_torch_art.py            # ~3-6 min on 2 busy cores
    python benchmarks/bench_torch_art.py --quick    # smoke run, < 1 min
    python benchmarks/bench_torch_art.py --dropout 0 --max-shift 0
    python benchmarks/bench_torch_art.py --device cuda   # on a GPU machine
"""

import argparse
import importlib.util

import numpy as np
import torch
from _harness import Run, Times, format_load, ratio, rotation, timed

from skdpa import DPAClassifier
from skdpa.datasets import load_fashion_mnist
from skdpa.torch import CompactCNN, make_batched_member, make_skorch_member

ART_2_THREADS = "ART DeepPartitionEnsemble (2 threads)"


# the run's settings that are CompactCNN's own arguments (ART's members too)
_MODULE_SETTINGS = ("channels", "dropout", "max_shift")


def _member_params(settings, module_prefix=""):
    """The run's ``settings`` (epochs, lr, batch_size, channels, dropout,
    max_shift) as a member factory's arguments; the module's carry
    ``module_prefix`` (skorch's ``"module__"``)."""
    return {
        "max_epochs": settings["epochs"],
        "lr": settings["lr"],
        "batch_size": settings["batch_size"],
        **{module_prefix + name: settings[name] for name in _MODULE_SETTINGS},
    }


def _batched_member(settings, **options):
    """Our batched CompactCNN member at the run's ``settings``."""
    return make_batched_member(
        CompactCNN, n_classes=10, **_member_params(settings), **options
    )


def _skorch_member(settings, device):
    """Our skorch CompactCNN member at the run's ``settings``, on raw [0, 1]
    pixels as ART's members get them."""
    return make_skorch_member(
        CompactCNN,
        n_classes=10,
        standardize=False,
        device=device,
        **_member_params(settings, module_prefix="module__"),
    )


def _art_ensemble(k, settings, device="cpu"):
    """ART's ensemble of k CompactCNN members at the run's ``settings``."""
    from art.estimators.classification import (
        DeepPartitionEnsemble,
        PyTorchClassifier,
    )

    torch.manual_seed(0)
    model = CompactCNN(
        n_classes=10, **{name: settings[name] for name in _MODULE_SETTINGS}
    )
    base = PyTorchClassifier(
        model=model,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(model.parameters(), lr=settings["lr"]),
        input_shape=(784,),
        nb_classes=10,
        device_type="gpu" if device == "cuda" else "cpu",
    )
    import warnings

    with warnings.catch_warnings():
        # ART warns that a single classifier is deep-copied k times
        warnings.simplefilter("ignore", UserWarning)
        return DeepPartitionEnsemble(base, ensemble_size=k, channels_first=True)


def _train_members(X, y, settings):
    """Seconds to train 10 members of (up to) 300 rows one after another,
    one thread."""
    import time

    torch.set_num_threads(1)
    member = _batched_member(settings, strategy="loop")
    n = min(300, len(X) // 10)  # a k=20 member's rows in the default run
    parts = [(X[i * n : (i + 1) * n], y[i * n : (i + 1) * n], i) for i in range(10)]
    member.group_fit(parts[:1])  # first-call kernels
    start = time.perf_counter()
    member.group_fit(parts)
    return time.perf_counter() - start


def _machine_scaling(X, y, repeats, settings):
    """How much slower each of two single-thread trainings runs when both run
    at once in two processes than one alone: the most ``n_jobs=2`` can gain
    over one process on this machine is 2 / that."""
    from joblib import Parallel, delayed

    alone, together = [], []
    with Parallel(n_jobs=2) as parallel:
        warm_up = {**settings, "epochs": 1}
        parallel(delayed(_train_members)(X, y, warm_up) for _ in range(2))
        for _ in range(repeats):
            alone += parallel(delayed(_train_members)(X, y, settings) for _ in range(1))
            together += parallel(
                delayed(_train_members)(X, y, settings) for _ in range(2)
            )
    return float(np.median(together) / np.median(alone)), alone, together


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where every contender trains; cuda: n_jobs=1 contenders only",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.25,
        help="CompactCNN dropout of every contender (default: the module's 0.25)",
    )
    parser.add_argument(
        "--max-shift",
        type=int,
        default=2,
        help="CompactCNN training shifts of every contender (default: the module's 2)",
    )
    args = parser.parse_args(argv)
    gpu = args.device == "cuda"
    if gpu and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA device; none is available")
    if args.quick:
        args.n_train, args.n_test, args.k, args.epochs = 1500, 500, 10, 2
        args.repeats = 1
    lr, batch_size, channels = 3e-3, 64, (8, 16)
    settings = dict(
        epochs=args.epochs,
        lr=lr,
        batch_size=batch_size,
        channels=channels,
        dropout=args.dropout,
        max_shift=args.max_shift,
    )
    # one intra-op thread in this process: ART and n_jobs=1 run single-core,
    # like each of the two n_jobs=2 workers (joblib limits their threads)
    torch.set_num_threads(1)

    X, y = load_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
    X = (X[: args.n_train] / 255.0).astype(np.float32)
    y = y[: args.n_train].astype(np.int64)
    X_test = (X_test[: args.n_test] / 255.0).astype(np.float32)
    y_test = y_test[: args.n_test].astype(np.int64)

    has_art = importlib.util.find_spec("art") is not None
    run = Run(__file__, args)
    run.header(
        f"Fashion-MNIST: {len(X)} train / {len(X_test)} test rows, k={args.k}, "
        f"CompactCNN{channels}, Adam lr={lr}, batch {batch_size}, "
        f"{args.epochs} epochs, dropout {args.dropout}, shifts up to "
        f"{args.max_shift} px (every contender); 1 torch thread per process; "
        f"device {args.device}"
        + (f" ({torch.cuda.get_device_name(0)})" if gpu else ""),
        *(
            []
            if has_art
            else [
                "ART is not installed (pip install adversarial-robustness-toolbox): "
                "its contender is skipped"
            ]
        ),
    )
    member = _skorch_member(settings, args.device)

    def ours(n_jobs):
        return DPAClassifier(
            member, k=args.k, classes=range(10), random_state=0, n_jobs=n_jobs
        )

    # one more contender: two stacked groups (one per worker) of k / 2
    # members each (dropout and shifts drawn from each member's own stream)
    stacked_group = -(-args.k // 2)

    def batched(n_jobs, **options):  # strategy="auto": "loop" unless told
        grouped = _batched_member(settings, device=args.device, **options)
        return DPAClassifier(
            grouped, k=args.k, classes=range(10), random_state=0, n_jobs=n_jobs
        )

    def art():
        return _art_ensemble(args.k, settings, args.device)

    def art_fit(ens, X, y):
        return ens.fit(X, y, batch_size=batch_size, nb_epochs=args.epochs)

    def art_fit_two_threads(ens, X, y):
        torch.set_num_threads(2)
        try:
            return art_fit(ens, X, y)
        finally:
            torch.set_num_threads(1)

    contenders = {
        "skdpa DPAClassifier (n_jobs=1)": (
            lambda: ours(1),
            lambda e, X, y: e.fit(X, y),
        ),
        "skdpa DPAClassifier (n_jobs=2)": (
            lambda: ours(2),
            lambda e, X, y: e.fit(X, y),
        ),
        "skdpa batched member (n_jobs=1)": (
            lambda: batched(1),
            lambda e, X, y: e.fit(X, y),
        ),
        "skdpa batched member (n_jobs=2)": (
            lambda: batched(2),
            lambda e, X, y: e.fit(X, y),
        ),
    }
    contenders[f"skdpa vmap groups of {stacked_group} (n_jobs=2)"] = (
        lambda: batched(2, strategy="vmap", group_size=stacked_group),
        lambda e, X, y: e.fit(X, y),
    )
    if gpu:
        # one GPU: one process (n_jobs=1), which "auto" stacks when it may
        contenders = {
            name: value for name, value in contenders.items() if "n_jobs=1" in name
        }
        contenders[f"skdpa vmap group of {args.k} (n_jobs=1)"] = (
            lambda: batched(1, strategy="vmap", group_size=args.k),
            lambda e, X, y: e.fit(X, y),
        )
    if has_art:
        contenders["ART DeepPartitionEnsemble"] = (art, art_fit)
        if not gpu:
            # the most a careful ART user gets from both cores: ART fits in
            # one process, so two intra-op threads in it
            contenders[ART_2_THREADS] = (art, art_fit_two_threads)
    # warm-up on a few rows: imports, first-call kernels, loky worker start-up
    for make, fit in contenders.values():
        fit(make(), X[:200], y[:200])
    # interleaved in a rotating order; building an estimator is not timed
    times = {name: Times() for name in contenders}
    fitted = {}
    for rep in range(args.repeats):
        for name in rotation(contenders, rep):
            make, fit = contenders[name]
            est = make()
            seconds, cpu, _ = timed(lambda est=est, fit=fit: fit(est, X, y))
            times[name].append(seconds)
            times[name].cpu.append(cpu)
            fitted[name] = est

    rows = []
    for name, est in fitted.items():
        if name.startswith("ART"):
            pred_s, _, votes = timed(lambda est=est: est.predict(X_test))
            acc = np.mean(np.argmax(votes, axis=1) == y_test)
            cert = "no: vote counts only, no radius"
        else:
            pred_s, _, (y_pred, radius) = timed(
                lambda est=est: est.predict_certified(X_test)
            )
            acc = np.mean(y_pred == y_test)
            cert = f"yes: median radius {int(np.median(radius))} (max {args.k // 2})"
        rows.append((name, times[name].best(), times[name].median(), pred_s, acc, cert))

    art = "ART DeepPartitionEnsemble"

    def speedup(name, reference=art):
        # ART's time / ours, per interleaved repeat: the median and the range
        if reference not in times:
            return float("nan"), float("nan"), float("nan")
        r = ratio(times[reference], times[name])
        return r.median, r.low, r.high

    print(
        f"fit times: min and median of {args.repeats} interleaved repeats after a "
        f"warm-up; ART/fit: ART's time over ours per repeat, median [range]; "
        f"load average {format_load()}"
    )
    print()
    header = (
        f"{'method':<36} {'fit s min':>9} {'median':>7} {'CPU/wall':>8} "
        f"{'ART/fit':>18} {'predict s':>9} {'clean acc':>9}  certificates"
    )
    print(header)
    print("-" * len(header))
    for name, best, median, pred_s, acc, cert in rows:
        med, low, high = speedup(name)
        print(
            f"{name:<36} {best:9.1f} {median:7.1f} {times[name].cpu_share():8.2f} "
            f"{f'{med:.2f} [{low:.2f}-{high:.2f}]':>18} "
            f"{pred_s:9.1f} {acc:9.3f}  {cert}"
        )
    records = [
        dict(
            zip(
                ("method", "fit_best_s", "fit_median_s", "predict_s", "acc"),
                row[:5],
                strict=True,
            ),
            fit_s=list(times[row[0]]),
            fit_cpu_s=times[row[0]].cpu,
            art_over_fit=speedup(row[0]),
            art_2_threads_over_fit=speedup(row[0], ART_2_THREADS),
        )
        for row in rows
    ]
    if ART_2_THREADS in times:
        print(
            f"\nagainst {ART_2_THREADS} (ART's fit with both cores), "
            "its time over ours per repeat, median [range]:"
        )
        for name, *_ in rows:
            if name.startswith("skdpa"):
                med, low, high = speedup(name, ART_2_THREADS)
                print(f"  {name:<36} {med:.2f} [{low:.2f}-{high:.2f}]")
    if gpu:
        run.save(records)
        return
    slowdown, alone, together = _machine_scaling(X, y, args.repeats, settings)
    print(
        f"\nmachine: 10 members trained in one process alone take "
        f"{np.median(alone):.2f} s (median of {len(alone)}); two such processes at "
        f"once take {np.median(together):.2f} s each (median of {len(together)}): "
        f"{slowdown:.2f}x slower, so n_jobs=2 can gain at most "
        f"{2 / slowdown:.2f}x over one process here"
    )
    records.append(
        dict(
            method="machine scaling",
            alone_s=alone,
            together_s=together,
            slowdown=slowdown,
        )
    )
    run.save(records)


if __name__ == "__main__":
    main()
