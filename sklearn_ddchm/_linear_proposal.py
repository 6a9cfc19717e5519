"""A scoring proposal from the linear-Gaussian part of a model.

When the observation layer is Gaussian with a mean linear in ``z_1``,
``x = W z_1 + b + e`` with ``e ~ N(0, diag(psi))``, the posterior of ``z_1``
given ``x`` *and a Gaussian stand-in for its prior* ``N(m, diag(v))`` is
Gaussian in closed form, with a full covariance (Bishop, 2006, Eq. 2.116-2.117):

    Sigma = (W^T Psi^{-1} W + V^{-1})^{-1},
    mu(x) = Sigma (W^T Psi^{-1} (x - b) + V^{-1} m),

and so is the marginal ``p(x) = N(x; W m + b, Psi + W V W^T)`` (Eq. 2.115).
:class:`LinearGaussianProposal` proposes ``z_1`` from a Student-t with that
location and scale matrix, the stand-in prior taken from the model itself:

- ``z_1`` under a Gaussian prior: the prior (the posterior is then exact up to
  the Student-t's tails);
- ``z_1`` under a mixture-of-Gaussians prior: one component per mixture
  component, mixed by the stand-in's posterior ``p(k | x)`` (exact for a
  Gaussian mixture);
- ``z_1 | z_2`` with ``z_2`` under a mixture prior (the paper's Eq. 13, a
  Laplace layer below the mixture): the conditional's mean and variance at
  each component's centre, the variance widened per row where the stand-in
  posterior lies in the conditional's heavier tails
  (:func:`stand_in_variance`), ``z_2`` drawn from the same component; the
  components' weights are the mean of the stand-in's ``p(k | x)`` and the
  recognition model's estimate;
- ``z_1 | z_2`` Gaussian with a mean linear in ``z_2`` (a linear-Gaussian
  chain): the exact conditional posterior given the proposed ``z_2`` and
  ``x``, ``z_2`` and the layers above from the recognition model's proposal;
- otherwise: the marginal moments of ``z_1`` under the model (fixed-seed
  prior samples), the upper layers from the recognition model's proposal.

The full covariance is what the factorised proposals of the recognition
models lack: with 50-100 latents and 256 pixels the posterior of ``z_1`` is
strongly correlated, and, below a mixture prior, which units are switched off
depends on the component (Laplace scales of 0.02 in one component and 5 in the
other, on a (50, 10) patch model). The recognition model's own proposal is
kept in the mixture with weight ``RECOGNITION_SHARE`` (defensive importance
sampling, Hesterberg, 1995), so that the estimate is never much worse than
with it alone.

References
----------
C. M. Bishop. Pattern Recognition and Machine Learning. Springer, 2006.
M. A. T. Figueiredo. Adaptive sparseness for supervised learning. IEEE
Transactions on Pattern Analysis and Machine Intelligence 25(9), 2003.
T. Hesterberg. Weighted average importance sampling and defensive mixture
distributions. Technometrics 37, 1995.
"""

from __future__ import annotations

import math

import numpy as np

from ._importance import (
    MIXTURE_FLOOR,
    PROPOSAL_DF,
    component_t_terms,
    defensive_log_q,
    pick_components,
    student_t_grad,
    with_fallback_draws,
)
from .utils._array_api import device as _device
from .utils._array_api import diag, get_namespace, logsumexp
from .utils._random import draw

