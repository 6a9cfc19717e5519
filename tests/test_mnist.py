"""The IDX reader and MNIST loader on small files written in the real format."""

import gzip
import struct

import numpy as np
import pytest

from sklearn_ddchm.datasets import binarize, load_idx, load_mnist


def write_idx(path, array, code=0x08, compress=False):
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    payload = header + np.asarray(array, dtype=dtype).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(payload)


@pytest.mark.parametrize(
    "code, dtype", [(0x08, np.uint8), (0x0C, np.int32), (0x0D, np.float32)]
)
@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_round_trips_each_type(tmp_path, code, dtype, compress):
    array = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    path = tmp_path / ("a.idx" + (".gz" if compress else ""))
    write_idx(path, array, code, compress)
    out = load_idx(path)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, array)


def test_load_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="not an IDX"):
        load_idx(bad)
    bad.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="type code"):
        load_idx(bad)
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x03\x05")
    with pytest.raises(ValueError, match="announces shape"):
        load_idx(bad)


def test_load_mnist_reads_the_four_files(tmp_path):
    rng = np.random.RandomState(0)
    train = rng.randint(0, 256, (5, 28, 28)).astype(np.uint8)
    test = rng.randint(0, 256, (3, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", train)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    write_idx(tmp_path / "t10k-images.idx3-ubyte", test, compress=False)
    write_idx(
        tmp_path / "t10k-labels-idx1-ubyte.gz",
        np.arange(3, dtype=np.uint8),
        compress=True,
    )
    X_train, y_train, X_test, y_test = load_mnist(tmp_path)
    np.testing.assert_array_equal(X_train, train.reshape(5, 784))
    np.testing.assert_array_equal(X_test, test.reshape(3, 784))
    np.testing.assert_array_equal(y_train, np.arange(5))
    np.testing.assert_array_equal(y_test, np.arange(3))
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path / "nowhere")


def test_binarize_draws_each_pixel_with_its_intensity():
    X = np.full((200_000,), 64, dtype=np.uint8)
    B = binarize(X, random_state=0)
    assert set(np.unique(B)) == {0.0, 1.0}
    p = 64 / 255
    assert abs(B.mean() - p) < 5 * np.sqrt(p * (1 - p) / X.size)
    np.testing.assert_array_equal(binarize(np.array([0, 255]), 0), [0.0, 1.0])
    with pytest.raises(ValueError, match="255"):
        binarize(np.array([300]))
