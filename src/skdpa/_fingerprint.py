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

import numpy as np
import scipy.sparse as sp

__all__ = ["member_fingerprint", "params_digest", "row_digests"]

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
        X = sp.csr_matrix(X)
        X.sort_indices()
        layout = f"sparse:{X.dtype.str}:{X.shape[1]}".encode()
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
            ("frame", [str(c) for c in X.columns], [str(d) for d in X.dtypes])
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
        Labels the member is fit on (class indices, -1 hidden).
    extra : bytes
        Anything else it receives (fit parameters).

    Returns
    -------
    fingerprint : bytes
    """
    h = _new()
    h.update(f"{kind}:{int(seed)}:".encode() + layout)
    h.update(np.ascontiguousarray(digests[fit_rows]).tobytes())
    target = np.ascontiguousarray(target, dtype=np.int64)
    h.update(target.tobytes())
    h.update(extra)
    return h.digest()
