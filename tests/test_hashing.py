"""Rule 2: the hash is a function of each row's values only, stable forever."""

import datetime
import doctest
import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import skdpa._hashing
from skdpa import DPAClassifier
from skdpa._hashing import (
    _column_keys,
    _dense_mix_sum,
    canonical_order,
    canonical_row_keys,
    check_hash_values,
    content_hash,
    is_text_input,
    row_tokens,
    sum_hash,
    unique_sample_ids,
)

GOLDEN_X = np.array([[0, 0, 0], [1, 2, 3], [255, 0, 7], [-1.5, 0.25, 1e9]])
# Pinned on 2026-11-25. Changing these breaks every stored partition: never
# update them to make a test pass.
GOLDEN_CONTENT = [
    0xB0FCE24F4BF6E75F,
    0xE0BD297121319D35,
    0x7ED0205CEED0CC50,
    0x5A4B6935E28F6964,
]
GOLDEN_TEXT = [0x87F5BB74FF0E56C3, 0x607F5832735303FD, 0x28AC078FAFFB040]


def test_golden_content_hash():
    assert [int(v) for v in content_hash(GOLDEN_X)] == GOLDEN_CONTENT


def test_golden_text_hash():
    assert [int(v) for v in content_hash(["spam", "ham", ""])] == GOLDEN_TEXT


def test_sum_hash_is_the_paper_sum_for_integers():
    X = np.array([[0, 0, 0], [1, 2, 3], [255, 0, 7]], dtype=np.uint8)
    assert sum_hash(X).tolist() == [0, 6, 262]
    # the reference code: partition = pixel sum % k
    assert_array_equal(
        DPAClassifier(k=7, hasher="sum").assign_partitions(X), [0, 6, 262 % 7]
    )


def test_sum_hash_does_not_collapse_on_unit_scale():
    X = np.random.default_rng(0).integers(0, 256, (2000, 20)) / 255.0
    parts = DPAClassifier(k=50, hasher="sum").assign_partitions(X)
    counts = np.bincount(parts, minlength=50)
    assert counts.min() > 10  # int(sum) would use ~20 partitions only


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X.astype(np.float32),
        lambda X: X.astype(np.int64).astype(np.float64),
        lambda X: np.asfortranarray(X),
        lambda X: X.astype(np.int16),
        lambda X: sp.csr_matrix(X),
        lambda X: sp.csc_matrix(X),
        lambda X: pd.DataFrame(X, columns=list("abcde")),
        lambda X: X.tolist(),
        lambda X: X[:, ::-1].copy()[:, ::-1],  # non-contiguous view of a copy
    ],
)
def test_equal_values_hash_alike(convert):
    X = np.random.default_rng(1).integers(0, 9, (40, 5)).astype(np.uint8)
    X[0] = 0
    expected = content_hash(X)
    assert_array_equal(content_hash(convert(X)), expected)


def test_signed_zero_and_nan_are_canonical():
    a = np.array([[0.0, np.nan]])
    b = np.array([[-0.0, -np.nan]])
    assert_array_equal(content_hash(a), content_hash(b))


def test_hash_ignores_position_and_dataset_size():
    X = np.random.default_rng(2).normal(size=(30, 4))
    full = content_hash(X)
    assert_array_equal(content_hash(X[10:12]), full[10:12])
    assert_array_equal(content_hash(X[::-1]), full[::-1])


def test_small_int_table_matches_general_path():
    X = np.random.default_rng(3).integers(0, 256, (50, 7)).astype(np.uint8)
    assert_array_equal(content_hash(X), content_hash(X.astype(np.float64) + 0.0))
    wide = X.astype(np.int64) * 1000  # range too large for the table
    assert_array_equal(content_hash(wide), content_hash(wide.astype(np.float64)))


def test_distinct_rows_get_distinct_hashes():
    X = np.random.default_rng(4).integers(0, 256, (20000, 16))
    X = np.unique(X, axis=0)
    assert len(np.unique(content_hash(X))) == len(X)


def test_hash_is_stable_across_processes():
    code = (
        "import numpy as np; from skdpa._hashing import content_hash;"
        "X = np.arange(60, dtype=float).reshape(12, 5) / 7;"
        "print(' '.join(str(int(v)) for v in content_hash(X)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("0", "123")
    }
    assert len(outputs) == 1
    X = np.arange(60, dtype=float).reshape(12, 5) / 7
    assert outputs.pop().split() == [str(int(v)) for v in content_hash(X)]


