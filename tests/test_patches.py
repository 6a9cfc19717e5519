"""Natural-image patches: the van Hateren reader on files written in the real
format, the preprocessing, the spatially disjoint split, the offline default."""

import math

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_ddchm.datasets import (
    _patches,
    load_sample_image_patches,
    load_van_hateren_image,
    load_van_hateren_patches,
    patches_from_images,
    preprocess_patches,
)

ROWS, COLS = 1024, 1536


def write_van_hateren(path, image):
    """The published format: 1536 x 1024 big-endian uint16, row after row."""
    np.asarray(image).astype(">u2").tofile(path)


def random_image(seed, high=65536):
    return np.random.RandomState(seed).randint(0, high, size=(ROWS, COLS))


# -- the file reader ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["imk00001.iml", "imk00002.imc", "IMK00003.IML"])
def test_van_hateren_image_round_trips(tmp_path, name):
    image = random_image(0)  # the full 16-bit range: sign and byte order matter
    path = tmp_path / name
    write_van_hateren(path, image)
    out = load_van_hateren_image(path)
    assert out.shape == (ROWS, COLS) and out.dtype == np.uint16
    assert out.dtype.byteorder in ("=", "|")
    np.testing.assert_array_equal(out, image)


def test_van_hateren_layout_is_rows_of_1536_big_endian(tmp_path):
    # Built byte by byte, not through NumPy's '>u2', to check the layout itself.
    raw = bytearray(2 * ROWS * COLS)
    row, col, value = 3, 1000, 0xABCD
    at = 2 * (row * COLS + col)
    raw[at : at + 2] = bytes([0xAB, 0xCD])  # most significant byte first
    path = tmp_path / "one.iml"
    path.write_bytes(bytes(raw))
    out = load_van_hateren_image(path)
    assert out[row, col] == value
    assert np.count_nonzero(out) == 1


@pytest.mark.parametrize("n_bytes", [0, 2 * ROWS * COLS - 2, 2 * ROWS * COLS + 2])
def test_van_hateren_wrong_size_names_the_path(tmp_path, n_bytes):
    path = tmp_path / "short.iml"
    path.write_bytes(bytes(n_bytes))
    with pytest.raises(ValueError, match=rf"short\.iml.*{n_bytes} bytes"):
        load_van_hateren_image(path)


@pytest.mark.parametrize("name", ["image.png", "imk00001.iml.gz", "imk00001"])
def test_van_hateren_wrong_extension_names_the_path(tmp_path, name):
    path = tmp_path / name
    write_van_hateren(path, np.zeros((ROWS, COLS)))
    with pytest.raises(ValueError, match=r"\.iml.*\.imc") as info:
        load_van_hateren_image(path)
    assert name in str(info.value)


def test_van_hateren_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_van_hateren_image(tmp_path / "nowhere.iml")


# -- the preprocessing -------------------------------------------------------------


def test_preprocess_matches_a_direct_computation():
    rng = np.random.RandomState(0)
    P = rng.randint(0, 4096, size=(7, 4, 4))
    X, scale = preprocess_patches(P, offset=0.5)
    # entry by entry, in plain Python
    logs = [[math.log(float(v) + 0.5) for v in patch.ravel()] for patch in P]
    centred = [[v - sum(row) / len(row) for v in row] for row in logs]
    expected_scale = math.sqrt(sum(v * v for row in centred for v in row) / P.size)
    assert scale == pytest.approx(expected_scale, rel=1e-12)
    np.testing.assert_allclose(X, np.array(centred) / expected_scale, rtol=1e-12)
    assert X.shape == (7, 16)
    np.testing.assert_allclose(X.mean(axis=1), 0, atol=1e-12)
    assert X.std() == pytest.approx(1.0)


def test_preprocess_applies_a_given_scale_to_held_out_patches():
    rng = np.random.RandomState(1)
    train, test = rng.randint(0, 256, (50, 16)), rng.randint(0, 256, (9, 16))
    _, scale = preprocess_patches(train)
    X_test, used = preprocess_patches(test, scale=scale)
    assert used == scale
    logs = np.log(test + 1.0)
    np.testing.assert_allclose(
        X_test, (logs - logs.mean(axis=1, keepdims=True)) / scale, rtol=1e-12
    )


