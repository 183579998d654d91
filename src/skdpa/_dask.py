"""Fit and predict from Dask collections, without gathering the data.

Imported only when a Dask collection reaches an estimator (``import skdpa``
never imports dask). The fit runs on the current ``distributed.Client`` in
two graphs over the blocks of ``X`` and ``y``:

1. **Split** (one task per block, the data's only read): validate the block
   as the in-memory fit validates ``X``, hash every row where it lies
   (:func:`~skdpa._hashing.content_hash` is row-local: a block's hashes equal
   the same rows' hashes inside the whole collection), place the rows with
   the estimator's own partitioner run on this block (hash partitioning
   places a row from its content alone; with ``spread=d`` a row trains ``d``
   members) and cut the block into one piece per *group* of members. Only
   the block's row count and distinct labels come back; the client forms
   ``classes_`` (the label set is small) and the blocks' offsets.
2. **Fit** (one task per group: a task-based shuffle): gather the group's
   pieces from every block, encode the labels, and for each member put its
   rows in global order, then in the canonical order of
   :func:`~skdpa._hashing.canonical_order` with the in-memory fit's
   tie-breaks, fingerprint them and fit the member there (a warm refit skips
   members whose fingerprint is unchanged).

Why this is the in-memory result bit for bit: ``canonical_order`` sorts rows
by a total order on (hash, canonical content, label, stored representation)
and, for rows equal in all of these, by their position. Every key is a
function of the row alone, so restricting the global order to one member's
rows gives the order ``canonical_order`` returns for those rows alone, once
they are listed by global position (which step 2 does). The member then sees
the same rows in the same order with the same seed; its fingerprint digests
the same bytes. Only fitted members and per-member facts (size, kind,
constant class, fingerprint, the global positions of its rows) come back.

Predict-like methods map the fitted estimator over the blocks of ``X``; the
estimator is scattered to every worker once and each block's task refers to
it, so the graph grows with the number of blocks only.
"""

import copy
import operator
import sys
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import column_or_1d

from ._config import get_config
from ._engine import _fit_batch, constant_member
from ._fingerprint import member_fingerprint, params_digest, row_digests
from ._hashing import canonical_order, content_hash, take_rows
from ._members import involves_torch
from ._partition import Partition, spread_shifts
from ._plan import FitPlan, MemberTask, member_seeds
from ._sources import ArraySource

__all__ = ["is_dask_collection", "dask_fit", "dask_method"]


def is_dask_collection(obj):
    """Whether ``obj`` is a Dask collection; never imports dask.

    Parameters
    ----------
    obj : object

    Returns
    -------
    bool
        False whenever dask has not been imported (no object can then be a
        Dask collection).

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._dask import is_dask_collection
    >>> is_dask_collection(np.zeros((2, 2)))
    False
    """
    if "dask" not in sys.modules:
        return False
    import dask

    return bool(dask.is_dask_collection(obj))


# ---------------------------------------------------------------------------
# Checks (client side)


def _client(name):
    try:
        import distributed
    except ImportError:  # pragma: no cover - dask without distributed
        raise ImportError(
            f"{name}.fit on a Dask collection needs the 'distributed' package "
            "(pip install 'dask[distributed]') and a running distributed.Client; "
            "or pass NumPy/pandas data (e.g. X.compute())."
        ) from None
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError(
            f"{name}.fit on a Dask collection needs a running distributed.Client "
            "(e.g. `distributed.Client(distributed.LocalCluster())`, or one "
            "connected to your cluster); none was found. Members are fit where "
            "the data lies, on the client's workers."
        ) from None


def _kind(obj):
    """'array', 'frame' or 'series' for a Dask collection; None otherwise."""
    import dask.array as da

    if isinstance(obj, da.Array):
        return "array"
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - dask without pandas support
        return None
    if isinstance(obj, dd.DataFrame):
        return "frame"
    if isinstance(obj, dd.Series):
        return "series"
    return None


def _check_chunks_known(arr, what):
    if any(np.isnan(c) for c in arr.chunks[0]):
        raise ValueError(
            f"{what} is a Dask array with unknown chunk sizes (NaN in "
            f"{what}.chunks); the fit needs each block's row count to place rows "
            f"and to align y. Call {what}.compute_chunk_sizes() first, or build "
            "it with known lengths (e.g. ddf.to_dask_array(lengths=True))."
        )


_LABEL = "__skdpa_label__"


