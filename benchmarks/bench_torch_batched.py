"""Members trained in groups against members trained one at a time.

Fashion-MNIST rows scaled to [0, 1], :class:`skdpa.torch.CompactCNN` with
``channels=(8, 16)``, by default no dropout and no random shifts
(``--dropout`` / ``--max-shift`` set them for every contender: under
``"vmap"`` each member then draws its masks and shifts from its own stream),
Adam ``lr=3e-3``, batch 64, the same epochs for every contender. Two
sections:

1. ``k`` small partitions (default ``k=128`` on 6,000 rows): a skorch member
   (:func:`skdpa.torch.make_skorch_member`, ``standardize=False``), fit one
   member after another, against :func:`skdpa.torch.make_batched_member` with
   both strategies (``"loop"``: one member after another in the worker by a
   lean loop, which ignores ``group_size``; ``"vmap"``: each group as one
   stacked model, ``group_size`` 1, 8, 16, 32 and 128); all with ``n_jobs=1``
   and one torch thread. Printed:
   fit wall and CPU seconds, their ratios to the skorch fit (on a shared
   machine the CPU seconds are the steadier measure of work), clean
   accuracy and whether the
   ensemble's predictions equal those of ``"loop"`` (strategies and groups
   change rounding only).
2. The settings of ``bench_torch_art.py`` (6,000 rows, ``k=20``, 10 epochs;
   its dropout 0.25 and shifts of 2 with ``--dropout 0.25 --max-shift 2``):
   skorch one at a time against ``"loop"`` and
   one stacked group of 20. ART itself is timed there (when installed), not here.

When a GPU is present (``torch.cuda.is_available()``) two GPU sections
follow: 3. section 1's contenders with ``device="cuda"``, against skorch
members fit one at a time on the GPU; 4. ``k=1200`` on all 60,000 rows
(``--k1200-epochs``, default 60 as in the CPU figures of
docs/benchmarks_torch.rst), ``"loop"`` and stacked groups of 300 and 1200,
each fit, then predicting and certifying the test rows (``--no-k1200`` skips
it). ``--gpu-only`` skips the CPU sections (``benchmarks/gpu_check.sh`` runs
it so on a GPU machine, and once more with dropout and shifts, section 3
only). One run of each contender after a
warm-up (a shared machine: read the load printed with the results). Timing,
the machine header and the run's record under
``benchmarks/results/bench_torch_batched/`` come from ``_harness``. Usage::

    python benchmarks/bench_torch_batched.py          # ~3 min on 2 busy cores
    python benchmarks/bench_torch_batched.py --quick  # smoke run, < 1 min
    python benchmarks/bench_torch_batched.py --gpu-only --n-test 10000  # GPU
    python benchmarks/bench_torch_batched.py --dropout 0.25 --max-shift 2
"""

import argparse

import numpy as np
import torch
from _harness import Run, format_load, section, timed

from skdpa import DPAClassifier
from skdpa.datasets import load_fashion_mnist
from skdpa.metrics import median_certified_radius
from skdpa.torch import CompactCNN, make_batched_member, make_skorch_member

LR, BATCH, CHANNELS = 3e-3, 64, (8, 16)
# every contender's module; main() sets them from --dropout / --max-shift
NOISE = {"dropout": 0.0, "max_shift": 0}


def _one_at_a_time(epochs):
    return make_skorch_member(
        CompactCNN,
        n_classes=10,
        standardize=False,
        max_epochs=epochs,
        lr=LR,
        batch_size=BATCH,
        module__channels=CHANNELS,
        module__dropout=NOISE["dropout"],
        module__max_shift=NOISE["max_shift"],
    )


def _grouped(epochs, group_size, device="cpu", strategy="vmap"):
    return make_batched_member(
        CompactCNN,
        n_classes=10,
        group_size=group_size,
        max_epochs=epochs,
        lr=LR,
        batch_size=BATCH,
        device=device,
        strategy=strategy,
        channels=CHANNELS,
        **NOISE,
    )


def _fit(member, k, X, y, X_test, y_test):
    clf = DPAClassifier(member, k=k, classes=range(10), n_jobs=1, random_state=0)
    seconds, cpu, _ = timed(lambda: clf.fit(X, y))
    pred = clf.predict(X_test)
    return seconds, cpu, pred, float(np.mean(pred == y_test))


