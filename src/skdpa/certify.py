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
    >>> from skdpa.certify import plurality_vote
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


# --- TEMP (lead): placeholders until the certify branch lands -----------------


def count_votes(choices, n_classes):
    choices = np.asarray(choices)
    votes = np.zeros((choices.shape[0], n_classes), dtype=np.int64)
    for c in range(n_classes):
        votes[:, c] = (choices == c).sum(axis=1)
    return votes


def top_choices(scores):
    scores = np.asarray(scores, dtype=np.float64)
    abstain = np.isnan(scores).all(axis=2)
    top = np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=2)
    return np.where(abstain, -1, top)


def plurality_winner(member_predictions, n_classes):
    return np.argmax(count_votes(member_predictions, n_classes), axis=1)


def plurality_certify(member_predictions, n_classes, shifts=None, per_class=False):
    preds = np.asarray(member_predictions)
    n, m = preds.shape
    shifts = np.zeros(1, dtype=np.int64) if shifts is None else np.asarray(shifts)
    d = len(shifts)
    votes = count_votes(preds, n_classes)
    winner = np.argmax(votes, axis=1)
    rows = np.arange(n)
    radius = np.full(n, np.iinfo(np.int64).max)
    targeted = np.full((n, n_classes), -1, dtype=np.int64)
    is_y = preds == winner[:, None]
    for c in range(n_classes):
        gap = votes[rows, winner] - votes[:, c] - (c < winner)
        effect = 1 + is_y.astype(np.int64) - (preds == c)
        per_bucket = sum(np.roll(effect, -s, axis=1) for s in shifts)
        per_bucket = -np.sort(-per_bucket, axis=1)
        csum = np.cumsum(per_bucket, axis=1)
        r = (csum <= gap[:, None]).sum(axis=1)
        targeted[:, c] = np.where(winner == c, -1, r)
        r = np.where(winner == c, radius, r)
        radius = np.minimum(radius, r)
    del d, m
    if per_class:
        return winner, radius, targeted
    return winner, radius


def runoff_winner(member_scores):
    top = top_choices(member_scores)
    scores = np.asarray(member_scores)
    n_classes = scores.shape[2]
    votes = count_votes(top, n_classes)
    order = np.argsort(-votes, axis=1, kind="stable")
    a, b = order[:, 0], order[:, 1] if n_classes > 1 else order[:, 0]
    rows = np.arange(len(a))
    sa = scores[rows, :, a]
    sb = scores[rows, :, b]
    prefer_a = (sa > sb) | ((sa == sb) & (a < b)[:, None])
    voting = ~np.isnan(scores).all(axis=2)
    margin = (prefer_a & voting).sum(1) - ((~prefer_a) & voting).sum(1)
    return np.where((margin > 0) | ((margin == 0) & (a < b)), a, b)


def runoff_certify(member_scores, shifts=None, per_class=False):
    winner = runoff_winner(member_scores)
    radius = np.zeros(len(winner), dtype=np.int64)
    if per_class:
        n_classes = np.asarray(member_scores).shape[2]
        targeted = np.zeros((len(winner), n_classes), dtype=np.int64)
        targeted[np.arange(len(winner)), winner] = -1
        return winner, radius, targeted
    return winner, radius
