"""The command line's reader of the user's own table (CSV or parquet).

The reader is part of the certificate's input: a certificate counts poisoned
*rows*, so one inserted row must not change how the other rows are read.
``pandas.read_csv`` types each column from all of its rows: one row ``maybe``
turns a ``True``/``False`` column into strings, one ``junk`` cell turns a float
column into strings, and every clean row then hashes (and trains) differently
(issue 16). This reader decides every cell on its own:

- CSV, read with the standard library's :mod:`csv` module: every feature cell
  must be a finite decimal number (``float(cell)``), and a cell that is not
  stops the read with its file, line, column and text; nothing is guessed
  from other rows. The label cell is kept as text exactly as written, so
  ``1`` and ``1.0`` are two different labels.
- Parquet stores each column's type in the file (nothing is inferred):
  feature columns must be numeric or boolean and are read as float64, a
  missing (null) cell stops the read, labels keep their stored type. Needs
  ``pyarrow``.

All of this lives in :func:`read_labeled_table`, the one place that turns a
file into ``(X, y)``.
"""

import csv
import math
from pathlib import Path

import numpy as np

__all__ = ["TableError", "read_labeled_table"]

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class TableError(ValueError):
    """A file that cannot be read as a labeled table; the message names why."""


def _table_format(path):
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise TableError(
            f"{path}: expected a .csv or .parquet file; got the suffix "
            f"{Path(path).suffix or '(none)'!r}."
        )
    return fmt


def _select(columns, target, features, path):
    """Indices of the feature columns and of the target, by name."""
    if target not in columns:
        raise TableError(
            f"{path}: no column {target!r} (--target); the columns are "
            f"{', '.join(map(repr, columns))}."
        )
    if features is None:
        features = [c for c in columns if c != target]
    missing = [c for c in features if c not in columns]
    if missing:
        raise TableError(
            f"{path}: no column {missing[0]!r} (--features); the columns are "
            f"{', '.join(map(repr, columns))}."
        )
    if target in features:
        raise TableError(f"--features names the target column {target!r}.")
    if not features:
        raise TableError(f"{path}: no feature column besides {target!r}.")
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise TableError(f"{path}: the column name {dup!r} appears twice.")
    return [columns.index(c) for c in features], columns.index(target), features


def _read_csv(path, target, features):
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise TableError(f"{path}: the file is empty (no header line).") from None
        cols, label_col, names = _select(header, target, features, path)
        X, y = [], []
        for row in reader:
            line = reader.line_num
            if not row:
                continue  # blank line
            if len(row) != len(header):
                raise TableError(
                    f"{path}, line {line}: {len(row)} cells; the header has "
                    f"{len(header)}."
                )
            values = []
            for j in cols:
                cell = row[j]
                try:
                    value = float(cell)
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise TableError(
                        f"{path}, line {line}, column {header[j]!r}: {cell!r} is "
                        "not a finite number. Every feature cell must be one "
                        "(nothing is inferred from other rows): encode it, or "
                        "leave the column out with --features."
                    )
                values.append(value)
            X.append(values)
            y.append(row[label_col])
    X = np.asarray(X, dtype=np.float64).reshape(len(X), len(cols))
    return X, np.asarray(y, dtype=object).astype(str), names


def _read_parquet(path, target, features):
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pat
    except ImportError:
        raise TableError(
            f"reading {path} needs pyarrow, which is not installed: "
            "pip install pyarrow (or save the table as CSV)."
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow's errors have no common base
        raise TableError(f"{path}: not a readable parquet file ({exc}).") from None
    cols, label_col, names = _select(table.column_names, target, features, path)
    X = np.empty((table.num_rows, len(cols)), dtype=np.float64)
    for out, j in enumerate(cols):
        column = table.column(j)
        name = table.column_names[j]
        kind = column.type
        if not (pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind)):
            raise TableError(
                f"{path}, column {name!r}: type {kind}; feature columns must be "
                "numeric or boolean. Encode it, or leave it out with --features."
            )
        if column.null_count:
            raise TableError(
                f"{path}, column {name!r}: {column.null_count} missing (null) "
                "cells; every feature cell must hold a number."
            )
        values = np.asarray(column.to_numpy(), dtype=np.float64)
        if not np.isfinite(values).all():
            raise TableError(
                f"{path}, column {name!r}: holds NaN or infinity; every feature "
                "cell must be a finite number."
            )
        X[:, out] = values
    labels = table.column(label_col)
    if labels.null_count:
        raise TableError(
            f"{path}, column {target!r}: {labels.null_count} missing labels."
        )
    y = np.asarray(labels.to_pylist())
    return X, y, names


def read_labeled_table(path, *, target, features=None):
    """Features and labels of a CSV or parquet file, every cell decided alone.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` file (header line, comma-separated) or a ``.parquet`` file.
    target : str
        Name of the label column.
    features : list of str, default=None
        Feature columns, in this order; ``None``: every column but the target,
        in the file's order.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features), float64
    y : ndarray of shape (n_rows,)
        Labels: text for CSV, the stored type for parquet.
    features : list of str
        The feature columns read.

    Raises
    ------
    TableError
        Naming the file, line and column of the first cell that is not a
        finite number, a missing column, or a missing pyarrow.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skdpa._tabular import read_labeled_table
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,b,label\\n1,2.5,yes\\n3,-1e2,no\\n")
    >>> X, y, names = read_labeled_table(path, target="label")
    >>> X
    array([[   1. ,    2.5],
           [   3. , -100. ]])
    >>> y.tolist(), names
    (['yes', 'no'], ['a', 'b'])
    """
    path = Path(path)
    fmt = _table_format(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file.")
    if fmt == "csv":
        return _read_csv(path, target, features)
    return _read_parquet(path, target, features)


def hash_split(X, test_size):
    """Rows that go to the test set: each row's side depends on its own
    content only (a 64-bit content hash, mixed), so adding or removing rows
    never moves another row between training and test set."""
    from ._hashing import content_hash

    h = content_hash(X).astype(np.uint64)
    # splitmix64's finaliser: decorrelates the split from the partition
    # index, which is the same hash modulo k
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        h = h ^ (h >> np.uint64(31))
    unit = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return unit < test_size
