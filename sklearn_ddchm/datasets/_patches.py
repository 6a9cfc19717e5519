"""Natural-image patches: the van Hateren images and an offline default.

The paper's image experiment (Vertes & Sahani 2018, Section 7, Table 1) fits
16 x 16 patches of the van Hateren & van der Schaaf (1998) natural images.
This module reads those images in their published format, draws patches at
random positions with a train/test split that does not overlap in space, and
applies the usual preprocessing (log intensity, patch mean removed, unit
variance). Without the van Hateren images, the two photographs that ship with
scikit-learn (:func:`sklearn.datasets.load_sample_images`) give a small
offline stand-in.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

#: (rows, columns) of a van Hateren image: 1024 rows of 1536 pixels
VAN_HATEREN_SHAPE = (1024, 1536)
#: pixels as stored: big-endian unsigned 16-bit integers, no header
_VAN_HATEREN_DTYPE = np.dtype(">u2")
_VAN_HATEREN_BYTES = math.prod(VAN_HATEREN_SHAPE) * _VAN_HATEREN_DTYPE.itemsize
_VAN_HATEREN_SUFFIXES = (".iml", ".imc")

#: ITU-R BT.601 luma weights of R, G, B (what Pillow's ``convert("L")`` uses)
_LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: Patches whose centred logs have an RMS below this many times the logs'
#: magnitude are taken as constant (float64 rounding of their means is ~1e-16).
_CONSTANT_TOLERANCE = 1e-12

#: Above this many candidate positions, distinct positions are drawn by
#: rejection of repeats instead of a permutation of all of them (a permutation
#: of the ~3.7e9 positions of the full van Hateren set would need 30 GB).
_PERMUTATION_LIMIT = 10_000_000


def load_van_hateren_image(path):
    """Read one van Hateren natural image (``.iml`` or ``.imc`` file).

    The images of van Hateren & van der Schaaf (1998) are published as raw
    files of 1536 x 1024 pixels (1536 columns, 1024 rows, row after row) of
    big-endian unsigned 16-bit integers with no header: ``.iml`` files hold
    the linearised (calibrated) intensities, ``.imc`` files the raw camera
    counts, in the same layout. The collection is distributed by its authors
    (search for "van Hateren natural image dataset"; at the time of writing
    a copy is kept at http://bethgelab.org/datasets/vanhateren/).

    Parameters
    ----------
    path : str or path-like
        A file whose name ends in ``.iml`` or ``.imc`` (any case).

    Returns
    -------
    image : ndarray of shape (1024, 1536), uint16
        The pixels in native byte order, ``image[row, column]``.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the name does not end in ``.iml`` or ``.imc``, or the file does
        not hold exactly 1536 x 1024 x 2 bytes (truncated, or not such an
        image); the message names the path.

    See Also
    --------
    load_van_hateren_patches : Patches from a folder of these files.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_ddchm.datasets import load_van_hateren_image
    >>> path = os.path.join(tempfile.mkdtemp(), "imk00001.iml")
    >>> pixels = np.arange(1024 * 1536).reshape(1024, 1536) % 4096
    >>> pixels.astype(">u2").tofile(path)
    >>> image = load_van_hateren_image(path)
    >>> image.shape, image.dtype, int(image[1, 0])
    ((1024, 1536), dtype('uint16'), 1536)
    """
    path = Path(path)
    if path.suffix.lower() not in _VAN_HATEREN_SUFFIXES:
        raise ValueError(
            f"{path} is not a van Hateren image file: the name must end in .iml "
            "(calibrated) or .imc (raw camera counts)."
        )
    size = path.stat().st_size  # FileNotFoundError names the path
    if size != _VAN_HATEREN_BYTES:
        raise ValueError(
            f"{path}: a van Hateren image holds {VAN_HATEREN_SHAPE[1]} x "
            f"{VAN_HATEREN_SHAPE[0]} big-endian uint16 pixels ({_VAN_HATEREN_BYTES} "
            f"bytes, no header); the file has {size} bytes (truncated, or not "
            "such an image)."
        )
    image = np.fromfile(path, dtype=_VAN_HATEREN_DTYPE).reshape(VAN_HATEREN_SHAPE)
    return image.astype(np.uint16)


def preprocess_patches(patches, *, offset=1.0, scale=None):
    """Log intensity, patch mean removed, scaled to unit variance.

    ``X = (log(P + offset) - mean_row) / scale``: the log of each pixel value
    plus ``offset``, minus the mean of its patch (row), divided by ``scale``.
    When ``scale`` is None it is the standard deviation of all entries of the
    centred log patches (their root mean square, the mean being 0), so the
    result has unit variance overall; pass the training patches' ``scale``
    to preprocess held-out patches the same way.

    Parameters
    ----------
    patches : array-like of shape (n_patches, n_pixels) or (n_patches, h, w)
        Non-negative intensities (any real dtype), at least 2 pixels per
        patch.
    offset : float, default=1.0
        Added before the log so that zero pixels stay finite: one grey level
        of integer images (8-bit or 16-bit); it must make every value
        positive.
    scale : float or None, default=None
        Divisor of the centred log patches; None computes it from
        ``patches``.

    Returns
    -------
    X : ndarray of shape (n_patches, n_pixels), float64
        The preprocessed patches, flattened row by row.
    scale : float
        The divisor used.

    Raises
    ------
    TypeError
        If ``patches`` is sparse or does not hold real numbers (booleans,
        complex numbers, strings), or ``offset`` or ``scale`` is not a real
        number.
    ValueError
        If ``patches`` has the wrong shape, is not finite, or has a value
        with ``value + offset <= 0``; if ``offset`` or ``scale`` is not a
        positive finite number; if ``scale`` is None and every patch is
        constant (no variance to scale, up to rounding).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.datasets import preprocess_patches
    >>> P = np.array([[0, 1, 3, 7], [15, 15, 15, 15]])
    >>> X, scale = preprocess_patches(P)
    >>> X.mean(axis=1).round(12), round(float(X.std()), 12)
    (array([0., 0.]), 1.0)
    >>> X_new, _ = preprocess_patches(P[:1], scale=scale)
    >>> bool(np.allclose(X_new, X[:1]))
    True
    """
    offset = _positive_float(offset, "offset")
    if scale is not None:
        scale = _positive_float(scale, "scale")
    if hasattr(patches, "toarray") or hasattr(patches, "todense"):
        raise TypeError("patches must be a dense array, got a sparse matrix.")
    P = np.asarray(patches)
    if P.dtype.kind == "O":
        try:
            P = P.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"patches must hold real numbers, got dtype {P.dtype}."
            ) from exc
    if P.dtype.kind not in "iuf":
        raise TypeError(f"patches must hold real numbers, got dtype {P.dtype}.")
    if P.ndim == 3:
        P = P.reshape(P.shape[0], -1)
    if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] < 2:
        raise ValueError(
            "patches must have shape (n_patches, n_pixels) or (n_patches, h, w) "
            f"with at least one patch of at least 2 pixels, got shape "
            f"{np.shape(patches)}."
        )
    P = P.astype(np.float64)
    if not np.isfinite(P).all():
        raise ValueError("patches contain NaN or infinite values.")
    if P.min() + offset <= 0:
        raise ValueError(
            f"patches + offset must be positive for the log; the smallest value "
            f"is {P.min()} and offset={offset}."
        )
    logs = np.log(P + offset)
    L = logs - logs.mean(axis=1, keepdims=True)
    if scale is None:
        scale = float(np.sqrt(np.mean(L * L)))
        # Constant patches leave only the rounding of their means, a few ulps
        # of the logs: dividing by that would blow rounding noise up to 1.
        if not scale > _CONSTANT_TOLERANCE * max(1.0, float(np.max(np.abs(logs)))):
            raise ValueError(
                "every patch is constant: after removing the patch means there "
                "is no variance to scale to 1."
            )
    return L / scale, scale


def patches_from_images(
    images,
    *,
    n_train=10_000,
    n_test=2_000,
    patch_size=16,
    test_size=0.2,
    split="regions",
    block_size=64,
    offset=1.0,
    random_state=None,
):
    """Training and held-out patches from grey images, spatially disjoint.

    Draws square patches at random positions (distinct positions, uniform
    over the positions available to each side) and preprocesses them with
    :func:`preprocess_patches`: log of the pixel value plus ``offset``,
    patch mean removed, scaled to unit variance over the training patches
    (the same ``scale`` is applied to the held-out patches).

    Held-out patches never share a pixel with training patches:

    - ``split="regions"``: each image is cut into square blocks of
      ``block_size`` pixels (from the top-left corner; a margin narrower than
      a block is not used) and a share ``test_size`` of each image's blocks,
      chosen at random, is held out; a patch lies inside one block. Every
      image contributes to both sides, so the two have the same distribution
      even with few images.
    - ``split="images"``: a share ``test_size`` of the images, chosen at
      random, is held out.

    Parameters
    ----------
    images : sequence of array-like of shape (height, width)
        Grey images of non-negative intensities; sizes may differ.
    n_train : int, default=10_000
        Training patches.
    n_test : int, default=2_000
        Held-out patches.
    patch_size : int, default=16
        Side of the square patches (the paper's 16).
    test_size : float in (0, 1), default=0.2
        Share of the blocks of each image (``"regions"``) or of the images
        (``"images"``) held out; at least one goes to each side.
    split : {"regions", "images"}, default="regions"
        How the held-out part is separated in space, see above.
    block_size : int, default=64
        Side of the blocks of ``split="regions"``, at least ``patch_size``.
        Ignored for ``split="images"``.
    offset : float, default=1.0
        Added to the intensities before the log (one grey level of integer
        images).
    random_state : int, RandomState instance or None, default=None
        Draws the split and the positions.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X_train`` of shape (n_train, patch_size ** 2) and ``X_test`` of
        shape (n_test, patch_size ** 2), float64, patches flattened row by
        row; ``scale`` (the divisor of :func:`preprocess_patches`, to apply
        to further patches), ``offset``, ``patch_size``; and
        ``positions_train``, ``positions_test`` of shape (n, 3): the image
        index, row and column of each patch's top-left pixel.

    Raises
    ------
    ValueError
        For invalid parameters, images that are not 2-D or smaller than a
        block, and when a side has fewer distinct positions than the
        patches asked for.

    See Also
    --------
    load_van_hateren_patches : The same on a folder of van Hateren images.
    load_sample_image_patches : The same on scikit-learn's sample images.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.datasets import patches_from_images
    >>> rng = np.random.RandomState(0)
    >>> images = [rng.randint(0, 256, size=(128, 192)) for _ in range(2)]
    >>> data = patches_from_images(images, n_train=100, n_test=20, random_state=0)
    >>> data.X_train.shape, data.X_test.shape
    ((100, 256), (20, 256))
    >>> round(float(data.X_train.std()), 6)
    1.0
    """
    arrays = [np.asarray(image) for image in images]
    for i, image in enumerate(arrays):
        if image.ndim != 2:
            raise ValueError(
                f"images must be 2-D grey images; image {i} has shape {image.shape}."
            )
    return _patch_dataset(
        [image.shape for image in arrays],
        arrays.__getitem__,
        n_train=n_train,
        n_test=n_test,
        patch_size=patch_size,
        test_size=test_size,
        split=split,
        block_size=block_size,
        offset=offset,
        random_state=random_state,
    )


def load_van_hateren_patches(
    directory,
    *,
    kind="iml",
    n_images=None,
    n_train=10_000,
    n_test=2_000,
    patch_size=16,
    test_size=0.2,
    split="regions",
    block_size=64,
    offset=1.0,
    random_state=None,
):
    """Patches of the van Hateren natural images from a local folder.

    The data of the paper's Table 1 (Vertes & Sahani 2018): 16 x 16 patches
    of the van Hateren & van der Schaaf (1998) images, log intensity, patch
    mean removed, unit variance, drawn and split as in
    :func:`patches_from_images`. The images are published by their authors
    (search for "van Hateren natural image dataset"; at the time of writing
    a copy is kept at http://bethgelab.org/datasets/vanhateren/); download
    the ``.iml`` (or ``.imc``) files into a folder and pass it here. Each
    image is read (:func:`load_van_hateren_image`) only when a patch is
    drawn from it, one at a time, so the memory use does not grow with the
    number of files.

    Parameters
    ----------
    directory : str or path-like
        Folder holding the images (searched non-recursively).
    kind : {"iml", "imc"}, default="iml"
        Which files to use: ``.iml`` (calibrated, linear intensities) or
        ``.imc`` (raw camera counts).
    n_images : int or None, default=None
        Use a random subset of this many files; None uses them all.
    n_train : int, default=10_000
        Training patches.
    n_test : int, default=2_000
        Held-out patches.
    patch_size : int, default=16
        Side of the square patches.
    test_size : float in (0, 1), default=0.2
        Share held out, see :func:`patches_from_images`.
    split : {"regions", "images"}, default="regions"
        Held-out blocks of every image, or held-out images.
    block_size : int, default=64
        Side of the blocks of ``split="regions"``.
    offset : float, default=1.0
        Added to the 16-bit intensities before the log: one grey level,
        small against the images' range.
    random_state : int, RandomState instance or None, default=None
        Draws the subset of files, the split and the positions.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        As :func:`patches_from_images`, plus ``filenames``: the paths of the
        files used, in the order of the image indices of ``positions_*``.

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a folder or holds no file of the ``kind``.
    ValueError
        For invalid parameters, or a file that is not a complete image
        (naming it).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_ddchm.datasets import load_van_hateren_patches
    >>> folder = tempfile.mkdtemp()
    >>> rng = np.random.RandomState(0)
    >>> for i in range(2):
    ...     image = rng.randint(0, 4096, size=(1024, 1536))
    ...     image.astype(">u2").tofile(os.path.join(folder, f"imk{i:05d}.iml"))
    >>> data = load_van_hateren_patches(folder, n_train=50, n_test=10, random_state=0)
    >>> data.X_train.shape, len(data.filenames)
    ((50, 256), 2)
    """
    if kind not in ("iml", "imc"):
        raise ValueError(f"kind must be 'iml' or 'imc', got {kind!r}.")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a folder.")
    filenames = sorted(
        str(directory / name)
        for name in os.listdir(directory)
        if name.lower().endswith("." + kind) and (directory / name).is_file()
    )
    if not filenames:
        raise FileNotFoundError(f"no .{kind} files in {directory}.")
    rng = check_random_state(random_state)
    if n_images is not None:
        n_images = _positive_int(n_images, "n_images")
        if n_images < len(filenames):
            chosen = np.sort(rng.choice(len(filenames), n_images, replace=False))
            filenames = [filenames[i] for i in chosen]
    data = _patch_dataset(
        [VAN_HATEREN_SHAPE] * len(filenames),
        lambda i: load_van_hateren_image(filenames[i]),
        n_train=n_train,
        n_test=n_test,
        patch_size=patch_size,
        test_size=test_size,
        split=split,
        block_size=block_size,
        offset=offset,
        random_state=rng,
    )
    data.filenames = filenames
    return data


def load_sample_image_patches(
    *,
    n_train=10_000,
    n_test=2_000,
    patch_size=16,
    test_size=0.2,
    block_size=64,
    random_state=None,
):
    """Patches of scikit-learn's two sample photographs: an offline default.

    A small stand-in for the van Hateren images that needs no download: the
    two colour photographs of :func:`sklearn.datasets.load_sample_images`
    (``china.jpg`` and ``flower.jpg``, 427 x 640 pixels each; reading them
    needs Pillow), converted to grey by the ITU-R BT.601 luma weights
    ``0.299 R + 0.587 G + 0.114 B`` (those of Pillow's ``convert("L")``,
    kept as floats in [0, 255]), then patches drawn, split into held-out
    blocks of each photograph (``split="regions"``) and preprocessed as in
    :func:`patches_from_images`, with an offset of one grey level (``log(v +
    1)``). The JPEG values are gamma-encoded, not linear; a power-law gamma
    only multiplies the log intensities by a constant, which the unit-variance
    scaling removes (up to the offset), so they are not linearised.

    With the default 64-pixel blocks and ``test_size=0.2`` there are about
    230,000 distinct training positions and 58,000 held-out ones, from two
    scenes only: a far narrower distribution than the 4,000 van Hateren
    images.

    Parameters
    ----------
    n_train : int, default=10_000
        Training patches.
    n_test : int, default=2_000
        Held-out patches.
    patch_size : int, default=16
        Side of the square patches.
    test_size : float in (0, 1), default=0.2
        Share of each photograph's blocks held out.
    block_size : int, default=64
        Side of the blocks.
    random_state : int, RandomState instance or None, default=None
        Draws the split and the positions.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        As :func:`patches_from_images`, plus ``filenames`` (the two
        photographs).

    Raises
    ------
    ImportError
        If Pillow is not installed.

    Examples
    --------
    >>> from sklearn_ddchm.datasets import load_sample_image_patches
    >>> data = load_sample_image_patches(  # doctest: +SKIP
    ...     n_train=1000, n_test=200, random_state=0)
    >>> data.X_train.shape, data.X_test.shape  # doctest: +SKIP
    ((1000, 256), (200, 256))
    """
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    grey = [
        np.asarray(image, dtype=np.float64) @ np.asarray(_LUMA_WEIGHTS)
        for image in sample.images
    ]
    data = patches_from_images(
        grey,
        n_train=n_train,
        n_test=n_test,
        patch_size=patch_size,
        test_size=test_size,
        split="regions",
        block_size=block_size,
        offset=1.0,
        random_state=random_state,
    )
    data.filenames = list(sample.filenames)
    return data


# -- helpers ---------------------------------------------------------------------


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {name}={value!r}.")
    return int(value)


def _positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {name}={value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {name}={value!r}.")
    return float(value)


def _regions(shapes, patch_size, test_size, split, block_size, rng):
    """Rectangles ``(image, top, left, height, width)`` of each side.

    Returns the training and the held-out regions as int64 arrays of shape
    (n_regions, 5).
    """
    train, test = [], []
    if split == "images":
        if len(shapes) < 2:
            raise ValueError(
                f"split='images' needs at least 2 images, got {len(shapes)}; "
                "use split='regions'."
            )
        n_test = min(max(1, round(test_size * len(shapes))), len(shapes) - 1)
        held_out = set(rng.choice(len(shapes), n_test, replace=False).tolist())
        for i, (h, w) in enumerate(shapes):
            if h < patch_size or w < patch_size:
                raise ValueError(
                    f"image {i} ({h} x {w}) is smaller than a patch "
                    f"({patch_size} x {patch_size})."
                )
            (test if i in held_out else train).append((i, 0, 0, h, w))
    else:
        for i, (h, w) in enumerate(shapes):
            rows, cols = h // block_size, w // block_size
            n_blocks = rows * cols
            if n_blocks < 2:
                raise ValueError(
                    f"image {i} ({h} x {w}) holds {n_blocks} blocks of "
                    f"{block_size} x {block_size} pixels; split='regions' needs "
                    "at least 2 per image (lower block_size)."
                )
            n_test = min(max(1, round(test_size * n_blocks)), n_blocks - 1)
            held_out = np.zeros(n_blocks, dtype=bool)
            held_out[rng.choice(n_blocks, n_test, replace=False)] = True
            b = np.arange(n_blocks)
            regions = np.stack(
                [
                    np.full(n_blocks, i),
                    (b // cols) * block_size,
                    (b % cols) * block_size,
                    np.full(n_blocks, block_size),
                    np.full(n_blocks, block_size),
                ],
                axis=1,
            )
            train.append(regions[~held_out])
            test.append(regions[held_out])
    return tuple(
        np.asarray(np.concatenate(side) if split == "regions" else side, np.int64)
        for side in (train, test)
    )


def _distinct(rng, total, n):
    """``n`` distinct integers drawn uniformly from ``range(total)``, in random
    order."""
    if total <= _PERMUTATION_LIMIT:
        return rng.choice(total, n, replace=False).astype(np.int64)
    chosen = np.unique(rng.randint(0, total, size=n, dtype=np.int64))
    while chosen.size < n:  # repeats are rare when total >> n
        more = rng.randint(0, total, size=n - chosen.size, dtype=np.int64)
        chosen = np.unique(np.concatenate([chosen, more]))
    return rng.permutation(chosen)


def _positions(regions, n, patch_size, rng, side):
    """Top-left ``(image, row, col)`` of ``n`` distinct patches in ``regions``."""
    free_rows = regions[:, 3] - patch_size + 1
    free_cols = regions[:, 4] - patch_size + 1
    counts = free_rows * free_cols
    total = int(counts.sum())
    if n > total:
        raise ValueError(
            f"n_{side}={n} patches asked for, but the {side} regions hold only "
            f"{total} distinct positions; use more images, a smaller test_size "
            "or fewer patches."
        )
    slots = _distinct(rng, total, n)
    ends = np.cumsum(counts)
    r = np.searchsorted(ends, slots, side="right")
    within = slots - (ends[r] - counts[r])
    rows = regions[r, 1] + within // free_cols[r]
    cols = regions[r, 2] + within % free_cols[r]
    return np.stack([regions[r, 0], rows, cols], axis=1)


def _cut(shapes, read, positions, patch_size):
    """The raw patches at ``positions``, reading each image once."""
    patches = np.empty((len(positions), patch_size, patch_size), dtype=np.float64)
    offsets = np.arange(patch_size)
    by_image = np.argsort(positions[:, 0], kind="stable")
    images, starts = np.unique(positions[by_image, 0], return_index=True)
    for i, rows in zip(images, np.split(by_image, starts[1:]), strict=True):
        image = np.asarray(read(int(i)))
        if image.shape != tuple(shapes[i]):
            raise ValueError(
                f"image {i} has shape {image.shape}, expected {tuple(shapes[i])}."
            )
        r = positions[rows, 1][:, None, None] + offsets[None, :, None]
        c = positions[rows, 2][:, None, None] + offsets[None, None, :]
        patches[rows] = image[r, c]
    return patches


def _patch_dataset(
    shapes,
    read,
    *,
    n_train,
    n_test,
    patch_size,
    test_size,
    split,
    block_size,
    offset,
    random_state,
):
    """Shared body of the patch loaders: ``read(i)`` returns image ``i``."""
    n_train = _positive_int(n_train, "n_train")
    n_test = _positive_int(n_test, "n_test")
    patch_size = _positive_int(patch_size, "patch_size")
    block_size = _positive_int(block_size, "block_size")
    offset = _positive_float(offset, "offset")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a real number, got {test_size!r}.")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got test_size={test_size!r}.")
    if split not in ("regions", "images"):
        raise ValueError(f"split must be 'regions' or 'images', got {split!r}.")
    if split == "regions" and block_size < patch_size:
        raise ValueError(
            f"block_size={block_size} must be at least patch_size={patch_size}: "
            "a patch lies inside one block."
        )
    if patch_size < 2:
        raise ValueError(
            "patch_size must be at least 2 (the patch mean is removed), got "
            f"patch_size={patch_size}."
        )
    if not shapes:
        raise ValueError("no images given.")
    rng = check_random_state(random_state)
    train_regions, test_regions = _regions(
        shapes, patch_size, test_size, split, block_size, rng
    )
    positions_train = _positions(train_regions, n_train, patch_size, rng, "train")
    positions_test = _positions(test_regions, n_test, patch_size, rng, "test")
    raw = _cut(
        shapes, read, np.concatenate([positions_train, positions_test]), patch_size
    )
    X_train, scale = preprocess_patches(raw[:n_train], offset=offset)
    X_test, _ = preprocess_patches(raw[n_train:], offset=offset, scale=scale)
    return Bunch(
        X_train=X_train,
        X_test=X_test,
        scale=scale,
        offset=offset,
        patch_size=patch_size,
        positions_train=positions_train,
        positions_test=positions_test,
    )
