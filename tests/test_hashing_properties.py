"""Rule 7, property-based: each row's hash depends on that row alone.

A generated zoo of columns (number-like and other strings, Python objects,
int64/uint64 extremes and narrow ranges near 2**53 and 2**63, bool, float16/32/64
with NaN, inf and -0.0, pandas nullable Int64/boolean, categorical, datetime and
pd.NA cells, sparse matrices with explicit zeros and duplicates). For every
input kind, each row hashed alone must equal the same row hashed inside a data
set made of it and other generated rows, in a shuffled order.
"""

import datetime
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from skdpa._hashing import (
    canonical_order,
    canonical_row_keys,
    content_hash,
    row_tokens,
    sum_hash,
    unique_sample_ids,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values -------------------------------------------------------------------

NUMBER_STRINGS = st.from_regex(
    r"\A[+-]?([0-9]{1,25}(\.[0-9]{0,6})?|\.[0-9]{1,6})([eE][+-]?[0-9]{1,3})?\Z"
)
OTHER_STRINGS = st.sampled_from(
    [
        "N/A",
        "",
        " 1",
        "1 ",
        "1_0",
        "nan",
        "inf",
        "-inf",
        "\u0661",
        "0x1F",
        "1e",
        "9e99999999999",
        "abc",
        "1,5",
    ]
) | st.text(max_size=4)
INT64 = (
    st.sampled_from(
        [
            0,
            1,
            -1,
            2**53,
            2**53 + 1,
            -(2**53) - 1,
            2**62 + 1,
            2**63 - 1,
            -(2**63),
            -(2**63) + 1,
        ]
    )
    | st.integers(2**53 - 40, 2**53 + 40)
    | st.integers(2**63 - 40, 2**63 - 1)
    | st.integers(-(2**63), 2**63 - 1)
)
UINT64 = (
    st.sampled_from([0, 2**63, 2**63 + 1, 2**64 - 1, 2**64 - 2049])
    | st.integers(2**63 - 40, 2**63 + 40)
    | st.integers(2**64 - 40, 2**64 - 1)
    | st.integers(0, 2**64 - 1)
)
SPECIAL_FLOATS = st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 0.1, 2048.0])
DATETIMES = st.datetimes(
    min_value=datetime.datetime(1700, 1, 1), max_value=datetime.datetime(2250, 1, 1)
)
TIMEZONES = st.sampled_from(
    [None, datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=-5))]
)
PYTHON_OBJECTS = st.one_of(
    st.integers(),
    st.integers(-(2**200), 2**200),
    st.floats(),
    st.none(),
    st.just(pd.NA),
    st.just(pd.NaT),
    st.text(max_size=3),
    NUMBER_STRINGS,
    st.binary(max_size=3),
    st.booleans(),
    st.builds(lambda d, tz: d.replace(tzinfo=tz), DATETIMES, TIMEZONES),
    st.dates(),
    st.timedeltas(),
    st.decimals(allow_nan=False, places=4),
    st.just(Decimal("NaN")),
    st.fractions(max_denominator=50),
    st.builds(np.int64, INT64),
    st.builds(np.uint64, UINT64),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(lambda d: np.datetime64(d, "us"), DATETIMES),
)


def _optional(values):
    return st.none() | values


# A column kind: (values, pandas dtype for a frame, NumPy dtype for a dense
# numeric array or None).
KINDS = {
    "number_strings": (_optional(NUMBER_STRINGS | OTHER_STRINGS), None, None),
    "objects": (PYTHON_OBJECTS, object, None),
    "int64": (INT64, "int64", np.int64),
    "uint64": (UINT64, "uint64", np.uint64),
    "bool": (st.booleans(), "bool", np.bool_),
    "float16": (st.floats(width=16) | SPECIAL_FLOATS, "float16", np.float16),
    "float32": (st.floats(width=32) | SPECIAL_FLOATS, "float32", np.float32),
    "float64": (
        st.floats() | SPECIAL_FLOATS | st.sampled_from([2.0**53, 2.0**63, 2.0**64]),
        "float64",
        np.float64,
    ),
    "Int64": (_optional(INT64), "Int64", None),
    "boolean": (_optional(st.booleans()), "boolean", None),
    "category": (
        _optional(st.sampled_from(["a", "b", "10", "2.5", 3, 7.5])),
        "category",
        None,
    ),
    "datetime": (_optional(DATETIMES), "datetime64[ns]", None),
}


@st.composite
def datasets(draw, kinds=tuple(KINDS), min_columns=1, max_columns=4):
    """(schema, rows): a list of column kinds and a list of row tuples."""
    schema = draw(
        st.lists(st.sampled_from(kinds), min_size=min_columns, max_size=max_columns)
    )
    row = st.tuples(*(KINDS[k][0] for k in schema))
    rows = draw(st.lists(row, min_size=1, max_size=8))
    return schema, rows


