"""What it costs an attacker to turn one member: inputs of member-aware certificates.

:func:`skdpa.certify.cost_certify` certifies a vote from, for every member, a
lower bound on the poisoned samples of its own partition that make it output
each class (or abstain). This module computes such bounds for members whose
outputs can be analysed exactly.

Every function returns an array of shape ``(n_samples, n_classes + 1)``:
column ``c`` bounds the cost of making the member output class index ``c``,
the last column the cost of making it abstain, and the member's current
output costs 0.
"""

from numbers import Integral

import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.validation import check_is_fitted

from ._members import num_rows

__all__ = ["flip_costs", "knn_costs", "poison_costs"]


def _greedy_takeover(counts, target, max_steps):
    """Fewest neighbour votes to move so that class ``target`` wins each row.

    ``counts`` (n, C) are vote counts; the vote goes to the largest count,
    ties to the smaller class index. Each step moves one vote from the most
    threatening rival (the largest ``count + [rival < target]``) to
    ``target``; this greedy order is optimal, since every step adds one vote
    to the target and takes one from one rival, and the target wins once its
    count reaches every rival's threat.
    """
    n, n_classes = counts.shape
    counts = counts.copy()
    cost = np.full(n, -1, dtype=np.int64)
    bonus = (np.arange(n_classes) < target).astype(np.int64)
    rows = np.arange(n)
    for step in range(max_steps + 1):
        threat = counts + bonus
        threat[:, target] = -1
        wins = counts[:, target] >= threat.max(axis=1)
        cost[(cost < 0) & wins] = step
        # take from the strongest rival that still has a vote to give (a rival
        # without votes only asks the target for one vote, which any move gives)
        movable = np.where(counts > 0, threat, -1)
        strongest = np.argmax(movable, axis=1)
        move = (cost < 0) & (movable[rows, strongest] >= 0)
        counts[rows[move], strongest[move]] -= 1
        counts[rows[move], target] += 1
    return cost


def knn_costs(member, X, n_classes, n_rows):
    """Cost of turning a fitted k-nearest-neighbour member, per sample and class.

    For :class:`~sklearn.neighbors.KNeighborsClassifier` with uniform weights
    fit on its partition's rows (class indices as labels, as the ensembles fit
    their members), in a feature space that poisoning cannot move (raw
    features, or a shared label-blind embedding such as SS-DPA's). One
    poisoned sample of the partition replaces at most one of the ``k``
    neighbour votes of a query: a relabelled row changes its own vote; an
    inserted row, or a row relabelled from unlabeled, can enter the ``k``
    nearest and push one out; a removed row, or one relabelled to unlabeled,
    leaves and lets one in. So the member outputs ``c`` only after at least as
    many replacements as it takes to make ``c`` win the neighbour vote (ties
    to the smaller class index, as scikit-learn's mode), which is exact for
    label flips away from distance ties.

    Distance ties: when rows outside the ``k`` nearest lie at the ``k``-th
    distance (within a tolerance of ``1e-6`` times the query's norm plus
    that distance), which tied rows fill the last slots depends on the rows'
    order and the search structure, and one poisoned sample anywhere in the
    partition can change it (a k-d tree is rebuilt, positions shift). There
    the tied slots are the attacker's from the first sample: class ``c``
    takes as many of them as tied rows of ``c`` exist, the rest vote for no
    one, and the replacements are counted from there (at least 1).

    Abstaining: a member left with fewer rows than ``n_neighbors`` cannot
    vote (scikit-learn raises at predict); that counts as abstaining and
    costs ``n_rows - n_neighbors + 1`` removals.

    Parameters
    ----------
    member : KNeighborsClassifier
        A fitted member (``weights="uniform"``), not a Pipeline: a scaler fit
        on the partition would move with the poisoned rows.
    X : array-like of shape (n_samples, n_features)
        Queries, as the member sees them.
    n_classes : int
        Number of classes of the ensemble (the member's ``classes_`` are class
        indices among them).
    n_rows : int
        Rows of the member's partition.

    Returns
    -------
    costs : ndarray of shape (n_samples, n_classes + 1), dtype float64
        Lower bounds (whole samples); 0 at the member's prediction.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skdpa.member_costs import knn_costs
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1]])
    >>> member = KNeighborsClassifier(3).fit(X, [0, 0, 0, 1, 1])
    >>> knn_costs(member, [[0.05]], n_classes=2, n_rows=5)
    array([[0., 2., 3.]])

    Near ``0.05`` all three neighbours vote 0: class 1 needs two of them;
    three removals leave too few rows to vote.
    """
    if not isinstance(member, KNeighborsClassifier):
        raise TypeError(
            "knn_costs needs a fitted KNeighborsClassifier member; got "
            f"{type(member).__name__}."
        )
    check_is_fitted(member)
    if member.weights != "uniform":
        raise ValueError(
            f"knn_costs covers weights='uniform' only; got weights={member.weights!r}."
        )
    k = int(member.n_neighbors)
    n_fit = int(member.n_samples_fit_)
    proba = member.predict_proba(X)
    classes = np.asarray(member.classes_).astype(np.int64)
    counts = np.zeros((proba.shape[0], n_classes), dtype=np.int64)
    counts[:, classes] = np.rint(proba * k).astype(np.int64)
    slots, fixed, tied_counts = _free_tied_slots(member, X, k, n_fit, counts, classes)
    free = slots > 0
    costs = np.empty((proba.shape[0], n_classes + 1))
    for c in range(n_classes):
        held = counts.copy()
        # slots the tie order decides: c takes as many as tied rows of c
        # allow; the rest vote for no one (never worse for the attacker than
        # a vote for a rival), see _free_tied_slots
        held[free] = fixed[free]
        held[:, c] += np.minimum(slots, tied_counts[:, c])
        costs[:, c] = np.maximum(_greedy_takeover(held, c, k), free)
    # fewer rows than n_neighbors: the member cannot vote (scikit-learn
    # raises at predict), which counts as abstaining
    costs[:, n_classes] = max(1, min(n_rows, n_fit) - k + 1)
    # Where the member's own prediction differs from the neighbour vote read
    # here (a tie in distances resolved otherwise), claim nothing: one sample.
    current = classes[np.argmax(proba, axis=1)]
    agrees = np.argmax(counts, axis=1) == current
    costs[~agrees, :n_classes] = 1
    costs[np.arange(len(current)), current] = 0
    return costs


