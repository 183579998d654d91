"""Rule 9: how the data reached us must not let one row move the others.

A reader's type inference (CSV booleans, dates, ``inf``, large integers), a
frame's column order and lists of lists: one inserted row must leave every
clean row's partition where it was.
"""

import datetime
import io
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from skdpa import DPAClassifier
from skdpa._hashing import (
    combine_lossy_facts,
    content_hash,
    lossy_integer_columns,
    lossy_integer_facts,
)


def _one(cell):
    return content_hash(np.array([[cell, "x"]], dtype=object))[0]


@pytest.mark.parametrize(
    "spellings",
    [
        [True, np.True_, 1, "1", "True", "true", "TRUE"],
        [False, np.False_, 0, "0", "False", "false", "FALSE"],
    ],
)
def test_boolean_spellings_hash_alike(spellings):
    assert len({_one(v) for v in spellings}) == 1


def test_other_boolean_like_words_stay_strings():
    assert _one("tRuE") != _one(True)
    assert _one("yes") != _one(True)
    assert _one("T") != _one(True)


def test_pyarrow_booleans_hash_like_numpy_booleans():
    pytest.importorskip("pyarrow")
    values = [True, False, True]
    arrow = pd.DataFrame({"b": pd.array(values, dtype="bool[pyarrow]"), "x": 1.5})
    plain = pd.DataFrame({"b": values, "x": 1.5})
    strings = pd.DataFrame({"b": ["True", "false", "TRUE"], "x": 1.5})
    assert_array_equal(content_hash(arrow), content_hash(plain))
    assert_array_equal(content_hash(strings), content_hash(plain))


@pytest.mark.parametrize(
    "cell, number",
    [
        ("inf", np.inf),
        ("+inf", np.inf),
        ("Inf", np.inf),
        ("INF", np.inf),
        ("Infinity", np.inf),
        ("-inf", -np.inf),
        ("-Infinity", -np.inf),
        ("nan", np.nan),
        ("NaN", np.nan),
        ("-nan", np.nan),
        ("NAN", np.nan),
    ],
)
def test_inf_and_nan_words_hash_as_floats(cell, number):
    assert _one(cell) == _one(number)
    assert _one(cell) != _one(cell + "z")


@pytest.mark.parametrize(
    "cell, value",
    [
        ("2020-01-05", datetime.date(2020, 1, 5)),
        ("2020-01-05", pd.Timestamp("2020-01-05")),
        ("2020-01-05 10:11:12", pd.Timestamp("2020-01-05 10:11:12")),
        ("2020-01-05T10:11:12", datetime.datetime(2020, 1, 5, 10, 11, 12)),
        ("2020-01-05 10:11", np.datetime64("2020-01-05T10:11", "m")),
        ("2020-01-05 10:11:12.000008", pd.Timestamp("2020-01-05 10:11:12.000008")),
        ("2020-01-05 10:11:12.5", pd.Timestamp("2020-01-05 10:11:12.500")),
        (
            "2020-01-05T10:11:12.000000001",
            pd.Timestamp("2020-01-05 10:11:12.000000001"),
        ),
        ("2020-01-05T10:11:12Z", pd.Timestamp("2020-01-05 10:11:12", tz="UTC")),
        ("2020-01-05T10:11:12+01:00", pd.Timestamp("2020-01-05 09:11:12")),
        ("2020-01-05 10:11:12-0230", pd.Timestamp("2020-01-05 12:41:12")),
    ],
)
def test_iso_date_strings_hash_as_their_instant(cell, value):
    assert _one(cell) == _one(value)


@pytest.mark.parametrize(
    "cell",
    [
        "2020-02-30",
        "2020-13-01",
        "2020-1-5",
        "2020-01-05 24:00",
        "2020-01-05 10:60",
        "2020-01-05 10:11:12.",
        "2020-01-05 10:11:12.0000000001",
        "2020-01-05x",
        " 2020-01-05",
        "2020-01-05+01:00",
    ],
)
def test_strings_that_are_not_iso_instants_stay_strings(cell):
    data = cell.encode()
    token = b"s" + len(data).to_bytes(8, "little") + data
    from skdpa._hashing import row_tokens

    assert row_tokens(np.array([[cell]], dtype=object)) == [token]


