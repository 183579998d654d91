"""Member warnings, collected and shown once each with a count.

An ensemble of ``k`` clones repeats every warning ``k`` times (a
``ConvergenceWarning`` per member, a feature-name warning per member at
predict). The engine runs member fits and predicts inside
:func:`collect_member_warnings`; each distinct warning (category and message)
is then shown once, saying how many members raised it.

How warnings reach the collector:

- in the calling process (sequential runs, thread workers), one process-wide
  display hook is installed while any collection is open; each warning goes
  to the collection of the thread that raised it (worker threads are told
  which by :meth:`MemberWarnings.worker`), and :func:`member_scope`
  (thread-local) says which member raised it. Collections may overlap in
  threads (a threaded grid search): each gets its own warnings;
- in worker processes (loky, dask), the function wrapped by
  :meth:`MemberWarnings.worker` records the warnings there and sends them back
  with its result, and :meth:`MemberWarnings.unwrap` hands them over.

Warnings raised outside any member (the library's own) are shown unchanged.
"""

import contextlib
import os
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

__all__ = ["collect_member_warnings", "member_scope"]

_current = threading.local()


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _user_stacklevel():
    """``stacklevel`` of the first caller outside skdpa, scikit-learn and the
    standard library's ``contextlib``: the warning points at the user's line."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None:
        filename = str(Path(frame.f_code.co_filename).resolve())
        inside = filename.startswith(_PACKAGE_DIR) or (
            f"{os.sep}sklearn{os.sep}" in filename
        )
        if filename == str(Path(contextlib.__file__).resolve()):
            inside = True
        if not inside:
            return level
        frame = frame.f_back
        level += 1
    return 1


@contextmanager
def member_scope(index):
    """Mark warnings raised in this block (this thread) as member ``index``'s."""
    _reinstall_if_displaced()
    previous = getattr(_current, "member", None)
    _current.member = int(index)
    try:
        yield
    finally:
        _current.member = previous


def _record(message, category, filename, lineno):
    """A picklable record of one warning: category, text, member, origin."""
    return (
        category,
        str(message),
        getattr(_current, "member", None),
        filename,
        lineno,
    )


# One process-wide display hook, installed while any collection is open (in
# any thread) and removed when the last one closes: ``catch_warnings`` per
# collection would restore the global state out of order when collections
# overlap in threads. Each warning goes to the collection of the thread that
# raised it (thread-local); threads outside any collection are shown as usual.
_lock = threading.Lock()
_open = 0
_saved = None
_collections = {}


def _dispatch(message, category, filename, lineno, file=None, line=None):
    collector = _collections.get(getattr(_current, "collection", None))
    if collector is None:
        # a thread outside any collection (or a hook left behind by another
        # thread's catch_warnings): shown as it would be without us
        show = _saved[0] if _saved is not None else None
        if show is None or show is _dispatch:
            show = warnings._showwarning_orig
        return show(message, category, filename, lineno, file, line)
    collector.records.append(_record(message, category, filename, lineno))


# The stdlib's last step of showing a warning, which ``warnings.warn`` looks
# up on the module each time and which ``catch_warnings`` neither saves nor
# restores (it restores ``showwarning``). Hooking it too keeps a collecting
# thread's warnings collected when another thread's ``catch_warnings`` exit
# puts back a ``showwarning`` from before the hook (scikit-learn wraps every
# joblib task in one; in a dask worker, tasks run in several threads).
_STDLIB_SHOWWARNMSG = getattr(warnings, "_showwarnmsg", None)


def _dispatch_msg(msg):
    collector = _collections.get(getattr(_current, "collection", None))
    if collector is None:
        # not a collecting thread: the stdlib's path (it calls showwarning)
        return _STDLIB_SHOWWARNMSG(msg)
    collector.records.append(
        _record(msg.message, msg.category, msg.filename, msg.lineno)
    )


_ALWAYS = ("always", None, Warning, None, 0)


def _install():
    # every occurrence reaches the hook (not once per code location): the
    # collection counts members
    warnings.simplefilter("always")
    warnings.showwarning = _dispatch
    if _STDLIB_SHOWWARNMSG is not None:
        warnings._showwarnmsg = _dispatch_msg


def _reinstall_if_displaced():
    """Put the hook back if another thread's ``catch_warnings`` exit removed
    it while a collection is open.

    scikit-learn runs every joblib task inside ``warnings.catch_warnings()``
    (to pass the caller's filters on). In a worker process that runs tasks in
    several threads (a dask worker), a task that ends restores the warning
    state it saw when it started, possibly from before the hook: checked at
    the start of every member. The restore leaves ``warnings._showwarnmsg``
    alone (:func:`_dispatch_msg`), so a member of another thread that warns
    before its next member's start is still collected; only the filters it
    warns under may be the restored ones (with a "default" filter a repeat
    from the same line goes uncounted): a limit of process-global warning
    state, which every thread shares.
    """
    if _open and (
        warnings.showwarning is not _dispatch
        or (
            _STDLIB_SHOWWARNMSG is not None
            and warnings._showwarnmsg is not _dispatch_msg
        )
        or not warnings.filters
        or warnings.filters[0] != _ALWAYS
    ):
        with _lock:
            if _open:
                _install()


