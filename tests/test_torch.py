"""Deep members: skorch nets and torch embeddings inside the ensembles.

Small data (8x8 digits bundled with scikit-learn), CPU, a few epochs: these
tests check wiring and the determinism the certificate needs, not accuracy.
"""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from torch import nn  # noqa: E402

from skdpa import DPAClassifier, SSDPAClassifier  # noqa: E402
from skdpa.torch import (  # noqa: E402
    CompactCNN,
    ImageStandardizer,
    NetworkInNetwork,
    RotNetEmbedding,
    make_skorch_member,
    seeded_fit,
    seeded_torch,
)

pytestmark = pytest.mark.torch

DIGITS = (1, 4, 7)  # three well-separated classes keep members tiny


# the digits fixture (conftest.py): these classes, pixels in [0, 1]
DIGITS_SPLIT = {"classes": DIGITS, "scale": 16.0, "n_train": 240, "test": (240, 300)}


def _member(**params):
    defaults = dict(
        n_classes=len(DIGITS),
        max_epochs=4,
        lr=3e-3,
        module__image_shape=(1, 8, 8),
        module__channels=(4, 8),
    )
    defaults.update(params)
    return make_skorch_member(**defaults)


def test_modules_take_flat_rows_and_output_n_classes_logits():
    assert CompactCNN(n_classes=7)(torch.zeros(5, 784)).shape == (5, 7)
    nin = NetworkInNetwork(n_classes=4, width=12).eval()
    assert nin(torch.zeros(2, 784)).shape == (2, 4)
    small = CompactCNN(n_classes=3, image_shape=(1, 8, 8), channels=(2, 2))
    assert small(torch.zeros(2, 64, dtype=torch.float64)).shape == (2, 3)


def test_factory_defaults_train_on_whole_partition():
    member = _member()
    net = member.named_steps["net"]
    assert net.train_split is None
    assert net.module__n_classes == len(DIGITS)
    assert isinstance(member.named_steps["standardize"], ImageStandardizer)
    bare = _member(standardize=False, train_split=skorch.dataset.ValidSplit(4))
    assert isinstance(bare.train_split, skorch.dataset.ValidSplit)


def test_member_missing_classes_still_outputs_global_logits(digits):
    X, y, _, _ = digits
    y_idx = np.searchsorted(DIGITS, y)
    seen = y_idx < 2  # this partition never sees class 2
    member = seeded_fit(_member(), X[seen], y_idx[seen], seed=0)
    assert member.predict_proba(X).shape == (len(X), len(DIGITS))


def test_dpa_with_skorch_members_fits_predicts_and_certifies(digits):
    X, y, X_test, y_test = digits
    clf = DPAClassifier(_member(), k=3, random_state=0).fit(X, y)
    y_pred, radius = clf.predict_certified(X_test)
    assert set(np.unique(y_pred)) <= set(DIGITS)
    np.testing.assert_array_equal(clf.classes_, DIGITS)
    assert radius.shape == (len(X_test),)
    assert ((radius >= 0) & (radius <= 1)).all()
    assert np.mean(y_pred == y_test) > 0.5  # better than chance (1/3)
    votes = clf.vote_counts(X_test)
    np.testing.assert_array_equal(votes.sum(axis=1), 3)


def test_standardisation_statistics_come_from_each_partition(digits):
    X, y, _, _ = digits
    clf = DPAClassifier(_member(max_epochs=1), k=3, random_state=0).fit(X, y)
    means = []
    for member, rows in zip(clf.estimators_, clf.estimators_samples_, strict=True):
        scaler = member.named_steps["standardize"]
        np.testing.assert_allclose(scaler.mean_, [X[rows].mean()])
        np.testing.assert_allclose(scaler.scale_, [X[rows].std()])
        means.append(scaler.mean_[0])
    assert len(set(means)) == 3  # not one global statistic


def test_shuffled_rows_and_n_jobs_give_identical_votes(digits):
    X, y, X_test, _ = digits
    clf = DPAClassifier(_member(), k=4, random_state=1).fit(X, y)
    perm = np.random.default_rng(0).permutation(len(X))
    other = DPAClassifier(_member(), k=4, random_state=1, n_jobs=2)
    other.fit(X[perm], y[perm])
    np.testing.assert_array_equal(clf.vote_counts(X_test), other.vote_counts(X_test))
    for a, b in zip(clf.estimators_, other.estimators_, strict=True):
        np.testing.assert_allclose(
            a.predict_proba(X_test), b.predict_proba(X_test), rtol=1e-4, atol=1e-5
        )


