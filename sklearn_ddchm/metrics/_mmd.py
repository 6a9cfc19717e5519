"""Maximum mean discrepancy (MMD) with a Gaussian kernel, computed in blocks.

Everything here works on any array namespace scikit-learn's ``array_api_dispatch``
lets through (NumPy, array_api_strict, CuPy): the arithmetic goes through the
namespace ``xp`` of the inputs, only the random subsample and split *indices* are
drawn on the host and moved to the device.

Memory. The Gram matrices are never formed: they are visited in square blocks of
``block_size`` rows and only scalars (and, for the tests, vectors of row sums) are
accumulated. Beyond the inputs themselves the working memory is about
``5 * block_size**2`` floats (the exponent block, its clipped copy, the kernel
and the masked diagonal block), i.e. 40 MiB in float64 with the default
``block_size=1024`` (tracemalloc peak, ``benchmarks/bench_mmd.py``), whatever the
number of samples. The accumulators are float64 whatever the input
dtype, so that sums over 10^10 kernel values keep their precision in float32.

References
----------
.. [Gretton2012] A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and
   A. Smola, "A kernel two-sample test", JMLR 13:723-773, 2012.
.. [Jitkrittum2016] W. Jitkrittum, Z. Szabó, K. Chwialkowski and A. Gretton,
   "Interpretable distribution features with maximum testing power",
   NeurIPS 2016 (code: github.com/wittawatj/interpretable-test).
.. [Sutherland2017] D. J. Sutherland, H.-Y. Tung, H. Strathmann, S. De,
   A. Ramdas, A. Smola and A. Gretton, "Generative models and model criticism
   via optimized maximum mean discrepancy", ICLR 2017
   (code: github.com/djsutherland/opt-mmd).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import array_api_compat
import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..utils._array_api import (
    _is_array,
    get_namespace_and_device,
    is_numpy_namespace,
    to_namespace,
)

__all__ = ["mmd2", "median_heuristic", "optimize_bandwidth"]

#: Rows per block of the Gram matrices. A 1024 x 1024 float64 block is 8 MiB and a
#: kernel evaluation holds about five such temporaries, so the working memory stays
#: near 40 MiB for any n, while the block matrix products are still large enough
#: for BLAS (or a GPU) to run close to peak speed (512 and 2048 were slower on
#: 2 CPU cores).
DEFAULT_BLOCK_SIZE = 1024

#: The median heuristic is computed on at most this many pooled points, as in
#: Gretton et al.'s and Jitkrittum et al.'s code: 499,500 distinct pairs give the
#: median to well under 1% (the width only matters on a log scale), for a
#: 1000 x 1000 distance matrix (8 MB) instead of a quadratic cost in n.
MEDIAN_MAX_SAMPLES = 1000

#: Regulariser in the power criterion MMD^2_u / sqrt(Var_H1 + reg). 1e-3 is the
#: value of Jitkrittum et al.'s (2016) ``QuadMMDTest.grid_search_kernel``: it stops
#: very narrow or very wide kernels, whose variance estimate is ~0, from winning on
#: a ratio of two tiny numbers.
POWER_CRITERION_REG = 1e-3

#: The grid of squared widths is median^2 * 2^linspace(-R, R, n_grid), R = 4, as in
#: Jitkrittum et al. (2016): 16x narrower to 16x wider (in sigma^2) than the median.
POWER_GRID_LOG2_RANGE = 4.0

#: Default number of grid points for the power-optimised width (Jitkrittum et al.).
POWER_GRID_SIZE = 30

_ESTIMATORS = ("unbiased", "biased", "linear")

#: Fewest samples per set each estimator is defined for: the unbiased estimator
#: divides by m(m-1); the linear one needs at least one pair (x_1, x_2).
_MIN_SAMPLES = {"unbiased": 2, "biased": 1, "linear": 2}

_BANDWIDTH_CONSTRAINT = Interval(Real, 0, None, closed="neither")


# ---------------------------------------------------------------------------
# Input validation


def _check_samples(arrays, names, *, min_samples, reason):
    """Validate 2-D float samples sharing a namespace, a device and a feature count.

    Returns ``(list_of_arrays, xp, device)``. Lists and other array-likes are
    converted to the namespace of the array arguments (NumPy when there is none,
    or when ``array_api_dispatch`` is off); float32 is kept only when every input
    is float32, as in scikit-learn.
    """
    try:
        xp, device = get_namespace_and_device(*arrays)
    except TypeError as exc:
        raise ValueError(
            f"{_join(names)} must all be arrays of one array namespace; {exc}"
        ) from exc
    out = []
    for A, name in zip(arrays, names, strict=True):
        if not is_numpy_namespace(xp) and _is_array(A):
            A_device = array_api_compat.device(A)
            if A_device != device:
                raise ValueError(
                    f"{_join(names)} must be on the same device, got {name} on "
                    f"{A_device} and {names[0]} on {device}."
                )
        else:
            A = to_namespace(A, xp, device)
        A = check_array(
            A,
            dtype=[xp.float64, xp.float32],
            ensure_min_samples=0,
            input_name=name,
        )
        if A.shape[0] < min_samples:
            raise ValueError(
                f"{name} must contain at least {min_samples} samples ({reason}), "
                f"got {A.shape[0]}."
            )
        out.append(A)
    n_features = {A.shape[1] for A in out}
    if len(n_features) > 1:
        shapes = ", ".join(
            f"{name} has {A.shape[1]}" for name, A in zip(names, out, strict=True)
        )
        raise ValueError(
            f"{_join(names)} must have the same number of features, got: {shapes}."
        )
    if any(A.dtype != xp.float32 for A in out):
        out = [xp.astype(A, xp.float64) if A.dtype != xp.float64 else A for A in out]
    return out, xp, device


def _join(names):
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def _check_bandwidth(bandwidth):
    """A finite positive float (validate_params only guards the public functions)."""
    value = float(bandwidth)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"bandwidth must be a finite positive float, got {bandwidth!r}."
        )
    return value


# ---------------------------------------------------------------------------
# Blocked Gram-matrix statistics


@dataclass
class _GramStats:
    """Sums of one Gram matrix K (diagonal excluded for a self Gram matrix)."""

    total: float
    rows: Any = None  # K @ 1, float64 vector of the namespace
    cols: Any = None  # K.T @ 1
    sq_total: float | None = None  # sum of K**2


def _sq_dists(A, B, a_sq, b_sq, xp):
    # ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b turns the block into one matrix
    # product (BLAS / GPU friendly) instead of an (n, m, d) difference tensor.
    # Cancellation can leave tiny negative values for near-identical points,
    # hence the clip at 0.
    d2 = a_sq[:, None] + b_sq[None, :] - 2.0 * (A @ B.T)
    return xp.clip(d2, min=0.0)


def _rbf_block(A, B, a_sq, b_sq, gamma, xp):
    """exp(-gamma ||a - b||^2) for one block, with the constants folded in.

    Same expansion as :func:`_sq_dists`, but scaling the small (block, d) factor
    by 2 gamma and subtracting in place saves three passes over the
    (block, block) matrix, which cost as much as the exponential itself.
    """
    exponent = (A * (2.0 * gamma)) @ B.T
    exponent -= (gamma * a_sq)[:, None]
    exponent -= (gamma * b_sq)[None, :]
    # The exponent is -gamma * (squared distance) <= 0 up to rounding.
    return xp.exp(xp.clip(exponent, max=0.0))


def _gram_stats(
    A, B, gammas, *, xp, device, block_size, rows=False, cols=False, squares=False
):
    """Sums of the RBF Gram matrices k_gamma(A, B) = exp(-gamma ||a - b||^2).

    ``B=None`` means the self Gram matrix K(A, A) with its diagonal excluded: only
    the blocks on and above the diagonal are computed (symmetry), and the
    diagonal of the diagonal blocks is zeroed exactly instead of trusting
    exp(-clip(~0)) = 1. One distance block serves every ``gamma`` (the power
    criterion's grid), so the matrix products are paid once.

    Returns a list of :class:`_GramStats`, one per gamma.
    """
    self_gram = B is None
    if self_gram:
        B = A
    f64 = xp.float64
    # vecdot, not sum(A * A): no temporary the size of the input (200 MB for
    # 100,000 x 256 in float64).
    a_sq = xp.vecdot(A, A, axis=-1)
    b_sq = a_sq if self_gram else xp.vecdot(B, B, axis=-1)
    a_starts = list(range(0, A.shape[0], block_size))
    b_starts = list(range(0, B.shape[0], block_size))
    n_g = len(gammas)
    totals = [0.0] * n_g
    sq_totals = [0.0] * n_g
    row_acc = [[0.0] * len(a_starts) for _ in range(n_g)]
    col_acc = [[0.0] * len(b_starts) for _ in range(n_g)]
    masks = {}
    for bi, i0 in enumerate(a_starts):
        # Slice stops must stay in bounds: the array API leaves them unspecified.
        i1 = min(i0 + block_size, A.shape[0])
        Ai, ai_sq = A[i0:i1, :], a_sq[i0:i1]
        for bj, j0 in enumerate(b_starts):
            if self_gram and bj < bi:
                continue
            diag_block = self_gram and bi == bj
            # Off-diagonal blocks of a symmetric matrix stand for their mirror too.
            weight = 2.0 if self_gram and not diag_block else 1.0
            j1 = min(j0 + block_size, B.shape[0])
            if n_g > 1:
                # One distance block for the whole grid of widths.
                d2 = _sq_dists(Ai, B[j0:j1, :], ai_sq, b_sq[j0:j1], xp)
            if diag_block:
                size = i1 - i0
                if size not in masks:
                    masks[size] = 1.0 - xp.eye(size, dtype=A.dtype, device=device)
            for g, gamma in enumerate(gammas):
                if n_g > 1:
                    K = xp.exp(d2 * (-gamma))
                else:
                    K = _rbf_block(Ai, B[j0:j1, :], ai_sq, b_sq[j0:j1], gamma, xp)
                if diag_block:
                    K = K * masks[K.shape[0]]
                totals[g] = totals[g] + weight * xp.sum(K, dtype=f64)
                if squares:
                    sq_totals[g] = sq_totals[g] + weight * xp.sum(K * K, dtype=f64)
                if rows:
                    row_acc[g][bi] = row_acc[g][bi] + xp.sum(K, axis=1, dtype=f64)
                    if self_gram and not diag_block:
                        row_acc[g][bj] = row_acc[g][bj] + xp.sum(K, axis=0, dtype=f64)
                if cols:
                    col_acc[g][bj] = col_acc[g][bj] + xp.sum(K, axis=0, dtype=f64)
    out = []
    for g in range(n_g):
        out.append(
            _GramStats(
                total=float(totals[g]),
                rows=xp.concat(row_acc[g]) if rows else None,
                cols=xp.concat(col_acc[g]) if cols else None,
                sq_total=float(sq_totals[g]) if squares else None,
            )
        )
    return out


def _gamma(sigma):
    # k(x, y) = exp(-||x - y||^2 / (2 sigma^2)) [Gretton2012].
    return 1.0 / (2.0 * sigma * sigma)


def _mmd2_from_sums(s_xx, s_yy, s_xy, m, n, estimator):
    """MMD^2 from the off-diagonal sums of K_XX, K_YY and the full sum of K_XY."""
    if estimator == "unbiased":
        return s_xx / (m * (m - 1)) + s_yy / (n * (n - 1)) - 2.0 * s_xy / (m * n)
    # Biased (V-statistic): the diagonal terms k(x, x) = 1 exactly.
    return (s_xx + m) / (m * m) + (s_yy + n) / (n * n) - 2.0 * s_xy / (m * n)


def _linear_mmd2(X, Y, gamma, *, xp, block_size):
    """Linear-time MMD^2_l ([Gretton2012], Lemma 14) on m2 = min(m, n) // 2 pairs."""
    m2 = min(X.shape[0], Y.shape[0]) // 2

    def k(a, b):
        # Direct differences: exact, and only O(chunk * d) memory here.
        diff = a - b
        return xp.exp(xp.sum(diff * diff, axis=1) * (-gamma))

    total = 0.0
    # Pairs are processed in chunks so that the (chunk, d) differences stay small.
    for p0 in range(0, m2, block_size):
        p1 = min(p0 + block_size, m2)
        x1 = X[2 * p0 : 2 * p1 : 2, :]
        x2 = X[2 * p0 + 1 : 2 * p1 : 2, :]
        y1 = Y[2 * p0 : 2 * p1 : 2, :]
        y2 = Y[2 * p0 + 1 : 2 * p1 : 2, :]
        h = k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)
        total = total + xp.sum(h, dtype=xp.float64)
    return float(total) / m2


