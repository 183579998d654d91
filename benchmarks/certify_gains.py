"""What run-off (ROE) and finite aggregation (FA) add over DPA's plurality vote.

Fashion-MNIST (local files, see ``skdpa.datasets.load_fashion_mnist``). Samples
are hashed into buckets by their content (``DPAClassifier.assign_partitions``);
members are ``LogisticRegression`` on pixels / 255.

- DPA: ``k`` buckets, member j trains on bucket j.
- FA: ``k * d`` buckets and ``d`` shifts (drawn once, as the FA code does);
  member j trains on buckets ``(j - s) mod k*d``, so each member sees about as
  many samples as a DPA member and the radius still counts poisoned samples.

Every member's class probabilities on the test points are the scores (log
probabilities; ``-inf`` for a class the member never saw). The script prints,
for DPA and FA, plurality and run-off: clean accuracy, certified accuracy at
several radii (a test point counts when it is predicted correctly with at
least that radius) and the median certified radius (-1 for a wrong
prediction). All four certificates are computed by ``skdpa.certify`` from the
same stored member outputs.

Usage::

    python benchmarks/certify_gains.py                  # k=50, d=4: about 5 min
    python benchmarks/certify_gains.py --k 50 --d 2 --n-test 1000
"""

import argparse
import datetime
import platform
import sys
import time
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

import skdpa
from skdpa import DPAClassifier
from skdpa.certify import plurality_certify, runoff_certify
from skdpa.datasets import load_fashion_mnist


def fit_member(X, y, n_classes, seed):
    """Log-probabilities on the test set of one member (None: empty bucket)."""
    if len(y) == 0:
        return None
    present = np.unique(y)
    if len(present) == 1:
        return present[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=100, random_state=seed).fit(X, y)


def member_scores(members, X_test, n_classes):
    scores = np.full((len(X_test), len(members), n_classes), -np.inf)
    for j, member in enumerate(members):
        if member is None:
            scores[:, j] = np.nan
        elif isinstance(member, np.integer | int):
            scores[:, j, member] = 0.0
        else:
            with np.errstate(divide="ignore"):
                scores[:, j, member.classes_] = np.log(member.predict_proba(X_test))
    return scores


def ensemble(X, y, X_test, buckets, n_members, shifts, n_classes, n_jobs):
    rows_of = [np.flatnonzero(buckets == b) for b in range(n_members)]
    plan = []
    for j in range(n_members):
        rows = np.concatenate([rows_of[(j - s) % n_members] for s in shifts])
        plan.append(np.sort(rows))
    members = Parallel(n_jobs=n_jobs)(
        delayed(fit_member)(X[rows], y[rows], n_classes, j)
        for j, rows in enumerate(plan)
    )
    return member_scores(members, X_test, n_classes)


def predictions(scores):
    """Each member's top class (ties to the smaller index), -1 if it abstains."""
    abstain = np.isnan(scores).all(axis=2)
    return np.where(abstain, -1, np.where(np.isnan(scores), 0, scores).argmax(axis=2))


def summary(name, winner, radius, y_test, radii):
    correct = winner == y_test
    cert = [np.mean(correct & (radius >= r)) for r in radii]
    med = np.median(np.where(correct, radius, -1))
    cells = " ".join(f"{c:6.3f}" for c in cert)
    print(f"{name:<16} {correct.mean():6.3f} {cells} {med:8.0f}")
    return cert


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--d", type=int, default=4)
    parser.add_argument("--n-train", type=int, default=60_000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args(argv)

    print(f"# {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"# {' '.join([sys.executable, *sys.argv])}")
    print(
        f"# {platform.platform()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, skdpa {skdpa.__version__}"
    )
    X, y = load_fashion_mnist(args.data_home, "train", return_X_y=True)
    X_test, y_test = load_fashion_mnist(args.data_home, "test", return_X_y=True)
    rng = np.random.default_rng(args.seed)
    train = rng.permutation(len(X))[: args.n_train]
    test = rng.permutation(len(X_test))[: args.n_test]
    X, y = X[train], y[train].astype(int)
    X_test, y_test = X_test[test], y_test[test].astype(int)
    n_classes = 10
    k, d = args.k, args.d
    print(f"# Fashion-MNIST: {len(X)} train, {len(X_test)} test; k={k}, d={d}")
    Xf, Xf_test = X / 255.0, X_test / 255.0

    start = time.perf_counter()
    dpa_buckets = DPAClassifier(k=k).assign_partitions(X)
    dpa = ensemble(Xf, y, Xf_test, dpa_buckets, k, [0], n_classes, args.n_jobs)
    t_dpa = time.perf_counter() - start
    start = time.perf_counter()
    fa_buckets = DPAClassifier(k=k * d).assign_partitions(X)
    shifts = np.sort(rng.choice(k * d, d, replace=False))
    fa = ensemble(Xf, y, Xf_test, fa_buckets, k * d, shifts, n_classes, args.n_jobs)
    t_fa = time.perf_counter() - start
    print(f"# fit + score: DPA {t_dpa:.0f} s, FA {t_fa:.0f} s; FA shifts {shifts}")

    radii = sorted({round(i * k / 10) for i in range(6)})
    head = " ".join(f"r>={r:<3}" for r in radii)
    print(f"\n{'rule':<16} {'clean':>6} {head} {'median r':>8}")
    rows = {}
    rows["DPA"] = summary(
        "DPA", *plurality_certify(predictions(dpa), n_classes), y_test, radii
    )
    rows["DPA+ROE"] = summary("DPA+ROE", *runoff_certify(dpa), y_test, radii)
    rows["FA"] = summary(
        "FA", *plurality_certify(predictions(fa), n_classes, shifts), y_test, radii
    )
    rows["FA+ROE"] = summary("FA+ROE", *runoff_certify(fa, shifts), y_test, radii)
    print("\ncertified accuracy minus DPA's, by radius:")
    for name in ("DPA+ROE", "FA", "FA+ROE"):
        gains = " ".join(
            f"{a - b:+6.3f}" for a, b in zip(rows[name], rows["DPA"], strict=True)
        )
        print(f"{name:<16} {'':>6} {gains}")


if __name__ == "__main__":
    main()
