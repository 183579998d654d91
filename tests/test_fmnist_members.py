"""The Fashion-MNIST benchmark's members: k-NN costs, view augmentation.

``benchmarks/_fmnist_members.Neighbours.poison_costs`` claims lower bounds on
the images inserted into or removed from a member's partition that make it
output each class. Checked by brute force: every set of up to two insertions
(from a pool: the queries, any label) and removals is applied, the member refit,
and the cheapest set reaching each class compared with the claim.
"""

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _fmnist_members  # noqa: E402
from _fmnist_members import (  # noqa: E402
    VIEWS,
    HOGFeatures,
    Neighbours,
    PooledPixels,
    ShiftAugmented,
    ViewAugmented,
    ViewFeatures,
    image_views,
    zoomed_copies,
)

N_CLASSES = 3


def _images(rng, labels, prototypes, noise=0.35):
    out = prototypes[labels] + noise * rng.rand(len(labels), 784)
    return out.astype(np.float32)


def _problem(seed):
    rng = np.random.RandomState(seed)
    prototypes = rng.rand(N_CLASSES, 784)
    y = rng.randint(0, N_CLASSES, 7)
    X = _images(rng, y, prototypes)
    queries = _images(rng, rng.randint(0, N_CLASSES, 3), prototypes, noise=0.6)
    # the queries themselves are the strongest insertions (distance 0)
    return X, y, queries, queries


def _cheapest(params, X, y, queries, pool, max_ops=2):
    """Fewest operations (<= max_ops) that make the member output each class.

    Operations: remove one image of the partition, or insert one pool image
    with any label (the same one more than once included). ``max_ops + 1``
    where none of up to ``max_ops`` operations does.
    """
    removals = [("remove", i) for i in range(len(X))]
    inserts = [("insert", p, c) for p in range(len(pool)) for c in range(N_CLASSES)]
    best = np.full((len(queries), N_CLASSES), max_ops + 1)
    for n_ops in range(max_ops + 1):
        for ops in itertools.combinations_with_replacement(removals + inserts, n_ops):
            gone = [op[1] for op in ops if op[0] == "remove"]
            if len(set(gone)) < len(gone):
                continue  # an image is removed once
            keep = np.setdiff1d(np.arange(len(X)), gone)
            added = [op for op in ops if op[0] == "insert"]
            Xp = np.vstack([X[keep]] + [pool[[p]] for _, p, _ in added])
            yp = np.concatenate([y[keep], [c for _, _, c in added]]).astype(int)
            pred = Neighbours(**params).fit(Xp, yp).predict(queries)
            rows = np.arange(len(queries))
            best[rows, pred] = np.minimum(best[rows, pred], n_ops)
    return best


def _sound(claimed, cheapest, max_ops=2):
    """No class is reached with fewer operations than claimed (up to max_ops)."""
    return bool(np.all((cheapest > max_ops) | (claimed <= cheapest)))


@pytest.fixture(autouse=True)
def _one_thread():
    # hundreds of tiny neighbour searches: thread start-up would dominate
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize(
    "params",
    [{"n_neighbors": 5}, {"n_neighbors": 5, "offsets": ((0, 0), (1, 0))}],
)
def test_poison_costs_sound_and_tight_by_brute_force(params):
    tight = 0
    for seed in range(2):
        X, y, queries, pool = _problem(seed)
        member = Neighbours(**params).fit(X, y)
        costs = member.poison_costs(queries, N_CLASSES)
        assert costs.shape == (len(queries), N_CLASSES + 1)
        rows = np.arange(len(queries))
        assert np.all(costs[rows, member.predict(queries)] == 0)
        assert np.all(costs[:, N_CLASSES] == len(X))  # abstain: remove all
        claimed = costs[:, :N_CLASSES]
        cheapest = _cheapest(params, X, y, queries, pool)
        assert _sound(claimed, cheapest)
        # teeth: where the claim is exactly the cheapest attack found, a claim
        # one higher is refuted by the enumeration
        overstated = claimed + (claimed > 0)
        tight += int(not _sound(overstated, cheapest))
    assert tight > 0


