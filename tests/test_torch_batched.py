"""Members trained in groups (skdpa.torch.make_batched_member, issue 20).

The guarantee: a member is a function of its own partition and seed only,
whatever its group: changing one partition's rows leaves every other member
bit-identical (weights and outputs), for group_size 1 and > 1 and for both
strategies ("loop": one member after another; "vmap": one stacked model),
with dropout and random shifts too (under "vmap" each member draws from its
own stream, the draws the loop makes).
"""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from joblib import parallel_backend  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from torch import nn  # noqa: E402

from skdpa import DPAClassifier, SSDPAClassifier  # noqa: E402
from skdpa.torch import (  # noqa: E402
    BatchedTorchClassifier,
    CompactCNN,
    _noise,
    make_batched_member,
)
from skdpa.torch._batched import _stackable  # noqa: E402

STRATEGIES = ["loop", "vmap"]

# The tests that carry the guarantee run on a GPU too when one is present
# (benchmarks/gpu_check.sh runs them there); CI has none and skips them.
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="needs a CUDA device"
        ),
    ),
]

N_CLASSES = 3


class MLP(nn.Module):
    def __init__(self, n_classes=2, n_features=4, hidden=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, x):
        return self.net(x)


class WithBatchNorm(nn.Module):
    def __init__(self, n_classes=2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, n_classes)
        )

    def forward(self, x):
        return self.net(x)


class WithDropout2d(nn.Module):
    def __init__(self, n_classes=2):
        super().__init__()
        self.drop = nn.Dropout2d(0.25)
        self.out = nn.Linear(4, n_classes)

    def forward(self, x):
        return self.out(self.drop(x[:, :, None, None])[:, :, 0, 0])


class DrawsItself(MLP):
    """Draws noise with torch.rand, not through skdpa's provider."""

    def forward(self, x):
        if self.training:
            x = x + 0.1 * torch.rand_like(x)
        return super().forward(x)


class DropoutMLP(MLP):
    """An MLP with nn.Dropout: its masks come from skdpa's provider."""

    def __init__(self, n_classes=2, n_features=4, hidden=8, p=0.5):
        super().__init__(n_classes, n_features, hidden)
        self.net.insert(2, nn.Dropout(p))


class TransposedDropoutMLP(DropoutMLP):
    """Dropout on a non-contiguous view: rand_like fills it in memory order."""

    def forward(self, x):
        first, relu, drop, last = self.net
        return last(drop(relu(first(x)).t()).t())


class DrawsOnEvenBatches(MLP):
    """Its draws depend on the batch size: none on an odd number of rows."""

    def forward(self, x):
        if self.training and len(x) % 2 == 0:
            x = x + _noise.uniform_like(x)
        return super().forward(x)


