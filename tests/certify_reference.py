"""Naive reference elections and exhaustive poisoning, for the certificate tests.

Written from the definitions only (plain Python, no NumPy tricks, nothing from
``skdpa``), so that the tests compare two independent implementations:

- a member's output is ``None`` (abstains) or a ranking of the classes, most
  preferred first; scores become rankings by the preference rule (a before b
  iff s[a] > s[b], or s[a] == s[b] and a < b);
- bucket b feeds members ``(b + s) % M`` for every shift s;
- an attack on a set of buckets may give every member those buckets feed any
  output at all (any ranking, or abstaining).

Elections only see how many members give each output, so the outputs the
attacked members can reach are enumerated as multisets, and results are
memoised on (outputs of the untouched members, number of attacked members).
"""

import itertools
import math
from functools import lru_cache

# ---------------------------------------------------------------------------
# Elections


def ranking(scores):
    """Classes by preference: higher score first, the smaller index on ties."""
    if all(math.isnan(s) for s in scores):
        return None
    return tuple(sorted(range(len(scores)), key=lambda c: (-scores[c], c)))


def plurality(tops, n_classes):
    """Plurality winner of top classes (None abstains), ties to smaller index."""
    counts = [0] * n_classes
    for top in tops:
        if top is not None:
            counts[top] += 1
    winner = 0
    for c in range(1, n_classes):
        if counts[c] > counts[winner]:
            winner = c
    return winner


def runoff(rankings, n_classes):
    """Run-off winner of rankings (None abstains)."""
    counts = [0] * n_classes
    for r in rankings:
        if r is not None:
            counts[r[0]] += 1
    order = sorted(range(n_classes), key=lambda c: (-counts[c], c))
    a, b = order[0], order[1]
    prefer_a = sum(1 for r in rankings if r is not None and r.index(a) < r.index(b))
    prefer_b = sum(1 for r in rankings if r is not None and r.index(b) < r.index(a))
    if prefer_a > prefer_b or (prefer_a == prefer_b and a < b):
        return a
    return b


# ---------------------------------------------------------------------------
# Exhaustive poisoning


class Game:
    """All outputs a member may give, and the election over them.

    ``rule`` is "plurality" (outputs: None or a class) or "runoff" (outputs:
    None or a ranking).
    """

    def __init__(self, rule, n_classes):
        self.rule = rule
        self.n_classes = n_classes
        if rule == "plurality":
            self.outputs = [None, *range(n_classes)]
        else:
            self.outputs = [None, *itertools.permutations(range(n_classes))]
        self.index = {o: i for i, o in enumerate(self.outputs)}
        self._reachable = lru_cache(maxsize=None)(self._reachable_uncached)

    def elect(self, outputs):
        if self.rule == "plurality":
            return plurality(outputs, self.n_classes)
        return runoff(outputs, self.n_classes)

    def _reachable_uncached(self, fixed, n_free):
        """Winners reachable when n_free members may output anything."""
        base = [self.outputs[i] for i, k in enumerate(fixed) for _ in range(k)]
        winners = set()
        for free in itertools.combinations_with_replacement(self.outputs, n_free):
            winners.add(self.elect(base + list(free)))
            if len(winners) == self.n_classes:
                break
        return frozenset(winners)

    def reachable(self, outputs, attacked):
        fixed = [0] * len(self.outputs)
        for j, o in enumerate(outputs):
            if j not in attacked:
                fixed[self.index[o]] += 1
        return self._reachable(tuple(fixed), len(attacked))


def attack_sets(n_members, shifts):
    """Each member set some bucket set feeds -> the fewest buckets doing it."""
    best = {}
    for size in range(n_members + 1):
        for buckets in itertools.combinations(range(n_members), size):
            fed = frozenset((b + s) % n_members for b in buckets for s in shifts)
            if fed not in best:
                best[fed] = size
    return sorted(best.items(), key=lambda item: item[1])


def exact_certificates(game, outputs, shifts, sets=None):
    """Winner, exact radius and exact per-class radii by exhaustion.

    The radius is one less than the fewest buckets whose poisoning can change
    the winner; ``targeted[c]`` one less than the fewest that can make c win
    (-1 for the winner).
    """
    n_members = len(outputs)
    if sets is None:
        sets = attack_sets(n_members, shifts)
    winner = game.elect(list(outputs))
    targeted = [None] * game.n_classes
    targeted[winner] = -1
    missing = game.n_classes - 1
    for fed, size in sets:
        if not missing:
            break
        for c in game.reachable(outputs, fed):
            if targeted[c] is None:
                targeted[c] = size - 1
                missing -= 1
    radius = min(t for c, t in enumerate(targeted) if c != winner)
    return winner, radius, targeted