def test_preprocess_ignores_exposure_and_gamma():
    # log(c (v + o)) and log((v + o)^gamma) differ from log(v + o) by a constant
    # per patch and a common factor: the mean removal and scaling undo both.
    rng = np.random.RandomState(2)
    P = rng.uniform(1, 255, (40, 16))
    X, _ = preprocess_patches(P, offset=1.0)
    X_exposed, _ = preprocess_patches(7.0 * P, offset=7.0)
    np.testing.assert_allclose(X_exposed, X, atol=1e-12)
    X_gamma, _ = preprocess_patches(P**2.2, offset=1e-12)
    X_linear, _ = preprocess_patches(P, offset=1e-12)
    np.testing.assert_allclose(X_gamma, X_linear, atol=1e-9)


@pytest.mark.parametrize(
    "patches, kwargs, error, match",
    [
        (np.full((2, 4), -1.0), {}, ValueError, "positive for the log"),
        (np.array([[1.0, np.nan]]), {}, ValueError, "NaN"),
        (np.ones((3, 4)), {}, ValueError, "constant"),
        (np.ones(4), {}, ValueError, "shape"),
        (np.ones((3, 1)), {}, ValueError, "shape"),
        (np.full((2, 256), 0.3), {}, ValueError, "constant"),  # rounding only
        (np.array([["a", "b"]]), {}, TypeError, "real numbers"),
        (np.array([[True, False]]), {}, TypeError, "real numbers"),
        (np.array([[1j, 2.0]]), {}, TypeError, "real numbers"),
        (np.array([[1.0, "a"]], dtype=object), {}, TypeError, "real numbers"),
        (scipy.sparse.csr_matrix(np.ones((2, 4))), {}, TypeError, "sparse"),
        (np.ones((2, 4)), {"offset": 0.0}, ValueError, "offset"),
        (np.ones((2, 4)), {"offset": "1"}, TypeError, "offset"),
        (np.ones((2, 4)), {"scale": -1.0}, ValueError, "scale"),
    ],
)
def test_preprocess_rejects_bad_input(patches, kwargs, error, match):
    with pytest.raises(error, match=match):
        preprocess_patches(patches, **kwargs)


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    shape=st.tuples(st.integers(0, 4), st.integers(0, 5)),
    exponent=st.integers(-320, 308),
    dtype=st.sampled_from(["float64", "float32", "float16", "int64", "uint16"]),
    shift=st.sampled_from([0.0, -0.5, -2.0]),
    poison=st.sampled_from([None, None, np.nan, np.inf]),
    offset=st.sampled_from([1.0, 1e-300, 1e300]),
    seed=st.integers(0, 2**31 - 1),
)
def test_preprocess_on_hostile_input(
    shape, exponent, dtype, shift, poison, offset, seed
):
    """A clear error, or finite patches with zero means and unit variance."""
    rng = np.random.RandomState(seed)
    with np.errstate(over="ignore", invalid="ignore"):  # the test's own casts
        values = (rng.uniform(size=shape) + shift) * 10.0**exponent
        if poison is not None and values.size:
            values.flat[0] = poison
        P = values.astype(dtype)
    try:
        X, scale = preprocess_patches(P, offset=offset)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return
    assert X.shape == P.shape and np.isfinite(X).all()
    assert math.isfinite(scale) and scale > 0
    np.testing.assert_allclose(X.mean(axis=1), 0, atol=1e-9)
    assert X.std() == pytest.approx(1.0)


# -- drawing and splitting ---------------------------------------------------------


def small_images(seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 1000, size=(96, 160)), rng.randint(0, 1000, (128, 128))]


def coverage(positions, shapes, patch_size):
    masks = [np.zeros(shape, dtype=int) for shape in shapes]
    for i, r, c in positions:
        masks[i][r : r + patch_size, c : c + patch_size] += 1
    return masks


