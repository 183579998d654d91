"""Canonical row content, built-in hashers and canonical orderings.

Everything here is a function of each row's *values* only: not of its position,
the dataset size, the dtype (``3`` and ``3.0`` hash alike), the memory layout
(C or Fortran order, dense or sparse), the platform or the Python process
(Python's salted :func:`hash` is never used). Golden values are pinned in
``tests/test_hashing.py``; changing any constant here is a breaking change.

Numeric rows are hashed in vectorised NumPy: every value is widened to float64
(with ``-0.0`` folded into ``0.0`` and every NaN into one canonical NaN), mixed
with its column index through SplitMix64, and the per-column mixes are summed
modulo 2**64. The sum makes sparse rows cheap (zeros contribute a constant that
is precomputed per column) and the final mix spreads the low bits that ``% k``
reads. Rows containing strings (text, object columns) are hashed with BLAKE2b.
"""

import hashlib
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils import _safe_indexing

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_CANONICAL_NAN = np.uint64(0x7FF8000000000000)
# Rows of this many float64 values are hashed per chunk (~64 MiB of scratch).
_CHUNK_VALUES = 1 << 23
_QUANTUM = float(1 << 24)


def _splitmix64(z):
    """SplitMix64 finaliser on a uint64 array, in place where possible."""
    z = z + _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _column_keys(n_features):
    return _splitmix64(np.arange(1, n_features + 1, dtype=np.uint64))


def _float_bits(values):
    """float64 bit patterns with -0.0 -> 0.0 and every NaN -> one NaN."""
    values = np.array(values, dtype=np.float64, order="C", copy=True)
    values += 0.0  # -0.0 + 0.0 == +0.0; every other value is unchanged
    bits = values.view(np.uint64)
    bits[np.isnan(values)] = _CANONICAL_NAN
    return bits


def is_text_input(X):
    """True for a 1-D sequence of strings (the input of a text pipeline)."""
    if sp.issparse(X) or hasattr(X, "columns") or isinstance(X, str | bytes):
        return False
    shape = getattr(X, "shape", None)
    if shape is not None:
        if len(shape) != 1:
            return False
    elif not hasattr(X, "__len__"):
        return False
    try:
        if len(X) == 0:
            return False
        first = X.iloc[0] if hasattr(X, "iloc") else X[0]
    except (TypeError, KeyError, IndexError):
        return False
    return isinstance(first, str | bytes)


def _as_numeric(X):
    """Return X as a float-convertible 2-D array or sparse matrix, or None."""
    if sp.issparse(X):
        return X if X.dtype.kind in "biuf" else None
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):
        X = X.to_numpy()
    X = np.asarray(X)
    if X.dtype.kind in "biuf":
        return X
    if X.dtype.kind == "O":
        try:
            return X.astype(np.float64)
        except (TypeError, ValueError):
            return None
    return None


def _token(value):
    """Canonical bytes of one cell of a non-numeric row."""
    if isinstance(value, bytes):
        return b"b" + len(value).to_bytes(8, "little") + value
    if isinstance(value, str):
        data = value.encode("utf-8")
        return b"s" + len(data).to_bytes(8, "little") + data
    if value is None:
        return b"n"
    if isinstance(value, numbers.Real):
        return b"f" + int(_float_bits([float(value)])[0]).to_bytes(8, "little")
    raise TypeError(
        f"Cannot hash a value of type {type(value).__name__}; the content hasher "
        "accepts numbers, strings and bytes."
    )


def row_tokens(X):
    """Canonical, sortable bytes for every row of a text or object input."""
    if is_text_input(X):
        return [_token(v) for v in X]
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):
        X = X.to_numpy()
    X = np.asarray(X, dtype=object)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    return [b"".join(_token(v) for v in row) for row in X]


def _digest_tokens(tokens):
    out = np.empty(len(tokens), dtype=np.uint64)
    for i, tok in enumerate(tokens):
        out[i] = int.from_bytes(
            hashlib.blake2b(tok, digest_size=8, person=b"skdpa-row").digest(),
            "little",
        )
    return out


def _small_int_table(X, keys):
    """Per-(value, column) mixes for integer data with a small value range.

    A gather from this table gives exactly the values the general path computes,
    several times faster for images stored as uint8.
    """
    if X.dtype.kind not in "biu" or X.size == 0:
        return None, 0
    lo, hi = int(X.min()), int(X.max())
    if hi - lo >= 1024 or (hi - lo + 1) * len(keys) > (1 << 22):
        return None, 0
    values = np.arange(lo, hi + 1, dtype=np.float64)[:, None]
    table = _splitmix64(_float_bits(values) ^ keys[None, :])
    return table, lo