def test_members_get_distinct_seeds_and_refit_reproduces_them(digits):
    X, y, X_test, _ = digits
    clf = DPAClassifier(_member(), k=2, random_state=3).fit(X, y)
    w = [m.named_steps["net"].module_.features[0].weight for m in clf.estimators_]
    assert not torch.equal(w[0], w[1])
    again = DPAClassifier(_member(), k=2, random_state=3).fit(X, y)
    for a, b in zip(clf.estimators_, again.estimators_, strict=True):
        np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_fit_leaves_the_callers_random_state_alone(digits):
    X, y, _, _ = digits
    torch.manual_seed(123)
    np.random.seed(7)
    expected_torch = torch.rand(3)
    expected_np = np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(7)
    DPAClassifier(_member(max_epochs=1), k=2, random_state=0).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected_torch)
    np.testing.assert_array_equal(np.random.rand(3), expected_np)
    assert not torch.are_deterministic_algorithms_enabled()


def test_seeded_torch_is_reproducible_and_restores_flags():
    with seeded_torch(5):
        a = torch.rand(4)
        assert torch.are_deterministic_algorithms_enabled()
    with seeded_torch(5):
        b = torch.rand(4)
    with seeded_torch(6):
        c = torch.rand(4)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
    assert not torch.are_deterministic_algorithms_enabled()