#: share of the recognition model's own proposal in the mixture
RECOGNITION_SHARE = 0.1
#: degrees of freedom of the multivariate Student-t of z_1. Where the stand-in
#: posterior is exact (a factor-analysis model) 3 degrees of freedom leave the
#: importance weights' second moment at 1.22 in 3 dimensions and 3.2 in 50
#: (10: 1.05 and 1.8); on patch models the ESS did not depend on it (3 to
#: 1e6). The recognition part keeps the heavier tails of ``PROPOSAL_DF``.
LINEAR_DF = 10
#: fixed-seed model samples behind the marginal moments of z_1, where its
#: stand-in prior is not one of the model's own Gaussians
MARGINAL_SAMPLES = 1000
#: rounds that match the stand-in prior of z_1 to its conditional at the
#: stand-in posterior's mean (:func:`stand_in_variance`), below a mixture
#: prior. On the main job's fit, 100 rows uniform on [-6, 6]^2 against
#: quadrature (2026-12-04): mean error -16.8 nats with none, -0.018 (worst
#: row -0.61) with one, -0.004 (worst -0.12) with two, three or five; on
#: held-out rows -0.010 or -0.011 with any; on (50, 10) and (100, 10) patch
#: models +0.2 and +0.7 nats per patch with three, for 1.7x the scoring time
#: (``benchmarks/bench_ais.py outliers``; ``benchmarks/README.md``).
STAND_IN_ROUNDS = 3


def linear_gaussian_posterior(X, weights, bias, noise_var, prior_mean, prior_var):
    """Posterior of ``z`` and marginal of ``x`` in a linear-Gaussian model.

    ``x = weights @ z + bias + e``, ``e ~ N(0, diag(noise_var))``, ``z ~
    N(prior_mean, diag(prior_var))`` (Bishop, 2006, Eq. 2.113-2.117; the
    marginal's inverse and determinant by the Woodbury identity and the
    matrix determinant lemma, so that only a ``D x D`` matrix is factorised).

    Parameters
    ----------
    X : array of shape (n, n_features)
    weights : array of shape (n_features, D)
    bias, noise_var : arrays of shape (n_features,)
    prior_mean : array of shape (D,)
    prior_var : array of shape (D,) or (n, D)
        One prior for every row, or one per row (then ``colour``, ``whiten``
        and ``log_det_cov`` are per row as well).

    Returns
    -------
    mean : array of shape (n, D)
        ``E[z | x]``.
    colour : array of shape (D, D), or (n, D, D)
        ``C`` with ``C^T C = Cov[z | x]``: ``eps @ C`` has that covariance
        for white ``eps``.
    whiten : array of shape (D, D), or (n, D, D)
        ``C^{-1}``, the lower Cholesky factor of the posterior precision:
        ``(z - mean) @ whiten`` is white.
    log_det_cov : float array of shape (), or (n,)
        ``log det Cov[z | x]``.
    log_marginal : array of shape (n,)
        ``log p(x)``.
    """
    xp = get_namespace(X)
    scaled = weights / noise_var[:, None]  # Psi^{-1} W
    per_row = prior_var.ndim == 2
    gram = weights.T @ scaled
    if per_row:
        eye = xp.eye(gram.shape[0], dtype=gram.dtype, device=_device(gram))
        precision = gram[None, ...] + eye[None, ...] * (1.0 / prior_var)[:, None, :]
    else:
        precision = gram + diag(1.0 / prior_var)
    whiten = xp.linalg.cholesky(precision)  # lower: precision = L L^T
    colour = xp.linalg.inv(whiten)  # L^{-1}: Cov = L^{-T} L^{-1} = C^T C
    log_det_precision = 2.0 * xp.sum(xp.log(xp.linalg.diagonal(whiten)), axis=-1)
    resid = X - (prior_mean @ weights.T + bias)[None, :]
    projected = resid @ scaled  # W^T Psi^{-1} r, (n, D)
    # mean = m + Cov W^T Psi^{-1} r (Eq. 2.116 rearranged around the prior mean)
    shift = _times(_times(projected, xp.linalg.matrix_transpose(colour)), colour)
    mean = prior_mean[None, :] + shift
    # r^T (Psi + W V W^T)^{-1} r = r^T Psi^{-1} r - u^T Cov u, u = W^T Psi^{-1} r
    quad = xp.sum(resid * resid / noise_var[None, :], axis=1) - xp.sum(
        projected * shift, axis=1
    )
    log_det = (
        xp.sum(xp.log(noise_var))
        + xp.sum(xp.log(prior_var), axis=-1)
        + log_det_precision
    )
    log_marginal = -0.5 * (quad + log_det + X.shape[1] * math.log(2.0 * math.pi))
    return mean, colour, whiten, -log_det_precision, log_marginal


