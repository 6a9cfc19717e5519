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

Scales. Any finite input and positive finite width give a finite answer: the
distances are computed in units of a power of two near the width, from
centred points when the data lie far from the origin, and through
differences for rows the expansion ||a||^2 + ||b||^2 - 2 a.b cannot serve
(see ``_Frame``). Those rows (outliers, widths far below the spread) cost
O(n_rows * n * d) elementwise work instead of a matrix product.

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
from numbers import Real
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
    to_numpy,
)
from ..utils._validation import IntInterval

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


#: Largest error, in the kernel's exponent, allowed to the expansion
#: gamma * (||a||^2 + ||b||^2 - 2 a.b) of a pair: its rounding error is about
#: eps * gamma * (||a||^2 + ||b||^2) (float64's eps, whatever the dtype: float32
#: keeps float32's own precision). Rows farther from the frame's centre go
#: through differences. 2^-20 is 1e-6 in a kernel value; for data and widths
#: of one scale (the median heuristic, the power grid) every row is far
#: inside (|x - centre| / sigma < ~6.7e4 / sqrt(n_features)).
_EXPANSION_ERROR = 2.0**-20

#: ... and never closer than 2^-24 of the dtype's largest float to overflow.
_OVERFLOW_HEADROOM = 2.0**-24

#: Widths within 2^+-16 are used in the original units (a frame unit of 1);
#: others in units of a power of two near them.
_UNIT_FRAME_LOG2 = 16

#: Rows of the pooled sample whose per-feature median is the frame's centre.
_CENTRE_MAX_SAMPLES = 256

#: Entries of the (rows, columns, n_features) difference tensor formed at once
#: on the direct path: 2^21 float64 entries are 16 MiB.
_DIRECT_CHUNK_ENTRIES = 2**21


def _pow2_at_most(value):
    """The largest power of two <= ``value`` (finite, > 0).

    Dividing by it is exact (barring underflow), so a computation in units of
    it rounds exactly as the same computation in the original units would
    where that one does not overflow.
    """
    _, exponent = math.frexp(value)
    return math.ldexp(1.0, exponent - 1)


