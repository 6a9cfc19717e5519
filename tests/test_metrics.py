"""Tests of sklearn_ddchm.metrics: MMD estimators, widths, tests and scorers.

The numerical tests take the ``backend`` fixture (NumPy, array_api_strict on its
CPU device and on its fake ``device1``, CuPy where available) and compare with
brute-force NumPy loops written from the definitions. The statistical
calibration tests (many repeats) run on NumPy only, for speed.
"""

import math
import pickle
import warnings

import numpy as np
import pytest
import sklearn
from scipy.stats import binom, norm
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.feature_selection import VarianceThreshold
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer, StandardScaler
from sklearn.utils import check_random_state

from sklearn_ddchm.metrics import (
    MMDTestResult,
    RelativeMMDTestResult,
    comparison_samples,
    make_mmd_scorer,
    median_heuristic,
    mmd2,
    mmd_test,
    neg_mmd_scorer,
    optimize_bandwidth,
    relative_mmd_test,
    relative_mmd_test_estimators,
)

# float32 results agree with float64 to this absolute tolerance: the kernel values
# are in [0, 1] and every sum is accumulated in float64, so only the rounding of
# the float32 distances (~1e-7 relative) remains.
FLOAT32_ATOL = 1e-5

# Significance level and number of repeats of the calibration tests.
ALPHA = 0.05
N_REPEATS = 200


# ---------------------------------------------------------------------------
# Brute-force references (plain Python loops over pairs, NumPy only)


def _k(a, b, sigma):
    return math.exp(-float(np.sum((a - b) ** 2)) / (2.0 * sigma**2))


def _gram(A, B, sigma):
    return np.array([[_k(a, b, sigma) for b in B] for a in A])


def _k_exact(a, b, sigma):
    # math.dist scales its sum internally: exact for any finite points (inf only
    # beyond the float range), so this reference never overflows; exp(-r^2 / 2)
    # underflows to 0 well before r = 40.
    r = math.dist(a, b) / sigma
    return math.exp(-0.5 * r * r) if r < 40.0 else 0.0


def _brute_mmd2(X, Y, sigma, estimator, k=None):
    _k = globals()["_k"] if k is None else k
    m, n = len(X), len(Y)
    if estimator == "linear":
        m2 = min(m, n) // 2
        h = [
            _k(X[2 * i], X[2 * i + 1], sigma)
            + _k(Y[2 * i], Y[2 * i + 1], sigma)
            - _k(X[2 * i], Y[2 * i + 1], sigma)
            - _k(X[2 * i + 1], Y[2 * i], sigma)
            for i in range(m2)
        ]
        return sum(h) / m2
    s_xx = sum(_k(X[i], X[j], sigma) for i in range(m) for j in range(m) if i != j)
    s_yy = sum(_k(Y[i], Y[j], sigma) for i in range(n) for j in range(n) if i != j)
    s_xy = sum(_k(X[i], Y[j], sigma) for i in range(m) for j in range(n))
    if estimator == "unbiased":
        return s_xx / (m * (m - 1)) + s_yy / (n * (n - 1)) - 2 * s_xy / (m * n)
    return (s_xx + m) / m**2 + (s_yy + n) / n**2 - 2 * s_xy / (m * n)


def _brute_median(Z, exact=False):
    d = [
        math.dist(Z[i], Z[j]) if exact else math.sqrt(float(np.sum((Z[i] - Z[j]) ** 2)))
        for i in range(len(Z))
        for j in range(len(Z))
        if i != j
    ]
    return float(np.median(d))


def _dense_eq5(X, Y, sigma):
    """MMD^2_u and Sutherland et al. (2017) Eq. 5, from dense Gram matrices."""
    m = len(X)
    Kxx, Kyy, Kxy = _gram(X, X, sigma), _gram(Y, Y, sigma), _gram(X, Y, sigma)
    np.fill_diagonal(Kxx, 0.0)
    np.fill_diagonal(Kyy, 0.0)
    rx, ry = Kxx.sum(1), Kyy.sum(1)
    r1, r0 = Kxy.sum(1), Kxy.sum(0)
    sx, sy, sxy = Kxx.sum(), Kyy.sum(), Kxy.sum()
    mmd = (sx + sy) / (m * (m - 1)) - 2 * sxy / m**2
    var = (
        2
        / (m**2 * (m - 1) ** 2)
        * (2 * rx @ rx - (Kxx**2).sum() + 2 * ry @ ry - (Kyy**2).sum())
        - (4 * m - 6) / (m**3 * (m - 1) ** 3) * (sx**2 + sy**2)
        + 4 * (m - 2) / (m**3 * (m - 1) ** 2) * (r1 @ r1 + r0 @ r0)
        - 4 * (m - 3) / (m**3 * (m - 1) ** 2) * (Kxy**2).sum()
        - (8 * m - 12) / (m**5 * (m - 1)) * sxy**2
        + 8 / (m**3 * (m - 1)) * ((sx + sy) * sxy / m - rx @ r1 - ry @ r0)
    )
    return mmd, var


def _brute_relative_variance(X, Y, Z, sigma):
    """The variance of ``MMD_Diff_Var`` (github.com/eugenium/MMD, mmd.py), by loops.

    Each term ``sum(A.T @ B)`` of the reference code is written as the explicit
    sum over index triples it stands for.
    """
    m, n, r = len(X), len(Y), len(Z)
    Kyy, Kzz = _gram(Y, Y, sigma), _gram(Z, Z, sigma)
    Kxy, Kxz = _gram(X, Y, sigma), _gram(X, Z, sigma)
    np.fill_diagonal(Kyy, 0.0)
    np.fill_diagonal(Kzz, 0.0)
    u_yy = sum(Kyy[a, b] for a in range(n) for b in range(n)) / (n * (n - 1))
    u_zz = sum(Kzz[a, b] for a in range(r) for b in range(r)) / (r * (r - 1))
    u_xy = sum(Kxy[i, j] for i in range(m) for j in range(n)) / (m * n)
    u_xz = sum(Kxz[i, k] for i in range(m) for k in range(r)) / (m * r)
    I, J, K = range(m), range(n), range(r)
    t1 = sum(Kyy[j, a] * Kyy[j, b] for j in J for a in J for b in J) / n**3 - u_yy**2
    t2 = sum(Kxy[i, a] * Kxy[i, b] for i in I for a in J for b in J) / (n**2 * m)
    t2 -= u_xy**2
    t3 = sum(Kxy[a, j] * Kxy[b, j] for j in J for a in I for b in I) / (n * m**2)
    t3 -= u_xy**2
    t4 = sum(Kzz[k, a] * Kzz[k, b] for k in K for a in K for b in K) / r**3 - u_zz**2
    t5 = sum(Kxz[a, k] * Kxz[b, k] for k in K for a in I for b in I) / (r * m**2)
    t5 -= u_xz**2
    t6 = sum(Kxz[i, a] * Kxz[i, b] for i in I for a in K for b in K) / (r**2 * m)
    t6 -= u_xz**2
    t7 = sum(Kyy[j, b] * Kxy[i, b] for j in J for i in I for b in J) / (n**2 * m)
    t7 -= u_yy * u_xy
    t8 = sum(Kxy[i, j] * Kxz[i, k] for i in I for j in J for k in K) / (n * m * r)
    t8 -= u_xz * u_xy
    t9 = sum(Kzz[k, b] * Kxz[i, b] for k in K for i in I for b in K) / (r**2 * m)
    t9 -= u_zz * u_xz
    zeta1 = t1 + t2 + t3 + t4 + t5 + t6 - 2 * (t7 + t8 + t9)
    return 4 * (m - 2) / (m * (m - 1)) * zeta1