def _times(vectors, matrix):
    """``vectors @ matrix`` for ``vectors`` of shape (..., n, D), with one
    matrix (D, E) for every row or one per row (n, D, E)."""
    if matrix.ndim == 2:
        return vectors @ matrix
    return (vectors[..., None, :] @ matrix)[..., 0, :]


def multivariate_t_logpdf(delta, log_det_scale, dim, df):
    """log density of a ``dim``-variate Student-t at squared Mahalanobis ``delta``.

    ``log Gamma((df + dim) / 2) - log Gamma(df / 2) - dim / 2 log(df pi)
    - log det(S) / 2 - (df + dim) / 2 log(1 + delta / df)`` for scale matrix
    ``S`` (Kotz & Nadarajah, 2004, Eq. 1.1).
    """
    xp = get_namespace(delta)
    const = (
        math.lgamma((df + dim) / 2)
        - math.lgamma(df / 2)
        - 0.5 * dim * math.log(df * math.pi)
    )
    return const - 0.5 * log_det_scale - 0.5 * (df + dim) * xp.log1p(delta / df)


class LinearGaussianProposal:
    """``q = (1 - s) q_lin + s q_rec``: a linear-Gaussian proposal, defended.

    ``q_lin(z | x) = [sum_c pi_c(x) t(z_1; mu_c(x), S_c) p_c(z_2)] q_up(z_2.. | x)``
    where ``t`` is a multivariate Student-t with ``LINEAR_DF`` degrees of
    freedom, ``p_c(z_2)`` a factorised Student-t at the ``c``-th mixture
    component of ``z_2`` (only when ``z_1``'s parent is that mixture, and
    then without ``q_up``) and ``q_up`` the recognition model's proposal of
    the layers above ``z_1`` (then one component, whose location may move
    with ``z_2``: ``gain``). See the module docstring.

    Parameters
    ----------
    log_weights : array of shape (n, C)
    means : array of shape (C, n, D_1)
    colours, whitens : arrays of shape (C, D_1, D_1) or (C, n, D_1, D_1)
        Per component (and per row), ``eps @ colour`` has the scale matrix
        ``S_c`` and ``(z - mean) @ whiten`` is white.
    log_dets : array of shape (C,) or (C, n)
        ``log det S_c``.
    parent : tuple of two arrays of shape (C, D_2) or None
        Means and variances of ``z_2``'s components.
    upper : FactorisedProposal or None
        The proposal of the layers above ``z_1`` (above ``z_2`` never: a
        coupled ``parent`` is the top layer).
    fallback : FactorisedProposal or None
        The recognition model's proposal of every layer, mixed in with
        weight ``share``.
    share : float
    gain : array of shape (D_1, D_2) or None
        With ``upper``: ``z_1``'s location is ``means + gain z_2`` (a
        Gaussian layer's posterior mean is linear in its parent), so that
        ``z_1`` is proposed from its exact conditional posterior given ``z_2``
        and ``x`` in a linear-Gaussian chain.
    """

    def __init__(
        self,
        log_weights,
        means,
        colours,
        whitens,
        log_dets,
        parent=None,
        upper=None,
        fallback=None,
        share=RECOGNITION_SHARE,
        gain=None,
    ):
        self.log_weights, self.means = log_weights, means
        self.colours, self.whitens, self.log_dets = colours, whitens, log_dets
        self.parent, self.upper, self.gain = parent, upper, gain
        self.fallback = fallback
        self.share = share if fallback is not None else 0.0

    @property
    def _n(self):
        return self.means.shape[1]

    def sample(self, n_importance, random_state, shared_noise=True):
        """Latents (n_importance * n, D_l) per layer, and log q (n_importance, n)."""
        xp = get_namespace(self.means)
        C, n, d = self.means.shape
        rows = 1 if shared_noise else n
        dev, dtype = _device(self.means), self.means.dtype

        def noise(kind, shape):
            return draw(random_state, kind, shape, xp=xp, device=dev, dtype=dtype)

        use_fallback = None
        if self.share > 0:
            use_fallback = noise("uniform", (n_importance, rows, 1)) < self.share
        onehot = pick_components(  # (k, n, C)
            xp.exp(self.log_weights), noise("uniform", (n_importance, rows, 1))
        )
        chi = self._chi(noise, (n_importance, rows, 1), LINEAR_DF)
        eps = noise("standard_normal", (n_importance, rows, d)) / chi
        above = []
        if self.upper is not None:
            above = self.upper.sample(n_importance, random_state, shared_noise)[0]
            z1 = self._shift(xp.reshape(above[0], (n_importance, n, -1)))
        else:
            z1 = 0.0
        for c in range(C):
            z1 = z1 + onehot[..., c : c + 1] * (
                self.means[c, ...][None, ...] + _times(eps, self.colours[c, ...])
            )
        zs = [z1]
        if self.parent is not None:
            p_means, p_vars = self.parent
            d2 = p_means.shape[1]
            t2 = noise("standard_normal", (n_importance, rows, d2)) / self._chi(
                noise, (n_importance, rows, d2), PROPOSAL_DF
            )
            zs.append(onehot @ p_means + xp.sqrt(onehot @ p_vars) * t2)
        latents = [xp.reshape(z, (n_importance * n, z.shape[2])) for z in zs]
        latents += above
        latents = with_fallback_draws(
            latents,
            use_fallback,
            self.fallback,
            n_importance,
            random_state,
            shared_noise,
        )
        return latents, self.log_prob(latents)

    def _shift(self, z2):
        """``z_2 @ gain^T`` (k, n, D_1) for ``z_2`` of shape (k, n, D_2), or 0
        without a ``gain``."""
        return 0.0 if self.gain is None else z2 @ self.gain.T

    def _chi(self, noise, shape, df):
        """``sqrt(chi^2_df / df)``: dividing a Gaussian by it gives a Student-t."""
        xp = get_namespace(self.means)
        g = noise("standard_normal", (df, *shape))
        return xp.sqrt(xp.sum(g * g, axis=0) / df)

    def _unflatten(self, latents):
        xp = get_namespace(latents[0])
        return [xp.reshape(z, (-1, self._n, z.shape[1])) for z in latents]

    def _component_terms(self, zs):
        """Per component ``log pi_c + log t_c(z_1) [+ log p_c(z_2)]`` (k, n, C),
        and what the gradients need: whitened ``z_1`` per component and
        ``z_2``'s standardised values and scales."""
        xp = get_namespace(zs[0])
        C, _, d = self.means.shape
        z1 = zs[0] - self._shift(zs[1]) if len(zs) > 1 else zs[0]
        terms, white = [], []
        for c in range(C):
            y = _times(z1 - self.means[c, ...][None, ...], self.whitens[c, ...])
            white.append(y)
            delta = xp.sum(y * y, axis=2)
            terms.append(
                multivariate_t_logpdf(delta, self.log_dets[c, ...], d, LINEAR_DF)
            )
        log_c = xp.stack(terms, axis=2) + self.log_weights[None, ...]
        parent_terms = None
        if self.parent is not None:
            log_t, u, scale = component_t_terms(zs[1], *self.parent)
            log_c = log_c + log_t
            parent_terms = (u, scale)
        return log_c, white, parent_terms

    def _log_lin(self, latents):
        xp = get_namespace(latents[0])
        zs = self._unflatten(latents)
        log_c, white, parent_terms = self._component_terms(zs)
        log_lin = logsumexp(log_c, axis=2, xp=xp)
        if self.upper is not None:
            log_lin = log_lin + self.upper.log_prob(latents[1:])
        return log_lin, (zs, log_c, white, parent_terms)

    def log_prob(self, latents):
        """log q at latents of shape (k * n, D_l) (index major); shape (k, n)."""
        return self._log_q(latents)[0]

    def _log_q(self, latents):
        log_lin, parts = self._log_lin(latents)
        return (
            defensive_log_q(log_lin, self.fallback, latents, self.share),
            log_lin,
            parts,
        )

    def grad_log_prob(self, latents):
        """d log q / d z_l, shape (k * n, D_l), per layer.

        The multivariate Student-t's ``-(df + D) / (df + delta) S^{-1} (z - mu)``
        and the factorised ones', averaged over the components (and over
        ``q_lin`` and ``q_rec``) by their responsibilities.
        """
        xp = get_namespace(latents[0])
        log_q, log_lin, (zs, log_c, white, parent_terms) = self._log_q(latents)
        r = xp.exp(log_c - logsumexp(log_c, axis=2, keepdims=True, xp=xp))
        d = self.means.shape[2]
        g1 = 0.0
        for c, y in enumerate(white):
            delta = xp.sum(y * y, axis=2, keepdims=True)
            factor = -(LINEAR_DF + d) / (LINEAR_DF + delta)
            g1 = g1 + r[..., c : c + 1] * factor * _times(
                y, xp.linalg.matrix_transpose(self.whitens[c, ...])
            )
        grads = [g1]
        if parent_terms is not None:
            u, scale = parent_terms
            grads.append(xp.sum(r[..., None] * student_t_grad(u, scale), axis=2))
        grads = [xp.reshape(g, (-1, g.shape[2])) for g in grads]
        if self.upper is not None:
            above = self.upper.grad_log_prob(latents[1:])
            if self.gain is not None:  # z_1's location moves with z_2
                above[0] = above[0] - grads[0] @ self.gain
            grads += above
        if self.share == 0:
            return grads
        rho = xp.reshape(xp.exp(log_lin + math.log(1.0 - self.share) - log_q), (-1, 1))
        other = self.fallback.grad_log_prob(latents)
        return [rho * g + (1.0 - rho) * o for g, o in zip(grads, other, strict=True)]

    def scales(self):
        """Per layer (n, D_l): the root of the mixing-weighted marginal variances."""
        xp = get_namespace(self.means)
        weights = xp.exp(self.log_weights)  # (n, C)
        # diag(C^T C): (C, D), or (C, n, D) with a scale matrix per row
        variances = xp.sum(self.colours * self.colours, axis=-2)
        if variances.ndim == 2:
            out = [xp.sqrt(weights @ variances)]
        else:
            per_row = xp.permute_dims(weights, (1, 0))[..., None] * variances
            out = [xp.sqrt(xp.sum(per_row, axis=0))]
        if self.parent is not None:
            out.append(xp.sqrt(weights @ self.parent[1]))
        if self.upper is not None:
            out += self.upper.scales()
        return out

    def refined(self, latents, log_w):
        """The same proposal with its recognition part re-centred on a weighted draw.

        The linear-Gaussian part stays as it is (it is not a moment fit);
        see :meth:`FactorisedProposal.refined`.
        """
        fallback = (
            self.fallback.refined(latents, log_w) if self.fallback is not None else None
        )
        return LinearGaussianProposal(
            self.log_weights,
            self.means,
            self.colours,
            self.whitens,
            self.log_dets,
            self.parent,
            self.upper,
            fallback,
            self.share,
            self.gain,
        )