def test_text_and_object_rows():
    h = content_hash(["a", "b", "a"])
    assert h[0] == h[2] != h[1]
    frame = pd.DataFrame({"x": [1.0, 2.0, 1.0], "c": ["u", "v", "u"]})
    h = content_hash(frame)
    assert h[0] == h[2] != h[1]
    with pytest.raises(
        TypeError,
        match=r"row 0, column 0: dict .*argument must be a string or a number",
    ):
        content_hash(np.array([[{"a": 1}, 1]], dtype=object))


def test_sum_hash_rejects_bad_input():
    with pytest.raises(ValueError, match="hasher='sum' needs numeric features"):
        sum_hash(["text"])
    with pytest.raises(
        ValueError,
        match=r"hasher='sum' needs finite values; got nan at row 0, column 0",
    ):
        sum_hash(np.array([[np.nan, 1.0]]))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 40), st.integers(1, 4))
def test_canonical_order_ignores_input_order(seed, n, n_features):
    rng = np.random.default_rng(seed)
    # few distinct values: many duplicates and equal-hash runs
    X = rng.integers(0, 3, (n, n_features)).astype(float)
    y = rng.integers(0, 2, n)
    perm = rng.permutation(n)
    a = canonical_order(X, content_hash(X), tiebreak=[y])
    b = perm[canonical_order(X[perm], content_hash(X[perm]), tiebreak=[y[perm]])]
    # the same sequence of (row, label) pairs
    assert_array_equal(X[a], X[b])
    assert_array_equal(y[a], y[b])
    ids = unique_sample_ids(X, content_hash(X))
    ids_perm = unique_sample_ids(X[perm], content_hash(X[perm]))
    assert_array_equal(ids[perm], ids_perm)
    # identical rows share an id, distinct rows don't
    same = (X[:, None, :] == X[None, :, :]).all(axis=2)
    assert_array_equal(same, ids[:, None] == ids[None, :])


def test_sum_hash_of_a_row_ignores_the_other_rows():
    """A fractional sample inserted into integer data moves no other sample."""
    X = np.random.default_rng(5).integers(0, 256, (300, 10))
    poisoned = np.vstack([X, np.full((1, 10), 0.5)])
    assert_array_equal(sum_hash(poisoned)[:300], sum_hash(X))
    assert_array_equal(sum_hash(X.astype(float)), sum_hash(X))
    mixed = np.vstack([X / 255.0, X])
    assert_array_equal(sum_hash(mixed)[300:], sum_hash(X))
    assert_array_equal(sum_hash(mixed)[:300], sum_hash(X / 255.0))
    assert_array_equal(sum_hash(sp.csr_matrix(mixed)), sum_hash(mixed))
    clean = DPAClassifier(k=50, hasher="sum").fit(X, np.arange(300) % 3)
    dirty = DPAClassifier(k=50, hasher="sum").fit(poisoned, np.arange(301) % 3)
    changed = [
        i
        for i in range(50)
        if not np.array_equal(
            clean.estimators_samples_[i], dirty.estimators_samples_[i]
        )
    ]
    assert len(changed) == 1


def test_object_rows_hash_independently_of_the_other_rows():
    X = np.random.default_rng(6).normal(size=(50, 3))
    mixed = np.vstack([X, np.array([["spam", 1.0, 2.0]], dtype=object)])
    frame = pd.DataFrame(mixed, columns=["a", "b", "c"])
    # the numeric rows keep the hash they have without the string row
    assert_array_equal(content_hash(frame)[:50], content_hash(X))
    assert_array_equal(content_hash(mixed.astype(object))[:50], content_hash(X))


# -- canonical cells: golden values for the non-float forms --------------------


def _zoo_rows():
    X = np.empty((4, 3), dtype=object)
    X[0] = ["10023", 2**63 + 1, None]
    X[1] = ["N/A", -(2**63), pd.Timestamp("2020-01-01 00:00", tz="UTC")]
    X[2] = [b"raw", 1.5, datetime.timedelta(seconds=3)]
    X[3] = [10023, np.uint64(2**63 + 1), float("nan")]
    return X