def _table(rows, reference, baseline, against="skorch"):
    header = (
        f"{'member':<24} {'fit s':>7} {'CPU s':>7} {'vs ' + against:>9} "
        f"{'CPU vs ' + against:>13} {'clean acc':>9} "
        f"{'same predictions as loop':>24}"
    )
    print(header)
    print("-" * len(header))
    out = []
    for name, (seconds, cpu, pred, acc) in rows.items():
        same = "" if reference is None else str(bool(np.array_equal(pred, reference)))
        speed, cpu_speed = baseline[0] / seconds, baseline[1] / cpu
        print(
            f"{name:<24} {seconds:7.2f} {cpu:7.2f} {speed:8.2f}x {cpu_speed:12.2f}x "
            f"{acc:9.3f} {same:>24}"
        )
        out.append(
            dict(
                member=name,
                fit_s=seconds,
                fit_cpu_s=cpu,
                speedup=speed,
                cpu_speedup=cpu_speed,
                acc=acc,
                same=same,
            )
        )
    return out


def _sync():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _gpu_sections(args, group_sizes, X, y, X_all, y_all, X_test, y_test):
    """Sections 3 and 4: the same contenders on the GPU, against skorch
    members fit one at a time on the GPU (the loop stacking replaces)."""
    results = {}
    section(f"3. k={args.k}: grouped vs one at a time, GPU")
    # warm-up: CUDA context, cuDNN and the first kernels of each path
    _fit(_grouped(1, 8, "cuda"), 8, X[:500], y[:500], X_test[:10], y_test[:10])
    _fit(_grouped(1, 8, "cuda", "loop"), 8, X[:500], y[:500], X_test[:10], y_test[:10])
    _fit(
        _one_at_a_time(1).set_params(device="cuda"),
        2,
        X[:200],
        y[:200],
        X_test[:10],
        y_test[:10],
    )
    _sync()
    rows = {}
    if not args.no_one_at_a_time:
        rows["one at a time (skorch)"] = _fit(
            _one_at_a_time(args.epochs).set_params(device="cuda"),
            args.k,
            X,
            y,
            X_test,
            y_test,
        )
    rows["loop"] = _fit(
        _grouped(args.epochs, 8, "cuda", "loop"), args.k, X, y, X_test, y_test
    )
    for g in group_sizes:
        rows[f"vmap, group_size={g}"] = _fit(
            _grouped(args.epochs, g, "cuda"), args.k, X, y, X_test, y_test
        )
    _sync()
    reference = rows["loop"][2]
    baseline = rows[next(iter(rows))][:2]
    results["cuda"] = _table(rows, reference, baseline)
    if args.quick or args.no_k1200:
        return results

    epochs = args.k1200_epochs
    section(
        f"4. k=1200 on {len(X_all)} rows, {epochs} epochs, GPU: fit, then "
        f"predict and certify {len(X_test)} test rows"
    )
    rows, extra = {}, []
    contenders = {"loop": ("loop", 8)}
    contenders.update({f"vmap, group_size={g}": ("vmap", g) for g in (300, 1200)})
    for name, (strategy, g) in contenders.items():
        clf = DPAClassifier(
            _grouped(epochs, g, "cuda", strategy),
            k=1200,
            classes=range(10),
            n_jobs=1,
            random_state=0,
        )
        fit_s, fit_cpu, _ = timed(lambda clf=clf: (clf.fit(X_all, y_all), _sync()))
        pred_s, _, (pred, radius) = timed(lambda clf=clf: clf.predict_certified(X_test))
        acc = float(np.mean(pred == y_test))
        rows[name] = (fit_s, fit_cpu, pred, acc)
        median = median_certified_radius(y_test, pred, radius)  # None: N/A
        extra.append(dict(member=name, predict_certify_s=pred_s, median_radius=median))
        print(
            f"{name:<24} fit {fit_s:7.1f} s  predict+certify {pred_s:6.1f} s  "
            f"clean acc {acc:.4f}  median radius {median}"
        )
    first = next(iter(rows.values()))
    results["cuda_k1200"] = _table(rows, first[2], first[:2], against="loop")
    results["cuda_k1200_predict"] = extra
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("-k", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--gpu-only",
        action="store_true",
        help="only the GPU sections (3 and 4); needs CUDA",
    )
    parser.add_argument(
        "--k1200-epochs",
        type=int,
        default=60,
        help="epochs of the k=1200 GPU fit (section 4), as the CPU figures' 60",
    )
    parser.add_argument(
        "--no-k1200",
        action="store_true",
        help="skip the k=1200 GPU fit (section 4)",
    )
    parser.add_argument(
        "--no-one-at-a-time",
        action="store_true",
        help="skip the (slow) one-at-a-time contenders",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.0,
        help="dropout of every contender's CompactCNN (default 0)",
    )
    parser.add_argument(
        "--max-shift",
        type=int,
        default=0,
        help="random shifts (pixels) of every contender's CompactCNN (default 0)",
    )
    args = parser.parse_args(argv)
    NOISE.update(dropout=args.dropout, max_shift=args.max_shift)
    noise = (
        f"dropout {args.dropout}, shifts {args.max_shift}"
        if args.dropout or args.max_shift
        else "without dropout or shifts"
    )
    group_sizes = (1, 8, 16, 32, 128)
    if args.quick:
        args.n_train, args.n_test, args.k, args.epochs = 1000, 300, 16, 2
        group_sizes = (1, 8, 16)
    torch.set_num_threads(1)
    X, y = load_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
    X_all = (X / 255.0).astype(np.float32)
    y_all = y.astype(np.int64)
    X, y = X_all[: args.n_train], y_all[: args.n_train]
    X_test = (X_test[: args.n_test] / 255.0).astype(np.float32)
    y_test = y_test[: args.n_test].astype(np.int64)
    cuda = torch.cuda.is_available()
    run = Run(__file__, args)
    run.header(
        f"Fashion-MNIST: {len(X)} train / {len(X_test)} test rows, "
        f"CompactCNN{CHANNELS} {noise}, Adam lr={LR}, batch "
        f"{BATCH}, {args.epochs} epochs; n_jobs=1, 1 torch thread",
        f"GPU: {torch.cuda.get_device_name(0) if cuda else 'none'}",
    )
    # warm-up: imports and first-call kernels
    _fit(_grouped(1, 2), 4, X[:200], y[:200], X_test[:10], y_test[:10])
    _fit(_grouped(1, 2, strategy="loop"), 4, X[:200], y[:200], X_test[:10], y_test[:10])
    _fit(_one_at_a_time(1), 2, X[:200], y[:200], X_test[:10], y_test[:10])
    results = {}

    if args.gpu_only:
        if not cuda:
            parser.error("--gpu-only needs a CUDA device; none is available")
        results.update(
            _gpu_sections(args, group_sizes, X, y, X_all, y_all, X_test, y_test)
        )
        run.save(results)
        return

    section(f"1. k={args.k}: grouped vs one at a time, CPU")
    rows = {}
    if not args.no_one_at_a_time:
        rows["one at a time (skorch)"] = _fit(
            _one_at_a_time(args.epochs), args.k, X, y, X_test, y_test
        )
    # the ensemble ignores group_size under "loop": one row
    rows["loop"] = _fit(
        _grouped(args.epochs, 32, strategy="loop"), args.k, X, y, X_test, y_test
    )
    for g in group_sizes:
        rows[f"vmap, group_size={g}"] = _fit(
            _grouped(args.epochs, g, strategy="vmap"), args.k, X, y, X_test, y_test
        )
    reference = rows["loop"][2]
    baseline = rows.get("one at a time (skorch)", rows[next(iter(rows))])[:2]
    results["cpu"] = _table(rows, reference, baseline)
    print(f"load average {format_load()}")

    if not args.quick and not args.no_one_at_a_time:
        section("2. bench_torch_art.py settings (k=20, 10 epochs), CPU")
        rows = {
            "one at a time (skorch)": _fit(
                _one_at_a_time(10), 20, X, y, X_test, y_test
            ),
        }
        rows["loop"] = _fit(_grouped(10, 20, strategy="loop"), 20, X, y, X_test, y_test)
        rows["vmap, group_size=20"] = _fit(
            _grouped(10, 20, strategy="vmap"), 20, X, y, X_test, y_test
        )
        results["art_settings"] = _table(
            rows, rows["loop"][2], rows["one at a time (skorch)"][:2]
        )
        print(f"load average {format_load()}")

    if cuda:
        results.update(
            _gpu_sections(args, group_sizes, X, y, X_all, y_all, X_test, y_test)
        )
    run.save(results)


if __name__ == "__main__":
    main()