@contextmanager
def _collecting(collector):
    """Route this thread's warnings into ``collector`` for the block."""
    global _open, _saved
    key = id(collector)
    with _lock:
        if _open == 0:
            if warnings.showwarning is not _dispatch or _saved is None:
                _saved = (warnings.showwarning, warnings.filters[:])
            _install()
        _open += 1
        _collections[key] = collector
    previous = getattr(_current, "collection", None)
    _current.collection = key
    try:
        yield collector
    finally:
        _current.collection = previous
        with _lock:
            _open -= 1
            _collections.pop(key, None)
            if _open == 0:
                warnings.showwarning, warnings.filters[:] = _saved
                if _STDLIB_SHOWWARNMSG is not None:
                    warnings._showwarnmsg = _STDLIB_SHOWWARNMSG
                warnings._filters_mutated()


class _InWorker:
    """Picklable wrapper of a worker function: its warnings go to the
    collection that created it (same process, any thread), or travel back with
    the result (another process)."""

    def __init__(self, func, collection):
        self.func = func
        self.collection = collection
        self.caller_pid = os.getpid()

    def __call__(self, *args, **kwargs):
        if os.getpid() == self.caller_pid:
            previous = getattr(_current, "collection", None)
            _current.collection = self.collection
            try:
                return self.func(*args, **kwargs), []
            finally:
                _current.collection = previous
        local = MemberWarnings(0, "")
        with _collecting(local):
            result = self.func(*args, **kwargs)
        return result, local.records


class MemberWarnings:
    """The warnings of one engine call; shown on leaving the block."""

    def __init__(self, n_members, action):
        self.n_members = n_members
        self.action = action
        self.records = []

    def worker(self, func):
        """Wrap a worker function so its warnings reach this collection, from
        threads and from other processes alike; the wrapped function returns
        ``(result, records)`` for :meth:`unwrap`."""
        return _InWorker(func, id(self))

    def unwrap(self, returned):
        """Result of a :meth:`worker` function; keeps its warnings."""
        result, records = returned
        self.records.extend(records)
        return result

    def _emit(self):
        groups = {}
        for category, text, member, filename, lineno in self.records:
            if member is None:
                # not a member's: shown as raised
                warnings.warn_explicit(text, category, filename, lineno)
                continue
            members = groups.setdefault((category, text), [])
            if member not in members:
                members.append(member)
        for (category, text), members in groups.items():
            n = len(members)
            who = (
                f"member {members[0]}"
                if n == 1
                else f"{n} of {self.n_members} members (first: member {min(members)})"
            )
            warnings.warn(
                f"{text}\n[skdpa: shown once; raised by {who} while {self.action}.]",
                category,
                stacklevel=_user_stacklevel(),
            )


@contextmanager
def collect_member_warnings(n_members, action):
    """Collect the warnings of members fit or called in this block.

    Parameters
    ----------
    n_members : int
        Members called in the block (for the count in the message).
    action : str
        What they were doing (``"fitting"``, ``"predicting"``).

    Yields
    ------
    collector : MemberWarnings
        Wrap worker functions with its ``worker`` and pass their results to
        its ``unwrap``.
    """
    collector = MemberWarnings(n_members, action)
    try:
        with _collecting(collector):
            yield collector
    finally:
        # outside the collection: shown through the user's filters
        collector._emit()


# ---------------------------------------------------------------------------
# Run-off with members that rank nothing but their top class


def one_hot_members(scores, called):
    """Members whose every score row (of those given) is one-hot.

    A row is one-hot when every class but the top one gets the same score
    (``[0, 1, 0]``, ``[-inf, 2.5, -inf]``): the member ranks nothing below its
    vote. ``scores`` is ``(n_samples, n_members, n_classes)`` with NaN rows for
    abstaining members; ``called`` marks members whose scores come from the base
    estimator (single-class members vote one-hot by rule and are not counted).
    """
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    ranked = np.sort(scores, axis=2)
    # one-hot: the n_classes - 1 smallest values are all equal
    flat = (ranked[:, :, :-1] == ranked[:, :, :1]).all(axis=2)
    flat |= np.isnan(scores).all(axis=2)
    return np.flatnonzero(np.asarray(called) & flat.all(axis=0))


def warn_one_hot_runoff(scores, called, score_method):
    """Warn once when members give one-hot scores to a run-off election."""
    import numpy as np

    n_called = int(np.count_nonzero(called))
    if not n_called or np.asarray(scores).shape[2] < 3:
        # two classes: the run-off's second round is the first one
        return
    one_hot = one_hot_members(scores, called)
    if not len(one_hot):
        return
    source = (
        "have no predict_proba or decision_function, so their scores are "
        "one-hot predictions"
        if score_method == "predict"
        else f"give one-hot {score_method} scores on the first training rows"
    )
    warnings.warn(
        f"voting='runoff' with {len(one_hot)} of {n_called} fitted members that "
        f"{source}: the run-off's second round then counts every member that "
        "voted for neither finalist for the finalist with the smaller class "
        "index, and usually certifies less than voting='plurality'. Run-off "
        "needs graded scores (e.g. KNeighborsClassifier(n_neighbors=5, "
        "weights='distance'), LogisticRegression, GaussianNB), or use "
        "voting='plurality'.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )
