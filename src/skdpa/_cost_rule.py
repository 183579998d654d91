"""The member-aware plurality rule (``cost_aware=True``).

The rule reads, instead of each member's prediction, what it costs to turn
each member (:mod:`skdpa.member_costs`): an array of shape
``(n_samples, n_members, n_classes + new_label + 1)`` in the members' class
order, the new label's column (when the label set is inferred) at index
``n_classes`` and the cost of abstaining last. The certificate is
:func:`skdpa.certify.cost_certify`; ``predict`` and the vote counts are those
of the plurality vote of the members' current outputs (the single 0 of each
member), so nothing but the radius changes.

The new label. :func:`~skdpa.certify.cost_certify` breaks ties to the
smaller column. An attacker's new label may sort before every known class
(its integer code is then 0 and it wins every tie), so the certificate is
computed with the new label's column moved *first*: against the new label a
tie counts as lost, which is the attacker's best case wherever the label
sorts; the known classes keep their order among themselves.
"""

import numpy as np

from . import certify
from ._rules import PluralityRule

__all__ = ["CostRule"]


class CostRule:
    """Plurality vote certified from member costs (see the module docstring).

    Parameters
    ----------
    n_classes : int
        Known classes.
    new_label : bool
        Certify also against a new label (an inferred label set); the member
        costs then carry its column at index ``n_classes``.
    max_radius : int
        No certificate exceeds it: removing (or unlabelling) every training
        sample and adding one of a rival always changes the vote.
    """

    name = "plurality"
    title = "Plurality vote"
    output = "costs"

    def __init__(self, n_classes, *, new_label, max_radius):
        self.n_classes = int(n_classes)
        self.new_label = bool(new_label)
        self.max_cost_radius = int(max_radius)
        self._plain = PluralityRule(n_classes, new_label=new_label)

    @property
    def width(self):
        """Columns of the member costs: classes, new label, abstain."""
        return self.n_classes + self.new_label + 1

    def predictions(self, costs):
        """Each member's current output (class index, -1 abstains)."""
        current = np.argmin(costs, axis=2)
        # the new label is never a current output (no member was fit on it)
        return np.where(current >= self.n_classes, -1, current)

    def winner(self, costs):
        return certify.plurality_winner(self.predictions(costs), self.n_classes)

    def votes(self, costs):
        return certify.count_votes(self.predictions(costs), self.n_classes)

    def _ordered(self, costs):
        """Columns in tie-break order: the new label first (it wins ties)."""
        if not self.new_label:
            return costs
        c = self.n_classes
        return np.concatenate(
            [costs[:, :, c : c + 1], costs[:, :, :c], costs[:, :, c + 1 :]], axis=2
        )

    def certify(self, costs, per_class=False):
        winner = self.winner(costs)
        ordered = self._ordered(costs)
        shift = int(self.new_label)
        n = costs.shape[0]
        # Any change of a member needs one poisoned sample, so the plain
        # targeted radii (one sample per member, which also count the other
        # rivals a class must beat) hold too: each column is the larger of
        # the two bounds, and the radius their smallest rival column.
        _, _, targeted = self._plain.certify(self.predictions(costs), per_class=True)
        for rival in range(self.n_classes + shift):
            # the rival's column in tie-break order (the new label: column 0)
            col = 0 if rival == self.n_classes else rival + shift
            against = self._against(ordered, winner + shift, col)
            targeted[:, rival] = np.maximum(targeted[:, rival], against)
        targeted = np.minimum(targeted, self.max_cost_radius)
        targeted[np.arange(n), winner] = -1
        rivals = np.where(targeted < 0, np.iinfo(np.int64).max, targeted)
        radius = rivals.min(axis=1)
        if not per_class:
            return winner, radius
        return winner, radius, targeted

    def _against(self, ordered, win_col, rival_col):
        """Largest budget that cannot make ``rival_col`` overtake the winner.

        The problem reduced to three outputs: the two classes (in tie-break
        order) and "anything else" (other classes or abstaining, at the
        cheapest of those costs); :func:`cost_certify` then has one rival and
        returns that rival's radius. It is a lower bound on the budget that
        makes the rival win (winning needs overtaking the winner).
        """
        n, m, width = ordered.shape
        rows = np.arange(n)
        lo = np.minimum(win_col, rival_col)
        hi = np.maximum(win_col, rival_col)
        take_lo = np.take_along_axis(ordered, lo[:, None, None].repeat(m, 1), axis=2)
        take_hi = np.take_along_axis(ordered, hi[:, None, None].repeat(m, 1), axis=2)
        others = ordered.copy()
        others[rows, :, lo] = np.inf
        others[rows, :, hi] = np.inf
        reduced = np.concatenate([take_lo, take_hi, others.min(axis=2)[..., None]], 2)
        del others
        out = np.zeros(n, dtype=np.int64)
        same = lo == hi  # the rival is the winner (-1 is set by the caller)
        if (~same).any():
            reduced_winner, radius = certify.cost_certify(reduced[~same])
            expected = (win_col > rival_col).astype(np.int64)[~same]
            out[~same] = np.where(reduced_winner == expected, radius, 0)
        return np.minimum(out, self.max_cost_radius)
