"""The fit plan: what every member is fit on, as a value. Pure: nothing is fit here.

A member is a deterministic function of its training input (rows in
canonical order, the labels it sees, sample-aligned fit parameters) and its
seed. The plan records, per member, that input (as row indices into the
training data), the seed, its kind (``"empty"``: abstains; ``"constant"``: one
class, votes it without a fit; ``"fit"``) and a fingerprint of the whole
input. A warm refit compares fingerprints (:meth:`FitPlan.diff`) and fits only
the members whose input changed.
"""

from dataclasses import dataclass

import numpy as np

from ._fingerprint import member_fingerprint, params_digest

__all__ = ["FitPlan", "MemberTask", "build_plan", "member_seeds", "member_target"]


def member_seeds(base_seed, n_members):
    """Seed of member ``i``: ``i`` when ``base_seed`` is None, else drawn from
    ``(base_seed, i)`` (never from the global RNG).

    Examples
    --------
    >>> from skdpa._plan import member_seeds
    >>> member_seeds(None, 3).tolist()
    [0, 1, 2]
    >>> bool((member_seeds(5, 4) == member_seeds(5, 4)).all())
    True
    """
    if base_seed is None:
        return np.arange(n_members, dtype=np.int64)
    return np.array(
        [
            np.random.SeedSequence([base_seed, i]).generate_state(1)[0]
            for i in range(n_members)
        ],
        dtype=np.int64,
    )


@dataclass(frozen=True, eq=False)
class MemberTask:
    """One member to fit: its index, rows (in order) and seed.

    ``own_rows`` is None when the member sees only its own rows; otherwise the
    member is fit on ``fit_rows`` with the labels outside ``own_rows`` hidden
    as ``-1``.
    """

    index: int
    fit_rows: np.ndarray
    own_rows: np.ndarray
    seed: int

    @property
    def n_rows(self):
        """Rows whose labels the member sees (for messages)."""
        return len(self.fit_rows if self.own_rows is None else self.own_rows)


@dataclass(frozen=True, eq=False)
class FitPlan:
    """Per member: rows, seed, kind, constant class and fingerprint.

    Attributes
    ----------
    partition : Partition
        Which rows each member owns.
    kinds : tuple of str
        ``"empty"``, ``"constant"`` or ``"fit"`` per member.
    seeds : ndarray of int64
    constants : ndarray of int64
        The class index a ``"constant"`` member votes for, else ``-1``.
    fingerprints : tuple of bytes
        Digest of each member's whole training input and seed.
    """

    partition: object
    kinds: tuple
    seeds: np.ndarray
    constants: np.ndarray
    fingerprints: tuple

    @property
    def n_members(self):
        return len(self.kinds)

    @property
    def sizes(self):
        """Rows each member owns (its partition's size)."""
        return np.array([len(r) for r in self.partition.rows], dtype=np.int64)

    def task(self, j):
        """The :class:`MemberTask` of member ``j``."""
        part = self.partition
        own = part.rows[j] if part.hides_labels() else None
        return MemberTask(
            index=j, fit_rows=part.fit_rows(j), own_rows=own, seed=int(self.seeds[j])
        )

    def diff(self, previous):
        """Members whose input changed since a plan with fingerprints ``previous``.

        Parameters
        ----------
        previous : sequence of bytes or None
            The earlier plan's fingerprints; ``None`` (or another number of
            members) means nothing can be reused.

        Returns
        -------
        changed : ndarray of shape (n_members,), dtype bool
            True for every member that must be built again.
        """
        changed = np.ones(self.n_members, dtype=bool)
        if previous is not None and len(previous) == self.n_members:
            for j, (old, new) in enumerate(
                zip(previous, self.fingerprints, strict=True)
            ):
                changed[j] = old != new
        return changed