def _content_hash_dense(X):
    n_samples, n_features = X.shape
    keys = _column_keys(n_features)
    table, lo = _small_int_table(X, keys)
    out = np.empty(n_samples, dtype=np.uint64)
    step = max(1, _CHUNK_VALUES // max(n_features, 1))
    cols = np.arange(n_features, dtype=np.int64)
    for start in range(0, n_samples, step):
        chunk = X[start : start + step]
        if table is None:
            mixed = _splitmix64(_float_bits(chunk) ^ keys)
        else:
            flat = (chunk.astype(np.int64) - lo) * n_features + cols
            mixed = table.ravel().take(flat)
        out[start : start + step] = mixed.sum(axis=1, dtype=np.uint64)
    return out


def _content_hash_sparse(X):
    X = sp.csr_matrix(X)  # canonical: sorted indices, duplicates summed
    X.sum_duplicates()
    n_samples, n_features = X.shape
    keys = _column_keys(n_features)
    zero_mix = _splitmix64(keys.copy())
    out = np.full(n_samples, zero_mix.sum(dtype=np.uint64), dtype=np.uint64)
    if X.nnz:
        cols = X.indices
        delta = _splitmix64(_float_bits(X.data) ^ keys[cols]) - zero_mix[cols]
        rows = np.repeat(np.arange(n_samples), np.diff(X.indptr))
        # unbuffered wrap-around addition per row
        np.add.at(out, rows, delta)
    return out


def _mixed_rows_hash(X):
    """Object rows: all-number rows hash as the numeric path would, others by
    BLAKE2b. Decided row by row, so no row's hash depends on the other rows
    (a string inserted into one row must not re-hash the whole data set)."""
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):
        X = X.to_numpy()
    X = np.asarray(X, dtype=object)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    numeric_rows = np.array(
        [all(isinstance(v, numbers.Real) for v in row) for row in X], dtype=bool
    )
    h = np.empty(len(X), dtype=np.uint64)
    if numeric_rows.any():
        values = X[numeric_rows].astype(np.float64)
        h[numeric_rows] = _content_hash_dense(values) ^ np.uint64(X.shape[1])
    if not numeric_rows.all():
        h[~numeric_rows] = _digest_tokens(row_tokens(X[~numeric_rows]))
    return h


def content_hash(X):
    """64-bit content digest of every row of X.

    Parameters
    ----------
    X : array-like, sparse matrix, DataFrame, or 1-D sequence of str

    Returns
    -------
    h : ndarray of shape (n_samples,), dtype uint64
    """
    if is_text_input(X):
        return _splitmix64(_digest_tokens(row_tokens(X)))
    numeric = _as_numeric(X)
    if numeric is None:
        h = _mixed_rows_hash(X)
    elif sp.issparse(numeric):
        h = _content_hash_sparse(numeric)
        h ^= np.uint64(numeric.shape[1])
    else:
        if numeric.ndim == 1:
            numeric = numeric.reshape(-1, 1)
        h = _content_hash_dense(numeric)
        h ^= np.uint64(numeric.shape[1])
    return _splitmix64(h)