@pytest.mark.parametrize("split", ["regions", "images"])
def test_patches_are_the_preprocessed_pixels_at_their_positions(split):
    images = small_images()
    data = patches_from_images(
        images,
        n_train=200,
        n_test=60,
        patch_size=8,
        block_size=32,
        split=split,
        random_state=0,
    )

    def cut(positions):
        return np.array([images[i][r : r + 8, c : c + 8] for i, r, c in positions])

    X_train, scale = preprocess_patches(cut(data.positions_train))
    X_test, _ = preprocess_patches(cut(data.positions_test), scale=scale)
    assert data.scale == pytest.approx(scale)
    np.testing.assert_allclose(data.X_train, X_train, rtol=1e-12)
    np.testing.assert_allclose(data.X_test, X_test, rtol=1e-12)
    assert data.X_train.shape == (200, 64) and data.X_test.shape == (60, 64)


@pytest.mark.parametrize("split", ["regions", "images"])
def test_held_out_patches_share_no_pixel_with_training_patches(split):
    images = small_images()
    shapes = [im.shape for im in images]
    data = patches_from_images(
        images,
        n_train=300,
        n_test=100,
        patch_size=8,
        block_size=32,
        test_size=0.3,
        split=split,
        random_state=1,
    )
    train = coverage(data.positions_train, shapes, 8)
    test = coverage(data.positions_test, shapes, 8)
    for a, b in zip(train, test, strict=True):
        assert not np.any((a > 0) & (b > 0))
    # distinct positions on each side
    for positions in (data.positions_train, data.positions_test):
        assert len({tuple(p) for p in positions}) == len(positions)
    if split == "regions":
        # every image feeds both sides, and each patch lies inside one block
        for positions in (data.positions_train, data.positions_test):
            assert set(positions[:, 0]) == {0, 1}
            assert np.all(positions[:, 1] // 32 == (positions[:, 1] + 7) // 32)
            assert np.all(positions[:, 2] // 32 == (positions[:, 2] + 7) // 32)
    else:
        assert not set(data.positions_train[:, 0]) & set(data.positions_test[:, 0])


def test_patches_spread_over_images_by_their_area():
    # Two images of 2 x 4 and 4 x 4 blocks: a quarter of the blocks of each is
    # held out, so 6 and 12 training blocks: 1/3 of the patches from image 0.
    rng = np.random.RandomState(3)
    images = [rng.uniform(1, 9, (64, 128)), rng.uniform(1, 9, (128, 128))]
    n = 3000
    data = patches_from_images(
        images,
        n_train=n,
        n_test=10,
        patch_size=4,
        block_size=32,
        test_size=0.25,
        random_state=3,
    )
    share = np.mean(data.positions_train[:, 0] == 0)
    # sampled without replacement from 6 * 29**2 + 12 * 29**2 positions:
    # the binomial standard deviation is an upper bound
    assert abs(share - 1 / 3) < 5 * math.sqrt((1 / 3) * (2 / 3) / n)


def test_patches_are_reproducible():
    images = small_images()
    a = patches_from_images(
        images, n_train=50, n_test=10, patch_size=8, block_size=32, random_state=5
    )
    b = patches_from_images(
        images, n_train=50, n_test=10, patch_size=8, block_size=32, random_state=5
    )
    c = patches_from_images(
        images, n_train=50, n_test=10, patch_size=8, block_size=32, random_state=6
    )
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.positions_train, c.positions_train)


def test_distinct_draws_by_rejection_on_large_populations(monkeypatch):
    monkeypatch.setattr(_patches, "_PERMUTATION_LIMIT", 0)
    rng = np.random.RandomState(0)
    drawn = _patches._distinct(rng, 50, 45)  # many repeats to reject
    assert sorted(drawn.tolist()) != drawn.tolist()  # returned in random order
    assert len(set(drawn.tolist())) == 45 and drawn.min() >= 0 and drawn.max() < 50
    big = _patches._distinct(rng, 5 * 10**9, 1000)  # beyond int32
    assert len(np.unique(big)) == 1000 and big.max() < 5 * 10**9


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_train": 10**7}, ValueError, "distinct positions"),
        ({"n_test": 0}, ValueError, "n_test"),
        ({"block_size": 8, "patch_size": 16}, ValueError, "block_size"),
        ({"test_size": 1.0}, ValueError, "test_size"),
        ({"test_size": "0.2"}, TypeError, "test_size"),
        ({"split": "rows"}, ValueError, "split"),
        ({"patch_size": 1}, ValueError, "patch_size"),
        ({"block_size": 128}, ValueError, "at least 2 per image"),
        ({"offset": -1.0}, ValueError, "offset"),
    ],
)
def test_patches_from_images_rejects_bad_parameters(kwargs, error, match):
    params = {"n_train": 10, "n_test": 10, "block_size": 32, **kwargs}
    with pytest.raises(error, match=match):
        patches_from_images(small_images(), **params)