def test_poison_costs_cap_when_few_rows():
    # fewer rows than neighbours: a removal takes a vote away, claim 1 only
    X, y, queries, _ = _problem(0)
    member = Neighbours(n_neighbors=20).fit(X, y)
    costs = member.poison_costs(queries, N_CLASSES)
    pred = member.predict(queries)
    expected = np.ones((len(queries), N_CLASSES))
    expected[np.arange(len(queries)), pred] = 0
    np.testing.assert_array_equal(costs[:, :N_CLASSES], expected)


def test_features_must_be_hog_or_none():
    X, y, _, _ = _problem(0)
    with pytest.raises(ValueError, match="features must be 'hog' or None; got"):
        Neighbours(features="pca").fit(X, y)


def test_flip_costs_on_given_features():
    rng = np.random.RandomState(0)
    X = rng.rand(12, 4).astype(np.float32)
    y = np.array([0] * 6 + [1] * 6)
    member = Neighbours(5, features=None).fit(X, y)
    costs = member.flip_costs(X[:2], 2)
    np.testing.assert_array_equal(costs, member.poison_costs(X[:2], 2))


# view augmentation (SS-DPA k=50 members): the embedding of each image and of
# its mirror image and shifts, side by side; each member fits on every view of
# its own rows and predicts from the image's own block


