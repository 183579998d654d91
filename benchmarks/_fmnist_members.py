"""Members for the Fashion-MNIST certified-accuracy benchmark.

In an importable module (not the script) because joblib worker processes must
be able to import every class of a member they send back.

Both pieces are fixed functions of a member's own partition, so they keep the
DPA certificate: :class:`HOGFeatures` has no fitted statistics at all (a
fixed, hand-designed feature map, like a fixed scaling of pixels), and
:class:`ShiftAugmented` only adds translated (and, optionally, zoomed)
copies of the member's own images. Together with a logistic regression they
make a member that learns more from 50 images than a small CNN does (the
Lethal Dose Conjecture's point: the certificate grows with the base
learner's data efficiency).
"""

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data


def hog(X, image_shape=(28, 28), cell=4, bins=9, block=2):
    """Histograms of oriented gradients (Dalal & Triggs, 2005), vectorised.

    Central-difference gradients; unsigned orientations in ``bins`` bins with
    linear interpolation between neighbouring bins; ``cell x cell`` pixel
    cells; overlapping ``block x block`` cell blocks, L2-normalised, clipped
    at 0.2 and normalised again.
    """
    h, w = image_shape
    images = np.asarray(X, dtype=np.float32).reshape(-1, h, w)
    gx = np.zeros_like(images)
    gy = np.zeros_like(images)
    gx[:, :, 1:-1] = images[:, :, 2:] - images[:, :, :-2]
    gy[:, 1:-1, :] = images[:, 2:, :] - images[:, :-2, :]
    magnitude = np.hypot(gx, gy)
    position = np.mod(np.arctan2(gy, gx), np.pi) * (bins / np.pi)
    low = np.floor(position).astype(np.int64) % bins
    frac = position - np.floor(position)
    n, ch, cw = len(images), h // cell, w // cell
    crop = magnitude[:, : ch * cell, : cw * cell]
    low, frac = low[:, : ch * cell, : cw * cell], frac[:, : ch * cell, : cw * cell]
    cells = np.zeros((n, ch, cw, bins), dtype=np.float32)
    for b in range(bins):
        weight = crop * np.where(low == b, 1 - frac, 0) + crop * np.where(
            (low + 1) % bins == b, frac, 0
        )
        cells[..., b] = weight.reshape(n, ch, cell, cw, cell).sum(axis=(2, 4))
    blocks = []
    for i in range(ch - block + 1):
        for j in range(cw - block + 1):
            v = cells[:, i : i + block, j : j + block].reshape(n, -1)
            v = v / np.sqrt((v**2).sum(axis=1, keepdims=True) + 1e-6)
            v = np.minimum(v, 0.2)
            blocks.append(v / np.sqrt((v**2).sum(axis=1, keepdims=True) + 1e-6))
    return np.concatenate(blocks, axis=1)


_cache_lock = threading.Lock()
_cache = OrderedDict()  # digest of the rows and parameters -> descriptors
# Bytes of descriptors the cache keeps (newest first). Bounded by size, not
# by entries: a member with several cell sizes needs one entry per size and
# chunk (a two-entry cache missed every lookup with three sizes), while a
# whole training set's descriptors (553 MB for 60,000 images at cells of 3)
# are computed once per embedding and are not kept at all.
_CACHE_BYTES = 256 << 20


