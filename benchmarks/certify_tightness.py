"""How often the certified radius equals the true one, by exhaustive poisoning.

Runs the configurations of ``tests/test_certify_rules.py`` (every output of a
few members, or a sample where stated) through ``plurality_certify`` and
``runoff_certify`` and through the reference brute force of
``tests/certify_reference.py``, which finds the fewest poisoned buckets that
change the winner. Prints, per case, the number of configurations, how many
certificates are tight (radius == true radius), and the per-class
certificates' tightness; soundness (radius <= true radius) is asserted.
The header (machine, load) and the run's record under
``benchmarks/results/certify_tightness/`` come from ``_harness``.

Usage::

    python benchmarks/certify_tightness.py          # about 30 s
    python benchmarks/certify_tightness.py --quick  # the first case of each rule
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from _harness import Run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from certify_reference import Game, attack_sets, exact_certificates  # noqa: E402
from test_certify_rules import (  # noqa: E402
    PLURALITY_CASES,
    RUNOFF_CASES,
    _case_id,
    _configs,
    _predictions,
    _scores_for,
)

from skdpa.certify import plurality_certify, runoff_certify  # noqa: E402


def run(rule, case):
    n_members, n_classes, shifts, how, n_sample, bias = case
    game = Game(rule, n_classes)
    configs = _configs(game, n_members, how, n_sample=n_sample, bias=bias)
    sets = attack_sets(n_members, shifts)
    if rule == "plurality":
        out = plurality_certify(
            _predictions(configs), n_classes, shifts, per_class=True
        )
    else:
        scores = _scores_for(configs, n_classes, seed=n_members)
        out = runoff_certify(scores, shifts, per_class=True)
    winner, radius, targeted = out
    tight, by_radius, class_tight, class_total = 0, Counter(), 0, 0
    for i, config in enumerate(configs):
        w, r, t = exact_certificates(game, config, shifts, sets)
        assert radius[i] <= r and np.all(targeted[i] <= t)
        tight += radius[i] == r
        by_radius[r] += 1
        for c in range(n_classes):
            if c != w:
                class_total += 1
                class_tight += targeted[i, c] == t[c]
    return len(configs), tight, class_tight, class_total, by_radius


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: the first case of each rule"
    )
    args = parser.parse_args(argv)
    run_record = Run(__file__, args)
    run_record.header()
    totals = {}
    rows = []
    print(
        f"{'rule':<10} {'case':<28} {'configs':>8} {'tight':>7} {'per-class':>9}  "
        "true radii"
    )
    for rule, cases in (("plurality", PLURALITY_CASES), ("runoff", RUNOFF_CASES)):
        for case in cases[:1] if args.quick else cases:
            n, tight, ct, cn, by_radius = run(rule, case)
            rows.append(
                {
                    "rule": rule,
                    "case": _case_id(case),
                    "configs": n,
                    "tight": tight,
                    "per_class_tight": ct,
                    "per_class_total": cn,
                }
            )
            d = "d=1" if len(case[2]) == 1 else "d>1"
            a = totals.setdefault((rule, d), [0, 0, 0, 0])
            a[0] += n
            a[1] += tight
            a[2] += ct
            a[3] += cn
            radii = " ".join(f"{r}:{k}" for r, k in sorted(by_radius.items()))
            print(
                f"{rule:<10} {_case_id(case):<28} {n:>8} {tight / n:7.1%} "
                f"{ct / cn:9.1%}  {radii}"
            )
    print()
    for (rule, d), (n, tight, ct, cn) in totals.items():
        print(
            f"{rule:<10} {d}: {n} configurations, radius tight on {tight / n:.2%}, "
            f"per-class tight on {ct / cn:.2%}"
        )
    run_record.save(rows)


if __name__ == "__main__":
    main()