def _free_tied_slots(member, X, k, n_fit, counts, classes):
    """Neighbour slots whose votes the tie order, not the distances, decides.

    When rows outside the ``k`` nearest lie at the ``k``-th distance (or
    within rounding of it), which of the tied rows fill the last slots
    depends on the order of the rows and the search structure, and one
    inserted or removed row anywhere in the partition can change that order
    (a k-d tree is rebuilt, positions shift). So the attacker's first
    poisoned sample may refill every slot tied with the ``k``-th neighbour
    from the tied rows. Returns ``(slots, fixed, tied_counts)``: per query,
    the number of such slots (0 where the ``k``-th distance is not tied
    beyond ``k``), the vote counts of the strictly nearer rows and the
    labels of every tied row (where ``slots > 0``).
    """
    n = len(counts)
    slots = np.zeros(n, dtype=np.int64)
    fixed = counts.copy()
    tied_counts = np.zeros_like(counts)
    if n_fit <= k or n == 0:
        return slots, fixed, tied_counts
    query = np.asarray(X, dtype=np.float64).reshape(n, -1)
    norm = np.linalg.norm(query, axis=1)
    width = min(n_fit, 2 * k + 1)
    while True:
        dist, ind = member.kneighbors(X, width)
        # distances are compared with a tolerance far above rounding (scaled
        # by the query's norm, which bounds the rows' norms through the
        # distance); a larger tolerance only finds more ties: lower costs
        tol = 1e-6 * (norm + dist[:, k] + 1e-300)
        kth = dist[:, k - 1]
        if width == n_fit or (dist[:, -1] - kth > tol).all():
            break
        width = min(n_fit, 2 * width)
    beyond = dist[:, k] - kth <= tol
    tied = np.abs(dist - kth[:, None]) <= tol[:, None]
    slots = np.where(beyond, tied[:, :k].sum(axis=1), 0)
    labels = classes[np.asarray(member._y)[ind]]
    rows = np.repeat(np.arange(n), width)
    strict = (~tied & (np.arange(width) < k)).ravel()
    fixed = np.zeros_like(counts)
    np.add.at(fixed, (rows[strict], labels.ravel()[strict]), 1)
    np.add.at(tied_counts, (rows[tied.ravel()], labels.ravel()[tied.ravel()]), 1)
    return slots, fixed, tied_counts


def _checked_n_classes(seen, n_classes):
    """Refuse an ``n_classes`` that does not cover every class index a member
    saw (``seen``, its ``classes_``: non-negative integers, as the ensembles
    fit their members), naming the limit and the value."""
    seen = np.asarray(seen)
    if not (
        isinstance(n_classes, Integral)
        and seen.dtype.kind in "iu"
        and seen.min() >= 0
        and n_classes > seen.max()
    ):
        raise ValueError(
            "n_classes must be an integer above every class index the member "
            f"saw (classes {seen.tolist()!r}); got n_classes={n_classes!r}."
        )
    return seen


def _checked_editable(editable, n_fit):
    """``editable`` as a boolean mask over the ``n_fit`` rows a member was fit
    on (``None``: every row), or a ``ValueError`` naming the shape expected."""
    if editable is None:
        return np.ones(n_fit, dtype=bool)
    editable = np.asarray(editable)
    if editable.dtype != bool or editable.shape != (n_fit,):
        raise ValueError(
            f"editable must be a boolean array of shape ({n_fit},) (one entry "
            f"per fit row); got dtype {editable.dtype} and shape {editable.shape}."
        )
    return editable


