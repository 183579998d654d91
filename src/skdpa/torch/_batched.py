"""Torch members trained in groups, each kept independent of the others.

:func:`make_batched_member` returns a :class:`BatchedTorchClassifier`. Alone it
is an ordinary scikit-learn classifier; inside ``DPAClassifier`` /
``SSDPAClassifier`` the engine hands a worker several members at a time
(:meth:`BatchedTorchClassifier.group_fit`), trained by one of two strategies:

``"loop"``
    one member after another in the worker, by a lean training loop (tensors
    built once per member, batches by index, direct module calls; no
    DataLoader); the engine splits these members between workers freely.
    Each member runs under its own seeded torch generator
    (:func:`~skdpa.torch.seeded_torch`: seeded from the member's seed, saved
    and restored around it), so dropout, random shifts and batch
    normalisation are allowed: every draw and every batch statistic is the
    member's own. A member is bit-identical whatever its group.
``"vmap"``
    one stacked model (``torch.func.stack_module_state`` +
    ``functional_call`` + ``vmap``), all members of a group (``group_size``
    members by index) in every step. Meant for an accelerator; on a CPU
    ``vmap`` turns each convolution into a grouped one, which measured
    costlier than the loop at every group size (1.15-1.4x the loop's CPU time
    at 8 to 20, up to 3.5x at 128, modules without random draws).

``"auto"`` (the default) takes ``"vmap"`` on CUDA when the module can be
stacked soundly (no batch normalisation, and random draws in training only
through ``nn.Dropout`` layers and :class:`~skdpa.torch.CompactCNN`'s random
shifts), and ``"loop"`` otherwise, on a CPU always
(docs/benchmarks_torch.rst has the figures).

What keeps the certificate true under ``"vmap"`` (each member a function of
its own partition and seed only):

* group layout by member index: member ``j`` sits in slot ``j % group_size``
  of group ``j // group_size``; a slot without a member to fit is idle, so
  every step has the shape ``(group_size, batch_size, ...)`` whatever the
  other members' data;
* per member: initial weights from its seed, its own data order (a NumPy
  generator from its seed), its loss (the mean over its own batch rows;
  gradients are taken per member, never of a loss averaged over members),
  its Adam/SGD state and step count;
* each member's noise from its own stream: the module's training draws
  (``nn.Dropout`` masks, random shifts) go through one provider
  (``skdpa.torch._noise``). For every step each member's draws are made
  beforehand from its own generator (on the training device), which
  continues where the loop's generator would be for that member (seeded
  from its seed, after its initial weights were drawn), in the loop's
  order and with the member's real number of rows (a short last batch is
  padded); they are stacked over the slots and passed into the vmapped
  loss, where the provider hands the module its own slice. Idle slots,
  exhausted members and padded rows get constant draws (0, or the lower
  bound of an integer draw). Any other random draw in the module fails
  under ``vmap(randomness="error")`` and is refused;
* a member whose partition is exhausted skips the step (its weights and
  optimizer state are carried over unchanged, not updated with a zero
  gradient); the last batch of an epoch is padded and masked;
* no coupling layers: modules with batch normalisation are refused, and so
  are dropout layers other than ``nn.Dropout`` (``Dropout2d``,
  ``AlphaDropout``, ...).

Both strategies use the same initial weights, data order, loss and update
rule, and on a CPU the same random draws (dropout masks as ``rand < 1 - p``,
shifts), so they agree to rounding (predictions are tested equal). On CUDA
the loop's ``nn.Dropout`` is torch's own kernel: the same distribution,
other masks, so the strategies agree in distribution only there.
"""

import copy
import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .._persistence import ParamDefaultsOnLoad
from . import _noise
from ._checks import cuda_device_error
from ._modules import CompactCNN
from ._seeding import _TORCH_FIT_LOCK, register_main_objects, seeded_torch

__all__ = ["BatchedTorchClassifier", "make_batched_member"]

_OPTIMIZERS = ("adam", "sgd")
_STRATEGIES = ("auto", "loop", "vmap")
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults


def _member_dropout(sub):
    """An ``nn.Dropout`` layer (exactly that class) that draws per member
    under ``"vmap"``: ``0 <= p < 1`` and no forward of the user's own."""
    return (
        type(sub) is torch.nn.Dropout
        and 0 <= sub.p < 1
        and "forward" not in sub.__dict__
    )