def _median_centre(arrays, xp):
    """Per-feature median of up to ``_CENTRE_MAX_SAMPLES`` evenly spaced rows."""
    n_total = sum(A.shape[0] for A in arrays)
    step = max(1, math.ceil(n_total / _CENTRE_MAX_SAMPLES))
    P = xp.concat([A[::step, ...] for A in arrays], axis=0)
    P = xp.sort(P, axis=0)
    # "lower" median: a value of the data, never an average that overflows
    return P[(P.shape[0] - 1) // 2, ...]


class _Frame:
    """Samples centred and measured in units of a power of two ``s``.

    A Gaussian kernel depends on ``||x - y|| / sigma`` only, so moving the
    points by a common centre ``c`` and dividing them and ``sigma`` by a
    common factor leave it unchanged. The centre, used only when some value
    is beyond the moderate range below, is the per-feature median of (up to
    256 evenly spaced rows of) the pooled samples, robust to outliers;
    widths within
    ``2^+-16`` keep the original units (``s = 1``), others are measured in
    units of a power of two near them, where the division is exact and the
    exponent ``gamma = s^2 / (2 sigma^2)`` is of order one whatever ``sigma``
    (1e-300 and 1e300 included).

    Two paths give ``||a - b||^2 / s^2``:

    - the expansion ``||a'||^2 + ||b'||^2 - 2 a'.b'`` of the centred rows
      ``a' = (a - c) / s`` (one matrix product, BLAS or GPU speed) for pairs
      of *moderate* rows: those whose centred values are small enough that the
      expansion's rounding error stays below ``_EXPANSION_ERROR`` in the
      kernel's exponent and nothing in it overflows. Centring is what keeps
      data with an offset (values 1e8 + N(0, 1)) accurate: uncentred, the
      rounding error of ||a||^2 ~ 1e16 swamped distances of order 1;
    - the differences ``(a - b) / s`` of the original rows, squared and
      summed, for every pair with a *large* row (an outlier, a width far
      below the data's spread). Exact to rounding; they overflow only to
      ``+inf``, where the distance exceeds the float range and the kernel is
      0, never to NaN. O(n_large * n * n_features) elementwise work, in
      chunks.

    float32 samples are computed in float64 when float32 cannot hold the
    frame (a unit beyond 2^+-100, or values whose squares overflow it).

    Parameters
    ----------
    arrays : list of 2-D arrays of one namespace, dtype and feature count
    sigmas : list of float
        The kernel widths to be evaluated (their geometric middle sets ``s``);
        for distances alone, a typical distance.
    """

    def __init__(self, arrays, sigmas, xp, device, centre=None):
        self.xp, self.device = xp, device
        low, high = min(sigmas), max(sigmas)
        if 2.0**-_UNIT_FRAME_LOG2 <= low and high <= 2.0**_UNIT_FRAME_LOG2:
            self.s = 1.0
        else:
            self.s = _pow2_at_most(math.sqrt(low) * math.sqrt(high))
        max_gamma = max(1.0, self.gamma(low))
        n_features = max(arrays[0].shape[1], 1)
        if arrays[0].dtype == xp.float32 and not self._float32_holds(
            arrays, n_features
        ):
            arrays = [xp.astype(A, xp.float64) for A in arrays]
        self.arrays = arrays
        fmax = float(xp.finfo(arrays[0].dtype).max)
        eps = float(np.finfo(np.float64).eps)
        # largest (centred) |value| of a moderate row, in frame units
        self.limit = math.sqrt(
            min(_EXPANSION_ERROR / eps, fmax * _OVERFLOW_HEADROOM)
            / (n_features * max_gamma)
        )
        self.large = [None] * len(arrays)
        self.large_idx = [None] * len(arrays)
        self.centre = centre
        if centre is None:
            # Data already near the origin (standardised, pixels in [0, 1],
            # ...) need no centre: no copy, and the same rounding as ever.
            if all(float(xp.max(xp.abs(A))) / self.s <= self.limit for A in arrays):
                return
            self.centre = _median_centre(arrays, xp)
        for k, A in enumerate(arrays):
            row_max = self._centred_row_max(A)
            if float(xp.max(row_max)) > self.limit:
                self.large[k] = row_max > self.limit
                self.large_idx[k] = np.flatnonzero(to_numpy(self.large[k]))

    def _float32_holds(self, arrays, n_features):
        xp = self.xp
        if not 2.0**-100 <= self.s <= 2.0**100:
            return False
        # squares of every value (centred or not) stay far from overflow
        fmax = float(xp.finfo(xp.float32).max)
        bound = math.sqrt(fmax * _OVERFLOW_HEADROOM / (4 * n_features))
        return all(float(xp.max(xp.abs(A))) <= bound for A in arrays)

    def _centred(self, A):
        """``(A - centre) / s``; overflow gives inf (those rows are large)."""
        with np.errstate(over="ignore", invalid="ignore"):
            if self.centre is not None:
                A = A - self.centre
            return A if self.s == 1.0 else A / self.s

    def _centred_row_max(self, A):
        xp = self.xp
        out = []
        # in blocks: no centred copy of the whole array
        step = max(1, _DIRECT_CHUNK_ENTRIES // max(1, A.shape[1]))
        for i0 in range(0, A.shape[0], step):
            block = self._centred(A[i0 : min(i0 + step, A.shape[0]), ...])
            out.append(xp.max(xp.abs(block), axis=1))
        return xp.concat(out) if len(out) > 1 else out[0]

    def gamma(self, sigma):
        """``s^2 / (2 sigma^2)``: the kernel's exponent per squared frame unit."""
        ratio = sigma / self.s
        return 1.0 / (2.0 * ratio * ratio)

    def _rows(self, k, i0, i1):
        """Rows ``i0:i1`` of array ``k`` centred, in frame units, large rows
        zeroed; their squared norms; the positions of the large rows in the
        block (or None)."""
        xp = self.xp
        As = self._centred(self.arrays[k][i0:i1, ...])
        local = None
        if self.large_idx[k] is not None:
            idx = self.large_idx[k]
            idx = idx[(idx >= i0) & (idx < i1)] - i0
            if idx.size:
                local = idx
                mask = self.large[k][i0:i1]
                As = xp.where(mask[:, None], xp.zeros_like(As), As)
        return As, xp.vecdot(As, As, axis=-1), local

    def _direct(self, A, B):
        """``||a - b||^2 / s^2`` for every pair of rows, from the differences."""
        xp = self.xp
        rows = max(1, _DIRECT_CHUNK_ENTRIES // max(1, B.shape[0] * B.shape[1]))
        out = []
        with np.errstate(over="ignore"):
            for r0 in range(0, A.shape[0], rows):
                r1 = min(r0 + rows, A.shape[0])
                diff = (A[r0:r1, None, :] - B[None, :, :]) / self.s
                out.append(xp.sum(diff * diff, axis=2))
        return xp.concat(out, axis=0) if len(out) > 1 else out[0]

    def _take(self, A, idx):
        return self.xp.take(A, to_namespace(idx, self.xp, self.device), axis=0)

    def _gather(self, D, local, n, axis):
        """``D`` (one entry per large row along ``axis``) spread over ``n`` rows."""
        xp = self.xp
        where = np.zeros(n, dtype=np.int64)
        where[local] = np.arange(local.size)
        return xp.take(D, to_namespace(where, xp, self.device), axis=axis)

    def block(self, ka, i0, i1, kb, j0, j1, need_sq_dists):
        """One block of the pair (array ``ka`` rows ``i0:i1``, ``kb`` rows ``j0:j1``).

        Returns ``(As, a_sq, Bs, b_sq, d2)``: the blocks in frame units with
        large rows zeroed and their squared norms (for :func:`_rbf_block`), and
        the squared distances in frame units, computed when ``need_sq_dists``
        or when the block holds a large row (else None).
        """
        xp = self.xp
        As, a_sq, a_large = self._rows(ka, i0, i1)
        Bs, b_sq, b_large = self._rows(kb, j0, j1)
        if not need_sq_dists and a_large is None and b_large is None:
            return As, a_sq, Bs, b_sq, None
        d2 = _sq_dists(As, Bs, a_sq, b_sq, xp)
        A = self.arrays[ka][i0:i1, ...]
        B = self.arrays[kb][j0:j1, ...]
        if a_large is not None:
            D = self._direct(self._take(A, a_large), B)
            mask = self.large[ka][i0:i1]
            d2 = xp.where(mask[:, None], self._gather(D, a_large, i1 - i0, 0), d2)
        if b_large is not None:
            D = self._direct(A, self._take(B, b_large))
            mask = self.large[kb][j0:j1]
            d2 = xp.where(mask[None, :], self._gather(D, b_large, j1 - j0, 1), d2)
        return As, a_sq, Bs, b_sq, d2


def _sq_dists(A, B, a_sq, b_sq, xp):
    # ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b turns the block into one matrix
    # product (BLAS / GPU friendly) instead of an (n, m, d) difference tensor.
    # Cancellation can leave tiny negative values for near-identical points,
    # hence the clip at 0. Overflow-free for moderate rows only (_Frame).
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
    A, B, sigmas, *, xp, device, block_size, rows=False, cols=False, squares=False
):
    """Sums of the RBF Gram matrices k(a, b) = exp(-||a - b||^2 / (2 sigma^2)).

    ``B=None`` means the self Gram matrix K(A, A) with its diagonal excluded: only
    the blocks on and above the diagonal are computed (symmetry), and the
    diagonal of the diagonal blocks is zeroed exactly instead of trusting
    exp(-clip(~0)) = 1. One distance block serves every width (the power
    criterion's grid), so the matrix products are paid once. Distances are
    computed in the units of a :class:`_Frame`, so no finite input and no
    positive finite width overflows.

    Returns a list of :class:`_GramStats`, one per width in ``sigmas``.
    """
    self_gram = B is None
    frame = _Frame([A] if self_gram else [A, B], sigmas, xp, device)
    ka, kb = (0, 0) if self_gram else (0, 1)
    n_a = A.shape[0]
    n_b = n_a if self_gram else B.shape[0]
    f64 = xp.float64
    gammas = [frame.gamma(s) for s in sigmas]
    a_starts = list(range(0, n_a, block_size))
    b_starts = list(range(0, n_b, block_size))
    n_g = len(gammas)
    totals = [0.0] * n_g
    sq_totals = [0.0] * n_g
    row_acc = [[0.0] * len(a_starts) for _ in range(n_g)]
    col_acc = [[0.0] * len(b_starts) for _ in range(n_g)]
    masks = {}
    for bi, i0 in enumerate(a_starts):
        # Slice stops must stay in bounds: the array API leaves them unspecified.
        i1 = min(i0 + block_size, n_a)
        for bj, j0 in enumerate(b_starts):
            if self_gram and bj < bi:
                continue
            diag_block = self_gram and bi == bj
            # Off-diagonal blocks of a symmetric matrix stand for their mirror too.
            weight = 2.0 if self_gram and not diag_block else 1.0
            j1 = min(j0 + block_size, n_b)
            # One distance block for the whole grid of widths (or when the
            # block holds a large row: then the expansion alone cannot serve).
            As, a_sq, Bs, b_sq, d2 = frame.block(ka, i0, i1, kb, j0, j1, n_g > 1)
            if diag_block:
                size = i1 - i0
                if size not in masks:
                    masks[size] = 1.0 - xp.eye(size, dtype=As.dtype, device=device)
            for g, gamma in enumerate(gammas):
                if d2 is not None:
                    K = xp.exp(d2 * (-gamma))
                else:
                    K = _rbf_block(As, Bs, a_sq, b_sq, gamma, xp)
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


def _pooled_kernel(P, sigma, *, xp, device):
    """The full Gram matrix of the rows of ``P``, diagonal zeroed (overflow-free)."""
    n = P.shape[0]
    frame = _Frame([P], [sigma], xp, device)
    _, _, _, _, d2 = frame.block(0, 0, n, 0, 0, n, True)
    K = xp.exp(d2 * (-frame.gamma(sigma)))
    return K * (1.0 - xp.eye(n, dtype=K.dtype, device=device))


def _mmd2_from_sums(s_xx, s_yy, s_xy, m, n, estimator):
    """MMD^2 from the off-diagonal sums of K_XX, K_YY and the full sum of K_XY."""
    if estimator == "unbiased":
        return s_xx / (m * (m - 1)) + s_yy / (n * (n - 1)) - 2.0 * s_xy / (m * n)
    # Biased (V-statistic): the diagonal terms k(x, x) = 1 exactly.
    return (s_xx + m) / (m * m) + (s_yy + n) / (n * n) - 2.0 * s_xy / (m * n)


def _linear_mmd2(X, Y, sigma, *, xp, block_size):
    """Linear-time MMD^2_l ([Gretton2012], Lemma 14) on m2 = min(m, n) // 2 pairs."""
    m2 = min(X.shape[0], Y.shape[0]) // 2
    # Differences in the units of a power of two near sigma: exact, overflow
    # only to +inf (a kernel value of 0), and gamma of order one.
    s = _pow2_at_most(sigma)
    ratio = sigma / s
    gamma = 1.0 / (2.0 * ratio * ratio)

    def k(a, b):
        # Direct differences: exact, and only O(chunk * d) memory here.
        diff = (a - b) / s
        return xp.exp(xp.sum(diff * diff, axis=1) * (-gamma))

    total = 0.0
    # Pairs are processed in chunks so that the (chunk, d) differences stay small.
    with np.errstate(over="ignore"):
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
    if estimator == "linear":
        return _linear_mmd2(X, Y, sigma, xp=xp, block_size=block_size)
    kw = dict(xp=xp, device=device, block_size=block_size)
    (s_xx,) = _gram_stats(X, None, [sigma], **kw)
    (s_yy,) = _gram_stats(Y, None, [sigma], **kw)
    (s_xy,) = _gram_stats(X, Y, [sigma], **kw)
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
    """Median of the Euclidean distances between distinct rows of ``P`` (n >= 2).

    Computed in a :class:`_Frame` centred on the per-feature median, whose
    unit is the typical size of a centred row (the median of the rows'
    largest |values|), so that outliers of any finite size neither overflow
    the distances of the other points nor make the bulk of them underflow,
    and data far from the origin keep their precision. Returns ``inf`` when
    the median distance exceeds the float range.
    """
    n = P.shape[0]
    # Always centred: the precision that matters here is relative to the
    # distances, and data far from the origin (1e6 + N(0, 1)) would lose it.
    centre = _median_centre([P], xp)
    with np.errstate(over="ignore", invalid="ignore"):
        row_max = to_numpy(xp.max(xp.abs(P - centre), axis=1))
    positive = row_max[row_max > 0]
    # "lower": a value of the sample, never an average that could overflow
    scale = float(np.percentile(positive, 50, method="lower")) if positive.size else 1
    if not math.isfinite(scale):
        return math.inf
    frame = _Frame([P], [scale], xp, device, centre=centre)
    _, _, _, _, d2 = frame.block(0, 0, n, 0, 0, n, True)
    # Exact symmetry, so that the n(n-1) ordered pairs hold every unordered pair
    # twice with the same value: their median is the median over unordered pairs.
    d2 = 0.5 * d2 + 0.5 * d2.T
    eye = xp.eye(n, dtype=xp.bool, device=device)
    d2 = xp.where(eye, xp.zeros_like(d2), d2)
    dist = xp.reshape(xp.sqrt(d2), (-1,))
    # The n diagonal zeros are among the n smallest values (distances are >= 0 and
    # ties are interchangeable), so dropping them leaves the off-diagonal pairs,
    # whose two middle values (n(n-1) is even) sit at n + half - 1 and n + half.
    half = (n * n - n) // 2
    if is_numpy_namespace(xp):
        # the same two order statistics by selection, O(n^2) instead of a sort
        # (the estimator's statistic units take a width every step)
        lower, upper = np.partition(np.asarray(dist), (n + half - 1, n + half))[
            n + half - 1 : n + half + 1
        ]
    else:
        dist = xp.sort(dist)
        lower, upper = dist[n + half - 1], dist[n + half]
    median = 0.5 * float(lower) + 0.5 * float(upper)
    return median * frame.s


def _median_bandwidth(arrays, *, max_samples, random_state, xp, device):
    rng = check_random_state(random_state)
    P = _subsample_rows(arrays, max_samples, rng, xp=xp, device=device)
    sigma = _median_distance(P, xp=xp, device=device)
    if not math.isfinite(sigma):
        raise ValueError(
            "The median heuristic gave bandwidth=inf: the median distance between "
            "the pooled points exceeds the largest float. Rescale X and Y (their "
            "values span more orders of magnitude than float64 distances can)."
        )
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
        "max_samples": [IntInterval(2, None, closed="left")],
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
    kw = dict(xp=xp, device=device, block_size=block_size, rows=True, squares=True)
    st_xx = _gram_stats(X, None, sigmas, **kw)
    st_yy = _gram_stats(Y, None, sigmas, **kw)
    st_xy = _gram_stats(X, Y, sigmas, cols=True, **kw)
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
        "n_grid": [IntInterval(1, None, closed="left")],
        "random_state": ["random_state"],
        "reg": [Interval(Real, 0, None, closed="left")],
        "block_size": [IntInterval(1, None, closed="left")],
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
        "block_size": [IntInterval(1, None, closed="left")],
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
