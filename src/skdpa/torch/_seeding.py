"""Fit a torch-based member deterministically from its seed.

The certificate needs every member to be a deterministic function of its
partition. For torch members that means: seed torch's generators inside the
process that fits the member, ask torch for deterministic kernels, fix the
number of intra-op threads (a reduction split over more threads adds floats
in another order), and keep the user's own random state untouched. The
ensemble calls :func:`seeded_fit` only for members that involve torch
(:func:`~skdpa.torch.involves_torch`), never because torch happens to be
loaded.
"""

import contextlib
import os
import random
import sys
import threading
import warnings
from numbers import Integral

import numpy as np
import torch

from .._members import involves_torch
from ._checks import _main_objects, _skorch_nets, _walk

# torch's generator is process-global: two threads seeding and drawing from it
# at once would interleave and make members depend on scheduling. Torch
# members fitted from threads (joblib's threading backend, used for GPUs)
# therefore take turns; processes each have their own generator.
_TORCH_FIT_LOCK = threading.RLock()
# Names this process bound in ``__main__`` (see register_main_objects): only
# those, and the twins a spawned process re-imported, are ever re-bound.
_BOUND = {}


def _is_twin(current, name):
    """``current`` is the spawn start method's re-import of the user's class.

    Processes started with ``spawn`` (dask's nanny starts its workers so) run
    the parent's script again as ``__mp_main__`` and alias it as
    ``__main__``. A name defined at the top of the script then holds a twin
    of the class the parent sent, not the class itself.
    """
    return (
        getattr(current, "__module__", None) == "__mp_main__"
        and getattr(current, "__qualname__", None) == name
    )


def register_main_objects(estimator):
    """Make ``__main__`` classes of a fitted estimator picklable by reference.

    A module class defined in the user's script lives in the parent's
    ``__main__``. Worker processes receive it by value (cloudpickle), but
    skorch pickles fitted modules with the standard :mod:`pickle`, which looks
    classes up by name in the *worker's* ``__main__``: the name must hold the
    very object received. This binds it there, so the fitted net can travel
    back; the parent then resolves the name to its own, original class.

    Which names are bound:

    * a name this function bound before (a class redefined in a notebook
      arrives as a new object);
    * in a process started with ``spawn``, whose ``__main__`` is a re-import
      of the user's script (dask's workers), only names that hold the
      re-imported twin of the class: the class is defined at the top of the
      script, so the parent can resolve the name too. A class defined inside
      a function or under ``if __name__ == "__main__":`` is not bound there;
      the member then cannot be pickled, which the ensemble's worker reports
      (``skdpa._engine.check_member_travels``);
    * elsewhere (loky's workers), free names. The parent checks beforehand
      that it can resolve them (:func:`~skdpa.torch.check_main_objects`).

    Anything else a name holds is left alone. In the parent process the name
    holds the class itself, and nothing changes.

    Parameters
    ----------
    estimator : object
        A fitted estimator.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdpa.torch._seeding import register_main_objects
    >>> register_main_objects(LogisticRegression())  # nothing from __main__
    """
    main = sys.modules.get("__main__")
    if main is None:
        return
    spawned = getattr(main, "__name__", None) == "__mp_main__"
    for candidate in _main_objects(estimator):
        name = candidate.__qualname__
        if not name.isidentifier():
            continue  # cloudpickle keeps "f.<locals>.Net" only in the parent
        current = getattr(main, name, None)
        if current is candidate:
            continue
        if current is not None and current is _BOUND.get(name):
            rebind = True
        elif spawned:
            rebind = _is_twin(current, name)
        else:
            rebind = current is None
        if rebind:
            setattr(main, name, candidate)
            _BOUND[name] = candidate


def _cuda_devices():
    # Only generators already in use are saved and restored: querying them
    # would otherwise start a CUDA context in every CPU worker.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    return []


_INDUCTOR_CONFIG = "torch._inductor.config"