def _misaligned(n_x, n_y):
    return ValueError(
        f"y must be partitioned like X: a block of X has {n_x} rows and the "
        f"matching block of y {n_y}. Take both from one collection "
        "(ddf.drop(columns='label') and ddf['label'])."
    )


def _join(X, y):
    """One partition of X with its labels as a last column, paired by position."""
    if len(X) != len(y):
        raise _misaligned(len(X), len(y))
    return X.assign(**{_LABEL: np.asarray(y)})


def _blocks(X, y, name):
    """[(delayed X block, delayed y block or None)], after the checks.

    A DataFrame and its labels travel as one collection (the labels as a last
    column, joined partition by partition): Dask may otherwise read a lone
    label column with fewer, larger partitions than the features.
    """
    import dask.dataframe as dd

    kx = _kind(X)
    ky = _kind(y) if is_dask_collection(y) else None
    if kx is None:
        raise TypeError(
            f"{name}.fit on Dask input needs X to be a dask.array.Array or a "
            f"dask.dataframe.DataFrame; got {type(X).__name__}."
        )
    if ky not in ("array", "series"):
        raise TypeError(
            f"{name}.fit with a Dask X needs y to be a 1-D dask.array.Array or a "
            "dask.dataframe.Series with the same partitions as X (e.g. "
            "ddf['label'] with ddf.drop(columns='label')); got "
            f"{type(y).__name__}."
        )
    if kx == "series":
        raise ValueError(
            f"{name}.fit on Dask input needs a 2-D X (a DataFrame, or an Array of "
            "shape (n_samples, n_features)); got a Series. Use s.to_frame()."
        )
    if (kx == "array") != (ky == "array"):
        raise TypeError(
            f"{name}.fit on Dask input takes X and y of one family: a Dask "
            "DataFrame with a Dask Series, or a Dask Array with a Dask Array; got "
            f"a {kx} and a {ky}."
        )
    if kx == "array":
        if X.ndim != 2:
            raise ValueError(
                f"{name}.fit on Dask input needs a 2-D X of shape "
                f"(n_samples, n_features); got a Dask array with ndim={X.ndim}."
            )
        _check_chunks_known(X, "X")
        if y.ndim != 1:
            raise ValueError(
                f"y must be a 1-D Dask array; got a Dask array with ndim={y.ndim}."
            )
        _check_chunks_known(y, "y")
    n_x = X.numblocks[0] if kx == "array" else X.npartitions
    n_y = y.numblocks[0] if ky == "array" else y.npartitions
    if n_x != n_y:
        raise ValueError(
            f"y must be partitioned like X: X has {n_x} blocks, y has {n_y}. Take "
            "both from one collection (ddf.drop(columns='label') and "
            "ddf['label']), or rechunk y to X.chunks[0]."
        )
    if kx == "frame":
        if X.known_divisions and y.known_divisions and X.divisions != y.divisions:
            raise ValueError(
                "y must be partitioned like X: their divisions differ. Take both "
                "from one DataFrame (ddf.drop(columns='label') and ddf['label'])."
            )
        if _LABEL in X.columns:
            raise ValueError(f"X must not have a column named {_LABEL!r}.")
        meta = X._meta.assign(**{_LABEL: np.asarray(y._meta)})
        joined = dd.map_partitions(_join, X, y, align_dataframes=False, meta=meta)
        return [(block, None) for block in joined.to_delayed()]
    if tuple(X.chunks[0]) != tuple(y.chunks[0]):
        raise ValueError(
            "y must be partitioned like X: row chunks differ (X.chunks[0]="
            f"{tuple(X.chunks[0])[:5]}..., y.chunks[0]={tuple(y.chunks[0])[:5]}...). "
            "Use y.rechunk((X.chunks[0],))."
        )
    if X.numblocks[1] > 1:  # one block per row range; moves no data home
        X = X.rechunk({1: -1})
    return list(zip(X.to_delayed().ravel(), y.to_delayed().ravel(), strict=True))


def _xy(X, y):
    """A block's (X, labels): a joined DataFrame block is split here."""
    if y is None:
        return X.drop(columns=_LABEL), X[_LABEL].to_numpy()
    return X, y


