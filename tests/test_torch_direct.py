"""Direct prediction for torch members: the same outputs as skorch's own path.

The engine calls recognised skorch members' fitted modules directly
(:mod:`skdpa.torch._direct`); ``direct_prediction(False)`` forces each member's
own ``predict`` / ``predict_proba``. Every output of the ensembles must be
bit for bit the same both ways, and members the fast path does not know keep
their own methods.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from sklearn.decomposition import PCA  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from torch import nn  # noqa: E402

from skdpa import DPAClassifier, SSDPAClassifier  # noqa: E402
from skdpa.torch import (  # noqa: E402
    _direct,  # noqa: E402
    direct_prediction,
    make_skorch_member,
)

pytestmark = pytest.mark.torch

DIGITS = (1, 4, 7)
DIGITS_SPLIT = {"classes": DIGITS, "scale": 16.0, "n_train": 240, "test": (240, 330)}


class _TinyModule(nn.Module):
    def __init__(self, n_classes=3, n_features=64):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)
        self.dropout = nn.Dropout(0.5)  # evaluation mode must switch it off

    def forward(self, x):
        return self.dropout(self.linear(x.float()))


class _TupleModule(_TinyModule):
    """Predicts (logits, extra): skorch uses the first output."""

    def forward(self, x):
        logits = super().forward(x)
        return logits if self.training else (logits, logits * 0)


def _sigmoid_rows(logits):
    """A custom predict nonlinearity (not a softmax)."""
    return torch.sigmoid(logits)


class _OverridingNet(skorch.NeuralNetClassifier):
    """Overrides predict_proba: must keep its own methods."""

    def predict_proba(self, X):
        return np.flip(super().predict_proba(X), axis=1).copy()


def _cnn_member(**params):
    defaults = dict(
        n_classes=len(DIGITS),
        max_epochs=2,
        lr=3e-3,
        module__image_shape=(1, 8, 8),
        module__channels=(4, 8),
        predict_batch_size=32,  # several batches, a ragged last one
    )
    defaults.update(params)
    return make_skorch_member(**defaults)


def _net(module=_TinyModule, net_class=skorch.NeuralNetClassifier, **params):
    defaults = dict(
        module__n_classes=len(DIGITS),
        criterion=nn.CrossEntropyLoss,
        train_split=None,
        max_epochs=2,
        verbose=0,
    )
    defaults.update(params)
    return net_class(module, **defaults)


MEMBERS = {
    "cnn_pipeline": lambda: _cnn_member(),
    "cnn_pipeline_float32_batch_all": lambda: _cnn_member(predict_batch_size=-1),
    "plain_net": lambda: _net(),
    "tuple_output": lambda: _net(_TupleModule),
    "custom_nonlinearity": lambda: _net(predict_nonlinearity=_sigmoid_rows),
    "no_nonlinearity": lambda: _net(predict_nonlinearity=None),
}


def _outputs(clf, X):
    return {
        "predict": clf.predict(X),
        "predict_proba": clf.predict_proba(X),
        "member_predictions": clf.member_predictions(X),
        "member_scores": clf.member_scores(X),
        "vote_counts": clf.vote_counts(X),
        "predict_certified": clf.predict_certified(X),
    }


def _assert_same(fast, slow):
    assert fast.keys() == slow.keys()
    for name in fast:
        a, b = fast[name], slow[name]
        if isinstance(a, tuple):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


def _count_direct_calls(monkeypatch):
    """Count the members the fast path answered for."""
    calls = []
    original = _direct._predict_proba

    def counting(net, pre, rows):
        calls.append(type(net).__name__)
        return original(net, pre, rows)

    monkeypatch.setattr(_direct, "_predict_proba", counting)
    return calls


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_dpa_outputs_are_those_of_the_skorch_path(digits, name, monkeypatch):
    X, y, X_test, _ = digits
    member = MEMBERS[name]()
    if name == "cnn_pipeline_float32_batch_all":
        X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    clf = DPAClassifier(member, k=4, classes=DIGITS, random_state=0).fit(X, y)
    calls = _count_direct_calls(monkeypatch)
    fast = _outputs(clf, X_test)
    assert len(calls) >= 4  # the fast path was taken, for every member
    n_calls = len(calls)
    with direct_prediction(False):
        slow = _outputs(clf, X_test)
    assert len(calls) == n_calls  # ... and not taken when turned off
    _assert_same(fast, slow)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_members_outputs_are_those_of_the_skorch_path(digits, monkeypatch):
    # members fit on the GPU: the fast path sends each batch to the member's
    # device. cuDNN may pick other kernels call to call (no deterministic
    # flag at prediction), so scores agree to float32 rounding, and the
    # votes, predictions and radii exactly.
    X, y, X_test, _ = digits
    member = _cnn_member(device="cuda")
    clf = DPAClassifier(member, k=4, classes=DIGITS, random_state=0).fit(X, y)
    assert next(clf.estimators_[0][-1].module_.parameters()).is_cuda
    calls = _count_direct_calls(monkeypatch)
    fast = _outputs(clf, X_test)
    assert len(calls) >= 4
    with direct_prediction(False):
        slow = _outputs(clf, X_test)
    for name in ("member_scores", "predict_proba"):
        np.testing.assert_allclose(
            fast.pop(name), slow.pop(name), rtol=1e-5, atol=1e-7, err_msg=name
        )
    _assert_same(fast, slow)


@pytest.mark.parametrize("name", ["cnn_pipeline", "plain_net"])
def test_smaller_batches_than_skorchs_agree(digits, name, monkeypatch):
    """The fast path caps batches (cache); predictions and radii agree."""
    X, y, X_test, _ = digits
    clf = DPAClassifier(MEMBERS[name](), k=3, classes=DIGITS, random_state=0)
    clf.fit(X, y)
    monkeypatch.setattr(_direct, "_BATCH_VALUES", 7 * X.shape[1])
    monkeypatch.setattr(_direct, "_MIN_BATCH", 1)
    sizes = []
    module = clf.estimators_[0]
    module = module[-1].module_ if hasattr(module, "steps") else module.module_
    hook = module.register_forward_hook(lambda m, i, o: sizes.append(len(i[0])))
    fast = _outputs(clf, X_test)
    hook.remove()
    assert max(sizes) == 7 and len(X_test) % 7  # small, ragged batches
    with direct_prediction(False):
        slow = _outputs(clf, X_test)
    for key in ("predict", "member_predictions", "vote_counts", "predict_certified"):
        _assert_same({key: fast[key]}, {key: slow[key]})
    np.testing.assert_allclose(fast["member_scores"], slow["member_scores"], rtol=1e-6)


def test_custom_nonlinearity_is_the_members_own(digits):
    X, y, X_test, _ = digits
    clf = DPAClassifier(
        MEMBERS["custom_nonlinearity"](), k=2, classes=DIGITS, random_state=0
    )
    clf.fit(X, y)
    scores = clf.member_scores(X_test)
    logits = clf.estimators_[0].module_.eval()(torch.as_tensor(X_test)).detach()
    np.testing.assert_array_equal(
        scores[:, 0, :], torch.sigmoid(logits).numpy().astype(np.float64)
    )
    assert not np.allclose(scores.sum(axis=2), 1.0)  # not a softmax


def test_ssdpa_outputs_are_those_of_the_skorch_path(digits, monkeypatch):
    X, y, X_test, _ = digits
    ss = SSDPAClassifier(
        _net(module__n_features=8),
        k=3,
        embedding=PCA(8, random_state=0),
        classes=DIGITS,
    )
    ss.set_params(random_state=0).fit(X, y)
    calls = _count_direct_calls(monkeypatch)
    fast = _outputs(ss, X_test)
    assert calls
    with direct_prediction(False):
        slow = _outputs(ss, X_test)
    _assert_same(fast, slow)


def test_ssdpa_with_standardized_pipeline_members(digits, monkeypatch):
    X, y, X_test, _ = digits
    member = make_skorch_member(
        _TinyModule,
        n_classes=len(DIGITS),
        module__n_features=8,
        max_epochs=2,
        predict_batch_size=16,
    )
    ss = SSDPAClassifier(member, k=3, embedding=PCA(8, random_state=0), classes=DIGITS)
    ss.set_params(random_state=1).fit(X, y)
    calls = _count_direct_calls(monkeypatch)
    fast = _outputs(ss, X_test)
    assert calls
    with direct_prediction(False):
        slow = _outputs(ss, X_test)
    _assert_same(fast, slow)


UNRECOGNISED = {
    "overriding_subclass": lambda: _net(net_class=_OverridingNet),
    "other_preprocessing": lambda: Pipeline(
        [("scale", StandardScaler()), ("net", _net())]
    ),
    "custom_loader_params": lambda: _net(iterator_valid__shuffle=False),
}


@pytest.mark.parametrize("name", sorted(UNRECOGNISED))
def test_unrecognised_members_keep_their_own_methods(digits, name, monkeypatch):
    X, y, X_test, _ = digits
    X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    clf = DPAClassifier(UNRECOGNISED[name](), k=3, classes=DIGITS, random_state=0).fit(
        X, y
    )
    calls = _count_direct_calls(monkeypatch)
    fast = _outputs(clf, X_test)
    assert calls == []
    with direct_prediction(False):
        slow = _outputs(clf, X_test)
    _assert_same(fast, slow)
    if name == "overriding_subclass":  # its own (flipped) probabilities count
        scores = clf.member_scores(X_test)[:, 0, :]
        own = clf.estimators_[0].predict_proba(X_test)
        np.testing.assert_array_equal(scores, own.astype(np.float64))


def test_non_array_and_non_finite_rows_take_the_members_path(digits):
    X, y, X_test, _ = digits
    assert _direct.direct_predictor(X_test.tolist()) is None
    bad = X_test.copy()
    bad[0, 0] = np.nan
    assert _direct.direct_predictor(bad) is None
    clf = DPAClassifier(_cnn_member(), k=2, classes=DIGITS, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(bad)
    predictor = _direct.direct_predictor(X_test[:, :10])  # wrong width
    assert predictor(clf.estimators_[0]) is None


def test_read_only_rows_are_fine(digits):
    X, y, X_test, _ = digits
    clf = DPAClassifier(_cnn_member(), k=2, classes=DIGITS, random_state=0).fit(X, y)
    frozen = X_test.copy()
    frozen.setflags(write=False)
    np.testing.assert_array_equal(clf.vote_counts(frozen), clf.vote_counts(X_test))


def test_threads_and_member_threads_give_the_same_outputs(digits):
    import skdpa

    X, y, X_test, _ = digits
    clf = DPAClassifier(_cnn_member(), k=4, classes=DIGITS, random_state=0).fit(X, y)
    one = _outputs(clf, X_test)
    clf.set_params(n_jobs=2)
    with skdpa.config_context(member_threads=2):
        two = _outputs(clf, X_test)
    _assert_same(one, two)


def test_direct_prediction_checks_its_argument():
    with pytest.raises(TypeError, match="enabled must be True or False; got 0"):
        with direct_prediction(0):
            pass
    with direct_prediction(False):
        assert not _direct.direct_prediction_enabled()
        with direct_prediction(True):
            assert _direct.direct_prediction_enabled()
        assert not _direct.direct_prediction_enabled()
    assert _direct.direct_prediction_enabled()