def _mmd2(X, Y, sigma, estimator, *, xp, device, block_size):
    gamma = _gamma(sigma)
    if estimator == "linear":
        return _linear_mmd2(X, Y, gamma, xp=xp, block_size=block_size)
    kw = dict(xp=xp, device=device, block_size=block_size)
    (s_xx,) = _gram_stats(X, None, [gamma], **kw)
    (s_yy,) = _gram_stats(Y, None, [gamma], **kw)
    (s_xy,) = _gram_stats(X, Y, [gamma], **kw)
    return _mmd2_from_sums(
        s_xx.total, s_yy.total, s_xy.total, X.shape[0], Y.shape[0], estimator
    )


# ---------------------------------------------------------------------------
# Bandwidths


def _subsample_rows(arrays, max_samples, rng, *, xp, device):
    """At most ``max_samples`` rows drawn without replacement from the pooled arrays.

    The pooled array is never built when it is large: the indices are drawn in
    the pooled index space on the host and split back per array.
    """
    sizes = [A.shape[0] for A in arrays]
    n_total = sum(sizes)
    if n_total <= max_samples:
        return xp.concat(arrays, axis=0) if len(arrays) > 1 else arrays[0]
    idx = np.sort(rng.permutation(n_total)[:max_samples])
    parts, offset = [], 0
    for A, size in zip(arrays, sizes, strict=True):
        sel = idx[(idx >= offset) & (idx < offset + size)] - offset
        offset += size
        if sel.size:
            parts.append(xp.take(A, to_namespace(sel, xp, device), axis=0))
    return xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]


