"""Row sources: where a worker gets the rows of the members it fits.

The engine never slices a global X by global indices itself: it hands each
worker a source and the tasks it should fit, and the worker materialises its
members' rows from the source. :class:`ArraySource` holds in-memory training
data (shipped once per batch; loky memory-maps large arrays). When the members
of a fit see disjoint rows (DPA), the engine instead ships each unit of work
only its own members' rows (:meth:`ArraySource.unit_rows`, a :class:`UnitRows`):
no array is memory-mapped, so no temporary file has to be cleaned up after
the fit (joblib waits 0.1 s per try for its workers to release one).
"""

import pickle
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils import _safe_indexing

from ._members import sample_aligned, slice_params
from ._plan import member_target

__all__ = ["ArraySource", "UnitRows"]


@dataclass(frozen=True, eq=False)
class ArraySource:
    """In-memory training data: member input, targets, fit parameters.

    Parameters
    ----------
    X : array-like, sparse matrix, DataFrame or sequence
        What the members are fit on (after any shared embedding).
    y : ndarray
        Target of every row: class indices (int64, -1 unlabeled) or real
        values (float64, NaN missing).
    params : dict
        Fit parameters; sample-aligned ones are sliced to the member's rows.
    hidden : int or float, default=-1
        How a target outside a member's own rows is written when it is fit
        on every row: ``-1`` for class indices, NaN for real values.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._plan import MemberTask
    >>> from skdpa._sources import ArraySource
    >>> source = ArraySource(np.arange(8).reshape(4, 2), np.array([0, 1, 1, 0]), {})
    >>> X, y, params = source.member_data(MemberTask(0, np.array([2, 0]), None, 0))
    >>> X.tolist(), y.tolist(), params
    ([[4, 5], [0, 1]], [1, 0], {})
    >>> source = ArraySource(np.arange(4).reshape(2, 2), np.array([0.5, 1.5]), {},
    ...                      hidden=np.nan)
    >>> source.member_data(MemberTask(0, np.arange(2), np.array([1]), 0))[1].tolist()
    [nan, 1.5]
    """

    X: object
    y: np.ndarray
    params: dict
    hidden: object = -1

    def member_data(self, task):
        """(X, y, fit parameters) of one member's fit, rows in the task's order."""
        rows = task.fit_rows
        X_fit = _safe_indexing(self.X, rows)
        y_fit = member_target(self.y, rows, task.own_rows, self.hidden)
        return X_fit, y_fit, slice_params(self.params, rows, len(self.y))

    @property
    def n_rows(self):
        """Training rows held."""
        return len(self.y)

    def mapped_bytes_per_row(self):
        """Bytes per row of ``X`` that loky would memory-map rather than
        pickle (numeric arrays: dense, sparse or a frame's columns); None when
        ``X`` would be pickled whole into every unit of work (a sequence, an
        object array or a frame with object columns)."""
        X = self.X
        n = max(1, self.n_rows)
        if sp.issparse(X):
            # CSR/CSC: values and indices; COO: values and both coordinates
            names = ("data", "indices", "row", "col")
            parts = [getattr(X, name, None) for name in names]
            return sum(a.nbytes for a in parts if a is not None) / n
        if isinstance(X, np.ndarray):
            return None if X.dtype.hasobject else X.nbytes / n
        if hasattr(X, "dtypes") and hasattr(X, "memory_usage"):
            if any(getattr(d, "kind", "O") == "O" for d in X.dtypes):
                return None
            return float(X.memory_usage(index=False).sum()) / n
        return None

    def params_sliced(self):
        """Whether every large fit parameter is sample-aligned (sliced per
        member): an array of over 1 MiB that every member gets whole would
        travel once per unit of work if units carried their own data."""
        return all(
            sample_aligned(v, self.n_rows) or getattr(v, "nbytes", 0) <= 2**20
            for v in self.params.values()
        )

    def unit_rows(self, tasks):
        """The rows of ``tasks`` only, materialised here: a :class:`UnitRows`.

        Each member's data is exactly what :meth:`member_data` gives for it.
        """
        return UnitRows.of({task.index: self.member_data(task) for task in tasks})


@dataclass(frozen=True, eq=False)
class UnitRows:
    """The materialised data of a few members, ``{index: (X, y, params)}``,
    held pickled.

    A row source for exactly those members (:meth:`ArraySource.unit_rows`).
    Held as bytes so that joblib sends it to a worker process as it is,
    rather than memory-mapping its arrays into a temporary file (which it
    does for arrays over ``max_nbytes`` and then waits, 0.1 s per try, for
    the workers to release after the last unit).

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._plan import MemberTask
    >>> from skdpa._sources import ArraySource
    >>> task = MemberTask(3, np.array([1]), None, 0)
    >>> unit = ArraySource(np.arange(4).reshape(2, 2), np.array([0, 1]), {}).unit_rows(
    ...     [task])
    >>> X, y, params = unit.member_data(task)
    >>> X.tolist(), y.tolist()
    ([[2, 3]], [1])
    """

    blob: bytes

    @classmethod
    def of(cls, data):
        return cls(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))

    @property
    def indices(self):
        """The members whose data this holds."""
        return sorted(self._data())

    def _data(self):
        cached = self.__dict__.get("_cache")
        if cached is None:
            cached = pickle.loads(self.blob)
            object.__setattr__(self, "_cache", cached)
        return cached

    def __getstate__(self):
        return {"blob": self.blob}  # never the unpickled copy

    def member_data(self, task):
        """(X, y, fit parameters) of one of this unit's members."""
        return self._data()[task.index]