def member_target(y, fit_rows, own_rows, hidden=-1):
    """The targets a member is fit on: its rows' targets, or (``own_rows``
    given) the targets of ``fit_rows`` with those outside ``own_rows`` written
    as ``hidden`` (``-1`` for class indices, NaN for real-valued targets).

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._plan import member_target
    >>> y = np.array([0, 1, 2, 1])
    >>> member_target(y, np.array([3, 1]), None).tolist()
    [1, 1]
    >>> member_target(y, np.arange(4), np.array([2])).tolist()
    [-1, -1, 2, -1]
    >>> y = np.array([0.5, 1.5])
    >>> member_target(y, np.arange(2), np.array([1]), hidden=np.nan).tolist()
    [nan, 1.5]
    """
    if own_rows is None:
        return y[fit_rows]
    target = np.full(len(fit_rows), hidden, dtype=y.dtype)
    mine = np.isin(fit_rows, own_rows)
    target[mine] = y[fit_rows[mine]]
    return target


def build_plan(
    partition,
    y_enc,
    seeds,
    digests,
    layout,
    params,
    n_samples,
    *,
    hidden=-1,
    constant_members=True,
):
    """The :class:`FitPlan` of a partition. Fits nothing.

    Parameters
    ----------
    partition : Partition
    y_enc : ndarray
        Target of every training row: class indices (int64, ``-1``
        unlabeled) or real values (float64, NaN missing).
    seeds : ndarray of int64
        One per member (:func:`member_seeds`).
    digests, layout :
        Per-row digests of what the members are fit on
        (:func:`skdpa._fingerprint.row_digests`).
    params : dict
        Fit parameters every member receives (sample-aligned ones sliced).
    n_samples : int
    hidden : int or float, default=-1
        How a target a member must not see is written (see
        :func:`member_target`).
    constant_members : bool, default=True
        Whether a member whose rows hold one class is ``"constant"`` (votes it
        without a fit). ``False`` for regression: every non-empty member is
        ``"fit"``.

    Returns
    -------
    plan : FitPlan

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._fingerprint import row_digests
    >>> from skdpa._partition import partition
    >>> from skdpa._plan import build_plan, member_seeds
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array([0, 1, 1, 1])
    >>> part = partition(np.array([0, 0, 1, 2]), np.arange(4), 4)
    >>> plan = build_plan(part, y, member_seeds(None, 4), *row_digests(X), {}, 4)
    >>> plan.kinds, plan.constants.tolist()
    (('fit', 'constant', 'constant', 'empty'), [-1, 1, 1, -1])
    >>> plan.diff(plan.fingerprints).tolist()
    [False, False, False, False]

    Real-valued targets, fingerprinted exactly:

    >>> y = np.array([1.0, 1.5, 2.0, 2.5])
    >>> a = build_plan(part, y, member_seeds(None, 4), *row_digests(X), {}, 4,
    ...                hidden=np.nan, constant_members=False)
    >>> a.kinds
    ('fit', 'fit', 'fit', 'empty')
    >>> y[1] = 1.25
    >>> b = build_plan(part, y, member_seeds(None, 4), *row_digests(X), {}, 4,
    ...                hidden=np.nan, constant_members=False)
    >>> b.diff(a.fingerprints).tolist()
    [True, False, False, False]
    """
    kinds, fingerprints = [], []
    constants = np.full(partition.n_members, -1, dtype=np.int64)
    for j, own in enumerate(partition.rows):
        present = np.unique(y_enc[own]) if constant_members else ()
        kind = "empty" if not len(own) else "constant" if len(present) == 1 else "fit"
        if kind == "constant":
            constants[j] = present[0]
        fit_rows = partition.fit_rows(j)
        own_rows = own if partition.hides_labels() else None
        extra = params_digest(params, fit_rows, n_samples) if params else b""
        fingerprints.append(
            member_fingerprint(
                kind,
                seeds[j],
                digests,
                layout,
                fit_rows,
                member_target(y_enc, fit_rows, own_rows, hidden),
                extra,
            )
        )
        kinds.append(kind)
    return FitPlan(
        partition=partition,
        kinds=tuple(kinds),
        seeds=np.asarray(seeds, dtype=np.int64),
        constants=constants,
        fingerprints=tuple(fingerprints),
    )