def _check_module(net):
    """Refuse layers that would couple the members of a stacked group."""
    for name, sub in net.named_modules():
        if isinstance(sub, torch.nn.modules.batchnorm._NormBase):
            raise ValueError(
                f"make_batched_member: the module has a normalisation layer with "
                f"batch statistics ({name or 'module'}: {type(sub).__name__}); "
                "members stacked by strategy='vmap' must not share or track "
                "batch statistics. Use strategy='loop' (each member trained "
                "alone), a module without batch normalisation (e.g. GroupNorm "
                "or LayerNorm) or make_skorch_member."
            )
        if (
            isinstance(sub, torch.nn.modules.dropout._DropoutNd)
            and sub.p > 0
            and not _member_dropout(sub)
        ):
            raise ValueError(
                f"make_batched_member: the module has dropout ({name}: "
                f"{type(sub).__name__}, p={sub.p}); members stacked by "
                "strategy='vmap' would draw it from one shared random stream "
                "(only torch.nn.Dropout layers with p < 1 and torch's forward "
                "draw from each member's own). Use strategy='loop' (each "
                "member draws from its own seeded generator), torch.nn.Dropout, "
                "or dropout=0."
            )


def _drawing_dropouts(net):
    """The ``nn.Dropout`` layers of ``net`` that draw masks per member
    (:func:`_member_dropout`, ``p > 0``)."""
    return [sub for sub in net.modules() if _member_dropout(sub) and sub.p > 0]


def _draw_masks_uniformly(layers):
    """Make ``layers`` draw their masks by :func:`_uniform_dropout_forward`
    (through :mod:`._noise`)."""
    for sub in layers:
        sub.forward = _uniform_dropout_forward.__get__(sub)


def _meta_base(net):
    """A copy of ``net`` on the meta device, in training mode, whose
    ``nn.Dropout`` layers draw their masks through :mod:`._noise`: the
    stacked model's module (``functional_call`` supplies the weights)."""
    base = copy.deepcopy(net).to("meta")
    base.train()
    _draw_masks_uniformly(_drawing_dropouts(base))
    return base


def _generator_state(device):
    """The state of torch's generator for ``device`` (the one the loop's
    draws on that device come from); None for devices other than CPU/CUDA."""
    if device.type == "cpu":
        return torch.random.get_rng_state()
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return None


def _recorded_draws(base, rows, n_features):
    """The draws ``base`` (a :func:`_meta_base`) asks for in a training step
    on ``rows`` rows, in order: a recording forward pass on the meta device
    (shapes only, nothing computed or drawn; :func:`._noise.recording`)."""
    with _noise.recording() as specs, torch.no_grad():
        base(torch.zeros((rows, n_features), device="meta"))
    return tuple(specs)


# A module's recorded draws at every batch size up to batch_size, keyed by
# what builds the module (its class and parameters), the number of features
# and batch_size: checking every size takes one recording pass each (about
# 2 ms for CompactCNN), which every group of an ensemble would repeat.
_RECORDED = {}
_RECORDED_MAX = 64


class _MemberNoise:
    """Each member's random draws in training, for the stacked model.

    A recording pass (:func:`_recorded_draws`) per number of rows says which
    tensors a member draws in a step, in order. A module that draws is
    checked at every number of rows from 1 to ``batch_size`` when the
    object is made: the draws of a short batch must fit inside those of a
    full one (else ValueError), so whether a module can be stacked depends on
    the module and ``batch_size`` only, never on a partition's size. For a
    step,
    :meth:`draw_step` draws them for every member that steps, from that
    member's own generator, with the member's real number of rows (its last
    batch of an epoch may be short), in the order the loop draws them; puts
    them in the leading corner of a tensor of the full batch's shape (the
    real rows come first in a padded batch); and stacks them over the slots.
    Slots that do not step, and the padded rows, hold the smallest value a
    draw can take (0, or ``low``). Inside the vmapped loss,
    :func:`._noise.replaying` hands each member its own slice.
    """

    def __init__(self, base, n_features, batch_size, device, key=None):
        self.base = base
        self.n_features = int(n_features)
        self.batch_size = int(batch_size)
        self.device = device
        key = None if key is None else (key, self.n_features, self.batch_size)
        recorded = _RECORDED.get(key) if key is not None else None
        if recorded is not None:
            self._specs = dict(recorded)
            self.full = self._specs[self.batch_size]
            return
        self._specs = {}
        self.full = self.specs(self.batch_size)
        if self.full:
            for rows in range(1, self.batch_size):
                self.specs(rows)
        if key is not None:
            if len(_RECORDED) >= _RECORDED_MAX:
                _RECORDED.clear()
            _RECORDED[key] = dict(self._specs)

    def specs(self, rows):
        """The draws of one training step on ``rows`` rows, in order."""
        if rows not in self._specs:
            specs = _recorded_draws(self.base, rows, self.n_features)
            if rows != self.batch_size:
                self._check_fits(rows, specs)
            self._specs[rows] = specs
        return self._specs[rows]

    def _check_fits(self, rows, specs):
        full = self.full
        fits = len(specs) == len(full) and all(
            (a.kind, a.dtype, a.low, a.high) == (b.kind, b.dtype, b.low, b.high)
            and len(a.shape) == len(b.shape)
            and all(i <= j for i, j in zip(a.shape, b.shape, strict=True))
            for a, b in zip(specs, full, strict=True)
        )
        if not fits:
            raise ValueError(
                f"make_batched_member: the module's random draws in a step on "
                f"{rows} row(s) ({[a.key for a in specs]}) do not fit inside "
                f"those of a step on batch_size={self.batch_size} rows "
                f"({[b.key for b in full]}); "
                "strategy='vmap' pads a member's short last batch to "
                "batch_size. Use strategy='loop'."
            )

    def draw_step(self, generators, rows):
        """Stacked draws of one step: ``generators[s]`` (None: idle slot)
        and ``rows[s]`` (0: the member does not step) per slot."""
        out = []
        for spec in self.full:
            fill = 0 if spec.kind == "uniform" else spec.low
            out.append(
                torch.full(
                    (len(rows),) + spec.shape,
                    fill,
                    dtype=spec.dtype,
                    device=self.device,
                )
            )
        for s, (gen, r) in enumerate(zip(generators, rows, strict=True)):
            if gen is None or r == 0:
                continue
            for buf, spec, whole in zip(
                out, self.specs(int(r)), self.full, strict=True
            ):
                if spec.shape == whole.shape and spec.contiguous:
                    spec.fill(buf[s], gen)  # straight into the member's slice
                else:
                    corner = tuple(slice(0, d) for d in spec.shape)
                    buf[s][corner] = spec.draw(gen, self.device)
        return tuple(out)