def _use_deterministic_algorithms(mode, warn_only):
    """``torch.use_deterministic_algorithms`` without loading Inductor for it.

    The public function imports ``torch._inductor.config`` (and with it
    ``torch._dynamo``) only to copy the flag into Inductor's config: 6.5 s in
    a fresh worker process on a busy 2-core machine, as long as importing
    torch itself, paid by every worker before its first member. When Inductor
    is not loaded nothing compiled with it can run, so the core flag alone is
    set; :func:`seeded_torch` also sets ``TORCHINDUCTOR_DETERMINISTIC`` for
    the block, which Inductor reads if a member loads it (``torch.compile``).
    """
    if _INDUCTOR_CONFIG in sys.modules or not hasattr(
        torch._C, "_set_deterministic_algorithms"
    ):
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextlib.contextmanager
def _inductor_deterministic_if_loaded_later():
    """Inductor reads ``TORCHINDUCTOR_DETERMINISTIC`` once, when first
    imported: set it for the block when Inductor is not loaded yet."""
    if _INDUCTOR_CONFIG in sys.modules:
        yield
        return
    key = "TORCHINDUCTOR_DETERMINISTIC"
    previous = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous


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
    # CUDA not started yet: fork_rng cannot save its generators, and a member
    # that starts it inside the block leaves them seeded with its own seed.
    # They are then reseeded on exit as the caller's first use would have
    # found them: from the caller's seed (torch seeds CUDA lazily from it).
    cuda_unstarted = torch.cuda.is_available() and not torch.cuda.is_initialized()
    caller_seed = torch.initial_seed()
    # cuBLAS is only deterministic with a fixed workspace; it reads this when
    # its handle is created, i.e. at the first CUDA matmul of the process.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        with (
            torch.random.fork_rng(devices=_cuda_devices()),
            _inductor_deterministic_if_loaded_later(),
        ):
            torch.manual_seed(seed)
            np.random.seed(seed)
            random.seed(seed)
            _use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            yield
    finally:
        # Inductor loaded inside the block has its flag put back too
        _use_deterministic_algorithms(det, warn_only=det_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
        if cuda_unstarted and torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(caller_seed)
        np.random.set_state(np_state)
        random.setstate(py_state)


def _check_n_threads(n_threads):
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or not isinstance(n_threads, Integral):
        raise TypeError(
            f"n_threads must be None or an int >= 1; got {n_threads!r} of type "
            f"{type(n_threads).__name__}."
        )
    if n_threads < 1:
        raise ValueError(f"n_threads must be None or an int >= 1; got {n_threads}.")
    return int(n_threads)


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run a block with ``n_threads`` intra-op torch threads, then restore.

    torch's intra-op thread pool is separate from the BLAS/OpenMP pools that
    :mod:`threadpoolctl` limits, and by default has one thread per core. An
    ensemble fitting ``n_jobs`` members at once therefore asks for one torch
    thread per worker (the default of :func:`seeded_fit`), so ``n_jobs``
    workers do not oversubscribe the cores. Fixing the count also keeps a
    member's floating-point sums, hence its weights, the same on machines with
    different numbers of cores.

    The setting is process-wide (:func:`torch.set_num_threads`): from several
    threads of one process, enter it once around the parallel block, not in
    each thread.

    Parameters
    ----------
    n_threads : int or None
        Intra-op threads inside the block; None leaves torch's setting as it
        is.

    Examples
    --------
    >>> import torch
    >>> from skdpa.torch import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    n_threads = _check_n_threads(n_threads)
    previous = torch.get_num_threads()
    if n_threads is None or n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _uses_cuda(estimator):
    for item in _walk(estimator):
        device = getattr(item, "device", None)
        if isinstance(device, str) and device.startswith("cuda"):
            return True
    return False


# scikit-learn's StratifiedKFold, inside skorch's ValidSplit, says this in
# every member whose partition has a rare class; the ensemble reports the
# split itself once per fit (torch_member_warnings).
_SPLIT_WARNING = r"The least populated class in y has only \d+ members"


@contextlib.contextmanager
def _quiet_split_warnings(estimator):
    if not any(net.train_split is not None for _, net in _skorch_nets(estimator)):
        yield
        return
    # catch_warnings swaps the process-wide filter list: callers hold
    # _TORCH_FIT_LOCK, so torch fits in threads do not interleave here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SPLIT_WARNING, category=UserWarning)
        yield


def seeded_fit(estimator, X, y, seed, fit_params=None, *, n_threads=1):
    """Fit one ensemble member so that it depends only on its data and seed.

    Estimators that involve torch (see :func:`~skdpa.torch.involves_torch`) are
    fit inside
    :func:`seeded_torch` and :func:`torch_threads` under a process-wide lock
    (threads take turns; processes run in parallel). Any class or function
    they use from ``__main__`` is registered so that the fitted member can be
    pickled back to the parent process (:func:`register_main_objects`); the
    ensemble's worker then checks, in a dask worker, that the member can be
    pickled (``skdpa._engine.check_member_travels``). skorch's per-member
    warnings about its validation split are not repeated (the ensemble warns once, see
    :func:`~skdpa.torch.torch_member_warnings`). Other estimators are simply
    fit: nothing global is touched for them.

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
    n_threads : int or None, default=1
        Intra-op torch threads during the fit (:func:`torch_threads`); one
        per worker keeps ``n_jobs`` workers from oversubscribing the cores
        and the member identical across machines. None leaves torch's setting
        alone.

    Returns
    -------
    estimator : estimator
        The fitted member.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa.torch import make_skorch_member, seeded_fit
    >>> X = np.random.default_rng(0).random((40, 64)).astype(np.float32)
    >>> y = np.arange(40) % 2
    >>> def fit(seed):
    ...     member = make_skorch_member(
    ...         n_classes=2, max_epochs=2, module__image_shape=(1, 8, 8)
    ...     )
    ...     return seeded_fit(member, X, y, seed=seed).predict_proba(X)
    >>> bool((fit(0) == fit(0)).all()), bool((fit(0) == fit(1)).all())
    (True, False)
    """
    fit_params = fit_params or {}
    n_threads = _check_n_threads(n_threads)
    if not involves_torch(estimator):
        estimator.fit(X, y, **fit_params)
        return estimator
    from multiprocessing import parent_process

    if parent_process() is not None and _uses_cuda(estimator):
        warnings.warn(
            "Fitting a CUDA torch member in a worker process: every process "
            "opens its own CUDA context on the same GPU. Use n_jobs=1 (or "
            "joblib's threading backend) for GPU members.",
            UserWarning,
            stacklevel=2,
        )
    with _TORCH_FIT_LOCK:
        with (
            torch_threads(n_threads),
            seeded_torch(seed),
            _quiet_split_warnings(estimator),
        ):
            estimator.fit(X, y, **fit_params)
        register_main_objects(estimator)
    return estimator
