"""Certificate maths: members' outputs -> winner and certified radius.

Pure NumPy, no estimator state. The estimators call these functions, and so can
users who stored their members' outputs (for example the ``[N, k, C]`` logits the
paper's scripts save) and want a certificate without refitting.

Two aggregation rules and two partition schemes:

- **plurality** (:func:`plurality_certify`): each member votes its predicted
  class; the class with most votes wins.
- **run-off** (:func:`runoff_certify`, Rezaei et al., ICML 2023): round 1 is the
  plurality of each member's top class; the two classes with most votes go to
  round 2, which the one that more members prefer wins.
- **DPA** (``shifts=None``, Levine & Feizi, ICLR 2021): member ``j`` trains on
  bucket ``j`` alone.
- **Finite aggregation** (``shifts`` = d distinct offsets, Wang, Levine & Feizi,
  ICML 2022): a training sample in bucket ``b`` trains members ``(b + s) mod M``
  for every offset ``s``; ``M = n_members = k * d``.

Conventions shared by every function:

- A member *abstains* (an empty partition) where its prediction is ``-1`` or its
  whole score vector is NaN. It has no vote now and may vote for anything once
  its partition is poisoned.
- A member prefers class ``a`` to class ``b`` iff ``s[a] > s[b]``, or
  ``s[a] == s[b]`` and ``a < b``. Its round-1 vote is its most preferred class.
  Every tie (vote counts, finalists, round 2) goes to the smaller class index.
- A radius counts poisoned *buckets*: one inserted, removed or relabelled
  training sample changes one bucket, so a radius ``r`` means that no attack
  touching at most ``r`` training samples changes the winner. It is at least
  0 and a lower bound on the true radius: equal to it for the plurality vote
  under DPA (Theorem 1), and proven sound, not exact, otherwise.

The derivations are in the documentation (Theory: certificates of the vote
rules).
"""

from numbers import Integral

import numpy as np

__all__ = [
    "certified_radius",
    "cost_certify",
    "count_votes",
    "first_choices",
    "median_interval",
    "median_prediction",
    "median_radius",
    "plurality_certify",
    "plurality_vote",
    "plurality_winner",
    "runoff_certify",
    "runoff_winner",
]

# Rough bound, in bytes, on the working arrays of one chunk of rows together;
# the members' outputs themselves are read chunk by chunk, never copied whole.
_WORK_BYTES = 1 << 23
# the most classes whose vote counts (int64, plus abstentions) fit one row
# of the work budget
_MAX_CLASSES = _WORK_BYTES // 8 - 1

# ---------------------------------------------------------------------------
# Theorem 1 on stored vote counts


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
    if votes.dtype.kind == "u" and votes.size and votes.max() >= 2**63:
        raise ValueError(
            f"votes must be below 2**63; got a maximum of {votes.max()} (counts "
            "of members are far smaller: is this the right array?)."
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

    See Also
    --------
    plurality_winner : The same winner, from the members' predictions.

    Examples
    --------
    >>> from skdpa.certify import plurality_vote
    >>> plurality_vote([[3, 3, 1], [0, 1, 2]])
    array([0, 2])
    """
    votes = _check_votes(votes)
    return np.argmax(votes, axis=1)


def _theorem1(votes):
    """Theorem 1 on validated int64 vote counts (see `certified_radius`)."""
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


def certified_radius(votes, *, new_label=False):
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
    new_label : bool, default=False
        Also certify against a label outside these columns, which an attacker
        may introduce with inserted or relabelled samples: a rival with no
        votes that sorts first and wins every tie. The estimators do this when
        ``classes`` is not given (``certificate_.label_set == "inferred"``);
        pass ``new_label=True`` to reproduce their ``predict_certified`` from
        ``vote_counts``.

    Returns
    -------
    radius : ndarray of shape (n_samples,), dtype int64
        Non-negative certified radius, at most ``votes.sum(axis=1) // 2``. With a
        single class column the runner-up is taken to have no votes.

    See Also
    --------
    plurality_certify : The same radius from the members' predictions, for
        finite aggregation as well, and per-class certificates.

    Examples
    --------
    >>> from skdpa import certified_radius
    >>> certified_radius([[7, 2, 1], [3, 5, 0], [4, 4, 0]])
    array([2, 0, 0])

    The second row: class 1 wins 5-3 but class 0 would win a tie, so the gap
    that counts is ``5 - (3 + 1) = 1`` and the radius is ``floor(1 / 2) = 0``.
    A new label that wins ties can only bind where no other class has votes:

    >>> certified_radius([[6, 0]]), certified_radius([[6, 0]], new_label=True)
    (array([3]), array([2]))
    """
    votes = _check_votes(votes)
    if new_label:
        votes = np.concatenate([np.zeros((len(votes), 1), np.int64), votes], axis=1)
    return _theorem1(votes)


# ---------------------------------------------------------------------------
# Validation of members' outputs


def _check_n_classes(n_classes):
    if (
        isinstance(n_classes, bool)
        or not isinstance(n_classes, Integral)
        or n_classes < 1
    ):
        raise ValueError(f"n_classes must be an integer >= 1; got {n_classes!r}.")
    if n_classes > _MAX_CLASSES:
        raise ValueError(
            f"n_classes must be at most {_MAX_CLASSES} (one row's vote counts "
            f"within the {_WORK_BYTES >> 20} MiB work budget); got {n_classes}."
        )
    return int(n_classes)


def _check_per_class(per_class):
    if not isinstance(per_class, bool | np.bool_):
        raise ValueError(
            f"per_class must be a bool; got {type(per_class).__name__} {per_class!r}."
        )
    return bool(per_class)


def _check_member_predictions(member_predictions, n_classes):
    pred = np.asarray(member_predictions)
    if pred.ndim != 2:
        raise ValueError(
            "member_predictions must be a 2-D array of shape (n_samples, "
            f"n_members); got an array with ndim={pred.ndim}."
        )
    if pred.shape[1] == 0:
        raise ValueError("member_predictions must have at least one member; got 0.")
    if pred.dtype.kind not in "iu":
        raise ValueError(
            "member_predictions must hold integer class indices (-1: the member "
            f"abstains); got an array of dtype {pred.dtype}."
        )
    if pred.size:
        low, high = pred.min(), pred.max()
        if low < -1 or high >= n_classes:
            raise ValueError(
                f"member_predictions must lie in [-1, n_classes) = [-1, {n_classes})"
                f" (-1: the member abstains); got values from {low} to {high}."
            )
    return pred


def _check_member_scores(member_scores):
    scores = np.asarray(member_scores)
    if scores.ndim != 3:
        raise ValueError(
            "member_scores must be a 3-D array of shape (n_samples, n_members, "
            f"n_classes); got an array with ndim={scores.ndim}."
        )
    if scores.shape[1] == 0:
        raise ValueError("member_scores must have at least one member; got 0.")
    if scores.shape[2] == 0:
        raise ValueError("member_scores must have at least one class; got 0.")
    if scores.dtype.kind not in "fiu":
        raise ValueError(
            f"member_scores must hold real numbers; got an array of dtype "
            f"{scores.dtype}."
        )
    return scores


def _check_shifts(shifts, n_members):
    if shifts is None:
        return np.zeros(1, dtype=np.intp)
    arr = np.asarray(shifts)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            "shifts must be a non-empty 1-D sequence of integers; got an array of "
            f"shape {arr.shape}."
        )
    if arr.dtype.kind not in "iu":
        raise ValueError(f"shifts must be integers; got an array of dtype {arr.dtype}.")
    low, high = arr.min(), arr.max()
    if low < 0 or high >= n_members:
        raise ValueError(
            f"shifts must lie in [0, n_members) = [0, {n_members}); got values "
            f"from {low} to {high}."
        )
    unique, counts = np.unique(arr, return_counts=True)
    if unique.size != arr.size:
        raise ValueError(
            f"shifts must be distinct; got {unique[counts > 1].tolist()} more "
            "than once."
        )
    if n_members % arr.size:
        raise ValueError(
            "n_members must be a multiple of len(shifts) (n_members = k * d "
            f"members for d shifts); got n_members={n_members} and "
            f"{arr.size} shifts."
        )
    return arr.astype(np.intp)