def _median_distance(P, *, xp, device):
    """Median of the Euclidean distances between distinct rows of ``P`` (n >= 2)."""
    n = P.shape[0]
    sq = xp.sum(P * P, axis=1)
    d2 = _sq_dists(P, P, sq, sq, xp)
    # Exact symmetry, so that the n(n-1) ordered pairs hold every unordered pair
    # twice with the same value: their median is the median over unordered pairs.
    d2 = 0.5 * (d2 + d2.T)
    d2 = d2 * (1.0 - xp.eye(n, dtype=d2.dtype, device=device))
    dist = xp.sort(xp.reshape(xp.sqrt(d2), (-1,)))
    # The n diagonal zeros are among the n smallest values (distances are >= 0 and
    # ties are interchangeable), so dropping them leaves the off-diagonal pairs.
    dist = dist[n:]
    half = dist.shape[0] // 2  # n(n-1) is even: average of the two middle values
    return 0.5 * (float(dist[half - 1]) + float(dist[half]))


def _median_bandwidth(arrays, *, max_samples, random_state, xp, device):
    rng = check_random_state(random_state)
    P = _subsample_rows(arrays, max_samples, rng, xp=xp, device=device)
    sigma = _median_distance(P, xp=xp, device=device)
    if not sigma > 0:
        raise ValueError(
            "The median heuristic gave bandwidth=0: more than half of the pooled "
            "pairs of points coincide. Pass a positive float as bandwidth."
        )
    return sigma


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like", None],
        "max_samples": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def median_heuristic(X, Y=None, *, max_samples=MEDIAN_MAX_SAMPLES, random_state=0):
    """Median heuristic for the width of the Gaussian kernel.

    Returns ``sigma``, the median of the Euclidean distances ``||z_i - z_j||``
    between distinct points (pairs ``i != j``; the zero diagonal is excluded) of
    the pooled sample ``Z = X ∪ Y``. When ``Z`` has more than ``max_samples``
    points (1000 by default) the median is taken on a random subsample of
    ``max_samples`` points drawn without replacement.

    This is the convention of Gretton et al. (2012), with the kernel
    ``k(x, y) = exp(-||x - y||^2 / (2 sigma^2))``. Some libraries instead use
    ``exp(-||x - y||^2 / median(||x - y||^2))``, i.e. a width
    ``sqrt(median(d^2) / 2)``, about ``sqrt(2)`` times narrower.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        First sample.
    Y : array-like of shape (n_samples_Y, n_features), default=None
        Second sample, pooled with ``X``; ``None`` uses ``X`` alone.
    max_samples : int, default=1000
        Largest number of pooled points the pairwise distances are computed on.
    random_state : int, RandomState instance or None, default=0
        Draws the subsample when the pooled sample is larger than
        ``max_samples``. Fixed by default so that repeated calls agree.

    Returns
    -------
    sigma : float
        The median pairwise distance.

    Raises
    ------
    ValueError
        If the pooled sample has fewer than 2 points, or if the median distance
        is 0 (more than half of the pairs coincide).

    References
    ----------
    A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and A. Smola,
    "A kernel two-sample test", JMLR 13:723-773, 2012, Section 8.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.metrics import median_heuristic
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> median_heuristic(X)  # distances 1, 2, 3
    2.0
    """
    arrays = [X] if Y is None else [X, Y]
    names = ["X"] if Y is None else ["X", "Y"]
    arrays, xp, device = _check_samples(
        arrays,
        names,
        min_samples=1 if Y is not None else 2,
        reason="the median heuristic needs a pair of points",
    )
    return _median_bandwidth(
        arrays,
        max_samples=max_samples,
        random_state=random_state,
        xp=xp,
        device=device,
    )


