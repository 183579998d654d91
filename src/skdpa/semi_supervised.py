"""Semi-supervised members for SS-DPA: label spreading over a shared graph.

In SS-DPA the samples are trusted and only labels may be poisoned, so a graph
built from the samples alone can be shared by every member: member ``i``
spreads only the labels of its own partition over it. With
``SSDPAClassifier(KNNLabelSpreading(), pass_unlabeled=True)`` every member is
fit on all rows (labels hidden outside its partition); building the
k-nearest-neighbour graph is the expensive part, so it is built once per
process and reused by all members fit on the same rows.

The cache is keyed by a digest of the rows' bytes and the graph parameters,
so it can only return the graph the member would have built itself: it saves
time and never changes a result.
"""

import hashlib
import threading
import weakref
from collections import OrderedDict
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._persistence import ParamDefaultsOnLoad
from .member_costs import _checked_editable, _checked_n_classes, _label_budget

__all__ = [
    "KNNLabelSpreading",
    "LabeledOnly",
    "SemiSupervisedVoting",
    "clear_graph_cache",
    "graph_cache_info",
]

# Rows per block of the brute-force neighbour search: a block of distances to
# 60,000 rows then takes 240 MB in float32.
_BLOCK = 1024
_MAX_GRAPHS = 2
_MAX_QUERIES = 4

_lock = threading.RLock()
_graphs = OrderedDict()  # key -> _Graph (with its sparse operator)
_queries = OrderedDict()  # (graph key, query digest) -> (distances, indices)
_loaded = weakref.WeakValueDictionary()  # graphs of loaded members, shared
_stats = {"graph_hits": 0, "graph_misses": 0, "query_hits": 0, "query_misses": 0}


