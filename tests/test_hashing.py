"""Rule 2: the hash is a function of each row's values only, stable forever."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from skdpa import DPAClassifier
from skdpa._hashing import (
    canonical_order,
    content_hash,
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
    with pytest.raises(TypeError, match="Cannot hash a value of type dict"):
        content_hash(np.array([[{"a": 1}, 1]], dtype=object))


def test_sum_hash_rejects_bad_input():
    with pytest.raises(ValueError, match="hasher='sum' needs numeric features"):
        sum_hash(["text"])
    with pytest.raises(ValueError, match="hasher='sum' needs finite values"):
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
