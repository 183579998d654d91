"""Direct prediction for torch members: the fitted module, called as skorch would.

An ensemble evaluates every member on every row, and for a small network most
of what skorch's ``predict_proba`` spends is per-call overhead around the
module: a DataLoader collates the rows one by one into batches, and a
:class:`~skdpa.torch.ImageStandardizer` in front validates and converts the
rows again for each member. For members it recognises, the ensemble's engine
instead calls the fitted module itself, under :func:`torch.inference_mode`,
on batches sliced from the rows, with the member's own preprocessing applied
as tensors and its own output nonlinearity (skorch's
``_get_predict_nonlinearity``), in the evaluation mode skorch sets.

The values are those skorch computes: the same module called on the same
float tensors, the standardisation done in float64 and cast to float32 as
:class:`ImageStandardizer` does, the class taken as the argmax of the
probabilities as :meth:`skorch.NeuralNetClassifier.predict` does. Batches
are the net's own prediction batch size (``iterator_valid__batch_size``,
else ``batch_size``) but at most about 2**19 input values (at least 64
rows), so that a batch's activations stay in cache. Where the module's
kernels compute each row independently of the batch size (as for the
convolutions and linear layers tested here) the outputs are bit for bit
those of the skorch path; otherwise they can differ in the last bits, and
``tests/test_torch_direct.py`` checks that predictions and radii agree.

Recognised members: a fitted :class:`skorch.NeuralNetClassifier` (a subclass
too, unless it overrides a method on the prediction path) with skorch's own
``Dataset`` and a :class:`torch.utils.data.DataLoader` for prediction, alone
or as the last step of a :class:`~sklearn.pipeline.Pipeline` whose other
steps are fitted :class:`ImageStandardizer` or ``"passthrough"``; rows given
as a NumPy array. Anything else takes the member's own methods, as before.
:func:`direct_prediction` turns the fast path off for a block of code.
"""

from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch

from ._members import ImageStandardizer

__all__ = ["direct_prediction", "direct_predictor"]

_ENABLED = ContextVar("skdpa_torch_direct_prediction", default=True)

# Methods on skorch's prediction path: a subclass overriding any of them may
# compute something else, so it keeps its own methods.
_PREDICT_PATH = (
    "predict",
    "predict_proba",
    "forward_iter",
    "evaluation_step",
    "infer",
    "get_dataset",
    "get_iterator",
    "_get_predict_nonlinearity",
)
# Largest batch, in input values (rows x features), the fast path sends
# through a module at once; at least _MIN_BATCH rows.
_BATCH_VALUES = 1 << 19
_MIN_BATCH = 64
# DataLoader arguments that do not change the values or their order.
_HARMLESS_LOADER_PARAMS = {
    "batch_size",
    "num_workers",
    "pin_memory",
    "persistent_workers",
    "prefetch_factor",
    "timeout",
}


@contextmanager
def direct_prediction(enabled=True):
    """Let ensembles call recognised torch members' modules directly, or not.

    On by default. ``with direct_prediction(False):`` makes every member in the
    block predict through its own ``predict`` / ``predict_proba`` (skorch's
    DataLoader path), e.g. to compare the two or to rule the fast path out
    while debugging a member. The outputs are the same either way; only the
    time differs.

    Parameters
    ----------
    enabled : bool, default=True
        Whether the fast path may be taken inside the block.

    Examples
    --------
    >>> from skdpa.torch import direct_prediction
    >>> from skdpa.torch._direct import direct_prediction_enabled
    >>> with direct_prediction(False):
    ...     direct_prediction_enabled()
    False
    >>> direct_prediction_enabled()
    True
    """
    if not isinstance(enabled, bool):
        raise TypeError(
            f"enabled must be True or False; got {enabled!r} of type "
            f"{type(enabled).__name__}."
        )
    token = _ENABLED.set(enabled)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def direct_prediction_enabled():
    """Whether :func:`direct_prediction` allows the fast path here."""
    return _ENABLED.get()


def _recognised_net(net):
    """``net`` if it is a fitted skorch classifier predicting the plain way."""
    try:
        from skorch import NeuralNetClassifier
        from skorch.dataset import Dataset
    except ImportError:  # pragma: no cover - skorch is part of the extra
        return None
    if not isinstance(net, NeuralNetClassifier):
        return None
    cls = type(net)
    if any(
        getattr(cls, name, None) is not getattr(NeuralNetClassifier, name)
        for name in _PREDICT_PATH
    ):
        return None
    if not getattr(net, "initialized_", False):
        return None
    if not isinstance(getattr(net, "module_", None), torch.nn.Module):
        return None
    if net.dataset is not Dataset or net.get_params_for("dataset"):
        return None
    if net.iterator_valid is not torch.utils.data.DataLoader:
        return None
    if set(net.get_params_for("iterator_valid")) - _HARMLESS_LOADER_PARAMS:
        return None
    return net


