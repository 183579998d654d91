"""Certificate maths: vote counts -> prediction and certified radius.

Pure NumPy, no estimator state. Both :class:`~skdpa.DPAClassifier` and
:class:`~skdpa.SSDPAClassifier` call these functions, and so can users who stored
vote counts. The formula is Theorem 1 (and 2) of Levine & Feizi (ICLR 2021)::

    c      = argmax_c n_c                       (ties -> smaller class index)
    radius = floor((n_c - max_{c' != c} (n_c' + [c' < c])) / 2)
"""

import numpy as np

__all__ = ["certified_radius", "plurality_vote"]


def _check_votes(votes):
    votes = np.asarray(votes)
    if votes.ndim != 2:
        raise ValueError(
            "votes must be a 2-D array of shape (n_samples, n_classes); "
            f"got an array with ndim={votes.ndim}."
        )
    if votes.shape[1] == 0:
        raise ValueError("votes must have at least one class column; got 0.")
    if votes.dtype.kind not in "iu":
        if votes.dtype.kind == "f" and np.all(np.isfinite(votes)):
            if not np.all(votes == np.round(votes)):
                raise ValueError("votes must be whole numbers (counts of members).")
        elif votes.dtype.kind != "b":
            raise ValueError(
                f"votes must be integer counts; got an array of dtype {votes.dtype}."
            )
    votes = votes.astype(np.int64, copy=False)
    if votes.size and votes.min() < 0:
        raise ValueError(
            f"votes must be non-negative counts; got a minimum of {votes.min()}."
        )
    return votes


def plurality_vote(votes):
    """Index of the winning class for each row, ties going to the smaller index.

    Parameters
    ----------
    votes : array-like of shape (n_samples, n_classes)
        Number of ensemble members voting for each class.

    Returns
    -------
    y_pred : ndarray of shape (n_samples,)
        Column index of the plurality class (``np.argmax`` returns the first
        maximum, which is the paper's tie-break).

    Examples
    --------
    >>> from skdpa._certify import plurality_vote
    >>> plurality_vote([[3, 3, 1], [0, 1, 2]])
    array([0, 2])
    """
    votes = _check_votes(votes)
    return np.argmax(votes, axis=1)


def certified_radius(votes):
    """Certified radius of the plurality vote (Levine & Feizi, Theorems 1 and 2).

    For vote counts ``n`` with winner ``c = argmax n`` (smallest index on ties),
    ``radius = floor((n_c - max_{c' != c}(n_c' + [c' < c])) / 2)``: changing the
    output of at most ``radius`` members cannot change the winner. With
    :class:`~skdpa.DPAClassifier` a member changes only when its partition does,
    so the radius counts training samples inserted or removed; with
    :class:`~skdpa.SSDPAClassifier` it counts label flips.

    Parameters
    ----------
    votes : array-like of shape (n_samples, n_classes)
        Non-negative integer vote counts, columns in class-index order (the
        order of ``classes_``).

    Returns
    -------
    radius : ndarray of shape (n_samples,), dtype int64
        Non-negative certified radius, at most ``votes.sum(axis=1) // 2``. With a
        single class column the runner-up is taken to have no votes.

    Examples
    --------
    >>> from skdpa import certified_radius
    >>> certified_radius([[7, 2, 1], [3, 5, 0], [4, 4, 0]])
    array([2, 0, 0])

    The second row: class 1 wins 5-3 but class 0 would win a tie, so the gap
    that counts is ``5 - (3 + 1) = 1`` and the radius is ``floor(1 / 2) = 0``.
    """
    votes = _check_votes(votes)
    n_samples, n_classes = votes.shape
    rows = np.arange(n_samples)
    winner = np.argmax(votes, axis=1)
    top = votes[rows, winner]
    if n_classes == 1:
        return top // 2
    # Each rival c' needs n_c' + [c' < c] votes to beat c; the winner itself is
    # excluded by pushing its own entry below any count.
    rivals = votes + (np.arange(n_classes)[None, :] < winner[:, None])
    rivals[rows, winner] = -1
    runner_up = rivals.max(axis=1)
    # top >= runner_up always (argmax, and the tie-break bonus only goes to
    # smaller indices, which the argmax already beat strictly), so the floor
    # division of a non-negative number is the paper's floor.
    return (top - runner_up) // 2
