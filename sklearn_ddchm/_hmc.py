"""Hamiltonian Monte Carlo for the exact posterior ``p(z | x)`` of a model.

Two functions of arrays:

- :func:`hmc_sample`: vectorised HMC (Neal, 2011) on any differentiable
  log-density, one chain per row of the initial state. Each iteration is a
  leapfrog trajectory with a Metropolis correction, optionally followed by an
  independence Metropolis-Hastings move from a fixed proposal. The step size
  of each chain is adapted during warm-up only, by dual averaging (Hoffman &
  Gelman, 2014, Section 3.2) towards ``target_accept``, then frozen, so the
  kept samples come from a fixed kernel that leaves the target invariant.
- :func:`sample_posterior`: the posterior of one data point under a
  :class:`~sklearn_ddchm.models.DeepExponentialFamily` with continuous latent
  layers, through :meth:`~DeepExponentialFamily.log_joint` and
  :meth:`~DeepExponentialFamily.grad_latents`. The paper's mixture prior is
  bimodal with modes HMC cannot cross (a 450-nat barrier for ``m = 3``,
  ``sigma = 0.1``), so the chains start at prior samples resampled by their
  likelihood (sampling-importance-resampling, one chain per resampled draw)
  and every iteration also proposes a fresh prior draw, accepted with
  probability ``min(1, p(x | z_1') / p(x | z_1))``: chains move between modes
  in proportion to the modes' posterior mass. Meant for low-dimensional
  latents (the prior is a poor proposal in high dimension, where only the
  HMC moves remain useful).

Used by the gallery's posterior example (the paper's Fig. 2); tested against
closed forms and grid quadrature (``tests/test_hmc.py``).

References
----------
R. M. Neal. MCMC using Hamiltonian dynamics. Handbook of Markov Chain Monte
Carlo, 2011.
M. D. Hoffman and A. Gelman. The No-U-Turn sampler: adaptively setting path
lengths in Hamiltonian Monte Carlo. JMLR 15, 2014.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

from .models import BernoulliLayer
from .utils._array_api import get_namespace_and_device, logsumexp, to_numpy
from .utils._random import draw

#: Dual averaging constants of Hoffman & Gelman (2014, Section 3.2): the
#: shrinkage ``gamma``, the offset ``t0`` damping the first iterations and the
#: decay ``kappa`` of the averaging weights, their recommended values.
DUAL_AVERAGING_GAMMA = 0.05
DUAL_AVERAGING_T0 = 10.0
DUAL_AVERAGING_KAPPA = 0.75

#: The kept step size is multiplied by a uniform draw in [1 - j, 1 + j] per
#: iteration, so that a trajectory length resonant with a period of the target
#: cannot trap a chain (Neal, 2011, Section 5.4.2.2).
STEP_JITTER = 0.2


def leapfrog(z, momentum, grad, step_size, n_steps, log_prob_and_grad, scale):
    """``n_steps`` leapfrog steps of Hamiltonian dynamics (Neal, 2011, Eq. 5.18-5.20).

    The kinetic energy is ``sum(momentum^2 * scale^2) / 2``: ``scale`` is the
    typical width of each coordinate (a diagonal mass matrix
    ``diag(1 / scale^2)``), so a unit step moves a coordinate by about its
    width.

    Parameters
    ----------
    z, momentum, grad : arrays of shape (n_chains, n_dims)
        Position, momentum and ``d log p / d z`` at ``z``.
    step_size : array of shape (n_chains, 1)
    n_steps : int
    log_prob_and_grad : callable
        ``z -> (log_prob of shape (n_chains,), grad of shape (n_chains, n_dims))``.
    scale : array broadcastable to (n_chains, n_dims)

    Returns
    -------
    z, momentum, log_prob, grad : the state after the last step.
    """
    momentum = momentum + 0.5 * step_size * grad
    log_prob = None
    for i in range(n_steps):
        z = z + step_size * scale**2 * momentum
        log_prob, grad = log_prob_and_grad(z)
        if i < n_steps - 1:
            momentum = momentum + step_size * grad
    momentum = momentum + 0.5 * step_size * grad
    return z, momentum, log_prob, grad


def _check_counts(**counts):
    minimum = {"n_warmup": 0}
    for name, value in counts.items():
        low = minimum.get(name, 1)
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or value < low
        ):
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")


def _finite_or(a, value, xp):
    """``a`` with its non-finite entries replaced by ``value``."""
    return xp.where(xp.isfinite(a), a, xp.full_like(a, value))


def hmc_sample(
    log_prob_and_grad,
    init,
    n_samples,
    *,
    n_warmup=500,
    n_leapfrog=20,
    step_size=0.1,
    target_accept=0.8,
    scale=1.0,
    proposal=None,
    random_state=None,
):
    """Vectorised Hamiltonian Monte Carlo, one chain per row of ``init``.

    Every iteration runs ``n_leapfrog`` leapfrog steps from a fresh Gaussian
    momentum and accepts the end point with probability
    ``min(1, exp(-H_new + H_old))`` (Neal, 2011, Section 5.2.3); a state
    whose log-density or energy is not finite is rejected. During the
    ``n_warmup`` first iterations the step size of each chain follows dual
    averaging (Hoffman & Gelman, 2014, Eq. 6, their Algorithm 5) towards an
    acceptance probability of ``target_accept``; afterwards it is fixed at
    the averaged value, jittered by ``STEP_JITTER`` per iteration. Only the
    ``n_samples`` iterations after warm-up are returned.

    Parameters
    ----------
    log_prob_and_grad : callable
        ``z -> (log_prob, grad)`` for ``z`` of shape (n_chains, n_dims):
        the unnormalised log-density of the target, shape (n_chains,), and
        its gradient, shape (n_chains, n_dims).
    init : array of shape (n_chains, n_dims)
        Initial states (the namespace and device of the chains).
    n_samples : int
        Kept iterations per chain.
    n_warmup : int, default=500
        Adaptation iterations, discarded.
    n_leapfrog : int, default=20
        Leapfrog steps per trajectory.
    step_size : float, default=0.1
        Initial step size (in units of ``scale``).
    target_accept : float in (0, 1), default=0.8
        Mean acceptance probability the warm-up aims for.
    scale : float or array broadcastable to (n_chains, n_dims), default=1.0
        Typical width of each coordinate (diagonal preconditioner).
    proposal : tuple of two callables or None, default=None
        ``(sample, log_prob)``: ``sample(n_chains, random_state)`` draws one
        state per chain from a fixed distribution ``q`` and ``log_prob(z)``
        evaluates ``log q``. After each HMC transition a chain moves to the
        draw ``z'`` with probability ``min(1, p(z') q(z) / (p(z) q(z')))``
        (an independence Metropolis-Hastings move), which can take it to a
        mode the trajectories cannot reach.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    samples : array of shape (n_samples, n_chains, n_dims)
    info : dict
        ``"step_size"`` (n_chains,): the adapted step sizes;
        ``"accept_rate"`` (n_chains,): mean HMC acceptance probability over
        the kept iterations; ``"jump_rate"`` (n_chains,): fraction of kept
        iterations at which the independence move was accepted (zeros
        without ``proposal``).
    """
    _check_counts(n_samples=n_samples, n_warmup=n_warmup, n_leapfrog=n_leapfrog)
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept!r}.")
    if not (isinstance(step_size, numbers.Real) and step_size > 0):
        raise ValueError(f"step_size must be a float > 0, got {step_size!r}.")
    if getattr(init, "ndim", None) != 2:
        raise ValueError(
            "init must be an array of shape (n_chains, n_dims), got shape "
            f"{getattr(init, 'shape', None)}."
        )
    rng = check_random_state(random_state)
    xp, device = get_namespace_and_device(init)
    dtype = init.dtype
    n_chains, n_dims = init.shape
    scale = xp.asarray(scale, dtype=dtype, device=device)

    def noise(kind, shape):
        return draw(rng, kind, shape, xp=xp, device=device, dtype=dtype)

    def evaluate(z):
        log_prob, grad = log_prob_and_grad(z)
        return log_prob, _finite_or(grad, 0.0, xp)

    z = init
    # Diverging trajectories overflow; their states are rejected (non-finite
    # energy), so NumPy's warnings about them carry no information.
    with np.errstate(all="ignore"):
        log_prob, grad = evaluate(z)
        adapt = _DualAveraging(n_chains, step_size, target_accept)
        samples, accept_sum, jumps = [], np.zeros(n_chains), np.zeros(n_chains)
        for it in range(n_warmup + n_samples):
            warm = it < n_warmup
            eps = adapt.step_size if warm else adapt.final_step_size
            if not warm:
                eps = eps * (1 + STEP_JITTER * (2 * rng.random_sample(n_chains) - 1))
            eps = xp.reshape(xp.asarray(eps, dtype=dtype, device=device), (-1, 1))
            momentum = noise("standard_normal", (n_chains, n_dims)) / scale
            z, log_prob, grad, accept_prob = _hmc_transition(
                z,
                log_prob,
                grad,
                momentum,
                eps,
                n_leapfrog,
                evaluate,
                scale,
                noise("uniform", (n_chains,)),
                xp,
            )
            accept_prob = np.asarray(to_numpy(accept_prob), dtype=float)
            if warm:
                adapt.update(accept_prob)
            else:
                accept_sum += accept_prob
            if proposal is not None:
                z, log_prob, grad, jumped = _independence_move(
                    z, log_prob, grad, proposal, evaluate, rng, noise, xp
                )
                if not warm:
                    jumps += np.asarray(to_numpy(jumped), dtype=float)
            if not warm:
                samples.append(z)
    info = {
        "step_size": adapt.final_step_size,
        "accept_rate": accept_sum / n_samples,
        "jump_rate": jumps / n_samples,
    }
    return xp.stack(samples, axis=0), info


class _DualAveraging:
    """Per-chain step sizes by dual averaging (Hoffman & Gelman, 2014, Algorithm 5).

    Drives the mean acceptance probability towards ``target_accept``;
    ``final_step_size`` is the weighted average of the iterates, the value
    kept after warm-up.
    """

    def __init__(self, n_chains, step_size, target_accept):
        self.target_accept = target_accept
        self.mu = math.log(10.0 * step_size)  # iterates shrink towards this
        self.log_step = np.full(n_chains, math.log(step_size))
        self.log_step_bar = np.zeros(n_chains)
        self.stat_bar = np.zeros(n_chains)
        self.t = 0

    @property
    def step_size(self):
        return np.exp(self.log_step)

    @property
    def final_step_size(self):
        return np.exp(self.log_step_bar) if self.t else self.step_size

    def update(self, accept_prob):
        self.t += 1
        t = self.t
        w = 1.0 / (t + DUAL_AVERAGING_T0)
        self.stat_bar = (1 - w) * self.stat_bar + w * (self.target_accept - accept_prob)
        self.log_step = self.mu - math.sqrt(t) / DUAL_AVERAGING_GAMMA * self.stat_bar
        eta = t**-DUAL_AVERAGING_KAPPA
        self.log_step_bar = eta * self.log_step + (1 - eta) * self.log_step_bar


def _hmc_transition(
    z, log_prob, grad, momentum, eps, n_leapfrog, evaluate, scale, u, xp
):
    """One HMC transition: a trajectory and its Metropolis correction (Neal, 2011)."""
    kinetic = 0.5 * xp.sum((momentum * scale) ** 2, axis=1)
    z_new, m_new, log_prob_new, grad_new = leapfrog(
        z, momentum, grad, eps, n_leapfrog, evaluate, scale
    )
    kinetic_new = 0.5 * xp.sum((m_new * scale) ** 2, axis=1)
    log_ratio = _finite_or(
        log_prob_new - kinetic_new - log_prob + kinetic, -math.inf, xp
    )
    accept_prob = xp.exp(xp.clip(log_ratio, max=0.0))
    accept = u < accept_prob
    return (
        xp.where(accept[:, None], z_new, z),
        xp.where(accept, log_prob_new, log_prob),
        xp.where(accept[:, None], grad_new, grad),
        accept_prob,
    )


def _independence_move(z, log_prob, grad, proposal, evaluate, rng, noise, xp):
    """Metropolis-Hastings with a state-independent proposal ``q`` (Tierney, 1994)."""
    sample_q, log_q = proposal
    z_new = sample_q(z.shape[0], rng)
    log_prob_new, grad_new = evaluate(z_new)
    log_ratio = log_prob_new - log_q(z_new) - log_prob + log_q(z)
    log_ratio = _finite_or(log_ratio, -math.inf, xp)
    accept = xp.log(noise("uniform", (z.shape[0],))) < log_ratio
    return (
        xp.where(accept[:, None], z_new, z),
        xp.where(accept, log_prob_new, log_prob),
        xp.where(accept[:, None], grad_new, grad),
        accept,
    )


def _split(z, dims, xp):
    """Columns of ``z`` as one array per latent layer."""
    out, start = [], 0
    for d in dims:
        out.append(z[:, start : start + d])
        start += d
    return out


def sample_posterior(
    model,
    x,
    n_samples=1000,
    *,
    n_chains=32,
    n_warmup=500,
    n_leapfrog=20,
    n_init=10_000,
    target_accept=0.8,
    random_state=None,
):
    """Samples of ``p(z_1, ..., z_L | x)`` for one data point ``x``, by HMC.

    The target is ``log p(x, z)`` (:meth:`DeepExponentialFamily.log_joint`)
    as a function of all latent layers stacked, its gradient
    :meth:`DeepExponentialFamily.grad_latents`. ``n_init`` prior samples
    weighted by ``p(x | z_1)`` are resampled to start the ``n_chains``
    chains; every iteration adds an independence move from the prior (see
    the module docstring), which keeps the share of chains in each mode of a
    multimodal posterior right.

    Parameters
    ----------
    model : DeepExponentialFamily
        With continuous latent layers (Gaussian, Laplace, mixture prior).
    x : array of shape (n_features,)
        One data point, in the model's namespace.
    n_samples : int, default=1000
        Kept iterations per chain.
    n_chains : int, default=32
    n_warmup : int, default=500
    n_leapfrog : int, default=20
    n_init : int, default=10000
        Prior samples the chains' starting points are resampled from.
    target_accept : float, default=0.8
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    latents : list of arrays
        ``latents[l - 1]`` of shape (n_samples, n_chains, D_l): the draws of
        ``z_l``.
    info : dict
        As returned by :func:`hmc_sample`.
    """
    _check_counts(n_samples=n_samples, n_chains=n_chains, n_init=n_init)
    binary = [
        type(layer).__name__
        for layer in model.layers[1:]
        if isinstance(layer, BernoulliLayer)
    ]
    if binary:
        raise ValueError(
            "sample_posterior needs continuous latent layers (HMC follows "
            f"gradients), got {', '.join(binary)}."
        )
    if getattr(x, "ndim", None) != 1 or x.shape[0] != model.n_features:
        raise ValueError(
            f"x must be one data point of shape ({model.n_features},), got shape "
            f"{getattr(x, 'shape', None)}."
        )
    rng = check_random_state(random_state)
    xp, device = get_namespace_and_device(x)
    dims = tuple(model.latent_dims)
    x_row = xp.reshape(x, (1, -1))
    observation = model.layers[0]

    def tiled(n):
        return x_row + xp.zeros((n, x_row.shape[1]), dtype=x.dtype, device=device)

    def log_prob_and_grad(z):
        latents = _split(z, dims, xp)
        X = tiled(z.shape[0])
        log_joint = model.log_joint(X, latents)
        grads = model.grad_latents(X, latents)
        return log_joint, xp.concat(grads, axis=1)

    def prior_draw(n, random_state):
        _, latents = model.sample(n, random_state=random_state)
        return xp.concat(latents, axis=1)

    def log_prior(z):
        # log p(z) = log p(x, z) - log p(x | z_1): the prior of every layer
        latents = _split(z, dims, xp)
        return model.log_joint(tiled(z.shape[0]), latents) - observation.log_prob(
            tiled(z.shape[0]), latents[0]
        )

    # sampling-importance-resampling from the prior for the starting points
    with np.errstate(all="ignore"):
        candidates = prior_draw(n_init, rng)
        log_w = observation.log_prob(tiled(n_init), _split(candidates, dims, xp)[0])
    log_w = np.asarray(to_numpy(log_w), dtype=float)
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    weights = np.exp(log_w - float(logsumexp(log_w)))
    idx = rng.choice(n_init, size=n_chains, p=weights / weights.sum())
    init = xp.take(candidates, xp.asarray(idx, device=device), axis=0)

    samples, info = hmc_sample(
        log_prob_and_grad,
        init,
        n_samples,
        n_warmup=n_warmup,
        n_leapfrog=n_leapfrog,
        step_size=0.1,
        target_accept=target_accept,
        proposal=(prior_draw, log_prior),
        random_state=rng,
    )
    out, start = [], 0
    for d in dims:
        out.append(samples[:, :, start : start + d])
        start += d
    return out, info
