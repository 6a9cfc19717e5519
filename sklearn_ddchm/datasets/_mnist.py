"""MNIST from its original IDX files, and the binarisation of the SBN papers."""

from __future__ import annotations

import gzip
import math
import os
import warnings
import zlib
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
        A name ending in ``.gz`` is read through gzip.

    Returns
    -------
    array : ndarray
        With the file's dimensions and a native-endian dtype.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a complete IDX file (a truncated or corrupt gzip
        stream, a header or payload shorter than announced), naming the path.

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
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            try:
                data = f.read()
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise ValueError(
                    f"{path} is not a complete gzip file (truncated or corrupt: {exc})."
                ) from exc
    else:
        with open(path, "rb") as f:
            data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path} is not an IDX file: it must start with two zero bytes, a "
            f"type code and a dimension count (it has {len(data)} bytes)."
        )
    code, n_dims = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}.")
    header = 4 + 4 * n_dims
    if len(data) < header:
        raise ValueError(
            f"{path}: the header announces {n_dims} dimensions ({header} header "
            f"bytes), the file has {len(data)} bytes."
        )
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)
    )
    dtype = _IDX_DTYPES[code]
    # math.prod: Python integers, which cannot overflow as np.prod's int64 can
    expected = header + math.prod(shape) * dtype.itemsize
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
    X : array-like of intensities in [0, 255]
        Integers or floats, as MNIST's uint8 pixels. Boolean X (already
        binary) is rejected: ``np.asarray(X, dtype=float)`` is its binary form.
    random_state : int, RandomState or None

    Returns
    -------
    X_binary : ndarray of float64 in {0, 1}, the shape of ``X``

    Raises
    ------
    TypeError
        If X is sparse, boolean, or not numbers (strings, complex).
    ValueError
        If X holds NaN or values outside [0, 255].

    Warns
    -----
    UserWarning
        If X's values all lie in [0, 1] and are not all 0: they look like
        intensities already scaled to [0, 1] (or binary data), of which
        ``X / 255`` would keep a few ones; pass ``X * 255`` for scaled
        intensities.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.datasets import binarize
    >>> binarize(np.array([[0, 255, 255]], dtype=np.uint8), random_state=0)
    array([[0., 1., 1.]])
    """
    if hasattr(X, "toarray") or hasattr(X, "todense"):
        raise TypeError(
            "binarize needs a dense array of intensities, got a sparse matrix; "
            "pass X.toarray()."
        )
    X = np.asarray(X)
    if X.dtype.kind == "b":
        raise TypeError(
            "X is boolean, i.e. already binary: binarize draws pixels with "
            "probability X / 255 from intensities in [0, 255]. Use "
            "np.asarray(X, dtype=float) as the binary data instead."
        )
    if X.dtype.kind in "USVcmM" or (
        X.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in X.flat)
    ):
        raise TypeError(
            f"X must hold numbers (intensities in [0, 255]), got dtype {X.dtype}."
        )
    if X.dtype.kind not in "iuf":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"X must hold numbers (intensities in [0, 255]), got dtype {X.dtype}."
            ) from exc
    if X.dtype.kind == "f" and X.size and np.isnan(X).any():
        raise ValueError("X contains NaN; binarize needs intensities in [0, 255].")
    if X.size and (X.min() < 0 or X.max() > 255):
        raise ValueError(
            f"X must hold intensities in [0, 255], got values in [{X.min()}, "
            f"{X.max()}]."
        )
    if X.size and 0 < X.max() <= 1:
        warnings.warn(
            "All of X lies in [0, 1]: binarize expects intensities in [0, 255] "
            "and draws ones with probability X / 255, so this X gives at most "
            f"{100 / 255:.2g}% ones. For intensities scaled to [0, 1] pass "
            "X * 255; binary data needs no binarisation.",
            UserWarning,
            stacklevel=2,
        )
    rng = check_random_state(random_state)
    return (rng.random_sample(X.shape) < X / 255.0).astype(np.float64)
