"""Library-wide settings: how many threads a member may use.

The ensembles parallelise across members (``n_jobs``); inside a member, BLAS,
OpenMP and torch thread pools would each start as many threads as there are
cores. For the small members DPA trains (a few hundred rows each) those threads
cost far more than they save: on a 2-core machine a LogisticRegression fit on a
100-row partition took 1.1-1.3 s with two BLAS threads and 0.04-0.07 s with
one. So members are fit and predict with ``member_threads=1`` thread per worker
by default, ``n_jobs=None`` included. Ensembles of a few large members can opt
out with :func:`config_context`.
"""

import threading
from contextlib import contextmanager
from numbers import Integral

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS = {"member_threads": 1}
_local = threading.local()


def _settings():
    if not hasattr(_local, "config"):
        _local.config = dict(_DEFAULTS)
    return _local.config


def get_config():
    """Current values of the library's settings.

    Returns
    -------
    config : dict
        ``{"member_threads": int or None}``.

    Examples
    --------
    >>> import skdpa
    >>> skdpa.get_config()["member_threads"]
    1
    """
    return dict(_settings())


def _check_member_threads(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(
            "member_threads must be None or an int >= 1 (threads per member fit "
            f"or prediction); got {value!r}."
        )
    return int(value)


def set_config(member_threads="unchanged"):
    """Set the library's settings for the current thread.

    Parameters
    ----------
    member_threads : int or None, default="unchanged"
        Threads each member may use for BLAS, OpenMP (through
        :mod:`threadpoolctl`) and torch's intra-op pool while it is fit or
        predicts, in every worker. ``1`` (the default) suits many small
        members; ``None`` leaves the libraries' own defaults (all cores), which
        suits a few large members fit one at a time (``n_jobs=1``).

    Examples
    --------
    >>> import skdpa
    >>> skdpa.set_config(member_threads=2)
    >>> skdpa.get_config()["member_threads"]
    2
    >>> skdpa.set_config(member_threads=1)
    """
    if member_threads != "unchanged":
        _settings()["member_threads"] = _check_member_threads(member_threads)


@contextmanager
def config_context(*, member_threads="unchanged"):
    """Temporarily change the library's settings (see :func:`set_config`).

    Parameters
    ----------
    member_threads : int or None, default="unchanged"
        Threads per member fit or prediction; ``None`` lifts the limit.

    Examples
    --------
    >>> import skdpa
    >>> with skdpa.config_context(member_threads=None):
    ...     skdpa.get_config()["member_threads"] is None
    True
    >>> skdpa.get_config()["member_threads"]
    1
    """
    saved = get_config()
    set_config(member_threads=member_threads)
    try:
        yield
    finally:
        _settings().update(saved)
