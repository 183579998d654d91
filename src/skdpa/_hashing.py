"""Canonical row content, built-in hashers and canonical orderings.

DPA places a training row in partition ``hash(row) % k``. The certificate
holds only if inserting or removing a row moves no *other* row, so every
decision made here depends on one row, and usually on one cell, alone: never
on the dataset size, on the other rows, on which code path the dataset as a
whole would take, or on a table chosen from the data's range. Python's salted
:func:`hash` is never used, so hashes are stable across processes and
platforms. Golden values are pinned in ``tests/test_hashing.py``; changing any
constant here is a breaking change.

Canonical value of a cell (decided from that cell alone)
--------------------------------------------------------
- **Numbers** (Python and NumPy integers, floats and booleans, ``Fraction``,
  ``Decimal``): an integer that float64 represents exactly hashes as that
  float, so ``3``, ``3.0``, ``np.uint8(3)`` and ``"3"`` (see strings) hash
  alike and ``True`` hashes as ``1``. An integer float64 cannot hold (beyond
  ``2**53`` and not a float64 value, such as most int64/uint64 extremes or long
  Python integers) gets an exact integer code of its own. Other values hash as
  their float64 value: ``-0.0`` as ``0.0``, every NaN as one NaN. float16 and
  float32 widen exactly, so **a float32 copy of fractional data is a different
  number from its float64 original** (``np.float32(0.1) != 0.1``) and lands in a
  different partition; integer-valued data hashes alike in every dtype.
  Non-integral rationals and ``Decimal`` values are rounded to float64.
- **Missing values** (``None``, NaN, ``pd.NA``, ``pd.NaT``, NumPy ``NaT``) are
  one value, the canonical NaN: a nullable ``Int64`` column holding ``pd.NA``
  hashes like a float column holding NaN.
- **Strings** in 2-D input (object arrays, DataFrame cells) that spell a
  decimal number in plain ASCII (optional sign, digits, optional fraction,
  optional exponent; no spaces, underscores, ``nan``/``inf`` words or
  non-ASCII digits) hash as that number: exactly when it is an integer, so
  ``"10023"`` hashes like ``10023`` and long digit strings stay exact;
  otherwise as the float64 it rounds to, like ``float(s)``. An integer spelled
  with more than 4300 digits (Python's own limit for converting strings to
  ``int``) hashes as a string. Any other string hashes as a string. pandas
  infers a column's type from the whole column, a decision one junk row can
  flip; hashing by value makes each row's partition independent of it. A 1-D
  sequence of strings (documents for a text pipeline) hashes its elements as
  strings, each like a one-column row holding it (a missing document like the
  missing value).
- **Bytes**, **datetimes** (``pd.Timestamp``, ``datetime.datetime`` and
  ``date``, ``np.datetime64``: one canonical instant, time-zone-aware values
  converted to UTC), **times of day** (``datetime.time``: microseconds after
  midnight, UTC when aware) and **timedeltas**; categorical columns hash by
  their values.
- Anything else (dicts, lists, complex numbers, arbitrary objects) raises a
  ``TypeError`` that names the cell; nothing falls back silently.

Row hashes
----------
A row whose cells are all numbers or missing is hashed in vectorised NumPy:
each cell's canonical 64-bit word is mixed with its column index through
SplitMix64 and the per-column mixes are summed modulo 2**64. The sum makes
sparse rows cheap (zeros contribute a precomputed constant per column) and a
final mix spreads the low bits that ``% k`` reads. A row with any other cell
is hashed with BLAKE2b over its canonical tokens. The choice is made per row.
"""

import datetime
import decimal
import hashlib
import math
import numbers
import os
import re
import reprlib
import sys
import warnings
from collections.abc import Mapping, Set
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.utils import _safe_indexing

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_CANONICAL_NAN = np.uint64(0x7FF8000000000000)
_NAN_WORD = int(_CANONICAL_NAN)
# Domain separation for integers that float64 cannot hold ("skdpaint").
_BIG_INT_TAG = int.from_bytes(b"skdpaint", "little")
# |v| <= 2**53: every such integer is a float64 value.
_EXACT_INT = 1 << 53
# Integers written with more digits than this stay strings (Python's default
# int/str conversion limit; it also bounds the work an exponent can ask for).
_MAX_INT_DIGITS = 4300
# Cells per chunk of the vectorised paths: the scratch buffers stay in cache.
_CHUNK_CELLS = 1 << 16
# Datasets with at least this many cells are split over two threads (NumPy
# releases the GIL inside ufuncs and take); the result does not depend on it.
_THREAD_CELLS = 1 << 20
_N_THREADS = min(2, os.cpu_count() or 1)
# sum_hash: fractional rows are summed in multiples of 2**-24.
_QUANTUM = float(1 << 24)
_SHIFT24 = np.uint64(24)

# kinds of canonical cells
_FLOAT, _BIG, _TOKEN = 0, 1, 2

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Words a reader may leave as text after one junk row made the column text:
# the spellings of booleans pandas and pyarrow read, and of inf and NaN that
# float parsers accept (case-insensitive, optional sign).
_BOOL_WORDS = {"True": 1.0, "true": 1.0, "TRUE": 1.0}
_BOOL_WORDS.update({"False": 0.0, "false": 0.0, "FALSE": 0.0})
_FLOAT_WORD = re.compile(r"([+-]?)(inf|infinity|nan)", re.IGNORECASE)
# ISO 8601 instants: a date, optionally a time (minutes, seconds, up to 9
# fraction digits) and, after a time, "Z" or an offset.
_ISO_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_RECORD = np.dtype([("tag", "u1"), ("word", "<u8")])  # packed: 9 bytes
_TABLE_DTYPES = (np.dtype(bool), np.dtype(np.int8), np.dtype(np.uint8))
_FLOAT_TYPES = (float, np.float64, np.float32, np.float16, bool, np.bool_)
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_DATE = datetime.date(1970, 1, 1)
# Seconds per NumPy time unit, as (numerator, denominator).
_UNIT_SECONDS = {
    "W": (604800, 1),
    "D": (86400, 1),
    "h": (3600, 1),
    "m": (60, 1),
    "s": (1, 1),
    "ms": (1, 10**3),
    "us": (1, 10**6),
    "ns": (1, 10**9),
    "ps": (1, 10**12),
    "fs": (1, 10**15),
    "as": (1, 10**18),
}


# -- SplitMix64 --------------------------------------------------------------


def _splitmix64_inplace(z, tmp):
    """SplitMix64 finaliser of a uint64 array, in place (``tmp``: scratch)."""
    z += _GOLDEN
    np.right_shift(z, _S30, out=tmp)
    z ^= tmp
    z *= _M1
    np.right_shift(z, _S27, out=tmp)
    z ^= tmp
    z *= _M2
    np.right_shift(z, _S31, out=tmp)
    z ^= tmp
    return z


def _splitmix64(z):
    """SplitMix64 finaliser of a uint64 array (a new array)."""
    z = np.array(z, dtype=np.uint64, copy=True)
    return _splitmix64_inplace(z, np.empty_like(z))


def _splitmix64_int(z):
    """SplitMix64 of one Python int (the same function as the array version)."""
    z = (z + int(_GOLDEN)) & _MASK64
    z = ((z ^ (z >> 30)) * int(_M1)) & _MASK64
    z = ((z ^ (z >> 27)) * int(_M2)) & _MASK64
    return z ^ (z >> 31)


def _column_keys(n_features):
    return _splitmix64(np.arange(1, n_features + 1, dtype=np.uint64))


