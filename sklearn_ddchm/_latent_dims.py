"""``latent_dims="auto"``: the width of the latent layers chosen from the data.

A DDC-HM's observation layer is a factor model (Gaussian observations,
loadings ``Lambda``, diagonal noise) with non-Gaussian latents, and its
data-based start is a probabilistic PCA of ``X``. Its width ``D_1`` is chosen
as the number of factors ``k`` that maximises the Bayesian information
criterion of :class:`sklearn.decomposition.FactorAnalysis` (the
maximum-likelihood fit of that family with Gaussian latents) on ``X``,
among the identifiable ones: ``k <= ledermann_bound(n_features)``. The
layer above takes half its width, at most 10. Binary data are searched on
their columns whose minority value is not rare (:func:`search_columns`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.decomposition import FactorAnalysis

from .utils._array_api import get_namespace_and_device, to_namespace, to_numpy

#: ``latent_dims`` where no choice is made from the data (the paper's
#: synthetic model's widths): five features or fewer (binary data: five
#: searched columns or fewer), two rows
FALLBACK_LATENT_DIMS = (2, 1)

#: the least variance ``p (1 - p)`` of a binary column that the search
#: reads: a column whose minority value is in at most about 1% of the rows
#: is left out. A factor can reproduce the few ones of a column that is
#: almost constant, whose noise variance then goes to 0 and its Gaussian
#: likelihood without bound: on all 784 pixels of 2,000 binarised MNIST
#: images BIC still improved at 100 factors; on the 457 pixels above this
#: bound it chose 56 (55 on the 352 above 0.05), on scikit-learn's 1,797
#: digits thresholded at 8, 23 (19)
MIN_BINARY_VARIANCE = 0.01

#: rows of ``X`` the choice reads at most, and the most factors it
#: considers: the factor fits cost ``O(n d k)`` per iteration. On MNIST's
#: 717 varying grey-level pixels the search took 25 s of CPU with these
#: bounds, 61 s with 5,000 rows and 266 s with 5,000 rows and no bound on k
#: (which chose 211 factors); on 256-pixel patches 3.5 s. A wider ``z_1``
#: also costs every step of the fit, and the scoring proposal's effective
#: sample size falls with it (digits, 26 factors: a median of about 100 of
#: 5,000 draws). 100 is the widest ``z_1`` of the paper's Table 1.
MAX_ROWS = 2000
MAX_FACTORS = 100

#: the widest ``z_2`` "auto" gives, the widest top layer of the paper's
#: Table 1. Half of ``D_1`` without this bound, (92, 46) on 10,000 patches of
#: scikit-learn's sample images, ended 10 epochs at MMD^2 9.3e-02 to
#: held-out patches against 1.8e-02 at (92, 10) and 1.3e-02 at (92, 2), and
#: 13 nats per patch less likely than (92, 10) (benchmarks/README.md)
MAX_TOP = 10


def ledermann_bound(n_features):
    """The largest number of factors ``k`` that a factor model of
    ``n_features`` variables can identify (Ledermann, 1937).

    A ``k``-factor model has ``d k - k (k - 1) / 2`` loadings (up to
    rotation) and ``d`` noise variances, which must not outnumber the ``d (d
    + 1) / 2`` entries of the covariance it models: ``(d - k)^2 >= d + k``,
    i.e. ``k <= (2 d + 1 - sqrt(8 d + 1)) / 2``. 0 for ``d <= 2``.
    """
    d = int(n_features)
    if d <= 2:
        # no column (binary data with none searched) or too few to identify
        # a factor; the search upwards below would not stop at d = 0
        return 0
    k = int(math.floor((2 * d + 1 - math.sqrt(8 * d + 1)) / 2))
    # guard the floor against rounding at perfect squares
    while k > 0 and (d - k) ** 2 < d + k:
        k -= 1
    while (d - k - 1) ** 2 >= d + k + 1:
        k += 1
    return max(k, 0)


def factor_analysis_bic(X, n_factors):
    """BIC of ``FactorAnalysis(n_factors)`` fitted on ``X`` (lower is better).

    ``-2 log L + m log n`` with ``log L`` the maximised log-likelihood of the
    ``n`` rows and ``m = d k - k (k - 1) / 2 + 2 d`` free parameters (loadings
    up to rotation, noise variances, mean; Schwarz, 1978). The fit is
    deterministic (``random_state=0``), so the choice depends on ``X`` only
    and draws nothing from an estimator's random stream.
    """
    n, d = X.shape
    k = int(n_factors)
    with warnings.catch_warnings():
        # an unconverged factor fit still ranks its k; the estimator's own
        # ConvergenceWarning must stay the only one a fit raises
        warnings.simplefilter("ignore")
        fa = FactorAnalysis(k, random_state=0).fit(X)
    log_likelihood = fa.score(X) * n
    n_params = d * k - k * (k - 1) / 2 + 2 * d
    return -2.0 * log_likelihood + n_params * math.log(n)


def select_n_factors(X, max_factors=None):
    """The number of factors, 1 to ``max_factors`` (default
    :func:`ledermann_bound`), with the lowest :func:`factor_analysis_bic` on
    ``X``, found by doubling ``k`` while the criterion improves and then
    bisecting on the sign of its difference: about ``2 log2 k`` factor fits
    instead of ``k``. Where the criterion is not unimodal in ``k`` this finds
    a local minimum (on scikit-learn's digits, 26 factors against the global
    minimum's 38, 0.27 nat per row of penalised log-likelihood apart). 0
    when no factor model is identifiable.
    """
    if max_factors is None:
        max_factors = ledermann_bound(X.shape[1])
    if max_factors < 1:
        return 0
    cache = {}

    def bic(k):
        if k not in cache:
            cache[k] = factor_analysis_bic(X, k)
        return cache[k]

    k = 1
    while 2 * k <= max_factors and bic(2 * k) < bic(k):
        k *= 2
    # the minimum seen so far is at k, bracketed by k // 2 and 2 k
    low, high = max(1, k // 2), min(max_factors, 2 * k - 1)
    while low < high:
        middle = (low + high) // 2
        if bic(middle + 1) < bic(middle):
            low = middle + 1
        else:
            high = middle
    return low


def search_columns(X, *, binary):
    """The columns of ``X`` (a NumPy array) that the factor search reads, as
    a boolean mask: every column of continuous data; for ``binary`` data
    those whose variance exceeds :data:`MIN_BINARY_VARIANCE`."""
    if not binary:
        return np.ones(X.shape[1], dtype=bool)
    return np.var(X, axis=0) > MIN_BINARY_VARIANCE


def search_rows(X):
    """At most :data:`MAX_ROWS` evenly spaced rows of ``X`` (any namespace),
    as a float64 NumPy array: what the factor search reads."""
    n = X.shape[0]
    xp, device = get_namespace_and_device(X)
    rows = np.unique(np.linspace(0, n - 1, min(n, MAX_ROWS)).astype(np.int64))
    rows = to_namespace(rows, xp, device)
    return np.asarray(to_numpy(xp.take(X, rows, axis=0)), dtype=np.float64)


def search_matrix(X, *, binary):
    """What the factor search reads: the rows of :func:`search_rows` and the
    columns of :func:`search_columns`, as a float64 NumPy array."""
    X_host = search_rows(X)
    return X_host[:, search_columns(X_host, binary=binary)]


def _searchable(n_rows, n_columns):
    """At least 3 rows, and more than two factors identifiable in
    ``n_columns`` (five or fewer allow at most two, where the choice would
    be ``(2, 1)`` anyway)."""
    return n_rows >= 3 and ledermann_bound(n_columns) >= 3


def chooses_from_data(X, *, binary):
    """Whether :func:`auto_latent_dims` searches factor models on ``X``
    (else it returns :data:`FALLBACK_LATENT_DIMS`): not for fewer than 3
    rows, and not where five columns or fewer are searched
    (:func:`search_columns`), where at most two factors are identifiable
    and the choice would be ``(2, 1)`` anyway."""
    if not binary or X.shape[0] < 3:
        return _searchable(X.shape[0], X.shape[1])
    return _searchable(X.shape[0], search_matrix(X, binary=True).shape[1])


def auto_latent_dims(X, *, binary):
    """The ``latent_dims`` that ``"auto"`` resolves to on ``X``.

    ``D_1`` = the factor count of :func:`select_n_factors` on (at most
    :data:`MAX_ROWS` evenly spaced rows of) ``X``, at most
    :data:`MAX_FACTORS` and at least 2; ``D_2 = D_1 // 2``, at least 1 and
    at most :data:`MAX_TOP`: two latent layers, as the default before
    ``"auto"`` had. ``binary`` observations are searched on the columns
    that :func:`search_columns` keeps. :data:`FALLBACK_LATENT_DIMS` for
    fewer than 3 rows and for five searched columns or fewer
    (:func:`chooses_from_data`).
    """
    if X.shape[0] < 3:
        return FALLBACK_LATENT_DIMS
    X_host = search_matrix(X, binary=binary)
    if not _searchable(X.shape[0], X_host.shape[1]):
        return FALLBACK_LATENT_DIMS
    max_factors = min(MAX_FACTORS, ledermann_bound(X_host.shape[1]))
    d1 = max(2, select_n_factors(X_host, max_factors))
    return (d1, min(MAX_TOP, max(1, d1 // 2)))