def _check_ssdpa(est, name):
    if not hasattr(est, "partitioning"):
        return
    if est.partitioning != "hash":
        raise ValueError(
            f"{name}(partitioning={est.partitioning!r}) cannot be fit on a Dask "
            "collection: the sorted partitioning ranks every sample against all "
            "others. Use partitioning='hash' (appendix E: each sample's partition "
            "depends on its content alone), which Dask fits exactly."
        )
    if est.embedding is not None:
        raise ValueError(
            f"{name}(embedding=...) cannot be fit on a Dask collection: the "
            "embedding is fit once on every sample, which would gather X. Fit "
            "the embedding yourself without labels (e.g. on a sample of X, or "
            "with a Dask-aware estimator), transform X with "
            "X.map_blocks(embedding.transform) (DataFrames: map_partitions), and "
            "fit with embedding=None."
        )
    if est.pass_unlabeled:
        raise ValueError(
            f"{name}(pass_unlabeled=True) cannot be fit on a Dask collection: "
            "every member would need every row on its worker. Fit an embedding "
            "on the unlabeled data first (see embedding=), or fit in memory."
        )


def _check_fit_params(fit_params, name):
    for key, value in fit_params.items():
        aligned = (
            is_dask_collection(value)
            or sp.issparse(value)
            or (
                value is not None
                and not np.isscalar(value)
                and hasattr(value, "__len__")
                and not isinstance(value, str | bytes | dict)
            )
        )
        if aligned:
            raise ValueError(
                f"{name}.fit on Dask input takes scalar fit parameters only; "
                f"{key!r} is a {type(value).__name__}. Sample-aligned parameters "
                "(sample_weight, ...) are not yet split with the rows: fit in "
                "memory, or fold the weights into the base estimator."
            )


# ---------------------------------------------------------------------------
# Worker side


def _concat(parts):
    """Concatenate row blocks of one kind (arrays, sparse, frames)."""
    first = parts[0]
    if sp.issparse(first):
        return sp.vstack(parts, format="csr")
    if hasattr(first, "iloc"):
        import pandas as pd

        return pd.concat(parts, axis=0)
    return np.concatenate(parts, axis=0)


def _labels(y):
    return column_or_1d(np.asarray(y), warn=False)


def _empty_piece(X, y):
    return {
        "X": take_rows(X, []),
        "h": np.zeros(0, np.uint64),
        "y": y[:0],
        "local": np.zeros(0, np.int64),
        "member": np.zeros(0, np.int64),
    }


def _split_block(est, X, y, n_groups):
    """Validate one block, place its rows, and cut it into one piece per group.

    Returns ``(facts, piece_0, ..., piece_{n_groups-1})``: the block's row
    count and distinct labels, and for every group of members the rows (with
    their hashes, raw labels, positions in the block and member) that train a
    member of that group. Placement is the estimator's own partitioner run on
    this block alone: hash partitioning places each row from its content, so
    the block's memberships are the rows' memberships in the whole data set.
    """
    X, y = _xy(X, y)
    y = _labels(y)
    n = len(X)
    if n == 0:  # an empty block: nothing to validate (check_array refuses it)
        if len(y):
            raise _misaligned(0, len(y))
        facts = {"n": 0, "n_labeled": 0, "labels": y, "content": None}
        return (facts, *(_empty_piece(X, y) for _ in range(n_groups)))
    X_members, X_content = est._check_X(X, reset=False)
    if len(y) != n:
        raise _misaligned(n, len(y))
    unlabeled = est._unlabeled_mask(y)
    facts = {
        "n": n,
        "n_labeled": int((~unlabeled).sum()),
        "labels": np.unique(y),
        # what the fit's content checks read of this block; combined at home,
        # so they warn as the whole data would, once
        "content": est._content_facts(X_content),
    }
    h = content_hash(X_content)
    # labels only order a partition's rows; membership comes from content
    part = est._partition(X_content, h, ~unlabeled, np.zeros(n, dtype=np.int64), [])
    member = np.concatenate(
        [np.full(len(r), j, dtype=np.int64) for j, r in enumerate(part.rows)]
    )
    local = np.concatenate([np.asarray(r, dtype=np.int64) for r in part.rows])
    group = member % n_groups
    pieces = []
    for g in range(n_groups):
        sel = np.flatnonzero(group == g)
        r = local[sel]
        pieces.append(
            {
                "X": take_rows(X_members, r),
                "h": h[r],
                "y": y[r],
                "local": r,
                "member": member[sel],
            }
        )
    return (facts, *pieces)