def _data(n=150, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y


def _images(n=90, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(size=(n, 64)).astype(np.float32)
    y = (X[:, :32].sum(axis=1) > X[:, 32:].sum(axis=1)).astype(int) * 2
    return X, y


def _mlp(**params):
    defaults = dict(
        n_classes=N_CLASSES, group_size=4, max_epochs=3, lr=1e-2, batch_size=8
    )
    defaults.update(params)
    return make_batched_member(MLP, **defaults)


def _cnn(**params):
    defaults = dict(
        n_classes=N_CLASSES,
        group_size=4,
        max_epochs=2,
        lr=1e-2,
        batch_size=8,
        image_shape=(1, 8, 8),
        channels=(2, 4),
        dropout=0.0,
        max_shift=0,
    )
    defaults.update(params)
    return make_batched_member(CompactCNN, **defaults)


def _noisy_cnn(**params):
    """Dropout 0.5 and random shifts: random draws in every training step."""
    return _cnn(**{"dropout": 0.5, "max_shift": 1, **params})


def _dpa(member, k=6, **params):
    return DPAClassifier(
        member, k=k, classes=range(N_CLASSES), random_state=0, **params
    )


def _weights(member):
    return {k: v.detach().clone() for k, v in member.module_.state_dict().items()}


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _poison(clf, X, y, m, n_added):
    """Rows added to partition ``m`` only: copies of its rows, labels flipped."""
    rows = clf.estimators_samples_[m]
    picked = rows[np.arange(n_added) % len(rows)]
    X_new = np.concatenate([X, X[picked]])
    y_new = np.concatenate([y, (y[picked] + 1) % N_CLASSES])
    return X_new, y_new


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    "make", [_mlp, _cnn, _noisy_cnn], ids=["mlp", "cnn", "cnn-dropout-shifts"]
)
@pytest.mark.parametrize("group_size", [1, 4])
@pytest.mark.parametrize("change", ["remove", "add"])
@pytest.mark.parametrize("device", DEVICES)
def test_changing_one_partition_leaves_every_other_member_bit_identical(
    make, group_size, change, strategy, device
):
    X, y = _data() if make is _mlp else _images()
    clf = _dpa(make(group_size=group_size, strategy=strategy, device=device)).fit(X, y)
    assert {e.strategy_ for e in clf.estimators_} == {strategy}
    sizes = clf.partition_sizes_
    assert len(set(sizes.tolist())) > 1  # unequal partition sizes
    m = 2  # shares group 0 with members 0, 1, 3 when group_size=4
    if change == "remove":
        keep = np.setdiff1d(np.arange(len(X)), clf.estimators_samples_[m][:9])
        X2, y2 = X[keep], y[keep]
    else:  # more rows: member m takes more steps than its group mates
        X2, y2 = _poison(clf, X, y, m, n_added=20)
    other = clone(clf).fit(X2, y2)
    assert other.partition_sizes_[m] != sizes[m]
    np.testing.assert_array_equal(
        np.delete(other.partition_sizes_, m), np.delete(sizes, m)
    )
    for j in range(clf.n_members_):
        if j == m:
            assert not _same_weights(clf.estimators_[j], other.estimators_[j])
            continue
        assert _same_weights(clf.estimators_[j], other.estimators_[j]), j
        np.testing.assert_array_equal(
            clf.estimators_[j].predict_proba(X), other.estimators_[j].predict_proba(X)
        )
    # the same holds through the ensemble's own member outputs
    a, b = clf.member_predictions(X), other.member_predictions(X)
    np.testing.assert_array_equal(np.delete(a, m, axis=1), np.delete(b, m, axis=1))


@pytest.mark.parametrize(
    "make", [_mlp, _cnn, _noisy_cnn], ids=["mlp", "cnn", "cnn-dropout-shifts"]
)
@pytest.mark.parametrize("device", DEVICES)
def test_group_sizes_and_strategies_agree_to_rounding(make, device):
    """With dropout and shifts too: under "vmap" each member draws what the
    loop draws for it (its own generator, continued from its build), in the
    order the loop draws, whatever its slot and group size."""
    X, y = _data() if make is _mlp else _images()
    fits = [
        _dpa(make(group_size=g, strategy="vmap", device=device)).fit(X, y)
        for g in (1, 3, 6)
    ]
    loops = [
        _dpa(make(group_size=g, strategy="loop", device=device)).fit(X, y)
        for g in (1, 10)
    ]
    # On a GPU convolutions default to TF32 (a 10-bit mantissa) and a stacked
    # group runs other kernels than one member: rounding is coarser there.
    tolerance = (
        dict(rtol=1e-4, atol=1e-5) if device == "cpu" else dict(rtol=1e-2, atol=1e-3)
    )
    # one member after another: a member does not see its group at all
    for a, b in zip(loops[0].estimators_, loops[1].estimators_, strict=True):
        assert _same_weights(a, b)
    # On CUDA the loop's nn.Dropout is torch's own (its fused kernel's masks),
    # the stacked model's rand < 1 - p: the same distribution, other masks.
    exact_draws = device == "cpu" or make is not _noisy_cnn
    for other in fits[1:] + loops[:1] * exact_draws:
        np.testing.assert_array_equal(fits[0].predict(X), other.predict(X))
        np.testing.assert_array_equal(
            fits[0].member_predictions(X), other.member_predictions(X)
        )
        for a, b in zip(fits[0].estimators_, other.estimators_, strict=True):
            wa, wb = _weights(a), _weights(b)
            for k in wa:
                torch.testing.assert_close(wa[k], wb[k], **tolerance)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("device", DEVICES)
def test_per_member_seeds(strategy, device):
    X, y = _data()
    a = _dpa(_mlp(strategy=strategy, device=device)).fit(X, y)
    b = _dpa(_mlp(strategy=strategy, device=device)).fit(X, y)
    c = (
        _dpa(_mlp(strategy=strategy, device=device))
        .set_params(random_state=1)
        .fit(X, y)
    )
    for j in range(a.n_members_):
        assert _same_weights(a.estimators_[j], b.estimators_[j])
        assert not _same_weights(a.estimators_[j], c.estimators_[j])
    # members of one group start from different weights (their own seeds)
    assert not _same_weights(a.estimators_[0], a.estimators_[1])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("device", DEVICES)
def test_warm_start_refits_only_changed_members(strategy, device):
    X, y = _data()
    clf = _dpa(
        _mlp(group_size=4, strategy=strategy, device=device), warm_start=True
    ).fit(X, y)
    before = list(clf.estimators_)
    saved = [_weights(e) for e in before]
    m = 5  # group 1, with member 4
    X2, y2 = _poison(clf, X, y, m, n_added=6)
    clf.fit(X2, y2)
    np.testing.assert_array_equal(np.flatnonzero(clf.refitted_), [m])
    for j, member in enumerate(clf.estimators_):
        if j == m:
            assert member is not before[j]
            continue
        assert member is before[j]
        now = _weights(member)
        assert all(torch.equal(now[k], saved[j][k]) for k in now)
    # the refit member equals a cold fit's, bit for bit
    cold = _dpa(_mlp(group_size=4, strategy=strategy, device=device)).fit(X2, y2)
    assert _same_weights(clf.estimators_[m], cold.estimators_[m])
    np.testing.assert_array_equal(clf.predict(X), cold.predict(X))


def _group_fit(member, data, **kw):
    return member.group_fit([(X, y, s) for X, y, s in data], **kw)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("device", DEVICES)
def test_loss_is_per_member_not_averaged_and_not_coupled(strategy, device):
    X, y = _data(60)
    parts = [(X[:20], y[:20], 0), (X[20:45], y[20:45], 1), (X[45:], y[45:], 2)]
    member = _mlp(
        optimizer="sgd", lr=0.1, max_epochs=4, strategy=strategy, device=device
    )
    grouped = _group_fit(member, parts)
    alone = _group_fit(member, parts[:1], group_size=1)[0]
    # averaging the loss over 3 members would take a third of each step
    for k, w in _weights(alone).items():
        torch.testing.assert_close(_weights(grouped[0])[k], w, rtol=1e-5, atol=1e-6)
    # scaling another member's data (its loss and gradients) leaves member 0
    scaled = [parts[0], (parts[1][0] * 1000, parts[1][1], 1), parts[2]]
    again = _group_fit(member, scaled)
    assert _same_weights(grouped[0], again[0])
    assert _same_weights(grouped[2], again[2])
    assert not _same_weights(grouped[1], again[1])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("device", DEVICES)
def test_exhausted_member_takes_no_step(strategy, device):
    X, y = _data(60)
    # Adam: a zero gradient would move it
    member = _mlp(batch_size=8, max_epochs=2, strategy=strategy, device=device)
    small = (X[:5], y[:5], 0)
    fitted = _group_fit(member, [small, (X[5:], y[5:], 1)])
    assert [f.n_steps_ for f in fitted] == [2, 2 * 7]
    twin = _group_fit(member, [small, (X[5:10], y[5:10], 1)])
    assert twin[1].n_steps_ == 2
    assert _same_weights(fitted[0], twin[0])


def test_standalone_classifier_fit_predict_pickle():
    X, y = _data()
    clf = _mlp(max_epochs=6, batch_size=16, lr=0.05).set_params(random_state=0)
    assert isinstance(clf, BatchedTorchClassifier)
    clf.fit(X, y)
    assert clf.score(X, y) > 0.6
    np.testing.assert_array_equal(clf.classes_, np.arange(N_CLASSES))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    assert _same_weights(clone(clf).fit(X, y), clf)


def test_ensemble_pickles_and_predicts_certified():
    X, y = _data()
    # groups run in parallel (threads here: processes cost seconds to start)
    with parallel_backend("threading", n_jobs=2):
        clf = _dpa(_mlp(), n_jobs=2).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    pred, radius = clf.predict_certified(X)
    pred2, radius2 = again.predict_certified(X)
    np.testing.assert_array_equal(pred, pred2)
    np.testing.assert_array_equal(radius, radius2)
    serial = _dpa(_mlp(), n_jobs=1).fit(X, y)
    for a, b in zip(clf.estimators_, serial.estimators_, strict=True):
        assert _same_weights(a, b)


def test_ssdpa_trains_members_in_groups():
    X, y = _data()
    y_semi = y.copy()
    y_semi[::4] = -1
    member = _mlp(n_features=3, group_size=3)
    ss = SSDPAClassifier(
        member, k=5, embedding=PCA(n_components=3), classes=range(3), random_state=0
    ).fit(X, y_semi)
    votes = ss.vote_counts(X)
    np.testing.assert_array_equal(votes.sum(axis=1), 5)
    assert isinstance(ss.estimators_[0], BatchedTorchClassifier)


def test_refuses_coupling_layers_and_bad_input():
    X, y = _data(20)
    with pytest.raises(ValueError, match="batch statistics .*BatchNorm1d"):
        make_batched_member(WithBatchNorm, n_classes=3, strategy="vmap").fit(X, y)
    # dropout other than nn.Dropout, and random draws not through skdpa's
    # provider, would share one stream across a stacked group
    with pytest.raises(
        ValueError, match=r"dropout \(drop: Dropout2d, p=0\.25\).*strategy='loop'"
    ):
        make_batched_member(WithDropout2d, n_classes=3, strategy="vmap").fit(X, y)
    with pytest.raises(ValueError, match=r"Dropout, p=1\.0\).*only torch\.nn\.Dropout"):
        make_batched_member(DropoutMLP, n_classes=3, strategy="vmap", p=1.0).fit(X, y)
    with pytest.raises(
        ValueError, match=r"draws random numbers in training other than .*torch\.rand"
    ):
        make_batched_member(DrawsItself, n_classes=3, strategy="vmap").fit(X, y)
    # draws that a padded short batch cannot hold: refused whatever the
    # partition's size (checked at every batch size up to batch_size)
    for n in (13, 16):
        with pytest.raises(
            ValueError,
            match=r"draws in a step on 1 row\(s\) .* batch_size=8 rows",
        ):
            make_batched_member(
                DrawsOnEvenBatches, n_classes=3, strategy="vmap", batch_size=8
            ).fit(X[:n], y[:n])
    Xi, yi = _images(20)
    with pytest.raises(ValueError, match=r"own stream on a CPU or CUDA .*'meta'"):
        _noisy_cnn(strategy="vmap", device="meta").fit(Xi, yi)
    # the loop takes them all
    for module in (WithDropout2d, DrawsItself, DrawsOnEvenBatches):
        make_batched_member(module, n_classes=3, strategy="loop").fit(X, y)
    with pytest.raises(ValueError, match=r"class indices in \[0, n_classes=3\); got 5"):
        _mlp().fit(X, np.full(20, 5))
    with pytest.raises(ValueError, match=r"y holds -1 \(unlabelled rows\)"):
        _mlp().fit(X, np.r_[y[:-1], -1])
    with pytest.raises(ValueError, match="group_size must be at least 1; got 0"):
        _mlp(group_size=0).fit(X, y)
    for lr in (0, -1e-3, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            _mlp(lr=lr).fit(X, y)
    with pytest.raises(ValueError, match="device must be a torch device .*'tpu'"):
        _mlp(device="tpu").fit(X, y)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda', which needs a CUDA GPU"):
            _mlp(device="cuda").fit(X, y)
    else:
        n = torch.cuda.device_count()
        with pytest.raises(ValueError, match=f"has {n} CUDA device"):
            _mlp(device=f"cuda:{n}").fit(X, y)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        _mlp(optimizer="lbfgs").fit(X, y)
    with pytest.raises(
        ValueError,
        match=r"strategy must be one of \('auto', 'loop', 'vmap'\); got 'stack'",
    ):
        _mlp(strategy="stack").fit(X, y)
    with pytest.raises(
        ValueError, match=r"slots must be distinct and in \[0, group_size=4\)"
    ):
        _mlp().group_fit([(X, y, 0), (X, y, 1)], slots=[1, 1])


def test_auto_loops_on_cpu_and_stacks_only_sound_modules():
    Xi, yi = _images(30)
    # the CPU default: dropout and random shifts are accepted, one at a time
    clf = _cnn(dropout=0.25, max_shift=1).fit(Xi, yi)
    assert clf.strategy_ == "loop"
    # on CUDA, auto stacks a module only if that is sound; the probe reads
    # the module alone (zeros in, random draws refused), never member data
    cpu = torch.device("cpu")
    assert _stackable(MLP(n_classes=3), 4, cpu)
    assert _stackable(CompactCNN(3, (1, 8, 8), (2, 4), 0.0, 0), 64, cpu)
    # dropout and shifts draw through skdpa's provider: each member its own
    assert _stackable(CompactCNN(3, (1, 8, 8), (2, 4), 0.25, 0), 64, cpu)
    assert _stackable(CompactCNN(3, (1, 8, 8), (2, 4), 0.0, 1), 64, cpu)
    assert _stackable(DropoutMLP(n_classes=3), 4, cpu)
    assert not _stackable(DrawsItself(n_classes=3), 4, cpu)  # torch.rand
    assert not _stackable(WithDropout2d(n_classes=3), 4, cpu)
    assert not _stackable(DrawsOnEvenBatches(n_classes=3), 4, cpu, batch_size=8)
    assert not _stackable(WithBatchNorm(n_classes=3), 4, cpu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_stacks_dropout_and_shifts_on_cuda():
    """On CUDA "auto" stacks CompactCNN with dropout and shifts (each member
    its own stream), bit for bit what strategy="vmap" gives."""
    Xi, yi = _images(60)
    clf = _dpa(_noisy_cnn(device="cuda")).fit(Xi, yi)
    assert {e.strategy_ for e in clf.estimators_} == {"vmap"}
    same = _dpa(_noisy_cnn(device="cuda", strategy="vmap")).fit(Xi, yi)
    for a, b in zip(clf.estimators_, same.estimators_, strict=True):
        assert _same_weights(a, b)


@pytest.mark.parametrize(
    "group_size, k, params",
    [
        (16, 16, {}),  # stackable, once in the old CPU band: loops now
        (8, 12, {}),
        (32, 12, {}),
        (16, 12, {"dropout": 0.25}),
        (16, 12, {"max_shift": 1}),
    ],
)
def test_auto_on_cpu_loops(group_size, k, params):
    Xi, yi = _images(60)
    clf = _dpa(_cnn(group_size=group_size, max_epochs=1, **params), k=k).fit(Xi, yi)
    assert {e.strategy_ for e in clf.estimators_ if hasattr(e, "strategy_")} == {"loop"}
    # the same as asking for the loop: bit for bit
    same = _dpa(
        _cnn(group_size=group_size, max_epochs=1, strategy="loop", **params), k=k
    ).fit(Xi, yi)
    for a, b in zip(clf.estimators_, same.estimators_, strict=True):
        if hasattr(a, "module_"):
            assert _same_weights(a, b)
    # stackable all the same: "vmap" still runs on a CPU when asked for
    if not params:
        forced = _cnn(group_size=group_size, max_epochs=1, strategy="vmap")
        stacked = _dpa(forced, k=k).fit(Xi, yi)
        assert {
            e.strategy_ for e in stacked.estimators_ if hasattr(e, "strategy_")
        } == {"vmap"}


def test_loop_accepts_batch_norm_statistics_of_its_own_batches():
    X, y = _data(80)
    member = make_batched_member(
        WithBatchNorm, n_classes=3, strategy="loop", group_size=2, batch_size=16
    )
    parts = [(X[:40], y[:40], 0), (X[40:], y[40:], 1)]
    fitted = member.group_fit(parts)
    changed = member.group_fit([parts[0], (X[40:] * 3, y[40:], 1)])
    assert _same_weights(fitted[0], changed[0])  # running stats included
    assert not _same_weights(fitted[1], changed[1])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("group_size", [1, 4])
@pytest.mark.parametrize("device", DEVICES)
def test_dropout_member_is_bit_identical_when_another_partition_changes(
    strategy, group_size, device
):
    """Random draws in training (dropout, shifts) come from each member's own
    seeded generator: another member's data never moves them."""
    X, y = _images()
    member = _noisy_cnn(group_size=group_size, strategy=strategy, device=device)
    before = torch.random.get_rng_state()
    clf = _dpa(member).fit(X, y)
    assert {e.strategy_ for e in clf.estimators_} == {strategy}
    # the caller's generator is put back (the loop) or never touched (vmap)
    assert torch.equal(torch.random.get_rng_state(), before)
    m = 1
    X2, y2 = _poison(clf, X, y, m, n_added=15)
    other = clone(clf).fit(X2, y2)
    for j in range(clf.n_members_):
        if j == m:
            assert not _same_weights(clf.estimators_[j], other.estimators_[j])
        else:
            assert _same_weights(clf.estimators_[j], other.estimators_[j]), j
    a, b = clf.member_predictions(X), other.member_predictions(X)
    np.testing.assert_array_equal(np.delete(a, m, axis=1), np.delete(b, m, axis=1))
    # dropout does draw: without it the same seeds give other weights; and
    # so do the shifts
    for params in ({"dropout": 0.0}, {"max_shift": 0}):
        plain = _dpa(_noisy_cnn(strategy=strategy, device=device, **params))
        plain.fit(X, y)
        assert not _same_weights(clf.estimators_[0], plain.estimators_[0])
    # a member's draws are its own: fit alone, it is the same network (bit
    # for bit in the loop; under vmap, whose rounding depends on the group's
    # size, to rounding)
    parts = [(X[a : a + 20], y[a : a + 20], a) for a in (0, 20, 40, 60)]
    grouped = member.group_fit(parts, group_size=4)
    (alone,) = member.group_fit(parts[2:3], group_size=1)
    if strategy == "loop":
        assert _same_weights(alone, grouped[2])
    tolerance = (
        dict(rtol=1e-5, atol=1e-6) if device == "cpu" else dict(rtol=1e-2, atol=1e-3)
    )
    for k, w in _weights(alone).items():
        torch.testing.assert_close(_weights(grouped[2])[k], w, **tolerance)
    # ... and at another slot of another group
    (moved,) = member.group_fit(parts[2:3], slots=[3], group_size=4)
    for k, w in _weights(alone).items():
        torch.testing.assert_close(_weights(moved)[k], w, **tolerance)


@given(
    module=st.sampled_from([DropoutMLP, TransposedDropoutMLP]),
    sizes=st.lists(st.integers(1, 23), min_size=1, max_size=4),
    batch_size=st.integers(1, 9),
    extra_slots=st.integers(0, 2),
    max_epochs=st.integers(1, 2),
)
@settings(max_examples=10, deadline=None)
def test_vmap_draws_what_the_loop_draws_whatever_the_sizes(
    module, sizes, batch_size, extra_slots, max_epochs
):
    """Stacked with dropout, every member equals itself trained alone by the
    loop (the same masks, padded batches included; dropout on a transposed
    view too), whatever the partition sizes, batch size, its slot and the
    group's size."""
    X, y = _data(sum(sizes))
    G = len(sizes) + extra_slots
    member = make_batched_member(
        module, n_classes=N_CLASSES, group_size=G, max_epochs=max_epochs,
        lr=1e-2, batch_size=batch_size, strategy="vmap",
    )  # fmt: skip
    cuts = np.cumsum([0] + sizes)
    parts = [
        (X[a:b], y[a:b], 7 + i)
        for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))
    ]
    slots = list(range(extra_slots, G))  # the first slots idle
    stacked = member.group_fit(parts, slots=slots)
    loop = clone(member).set_params(strategy="loop").group_fit(parts)
    for a, b in zip(stacked, loop, strict=True):
        assert a.n_steps_ == b.n_steps_
        # the loop's fused Adam and the stacked per-member Adam round
        # differently: at most 1.8e-7 apart in 150 random draws of these
        # settings, 5e-6 in the rare one hypothesis found (sizes [11, 23, 18],
        # batch 6, no idle slot); another mask moves a weight by about lr
        for k, w in _weights(b).items():
            torch.testing.assert_close(_weights(a)[k], w, rtol=1e-4, atol=1e-4)


def test_outside_a_trainer_draws_are_torchs_own(monkeypatch):
    """Outside any trainer context the provider is torch's global generator,
    exactly as before it existed: a loop fit (dropout masks and shifts), and
    a module in training mode as skorch and ART run it (torch's own
    dropout), equal what plain torch calls give, bit for bit."""
    X, y = _images()
    member = _noisy_cnn(strategy="loop", group_size=4)
    new = _dpa(member).fit(X, y)
    torch.manual_seed(3)
    net = CompactCNN(3, (1, 8, 8), (2, 4), 0.5, 2).train()
    out_new = net(torch.from_numpy(X))
    # the code path before the provider: torch's functions called directly
    monkeypatch.setattr(_noise, "uniform_like", torch.rand_like)
    monkeypatch.setattr(
        _noise,
        "randint",
        lambda low, high, size, device=None: torch.randint(
            low, high, size, device=device
        ),
    )
    old = _dpa(member).fit(X, y)
    for a, b in zip(new.estimators_, old.estimators_, strict=True):
        assert _same_weights(a, b)
    torch.manual_seed(3)
    net = CompactCNN(3, (1, 8, 8), (2, 4), 0.5, 2).train()
    assert torch.equal(net(torch.from_numpy(X)), out_new)


def test_draws_are_recorded_once_per_module_not_per_group(monkeypatch):
    """Checking every batch size takes one recording pass each: an ensemble
    records once per module, batch size and number of features, not once
    per group; another module parameter records anew."""
    from skdpa.torch import _batched

    calls = []
    record = _batched._recorded_draws

    def counting(base, rows, n_features):
        calls.append(rows)
        return record(base, rows, n_features)

    monkeypatch.setattr(_batched, "_recorded_draws", counting)
    monkeypatch.setattr(_batched, "_RECORDED", {})
    X, y = _images()
    member = _noisy_cnn(strategy="vmap", group_size=2, batch_size=8)
    _dpa(member).fit(X, y)  # three groups
    assert sorted(calls) == list(range(1, 9))
    calls.clear()
    _dpa(member).fit(X, y)
    assert calls == []
    _dpa(_noisy_cnn(strategy="vmap", group_size=2, batch_size=8, dropout=0.25)).fit(
        X, y
    )
    assert sorted(calls) == list(range(1, 9))


def test_noise_provider_records_and_replays_in_order():
    x = torch.zeros(4, 3)
    with _noise.recording() as specs:
        assert torch.equal(_noise.uniform_like(x), x)
        _noise.randint(2, 5, (4, 2))
    assert [s.kind for s in specs] == ["uniform", "randint"]
    assert specs[1].shape == (4, 2) and (specs[1].low, specs[1].high) == (2, 5)
    u, r = torch.rand(4, 3), torch.randint(2, 5, (4, 2))
    with _noise.replaying(specs, (u, r)):
        assert _noise.uniform_like(x) is u
        assert _noise.randint(2, 5, (4, 2)) is r
    with pytest.raises(ValueError, match=r"random draw 0 in this step is .*'randint'"):
        with _noise.replaying(specs, (u, r)):
            _noise.randint(2, 5, (4, 2))
    with pytest.raises(ValueError, match="asked for 1 random draws in one training"):
        with _noise.replaying(specs, (u, r)):
            _noise.uniform_like(x)
    with pytest.raises(ValueError, match=r"more random draws .* \(2\)"):
        with _noise.replaying(specs, (u, r)):
            _noise.uniform_like(x), _noise.randint(2, 5, (4, 2))
            _noise.randint(2, 5, (4, 2))
    # a context is left as it was entered: torch's generator again
    torch.manual_seed(0)
    a = _noise.uniform_like(x)
    torch.manual_seed(0)
    assert torch.equal(a, torch.rand_like(x))


class _Counting(BatchedTorchClassifier):
    """Records the size of every group the ensemble hands a worker."""

    calls = []

    def group_fit(self, data, slots=None, group_size=None):
        type(self).calls.append(len(data))
        return super().group_fit(data, slots=slots, group_size=group_size)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_loop_members_are_split_between_workers_not_grouped(strategy):
    X, y = _data()
    member = _Counting(
        MLP, n_classes=N_CLASSES, group_size=32, max_epochs=2, lr=1e-2,
        batch_size=8, strategy=strategy,
    )  # fmt: skip
    _Counting.calls.clear()
    with parallel_backend("threading", n_jobs=2):
        clf = _dpa(member, n_jobs=2).fit(X, y)
    fitted = sum(isinstance(e, BatchedTorchClassifier) for e in clf.estimators_)
    assert sum(_Counting.calls) == fitted == clf.n_members_
    if strategy == "loop":  # work for both workers, whatever group_size says
        assert len(_Counting.calls) > 1
    else:  # one stacked group of min(group_size, k) members
        assert _Counting.calls == [clf.n_members_]
    serial = _dpa(clone(member), n_jobs=1).fit(X, y)
    for a, b in zip(clf.estimators_, serial.estimators_, strict=True):
        assert _same_weights(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fitting_on_cuda_leaves_the_callers_cuda_generator():
    """In a fresh process CUDA starts inside the first member's seeded block;
    the caller's CUDA generator must still be the one its seed gives."""
    code = """
import numpy as np, torch
from skdpa.torch import make_batched_member
from test_torch_batched import MLP, _data, _images, _noisy_cnn
X, y = _data()
torch.manual_seed(123)
assert not torch.cuda.is_initialized()
for strategy in ("loop", "vmap"):
    make_batched_member(MLP, n_classes=3, max_epochs=1, device="cuda",
                        strategy=strategy).fit(X, y)
    after = torch.cuda.get_rng_state()
    torch.cuda.manual_seed_all(123)
    assert torch.equal(after, torch.cuda.get_rng_state()), strategy
# dropout and shifts: under vmap each member draws from its own CUDA generator
Xi, yi = _images()
for strategy in ("loop", "vmap"):
    _noisy_cnn(device="cuda", strategy=strategy).fit(Xi, yi)
    after = torch.cuda.get_rng_state()
    torch.cuda.manual_seed_all(123)
    assert torch.equal(after, torch.cuda.get_rng_state()), strategy
"""
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        [here] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=here)


def test_read_only_rows_train_without_warnings():
    X, y = _data()
    X.setflags(write=False)

    def fit(strategy, X):
        return _mlp(strategy=strategy).set_params(random_state=0).fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = fit("loop", X), fit("vmap", X)
    X2, _ = _data()
    assert _same_weights(a, fit("loop", X2))
    assert _same_weights(b, fit("vmap", X2))


@pytest.mark.parametrize("p", [0.25, 0.5, 0.1])
def test_cpu_loop_dropout_draws_the_same_distribution(p):
    """The CPU loop's dropout masks (``rand < 1 - p``): torch's arithmetic
    around the mask, the member's own generator, the rate 1 - p, and
    nothing drawn in evaluation or at p = 0."""
    from skdpa.torch._batched import _uniform_dropout_forward

    layer = nn.Dropout(p)
    x = torch.randn(400, 500)
    torch.manual_seed(7)
    out = _uniform_dropout_forward(layer, x)
    torch.manual_seed(7)
    mask = torch.rand_like(x) < 1 - p
    np.testing.assert_array_equal(
        out.numpy(), (x * mask.to(x.dtype).div_(1 - p)).numpy()
    )
    kept = (out != 0).double().mean().item()
    # 200,000 draws: 6 standard deviations of the kept fraction
    assert abs(kept - (1 - p)) < 6 * np.sqrt(p * (1 - p) / x.numel())
    # torch's own dropout on the same input scales alike
    ref = torch.nn.functional.dropout(x, p, training=True)
    both = (ref != 0) & (out != 0)
    np.testing.assert_array_equal(ref[both].numpy(), out[both].numpy())
    # in-place layers change the input, as torch's do
    y = x.clone()
    res = _uniform_dropout_forward(nn.Dropout(p, inplace=True), y)
    assert res.data_ptr() == y.data_ptr() and not torch.equal(y, x)
    # nothing is drawn in evaluation or at p = 0
    state = torch.random.get_rng_state()
    assert _uniform_dropout_forward(nn.Dropout(p).eval(), x) is x
    assert _uniform_dropout_forward(nn.Dropout(0.0), x) is x
    assert torch.equal(torch.random.get_rng_state(), state)


class _FailsLate(CompactCNN):
    """Raises at its fourth training forward pass."""

    calls = 0

    def forward(self, x):
        if self.training:
            type(self).calls += 1
            if type(self).calls == 4:
                raise RuntimeError("boom")
        return super().forward(x)


def test_cpu_loop_dropout_leaves_the_module_as_defined():
    """After fit, and after a fit that failed, every dropout layer is the
    class's own (no instance attribute left), so the member pickles and
    predicts as the module defines; a user's own override is kept."""
    X, y = _images()
    clf = _cnn(dropout=0.25, max_shift=1, strategy="loop").fit(X, y)
    layers = [m for m in clf.module_.modules() if isinstance(m, nn.Dropout)]
    assert layers and all("forward" not in m.__dict__ for m in layers)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))

    member = _cnn(dropout=0.25, strategy="loop")
    member.module = _FailsLate
    _FailsLate.calls = 0
    net = member._new_module()
    with pytest.raises(RuntimeError, match="boom"):
        from skdpa.torch._batched import _UniformDropout

        with _UniformDropout(net, torch.device("cpu")):
            net.train()
            for _ in range(5):
                net(torch.from_numpy(X[:8]))
    assert all("forward" not in m.__dict__ for m in net.modules())

    # a layer whose forward the user replaced is left to the user
    own = nn.Dropout(0.5)
    own.forward = lambda x: x + 1
    wrapper = nn.Sequential(own)
    with _UniformDropout(wrapper, torch.device("cpu")):
        assert torch.equal(wrapper(torch.zeros(2)), torch.ones(2))
    assert torch.equal(wrapper(torch.zeros(2)), torch.ones(2))


