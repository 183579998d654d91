"""Fingerprints of what each member is fit on, for exact warm-start refits.

A member is a deterministic function of its training input (rows in order,
labels, sample-aligned fit parameters) and its seed. A warm refit keeps a
member exactly when the digest of that input is unchanged, so no copy of the
training data is stored. Digests are keyed BLAKE2b over the bytes the member
actually receives (dtype included): an attacker cannot craft a changed
partition that keeps its digest, unlike the 64-bit placement hash.
"""

import hashlib
import pickle
import sys
import types

import numpy as np
import scipy.sparse as sp

__all__ = ["member_fingerprint", "params_digest", "row_digests", "warm_key"]

_DIGEST = 16
_PERSON = b"skdpa-fit"


def _new():
    return hashlib.blake2b(digest_size=_DIGEST, person=_PERSON)


def _digest_rows(chunks, n_rows):
    """(n_rows, 16) uint8 digests of per-row byte strings."""
    out = np.empty((n_rows, _DIGEST), dtype=np.uint8)
    for i, data in enumerate(chunks):
        h = _new()
        h.update(data)
        out[i] = np.frombuffer(h.digest(), dtype=np.uint8)
    return out


def _object_bytes(value):
    # pickle is deterministic for the plain values that reach members (str,
    # numbers, None, Timestamps); an unusual object at worst refits a member.
    return pickle.dumps(value, protocol=5)


def row_digests(X):
    """Digest of every row of a member input, and of its layout.

    Parameters
    ----------
    X : ndarray, sparse matrix, DataFrame or 1-D sequence
        What the members are fit on (after any shared embedding).

    Returns
    -------
    digests : ndarray of shape (n_samples, 16), dtype uint8
    layout : bytes
        Type, dtype(s), column names and width: rows with equal bytes but
        another layout are not the same input.
    """
    if sp.issparse(X):
        # members receive the format they were given (CSR and CSC members
        # may differ in the last bits), and whether its indices were sorted
        given = f"{X.format}:{getattr(X, 'has_sorted_indices', True)}"
        X = sp.csr_matrix(X)
        X.sort_indices()
        layout = f"sparse:{given}:{X.dtype.str}:{X.shape[1]}".encode()
        data = X.data.view(np.uint8).reshape(-1, X.dtype.itemsize)
        ind = X.indices.astype(np.int64).view(np.uint8).reshape(-1, 8)
        chunks = (
            data[a:b].tobytes() + ind[a:b].tobytes()
            for a, b in zip(X.indptr[:-1], X.indptr[1:], strict=True)
        )
        return _digest_rows(chunks, X.shape[0]), layout
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        n_rows = len(X)
        layout = repr(
            ("frame", [str(c) for c in X.columns], [_dtype_key(d) for d in X.dtypes])
        ).encode()
        columns = []
        for name in X.columns:
            col = X[name].to_numpy()
            if col.dtype.kind in "biufcmM":
                col = np.ascontiguousarray(col)
                columns.append(col.view(np.uint8).reshape(n_rows, -1))
            else:
                columns.append([_object_bytes(v) for v in col])
        chunks = (
            b"".join(
                c[i].tobytes() if isinstance(c, np.ndarray) else c[i] for c in columns
            )
            for i in range(n_rows)
        )
        return _digest_rows(chunks, n_rows), layout
    if isinstance(X, np.ndarray) and X.dtype.kind in "biufcmM":
        A = np.ascontiguousarray(X).reshape(len(X), -1)
        layout = f"array:{A.dtype.str}:{X.shape[1:]}".encode()
        rows = A.view(np.uint8).reshape(len(A), -1)
        return _digest_rows((r.data for r in rows), len(A)), layout
    # object arrays and sequences (text): each row's objects
    seq = X if not isinstance(X, np.ndarray) else list(X)
    layout = f"objects:{type(X).__name__}:{getattr(X, 'shape', None)}".encode()
    chunks = (_object_bytes(tuple(r) if isinstance(r, np.ndarray) else r) for r in seq)
    return _digest_rows(chunks, len(seq)), layout


def _dtype_key(dtype):
    """A column dtype in full: a categorical's category set and order too."""
    categories = getattr(dtype, "categories", None)
    if categories is not None:
        values = [_object_bytes(v).hex() for v in categories.tolist()]
        return ("category", values, str(categories.dtype), bool(dtype.ordered))
    return str(dtype)


def params_digest(params, rows, n_samples):
    """Digest of the fit parameters a member receives (aligned ones sliced)."""
    h = _new()
    for key in sorted(params):
        value = params[key]
        h.update(key.encode() + b"\0")
        if (
            value is not None
            and not np.isscalar(value)
            and hasattr(value, "__len__")
            and len(value) == n_samples
        ):
            arr = np.asarray(value)
            if arr.dtype.kind in "biufc":
                h.update(arr.dtype.str.encode())
                h.update(np.ascontiguousarray(arr[rows]).tobytes())
                continue
            h.update(_object_bytes([value[i] for i in rows]))
        else:
            h.update(_object_bytes(value))
    return h.digest()