def _stackable(net, n_features, device, batch_size=2, key=None):
    """Whether ``vmap`` can train stacked copies of ``net`` soundly.

    Static checks (:func:`_check_module`); the draws that go through
    :mod:`._noise` (``nn.Dropout`` layers, :func:`random_shift`) must fit a
    padded batch at every size up to ``batch_size`` (:class:`_MemberNoise`);
    then one stacked forward pass on zeros with ``randomness="error"``,
    those draws answered per member as in training: a module that draws
    random numbers any other way fails it. The answer depends on the module,
    the number of features and ``batch_size`` only, never on any member's
    data.
    """
    from torch.func import functional_call, stack_module_state, vmap

    try:
        _check_module(net)
    except ValueError:
        return False
    probe = copy.deepcopy(net).to(device)
    params, buffers = stack_module_state([probe, copy.deepcopy(probe)])
    base = _meta_base(net)
    try:
        specs = _MemberNoise(base, n_features, batch_size, device, key).full
    except ValueError as exc:
        if "do not fit inside" in str(exc):
            return False
        raise
    if specs and device.type not in ("cpu", "cuda"):
        return False
    noise = tuple(
        torch.zeros((2,) + s.shape, dtype=s.dtype, device=device) for s in specs
    )

    def forward(p, b, x, nz):
        with _noise.replaying(specs, nz):
            return functional_call(base, (p, b), (x,))

    x = torch.zeros((2, batch_size, n_features), device=device)
    try:
        with torch.no_grad():
            vmap(forward, randomness="error")(params, buffers, x, noise)
    except RuntimeError as exc:
        if "randomness" in str(exc):
            return False
        raise
    return True


def _uniform_dropout_forward(self, x):
    """``nn.Dropout``'s training forward with its mask drawn as ``rand < 1 - p``.

    The same distribution as torch's ``bernoulli_(1 - p)`` to within 2**-24
    (exactly for ``p`` a multiple of 2**-24, e.g. 0.25 or 0.5: a float32
    uniform takes the values ``i / 2**24``), from the same generator, and the
    same arithmetic afterwards (``x * (mask / (1 - p))``). On a CPU without
    MKL's Bernoulli generator (AMD processors) torch draws ``bernoulli_`` one
    element at a time: 2.5 times the time of ``rand`` for a 64 x 1568 mask.
    The uniform values come from :func:`._noise.uniform_like`: torch's
    global generator in the loop, each member's own stream in the stacked
    model.
    """
    if not self.training or self.p == 0:
        return x
    keep = 1.0 - self.p
    noise = (_noise.uniform_like(x) < keep).to(x.dtype).div_(keep)
    return x.mul_(noise) if self.inplace else x * noise


class _UniformDropout:
    """Inside the block, the CPU loop's exact ``nn.Dropout`` layers (``0 < p <
    1``) draw their masks by :func:`_uniform_dropout_forward`; on leaving it,
    even by an error, the module is as it was (no attribute left behind, so a
    fitted member pickles and predicts as the class defines)."""

    def __init__(self, net, device):
        self.layers = _drawing_dropouts(net) if device.type == "cpu" else []

    def __enter__(self):
        _draw_masks_uniformly(self.layers)
        return self

    def __exit__(self, *exc):
        for sub in self.layers:
            sub.__dict__.pop("forward", None)
        return False