class PartlyUsed(MLP):
    """A layer used on some steps only (its gradient is None on the others)
    and a frozen one: torch's Adam skips tensors without a gradient."""

    def __init__(self, n_classes=2, n_features=4, hidden=8):
        super().__init__(n_classes, n_features, hidden)
        self.extra = nn.Linear(n_features, n_classes)
        self.frozen = nn.Linear(n_features, n_classes)
        self.frozen.requires_grad_(False)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        out = super().forward(x) + 0 * self.frozen(x)
        return out + self.extra(x) if self.calls % 3 == 0 else out


def test_lean_fused_adam_steps_like_torchs_fused_adam_bit_for_bit():
    from skdpa.torch._batched import _LeanFusedAdam

    torch.manual_seed(0)
    a, b = PartlyUsed(3), PartlyUsed(3)
    b.load_state_dict(a.state_dict())
    ours = _LeanFusedAdam(a.parameters(), lr=3e-3)
    theirs = torch.optim.Adam(b.parameters(), lr=3e-3, fused=True)
    x = torch.randn(16, 4)
    t = torch.randint(0, 3, (16,))
    for _ in range(12):
        for net, opt in ((a, ours), (b, theirs)):
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), t).backward()
            opt.step()
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q)
    # with teeth: the skipped tensor took fewer steps than the others
    steps = [int(s) for s in ours.steps]
    assert steps[0] == 12 and int(ours.steps[-4]) == 4 and steps[-1] == 0
    assert torch.equal(a.frozen.weight, b.frozen.weight)


def test_loop_members_equal_those_of_torchs_own_adam(monkeypatch):
    from skdpa.torch import _batched

    X, y = _images(60)
    member = make_batched_member(
        CompactCNN, n_classes=N_CLASSES, max_epochs=2, batch_size=16,
        strategy="loop", channels=(2, 4), image_shape=(1, 8, 8),
    ).set_params(random_state=0)  # fmt: skip
    lean = clone(member).fit(X, y)
    monkeypatch.setattr(
        _batched._LeanFusedAdam, "available", staticmethod(lambda: False)
    )
    plain = clone(member).fit(X, y)
    for p, q in zip(lean.module_.parameters(), plain.module_.parameters(), strict=True):
        assert torch.equal(p, q)
