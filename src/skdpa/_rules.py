"""Vote rules as objects: what members output, who wins, what is certified.

A rule is chosen by the public ``voting`` string and owns everything that
depends on it: the kind of member output it reads (class indices or score
vectors), the winner, the first-round votes, the certificate and the
label-set assumption (with an inferred label set every certificate is also
taken against a new label). The maths itself lives in :mod:`skdpa.certify`.
"""

import numpy as np

from . import certify

__all__ = ["PluralityRule", "RunoffRule", "make_rule"]


class _Rule:
    """Shared state of a rule: classes, shifts, label-set assumption."""

    name = None
    title = None
    output = None  # "predict" (class indices) or "scores"

    def __init__(self, n_classes, shifts=None, *, new_label=False, unseen_score=0.0):
        self.n_classes = int(n_classes)
        shifts = None if shifts is None else np.asarray(shifts, dtype=np.int64)
        if shifts is not None and len(shifts) == 1 and shifts[0] == 0:
            shifts = None
        self.shifts = shifts
        self.new_label = bool(new_label)
        self.unseen_score = float(unseen_score)

    def unanimous(self, voting, c):
        """Member outputs of one row on which every voting member (``voting``
        mask) chooses class ``c``: the rule's best case."""
        raise NotImplementedError

    def max_radius(self, voting):
        """Largest radius any prediction can reach (a unanimous vote)."""
        best = 0
        for c in range(self.n_classes):
            _, radius = self.certify(self.unanimous(voting, c))
            best = max(best, int(radius[0]))
        return best


class PluralityRule(_Rule):
    """Plurality vote of the members' predictions (DPA; FA with shifts)."""

    name = "plurality"
    title = "Plurality vote"
    output = "predict"

    def winner(self, out):
        return certify.plurality_winner(out, self.n_classes)

    def votes(self, out):
        return certify.count_votes(out, self.n_classes)

    def certify(self, out, per_class=False):
        return certify.plurality_certify(
            out,
            self.n_classes,
            self.shifts,
            per_class=per_class,
            new_label=self.new_label,
        )

    def unanimous(self, voting, c):
        return np.where(voting, c, -1)[None, :]


class RunoffRule(_Rule):
    """Run-off election over the members' scores (ROE; FA+ROE with shifts)."""

    name = "runoff"
    title = "Run-off election"
    output = "scores"

    def winner(self, out):
        return certify.runoff_winner(out)

    def votes(self, out):
        return certify.count_votes(certify.first_choices(out), self.n_classes)

    def certify(self, out, per_class=False):
        return certify.runoff_certify(
            out,
            self.shifts,
            per_class=per_class,
            new_label=self.new_label,
            unseen_score=self.unseen_score,
        )

    def unanimous(self, voting, c):
        out = np.full((1, len(voting), self.n_classes), np.nan)
        out[0, voting] = self.unseen_score
        out[0, voting, c] = 1.0
        return out


RULES = {rule.name: rule for rule in (PluralityRule, RunoffRule)}


def make_rule(voting, n_classes, shifts=None, *, new_label=False, unseen_score=0.0):
    """The rule object of a ``voting`` string.

    Parameters
    ----------
    voting : {"plurality", "runoff"}
    n_classes : int
    shifts : array-like of int, default=None
        Finite-aggregation shifts (``None`` or ``[0]``: DPA).
    new_label : bool, default=False
        Certify also against a new label (an inferred label set).
    unseen_score : float, default=0.0
        Score a member gives a class it never saw (run-off only).

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._rules import make_rule
    >>> rule = make_rule("plurality", 3)
    >>> rule.output, rule.winner(np.array([[2, 2, 0]])).tolist()
    ('predict', [2])
    >>> rule.max_radius(np.ones(5, dtype=bool))
    2
    """
    return RULES[voting](
        n_classes, shifts, new_label=new_label, unseen_score=unseen_score
    )