def _cell(kind, value):
    if kind == "float16":
        return np.float16(value)
    if kind == "float32":
        return np.float32(value)
    return value


def as_frame(schema, rows):
    columns = {}
    for j, kind in enumerate(schema):
        values = [_cell(kind, r[j]) for r in rows]
        dtype = KINDS[kind][1]
        if kind == "datetime":
            values = [pd.NaT if v is None else pd.Timestamp(v) for v in values]
        if dtype is object:
            columns[j] = pd.Series(values, dtype=object)
        elif dtype is None:  # let pandas infer, as read_csv would
            columns[j] = pd.Series(values)
        else:
            columns[j] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns)


def as_object_array(schema, rows):
    X = np.empty((len(rows), len(schema)), dtype=object)
    for i, r in enumerate(rows):
        for j, kind in enumerate(schema):
            X[i, j] = _cell(kind, r[j])
    return X


def as_numeric_array(schema, rows):
    """One dense NumPy array, when every column has one NumPy dtype."""
    dtypes = {KINDS[k][2] for k in schema}
    if len(dtypes) != 1 or None in dtypes:
        return None
    return np.array(rows, dtype=dtypes.pop()).reshape(len(rows), len(schema))


def as_sparse(schema, rows):
    """A COO matrix with explicit zeros and (for integers) duplicate entries."""
    dense = as_numeric_array(schema, rows)
    if dense is None or dense.dtype == np.float16:
        return None
    r, c = np.nonzero(np.ones(dense.shape, dtype=bool))
    data = dense[r, c]
    keep = np.arange(len(data)) % 3 != 1  # drop some zeros, keep others explicit
    keep |= data != 0
    r, c, data = r[keep], c[keep], data[keep]
    if dense.dtype.kind in "iu":
        half = data // 2
        r, c = np.concatenate([r, r]), np.concatenate([c, c])
        data = np.concatenate([half, data - half])
    return sp.coo_matrix((data, (r, c)), shape=dense.shape)


REPRESENTATIONS = {
    "frame": as_frame,
    "object_array": as_object_array,
    "numeric_array": as_numeric_array,
    "sparse": as_sparse,
    "list": lambda schema, rows: [
        [_cell(k, v) for k, v in zip(schema, r, strict=True)] for r in rows
    ],
}


def _check_row_alone(hasher, schema, rows, others, perm, representation):
    build = REPRESENTATIONS[representation]
    everything = [*rows, *others]
    everything = [everything[i] for i in perm]
    big = build(schema, everything)
    if big is None:
        return None
    h_all = hasher(big)
    for i, row in enumerate(everything):
        alone = hasher(build(schema, [row]))
        assert alone.shape == (1,)
        assert alone[0] == h_all[i], (representation, schema, row)
    return h_all


# -- content_hash ---------------------------------------------------------------


@SETTINGS
@given(data=st.data(), first=datasets())
def test_each_row_hashes_alone_as_in_any_dataset(data, first):
    schema, rows = first
    row = st.tuples(*(KINDS[k][0] for k in schema))
    others = data.draw(st.lists(row, max_size=8))
    perm = data.draw(st.permutations(range(len(rows) + len(others))))
    hashes = {}
    for representation in REPRESENTATIONS:
        h = _check_row_alone(content_hash, schema, rows, others, perm, representation)
        if h is not None:
            hashes[representation] = h
    # every representation of the same values hashes alike
    reference = hashes.pop("object_array")
    for representation, h in hashes.items():
        assert_array_equal(h, reference, err_msg=representation)


@SETTINGS
@given(data=st.data(), first=datasets(kinds=("number_strings",), min_columns=1))
def test_inferred_string_columns_do_not_move_other_rows(data, first):
    """pandas infers a column's dtype from all its rows; hashes must not care."""
    schema, rows = first
    junk = data.draw(st.lists(st.tuples(*(OTHER_STRINGS for _ in schema)), max_size=3))
    clean = content_hash(as_frame(schema, rows))
    dirty = content_hash(as_frame(schema, [*rows, *junk]))
    assert_array_equal(dirty[: len(rows)], clean)


DOCUMENTS = st.text(max_size=6) | st.binary(max_size=4) | st.just(None)


@SETTINGS
@given(docs=st.lists(DOCUMENTS, min_size=1, max_size=10), data=st.data())
def test_each_document_hashes_alone_as_in_any_corpus(docs, data):
    """1-D text: a document's hash ignores the other documents (even when
    they are all missing, and the sequence is then no longer text)."""
    perm = data.draw(st.permutations(range(len(docs))))
    corpus = [docs[i] for i in perm]
    h = content_hash(corpus)
    for i, doc in enumerate(corpus):
        assert content_hash([doc])[0] == h[i]
    assert_array_equal(content_hash(pd.Series(corpus, dtype=object)), h)