def _fused_adam(params, device):
    """Whether torch's fused Adam can run these parameters on ``device``."""
    return torch.device(device).type in ("cpu", "cuda") and all(
        p.dtype in (torch.float32, torch.float64) for p in params
    )


class _LeanFusedAdam:
    """``torch.optim.Adam(params, lr, fused=True)``'s step, without its Python
    bookkeeping.

    The same state (first and second moments, one float32 step counter per
    tensor) and the same kernel call as that optimizer's fused path (default
    betas and eps, no weight decay, no AMSGrad): the parameters after every
    step are bit-identical (tested), in a third of the time per step for a
    small CNN on one CPU thread (20 us against 53 us). Only for what
    :func:`_fused_adam` accepts.
    """

    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = float(lr)
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [
            torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params
        ]

    @staticmethod
    def available():
        return hasattr(torch, "_fused_adam_")

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        # torch's Adam leaves a tensor without a gradient alone: no update,
        # no moment, no step counted
        tensors = (self.params, self.exp_avgs, self.exp_avg_sqs, self.steps)
        live = [
            state for state in zip(*tensors, strict=True) if state[0].grad is not None
        ]
        if not live:
            return
        params, exp_avgs, exp_avg_sqs, steps = map(list, zip(*live, strict=True))
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params, [p.grad for p in params], exp_avgs, exp_avg_sqs, [], steps,
            lr=self.lr, beta1=_BETA1, beta2=_BETA2, weight_decay=0.0, eps=_EPS,
            amsgrad=False, maximize=False,
        )  # fmt: skip


