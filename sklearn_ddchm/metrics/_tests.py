"""Kernel two-sample test and relative (three-sample) MMD test.

References
----------
.. [Gretton2012] A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and
   A. Smola, "A kernel two-sample test", JMLR 13:723-773, 2012.
.. [Bounliphone2016] W. Bounliphone, E. Belilovsky, M. B. Blaschko,
   I. Antonoglou and A. Gretton, "A test of relative similarity for model
   selection in generative models", ICLR 2016 (arXiv:1511.04581); code:
   github.com/eugenium/MMD, ``mmd.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions, validate_params

from ..utils._array_api import (
    _is_array,
    get_namespace_and_device,
    to_namespace,
    to_numpy,
)
from ..utils._validation import IntInterval
from ._mmd import (
    _BANDWIDTH_CONSTRAINT,
    _POWER_MIN_SAMPLES,
    DEFAULT_BLOCK_SIZE,
    MEDIAN_MAX_SAMPLES,
    POWER_CRITERION_REG,
    POWER_GRID_SIZE,
    _check_bandwidth,
    _check_samples,
    _gram_stats,
    _median_bandwidth,
    _pooled_kernel,
    _select_power_bandwidth,
    _split_halves,
)
from ._sampling import (
    SPACES,
    _comparison_samples,
    _equal_to_rounding,
    _float_array,
)

__all__ = [
    "MMDTestResult",
    "RelativeMMDTestResult",
    "mmd_test",
    "relative_mmd_test",
    "relative_mmd_test_estimators",
]

#: Entries of the (n_pooled, batch) permutation indicator matrix handled at once:
#: 2^22 float64 entries are 32 MiB, and a batch of many permutations turns the
#: null distribution into one matrix product K @ W per batch.
_PERMUTATION_BATCH_ENTRIES = 2**22

#: The relative test's variance is 4 (m - 2) / (m (m - 1)) zeta_1: it needs m >= 3.
_RELATIVE_MIN_X = 3


@dataclass(frozen=True)
class MMDTestResult:
    """Result of :func:`mmd_test`; the fields are also its attributes.

    Parameters
    ----------
    statistic : float
        MMD^2_u of the tested samples (the held-out parts for
        ``bandwidth="power"``).
    pvalue : float
        Permutation p-value ``(1 + #{b : MMD^2_u(permutation b) >= statistic})
        / (1 + n_permutations)``.
    bandwidth : float
        Width ``sigma`` of the Gaussian kernel used.
    n_permutations : int
        Number of permutations drawn.
    """

    statistic: float
    pvalue: float
    bandwidth: float
    n_permutations: int


@dataclass(frozen=True)
class RelativeMMDTestResult:
    """Result of :func:`relative_mmd_test`; the fields are also its attributes.

    Parameters
    ----------
    statistic : float
        ``t = MMD^2_u(X, Y) - MMD^2_u(X, Z)``; positive when ``Z`` is closer to
        ``X`` than ``Y`` is.
    pvalue : float
        ``Phi(-t / std)`` for H0: ``MMD(X, Y) <= MMD(X, Z)``. A small p-value
        means ``Z`` is significantly closer to ``X`` than ``Y`` is.
    std : float
        Estimated standard deviation of ``t`` (Bounliphone et al., 2016).
    mmd2_xy, mmd2_xz : float
        ``MMD^2_u(X, Y)`` and ``MMD^2_u(X, Z)``.
    bandwidth : float
        Width ``sigma`` of the Gaussian kernel used for both MMDs.
    """

    statistic: float
    pvalue: float
    std: float
    mmd2_xy: float
    mmd2_xz: float
    bandwidth: float


def _check_finite(name, **values):
    """No p-value leaves with a non-finite statistic.

    The kernel values are in [0, 1] for every finite input (see ``_Frame``),
    so this does not fire; it keeps a future numerical fault from passing a
    NaN statistic off with a valid-looking p-value.
    """
    for key, value in values.items():
        if not bool(np.all(np.isfinite(value))):
            raise FloatingPointError(
                f"{name}: the {key} is not finite; no p-value is returned for it."
            )


# ---------------------------------------------------------------------------
# Two-sample permutation test


def _permutation_statistics(X, Y, sigma, n_permutations, rng, *, xp, device):
    """MMD^2_u of the observed split followed by ``n_permutations`` random splits.

    With K0 the pooled Gram matrix with zero diagonal, w the indicator of the
    points labelled "X" in a split, r = K0 1 and T = 1' K0 1,

        s_xx = w' K0 w,  s_xy = w' r - s_xx,  s_yy = T - 2 w' r + s_xx,

    so each split costs one column of the product K0 @ W, W holding a batch of
    indicator vectors (drawn as index permutations on the host). This is the
    same as re-indexing K0 for every permutation, in O(B N^2) matrix products.
    """
    m, n = X.shape[0], Y.shape[0]
    n_pooled = m + n
    K = _pooled_kernel(xp.concat([X, Y], axis=0), sigma, xp=xp, device=device)
    f64 = xp.float64
    r = xp.sum(K, axis=1)
    total = float(xp.sum(r, dtype=f64))
    batch = max(1, _PERMUTATION_BATCH_ENTRIES // n_pooled)
    stats = []
    for start in range(0, n_permutations + 1, batch):
        stop = min(start + batch, n_permutations + 1)
        W_host = np.zeros((n_pooled, stop - start))
        for col, b in enumerate(range(start, stop)):
            # Column 0 of the first batch is the observed split.
            idx = np.arange(m) if b == 0 else rng.permutation(n_pooled)[:m]
            W_host[idx, col] = 1.0
        W = to_namespace(W_host, xp, device, dtype=K.dtype)
        s_xx = xp.sum(W * (K @ W), axis=0, dtype=f64)
        w_r = xp.sum(W * r[:, None], axis=0, dtype=f64)
        s_yy = total - 2.0 * w_r + s_xx
        s_xy = w_r - s_xx
        stat = s_xx / (m * (m - 1)) + s_yy / (n * (n - 1)) - 2.0 * s_xy / (m * n)
        stats.append(to_numpy(stat))
    stats = np.concatenate(stats)
    return float(stats[0]), stats[1:]


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like"],
        "kernel": [StrOptions({"rbf"})],
        "bandwidth": [StrOptions({"median", "power"}), _BANDWIDTH_CONSTRAINT],
        "n_permutations": [IntInterval(1, None, closed="left")],
        "random_state": ["random_state"],
        "block_size": [IntInterval(1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def mmd_test(
    X,
    Y,
    *,
    kernel="rbf",
    bandwidth="median",
    n_permutations=1000,
    random_state=None,
    block_size=DEFAULT_BLOCK_SIZE,
):
    """Kernel two-sample test of H0: X and Y come from the same distribution.

    The statistic is MMD^2_u (:func:`mmd2`) with a Gaussian kernel; its null
    distribution is estimated by randomly re-assigning the pooled points to two
    groups of the original sizes (Gretton et al., 2012, Section 5). The
    p-value counts the observed split as one of the permutations,
    ``(1 + #{b : MMD^2_u(b) >= statistic}) / (1 + n_permutations)``, so it is
    never 0 and the test is exact at any level for any sample size.

    The pooled ``(m + n) x (m + n)`` Gram matrix is computed once and kept
    (``8 (m + n)^2`` bytes in float64: 200 MB for 5,000 pooled points), and each
    permutation costs O((m + n)^2): fine up to a few thousand points. For larger
    samples, subsample, or use :func:`mmd2` with ``estimator="linear"``, whose
    null distribution is asymptotically normal.

    Parameters
    ----------
    X : array-like of shape (m, n_features)
        First sample (at least 2 points, 4 for ``bandwidth="power"``).
    Y : array-like of shape (n, n_features)
        Second sample, same namespace and device as ``X``.
    kernel : {"rbf"}, default="rbf"
        The Gaussian kernel ``exp(-||x - y||^2 / (2 sigma^2))``.
    bandwidth : {"median", "power"} or float, default="median"
        ``sigma``. ``"median"``: :func:`median_heuristic` on the pooled sample.
        ``"power"``: :func:`optimize_bandwidth` on a random half of each sample;
        the test then runs on the other, held-out part only (selecting the
        width on the tested points would invalidate the p-value).
    n_permutations : int, default=1000
        Number of random permutations ``B``; the smallest attainable p-value is
        ``1 / (1 + B)``.
    random_state : int, RandomState instance or None, default=None
        Draws the permutations, and the split and the median subsample when
        they apply.
    block_size : int, default=1024
        Rows per Gram block of the bandwidth selection (``"power"``).

    Returns
    -------
    result : MMDTestResult
        ``statistic``, ``pvalue``, ``bandwidth`` and ``n_permutations``.

    References
    ----------
    A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and A. Smola,
    "A kernel two-sample test", JMLR 13:723-773, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.metrics import mmd_test
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 2))
    >>> Y = rng.normal(loc=1.0, size=(100, 2))
    >>> result = mmd_test(X, Y, n_permutations=200, random_state=0)
    >>> result.pvalue == 1 / 201  # no permutation beats the observed split
    True
    >>> mmd_test(X[:50], X[50:], random_state=0).pvalue > 0.05
    True
    """
    power = bandwidth == "power"
    (X, Y), xp, device = _check_samples(
        [X, Y],
        ["X", "Y"],
        min_samples=_POWER_MIN_SAMPLES if power else 2,
        reason=(
            'bandwidth="power": half selects the width, half is tested'
            if power
            else "MMD^2_u divides by m(m - 1)"
        ),
    )
    rng = check_random_state(random_state)
    if power:
        X_sel, Y_sel, X, Y = _split_halves(X, Y, rng, xp=xp, device=device)
        sigma = _select_power_bandwidth(
            X_sel,
            Y_sel,
            n_grid=POWER_GRID_SIZE,
            reg=POWER_CRITERION_REG,
            rng=rng,
            xp=xp,
            device=device,
            block_size=block_size,
        )
    elif bandwidth == "median":
        sigma = _median_bandwidth(
            [X, Y],
            max_samples=MEDIAN_MAX_SAMPLES,
            random_state=rng,
            xp=xp,
            device=device,
        )
    else:
        sigma = _check_bandwidth(bandwidth)
    statistic, null = _permutation_statistics(
        X, Y, sigma, n_permutations, rng, xp=xp, device=device
    )
    _check_finite("mmd_test", statistic=statistic, null=null)
    pvalue = (1.0 + np.count_nonzero(null >= statistic)) / (1.0 + n_permutations)
    return MMDTestResult(
        statistic=statistic,
        pvalue=float(pvalue),
        bandwidth=float(sigma),
        n_permutations=int(n_permutations),
    )


# ---------------------------------------------------------------------------
# Relative test


def _relative_variance(st_yy, st_zz, st_xy, st_xz, m, n, r, *, xp):
    """Bounliphone et al.'s estimate of Var[MMD^2_u(X, Y) - MMD^2_u(X, Z)].

    The first-order term ``4 (m - 2) / (m (m - 1)) zeta_1`` of the variance of
    the difference of the two U-statistics (Bounliphone et al., 2016, Appendix;
    the ``Var`` returned by ``MMD_Diff_Var`` in the authors' github.com/eugenium/
    MMD ``mmd.py``; their Matlab code adds lower-order corrections). Its nine
    terms are written with the row / column sums of K_yy, K_zz (zero diagonal),
    K_xy and K_xz instead of the matrix products of the reference code, e.g.
    ``sum(Kyy' Kyy) = ||Kyy 1||^2``, so that only O(n) vectors are stored.
    """

    def dot(a, b):
        return float(xp.vecdot(a, b))

    r_yy, r_zz = st_yy.rows, st_zz.rows
    xy_x, xy_y = st_xy.rows, st_xy.cols  # sums over Y (one per x), over X (per y)
    xz_x, xz_z = st_xz.rows, st_xz.cols
    u_yy = st_yy.total / (n * (n - 1))
    u_zz = st_zz.total / (r * (r - 1))
    u_xy = st_xy.total / (m * n)
    u_xz = st_xz.total / (m * r)
    t1 = dot(r_yy, r_yy) / n**3 - u_yy**2
    t2 = dot(xy_x, xy_x) / (n**2 * m) - u_xy**2
    t3 = dot(xy_y, xy_y) / (n * m**2) - u_xy**2
    t4 = dot(r_zz, r_zz) / r**3 - u_zz**2
    t5 = dot(xz_z, xz_z) / (r * m**2) - u_xz**2
    t6 = dot(xz_x, xz_x) / (r**2 * m) - u_xz**2
    t7 = dot(r_yy, xy_y) / (n**2 * m) - u_yy * u_xy
    t8 = dot(xy_x, xz_x) / (n * m * r) - u_xz * u_xy
    t9 = dot(r_zz, xz_z) / (r**2 * m) - u_zz * u_xz
    zeta1 = t1 + t2 + t3 + t4 + t5 + t6 - 2.0 * (t7 + t8 + t9)
    return 4.0 * (m - 2) / (m * (m - 1)) * zeta1


@validate_params(
    {
        "X": ["array-like"],
        "Y": ["array-like"],
        "Z": ["array-like"],
        "kernel": [StrOptions({"rbf"})],
        "bandwidth": [StrOptions({"median"}), _BANDWIDTH_CONSTRAINT],
        "block_size": [IntInterval(1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def relative_mmd_test(
    X,
    Y,
    Z,
    *,
    kernel="rbf",
    bandwidth="median",
    block_size=DEFAULT_BLOCK_SIZE,
    random_state=0,
):
    """Relative MMD test: is ``Z`` significantly closer to ``X`` than ``Y`` is?

    The test of relative similarity of Bounliphone et al. (2016), used to
    compare two generative models (samples ``Y`` and ``Z``) against data ``X``:

    - H0: ``MMD(X, Y) <= MMD(X, Z)``; H1: ``MMD(X, Y) > MMD(X, Z)``;
    - statistic ``t = MMD^2_u(X, Y) - MMD^2_u(X, Z)``;
    - p-value ``Phi(-t / std)`` from the joint asymptotic normality of the two
      U-statistics, ``std^2`` the estimate of ``Var[t]`` of the authors' Python
      code (``MMD_Diff_Var``, first-order term
      ``4 (m - 2) / (m (m - 1)) zeta_1``, m = number of points in ``X``).

    A small p-value therefore means that ``Z`` matches ``X`` significantly
    better than ``Y`` does (as in the paper's Table 1). The approximation is
    asymptotic: it needs samples of comparable, not too small sizes, and
    ``X`` to differ from ``Y`` and ``Z`` (when all three have the same
    distribution the statistic is degenerate and the normal approximation
    does not hold).

    The Gram matrices are visited in blocks and only their row sums are kept:
    O(n) memory beyond the inputs, O(n^2 d) time.

    Parameters
    ----------
    X : array-like of shape (m, n_features)
        Reference sample (the data), at least 3 points.
    Y : array-like of shape (n, n_features)
        First candidate sample, at least 2 points.
    Z : array-like of shape (r, n_features)
        Second candidate sample, at least 2 points.
    kernel : {"rbf"}, default="rbf"
        The Gaussian kernel ``exp(-||x - y||^2 / (2 sigma^2))``.
    bandwidth : "median" or float, default="median"
        One ``sigma`` for both MMDs. ``"median"`` is :func:`median_heuristic` on
        the pooled ``X ∪ Y ∪ Z`` (Bounliphone et al.'s code averages the
        medians of the pairs (X, Y) and (X, Z) instead).
    block_size : int, default=1024
        Rows per block of the Gram matrices.
    random_state : int, RandomState instance or None, default=0
        Subsample of the median heuristic on large samples.

    Returns
    -------
    result : RelativeMMDTestResult
        ``statistic``, ``pvalue``, ``std``, ``mmd2_xy``, ``mmd2_xz`` and
        ``bandwidth``.

    References
    ----------
    W. Bounliphone, E. Belilovsky, M. B. Blaschko, I. Antonoglou and
    A. Gretton, "A test of relative similarity for model selection in
    generative models", ICLR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm.metrics import relative_mmd_test
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 2))             # data
    >>> Y = rng.normal(loc=1.0, size=(200, 2))    # a poor model
    >>> Z = rng.normal(loc=0.1, size=(200, 2))    # a good model
    >>> result = relative_mmd_test(X, Y, Z)
    >>> result.statistic > 0, result.pvalue < 0.05
    (True, True)
    """
    (X, Y, Z), xp, device = _check_samples(
        [X, Y, Z],
        ["X", "Y", "Z"],
        min_samples=2,
        reason="MMD^2_u divides by n(n - 1)",
    )
    if X.shape[0] < _RELATIVE_MIN_X:
        raise ValueError(
            f"X must contain at least {_RELATIVE_MIN_X} samples (the variance of "
            f"the relative test is proportional to m - 2), got {X.shape[0]}."
        )
    if isinstance(bandwidth, str):
        sigma = _median_bandwidth(
            [X, Y, Z],
            max_samples=MEDIAN_MAX_SAMPLES,
            random_state=random_state,
            xp=xp,
            device=device,
        )
    else:
        sigma = _check_bandwidth(bandwidth)
    sigmas = [sigma]
    kw = dict(xp=xp, device=device, block_size=block_size)
    (st_xx,) = _gram_stats(X, None, sigmas, **kw)
    (st_yy,) = _gram_stats(Y, None, sigmas, rows=True, **kw)
    (st_zz,) = _gram_stats(Z, None, sigmas, rows=True, **kw)
    (st_xy,) = _gram_stats(X, Y, sigmas, rows=True, cols=True, **kw)
    (st_xz,) = _gram_stats(X, Z, sigmas, rows=True, cols=True, **kw)
    m, n, r = X.shape[0], Y.shape[0], Z.shape[0]
    u_xx = st_xx.total / (m * (m - 1))
    mmd2_xy = u_xx + st_yy.total / (n * (n - 1)) - 2.0 * st_xy.total / (m * n)
    mmd2_xz = u_xx + st_zz.total / (r * (r - 1)) - 2.0 * st_xz.total / (m * r)
    t = mmd2_xy - mmd2_xz
    var = _relative_variance(st_yy, st_zz, st_xy, st_xz, m, n, r, xp=xp)
    _check_finite("relative_mmd_test", statistic=t, variance=var)
    std = math.sqrt(max(var, 0.0))
    if std > 0:
        pvalue = float(norm.sf(t / std))
    else:
        # Degenerate (e.g. Y and Z identical): only the sign of t is informative.
        pvalue = 0.5 if t == 0 else float(t < 0)
    return RelativeMMDTestResult(
        statistic=t,
        pvalue=pvalue,
        std=std,
        mmd2_xy=mmd2_xy,
        mmd2_xz=mmd2_xz,
        bandwidth=float(sigma),
    )


def _same_space(A, B):
    """Whether two representations of the held-out data are the same points."""
    if A is B:
        return True
    xp, device = get_namespace_and_device(A if _is_array(A) else None)
    A, B = _float_array(A, xp, device), _float_array(B, xp, device)
    return _equal_to_rounding(A, B, xp)


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "estimator_y": [object],
        "estimator_z": [object],
        "n_samples": [IntInterval(2, None, closed="left"), None],
        "space": [StrOptions(set(SPACES))],
        "kernel": [StrOptions({"rbf"})],
        "bandwidth": [StrOptions({"median"}), _BANDWIDTH_CONSTRAINT],
        "block_size": [IntInterval(1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def relative_mmd_test_estimators(
    X,
    estimator_y,
    estimator_z,
    *,
    n_samples=None,
    space="auto",
    kernel="rbf",
    bandwidth="median",
    block_size=DEFAULT_BLOCK_SIZE,
    random_state=0,
):
    """Relative MMD test between two fitted generative models (or pipelines).

    :func:`relative_mmd_test` on held-out data ``X`` and samples of the two
    models: is ``estimator_z`` significantly closer to the data than
    ``estimator_y``? Each estimator is a generative model or a
    :class:`~sklearn.pipeline.Pipeline` ending in one; its samples and ``X``
    are brought to one space by :func:`comparison_samples` (by default:
    samples back through the preceding steps' exact ``inverse_transform``,
    ``X`` forward through the other steps). Both models must compare in the
    **same** space, in which ``X`` is the reference: pipelines whose
    preprocessing is exactly invertible (compared in the data's space), or
    which share the same non-invertible steps. Otherwise a ValueError.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (m, n_features)
        Held-out data, as the estimators take it; at least 3 rows.
    estimator_y : object
        The first fitted model (the null hypothesis says it is at least as
        close to the data as ``estimator_z``).
    estimator_z : object
        The second fitted model.
    n_samples : int or None, default=None
        Samples drawn from each model; ``None`` draws as many as ``X`` has
        rows.
    space : {"auto", "data", "model"}, default="auto"
        The comparison space (:func:`comparison_samples`).
    kernel : {"rbf"}, default="rbf"
        The Gaussian kernel.
    bandwidth : "median" or float, default="median"
        As in :func:`relative_mmd_test`, taken in the comparison space.
    block_size : int, default=1024
        Rows per block of the Gram matrices.
    random_state : int, RandomState instance or None, default=0
        Draws the two seeds passed to the models' ``sample`` (independent
        draws for ``Y`` and ``Z``, as the test assumes) and the median
        subsample.

    Returns
    -------
    result : RelativeMMDTestResult
        As returned by :func:`relative_mmd_test`; a small ``pvalue`` means
        ``estimator_z`` is significantly closer to the data.

    See Also
    --------
    relative_mmd_test : The test on arrays of samples.
    comparison_samples : The data and samples each model is compared with.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ddchm.metrics import relative_mmd_test_estimators
    >>> rng = np.random.RandomState(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (300, 1)), rng.normal(3, 1, (300, 1))])
    >>> X_train, X_test = X[::2], X[1::2]
    >>> one = make_pipeline(StandardScaler(), GaussianMixture(1, random_state=0))
    >>> two = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    >>> result = relative_mmd_test_estimators(
    ...     X_test, one.fit(X_train), two.fit(X_train))
    >>> bool(result.pvalue < 0.05)  # two components are significantly closer
    True
    """
    rng = check_random_state(random_state)
    seed_y, seed_z = (int(s) for s in rng.randint(np.iinfo(np.int32).max, size=2))
    X_y, Y = _comparison_samples(estimator_y, X, n_samples, space, seed_y)
    X_z, Z = _comparison_samples(estimator_z, X, n_samples, space, seed_z)
    if not _same_space(X_y, X_z):
        raise ValueError(
            "estimator_y and estimator_z compare with the data in different spaces "
            f"(space={space!r}): their steps before the model differ and are not "
            "exactly invertible. Give both the same preprocessing, or invertible "
            "preprocessing."
        )
    (X_y,), xp, device = _check_samples(
        [X_y], ["X"], min_samples=_RELATIVE_MIN_X, reason="the relative test"
    )
    Y = to_namespace(Y, xp, device, dtype=X_y.dtype)
    Z = to_namespace(Z, xp, device, dtype=X_y.dtype)
    return relative_mmd_test(
        X_y,
        Y,
        Z,
        kernel=kernel,
        bandwidth=bandwidth,
        block_size=block_size,
        random_state=rng,
    )