def _encode(y, classes):
    index = {}
    for i, c in enumerate(classes.tolist()):
        index.setdefault(c, i)
    return np.array([index[v] for v in y.tolist()], dtype=np.int64).reshape(-1)


def _layout(X):
    """:func:`row_digests`'s layout of an input with no rows (it digests rows).

    The layout depends on the kind, columns and dtypes only: it is taken from
    one made-up row of the same columns and dtypes.
    """
    if len(X):
        return row_digests(take_rows(X, [0]))[1]
    if hasattr(X, "columns"):
        import pandas as pd

        one = pd.DataFrame(
            {
                i: np.zeros(1, dtype=d)
                if isinstance(d, np.dtype)
                else pd.array([None], dtype=d)
                for i, d in enumerate(X.dtypes)
            }
        )
        one.columns = X.columns
        return row_digests(one)[1]
    return row_digests(np.zeros((1, *X.shape[1:]), dtype=X.dtype))[1]


def _fit_group(
    estimator,
    fit_params,
    n_samples,
    classes,
    members,
    seeds,
    previous,
    member_threads,
    torch_member,
    *pieces,
):
    """Order, fingerprint and fit the members of one group, on its worker."""
    X_all = _concat([p["X"] for p in pieces])
    h = np.concatenate([p["h"] for p in pieces])
    y = _encode(np.concatenate([p["y"] for p in pieces]), classes)
    member = np.concatenate([p["member"] for p in pieces])
    local = np.concatenate([p["local"] for p in pieces])
    block = np.concatenate(
        [np.full(len(p["local"]), b, dtype=np.int64) for b, p in enumerate(pieces)]
    )
    # as the in-memory fit: no parameters, no bytes; scalars only (checked)
    extra = (
        params_digest(fit_params, np.zeros(0, np.int64), n_samples)
        if fit_params
        else b""
    )
    out = []
    if previous is None:
        previous = [None] * len(members)
    for m, seed, old in zip(members, seeds, previous, strict=True):
        sel = np.flatnonzero(member == m)
        # global position first (blocks in order, rows in block order) ...
        sel = sel[np.lexsort((local[sel], block[sel]))]
        X_m, y_m = take_rows(X_all, sel), y[sel]
        # ... then the canonical order, with the in-memory fit's tie-breaks
        order = canonical_order(X_m, h[sel], tiebreak=[y_m])
        X_m, y_m, sel = take_rows(X_m, order), y_m[order], sel[order]
        present = np.unique(y_m)
        kind = "empty" if not len(sel) else "constant" if len(present) == 1 else "fit"
        if len(sel):
            digests, layout = row_digests(X_m)
        else:  # an empty member: no rows to digest, the layout still counts
            digests, layout = np.zeros((0, 16), np.uint8), _layout(X_all)
        fingerprint = member_fingerprint(
            kind, seed, digests, layout, np.arange(len(sel)), y_m, extra
        )
        fitted = None
        keep = old == fingerprint  # a warm refit keeps this member
        if kind == "fit" and not keep:
            task = MemberTask(
                index=m, fit_rows=np.arange(len(sel)), own_rows=None, seed=int(seed)
            )
            source = ArraySource(X_m, y_m, fit_params)
            (fitted,) = _fit_batch(
                estimator, source, [task], member_threads, torch_member
            )
        out.append(
            {
                "index": m,
                "kind": kind,
                "constant": int(present[0]) if kind == "constant" else -1,
                "fingerprint": fingerprint,
                "member": fitted,
                "block": block[sel],
                "local": local[sel],
            }
        )
    return out


# ---------------------------------------------------------------------------
# Fit (client side)


def _head(X, n):
    """The first ``n`` rows of X or fewer (at least one when X has one): for
    the column checks and the checks on the fitted ensemble."""
    if _kind(X) == "array":
        return X[:n].compute()
    head = X.head(n)
    if len(head) == 0:
        head = X.head(n, npartitions=-1)
    return head


def _n_groups(client, n_members, n_blocks):
    try:
        workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    except TypeError:  # older distributed: no n_workers argument
        workers = max(1, len(client.scheduler_info()["workers"]))
    return int(max(1, min(n_members, max(4 * workers, min(n_blocks, 64)))))


def _content_warnings(est, facts):
    """The fit's content warnings, from every block's facts: what the whole
    data would warn about (a column beyond ``2**53`` in one block and with a
    fraction in another is not lossy), each warning once."""
    est._warn_content([f["content"] for f in facts if f["content"] is not None])