def linear_gaussian_proposal(model, X, recognition=None):
    """The :class:`LinearGaussianProposal` of ``model`` at rows ``X``, or None.

    None when the observation layer is not Gaussian with a linear mean
    (``supports_moments``) or a latent layer is binary.

    Parameters
    ----------
    model : DeepExponentialFamily
    X : array of shape (n, n_features)
    recognition : FactorisedProposal, optional
        The estimator's own proposal of every latent layer: mixed in with
        weight ``RECOGNITION_SHARE``; its layers above ``z_1`` serve as
        ``q_up`` when ``z_1``'s stand-in prior is its marginal under the
        model (``MARGINAL_SAMPLES`` fixed-seed draws), and its mixture
        weights, when it has them for ``z_2``, are averaged into the
        components' weights. Without it, models that need ``q_up`` get None.

    Returns None as well when the stand-in posterior cannot be factorised
    in the array's precision (a non-finite Cholesky factor): the
    recognition proposal then serves alone.
    """
    layers = model.layers
    obs = layers[0]
    if not getattr(obs, "supports_moments", False) or any(
        layer.is_binary for layer in layers[1:]
    ):
        return None
    xp = get_namespace(X)
    weights, bias = obs.affine_parameters()
    d1 = weights.shape[1]
    zero = xp.zeros((1, d1), dtype=X.dtype, device=_device(X))
    noise_var = obs.variance(zero)[0, :]
    first = layers[1]
    parent, upper, rec_weights = None, None, None
    if first.is_mixture:
        log_prior, prior_means, prior_vars = first.components()
        anchors = _rows(prior_means, prior_vars)
    elif len(layers) == 3 and layers[2].is_mixture:
        log_prior, p_means, p_vars = layers[2].components()
        parent = (p_means, p_vars)
        anchors = _rows(first.mean(p_means), first.variance(p_means))
        if recognition is not None and recognition.mixtures[1] is not None:
            rec_weights = xp.exp(recognition.mixtures[1][0])
    else:
        log_prior = xp.zeros((1,), dtype=X.dtype, device=_device(X))
        if len(layers) == 2:  # z_1 under a Gaussian prior
            anchors = _rows(
                first.mean(None, n_samples=1), first.variance(None, n_samples=1)
            )
        elif recognition is None:
            return None
        elif getattr(first, "supports_moments", False):
            # a Gaussian layer, mean linear in z_2: exact given z_2, whose
            # proposal is the recognition's (the gain is set below)
            gain_weights, offset = first.affine_parameters()
            zero2 = xp.zeros(
                (1, gain_weights.shape[1]), dtype=X.dtype, device=_device(X)
            )
            anchors = [(offset, first.variance(zero2)[0, :])]
            upper = _upper_layers(recognition)
        else:
            # the marginal moments of z_1, the layers above from the recognition
            _, z = model.sample(MARGINAL_SAMPLES, random_state=0)
            anchors = [(xp.mean(z[0], axis=0), xp.var(z[0], axis=0))]
            upper = _upper_layers(recognition)
    # A Laplace unit switched off has a scale like exp(pre-activation): keep
    # 1 / v finite in the array's precision (a floor of 1e-19 in float32,
    # 1e-154 in float64, far below any width that matters).
    tiny = xp.finfo(X.dtype).smallest_normal ** 0.5
    means, colours, whitens, log_dets, log_marginals = [], [], [], [], []
    try:
        for c, (m, v) in enumerate(anchors):
            v = xp.maximum(v, tiny)
            if parent is not None:  # z_1's stand-in at z_2's c-th centre
                v = _tail_matched_variance(
                    X, weights, bias, noise_var, m, v, first, parent[0][c : c + 1, :]
                )
            posterior = linear_gaussian_posterior(X, weights, bias, noise_var, m, v)
            for out, value in zip(
                (means, colours, whitens, log_dets, log_marginals),
                posterior,
                strict=True,
            ):
                out.append(value)
    except np.linalg.LinAlgError:  # NumPy's Cholesky of a matrix that is not
        return None  # numerically positive definite; CuPy's returns NaN
    if not all(bool(xp.all(xp.isfinite(c))) for c in colours):
        return None
    gain = None
    if upper is not None and getattr(first, "supports_moments", False):
        # E[z_1 | z_2, x] = mean(z_2 = 0) + Cov V^{-1} W_2 z_2 (Eq. 2.116 with
        # the prior mean W_2 z_2 + c)
        v1 = anchors[0][1]
        gain = (colours[0].T @ colours[0]) @ (gain_weights / v1[:, None])
    # Each Student-t keeps the stand-in posterior's covariance as its scale
    # matrix: its own covariance is LINEAR_DF / (LINEAR_DF - 2) times wider.
    log_joint = xp.stack(log_marginals, axis=1) + log_prior[None, :]
    pi = xp.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True, xp=xp))
    if rec_weights is not None:
        pi = 0.5 * (pi + rec_weights)
    k = pi.shape[1]
    if k > 1:
        pi = (1.0 - MIXTURE_FLOOR) * pi + MIXTURE_FLOOR / k
    return LinearGaussianProposal(
        xp.log(pi),
        xp.stack(means),
        xp.stack(colours),
        xp.stack(whitens),
        xp.stack(log_dets),
        parent=parent,
        upper=upper,
        fallback=recognition,
        gain=gain,
    )