def sum_hash(X):
    """The paper's hash: the sum of each row's values.

    Integer-valued rows (pixels as 0..255) hash to their exact integer sum, as
    in the reference implementation. Rows with fractional values are summed in
    fixed point (multiples of 2**-24) so that data scaled to [0, 1] still spreads
    over the partitions instead of collapsing onto ``int(sum)``. Which of the two
    applies is decided per row, from that row's values alone: a choice made for
    the whole dataset would let one inserted fractional sample move every other
    sample to another partition. The sum is exact integer arithmetic, so it does
    not depend on summation order.
    """
    numeric = None if is_text_input(X) else _as_numeric(X)
    if numeric is None:
        raise ValueError(
            "hasher='sum' needs numeric features; got non-numeric input. Use "
            "hasher='content' for text or object data."
        )
    if sp.issparse(numeric):
        return _sum_hash_sparse(numeric)
    values = np.asarray(numeric)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if values.dtype.kind in "biu":
        return values.sum(axis=1, dtype=np.int64).view(np.uint64)
    n_samples, n_features = values.shape
    total = np.empty(n_samples, dtype=np.int64)
    step = max(1, _CHUNK_VALUES // max(n_features, 1))
    for start in range(0, n_samples, step):
        chunk = np.asarray(values[start : start + step], dtype=np.float64)
        if not np.isfinite(chunk).all():
            raise ValueError("hasher='sum' needs finite values; X contains NaN or inf.")
        rounded = np.rint(chunk)
        sums = rounded.astype(np.int64).sum(axis=1, dtype=np.int64)
        fractional = (rounded != chunk).any(axis=1)
        if fractional.any():
            fixed = chunk[fractional]  # a copy: scaled in place
            fixed *= _QUANTUM
            np.rint(fixed, out=fixed)
            sums[fractional] = fixed.astype(np.int64).sum(axis=1, dtype=np.int64)
        total[start : start + step] = sums
    # two's-complement view: negative sums map to large non-negative integers
    return total.view(np.uint64)


def _sum_hash_sparse(X):
    X = sp.csr_matrix(X, dtype=np.float64)
    X.sum_duplicates()
    data = X.data
    if not np.all(np.isfinite(data)):
        raise ValueError("hasher='sum' needs finite values; X contains NaN or inf.")
    n_samples = X.shape[0]
    rows = np.repeat(np.arange(n_samples), np.diff(X.indptr))
    rounded = np.rint(data)
    fractional = np.zeros(n_samples, dtype=bool)
    fractional[rows[rounded != data]] = True
    fixed = np.where(fractional[rows], np.rint(data * _QUANTUM), rounded)
    total = np.zeros(n_samples, dtype=np.int64)
    np.add.at(total, rows, fixed.astype(np.int64))
    return total.view(np.uint64)


def check_hash_values(h, n_samples, name="hasher"):
    """Validate the output of a user hasher: (n_samples,) non-negative integers."""
    h = np.asarray(h)
    if h.shape != (n_samples,):
        raise ValueError(
            f"The {name} callable must return an array of shape ({n_samples},) "
            f"(one integer per sample); got shape {h.shape}."
        )
    if h.dtype.kind == "u":
        return h.astype(np.uint64, copy=False)
    if h.dtype.kind == "i" or (
        h.dtype.kind == "f" and np.all(np.isfinite(h)) and np.all(h == np.round(h))
    ):
        if h.size and h.min() < 0:
            raise ValueError(
                f"The {name} callable must return non-negative integers; got a "
                f"minimum of {h.min()}."
            )
        return h.astype(np.uint64)
    raise ValueError(
        f"The {name} callable must return non-negative integers; got dtype {h.dtype}."
    )


def canonical_row_keys(X, rows):
    """Totally ordered keys (tuples) for the given rows' content."""
    # Slice first: callers ask for a few rows at a time (one run of equal
    # hashes), and converting the whole of X per call would repeat that work.
    sub = take_rows(X, rows)
    numeric = None if is_text_input(sub) else _as_numeric(sub)
    if numeric is None:
        return [(t,) for t in row_tokens(sub)]
    if sp.issparse(numeric):
        numeric = numeric.toarray()
    bits = _float_bits(np.asarray(numeric).reshape(len(rows), -1))
    return [tuple(r) for r in bits.tolist()]


def take_rows(X, rows):
    """Rows of any input the hashers accept, in the input's own kind."""
    if isinstance(X, list | tuple):
        return [X[i] for i in rows]
    return _safe_indexing(X, rows)


def _runs(sorted_keys):
    """(start, stop) of every run of >= 2 equal values in a sorted 1-D array."""
    if len(sorted_keys) < 2:
        return []
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    bounds = np.concatenate(([0], change, [len(sorted_keys)]))
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b - a > 1]


def canonical_order(X, h, tiebreak=()):
    """Order of the rows of X that depends on their content only.

    Rows are sorted by content hash ``h``; rows with equal hashes (duplicates,
    or the rare true collision) are ordered by their canonical values and then
    by the ``tiebreak`` arrays (labels, sample weights). The result is the same
    for any permutation of the input, up to permuting rows that are identical
    in content and in every tie-break.

    Parameters
    ----------
    X : the data, any input :func:`content_hash` accepts
    h : ndarray of uint64, ``content_hash(X)``
    tiebreak : sequence of 1-D arrays, compared in order after the content

    Returns
    -------
    order : ndarray of int64 indices into X
    """
    order = np.argsort(h, kind="stable")
    for start, stop in _runs(h[order]):
        rows = order[start:stop]
        keys = canonical_row_keys(X, rows)
        extra = [np.asarray(t)[rows].tolist() for t in tiebreak]
        composite = [(keys[j], *(e[j] for e in extra)) for j in range(len(rows))]
        perm = sorted(range(len(rows)), key=composite.__getitem__)
        order[start:stop] = rows[perm]
    return order


def unique_sample_ids(X, h):
    """Rank of each row's content among the distinct rows, in canonical order.

    Identical rows share an id; ids are ``0..n_unique-1`` in the canonical
    order of :func:`canonical_order`. Labels never enter.
    """
    order = canonical_order(X, h)
    new_group = np.ones(len(order), dtype=bool)
    for start, stop in _runs(h[order]):
        # canonical_order sorted each run by content: equal rows are adjacent
        keys = canonical_row_keys(X, order[start:stop])
        for j in range(1, stop - start):
            new_group[start + j] = keys[j] != keys[j - 1]
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(new_group) - 1
    return ids