def _power_grid(median, n_grid):
    """sigma values with sigma^2 = median^2 * 2^linspace(-R, R, n_grid)."""
    exponents = np.linspace(-POWER_GRID_LOG2_RANGE, POWER_GRID_LOG2_RANGE, n_grid)
    return [float(median * 2.0 ** (e / 2.0)) for e in exponents]


def _mmd2_u_and_variance(stats_xx, stats_yy, stats_xy, m, *, xp):
    """MMD^2_u and Sutherland et al.'s (2017) Eq. 5 estimate of its variance under H1.

    Written from the row sums, totals and squared totals of K~_XX, K~_YY (zero
    diagonal) and K_XY for equal sample sizes ``m``, term by term as in the
    authors' ``_mmd2_and_variance`` (github.com/djsutherland/opt-mmd,
    two_sample/mmd.py).
    """
    r_xx, r_yy = stats_xx.rows, stats_yy.rows
    r_xy, c_xy = stats_xy.rows, stats_xy.cols
    s_xx, s_yy, s_xy = stats_xx.total, stats_yy.total, stats_xy.total
    q_xx, q_yy, q_xy = stats_xx.sq_total, stats_yy.sq_total, stats_xy.sq_total

    def dot(a, b):
        return float(xp.vecdot(a, b))

    mmd2 = (s_xx + s_yy) / (m * (m - 1)) - 2.0 * s_xy / (m * m)
    var = (
        2.0
        / (m**2 * (m - 1) ** 2)
        * (2.0 * dot(r_xx, r_xx) - q_xx + 2.0 * dot(r_yy, r_yy) - q_yy)
        - (4.0 * m - 6.0) / (m**3 * (m - 1) ** 3) * (s_xx**2 + s_yy**2)
        + 4.0 * (m - 2) / (m**3 * (m - 1) ** 2) * (dot(r_xy, r_xy) + dot(c_xy, c_xy))
        - 4.0 * (m - 3) / (m**3 * (m - 1) ** 2) * q_xy
        - (8.0 * m - 12.0) / (m**5 * (m - 1)) * s_xy**2
        + 8.0
        / (m**3 * (m - 1))
        * ((s_xx + s_yy) * s_xy / m - dot(r_xx, r_xy) - dot(r_yy, c_xy))
    )
    return mmd2, var