def stand_in_variance(layer, z, parent, variance):
    """The variance of a Gaussian stand-in for ``p(z | parent)``, matched at ``z``.

    Per coordinate, the larger of ``variance`` (the conditional's own) and
    the variance of the Gaussian centred at the conditional's mean ``m``
    whose log density has the conditional's slope at ``z``:
    ``(z - m) / (-d log p(z | parent) / dz)``. For a Gaussian conditional
    both are its variance; for a Laplace one with scale ``s`` the matched
    variance is ``s |z - m|``: the quadratic bound ``|u| <= u^2 / (2 |z|) +
    |z| / 2`` that touches ``|u|`` at ``u = z`` (``m = 0``), the weight of
    iteratively reweighted least squares for an L1 penalty and of the EM
    algorithm for a Laplace prior (Figueiredo, 2003). A Gaussian with the
    conditional's own variance pulls ``z`` back
    to ``m`` with a force that grows linearly with the distance, where a
    heavier-tailed conditional's stays bounded: matched at the posterior's
    location, the stand-in posterior no longer over-shrinks rows far from
    the data. Coordinates where the slope does not point back to ``m`` (0
    at ``m`` itself) keep ``variance``.

    Parameters
    ----------
    layer : Layer
    z : array of shape (n, D)
    parent : array of shape (n, D_parent)
    variance : array of shape (D,) or (n, D)

    Returns
    -------
    array of shape (n, D)
    """
    xp = get_namespace(z)
    offset = z - layer.mean(parent)
    # a scale that underflowed to 0 (a switched-off unit) gives an infinite
    # slope: such a coordinate keeps its own variance
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        pull = -layer.grad_child(z, parent)
    inward = (offset * pull > 0) & xp.isfinite(pull)
    matched = xp.where(inward, offset / xp.where(inward, pull, 1.0), 0.0)
    return xp.maximum(variance * xp.ones_like(z), matched)