def test_reordered_frame_columns_hash_alike():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "b": rng.normal(size=30),
            "a": rng.integers(0, 5, 30),
            "c": [str(v) for v in rng.integers(0, 3, 30)],
            "d": ["x", "y", "z"] * 10,
        }
    )
    h = content_hash(frame)
    for order in (["a", "b", "c", "d"], ["d", "c", "b", "a"], ["c", "a", "d", "b"]):
        assert_array_equal(content_hash(frame[order]), h)
    numeric = frame[["b", "a"]]
    assert_array_equal(content_hash(numeric), content_hash(frame[["a", "b"]]))
    # a frame whose columns are in order hashes like its array
    ordered = frame[["a", "b"]]
    assert_array_equal(content_hash(ordered), content_hash(ordered.to_numpy()))


def test_reordered_columns_keep_partitions_in_fit():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"y1": rng.normal(size=60), "x0": rng.normal(size=60)})
    y = np.arange(60) % 2
    a = DPAClassifier(k=5).fit(frame, y)
    b = DPAClassifier(k=5).fit(frame[["x0", "y1"]], y)
    for ra, rb in zip(a.estimators_samples_, b.estimators_samples_, strict=True):
        assert_array_equal(ra, rb)


def test_lists_of_lists_do_not_infer_across_rows():
    rows = [[True, 1.5, 2**60 + 1], [False, np.inf, 3], [True, np.nan, 2**61 + 1]]
    clf = DPAClassifier(k=97)
    clean = clf.assign_partitions(rows)
    dirty = clf.assign_partitions([*rows, ["junk", "x", 0.5]])
    assert_array_equal(dirty[:3], clean)
    # and in fit: every clean row stays with the same partition
    X = [[i % 7, bool(i % 2), 2**60 + i] for i in range(40)]
    y = [i % 2 for i in range(40)]
    fit_clean = DPAClassifier(k=7).fit(X, y)
    fit_dirty = DPAClassifier(k=7).fit([*X, [0.5, 1, 2.5]], [*y, 0])
    for a, b in zip(
        fit_clean.estimators_samples_, fit_dirty.estimators_samples_, strict=True
    ):
        assert set(a.tolist()) <= set(b.tolist())


# -- information lost before the hasher sees it ----------------------------------


def test_big_integer_ids_read_as_float_warn_with_the_fix():
    text = "id,x\n9007199254740993,1\n,2\n9007199254740995,3\n9007199254740997,4\n"
    frame = pd.read_csv(io.StringIO(text))
    assert frame["id"].dtype == np.float64
    assert lossy_integer_columns(frame) == ["id"]
    y = [0, 1, 0, 1]
    with pytest.warns(UserWarning, match=r"column 'id' holds integers beyond 2\*\*53"):
        DPAClassifier(k=2).fit(frame, y)
    with pytest.warns(UserWarning, match=r'dtype="Int64"'):
        DPAClassifier(k=2).fit(frame, y)
    # read with the fix, nothing is lost and nothing warns
    exact = pd.read_csv(io.StringIO(text), dtype={"id": "Int64"})
    assert lossy_integer_columns(exact) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DPAClassifier(k=2).fit(exact, y)


def test_float_columns_that_are_not_big_integers_do_not_warn():
    frame = pd.DataFrame({"x": [0.5, 2.0**60, np.nan], "y": [1.0, 2.0, 3.0]})
    assert lossy_integer_columns(frame) == []
    assert lossy_integer_columns(np.array([[2.0**60, 1.0], [3.0, 0.5]])) == [0]
    assert lossy_integer_columns(np.array([[2.0**52, 1.0]])) == []


_BIG_OR_NOT = st.sampled_from(
    [0.0, 1.0, -3.0, 0.5, 2.0**52, 2.0**53, 2.0**53 + 2.0, -(2.0**60), 2.0**60 + 0.0,
     float("nan"), float("inf"), 1e300, 2.5e16 + 0.5]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(_BIG_OR_NOT, min_size=3, max_size=3), min_size=1, max_size=8
    ),
    cut=st.integers(0, 8),
    sparse=st.booleans(),
)
def test_blocks_combine_to_the_whole_datas_lossy_columns(rows, cut, sparse):
    # a Dask fit reads its blocks apart: combined, their facts must name the
    # columns the whole data names, for arrays, sparse matrices and frames
    X = np.array(rows)
    cut = min(cut, len(X))
    blocks = [X[:cut], X[cut:]]
    if sparse:
        X, blocks = sp.csr_matrix(X), [sp.csr_matrix(b) for b in blocks]
    parts = [lossy_integer_facts(b) for b in blocks if b.shape[0]]
    assert combine_lossy_facts(parts) == lossy_integer_columns(X)
    frame = pd.DataFrame(np.asarray(rows), columns=["p", "q", "r"])
    parts = [lossy_integer_facts(frame.iloc[a:b]) for a, b in ((0, cut), (cut, None))]
    assert combine_lossy_facts(parts) == lossy_integer_columns(frame)