# Pinned on 2026-11-25 with the per-cell canonical values (0.2.0).
GOLDEN_ZOO = [
    0x958F3B30CF680362,
    0x31A3468CE2053C25,
    0x9B3B57B851993942,
    0x958F3B30CF680362,
]
GOLDEN_BIG = [0x495C4A001D149B3B]


def test_golden_canonical_cells():
    assert [int(v) for v in content_hash(_zoo_rows())] == GOLDEN_ZOO
    big = np.array([[2**53 + 1, 2**64 - 1]], dtype=np.uint64)
    assert [int(v) for v in content_hash(big)] == GOLDEN_BIG


def test_equal_numbers_in_any_form_hash_alike():
    forms = [
        3,
        3.0,
        np.uint8(3),
        np.int64(3),
        np.float32(3),
        np.float16(3),
        Fraction(3),
        Decimal("3.00"),
        "3",
        "+3",
        "3.0",
        "30e-1",
        "0.3E1",
        np.longdouble(3),
    ]
    h = content_hash(np.array([[f, "x"] for f in forms], dtype=object))
    assert len(set(h.tolist())) == 1
    # booleans are 0 and 1; the same number as a plain float row
    rows = np.array([[True, 0.5], [1, "0.5"], [np.True_, Fraction(1, 2)]], dtype=object)
    h = content_hash(rows)
    assert h[0] == h[1] == h[2] == content_hash(np.array([[1.0, 0.5]]))[0]


@pytest.mark.parametrize(
    "text",
    [
        " 1",
        "1 ",
        "1_000",
        "nanx",
        "Infinit",
        "0x1F",
        "1e",
        "--1",
        "\u0661\u0662",
        "１２",
        "1,5",
        "",
        "+",
        ".",
        "e5",
        "1.5.2",
    ],
)
def test_strings_that_are_not_plain_decimals_stay_strings(text):
    data = text.encode("utf-8")
    token = b"s" + len(data).to_bytes(8, "little") + data
    assert row_tokens(np.array([[text]], dtype=object)) == [token]
    as_text = content_hash(np.array([[text, "x"]], dtype=object))[0]
    as_other_text = content_hash(np.array([[text + "z", "x"]], dtype=object))[0]
    assert as_text != as_other_text
    # and they do not collide with the number they might be read as
    for number in (1, 12, 1000, 15, 31, 5, float("nan"), float("inf")):
        assert as_text != content_hash(np.array([[number, "x"]], dtype=object))[0]


def test_long_digit_strings_are_exact_integers():
    digits = "123456789012345678901234567890123"
    exact = content_hash(np.array([[int(digits), "x"]], dtype=object))[0]
    assert content_hash(np.array([[digits, "x"]], dtype=object))[0] == exact
    plus_one = content_hash(np.array([[str(int(digits) + 1), "x"]], dtype=object))[0]
    assert plus_one != exact
    # exponent forms of an integer: exact too
    big = content_hash(np.array([["1e400", "x"]], dtype=object))[0]
    assert big == content_hash(np.array([[10**400, "x"]], dtype=object))[0]
    # beyond Python's int/str limit a digit string is a string (and cheap)
    [token] = row_tokens(np.array([["9e99999999999"]], dtype=object))
    assert token == b"s" + (13).to_bytes(8, "little") + b"9e99999999999"
    assert row_tokens(np.array([["1" * 4301]], dtype=object))[0][:1] == b"s"
    assert row_tokens(np.array([["1" * 4300]], dtype=object))[0][:1] == b"i"


def test_missing_markers_are_one_value():
    markers = [
        None,
        np.nan,
        float("nan"),
        pd.NA,
        pd.NaT,
        np.datetime64("NaT"),
        np.timedelta64("NaT"),
        Decimal("NaN"),
        np.float32("nan"),
    ]
    h = content_hash(np.array([[m, 2.5] for m in markers], dtype=object))
    assert len(set(h.tolist())) == 1
    assert h[0] == content_hash(np.array([[np.nan, 2.5]]))[0]
    nullable = pd.DataFrame(
        {
            "a": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
        }
    )
    floats = np.array([[1.0, 1.0], [np.nan, np.nan], [3.0, 0.0]])
    assert_array_equal(content_hash(nullable), content_hash(floats))