def _data(seed, shapes, loc=0.0):
    rng = np.random.RandomState(seed)
    return [rng.normal(loc=loc, size=s) for s in shapes]


def _binomial_interval():
    lo, hi = binom.interval(0.99, N_REPEATS, ALPHA)
    return lo / N_REPEATS, hi / N_REPEATS


# ---------------------------------------------------------------------------
# Estimators


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
def test_mmd2_matches_brute_force(backend, estimator):
    X, Y = _data(0, [(7, 3), (9, 3)])
    Y[:, 0] += 0.5
    expected = _brute_mmd2(X, Y, 1.3, estimator)
    got = mmd2(
        backend.asarray(X), backend.asarray(Y), bandwidth=1.3, estimator=estimator
    )
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=0, abs=1e-12)


def test_mmd2_median_bandwidth_is_pooled_median(backend):
    X, Y = _data(1, [(8, 2), (6, 2)])
    sigma = _brute_median(np.concatenate([X, Y]))
    got = mmd2(backend.asarray(X), backend.asarray(Y))
    assert got == pytest.approx(_brute_mmd2(X, Y, sigma, "unbiased"), abs=1e-12)


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
def test_block_path_equals_dense_path(backend, estimator):
    X, Y = _data(2, [(23, 4), (17, 4)])
    Y += 0.3
    Xb, Yb = backend.asarray(X), backend.asarray(Y)
    dense = mmd2(Xb, Yb, estimator=estimator, block_size=10**6)
    for block_size in (1, 3, 16):
        blocked = mmd2(Xb, Yb, estimator=estimator, block_size=block_size)
        assert blocked == pytest.approx(dense, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
def test_float32_agrees_with_float64(backend, estimator):
    X, Y = _data(3, [(40, 5), (30, 5)])
    Y += 0.5
    r64 = mmd2(
        backend.asarray(X),
        backend.asarray(Y),
        bandwidth=2.0,
        estimator=estimator,
        block_size=7,
    )
    r32 = mmd2(
        backend.asarray(X, np.float32),
        backend.asarray(Y, np.float32),
        bandwidth=2.0,
        estimator=estimator,
        block_size=7,
    )
    assert r32 == pytest.approx(r64, abs=FLOAT32_ATOL)


def test_mixed_float_dtypes_compute_in_float64(backend):
    X, Y = _data(4, [(10, 2), (12, 2)])
    mixed = mmd2(backend.asarray(X, np.float32), backend.asarray(Y), bandwidth=1.0)
    expected = _brute_mmd2(X.astype(np.float32).astype(np.float64), Y, 1.0, "unbiased")
    assert mixed == pytest.approx(expected, abs=1e-12)


def test_identical_samples(backend):
    (X,) = _data(5, [(10, 3)])
    Xb = backend.asarray(X)
    assert mmd2(Xb, Xb, estimator="biased") == pytest.approx(0.0, abs=1e-12)
    assert mmd2(Xb, Xb, estimator="linear") == pytest.approx(0.0, abs=1e-12)
    # MMD^2_u of a sample with itself is -mean k(x_i, x_j) * 2/(m-1)-like: < 0.
    assert mmd2(Xb, Xb) < 0


def test_array_likes_and_int_inputs():
    X = [[0, 0], [1, 0], [0, 2]]
    Y = [[1, 1], [2, 2], [3, 1], [0, 1]]
    expected = _brute_mmd2(np.array(X, float), np.array(Y, float), 1.5, "unbiased")
    assert mmd2(X, Y, bandwidth=1.5) == pytest.approx(expected, abs=1e-12)


def test_dispatch_off_converts_to_numpy():
    """With array_api_dispatch off, array-API inputs are converted to NumPy."""
    xp = pytest.importorskip("array_api_strict")
    X, Y = _data(6, [(6, 2), (7, 2)])
    Xs = xp.asarray(X, device=xp.Device("device1"))
    Ys = xp.asarray(Y, device=xp.Device("device1"))
    with sklearn.config_context(array_api_dispatch=False):
        assert mmd2(Xs, Ys, bandwidth=1.0) == pytest.approx(
            _brute_mmd2(X, Y, 1.0, "unbiased"), abs=1e-12
        )


# ---------------------------------------------------------------------------
# Large and small scales: no finite input and no positive width overflows


def _with_outliers():
    X, Y = _data(30, [(7, 3), (9, 3)])
    Y += 0.4
    X[0, 0] = 1e300  # squares overflow float64
    X[2, 1] = -1e300
    Y[1, 2] = 1e160  # the case: NaN before
    Y[3, :] = [1e100, -1e100, 1e100]  # squares fine, far from everything
    Y[5, :] = X[0, :]  # an outlier shared by both samples: k = 1
    return X, Y


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
def test_mmd2_with_huge_values_matches_exact_reference(backend, estimator):
    X, Y = _with_outliers()
    for bandwidth in (1.3, "median"):
        sigma = bandwidth
        if bandwidth == "median":
            sigma = _brute_median(np.concatenate([X, Y]), exact=True)
        expected = _brute_mmd2(X, Y, sigma, estimator, k=_k_exact)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = mmd2(
                backend.asarray(X),
                backend.asarray(Y),
                bandwidth=bandwidth,
                estimator=estimator,
                block_size=4,
            )
        assert got == pytest.approx(expected, rel=0, abs=1e-12)


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
@pytest.mark.parametrize("bandwidth", [5e-324, 1e-300, 1e-160, 1e160, 1e300, 1e308])
def test_mmd2_extreme_bandwidths_match_exact_reference(backend, estimator, bandwidth):
    # 1e-300 raised ZeroDivisionError and 1e-160 gave NaN: the kernel is 1 on
    # coinciding points and 0 elsewhere for a tiny width, 1 everywhere for a
    # huge one, and MMD^2 follows from that exactly.
    X, Y = _data(31, [(6, 2), (8, 2)])
    Y[2] = X[1]  # coinciding points count for tiny widths
    Y[4] = X[3]
    expected = _brute_mmd2(X, Y, bandwidth, estimator, k=_k_exact)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = mmd2(
            backend.asarray(X),
            backend.asarray(Y),
            bandwidth=bandwidth,
            estimator=estimator,
        )
    assert got == pytest.approx(expected, rel=0, abs=1e-12)


@pytest.mark.parametrize("log2_scale", [-1000, -520, 0, 520, 1000])
def test_mmd2_and_median_are_scale_invariant(backend, log2_scale):
    # Scaling the points and the width by a power of two changes nothing in the
    # frame of the width: the results are bitwise equal, even where the
    # squares of the scaled points under- or overflow.
    c = 2.0**log2_scale
    X, Y = _data(32, [(11, 3), (8, 3)])
    Y[:, 1] += 0.7
    Xb, Yb = backend.asarray(X), backend.asarray(Y)
    Xc, Yc = backend.asarray(X * c), backend.asarray(Y * c)
    reference = mmd2(Xb, Yb, bandwidth=1.7, block_size=5)
    assert mmd2(Xc, Yc, bandwidth=1.7 * c, block_size=5) == reference
    assert median_heuristic(Xc, Yc) == median_heuristic(Xb, Yb) * c
    # ... and by a factor that is not a power of two, up to rounding
    c = 10.0**250 if log2_scale > 0 else 10.0**-250
    Xc, Yc = backend.asarray(X * c), backend.asarray(Y * c)
    assert mmd2(Xc, Yc, bandwidth=1.7 * c) == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("offset", [1e6, 1e8, 1e12, -1e200])
def test_mmd2_of_offset_data_matches_exact_reference(backend, offset):
    # ||a||^2 + ||b||^2 - 2 a.b in the original units loses everything to
    # rounding when |a| >> ||a - b|| (1e8 + N(0, 1) gave -0.042 for -0.021):
    # such samples are centred first. A second cluster 1e9 away is computed
    # through differences.
    X, Y = _data(37, [(9, 3), (8, 3)])
    Y += 0.3
    X += offset
    Y += offset
    expected = _brute_mmd2(X, Y, 1.0, "unbiased", k=_k_exact)
    got = mmd2(backend.asarray(X), backend.asarray(Y), bandwidth=1.0)
    assert got == pytest.approx(expected, abs=1e-9)
    # the median distance too (it was 1.8e-5 off at 1e6 + N(0, 1)); at
    # -1e200 the points coincide in float64 and the median is an error
    if abs(offset) < 1e15:
        median = median_heuristic(backend.asarray(X), backend.asarray(Y))
        assert median == pytest.approx(
            _brute_median(np.concatenate([X, Y]), exact=True), rel=1e-9
        )
    X[:3] += 1e9
    Y[:2] += 1e9
    expected = _brute_mmd2(X, Y, 1.0, "unbiased", k=_k_exact)
    got = mmd2(backend.asarray(X), backend.asarray(Y), bandwidth=1.0, block_size=4)
    assert got == pytest.approx(expected, abs=1e-9)


def test_float32_beyond_its_squares_agrees_with_float64(backend):
    # float32 squares overflow beyond 1.8e19: such samples are computed in
    # float64 and agree with the float64 result.
    X, Y = _data(33, [(9, 2), (7, 2)])
    X *= 1e25
    Y *= 1.3e25
    r64 = mmd2(backend.asarray(X), backend.asarray(Y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r32 = mmd2(backend.asarray(X, np.float32), backend.asarray(Y, np.float32))
    assert math.isfinite(r32)
    assert r32 == pytest.approx(r64, abs=FLOAT32_ATOL)


def test_tests_with_huge_values_match_exact_reference(backend):
    # mmd_test returned statistic=nan with the smallest p-value for one 1e300.
    X, Y = _with_outliers()
    sigma = _brute_median(np.concatenate([X, Y]), exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = mmd_test(
            backend.asarray(X), backend.asarray(Y), n_permutations=30, random_state=0
        )
    assert res.bandwidth == pytest.approx(sigma, rel=1e-12)
    expected = _brute_mmd2(X, Y, sigma, "unbiased", k=_k_exact)
    assert res.statistic == pytest.approx(expected, abs=1e-12)
    assert 1 / 31 <= res.pvalue <= 1
    (Z,) = _data(34, [(10, 3)])
    Z[4, 1] = -1e250
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rel = relative_mmd_test(
            backend.asarray(X), backend.asarray(Y), backend.asarray(Z), bandwidth=1.5
        )
    assert rel.mmd2_xy == pytest.approx(
        _brute_mmd2(X, Y, 1.5, "unbiased", k=_k_exact), abs=1e-12
    )
    assert rel.mmd2_xz == pytest.approx(
        _brute_mmd2(X, Z, 1.5, "unbiased", k=_k_exact), abs=1e-12
    )
    assert math.isfinite(rel.std) and 0 <= rel.pvalue <= 1


def test_optimize_bandwidth_with_outlier_as_with_a_moderate_one(backend):
    # An outlier at 1e300 (squares overflow) and one at 1e100 (squares fine)
    # are both at kernel value 0 from every other point and last in every
    # sorted list of distances: the selected width is the same.
    X, Y = _data(35, [(20, 2), (20, 2)])
    Y *= 2.0
    widths = []
    for outlier in (1e100, 1e300):
        X[3, 0] = outlier
        widths.append(optimize_bandwidth(backend.asarray(X), backend.asarray(Y)))
    assert math.isfinite(widths[1])
    assert widths[1] == pytest.approx(widths[0], rel=1e-12)


def test_median_heuristic_beyond_the_float_range_is_an_error():
    X = np.array([[1e308], [-1e308], [1e308], [-1e308]])
    with pytest.raises(ValueError, match="bandwidth=inf"):
        median_heuristic(X)


def test_no_pvalue_with_a_non_finite_statistic(monkeypatch):
    from sklearn_ddchm.metrics import _tests

    def broken(X, Y, sigma, n_permutations, rng, *, xp, device):
        return float("nan"), np.zeros(n_permutations)

    monkeypatch.setattr(_tests, "_permutation_statistics", broken)
    X, Y = _data(36, [(5, 2), (5, 2)])
    with pytest.raises(FloatingPointError, match="statistic is not finite"):
        mmd_test(X, Y, n_permutations=10)

    def nan_variance(*args, **kwargs):
        return float("nan")

    monkeypatch.setattr(_tests, "_relative_variance", nan_variance)
    with pytest.raises(FloatingPointError, match="variance is not finite"):
        relative_mmd_test(X, Y, Y + 1.0)


# ---------------------------------------------------------------------------
# Bandwidths


def test_median_heuristic_matches_brute_force(backend):
    X, Y = _data(7, [(12, 3), (9, 3)])
    assert median_heuristic(backend.asarray(X), backend.asarray(Y)) == pytest.approx(
        _brute_median(np.concatenate([X, Y])), rel=1e-12
    )
    assert median_heuristic(backend.asarray(X)) == pytest.approx(
        _brute_median(X), rel=1e-12
    )
    # An odd number of distinct pairs (n(n-1)/2 = 15 for n = 6).
    assert median_heuristic(backend.asarray(X[:6])) == pytest.approx(
        _brute_median(X[:6]), rel=1e-12
    )


def test_median_heuristic_with_duplicate_points(backend):
    """Zero distances between duplicates count; only the i = j pairs are excluded."""
    X = np.array([[0.0], [0.0], [0.0], [1.0], [3.0]])
    assert median_heuristic(backend.asarray(X)) == pytest.approx(_brute_median(X))
    assert _brute_median(X) == 1.0


def test_median_heuristic_subsample(backend):
    X, Y = _data(8, [(15, 2), (12, 2)])
    got = median_heuristic(
        backend.asarray(X), backend.asarray(Y), max_samples=10, random_state=3
    )
    # Documented: 10 pooled points drawn without replacement from random_state.
    idx = np.sort(check_random_state(3).permutation(27)[:10])
    assert got == pytest.approx(_brute_median(np.concatenate([X, Y])[idx]), rel=1e-12)
    # Deterministic by default.
    assert median_heuristic(X, Y, max_samples=10) == median_heuristic(
        X, Y, max_samples=10
    )


def test_optimize_bandwidth_maximises_power_criterion(backend):
    rng = np.random.RandomState(9)
    X = rng.normal(size=(40, 2))
    Y = 1.7 * rng.normal(size=(36, 2))  # differ in scale only
    sigma = optimize_bandwidth(backend.asarray(X), backend.asarray(Y), random_state=0)
    # Independent recomputation of the documented procedure.
    split = check_random_state(0)
    px, py = split.permutation(40), split.permutation(36)
    h = 18
    Xs, Ys = X[px[:h]], Y[py[:h]]
    med = _brute_median(np.concatenate([Xs, Ys]))
    grid = med * np.sqrt(2.0 ** np.linspace(-4, 4, 30))
    crit = []
    for s in grid:
        mmd, var = _dense_eq5(Xs, Ys, s)
        crit.append(mmd / math.sqrt(max(var, 0.0) + 1e-3))
    best = int(np.argmax(crit))
    assert sigma == pytest.approx(grid[best], rel=1e-12)
    assert grid[0] <= sigma <= grid[-1]


def test_eq5_variance_monte_carlo():
    """Eq. 5's mean over resamples matches the variance of MMD^2_u (within 20%).

    Sutherland & Deka (2019) show the 2017 estimator is slightly biased low at
    small m (~10% at m = 50); it only ranks widths here.
    """
    import array_api_compat.numpy as xp

    from sklearn_ddchm.metrics._mmd import _gram_stats, _mmd2_u_and_variance

    rng = np.random.RandomState(10)
    m, reps = 100, 800
    est, var = [], []
    kw = dict(xp=xp, device="cpu", block_size=1024, rows=True, squares=True)
    for _ in range(reps):
        X = rng.normal(size=(m, 2))
        Y = 1.5 * rng.normal(size=(m, 2))
        (a,) = _gram_stats(X, None, [1.0], **kw)
        (b,) = _gram_stats(Y, None, [1.0], **kw)
        (c,) = _gram_stats(X, Y, [1.0], cols=True, **kw)
        e, v = _mmd2_u_and_variance(a, b, c, m, xp=xp)
        est.append(e)
        var.append(v)
    assert np.mean(var) == pytest.approx(np.var(est, ddof=1), rel=0.2)


# ---------------------------------------------------------------------------
# Two-sample test


def test_mmd_test_statistic_and_pvalue_by_brute_force(backend):
    X, Y = _data(11, [(9, 2), (7, 2)])
    Y += 0.6
    B = 40
    res = mmd_test(
        backend.asarray(X), backend.asarray(Y), n_permutations=B, random_state=5
    )
    assert isinstance(res, MMDTestResult)
    sigma = _brute_median(np.concatenate([X, Y]))
    assert res.bandwidth == pytest.approx(sigma, rel=1e-12)
    assert res.n_permutations == B
    observed = _brute_mmd2(X, Y, sigma, "unbiased")
    assert res.statistic == pytest.approx(observed, abs=1e-12)
    # Each permutation relabels the first m indices of a random permutation as X.
    P = np.concatenate([X, Y])
    rng = check_random_state(5)
    null = []
    for _ in range(B):
        perm = rng.permutation(len(P))
        null.append(_brute_mmd2(P[perm[:9]], P[perm[9:]], sigma, "unbiased"))
    expected_p = (1 + sum(s >= observed - 1e-12 for s in null)) / (1 + B)
    assert res.pvalue == pytest.approx(expected_p)


def test_mmd_test_power_bandwidth_uses_held_out_half(backend):
    X, Y = _data(12, [(20, 2), (16, 2)])
    Y *= 2.0
    res = mmd_test(
        backend.asarray(X),
        backend.asarray(Y),
        bandwidth="power",
        n_permutations=20,
        random_state=4,
    )
    assert res.bandwidth == pytest.approx(optimize_bandwidth(X, Y, random_state=4))
    rng = check_random_state(4)
    px, py = rng.permutation(20), rng.permutation(16)
    held_out = _brute_mmd2(X[px[8:]], Y[py[8:]], res.bandwidth, "unbiased")
    assert res.statistic == pytest.approx(held_out, abs=1e-12)


def test_mmd_test_fixed_bandwidth_and_result_is_frozen():
    X, Y = _data(13, [(10, 2), (10, 2)])
    res = mmd_test(X, Y, bandwidth=0.7, n_permutations=10, random_state=0)
    assert res.bandwidth == 0.7
    with pytest.raises(AttributeError):
        res.pvalue = 0.0


def test_mmd_test_calibrated_under_h0():
    rejections = 0
    for rep in range(N_REPEATS):
        X, Y = _data(1000 + rep, [(30, 2), (30, 2)])
        res = mmd_test(X, Y, n_permutations=200, random_state=rep)
        rejections += res.pvalue <= ALPHA
    lo, hi = _binomial_interval()
    assert lo <= rejections / N_REPEATS <= hi


@pytest.mark.parametrize("bandwidth", ["median", "power"])
def test_mmd_test_power(bandwidth):
    (X,) = _data(14, [(60, 2)])
    (Y,) = _data(15, [(60, 2)], loc=1.5)
    res = mmd_test(X, Y, bandwidth=bandwidth, n_permutations=200, random_state=0)
    assert res.pvalue == pytest.approx(1 / 201)


# ---------------------------------------------------------------------------
# Relative test


def test_relative_test_hand_computed_pvalue(backend):
    X, Y, Z = _data(16, [(6, 2), (5, 2), (7, 2)])
    Y += 1.0
    Z += 0.2
    sigma = 1.1
    res = relative_mmd_test(
        backend.asarray(X), backend.asarray(Y), backend.asarray(Z), bandwidth=sigma
    )
    assert isinstance(res, RelativeMMDTestResult)
    mmd_xy = _brute_mmd2(X, Y, sigma, "unbiased")
    mmd_xz = _brute_mmd2(X, Z, sigma, "unbiased")
    var = _brute_relative_variance(X, Y, Z, sigma)
    assert res.mmd2_xy == pytest.approx(mmd_xy, abs=1e-12)
    assert res.mmd2_xz == pytest.approx(mmd_xz, abs=1e-12)
    assert res.statistic == pytest.approx(mmd_xy - mmd_xz, abs=1e-12)
    assert res.std**2 == pytest.approx(var, rel=1e-10)
    t = mmd_xy - mmd_xz
    assert res.pvalue == pytest.approx(norm.cdf(-t / math.sqrt(var)), rel=1e-10)
    assert res.bandwidth == sigma


def test_relative_test_matches_reference_matrix_form(backend):
    """Same variance as the matrix products of the reference ``MMD_Diff_Var``."""
    X, Y, Z = _data(17, [(11, 3), (9, 3), (10, 3)])
    Z += 0.5
    res = relative_mmd_test(
        backend.asarray(X), backend.asarray(Y), backend.asarray(Z), block_size=4
    )
    s = res.bandwidth
    assert s == pytest.approx(_brute_median(np.concatenate([X, Y, Z])), rel=1e-12)
    Kyy, Kzz, Kxy, Kxz = _gram(Y, Y, s), _gram(Z, Z, s), _gram(X, Y, s), _gram(X, Z, s)
    np.fill_diagonal(Kyy, 0)
    np.fill_diagonal(Kzz, 0)
    m, n, r = 11, 9, 10
    u_yy, u_zz = Kyy.sum() / (n * (n - 1)), Kzz.sum() / (r * (r - 1))
    u_xy, u_xz = Kxy.mean(), Kxz.mean()
    t = [
        (Kyy.T @ Kyy).sum() / n**3 - u_yy**2,
        (Kxy.T @ Kxy).sum() / (n**2 * m) - u_xy**2,
        (Kxy @ Kxy.T).sum() / (n * m**2) - u_xy**2,
        (Kzz.T @ Kzz).sum() / r**3 - u_zz**2,
        (Kxz @ Kxz.T).sum() / (r * m**2) - u_xz**2,
        (Kxz.T @ Kxz).sum() / (r**2 * m) - u_xz**2,
        (Kyy @ Kxy.T).sum() / (n**2 * m) - u_yy * u_xy,
        (Kxy.T @ Kxz).sum() / (n * m * r) - u_xz * u_xy,
        (Kzz @ Kxz.T).sum() / (r**2 * m) - u_zz * u_xz,
    ]
    zeta1 = sum(t[:6]) - 2 * sum(t[6:])
    var = 4 * (m - 2) / (m * (m - 1)) * zeta1
    assert res.std**2 == pytest.approx(var, rel=1e-10)
    dense = relative_mmd_test(
        backend.asarray(X), backend.asarray(Y), backend.asarray(Z), block_size=1000
    )
    assert dense.std == pytest.approx(res.std, rel=1e-12)
    assert dense.statistic == pytest.approx(res.statistic, rel=1e-12, abs=1e-15)


def test_relative_test_variance_monte_carlo():
    """The variance estimate matches the spread of t over resamples within 15%."""
    rng = np.random.RandomState(18)
    n, reps = 150, 600
    ts, vs = [], []
    for _ in range(reps):
        X = rng.normal(size=(n, 2))
        Y = rng.normal(loc=0.5, size=(n, 2))
        Z = rng.normal(loc=1.0, size=(n, 2))
        res = relative_mmd_test(X, Y, Z, bandwidth=1.0)
        ts.append(res.statistic)
        vs.append(res.std**2)
    assert np.mean(vs) == pytest.approx(np.var(ts, ddof=1), rel=0.15)


def test_relative_test_calibrated_when_y_and_z_are_iid():
    rejections = 0
    for rep in range(N_REPEATS):
        (X,) = _data(2000 + rep, [(50, 2)])
        Y, Z = _data(5000 + rep, [(50, 2), (50, 2)], loc=0.7)
        rejections += relative_mmd_test(X, Y, Z).pvalue <= ALPHA
    lo, hi = _binomial_interval()
    assert lo <= rejections / N_REPEATS <= hi


def test_relative_test_power_and_direction():
    (X,) = _data(19, [(100, 2)])
    (far,) = _data(20, [(100, 2)], loc=1.5)
    (near,) = _data(21, [(100, 2)], loc=0.1)
    res = relative_mmd_test(X, far, near)
    assert res.statistic > 0
    assert res.pvalue < 1e-6
    # Swapping the candidates flips the conclusion.
    swapped = relative_mmd_test(X, near, far)
    assert swapped.statistic == pytest.approx(-res.statistic)
    assert swapped.pvalue > 1 - 1e-6


# ---------------------------------------------------------------------------
# Input validation


def _bad_calls():
    rng = np.random.RandomState(0)
    X, Y = rng.normal(size=(5, 2)), rng.normal(size=(6, 2))
    X_nan, Y_inf = X.copy(), Y.copy()
    X_nan[0, 0] = np.nan
    Y_inf[1, 1] = np.inf
    return [
        (mmd2, (X, rng.normal(size=(5, 3))), {}, "same number of features"),
        (mmd2, (X[:1], Y), {}, "X must contain at least 2 samples"),
        (mmd2, (X, Y[:1]), {"estimator": "linear"}, "Y must contain at least 2"),
        (mmd2, (X_nan, Y), {}, "Input X contains NaN"),
        (mmd2, (X, Y_inf), {}, "Input Y contains infinity"),
        (mmd2, (X, Y), {"bandwidth": 0.0}, "'bandwidth' parameter"),
        (mmd2, (X, Y), {"bandwidth": -1.0}, "'bandwidth' parameter"),
        (mmd2, (X, Y), {"bandwidth": np.nan}, "'bandwidth' parameter"),
        (mmd2, (X, Y), {"bandwidth": np.inf}, "'bandwidth' parameter"),
        (mmd2, (X, Y), {"bandwidth": "mean"}, "'bandwidth' parameter"),
        (mmd2, (X, Y), {"kernel": "laplacian"}, "'kernel' parameter"),
        (mmd2, (X, Y), {"estimator": "quadratic"}, "'estimator' parameter"),
        (mmd2, (X, Y), {"block_size": 0}, "'block_size' parameter"),
        (mmd2, (X[:, 0], Y), {}, "Expected 2D array"),
        (mmd2, (np.ones((4, 2)), np.ones((3, 2))), {}, "bandwidth=0"),
        (median_heuristic, (X[:1],), {}, "X must contain at least 2 samples"),
        (median_heuristic, (X,), {"max_samples": 1}, "'max_samples' parameter"),
        (optimize_bandwidth, (X[:3], Y), {}, "X must contain at least 4 samples"),
        (optimize_bandwidth, (X, Y), {"n_grid": 0}, "'n_grid' parameter"),
        (mmd_test, (X, Y[:1]), {}, "Y must contain at least 2 samples"),
        (mmd_test, (X, Y), {"bandwidth": -2.0}, "'bandwidth' parameter"),
        (mmd_test, (X, Y), {"n_permutations": 0}, "'n_permutations' parameter"),
        (mmd_test, (X, Y), {"kernel": "poly"}, "'kernel' parameter"),
        (
            mmd_test,
            (X[:3], Y),
            {"bandwidth": "power"},
            "X must contain at least 4 samples",
        ),
        (mmd_test, (X, rng.normal(size=(6, 1))), {}, "same number of features"),
        (relative_mmd_test, (X[:2], Y, Y), {}, "X must contain at least 3"),
        (relative_mmd_test, (X, Y, Y[:1]), {}, "Z must contain at least 2"),
        (relative_mmd_test, (X, Y, np.ones((4, 3))), {}, "same number of features"),
        (relative_mmd_test, (X, Y, Y_inf), {}, "Input Z contains infinity"),
        (relative_mmd_test, (X, Y, Y), {"bandwidth": "power"}, "'bandwidth' parameter"),
        (make_mmd_scorer, (), {"estimator": "exact"}, "'estimator' parameter"),
        (make_mmd_scorer, (), {"bandwidth": 0}, "'bandwidth' parameter"),
        (make_mmd_scorer, (), {"n_samples": 0}, "'n_samples' parameter"),
        (make_mmd_scorer, (), {"kernel": "linear"}, "'kernel' parameter"),
    ]


@pytest.mark.parametrize(
    "func, args, kwargs, match",
    _bad_calls(),
    ids=[f"{c[0].__name__}-{c[3]}" for c in _bad_calls()],
)
def test_invalid_inputs(func, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(*args, **kwargs)


def test_biased_estimator_accepts_one_sample():
    X, Y = _data(22, [(1, 2), (4, 2)])
    assert mmd2(X, Y, bandwidth=1.0, estimator="biased") == pytest.approx(
        _brute_mmd2(X, Y, 1.0, "biased"), abs=1e-12
    )


def test_mixed_namespaces_and_devices_rejected():
    xp = pytest.importorskip("array_api_strict")
    X, Y = _data(23, [(5, 2), (5, 2)])
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xp.asarray(X, device=xp.Device("device1"))
        Ys = xp.asarray(Y)
        with pytest.raises(ValueError, match="same device"):
            mmd2(Xs, Ys)
        with pytest.raises(ValueError, match="one array namespace"):
            mmd2(X, Ys)


# ---------------------------------------------------------------------------
# Scorers


def _bimodal(seed, n=120):
    rng = np.random.RandomState(seed)
    X = np.concatenate([rng.normal(-3, 1, (n, 1)), rng.normal(3, 1, (n, 1))])
    # Shuffled: unshuffled K-fold splits would hold out one mode at a time.
    return X[rng.permutation(len(X))]


class _SeededSampler:
    """Has ``sample(n_samples, random_state)``; records the seed it got."""

    def __init__(self, data):
        self.data = data
        self.seeds = []

    def sample(self, n_samples=1, random_state=None):
        self.seeds.append(random_state)
        rng = check_random_state(random_state)
        return self.data[rng.randint(len(self.data), size=n_samples)] + 0.1


class _UnseededSampler:
    """``sample(n_samples)`` returning ``(X, labels)``, like GaussianMixture."""

    def __init__(self, data):
        self.data = data

    def sample(self, n_samples=1):
        return self.data[:n_samples] * 1.1, np.zeros(n_samples)


def test_scorer_equals_negative_mmd2(backend):
    X = _bimodal(0, 20)
    model = _SeededSampler(_bimodal(1, 30))
    Xb = backend.asarray(X)
    score = neg_mmd_scorer(model, Xb)
    assert isinstance(score, float)
    assert model.seeds == [0]
    samples = model.sample(len(X), random_state=0)
    expected = -mmd2(Xb, backend.asarray(samples), bandwidth=median_heuristic(Xb))
    assert score == pytest.approx(expected, abs=1e-12)
    # The bandwidth is the data's own median: independent of the samples.
    assert median_heuristic(Xb) == pytest.approx(_brute_median(X), rel=1e-12)


def test_scorer_tuple_samples_and_no_seed_parameter(backend):
    X = _bimodal(2, 15)
    model = _UnseededSampler(_bimodal(3, 30))
    scorer = make_mmd_scorer(n_samples=25, bandwidth=2.0, estimator="biased")
    score = scorer(model, backend.asarray(X))
    expected = -_brute_mmd2(X, _bimodal(3, 30)[:25] * 1.1, 2.0, "biased")
    assert score == pytest.approx(expected, abs=1e-12)


def test_scorer_pickle_and_repr():
    X = _bimodal(4, 20)
    scorer = make_mmd_scorer(n_samples=30, random_state=3, estimator="linear")
    clone = pickle.loads(pickle.dumps(scorer))
    model = _SeededSampler(_bimodal(5, 30))
    assert clone(model, X) == scorer(model, X)
    assert repr(scorer) == (
        "make_mmd_scorer(n_samples=30, bandwidth='median', random_state=3, "
        "estimator='linear', space='auto')"
    )
    assert "make_mmd_scorer(" in repr(neg_mmd_scorer)


def _assert_all_finite(search):
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)), scores


def test_grid_search_gaussian_mixture():
    X = _bimodal(6)
    search = GridSearchCV(
        GaussianMixture(random_state=0),
        {"n_components": [1, 2]},
        scoring=neg_mmd_scorer,
        cv=3,
    )
    search.fit(X)
    _assert_all_finite(search)
    assert search.best_params_ == {"n_components": 2}


def test_randomized_search_gaussian_mixture():
    X = _bimodal(7)
    search = RandomizedSearchCV(
        GaussianMixture(random_state=0),
        {"n_components": [1, 2], "covariance_type": ["full", "diag"]},
        n_iter=4,
        scoring=make_mmd_scorer(estimator="biased"),
        cv=3,
        random_state=0,
    )
    search.fit(X)
    _assert_all_finite(search)
    assert search.best_params_["n_components"] == 2


def test_halving_grid_search_gaussian_mixture():
    X = _bimodal(8)
    search = HalvingGridSearchCV(
        GaussianMixture(random_state=0),
        {"n_components": [1, 2]},
        resource="max_iter",
        min_resources=2,
        max_resources=20,
        factor=2,
        scoring=neg_mmd_scorer,
        cv=3,
    )
    with warnings.catch_warnings():
        # Few EM iterations on the first rungs do not converge, by design.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X)
    _assert_all_finite(search)
    assert search.best_params_["n_components"] == 2


def test_grid_search_kernel_density():
    rng = np.random.RandomState(9)
    X = rng.normal(size=(150, 2))
    search = GridSearchCV(
        KernelDensity(), {"bandwidth": [0.3, 10.0]}, scoring=neg_mmd_scorer, cv=3
    )
    search.fit(X)
    _assert_all_finite(search)
    assert search.best_params_ == {"bandwidth": 0.3}


def test_cross_val_score_equals_manual_scores():
    X = _bimodal(10)
    gm = GaussianMixture(n_components=2, random_state=0)
    scores = cross_val_score(gm, X, scoring=neg_mmd_scorer, cv=2)
    manual = []
    for train, test in KFold(2).split(X):
        fitted = GaussianMixture(n_components=2, random_state=0).fit(X[train])
        samples, _ = fitted.sample(len(test))
        manual.append(-mmd2(X[test], samples, bandwidth=median_heuristic(X[test])))
    np.testing.assert_allclose(scores, manual, rtol=1e-12)


def test_scorer_moves_samples_to_data_namespace():
    """A model sampling in another namespace is scored on X's device."""
    xp = pytest.importorskip("array_api_strict")
    X = _bimodal(11, 10)
    data = _bimodal(12, 15)

    class _StrictSampler:
        def sample(self, n_samples):
            return xp.asarray(data[:n_samples], device=xp.Device("device1"))

    with sklearn.config_context(array_api_dispatch=True):
        score = neg_mmd_scorer(_StrictSampler(), X)
    expected = -_brute_mmd2(X, data[:20], _brute_median(X), "unbiased")
    assert score == pytest.approx(expected, abs=1e-12)


def test_public_api():
    import sklearn_ddchm.metrics as metrics

    for name in metrics.__all__:
        assert hasattr(metrics, name)
    assert sorted(metrics.__all__) == metrics.__all__


# ---------------------------------------------------------------------------
# Pipelines: the comparison space (comparison_samples, the scorers, the
# relative test between estimators)


def _positive_bimodal(seed, n):
    """Two features on a large scale and offset, so a wrong space shows."""
    X = _bimodal(seed, n // 2)
    rng = np.random.RandomState(seed + 100)
    return np.hstack(
        [
            100.0 + 10.0 * X,
            60.0 + 5.0 * X + rng.normal(size=(len(X), 1)),
            80.0 + rng.exponential(5.0, (len(X), 1)),
        ]
    )


def _gm_pipeline(*steps, X=None, seed=0):
    pipe = make_pipeline(*steps, GaussianMixture(2, random_state=seed))
    return pipe.fit(_positive_bimodal(20, 200) if X is None else X)


def _brute_neg_mmd2(X_space, samples):
    X_space = np.asarray(X_space, dtype=float)
    return -_brute_mmd2(X_space, samples, _brute_median(X_space), "unbiased")


def test_scorer_pipeline_with_scaler_compares_in_data_space():
    X_test = _positive_bimodal(21, 24)
    pipe = _gm_pipeline(StandardScaler())
    score = neg_mmd_scorer(pipe, X_test)
    # computed by hand: samples of the final step scaled back to the data's units
    drawn, _ = pipe[-1].sample(len(X_test))
    expected = _brute_neg_mmd2(X_test, pipe[0].inverse_transform(drawn))
    assert score == pytest.approx(expected, abs=1e-12)
    # the same scorer forced into the model's input space compares scaled data
    model_space = make_mmd_scorer(space="model")(pipe, X_test)
    expected = _brute_neg_mmd2(pipe[0].transform(X_test), drawn)
    assert model_space == pytest.approx(expected, abs=1e-12)
    # the naive comparison, scaled samples against raw data, is far worse
    assert score > -_brute_mmd2(X_test, drawn, _brute_median(X_test), "unbiased") + 0.5


def test_scorer_pipeline_without_inverse_compares_after_the_step():
    """A FunctionTransformer without inverse_func has an identity inverse: lossy."""
    X_test = _positive_bimodal(22, 24)
    pipe = _gm_pipeline(FunctionTransformer(np.log1p))
    drawn, _ = pipe[-1].sample(len(X_test))
    score = neg_mmd_scorer(pipe, X_test)
    assert score == pytest.approx(_brute_neg_mmd2(np.log1p(X_test), drawn), abs=1e-12)
    # space="data" maps back through the identity "inverse", as asked
    data_space = make_mmd_scorer(space="data")(pipe, X_test)
    assert data_space == pytest.approx(_brute_neg_mmd2(X_test, drawn), abs=1e-12)
    # with the true inverse the step is exact and the data space is used
    exact = _gm_pipeline(FunctionTransformer(np.log1p, inverse_func=np.expm1))
    drawn, _ = exact[-1].sample(len(X_test))
    assert neg_mmd_scorer(exact, X_test) == pytest.approx(
        _brute_neg_mmd2(X_test, np.expm1(drawn)), abs=1e-12
    )


def test_scorer_pipeline_with_feature_selector_compares_selected_features():
    """VarianceThreshold's inverse fills zeros where the constant column was."""
    X_train = _positive_bimodal(23, 200)
    X_train[:, 2] = 5.0
    X_test = _positive_bimodal(24, 24)
    X_test[:, 2] = 5.0
    pipe = _gm_pipeline(VarianceThreshold(), StandardScaler(), X=X_train)
    assert pipe[0].get_support().tolist() == [True, True, False]
    drawn, _ = pipe[-1].sample(len(X_test))
    score = neg_mmd_scorer(pipe, X_test)
    # the data loses its constant column, the samples are scaled back
    expected = _brute_neg_mmd2(X_test[:, :2], pipe[1].inverse_transform(drawn))
    assert score == pytest.approx(expected, abs=1e-12)
    # After a scaler the constant column is 0, which is what the selector's
    # inverse puts back: exact on this data, so the data's space is used.
    pipe = _gm_pipeline(StandardScaler(), VarianceThreshold(), X=X_train)
    drawn, _ = pipe[-1].sample(len(X_test))
    X_space, samples = comparison_samples(pipe, X_test)
    assert X_space is X_test
    np.testing.assert_allclose(samples[:, 2], 5.0)
    np.testing.assert_allclose(
        samples, pipe[0].inverse_transform(pipe[1].inverse_transform(drawn))
    )


def test_comparison_space_is_the_earliest_reached_exactly():
    """[lossy, exact, model]: data forward through the lossy step, samples back
    through the exact one."""
    X_test = _positive_bimodal(25, 24)
    pipe = _gm_pipeline(FunctionTransformer(np.log1p), StandardScaler())
    X_space, samples = comparison_samples(pipe, X_test, n_samples=30)
    drawn, _ = pipe[-1].sample(30)
    np.testing.assert_allclose(X_space, np.log1p(X_test), rtol=1e-15)
    np.testing.assert_allclose(samples, pipe[1].inverse_transform(drawn), rtol=1e-15)


@pytest.mark.parametrize(
    "make_step, exact",
    [
        (lambda: PCA(whiten=True), True),
        (lambda: PCA(n_components=1), False),
        (lambda: FunctionTransformer(), True),  # the identity
        (lambda: "passthrough", True),
    ],
    ids=["pca-all", "pca-dropping", "identity", "passthrough"],
)
def test_comparison_space_follows_the_round_trip(make_step, exact):
    X_test = _positive_bimodal(26, 24)
    pipe = _gm_pipeline(make_step())
    X_space, _ = comparison_samples(pipe, X_test)
    if exact:
        assert X_space is X_test
    else:
        np.testing.assert_allclose(X_space, pipe[0].transform(X_test))


def test_nested_pipeline_is_flattened():
    X_train, X_test = _positive_bimodal(27, 200), _positive_bimodal(28, 24)
    inner = make_pipeline(FunctionTransformer(np.arctan), GaussianMixture(2))
    pipe = make_pipeline(StandardScaler(), "passthrough", inner).fit(X_train)
    X_space, _ = comparison_samples(pipe, X_test, space="model")
    np.testing.assert_allclose(X_space, np.arctan(pipe[0].transform(X_test)))


def test_comparison_samples_errors():
    X = _positive_bimodal(29, 40)
    pipe = make_pipeline(Normalizer(), GaussianMixture(2, random_state=0)).fit(X)
    with pytest.raises(ValueError, match='space="data" needs every step'):
        comparison_samples(pipe, X, space="data")
    with pytest.raises(ValueError, match="'space' parameter"):
        comparison_samples(pipe, X, space="latent")
    no_sampler = make_pipeline(StandardScaler(), PCA()).fit(X)
    with pytest.raises(TypeError, match="sample method"):
        neg_mmd_scorer(no_sampler, X)
    with pytest.raises(TypeError, match="sample method"):
        GridSearchCV(
            no_sampler,
            {"pca__n_components": [1]},
            scoring=neg_mmd_scorer,
            error_score="raise",
        ).fit(X)


# scikit-learn's StandardScaler.fit divides 0 / 0 on array_api_strict (its own
# warning, not ours)
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_scorer_pipeline_array_api(backend):
    """The round-trip check and the comparison run in the data's namespace."""
    X_train, X_test = _positive_bimodal(30, 60), _positive_bimodal(31, 20)
    scaler = StandardScaler().fit(backend.asarray(X_train))
    model = _SeededSampler(np.random.RandomState(0).normal(size=(40, 3)))
    # a fitted pipeline put together by hand (the sampler has no fit)
    pipe = Pipeline([("scale", scaler), ("model", model)])
    score = neg_mmd_scorer(pipe, backend.asarray(X_test))
    drawn = model.sample(len(X_test), random_state=0)
    mean, scale = backend.to_numpy(scaler.mean_), backend.to_numpy(scaler.scale_)
    assert score == pytest.approx(
        _brute_neg_mmd2(X_test, drawn * scale + mean), rel=1e-10
    )


def test_relative_test_between_pipelines():
    X_train, X_test = _positive_bimodal(32, 300), _positive_bimodal(33, 200)
    one = make_pipeline(StandardScaler(), GaussianMixture(1, random_state=0))
    two = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    one.fit(X_train)
    two.fit(X_train)
    result = relative_mmd_test_estimators(X_test, one, two, random_state=0)
    # by hand: the same seeds, samples scaled back, the test on arrays
    seeds = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=2)
    assert seeds[0] != seeds[1]
    Y = one[0].inverse_transform(one[-1].sample(len(X_test))[0])
    Z = two[0].inverse_transform(two[-1].sample(len(X_test))[0])
    rng = np.random.RandomState(0)
    rng.randint(np.iinfo(np.int32).max, size=2)
    expected = relative_mmd_test(X_test, Y, Z, random_state=rng)
    assert result == expected
    assert result.statistic > 0 and result.pvalue < 0.05


def test_relative_test_between_pipelines_needs_one_space():
    X_train, X_test = _positive_bimodal(34, 200), _positive_bimodal(35, 20)
    logged = make_pipeline(FunctionTransformer(np.log1p), GaussianMixture(2))
    scaled = make_pipeline(StandardScaler(), GaussianMixture(2))
    logged.fit(X_train)
    scaled.fit(X_train)
    with pytest.raises(ValueError, match="different spaces"):
        relative_mmd_test_estimators(X_test, logged, scaled)
    # the same non-invertible step on both sides is one space
    logged_too = make_pipeline(FunctionTransformer(np.log1p), GaussianMixture(1))
    result = relative_mmd_test_estimators(X_test, logged_too.fit(X_train), logged)
    assert np.isfinite(result.statistic)