def _limbs(v):
    """Two's-complement base-2**64 digits of v, least significant first (>= 2)."""
    m = max(2, (v.bit_length() + 64) // 64)
    u = v % (1 << (64 * m))
    return [(u >> (64 * i)) & _MASK64 for i in range(m)]


def _big_mix_int(v, key):
    """Mix of an integer float64 cannot hold, in column ``key``."""
    acc = int(key) ^ _BIG_INT_TAG
    for limb in _limbs(v):
        acc = _splitmix64_int(acc ^ limb)
    return acc


def _big_mix(values, keys):
    """:func:`_big_mix_int` of int64/uint64 values (two limbs), vectorised."""
    low = values.astype(np.uint64)  # two's complement for int64
    high = np.where(values < 0, np.uint64(_MASK64), np.uint64(0))
    acc = _splitmix64(np.asarray(keys, dtype=np.uint64) ^ np.uint64(_BIG_INT_TAG) ^ low)
    return _splitmix64(acc ^ high)


# -- canonical cells -----------------------------------------------------------


def _float_word(x):
    """Canonical float64 bits of one float (-0.0 -> 0.0, every NaN -> one)."""
    if x != x:
        return _NAN_WORD
    return int(np.float64(x + 0.0).view(np.uint64))


def _int_cell(v):
    """(kind, value) of an integer: its float64 word if exact, else itself."""
    if -_EXACT_INT <= v <= _EXACT_INT:
        return _FLOAT, _float_word(float(v))
    try:
        f = float(v)
    except OverflowError:
        return _BIG, v
    if int(f) == v:
        return _FLOAT, _float_word(f)
    return _BIG, v


def _to_float(v):
    """float(v), with magnitudes beyond float64 rounded to +-inf."""
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def _decimal_cell(d, *, from_string):
    """(kind, value) of a finite Decimal; None for an over-long integer string."""
    _, digits, exponent = d.as_tuple()
    if not any(digits):
        return _FLOAT, 0
    stripped = len(digits)
    while digits[stripped - 1] == 0:
        stripped -= 1
    exponent += len(digits) - stripped
    if exponent < 0:  # not an integer: its float64 value
        return _FLOAT, _float_word(float(d))
    if stripped + exponent > _MAX_INT_DIGITS:
        return None if from_string else (_FLOAT, _float_word(_to_float(d)))
    return _int_cell(int(d))


def _number_cell(v):
    """(kind, value) of a number; raises _Unhashable for complex numbers."""
    if isinstance(v, _FLOAT_TYPES):
        return _FLOAT, _float_word(float(v))
    if isinstance(v, int | np.integer):
        return _int_cell(int(v))
    if isinstance(v, np.floating):  # longdouble: exact integers stay exact
        if np.isfinite(v) and v == np.floor(v):
            return _int_cell(int(v))
        return _FLOAT, _float_word(float(v))
    if isinstance(v, decimal.Decimal):
        if v.is_nan():
            return _FLOAT, _NAN_WORD
        if v.is_infinite():
            return _FLOAT, _float_word(float(v))
        return _decimal_cell(v, from_string=False)
    if isinstance(v, numbers.Rational):
        if v.denominator == 1:
            return _int_cell(int(v.numerator))
        return _FLOAT, _float_word(_to_float(v))
    if isinstance(v, numbers.Real):
        return _FLOAT, _float_word(_to_float(v))
    raise _Unhashable(v)


def _iso_instant_cell(match):
    """(kind, token) of an ISO 8601 instant, or None if it names no instant.

    The token is the one of the same instant as a date or datetime value
    (time-zone offsets converted to UTC), exactly, to the nanosecond.
    """
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        days = (datetime.date(int(year), int(month), int(day)) - _EPOCH_DATE).days
    except ValueError:
        return None
    seconds = days * 86400
    if hour is not None:
        h, m, sec = int(hour), int(minute), int(second or 0)
        if h > 23 or m > 59 or sec > 59:
            return None
        seconds += h * 3600 + m * 60 + sec
    if zone is not None and zone != "Z":
        zh, zm = int(zone[1:3]), int(zone[-2:])
        if zh > 23 or zm > 59:
            return None
        offset = zh * 3600 + zm * 60
        seconds -= offset if zone[0] == "+" else -offset
    digits = fraction or ""
    count = seconds * 10 ** len(digits) + int(digits or 0)
    return _TOKEN, _time_token(b"t", count, (1, 10 ** len(digits)))


def _string_cell(s):
    """(kind, value) of a string cell: a number, boolean, inf/NaN word or ISO
    instant if it spells one, else a token (see the module docstring)."""
    word = _BOOL_WORDS.get(s)
    if word is not None:
        return _FLOAT, _float_word(word)
    if len(s) <= 9 and _FLOAT_WORD.fullmatch(s) is not None:
        return _FLOAT, _float_word(float(s))
    if len(s) >= 10 and s[4:5] == "-":
        instant = _ISO_INSTANT.fullmatch(s)
        if instant is not None:
            cell = _iso_instant_cell(instant)
            if cell is not None:
                return cell
    if _NUMBER.fullmatch(s) is not None:
        if _INTEGER.fullmatch(s) is not None:
            sign = "-" if s[0] == "-" else ""
            digits = s.lstrip("+-").lstrip("0") or "0"
            if len(digits) <= _MAX_INT_DIGITS:
                return _int_cell(int(sign + digits))
        else:
            cell = _decimal_cell(decimal.Decimal(s), from_string=True)
            if cell is not None:
                return cell
    return _TOKEN, _text_token(s)


def _text_token(v):
    """Canonical bytes of a string or bytes value; a missing one is the NaN."""
    if isinstance(v, str):
        data = v.encode("utf-8", "surrogatepass")
        return b"s" + len(data).to_bytes(8, "little") + data
    if isinstance(v, bytes | bytearray):
        return b"b" + len(v).to_bytes(8, "little") + bytes(v)
    return _cell_token(_FLOAT, _NAN_WORD)


def _text_hash(X):
    """Hashes of a 1-D sequence of documents.

    A document hashes as a one-column row holding that string (the same
    tokens and digest), and a missing document as a one-column row holding
    the missing value, so its hash is the same whatever else the sequence holds.
    """
    missing = np.array([not isinstance(v, str | bytes) for v in X], dtype=bool)
    h = np.empty(len(missing), dtype=np.uint64)
    present = [v for v, m in zip(X, missing, strict=True) if not m]
    h[~missing] = _digest_tokens([_text_token(v) for v in present])
    if missing.any():
        nan_row = np.array([[np.nan]])
        h[missing] = _dense_mix_sum(nan_row, _column_keys(1))[0] ^ np.uint64(1)
    return _splitmix64(h)


def _int_bytes(v):
    magnitude = abs(v)
    data = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
    return (b"-" if v < 0 else b"+") + len(data).to_bytes(8, "little") + data


def _time_token(tag, count, unit):
    """Token of ``count`` time units of ``unit`` seconds (numerator, denominator):
    the exact number of seconds as a reduced fraction, so every unit and type
    spelling the same instant or duration gives the same token."""
    num, den = count * unit[0], unit[1]
    g = math.gcd(num, den)
    return tag + _int_bytes(num // g) + _int_bytes(den // g)


def _month_token(months):
    # calendar months are not a fixed number of seconds: a unit of their own
    return b"D" + _int_bytes(months)


def _time_unit(dtype):
    """(datetime64/timedelta64 dtype to convert to, (num, den) seconds)."""
    unit, count = np.datetime_data(dtype)
    if unit == "generic":
        raise TypeError(
            f"Cannot hash a {dtype} value without a time unit; the content "
            "hasher's argument must be a string or a number (or a date or time "
            "with a unit)."
        )
    if unit in ("Y", "M"):  # calendar units: days (datetimes), months (deltas)
        target = "datetime64[D]" if dtype.kind == "M" else "timedelta64[M]"
        return np.dtype(target), None if dtype.kind == "m" else (86400, 1)
    num, den = _UNIT_SECONDS[unit]
    return dtype, (num * count, den)


def _numpy_time_cell(v):
    if np.isnat(v):
        return _FLOAT, _NAN_WORD
    dtype, unit = _time_unit(v.dtype)
    count = int(v.astype(dtype).astype(np.int64))
    if unit is None:
        return _TOKEN, _month_token(count)
    tag = b"t" if isinstance(v, np.datetime64) else b"d"
    return _TOKEN, _time_token(tag, count, unit)


def _time_cell(v):
    """(kind, value) of a date, datetime or timedelta; None for anything else."""
    if isinstance(v, np.datetime64 | np.timedelta64):
        return _numpy_time_cell(v)
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(v, pd.Timestamp):
        return _numpy_time_cell(v.to_datetime64())  # UTC when tz-aware
    if pd is not None and isinstance(v, pd.Timedelta):
        return _numpy_time_cell(v.to_timedelta64())
    if isinstance(v, datetime.datetime):
        delta = v.replace(tzinfo=None) - _EPOCH
        offset = v.utcoffset()
        if offset is not None:
            delta -= offset
        return _TOKEN, _time_token(b"t", _microseconds(delta), (1, 10**6))
    if isinstance(v, datetime.date):
        return _TOKEN, _time_token(b"t", (v - _EPOCH_DATE).days, (86400, 1))
    if isinstance(v, datetime.timedelta):
        return _TOKEN, _time_token(b"d", _microseconds(v), (1, 10**6))
    if isinstance(v, datetime.time):
        # a time of day: microseconds after midnight (UTC when aware)
        micro = ((v.hour * 60 + v.minute) * 60 + v.second) * 10**6 + v.microsecond
        offset = v.utcoffset()
        if offset is not None:
            micro = (micro - _microseconds(offset)) % (86400 * 10**6)
        return _TOKEN, _time_token(b"T", micro, (1, 10**6))
    return None


def _microseconds(delta):
    return (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds


def _time_array_cells(A):
    """Canonical cells of a 2-D datetime64/timedelta64 array, vectorised."""
    missing = np.isnat(A)
    dtype, unit = _time_unit(A.dtype)
    counts = A.astype(dtype).view(np.int64)
    word = np.zeros(A.shape, dtype=np.uint64)
    word[missing] = _NAN_WORD
    kind = np.full(A.shape, _TOKEN, dtype=np.uint8)
    kind[missing] = _FLOAT
    at = np.argwhere(~missing)
    values = counts[~missing].tolist()
    if unit is None:
        tokens = [_month_token(c) for c in values]
    else:
        tag = b"t" if A.dtype.kind == "M" else b"d"
        tokens = [_time_token(tag, c, unit) for c in values]
    special = dict(zip(map(tuple, at.tolist()), tokens, strict=True))
    return _Cells(word, kind, special, raw=A)  # NumPy scalars: cheap, exact


def _is_missing(v):
    if v is None or (isinstance(v, float | np.floating) and v != v):
        return True
    pd = sys.modules.get("pandas")
    if pd is not None and (v is pd.NA or v is pd.NaT):
        return True
    return isinstance(v, np.datetime64 | np.timedelta64) and bool(np.isnat(v))


class _Unhashable(Exception):
    """A cell the content hasher does not accept (turned into a TypeError)."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _unhashable_error(value, row, column):
    return TypeError(
        f"Cannot hash the value at row {row}, column {column}: "
        f"{type(value).__name__} {reprlib.repr(value)}. The content hasher's "
        "argument must be a string or a number (or bytes, a date, a time, a "
        "timedelta or a missing value)."
    )


def _canonical_cell(v):
    """(kind, value) of one cell of a 2-D input: see the module docstring."""
    if v is None:
        return _FLOAT, _NAN_WORD
    if isinstance(v, str):
        return _string_cell(v)
    if isinstance(v, bytes | bytearray):
        return _TOKEN, _text_token(v)
    if isinstance(v, np.datetime64 | np.timedelta64):  # timedelta64 is an integer
        return _numpy_time_cell(v)
    if isinstance(v, numbers.Number | np.number | np.bool_ | decimal.Decimal):
        return _number_cell(v)
    pd = sys.modules.get("pandas")
    if pd is not None and (v is pd.NA or v is pd.NaT):
        return _FLOAT, _NAN_WORD
    cell = _time_cell(v)
    if cell is None:
        raise _Unhashable(v)
    return cell


def _cell_token(kind, value):
    if kind == _FLOAT:
        return b"f" + value.to_bytes(8, "little")
    if kind == _BIG:
        return b"i" + _int_bytes(value)
    return value


# -- canonical words of numeric arrays -------------------------------------------


def _inexact_ints(values):
    """Mask of the int64/uint64 values float64 cannot hold, or None if none."""
    if values.dtype not in (np.dtype(np.int64), np.dtype(np.uint64)):
        return None
    candidates = values > _EXACT_INT
    if values.dtype == np.int64:
        candidates |= values < -_EXACT_INT
    if not candidates.any():
        return None
    where = np.nonzero(candidates)
    v = values[where]
    f = v.astype(np.float64)
    limit = 2.0**64 if values.dtype == np.uint64 else 2.0**63
    in_range = f < limit  # float(v) may round up to 2**64 (or 2**63)
    exact = in_range & (np.where(in_range, f, 0.0).astype(values.dtype) == v)
    if exact.all():
        return None
    mask = np.zeros(values.shape, dtype=bool)
    mask[tuple(w[~exact] for w in where)] = True
    return mask


def _mix_into(values, keys, fbuf, tmp, nan_buf):
    """Per-cell mixes of a numeric array, written into ``fbuf`` (as uint64).

    The one definition of a numeric cell's mix: SplitMix64 of its canonical
    float64 word XOR its column key; integers float64 cannot hold get
    :func:`_big_mix` instead. Every other path must agree with it.
    """
    np.add(values, 0.0, out=fbuf, dtype=np.float64, casting="unsafe")
    z = fbuf.view(np.uint64)
    if values.dtype.kind == "f":
        np.isnan(fbuf, out=nan_buf)
        if nan_buf.any():
            np.copyto(z, _CANONICAL_NAN, where=nan_buf)
    z ^= keys
    _splitmix64_inplace(z, tmp)
    big = _inexact_ints(values)
    if big is not None:
        z[big] = _big_mix(values[big], np.broadcast_to(keys, values.shape)[big])
    return z


def _mix_values(values, keys):
    """Cell mixes of any numeric array (keys broadcast against it)."""
    values, keys = np.asarray(values), np.asarray(keys, dtype=np.uint64)
    shape = np.broadcast_shapes(values.shape, keys.shape)
    values = np.broadcast_to(values, shape)
    fbuf = np.empty(shape, dtype=np.float64)
    return _mix_into(
        values, keys, fbuf, np.empty(shape, np.uint64), np.empty(shape, bool)
    )


def _words(values):
    """Canonical words of a numeric array and the mask of inexact integers."""
    words = np.add(values, 0.0, dtype=np.float64).view(np.uint64)
    if values.dtype.kind == "f":
        words[np.isnan(values)] = _CANONICAL_NAN
    return words, _inexact_ints(values)


def _lookup_table(dtype, keys):
    """Mix of every value of a one-byte dtype in every column: (d * 256,).

    Chosen by dtype alone (all 256 byte values, whatever the data holds) and
    built by the general path, so a gather gives exactly its values.
    """
    codes = np.arange(256, dtype=np.uint8)
    values = codes != 0 if dtype == np.dtype(bool) else codes.view(dtype)
    return _mix_values(values[None, :], keys[:, None]).ravel()


def _dense_mix_sum(A, keys, use_table=True):
    """Row sums (mod 2**64) of the cell mixes of a 2-D numeric array."""
    n, d = A.shape
    out = np.zeros(n, dtype=np.uint64)
    if n == 0 or d == 0:
        return out
    table = (
        _lookup_table(A.dtype, keys) if use_table and A.dtype in _TABLE_DTYPES else None
    )
    step = max(1, _CHUNK_CELLS // d)

    def rows(lo, hi):
        m = min(step, hi - lo)
        if table is not None:
            codes = A.view(np.uint8)
            offsets = np.arange(d, dtype=np.intp) * 256
            index = np.empty((m, d), dtype=np.intp)
            gathered = np.empty((m, d), dtype=np.uint64)
        else:
            fbuf = np.empty((m, d), dtype=np.float64)
            tmp = np.empty((m, d), dtype=np.uint64)
            nan_buf = np.empty((m, d), dtype=bool)
        for start in range(lo, hi, step):
            stop = min(start + step, hi)
            if table is not None:
                idx = index[: stop - start]
                np.add(codes[start:stop], offsets, out=idx, casting="unsafe")
                z = gathered[: stop - start]
                np.take(table, idx, out=z, mode="clip")  # in range: no checks
            else:
                k = stop - start
                z = _mix_into(A[start:stop], keys, fbuf[:k], tmp[:k], nan_buf[:k])
            np.add.reduce(z, axis=1, out=out[start:stop])

    n_threads = _N_THREADS if A.size >= _THREAD_CELLS else 1
    bounds = np.linspace(0, n, n_threads + 1).astype(int)
    if n_threads == 1:
        rows(0, n)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            for f in [
                pool.submit(rows, a, b)
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]:
                f.result()
    return out


# -- 2-D inputs as blocks of columns --------------------------------------------


class _Cells:
    """Canonical cells of a 2-D block: words, kinds and the other values.

    ``word[i, j]`` is the float64 word of a ``_FLOAT`` cell; ``special[i, j]``
    holds the Python int of a ``_BIG`` cell and the token of a ``_TOKEN`` cell.
    ``raw`` keeps the original objects (for the representation tie-break).
    """

    def __init__(self, word, kind, special, raw=None):
        self.word, self.kind, self.special, self.raw = word, kind, special, raw
        self._by_row = None

    @classmethod
    def numeric(cls, values):
        word, big = _words(values)
        kind = np.zeros(values.shape, dtype=np.uint8)
        special = {}
        if big is not None:
            kind[big] = _BIG
            for i, j in zip(*np.nonzero(big), strict=True):
                special[int(i), int(j)] = int(values[i, j])
        return cls(word, kind, special)

    def mixes(self, keys):
        z = _splitmix64(self.word ^ keys)
        for (i, j), value in self.special.items():
            z[i, j] = _big_mix_int(value, keys[j]) if self.kind[i, j] == _BIG else 0
        return z

    def take(self, rows):
        if self._by_row is None:  # built once: take is called per chunk of rows
            self._by_row = {}
            for (i, j), v in self.special.items():
                self._by_row.setdefault(i, []).append((j, v))
        rows = np.asarray(rows)
        special = {}
        for k, r in enumerate(rows.tolist()):
            for j, v in self._by_row.get(r, ()):
                special[k, j] = v
        raw = None if self.raw is None else self.raw[rows]
        return _Cells(self.word[rows], self.kind[rows], special, raw)


def _object_cells(values, positions):
    """Canonical cells of a 2-D object array (columns at ``positions``).

    Cells are grouped by type so that numbers are converted in bulk; each
    cell's value still depends on that cell alone.
    """
    n, d = values.shape
    word = np.zeros((n, d), dtype=np.uint64)
    kind = np.zeros((n, d), dtype=np.uint8)
    special = {}
    types = np.frompyfunc(type, 1, 1)(values) if values.size else values
    distinct = set(types.ravel().tolist())
    memo = {}
    for t in distinct:
        if len(distinct) == 1:
            mask = np.ones((n, d), dtype=bool)
        else:
            box = np.empty((), dtype=object)
            box[()] = t
            mask = np.asarray(types == box, dtype=bool)
        cells = values[mask]
        bulk = _bulk_numbers(cells, t)
        if bulk is not None:
            w, big = _words(bulk)
            word[mask] = w
            if big is not None:
                at = np.argwhere(mask)[big]
                kind[tuple(at.T)] = _BIG
                for (i, j), v in zip(at.tolist(), bulk[big].tolist(), strict=True):
                    special[i, j] = int(v)
            continue
        for (i, j), v in zip(np.argwhere(mask).tolist(), cells.tolist(), strict=True):
            try:
                if isinstance(v, str):
                    cell = memo.get(v)
                    if cell is None:
                        cell = memo[v] = _string_cell(v)
                else:
                    cell = _canonical_cell(v)
            except _Unhashable:
                raise _unhashable_error(v, i, int(positions[j])) from None
            if cell[0] == _FLOAT:
                word[i, j] = cell[1]
            else:
                kind[i, j] = cell[0]
                special[i, j] = cell[1]
    return _Cells(word, kind, special, raw=values)


def _bulk_numbers(cells, t):
    """The cells of Python/NumPy type ``t`` as a numeric array, or None."""
    if t in _FLOAT_TYPES:
        return cells.astype(np.float64)
    if isinstance(t, type) and issubclass(t, np.integer) and t is not np.timedelta64:
        return cells.astype(t)
    if t is int:
        for dtype in (np.int64, np.uint64):
            try:
                return cells.astype(dtype)
            except (OverflowError, ValueError, TypeError):
                pass
    return None


def _is_dense_dtype(dtype):
    return isinstance(dtype, np.dtype) and dtype.kind in "biuf" and dtype.itemsize <= 8


def _array_blocks(A, positions):
    """Blocks of a 2-D ndarray: one dense block, or cells for other dtypes."""
    if _is_dense_dtype(A.dtype):
        return [("dense", positions, A)]
    if A.dtype.kind == "c" and A.size:
        raise _unhashable_error(A.flat[0], 0, int(positions[0]))
    if A.dtype.kind in "Mm":
        return [("cells", positions, _time_array_cells(A))]
    values = np.empty(A.shape, dtype=object)
    if A.dtype.kind == "f":  # longdouble: keep NumPy scalars
        for j in range(A.shape[1]):
            values[:, j] = list(A[:, j])
    else:
        values[...] = A
    return [("cells", positions, _object_cells(values, positions))]


def _series_cells(s, position):
    """Canonical cells of one pandas column of an extension or object dtype."""
    pd = sys.modules["pandas"]
    dtype = s.dtype
    pos = np.array([position])
    if isinstance(dtype, pd.CategoricalDtype):
        categories = np.asarray(dtype.categories).reshape(-1, 1)
        blocks = _array_blocks(categories, pos)
        _, _, block = blocks[0]
        cats = _Cells.numeric(block) if blocks[0][0] == "dense" else block
        codes = s.cat.codes.to_numpy().astype(np.intp)
        missing = codes < 0
        codes[missing] = len(categories)  # one extra entry: the missing value
        word = np.append(cats.word[:, 0], np.uint64(_NAN_WORD))[codes][:, None]
        kind = np.append(cats.kind[:, 0], np.uint8(_FLOAT))[codes][:, None]
        special = {
            (i, 0): cats.special[c, 0]
            for i, c in enumerate(codes.tolist())
            if kind[i, 0] != _FLOAT
        }
        return _Cells(word, kind, special, raw=s.to_numpy(dtype=object).reshape(-1, 1))
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if getattr(dtype, "kind", "O") in "biuf" and _is_dense_dtype(numpy_dtype):
        missing = s.isna().to_numpy(dtype=bool)
        values = s.to_numpy(dtype=numpy_dtype, na_value=0).reshape(-1, 1)
        cells = _Cells.numeric(values)
        cells.word[missing] = _NAN_WORD
        cells.kind[missing] = _FLOAT
        cells.special = {k: v for k, v in cells.special.items() if not missing[k[0]]}
        cells.raw = s.to_numpy(dtype=object).reshape(-1, 1)
        return cells
    if isinstance(dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "Mm":
        return _time_array_cells(s.to_numpy().reshape(-1, 1))
    return _object_cells(s.to_numpy(dtype=object).reshape(-1, 1), pos)


def _name_key(name):
    """Sort key of a column name: numbers by value, then strings, then others."""
    if isinstance(name, numbers.Real) and not isinstance(name, bool | np.bool_):
        return (0, name if name == name else math.inf, "")
    if isinstance(name, str):
        return (1, 0, name)
    return (2, 0, f"{type(name).__module__}.{type(name).__qualname__}:{name!r}")


def _column_ranks(X):
    """Position of each column of a frame among its columns sorted by name.

    A column is identified by its name, not its position: the same records
    with another column order hash alike. Frames whose columns are already in
    order (a default RangeIndex, sorted names) hash like their array. Equal
    names keep their order.
    """
    keys = [_name_key(c) for c in X.columns]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    ranks = np.empty(len(keys), dtype=np.intp)
    ranks[order] = np.arange(len(keys))
    return ranks


def _frame_blocks(X):
    """Blocks of a frame, placed at the columns' ranks by name (errors still
    name a cell's column by its position in the frame)."""
    ranks = _column_ranks(X)
    by_dtype = {}
    blocks = []
    for j, dtype in enumerate(X.dtypes):
        if _is_dense_dtype(dtype):
            by_dtype.setdefault(dtype, []).append(j)
        else:
            cells = _series_cells(X.iloc[:, j], j)
            blocks.append(("cells", ranks[[j]], cells))
    for dtype, cols in by_dtype.items():
        values = X.iloc[:, cols].to_numpy(dtype=dtype)
        blocks.append(("dense", ranks[cols], values))
    return blocks


def _blocks(X):
    """(n_rows, n_columns, blocks) of a 2-D (or 1-D non-text) input.

    A block is ``("dense", positions, ndarray)`` for numeric columns or
    ``("cells", positions, _Cells)``; ``positions`` are column indices.
    """
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        return X.shape[0], X.shape[1], _frame_blocks(X)
    if hasattr(X, "iloc") and hasattr(X, "dtype"):  # a Series: one column
        if _is_dense_dtype(X.dtype):
            return len(X), 1, [("dense", np.array([0]), X.to_numpy().reshape(-1, 1))]
        return len(X), 1, [("cells", np.array([0]), _series_cells(X, 0))]
    if isinstance(X, list | tuple):
        A = np.array(X, dtype=object)  # no dtype inference across rows
    else:
        A = np.asarray(X)
    if A.ndim == 0:
        raise ValueError(f"Expected a 1-D or 2-D input; got a scalar {A!r}.")
    A = A.reshape(A.shape[0], int(np.prod(A.shape[1:])))
    n, d = A.shape
    return n, d, _array_blocks(A, np.arange(d))


def _cells_of(n, d, blocks, rows=None):
    """Canonical cells of the given rows (all rows by default) in column order."""
    m = n if rows is None else len(rows)
    word = np.zeros((m, d), dtype=np.uint64)
    kind = np.zeros((m, d), dtype=np.uint8)
    special = {}
    for what, positions, block in blocks:
        if what == "dense":
            block = _Cells.numeric(block if rows is None else block[rows])
        elif rows is not None:
            block = block.take(rows)
        word[:, positions] = block.word
        kind[:, positions] = block.kind
        special.update(
            {(i, int(positions[j])): v for (i, j), v in block.special.items()}
        )
    return _Cells(word, kind, special)


def _byte_rows(block):
    """Rows of a C-contiguous 2-D uint8 array as a list of bytes objects."""
    block = np.ascontiguousarray(block)
    return block.view(np.dtype((np.void, block.shape[1]))).ravel().tolist()


def _tokens_of(cells):
    """Canonical bytes of every row of a _Cells (all columns, in order).

    A number is ``b"f"`` and its 8-byte word; other cells are their own
    tokens. Runs of numeric columns are copied as one slice per row.
    """
    m, d = cells.word.shape
    if d == 0:
        return [b""] * m
    record = np.empty((m, d), dtype=_RECORD)
    record["tag"] = ord("f")
    record["word"] = cells.word
    flat = record.view(np.uint8).reshape(m, 9 * d)
    by_column = {}
    for (i, j), value in cells.special.items():
        by_column.setdefault(j, []).append((i, _cell_token(cells.kind[i, j], value)))
    segments, start = [], 0
    for j in sorted(by_column):
        if j > start:
            segments.append(_byte_rows(flat[:, 9 * start : 9 * j]))
        column = _byte_rows(flat[:, 9 * j : 9 * j + 9])
        for i, token in by_column[j]:
            column[i] = token
        segments.append(column)
        start = j + 1
    if start < d:
        segments.append(_byte_rows(flat[:, 9 * start :]))
    if len(segments) == 1:
        return segments[0]
    return [b"".join(parts) for parts in zip(*segments, strict=True)]


def _digest_tokens(tokens):
    out = np.empty(len(tokens), dtype=np.uint64)
    for i, tok in enumerate(tokens):
        out[i] = int.from_bytes(
            hashlib.blake2b(tok, digest_size=8, person=b"skdpa-row").digest(),
            "little",
        )
    return out


# -- public helpers ----------------------------------------------------------------


def is_text_input(X):
    """True for a 1-D sequence of documents (the input of a text pipeline).

    Every element must be a ``str`` or ``bytes`` or missing (``None``, NaN,
    ``pd.NA``), and at least one must be text.

    Parameters
    ----------
    X : object
        Any input.

    Returns
    -------
    is_text : bool

    Examples
    --------
    >>> from skdpa._hashing import is_text_input
    >>> is_text_input([None, "spam", "ham"]), is_text_input([[1, 2], [3, 4]])
    (True, False)
    """
    if (
        sp.issparse(X)
        or hasattr(X, "columns")
        or isinstance(X, str | bytes | Mapping | Set)
    ):
        return False
    shape = getattr(X, "shape", None)
    if shape is not None:
        if len(shape) != 1:
            return False
        dtype = getattr(X, "dtype", None)
        if isinstance(dtype, np.dtype) and dtype.kind in "US":
            return shape[0] > 0
        if isinstance(dtype, np.dtype) and dtype.kind != "O":
            return False
    elif not all(hasattr(X, a) for a in ("__len__", "__iter__", "__getitem__")):
        return False
    text = False
    try:
        for v in X:
            if isinstance(v, str | bytes):
                text = True
            elif not _is_missing(v):
                return False
    except TypeError:
        return False
    return text


def check_text_sequence(X):
    """Raise when X looks like documents but one element is not text.

    A 1-D list or tuple whose elements are mostly strings, with one that is a
    number or other scalar, would otherwise be read as a column of mixed cells
    or rejected with a shape error that does not name the element.

    Parameters
    ----------
    X : object
        Any input.

    Examples
    --------
    >>> from skdpa._hashing import check_text_sequence
    >>> check_text_sequence(["spam", "ham"])
    >>> check_text_sequence(["spam", 3])
    Traceback (most recent call last):
    ...
    ValueError: X looks like a sequence of documents, but element 1 is int 3:
    every element must be a str (or bytes, or a missing value).
    """
    if not isinstance(X, list | tuple) or not X:
        return
    if not any(isinstance(v, str | bytes) for v in X):
        return
    for i, v in enumerate(X):
        if isinstance(v, str | bytes) or _is_missing(v):
            continue
        if isinstance(v, list | tuple | np.ndarray):
            return  # rows of a 2-D input
        raise ValueError(
            f"X looks like a sequence of documents, but element {i} is "
            f"{type(v).__name__} {reprlib.repr(v)}: every element must be a str "
            "(or bytes, or a missing value)."
        )


def take_rows(X, rows):
    """Rows of any input the hashers accept, in the input's own kind.

    Parameters
    ----------
    X : array-like, sparse matrix, DataFrame or sequence
        The data.
    rows : array-like of int
        Row indices.

    Returns
    -------
    subset : same kind as X
        A list for a list or tuple.

    Examples
    --------
    >>> from skdpa._hashing import take_rows
    >>> take_rows(["a", "b", "c"], [2, 0])
    ['c', 'a']
    """
    if isinstance(X, list | tuple):
        return [X[i] for i in rows]
    return _safe_indexing(X, rows)


def row_tokens(X):
    """Canonical, sortable bytes of every row's content.

    Two rows get equal tokens exactly when their canonical cells are equal
    (``3``, ``3.0`` and ``"3"`` alike); the tokens of rows that hold a
    non-numeric cell are what :func:`content_hash` digests.

    Parameters
    ----------
    X : array-like, sparse matrix, DataFrame or 1-D sequence of str
        The data.

    Returns
    -------
    tokens : list of bytes
        One per row.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import row_tokens
    >>> a, b, c = row_tokens(np.array([[3, "x"], ["3", "x"], [3.5, "x"]], dtype=object))
    >>> a == b != c
    True
    """
    if is_text_input(X):
        return [_text_token(v) for v in X]
    if sp.issparse(X):
        X = X.toarray()
    return _tokens_of(_cells_of(*_blocks(X)))


def content_hash(X):
    """64-bit content digest of every row of X.

    Each row's digest depends on that row's canonical values only (see the
    module docstring): not on the other rows, their number or order, the
    dtype of integer-valued data, the memory layout or sparsity.

    Parameters
    ----------
    X : array-like, sparse matrix, DataFrame, or 1-D sequence of str
        The data; a 1-D sequence of documents is hashed as text.

    Returns
    -------
    h : ndarray of shape (n_samples,), dtype uint64

    Raises
    ------
    TypeError
        For a cell that is not a number, string, bytes, date, time, timedelta
        or missing value; the message names its row and column.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import content_hash
    >>> h = content_hash(np.array([[1, 2], [1.0, 2.0], [2, 1]]))
    >>> bool(h[0] == h[1] != h[2])
    True
    >>> X = np.array([["10023", "x"], [10023, "x"], ["N/A", "x"]], dtype=object)
    >>> h = content_hash(X)
    >>> bool(h[0] == h[1] != h[2])
    True
    """
    if is_text_input(X):
        return _text_hash(X)
    if sp.issparse(X):
        if _is_dense_dtype(X.dtype):
            h = _sparse_mix_sum(X)
            h ^= np.uint64(X.shape[1])
            return _splitmix64(h)
        X = X.toarray()
    n, d, blocks = _blocks(X)
    keys = _column_keys(d)
    h = np.zeros(n, dtype=np.uint64)
    text_rows = np.zeros(n, dtype=bool)
    for what, positions, block in blocks:
        if what == "dense":
            h += _dense_mix_sum(block, keys[positions])
        else:
            h += block.mixes(keys[positions]).sum(axis=1, dtype=np.uint64)
            text_rows |= (block.kind == _TOKEN).any(axis=1)
    h ^= np.uint64(d)
    rows = np.flatnonzero(text_rows)
    step = max(1, _CHUNK_CELLS // max(d, 1))  # bounded scratch memory
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        h[chunk] = _digest_tokens(_tokens_of(_cells_of(n, d, blocks, chunk)))
    return _splitmix64(h)


def _sparse_mix_sum(X):
    X = sp.csr_matrix(X, copy=True)  # canonical: duplicates summed, as dense
    X.sum_duplicates()
    n_samples, n_features = X.shape
    keys = _column_keys(n_features)
    zero_mix = _splitmix64(keys)  # the word of 0 is 0
    out = np.full(n_samples, zero_mix.sum(dtype=np.uint64), dtype=np.uint64)
    if X.nnz:
        delta = _mix_values(X.data, keys[X.indices]) - zero_mix[X.indices]
        out += _row_sums(delta, X.indptr)
    return out


def _row_sums(values, indptr):
    """Per-row sums of CSR data (wrapping for unsigned values)."""
    out = np.zeros(len(indptr) - 1, dtype=values.dtype)
    nonempty = indptr[1:] > indptr[:-1]
    if nonempty.any():
        out[nonempty] = np.add.reduceat(values, indptr[:-1][nonempty])
    return out


# -- the paper's sum hash -------------------------------------------------------------


def _float_mod64(r):
    """Integer-valued finite floats modulo 2**64 (two's complement), exactly."""
    r = np.asarray(r, dtype=np.float64)
    small = np.abs(r) < 2.0**63
    if small.all():
        return r.astype(np.int64).view(np.uint64)
    out = np.zeros(r.shape, dtype=np.uint64)
    out[small] = r[small].astype(np.int64).view(np.uint64)
    mantissa, exponent = np.frexp(r[~small])  # |r| = m * 2**e, e >= 64
    digits = np.ldexp(mantissa, 53).astype(np.int64).view(np.uint64)
    shift = exponent - 53  # >= 11; 2**64 divides r when shift >= 64
    out[~small] = np.where(
        shift < 64, digits << np.minimum(shift, 63).astype(np.uint64), np.uint64(0)
    )
    return out


def _fixed_mod64(v):
    """round(v * 2**24) modulo 2**64, exactly, for finite floats."""
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0 or np.abs(v).max() < 2.0**39:
        return np.rint(v * _QUANTUM).astype(np.int64).view(np.uint64)
    huge = np.abs(v) >= 2.0**52  # integers; v * 2**24 may overflow
    out = np.empty(v.shape, dtype=np.uint64)
    out[~huge] = _float_mod64(np.rint(v[~huge] * _QUANTUM))
    out[huge] = _float_mod64(v[huge]) << _SHIFT24
    return out


def _sum_error(value, row, column):
    if value is None:
        what = "a missing value"
    elif isinstance(value, float | np.floating):
        what = repr(float(value))
    else:
        what = f"{type(value).__name__} {reprlib.repr(value)}"
    if value is None or isinstance(value, float | np.floating):
        return ValueError(
            f"hasher='sum' needs finite values; got {what} at row {row}, "
            f"column {column}."
        )
    return ValueError(
        f"hasher='sum' needs numeric features; got {what} at row {row}, column "
        f"{column}. Use hasher='content' for text or object data."
    )


def _float_sums(values, positions):
    """(integer sums, fractional rows, fixed-point sums) of float rows."""
    n, d = values.shape
    ints = np.zeros(n, dtype=np.uint64)
    frac = np.zeros(n, dtype=bool)
    fixed = np.zeros(n, dtype=np.uint64)
    step = max(1, _CHUNK_CELLS // max(d, 1))
    for start in range(0, n, step):
        chunk = np.asarray(values[start : start + step], dtype=np.float64)
        finite = np.isfinite(chunk)
        if not finite.all():
            i, j = np.argwhere(~finite)[0]
            raise _sum_error(float(chunk[i, j]), start + int(i), int(positions[j]))
        rounded = np.rint(chunk)
        ints[start : start + len(chunk)] = _float_mod64(rounded).sum(
            axis=1, dtype=np.uint64
        )
        fractional = (rounded != chunk).any(axis=1)
        if fractional.any():
            rows = start + np.flatnonzero(fractional)
            frac[rows] = True
            fixed[rows] = _fixed_mod64(chunk[fractional]).sum(axis=1, dtype=np.uint64)
    return ints, frac, fixed


def _block_sums(what, positions, block):
    """(integer sums, fractional rows, fixed-point sums) of one block."""
    if what == "dense":
        if block.dtype.kind == "f":
            return _float_sums(block, positions)
        # integer sums wrap modulo 2**64: exact in that ring, whatever the dtype
        if block.dtype.kind == "i":
            ints = block.sum(axis=1, dtype=np.int64).view(np.uint64)
        else:
            ints = block.sum(axis=1, dtype=np.uint64)
        return ints, np.zeros(len(ints), dtype=bool), ints << _SHIFT24
    cells = block
    bad = np.argwhere(cells.kind == _TOKEN)
    if len(bad):
        i, j = bad[0]
        value = cells.raw[i, j] if cells.raw is not None else cells.special[i, j]
        raise _sum_error(value, int(i), int(positions[j]))
    floats = np.where(cells.kind == _FLOAT, cells.word, 0).view(np.float64)
    if not np.isfinite(floats).all():
        i, j = np.argwhere(~np.isfinite(floats))[0]
        value = cells.raw[i, j] if cells.raw is not None else float(floats[i, j])
        if _is_missing(value):
            value = None
        raise _sum_error(value, int(i), int(positions[j]))
    ints, frac, fixed = _float_sums(floats, positions)
    if cells.special:  # integers float64 cannot hold, exactly
        rows = np.array([i for i, _ in cells.special], dtype=np.intp)
        values = list(cells.special.values())
        np.add.at(ints, rows, np.array([v & _MASK64 for v in values], np.uint64))
        shifted = [(v << 24) & _MASK64 for v in values]
        np.add.at(fixed, rows, np.array(shifted, dtype=np.uint64))
    return ints, frac, fixed


def sum_hash(X):
    """The paper's hash: the sum of each row's values.

    Integer-valued rows (pixels as 0..255) hash to their exact integer sum, as
    in the reference implementation. Rows with fractional values are summed in
    fixed point (multiples of 2**-24) so that data scaled to [0, 1] still
    spreads over the partitions instead of collapsing onto ``int(sum)``. Which
    of the two applies is decided per row, from that row's values alone: a
    choice made for the whole dataset would let one inserted fractional sample
    move every other sample to another partition. The sum is exact integer
    arithmetic modulo 2**64 (negative sums wrap, as in two's complement), so it
    depends neither on the summation order nor on the dtype, and huge values
    never overflow. Cells are read as :func:`content_hash` reads them (``"12"``
    is 12).

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        Numeric data.

    Returns
    -------
    h : ndarray of shape (n_samples,), dtype uint64

    Raises
    ------
    ValueError
        For text input, a cell that is not a number, or a NaN or infinite
        value; the message names the cell.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import sum_hash
    >>> sum_hash(np.array([[0, 0, 0], [1, 2, 3], [255, 0, 7]], dtype=np.uint8))
    array([  0,   6, 262], dtype=uint64)
    >>> int(sum_hash(np.array([[0.5, 0.25]]))[0]) == int(0.75 * 2**24)
    True
    """
    if is_text_input(X):
        raise ValueError(
            "hasher='sum' needs numeric features; got a 1-D sequence of "
            "strings. Use hasher='content' for text or object data."
        )
    if sp.issparse(X):
        if _is_dense_dtype(X.dtype):
            return _sparse_sum_hash(X)
        X = X.toarray()
    n, _, blocks = _blocks(X)
    ints = np.zeros(n, dtype=np.uint64)
    fixed = np.zeros(n, dtype=np.uint64)
    frac = np.zeros(n, dtype=bool)
    for what, positions, block in blocks:
        block_ints, block_frac, block_fixed = _block_sums(what, positions, block)
        ints += block_ints
        # a block whose cells in a row are integers adds its sum * 2**24
        fixed += np.where(block_frac, block_fixed, block_ints << _SHIFT24)
        frac |= block_frac
    return np.where(frac, fixed, ints)


def _sparse_sum_hash(X):
    X = sp.csr_matrix(X, copy=True)
    X.sum_duplicates()
    data = X.data
    if data.dtype.kind != "f":
        values = data.astype(np.int64 if data.dtype.kind == "i" else np.uint64)
        return _row_sums(values.view(np.uint64), X.indptr)
    finite = np.isfinite(data)
    if not finite.all():
        at = int(np.flatnonzero(~finite)[0])
        row = int(np.searchsorted(X.indptr, at, side="right") - 1)
        raise _sum_error(float(data[at]), row, int(X.indices[at]))
    rounded = np.rint(data)
    ints = _row_sums(_float_mod64(rounded), X.indptr)
    fractional = rounded != data
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    frac = np.zeros(X.shape[0], dtype=bool)
    frac[rows[fractional]] = True
    fixed = _row_sums(_fixed_mod64(data), X.indptr)
    return np.where(frac, fixed, ints)


# -- user hashers --------------------------------------------------------------------


def check_hash_values(h, n_samples, name="hasher"):
    """Validate the output of a user hasher: (n_samples,) integers in [0, 2**64).

    Unsigned and signed integers, integral floats and object arrays of
    integers are accepted; negatives, non-integral or non-finite floats,
    values >= 2**64 and booleans raise: nothing is cast or wrapped silently.

    Parameters
    ----------
    h : array-like
        What the callable returned.
    n_samples : int
        Rows of the input it was given.
    name : str, default="hasher"
        The parameter named in error messages.

    Returns
    -------
    h : ndarray of shape (n_samples,), dtype uint64

    Examples
    --------
    >>> from skdpa._hashing import check_hash_values
    >>> check_hash_values([3, 2**64 - 1], 2)
    array([                   3, 18446744073709551615], dtype=uint64)
    >>> check_hash_values([3, -1], 2)
    Traceback (most recent call last):
    ...
    ValueError: The hasher callable must return non-negative integers; got a
    minimum of -1 at sample 1.
    """
    if isinstance(h, list | tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in h
    ):
        h = np.array(h, dtype=object)  # NumPy would round ints >= 2**63 to float
    else:
        h = np.asarray(h)
    if h.shape != (n_samples,):
        raise ValueError(
            f"The {name} callable must return an array of shape ({n_samples},) "
            f"(one integer per sample); got shape {h.shape}."
        )
    prefix = f"The {name} callable must return"
    kind = h.dtype.kind
    if kind == "b":
        raise ValueError(f"{prefix} integers, not booleans; got dtype bool.")
    if kind == "u":
        return h.astype(np.uint64)
    if kind == "i":
        if h.size and h.min() < 0:
            i = int(np.argmin(h))
            raise ValueError(
                f"{prefix} non-negative integers; got a minimum of {int(h[i])} at "
                f"sample {i}."
            )
        return h.astype(np.uint64)
    if kind == "f":
        h = h.astype(np.float64)
        bad = ~np.isfinite(h)
        bad[~bad] = h[~bad] != np.floor(h[~bad])
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{prefix} integers; got {float(h[i])!r} at sample {i}.")
        if h.size and h.min() < 0:
            i = int(np.argmin(h))
            raise ValueError(
                f"{prefix} non-negative integers; got a minimum of {float(h[i])!r} "
                f"at sample {i}."
            )
        if h.size and h.max() >= 2.0**64:
            i = int(np.argmax(h))
            raise ValueError(
                f"{prefix} integers below 2**64; got {float(h[i])!r} at sample {i}."
            )
        return h.astype(np.uint64)
    if kind == "O":
        values = h.tolist()
        for i, v in enumerate(values):
            if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
                raise ValueError(
                    f"{prefix} integers; got {type(v).__name__} "
                    f"{reprlib.repr(v)} at sample {i}."
                )
        values = [int(v) for v in values]
        if values and min(values) < 0:
            i = values.index(min(values))
            raise ValueError(
                f"{prefix} non-negative integers; got a minimum of {values[i]} at "
                f"sample {i}."
            )
        if values and max(values) > _MASK64:
            i = values.index(max(values))
            raise ValueError(
                f"{prefix} integers below 2**64; got {values[i]} at sample {i}."
            )
        return np.array(values, dtype=np.uint64)
    raise ValueError(f"{prefix} non-negative integers; got dtype {h.dtype}.")


# -- canonical orderings ---------------------------------------------------------------


def canonical_row_keys(X, rows):
    """Totally ordered keys of the given rows' canonical content.

    Rows with equal canonical cells (``3``, ``3.0`` and ``"3"`` alike) get
    equal keys; each key depends on its own row only.

    Parameters
    ----------
    X : the data, any input :func:`content_hash` accepts
    rows : array-like of int
        Row indices.

    Returns
    -------
    keys : list of tuple
        One per row, comparable with each other.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import canonical_row_keys
    >>> X = np.array([[1, "x"], ["1.0", "x"]], dtype=object)
    >>> a, b = canonical_row_keys(X, [0, 1])
    >>> a == b
    True
    """
    # Slice first: callers ask for a few rows at a time (one run of equal
    # hashes), and converting the whole of X per call would repeat that work.
    return [(t,) for t in row_tokens(take_rows(X, rows))]


def _raw_key(v):
    name = f"{type(v).__module__}.{type(v).__qualname__}"
    if isinstance(v, str):
        return name, v
    if isinstance(v, bytes | bytearray):
        return name, bytes(v).hex()
    if isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_):
        return name, hex(int(v))
    if isinstance(v, float | np.float16 | np.float32 | np.float64):
        return name, float(v).hex()
    return name, repr(v)


def _raw_row_keys(sub):
    """Keys of the rows' stored representation, to order rows whose canonical
    content is equal but whose values differ (``3`` and ``"3"``, 0.0 and -0.0)
    by content rather than by input position."""
    if is_text_input(sub):
        return [(_raw_key(v),) for v in sub]
    if sp.issparse(sub):
        sub = sub.toarray()
    n, _, blocks = _blocks(sub)
    keys = [[] for _ in range(n)]
    for what, _, block in blocks:
        if what == "dense":
            for i in range(n):
                keys[i].append(np.ascontiguousarray(block[i]).tobytes())
        else:
            raw = block.raw
            for i in range(n):
                keys[i].append(tuple(_raw_key(v) for v in raw[i]))
    return [tuple(k) for k in keys]


def _runs(sorted_keys):
    """(start, stop) of every run of >= 2 equal values in a sorted 1-D array."""
    if len(sorted_keys) < 2:
        return []
    change = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    bounds = np.concatenate(([0], change, [len(sorted_keys)]))
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b - a > 1]


def canonical_order(X, h, tiebreak=()):
    """Order of the rows of X that depends on their content only.

    Rows are sorted by content hash ``h``; rows with equal hashes (duplicates,
    or the rare true collision) are ordered by their canonical keys
    (:func:`canonical_row_keys`), then by the ``tiebreak`` arrays (labels,
    sample weights), then by their stored representation (so ``3`` and
    ``"3"``, equal in content, still come in an order of their own). The result
    is the same for any permutation of the input, up to permuting rows that
    are identical in every respect.

    Parameters
    ----------
    X : the data, any input :func:`content_hash` accepts
    h : ndarray of uint64, ``content_hash(X)``
    tiebreak : sequence of 1-D arrays, compared in order after the content

    Returns
    -------
    order : ndarray of int64 indices into X

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import canonical_order, content_hash
    >>> X = np.array([[2.0], [1.0], [2.0], [3.0]])
    >>> Y = X[::-1]  # the same rows, another order
    >>> a = X[canonical_order(X, content_hash(X))]
    >>> b = Y[canonical_order(Y, content_hash(Y))]
    >>> bool((a == b).all())
    True
    """
    order = np.argsort(h, kind="stable")
    for start, stop in _runs(h[order]):
        rows = order[start:stop]
        sub = take_rows(X, rows)
        keys = [(t,) for t in row_tokens(sub)]
        raw = _raw_row_keys(sub)
        extra = [np.asarray(t)[rows].tolist() for t in tiebreak]
        composite = [
            (keys[j], *(e[j] for e in extra), raw[j]) for j in range(len(rows))
        ]
        perm = sorted(range(len(rows)), key=composite.__getitem__)
        order[start:stop] = rows[perm]
    return order


def unique_sample_ids(X, h):
    """Rank of each row's content among the distinct rows, in canonical order.

    Rows with equal canonical content share an id; ids are
    ``0..n_unique-1`` in the canonical order of :func:`canonical_order`.
    Labels never enter.

    Parameters
    ----------
    X : the data, any input :func:`content_hash` accepts
    h : ndarray of uint64, ``content_hash(X)``

    Returns
    -------
    ids : ndarray of shape (n_samples,), dtype int64

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import content_hash, unique_sample_ids
    >>> X = np.array([[5, "a"], ["5", "a"], [6, "a"]], dtype=object)
    >>> ids = unique_sample_ids(X, content_hash(X))
    >>> bool(ids[0] == ids[1] != ids[2]), sorted(set(ids.tolist()))
    (True, [0, 1])
    """
    order = canonical_order(X, h)
    new_group = np.ones(len(order), dtype=bool)
    for start, stop in _runs(h[order]):
        # canonical_order sorted each run by content: equal rows are adjacent
        keys = canonical_row_keys(X, order[start:stop])
        for j in range(1, stop - start):
            new_group[start + j] = keys[j] != keys[j - 1]
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(new_group) - 1
    return ids


# -- information lost before the hasher sees it -----------------------------------


def lossy_integer_columns(X):
    """Columns whose integers may have been rounded before they were hashed.

    A float column whose values are all integers and reach beyond ``2**53``
    most likely held integer ids that a reader stored as float64 (pandas does
    so when one cell is empty): float64 cannot hold every such integer, so
    distinct ids may have become equal and no hasher can tell them apart. The
    check reads each column alone and changes no hash; :class:`DPAClassifier`
    and :class:`SSDPAClassifier` warn at fit when it finds one.

    Parameters
    ----------
    X : array-like, sparse matrix, DataFrame or sequence
        The data.

    Returns
    -------
    columns : list
        Names (DataFrames) or indices (arrays) of such columns.

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import lossy_integer_columns
    >>> lossy_integer_columns(np.array([[2.0**60, 0.5], [np.nan, 1.5]]))
    [0]
    """
    return combine_lossy_facts([lossy_integer_facts(X, every_column=False)])


def lossy_integer_facts(X, *, every_column=True):
    """What :func:`lossy_integer_columns` reads, per float column, so that the
    blocks of one data set can be checked apart and combined.

    Returns ``(columns, beyond, fractional)``: the float columns (names for
    DataFrames, indices otherwise), whether each has a finite value beyond
    ``2**53``, and whether it has a finite value that is not an integer.
    A column of the whole data set is lossy when some block reaches beyond
    and no block holds a fraction (:func:`combine_lossy_facts`).
    ``every_column=False`` reads fractions only in the columns that reach
    beyond (the others are reported without one): enough for the whole data
    at once, as :func:`lossy_integer_columns` reads it (most data has no such
    column).

    Examples
    --------
    >>> import numpy as np
    >>> from skdpa._hashing import lossy_integer_facts, combine_lossy_facts
    >>> a = lossy_integer_facts(np.array([[2.0**60, 1.0], [3.0, 2.0**60]]))
    >>> b = lossy_integer_facts(np.array([[1.0, 0.5], [2.0, 1.0]]))
    >>> combine_lossy_facts([a, b])  # column 1 holds a fraction elsewhere
    [0]
    """

    def facts(columns):
        beyond, fractional = [], []
        for values in columns:
            finite = values[np.isfinite(values)]
            beyond.append(bool(finite.size) and bool(np.abs(finite).max() > _EXACT_INT))
            fractional.append(
                (every_column or beyond[-1])
                and bool((finite != np.floor(finite)).any())
            )
        return np.array(beyond, dtype=bool), np.array(fractional, dtype=bool)

    if hasattr(X, "iloc") and hasattr(X, "columns"):
        keys, columns = [], []
        for j, dtype in enumerate(X.dtypes):
            numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
            if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind == "f":
                keys.append(X.columns[j])
                columns.append(X.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan))
        return (keys, *facts(columns))
    if sp.issparse(X):
        if X.dtype.kind != "f":
            return [], np.zeros(0, bool), np.zeros(0, bool)
        X = sp.csc_matrix(X)
        columns = [
            np.asarray(X.data[X.indptr[j] : X.indptr[j + 1]], dtype=np.float64)
            for j in range(X.shape[1])
        ]
        return (list(range(X.shape[1])), *facts(columns))
    dtype = getattr(X, "dtype", None)
    if not isinstance(dtype, np.dtype) or dtype.kind != "f" or np.ndim(X) != 2:
        return [], np.zeros(0, bool), np.zeros(0, bool)
    X = np.asarray(X)
    n_columns = X.shape[1]
    beyond = np.zeros(n_columns, dtype=bool)
    fractional = np.zeros(n_columns, dtype=bool)
    step = max(1, (1 << 20) // max(n_columns, 1))
    for start in range(0, X.shape[0], step):  # row blocks bound the temporaries
        block = X[start : start + step]
        finite = np.isfinite(block)
        beyond |= (finite & (np.abs(block) > _EXACT_INT)).any(axis=0)
        if every_column:
            with np.errstate(invalid="ignore"):
                fractional |= (finite & (block != np.floor(block))).any(axis=0)
    if not every_column:
        for j in np.flatnonzero(beyond):
            column = X[:, j]
            finite = column[np.isfinite(column)]
            fractional[j] = bool((finite != np.floor(finite)).any())
    return list(range(n_columns)), beyond, fractional


def combine_lossy_facts(parts):
    """The lossy columns of the data whose blocks gave ``parts``
    (:func:`lossy_integer_facts` of each), in the order first seen."""
    beyond, fractional, order = {}, {}, []
    for columns, block_beyond, block_fractional in parts:
        for key, b, f in zip(columns, block_beyond, block_fractional, strict=True):
            if key not in beyond:
                order.append(key)
                beyond[key], fractional[key] = False, False
            beyond[key] |= bool(b)
            fractional[key] |= bool(f)
    return [key for key in order if beyond[key] and not fractional[key]]


def warn_lossy_integers(X, owner, *, columns=None, stacklevel=3):
    """Warn (UserWarning) about :func:`lossy_integer_columns`, with the fix
    (``columns``: those already found, e.g. combined from blocks)."""
    if columns is None:
        columns = lossy_integer_columns(X)
    if not columns:
        return
    named = ", ".join(f"column {c!r}" for c in columns[:5])
    warnings.warn(
        f"{owner}: {named} holds integers beyond 2**53 stored as float64, which "
        "rounds distinct integers to equal values before they are hashed (pandas "
        "reads an integer column as float64 when one cell is empty). Load it "
        'exactly: pd.read_csv(..., dtype={"id": "Int64"}) (dtype="Int64") or '
        'dtype_backend="pyarrow"; see "What voids a certificate".',
        UserWarning,
        stacklevel=stacklevel,
    )