def _power_criteria(X, Y, sigmas, *, reg, xp, device, block_size):
    """MMD^2_u / sqrt(max(Var_H1, 0) + reg) for each width (equal sizes)."""
    gammas = [_gamma(s) for s in sigmas]
    kw = dict(xp=xp, device=device, block_size=block_size, rows=True, squares=True)
    st_xx = _gram_stats(X, None, gammas, **kw)
    st_yy = _gram_stats(Y, None, gammas, **kw)
    st_xy = _gram_stats(X, Y, gammas, cols=True, **kw)
    m = X.shape[0]
    crit = []
    for a, b, c in zip(st_xx, st_yy, st_xy, strict=True):
        mmd2, var = _mmd2_u_and_variance(a, b, c, m, xp=xp)
        # Eq. 5 can be slightly negative on small samples; a variance is not.
        crit.append(mmd2 / math.sqrt(max(var, 0.0) + reg))
    return crit


def _split_halves(X, Y, rng, *, xp, device):
    """Random split into selection halves (same size h) and held-out test parts.

    ``h = min(m, n) // 2`` points of each sample, the first ``h`` of a random
    permutation, go to the selection part (Eq. 5 of Sutherland et al. needs equal
    sizes); the remaining ``m - h`` and ``n - h`` points form the test part.
    """
    m, n = X.shape[0], Y.shape[0]
    h = min(m, n) // 2
    perm_x = rng.permutation(m)
    perm_y = rng.permutation(n)

    def take(A, idx):
        return xp.take(A, to_namespace(idx, xp, device), axis=0)

    return (
        take(X, perm_x[:h]),
        take(Y, perm_y[:h]),
        take(X, perm_x[h:]),
        take(Y, perm_y[h:]),
    )