def _row_chunks(n_samples, bytes_per_row):
    step = max(1, _WORK_BYTES // max(1, int(bytes_per_row)))
    for start in range(0, n_samples, step):
        yield slice(start, min(start + step, n_samples))


def _abstentions(scores, offset):
    """Members whose whole score vector is NaN; a partial NaN row is an error."""
    if scores.dtype.kind != "f":
        return np.zeros(scores.shape[:2], dtype=bool)
    any_nan = np.isnan(scores).any(axis=2)
    if not any_nan.any():
        return any_nan
    nan = np.isnan(scores)
    abstain = nan.all(axis=2)
    partial = any_nan & ~abstain
    if partial.any():
        i, j = np.argwhere(partial)[0]
        raise ValueError(
            "member_scores must be all NaN (the member abstains) or free of NaN "
            f"for each sample and member; member {j} of sample {offset + i} has "
            f"{int(nan[i, j].sum())} NaN among {scores.shape[2]} scores."
        )
    return abstain


# ---------------------------------------------------------------------------
# Elections


def _counts(labels, n_values):
    """Row-wise counts of ``labels`` (ints in [0, n_values)), shape (n, n_values)."""
    n = labels.shape[0]
    flat = labels + n_values * np.arange(n)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n * n_values)
    return counts.reshape(n, n_values)


def _top_two(counts):
    """Round-1 order's first two classes (ties to the smaller index)."""
    rows = np.arange(counts.shape[0])
    first = np.argmax(counts, axis=1)
    rest = counts.copy()
    rest[rows, first] = -1
    return first, np.argmax(rest, axis=1)


def _pad_scores(scores, abstain):
    """A second, never preferred class when there is one (see `runoff_certify`)."""
    pad = np.where(abstain, np.nan, -np.inf)[..., None]
    return np.concatenate([scores.astype(np.float64, copy=False), pad], axis=2)


def _score_of(scores, cls):
    """``scores[i, j, cls[i]]`` for every sample i and member j."""
    return np.take_along_axis(scores, cls[:, None, None], axis=2)[..., 0]


def _prefers(scores, a, b):
    """(n, M) bool: member j prefers ``a[i]`` to ``b[i]`` (NaN compares False)."""
    sa, sb = _score_of(scores, a), _score_of(scores, b)
    return (sa > sb) | ((sa == sb) & (a < b)[:, None])


class _Ballots:
    """Round-1 votes and the run-off winner of a chunk of member scores."""

    def __init__(self, scores, offset):
        abstain = _abstentions(scores, offset)
        if scores.shape[2] == 1:
            scores = _pad_scores(scores, abstain)
        self.scores = scores
        self.abstain = abstain
        n, n_members, n_classes = scores.shape
        self.n_members, self.n_classes = n_members, n_classes
        # np.argmax keeps the first maximum: the smaller index wins score ties.
        if abstain.any():
            top = np.argmax(np.where(abstain[..., None], 0, scores), axis=2)
            top[abstain] = n_classes  # the abstention column
        else:
            top = np.argmax(scores, axis=2)
        self.top = top
        counts = _counts(top, n_classes + 1)
        self.votes = counts[:, :n_classes]
        self.n_abstain = counts[:, n_classes]
        self.n_voting = n_members - self.n_abstain
        m1, m2 = _top_two(self.votes)
        first = (_prefers(scores, m1, m2) & ~abstain).sum(axis=1)
        second = self.n_voting - first
        m1_wins = (first > second) | ((first == second) & (m1 < m2))
        self.winner = np.where(m1_wins, m1, m2)
        self.finalist = np.where(m1_wins, m2, m1)


# ---------------------------------------------------------------------------
# Bucket effects: how far poisoning t buckets can move one linear quantity