def published_fa_radius(predictions, n_classes, shifts):
    """Wang, Levine & Feizi's FA certificate, as their paper and code state it.

    ``predictions``: one sample's member predictions (-1 abstains).
    """
    n_members = len(predictions)
    counts = [0] * n_classes
    for p in predictions:
        if p >= 0:
            counts[p] += 1
    y = max(range(n_classes), key=lambda c: (counts[c], -c))
    radius = n_members
    for c in range(n_classes):
        if c == y:
            continue
        gap = counts[y] - counts[c] - (1 if c < y else 0)
        deltas = []
        for b in range(n_members):
            total = 0
            for s in shifts:
                f = predictions[(b + s) % n_members]
                total += 1 + (f == y) - (f == c)
            deltas.append(total)
        deltas.sort(reverse=True)
        r = 0
        while r < n_members and gap - deltas[r] >= 0:
            gap -= deltas[r]
            r += 1
        radius = min(radius, r)
    return radius


# ---------------------------------------------------------------------------
# Explicit attacks on larger ensembles (upper bounds on the fewest buckets)


def _top(output):
    if output is None or isinstance(output, int):
        return output
    return output[0]


def greedy_attack(game, outputs, shifts, target):
    """Poison buckets greedily until the winner changes; return how many.

    ``target`` gives an attacked member's new output: a function of the
    current outputs (so two rivals can be fed in turn). Each step poisons the
    bucket that feeds the most members not yet attacked whose top class is
    the winner's (weight 2) or another class than the new output's (weight 1).
    Returns None if even all buckets fail.
    """
    n_members = len(outputs)
    outputs = list(outputs)
    winner = game.elect(outputs)
    attacked = set()
    for size in range(1, n_members + 1):
        best, best_weight = None, -1
        for b in range(n_members):
            weight = 0
            for s in shifts:
                j = (b + s) % n_members
                if j in attacked:
                    continue
                top = _top(outputs[j])
                weight += 2 if top == winner else 1
            if weight > best_weight:
                best, best_weight = b, weight
        for s in shifts:
            j = (best + s) % n_members
            if j not in attacked:
                attacked.add(j)
                outputs[j] = target(outputs)
        if game.elect(outputs) != winner:
            return size
    return None


def attack_targets(game, winner):
    """New-output rules for `greedy_attack`: every rival alone, and pairs."""
    n_classes = game.n_classes
    rivals = [c for c in range(n_classes) if c != winner]

    def ranking_for(c):
        if game.rule == "plurality":
            return c
        others = [x for x in range(n_classes) if x not in (c, winner)]
        return (c, *others, winner)

    targets = [lambda outputs, c=c: ranking_for(c) for c in rivals]
    if game.rule == "runoff":
        for i, c1 in enumerate(rivals):
            for c2 in rivals[i + 1 :]:

                def feed_weaker(outputs, c1=c1, c2=c2):
                    n1 = sum(1 for o in outputs if _top(o) == c1)
                    n2 = sum(1 for o in outputs if _top(o) == c2)
                    return ranking_for(c1 if n1 <= n2 else c2)

                targets.append(feed_weaker)
    return targets


def smallest_greedy_attack(game, outputs, shifts):
    """Fewest buckets any of the greedy attacks needs (None if all fail)."""
    winner = game.elect(list(outputs))
    sizes = [
        greedy_attack(game, outputs, shifts, target)
        for target in attack_targets(game, winner)
    ]
    sizes = [s for s in sizes if s is not None]
    return min(sizes) if sizes else None


def published_roe_radius(rankings, n_classes):
    """DPA+ROE certificate of Rezaei et al. for one sample (d = 1).

    As their paper states it, with two changes their code lacks: round 2 uses
    the same preference rule as everything else (their strict > breaks
    M_a(b) = -M_b(a) under tied scores), and the two-rival bound is the closed
    form max(ceil(g1/2), ceil(g2/2), ceil((g1+g2)/3)) instead of a lookup
    table. Abstaining members (None) have no vote and no preference.
    """
    counts = [0] * n_classes
    for r in rankings:
        if r is not None:
            counts[r[0]] += 1
    n_voting = sum(counts)
    p = runoff(rankings, n_classes)
    order = sorted(range(n_classes), key=lambda c: (-counts[c], c))
    q = order[1] if order[0] == p else order[0]

    def gap(a, b):  # b ranks above a iff gap(a, b) <= 0
        return counts[a] - counts[b] + (1 if b > a else 0)

    def margin(a, b):
        prefer = sum(1 for r in rankings if r is not None and r.index(a) < r.index(b))
        return 2 * prefer - n_voting

    def half(x):
        return -(-x // 2)

    rivals = [c for c in range(n_classes) if c != p]
    r1 = math.inf
    for c1, c2 in itertools.combinations(rivals, 2):
        g1, g2 = max(gap(p, c1), 0), max(gap(p, c2), 0)
        r1 = min(r1, max(half(g1), half(g2), -(-(g1 + g2) // 3)))
    r2 = math.inf
    for c in rivals:
        first = 0 if c == q else half(gap(q, c))
        r2 = min(r2, max(first, half(margin(p, c) + (1 if c > p else 0))))
    return min(r1, r2) - 1