def _digest(X):
    """Digest of an array's values, shape and dtype (its bytes in C order)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((X.shape, X.dtype.str)).encode())
    h.update(memoryview(np.ascontiguousarray(X)).cast("B"))
    return h.hexdigest()


def _prepare(X, metric):
    """The rows the graph is built on: float32, unit length for cosine."""
    X = np.array(X, dtype=np.float32, order="C", copy=True)
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X /= np.maximum(norms, np.finfo(np.float32).tiny)
    return X


def _exact_sq_distances(queries, base, rows, cols):
    """Squared distances of the pairs (rows[i], cols[i]), each computed from
    its two rows alone (float64 differences summed along the row), so a
    pair's value never depends on the other rows of the batch."""
    out = np.empty(len(rows), dtype=np.float64)
    step = max(1, (1 << 20) // max(1, base.shape[1]))
    for a in range(0, len(rows), step):
        diff = base[cols[a : a + step]].astype(np.float64)
        diff -= queries[rows[a : a + step]]
        np.einsum("ij,ij->i", diff, diff, out=out[a : a + step])
    return out


def _nearest(queries, base, n_neighbors, exclude_self):
    """Squared distances and indices of the nearest rows of ``base``.

    Brute force in blocks: a float32 matrix product proposes candidates (every
    row within its rounding-error bound of the k-th distance), whose exact
    distances are then computed pair by pair. Neighbours are ordered by that
    distance and then by index, so each query's result is a deterministic
    function of that query and ``base`` alone, whatever else is in the batch
    (a matrix product's last bits depend on the block's shape). With
    ``exclude_self`` (queries is base) row ``i`` is never its own neighbour;
    an identical row elsewhere still is.
    """
    base_sq = np.einsum("ij,ij->i", base, base, dtype=np.float64)
    # |float32 dot - exact dot| <= d * 2**-24 * sum|q_i b_i| (any order);
    # doubled, with room for the float64 terms
    unit = (base.shape[1] + 4) * 2.0**-22
    base_max = float(base_sq.max()) if len(base_sq) else 0.0
    n = len(queries)
    dist = np.empty((n, n_neighbors), dtype=np.float64)
    index = np.empty((n, n_neighbors), dtype=np.int64)
    for start in range(0, n, _BLOCK):
        block = queries[start : start + _BLOCK]
        block_sq = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        d2 = base_sq[None, :] - 2.0 * (block @ base.T).astype(np.float64)
        d2 += block_sq[:, None]
        rows = np.arange(len(block))
        if exclude_self:
            d2[rows, start + rows] = np.inf
        kth = np.partition(d2, n_neighbors - 1, axis=1)[:, n_neighbors - 1]
        margin = unit * (block_sq + base_max) + 1e-300
        cand_rows, cand_cols = np.nonzero(d2 <= (kth + margin)[:, None])
        exact = _exact_sq_distances(block, base, cand_rows, cand_cols)
        order = np.lexsort((cand_cols, exact, cand_rows))
        cand_rows, cand_cols, exact = cand_rows[order], cand_cols[order], exact[order]
        first = np.searchsorted(cand_rows, rows)
        take = first[:, None] + np.arange(n_neighbors)[None, :]
        index[start : start + len(block)] = cand_cols[take]
        dist[start : start + len(block)] = exact[take]
    return dist, index


class _Graph:
    """A kNN graph over fixed rows: the rows, the kernel width, the operator.

    Members keep a reference to it (for prediction they need the rows and the
    kernel width); the normalised adjacency ``S`` is only needed by ``fit``
    and is rebuilt from the rows if a pickled member is fit again.
    """

    def __init__(self, key, X, sigma2, S):
        self.key = key
        self.X = X
        self.sigma2 = sigma2
        self.S = S

    def __getstate__(self):
        # the operator is recomputable from X and dominates the size
        return {"key": self.key, "X": self.X, "sigma2": self.sigma2, "S": None}

    def __setstate__(self, state):
        # A file is not this process's computation: the operator is dropped
        # (rebuilt from the rows if needed) and the key is recomputed from the
        # rows it describes, so a query cached under it is what the rows give.
        self.__dict__.update(state)
        self.S = None
        X = np.ascontiguousarray(self.X)
        key = self.key if isinstance(self.key, tuple) and len(self.key) == 3 else ()
        self.key = ("loaded", _digest(X), *map(repr, key[1:]))


def _build_graph(key, X, n_neighbors):
    n = len(X)
    k = min(n_neighbors, n - 1)
    if k < 1:
        return _Graph(key, X, 1.0, sp.csr_matrix((n, n)))
    d2, idx = _nearest(X, X, k, exclude_self=True)
    # kernel width: the median squared distance to the k-th neighbour, a
    # statistic of the (trusted) samples only
    sigma2 = float(np.median(d2[:, -1]))
    if not sigma2 > 0:
        sigma2 = 1.0
    w = np.exp(-d2 / sigma2)
    W = sp.csr_matrix((w.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), (n, n))
    W = W.maximum(W.T).tocsr()
    degree = np.asarray(W.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.maximum(degree, np.finfo(np.float64).tiny))
    S = sp.diags(scale) @ W @ sp.diags(scale)
    return _Graph(key, X, sigma2, S.tocsr())


def _shared_graph(X, n_neighbors, metric):
    """The graph of X from this process's cache, built on a miss."""
    X = _prepare(X, metric)
    key = (_digest(X), int(n_neighbors), metric)
    with _lock:
        graph = _graphs.get(key)
        if graph is not None and graph.S is not None:
            _graphs.move_to_end(key)
            _stats["graph_hits"] += 1
            return graph
        _stats["graph_misses"] += 1
        graph = _build_graph(key, X, n_neighbors)
        _graphs[key] = graph
        while len(_graphs) > _MAX_GRAPHS:
            _graphs.popitem(last=False)
        return graph


def _intern(graph):
    """One copy of a loaded graph per process (members unpickled in batches).

    Loaded graphs are shared among loaded members only, in a table of their
    own that fits never read: loading never writes the cache of graphs built
    by this process, so nothing in a file reaches a later fit.
    """
    with _lock:
        ref = (graph.key, float(graph.sigma2))
        cached = _loaded.get(ref)
        if cached is not None and np.array_equal(cached.X, graph.X):
            return cached
        _loaded[ref] = graph
        return graph


def _query_neighbors(graph, X, n_neighbors, metric):
    """Neighbours of new rows among the graph's rows, cached per process."""
    X = _prepare(X, metric)
    key = (graph.key, _digest(X), int(n_neighbors))
    with _lock:
        hit = _queries.get(key)
        if hit is not None:
            _queries.move_to_end(key)
            _stats["query_hits"] += 1
            return hit
        _stats["query_misses"] += 1
        k = min(n_neighbors, len(graph.X))
        hit = _nearest(X, graph.X, k, exclude_self=False)
        _queries[key] = hit
        while len(_queries) > _MAX_QUERIES:
            _queries.popitem(last=False)
        return hit


# Query influences of vote="soft": (graph key, query digest, k, alpha, steps)
# -> float32 (n_queries, n_rows). One entry: at Fashion-MNIST scale it holds
# 10,000 x 60,000 float32 (2.4 GB).
_MAX_INFLUENCES = 1
_influences = OrderedDict()
# Query columns per spreading block (float32 state of n_rows x 64: 15 MB at
# 60,000 rows); narrow blocks run the sparse product fastest.
_INFLUENCE_BLOCK = 64


# Spread mass of vote="soft" with class_mass: (graph key, k, alpha, steps)
# -> float64 (n_rows,), the vector m = P 1 (see _spread_mass).
_MAX_MASSES = 4
_masses = OrderedDict()


def _operator(graph, n_neighbors):
    """The graph's spreading operator, rebuilt from its rows if dropped."""
    if graph.S is None:
        graph.S = _build_graph(graph.key, graph.X, n_neighbors).S
    return graph.S


def _query_influences(graph, X, n_neighbors, metric, alpha, steps):
    """Influence ``A[q, j] >= 0`` of training row ``j``'s label on query ``q``.

    With ``F = P Y`` the labels spread by ``steps`` steps from ``F_0 = Y``
    (``P = (alpha S)^steps + (1 - alpha) sum_{t < steps} (alpha S)^t``, a
    polynomial in the symmetric ``S``, so symmetric and non-negative), the
    soft scores of query ``q`` are ``W_q F = (W_q P) Y``: ``A = W_q P``. Its
    transpose ``P W_q^T`` is spread block by block of queries, so memory
    beyond the result stays bounded; cached per process (thread safe). In
    float32: every column is computed on its own, in a fixed order, so a
    query's influences do not depend on the other queries, and prediction
    and costs read the same numbers.
    """
    Xp = _prepare(X, metric)
    key = (graph.key, _digest(Xp), int(n_neighbors), float(alpha), int(steps))
    with _lock:
        hit = _influences.get(key)
        if hit is not None:
            _influences.move_to_end(key)
            return hit
        d2, idx = _query_neighbors(graph, X, n_neighbors, metric)
        weight = np.exp(-d2 / graph.sigma2)
        S = _operator(graph, n_neighbors).astype(np.float32)
        n, q = len(graph.X), len(Xp)
        out = np.empty((q, n), dtype=np.float32)
        for start in range(0, q, _INFLUENCE_BLOCK):
            stop = min(q, start + _INFLUENCE_BLOCK)
            cols = np.repeat(np.arange(stop - start), idx.shape[1])
            Wt = sp.csr_matrix(
                (weight[start:stop].ravel(), (idx[start:stop].ravel(), cols)),
                (n, stop - start),
            ).toarray()
            B = Wt.astype(np.float32)
            Wt *= 1.0 - alpha
            Wt = Wt.astype(np.float32)
            for _ in range(steps):
                B = S @ B
                B *= np.float32(alpha)
                B += Wt
            out[start:stop] = B.T
        _influences[key] = out
        while len(_influences) > _MAX_INFLUENCES:
            _influences.popitem(last=False)
        return out


def _spread_mass(graph, n_neighbors, alpha, steps):
    """Mass ``m[j] > 0`` that training row ``j``'s label gives its class.

    With ``F = P Y`` the labels spread by ``steps`` steps (``P`` symmetric,
    see :func:`_query_influences`), class ``c``'s total spread mass over the
    graph's rows is ``1^T P Y_c = (P 1)^T Y_c``: ``m = P 1``, one spreading
    of a vector of ones (float64), cached per process by the graph's content
    key and the spreading parameters. ``P`` holds ``(1 - alpha) I``, so
    every ``m[j] >= 1 - alpha > 0``: a class has mass exactly when it has a
    label.
    """
    key = (graph.key, int(n_neighbors), float(alpha), int(steps))
    with _lock:
        hit = _masses.get(key)
        if hit is not None:
            _masses.move_to_end(key)
            return hit
        S = _operator(graph, n_neighbors)
        ones = np.ones(len(graph.X))
        m = ones.copy()
        for _ in range(steps):
            m = alpha * (S @ m) + (1.0 - alpha) * ones
        m.setflags(write=False)
        _masses[key] = m
        while len(_masses) > _MAX_MASSES:
            _masses.popitem(last=False)
        return m


def graph_cache_info():
    """Hits and misses of this process's graph cache.

    Returns
    -------
    info : dict
        ``graph_hits`` / ``graph_misses`` count :meth:`KNNLabelSpreading.fit`
        calls that found / built their graph; ``query_hits`` /
        ``query_misses`` the same for the neighbours of rows to predict;
        ``graphs`` is the number of graphs held.

    Examples
    --------
    >>> from skdpa.semi_supervised import clear_graph_cache, graph_cache_info
    >>> clear_graph_cache()
    >>> graph_cache_info()["graph_misses"]
    0
    """
    with _lock:
        return {**_stats, "graphs": len(_graphs)}


def clear_graph_cache():
    """Drop the cached graphs and neighbour sets of this process, reset counts.

    Fitted members keep what they need, so this only frees memory (and makes
    the next fit rebuild its graph).

    Examples
    --------
    >>> from skdpa.semi_supervised import clear_graph_cache, graph_cache_info
    >>> clear_graph_cache()
    >>> graph_cache_info()["graphs"]
    0
    """
    with _lock:
        _graphs.clear()
        _queries.clear()
        _influences.clear()
        _masses.clear()
        for name in _stats:
            _stats[name] = 0


class KNNLabelSpreading(ParamDefaultsOnLoad, ClassifierMixin, BaseEstimator):
    """Label spreading (Zhou et al., 2004) over a kNN graph of the samples.

    ``fit(X, y)`` treats ``y == -1`` as unlabeled. A k-nearest-neighbour graph
    with heat-kernel weights is built from ``X`` alone (never from ``y``), and
    the labels are spread over it: ``F <- alpha * S @ F + (1 - alpha) * Y``
    with ``S`` the symmetrically normalised adjacency. A new row is classified
    by its ``n_neighbors`` nearest training rows, weighted by the same kernel,
    each voting with its spread label distribution.

    Made to be the member of
    ``SSDPAClassifier(KNNLabelSpreading(), pass_unlabeled=True)``: all ``k``
    members are fit on the same rows, so the graph is built once per process
    and shared (see :func:`graph_cache_info`); each member spreads only its
    own partition's labels. The cache is keyed by a digest of the rows, so it
    changes time, never results. A member depends on the rows *in the order
    given* (ties between equally distant neighbours go to the smaller row
    index); SS-DPA passes them in a canonical content order.

    Unlike :class:`sklearn.semi_supervised.LabelSpreading`, a fitted member
    stores one label per training row (not a dense distribution) and shares
    the training rows with every other member fit on them, so ``k`` members
    on 60,000 rows fit in memory.

    Parameters
    ----------
    n_neighbors : int, default=10
        Neighbours per row in the graph, and of each new row at prediction.
    alpha : float in (0, 1), default=0.99
        Weight of the neighbours' labels against a row's own label in each
        spreading step; close to 1 lets labels travel far, as needed with a
        few labels among many rows.
    max_iter : int, default=100
        Most spreading steps.
    tol : float, default=1e-4
        Stop when no entry of the spread label scores moves by more than
        ``tol`` times the largest one in a step.
    metric : {"cosine", "euclidean"}, default="cosine"
        Distance of the graph: ``"cosine"`` scales every row to unit length
        first.
    class_mass : {"uniform", "labels"} or None, default=None
        Class mass normalisation (Zhu, Ghahramani & Lafferty, 2003): after
        spreading, scale each class's scores so that the classes' total
        masses are equal (``"uniform"``) or follow the proportions of the
        given labels (``"labels"``). With a handful of labels per class, as
        in SS-DPA members at large ``k``, ``"uniform"`` removes the pull of
        whichever classes happen to have more labels in a partition; it
        assumes roughly balanced classes. A fixed setting, so the member
        stays a function of the samples and its own labels. With
        ``vote="soft"`` class ``c`` scores ``prior_c * a(x)^T Y_c / M_c``,
        ``M_c = m^T Y_c`` its total spread mass over the training rows after
        ``max_iter`` steps (``m`` the mass each row's label spreads, computed
        once per graph and cached); ``transduction_`` is normalised the same
        way, as the hard vote normalises its spread scores.
    vote : {"hard", "soft"}, default="hard"
        How a new row's neighbours vote. ``"hard"``: each votes for its
        spread label, weighted by the kernel and its confidence, spreading
        stopped by ``tol`` (not linear in the labels). ``"soft"``: the row's
        class scores are the kernel-weighted sum of its neighbours' spread
        scores after exactly ``max_iter`` steps (``tol`` unused), so they are
        linear in the labels, ``scores(x) = a(x)^T Y`` with ``a(x) >= 0`` the
        influence of each training row, the same for every member on the
        graph; prediction is the largest score, ties (and rows no label
        reaches) to the smaller class. Then :meth:`flip_costs` prices
        poisoning. The influences of a query set are computed once per
        process and cached (``4 * n_queries * n_rows`` bytes), so fit does
        not spread at all. With ``class_mass`` each class's score is divided
        by its spread mass (see ``class_mass``): a ratio of two linear
        functions of the labels, priced by a looser bound.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``y`` (``-1``, the unlabeled marker, excluded).
    transduction_ : ndarray of shape (n_samples,)
        Label given to each training row by spreading.
    confidence_ : ndarray of shape (n_samples,), dtype float32
        Share of the winning class in each training row's spread distribution
        (0 for rows no label reached); the weight of the row's vote at
        prediction.
    n_iter_ : int
        Spreading steps run.
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    sklearn.semi_supervised.LabelSpreading : builds its graph at every fit and
        stores dense label distributions.
    skdpa.SSDPAClassifier : with ``pass_unlabeled=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.semi_supervised import KNNLabelSpreading
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 0.3, (20, 2)), rng.normal(3, 0.3, (20, 2))])
    >>> y = np.full(40, -1)
    >>> y[0], y[20] = 0, 1  # one label per cluster
    >>> clf = KNNLabelSpreading(n_neighbors=5, metric="euclidean").fit(X, y)
    >>> clf.predict([[0.1, -0.2], [2.9, 3.1]])
    array([0, 1])
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "metric": [StrOptions({"cosine", "euclidean"})],
        "class_mass": [StrOptions({"uniform", "labels"}), None],
        "vote": [StrOptions({"hard", "soft"})],
    }

    def __init__(
        self,
        n_neighbors=10,
        *,
        alpha=0.99,
        max_iter=100,
        tol=1e-4,
        metric="cosine",
        class_mass=None,
        vote="hard",
    ):
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.metric = metric
        self.class_mass = class_mass
        self.vote = vote

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Build (or reuse) the graph of X and spread the labels of y over it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All samples, labeled and unlabeled. Only these values (and the
            graph parameters) decide the graph.
        y : array-like of shape (n_samples,)
            Labels; ``-1`` marks an unlabeled row.

        Returns
        -------
        self : KNNLabelSpreading
            The fitted classifier.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        y = column_or_1d(y)
        check_classification_targets(y)
        labeled = _labeled_rows(y)
        self.classes_, y_idx = np.unique(y[labeled], return_inverse=True)
        n_classes = len(self.classes_)
        if self.vote == "soft":
            # nothing to spread now: a query's scores are its influences
            # (shared by every member on this graph) times these labels
            self._graph = _shared_graph(X, self.n_neighbors, self.metric)
            self._labeled = np.flatnonzero(labeled)
            self._labels = y_idx.astype(np.int64)
            self.n_iter_ = int(self.max_iter)
            return self
        self._labeled = None
        graph = _shared_graph(X, self.n_neighbors, self.metric)
        Y = np.zeros((len(X), n_classes))
        Y[np.flatnonzero(labeled), y_idx] = 1.0
        F = Y.copy()
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            new = self.alpha * (graph.S @ F) + (1.0 - self.alpha) * Y
            self.n_iter_ += 1
            delta = np.abs(new - F).max()
            F = new
            if delta <= self.tol * max(F.max(), np.finfo(np.float64).tiny):
                break
        if self.class_mass is not None:
            # Zhu, Ghahramani & Lafferty (2003): scale each class's column so
            # that the classes' total masses follow the prior. With a few
            # labels per class, the classes with more labels otherwise claim
            # too many rows, differently in every member.
            if self.class_mass == "uniform":
                prior = np.full(n_classes, 1.0 / n_classes)
            else:
                prior = np.bincount(y_idx, minlength=n_classes) / len(y_idx)
            mass = F.sum(axis=0)
            F = F * np.where(mass > 0, prior / np.maximum(mass, 1e-300), 0.0)
        total = F.sum(axis=1)
        reached = total > 0
        best = np.argmax(F, axis=1)
        confidence = np.zeros(len(X), dtype=np.float32)
        confidence[reached] = F[reached, best[reached]] / total[reached]
        # rows no label reached vote for nobody (confidence 0); prediction
        # falls back to the most frequent label when all neighbours are such
        self.confidence_ = confidence
        self._best = best.astype(np.min_scalar_type(max(n_classes - 1, 0)))
        self._prior = int(np.argmax(np.bincount(y_idx, minlength=n_classes)))
        self._graph = graph
        return self

    @property
    def transduction_(self):
        """Label given to each training row by spreading."""
        check_is_fitted(self, "_graph")
        if getattr(self, "_labeled", None) is not None:
            # vote="soft": spread now, max_iter steps (ties to the smaller class)
            n = len(self._graph.X)
            Y = np.zeros((n, len(self.classes_)))
            Y[self._labeled, self._labels] = 1.0
            S = _operator(self._graph, self.n_neighbors)
            F = Y.copy()
            for _ in range(self.max_iter):
                F = self.alpha * (S @ F) + (1.0 - self.alpha) * Y
            # the class weights of the scores (class_mass), so that a row of
            # the training set is labelled as a query at that row would be
            return self.classes_[np.argmax(F * self._class_weights(), axis=1)]
        return self.classes_[self._best]

    def _class_weights(self):
        """vote="soft": each class's score multiplier, float64 (n_classes,).

        1 without ``class_mass``; else ``prior_c / M_c`` with ``M_c = m^T
        Y_c`` the class's total spread mass over the graph's rows
        (:func:`_spread_mass`) and ``prior_c`` ``1 / n_classes``
        (``"uniform"``) or the class's share of the labels (``"labels"``),
        as the hard vote normalises its spread scores; 0 for a class of zero
        mass (one without a label: fit never sees one).
        """
        n_classes = len(self.classes_)
        if self.class_mass is None:
            return np.ones(n_classes)
        m = _spread_mass(self._graph, self.n_neighbors, self.alpha, self.max_iter)
        mass = np.bincount(self._labels, weights=m[self._labeled], minlength=n_classes)
        if self.class_mass == "uniform":
            prior = np.full(n_classes, 1.0 / n_classes)
        else:
            prior = np.bincount(self._labels, minlength=n_classes) / len(self._labels)
        return np.where(mass > 0, prior / np.where(mass > 0, mass, 1.0), 0.0)

    def _raw_scores(self, X):
        """vote="soft": ``A[:, labeled] @ Y``, float64 (n_samples, n_classes)."""
        A = _query_influences(
            self._graph, X, self.n_neighbors, self.metric, self.alpha, self.max_iter
        )
        Y = np.zeros((len(self._labeled), len(self.classes_)))
        Y[np.arange(len(self._labeled)), self._labels] = 1.0
        return A[:, self._labeled].astype(np.float64) @ Y

    def _soft_scores(self, X):
        """vote="soft": the raw scores times the class weights (class_mass)."""
        return self._raw_scores(X) * self._class_weights()

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_graph" in self.__dict__:
            self._graph = _intern(self._graph)

    def predict_proba(self, X):
        """Kernel-weighted label shares of each row's nearest training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns in ``classes_`` order.
        """
        check_is_fitted(self, "_graph")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        n_classes = len(self.classes_)
        if len(X) == 0:
            return np.empty((0, n_classes))
        if getattr(self, "_labeled", None) is not None:
            scores = self._soft_scores(X)
            total = scores.sum(axis=1, keepdims=True)
            empty = total[:, 0] <= 0
            scores[empty] = 1.0  # no label reaches the row: smallest class
            total[empty] = n_classes
            return scores / total
        d2, idx = _query_neighbors(self._graph, X, self.n_neighbors, self.metric)
        weight = np.exp(-d2 / self._graph.sigma2) * self.confidence_[idx]
        scores = np.zeros((len(X), n_classes))
        rows = np.repeat(np.arange(len(X)), idx.shape[1])
        np.add.at(scores, (rows, self._best[idx].ravel()), weight.ravel())
        total = scores.sum(axis=1, keepdims=True)
        empty = total[:, 0] <= 0
        scores[empty, self._prior] = 1.0
        total[empty] = 1.0
        return scores / total

    def predict(self, X):
        """Class of the largest share (ties to the smaller class index).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self, "_graph")
        if getattr(self, "_labeled", None) is not None:
            # the raw scores, exactly as flip_costs reads them
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
            if len(X) == 0:
                return self.classes_[:0]
            return self.classes_[np.argmax(self._soft_scores(X), axis=1)]
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # flip_costs counts a margin closed to a tie as reached, whichever class
    # the tie goes to: its cost for a class index the member never saw holds
    # wherever that label sorts (the ensembles read this for a new label)
    _costs_count_ties = True
    # flip_costs price edits of the rows it was fit on (a graph or Gram matrix
    # over them): SSDPAClassifier must give it every row (pass_unlabeled=True)
    _flip_costs_need_unlabeled_rows = True

    def _mass_costs(self, X, A, labels, cols, remove, n_classes):
        """flip_costs' class columns with ``class_mass`` (see the theory page).

        Output ``c'`` instead of the current ``c`` needs ``c`` to lose every
        label (``remove[c]``) or ``w_c' R_c' >= w_c R_c`` (a tie counted as
        reached, wherever it goes): after ``b`` edits the rival's score is
        at most ``upper[c'][b]`` and the current class's at least
        ``lower[c][b]`` (:func:`_ratio_bounds`), so no ``b`` below the first
        where the bounds cross does it; from there, each ``b`` that
        :meth:`_impossible` rules out adds one.
        """
        seen = np.asarray(self.classes_)
        labeled = self._labeled
        m = _spread_mass(self._graph, self.n_neighbors, self.alpha, self.max_iter)
        row_labels = labels[labeled]
        M = np.bincount(row_labels, weights=m[labeled], minlength=n_classes)
        counts = np.bincount(row_labels, minlength=n_classes).astype(np.float64)
        current_all = seen[np.argmax(self._soft_scores(X), axis=1)]  # as predict
        raw_all = self._raw_scores(X)
        out = np.empty((len(X), n_classes))
        n_e = len(cols)
        B = min(n_e, _MAX_MASS_EDITS)
        # bounds of every class for a block of rows: 2 (C, rows, B + 1), and
        # the (rows, n_e) influences sorted per class
        step = max(1, (1 << 21) // ((n_e + 1) * n_classes))
        for start in range(0, len(X), step):
            stop = min(len(X), start + step)
            rows = np.arange(stop - start)
            N = np.zeros((stop - start, n_classes))
            N[:, seen] = raw_all[start:stop]
            ratio = A[start:stop][:, labeled].astype(np.float64) / m[labeled]
            rho = np.full((stop - start, n_classes), -np.inf)
            for c in np.unique(row_labels):
                rho[:, c] = ratio[:, row_labels == c].max(axis=1)
            lower, upper = _ratio_bounds(
                A[start:stop][:, cols].astype(np.float64),
                m[cols],
                labels[cols],
                N,
                M,
                counts,
                rho,
                by_count=self.class_mass == "labels",
                max_edits=B,
            )
            current = current_all[start:stop]
            floor = lower[current, rows] * (1 - _MASS_TOL)
            a_e = A[start:stop][:, cols].astype(np.float64)
            for c in range(n_classes):
                reach = upper[c] * (1 + _MASS_TOL) >= floor
                t = np.where(reach.any(axis=1), np.argmax(reach, axis=1), B + 1)
                t = np.maximum(t, 1)
                # where the bounds meet, try to prove the crossing impossible
                # with the exact ratio of each class (numerators and masses
                # of the same rows). A proof at b rules out every b' <= b (the
                # exact extremes are monotone in b), so the cost is one more
                # than the largest b proven; b is searched by galloping from
                # the grid's crossing, then bisecting (proofs are nearly
                # monotone in b: a missed one only lowers the cost)
                proven = (t - 1).astype(np.int64)  # the grid rules out b < t
                # no need to prove beyond B, nor beyond removing the class
                cap = np.minimum(B, remove[current] - 1).astype(np.int64)
                failed = cap + 1  # the least b not proven (none tried yet)
                bisect = np.zeros(len(t), dtype=bool)  # a proof has failed
                jump = np.ones(len(t), dtype=np.int64)
                while True:
                    g = np.flatnonzero((current != c) & (failed - proven > 1))
                    if not len(g):
                        break
                    probe = np.where(
                        bisect[g],
                        (proven[g] + failed[g]) // 2,
                        np.minimum(proven[g] + jump[g], cap[g]),
                    )
                    done = self._impossible(
                        a_e[g],
                        m[cols],
                        labels[cols],
                        N[g],
                        M,
                        counts,
                        rho[g],
                        current[g],
                        c,
                        probe,
                        lower,
                        upper,
                        g,
                    )
                    proven[g[done]] = probe[done]
                    jump[g[done]] *= 2
                    failed[g[~done]] = probe[~done]
                    bisect[g[~done]] = True
                t = proven + 1.0
                # not reached within B edits: more than B (none if B = n_e)
                t = np.where(t > B, np.inf if B == n_e else B + 1.0, t)
                out[start:stop, c] = np.minimum(t, remove[current])
            out[start + rows, current] = 0.0
        return out

    def _impossible(
        self, a, m, labels_e, N, M, counts, rho, cur, c, b, lower, upper, g
    ):
        """Rows where no ``b`` edits make class ``c`` reach the row's current
        class ``cur`` (proven with :func:`_certified_ratio`, combined with
        the grid bounds of :func:`_ratio_bounds`)."""
        rows = np.arange(len(a))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_cur = N[rows, cur] / M[cur]
            ratio_c = np.where(M[c] > 0, N[:, c] / M[c], 0.0)
            top = np.max(a / m, axis=1, initial=0.0)
        low = _certified_ratio(
            a,
            m,
            labels_e[None, :] == cur[:, None],
            N[rows, cur],
            M[cur],
            b,
            np.zeros(len(a)),
            ratio_cur,
            minimise=True,
        )
        high = _certified_ratio(
            a,
            m,
            labels_e == c,
            N[:, c],
            M[c],
            b,
            ratio_c,
            np.maximum(np.maximum(rho[:, c], top), ratio_c),
            minimise=False,
        )
        if self.class_mass == "labels":
            low = low * np.maximum(counts[cur] - b, 1)
            high = high * (counts[c] + b)
        low = np.maximum(low, lower[cur, g, b])
        high = np.minimum(high, upper[c, g, b])
        done = high * (1 + _MASS_TOL) < low * (1 - _MASS_TOL)
        joint = ~done & (b <= _JOINT_MAX_EDITS)
        if self.class_mass == "uniform" and joint.any():
            # one budget for both classes: the ratio where they would meet
            # lies in [low, high]; rule out every piece of that interval
            # (time grows with b squared: only up to _JOINT_MAX_EDITS)
            rest = np.flatnonzero(joint)
            done[rest] = _joint_impossible(
                a[rest],
                m,
                labels_e,
                N[rest],
                M,
                cur[rest],
                c,
                b[rest],
                low[rest] * (1 - _MASS_TOL),
                high[rest] * (1 + _MASS_TOL),
            )
        return done

    def _check_cost_params(self, kind):
        """Refuse, before any fit, parameters :meth:`flip_costs` cannot price
        (``cost_aware=True`` ensembles call this with the cost kind)."""
        if kind == "flip_costs" and self.vote != "soft":
            raise ValueError(
                "cost_aware=True prices KNNLabelSpreading members with "
                "vote='soft' only (scores linear in the labels); got "
                f"vote={self.vote!r}."
            )

    def flip_costs(self, X, n_classes, editable=None):
        """Fewest label edits that can turn this member, per row and class.

        For ``vote="soft"`` only. Without ``class_mass``, a row's scores are
        ``s = a^T Y``: ``a >= 0`` the influences of the training rows on it
        (see the class docstring), ``Y`` the one-hot labels (``-1`` rows
        zero). To output class ``c'`` instead of the current output ``c``,
        the margin ``s_c - s_c'`` must close (strictly unless ``c' < c``):
        relabelling a row ``j`` from ``c`` to ``c'`` gains ``2 a_j``; any
        other single edit gains at most ``a_j`` (a row of another class or
        ``-1`` relabelled ``c'``, a ``c`` row relabelled to another class or
        to ``-1``), and edits to rows labelled ``c'`` gain nothing. Taking
        the largest gains first gives the fewest edits that close the margin
        (exact for the pairwise margin). The other way out, removing every
        label of class ``c``, costs their number. The cost is the smaller of
        the two: a lower bound in general, exact when the member saw exactly
        two classes and both are in ``range(n_classes)`` (up to a relative
        rounding tolerance of ``1e-7``, which only lowers costs). Abstaining
        (no label left: fit refuses) costs every label, or ``inf`` when a
        labelled row is not editable.

        With ``class_mass``, class ``c`` scores ``w_c N_c / M_c``
        (influence over spread mass of its labels, ``w_c`` 1 or its label
        count). ``b`` edits change at most ``b`` rows of each class's label
        set, so after ``b`` edits the current class's score is at least, and
        the rival's at most, what removing its editable rows of largest
        influence (resp. smallest) and adding the editable rows of largest
        mass (resp. largest influence and smallest mass) could give, the
        numerators and masses bounded separately; where these meet, each
        class's exact extreme ratio after ``b`` changes of its label set is
        bounded by bisection on a threshold that a greedy choice of rows
        proves, and with ``"uniform"`` (up to 16 edits) a proof that shares
        the budget between the two classes rules out more. The cost is the
        first ``b`` that these bounds cannot rule out (a tie counts as
        reached), or removing every label of the current class: a sound
        lower bound, not exact even with two classes (see the theory page).
        The bounds are computed up to 64 edits (time ``O(n_samples *
        n_classes * min(n_editable, 64) ** 2)`` for the first bounds, then
        bisections over the editable rows); a cost not reached by then is
        stated as 65.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to price.
        n_classes : int
            Classes of the ensemble; the member was fit on class indices
            below it.
        editable : array-like of bool of shape (n_fit_rows,) or None, \
default=None
            True for the rows (in the order fit saw them) whose labels count
            against this member (its own partition); None: every row.

        Returns
        -------
        costs : ndarray of shape (n_samples, n_classes + 1)
            Column ``c``: a lower bound on the edits that make the member
            output class index ``c``; last column: abstain. 0 at its output.

        Examples
        --------
        >>> import numpy as np
        >>> from skdpa.semi_supervised import KNNLabelSpreading
        >>> X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1]])
        >>> y = np.array([0, 0, -1, 1, -1])
        >>> clf = KNNLabelSpreading(2, metric="euclidean", vote="soft").fit(X, y)
        >>> clf.flip_costs([[0.05], [1.05]], n_classes=2)
        array([[0., 1., 3.],
               [1., 0., 3.]])

        Normalised by class mass, the two labels of class 0 outweigh one
        more label of class 1 near ``0.05`` (two edits, here reached):

        >>> clf.set_params(class_mass="uniform").fit(X, y).flip_costs(
        ...     [[0.05], [1.05]], n_classes=2)
        array([[0., 2., 3.],
               [1., 0., 3.]])
        """
        check_is_fitted(self, "_graph")
        if getattr(self, "_labeled", None) is None:
            raise ValueError(
                "flip_costs needs vote='soft' (scores linear in the labels); "
                f"this member has vote={self.vote!r}."
            )
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        seen = _checked_n_classes(self.classes_, n_classes)
        n_fit = len(self._graph.X)
        editable = _checked_editable(editable, n_fit)
        q = len(X)
        costs = np.empty((q, n_classes + 1))
        labels = np.full(n_fit, -1, dtype=np.int64)
        labels[self._labeled] = seen[self._labels]
        # removing every label of the current output (all editable)
        remove, costs[:, n_classes] = _label_budget(labels, editable, n_classes)
        if q == 0:
            return costs
        cols = np.flatnonzero(editable)
        col_labels = labels[cols]
        A = _query_influences(
            self._graph, X, self.n_neighbors, self.metric, self.alpha, self.max_iter
        )
        if self.class_mass is not None:
            costs[:, :n_classes] = self._mass_costs(
                X, A, labels, cols, remove, n_classes
            )
            return costs
        raw_all = self._soft_scores(X)  # exactly as predict reads them
        current_all = seen[np.argmax(raw_all, axis=1)]
        step = max(1, (1 << 22) // max(1, len(cols)))
        for start in range(0, q, step):
            stop = min(q, start + step)
            raw, current = raw_all[start:stop], current_all[start:stop]
            scores = np.zeros((stop - start, n_classes))
            scores[:, seen] = raw
            a = A[start:stop][:, cols].astype(np.float64)
            rows = np.arange(stop - start)
            tol = 1e-7 * (raw.sum(axis=1) + a.sum(axis=1))
            # a row of the current output gains 2 a_j, any other a_j, except
            # rows of the rival itself: sort once, zero those per rival
            base = a * (1.0 + (col_labels[None, :] == current[:, None]))
            order = np.argsort(-base, axis=1)
            base = np.take_along_axis(base, order, axis=1)
            sorted_labels = col_labels[order]
            for c in range(n_classes):
                need = scores[rows, current] - scores[:, c] - tol
                # fewest largest gains whose sum reaches the margin
                rival = sorted_labels == c
                reach = np.cumsum(np.where(rival, 0.0, base), axis=1)
                total = reach[:, -1] if len(cols) else np.zeros(len(need))
                # edits = entries up to where the sum first reaches the margin,
                # not counting the rival's own rows (zero gain, not edited)
                at = np.minimum((reach < need[:, None]).sum(axis=1), len(cols) - 1)
                edits = (
                    np.cumsum(~rival, axis=1) if len(cols) else np.zeros((len(need), 1))
                )
                t = np.where(need > 0.0, edits[rows, np.maximum(at, 0)], 0)
                t = t.astype(np.float64)
                t[total < need] = np.inf
                t = np.minimum(t, remove[current])
                costs[start:stop, c] = np.maximum(t, 1.0)
            costs[start + rows, current] = 0.0
        return costs


# the class-mass bounds are computed up to this many edits (time grows with
# its square); a cost not reached by then is stated as one more
_MAX_MASS_EDITS = 64
# the proofs that share one budget between the two classes run up to this
# many edits (time grows with its square)
_JOINT_MAX_EDITS = 16
# relative slack of the class-mass bounds: far above float64 rounding of the
# sums (float32 influences summed in float64), and it only lowers costs
_MASS_TOL = 1e-6


def _ratio_bounds(a, m, labels_e, N, M, counts, rho, by_count, max_edits):
    """Bounds on a class's normalised score after ``b`` label edits, every b.

    Class ``c`` scores ``w_c R_c`` with ``R_c = N_c / M_c`` (influence and
    spread mass of its labelled rows) and ``w_c`` 1 (``"uniform"``) or its
    label count (``"labels"``; the common factors dropped). ``b`` edits of
    the editable rows remove ``r`` rows from ``c`` and add ``s`` others,
    ``r + s <= b``: ``N_c`` keeps at least ``N_c`` minus its ``r`` largest
    editable influences, ``M_c`` at most ``M_c`` minus its ``r`` smallest
    editable masses, and the added rows bring at least 0 and at most the
    ``s`` largest influences, at least the ``s`` smallest and at most the
    ``s`` largest masses of the editable rows outside ``c``. Ratios of these
    bound ``R_c`` (as does the largest ``a_j / m_j`` of any row the class
    can hold, ``rho``), the count moves to ``counts[c] - r + s``.

    Parameters: ``a`` (q, n_e) influences of the editable rows, ``m``
    (n_e,) their masses, ``labels_e`` (n_e,) their labels; ``N`` (q, C),
    ``M`` (C,), ``counts`` (C,) of every labelled row; ``rho`` (q, C) the
    largest ``a_j / m_j`` among class ``c``'s rows (``-inf`` if none).

    Returns ``lower, upper`` of shape (C, q, B + 1), ``B = min(n_e,
    max_edits)``: entry ``b`` bounds ``w_c R_c`` over every edit set of at
    most ``b`` edits that leaves ``c`` a label (``lower`` ``inf`` /
    ``upper`` ``-inf`` where none does).
    """
    q, n_e = a.shape
    n_classes = len(M)
    B = min(n_e, max_edits)
    lower = np.full((n_classes, q, B + 1), np.inf)
    upper = np.full((n_classes, q, B + 1), -np.inf)
    slack = 1e-9 * (a.sum(axis=1) + N.sum(axis=1))  # rounding of the sums
    for c in range(n_classes):
        inside = labels_e == c
        a_in, a_out = a[:, inside], a[:, ~inside]
        m_in, m_out = m[inside], m[~inside]
        e, o = a_in.shape[1], a_out.shape[1]

        def prefix(v, axis=-1):
            shape = list(v.shape)
            shape[axis] = 1
            return np.concatenate([np.zeros(shape), np.cumsum(v, axis=axis)], axis)

        a_sorted = np.sort(a_in, axis=1)
        top_a = prefix(a_sorted[:, ::-1])  # r largest influences of c
        low_a = prefix(a_sorted)  # r smallest
        m_sorted = np.sort(m_in)
        low_m, top_m = prefix(m_sorted), prefix(m_sorted[::-1])
        mo_sorted = np.sort(m_out)
        low_mo, top_mo = prefix(mo_sorted), prefix(mo_sorted[::-1])
        top_ao = prefix(np.sort(a_out, axis=1)[:, ::-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            rho_out = (a_out / m_out).max(axis=1) if o else np.full(q, -np.inf)
        n_c, N_c, M_c = counts[c], N[:, c], M[c]
        for r in range(min(e, B) + 1):
            n_s = min(o, B - r) + 1  # s = 0 .. n_s - 1 added rows
            cols = slice(r, r + n_s)  # b = r + s
            added = np.arange(n_s)
            weight = (n_c - r + added) if by_count else np.ones(n_s)
            # lower: least numerator over most mass
            num = np.maximum(N_c - top_a[:, r] - slack, 0.0)
            den = max(M_c - low_m[r], 0.0) * (1 + _MASS_TOL) + top_mo[:n_s]
            with np.errstate(divide="ignore", invalid="ignore"):
                low = np.where(den > 0, num[:, None] / den, 0.0) * weight
            # upper: most numerator over least mass, or the largest ratio
            num = (N_c - low_a[:, r] + slack)[:, None] + top_ao[:, :n_s]
            den = max(M_c - top_m[r], 0.0) * (1 - _MASS_TOL) + low_mo[:n_s]
            with np.errstate(divide="ignore", invalid="ignore"):
                high = np.where(den > 0, num / den, np.inf)
            most = np.empty((q, n_s))
            most[:] = np.maximum(rho[:, c], rho_out)[:, None]
            most[:, 0] = rho[:, c]  # nothing added
            with np.errstate(invalid="ignore"):  # -inf * 0: overwritten below
                high = np.minimum(high, most) * weight
            if r == n_c:  # every label of c removed: c needs an added one
                low[:, 0], high[:, 0] = np.inf, -np.inf
            np.minimum(lower[c][:, cols], low, out=lower[c][:, cols])
            np.maximum(upper[c][:, cols], high, out=upper[c][:, cols])
        np.minimum.accumulate(lower[c], axis=1, out=lower[c])
        np.maximum.accumulate(upper[c], axis=1, out=upper[c])
    return lower, upper


def _certified_ratio(a, m, inside, N_c, M_c, b, lo, hi, minimise, iters=20):
    """A certified bound on class ``c``'s ratio ``N'_c / M'_c`` after at most
    ``b`` changes of its label set, exact up to the bisection's resolution.

    For a threshold ``lam`` every reachable set ``T`` has ``sum_T (a - lam
    m) >= G(lam)``, with ``G`` the base set's value minus the ``b`` largest
    gains: removing an editable row of ``c`` gains ``f_j = a_j - lam m_j``,
    adding an editable row outside gains ``-f_j`` (minimise; signs flipped
    to maximise). ``G(lam) > 0`` proves every nonempty reachable set has a
    ratio above ``lam`` (the empty set, when reachable, has value 0 and so
    proves nothing, which only keeps the bound where it was). Bisection
    between ``lo`` and ``hi`` keeps the side that is proven.

    ``a`` (q, n_e), ``m`` (n_e,), ``inside`` (n_e,) or (q, n_e) the
    editable rows of ``c`` (``c`` may differ per row); ``N_c`` (q,) and
    ``M_c`` (scalar or (q,)) over all of ``c``'s labelled rows; ``b`` (q,)
    budgets. Returns the largest proven lower bound (minimise,
    ``lo`` if none) or the smallest proven upper bound (else, ``hi``).
    """
    rows = np.arange(len(a))
    scale = N_c + a.sum(axis=1)
    mass = M_c + m.sum()
    lo, hi = lo.copy(), hi.copy()
    sign = np.where(inside, 1.0, -1.0) * (1.0 if minimise else -1.0)
    most = int(b.max(initial=0))  # only the largest gains are summed
    for _ in range(iters):
        lam = 0.5 * (lo + hi)
        gains = sign * (a - lam[:, None] * m)
        if 0 < most < gains.shape[1]:
            # the largest before clipping (clipping keeps the order; many
            # zeros would slow the selection down)
            gains = np.partition(gains, gains.shape[1] - most, axis=1)[:, -most:]
        gains = -np.sort(-np.maximum(gains, 0.0), axis=1)
        top = np.concatenate([np.zeros((len(a), 1)), np.cumsum(gains, axis=1)], 1)
        base = N_c - lam * M_c
        value = base - top[rows, b] if minimise else base + top[rows, b]
        eps = 1e-9 * (scale + np.abs(lam) * mass)  # far above float64 rounding
        proven = value > eps if minimise else value < -eps
        if minimise:
            lo = np.where(proven, lam, lo)
            hi = np.where(proven, hi, lam)
        else:
            hi = np.where(proven, lam, hi)
            lo = np.where(proven, lo, lam)
    return lo if minimise else hi


def _joint_impossible(a, m, labels_e, N, M, cur, c, b, lam_lo, lam_hi, pieces=16):
    """Rows where no ``b`` edits give class ``c`` a ratio at least the current
    class ``cur``'s (``class_mass="uniform"``), the budget shared by both.

    If an attack does it, ``lam = R'_cur`` lies in ``[lam_lo, lam_hi]`` and,
    with ``f_j = a_j - lam m_j``, the attack lowers ``D1 = sum_{cur} f`` from
    ``N_cur - lam M_cur`` to 0 and raises ``D2 = sum_{c} f`` from ``N_c -
    lam M_c`` to at least 0. On a piece ``[l1, l2]`` of the interval, an
    edit of a row of ``cur`` or ``c`` moves each of them by at most ``d_j``
    (``a_j - l1 m_j`` for a row of ``cur``, ``l2 m_j - a_j`` for one of
    ``c``, at least 0), any other row moves one of them only: ``D1`` by at
    most ``l2 m_j - a_j`` (labelled ``cur``) or ``D2`` by at most ``a_j - l1
    m_j`` (labelled ``c``). With ``p`` rows of the two classes edited, the
    others must cover ``N_cur - l2 M_cur - S_p`` and ``l1 M_c - N_c - S_p``
    (``S_p`` the ``p`` largest ``d_j``), each with its own rows, largest
    first: if no ``p`` gives ``b`` edits or fewer on any piece, no attack of
    ``b`` edits exists.
    """
    rows = np.arange(len(a))
    in_cur = labels_e[None, :] == cur[:, None]
    in_c = np.broadcast_to(labels_e == c, in_cur.shape)
    other = ~(in_cur | in_c)
    most = int(b.max())
    n_e = a.shape[1]
    scale = (
        N[rows, cur]
        + N[:, c]
        + a.sum(axis=1)
        + np.abs(lam_hi) * (M[cur] + M[c] + m.sum())
    )
    eps = 1e-9 * scale  # rounding: only ever in the attacker's favour
    width = lam_hi - lam_lo

    def top(gains):
        """Prefix sums of the ``most`` largest gains per row, from 0."""
        if most < n_e:
            gains = np.partition(gains, n_e - most, axis=1)[:, -most:]
        gains = -np.sort(-gains, axis=1)
        out = np.zeros((len(gains), most + 1))
        out[:, 1 : gains.shape[1] + 1] = np.cumsum(gains, axis=1)
        out[:, gains.shape[1] + 1 :] = out[:, [gains.shape[1]]]
        return out + eps[:, None] * np.arange(most + 1)

    def fewest(prefix, need):
        """Fewest gains (largest first) reaching ``need``; most + 1 if none."""
        return (prefix < need[:, None]).sum(axis=1)

    impossible = np.ones(len(a), dtype=bool)
    for k in range(pieces):
        l1 = lam_lo + width * (k / pieces)
        l2 = lam_hi if k == pieces - 1 else lam_lo + width * ((k + 1) / pieces)
        up = np.maximum(a - l1[:, None] * m, 0.0)  # a_j - lam m_j, at most
        down = np.maximum(l2[:, None] * m - a, 0.0)  # lam m_j - a_j, at most
        doubles = top(np.where(in_cur, up, np.where(in_c, down, 0.0)))
        to_cur = top(np.where(other, down, 0.0))
        to_c = top(np.where(other, up, 0.0))
        need_1 = N[rows, cur] - l2 * M[cur] - eps
        need_2 = l1 * M[c] - N[:, c] - eps
        least = np.full(len(a), np.inf)
        for p in range(most + 1):
            edits = (
                p
                + fewest(to_cur, need_1 - doubles[:, p])
                + fewest(to_c, need_2 - doubles[:, p])
            )
            least = np.where(p <= b, np.minimum(least, edits), least)
        impossible &= least > b
        if not impossible.any():
            break
    return impossible


def _labeled_rows(y):
    """Mask of the rows of ``y`` with a label (the number ``-1`` marks an
    unlabeled row, whatever the dtype); a ValueError when no row has one."""
    labeled = np.asarray(y != -1, dtype=bool)
    if not labeled.any():
        raise ValueError(
            "y has no labeled samples (every label is -1); at least one is required."
        )
    return labeled


def _check_semi_supervised_y(X, y, estimator):
    X, y = validate_data(estimator, X, y, dtype=None, ensure_all_finite=False)
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    return X, y, _labeled_rows(y)


class LabeledOnly(
    ParamDefaultsOnLoad, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Fit a supervised classifier on the labeled rows only (``y != -1``).

    Lets a supervised classifier take part in a semi-supervised member (see
    :class:`SemiSupervisedVoting`) of ``SSDPAClassifier(...,
    pass_unlabeled=True)``, where every member receives all rows and ``-1``
    outside its partition.

    Parameters
    ----------
    estimator : classifier
        Cloned and fit on the labeled rows.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone.
    classes_ : ndarray of shape (n_classes,)
        Labels seen among the labeled rows.
    n_features_in_ : int
        Number of features seen during fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdpa.semi_supervised import LabeledOnly
    >>> X = np.array([[0.0], [0.2], [1.0], [1.2], [5.0]])
    >>> clf = LabeledOnly(LogisticRegression()).fit(X, [0, -1, 1, -1, -1])
    >>> clf.classes_
    array([0, 1])
    """

    _parameter_constraints: dict = {"estimator": [HasMethods(["fit", "predict"])]}

    def __init__(self, estimator):
        self.estimator = estimator

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the estimator on the rows whose label is not -1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All rows.
        y : array-like of shape (n_samples,)
            Labels, ``-1`` for unlabeled rows.

        Returns
        -------
        self : LabeledOnly
            The fitted classifier.
        """
        X, y, labeled = _check_semi_supervised_y(X, y, self)
        self.estimator_ = clone(self.estimator).fit(X[labeled], y[labeled])
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        """The fitted estimator's class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        """The fitted estimator's predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        return self.estimator_.predict(X)


class SemiSupervisedVoting(
    ParamDefaultsOnLoad, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Average the class probabilities of classifiers that accept ``y == -1``.

    Every estimator is fit on the same ``(X, y)``, unlabeled rows included
    (wrap a supervised one in :class:`LabeledOnly`); prediction is the class
    of the largest weighted mean probability, ties to the smaller class.
    Unlike :class:`sklearn.ensemble.VotingClassifier`, ``-1`` stays the
    unlabeled marker instead of being encoded as a class. For example, label
    spreading over the samples' graph next to a linear model of the labeled
    rows: the two err on different rows.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named classifiers with ``predict_proba``.
    weights : array-like of shape (n_estimators,) or None, default=None
        Weight of each estimator's probabilities; None weighs them equally.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted clones, in the order given.
    classes_ : ndarray of shape (n_classes,)
        Labels seen among the labeled rows.
    n_features_in_ : int
        Number of features seen during fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdpa.semi_supervised import (
    ...     KNNLabelSpreading, LabeledOnly, SemiSupervisedVoting)
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 0.3, (20, 2)), rng.normal(3, 0.3, (20, 2))])
    >>> y = np.full(40, -1)
    >>> y[[0, 1, 20, 21]] = [0, 0, 1, 1]
    >>> clf = SemiSupervisedVoting([
    ...     ("spread", KNNLabelSpreading(5, metric="euclidean")),
    ...     ("linear", LabeledOnly(LogisticRegression())),
    ... ]).fit(X, y)
    >>> clf.predict([[0.1, -0.2], [2.9, 3.1]])
    array([0, 1])
    """

    _parameter_constraints: dict = {
        "estimators": [list],
        "weights": ["array-like", None],
    }

    def __init__(self, estimators, *, weights=None):
        self.estimators = estimators
        self.weights = weights

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit every estimator on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All rows.
        y : array-like of shape (n_samples,)
            Labels, ``-1`` for unlabeled rows.

        Returns
        -------
        self : SemiSupervisedVoting
            The fitted classifier.
        """
        if not self.estimators:
            raise ValueError(
                "estimators must be a non-empty list of (name, estimator)."
            )
        if self.weights is not None and len(self.weights) != len(self.estimators):
            raise ValueError(
                f"weights must have one entry per estimator ({len(self.estimators)}); "
                f"got {len(self.weights)}."
            )
        if self.weights is not None:
            weights = np.asarray(self.weights, dtype=np.float64)
            if not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError(
                    f"weights must be non-negative and finite; got {weights.tolist()}."
                )
            if not weights.sum() > 0:
                raise ValueError(
                    f"weights must sum to a positive number; got {list(self.weights)}."
                )
        X, y, labeled = _check_semi_supervised_y(X, y, self)
        self.classes_ = np.unique(y[labeled])
        self.estimators_ = [clone(est).fit(X, y) for _, est in self.estimators]
        return self

    def predict_proba(self, X):
        """Weighted mean of the estimators' probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order (an estimator's missing classes
            count as probability 0).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        weights = np.ones(len(self.estimators_))
        if self.weights is not None:
            weights = np.asarray(self.weights, dtype=np.float64)
        total = np.zeros((len(X), len(self.classes_)))
        for weight, est in zip(weights, self.estimators_, strict=True):
            columns = np.searchsorted(self.classes_, est.classes_)
            total[:, columns] += weight * np.asarray(est.predict_proba(X))
        return total / weights.sum()

    def predict(self, X):
        """Class of the largest mean probability (ties to the smaller class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