def _select_power_bandwidth(X_sel, Y_sel, *, n_grid, reg, rng, xp, device, block_size):
    median = _median_bandwidth(
        [X_sel, Y_sel],
        max_samples=MEDIAN_MAX_SAMPLES,
        random_state=rng,
        xp=xp,
        device=device,
    )
    sigmas = _power_grid(median, n_grid)
    crit = _power_criteria(
        X_sel, Y_sel, sigmas, reg=reg, xp=xp, device=device, block_size=block_size
    )
    # np.argmax keeps the first (narrowest) width on exact ties.
    return sigmas[int(np.argmax(crit))]


#: Fewest points per sample for the power-optimised width: two for the selection
#: half (MMD^2_u needs a pair) and two for the held-out half.
_POWER_MIN_SAMPLES = 4


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like"],
        "n_grid": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "reg": [Interval(Real, 0, None, closed="left")],
        "block_size": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def optimize_bandwidth(
    X,
    Y,
    *,
    n_grid=POWER_GRID_SIZE,
    random_state=0,
    reg=POWER_CRITERION_REG,
    block_size=DEFAULT_BLOCK_SIZE,
):
    """Gaussian kernel width maximising a test-power criterion on half the data.

    Follows Jitkrittum et al. (2016) and Sutherland et al. (2017):

    1. both samples are split at random; ``h = min(m, n) // 2`` points of each
       (the first ``h`` of a permutation drawn from ``random_state``) form the
       selection half, the rest is left for testing;
    2. ``sigma_0`` is the median heuristic (:func:`median_heuristic`) on the
       pooled selection half, and the grid is
       ``sigma^2 = sigma_0^2 * 2^linspace(-4, 4, n_grid)``;
    3. the returned ``sigma`` maximises
       ``MMD^2_u / sqrt(max(Var_H1, 0) + reg)`` on the selection half, where
       ``Var_H1`` is the estimate of the variance of ``MMD^2_u`` under the
       alternative of Sutherland et al. (2017), Eq. 5, as in their code
       (``_mmd2_and_variance`` in github.com/djsutherland/opt-mmd). Sutherland
       and Deka (2019) show it is not exactly unbiased; its bias is of lower
       order than the variance itself and irrelevant for ranking widths.

    A test run with this ``sigma`` on all of ``X`` and ``Y`` would reuse the
    selection half: use ``mmd_test(X, Y, bandwidth="power")``, which tests on the
    held-out part only.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        First sample, at least 4 points.
    Y : array-like of shape (n_samples_Y, n_features)
        Second sample, at least 4 points.
    n_grid : int, default=30
        Number of candidate widths.
    random_state : int, RandomState instance or None, default=0
        Draws the split (and the median subsample for large samples).
    reg : float, default=1e-3
        Regulariser of the variance, the value of Jitkrittum et al. (2016).
    block_size : int, default=1024
        Rows per block of the Gram matrices.

    Returns
    -------
    sigma : float
        The selected width of ``k(x, y) = exp(-||x - y||^2 / (2 sigma^2))``.

    References
    ----------
    W. Jitkrittum, Z. Szabó, K. Chwialkowski and A. Gretton, "Interpretable
    distribution features with maximum testing power", NeurIPS 2016.

    D. J. Sutherland, H.-Y. Tung, H. Strathmann, S. De, A. Ramdas, A. Smola and
    A. Gretton, "Generative models and model criticism via optimized maximum
    mean discrepancy", ICLR 2017.

    D. J. Sutherland and N. Deka, "Unbiased estimators for the variance of MMD
    estimators", arXiv:1906.02104, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.metrics import median_heuristic, optimize_bandwidth
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 2))
    >>> Y = 3.0 * rng.normal(size=(200, 2))
    >>> sigma = optimize_bandwidth(X, Y)
    >>> sigma > 0
    True
    """
    (X, Y), xp, device = _check_samples(
        [X, Y],
        ["X", "Y"],
        min_samples=_POWER_MIN_SAMPLES,
        reason="half of each sample selects the width, half is held out",
    )
    rng = check_random_state(random_state)
    X_sel, Y_sel, _, _ = _split_halves(X, Y, rng, xp=xp, device=device)
    return _select_power_bandwidth(
        X_sel,
        Y_sel,
        n_grid=n_grid,
        reg=reg,
        rng=rng,
        xp=xp,
        device=device,
        block_size=block_size,
    )


