"""Loading skops files that trust exactly skdpa's own classes, and
estimators saved before a parameter existed."""

import functools
import importlib
import inspect
import io
import os

__all__ = ["ParamDefaultsOnLoad", "load"]


@functools.cache
def _init_defaults(cls):
    """``{name: default}`` of the ``__init__`` parameters of ``cls`` that have
    one (read once per class: members unpickled by the thousand ask)."""
    init = cls.__init__
    if init is object.__init__:
        return {}
    return {
        p.name: p.default
        for p in inspect.signature(init).parameters.values()
        if p.name != "self"
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.default is not p.empty
    }


class ParamDefaultsOnLoad:
    """Mixin: an estimator saved before one of its parameters existed loads
    with that parameter at its default.

    A pickle or skops file stores the instance ``__dict__``; a parameter added
    to ``__init__`` in a later release is absent from it, and ``get_params``
    (so ``clone``, ``repr`` and grid searches) would raise
    ``AttributeError``. The default is what the estimator did before the
    parameter existed. Pickle and skops both restore through
    ``__setstate__``. Put this mixin before ``BaseEstimator`` in the bases.

    Examples
    --------
    >>> import pickle
    >>> from skdpa import DPAClassifier
    >>> old = DPAClassifier(k=5)
    >>> del old.__dict__["cost_aware"]  # as saved before cost_aware existed
    >>> pickle.loads(pickle.dumps(old)).get_params()["cost_aware"]
    False
    """

    def __setstate__(self, state):
        super().__setstate__(state)
        for name, default in _init_defaults(type(self)).items():
            if name not in self.__dict__:
                self.__dict__[name] = default


def _skdpa_class(name):
    """The class ``name`` ("module.QualName") if it is *defined* in skdpa.

    The name must resolve, by importing its module, to a class whose own
    ``__module__`` and ``__qualname__`` are that name and whose module is
    ``skdpa`` or below: a class merely imported into an skdpa module (such as
    ``skdpa._base.DummyClassifier``, scikit-learn's) does not count.
    """
    module_name, _, qualname = name.rpartition(".")
    if module_name != "skdpa" and not module_name.startswith("skdpa."):
        return None
    # resolve nested names too ("skdpa.m.Outer.Inner"), shortest module first
    parts = name.split(".")
    for cut in range(1, len(parts)):
        module_name, qualname = ".".join(parts[:cut]), ".".join(parts[cut:])
        if module_name != "skdpa" and not module_name.startswith("skdpa."):
            continue
        try:
            found = importlib.import_module(module_name)
        except ImportError:
            continue
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if (
            isinstance(found, type)
            and found.__module__ == module_name
            and found.__qualname__ == qualname
        ):
            return found
    return None


def load(file):
    """Load a skops file, trusting skops' defaults plus skdpa's own classes.

    skops refuses, on loading, every type it does not trust by default; a
    fitted ensemble adds skdpa's classes (the estimator, its
    ``Certificate``, ...). This function trusts exactly those: a type named in
    the file is trusted when its name resolves to a class *defined* in skdpa.
    Anything else (a member's compiled tree structure, a function, a class
    that is merely imported into an skdpa module) raises, naming the type:
    inspect it and load with ``skops.io.load(file, trusted=[...])`` if you
    trust it.

    Loading never writes a process-wide cache, so nothing in a file can reach
    another model fit or loaded later in the process.

    Parameters
    ----------
    file : str, path-like, bytes or binary file object
        The skops file, its path, or its contents.

    Returns
    -------
    obj : object
        The loaded object.

    Raises
    ------
    TypeError
        When the file holds a type that is neither trusted by skops by
        default nor a class defined in skdpa; the message names it.
    ImportError
        When skops is not installed (``pip install scikit-dpa[skops]``).

    Examples
    --------
    >>> import skops.io as sio
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> import skdpa
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = skdpa.DPAClassifier(LogisticRegression(), k=5).fit(X, y)
    >>> loaded = skdpa.load(sio.dumps(clf))
    >>> bool((loaded.predict(X) == clf.predict(X)).all())
    True
    """
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - skops is a test dependency
        raise ImportError(
            "skdpa.load needs skops: pip install 'scikit-dpa[skops]'."
        ) from exc
    if isinstance(file, bytes | bytearray | memoryview):
        data = bytes(file)
    elif isinstance(file, str | os.PathLike):
        with open(file, "rb") as fh:
            data = fh.read()
    elif hasattr(file, "read"):
        data = file.read()
        if not isinstance(data, bytes):
            raise TypeError(
                "skdpa.load needs a binary file object; got one whose read() "
                f"returns {type(data).__name__}."
            )
    else:
        raise TypeError(
            "file must be a path, bytes or a binary file object; got "
            f"{type(file).__name__}."
        )
    untrusted = sio.get_untrusted_types(data=data)
    refused = [name for name in untrusted if _skdpa_class(name) is None]
    if refused:
        raise TypeError(
            f"skdpa.load trusts skops' defaults and skdpa's own classes only; "
            f"the file also holds {refused}. Check these types and load with "
            "skops.io.load(file, trusted=[...]) if you trust them."
        )
    return sio.load(io.BytesIO(data), trusted=untrusted)