def _buckets_needed(hist, need, never):
    """Fewest buckets whose largest effects sum to at least ``need``.

    ``hist[i, v]`` is the number of buckets whose effect (the most that
    poisoning that bucket alone can lower the quantity by) is ``v``. ``need`` is
    (n,) or (n, K). Returns ints of ``need``'s shape: 0 where ``need <= 0``,
    ``never`` where all buckets together fall short. Taking the largest effects
    first is optimal for a sum, and the sum of the chosen buckets' effects
    bounds what poisoning them together can do (members fed by two chosen
    buckets are counted twice), so no attack on fewer buckets reaches ``need``.
    """
    n, n_values = hist.shape
    if n == 0 or np.size(need) == 0:
        return np.zeros(np.shape(need), dtype=np.int64)
    need2 = np.asarray(need, dtype=np.int64).reshape(n, -1)
    values = np.arange(n_values)
    # Tails, one column per effect v = 0..n_values (the last: no bucket).
    count_ge = np.zeros((n, n_values + 1), dtype=np.int64)
    total_ge = np.zeros((n, n_values + 1), dtype=np.int64)
    count_ge[:, :n_values] = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]
    total_ge[:, :n_values] = np.cumsum((hist * values)[:, ::-1], axis=1)[:, ::-1]
    # The smallest effect the greedy takes: the largest v >= 1 whose tail sum
    # still reaches need (tails shrink as v grows, so count them). Blocks of
    # columns bound the (n, K, n_values) comparison.
    level = np.empty(need2.shape, dtype=np.int64)
    block = max(1, _WORK_BYTES // max(1, n * n_values))
    for start in range(0, need2.shape[1], block):
        cols = slice(start, start + block)
        level[:, cols] = (total_ge[:, None, 1:n_values] >= need2[:, cols, None]).sum(
            axis=2
        )
    rows = np.arange(n)[:, None]
    above = level + 1
    short = need2 - total_ge[rows, above]  # > 0: covered by effect-`level` buckets
    taken = count_ge[rows, above] - (-short // np.maximum(level, 1))
    taken = np.where(level == 0, never, taken)
    taken = np.where(need2 <= 0, 0, taken)
    return taken.reshape(np.shape(need))


def _bucket_sums(channels, shifts):
    """``out[..., b] = sum over s of channels[..., (b + s) mod M]``.

    ``channels[..., j]`` is a 0/1 indicator about member j; ``out[..., b]`` counts
    the members that bucket b feeds (members ``(b + s) mod M``).
    """
    n_members = channels.shape[-1]
    dtype = np.int8 if len(shifts) < 2**7 else np.int32
    channels = channels.astype(dtype, copy=False)
    out = np.zeros(channels.shape, dtype=dtype)
    for s in shifts:
        out[..., : n_members - s] += channels[..., s:]
        out[..., n_members - s :] += channels[..., :s]
    return out


class _MemberEffects:
    """Bucket effects when every bucket feeds one member (d = 1).

    Every effect below is a member's largest possible move of a quantity, and
    depends only on which of a few groups the member falls in, so the histograms
    come from group counts without looking at members one by one.

    ``votes`` (n, C) counts round-1 votes, ``n_abstain`` (n,) abstentions; for the
    run-off, ``prefer`` (n, C) counts voting members that prefer the winner to c
    and ``finalist_prefer`` (n, C) those among them whose top class is the other
    finalist.
    """

    def __init__(self, n_members, votes, n_abstain, prefer=None, finalist_prefer=None):
        self.n_members = n_members
        self.votes = votes
        self.n_abstain = n_abstain
        self.prefer = prefer
        self.finalist_prefer = finalist_prefer

    def _hist(self, n_values, groups):
        n = len(groups[0][1])
        hist = np.zeros((n, n_values), dtype=np.int64)
        rest = np.full(n, self.n_members, dtype=np.int64)
        for value, size in groups:
            hist[:, value] += size
            rest -= size
        hist[:, 1] += rest  # the remaining members all have effect 1 here
        return hist

    def overtake(self, rows, a, b):
        # b gains on a: a-voters 2 (a -> b), b-voters 0, everyone else 1.
        v = self.votes
        return self._hist(3, [(2, v[rows, a]), (0, v[rows, b])])

    def overtake_pair(self, rows, p, c1, c2):
        # c1 and c2 together gain on p: p-voters 3, c1/c2-voters 0, others 1.
        v = self.votes
        return self._hist(4, [(3, v[rows, p]), (0, v[rows, c1] + v[rows, c2])])

    def overtake_pair_bound(self, rows, p):
        # overtake_pair for every pair at once, with c1/c2-voters counted as 1.
        return self._hist(4, [(3, self.votes[rows, p])])

    def final(self, rows, c):
        # c gains on the winner in round 2: members preferring the winner 2,
        # abstaining members 1 (they may start voting), the rest 0.
        prefer = self.prefer[rows, c]
        hist = np.zeros((len(rows), 3), dtype=np.int64)
        hist[:, 2] = prefer
        hist[:, 1] = self.n_abstain[rows]
        hist[:, 0] = self.n_members - prefer - self.n_abstain[rows]
        return hist

    def final_and_overtake(self, rows, q, c):
        # overtake(q, c) + final(c) for one member: top q and prefers the winner
        # to c: 2 + 2; top q otherwise: 2; abstains: 1 + 1; top c: 0; any other
        # top and prefers the winner to c: 1 + 2; otherwise 1.
        v = self.votes
        both = self.finalist_prefer[rows, c]
        other_prefer = self.prefer[rows, c] - both
        return self._hist(
            5,
            [
                (4, both),
                (2, v[rows, q] - both + self.n_abstain[rows]),
                (3, other_prefer),
                (0, v[rows, c]),
            ],
        )


class _BucketEffects:
    """Bucket effects for finite aggregation (d shifts), from bucket sums.

    ``sums[i, x, b]`` counts, among the d members bucket b feeds, those with
    indicator x: channels ``0..C-1`` = top class, ``C`` = abstains, and (run-off)
    ``C+1+c`` = prefers the winner to class c. A bucket's effect is the sum of
    its members' effects (members fed by one bucket can all change together).
    """

    def __init__(self, sums, n_shifts, n_classes):
        self.sums = sums
        self.d = n_shifts
        self.n_classes = n_classes

    def _hist(self, rows, constant, terms, n_values):
        """Histogram of ``constant * d + sum(coef * sums[rows, channel])``."""
        n, n_members = len(rows), self.sums.shape[2]
        # Row offsets folded in, so one bincount gives every row's histogram.
        flat = np.empty((n, n_members), dtype=np.intp)
        flat[:] = (n_values * np.arange(n) + constant * self.d)[:, None]
        for coef, channel in terms:
            values = self.sums[rows, channel]
            for _ in range(abs(coef)):
                if coef > 0:
                    flat += values
                else:
                    flat -= values
        counts = np.bincount(flat.ravel(), minlength=n * n_values)
        return counts.reshape(n, n_values)

    def overtake(self, rows, a, b):
        return self._hist(rows, 1, [(1, a), (-1, b)], 2 * self.d + 1)

    def overtake_pair(self, rows, p, c1, c2):
        return self._hist(rows, 1, [(2, p), (-1, c1), (-1, c2)], 3 * self.d + 1)

    def overtake_pair_bound(self, rows, p):
        return self._hist(rows, 1, [(2, p)], 3 * self.d + 1)

    def final(self, rows, c):
        n_classes = self.n_classes
        terms = [(2, n_classes + 1 + c), (1, n_classes)]
        return self._hist(rows, 0, terms, 2 * self.d + 1)

    def final_and_overtake(self, rows, q, c):
        n_classes = self.n_classes
        terms = [(1, q), (-1, c), (2, n_classes + 1 + c), (1, n_classes)]
        return self._hist(rows, 1, terms, 4 * self.d + 1)


def _one_hot(labels, n_values):
    """(n, n_values, M) int8 indicators of ``labels`` (n, M)."""
    return (labels[:, None, :] == np.arange(n_values)[None, :, None]).astype(np.int8)


# ---------------------------------------------------------------------------
# Plurality


def plurality_winner(member_predictions, n_classes):
    """Plurality winner of the members' predictions (ties to the smaller index).

    Parameters
    ----------
    member_predictions : array-like of int, shape (n_samples, n_members)
        Class index in ``[0, n_classes)`` predicted by each member, or ``-1``
        where the member abstains (it has no vote).
    n_classes : int
        Number of classes.

    Returns
    -------
    winner : ndarray of shape (n_samples,), dtype int64
        Index of the class with most votes; where several tie (or every member
        abstains), the smallest of them.

    See Also
    --------
    plurality_certify : The winner and its certified radius.

    Examples
    --------
    >>> from skdpa.certify import plurality_winner
    >>> plurality_winner([[0, 2, 2, -1], [1, 0, -1, -1]], n_classes=3)
    array([2, 0])
    """
    n_classes = _check_n_classes(n_classes)
    pred = _check_member_predictions(member_predictions, n_classes)
    winner = np.empty(pred.shape[0], dtype=np.int64)
    # three int64 copies of a row's predictions at once (cast, +1, flat index)
    for rows in _row_chunks(pred.shape[0], 24 * (pred.shape[1] + n_classes + 1)):
        votes = _counts(pred[rows].astype(np.intp) + 1, n_classes + 1)[:, 1:]
        winner[rows] = np.argmax(votes, axis=1)
    return winner


def _plurality_targeted_dpa(votes, n_members):
    """Exact per-class certificates of the plurality vote when d = 1.

    Class c needs t changed members (each then votes c) to win iff the members
    it must take from the other classes fit in t:
    ``F(t) = sum_e max(0, N_e + [e < c] - N_c - t) <= t``; F falls as t grows,
    so the least such t is found by bisection in ``[1, M - N_c]``.
    """
    n, n_classes = votes.shape
    winner = np.argmax(votes, axis=1)
    idx = np.arange(n_classes)
    # base[i, c, e] = N_e + [e < c] - N_c: e's lead that c must erase.
    base = votes[:, None, :] + (idx[None, :] < idx[:, None])[None] - votes[:, :, None]
    base[:, idx, idx] = np.iinfo(np.int64).min // 4  # e == c is no rival
    low = np.ones((n, n_classes), dtype=np.int64)
    high = np.maximum(n_members - votes, 1)
    while True:
        open_ = low < high
        if not open_.any():
            break
        mid = (low + high) // 2
        fits = np.maximum(base - mid[..., None], 0).sum(axis=2) <= mid
        high = np.where(open_ & fits, mid, high)
        low = np.where(open_ & ~fits, mid + 1, low)
    targeted = low - 1
    targeted[np.arange(n), winner] = -1
    return targeted


def _plurality_chunk(pred, n_classes, shifts, per_class, path):
    n, n_members = pred.shape
    n_cols = max(n_classes, 2)  # a second, vote-less class when there is one
    labels = pred.astype(np.intp) + 1
    counts = _counts(labels, n_cols + 1)
    votes = counts[:, 1:]
    winner = np.argmax(votes, axis=1)
    rows = np.arange(n)
    if path == "theorem":
        radius = _theorem1(votes)
        targeted = _plurality_targeted_dpa(votes, n_members) if per_class else None
        return winner, radius, targeted
    never = n_members + 1
    if path == "members":
        effects = _MemberEffects(n_members, votes, counts[:, 0])
    else:
        top = np.where(labels == 0, n_cols, labels - 1)
        sums = _bucket_sums(_one_hot(top, n_cols), shifts)
        effects = _BucketEffects(sums, len(shifts), n_cols)

    # Published FA certificate: c must at least overtake the winner.
    past_winner = np.full((n, n_cols), never, dtype=np.int64)
    for c in range(n_cols):
        sel = rows[winner != c]
        cc, ws = np.full(len(sel), c), winner[sel]
        need = votes[sel, ws] - votes[sel, c] + (ws < c)
        past_winner[sel, c] = _buckets_needed(
            effects.overtake(sel, ws, cc), need, never
        )

    def to_win(sel, c):
        """Buckets class c[i] needs to overtake every other class (rows sel)."""
        out = past_winner[sel, c]
        for e in range(n_cols):
            mask = (c != e) & (winner[sel] != e)
            if not mask.any():
                continue
            r, cc = sel[mask], c[mask]
            need = votes[r, e] - votes[r, cc] + (e < cc)
            hist = effects.overtake(r, np.full(len(r), e), cc)
            out[mask] = np.maximum(out[mask], _buckets_needed(hist, need, never))
        return out

    if per_class:
        needed = np.full((n, n_cols), never, dtype=np.int64)
        for c in range(n_cols):
            sel = rows[winner != c]
            needed[sel, c] = to_win(sel, np.full(len(sel), c))
        targeted = needed - 1
        targeted[rows, winner] = -1
        return winner, needed.min(axis=1) - 1, targeted
    # Refine the classes in the order of their lower bound; stop once none
    # left can need fewer buckets than the best so far.
    best = np.full(n, never, dtype=np.int64)
    order = np.argsort(past_winner, axis=1, kind="stable")
    for rank in range(n_cols - 1):
        c = order[:, rank]
        active = past_winner[rows, c] < best
        if not active.any():
            break
        sel = rows[active]
        best[sel] = np.minimum(best[sel], to_win(sel, c[active]))
    return winner, best - 1, None


def _check_new_label(new_label):
    if not isinstance(new_label, bool | np.bool_):
        raise ValueError(f"new_label must be a bool; got {new_label!r}.")
    return bool(new_label)


def _drop_new_label(out):
    """A chunk's (winner, radius, targeted) computed with a new label at index
    0 -> the real classes.

    The new label has no votes and wins only where no member votes at all
    (then the smallest real class wins with radius 0, as without it). Its
    targeted radius moves to the last column.
    """
    winner, radius, targeted = out[0] - 1, out[1], out[2]
    nobody = winner < 0
    winner[nobody] = 0
    radius[nobody] = 0
    if targeted is not None:
        targeted = np.concatenate([targeted[:, 1:], targeted[:, :1]], axis=1)
        targeted[nobody] = 0
        targeted[nobody, 0] = -1
    return winner, radius, targeted


def plurality_certify(
    member_predictions, n_classes, shifts=None, *, per_class=False, new_label=False
):
    """Plurality winner and its certified radius, for DPA or finite aggregation.

    Parameters
    ----------
    member_predictions : array-like of int, shape (n_samples, n_members)
        Class index in ``[0, n_classes)`` predicted by each member, or ``-1``
        where the member abstains (an empty partition: no vote now, any vote
        once poisoned). Column j is member j.
    n_classes : int
        Number of classes.
    shifts : array-like of int of shape (d,), default=None
        Finite-aggregation offsets: d distinct ints in ``[0, n_members)``, with
        ``n_members = k * d``; a training sample in bucket b trains members
        ``(b + s) mod n_members``. ``None`` (same as ``[0]``) is plain DPA.
    per_class : bool, default=False
        Also return the per-class ("targeted") certificates.
    new_label : bool, default=False
        Also certify against a label outside ``0..n_classes-1`` that an
        attacker may introduce: a rival no member votes for that sorts first
        and wins every tie (what the estimators assume when ``classes`` is
        not given; see :func:`certified_radius`).

    Returns
    -------
    winner : ndarray of shape (n_samples,), dtype int64
        Plurality winner, ties going to the smaller class index
        (:func:`plurality_winner`).
    radius : ndarray of shape (n_samples,), dtype int64
        Certified radius: poisoning the training samples of at most ``radius``
        buckets (inserting, removing or relabelling at most ``radius`` samples)
        cannot change the winner. With ``shifts=None`` it is Theorem 1 of
        Levine & Feizi, equal to :func:`certified_radius` of the vote counts;
        with d > 1 it is never below the certificate of Wang, Levine & Feizi
        (ICML 2022).
    targeted : ndarray of shape (n_samples, n_classes), dtype int64
        Only with ``per_class=True``. ``targeted[i, c]``: no attack on at most
        that many buckets makes class c the winner; ``-1`` for the winner
        itself. ``radius`` is the minimum over the other classes. Exact when
        d = 1, a lower bound otherwise. With ``new_label=True`` one more
        column, last, for the new label.

    See Also
    --------
    certified_radius : Theorem 1 on stored vote counts.
    runoff_certify : The same for the run-off election.

    Notes
    -----
    With d > 1 a bucket feeds d members, so a poisoned sample may change d
    votes. For a rival c and each bucket b, ``D_b`` is the most that changing
    its d members can take off the winner's lead over c (2 per member voting
    the winner, 1 per member voting a third class or abstaining, 0 per member
    voting c); c needs at least as many buckets as the greedy count of largest
    ``D_b`` covering the lead. Here c must overtake every other class, not only
    the winner, which can only raise the radius of the published rule. With one
    class the radius is taken against a second class nobody votes for, as in
    :func:`certified_radius`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.certify import plurality_certify
    >>> pred = np.array([[0, 0, 0, 0, 1, 2],
    ...                  [1, 1, 1, -1, 0, 0]])
    >>> winner, radius = plurality_certify(pred, n_classes=3)
    >>> winner, radius
    (array([0, 1]), array([1, 0]))

    Row 2: class 1 leads 3 to 2, but class 0 wins ties, so one poisoned bucket
    (a class-1 member turning to class 0) is enough. The same members under
    finite aggregation with shifts ``[0, 3]`` (bucket b feeds members b and
    b + 3), with the per-class certificates:

    >>> winner, radius, targeted = plurality_certify(
    ...     pred, n_classes=3, shifts=[0, 3], per_class=True)
    >>> radius
    array([0, 0])
    >>> targeted
    array([[-1,  0,  0],
           [ 0, -1,  1]])
    """
    n_classes = _check_n_classes(n_classes)
    per_class = _check_per_class(per_class)
    pred = _check_member_predictions(member_predictions, n_classes)
    shifts = _check_shifts(shifts, pred.shape[1])
    new_label = _check_new_label(new_label)
    return _plurality(pred, n_classes, shifts, per_class, new_label=new_label)


def _plurality(pred, n_classes, shifts, per_class, path=None, new_label=False):
    """`plurality_certify` on validated inputs.

    ``path``: "theorem" (d = 1: Theorem 1, exact per-class certificates),
    "members" (d = 1: the bucket rule from vote counts) or "buckets" (the
    bucket rule from bucket sums); None picks "theorem" for d = 1, else
    "buckets". Every path gives the same radius where it applies.
    ``new_label``: the new-label rival is added chunk by chunk, as class 0.
    """
    n, n_members = pred.shape
    if path is None:
        path = "theorem" if len(shifts) == 1 else "buckets"
    n_work = n_classes + new_label
    n_cols = max(n_work, 2)
    winner = np.empty(n, dtype=np.int64)
    radius = np.empty(n, dtype=np.int64)
    targeted = np.empty((n, n_work), dtype=np.int64) if per_class else None
    per_row = 8 * (n_members * (3 + n_cols) + n_cols**3)
    for rows in _row_chunks(n, per_row):
        chunk = pred[rows]
        if new_label:
            chunk = np.where(chunk >= 0, chunk + 1, -1)
        out = _plurality_chunk(chunk, n_work, shifts, per_class, path)
        if new_label:
            out = _drop_new_label(out)
        winner[rows], radius[rows] = out[0], out[1]
        if per_class:
            targeted[rows] = out[2][:, :n_work]
    if per_class:
        return winner, radius, targeted
    return winner, radius


# ---------------------------------------------------------------------------
# Run-off


def count_votes(member_predictions, n_classes):
    """Votes for each class: the counts the plurality rule reads.

    Parameters
    ----------
    member_predictions : array-like of int, shape (n_samples, n_members)
        Class index voted by each member, ``-1`` where it abstains.
    n_classes : int
        Number of classes.

    Returns
    -------
    votes : ndarray of shape (n_samples, n_classes), dtype int64

    Examples
    --------
    >>> from skdpa.certify import count_votes
    >>> count_votes([[0, 2, 2, -1]], n_classes=3)
    array([[1, 0, 2]])
    """
    n_classes = _check_n_classes(n_classes)
    pred = _check_member_predictions(member_predictions, n_classes)
    votes = np.empty((pred.shape[0], n_classes), dtype=np.int64)
    # three int64 copies of a row's predictions at once (cast, +1, flat index)
    for rows in _row_chunks(pred.shape[0], 24 * (pred.shape[1] + n_classes + 1)):
        votes[rows] = _counts(pred[rows].astype(np.intp) + 1, n_classes + 1)[:, 1:]
    return votes


def first_choices(member_scores):
    """Each member's most preferred class: its round-1 vote in a run-off.

    Parameters
    ----------
    member_scores : array-like of shape (n_samples, n_members, n_classes)
        Scores; a member whose score vector is all NaN abstains.

    Returns
    -------
    choices : ndarray of shape (n_samples, n_members), dtype int64
        The class with the largest score (the smaller index on ties), ``-1``
        where the member abstains: the input :func:`count_votes` takes.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.certify import first_choices
    >>> first_choices([[[0.2, 0.8], [0.5, 0.5], [np.nan, np.nan]]])
    array([[ 1,  0, -1]])
    """
    scores = _check_member_scores(member_scores)
    out = np.empty(scores.shape[:2], dtype=np.int64)
    for rows in _row_chunks(
        scores.shape[0], 8 * scores.shape[1] * (scores.shape[2] + 3)
    ):
        chunk = scores[rows]
        abstain = _abstentions(chunk, rows.start)
        top = np.argmax(np.where(abstain[..., None], 0, chunk), axis=2)
        out[rows] = np.where(abstain, -1, top)
    return out


def runoff_winner(member_scores):
    """Run-off election winner of the members' scores.

    Round 1: each member votes its most preferred class; the two classes with
    most votes (ties to the smaller index) are the finalists. Round 2: the
    finalist that more members prefer wins, a tie going to the smaller index.
    A member prefers class a to class b iff ``s[a] > s[b]``, or
    ``s[a] == s[b]`` and ``a < b``.

    Parameters
    ----------
    member_scores : array-like of shape (n_samples, n_members, n_classes)
        Each member's scores (probabilities, logits, decision values; ``-inf``
        allowed). A member whose whole score vector is NaN abstains.

    Returns
    -------
    winner : ndarray of shape (n_samples,), dtype int64
        Index of the winning class.

    See Also
    --------
    runoff_certify : The winner and its certified radius.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.certify import plurality_winner, runoff_winner
    >>> scores = np.array([[[.5, .4, .1],
    ...                     [.5, .4, .1],
    ...                     [.1, .6, .3],
    ...                     [.1, .3, .6],
    ...                     [.2, .3, .5]]])
    >>> runoff_winner(scores)
    array([2])

    Classes 0 and 2 have two first places each, class 1 one: the final is 0
    against 2, and three members rank 2 above 0. Plurality gives the tie to
    class 0:

    >>> plurality_winner(scores.argmax(axis=2), n_classes=3)
    array([0])

    Without member 2 the final is a 2-2 tie, which the smaller index wins:

    >>> runoff_winner(scores[:, [0, 1, 3, 4]])
    array([0])
    """
    scores = _check_member_scores(member_scores)
    n, n_members, n_classes = scores.shape
    winner = np.empty(n, dtype=np.int64)
    for rows in _row_chunks(n, 16 * n_members * (n_classes + 2)):
        winner[rows] = _Ballots(scores[rows], rows.start).winner
    return winner


def _runoff_chunk(scores, shifts, per_class, offset, path):
    ballots = _Ballots(scores, offset)
    n_members, n_cols = ballots.n_members, ballots.n_classes
    votes, p, q = ballots.votes, ballots.winner, ballots.finalist
    n = len(p)
    rows = np.arange(n)
    never = n_members + 1
    # prefer[i, j, c]: voting member j prefers the winner p to class c.
    classes = np.arange(n_cols)
    s = ballots.scores
    sp = _score_of(s, p)[..., None]
    prefer = (sp > s) | ((sp == s) & (p[:, None] < classes[None, :])[:, None, :])
    prefer &= ~ballots.abstain[..., None]
    prefer[rows, :, p] = False
    n_prefer = prefer.sum(axis=1)
    # Round-2 lead of p over c: >= 1 iff p beats c; c needs it <= 0.
    lead2 = 2 * n_prefer - ballots.n_voting[:, None] + (p[:, None] < classes)
    if path == "buckets":
        top = ballots.top
        channels = np.concatenate(
            [_one_hot(top, n_cols + 1), prefer.transpose(0, 2, 1).astype(np.int8)],
            axis=1,
        )
        effects = _BucketEffects(_bucket_sums(channels, shifts), len(shifts), n_cols)
    else:
        with_q = ballots.top == q[:, None]
        effects = _MemberEffects(
            n_members,
            votes,
            ballots.n_abstain,
            prefer=n_prefer,
            finalist_prefer=(prefer & with_q[..., None]).sum(axis=1),
        )

    def lead1(r, a, b):
        return votes[r, a] - votes[r, b] + (a < b)

    # E2: the final is p against c and c wins it. c must beat p in round 2 and,
    # unless c is already the other finalist q, overtake q in round 1.
    final = np.full((n, n_cols), never, dtype=np.int64)
    # E1 ingredient: buckets c needs to overtake p in round 1.
    past_p = np.zeros((n, n_cols), dtype=np.int64)
    for c in range(n_cols):
        sel = rows[p != c]
        if not len(sel):
            continue
        ps, cc = p[sel], np.full(len(sel), c)
        past_p[sel, c] = _buckets_needed(
            effects.overtake(sel, ps, cc), lead1(sel, ps, cc), never
        )
        wins = _buckets_needed(effects.final(sel, cc), lead2[sel, c], never)
        rival = q[sel] != c
        r, qs, cr = sel[rival], q[sel][rival], cc[rival]
        need1, need2 = lead1(r, qs, cr), lead2[r, c]
        wins[rival] = np.maximum.reduce(
            [
                wins[rival],
                _buckets_needed(effects.overtake(r, qs, cr), need1, never),
                _buckets_needed(
                    effects.final_and_overtake(r, qs, cr), need1 + need2, never
                ),
            ]
        )
        final[sel, c] = wins
    targeted = final.copy()
    best = final.min(axis=1)
    if n_cols >= 3:
        # E1: two classes c1, c2 both overtake p, which misses the final.
        c1, c2 = np.triu_indices(n_cols, 1)
        valid = (c1 != p[:, None]) & (c2 != p[:, None])
        need = lead1(rows[:, None], p[:, None], c1) + lead1(
            rows[:, None], p[:, None], c2
        )
        bound = np.maximum(
            np.maximum(past_p[:, c1], past_p[:, c2]),
            _buckets_needed(effects.overtake_pair_bound(rows, p), need, never),
        )
        bound[~valid] = never
        order = np.argsort(bound, axis=1, kind="stable")
        for rank in range(len(c1)):
            pair = order[:, rank]
            low = bound[rows, pair]
            if per_class:
                stake = np.maximum(targeted[rows, c1[pair]], targeted[rows, c2[pair]])
            else:
                stake = best
            active = low < stake
            if not active.any():
                if per_class:
                    continue
                break
            sel, pr = rows[active], pair[active]
            a1, a2, ps = c1[pr], c2[pr], p[sel]
            exact = np.maximum(
                low[active],
                _buckets_needed(
                    effects.overtake_pair(sel, ps, a1, a2), need[sel, pr], never
                ),
            )
            best[sel] = np.minimum(best[sel], exact)
            targeted[sel, a1] = np.minimum(targeted[sel, a1], exact)
            targeted[sel, a2] = np.minimum(targeted[sel, a2], exact)
    targeted -= 1
    targeted[rows, p] = -1
    return p, best - 1, targeted


def runoff_certify(
    member_scores,
    shifts=None,
    *,
    per_class=False,
    new_label=False,
    unseen_score=-np.inf,
):
    """Run-off election winner and its certified radius (DPA+ROE, FA+ROE).

    Round 1: each member votes its most preferred class; the two classes with
    most votes (ties to the smaller index) are the finalists. Round 2: the
    finalist that more members prefer wins, a tie going to the smaller index.
    A member prefers class a to class b iff ``s[a] > s[b]``, or
    ``s[a] == s[b]`` and ``a < b``.

    Parameters
    ----------
    member_scores : array-like of shape (n_samples, n_members, n_classes)
        Each member's scores (probabilities, logits, decision values; ``-inf``
        allowed). A member whose whole score vector is NaN abstains (an empty
        partition: no vote now, any ranking once poisoned); a partly NaN vector
        is an error. Column j is member j.
    shifts : array-like of int of shape (d,), default=None
        Finite-aggregation offsets, as in :func:`plurality_certify`. ``None``
        (same as ``[0]``) is plain DPA.
    per_class : bool, default=False
        Also return the per-class ("targeted") certificates.
    new_label : bool, default=False
        Also certify against a label outside the score columns that an
        attacker may introduce: a class that sorts first (wins every tie) and
        that every voting member scores ``unseen_score`` (what the estimators
        assume when ``classes`` is not given).
    unseen_score : float, default=-inf
        With ``new_label=True``: the score a member gives a class it never
        saw. The estimators use ``-inf`` for ``predict_proba`` and
        ``decision_function`` scores and ``0.0`` for one-hot scores
        (``score_method_ == "predict"``).

    Returns
    -------
    winner : ndarray of shape (n_samples,), dtype int64
        Run-off winner (:func:`runoff_winner`).
    radius : ndarray of shape (n_samples,), dtype int64
        Certified radius: poisoning the training samples of at most ``radius``
        buckets cannot change the winner. Always ``>= 0``.
    targeted : ndarray of shape (n_samples, n_classes), dtype int64
        Only with ``per_class=True``. ``targeted[i, c]``: no attack on at most
        that many buckets makes class c the winner; ``-1`` for the winner
        itself. ``radius`` is the minimum over the other classes. With
        ``new_label=True`` one more column, last, for the new label.

    See Also
    --------
    plurality_certify : The same for the plurality vote.

    Notes
    -----
    The winner p loses only if (E1) two other classes overtake it in round 1,
    or (E2) the final is p against some c and c wins it, which needs c to beat
    p in round 2 and, unless c is already the other finalist q, to overtake q
    in round 1. Each condition is a lead that must fall to zero; the number of
    buckets needed is bounded below by the greedy count of the buckets with
    the largest effects on that lead (and on the sum of the leads an event
    needs together). The radius is one less than the cheapest event. Abstaining
    members count as members that may start voting for anything. With one
    class, a second class that every member ranks last is added.

    Examples
    --------
    Twelve members, three classes: five rank 0 > 1 > 2, four 1 > 0 > 2 and
    three 2 > 0 > 1.

    >>> import numpy as np
    >>> from skdpa.certify import plurality_certify, runoff_certify
    >>> scores = np.array([[[3, 1, 0]] * 5 + [[1, 3, 0]] * 4 + [[1, 0, 3]] * 3])
    >>> runoff_certify(scores)
    (array([0]), array([1]))

    Class 0 wins either final easily, so an attack has to push it out of
    round 1, where it leads by 2 and 3 votes (ties go to class 0); one
    changed member closes the two leads by at most 3 together, so two are
    needed. The plurality vote (5 against 4) certifies nothing:

    >>> plurality_certify(scores.argmax(axis=2), n_classes=3)
    (array([0]), array([0]))

    Under finite aggregation with shifts ``[0, 6]`` (6 buckets, each feeding
    two members) and with the per-class certificates:

    >>> winner, radius, targeted = runoff_certify(scores, shifts=[0, 6],
    ...                                           per_class=True)
    >>> targeted
    array([[-1,  1,  1]])
    """
    per_class = _check_per_class(per_class)
    scores = _check_member_scores(member_scores)
    shifts = _check_shifts(shifts, scores.shape[1])
    unseen = float(unseen_score) if _check_new_label(new_label) else None
    return _runoff(scores, shifts, per_class, unseen_score=unseen)


def _runoff(scores, shifts, per_class, path=None, unseen_score=None):
    """`runoff_certify` on validated inputs.

    ``path``: "members" (d = 1, effects from vote and preference counts) or
    "buckets" (effects from bucket sums, any d); None picks by d.
    ``unseen_score``: not None adds the new-label rival chunk by chunk, as
    class 0, scored so by every voting member.
    """
    n, n_members, n_classes = scores.shape
    new_label = unseen_score is not None
    if path is None:
        path = "members" if len(shifts) == 1 else "buckets"
    n_work = n_classes + new_label
    n_cols = max(n_work, 2)
    winner = np.empty(n, dtype=np.int64)
    radius = np.empty(n, dtype=np.int64)
    targeted = np.empty((n, n_work), dtype=np.int64) if per_class else None
    per_row = n_members * n_cols * (24 + (8 if path == "buckets" else 0))
    per_row += 64 * n_cols**2
    for rows in _row_chunks(n, per_row):
        chunk = scores[rows]
        if new_label:
            extra = np.where(np.isnan(chunk[:, :, :1]), np.nan, float(unseen_score))
            chunk = np.concatenate([extra, chunk], axis=2)
        out = _runoff_chunk(chunk, shifts, per_class, rows.start, path)
        if new_label:
            out = _drop_new_label(out)
        winner[rows], radius[rows] = out[0], out[1]
        if per_class:
            targeted[rows] = out[2][:, :n_work]
    if per_class:
        return winner, radius, targeted
    return winner, radius


# ---------------------------------------------------------------------------
# Member-aware certificates: what it costs to turn each member


def _check_member_costs(member_costs):
    costs = np.asarray(member_costs)
    if costs.ndim != 3:
        raise ValueError(
            "member_costs must be a 3-D array of shape (n_samples, n_members, "
            f"n_classes + 1); got an array with ndim={costs.ndim}."
        )
    if costs.shape[1] == 0:
        raise ValueError("member_costs must have at least one member; got 0.")
    if costs.shape[2] < 3:
        raise ValueError(
            "member_costs must have at least 3 columns (2 classes and the cost of "
            f"abstaining, last); got {costs.shape[2]}."
        )
    if costs.dtype.kind not in "fiu" or costs.dtype.kind == "b":
        raise ValueError(
            f"member_costs must hold real numbers; got an array of dtype {costs.dtype}."
        )
    costs = costs.astype(np.float64, copy=False)
    if np.isnan(costs).any():
        raise ValueError("member_costs must not contain NaN (use inf for 'never').")
    if costs.size and costs.min() < 0:
        raise ValueError(
            f"member_costs must be non-negative; got a minimum of {costs.min()}."
        )
    zeros = (costs == 0).sum(axis=2)
    if (zeros != 1).any():
        i, j = np.argwhere(zeros != 1)[0]
        raise ValueError(
            "member_costs must hold exactly one 0 per member and sample (at what "
            f"the member outputs now); sample {i}, member {j} has {zeros[i, j]}."
        )
    return costs


def _prefix_sums(sorted_costs):
    """Cumulative sums with a leading 0 (inf where an inf was added)."""
    n = sorted_costs.shape[0]
    return np.concatenate([np.zeros((n, 1)), np.cumsum(sorted_costs, axis=1)], axis=1)


def _cheapest_overtake(a, b, concave, units, need):
    """Least total cost of member changes that close a lead of ``need`` units.

    Each member offers at most one option: one unit at cost ``b`` or two units
    at cost ``a`` (members voting the winner: turning to the rival takes a vote
    from one and gives it to the other). ``units`` are the unit costs of the
    members whose options split into independent units (``a - b >= b``: the
    second unit costs at least the first, so taking units cheapest-first is
    exact); ``concave`` members (``a < 2 b``) are taken as two-unit bundles,
    cheapest first, and at most one of them as a single unit (two singles at
    ``b_j + b_l`` cost more than the cheaper bundle: ``min(a_j, a_l) < b_j +
    b_l``). The minimum over the number ``p`` of bundles is exact.
    """
    n, n_members = a.shape
    U = _prefix_sums(np.sort(units, axis=1))  # (n, len(units) + 1)
    bundles = np.where(concave, a, np.inf)
    order = np.argsort(bundles, axis=1, kind="stable")
    a_sorted = np.take_along_axis(bundles, order, axis=1)
    S = _prefix_sums(a_sorted)
    S = np.concatenate([S, np.full((n, 1), np.inf)], axis=1)  # S[p + 1] at p = M
    singles = np.take_along_axis(np.where(concave, b, np.inf), order, axis=1)
    # best single among members not bundled (ranks >= p): suffix minimum
    suffix = np.minimum.accumulate(singles[:, ::-1], axis=1)[:, ::-1]
    suffix = np.concatenate([suffix, np.full((n, 1), np.inf)], axis=1)
    # or a bundled one (rank < p) swapped for the next bundle: prefix minimum
    with np.errstate(invalid="ignore"):
        swap = np.where(np.isfinite(singles), singles - a_sorted, np.inf)
    prefix = np.minimum.accumulate(swap, axis=1)
    prefix = np.concatenate([np.full((n, 1), np.inf), prefix], axis=1)
    p = np.arange(n_members + 1)[None, :]
    single = np.minimum(S[:, :-1] + suffix, S[:, 1:] + prefix)
    q = np.maximum(0, need[:, None] - 2 * p)  # units still needed
    last = U.shape[1] - 1
    U_q = np.take_along_axis(U, np.minimum(q, last), axis=1)
    U_q[q > last] = np.inf
    U_q1 = np.take_along_axis(U, np.clip(q - 1, 0, last), axis=1)
    U_q1[q - 1 > last] = np.inf
    with np.errstate(invalid="ignore"):
        cost = np.where(q == 0, S[:, :-1], np.minimum(S[:, :-1] + U_q, single + U_q1))
    cost = np.where(np.isnan(cost), np.inf, cost)
    return cost.min(axis=1)


def cost_certify(member_costs):
    """Plurality winner and its certified radius from what it costs to turn members.

    A member-aware certificate: instead of assuming one poisoned sample can
    turn a member to any output, each member states a lower bound on the
    poisoned samples of its own partition needed to make it output each class
    (or abstain). The radius is the largest budget ``r`` such that no choice of
    member outputs whose costs add up to at most ``r`` changes the plurality
    winner (ties to the smaller class index). With every non-zero cost equal to
    1 it is the plurality certificate (Theorem 1); larger costs certify more.

    Parameters
    ----------
    member_costs : array-like of shape (n_samples, n_members, n_classes + 1)
        ``member_costs[i, j, c]``: a lower bound on the number of poisoned
        training samples, all inside member j's partition, that make member j
        output class ``c`` on sample ``i``; the last column is the cost of
        making it abstain. Exactly one 0 per member and sample, at what it
        outputs now (the last column for an abstaining member). ``inf`` means
        never; fractional bounds are rounded up to whole samples.

    Returns
    -------
    winner : ndarray of shape (n_samples,), dtype int64
        Plurality winner of the members' current outputs.
    radius : ndarray of shape (n_samples,), dtype int64
        Certified radius: poisoning at most ``radius`` training samples cannot
        change the winner. Exact for these costs (the costs of different
        members add up: each poisoned sample lies in one partition). Where no
        finite budget changes the winner, ``np.iinfo(np.int64).max``.

    See Also
    --------
    plurality_certify : The certificate when every change costs one sample.

    Notes
    -----
    For a rival ``c'`` of the winner ``c`` the lead ``n_c - n_c' - [c' < c]``
    must fall below 0. A member voting ``c`` closes it by 2 if turned to
    ``c'`` (cost ``a``) and by 1 if turned to anything else or made to abstain
    (cost ``b``, the cheapest such output); any other member not voting ``c'``
    closes it by 1 if turned to ``c'``. The cheapest set of changes closing the
    lead is a knapsack with gains 1 and 2, solved exactly as in the theory page
    (members whose two units cost at least as much for the second as for the
    first split into independent units; the others are two-unit bundles of
    which at most one is ever used as a single unit). The radius is one less
    than the cheapest rival's cost. Finite aggregation and run-off election
    are not covered.

    Examples
    --------
    Five members, two classes: three vote class 0, two vote class 1. Turning
    one of the class-0 members costs 3 poisoned samples, the others 1:

    >>> import numpy as np
    >>> from skdpa.certify import cost_certify, plurality_certify
    >>> inf = np.inf
    >>> costs = np.array([[[0, 3, inf], [0, 1, inf], [0, 1, inf],
    ...                    [1, 0, inf], [1, 0, inf]]])
    >>> cost_certify(costs)
    (array([0]), array([0]))

    One poisoned sample turns a cheap class-0 member to class 1 (2 votes
    against 3). When every class-0 member is expensive the vote holds longer
    than plurality's one-sample-per-member count:

    >>> costs[0, :3, 1] = 3
    >>> cost_certify(costs)
    (array([0]), array([2]))
    >>> plurality_certify(costs.argmin(axis=2), n_classes=2)
    (array([0]), array([0]))
    """
    costs = _check_member_costs(member_costs)
    n, n_members, width = costs.shape
    n_classes = width - 1
    current = np.argmin(costs, axis=2)  # the single zero
    pred = np.where(current == n_classes, -1, current)
    winner = plurality_winner(pred, n_classes)
    radius = np.empty(n, dtype=np.int64)
    per_row = 8 * n_members * (width + 24)
    for rows in _row_chunks(n, per_row):
        radius[rows] = _cost_radius(costs[rows], pred[rows], winner[rows], n_classes)
    return winner, radius


def _cost_radius(costs, pred, winner, n_classes):
    n, n_members, _ = costs.shape
    r_idx = np.arange(n)
    votes = count_votes(pred, n_classes)
    # the two cheapest outputs other than the current one, per member
    current = np.argmin(costs, axis=2)
    others = costs.copy()
    np.put_along_axis(others, current[..., None], np.inf, axis=2)
    first = np.argmin(others, axis=2)
    m1 = np.take_along_axis(others, first[..., None], axis=2)[..., 0]
    np.put_along_axis(others, first[..., None], np.inf, axis=2)
    m2 = others.min(axis=2)
    del others
    best = np.full(n, np.inf)
    for rival in range(n_classes):
        active = winner != rival
        if not active.any():
            continue
        to_rival = costs[:, :, rival]
        for_winner = pred == winner[:, None]
        for_rival = pred == rival
        # a: winner voters turned to the rival (2 units); b: one unit
        a = np.where(for_winner, to_rival, np.inf)
        b_winner = np.minimum(np.where(first == rival, m2, m1), a)
        b = np.where(for_winner, b_winner, np.where(for_rival, np.inf, to_rival))
        concave = for_winner & (a < 2 * b)
        convex = for_winner & ~concave
        with np.errstate(invalid="ignore"):
            second = np.where(np.isfinite(a), a - b, np.inf)
        units = np.concatenate(
            [
                np.where(~for_winner | convex, b, np.inf),
                np.where(convex, second, np.inf),
            ],
            axis=1,
        )
        need = votes[r_idx, winner] - votes[:, rival] - (rival < winner) + 1
        cost = _cheapest_overtake(a, b, concave, units, need)
        best = np.where(active, np.minimum(best, cost), best)
    out = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    # a cost of 2**63 samples or more saturates like "never" (casting it
    # would wrap around, platform-dependently)
    finite = best < 2.0**63
    out[finite] = np.ceil(best[finite] - 1e-9).astype(np.int64) - 1
    return np.maximum(out, 0)


# ---------------------------------------------------------------------------
# Certified regression: the median of the members' outputs
#
# Convention (proof: Theory, certified regression). A member abstains where its
# output is NaN (an empty partition). The prediction is the median of the
# voting members' outputs: with N voters sorted v_0 <= ... <= v_{N-1}, the mean
# of v_{(N-1)//2} and v_{N//2}. An attack that changes t members may set each
# of them to any value, make it abstain (remove its rows) or make an abstaining
# member vote (insert into its empty partition). Its lowest median: change the
# min(t, n) largest voters to -inf and let min(t - x, e) abstainers vote -inf;
# its highest mirrors that. Both are order statistics of the clean outputs.


def _check_member_values(member_predictions):
    values = np.asarray(member_predictions, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(
            "member_predictions must be 2-D (n_samples, n_members); got an "
            f"array of shape {values.shape}."
        )
    if values.shape[1] == 0:
        raise ValueError("member_predictions must have at least one member column.")
    if np.isinf(values).any():
        raise ValueError(
            "member_predictions must be finite, with NaN where a member abstains; "
            "got an infinite value."
        )
    return values


def _changed_members(radius, n_rows, shifts, n_members):
    """Members an attack of ``radius`` samples may change: radius * spread."""
    radius = np.asarray(radius)
    if radius.dtype.kind not in "iu" and not (
        radius.dtype.kind == "f" and np.all(radius == np.round(radius))
    ):
        raise ValueError(
            f"radius must be a non-negative integer (or one per row); got {radius!r}."
        )
    radius = np.broadcast_to(radius.astype(np.int64), (n_rows,))
    if (radius < 0).any():
        raise ValueError(
            "radius must be a non-negative integer (or one per row); got "
            f"{int(radius.min())}."
        )
    spread = 1 if shifts is None else len(_check_shifts(shifts, n_members))
    return np.minimum(radius, n_members) * spread


def _order_statistics(values):
    """Voters sorted per row (NaN last), voter count, abstainer count."""
    ordered = np.sort(values, axis=1)
    n_vote = np.count_nonzero(~np.isnan(values), axis=1)
    return ordered, n_vote, values.shape[1] - n_vote


def _take(ordered, index, fill_low, fill_high):
    """ordered[row, index] with -inf below 0 and +inf at or beyond the voters."""
    n, m = ordered.shape
    inside = np.clip(index, 0, m - 1)
    out = ordered[np.arange(n), inside]
    out = np.where(index < 0, fill_low, out)
    return np.where(index >= fill_high, np.inf, out)


def _median_bounds(ordered, n_vote, n_abstain, t):
    """Lowest and highest median after changing at most ``t`` members."""
    x = np.minimum(t, n_vote)  # voters changed
    y = np.minimum(t - x, n_abstain)  # abstainers made to vote
    size = n_vote + y
    lo_pos, hi_pos = (size - 1) // 2, size // 2
    moved = x + y
    with np.errstate(invalid="ignore"):  # -inf + inf where nobody votes
        return _median_ends(ordered, n_vote, t, x, size, lo_pos, hi_pos, moved)


def _median_ends(ordered, n_vote, t, x, size, lo_pos, hi_pos, moved):
    # lower: `moved` copies of -inf, then the n_vote - x smallest voters
    low = 0.5 * (
        _take(ordered, lo_pos - moved, -np.inf, n_vote - x)
        + _take(ordered, hi_pos - moved, -np.inf, n_vote - x)
    )
    low = np.where((lo_pos < moved) | (hi_pos < moved), -np.inf, low)
    # upper: the n_vote - x largest voters, then `moved` copies of +inf
    high = 0.5 * (
        _take(ordered, lo_pos + x, -np.inf, n_vote)
        + _take(ordered, hi_pos + x, -np.inf, n_vote)
    )
    high = np.where(hi_pos >= n_vote - x, np.inf, high)
    empty = size == 0
    low = np.where(empty | (t >= n_vote) & (t > 0), -np.inf, low)
    high = np.where(empty | (t >= n_vote) & (t > 0), np.inf, high)
    return low, high


def median_prediction(member_predictions):
    """The ensemble's regression output: the median of the voting members.

    Parameters
    ----------
    member_predictions : array-like of shape (n_samples, n_members)
        Each member's prediction; NaN where a member abstains (its partition
        is empty).

    Returns
    -------
    y_pred : ndarray of shape (n_samples,)
        With ``N`` voting members sorted ``v_0 <= ... <= v_{N-1}``, the mean of
        ``v_{(N-1)//2}`` and ``v_{N//2}`` (the usual median: the middle value
        for odd ``N``, the mean of the two middle values for even ``N``). NaN
        where no member votes.

    Examples
    --------
    >>> from skdpa.certify import median_prediction
    >>> median_prediction([[1.0, 5.0, 2.0], [1.0, 4.0, float("nan")]]).tolist()
    [2.0, 2.5]
    """
    values = _check_member_values(member_predictions)
    ordered, n_vote, _ = _order_statistics(values)
    lo = _take(ordered, (n_vote - 1) // 2, np.nan, np.maximum(n_vote, 1))
    hi = _take(ordered, n_vote // 2, np.nan, np.maximum(n_vote, 1))
    return np.where(n_vote == 0, np.nan, 0.5 * (lo + hi))


def median_interval(member_predictions, radius, shifts=None):
    """Certified interval of the median prediction under ``radius`` poisoned samples.

    Whatever an attacker does to at most ``radius`` training samples (for
    :class:`~skdpa.DPARegressor`: insert, remove or change the target, in any
    combination; each changes the members its bucket feeds), the refitted
    ensemble's :func:`median_prediction` lies in ``[lower, upper]``. The bounds
    are order statistics of the clean members' outputs and are reached by an
    attack that sets the changed members freely (tight); see the
    documentation (Theory, certified regression) for the proof.

    Parameters
    ----------
    member_predictions : array-like of shape (n_samples, n_members)
        Each member's prediction; NaN where a member abstains (its partition
        is empty). An attack may make an abstaining member vote and a voting
        member abstain.
    radius : int or array-like of shape (n_samples,)
        Number of poisoned training samples, ``>= 0``.
    shifts : array-like of int, default=None
        Finite aggregation's offsets (``shifts_`` of a fitted estimator): one
        sample trains ``len(shifts)`` members, so ``radius`` samples change at
        most ``radius * len(shifts)`` members. ``None``: DPA (one member per
        sample). Sound for any offsets; tight for DPA.

    Returns
    -------
    lower, upper : ndarray of shape (n_samples,)
        ``-inf`` / ``+inf`` where the attack can change as many members as
        vote.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.certify import median_interval
    >>> outputs = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> median_interval(outputs, 0)
    (array([3.]), array([3.]))
    >>> median_interval(outputs, 1)
    (array([2.]), array([4.]))
    >>> median_interval(outputs, 3)
    (array([-inf]), array([inf]))
    """
    values = _check_member_values(member_predictions)
    n, m = values.shape
    t = _changed_members(radius, n, shifts, m)
    ordered, n_vote, n_abstain = _order_statistics(values)
    return _median_bounds(ordered, n_vote, n_abstain, t)


def _check_tolerance(tolerance, n_rows):
    tol = np.asarray(tolerance, dtype=np.float64)
    if tol.ndim > 1 or (tol.ndim == 1 and tol.shape != (n_rows,)):
        raise ValueError(
            f"tolerance must be a number or one per row ({n_rows},); got shape "
            f"{tol.shape}."
        )
    if np.isnan(tol).any() or (tol < 0).any():
        bad = tol[np.isnan(tol) | (tol < 0)].ravel()[0]
        raise ValueError(f"tolerance must be >= 0; got {float(bad)!r}.")
    return np.broadcast_to(tol, (n_rows,))


def median_radius(member_predictions, tolerance, shifts=None):
    """Median prediction and the largest radius it is certified for, within a tolerance.

    Parameters
    ----------
    member_predictions : array-like of shape (n_samples, n_members)
        Each member's prediction; NaN where a member abstains.
    tolerance : float or array-like of shape (n_samples,)
        How far (absolute, ``>= 0``) the prediction may move.
    shifts : array-like of int, default=None
        Finite aggregation's offsets, as in :func:`median_interval`.

    Returns
    -------
    y_pred : ndarray of shape (n_samples,)
        :func:`median_prediction` of the members.
    radius : ndarray of shape (n_samples,), dtype int64
        The largest ``r`` with ``median_interval(..., r)`` inside
        ``[y_pred - tolerance, y_pred + tolerance]``: no attack on at most
        ``r`` training samples moves the prediction further than
        ``tolerance``. ``-1`` where no member votes.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.certify import median_radius
    >>> outputs = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.1, 0.2, 0.3, 9.1]])
    >>> y_pred, radius = median_radius(outputs, 1.0)
    >>> y_pred.tolist(), radius.tolist()
    ([3.0, 0.2], [1, 1])
    >>> median_radius(outputs, 0.5)[1].tolist()
    [0, 1]
    """
    values = _check_member_values(member_predictions)
    n, m = values.shape
    tol = _check_tolerance(tolerance, n)
    spread = 1 if shifts is None else len(_check_shifts(shifts, m))
    ordered, n_vote, n_abstain = _order_statistics(values)
    y_pred = median_prediction(values)
    # the bounds widen with t: the largest t whose interval fits, then the
    # largest r with r * spread <= t
    best_t = np.full(n, -1, dtype=np.int64)
    alive = n_vote > 0
    for t in range(m + 1):
        if not alive.any():
            break
        low, high = _median_bounds(ordered, n_vote, n_abstain, np.full(n, t))
        fits = alive & (low >= y_pred - tol) & (high <= y_pred + tol)
        best_t = np.where(fits, t, best_t)
        alive = fits
    radius = np.where(best_t >= 0, best_t // spread, -1)
    return y_pred, radius.astype(np.int64)