def _split(member):
    """(preprocessing steps, net) of a recognised member, else None."""
    from sklearn.pipeline import Pipeline

    if isinstance(member, Pipeline):
        steps = [est for _, est in member.steps]
        pre = []
        for est in steps[:-1]:
            if est is None or (isinstance(est, str) and est == "passthrough"):
                continue
            if type(est) is not ImageStandardizer or not hasattr(est, "mean_"):
                return None
            pre.append(est)
        net = _recognised_net(steps[-1]) if steps else None
        return None if net is None else (pre, net)
    net = _recognised_net(member)
    return None if net is None else ([], net)


def _standardize(x64, standardizer):
    """:meth:`ImageStandardizer.transform` on a float64 tensor, same values."""
    n, d = x64.shape
    c = standardizer.n_channels
    mean = torch.from_numpy(np.asarray(standardizer.mean_, dtype=np.float64))
    scale = torch.from_numpy(np.asarray(standardizer.scale_, dtype=np.float64))
    blocks = x64.reshape(n, c, d // c)
    out = (blocks - mean[:, None]) / scale[:, None]
    return out.reshape(n, d).to(torch.float32)


class _Rows:
    """The rows of one prediction call, converted once for all members."""

    def __init__(self, X):
        # torch.from_numpy warns on read-only arrays (e.g. memory maps)
        self.X = X if X.flags.writeable else X.copy()
        self._float64 = None

    def float64(self):
        if self._float64 is None:
            x64 = np.ascontiguousarray(self.X, dtype=np.float64)
            self._float64 = x64 if x64.flags.writeable else x64.copy()
        return self._float64


def direct_predictor(X):
    """A function giving a member's probabilities on ``X`` by the fast path.

    Parameters
    ----------
    X : object
        The rows every member is evaluated on.

    Returns
    -------
    predictor : callable or None
        ``predictor(member)`` returns the member's ``predict_proba(X)``
        (a NumPy array, the values skorch returns) when the member is
        recognised, else None (call the member's own methods). None when the
        fast path is off (:func:`direct_prediction`) or ``X`` is not a 2-D
        NumPy array of real numbers with finite values.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.torch._direct import direct_predictor
    >>> predictor = direct_predictor(np.zeros((2, 3)))
    >>> predictor(object()) is None
    True
    """
    if not direct_prediction_enabled():
        return None
    if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf"):
        return None
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        return None  # the member's own validation raises its own error
    rows = _Rows(X)

    def predictor(member):
        found = _split(member)
        if found is None:
            return None
        pre, net = found
        for step in pre:
            if getattr(step, "n_features_in_", None) != X.shape[1]:
                return None  # the member's own check names the mismatch
            if X.shape[1] % step.n_channels:
                return None
        if not pre and X.dtype.kind != "f":
            return None
        return _predict_proba(net, pre, rows)

    return predictor


def _predict_proba(net, pre, rows):
    """skorch's ``net.predict_proba`` on the (preprocessed) rows, directly."""
    X = rows.X
    n = X.shape[0]
    batch_size = net.get_params_for("iterator_valid").get("batch_size")
    if batch_size is None:
        batch_size = net.batch_size
    if batch_size == -1 or n == 0:
        batch_size = max(n, 1)
    # a batch whose activations stay in cache: on a 2-core CPU a CompactCNN
    # on 28x28 rows ran twice as fast in batches of 512 as of 2048
    cache_rows = max(_MIN_BATCH, _BATCH_VALUES // max(X.shape[1], 1))
    batch_size = min(batch_size, cache_rows)
    module = net.module_
    nonlin = net._get_predict_nonlinearity()
    # skorch's evaluation_step puts the net in evaluation mode first
    net._set_training(False)
    source = rows.float64() if pre else X
    parts = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            x = torch.from_numpy(source[start : start + batch_size])
            for step in pre:
                x = _standardize(x, step)
            x = x.contiguous().to(net.device)
            out = module(x)
            if isinstance(out, tuple):
                out = out[0]
            parts.append(nonlin(out).cpu().numpy())
    if not parts:
        # skorch raises on no rows; so does the member's own path
        return None
    return np.concatenate(parts, 0)
