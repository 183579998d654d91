"""Time of the certificate maths (``skdpa.certify``) on stored member outputs.

Synthetic outputs of ``--n-members`` members (default 1,200) on ``--n-samples``
test points (default 10,000) with ``--n-classes`` classes (default 10): float32
logits, the true class raised by a per-point margin so that radii spread from 0
to a few hundred. For d in ``--d`` (default 1, 4, 16; ``k = n_members / d``,
shifts drawn once per d) it times

- ``plurality_certify(member_predictions, n_classes, shifts)``,
- ``runoff_certify(member_scores, shifts)``,

and, as baselines measured in the same run on the same arrays,

- ``votes + certified_radius``: counting the votes of the member predictions
  and Theorem 1 on them (the plain DPA certificate), and
- ``argmax``: each member's top class from the scores, the least work any
  run-off must do (it reads every score once).

Each time is the best of ``--repeats`` runs, timed with ``_harness`` (see
there); the table prints seconds and the ratio to each baseline. A record of
the run goes to ``benchmarks/results/bench_certify/``.

Usage::

    python benchmarks/bench_certify.py            # about 2-3 min on 2 shared cores
    python benchmarks/bench_certify.py --quick    # 1,000 points, one repeat
"""

import argparse

import numpy as np
from _harness import Run, best_of

from skdpa.certify import certified_radius, plurality_certify, runoff_certify


def make_outputs(n_samples, n_members, n_classes, seed):
    """(member_scores float32 (n, M, C), member_predictions int (n, M), truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(n_classes, size=n_samples)
    margin = rng.uniform(0.0, 2.5, size=n_samples).astype(np.float32)
    scores = np.empty((n_samples, n_members, n_classes), dtype=np.float32)
    step = max(1, 2**22 // (n_members * n_classes))
    for start in range(0, n_samples, step):
        rows = slice(start, start + step)
        block = rng.standard_normal(
            (len(range(*rows.indices(n_samples))), n_members, n_classes),
            dtype=np.float32,
        )
        idx = np.arange(block.shape[0])
        block[idx, :, truth[rows]] += margin[rows][:, None]
        scores[rows] = block
    return scores, scores.argmax(axis=2), truth


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--n-members", type=int, default=1200)
    parser.add_argument("--n-classes", type=int, default=10)
    parser.add_argument("--d", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.repeats = 1000, 1

    run = Run(__file__, args)
    run.header()
    n, M, C = args.n_samples, args.n_members, args.n_classes
    scores, pred, truth = make_outputs(n, M, C, args.seed)
    print(
        f"# {n} points x {M} members x {C} classes; scores float32 "
        f"({scores.nbytes / 2**20:.0f} MiB); best of {args.repeats}"
    )
    rng = np.random.default_rng(args.seed + 1)

    def votes_and_radius():
        votes = np.stack([(pred == c).sum(axis=1) for c in range(C)], axis=1)
        return certified_radius(votes)

    t_votes, dpa_radius = best_of(votes_and_radius, args.repeats)
    t_votes = t_votes.best()
    t_argmax = best_of(lambda: scores.argmax(axis=2), args.repeats)[0].best()
    rows = []
    print(f"baseline votes + certified_radius: {t_votes:8.3f} s")
    print(f"baseline argmax of the scores:     {t_argmax:8.3f} s")
    print()
    header = (
        f"{'rule':<10} {'d':>3} {'k':>5} {'seconds':>8} {'/votes':>8} "
        f"{'/argmax':>8} {'median r':>9}"
    )
    print(header)
    print("-" * len(header))
    for d in args.d:
        if M % d:
            print(f"skip d={d}: {M} members is not a multiple")
            continue
        shifts = None if d == 1 else np.sort(rng.choice(M, d, replace=False))
        for rule in ("plurality", "runoff"):
            if rule == "plurality":
                t, (winner, radius) = best_of(
                    lambda s=shifts: plurality_certify(pred, C, s), args.repeats
                )
                if d == 1:
                    assert np.array_equal(radius, dpa_radius)
            else:
                t, (winner, radius) = best_of(
                    lambda s=shifts: runoff_certify(scores, s), args.repeats
                )
            t = t.best()
            med = np.median(np.where(winner == truth, radius, -1))
            rows.append({"rule": rule, "d": d, "k": M // d, "seconds": t})
            print(
                f"{rule:<10} {d:>3} {M // d:>5} {t:8.3f} {t / t_votes:8.1f} "
                f"{t / t_argmax:8.1f} {med:9.0f}"
            )
    print()
    print(
        "median r: median certified radius (-1 for a wrong prediction); the "
        "synthetic members are alike for every d, so these columns show the "
        "rules, not what FA gains with real members (each FA member sees d "
        "buckets)."
    )
    run.save({"votes_s": t_votes, "argmax_s": t_argmax, "rows": rows})


if __name__ == "__main__":
    main()
