"""Exact and near-exact log-likelihoods and gradients of small models, the
references of the tests and benchmarks of the log-likelihood estimators and
of the DDC wake gradient.

None of them is a Monte Carlo method of the kind they check, except
:func:`sparse_monte_carlo_log_likelihood`, which is the independent cross-check
of :func:`sparse_quadrature_log_likelihood`, and
:func:`gibbs_posterior_gradient`, the Markov chain oracle of sigmoid belief
networks too large to enumerate, checked against
:func:`enumerated_posterior_gradient`. Host (NumPy) functions on NumPy
models; move a model with ``model.to(numpy)`` first.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import special

from ..models import (
    GaussianLayer,
    GaussianPrior,
    LaplaceLayer,
    MixtureOfGaussiansPrior,
)

_LOG_2PI = math.log(2.0 * math.pi)
#: nats within which two successive Gauss-Hermite counts must agree (the
#: sparse model's quadrature over z_2), and the most nodes it may double to
HERMITE_TOL = 1e-8
MAX_HERMITE = 512


def _np(a):
    from ._array_api import to_numpy

    return np.asarray(to_numpy(a), dtype=np.float64)


def linear_gaussian_marginal(model):
    """Mean and covariance of ``x`` under a chain of :class:`GaussianLayer`
    under a :class:`GaussianPrior`.

    The marginal of every layer is Gaussian: ``z_L ~ N(m_L, C_L)`` and
    ``z_l = W_l z_{l+1} + b_l + noise`` give ``m_l = W_l m_{l+1} + b_l``,
    ``C_l = W_l C_{l+1} W_l^T + diag(v_l)``.

    Parameters
    ----------
    model : DeepExponentialFamily

    Returns
    -------
    mean : ndarray of shape (n_features,)
    cov : ndarray of shape (n_features, n_features)
    """
    if not isinstance(model.layers[-1], GaussianPrior):
        raise ValueError("the model must be GaussianLayers under a GaussianPrior.")
    _, means, covs = linear_gaussian_mixture_marginal(model)
    return means[0], covs[0]


def linear_gaussian_mixture_marginal(model):
    """The mixture of Gaussians that ``x`` follows under a chain of
    :class:`GaussianLayer` under a :class:`GaussianPrior` (one component) or
    a :class:`MixtureOfGaussiansPrior`.

    Each component of the prior goes through the chain as in
    :func:`linear_gaussian_marginal`; the mixing weights are the prior's.

    Parameters
    ----------
    model : DeepExponentialFamily

    Returns
    -------
    log_weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covs : ndarray of shape (n_components, n_features, n_features)
    """
    prior = model.layers[-1]
    if not isinstance(prior, (GaussianPrior, MixtureOfGaussiansPrior)) or not all(
        type(layer) is GaussianLayer for layer in model.layers[:-1]
    ):
        raise ValueError(
            "the model must be GaussianLayers under a GaussianPrior or a "
            "MixtureOfGaussiansPrior."
        )
    if isinstance(prior, GaussianPrior):
        log_weights = np.zeros(1)
        means = _np(prior.params["mean"])[None, :]
        variances = np.exp(_np(prior.params["log_var"]))[None, :]
    else:
        log_weights, means, variances = (_np(a) for a in prior.components())
    out_means, out_covs = [], []
    for mean, variance in zip(means, variances, strict=True):
        cov = np.diag(variance)
        for layer in reversed(model.layers[:-1]):
            W = _np(layer.params["weights"])
            mean = W @ mean + _np(layer.params["bias"])
            cov = W @ cov @ W.T + np.diag(np.exp(_np(layer.params["log_var"])))
        out_means.append(mean)
        out_covs.append(cov)
    return log_weights, np.stack(out_means), np.stack(out_covs)


def linear_gaussian_log_likelihood(model, X, features=None):
    """log p(x) of a chain of :class:`GaussianLayer` under a :class:`GaussianPrior`
    or a :class:`MixtureOfGaussiansPrior`.

    The mixture of :func:`linear_gaussian_mixture_marginal` (one Gaussian
    under a :class:`GaussianPrior`).

    Parameters
    ----------
    model : DeepExponentialFamily
    X : ndarray of shape (n, n_features)
    features : array of int, optional
        Only these columns of ``X``: the log-density of their marginal (the
        same means and covariances restricted to them). All columns by
        default.

    Returns
    -------
    log_px : ndarray of shape (n,)
    """
    log_weights, means, covs = linear_gaussian_mixture_marginal(model)
    X = _np(X)
    if features is not None:
        features = np.asarray(features)
        means = means[:, features]
        covs = covs[:, features][:, :, features]
        X = X[:, features]
    per_component = []
    for log_weight, mean, cov in zip(log_weights, means, covs, strict=True):
        chol = np.linalg.cholesky(cov)
        r = np.linalg.solve(chol, (X - mean).T)
        per_component.append(
            log_weight
            - 0.5 * np.sum(r * r, axis=0)
            - np.sum(np.log(np.diag(chol)))
            - 0.5 * X.shape[1] * _LOG_2PI
        )
    return special.logsumexp(np.stack(per_component), axis=0)


def enumerated_log_likelihood(model, X, max_states=2**16):
    """log p(x) of a model whose latents are all binary, by summing over every state.

    Parameters
    ----------
    model : DeepExponentialFamily
        Every latent layer binary, ``sum(latent_dims) <= log2(max_states)``.
    X : ndarray of shape (n, n_features)
    max_states : int, default=65536

    Returns
    -------
    log_px : ndarray of shape (n,)
    """
    latents = _binary_states(model, max_states)
    X = _np(X)
    out = np.empty(X.shape[0])
    for r, x in enumerate(X):
        xs = np.broadcast_to(x, (latents[0].shape[0], x.shape[0]))
        out[r] = special.logsumexp(_np(model.log_joint(xs, latents)))
    return out


def enumerated_posterior_gradient(model, X, max_states=2**16):
    """``mean_x E_{p(z | x)}[grad_theta log p(x, z)]`` by summing over every
    latent state: the exact gradient of the mean log-likelihood of ``X``
    (Fisher's identity) for a model whose latents are all binary, keyed like
    ``model.get_parameters()``. Same requirements as
    :func:`enumerated_log_likelihood`."""
    latents = _binary_states(model, max_states)
    X = _np(X)
    total = {}
    for x in X:
        xs = np.broadcast_to(x, (latents[0].shape[0], x.shape[0]))
        log_joint = _np(model.log_joint(xs, latents))
        posterior = np.exp(log_joint - special.logsumexp(log_joint))
        for k, v in model.grad_parameters(xs, latents, posterior).items():
            total[k] = total.get(k, 0.0) + _np(v) / X.shape[0]
    return total


def _binary_states(model, max_states):
    """Every joint state of the binary latents, one list entry per layer."""
    if not all(layer.is_binary for layer in model.layers[1:]):
        raise ValueError("every latent layer must be binary.")
    dims = model.latent_dims
    n_bits = sum(dims)
    if 2**n_bits > max_states:
        raise ValueError(f"2**{n_bits} states exceed max_states={max_states}.")
    bits = (np.arange(2**n_bits)[:, None] >> np.arange(n_bits)[None, :]) & 1
    bits = bits.astype(np.float64)
    latents, start = [], 0
    for d in dims:
        latents.append(bits[:, start : start + d])
        start += d
    return latents


def gibbs_posterior_gradient(
    model, X, start, *, n_chains=16, n_burn=100, n_keep=100, thin=5, random_state=0
):
    """``mean_x E_{p(z | x)}[grad_theta log p(x, z)]`` by Gibbs sampling the
    exact posterior of a model whose latents are all binary (sigmoid belief
    networks too large to enumerate).

    ``n_chains`` chains per row start from ``start`` (a proposal with
    fixed-log-odds binary layers, e.g. an estimator's
    ``_scoring_proposal(X, for_ais=True)``), run ``n_burn`` sweeps of every
    latent unit (:class:`~sklearn_ddchm._ais._GibbsSweep`, the kernel of AIS
    at inverse temperature 1), then average the gradient over every
    ``thin``-th of ``n_keep`` more. Consistent as the sweeps grow, whatever
    the start; unlike self-normalised importance sampling it does not need
    the start to cover the posterior, only the chains to mix.
    :func:`enumerated_posterior_gradient` checks it on small models.

    Returns the gradient keyed like ``model.get_parameters()`` and the
    mean ``log p(x, z)`` over chains and rows at the first and the last kept
    sweep (equal up to noise once the chains have burnt in).
    """
    from .._ais import _Annealer

    rng = np.random.RandomState(random_state)
    chains = _Annealer(model, X, start, n_chains, n_leapfrog=1, n_steps=1)
    if chains.continuous:
        raise ValueError("every latent layer must be binary.")
    state = chains.start(rng)
    n_rows = chains.X_rep.shape[0]
    weights = chains.xp.full(
        (n_rows,), 1.0 / n_rows, dtype=chains.dtype, device=chains.device
    )
    total, n_kept, log_joint = {}, 0, []
    for sweep in range(n_burn + n_keep):
        state = chains.gibbs(state, 1.0, rng, reverse=False)
        if sweep >= n_burn and (sweep - n_burn) % thin == 0:
            grads = model.grad_parameters(chains.X_rep, state.latents, weights)
            for k, v in grads.items():
                total[k] = total.get(k, 0.0) + _np(v)
            n_kept += 1
            log_joint.append(float(np.mean(_np(state.log_p))))
    gradient = {k: v / n_kept for k, v in total.items()}
    return gradient, (log_joint[0], log_joint[-1])


def _check_sparse(model):
    layers = model.layers
    if not (
        len(layers) == 3
        and type(layers[0]) is GaussianLayer
        and type(layers[1]) is LaplaceLayer
        and isinstance(layers[2], MixtureOfGaussiansPrior)
        and layers[0].n_features == layers[0].n_parents
        and layers[2].n_features == 1
    ):
        raise ValueError(
            "the model must be the sparse model x <- z_1 (Laplace) <- z_2 "
            "(1-d mixture of Gaussians) with D_x = D_1 (square loadings)."
        )


def _sparse_gaussian_in_z1(model, X):
    """``p(x | z_1) = |det L|^-1 N(z_1; m(x), S)``: ``(m, S, log|det L|)``."""
    obs = model.layers[0]
    L = _np(obs.params["weights"])
    b = _np(obs.params["bias"])
    psi = np.exp(_np(obs.params["log_var"]))
    L_inv = np.linalg.inv(L)
    m = (_np(X) - b) @ L_inv.T
    S = L_inv @ np.diag(psi) @ L_inv.T
    return m, S, np.linalg.slogdet(L)[1]


def sparse_posterior_gradient(model, X, n_draws=20_000, random_state=0):
    """``mean_x E_{p(z | x)}[grad_theta log p(x, z)]``, the true free-energy gradient.

    For the sparse model with ``D_x = D_1`` (see :func:`_check_sparse`), by
    self-normalised importance sampling from the exact posterior with no
    proposal to tune: ``z_1`` from the Gaussian that ``p(x | z_1)`` is in
    ``z_1`` (:func:`_sparse_gaussian_in_z1`), ``z_2`` from the prior, weights
    ``p(z_1 | z_2)``. The reference of the oracle-gradient tests of the DDC
    wake phase, at any parameter value. Returns a dict keyed like
    ``model.get_parameters()``.
    """
    _check_sparse(model)
    model = _numpy_model(model)
    rng = np.random.RandomState(random_state)
    X = _np(X)
    m, S, _ = _sparse_gaussian_in_z1(model, X)
    chol = np.linalg.cholesky(S)
    laplace, prior = model.layers[1], model.layers[2]
    total = {}
    for x, mean in zip(X, m, strict=True):
        z1 = mean + rng.standard_normal((n_draws, mean.shape[0])) @ chol.T
        z2 = prior.sample(None, n_samples=n_draws, random_state=rng)
        log_w = laplace.log_prob(z1, z2)
        w = np.exp(log_w - log_w.max())
        xs = np.broadcast_to(x, (n_draws, x.shape[0]))
        for k, v in model.grad_parameters(xs, [z1, z2], w / w.sum()).items():
            total[k] = total.get(k, 0.0) + v / X.shape[0]
    return total


def sparse_monte_carlo_log_likelihood(model, X, n_pairs=200_000, random_state=0):
    """log p(x) of the sparse model with ``D_x = D_1`` by a proposal-free estimator.

    ``p(x) = |det L|^-1 E[p(z_1 | z_2)]`` with ``z_1 ~ N(L^-1 (x - b), L^-1 Psi
    L^-T)`` (the observation density as a function of ``z_1``) and ``z_2``
    from the prior (REFERENCE.md, Sec. 7). The independent cross-check of
    :func:`sparse_quadrature_log_likelihood`.

    Parameters
    ----------
    model : DeepExponentialFamily
    X : ndarray of shape (n, D_x)
    n_pairs : int, default=200000
    random_state : int, default=0

    Returns
    -------
    log_px : ndarray of shape (n,)
    """
    model = _numpy_model(model)
    m, S, logdet = _sparse_gaussian_in_z1(model, X)
    rng = np.random.RandomState(random_state)
    chol = np.linalg.cholesky(S)
    lap = model.layers[1]
    out = np.empty(m.shape[0])
    for r in range(m.shape[0]):
        z1 = m[r] + rng.standard_normal((n_pairs, m.shape[1])) @ chol.T
        z2 = _np(model.layers[2].sample(n_samples=n_pairs, random_state=rng))
        lp = _np(lap.log_prob(z1, z2))
        out[r] = special.logsumexp(lp) - math.log(n_pairs) - logdet
    return out


def _log_gauss_laplace(mu, v, s):
    """``log int N(y; mu, v) Laplace(y; 0, s) dy`` in closed form.

    ``= log[(e^{v/(2 s^2) - mu/s} erfc((v/s - mu)/sqrt(2v))
    + e^{v/(2 s^2) + mu/s} erfc((v/s + mu)/sqrt(2v))) / (4 s)]``, each
    ``log erfc(b) = log 2 + log_ndtr(-sqrt(2) b)`` so that nothing overflows.
    """
    c = v / (2.0 * s * s)
    root = math.sqrt(2.0 * v)
    t1 = (
        c
        - mu / s
        + math.log(2.0)
        + special.log_ndtr(-(v / s - mu) / root * math.sqrt(2))
    )
    t2 = (
        c
        + mu / s
        + math.log(2.0)
        + special.log_ndtr(-(v / s + mu) / root * math.sqrt(2))
    )
    return np.logaddexp(t1, t2) - np.log(4.0 * s)


def sparse_quadrature_log_likelihood(model, X, n_hermite=8, panels_per_width=2):
    """log p(x) of the paper's 2-d sparse model by quadrature (``D_x = D_1 = 2``).

    With square loadings ``L``, ``p(x | z_1) = |det L|^-1 N(z_1; m(x), S)``.
    Writing ``N(z_1; m, S) = N(y_2; m_2, S_22) N(y_1; mu_1(y_2), v_1)``, the
    integral over ``y_1 = z_11`` against its Laplace density is closed form
    (:func:`_log_gauss_laplace`); the one over ``y_2 = z_12`` by composite
    20-point Gauss-Legendre on panels split at the Laplace cusp and the
    factors' modes, and the one over ``z_2`` by Gauss-Hermite quadrature on
    each mixture component. For a row far from the data the posterior of
    ``z_2`` can sit many prior widths from its component's centre (16 nodes
    were 87 nats low on a row of the paper's model at its true parameters),
    so each row's node count is doubled from ``n_hermite`` until two
    successive results agree to ``HERMITE_TOL`` nats (at most
    ``MAX_HERMITE`` nodes; a row that has not converged there warns).
    Doubling the Gauss-Legendre resolution changes the result by about
    1e-14 on the paper's model.

    Parameters
    ----------
    model : DeepExponentialFamily
        ``make_sparse_hierarchical``'s model with ``n_features=2``,
        ``latent_dims=(2, 1)``.
    X : ndarray of shape (n, 2)
    n_hermite : int, default=8
        Gauss-Hermite nodes per mixture component to start from. Rows near
        the paper's data stop at 16 (8 and 16 agree to 1e-13 there; 16
        then differs from 64 by 4e-14).
    panels_per_width : float, default=2
        Gauss-Legendre panels per width of the narrowest factor in ``y_2``.

    Returns
    -------
    log_px : ndarray of shape (n,)
    """
    model = _numpy_model(model)
    _check_sparse(model)
    if model.layers[0].n_features != 2:
        raise ValueError("the quadrature is written for D_x = D_1 = 2.")
    m, S, logdet = _sparse_gaussian_in_z1(model, X)
    lap = model.layers[1]
    B = _np(lap.params["weights"])[:, 0]
    c = _np(lap.params["bias"])
    prior = model.layers[2]
    means = _np(prior.params["means"])[:, 0]
    sds = np.exp(0.5 * _np(prior.params["log_vars"])[:, 0])
    log_pi = _np(prior.params["logits"])
    log_pi = log_pi - special.logsumexp(log_pi)
    # y_1 | y_2 under N(m, S)
    slope = S[0, 1] / S[1, 1]
    v1 = S[0, 0] - slope * S[0, 1]
    sd2 = math.sqrt(S[1, 1])

    def log_px(r, n_nodes):
        nodes, weights = _hermite_rule(n_nodes)
        terms = []
        for k in range(means.shape[0]):
            for t, w in zip(nodes, weights, strict=True):
                if w == 0.0:  # beyond float64's range: contributes nothing
                    continue
                z2 = means[k] + math.sqrt(2.0) * sds[k] * t
                s1, s2 = _softplus(B[0] * z2 + c[0]), _softplus(B[1] * z2 + c[1])
                log_inner = _log_inner_integral(
                    m[r], slope, v1, sd2, s1, s2, panels_per_width
                )
                terms.append(log_pi[k] + math.log(w / math.sqrt(math.pi)) + log_inner)
        return special.logsumexp(terms) - logdet

    out = np.empty(m.shape[0])
    for r in range(m.shape[0]):
        n_nodes = n_hermite
        value = log_px(r, n_nodes)
        while True:
            if 2 * n_nodes > MAX_HERMITE:
                warnings.warn(
                    f"sparse_quadrature_log_likelihood: row {r} has not converged "
                    f"with {n_nodes} Gauss-Hermite nodes per component",
                    RuntimeWarning,
                    stacklevel=2,
                )
                break
            n_nodes *= 2
            finer = log_px(r, n_nodes)
            converged = abs(finer - value) < HERMITE_TOL
            value = finer
            if converged:
                break
        out[r] = value
    return out


@functools.lru_cache(maxsize=16)
def _hermite_rule(n_nodes):
    """Gauss-Hermite nodes and weights, computed once per count."""
    return np.polynomial.hermite.hermgauss(n_nodes)


def _log_inner_integral(m, slope, v1, sd2, s1, s2, panels_per_width):
    """``log int N(y_2; m_2, sd2^2) Lap(y_2; s2) I(y_2) dy_2`` (log-concave)."""

    def log_g(y):
        y = np.asarray(y, dtype=np.float64)
        mu1 = m[0] + slope * (y - m[1])
        return (
            -0.5 * ((y - m[1]) / sd2) ** 2
            - math.log(sd2)
            - 0.5 * _LOG_2PI
            - np.abs(y) / s2
            - math.log(2.0 * s2)
            + _log_gauss_laplace(mu1, v1, s1)
        )

    # The integrand is log-concave (a product of log-concave factors), so its
    # mode lies between the factors' modes: the Gaussian's m_2, the Laplace's 0
    # and, where mu_1(y) = 0, the last factor's. The Gaussian factor confines
    # the mass to a few sd2 around that hull.
    modes = [m[1], 0.0]
    if abs(slope) > 1e-8:
        modes.append(
            float(np.clip(m[1] - m[0] / slope, m[1] - 40 * sd2, m[1] + 40 * sd2))
        )
    width = max(sd2, s2)
    lo, hi = min(modes) - 40.0 * width, max(modes) + 40.0 * width
    fine = min(sd2, s2, math.sqrt(v1) + s1) / 20.0
    grid = np.unique(
        np.concatenate(
            [np.linspace(lo, hi, 1001)] + [p + fine * np.arange(-50, 51) for p in modes]
        )
    )
    grid = grid[(grid >= lo) & (grid <= hi)]
    log_vals = log_g(grid)
    peak = float(grid[int(np.argmax(log_vals))])
    shift = float(np.max(log_vals))
    # integrate where the integrand is above e^-60 of its maximum
    keep = np.flatnonzero(log_vals > shift - 60.0)
    a = float(grid[max(keep[0] - 1, 0)])
    b = float(grid[min(keep[-1] + 1, grid.shape[0] - 1)])
    # composite Gauss-Legendre between the cusp and the modes (the integrand is
    # smooth on each piece), panels no wider than half the narrowest factor
    cuts = sorted({a, b, *(p for p in (*modes, peak) if a < p < b)})
    panel = (
        min(sd2, s2, (math.sqrt(v1) + s1) / max(abs(slope), 1e-12)) / panels_per_width
    )
    nodes, weights = np.polynomial.legendre.leggauss(20)
    ys, ws = [], []
    for left, right in zip(cuts[:-1], cuts[1:], strict=True):
        k = max(1, min(int(math.ceil((right - left) / panel)), 4000))
        edges = np.linspace(left, right, k + 1)
        half = 0.5 * (edges[1:] - edges[:-1])[:, None]
        mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
        ys.append((mid + half * nodes[None, :]).ravel())
        ws.append((half * weights[None, :]).ravel())
    y, w = np.concatenate(ys), np.concatenate(ws)
    return float(special.logsumexp(log_g(y), b=w))


def _softplus(a):
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


def _numpy_model(model):
    import array_api_compat.numpy as xp

    return model.to(xp, "cpu", xp.float64)


__all__ = [
    "sparse_posterior_gradient",
    "linear_gaussian_log_likelihood",
    "enumerated_log_likelihood",
    "sparse_monte_carlo_log_likelihood",
    "sparse_quadrature_log_likelihood",
]
