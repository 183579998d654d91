"""One place for the random draws modules make in training.

Modules call :func:`uniform_like` (dropout masks) and :func:`randint`
(random shifts) instead of torch's random functions. Outside any trainer
context they *are* torch's functions, drawn from torch's global generator
exactly as before (``torch.rand_like(x)``, ``torch.randint(low, high, size,
device=device)``), so skorch members, the ART comparison and the loop of
:func:`~skdpa.torch.make_batched_member` draw what they always drew.

Inside a trainer context the draws come from elsewhere:

:func:`recording`
    nothing is drawn; every request is written down (its kind, shape, dtype
    and bounds, in the order the module asks) and answered with zeros. The
    stacked trainer records a forward pass once per batch size to learn
    which tensors a member draws in a step.
:func:`replaying`
    the requests are answered, in order, by tensors drawn beforehand (under
    ``torch.func.vmap`` each member sees its own slice of a stacked tensor,
    drawn from its own generator). A request that does not match the next
    tensor's shape, kind, dtype or bounds raises.

The context is per thread (:mod:`contextvars`), so a thread that trains under
a context never changes what another thread's modules draw.
"""

import contextlib
import contextvars
from collections import namedtuple

import torch

_CONTEXT = contextvars.ContextVar("skdpa_torch_noise", default=None)


class NoiseSpec(namedtuple("NoiseSpec", "kind shape dtype low high stride")):
    """One requested draw: ``kind`` is ``"uniform"`` (values in ``[0, 1)``,
    ``low`` and ``high`` None) or ``"randint"`` (integers in ``[low,
    high)``); ``shape`` a tuple of ints, ``dtype`` a torch dtype; ``stride``
    the memory layout of the tensor a uniform draw is shaped like
    (``torch.rand_like`` fills the values in memory order), None for
    contiguous."""

    __slots__ = ()

    def __new__(cls, kind, shape, dtype, low=None, high=None, stride=None):
        shape = tuple(int(d) for d in shape)
        if stride is not None:
            stride = tuple(int(d) for d in stride)
        return super().__new__(cls, kind, shape, dtype, low, high, stride)

    @property
    def key(self):
        """What a request must repeat in every step (the layout aside)."""
        return self[:5]

    @property
    def contiguous(self):
        """Whether a draw of this layout fills its values in row-major order
        (so it can be drawn straight into a slice of a stacked tensor)."""
        if self.stride is None:
            return True
        expected = 1
        pairs = zip(self.shape, self.stride, strict=True)
        for size, stride in reversed(list(pairs)):
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True

    def fill(self, out, generator):
        """Draw into ``out`` (contiguous, of this shape) what :meth:`draw`
        returns, for a contiguous layout (``rand``/``randint`` fill an empty
        tensor so)."""
        if self.kind == "uniform":
            return out.uniform_(0, 1, generator=generator)
        return out.random_(self.low, self.high, generator=generator)

    def draw(self, generator, device):
        """This request's tensor from ``generator``: what the global-generator
        path draws (``rand_like`` on a tensor of this layout, ``randint``),
        with the generator named."""
        if self.kind == "uniform":
            if self.stride is None:
                out = torch.empty(self.shape, dtype=self.dtype, device=device)
            else:
                out = torch.empty_strided(
                    self.shape, self.stride, dtype=self.dtype, device=device
                )
            return out.uniform_(0, 1, generator=generator)
        return torch.randint(
            self.low, self.high, self.shape, generator=generator, dtype=self.dtype,
            device=device,
        )  # fmt: skip


class _Recorder:
    def __init__(self):
        self.specs = []

    def uniform_like(self, x):
        self.specs.append(NoiseSpec("uniform", x.shape, x.dtype, stride=x.stride()))
        return torch.zeros_like(x)

    def randint(self, low, high, size, device):
        spec = NoiseSpec("randint", size, torch.int64, int(low), int(high))
        self.specs.append(spec)
        return torch.full(spec.shape, int(low), dtype=torch.int64, device=device)


class _Replayer:
    def __init__(self, specs, tensors):
        self.specs = list(specs)
        self.tensors = list(tensors)
        self.used = 0

    def _next(self, asked):
        i = self.used
        if i >= len(self.tensors):
            raise ValueError(
                f"the module asked for more random draws in one training step "
                f"than it did when its draws were recorded ({len(self.tensors)}); "
                "its draws must not depend on the data."
            )
        if asked.key != self.specs[i].key:
            raise ValueError(
                f"the module's random draw {i} in this step is {asked.key!r}; "
                f"when its draws were recorded it was {self.specs[i].key!r}. "
                "Draws must not depend on the data."
            )
        self.used += 1
        return self.tensors[i]

    def uniform_like(self, x):
        return self._next(NoiseSpec("uniform", x.shape, x.dtype))

    def randint(self, low, high, size, device):
        return self._next(NoiseSpec("randint", size, torch.int64, int(low), int(high)))


def uniform_like(x):
    """Uniform values in ``[0, 1)`` of ``x``'s shape, dtype and device.

    Outside a trainer context this is ``torch.rand_like(x)`` (torch's global
    generator).

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch import _noise
    >>> x = torch.zeros(2, 3)
    >>> torch.manual_seed(0); a = _noise.uniform_like(x)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> torch.manual_seed(0); b = torch.rand_like(x)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> bool(torch.equal(a, b))
    True
    """
    context = _CONTEXT.get()
    if context is None:
        return torch.rand_like(x)
    return context.uniform_like(x)


def randint(low, high, size, *, device=None):
    """Integers in ``[low, high)`` (int64) of shape ``size`` on ``device``.

    Outside a trainer context this is ``torch.randint(low, high, size,
    device=device)`` (torch's global generator for that device).

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch import _noise
    >>> with _noise.recording() as specs:
    ...     _noise.randint(0, 5, (4, 2)).tolist()
    [[0, 0], [0, 0], [0, 0], [0, 0]]
    >>> specs[0].kind, specs[0].shape, specs[0].low, specs[0].high
    ('randint', (4, 2), 0, 5)
    """
    context = _CONTEXT.get()
    if context is None:
        return torch.randint(low, high, size, device=device)
    return context.randint(low, high, size, device)


@contextlib.contextmanager
def recording():
    """Inside the block draws are written down, not made; yields the list
    of :class:`NoiseSpec` (filled as the module asks)."""
    recorder = _Recorder()
    token = _CONTEXT.set(recorder)
    try:
        yield recorder.specs
    finally:
        _CONTEXT.reset(token)


@contextlib.contextmanager
def replaying(specs, tensors):
    """Inside the block the module's draws are ``tensors``, in order; each
    must match its recorded :class:`NoiseSpec`, and all must be used."""
    replayer = _Replayer(specs, tensors)
    token = _CONTEXT.set(replayer)
    try:
        yield replayer
    finally:
        _CONTEXT.reset(token)
    if replayer.used != len(replayer.tensors):
        raise ValueError(
            f"the module asked for {replayer.used} random draws in one training "
            f"step; when its draws were recorded it asked for "
            f"{len(replayer.tensors)}. Draws must not depend on the data."
        )