# -- sum_hash -------------------------------------------------------------------

SUM_KINDS = {
    "int64": INT64,
    "uint64": UINT64,
    "bool": st.booleans(),
    "float32": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "float64": st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([-0.0, 0.5, 1e300, -1e300, 2.0**70 + 0.0, 0.1]),
    "numbers": st.one_of(
        st.integers(-(2**100), 2**100),
        NUMBER_STRINGS,
        st.fractions(max_denominator=64),
        st.decimals(allow_nan=False, allow_infinity=False, places=3),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
}


def _exact_value(kind, v):
    """The value sum_hash must read, as an exact Fraction."""
    if kind == "float32":
        return Fraction(float(np.float32(v)))
    if isinstance(v, str):
        d = Decimal(v)
        if d == d.to_integral_value():
            return Fraction(d)
        return Fraction(float(v))
    if isinstance(v, Fraction | Decimal) and v != int(v):
        return Fraction(float(v))
    return Fraction(v)


def _expected_sum(schema, row):
    values = [_exact_value(k, v) for k, v in zip(schema, row, strict=True)]
    if all(v.denominator == 1 for v in values):
        return int(sum(values)) % 2**64
    return sum(round(v * 2**24) for v in values) % 2**64


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_sum_hash_of_each_row_is_its_exact_sum(data):
    schema = data.draw(
        st.lists(st.sampled_from(tuple(SUM_KINDS)), min_size=1, max_size=4)
    )
    row = st.tuples(*(SUM_KINDS[k] for k in schema))
    rows = data.draw(st.lists(row, min_size=1, max_size=8))
    perm = data.draw(st.permutations(range(len(rows))))
    rows = [rows[i] for i in perm]
    expected = [_expected_sum(schema, r) for r in rows]
    frame_kinds = [k if k != "numbers" else "objects" for k in schema]
    for representation in REPRESENTATIONS:
        X = REPRESENTATIONS[representation](frame_kinds, rows)
        if X is None:
            continue
        assert sum_hash(X).tolist() == expected, representation
        for i, r in enumerate(rows):
            alone = REPRESENTATIONS[representation](frame_kinds, [r])
            assert sum_hash(alone).tolist() == [expected[i]], representation


# -- canonical orderings -----------------------------------------------------------

POOL = [
    (3, "a"),
    ("3", "a"),
    (3.0, "a"),
    (np.int64(3), "a"),
    ("3.0", "a"),
    (1, "b"),
    (None, "b"),
    (np.nan, "b"),
    (pd.NA, "b"),
    ("x", "b"),
    (2**63 + 1, "c"),
    ("9223372036854775809", "c"),
    (np.uint64(2**63 + 1), "c"),
    (-0.0, "d"),
    (0.0, "d"),
    (0, "d"),
]


@SETTINGS
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=30),
    data=st.data(),
)
def test_canonical_order_depends_on_the_rows_only(picks, data):
    X = as_object_array(["objects", "objects"], [POOL[i] for i in picks])
    perm = np.array(data.draw(st.permutations(range(len(X)))))
    labels = np.array([i % 2 for i in picks])
    h = content_hash(X)
    order = canonical_order(X, h, tiebreak=[labels])
    # the order is the order of (hash, canonical key, label)
    keys = canonical_row_keys(X, order)
    sequence = [(int(h[i]), k, labels[i]) for i, k in zip(order, keys, strict=True)]
    assert sequence == sorted(sequence)
    # ... and the same sequence of rows, as stored, for any input order
    Y = X[perm]
    order_y = canonical_order(Y, content_hash(Y), tiebreak=[labels[perm]])
    stored = [[(type(v), repr(v)) for v in row] for row in X[order].tolist()]
    stored_y = [[(type(v), repr(v)) for v in row] for row in Y[order_y].tolist()]
    assert stored == stored_y
    assert_array_equal(labels[order], labels[perm][order_y])
    # equal canonical content <=> equal ids, for any input order
    ids = unique_sample_ids(X, h)
    tokens = row_tokens(X)
    same = np.array([[a == b for b in tokens] for a in tokens])
    assert_array_equal(same, ids[:, None] == ids[None, :])
    assert_array_equal(unique_sample_ids(Y, content_hash(Y)), ids[perm])


@pytest.mark.parametrize("representation", ["frame", "object_array", "list"])
def test_zoo_smoke(representation):
    """One fixed zoo row per kind, so a failure here is easy to read."""
    row = (
        "10023",
        2**70,
        2**63 - 1,
        2**64 - 1,
        True,
        0.5,
        np.float32(0.1),
        -0.0,
        None,
        None,
        "a",
        datetime.datetime(2020, 1, 1),
    )
    schema = list(KINDS)
    build = REPRESENTATIONS[representation]
    h = content_hash(build(schema, [row, row]))
    assert h[0] == h[1] == content_hash(build(schema, [row]))[0]