def test_patches_from_images_rejects_bad_images():
    with pytest.raises(ValueError, match="2-D"):
        patches_from_images([np.ones((64, 64, 3))], n_train=5, n_test=5)
    with pytest.raises(ValueError, match="at least 2 images"):
        patches_from_images([np.ones((64, 64))], n_train=5, n_test=5, split="images")
    with pytest.raises(ValueError, match="no images"):
        patches_from_images([], n_train=5, n_test=5)


# -- the loaders -------------------------------------------------------------------


def test_van_hateren_patches_from_a_folder(tmp_path):
    images = [random_image(seed, high=4096) for seed in range(3)]
    for i, image in enumerate(images):
        write_van_hateren(tmp_path / f"imk{i:05d}.iml", image)
    write_van_hateren(tmp_path / "imk00009.imc", images[0])  # the other kind
    (tmp_path / "camerasettings.txt").write_text("not an image")
    data = load_van_hateren_patches(tmp_path, n_train=120, n_test=30, random_state=0)
    assert [f.rsplit("/", 1)[-1] for f in data.filenames] == [
        "imk00000.iml",
        "imk00001.iml",
        "imk00002.iml",
    ]
    expected = patches_from_images(images, n_train=120, n_test=30, random_state=0)
    np.testing.assert_array_equal(data.X_train, expected.X_train)
    np.testing.assert_array_equal(data.X_test, expected.X_test)
    assert data.X_train.shape == (120, 256)

    subset = load_van_hateren_patches(
        tmp_path, n_images=2, n_train=20, n_test=5, split="images", random_state=0
    )
    assert len(subset.filenames) == 2
    raw = load_van_hateren_patches(tmp_path, kind="imc", n_train=20, n_test=5)
    assert [f.rsplit("/", 1)[-1] for f in raw.filenames] == ["imk00009.imc"]


def test_van_hateren_patches_report_bad_folders_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_van_hateren_patches(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no \.iml files"):
        load_van_hateren_patches(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        load_van_hateren_patches(tmp_path, kind="png")
    (tmp_path / "imk00001.iml").write_bytes(bytes(1000))
    with pytest.raises(ValueError, match=r"imk00001\.iml.*1000 bytes"):
        load_van_hateren_patches(tmp_path, n_train=5, n_test=5)


def test_sample_image_patches_are_luma_grey_patches():
    pytest.importorskip("PIL")
    from PIL import Image
    from sklearn.datasets import load_sample_images

    data = load_sample_image_patches(n_train=400, n_test=100, random_state=0)
    assert data.X_train.shape == (400, 256) and data.X_test.shape == (100, 256)
    assert data.X_train.std() == pytest.approx(1.0)
    rgb = load_sample_images().images
    weights = np.asarray(_patches._LUMA_WEIGHTS)
    grey = [im.astype(float) @ weights for im in rgb]
    # the weights are Pillow's own grey conversion, which rounds to integers
    for im, g in zip(rgb, grey, strict=True):
        pil = np.asarray(Image.fromarray(im).convert("L"), dtype=float)
        assert np.max(np.abs(np.round(g) - pil)) <= 1
    expected = patches_from_images(grey, n_train=400, n_test=100, random_state=0)
    np.testing.assert_array_equal(data.X_train, expected.X_train)
    np.testing.assert_array_equal(data.X_test, expected.X_test)