def _label_budget(labels, editable, n_classes):
    """What taking labels away costs a member fit on rows labelled ``labels``
    (class indices, ``-1`` unlabeled): ``remove[c]``, every label of class
    ``c`` (``inf`` when one of them is not editable), and abstaining, every
    label (``inf`` when one is not editable)."""
    labeled = labels >= 0
    counts = np.bincount(labels[labeled], minlength=n_classes)
    locked = np.bincount(labels[labeled & ~editable], minlength=n_classes)
    remove = np.where(locked == 0, counts, np.inf).astype(float)
    abstain = np.inf if locked.sum() else float(counts.sum())
    return remove[:n_classes], abstain


def _dispatch(kind, member, X, n_classes, editable=None):
    method = getattr(member, kind, None)
    if callable(method):
        if editable is None:
            costs = method(X, n_classes)
        else:
            costs = method(X, n_classes, editable=editable)
    elif isinstance(member, KNeighborsClassifier):
        costs = knn_costs(member, X, n_classes, n_rows=int(member.n_samples_fit_))
    else:
        what = "label flips" if kind == "flip_costs" else "insertions/removals"
        raise TypeError(
            f"cost_aware=True needs members that state what it costs to turn them "
            f"({kind}, for {what}); {type(member).__name__} offers none. Use a "
            "member with costs (see skdpa.member_costs) or cost_aware=False."
        )
    costs = np.asarray(costs, dtype=np.float64)
    expected = (num_rows(X), n_classes + 1)
    if costs.shape != expected:
        raise ValueError(
            f"{type(member).__name__}.{kind} returned costs of shape {costs.shape}; "
            f"expected {expected}."
        )
    return costs


def flip_costs(member, X, n_classes, editable=None):
    """Lower bounds on the label flips that turn a fitted member, per class.

    The member's own ``flip_costs(X, n_classes, editable=...)`` method when
    it has one (e.g.
    :meth:`KNNLabelSpreading.flip_costs
    <skdpa.semi_supervised.KNNLabelSpreading.flip_costs>` with
    ``vote="soft"``), otherwise the costs this module knows for its type
    (:class:`~sklearn.neighbors.KNeighborsClassifier`: :func:`knn_costs`,
    which ignores ``editable``: its member saw only its partition's rows).
    A label flip is any change of one training sample's label in the member's
    partition, to or from unlabeled (``-1``) included.

    Parameters
    ----------
    member : estimator
        A fitted member, fit on class indices ``0 .. n_classes - 1``.
    X : array-like of shape (n_samples, n_features)
        Queries, as the member sees them.
    n_classes : int
        Classes the member may be turned to (a class index the member never
        saw included).
    editable : array-like of bool of shape (n_fit_rows,) or None, default=None
        For members fit on every row with other partitions' labels hidden
        (``SSDPAClassifier(..., pass_unlabeled=True)``): True for the rows,
        in the order the member was fit on them, of its own partition, the
        only rows whose labels count against its budget. None: every row it
        was fit on (always sound, looser). Passed to the member's method
        only when given.

    Returns
    -------
    costs : ndarray of shape (n_samples, n_classes + 1)
        Column ``c``: fewest flips in the member's partition that can make it
        output class ``c``; the last column: make it abstain. 0 at its output.

    Raises
    ------
    TypeError
        If the member's type offers no costs.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.member_costs import flip_costs
    >>> from skdpa.semi_supervised import KNNLabelSpreading
    >>> X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1]])
    >>> member = KNNLabelSpreading(2, metric="euclidean", vote="soft")
    >>> member = member.fit(X, [0, 0, -1, 1, -1])
    >>> mine = np.array([True, True, True, False, False])  # its partition
    >>> flip_costs(member, [[0.05]], n_classes=2, editable=mine)
    array([[ 0.,  1., inf]])

    Abstaining would need the label of row 3 removed, outside its partition.
    """
    return _dispatch("flip_costs", member, X, n_classes, editable)


def poison_costs(member, X, n_classes):
    """Lower bounds on the insertions/removals that turn a fitted member.

    As :func:`flip_costs`, for DPA's threat model: each poisoned sample is
    one training sample inserted into or removed from the member's partition
    (the member's ``poison_costs(X, n_classes)`` method, or
    :func:`knn_costs` for :class:`~sklearn.neighbors.KNeighborsClassifier`).

    Parameters
    ----------
    member : estimator
        A fitted member, fit on class indices ``0 .. n_classes - 1``.
    X : array-like of shape (n_samples, n_features)
        Queries, as the member sees them.
    n_classes : int
        Classes the member may be turned to.

    Returns
    -------
    costs : ndarray of shape (n_samples, n_classes + 1)
        As :func:`flip_costs`.

    Raises
    ------
    TypeError
        If the member's type offers no costs.
    """
    return _dispatch("poison_costs", member, X, n_classes)
