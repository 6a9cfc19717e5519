"""Importance-sampling estimate of log p(x), shared by every estimator.

All estimators of the package are scored by the same estimator of the
log-likelihood, ``log p(x) ~ log mean_k p(x, z^k) / q(z^k | x)`` with
``z^k ~ q(. | x)``; they differ only in the proposal ``q`` they build from
their own recognition model. The estimate is unbiased for ``p(x)`` (hence a
stochastic lower bound of ``log p(x)`` in expectation) for any proposal with
heavier tails than the posterior.
"""

from __future__ import annotations

import math

from .utils._array_api import get_namespace, logsumexp
from .utils._random import draw

#: degrees of freedom of the Student-t proposals: heavy tails keep the
#: importance weights bounded when the proposal's width is underestimated.
PROPOSAL_DF = 3
#: Bernoulli proposals are mixed with a fair coin by this much, for the same reason.
BERNOULLI_FLOOR = 0.02


class FactorisedProposal:
    """A proposal ``q(z_1..z_L | x) = prod_l prod_i q(z_li | x)``.

    Continuous layers get a Student-t with ``PROPOSAL_DF`` degrees of freedom
    centred at ``means[l]`` with scale ``sqrt(variances[l])`` (so the
    proposal is wider than a Gaussian of the same variance), binary layers a
    Bernoulli with probabilities ``means[l]`` mixed with 1/2 by
    ``BERNOULLI_FLOOR``.

    Parameters
    ----------
    means, variances : list of arrays of shape (n_samples, D_l)
        Per-layer posterior means and variances (``variances`` is ignored for
        binary layers).
    binary : list of bool
    """

    def __init__(self, means, variances, binary):
        self.means, self.variances, self.binary = means, variances, binary

    def sample(self, n_importance, random_state):
        """Latents of shape (n_importance * n, D_l) (importance index major) and log q."""
        xp = get_namespace(self.means[0])
        latents, log_q = [], 0.0
        for m, v, is_binary in zip(self.means, self.variances, self.binary):
            n, d = m.shape
            # The same noise for every row (common random numbers): the estimate
            # of one row then does not depend on which other rows are scored.
            shape = (n_importance, 1, d)
            dev = _device(m)
            if is_binary:
                p = (1.0 - BERNOULLI_FLOOR) * xp.clip(m, 0.0, 1.0) + 0.5 * BERNOULLI_FLOOR
                u = draw(random_state, "uniform", shape, xp=xp, device=dev, dtype=m.dtype)
                z = xp.astype(u < p[None], m.dtype)
                lq = xp.sum(z * xp.log(p)[None] + (1.0 - z) * xp.log(1.0 - p)[None], axis=2)
            else:
                scale = xp.sqrt(v)
                eps = draw(random_state, "standard_normal", shape, xp=xp, device=dev,
                           dtype=m.dtype)
                chi2 = draw(random_state, "standard_normal", (PROPOSAL_DF, *shape), xp=xp,
                            device=dev, dtype=m.dtype)
                chi2 = xp.sum(chi2 * chi2, axis=0)
                t = eps / xp.sqrt(chi2 / PROPOSAL_DF)
                z = m[None] + scale[None] * t
                lq = xp.sum(student_t_logpdf(t, PROPOSAL_DF) - xp.log(scale)[None], axis=2)
                lq = xp.broadcast_to(lq, (n_importance, n))
            latents.append(xp.reshape(z, (n_importance * n, d)))
            log_q = log_q + lq
        return latents, log_q


def student_t_logpdf(t, df):
    """log density of the standard Student-t with ``df`` degrees of freedom."""
    xp = get_namespace(t)
    const = (math.lgamma((df + 1) / 2) - math.lgamma(df / 2)
             - 0.5 * math.log(df * math.pi))
    return const - 0.5 * (df + 1) * xp.log1p(t * t / df)


def importance_log_likelihood(model, X, proposal, n_importance, random_state):
    """``log mean_k p(x, z^k) / q(z^k | x)`` per row of ``X``.

    Parameters
    ----------
    model : DeepExponentialFamily
    X : array of shape (n, n_features)
    proposal : object with ``sample(n_importance, random_state)`` returning
        latents of shape (n_importance * n, D_l) and ``log_q`` (n_importance, n)
    n_importance : int
    random_state : RandomState

    Returns
    -------
    log_px : array of shape (n,)
    """
    xp = get_namespace(X)
    n = X.shape[0]
    latents, log_q = proposal.sample(n_importance, random_state)
    X_rep = xp.reshape(xp.broadcast_to(X[None], (n_importance, n, X.shape[1])),
                       (n_importance * n, X.shape[1]))
    log_p = xp.reshape(model.log_joint(X_rep, latents), (n_importance, n))
    log_w = log_p - log_q
    # a proposal sample outside the model's support has weight zero, not NaN
    log_w = xp.where(xp.isnan(log_w), xp.asarray(-xp.inf, dtype=log_w.dtype,
                                                  device=_device(log_w)), log_w)
    return logsumexp(log_w, axis=0, xp=xp) - math.log(n_importance)


def _device(a):
    import array_api_compat

    return array_api_compat.device(a)
