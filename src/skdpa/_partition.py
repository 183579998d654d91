"""Partitioners: which training rows each ensemble member is fit on.

Pure functions of per-row values (a content hash, a rank among the distinct
samples) and the ensemble's shape; nothing here looks at labels or at the rest
of the data set beyond the values passed in. Both the fit and
``estimators_samples_`` come from here, so they cannot disagree.

Finite aggregation (Wang, Levine & Feizi, ICML 2022) generalises DPA: rows are
hashed into ``n_members = k * spread`` buckets, and a row in bucket ``b`` trains
the members ``(b + s) mod n_members`` for every ``s`` in ``shifts``, so member
``j`` is fit on the buckets ``(j - s) mod n_members``. ``spread=1`` has the single
shift ``0``: one bucket per member, the paper's DPA.

A partitioner's result is a :class:`Partition` value: the rows each member
owns (trains on, or may see the labels of), the shifts, and for members fit on
every row with the other labels hidden (SS-DPA with unlabeled data) the shared
row order.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Partition", "member_rows", "partition", "spread_shifts"]


@dataclass(frozen=True, eq=False)
class Partition:
    """Which training rows each member owns, as data.

    Attributes
    ----------
    rows : list of ndarray of int64
        Member ``j``'s own rows, in canonical order: the rows it is fit on,
        or (with ``shared_rows``) the rows whose labels it may see.
    shifts : ndarray of int64
        A row in bucket ``b`` trains members ``(b + s) mod n_members``.
    shared_rows : ndarray of int64 or None
        When set, every member is fit on these rows in this order, with the
        labels of rows outside its own hidden.
    owners : ndarray of int64 or None
        With ``shared_rows``: the partition of every training row, labeled
        or not (a label given to an unlabeled row joins that partition).
    """

    rows: list
    shifts: np.ndarray
    shared_rows: np.ndarray = None
    owners: np.ndarray = None

    @property
    def n_members(self):
        return len(self.rows)

    def fit_rows(self, j):
        """Rows member ``j`` is fit on, in order."""
        return self.rows[j] if self.shared_rows is None else self.shared_rows

    def hides_labels(self):
        """Whether members see rows whose labels they must not see."""
        return self.shared_rows is not None


def partition(bucket, order, n_members, shifts=None, shared_rows=None, owners=None):
    """The :class:`Partition` of rows placed by ``bucket`` (see :func:`member_rows`).

    Parameters
    ----------
    bucket : ndarray of int
        Bucket of each row in ``[0, n_members)``.
    order : ndarray of int
        The rows to place (the labeled ones), in canonical order.
    n_members : int
    shifts : ndarray of int, default=None
        ``None``: ``[0]`` (one bucket per member).
    shared_rows : ndarray of int, default=None
        See :class:`Partition`.
    owners : ndarray of int, default=None
        With ``shared_rows``: the partition of every row, labeled or not.

    Returns
    -------
    partition : Partition

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._partition import partition
    >>> p = partition(np.array([1, 0, 1]), np.arange(3), 2)
    >>> [r.tolist() for r in p.rows], p.n_members, p.hides_labels()
    ([[1], [0, 2]], 2, False)
    """
    shifts = np.zeros(1, dtype=np.int64) if shifts is None else np.asarray(shifts)
    rows = member_rows(bucket, order, n_members, shifts)
    if shared_rows is not None:
        shared_rows = np.asarray(shared_rows, dtype=np.int64)
        if owners is not None:
            owners = np.asarray(owners, dtype=np.int64)
    return Partition(
        rows=rows,
        shifts=shifts.astype(np.int64),
        shared_rows=shared_rows,
        owners=owners if shared_rows is not None else None,
    )


# Fixed entropy for the shift draw: shifts are part of the model's definition,
# so they depend on (k, spread) only, never on random_state or on the data.
_SHIFT_ENTROPY = 0x5D1FA


def spread_shifts(k, spread):
    """The ``spread`` distinct shifts of a finite-aggregation ensemble.

    ``0`` plus ``spread - 1`` distinct values drawn from ``1 .. k*spread - 1`` by a
    generator seeded with ``(k, spread)`` alone, as the reference code draws a
    random set after a fixed seed. Sorted; ``[0]`` when ``spread == 1``.

    Parameters
    ----------
    k : int
        Number of partitions (each member sees about ``n / k`` rows).
    spread : int
        Number of members each row trains (the paper's ``d``).

    Returns
    -------
    shifts : ndarray of shape (spread,), dtype int64

    Examples
    --------
    >>> from skdpa._partition import spread_shifts
    >>> spread_shifts(50, 1)
    array([0])
    >>> s = spread_shifts(50, 4)
    >>> len(set(s.tolist())), int(s[0]), bool(s.max() < 200)
    (4, 0, True)
    """
    n_members = k * spread
    if spread == 1:
        return np.zeros(1, dtype=np.int64)
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([_SHIFT_ENTROPY, k, spread]))
    )
    others = rng.choice(n_members - 1, size=spread - 1, replace=False) + 1
    return np.sort(np.concatenate(([0], others))).astype(np.int64)


def member_rows(bucket, order, n_members, shifts):
    """Rows of every member, each list in the canonical order ``order``.

    Parameters
    ----------
    bucket : ndarray of shape (n_samples,), int
        Bucket of each row in ``[0, n_members)``; rows not in ``order`` are
        ignored.
    order : ndarray of int
        The rows to place, in canonical order.
    n_members : int
        Number of members (= number of buckets).
    shifts : ndarray of int
        A row in bucket ``b`` trains members ``(b + s) mod n_members``.

    Returns
    -------
    rows : list of n_members ndarrays of int64
        Member ``j``'s rows: those in buckets ``(j - s) mod n_members``, in the
        order they have in ``order``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._partition import member_rows
    >>> bucket = np.array([0, 1, 2, 0])
    >>> [r.tolist() for r in member_rows(bucket, np.arange(4), 3, np.array([0]))]
    [[0, 3], [1], [2]]
    >>> [r.tolist() for r in member_rows(bucket, np.arange(4), 3, np.array([0, 1]))]
    [[0, 2, 3], [0, 1, 3], [1, 2]]
    """
    order = np.asarray(order, dtype=np.int64)
    shifts = np.asarray(shifts, dtype=np.int64)
    placed = np.asarray(bucket, dtype=np.int64)[order]
    member = ((placed[None, :] + shifts[:, None]) % n_members).ravel()
    rows = np.tile(order, len(shifts))
    # A stable sort by member keeps, within each member, the canonical order:
    # each shift's block lists the rows in that order, and a row reaches a
    # member through one shift only (the shifts are distinct modulo n_members).
    position = np.tile(np.arange(len(order)), len(shifts))
    sort = np.lexsort((position, member))
    member, rows = member[sort], rows[sort]
    bounds = np.searchsorted(member, np.arange(n_members + 1))
    return [rows[bounds[j] : bounds[j + 1]] for j in range(n_members)]
