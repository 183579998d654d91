"""Label spreading with and without class mass normalisation, plain against
cost-aware certificates, on scikit-learn's digits (bundled, no download).

``SSDPAClassifier(KNNLabelSpreading(vote="soft", class_mass=...),
pass_unlabeled=True)``: a seeded split of the 1,797 digits into fit and test
rows, a share of the fit rows' labels hidden (``-1``), every ``k`` and
``class_mass`` given; reports clean accuracy, the plain and the cost-aware
median radius (label flips) and the wall and CPU time of the cost-aware
certificate.

    python benchmarks/bench_ls_class_mass_digits.py --k 10 25
"""

import argparse

import numpy as np
from _harness import format_load, timed
from sklearn.datasets import load_digits

from skdpa import SSDPAClassifier
from skdpa.semi_supervised import KNNLabelSpreading, clear_graph_cache


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[10, 25])
    parser.add_argument(
        "--class-mass",
        nargs="+",
        default=["none", "uniform"],
        choices=["none", "uniform", "labels"],
    )
    parser.add_argument("--fit-rows", type=int, default=1400)
    parser.add_argument("--unlabeled", type=float, default=0.3)
    parser.add_argument("--neighbors", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--iter", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    X, y = load_digits(return_X_y=True)
    order = np.random.RandomState(args.seed).permutation(len(X))
    fit, test = order[: args.fit_rows], order[args.fit_rows :]
    y_fit = y[fit].copy()
    hidden = np.random.RandomState(args.seed + 1).rand(len(fit)) < args.unlabeled
    y_fit[hidden] = -1
    print(
        f"digits: {len(fit)} fit rows ({hidden.sum()} unlabeled), {len(test)} test "
        f"rows; KNNLabelSpreading(n_neighbors={args.neighbors}, alpha={args.alpha}, "
        f"max_iter={args.iter}, vote='soft'); load {format_load()}"
    )
    header = (
        f"{'class_mass':>10} {'k':>4} {'clean acc':>9} {'median radius':>13} "
        f"{'cost-aware':>10} {'mean':>6} {'mean ca':>7} {'costs (s)':>9} {'cpu (s)':>7}"
    )
    print(header)
    print("-" * len(header))
    queries = X[test]
    for class_mass in args.class_mass:
        for k in args.k:
            clear_graph_cache()
            member = KNNLabelSpreading(
                args.neighbors,
                alpha=args.alpha,
                max_iter=args.iter,
                vote="soft",
                class_mass=None if class_mass == "none" else class_mass,
            )
            est = SSDPAClassifier(
                member, k=k, pass_unlabeled=True, classes=range(10)
            ).fit(X[fit], y_fit)
            pred, plain = est.predict_certified(X[test])
            est.set_params(cost_aware=True)
            wall, cpu, (pred_ca, aware) = timed(
                lambda e=est: e.predict_certified(queries)
            )
            assert (pred_ca == pred).all() and (aware >= plain).all()
            acc = (pred == y[test]).mean()
            print(
                f"{class_mass:>10} {k:>4} {acc:>9.2%} {np.median(plain):>13g} "
                f"{np.median(aware):>10g} {plain.mean():>6.2f} {aware.mean():>7.2f} "
                f"{wall:>9.1f} {cpu:>7.1f}"
            )
    print(f"load at the end {format_load()}")


if __name__ == "__main__":
    main()