class _Sum(TransformerMixin, BaseEstimator):
    """A fixed 'embedding': row sums of the left and right image halves."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        images = np.asarray(X).reshape(-1, 28, 28)
        return np.stack(
            [images[:, :, :14].sum(axis=(1, 2)), images[:, :, 14:].sum(axis=(1, 2))],
            axis=1,
        )


def test_image_views_mirror_and_shift():
    rng = np.random.RandomState(0)
    X = rng.rand(3, 784).astype(np.float32)
    views = image_views(X, VIEWS)
    same, mirror, down, up, right, left = views[:6]
    images = X.reshape(-1, 28, 28)
    for i in range(4):  # the mirror image's shifts, in the same order
        np.testing.assert_array_equal(
            views[6 + i], image_views(mirror, [VIEWS[2 + i]])[0]
        )
    np.testing.assert_array_equal(same, X)
    np.testing.assert_array_equal(mirror.reshape(-1, 28, 28), images[:, :, ::-1])
    np.testing.assert_array_equal(down.reshape(-1, 28, 28)[:, 1:], images[:, :-1])
    np.testing.assert_array_equal(down.reshape(-1, 28, 28)[:, 0], 0)
    np.testing.assert_array_equal(up.reshape(-1, 28, 28)[:, :-1], images[:, 1:])
    np.testing.assert_array_equal(
        right.reshape(-1, 28, 28)[:, :, 1:], images[:, :, :-1]
    )
    np.testing.assert_array_equal(left.reshape(-1, 28, 28)[:, :, :-1], images[:, :, 1:])


def test_view_features_blocks_and_no_fit():
    rng = np.random.RandomState(0)
    X = rng.rand(4, 784)
    features = ViewFeatures(_Sum(), VIEWS[:2])
    assert clone(features) is features  # the fitted embedding is kept
    out = features.fit(X, np.zeros(4)).transform(X)
    left, right = _Sum().transform(X).T
    # the mirror image swaps the two halves
    np.testing.assert_allclose(out, np.stack([left, right, right, left], axis=1))
    with pytest.raises(ValueError, match="views must start with 'identity'; got"):
        ViewFeatures(_Sum(), VIEWS[1:]).transform(X)


def test_pooled_pixels_are_block_means_and_fit_nothing():
    rng = np.random.RandomState(0)
    X = rng.rand(3, 784).astype(np.float32)
    features = PooledPixels(pool=4, weight=2.0)
    out = features.fit(X[:1]).transform(X)  # fit on another row: nothing learnt
    assert out.shape == (3, 49)
    images = X.reshape(3, 28, 28)
    for i, j in [(0, 0), (2, 5), (6, 6)]:
        block = images[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]
        expected = 2.0 * block.mean(axis=(1, 2))
        np.testing.assert_allclose(out[:, 7 * i + j], expected, rtol=1e-6)
    np.testing.assert_allclose(
        PooledPixels(pool=14, weight=1.0).fit(X).transform(X)[:, 1],
        images[:, :14, 14:].mean(axis=(1, 2)),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="pool must divide both image sides"):
        PooledPixels(pool=5).fit(X)


@pytest.mark.parametrize("factor", [0.9, 1.1, 1.0, 2.0, 0.5])
def test_zoomed_copies_scale_about_the_centre_bilinearly(factor):
    from scipy import ndimage

    rng = np.random.RandomState(1)
    X = rng.rand(2, 784).astype(np.float32)
    out = zoomed_copies(X, [factor])
    assert out.shape == (2, 784) and out.dtype == np.float32
    centre = 13.5
    for image, got in zip(X.reshape(2, 28, 28), out.reshape(2, 28, 28), strict=True):
        # output pixel p reads the input at centre + (p - centre) / factor,
        # bilinearly, zero outside the frame
        expected = ndimage.affine_transform(
            image,
            np.eye(2) / factor,
            offset=centre - centre / factor,
            order=1,
            mode="grid-constant",
            cval=0.0,
        )
        np.testing.assert_allclose(got, expected, atol=1e-5)
    if factor == 1.0:
        np.testing.assert_array_equal(out, X)


def test_shift_augmented_fits_on_shifted_and_zoomed_copies():
    class _Record(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.X_, self.y_ = X, y
            self.classes_ = np.unique(y)
            return self

    rng = np.random.RandomState(2)
    X = rng.rand(4, 784).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    offsets = ((0, 0), (1, 0))
    member = ShiftAugmented(_Record(), offsets=offsets, zooms=(0.9, 1.1)).fit(X, y)
    seen = member.estimator_
    assert seen.X_.shape == (16, 784)
    np.testing.assert_array_equal(seen.y_, np.tile(y, 4))
    np.testing.assert_array_equal(seen.X_[:4], X)
    np.testing.assert_allclose(seen.X_[8:], zoomed_copies(X, (0.9, 1.1)))
    plain = ShiftAugmented(_Record(), offsets=offsets).fit(X, y).estimator_
    assert plain.X_.shape == (8, 784)


def test_hog_cache_serves_every_cell_size_of_a_chunk(monkeypatch):
    # Members with three cell sizes read each prediction chunk three times
    # over; every member after the first must find all three in the cache.
    calls = []
    real = _fmnist_members.hog

    def counted(X, *params):
        calls.append(params)
        return real(X, *params)

    monkeypatch.setattr(_fmnist_members, "hog", counted)
    monkeypatch.setattr(_fmnist_members, "_cache", type(_fmnist_members._cache)())
    X = np.random.RandomState(0).rand(HOGFeatures.cache_min_rows, 784)
    members = [[HOGFeatures(cell=cell).fit(X) for cell in (3, 4, 7)] for _ in "ab"]
    first, second = ([part.transform(X) for part in member] for member in members)
    assert len(calls) == 3  # the second member computed nothing
    for a, b in zip(first, second, strict=True):
        assert a is b
    # a whole training set's descriptors are computed, never kept
    monkeypatch.setattr(_fmnist_members, "_CACHE_BYTES", first[0].nbytes - 1)
    large = HOGFeatures(cell=3).fit(X).transform(X + 1)
    assert len(calls) == 4
    assert all(kept is not large for kept in _fmnist_members._cache.values())


def test_view_augmented_fits_every_view_predicts_from_first():
    rng = np.random.RandomState(0)
    X = rng.rand(40, 6)
    y = (X[:, 0] > 0.5).astype(int)
    member = ViewAugmented(SVC(C=10), n_views=3).fit(X, y)
    stacked = np.concatenate([X[:, :2], X[:, 2:4], X[:, 4:]])
    reference = SVC(C=10).fit(stacked, np.tile(y, 3))
    Q = rng.rand(30, 6)
    np.testing.assert_array_equal(member.predict(Q), reference.predict(Q[:, :2]))
    # the other blocks of a query are never read
    Q2 = Q.copy()
    Q2[:, 2:] = rng.rand(30, 4)
    np.testing.assert_array_equal(member.predict(Q2), member.predict(Q))
    np.testing.assert_array_equal(member.classes_, [0, 1])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_view_augmented_predict_views_all_sums_decisions(n_classes):
    rng = np.random.RandomState(0)
    X = rng.rand(45, 4)
    y = np.arange(45) % n_classes
    member = ViewAugmented(SVC(C=10), n_views=2, predict_views="all").fit(X, y)
    Q = rng.rand(30, 4)
    scores = member.estimator_.decision_function(
        Q[:, :2]
    ) + member.estimator_.decision_function(Q[:, 2:])
    if n_classes == 2:
        expected = (scores > 0).astype(int)
    else:
        expected = np.argmax(scores, axis=1)
    np.testing.assert_array_equal(member.predict(Q), expected)
    # one view repeated: the sum picks what that view's own scores pick
    same = np.hstack([Q[:, :2], Q[:, :2]])
    first = ViewAugmented(SVC(C=10), n_views=2).fit(X, y)
    np.testing.assert_array_equal(
        member.predict(same),
        np.argmax(np.atleast_2d(first.estimator_.decision_function(Q[:, :2])), 1)
        if n_classes > 2
        else (first.estimator_.decision_function(Q[:, :2]) > 0).astype(int),
    )
    with pytest.raises(ValueError, match="predict_views must be 'first' or 'all'"):
        ViewAugmented(SVC(), n_views=2, predict_views="mean").fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("predict_views", ["first", "all"])
def test_view_augmented_decision_function_scores_the_views_it_predicts_from(
    n_classes, predict_views
):
    rng = np.random.RandomState(1)
    X = rng.rand(45, 4)
    y = np.arange(45) % n_classes
    member = ViewAugmented(SVC(C=10), n_views=2, predict_views=predict_views)
    member.fit(X, y)
    Q = rng.rand(30, 4)
    scores = member.decision_function(Q)
    assert scores.shape == (30, n_classes)  # graded scores, one per class
    views = [Q[:, :2]] if predict_views == "first" else [Q[:, :2], Q[:, 2:]]
    expected = sum(member.estimator_.decision_function(v) for v in views)
    if n_classes == 2:
        expected = np.stack([-expected, expected], axis=1)
    np.testing.assert_allclose(scores, expected)
    if predict_views == "all":  # predict is the argmax of these scores
        np.testing.assert_array_equal(member.predict(Q), np.argmax(scores, axis=1))
    # no decision_function where the estimator has none
    from sklearn.neighbors import KNeighborsClassifier

    assert not hasattr(ViewAugmented(KNeighborsClassifier(1)), "decision_function")


def test_view_augmented_n_views_must_divide_features():
    X = np.zeros((4, 6))
    with pytest.raises(
        ValueError, match=r"n_views must be a positive divisor .*\(6\); got n_views=4"
    ):
        ViewAugmented(SVC(), n_views=4).fit(X, [0, 1, 0, 1])


def test_view_augmented_ssdpa_members_use_their_own_labels():
    # the SS-DPA rule: flipping one label changes only the one member whose
    # partition holds that row (the views come from the row's own image)
    from skdpa import SSDPAClassifier

    rng = np.random.RandomState(1)
    X = rng.rand(60, 784).astype(np.float32)
    y = (X.reshape(-1, 28, 28)[:, :, :14].sum(axis=(1, 2)) > 196).astype(int)
    params = dict(k=4, embedding=ViewFeatures(_Sum(), VIEWS), random_state=0)
    member = ViewAugmented(SVC(C=10), n_views=len(VIEWS))
    base = SSDPAClassifier(member, **params).fit(X, y)
    flipped = y.copy()
    flipped[7] = 1 - flipped[7]
    other = SSDPAClassifier(member, **params).fit(X, flipped)
    Q = rng.rand(25, 784).astype(np.float32)
    feats = ViewFeatures(_Sum(), VIEWS).transform(Q)
    changed = [
        not np.array_equal(a.predict(feats), b.predict(feats))
        for a, b in zip(base.estimators_, other.estimators_, strict=True)
    ]
    assert sum(changed) == 1  # the flip reaches its own member, no other


def test_members_module_doctests():
    import doctest

    failures, tried = doctest.testmod(_fmnist_members)
    assert tried > 0 and failures == 0