class BatchedTorchClassifier(ParamDefaultsOnLoad, ClassifierMixin, BaseEstimator):
    """A torch classifier that an ensemble trains ``group_size`` at a time.

    Build it with :func:`make_batched_member`; the parameters are documented
    there. Alone, :meth:`fit` trains one network (a group of one).

    Attributes
    ----------
    module_ : torch.nn.Module
        This member's fitted network (in eval mode).
    classes_ : ndarray of shape (n_classes,)
        ``0 .. n_classes - 1``: members are fit on class indices.
    n_steps_ : int
        Optimizer steps this member took.
    strategy_ : {"loop", "vmap"}
        How it was trained (``strategy="auto"`` resolved).

    See Also
    --------
    make_batched_member : Builds one; documents the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from skdpa.torch import BatchedTorchClassifier
    >>> X = np.random.RandomState(0).normal(size=(40, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = BatchedTorchClassifier(
    ...     nn.Linear, n_classes=2, n_classes_param="out_features",
    ...     module_params={"in_features": 3}, max_epochs=20, lr=0.1,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.score(X, y) > 0.8
    True
    """

    def __init__(
        self,
        module=CompactCNN,
        *,
        n_classes=2,
        n_classes_param="n_classes",
        group_size=32,
        max_epochs=10,
        lr=1e-3,
        batch_size=64,
        optimizer="adam",
        device="cpu",
        strategy="auto",
        predict_batch_size=2048,
        random_state=None,
        module_params=None,
    ):
        self.module = module
        self.n_classes = n_classes
        self.n_classes_param = n_classes_param
        self.group_size = group_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.device = device
        self.strategy = strategy
        self.predict_batch_size = predict_batch_size
        self.random_state = random_state
        self.module_params = module_params

    # -- validation -------------------------------------------------------
    def _check_params(self):
        for name, low in (
            ("n_classes", 2),
            ("group_size", 1),
            ("max_epochs", 1),
            ("batch_size", 1),
            ("predict_batch_size", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an int; got {value!r}.")
            if value < low:
                raise ValueError(f"{name} must be at least {low}; got {value}.")
        if not (
            isinstance(self.lr, (int, float, np.floating))
            and not isinstance(self.lr, bool)
            and 0 < self.lr < np.inf
        ):
            raise ValueError(f"lr must be a positive finite number; got {self.lr!r}.")
        self._checked_device()
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {_OPTIMIZERS}; got {self.optimizer!r}."
            )
        if not isinstance(self.strategy, str) or self.strategy not in _STRATEGIES:
            raise ValueError(
                f"strategy must be one of {_STRATEGIES}; got {self.strategy!r}."
            )

    def _checked_device(self):
        """``torch.device(self.device)``, or a ValueError naming the parameter
        (an unknown device, or CUDA asked for where there is none)."""
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device must be a torch device such as 'cpu' or 'cuda'; got "
                f"{self.device!r}."
            ) from exc
        error = cuda_device_error(device, f"device={self.device!r}")
        if error is not None:
            raise error
        return device

    def _module_key(self):
        """What builds the module (a key of :data:`_RECORDED`); None if its
        parameters cannot be told apart by their repr."""
        key = (
            self.module,
            repr(self.module_params),
            int(self.n_classes),
            self.n_classes_param,
        )
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def _new_module(self):
        params = dict(self.module_params or {})
        if self.n_classes_param is not None:
            params[self.n_classes_param] = int(self.n_classes)
        return self.module(**params)

    def _check_data(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        if not X.flags.writeable:
            # read-only rows (a memory map, a frozen array): torch.from_numpy
            # warns that it cannot protect them; training only reads them
            X = X.copy()
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (rows of features); got shape {X.shape}.")
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise ValueError(f"y must have shape ({len(X)},); got {y.shape}.")
        if len(X) == 0:
            raise ValueError("Cannot fit a member on 0 rows.")
        if y.dtype.kind not in "iu" and not (
            y.dtype.kind == "f" and np.all(y == np.round(y))
        ):
            raise ValueError(
                f"y must hold class indices 0..{self.n_classes - 1}; got dtype "
                f"{y.dtype} (e.g. {y[:3].tolist()!r})."
            )
        y = y.astype(np.int64)
        if (y == -1).any():
            raise ValueError(
                "y holds -1 (unlabelled rows); a member trained in groups is "
                "supervised and needs every row labelled (SSDPAClassifier with "
                "pass_unlabeled=False)."
            )
        bad = (y < 0) | (y >= self.n_classes)
        if bad.any():
            raise ValueError(
                f"y must hold class indices in [0, n_classes={self.n_classes}); "
                f"got {y[bad][0]}."
            )
        return X, y

    # -- fitting ----------------------------------------------------------
    def fit(self, X, y):
        """Train this network alone (a group of one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class indices ``0 .. n_classes - 1``.

        Returns
        -------
        self : BatchedTorchClassifier
        """
        rng = np.random.RandomState(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        (fitted,) = self.group_fit([(X, y, seed)], slots=[0], group_size=1)
        self.__dict__.update(fitted.__dict__)
        return self

    def group_fit(self, data, slots=None, group_size=None):
        """Train several members at once; each depends on its own data and seed.

        Parameters
        ----------
        data : list of (X, y, seed)
            Each member's rows, class indices and seed.
        slots : list of int or None
            Slot of each member in the stacked model (the engine passes
            ``index % group_size``); None means ``0, 1, ...``.
        group_size : int or None
            Slots of the stacked model; None means ``self.group_size``. Idle
            slots take no step.

        Returns
        -------
        members : list of BatchedTorchClassifier
            One fitted copy of this estimator per entry of ``data``.
        """
        self._check_params()
        # Threads take turns (torch's global generator seeds each member's
        # initial weights); the deterministic-algorithm flags of seeded_torch
        # hold for the whole training (on CUDA too). Processes run in parallel.
        with _TORCH_FIT_LOCK, seeded_torch(0):
            fitted = self._group_fit(data, slots, group_size)
            for member in fitted:
                register_main_objects(member)
        return fitted

    def _trains_members_alone(self):
        """Whether each member is trained alone, whatever its group.

        True for ``"loop"``, and for ``"auto"`` off CUDA (where it resolves to
        ``"loop"``, :meth:`_resolve_strategy`). The engine then splits the
        members between workers freely instead of grouping them by index.
        """
        self._check_params()
        if self.strategy != "auto":
            return self.strategy == "loop"
        return torch.device(self.device).type != "cuda"

    def _resolve_strategy(self, n_features, device):
        """``strategy``, with ``"auto"`` resolved.

        A function of the parameters and the number of features only, so
        every group of an ensemble resolves alike, whatever the data. On CUDA
        ``"vmap"`` when the module stacks soundly (dropout and random shifts
        included: each member draws from its own stream); otherwise
        ``"loop"``. On a CPU always ``"loop"``: stacking measured costlier at
        every group size there (1.15-1.4x the loop's CPU time at 8 to 20 in
        ``benchmarks/bench_torch_batched.py``, modules without random draws;
        more with them).
        """
        if self.strategy != "auto":
            return self.strategy
        if device.type != "cuda":
            return "loop"
        net = self._new_module()
        stackable = _stackable(
            net, n_features, device, int(self.batch_size), self._module_key()
        )
        return "vmap" if stackable else "loop"

    def _group_fit(self, data, slots, group_size):
        G = int(self.group_size if group_size is None else group_size)
        slots = list(range(len(data))) if slots is None else [int(s) for s in slots]
        if len(set(slots)) != len(slots) or any(not 0 <= s < G for s in slots):
            raise ValueError(
                f"slots must be distinct and in [0, group_size={G}); got {slots}."
            )
        device = torch.device(self.device)
        checked = [self._check_data(X, y) for X, y, _ in data]
        n_features = checked[0][0].shape[1]
        if any(X.shape[1] != n_features for X, _ in checked):
            raise ValueError("All members of a group must have the same features.")
        strategy = self._resolve_strategy(n_features, device)
        if strategy == "loop":
            trained = [
                self._train_alone(X, y, seed, device)
                for (X, y), (_, _, seed) in zip(checked, data, strict=True)
            ]
        else:
            trained = self._train_stacked(checked, data, slots, G, device)
        fitted = []
        for net, n_steps in trained:
            net.eval()
            member = copy.deepcopy(self)
            member.module_ = net
            member.classes_ = np.arange(int(self.n_classes))
            member.n_features_in_ = n_features
            member.n_steps_ = int(n_steps)
            member.strategy_ = strategy
            fitted.append(member)
        return fitted

    def _train_alone(self, X, y, seed, device):
        """Strategy "loop": one member, a lean loop; returns (net, steps).

        The same initial weights, data order, loss, update rule and (on a
        CPU) random draws as the stacked strategy. Every random draw in
        training (dropout, shifts) comes from torch's generator seeded from
        this member's seed inside
        :func:`seeded_torch`, which puts the caller's state back afterwards:
        no member's draws depend on another's. On a CPU, ``nn.Dropout``
        layers draw their masks as ``rand < 1 - p`` (:class:`_UniformDropout`:
        the same distribution, 8% less time per step for CompactCNN here).
        """
        B = int(self.batch_size)
        n = len(X)
        with seeded_torch(seed):
            net = self._new_module().to(device)
            net.train()
            rng = np.random.default_rng(int(seed) % (2**32))
            X_t = torch.from_numpy(X).to(device)
            y_t = torch.from_numpy(y).to(device)
            params = list(net.parameters())
            if self.optimizer == "adam":
                # torch's fused Adam: the same update rule in one kernel per
                # step (about 9% less CPU per step for a small CNN on one CPU
                # thread); it rounds differently from the per-tensor loop.
                # Its kernel called directly where it runs (the same result)
                fused = _fused_adam(params, device)
                if fused and _LeanFusedAdam.available():
                    opt = _LeanFusedAdam(params, self.lr)
                else:
                    opt = torch.optim.Adam(params, lr=float(self.lr), fused=fused)
            else:
                opt = torch.optim.SGD(params, lr=float(self.lr))
            loss_of = torch.nn.functional.cross_entropy
            n_steps = 0
            with _UniformDropout(net, device):
                for _ in range(self.max_epochs):
                    order = torch.from_numpy(rng.permutation(n)).to(device)
                    for a in range(0, n, B):
                        idx = order[a : a + B]
                        # index_select: a third of the time of X_t[idx] here
                        xb, yb = X_t.index_select(0, idx), y_t.index_select(0, idx)
                        loss = loss_of(net(xb), yb)  # mean, own rows
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        n_steps += 1
        return net, n_steps

    def _train_stacked(self, checked, data, slots, G, device):
        """Strategy "vmap": the group as one stacked model; [(net, steps)]."""
        from torch.func import functional_call, grad, stack_module_state, vmap

        B = int(self.batch_size)
        n_features = checked[0][0].shape[1]
        # Initial weights: each member's from its own seed; idle slots hold a
        # copy of some member's (they never step and are discarded). The
        # state of torch's generator right after the build is where the
        # loop's first draw in training would start: the member's stream.
        nets, states = [], []
        for _, _, seed in data:
            with seeded_torch(seed):
                nets.append(self._new_module())
                states.append(_generator_state(device))
        _check_module(nets[0])
        by_slot = [None] * G
        for net, s in zip(nets, slots, strict=True):
            by_slot[s] = net
        filler = nets[0]
        stacked = [copy.deepcopy(filler) if n is None else n for n in by_slot]
        params, buffers = stack_module_state(stacked)
        params = {k: v.detach().to(device) for k, v in params.items()}
        buffers = {k: v.to(device) for k, v in buffers.items()}
        base = _meta_base(filler)
        noise = _MemberNoise(base, n_features, B, device, self._module_key())
        generators = [None] * G
        if noise.full:
            if device.type not in ("cpu", "cuda"):
                raise ValueError(
                    f"make_batched_member: the module draws random numbers in "
                    f"training, and strategy='vmap' gives each member its own "
                    f"stream on a CPU or CUDA device only; got "
                    f"device={self.device!r}. Use strategy='loop'."
                )
            for state, s in zip(states, slots, strict=True):
                generators[s] = torch.Generator(device=device)
                generators[s].set_state(state)

        # Each member's batches: its own permutation per epoch, padded to B.
        # Rows of all members sit in one table; index 0 is an all-zero pad row.
        table = [np.zeros((1, n_features), dtype=np.float32)]
        labels = [np.zeros(1, dtype=np.int64)]
        offset = 1
        n_steps = np.zeros(G, dtype=np.int64)
        orders = [None] * G
        for (X, y), (_, _, seed), s in zip(checked, data, slots, strict=True):
            n = len(X)
            per_epoch = math.ceil(n / B)
            rng = np.random.default_rng(int(seed) % (2**32))
            steps = []
            for _ in range(self.max_epochs):
                perm = rng.permutation(n) + offset
                padded = np.zeros(per_epoch * B, dtype=np.int64)
                padded[:n] = perm
                steps.append(padded.reshape(per_epoch, B))
            orders[s] = np.concatenate(steps)
            n_steps[s] = len(orders[s])
            table.append(X)
            labels.append(y)
            offset += n
        T = int(n_steps.max())
        index = np.zeros((T, G, B), dtype=np.int64)  # idle slots read the pad row
        for s in range(G):
            if orders[s] is not None:
                index[: n_steps[s], s] = orders[s]
        rows = (index > 0).sum(axis=2)  # each member's real rows per step
        table = torch.from_numpy(np.concatenate(table)).to(device)
        labels = torch.from_numpy(np.concatenate(labels)).to(device)
        index = torch.from_numpy(index).to(device)
        n_steps_t = torch.from_numpy(n_steps).to(device)

        def member_loss(p, b, x, t, w, nz):
            # the module's draws (dropout masks, shifts): this member's own
            with _noise.replaying(noise.full, nz):
                logits = functional_call(base, (p, b), (x,))
            losses = torch.nn.functional.cross_entropy(logits, t, reduction="none")
            # the mean over this member's own rows (pads weigh 0)
            return (losses * w).sum() / w.sum().clamp(min=1.0)

        grads_of = vmap(grad(member_loss), randomness="error")
        lr = float(self.lr)
        adam = self.optimizer == "adam"
        m = {k: torch.zeros_like(v) for k, v in params.items()}
        v2 = {k: torch.zeros_like(v) for k, v in params.items()}
        taken = torch.zeros(G, dtype=torch.float64, device=device)
        for t in range(T):
            idx = index[t]
            xb, yb = table[idx], labels[idx]
            wb = (idx > 0).to(table.dtype)
            active = n_steps_t > t
            nz = noise.draw_step(generators, rows[t]) if noise.full else ()
            try:
                g = grads_of(params, buffers, xb, yb, wb, nz)
            except RuntimeError as exc:
                if "randomness" in str(exc):
                    raise ValueError(
                        "make_batched_member: the module draws random numbers in "
                        "training other than through torch.nn.Dropout layers and "
                        "skdpa's random shifts (e.g. torch.rand in its forward); "
                        "members stacked by strategy='vmap' would share one "
                        "random stream. Use strategy='loop' or turn it off."
                    ) from exc
                raise
            taken = taken + active.to(taken.dtype)
            if adam:
                bc1 = (1 - _BETA1**taken).clamp(min=1e-300)
                bc2 = (1 - _BETA2**taken).clamp(min=1e-300)
                step = (lr / bc1).to(table.dtype)
                root_bc2 = bc2.sqrt().to(table.dtype)
            for k, p in params.items():
                shape = (G,) + (1,) * (p.dim() - 1)
                on = active.view(shape)
                if adam:
                    new_m = _BETA1 * m[k] + (1 - _BETA1) * g[k]
                    new_v = _BETA2 * v2[k] + (1 - _BETA2) * g[k] * g[k]
                    denom = new_v.sqrt() / root_bc2.view(shape) + _EPS
                    new_p = p - step.view(shape) * new_m / denom
                    m[k] = torch.where(on, new_m, m[k])
                    v2[k] = torch.where(on, new_v, v2[k])
                else:
                    new_p = p - lr * g[k]
                params[k] = torch.where(on, new_p, p)

        trained = []
        for net, s in zip(nets, slots, strict=True):
            state = {k: v[s].detach().cpu().clone() for k, v in params.items()}
            state.update({k: v[s].cpu().clone() for k, v in buffers.items()})
            net.load_state_dict(state)
            trained.append((net.to(device), n_steps[s]))
        return trained

    # -- prediction -------------------------------------------------------
    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), one column per class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "module_")
        X = np.asarray(X, dtype=np.float32)
        device = next(self.module_.parameters()).device
        out = []
        with torch.inference_mode():
            for a in range(0, len(X), self.predict_batch_size):
                xb = torch.from_numpy(X[a : a + self.predict_batch_size]).to(device)
                out.append(torch.softmax(self.module_(xb), dim=1).cpu().numpy())
        if not out:
            return np.zeros((0, len(self.classes_)))
        return np.concatenate(out).astype(np.float64)

    def predict(self, X):
        """Class index with the largest logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_batched_member(
    module=CompactCNN,
    *,
    n_classes,
    group_size=32,
    max_epochs=10,
    lr=1e-3,
    batch_size=64,
    device="cpu",
    optimizer="adam",
    strategy="auto",
    n_classes_param="n_classes",
    predict_batch_size=2048,
    **module_params,
):
    """A torch member that DPA / SS-DPA ensembles train ``group_size`` at a time.

    The ensemble's workers (``n_jobs``) train them one after another by a
    lean training loop (``strategy="loop"``), or a group at a time (members
    ``g * group_size`` to ``(g + 1) * group_size - 1``) as one stacked model
    with ``torch.func.vmap`` (``strategy="vmap"``). Each member stays a function
    of its own partition and seed: its own initial weights, data order,
    random draws, loss (mean over its own batch), optimizer state and number
    of steps; under ``"vmap"`` a member whose partition is exhausted skips
    the remaining steps, and each member's noise (dropout masks, random
    shifts) comes from its own stream: its own generator, continued from its
    seeded build, drawn for it before each step and handed to its slice of
    the stacked model. Changing one partition leaves every other member
    bit-identical, and the two strategies agree to rounding (on a CPU with
    dropout and shifts too; on CUDA the loop's dropout is torch's own kernel,
    so there they agree in distribution).

    Parameters
    ----------
    module : type of torch.nn.Module, default=CompactCNN
        Module class, taking rows of flattened inputs. Under
        ``strategy="vmap"`` it must not couple the members: batch
        normalisation, dropout layers other than ``torch.nn.Dropout`` and
        random draws in training other than ``nn.Dropout``'s masks and
        :class:`~skdpa.torch.CompactCNN`'s random shifts are refused at fit
        time; ``"loop"`` accepts them all.
    n_classes : int
        Number of classes of the whole label set (the module's logits).
    group_size : int, default=32
        Members stacked into one model under ``"vmap"`` (the ensemble hands
        a worker ``min(group_size, k)`` members by index). Under ``"loop"``
        the ensemble ignores it and splits the members between workers as it
        does members fit one by one; a member's result does not depend on
        it there, and only to rounding under ``"vmap"``.
    max_epochs : int, default=10
        Epochs of every member.
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, default=64
        Training batch size of every member.
    device : str, default="cpu"
        Torch device of the stacked model and fitted members (``"cuda"``).
        On a GPU fit with ``n_jobs=1``: one large group per step is what
        makes it fast, and every worker process would open its own CUDA
        context.
    optimizer : {"adam", "sgd"}, default="adam"
        Per-member Adam (torch's default betas and eps) or plain SGD.
    strategy : {"auto", "loop", "vmap"}, default="auto"
        How a worker trains its group. ``"loop"``: one member after another,
        each under its own seeded torch generator (dropout and random shifts
        allowed). ``"vmap"``: the group stacked into one model, every member
        in every step, each drawing its dropout masks and shifts from its own
        stream (meant for a GPU; on a CPU, even without dropout and shifts,
        it took 1.15-1.4x the loop's CPU time at group sizes 8 to 20 and more
        at 1, 32 and 128). ``"auto"``: ``"vmap"`` on CUDA when the module can
        be stacked soundly (dropout and shifts included), otherwise
        ``"loop"`` (on a CPU always). The fitted member's ``strategy_`` says
        which ran.
    n_classes_param : str or None, default="n_classes"
        Name of the module's argument for its number of logits.
    predict_batch_size : int, default=2048
        Rows per forward pass in prediction.
    **module_params
        Other arguments of ``module`` (``channels=(8, 16)``, ``dropout=0``).

    Returns
    -------
    member : BatchedTorchClassifier
        Unfitted estimator to pass as ``DPAClassifier(estimator=member)``.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from skdpa import DPAClassifier
    >>> from skdpa.torch import make_batched_member
    >>> class MLP(nn.Module):
    ...     def __init__(self, n_classes=2):
    ...         super().__init__()
    ...         self.net = nn.Sequential(
    ...             nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, n_classes)
    ...         )
    ...     def forward(self, x):
    ...         return self.net(x)
    >>> X = np.random.RandomState(0).normal(size=(80, 2)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> member = make_batched_member(MLP, n_classes=2, group_size=4, max_epochs=5)
    >>> clf = DPAClassifier(member, k=8, classes=[0, 1], random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.estimators_[0].strategy_  # "auto" on a CPU
    'loop'
    """
    return BatchedTorchClassifier(
        module,
        n_classes=n_classes,
        n_classes_param=n_classes_param,
        group_size=group_size,
        max_epochs=max_epochs,
        lr=lr,
        batch_size=batch_size,
        optimizer=optimizer,
        device=device,
        strategy=strategy,
        predict_batch_size=predict_batch_size,
        module_params=module_params or None,
    )