# training rows whose member input the checks on the fitted ensemble read (as
# the in-memory fit's run-off check reads the first 64)
_HEAD_ROWS = 64


def dask_fit(est, X, y, fit_params):
    """``est.fit(X, y, **fit_params)`` for Dask ``X`` and ``y`` (see module doc).

    Sets the same fitted state as the in-memory fit of
    ``(X.compute(), y.compute())``, with ``estimators_samples_`` holding
    positions in the collection's row order. The steps are the in-memory
    fit's (``PartitionEnsemble._fit_start``, ``_check_fit_data``,
    ``_reusable``, ``_fit_finish``); what differs is where the rows are
    validated, placed and fit: on the workers, block by block.
    """
    import dask

    name = type(est).__name__
    client = _client(name)
    _check_ssdpa(est, name)
    blocks = _blocks(X, y, name)
    _check_fit_params(fit_params, name)
    estimator, previous = est._fit_start()
    est._text_input = False
    # n_features_in_, feature_names_in_; the member input of the first rows
    X_head, _ = est._check_X(_head(X, _HEAD_ROWS), reset=True)
    n_members = est.k * est._n_spread()
    shifts = spread_shifts(est.k, est._n_spread())

    # one pass over the data: validate, hash, place and cut every block; the
    # pieces stay on the workers, only each block's facts come back
    worker_est = client.scatter(copy.copy(est), broadcast=True)
    n_groups = _n_groups(client, n_members, len(blocks))
    split = client.compute(
        [
            dask.delayed(_split_block, pure=False)(worker_est, xb, yb, n_groups)
            for xb, yb in blocks
        ]
    )
    facts = client.gather([client.submit(operator.getitem, f, 0) for f in split])
    sizes = np.array([f["n"] for f in facts], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    n_samples = int(offsets[-1])
    n_labeled = sum(f["n_labeled"] for f in facts)
    labels = [f["labels"] for f in facts if len(f["labels"])]
    if not labels:
        raise ValueError(
            "Found array with 0 sample(s) (shape=(0, ...)) while a minimum of 1 "
            f"is required by {name}."
        )
    y_unique, unlabeled = est._check_y(np.unique(np.concatenate(labels)))
    if n_labeled == 0:
        raise ValueError(est._no_targets_message)
    # the label set from the distinct labels (a small array)
    _, _, target_state = est._fit_targets(y_unique, ~unlabeled)
    classes = target_state["classes_"]
    shim = SimpleNamespace(
        shape=(n_samples, getattr(est, "n_features_in_", 1)),
        nbytes=X.nbytes if _kind(X) == "array" else None,
    )
    # members come back from the workers: remote
    params = est._check_fit_data(
        estimator, fit_params, n_samples, n_labeled, shim, remote=True
    )
    _content_warnings(est, facts)

    seeds = member_seeds(est._base_seed(), n_members)
    key, reuse = est._reusable(previous)
    old = previous["fingerprints"] if reuse else None
    if old is not None and len(old) != n_members:
        old = None

    torch_member = involves_torch(estimator)
    member_threads = get_config()["member_threads"]
    # each piece is its own key, so a block's tuple is released as soon as its
    # pieces are taken, and a piece as soon as its group is fit
    pieces = [
        [client.submit(operator.getitem, f, g + 1) for f in split]
        for g in range(n_groups)
    ]
    del split
    tasks = []
    for g in range(n_groups):
        mine = np.arange(g, n_members, n_groups)
        tasks.append(
            client.submit(
                _fit_group,
                estimator,
                params,
                n_samples,
                classes,
                mine.tolist(),
                seeds[mine].tolist(),
                None if old is None else [old[j] for j in mine],
                member_threads,
                torch_member,
                *pieces[g],
                pure=False,
            )
        )
    del pieces
    results = client.gather(tasks)
    del tasks

    # the plan the workers fit, as a value (rows: positions in the collection)
    members = [None] * n_members
    build = np.ones(n_members, dtype=bool)
    kinds = [None] * n_members
    fingerprints = [None] * n_members
    constants = np.full(n_members, -1, dtype=np.int64)
    rows = [None] * n_members
    for group in results:
        for r in group:
            j = r["index"]
            rows[j] = np.asarray(offsets[r["block"]] + r["local"], dtype=np.int64)
            kinds[j] = r["kind"]
            fingerprints[j] = r["fingerprint"]
            constants[j] = r["constant"]
            if old is not None and old[j] == r["fingerprint"]:
                build[j] = False  # _fit_finish takes the previous member
            elif r["kind"] == "constant":
                members[j] = constant_member(r["constant"], len(rows[j]))
            else:
                members[j] = r["member"]
    plan = FitPlan(
        partition=Partition(rows=rows, shifts=shifts),
        kinds=tuple(kinds),
        seeds=seeds,
        constants=constants,
        fingerprints=tuple(fingerprints),
    )
    return est._fit_finish(
        estimator, plan, members, build, previous, key, target_state, X_head
    )


# ---------------------------------------------------------------------------
# Predict (lazy)


def _apply(X, est, method):
    """One block's output of a predict-like method, as one array."""
    index = {c: i for i, c in enumerate(est.classes_.tolist())}
    if method == "predict_certified":
        y_pred, radius = est.predict_certified(X)
        winner = [index[v] for v in y_pred.tolist()]
        return np.column_stack([winner, radius]).astype(np.int64)
    if method == "certificate_report":
        report = est.certificate_report(X)
        winner = [index[v] for v in report.y_pred.tolist()]
        runner = [index[v] for v in report.runner_up.tolist()]
        return np.column_stack(
            [winner, report.radius, runner, report.targeted_radius, report.votes]
        ).astype(np.int64)
    return getattr(est, method)(X)


def _take_classes(idx, classes):
    return classes[idx]


def dask_method(est, X, method):
    """Lazy ``est.<method>(X)`` for a Dask ``X``: blocks map over a scattered
    copy of the fitted estimator, chunked like ``X`` along the rows."""
    import dask.array as da
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    name = type(est).__name__
    kind = _kind(X)
    if kind == "series" or kind is None:
        raise ValueError(
            f"{name}.{method} on Dask input needs a 2-D X (a DataFrame or an "
            f"Array); got {type(X).__name__}."
        )
    client = _client(name)
    fitted = client.scatter(est, broadcast=True)
    n_classes, n_members = est.n_classes_, est.n_members_
    new_label = est.classes is None  # the report's extra rival: a new label
    n_targets = n_classes + int(new_label)
    width, dtype = {
        "predict": ((), est.classes_.dtype),
        "predict_proba": ((n_classes,), np.float64),
        "vote_counts": ((n_classes,), np.int64),
        "member_predictions": ((n_members,), np.int64),
        "member_scores": ((n_members, n_classes), np.float64),
        "predict_certified": ((2,), np.int64),
        "certificate_report": ((3 + n_targets + n_classes,), np.int64),
    }[method]
    if kind == "array":
        if X.ndim != 2:
            raise ValueError(
                f"{name}.{method} on Dask input needs a 2-D X; got ndim={X.ndim}."
            )
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        if len(width) == 0:
            out = X.map_blocks(
                _apply,
                fitted,
                method,
                dtype=dtype,
                drop_axis=1,
                meta=np.empty(0, dtype),
            )
        elif len(width) == 1:
            out = X.map_blocks(
                _apply,
                fitted,
                method,
                dtype=dtype,
                chunks=(X.chunks[0], width),
                meta=np.empty((0, 0), dtype),
            )
        else:
            out = X.map_blocks(
                _apply,
                fitted,
                method,
                dtype=dtype,
                chunks=(X.chunks[0], (width[0],), (width[1],)),
                new_axis=2,
                meta=np.empty((0, 0, 0), dtype),
            )
    else:
        meta = np.empty((0, *width), dtype=dtype)
        out = X.map_partitions(_apply, fitted, method, meta=meta)
        if not isinstance(out, da.Array):  # pragma: no cover - older dask
            out = out.to_dask_array()
    if method == "predict_certified":
        y_pred = out[:, 0].map_blocks(
            _take_classes, est.classes_, dtype=est.classes_.dtype
        )
        return y_pred, out[:, 1]
    if method == "certificate_report":
        from ._report import CertificateReport

        T = n_targets
        classes = est.classes_
        return CertificateReport(
            y_pred=out[:, 0].map_blocks(_take_classes, classes, dtype=classes.dtype),
            radius=out[:, 1],
            runner_up=out[:, 2].map_blocks(_take_classes, classes, dtype=classes.dtype),
            targeted_radius=out[:, 3 : 3 + T],
            votes=out[:, 3 + T :],
            classes=classes,
            new_label=new_label,
        )
    return out
