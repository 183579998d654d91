"""What a member involves, and what the ensemble checks once per fit.

Nothing here imports torch or skorch: the classes are looked up in
``sys.modules``. A torch module class or instance can only exist once torch is
imported, so an estimator in a process without torch involves no torch, and
asking costs no import. (The ensemble's core still reaches this module only
through :mod:`skdpa.torch`, whose ``__init__`` needs torch, so it asks only
when ``"torch" in sys.modules``.)
"""

import pickle
import sys
import types

import numpy as np

from .._members import involves_torch

# Visiting stops after this many containers and objects: the walk must stay
# cheap for large fitted estimators (forests) and never loop on odd graphs.
_MAX_VISITED = 10_000
# Never descended into, never counted: they hold no classes or modules.
_LEAVES = (str, bytes, int, float, complex, bool, type(None), range, np.generic)


def _torch_types():
    """``(torch.nn.Module, torch.Tensor)`` when torch is loaded, else None."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "nn"):
        return None
    return torch.nn.Module, torch.Tensor


def _children(item, module_type):
    """The objects an estimator graph reaches from ``item`` (one step)."""
    if module_type is not None and isinstance(item, module_type):
        # submodules (kept in the private ``_modules``) and the module's own
        # public attributes, which may hold classes; parameters are tensors
        yield from item.children()
        yield from (v for k, v in vars(item).items() if not k.startswith("_"))
    elif isinstance(item, dict):
        yield from item.values()
    elif isinstance(item, list | tuple | set | frozenset):
        # a fitted skorch net's history is a long list of per-batch numbers
        if type(item).__module__ != "skorch.history":
            yield from item
    elif hasattr(item, "get_params") and not isinstance(item, type):
        # parameters and fitted attributes of an estimator (skorch nets store
        # ``module_``, ``criterion_``, ``optimizer_`` as attributes)
        yield from vars(item).values()


def _walk(obj):
    """Objects reachable from an estimator: params, fitted attributes, modules.

    Classes and functions are yielded but not entered; arrays and tensors
    are yielded but not entered; numbers and strings are skipped.
    """
    torch_types = _torch_types()
    module_type = torch_types[0] if torch_types else None
    opaque = (type, np.ndarray) + ((torch_types[1],) if torch_types else ())
    stack, seen = [obj], set()
    while stack and len(seen) < _MAX_VISITED:
        item = stack.pop()
        if isinstance(item, _LEAVES) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, opaque):
            continue
        stack.extend(_children(item, module_type))


def _main_objects(estimator):
    """Classes and functions from ``__main__`` that an estimator uses.

    These are what the standard :mod:`pickle` (which skorch uses for fitted
    modules) must find by name in ``__main__``.
    """
    found = {}
    for item in _walk(estimator):
        # classes and functions are pickled by name; instances by their class
        for candidate in (item, type(item)):
            if (
                isinstance(candidate, type | types.FunctionType)
                and getattr(candidate, "__module__", None) == "__main__"
            ):
                found.setdefault(id(candidate), candidate)
    return list(found.values())


def _fits_in_other_processes(n_jobs):
    """Whether joblib would run ``n_jobs`` fits in worker processes."""
    from joblib import effective_n_jobs
    from joblib.parallel import get_active_backend

    if effective_n_jobs(n_jobs) == 1:
        return False
    backend, _ = get_active_backend()
    return not getattr(backend, "uses_threads", False)


def check_main_objects(estimator, *, n_jobs=None):
    """Fail fast if a member's ``__main__`` classes cannot come back from a worker.

    skorch pickles a fitted net's module with the standard :mod:`pickle`,
    which records a class by module and name; the parent resolves that name
    in its own ``__main__`` when the fitted member comes back from a worker
    process. A class defined inside a function or another class, or a name
    that no longer holds the class (redefined after the member was built),
    cannot be resolved: loky then reports a broken process pool and dask waits
    forever. The ensemble calls this in the parent, once per ``fit``, before
    any member is sent to a worker.

    Parameters
    ----------
    estimator : estimator
        The unfitted base estimator (the member before cloning).
    n_jobs : int or None, default=None
        The ensemble's ``n_jobs``. Nothing is checked when the members are
        fit in this process (one job, or joblib's threading backend).

    Raises
    ------
    pickle.PicklingError
        Naming the class or function and the remedy.

    Examples
    --------
    A module class from an importable module (here skdpa's own) can always
    be named:

    >>> from skdpa.torch import CompactCNN, check_main_objects, make_skorch_member
    >>> check_main_objects(make_skorch_member(CompactCNN, n_classes=10), n_jobs=2)
    """
    if not _fits_in_other_processes(n_jobs):
        return
    main = sys.modules.get("__main__")
    for candidate in _main_objects(estimator):
        name = candidate.__qualname__
        kind = "class" if isinstance(candidate, type) else "function"
        if not name.isidentifier():
            # workers receive it by value, without its outer name
            outer = "function" if "<locals>" in name else "class"
            problem = f"{name} is defined inside a {outer}"
        elif getattr(main, name, None) is not candidate:
            problem = (
                f"the name __main__.{name} does not hold that {kind} any more "
                "(was it redefined or deleted after the member was built?)"
            )
        else:
            continue
        raise pickle.PicklingError(
            f"The member uses the {kind} {name} from __main__, and {problem}. "
            f"With n_jobs={n_jobs}, members are fit in worker processes and "
            "come back pickled; skorch pickles a fitted net's module with the "
            "standard pickle module, which finds every class by module and "
            "name, so the caller could not read them back. Define it at the "
            "top level of an importable file (or of your script) and build the "
            "member from that, or fit with n_jobs=1."
        )


def _skorch_nets(estimator):
    """``(where, net)`` for each skorch net inside an estimator, by parameter name."""
    skorch = sys.modules.get("skorch")
    if skorch is None or not hasattr(skorch, "NeuralNet"):
        return []
    net_type = skorch.NeuralNet
    found = []
    if isinstance(estimator, net_type):
        found.append(("the member", estimator))
    elif hasattr(estimator, "get_params"):
        for name, value in sorted(estimator.get_params(deep=True).items()):
            if isinstance(value, net_type):
                found.append((f"step {name!r} of the member", value))
    # nets the parameters do not name (inside lists of custom estimators)
    named = {id(net) for _, net in found}
    for item in _walk(estimator):
        if isinstance(item, net_type) and id(item) not in named:
            named.add(id(item))
            found.append((f"a {type(item).__name__} inside the member", item))
    return found


def check_devices(estimator):
    """Stop a fit, naming the net and its ``device``, whose skorch nets ask
    for a CUDA device this machine does not have.

    skorch itself fails only inside the first member's fit, with torch's
    message ("Torch not compiled with CUDA enabled") that names neither the
    parameter nor the fix.

    Raises
    ------
    ValueError
        A net's ``device`` is a CUDA device and torch finds no GPU, or its
        index is past the last GPU.

    Examples
    --------
    >>> from skdpa.torch import CompactCNN, make_skorch_member
    >>> from skdpa.torch._checks import check_devices
    >>> check_devices(make_skorch_member(CompactCNN, n_classes=10))  # cpu: fine
    """
    import torch

    for where, net in _skorch_nets(estimator):
        device = getattr(net, "device", "cpu")
        if device is None:
            continue
        try:
            parsed = torch.device(device)
        except (RuntimeError, TypeError):
            continue  # skorch reports a device it cannot use itself
        error = cuda_device_error(
            parsed, f"The skorch net of {where} has device={device!r}"
        )
        if error is not None:
            raise error


def cuda_device_error(device, named):
    """The ``ValueError`` for a CUDA ``device`` (a ``torch.device``) that this
    machine lacks, or None; ``named`` opens the message (what asked for it)."""
    import torch

    if device.type != "cuda":
        return None
    if not torch.cuda.is_available():
        return ValueError(
            f"{named}, which needs a CUDA GPU, and torch finds none here "
            "(torch.cuda.is_available() is False); use device='cpu'."
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        return ValueError(
            f"{named}; this machine has {count} CUDA device(s), numbered from 0."
        )
    return None


def _describe_split(train_split):
    """``ValidSplit(cv=5, stratified=True)`` rather than an object address."""
    if hasattr(train_split, "cv") and hasattr(train_split, "stratified"):
        return (
            f"{type(train_split).__name__}(cv={train_split.cv!r}, "
            f"stratified={train_split.stratified!r})"
        )
    return getattr(train_split, "__qualname__", None) or repr(train_split)


def _held_out(train_split):
    """What a skorch ``train_split`` does to a partition, in words."""
    cv = getattr(train_split, "cv", None)
    if isinstance(cv, bool):
        cv = None
    if isinstance(cv, int | np.integer) and cv > 1:
        share = 1 / int(cv)
    elif isinstance(cv, float | np.floating) and 0 < cv < 1:
        share = float(cv)
    else:
        return "part of every partition for validation"
    return (
        f"{share:.0%} of every partition for validation, so each member trains "
        f"on about {1 - share:.0%} of its rows"
    )


def torch_member_warnings(estimator, *, classes_given):
    """Warnings an ensemble should emit once per fit for a torch member.

    The ensemble calls this once per ``fit`` and emits each returned message
    as one :class:`UserWarning`, instead of letting every one of the ``k``
    members repeat the same complaint.

    Parameters
    ----------
    estimator : estimator
        The unfitted base estimator (the member before cloning).
    classes_given : bool
        Whether the ensemble was given a fixed label set (``classes=``).

    Returns
    -------
    messages : list of str
        One message per problem; empty when there is nothing to say (always
        for an estimator that does not involve torch).

    Notes
    -----
    Two problems are reported:

    * A skorch net whose ``train_split`` is not None (the default of a plain
      :class:`skorch.NeuralNetClassifier` holds out a stratified fifth) trains
      every member on part of its partition. The certificate still holds
      (the split is a deterministic function of the partition), but members
      learn from less data. :func:`make_skorch_member` sets
      ``train_split=None``.
    * Without ``classes=``, the label set is inferred from ``y``. A torch
      member outputs one logit per class *position*, so a class that vanishes
      from the training set, or a new label that sorts first, re-indexes the
      targets of every member at once, which no certified radius covers.

    Examples
    --------
    >>> from skorch import NeuralNetClassifier
    >>> from skdpa.torch import CompactCNN, torch_member_warnings
    >>> net = NeuralNetClassifier(CompactCNN, module__n_classes=10)
    >>> for message in torch_member_warnings(net, classes_given=True):
    ...     print(message[:68])
    The member's NeuralNetClassifier has train_split=ValidSplit(cv=5, st
    """
    if not involves_torch(estimator):
        return []
    messages = []
    for where, net in _skorch_nets(estimator):
        split = getattr(net, "train_split", None)
        if split is None:
            continue
        if where == "the member":
            who = f"The member's {type(net).__name__}"
        else:
            who = f"The {type(net).__name__} ({where})"
        messages.append(
            f"{who} has train_split={_describe_split(split)}: skorch holds out "
            f"{_held_out(split)}. Pass train_split=None to train "
            "each member on its whole partition (skdpa.torch.make_skorch_member "
            "does). skorch/scikit-learn warnings that this split raises in every "
            "member ('The least populated class in y ...') are not repeated."
        )
    if not classes_given:
        messages.append(
            "The member involves torch and classes= was not given, so the label "
            "set is inferred from y. A torch member outputs one logit per class "
            "position: a class that vanishes from the training set, or a new "
            "label that sorts first, re-indexes the targets of every member at "
            "once, which no certified radius covers. Pass the full label set as "
            "classes= to the ensemble and size the module's output with it "
            "(make_skorch_member(n_classes=len(classes)))."
        )
    return messages