def _tail_matched_variance(
    X, weights, bias, noise_var, prior_mean, variance, layer, centre
):
    """Per-row stand-in variances of ``z_1`` under one component of ``z_2``.

    ``STAND_IN_ROUNDS`` fixed-point rounds: the stand-in posterior's mean,
    then :func:`stand_in_variance` of ``layer`` at that mean, with ``z_2``
    at the component's centre (``centre``, shape (1, D_2)). For a Laplace
    layer these are the
    iteratively reweighted least-squares steps towards the posterior mode
    under the Laplace prior (where every coordinate's matched variance
    exceeds the conditional's own).
    """
    xp = get_namespace(X)
    parent = xp.broadcast_to(centre, (X.shape[0], centre.shape[1]))
    v = variance
    for _ in range(STAND_IN_ROUNDS):
        mean = linear_gaussian_posterior(X, weights, bias, noise_var, prior_mean, v)[0]
        v = stand_in_variance(layer, mean, parent, variance)
    return v


def _rows(means, variances):
    """``[(means[c], variances[c]), ...]`` for arrays of shape (C, D)."""
    return [(means[c, :], variances[c, :]) for c in range(means.shape[0])]


def _upper_layers(recognition):
    """``recognition`` restricted to the layers above ``z_1``."""
    from ._importance import FactorisedProposal

    def tail(values):
        return None if values is None else values[1:]

    return FactorisedProposal(
        recognition.means[1:],
        recognition.variances[1:],
        recognition.binary[1:],
        tail(recognition.wide_means),
        tail(recognition.wide_variances),
        recognition.defensive,
        recognition.mixtures[1:],
    )