def test_datetimes_have_one_canonical_form():
    utc = pd.Timestamp("2021-03-04 05:06:07.000008", tz="UTC")
    forms = [
        utc,
        utc.tz_convert("Asia/Kolkata"),
        utc.tz_localize(None),
        datetime.datetime(2021, 3, 4, 5, 6, 7, 8),
        datetime.datetime(
            2021,
            3,
            4,
            6,
            6,
            7,
            8,
            tzinfo=datetime.timezone(datetime.timedelta(hours=1)),
        ),
        np.datetime64("2021-03-04T05:06:07.000008"),
        np.datetime64("2021-03-04T05:06:07.000008000", "ns"),
    ]
    h = content_hash(np.array([[f, 1] for f in forms], dtype=object))
    assert len(set(h.tolist())) == 1
    one_ns_later = np.datetime64("2021-03-04T05:06:07.000008001", "ns")
    assert content_hash(np.array([[one_ns_later, 1]], dtype=object))[0] != h[0]
    days = [
        datetime.date(2020, 1, 1),
        np.datetime64("2020-01-01"),
        np.datetime64("2020-01"),
        np.datetime64("2020"),
        pd.Timestamp("2020-01-01"),
    ]
    h = content_hash(np.array([[d] for d in days], dtype=object))
    assert len(set(h.tolist())) == 1
    spans = [
        datetime.timedelta(seconds=90),
        pd.Timedelta("90s"),
        np.timedelta64(90_000, "ms"),
        np.timedelta64(1, "m") + np.timedelta64(30, "s"),
    ]
    h = content_hash(np.array([[s] for s in spans], dtype=object))
    assert len(set(h.tolist())) == 1
    # a datetime column hashes like the same values in an object column
    frame = pd.DataFrame(
        {"t": pd.to_datetime(["2020-01-01", None, "2021-05-06"]), "x": ["a", "b", "c"]}
    )
    assert_array_equal(content_hash(frame), content_hash(frame.astype(object)))


def test_categorical_columns_hash_by_value():
    values = ["b", "a", None, "10"]
    cat = pd.DataFrame({"c": pd.Categorical(values), "x": [1, 2, 3, 4]})
    other = pd.DataFrame(
        {
            "c": pd.Categorical(values, categories=["z", "10", "b", "a"]),
            "x": [1, 2, 3, 4],
        }
    )
    obj = pd.DataFrame({"c": pd.Series(values, dtype=object), "x": [1, 2, 3, 4]})
    assert_array_equal(content_hash(cat), content_hash(obj))
    assert_array_equal(content_hash(other), content_hash(obj))
    assert_array_equal(content_hash(cat.iloc[1:2]), content_hash(obj)[1:2])


def test_unhashable_cells_name_their_position():
    X = np.array([[1, "a"], [2, "b"], [3, {"k": 1}]], dtype=object)
    with pytest.raises(TypeError, match=r"row 2, column 1: dict"):
        content_hash(X)
    for bad in (1 + 2j, np.complex64(1), [1], object(), {1}):
        X = np.empty((1, 2), dtype=object)
        X[0] = ["a", bad]
        with pytest.raises(TypeError, match="argument must be a string or a number"):
            content_hash(X)
    with pytest.raises(TypeError, match=r"row 0, column 0: complex128"):
        content_hash(np.ones((2, 2), dtype=complex))
    frame = pd.DataFrame({"a": [1, 2], "b": [(1,), "x"]})
    with pytest.raises(TypeError, match=r"row 0, column 1: tuple"):
        content_hash(frame)


# -- regressions: the defects found on 0.1.x, each must stay fixed --------------