class _TinyModule(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.linear = nn.Linear(64, n_classes)

    def forward(self, x):
        return self.linear(x.float())


def test_plain_neuralnetclassifier_member_works(digits):
    X, y, X_test, _ = digits
    net = skorch.NeuralNetClassifier(
        _TinyModule,
        module__n_classes=3,
        criterion=nn.CrossEntropyLoss,
        train_split=None,
        max_epochs=3,
        verbose=0,
    )
    clf = DPAClassifier(net, k=3, random_state=0).fit(X.astype(np.float32), y)
    again = DPAClassifier(net, k=3, random_state=0).fit(X.astype(np.float32), y)
    X_test = X_test.astype(np.float32)
    np.testing.assert_array_equal(clf.vote_counts(X_test), again.vote_counts(X_test))


def test_pickle_round_trip(digits):
    X, y, X_test, _ = digits
    clf = DPAClassifier(_member(max_epochs=2), k=3, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(
        clf.predict_certified(X_test)[1], restored.predict_certified(X_test)[1]
    )
    np.testing.assert_array_equal(clf.vote_counts(X_test), restored.vote_counts(X_test))


def _embedding(**params):
    defaults = dict(
        image_shape=(1, 8, 8), channels=(4, 8, 8), max_epochs=1, batch_size=32
    )
    defaults.update(params)
    return RotNetEmbedding(**defaults)


def test_rotnet_is_deterministic_and_independent_of_row_order(digits):
    X, _, X_test, _ = digits
    a = _embedding(random_state=0).fit(X).transform(X_test)
    perm = np.random.default_rng(1).permutation(len(X))
    b = _embedding(random_state=0).fit(X[perm]).transform(X_test)
    c = _embedding(random_state=1).fit(X).transform(X_test)
    assert a.shape == (len(X_test), 4 * 16 + 8)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(a, c)


def test_rotnet_never_reads_labels(digits):
    X, y, X_test, _ = digits
    y_other = np.roll(y, 1)
    a = _embedding().fit(X, y).transform(X_test)
    b = _embedding().fit(X, y_other).transform(X_test)
    np.testing.assert_array_equal(a, b)
    # inside SS-DPA: flipping labels (and hiding some) leaves the embedding alone
    y_semi = y.copy()
    y_semi[::3] = -1
    ss = SSDPAClassifier(
        LogisticRegression(max_iter=200), k=3, embedding=_embedding(), random_state=0
    )
    ss.fit(X, y_semi)
    flipped = y_semi.copy()
    flipped[1] = DIGITS[0] if y_semi[1] != DIGITS[0] else DIGITS[1]
    ss2 = clone(ss).fit(X, flipped)
    np.testing.assert_array_equal(
        ss.embedding_.transform(X_test), ss2.embedding_.transform(X_test)
    )
    y_pred, radius = ss.predict_certified(X_test)
    assert set(np.unique(y_pred)) <= set(DIGITS)
    assert ((radius >= 0) & (radius <= 1)).all()


def test_ssdpa_with_skorch_members_on_embedding(digits):
    X, y, X_test, _ = digits
    member = make_skorch_member(
        module=_TinyHead,
        n_classes=len(DIGITS),
        standardize=False,
        max_epochs=5,
        lr=1e-2,
    )
    ss = SSDPAClassifier(member, k=2, embedding=_embedding(), random_state=0)
    ss.fit(X, y)
    votes = ss.vote_counts(X_test)
    np.testing.assert_array_equal(votes.sum(axis=1), 2)
    assert ss.estimators_[0].module_.linear.in_features == 4 * 16 + 8
    assert set(np.unique(ss.predict(X_test))) <= set(DIGITS)
    again = clone(ss).fit(X[::-1], y[::-1])
    np.testing.assert_array_equal(again.vote_counts(X_test), votes)


class _TinyHead(nn.Module):
    def __init__(self, n_classes=3, n_features=4 * 16 + 8):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.linear(x.float())


def test_input_validation_messages():
    with pytest.raises(ValueError, match="n_channels=3 must divide.*got 64"):
        ImageStandardizer(n_channels=3).fit(np.zeros((2, 64)))
    match = r"image_shape=\(1, 28, 28\) needs 784 .* got 64"
    with pytest.raises(ValueError, match=match):
        RotNetEmbedding().fit(np.zeros((4, 64)))


@pytest.mark.parametrize("shape", [(5, 1, 7, 6), (3, 2, 4, 4)])
@pytest.mark.parametrize("max_shift", [1, 2])
def test_random_shift_is_the_zero_filled_window_at_its_drawn_offset(shape, max_shift):
    from skdpa.torch._modules import random_shift

    images = torch.arange(np.prod(shape), dtype=torch.float32).reshape(shape) + 1
    torch.manual_seed(3)
    shifted = random_shift(images, max_shift)
    torch.manual_seed(3)  # the same draw, taken again
    offsets = torch.randint(0, 2 * max_shift + 1, (shape[0], 2))
    n, c, h, w = shape
    padded = torch.zeros(n, c, h + 2 * max_shift, w + 2 * max_shift)
    padded[:, :, max_shift : max_shift + h, max_shift : max_shift + w] = images
    for i, (r, s) in enumerate(offsets.tolist()):
        assert torch.equal(shifted[i], padded[i, :, r : r + h, s : s + w])
    # the draws move images (with teeth: not the identity everywhere)
    assert not torch.equal(shifted, images)
    assert torch.equal(random_shift(images, 0), images)


@pytest.mark.parametrize("make", [CompactCNN, lambda: NetworkInNetwork(width=8)])
def test_modules_take_shaped_images_as_their_docstrings_say(make):
    torch.manual_seed(0)
    net = make().eval()
    images = torch.rand(3, 1, 28, 28)
    assert torch.equal(net(images), net(images.reshape(3, 784)))
    with pytest.raises(ValueError, match=r"image_shape=\(1, 28, 28\) needs rows"):
        net(torch.rand(3, 1, 27, 29))


@pytest.mark.parametrize("cls", [DPAClassifier, SSDPAClassifier])
def test_a_cuda_member_without_that_gpu_is_refused_before_anything_is_fit(cls):
    if torch.cuda.is_available():
        device, match = f"cuda:{torch.cuda.device_count()}", "numbered from 0"
    else:
        device, match = "cuda", r"device='cuda', which needs a CUDA GPU"
    X = np.random.RandomState(0).rand(40, 64).astype(np.float32)
    y = np.arange(40) % 2
    member = _member(device=device, n_classes=2)
    clf = cls(member, k=2, classes=[0, 1])
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "estimators_")
    # the same member on the CPU fits: the check is about the device only
    clf.set_params(estimator__net__device="cpu").fit(X, y)
    assert len(clf.estimators_) == 2
