"""The joblib engine: build the members a fit plan asks for, collect member outputs.

Module-level workers (joblib ships them to processes); no estimator state. The
engine receives a template (the base estimator), a :class:`~skdpa._plan.FitPlan`,
the members to build and a row source (:mod:`skdpa._sources`); each worker
materialises its own members' rows from the source. A member is a deterministic
function of its training rows and its seed: it is cloned, seeded through its
``random_state`` parameters (and through torch, in the process that fits it,
when the member involves torch), fit, and sent back. Outputs are gathered into
one array per call: class indices (``-1`` where a member abstains) or score
vectors (NaN rows where it abstains).
"""

import sys
from contextlib import ExitStack, nullcontext

import numpy as np
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from ._members import involves_torch, num_rows, random_state_keys, set_random_states
from ._warnings import collect_member_warnings, member_scope

__all__ = ["check_member_travels", "fit_members", "member_outputs"]


def _in_remote_dask_worker():
    """Running a task in a dask worker whose results are pickled to the caller."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        worker = distributed.get_worker()
    except ValueError:  # not inside a dask task
        return False
    # in-process workers (LocalCluster(processes=False)) hand results over
    # without pickling them
    return not str(getattr(worker, "address", "")).startswith("inproc://")


def check_member_travels(member):
    """Fail fast, with the cause, if a fitted member cannot leave a dask worker.

    joblib's loky backend reports a result it cannot pickle at once; under
    joblib's dask backend the worker only logs the failure and the caller
    waits forever. So in a dask worker process the fitted member is pickled
    here first, as dask would, and an error names the cause and the remedy.
    Elsewhere this does nothing.

    Parameters
    ----------
    member : object
        A fitted member.

    Raises
    ------
    pickle.PicklingError
        In a dask worker process, when the member cannot be pickled.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from skdpa._engine import check_member_travels
    >>> check_member_travels(DummyClassifier().fit([[0], [1]], [0, 1]))
    """
    if not _in_remote_dask_worker():
        return
    import pickle

    import cloudpickle  # a dependency of dask, whose worker we are in

    try:
        cloudpickle.dumps(member)
    except Exception as exc:
        cause = f"{type(exc).__name__}: {exc}"
        by_name = isinstance(exc, pickle.PicklingError) or "attribute lookup" in cause
        if by_name:
            remedy = (
                "skorch pickles a fitted net's module with the standard pickle "
                "module, which finds every class and function by module and name; "
                "a dask worker knows only the names defined at the top level of "
                "your script (not inside a function or under `if __name__ == "
                "'__main__':`). Define the torch module, and anything else the "
                "member uses, at the top level of an importable file and import "
                "it, or fit with n_jobs=1."
            )
        else:
            remedy = (
                "Everything a fitted member holds must be picklable to come back "
                "from a worker process; or fit with n_jobs=1."
            )
        raise pickle.PicklingError(
            f"The fitted member ({type(member).__name__}) cannot be sent back "
            f"from this dask worker: {cause}. Under joblib's dask backend a "
            "result that cannot be pickled never reaches the caller (the fit "
            f"would hang), so the fit stops here. {remedy}"
        ) from None


def _thread_limits(member_threads, torch_member):
    """Context limiting BLAS/OpenMP (and torch, for torch members) threads."""
    if member_threads is None:
        return nullcontext()
    stack = ExitStack()
    stack.enter_context(threadpool_limits(limits=member_threads))
    if torch_member:
        from .torch import torch_threads

        stack.enter_context(torch_threads(member_threads))
    return stack


def _describe(index, estimator, n_rows):
    return f"member {index} ({type(estimator).__name__}, fit on {n_rows} rows)"


def _add_note(exc, note):
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)


def _fit_batch(template, source, batch, member_threads, torch_member):
    """Fit the members of one batch; each worker takes its rows from ``source``."""
    fitted = []
    keys = random_state_keys(template)  # the same for every clone
    with _thread_limits(member_threads, torch_member):
        for task in batch:
            member = set_random_states(clone(template), task.seed, keys)
            X_fit, y_fit, params = source.member_data(task)
            try:
                with member_scope(task.index):
                    if torch_member:
                        from .torch import seeded_fit

                        member = seeded_fit(
                            member,
                            X_fit,
                            y_fit,
                            task.seed,
                            params,
                            n_threads=member_threads,
                        )
                    else:
                        member.fit(X_fit, y_fit, **params)
                check_member_travels(member)
            except Exception as exc:
                where = _describe(task.index, member, task.n_rows)
                _add_note(exc, f"skdpa: raised while fitting {where}.")
                raise
            fitted.append(member)
    return fitted


def _fit_group(template, source, group, size, member_threads):
    """Fit one group of members at once (``template.group_fit``).

    Member ``j`` takes slot ``j % size`` of a stacked model with ``size``
    slots: the layout depends on member indices only, never on the other
    members' data. ``size=None``: a template that trains each member alone
    takes any set of members, in slots ``0, 1, ...``.
    """
    data = []
    for task in group:
        X_fit, y_fit, params = source.member_data(task)
        if params:
            raise TypeError(
                f"{type(template).__name__} trains members in groups and takes no "
                f"fit parameters; got {sorted(params)}."
            )
        data.append((X_fit, y_fit, task.seed))
    first = group[0].index
    with _thread_limits(member_threads, True):
        try:
            with member_scope(first):
                if size is None:
                    fitted = template.group_fit(data, group_size=len(group))
                else:
                    slots = [task.index % size for task in group]
                    fitted = template.group_fit(data, slots=slots, group_size=size)
        except Exception as exc:
            where = ", ".join(str(task.index) for task in group)
            _add_note(exc, f"skdpa: raised while fitting the group of members {where}.")
            raise
    for member in fitted:
        check_member_travels(member)
    return fitted


def _run_units(fit_unit, template, source, units, extra, members, n_jobs, verbose, bar):
    """Fit units of tasks (batches or groups) in parallel; place each member.

    ``fit_unit(template, source, unit, *extra)`` returns the unit's fitted
    members in task order; warnings raised in workers are collected and
    reported once.
    """
    # units that carry their own rows (pickled: nothing to memory-map, so no
    # temporary file for joblib to wait on after the last unit). Parallel's
    # own settings stay the same either way: loky restarts its workers when
    # they change between calls.
    ship = _ships_unit_rows(source, units, n_jobs)
    parallel = Parallel(
        n_jobs=n_jobs,
        verbose=0 if bar is not None else verbose,
        return_as="generator" if bar is not None else "list",
    )
    n_tasks = sum(len(unit) for unit in units)
    with collect_member_warnings(n_tasks, "fitting") as member_warnings:
        results = parallel(
            delayed(member_warnings.worker(fit_unit))(
                template, source.unit_rows(unit) if ship else source, unit, *extra
            )
            for unit in units
        )
        for unit, returned in zip(units, results, strict=True):
            fitted = member_warnings.unwrap(returned)
            for task, member in zip(unit, fitted, strict=True):
                members[task.index] = member
            if bar is not None:
                bar.update(len(fitted))


# Up to this many bytes of rows, units carry their own rows rather than share
# the memory-mapped source: with cheap members (GaussianNB, k=50, n_jobs=2)
# shipping was faster at 18 and 36 MiB of rows (0.14 s against 0.23 s at 18
# MiB: no 0.1 s wait for the temporary file), even at 72 MiB (0.36 s against
# 0.34 s) and slower at 179 MiB (0.98 s against 0.78 s).
_SHIP_BYTES = 48 * 2**20


def _ships_unit_rows(source, units, n_jobs):
    """Whether each unit of work gets its own members' rows, not the source.

    With workers in other processes and members that see disjoint rows (DPA:
    no row is fit by more than one member), the units' rows together are at
    most the training set. Shipping each unit its rows (pickled) then beats
    sharing the source, which loky memory-maps into a temporary file and,
    once the last unit is done, waits for the workers to release (0.1 s per
    try), up to some tens of MiB of rows (:data:`_SHIP_BYTES`); beyond that
    memory-mapping is cheaper. An input loky cannot memory-map (a sequence,
    object columns) would be pickled whole into every unit: its units always
    carry their rows. Members fit on every row (SS-DPA's ``pass_unlabeled``)
    keep the source, as do fits with a large fit parameter every member gets
    whole.
    """
    from joblib import effective_n_jobs

    if effective_n_jobs(n_jobs) == 1 or not hasattr(source, "unit_rows"):
        return False
    if not source.params_sliced():
        return False  # a large parameter would travel once per unit
    shipped = sum(len(task.fit_rows) for unit in units for task in unit)
    if shipped > source.n_rows:
        return False
    per_row = source.mapped_bytes_per_row()
    return per_row is None or per_row * shipped <= _SHIP_BYTES


# units of work for members trained alone (see _fit_groups)
_ALONE_UNITS = 64


def _fit_groups(template, tasks, members, source, n_jobs, verbose, bar, threads):
    """Group path of :func:`fit_members`: groups by member index, in parallel.

    A group has ``min(group_size, n_members)`` slots (no idle slots when the
    ensemble has fewer members than a group); that depends on ``k`` alone.
    """
    size = max(1, min(int(template.group_size), len(members)))
    groups = {}
    for task in tasks:
        groups.setdefault(task.index // size, []).append(task)
    groups = [groups[g] for g in sorted(groups)]
    alone = getattr(template, "_trains_members_alone", None)
    if callable(alone) and alone():
        # no member sees its group: split the work between workers as for
        # members fitted one by one, but finer: such members (networks) cost
        # far more than a unit's dispatch, and with a few coarse units the
        # last one runs while the other workers idle (k=20 on 2 workers in
        # 8 units: about a tenth of the fit). Up to _ALONE_UNITS units.
        from joblib import effective_n_jobs

        workers = effective_n_jobs(n_jobs)
        if workers > 1:
            # largest partitions first, so the last units to run are the
            # shortest (members land by index whatever the order)
            tasks = sorted(tasks, key=lambda task: (-len(task.fit_rows), task.index))
        groups = _batches(tasks, 1 if workers == 1 else max(4 * workers, _ALONE_UNITS))
        size = None
    _run_units(
        _fit_group,
        template,
        source,
        groups,
        (size, threads),
        members,
        n_jobs,
        verbose,
        bar,
    )


def _batches(items, n_batches):
    n_batches = max(1, min(len(items), n_batches))
    bounds = np.linspace(0, len(items), n_batches + 1).astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _progress_bar(total, desc, verbose):
    from ._progress import progress_bar

    return progress_bar(total, desc, verbose)


def constant_member(c, n_rows):
    """A single-class partition's member: votes class index ``c`` without
    fitting the base estimator (many refuse one class); still a deterministic
    function of the partition."""
    return DummyClassifier(strategy="constant", constant=int(c)).fit(
        np.zeros((n_rows, 1)), np.full(n_rows, int(c))
    )


def fit_members(
    template, plan, build, source, *, n_jobs, verbose, desc, member_threads
):
    """Build the members of ``plan`` marked in ``build``, fitting in parallel.

    Parameters
    ----------
    template : estimator
        The base estimator, cloned and seeded per member.
    plan : FitPlan
        Rows, seeds, kinds and constants of every member.
    build : ndarray of bool
        Members to build; the others are left as ``None`` (reused by a warm
        refit).
    source : row source
        Where a worker gets a member's rows (:class:`skdpa._sources.ArraySource`).

    Returns
    -------
    members : list of length ``plan.n_members``
        Fitted members where built, ``DummyClassifier`` for single-class
        partitions, ``None`` for empty ones and those not built.

    The progress bar counts all members: those that need no fit are ticked at
    once.
    """
    from joblib import effective_n_jobs

    members = [None] * plan.n_members
    tasks = []
    for j in np.flatnonzero(build):
        kind = plan.kinds[j]
        if kind == "constant":
            members[j] = constant_member(plan.constants[j], len(plan.partition.rows[j]))
        elif kind == "fit":
            tasks.append(plan.task(int(j)))
    bar = _progress_bar(plan.n_members, desc, verbose)
    if bar is not None:
        bar.update(plan.n_members - len(tasks))
    if not tasks:
        if bar is not None:
            bar.close()
        return members
    if callable(getattr(template, "group_fit", None)):
        _fit_groups(
            template, tasks, members, source, n_jobs, verbose, bar, member_threads
        )
        if bar is not None:
            bar.close()
        return members
    workers = effective_n_jobs(n_jobs)
    # A few batches per worker balance the load while keeping the joblib
    # overhead per member small; the source travels once per batch (loky
    # memory-maps large arrays), each task carries only its indices.
    n_batches = 1 if workers == 1 else 4 * workers
    if bar is not None:
        n_batches = max(n_batches, 20)  # the bar moves about every 5%
    torch_member = involves_torch(template)
    batches = _batches(tasks, n_batches)
    _run_units(
        _fit_batch,
        template,
        source,
        batches,
        (member_threads, torch_member),
        members,
        n_jobs,
        verbose,
        bar,
    )
    if bar is not None:
        bar.close()
    return members


# ---------------------------------------------------------------------------
# Outputs


def _one_per_row(pred, n_samples, where, what):
    """``pred`` as a 1-D array of one entry per row (``what`` says of what)."""
    pred = np.asarray(pred)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred.ravel()
    if pred.shape != (n_samples,):
        raise ValueError(
            f"{where} returned predictions of shape {pred.shape}; expected "
            f"({n_samples},): {what}."
        )
    return pred


def _check_prediction(pred, n_samples, n_classes, where):
    pred = _one_per_row(pred, n_samples, where, "one class index per sample")
    if pred.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} returned predictions of dtype {pred.dtype} (e.g. "
            f"{pred[:3].tolist()!r}); members are fit on class indices "
            f"0..{n_classes - 1} and must predict those."
        )
    if pred.dtype.kind == "f":
        bad = ~np.isfinite(pred) | (pred != np.round(pred))
        if bad.any():
            raise ValueError(
                f"{where} returned {pred[bad][0].item()!r}, which is not a class "
                f"index; members must predict class indices 0..{n_classes - 1} "
                "(is it a regressor or a probability output?)."
            )
    out = pred.astype(np.int64)
    outside = (out < 0) | (out >= n_classes)
    if outside.any():
        raise ValueError(
            f"{where} predicted {pred[outside][0].item()!r}, which is not a class "
            f"index in [0, {n_classes}): members are fit on labels encoded as "
            "class indices and must predict those."
        )
    return out


def _global_columns(values, member, n_classes, where):
    """Place a member's per-class output columns at their global class indices."""
    values = np.asarray(values, dtype=np.float64)
    n_samples, width = values.shape
    member_classes = getattr(member, "classes_", None)
    if member_classes is not None and len(member_classes) == width:
        cols = np.asarray(member_classes)
        if cols.dtype.kind not in "iu" and not (
            cols.dtype.kind == "f" and np.all(cols == np.round(cols))
        ):
            raise ValueError(
                f"{where} has classes_ {cols[:5].tolist()!r}; members are fit on "
                "class indices and must keep them."
            )
        cols = cols.astype(np.int64)
    elif width == n_classes:
        cols = np.arange(n_classes)  # positional outputs (e.g. torch logits)
    else:
        raise ValueError(
            f"{where} returned {width} score columns for {n_classes} classes and "
            f"has classes_={member_classes!r}; expected one column per entry of "
            "its classes_ or one per class."
        )
    if cols.size and (cols.min() < 0 or cols.max() >= n_classes):
        raise ValueError(f"{where} has classes_ outside [0, {n_classes}): {cols!r}.")
    if np.isnan(values).any():
        raise ValueError(f"{where} returned NaN scores.")
    out = np.full((n_samples, n_classes), -np.inf)
    out[:, cols] = values
    return out


def _check_value(pred, n_samples, where):
    """A regression member's predictions: one finite number per row."""
    pred = _one_per_row(
        pred, n_samples, where, "one number per sample (single-output regressors)"
    )
    if pred.dtype.kind not in "biuf":
        raise ValueError(
            f"{where} returned predictions of dtype {pred.dtype}; members must "
            "predict numbers."
        )
    pred = pred.astype(np.float64)
    if not np.isfinite(pred).all():
        raise ValueError(
            f"{where} returned a non-finite prediction "
            f"({float(pred[~np.isfinite(pred)][0])!r}); member outputs must be finite."
        )
    return pred


def _member_block(member, X, kind, method, n_classes, where, direct=None):
    """One fitted member's output on X: indices (n,), scores (n, C) or values (n,).

    ``direct(member)``, when given, is the member's ``predict_proba(X)`` by
    :mod:`skdpa.torch._direct`'s fast path, or None (use its own methods).
    """
    if kind == "values":
        return _check_value(member.predict(X), num_rows(X), where)
    proba = None if direct is None else direct(member)
    if kind == "predict" or method == "predict":
        raw = member.predict(X) if proba is None else proba.argmax(axis=1)
        pred = _check_prediction(raw, num_rows(X), n_classes, where)
        if kind == "predict":
            return pred
        out = np.zeros((len(pred), n_classes))
        out[np.arange(len(pred)), pred] = 1.0
        return out
    values = getattr(member, method)(X) if proba is None else proba
    values = np.asarray(values, dtype=np.float64)
    if method == "decision_function" and values.ndim == 1:
        classes = getattr(member, "classes_", np.arange(2))
        if len(classes) != 2:
            raise ValueError(
                f"{where} returned a 1-D decision_function with "
                f"{len(classes)} classes; expected 2."
            )
        values = np.column_stack([-values, values])
    if values.ndim != 2 or values.shape[0] != num_rows(X):
        raise ValueError(
            f"{where} returned {method} of shape {values.shape}; expected "
            f"({num_rows(X)}, n_classes)."
        )
    return _global_columns(values, member, n_classes, where)


def _output_batch(batch, X, kind, method, n_classes, out, direct=None):
    """Write each member's output into its column of ``out`` (shared memory)."""
    for index, member, n_rows in batch:
        where = _describe(index, member, n_rows)
        try:
            with member_scope(index):
                out[:, index] = _member_block(
                    member, X, kind, method, n_classes, where, direct
                )
        except Exception as exc:
            _add_note(exc, f"skdpa: raised by {where} while predicting.")
            raise


def member_outputs(
    members,
    constants,
    sizes,
    X,
    *,
    kind,
    method=None,
    n_classes=None,
    n_jobs,
    member_threads,
    torch_member=None,
):
    """Every member's output on ``X`` as one array.

    Parameters
    ----------
    members : list
        Fitted members; ``None`` abstains.
    constants : ndarray of int or None
        Class index a single-class member votes for without being called, or
        -1; ``None``: every member is called (regression).
    sizes : ndarray of int
        Rows each member was fit on (for error messages).
    kind : {"predict", "scores", "values"}
        Class indices (n_samples, n_members), -1 where a member abstains;
        scores (n_samples, n_members, n_classes), NaN rows where it abstains;
        or a regressor's predictions (n_samples, n_members), NaN where it
        abstains, each checked finite.
    method : {"predict_proba", "decision_function", "predict"}, default=None
        Where scores come from (``"predict"``: one-hot of the prediction).
        Classes a member never saw score ``-inf`` (one-hot: ``0``).
    n_classes : int, default=None
        Number of classes (class outputs only).
    torch_member : bool, default=None
        Whether a member involves torch (torch's thread limit, the direct
        path for skorch members). ``None``: decided member by member (any
        called member). The ensembles pass what their base estimator says:
        every member they call is a clone of it (a warm refit reuses members
        only under the same warm key, which covers the estimator's
        parameters), and deciding once saves a parameter walk per member.
    """
    n_samples = num_rows(X)
    n_members = len(members)
    if kind == "predict":
        out = np.full((n_samples, n_members), -1, dtype=np.int64)
    elif kind == "values":
        out = np.full((n_samples, n_members), np.nan)
    else:
        out = np.full((n_samples, n_members, n_classes), np.nan)
    absent = 0.0 if method == "predict" else -np.inf
    work = []
    for j, member in enumerate(members):
        if member is None:
            continue
        c = -1 if constants is None else constants[j]
        if c >= 0:
            if kind == "predict":
                out[:, j] = c
            else:
                out[:, j, :] = absent
                out[:, j, c] = 1.0
        else:
            work.append((j, member, int(sizes[j])))
    if not work:
        return out
    from joblib import effective_n_jobs

    n_threads = effective_n_jobs(n_jobs)
    batches = _batches(work, n_threads)
    # Threads sharing memory: members are read, never copied, and each writes
    # its own column of ``out``, so no second copy of the outputs is held.
    # Most predict methods release the GIL (NumPy, torch). Each thread gets
    # member_threads BLAS threads, so n_jobs threads do not oversubscribe.
    if torch_member is None:
        torch_member = any(involves_torch(m) for _, m, _ in work)
    direct = None
    if torch_member and (kind == "predict" or method in ("predict", "predict_proba")):
        # skorch members: call the fitted modules directly (same values)
        from .torch._direct import direct_predictor

        direct = direct_predictor(X)
    with (
        _thread_limits(member_threads, torch_member),
        collect_member_warnings(len(work), "predicting") as member_warnings,
    ):
        parts = Parallel(n_jobs=n_jobs, require="sharedmem")(
            delayed(member_warnings.worker(_output_batch))(
                batch, X, kind, method, n_classes, out, direct
            )
            for batch in batches
        )
        for part in parts:
            member_warnings.unwrap(part)
    return out