def _cached_hog(X, *params):
    """``hog(X, *params)``, remembered for the last few inputs of this process.

    Prediction hands every member the same test rows: the descriptors are
    computed once, not once per member. The key is a digest of the values, so
    a hit returns exactly what ``hog`` would compute.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    digest = hashlib.blake2b(memoryview(X).cast("B"), digest_size=20)
    key = (digest.hexdigest(), X.shape, params)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        features = hog(X, *params)
        if features.nbytes <= _CACHE_BYTES:
            _cache[key] = features
            while sum(f.nbytes for f in _cache.values()) > _CACHE_BYTES:
                _cache.popitem(last=False)
        return features


class HOGFeatures(TransformerMixin, BaseEstimator):
    """HOG descriptor of each image row; ``fit`` learns nothing.

    Descriptors of inputs with at least ``cache_min_rows`` rows (the test set,
    shown to every member) are cached per process. The ensemble predicts in
    row chunks of ``2**23 // (n_members * width)`` rows (``width`` 10 for
    run-off scores: 699 rows at ``k=1200``, 279 at ``k=3000``), each shown to
    every member in turn, so the bar sits below a chunk: at 1000 rows every
    member recomputed every chunk's descriptors (1,247 s of prediction for
    10,000 rows at ``k=1000`` with run-off, 118 s with the bar at 256; both
    on a loaded machine).
    """

    cache_min_rows = 256

    def __init__(self, image_shape=(28, 28), cell=4, bins=9, block=2):
        self.image_shape = image_shape
        self.cell = cell
        self.bins = bins
        self.block = block

    def fit(self, X, y=None):
        validate_data(self, X, dtype=np.float32)
        return self

    def transform(self, X):
        X = validate_data(self, X, dtype=np.float32, reset=False)
        params = (tuple(self.image_shape), self.cell, self.bins, self.block)
        if len(X) >= self.cache_min_rows:
            return _cached_hog(X, *params)
        return hog(X, *params)


class PooledPixels(TransformerMixin, BaseEstimator):
    """Mean intensity of each ``pool x pool`` pixel block, times ``weight``.

    A fixed feature map with nothing fitted (like :class:`HOGFeatures`): it
    gives a linear member the brightness layout that the gradient histograms
    leave out. ``weight`` sets its scale against the unit-length HOG blocks.
    """

    def __init__(self, image_shape=(28, 28), pool=4, weight=2.0):
        self.image_shape = image_shape
        self.pool = pool
        self.weight = weight

    def fit(self, X, y=None):
        validate_data(self, X, dtype=np.float32)
        h, w = self.image_shape
        if h % self.pool or w % self.pool:
            raise ValueError(
                f"pool must divide both image sides {tuple(self.image_shape)}; "
                f"got pool={self.pool!r}."
            )
        return self

    def transform(self, X):
        X = validate_data(self, X, dtype=np.float32, reset=False)
        h, w = self.image_shape
        p = self.pool
        blocks = X.reshape(-1, h // p, p, w // p, p).mean(axis=(2, 4))
        return (self.weight * blocks).reshape(len(X), -1)


def as_float32(X):
    """Cast to float32 (what the members and the neighbour search use)."""
    return np.asarray(X, dtype=np.float32)


def shifted_copies(X, offsets, image_shape=(28, 28)):
    """Rows of X translated by each (dy, dx) offset, zero-filled."""
    h, w = image_shape
    images = np.asarray(X).reshape(-1, h, w)
    out = []
    for dy, dx in offsets:
        moved = np.zeros_like(images)
        ys = slice(max(dy, 0), h + min(dy, 0))
        yd = slice(max(-dy, 0), h + min(-dy, 0))
        xs = slice(max(dx, 0), w + min(dx, 0))
        xd = slice(max(-dx, 0), w + min(-dx, 0))
        moved[:, ys, xs] = images[:, yd, xd]
        out.append(moved.reshape(len(images), -1))
    return np.concatenate(out)


def _zoom_matrix(n, factor):
    """(n, n) bilinear resampling of one axis, scaled by ``factor`` about its centre.

    Output pixel ``p`` reads the input at ``c + (p - c) / factor`` with
    ``c = (n - 1) / 2``, interpolated linearly between its two neighbours;
    positions outside the image read zero.
    """
    centre = (n - 1) / 2
    source = centre + (np.arange(n) - centre) / factor
    low = np.floor(source).astype(np.int64)
    frac = (source - low).astype(np.float32)
    matrix = np.zeros((n, n), dtype=np.float32)
    for index, weight in ((low, 1 - frac), (low + 1, frac)):
        inside = (index >= 0) & (index < n)
        np.add.at(matrix, (np.flatnonzero(inside), index[inside]), weight[inside])
    return matrix


def zoomed_copies(X, factors, image_shape=(28, 28)):
    """Rows of X scaled by each factor about the image centre (bilinear).

    A factor above 1 enlarges the image (its border leaves the frame), one
    below 1 shrinks it (zero-filled around). A fixed map of each image alone.
    """
    h, w = image_shape
    images = np.asarray(X, dtype=np.float32).reshape(-1, h, w)
    out = []
    for factor in factors:
        rows, cols = _zoom_matrix(h, factor), _zoom_matrix(w, factor)
        zoomed = np.einsum("oi,nij,pj->nop", rows, images, cols, optimize=True)
        out.append(zoomed.reshape(len(images), -1))
    if not out:
        return np.empty((0, h * w), dtype=np.float32)
    return np.concatenate(out)


class ShiftAugmented(ClassifierMixin, BaseEstimator):
    """Fit the estimator on the member's images, their shifted and zoomed copies.

    ``offsets``: (dy, dx) translations, zero-filled (the first is usually
    (0, 0), the image itself); ``zooms``: scale factors about the image
    centre (:func:`zoomed_copies`), each adding one more copy of every image.
    """

    def __init__(
        self,
        estimator,
        offsets=((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)),
        image_shape=(28, 28),
        zooms=(),
    ):
        self.estimator = estimator
        self.offsets = offsets
        self.image_shape = image_shape
        self.zooms = zooms

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float32)
        shape = tuple(self.image_shape)
        X_aug = shifted_copies(X, self.offsets, shape)
        if len(self.zooms):
            X_aug = np.concatenate([X_aug, zoomed_copies(X, self.zooms, shape)])
        y_aug = np.tile(y, len(self.offsets) + len(self.zooms))
        self.estimator_ = clone(self.estimator).fit(X_aug, y_aug)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)


class Neighbours(ClassifierMixin, BaseEstimator):
    """k-nearest-neighbour vote with certified costs, on pixels' HOG or as given.

    ``features="hog"`` (DPA: the member sees pixels) describes every image by
    :func:`hog`, a fixed feature map with nothing fitted, and, with
    ``offsets``, adds the HOG of shifted copies of the member's own images;
    ``features=None`` (SS-DPA: the member sees the shared, label-blind
    embedding) uses its input as it is. Then a uniform k-nearest-neighbour
    vote (:class:`~sklearn.neighbors.KNeighborsClassifier`, ties to the
    smaller class index).

    :meth:`poison_costs` and :meth:`flip_costs` bound what it costs to turn
    the member on a query (see :meth:`poison_costs` for the proof).
    """

    def __init__(
        self, n_neighbors=7, features="hog", offsets=((0, 0),), image_shape=(28, 28)
    ):
        self.n_neighbors = n_neighbors
        self.features = features
        self.offsets = offsets
        self.image_shape = image_shape

    def _describe(self, X):
        if self.features == "hog":
            return HOGFeatures(tuple(self.image_shape)).fit(X[:1]).transform(X)
        return X

    def fit(self, X, y):
        from sklearn.neighbors import KNeighborsClassifier

        X, y = validate_data(self, X, y, dtype=np.float32)
        if self.features not in ("hog", None):
            raise ValueError(
                f"features must be 'hog' or None; got features={self.features!r}."
            )
        self.n_images_ = len(X)
        if self.features == "hog":
            X = shifted_copies(X, self.offsets, tuple(self.image_shape))
            y = np.tile(y, len(self.offsets))
            self.copies_ = len(self.offsets)
        else:
            self.copies_ = 1
        # fewer rows than neighbours: every row votes
        k = min(int(self.n_neighbors), len(X))
        self.knn_ = KNeighborsClassifier(k, algorithm="brute").fit(self._describe(X), y)
        self.classes_ = self.knn_.classes_
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.knn_.predict(self._describe(X))

    def predict_proba(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.knn_.predict_proba(self._describe(X))

    def poison_costs(self, X, n_classes):
        """Fewest images inserted into or removed from the partition to turn it.

        Returns ``(n_samples, n_classes + 1)`` lower bounds: column ``c`` the
        images that make the member output class index ``c`` on each query,
        the last column abstaining; 0 at the current output.

        Proof. Let ``m = copies_`` rows describe each image (the image and its
        shifts) and ``n = m * n_images_`` rows be fit, ``k`` of them voting.
        The feature map is fixed, so poisoning moves no row: it only adds or
        removes rows. Inserting one image adds ``m`` rows; each can enter the
        ``k`` nearest of a query and push one out, so at most ``m`` of the
        ``k`` votes are replaced; removing one image takes ``m`` rows out, each
        letting at most one in: again at most ``m`` replaced votes, as long as
        at least ``k`` rows remain. :func:`skdpa.member_costs.knn_costs` gives
        ``v``, the fewest replaced votes that make class ``c`` win the vote
        (exact); ``s`` images replace at most ``s * m`` votes, so class ``c``
        needs at least ``ceil(v / m)`` images. The claim reaches only budgets
        after which at least ``k`` rows remain: below ``b`` images with
        ``n - m * (b - 1) >= k``, i.e. it is capped at
        ``floor((n - k) / m) + 1`` (and at 1 when ``n <= k``, where a removal
        takes a vote away without a replacement). The member abstains only on
        an empty partition: all ``n_images_`` images removed. For label flips
        (:meth:`flip_costs`, SS-DPA: ``m = 1``, no shifted copies) a flip
        relabels one row (one vote replaced), or labels/unlabels one (one row
        enters or leaves the labeled rows: as an insertion or removal), the
        same bound.
        """
        from skdpa.member_costs import knn_costs

        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        n_rows = self.n_images_ * self.copies_
        votes = knn_costs(self.knn_, self._describe(X), n_classes, n_rows)[
            :, :n_classes
        ]
        k = int(self.knn_.n_neighbors)
        cap = 1 if n_rows <= k else (n_rows - k) // self.copies_ + 1
        costs = np.empty((len(X), n_classes + 1))
        costs[:, :n_classes] = np.minimum(np.ceil(votes / self.copies_), cap)
        costs[:, :n_classes][votes == 0] = 0
        costs[:, n_classes] = self.n_images_
        return costs

    def flip_costs(self, X, n_classes):
        """Fewest label flips in the partition to turn it (see :meth:`poison_costs`)."""
        return self.poison_costs(X, n_classes)


# views of an image that keep its class: the image, its mirror image, its
# four 1-pixel shifts, then the mirror image's (``image_views`` takes the
# first few)
VIEWS = (
    "identity",
    "flip",
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
    ("flip", (1, 0)),
    ("flip", (-1, 0)),
    ("flip", (0, 1)),
    ("flip", (0, -1)),
)


def image_views(X, views, image_shape=(28, 28)):
    """Each view of every image: ``len(views)`` blocks of ``len(X)`` rows.

    A view is ``"identity"``, ``"flip"`` (mirrored left to right), a
    ``(dy, dx)`` translation, zero-filled (:func:`shifted_copies`), or
    ``("flip", (dy, dx))``: the mirror image, translated.
    """
    h, w = image_shape
    X = np.asarray(X)

    def mirror(A):
        images = A.reshape(-1, h, w)[:, :, ::-1]
        return np.ascontiguousarray(images).reshape(len(A), -1)

    out = []
    for view in views:
        if isinstance(view, str) and view == "identity":
            out.append(X)
        elif isinstance(view, str) and view == "flip":
            out.append(mirror(X))
        elif view[0] == "flip":
            out.append(shifted_copies(mirror(X), [view[1]], image_shape))
        else:
            out.append(shifted_copies(X, [view], image_shape))
    return out


class ViewFeatures(TransformerMixin, BaseEstimator):
    """A fitted embedding of each view of an image, side by side.

    ``transform(X)`` has ``len(views)`` blocks of columns: the embedding of
    the images, then of each other view (:func:`image_views`). A fixed
    function of the fitted (label-free) embedding: ``fit`` fits nothing, so
    the SS-DPA embedding stays what was fit on the samples. The first view
    must be ``"identity"``: :class:`ViewAugmented` members predict from it.
    """

    def __init__(self, embedding, views=VIEWS, image_shape=(28, 28)):
        self.embedding = embedding
        self.views = views
        self.image_shape = image_shape

    def __sklearn_clone__(self):
        return self

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        if not self.views or self.views[0] != "identity":
            raise ValueError(
                f"views must start with 'identity'; got views={self.views!r}."
            )
        blocks = image_views(X, self.views, tuple(self.image_shape))
        return np.hstack([self.embedding.transform(b) for b in blocks])


class ViewAugmented(ClassifierMixin, BaseEstimator):
    """Fit on every view of the member's own rows; predict from the first.

    Input rows hold ``n_views`` equal blocks of columns (:class:`ViewFeatures`:
    the embedding of an image and of its mirror image and shifts). ``fit``
    stacks the blocks into ``n_views`` rows per labeled row, each with the
    row's label, and fits ``estimator`` on them; ``predict`` reads the first
    block (the image itself), or with ``predict_views="all"`` sums the
    estimator's ``decision_function`` over every block and takes the largest
    (ties to the smaller class). The augmentation uses the member's own rows
    and labels only, so it keeps the SS-DPA certificate (and the DPA one).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> X = np.array([[0.0, 0.1], [1.0, 0.9], [0.1, 0.2], [0.9, 1.0]])
    >>> clf = ViewAugmented(KNeighborsClassifier(1), n_views=2)
    >>> clf.fit(X[:2], [0, 1]).predict(X[2:])
    array([0, 1])
    """

    def __init__(self, estimator, n_views=6, predict_views="first"):
        self.estimator = estimator
        self.n_views = n_views
        self.predict_views = predict_views

    def _blocks(self, X):
        n_views = int(self.n_views)
        if n_views < 1 or X.shape[1] % n_views:
            raise ValueError(
                "n_views must be a positive divisor of the number of features "
                f"({X.shape[1]}); got n_views={self.n_views!r}."
            )
        return np.split(X, n_views, axis=1)

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        if self.predict_views not in ("first", "all"):
            raise ValueError(
                "predict_views must be 'first' or 'all'; got "
                f"predict_views={self.predict_views!r}."
            )
        blocks = self._blocks(X)
        self.estimator_ = clone(self.estimator).fit(
            np.concatenate(blocks), np.tile(y, len(blocks))
        )
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        blocks = self._blocks(X)
        if self.predict_views == "first":
            return self.estimator_.predict(blocks[0])
        return self.classes_[np.argmax(self._scores(blocks), axis=1)]

    def _scores(self, blocks):
        scores = sum(self.estimator_.decision_function(b) for b in blocks)
        if scores.ndim == 1:  # two classes: the score of the second
            scores = np.stack([-scores, scores], axis=1)
        return scores

    @available_if(lambda self: hasattr(self.estimator, "decision_function"))
    def decision_function(self, X):
        """The estimator's decision values on the first block (the image
        itself), or summed over every block with ``predict_views="all"``:
        the graded scores run-off election ranks classes by."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        blocks = self._blocks(X)
        if self.predict_views == "first":
            blocks = blocks[:1]
        return self._scores(blocks)