# ---------------------------------------------------------------------------
# MMD^2


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like"],
        "kernel": [StrOptions({"rbf"})],
        "bandwidth": [StrOptions({"median"}), _BANDWIDTH_CONSTRAINT],
        "estimator": [StrOptions(set(_ESTIMATORS))],
        "block_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def mmd2(
    X,
    Y,
    *,
    kernel="rbf",
    bandwidth="median",
    estimator="unbiased",
    block_size=DEFAULT_BLOCK_SIZE,
    random_state=0,
):
    """Squared maximum mean discrepancy between two samples.

    With the Gaussian kernel ``k(x, y) = exp(-||x - y||^2 / (2 sigma^2))``,
    ``sigma = bandwidth``, and samples ``X`` (m points), ``Y`` (n points):

    - ``"unbiased"`` (MMD^2_u, Gretton et al. 2012, Eq. 3)::

        1/(m(m-1)) sum_{i != i'} k(x_i, x_i') + 1/(n(n-1)) sum_{j != j'} k(y_j, y_j')
        - 2/(mn) sum_{i, j} k(x_i, y_j)

      can be negative when the distributions are equal;
    - ``"biased"`` (MMD^2_b, Eq. 5): the same with all pairs, ``1/m^2`` and
      ``1/n^2``; always >= 0;
    - ``"linear"`` (MMD^2_l, Lemma 14): the mean over ``m2 = min(m, n) // 2`` pairs
      of ``k(x_{2i-1}, x_{2i}) + k(y_{2i-1}, y_{2i}) - k(x_{2i-1}, y_{2i})
      - k(x_{2i}, y_{2i-1})``; O(m2 d) time, for very large samples (noisier).

    The quadratic estimators visit the Gram matrices in blocks of
    ``block_size`` rows and never store them: beyond the inputs, the peak memory
    is about ``5 * block_size**2`` floats, 40 MiB in float64 for the default
    1024 (tracemalloc peak measured by ``benchmarks/bench_mmd.py``), the same
    for n = m = 10,000 or 100,000 points in 2 or 256 dimensions; a dense
    computation needs 8 n^2 bytes per Gram matrix (0.8 GB at n = 10,000, 80 GB
    at n = 100,000).

    Parameters
    ----------
    X : array-like of shape (m, n_features)
        First sample. NumPy, array API (with scikit-learn's
        ``array_api_dispatch`` on) or anything :func:`~sklearn.utils.check_array`
        accepts. float32 is kept when both samples are float32.
    Y : array-like of shape (n, n_features)
        Second sample, same namespace and device as ``X``.
    kernel : {"rbf"}, default="rbf"
        The Gaussian kernel, the only one implemented.
    bandwidth : "median" or float, default="median"
        ``sigma``; ``"median"`` is :func:`median_heuristic` on the pooled sample.
    estimator : {"unbiased", "biased", "linear"}, default="unbiased"
        Which estimator of MMD^2.
    block_size : int, default=1024
        Rows per block of the Gram matrices (memory / speed trade-off).
    random_state : int, RandomState instance or None, default=0
        Subsample of the median heuristic when the pooled sample has more than
        1000 points.

    Returns
    -------
    mmd2 : float
        The estimate, as a Python float.

    References
    ----------
    A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and A. Smola,
    "A kernel two-sample test", JMLR 13:723-773, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.metrics import mmd2
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 2))
    >>> Y = rng.normal(loc=1.0, size=(100, 2))
    >>> round(mmd2(X, Y, bandwidth=1.0), 3)
    0.14
    >>> mmd2(X, Y, estimator="biased") > mmd2(X, Y)
    True
    """
    (X, Y), xp, device = _check_samples(
        [X, Y],
        ["X", "Y"],
        min_samples=_MIN_SAMPLES[estimator],
        reason=f"estimator={estimator!r}",
    )
    sigma = _resolve_bandwidth(bandwidth, [X, Y], random_state, xp=xp, device=device)
    return _mmd2(X, Y, sigma, estimator, xp=xp, device=device, block_size=block_size)


def _resolve_bandwidth(bandwidth, arrays, random_state, *, xp, device):
    if isinstance(bandwidth, str):  # "median": validate_params allowed nothing else
        return _median_bandwidth(
            arrays,
            max_samples=MEDIAN_MAX_SAMPLES,
            random_state=random_state,
            xp=xp,
            device=device,
        )
    return _check_bandwidth(bandwidth)
