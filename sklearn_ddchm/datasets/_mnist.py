"""MNIST from its original IDX files, and the binarisation of the SBN papers."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

#: IDX type codes (LeCun et al.'s format) -> big-endian NumPy dtypes
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: file names of the four MNIST files, as distributed (with "-" or "." before idx)
_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def load_idx(path):
    """Read an IDX file (the format MNIST is distributed in), gzipped or not.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    array : ndarray
        With the file's dimensions and a native-endian dtype.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_ddchm.datasets import load_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> load_idx(path)
    array([7, 8, 9], dtype=uint8)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file: its first two bytes must be 0.")
    code, n_dims = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}.")
    header = 4 + 4 * n_dims
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)
    )
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path}: the header announces shape {shape} ({expected} bytes in all), "
            f"the file has {len(data)} bytes."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _find(directory, names):
    for name in names:
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.exists(path):
                return path
    raise FileNotFoundError(f"none of {names} (optionally .gz) in {directory}.")


def load_mnist(directory):
    """MNIST from a folder holding the four original IDX files.

    Users with a network get the same data from
    ``sklearn.datasets.fetch_openml("mnist_784")``; this reader serves a local
    copy of the original files (``train-images-idx3-ubyte`` etc., gzipped or not).

    Parameters
    ----------
    directory : str or path-like

    Returns
    -------
    X_train : ndarray of shape (60000, 784), uint8
    y_train : ndarray of shape (60000,), uint8
    X_test : ndarray of shape (10000, 784), uint8
    y_test : ndarray of shape (10000,), uint8
    """
    out = []
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        array = load_idx(_find(directory, _MNIST_FILES[key]))
        if key.endswith("images"):
            array = array.reshape(array.shape[0], -1)
        out.append(array)
    return tuple(out)


def binarize(X, random_state=None):
    """Stochastic binarisation: pixel ``i`` is 1 with probability ``X_i / 255``.

    Drawn once, as in Salakhutdinov & Murray (2008) and the SBN literature.

    Parameters
    ----------
    X : array-like of uint8 intensities in [0, 255]
    random_state : int, RandomState or None

    Returns
    -------
    X_binary : ndarray of float64 in {0, 1}, the shape of ``X``
    """
    X = np.asarray(X)
    if X.size and (X.min() < 0 or X.max() > 255):
        raise ValueError("X must hold intensities in [0, 255].")
    rng = check_random_state(random_state)
    return (rng.random_sample(X.shape) < X / 255.0).astype(np.float64)