# -- the property: CSV round trips with one junk row -------------------------------

JUNK = {
    "flag": ["maybe", "", "yes"],
    "when": ["not-a-date", "", "2020-02-30"],
    "score": ["junk", "", "n/a"],
    "count": ["x", "", "1.5"],
    "ident": ["unknown", "?"],
}


@st.composite
def csv_frames(draw):
    n = draw(st.integers(2, 12))
    base = datetime.datetime(2019, 1, 1)
    with_time = draw(st.booleans())
    when = []
    for _ in range(n):
        days = draw(st.integers(0, 2000))
        moment = base + datetime.timedelta(days=days)
        if with_time:
            moment += datetime.timedelta(seconds=draw(st.integers(0, 86399)))
            when.append(moment.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            when.append(moment.strftime("%Y-%m-%d"))
    floats = st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from([np.inf, -np.inf]),
        st.integers(-1000, 1000).map(float),
    )
    frame = pd.DataFrame(
        {
            "flag": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
            "when": when,
            "score": draw(st.lists(floats, min_size=n, max_size=n)),
            "count": draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n)),
            "ident": draw(st.lists(st.integers(2**53, 2**62), min_size=n, max_size=n)),
        }
    )
    column = draw(st.sampled_from(sorted(JUNK)))
    junk = {c: frame[c].iloc[0] for c in frame.columns}
    junk[column] = draw(st.sampled_from(JUNK[column]))
    if column == "ident" or junk["ident"] == "":
        pass
    at = draw(st.integers(0, n))
    return frame, junk, at


def _read(text, reader):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.read_csv(io.StringIO(text), **reader)


READERS = [
    pytest.param({}, id="default"),
    pytest.param({"parse_dates": ["when"]}, id="parse_dates"),
    pytest.param({"engine": "pyarrow"}, id="pyarrow-engine"),
    pytest.param({"dtype_backend": "pyarrow"}, id="pyarrow-dtypes"),
]


@pytest.mark.parametrize("reader", READERS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_frames())
def test_csv_round_trip_with_one_junk_row_keeps_clean_partitions(reader, case):
    if "pyarrow" in str(reader):
        pytest.importorskip("pyarrow")
    frame, junk, at = case
    clean_text = frame.to_csv(index=False)
    lines = clean_text.splitlines()
    junk_line = ",".join(str(junk[c]) for c in frame.columns)
    dirty_text = "\n".join([*lines[: at + 1], junk_line, *lines[at + 1 :]]) + "\n"
    clean = _read(clean_text, reader)
    dirty = _read(dirty_text, reader)
    keep = np.r_[0:at, at + 1 : len(dirty)]
    clf = DPAClassifier(k=101)
    assert_array_equal(
        clf.assign_partitions(dirty.iloc[keep]), clf.assign_partitions(clean)
    )


def test_errors_name_the_column_by_its_position_in_the_frame():
    frame = pd.DataFrame({"z": [1.0, 2.0], "a": ["x", {"bad": 1}]})
    with pytest.raises(TypeError, match=r"row 1, column 1: dict"):
        content_hash(frame)


_WIDE = st.sampled_from([0.5, 3.0, 2.0**53, 2.0**53 + 2, -(2.0**60), 2.0**60 + 0.5])


@given(
    cells=st.lists(
        st.lists(
            st.one_of(_WIDE, st.sampled_from([np.nan, np.inf])), min_size=4, max_size=4
        ),
        min_size=1,
        max_size=6,
    ),
    float32=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_lossy_columns_of_an_array_match_each_column_read_alone(cells, float32):
    """The one-pass screen finds exactly the columns a per-column check finds."""
    X = np.array(cells, dtype=np.float32 if float32 else np.float64)
    alone = [j for j in range(X.shape[1]) if lossy_integer_columns(X[:, [j]]) == [0]]
    expected = []
    for j in range(X.shape[1]):
        column = X[:, j].astype(np.float64)
        finite = column[np.isfinite(column)]
        if finite.size and np.abs(finite).max() > 2**53:
            if (finite == np.floor(finite)).all():
                expected.append(j)
    assert lossy_integer_columns(X) == expected == alone