def test_number_like_strings_do_not_switch_other_rows():
    """Defect 1: one 'N/A' row re-hashed every row of a number-like column."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "zip": [str(v) for v in rng.integers(10000, 99999, 600)],
            "x": rng.normal(size=600),
        }
    )
    clean = content_hash(frame)
    junk = pd.DataFrame({"zip": ["N/A"], "x": [0.0]})
    dirty = content_hash(pd.concat([frame, junk], ignore_index=True))
    assert_array_equal(dirty[:600], clean)
    assert_array_equal(
        content_hash(pd.concat([frame, junk]).to_numpy())[:600],
        content_hash(frame.to_numpy()),
    )
    parts = DPAClassifier(k=50).assign_partitions(frame)
    parts_dirty = DPAClassifier(k=50).assign_partitions(pd.concat([frame, junk]))
    assert_array_equal(parts_dirty[:600], parts)


def test_integers_near_float_limits_hash_exactly():
    """Defect 2: narrow integer ranges near 2**53 and 2**63, uint64 >= 2**63."""
    for base, dtype in (
        (2**53, np.int64),
        (2**63 - 20, np.int64),
        (2**63, np.uint64),
        (2**64 - 20, np.uint64),
    ):
        X = (np.arange(10, dtype=np.uint64) + np.uint64(base)).astype(dtype)[:, None]
        h = content_hash(X)
        assert len(set(h.tolist())) == 10, (base, dtype)
        # one row far outside the range changes no other row
        outlier = np.array([[0 if dtype == np.uint64 else -(2**63)]], dtype=dtype)
        assert_array_equal(content_hash(np.vstack([X, outlier]))[:10], h)
        assert_array_equal(content_hash(X[3:4]), h[3:4])
        # the same integers as Python ints in an object array
        as_object = np.array([[int(v)] for v in X[:, 0]], dtype=object)
        assert_array_equal(content_hash(as_object), h)
    # 2**53 + 1 is not the float 2**53, nor -(2**63) the uint64 2**63
    a = content_hash(np.array([[2**53 + 1]], dtype=np.int64))
    assert a != content_hash(np.array([[float(2**53)]]))
    neg = content_hash(np.array([[-(2**63) + 5]], dtype=np.int64))
    pos = content_hash(np.array([[2**63 + 5]], dtype=np.uint64))
    assert neg != pos


def test_custom_hasher_values_are_never_cast_silently():
    """Defect 3: floats >= 2**64, negatives, non-integers raise."""
    cases = [
        (
            np.array([1.0, 2.0**64]),
            r"integers below 2\*\*64; got 1.8446744073709552e\+19 at sample 1",
        ),
        (
            np.array([1.0, -2.0]),
            r"non-negative integers; got a minimum of -2.0 at sample 1",
        ),
        (np.array([1.5, 2.0]), r"integers; got 1.5 at sample 0"),
        (np.array([np.inf, 2.0]), r"integers; got inf at sample 0"),
        (np.array([1.0, np.nan]), r"integers; got nan at sample 1"),
        (np.array([True, False]), r"integers, not booleans; got dtype bool"),
        (
            np.array([1, 2**64], dtype=object),
            r"integers below 2\*\*64; got 18446744073709551616 at sample 1",
        ),
        (
            np.array([1, -1], dtype=object),
            r"non-negative integers; got a minimum of -1 at sample 1",
        ),
        (np.array([1, 2.0], dtype=object), r"integers; got float 2.0 at sample 1"),
        (np.array(["1", "2"]), r"non-negative integers; got dtype <U1"),
    ]
    for values, match in cases:
        with pytest.raises(ValueError, match=match):
            check_hash_values(values, 2)
    assert check_hash_values(np.array([2.0**63, 3.0]), 2).tolist() == [2**63, 3]
    assert check_hash_values(np.array([2**64 - 1, 0], dtype=object), 2).tolist() == [
        2**64 - 1,
        0,
    ]
    clf = DPAClassifier(k=4, hasher=lambda X: np.full(len(X), 2.0**64))
    with pytest.raises(ValueError, match="integers below 2"):
        clf.assign_partitions(np.ones((3, 2)))


def test_text_with_missing_first_element():
    """Defect 4: is_text_input looked at element 0 only."""
    docs = [None, "spam", "ham", None]
    assert is_text_input(docs)
    assert is_text_input(pd.Series(["a", None, np.nan]))
    h = content_hash(docs)
    assert h[0] == h[3] != h[1]
    assert_array_equal(content_hash(docs)[1:3], content_hash(["spam", "ham"]))
    # a document hashes as a one-column row holding it, missing ones included
    column = np.array([[v] for v in ["spam", b"ham", None, np.nan]], dtype=object)
    assert_array_equal(
        content_hash(["spam", b"ham", None, np.nan]), content_hash(column)
    )
    assert_array_equal(content_hash([None, "x"])[:1], content_hash([None]))
    assert not is_text_input([None, None])
    assert not is_text_input(["a", 1])
    assert not is_text_input([["a"], ["b"]])
    assert is_text_input(np.array(["a", "b"]))
    assert not is_text_input(np.array([1.0, 2.0]))


def test_nullable_and_timestamp_cells_in_object_frames():
    """Defect 5: pd.NA and Timestamp cells raised a bare TypeError."""
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": ["a", "b", None],
            "t": [pd.Timestamp("2020-01-01"), pd.NaT, pd.Timestamp("2020-01-02")],
            "o": pd.Series([pd.NA, 1.5, "x"], dtype=object),
        }
    )
    h = content_hash(frame)
    assert len(set(h.tolist())) == 3
    for i in range(3):
        assert content_hash(frame.iloc[i : i + 1])[0] == h[i]


def test_float32_copies_of_fractions_are_other_numbers():
    """Defect 6 (documented): float32(0.1) is not 0.1; integers agree."""
    X = np.array([[0.1, 0.5], [3.0, 7.0]])
    h64, h32 = content_hash(X), content_hash(X.astype(np.float32))
    assert h64[0] != h32[0]  # 0.1 rounds differently in float32
    assert h64[1] == h32[1]
    assert content_hash(X.astype(np.float32).astype(np.float64))[0] == h32[0]
    assert "float32" in skdpa._hashing.__doc__


# -- numeric fast paths agree with the general path ------------------------------


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint8])
def test_lookup_table_matches_general_path_for_every_value(dtype):
    values = np.arange(256, dtype=np.uint8).view(
        np.int8 if dtype is np.int8 else np.uint8
    )
    X = values.astype(dtype).reshape(16, 16)
    X = np.vstack([X, X.T, X[::-1]])
    keys = _column_keys(X.shape[1])
    assert_array_equal(
        _dense_mix_sum(X, keys), _dense_mix_sum(X, keys, use_table=False)
    )
    assert_array_equal(content_hash(X), content_hash(X.astype(np.float64)))


def test_threaded_and_chunked_paths_agree(monkeypatch):
    rng = np.random.default_rng(11)
    X = rng.integers(0, 256, (301, 37)).astype(np.uint8)
    F = rng.normal(size=(301, 37))
    F[5, 3] = np.nan
    frame = pd.DataFrame(F[:, :4]).assign(s=["a", "1", None] * 100 + ["b"])
    finite = np.nan_to_num(F)
    expected = [
        content_hash(X),
        content_hash(F),
        content_hash(frame),
        sum_hash(finite),
    ]
    monkeypatch.setattr(skdpa._hashing, "_THREAD_CELLS", 1)
    monkeypatch.setattr(skdpa._hashing, "_N_THREADS", 2)
    monkeypatch.setattr(skdpa._hashing, "_CHUNK_CELLS", 100)
    assert_array_equal(content_hash(X), expected[0])
    assert_array_equal(content_hash(F), expected[1])
    assert_array_equal(content_hash(frame), expected[2])
    assert_array_equal(sum_hash(finite), expected[3])


def test_sparse_matches_dense_with_explicit_zeros_duplicates_and_big_ints():
    dense = np.array([[0.0, -0.0, 1.5], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    explicit = sp.csr_matrix(
        (
            np.array([0.0, -0.0, 1.5, 3.0, 0.0]),
            np.array([0, 1, 2, 0, 2]),
            np.array([0, 3, 5, 5]),
        ),
        shape=(3, 3),
    )
    assert_array_equal(content_hash(explicit), content_hash(dense))
    ints = np.array([[2**62 + 1, 0, -(2**63)], [0, 0, 2**53 + 1]], dtype=np.int64)
    rows, cols = np.nonzero(np.ones_like(ints))
    data = ints[rows, cols]
    # every entry stored twice: (v - 1) + 1, including explicit zeros
    duplicated = sp.coo_matrix(
        (
            np.concatenate([data - 1, np.ones_like(data)]),
            (np.concatenate([rows, rows]), np.concatenate([cols, cols])),
        ),
        shape=ints.shape,
    )
    assert_array_equal(content_hash(duplicated), content_hash(ints))
    assert_array_equal(content_hash(sp.csc_array(ints)), content_hash(ints))
    big = np.array([[2**64 - 1, 0], [0, 2**63]], dtype=np.uint64)
    assert_array_equal(content_hash(sp.csr_matrix(big)), content_hash(big))


# -- sum_hash -------------------------------------------------------------------


def test_sum_hash_is_exact_modulo_2_64_per_row():
    X = np.array([[2**63, 2**63], [2**64 - 1, 2]], dtype=np.uint64)
    assert sum_hash(X).tolist() == [0, 1]
    assert sum_hash(np.array([[-(2**63), -1]], dtype=np.int64)).tolist() == [2**63 - 1]
    F = np.array([[1e300, 1.0], [2.0**70 + 2.0**60, 3.0], [0.5, 2.0**60]])
    assert sum_hash(F).tolist() == [
        (int(1e300) + 1) % 2**64,
        (2**60 + 3) % 2**64,
        (2**23 + (2**84 % 2**64)) % 2**64,
    ]
    # the same huge values as Python ints or strings in an object array
    cells = np.array([[int(1e300), 1], ["1180591620717411303424", "3"]], dtype=object)
    assert sum_hash(cells).tolist() == [(int(1e300) + 1) % 2**64, (2**70 + 3) % 2**64]
    assert_array_equal(sum_hash(sp.csr_matrix(F)), sum_hash(F))
    assert_array_equal(sum_hash(pd.DataFrame(F)), sum_hash(F))


def test_sum_hash_object_input_is_read_per_cell():
    X = np.array([["10", 5, 0.5], ["7", 1, 2]], dtype=object)
    assert sum_hash(X).tolist() == [int(15.5 * 2**24), 10]
    frame = pd.DataFrame({"a": ["10", "N/A"], "b": [5, 1]})
    with pytest.raises(
        ValueError,
        match=r"hasher='sum' needs numeric features; got str 'N/A' at row 1, column 0",
    ):
        sum_hash(frame)
    assert sum_hash(frame.iloc[:1]).tolist() == [15]
    with pytest.raises(
        ValueError, match=r"needs finite values; got a missing value at row 0, column 1"
    ):
        sum_hash(np.array([[1, None]], dtype=object))
    with pytest.raises(
        ValueError, match=r"needs finite values; got inf at row 1, column 0"
    ):
        sum_hash(sp.csr_matrix(np.array([[1.0, 0.0], [np.inf, 0.0]])))
    with pytest.raises(ValueError, match=r"needs numeric features; got a 1-D sequence"):
        sum_hash(["a", "b"])


# -- canonical orderings -----------------------------------------------------------


def test_canonical_order_of_equal_content_in_other_forms():
    X = np.array([["3", "a"], [3, "a"], [3.0, "a"], [1, "b"], ["3", "a"]], dtype=object)
    h = content_hash(X)
    assert h[0] == h[1] == h[2] == h[4]
    keys = canonical_row_keys(X, [0, 1, 2, 3])
    assert keys[0] == keys[1] == keys[2] != keys[3]
    ids = unique_sample_ids(X, h)
    assert ids[0] == ids[1] == ids[2] == ids[4] != ids[3]
    reference = [repr(row) for row in X[canonical_order(X, h)].tolist()]
    for seed in range(5):
        perm = np.random.default_rng(seed).permutation(len(X))
        Y = X[perm]
        got = [repr(row) for row in Y[canonical_order(Y, content_hash(Y))].tolist()]
        assert got == reference


def test_hashing_module_doctests():
    result = doctest.testmod(skdpa._hashing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10
    assert result.failed == 0


def test_mixed_content_is_stable_across_processes():
    code = (
        "import numpy as np, pandas as pd, datetime;"
        "from skdpa._hashing import content_hash;"
        "X = np.empty((3, 4), dtype=object);"
        "X[0] = ['10023', 2**63 + 1, None, b'x'];"
        "X[1] = ['N/A', -(2**63), pd.Timestamp('2020-01-01', tz='UTC'), 1.5];"
        "X[2] = [{'s'}.pop(), 2**70, datetime.timedelta(1), pd.NA];"
        "print(' '.join(str(int(v)) for v in content_hash(X)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("0", "123", "random")
    }
    assert len(outputs) == 1
    assert len(outputs.pop().split()) == 3