def member_fingerprint(kind, seed, digests, layout, fit_rows, target, extra=b""):
    """Digest of one member's whole training input and seed.

    Parameters
    ----------
    kind : str
        ``"fit"``, ``"constant"`` or ``"empty"``.
    seed : int
    digests, layout : from :func:`row_digests`
    fit_rows : ndarray of int
        Rows the member is fit on, in order.
    target : ndarray
        Targets the member is fit on: class indices (hashed as int64, -1
        hidden) or real-valued targets (hashed exactly as float64, NaN
        hidden).
    extra : bytes
        Anything else it receives (fit parameters).

    Returns
    -------
    fingerprint : bytes
    """
    h = _new()
    h.update(f"{kind}:{int(seed)}:".encode() + layout)
    h.update(np.ascontiguousarray(digests[fit_rows]).tobytes())
    target = np.asarray(target)
    kind = np.float64 if target.dtype.kind == "f" else np.int64
    h.update(np.ascontiguousarray(target, dtype=kind).tobytes())
    h.update(extra)
    return h.digest()


# -- the warm key: every parameter that shapes members beyond their data --------


def _const_key(value):
    if isinstance(value, types.CodeType):
        return ("code", _code_digest(value))
    if isinstance(value, tuple):
        return tuple(_const_key(v) for v in value)
    if isinstance(value, frozenset):  # set order may follow salted hashes
        return ("frozenset", tuple(sorted(repr(_const_key(v)) for v in value)))
    return (type(value).__name__, repr(value))


def _code_digest(code):
    """Digest of a code object: bytecode, constants (nested code included),
    names and signature; not its file name or line numbers."""
    parts = (
        code.co_code,
        _const_key(code.co_consts),
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _identity(obj):
    """A function's or class's identity: its importable name when that name
    resolves to this very object (stable across processes), else its ``id``
    (a stale definition, a lambda, a local function or class)."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    qualname = getattr(obj, "__qualname__", None)
    if module is not None and qualname:
        found = module
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is obj:
            return ("name", obj.__module__, qualname)
    return ("id", id(obj))


def _class_token(cls):
    """A class by identity and by the code of the methods it defines.

    Identity tells a class redefined under the same name (a notebook cell run
    again) from the old one; the code tells apart two definitions that each
    resolve by name at the time they are used.
    """
    methods = []
    for name, value in sorted(vars(cls).items()):
        func = getattr(value, "__func__", value)
        code = getattr(func, "__code__", None)
        if isinstance(code, types.CodeType):
            methods.append((name, _code_digest(code)))
    return ("class", tuple(_identity(c) for c in cls.__mro__), tuple(methods))


def _key_hasher():
    from joblib.hashing import NumpyHasher

    class KeyHasher(NumpyHasher):
        """joblib's hasher, with functions and classes saved by identity and
        code (and a function's defaults and closure by value) instead of by
        their importable name, which a redefinition keeps."""

        def __init__(self):
            super().__init__(hash_name="md5", coerce_mmap=False)
            self._open = set()

        def save_global(self, obj, name=None, pack=None):
            if isinstance(obj, type):
                self.save(_class_token(obj))
                return
            token = ("global", _identity(obj))
            if not isinstance(obj, types.FunctionType) or id(obj) in self._open:
                self.save(token)
                return
            self._open.add(id(obj))
            cells = []
            for cell in obj.__closure__ or ():
                try:
                    cells.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    cells.append(None)
            self.save(
                (
                    token,
                    _code_digest(obj.__code__),
                    obj.__defaults__,
                    obj.__kwdefaults__,
                    tuple(cells),
                )
            )
            self._open.discard(id(obj))

        dispatch = NumpyHasher.dispatch.copy()
        dispatch[types.FunctionType] = save_global
        dispatch[type] = save_global

    return KeyHasher()


def warm_key(estimator, exclude=(), extra=()):
    """Digest of every parameter that shapes the members beyond their data.

    Parameters are hashed by value (``joblib.hash``); functions and classes
    among them, however deeply nested (a ``FunctionTransformer``'s ``func``,
    a member's own class, a closure's cells), also by identity and code, so a
    function or class redefined under the same name (a notebook cell edited
    and run again) is a different key. A function or class is identified by
    its importable name when that name resolves to it (stable across
    processes: a loaded ensemble keeps its members on a warm refit), else by
    its ``id`` in this process.

    Parameters
    ----------
    estimator : estimator
        The ensemble.
    exclude : iterable of str
        Parameters that do not reach the members (``n_jobs``, ``verbose``).
    extra : tuple
        Anything else the members depend on (thread settings).

    Returns
    -------
    key : str or None
        ``None`` when the key cannot be trusted (a parameter that cannot be
        hashed): then no member is reused.

    Examples
    --------
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skdpa import DPAClassifier
    >>> from skdpa._fingerprint import warm_key
    >>> def f(X):
    ...     return X
    >>> clf = DPAClassifier(FunctionTransformer(f))
    >>> warm_key(clf) == warm_key(clf)
    True
    >>> def f(X):  # the same name, another function
    ...     return 2 * X
    >>> warm_key(clf) == warm_key(DPAClassifier(FunctionTransformer(f)))
    False
    """
    params = estimator.get_params(deep=True)
    for name in exclude:
        params.pop(name, None)
    try:
        return _key_hasher().hash((type(estimator), params, extra))
    except Exception:  # noqa: BLE001 - an undescribable parameter: never reuse
        return None
