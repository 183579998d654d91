"""Fit a torch-based member deterministically from its seed.

The certificate needs every member to be a deterministic function of its
partition. For torch members that means: seed torch's generators inside the
process that fits the member, ask torch for deterministic kernels, and keep
the user's own random state untouched. This module only imports torch (not
skorch) so the ensemble worker can use it whenever torch is loaded.
"""

import contextlib
import os
import random
import sys
import threading
import warnings

import numpy as np
import torch
from torch import nn

# torch's generator is process-global: two threads seeding and drawing from it
# at once would interleave and make members depend on scheduling. Torch
# members fitted from threads (joblib's threading backend, used for GPUs)
# therefore take turns; processes each have their own generator.
_TORCH_FIT_LOCK = threading.RLock()
_MAX_VISITED = 10_000


def _walk(obj):
    """Objects reachable from an estimator: params, fitted attributes, modules."""
    stack, seen = [obj], set()
    while stack and len(seen) < _MAX_VISITED:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, type) or isinstance(item, np.ndarray | torch.Tensor):
            continue
        if isinstance(item, nn.Module):
            stack.extend(m for m in item.modules() if m is not item)
            stack.extend(v for k, v in vars(item).items() if not k.startswith("_"))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif hasattr(item, "get_params"):
            stack.extend(vars(item).values())


def involves_torch(estimator):
    """Whether an estimator trains torch modules (skorch nets, pipelines of them).

    Parameters
    ----------
    estimator : object
        A scikit-learn estimator, fitted or not.

    Returns
    -------
    bool
        True when a torch module class or instance is reachable from its
        parameters.
    """
    for item in _walk(estimator):
        if isinstance(item, nn.Module):
            return True
        if isinstance(item, type) and issubclass(item, nn.Module):
            return True
    return False


def register_main_objects(estimator):
    """Make ``__main__`` classes of a fitted estimator picklable by reference.

    A module class defined in the user's script lives in the parent's
    ``__main__``. Worker processes receive it by value (cloudpickle), but
    skorch pickles fitted modules with the standard :mod:`pickle`, which looks
    classes up by name in the *worker's* ``__main__`` and fails. Binding the
    received class under its name there lets the fitted net travel back; the
    parent then resolves the name to its own, original class. Existing names
    are never overwritten, and in the parent process this is a no-op.

    Parameters
    ----------
    estimator : object
        A fitted estimator.
    """
    main = sys.modules.get("__main__")
    if main is None:
        return
    for item in _walk(estimator):
        # classes and functions are pickled by name; instances by their class
        for candidate in (item, type(item)):
            if not (isinstance(candidate, type) or callable(candidate)):
                continue
            name = getattr(candidate, "__qualname__", "")
            if getattr(candidate, "__module__", None) != "__main__":
                continue
            if name.isidentifier() and getattr(main, name, None) is None:
                setattr(main, name, candidate)


def _cuda_devices():
    # Only generators already in use are saved and restored: querying them
    # would otherwise start a CUDA context in every CPU worker.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    return []


@contextlib.contextmanager
def seeded_torch(seed):
    """Seed torch, NumPy's and Python's global generators, then restore them.

    Inside the block, torch runs with deterministic algorithms where it has
    them (``warn_only``: an op without one warns instead of failing) and cuDNN
    autotuning off. On exit every generator and flag is put back, so fitting
    a member with ``n_jobs=1`` does not clobber the caller's random state.

    Parameters
    ----------
    seed : int
        The member's seed.

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch import seeded_torch
    >>> with seeded_torch(0):
    ...     a = torch.rand(2)
    >>> with seeded_torch(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    seed = int(seed) % (2**32)
    np_state = np.random.get_state()
    py_state = random.getstate()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    # cuBLAS is only deterministic with a fixed workspace; it reads this when
    # its handle is created, i.e. at the first CUDA matmul of the process.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        with torch.random.fork_rng(devices=_cuda_devices()):
            torch.manual_seed(seed)
            np.random.seed(seed)
            random.seed(seed)
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=det_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
        np.random.set_state(np_state)
        random.setstate(py_state)


def _uses_cuda(estimator):
    for item in _walk(estimator):
        device = getattr(item, "device", None)
        if isinstance(device, str) and device.startswith("cuda"):
            return True
    return False


def seeded_fit(estimator, X, y, seed, fit_params=None):
    """Fit one ensemble member so that it depends only on its data and seed.

    Estimators that involve torch (a module class or instance among their
    parameters, as in skorch nets) are fit inside :func:`seeded_torch` under a
    process-wide lock (threads take turns; processes run in parallel), and
    any class or function they use from ``__main__`` is registered so the
    fitted member can be pickled back to the parent process. Other
    estimators are fit with torch's generator seeded and then restored.

    Parameters
    ----------
    estimator : estimator
        The unfitted member (a clone).
    X, y : array-like
        The member's partition, in canonical order.
    seed : int
        The member's seed.
    fit_params : dict or None
        Extra keyword arguments for ``fit``.

    Returns
    -------
    estimator : estimator
        The fitted member.
    """
    fit_params = fit_params or {}
    if not involves_torch(estimator):
        # torch may still be used behind the estimator's API: seed it anyway
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed) % (2**32))
            return estimator.fit(X, y, **fit_params)
    from multiprocessing import parent_process

    if parent_process() is not None and _uses_cuda(estimator):
        warnings.warn(
            "Fitting a CUDA torch member in a worker process: every process "
            "opens its own CUDA context on the same GPU. Use n_jobs=1 (or "
            "joblib's threading backend) for GPU members.",
            UserWarning,
            stacklevel=2,
        )
    with _TORCH_FIT_LOCK, seeded_torch(seed):
        estimator.fit(X, y, **fit_params)
    register_main_objects(estimator)
    return estimator
