"""Annealed importance sampling (Neal, 2001) and its reverse run (Grosse et al., 2015).

``log p(x) = log int p(x, z) dz`` of a
:class:`~sklearn_ddchm.models.DeepExponentialFamily` is estimated by moving
``K`` chains per row of ``X`` along the geometric path

    f_t(z) = q(z | x)^(1 - beta_t) p(x, z)^beta_t,   0 = beta_0 < ... < beta_T = 1,

from a normalised start distribution ``q`` (an estimator's scoring proposal,
or the model's prior) to the unnormalised posterior ``f_T = p(x, z)``. With
``z_0 ~ q`` and ``z_t ~ T_t(. | z_{t-1})`` for ``t = 1 .. T-1``, where the
kernel ``T_t`` leaves ``f_t`` invariant, the weight (Neal, 2001)

    log w = sum_{t=1}^{T} (beta_t - beta_{t-1}) [log p(x, z_{t-1}) - log q(z_{t-1} | x)]

is unbiased for ``p(x)``; ``log mean_k w_k`` is then a stochastic lower
bound of ``log p(x)``. ``T = 1`` is plain importance sampling from ``q``.

Each kernel ``T_t`` is a composition of moves, each exact for ``f_t``:

- an independence Metropolis-Hastings move from ``q`` (accepted with
  probability ``min(1, (w(z') / w(z))^beta)``), which lets a chain change
  modes where the local moves cannot;
- continuous latent layers: Hamiltonian Monte Carlo (Neal, 2011) on all of
  them jointly, ``n_leapfrog`` leapfrog steps (one: MALA) with a diagonal
  mass matrix ``diag(1 / scale^2)`` and a Metropolis correction; the
  gradients are the model library's
  (:meth:`DeepExponentialFamily.grad_latents`) and the proposal's;
- binary latent layers: a systematic Gibbs sweep, every unit drawn from its
  exact conditional under ``f_t``; flipping a unit changes the affine maps
  of the layers it feeds by one column of their weights, so a sweep costs
  about one dense pass per unit's children (the standard sampler for sigmoid
  belief networks, Neal, 1992).

HMC's step size and preconditioner ``scale`` are tuned per temperature and
per row on a *pilot run* with its own random numbers (:func:`tune_hmc`: the
step size steered by the acceptance probability towards ``target_accept``,
``scale`` from the chains' gradients); the scored run then uses that fixed
schedule, so its kernels do not depend on its own chains and the weights
stay exactly unbiased. The reverse run reuses the same schedule.

Reverse run (bidirectional Monte Carlo, Grosse, Ghahramani & Adams, 2015,
Section 4): started at an exact posterior sample ``z_{T-1} ~ p(z | x)``
(available for data simulated from the model: the simulated latents), the
kernels are applied in reverse order and reversed (a Gibbs sweep runs its
units backwards, HMC is its own reversal), and

    log w_rev = sum_{t=1}^{T} (beta_{t-1} - beta_t)
                [log p(x, z_{t-1}) - log q(z_{t-1} | x)]

is unbiased for ``1 / p(x)``: ``-log mean_k w_rev_k`` is a stochastic
*upper* bound of ``log p(x)``. The gap between the two bounds bounds the
error of either.

Start distributions implement, beside ``sample(n, random_state,
shared_noise)`` (latents of shape (n * n_rows, D_l), chain index major, and
``log q`` of shape (n, n_rows)):

- ``log_prob(latents)``: ``log q`` at any point, shape (n, n_rows);
- ``grad_log_prob(latents)``: ``d log q / d z_l`` per latent layer, None
  for binary layers;
- ``scales()``: per layer an array (n_rows, D_l) of typical posterior
  widths (None for binary layers), the HMC preconditioner;
- ``gibbs_components(latents)``: ``q`` as a mixture of products of
  :class:`AffineFactor` (a list of ``(log pi_c + log q_c(z), factors_c)``)
  for the Gibbs sweeps; needed only with binary layers.

:class:`PriorProposal` is the model's own prior in that form.

References
----------
R. M. Neal. Connectionist learning of belief networks. Artificial
Intelligence 56, 1992.
R. M. Neal. Annealed importance sampling. Statistics and Computing 11, 2001.
R. M. Neal. MCMC using Hamiltonian dynamics. Handbook of MCMC, 2011.
R. B. Grosse, Z. Ghahramani and R. P. Adams. Sandwiching the marginal
likelihood using bidirectional Monte Carlo. arXiv:1511.02543, 2015.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from .models import BernoulliLayer
from .utils._array_api import device as _device
from .utils._array_api import get_namespace, logsumexp, sigmoid, softplus
from .utils._random import draw

#: acceptance probability the pilot run steers HMC towards (Neal, 2011, Sec. 4.4:
#: 0.65 is optimal for high-dimensional targets)
TARGET_ACCEPT = 0.65
#: change of log(step size) per unit of acceptance error, per temperature
STEP_SIZE_ADAPT_RATE = 1.0
#: the adapted step size stays in this range (in units of the proposal's scale)
STEP_SIZE_BOUNDS = (1e-4, 4.0)
#: steepness of the sigmoidal schedule (Grosse et al., 2015, Sec. 6: delta = 4)
SIGMOID_DELTA = 4.0
#: the pilot run re-estimates the HMC preconditioner this many times along the
#: path (piecewise constant in between: the schedule of scales stays small)
SCALE_SNAPSHOTS = 50
#: prior draws behind the HMC preconditioner of :class:`PriorProposal`, from a
#: fixed seed so that the kernels do not depend on the chains
PRIOR_SCALE_SAMPLES = 1000


# ---------------------------------------------------------------------------
# temperature schedules


def sigmoid_schedule(n_temperatures, delta=SIGMOID_DELTA):
    """Inverse temperatures ``beta_0 = 0 < ... < beta_T = 1`` spaced by a sigmoid.

    ``beta~_t = sigmoid(delta (2 t / T - 1))`` rescaled to run from 0 to 1
    (Grosse, Ghahramani & Adams, 2015, Sec. 6): the steps are smallest at
    both ends of the path, where the log-weights change fastest.

    Parameters
    ----------
    n_temperatures : int
        ``T >= 1``, the number of steps (``T - 1`` intermediate distributions).
    delta : float, default=4.0

    Returns
    -------
    betas : ndarray of shape (T + 1,)
    """
    t = np.arange(n_temperatures + 1, dtype=np.float64) / n_temperatures
    b = 1.0 / (1.0 + np.exp(-delta * (2.0 * t - 1.0)))
    b = (b - b[0]) / (b[-1] - b[0])
    b[0], b[-1] = 0.0, 1.0
    return b


def check_schedule(schedule):
    """``schedule`` as a float ndarray from 0 to 1, strictly increasing.

    Raises ValueError for anything else.
    """
    try:
        betas = np.asarray(schedule, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"schedule must be a 1-d array of inverse temperatures, got {schedule!r}."
        ) from None
    if (
        betas.ndim != 1
        or betas.shape[0] < 2
        or not np.all(np.isfinite(betas))
        or betas[0] != 0.0
        or betas[-1] != 1.0
        or np.any(np.diff(betas) <= 0)
    ):
        raise ValueError(
            "schedule must be a strictly increasing 1-d array from 0.0 to 1.0 "
            f"(at least 2 entries), got {schedule!r}."
        )
    return betas


# ---------------------------------------------------------------------------
# densities as products of affine factors (for the Gibbs sweeps)


@dataclass
class AffineFactor:
    """A factor ``prod_i f(v_child,i | a_i)``, ``a = v_parent @ weights.T + offset``.

    Variables are numbered ``0`` (the data ``x``) and ``l`` (latent layer
    ``z_l``).

    Parameters
    ----------
    child : int
    parent : int or None
        None when ``a = offset`` does not depend on a variable.
    weights : array of shape (D_child, D_parent) or None
    offset : array of shape (D_child,) or (n_chain_rows, D_child)
    terms : callable
        ``terms(child_values, a)`` -> log f per coordinate, (n, D_child).
    child_logit : callable or None
        ``log f(1 | a) - log f(0 | a)`` for a binary child; None otherwise.
    bernoulli : bool, default=False
        ``terms`` is ``child * a - softplus(a)`` (a Bernoulli with logits
        ``a``): the sweep then takes a faster exact path (see
        :class:`_GibbsSweep`).
    """

    child: int
    parent: int | None
    weights: object
    offset: object
    terms: object
    child_logit: object = None
    bernoulli: bool = False


def bernoulli_terms(child, a):
    """``log Bernoulli(child; sigmoid(a))`` per coordinate, stable in both tails."""
    return child * a - softplus(a)


def identity_logit(a):
    """The log-odds of a Bernoulli factor with logits ``a``: ``a`` itself."""
    return a


def model_components(model, X, latents, binary_vars, *, observed=True, total=None):
    """The model's density as one product of affine factors (a one-component mixture).

    Only the layers that touch a binary variable in ``binary_vars`` (as
    child or parent) are listed; the others are constant during a Gibbs
    sweep of those variables.

    Parameters
    ----------
    model : DeepExponentialFamily
    X : array of shape (n, n_features)
    latents : list of arrays of shape (n, D_l)
    binary_vars : list of int
        Latent layers (1-based) swept by Gibbs.
    observed : bool, default=True
        Include the observation layer ``p(x | z_1)`` (False: the prior alone).
    total : array of shape (n,), optional
        The log density at ``latents`` if already known.

    Returns
    -------
    list of ``(total, factors)``
    """
    first = 0 if observed else 1
    factors = []
    for i in range(first, len(model.layers)):
        layer = model.layers[i]
        parent = i + 1 if i + 1 < len(model.layers) else None
        if i not in binary_vars and parent not in binary_vars:
            continue
        if not hasattr(layer, "affine_parameters"):
            raise ValueError(
                "AIS sweeps binary layers unit by unit and needs every layer "
                "next to a binary layer to be an affine conditional (Gaussian, "
                f"Laplace or Bernoulli); layers[{i}] is {type(layer).__name__}."
            )
        weights, offset = layer.affine_parameters()
        factors.append(
            AffineFactor(
                child=i,
                parent=parent,
                weights=weights,
                offset=offset,
                terms=layer.log_prob_terms,
                child_logit=identity_logit if layer.is_binary else None,
                bernoulli=isinstance(layer, BernoulliLayer),
            )
        )
    if total is None:
        values = [X, *latents]
        total = 0.0
        for i in range(first, len(model.layers)):
            parent = values[i + 1] if i + 1 < len(values) else None
            total = total + model.layers[i].log_prob(values[i], parent)
    return [(total, factors)]


class PriorProposal:
    """The model's prior ``p(z)`` as an AIS start distribution (any ``x``).

    The geometric path from it is ``p(z) p(x | z)^beta``, the classic AIS
    of decoder-based models (e.g. Wu et al., 2017).

    Parameters
    ----------
    model : DeepExponentialFamily
    n_rows : int
        Rows of ``X`` the chains are run for.
    """

    def __init__(self, model, n_rows):
        self.model, self.n_rows = model, int(n_rows)

    def sample(self, n, random_state, shared_noise=True):
        """``n`` ancestral draws per row; see the module docstring."""
        model, rows = self.model, self.n_rows
        if shared_noise:
            _, z = model.sample(n, random_state=random_state)
            xp = get_namespace(z[0])
            z = [
                xp.reshape(
                    xp.broadcast_to(v[:, None, :], (n, rows, v.shape[1])),
                    (n * rows, v.shape[1]),
                )
                for v in z
            ]
        else:
            _, z = model.sample(n * rows, random_state=random_state)
        return z, self.log_prob(z)

    def log_prob(self, latents):
        """``log p(z)``, shape (n, n_rows)."""
        xp = get_namespace(latents[0])
        layers = self.model.layers
        total = 0.0
        for l in range(1, len(layers)):
            parent = latents[l] if l < len(latents) else None
            total = total + layers[l].log_prob(latents[l - 1], parent)
        return xp.reshape(total, (-1, self.n_rows))

    def grad_log_prob(self, latents):
        """``d log p(z) / d z_l`` per latent layer (None for binary layers)."""
        layers = self.model.layers
        out = []
        for l in range(1, len(layers)):
            if layers[l].is_binary:
                out.append(None)
                continue
            parent = latents[l] if l < len(latents) else None
            g = layers[l].grad_child(latents[l - 1], parent)
            if l >= 2:
                g = g + layers[l - 1].grad_parent(latents[l - 2], latents[l - 1])
            out.append(g)
        return out

    def scales(self):
        """Per-coordinate standard deviations of the prior (from fixed-seed draws)."""
        _, z = self.model.sample(PRIOR_SCALE_SAMPLES, random_state=0)
        out = []
        for layer, v in zip(self.model.layers[1:], z, strict=True):
            if layer.is_binary:
                out.append(None)
                continue
            xp = get_namespace(v)
            s = xp.std(v, axis=0)
            s = xp.where(s > 0, s, xp.ones_like(s))
            out.append(xp.broadcast_to(s[None, :], (self.n_rows, s.shape[0])))
        return out

    def gibbs_components(self, latents):
        """The prior's latent layers as affine factors; see :func:`model_components`."""
        binary = [
            l
            for l, layer in enumerate(self.model.layers[1:], start=1)
            if layer.is_binary
        ]
        xp = get_namespace(latents[0])
        total = xp.reshape(self.log_prob(latents), (-1,))
        return model_components(
            self.model, None, latents, binary, observed=False, total=total
        )


# ---------------------------------------------------------------------------
# the annealing machinery


def tile_rows(a, n_chains):
    """``a`` of shape (n, ...) repeated for ``n_chains`` chains: (n_chains * n, ...)."""
    xp = get_namespace(a)
    return xp.reshape(
        xp.broadcast_to(a[None, ...], (n_chains, *a.shape)),
        (n_chains * a.shape[0], *a.shape[1:]),
    )


@dataclass
class _State:
    latents: list
    log_p: object  # (B,) log p(x, z)
    log_q: object  # (B,) log q(z | x)
    grad_p: list | None = None  # d log p / d z_l for the continuous layers
    grad_q: list | None = None


def _nan_to_minus_inf(a):
    xp = get_namespace(a)
    return xp.where(xp.isnan(a), xp.full_like(a, -math.inf), a)


def _select(keep, new, old):
    """The state ``new`` on the chains where ``keep``, ``old`` elsewhere."""
    xp = get_namespace(keep)
    col = keep[:, None]

    def pick(a, b):
        return xp.where(col if a.ndim == 2 else keep, a, b)

    def picks(a, b):
        if a is None:
            return None
        return [pick(u, v) for u, v in zip(a, b, strict=True)]

    return _State(
        picks(new.latents, old.latents),
        pick(new.log_p, old.log_p),
        pick(new.log_q, old.log_q),
        picks(new.grad_p, old.grad_p),
        picks(new.grad_q, old.grad_q),
    )


#: largest |log| a product of Bernoulli likelihood ratios may reach before its
#: logarithm is taken, as a share of the dtype's range (float64 overflows at
#: 709 and its normal numbers end at -708; float32 at +-88), capped at 600
_LOG_PRODUCT_SHARE = 0.85
_LOG_PRODUCT_LIMIT = 600.0


def _log_product_limit(xp, dtype):
    """Largest |log| of a product of ratios that ``dtype`` holds with room to
    spare (600 in float64, 75 in float32)."""
    return min(_LOG_PRODUCT_LIMIT, _LOG_PRODUCT_SHARE * math.log(xp.finfo(dtype).max))


class _FactorCache:
    """What a sweep keeps of one factor: its affine map and log terms, or, for a
    Bernoulli factor whose parent is swept, ``sigmoid(a)`` and ``sigmoid(-a)``."""

    def __init__(self, factor, values, n_rows):
        xp = get_namespace(values[factor.child])
        self.factor = factor
        if factor.parent is None:
            a = factor.offset
            if a.ndim == 1:
                a = xp.broadcast_to(a[None, :], (n_rows, a.shape[0]))
        else:
            a = values[factor.parent] @ factor.weights.T + factor.offset
        self.fast = factor.bernoulli and factor.parent is not None
        if self.fast:
            self.s1, self.s0 = sigmoid(a), sigmoid(-a)
            # the factor that leaves rows without a flip as they are
            self.one = xp.ones((), dtype=self.s1.dtype, device=_device(self.s1))
            w_max = float(xp.max(xp.abs(factor.weights)))
            limit = _log_product_limit(xp, a.dtype)
            self.block = max(1, min(64, int(limit / max(w_max, 1e-12))))
            self.a = self.lp = None
        else:
            self.a = xp.asarray(a, copy=True)
            self.lp = factor.terms(values[factor.child], self.a)

    def logit(self, i):
        """``a[:, i]``, the log-odds of a binary child coordinate."""
        if self.fast:
            xp = get_namespace(self.s1)
            return xp.log(self.s1[:, i]) - xp.log(self.s0[:, i])
        return self.factor.child_logit(self.a[:, i])


def _sum_log(r, block):
    """``sum_j log r_j`` per row with one log per ``block`` factors (r > 0)."""
    xp = get_namespace(r)
    n, d = r.shape
    full = (d // block) * block
    total = 0.0
    if full:
        prod = xp.prod(xp.reshape(r[:, :full], (n, full // block, block)), axis=2)
        total = xp.sum(xp.log(prod), axis=1)
    if full < d:
        total = total + xp.sum(xp.log(r[:, full:]), axis=1)
    return total


class _GibbsSweep:
    """One systematic Gibbs sweep over the binary layers under ``f_beta``.

    ``f_beta = q^(1 - beta) p^beta`` with ``p`` and ``q`` each a mixture of
    products of :class:`AffineFactor`. For unit ``i`` of layer ``v`` the
    log-odds of ``z_vi = 1`` is the change of ``log f_beta`` when the unit
    is flipped, gathered from the factors that have ``v`` as child (one
    coordinate) or as parent (one weight column shifts their affine map).
    The affine maps and per-coordinate log densities of the factors are
    cached and changed on the rows where a unit flips.

    A Bernoulli factor with a swept parent (a sigmoid belief network layer)
    keeps ``s1 = sigmoid(a)`` and ``s0 = sigmoid(-a)`` instead: shifting
    ``a`` by ``w`` changes ``log p`` of child ``j`` by ``x_j w_j - log r_j``,
    ``r_j = s0_j + s1_j exp(w_j)`` (``softplus(a + w) - softplus(a)``, a sum
    of positive terms, so nothing cancels), and the new ``s1 = s1 e^w / r``,
    ``s0 = s0 / r`` need no transcendental function. The ``log r_j`` are
    summed as logs of products of up to 64 of them (bounded so they cannot
    overflow): the sweep of an MNIST-sized network is 3x faster than with
    one softplus per child and unit.
    """

    def __init__(self, X, latents, densities):
        xp = get_namespace(latents[0])
        self.xp = xp
        self.values = [X, *latents]
        n_rows = latents[0].shape[0]
        self.densities = []
        for coef, components in densities:
            comps = []
            for total, factors in components:
                cached = [_FactorCache(f, self.values, n_rows) for f in factors]
                comps.append([total, cached])
            self.densities.append((coef, comps))

    def update(self, v, i, u):
        """Draw unit ``i`` of latent layer ``v`` from its conditional (uniforms u)."""
        xp = self.xp
        log_odds, plan = self.conditional(v, i)
        new = u < sigmoid(log_odds)
        flipped = new != (self.values[v][:, i] > 0.5)
        flip = xp.astype(flipped, u.dtype)
        f, moved = flip[:, None], flipped[:, None]
        self.values[v][:, i] = xp.astype(new, self.values[v].dtype)
        for comps, gains, comp_plans in plan:
            for comp, gain, steps in zip(comps, gains, comp_plans, strict=True):
                comp[0] = comp[0] + flip * gain
                for cache, kind, data in steps:
                    if kind == "child":
                        if not cache.fast:
                            cache.lp[:, i] = cache.lp[:, i] + flip * data
                    elif kind == "fast":
                        # s1 <- s1 E / r and s0 <- s0 / r where the unit flipped,
                        # in place (these are the largest arrays of a sweep), by
                        # factors that are exactly 1 elsewhere: an added
                        # difference, s1 + f (s1 E / r - s1), would round a
                        # probability that falls from near 1 to below eps
                        # (1e-7 in float32) to noise
                        E, r = data
                        E /= r
                        cache.s1 *= xp.where(moved, E, cache.one)
                        cache.s0 /= xp.where(moved, r, cache.one)
                    else:
                        shift, d_lp = data
                        cache.a = cache.a + f * shift
                        cache.lp = cache.lp + f * d_lp

    def conditional(self, v, i):
        """Log-odds of ``z_vi = 1`` given everything else, (B,); and the update plan.

        For each density the gain of flipping the unit, ``log f(flipped) -
        log f(current)``: the sum of its factors' changes for one component,
        ``logsumexp(totals + gains) - logsumexp(totals)`` for a mixture.
        """
        xp = self.xp
        z = self.values[v][:, i]
        on = z > 0.5
        sign = 1.0 - 2.0 * z  # the change of z_vi if flipped
        flip_gain_total = 0.0
        plan = []
        for coef, comps in self.densities:
            gains, comp_plans = [], []
            for _, cached in comps:
                gain = 0.0
                steps = []
                for cache in cached:
                    f = cache.factor
                    if f.child == v:
                        logit = cache.logit(i)
                        g = xp.where(on, -logit, logit)
                        gain = gain + g
                        steps.append((cache, "child", g))
                    elif f.parent == v and cache.fast:
                        w = f.weights[:, i]
                        # exp(+-w) picked, not e_up + on * (e_down - e_up): that
                        # cancels to noise once exp(2|w|) passes 1 / eps
                        # (|w| > 8 in float32, 18 in float64)
                        E = xp.where(
                            on[:, None], xp.exp(-w)[None, :], xp.exp(w)[None, :]
                        )
                        r = cache.s0 + cache.s1 * E
                        child = self.values[f.child]
                        gain = gain + sign * (child @ w) - _sum_log(r, cache.block)
                        steps.append((cache, "fast", (E, r)))
                    elif f.parent == v:
                        shift = sign[:, None] * f.weights[:, i][None, :]
                        d_lp = f.terms(self.values[f.child], cache.a + shift) - cache.lp
                        gain = gain + xp.sum(d_lp, axis=1)
                        steps.append((cache, "parent", (shift, d_lp)))
                gains.append(gain)
                comp_plans.append(steps)
            if len(comps) == 1:
                flip_gain = gains[0]
            else:
                totals = xp.stack([c[0] for c in comps])
                flipped = xp.stack(
                    [c[0] + g for c, g in zip(comps, gains, strict=True)]
                )
                flip_gain = logsumexp(flipped, axis=0, xp=xp) - logsumexp(
                    totals, axis=0, xp=xp
                )
            flip_gain_total = flip_gain_total + coef * flip_gain
            plan.append((comps, gains, comp_plans))
        # the gain of flipping is the log-odds of z = 1 where z is 0, minus it
        # where z is 1
        log_odds = xp.where(on, -flip_gain_total, flip_gain_total)
        return log_odds, plan


class _Annealer:
    """Chains of the geometric path for one block of rows; see the module docstring."""

    def __init__(
        self, model, X, proposal, n_chains, *, n_leapfrog, n_steps, shared_noise=False
    ):
        xp = get_namespace(X)
        self.xp, self.model, self.proposal = xp, model, proposal
        self.n_chains, self.n_rows = int(n_chains), X.shape[0]
        self.shared_noise = bool(shared_noise)
        self.X_rep = tile_rows(X, self.n_chains)
        self.dtype, self.device = X.dtype, _device(X)
        binary = [layer.is_binary for layer in model.layers[1:]]
        self.continuous = [l for l, b in enumerate(binary) if not b]
        self.binary_vars = [l + 1 for l, b in enumerate(binary) if b]
        self.n_leapfrog, self.n_steps = int(n_leapfrog), int(n_steps)

    def proposal_scales(self):
        """The start distribution's scales of the continuous layers, each (n, D_l)."""
        scales = self.proposal.scales()
        return [self.xp.astype(scales[l], self.dtype) for l in self.continuous]

    def gradient_scales(self, state, beta):
        """``1 / sqrt(median_k (d log f_beta / d z)^2)`` per row and coordinate.

        For a target at equilibrium ``E[(d log f / dz_i)^2] = E[-d^2 log f /
        dz_i^2]`` (the Fisher identity): ``sigma^-2`` for a Gaussian, exactly
        ``s^-2`` for a Laplace of scale ``s``. Unlike the spread of the chains
        it measures the width of the mode each chain sits in, so a bimodal
        posterior (the sparse model's z_2) does not inflate it.
        """
        xp = self.xp
        out = []
        for gp, gq in zip(state.grad_p, state.grad_q, strict=True):
            g = beta * gp + (1.0 - beta) * gq
            g = xp.reshape(g, (self.n_chains, self.n_rows, g.shape[1]))
            with np.errstate(all="ignore"):
                # the median: one chain stranded where a Laplace scale is tiny
                # has an enormous gradient and must not freeze the others
                m = _median(g * g, axis=0)
                ok = xp.isfinite(m) & (m > 0)
                out.append(xp.where(ok, 1.0 / xp.sqrt(xp.where(ok, m, 1.0)), 1.0))
        return out

    def noise(self, random_state, kind, width=None):
        """Draws of ``kind`` for every chain of every row: (K * n,) or (K * n, width).

        With ``shared_noise`` chain ``k`` of every row gets the same draws
        (drawn once, (K, 1[, width]), and broadcast), so a row's estimate
        does not depend on which rows share its block: what ``score_samples``
        needs (scikit-learn checks it on subsets and permutations of rows).
        """
        xp = self.xp
        tail = () if width is None else (width,)
        rows = 1 if self.shared_noise else self.n_rows
        a = draw(
            random_state,
            kind,
            (self.n_chains, rows, *tail),
            xp=xp,
            device=self.device,
            dtype=self.dtype,
        )
        if self.shared_noise:
            a = xp.broadcast_to(a, (self.n_chains, self.n_rows, *tail))
        return xp.reshape(a, (self.n_chains * self.n_rows, *tail))

    # -- densities ------------------------------------------------------------
    def evaluate(self, latents):
        """Densities (and gradients) at ``latents``.

        A point outside the model's support (a Laplace scale that underflows
        to 0 far in a tail) has ``log p = -inf``, never NaN: its chain then
        carries weight zero, and HMC rejects any trajectory through it.
        """
        xp = self.xp
        with np.errstate(all="ignore"):
            log_p = _nan_to_minus_inf(self.model.log_joint(self.X_rep, latents))
            log_q = _nan_to_minus_inf(
                xp.reshape(self.proposal.log_prob(latents), (-1,))
            )
            state = _State(latents, log_p, log_q)
            if self.continuous:
                gp = self.model.grad_latents(self.X_rep, latents)
                gq = self.proposal.grad_log_prob(latents)
                state.grad_p = [gp[l] for l in self.continuous]
                state.grad_q = [gq[l] for l in self.continuous]
        return state

    def start(self, random_state):
        latents, _ = self.proposal.sample(
            self.n_chains, random_state, shared_noise=self.shared_noise
        )
        return self.evaluate([self.xp.asarray(z, copy=True) for z in latents])

    # -- kernels ----------------------------------------------------------------
    def transition(self, state, beta, step, scales, random_state, reverse=False):
        """``n_steps`` kernels leaving ``f_beta`` invariant; and the HMC acceptance.

        One kernel is an independence move, HMC on the continuous layers,
        then a Gibbs sweep of the binary ones; its reversal
        (``reverse=True``) is the sweep with the units backwards, HMC and the
        independence move (each their own reversal), in that order.
        """
        accept = []
        for _ in range(self.n_steps):
            if not reverse:
                state = self.independence(state, beta, random_state)
            if reverse and self.binary_vars:
                state = self.gibbs(state, beta, random_state, reverse=True)
            if self.continuous:
                state, a = self.hmc(state, beta, step, scales, random_state)
                accept.append(a)
            if not reverse and self.binary_vars:
                state = self.gibbs(state, beta, random_state, reverse=False)
            if reverse:
                state = self.independence(state, beta, random_state)
        return state, (sum(accept) / len(accept) if accept else None)

    def independence(self, state, beta, random_state):
        """Independence Metropolis-Hastings from the start distribution ``q``.

        A fresh ``z' ~ q`` replaces ``z`` with probability
        ``min(1, (r(z') / r(z))^beta)``, ``r = p(x, .) / q(.)``: the
        Metropolis-Hastings ratio of the proposal ``q`` for the target
        ``q^(1 - beta) p^beta``, reversible. It is what lets a chain change
        modes (HMC cannot cross between the sparse model's two z_2 modes):
        cheap, and its acceptance falls only as ``beta`` grows.
        """
        xp = self.xp
        new = self.start(random_state)
        with np.errstate(all="ignore"):
            log_ratio = beta * ((new.log_p - new.log_q) - (state.log_p - state.log_q))
            log_ratio = xp.where(
                xp.isnan(log_ratio), xp.full_like(log_ratio, -math.inf), log_ratio
            )
        u = self.noise(random_state, "uniform")
        with np.errstate(divide="ignore"):
            keep = xp.log(u) < log_ratio
        return _select(keep, new, state)

    def hmc(self, state, beta, step, scales, random_state):
        """One HMC trajectory with a Metropolis correction (Neal, 2011, Fig. 2).

        Momenta ``v`` are in units of ``scale``: ``z' = z + eps scale v``,
        ``v' = v + eps scale grad log f``, the leapfrog of the mass matrix
        ``diag(1 / scale^2)``. ``step`` has shape (n,), ``scales`` (n, D_l)
        per continuous layer (one value per row, shared by its chains).
        """
        xp = self.xp
        cont = self.continuous
        eps = tile_rows(step, self.n_chains)[:, None]
        scales = [tile_rows(s_, self.n_chains) for s_ in scales]

        def grad(s):
            return [
                beta * gp + (1.0 - beta) * gq
                for gp, gq in zip(s.grad_p, s.grad_q, strict=True)
            ]

        def energy(s, v):
            kinetic = sum(xp.sum(w * w, axis=1) for w in v)
            return -(beta * s.log_p + (1.0 - beta) * s.log_q) + 0.5 * kinetic

        v = [self.noise(random_state, "standard_normal", s_.shape[1]) for s_ in scales]
        h0 = energy(state, v)
        new, g = state, grad(state)
        v = [w + 0.5 * eps * s_ * gg for w, s_, gg in zip(v, scales, g, strict=True)]
        with np.errstate(all="ignore"):
            for step_i in range(self.n_leapfrog):
                latents = list(new.latents)
                for j, l in enumerate(cont):
                    latents[l] = latents[l] + eps * scales[j] * v[j]
                new = self.evaluate(latents)
                g = grad(new)
                factor = 1.0 if step_i < self.n_leapfrog - 1 else 0.5
                v = [
                    w + factor * eps * s_ * gg
                    for w, s_, gg in zip(v, scales, g, strict=True)
                ]
            h1 = energy(new, v)
            log_accept = h0 - h1
            # a trajectory that overflowed is rejected
            log_accept = xp.where(
                xp.isnan(log_accept), xp.full_like(log_accept, -math.inf), log_accept
            )
            accept_prob = xp.exp(xp.minimum(log_accept, xp.zeros_like(log_accept)))
        u = self.noise(random_state, "uniform")
        return _select(u < accept_prob, new, state), accept_prob

    def gibbs(self, state, beta, random_state, reverse):
        xp = self.xp
        latents = [xp.asarray(z, copy=True) for z in state.latents]
        p_comp = model_components(
            self.model, self.X_rep, latents, self.binary_vars, total=state.log_p
        )
        q_comp = self.proposal.gibbs_components(latents)
        sweep = _GibbsSweep(self.X_rep, latents, [(beta, p_comp), (1.0 - beta, q_comp)])
        order = self.binary_vars[::-1] if reverse else self.binary_vars
        for v in order:
            d = latents[v - 1].shape[1]
            u = self.noise(random_state, "uniform", d)
            for i in range(d - 1, -1, -1) if reverse else range(d):
                sweep.update(v, i, u[:, i])
        # exact densities at the new point (the sweep's running totals carry
        # rounding from hundreds of updates), on fresh arrays: the layers cache
        # their affine maps by the identity of the parent array, and the sweep
        # changed these in place
        return self.evaluate([xp.asarray(z, copy=True) for z in sweep.values[1:]])

    # -- the path ---------------------------------------------------------------
    def _rows(self, a):
        """(B,) -> per-row mean over chains, (n,)."""
        xp = self.xp
        return xp.mean(xp.reshape(a, (self.n_chains, self.n_rows)), axis=0)

    def forward(self, betas, tuning, random_state, adapt=None):
        """Forward AIS: ``log w`` (K, n) and the mean HMC acceptance per row.

        ``tuning``: the :class:`HMCTuning` of the kernels; or, for the pilot
        run (``adapt`` = the target acceptance), the initial step size, and
        the tuning the pilot arrived at is returned instead of the acceptance.
        """
        xp = self.xp
        betas = [float(b) for b in betas]  # Python floats mix with any namespace
        state = self.start(random_state)
        log_w = xp.zeros_like(state.log_p)
        T = len(betas) - 1
        blocks = _snapshot_index(T)
        accept_sum, n_accept = 0.0, 0
        if adapt is not None:
            step = xp.full(
                (self.n_rows,), float(tuning), dtype=self.dtype, device=self.device
            )
            steps, snapshots, scales = [], [], None
        for t in range(1, T + 1):
            log_w = log_w + (betas[t] - betas[t - 1]) * (state.log_p - state.log_q)
            if t == T:
                break
            beta = float(betas[t])
            if adapt is None:
                kernel = tuning.kernel(t) if tuning is not None else (None, None)
            elif self.continuous:
                if t == 1 or blocks[t - 1] != blocks[t - 2]:
                    scales = self.gradient_scales(state, beta)
                    snapshots.append(scales)
                steps.append(step)
                kernel = (step, scales)
            else:
                kernel = (None, None)
            state, acc = self.transition(state, beta, *kernel, random_state)
            if acc is not None:
                acc_rows = self._rows(acc)
                accept_sum, n_accept = accept_sum + acc_rows, n_accept + 1
                if adapt is not None:
                    step = xp.clip(
                        step * xp.exp(STEP_SIZE_ADAPT_RATE * (acc_rows - adapt)),
                        *STEP_SIZE_BOUNDS,
                    )
        log_w = xp.reshape(log_w, (self.n_chains, self.n_rows))
        if adapt is not None:
            if not (self.continuous and steps):
                return log_w, None
            return log_w, HMCTuning(xp.stack(steps), snapshots, blocks)
        return log_w, (accept_sum / n_accept if n_accept else None)

    def reverse(self, latents, betas, tuning, random_state):
        """Reverse AIS from exact posterior samples: ``log w_rev``, (K, n)."""
        xp = self.xp
        betas = [float(b) for b in betas]
        state = self.evaluate([xp.asarray(z, copy=True) for z in latents])
        log_w = xp.zeros_like(state.log_p)
        T = len(betas) - 1
        for t in range(T, 0, -1):
            log_w = log_w + (betas[t - 1] - betas[t]) * (state.log_p - state.log_q)
            if t > 1:
                kernel = tuning.kernel(t - 1) if tuning is not None else (None, None)
                state, _ = self.transition(
                    state, float(betas[t - 1]), *kernel, random_state, reverse=True
                )
        return xp.reshape(log_w, (self.n_chains, self.n_rows))


def _median(a, axis):
    """Median along ``axis`` (the array API has none: sort and average)."""
    xp = get_namespace(a)
    a = xp.sort(a, axis=axis)
    k = a.shape[axis]
    lo = xp.take(a, xp.asarray([(k - 1) // 2], device=_device(a)), axis=axis)
    hi = xp.take(a, xp.asarray([k // 2], device=_device(a)), axis=axis)
    return xp.squeeze(0.5 * (lo + hi), axis=axis)


def _snapshot_index(n_temperatures):
    """Which preconditioner snapshot each kernel ``t = 1 .. T-1`` uses."""
    t = np.arange(max(n_temperatures - 1, 0))
    blocks = (t * SCALE_SNAPSHOTS) // max(n_temperatures - 1, 1)
    # consecutive numbers 0, 1, ... (fewer kernels than snapshots skip some)
    return np.unique(blocks, return_inverse=True)[1]


@dataclass
class HMCTuning:
    """Step sizes and diagonal preconditioner of the HMC kernels along a path.

    Parameters
    ----------
    steps : array of shape (T - 1, n)
        Step size of kernel ``t`` for each row.
    scales : list of lists of arrays (n, D_l)
        Preconditioner snapshots, one array per continuous latent layer.
    snapshot : ndarray of int, shape (T - 1,)
        The snapshot kernel ``t`` uses.
    """

    steps: object
    scales: list
    snapshot: np.ndarray

    def kernel(self, t):
        """``(step, scales)`` of kernel ``t`` (1-based)."""
        return self.steps[t - 1, ...], self.scales[int(self.snapshot[t - 1])]

    @classmethod
    def constant(cls, step, scales, n_temperatures, like):
        """The same step size (a float) and scales for every kernel."""
        xp = get_namespace(like)
        n_kernels = max(n_temperatures - 1, 1)
        steps = xp.full(
            (n_kernels, like.shape[0]),
            float(step),
            dtype=like.dtype,
            device=_device(like),
        )
        return cls(steps, [scales], np.zeros(n_kernels, dtype=np.int64))


# ---------------------------------------------------------------------------
# the functions the estimators and the benchmarks call


def _run_setup(
    model, X, proposal, schedule, n_chains, random_state, n_leapfrog, n_steps, **kw
):
    """``(random_state, betas, annealer)`` of an AIS run: one generator for the
    whole run (an int would restart the stream at every draw, and the
    kernels would reuse the same noise), the checked schedule, the chains."""
    random_state = check_random_state(random_state)
    betas = check_schedule(schedule)
    annealer = _Annealer(
        model, X, proposal, n_chains, n_leapfrog=n_leapfrog, n_steps=n_steps, **kw
    )
    return random_state, betas, annealer


def tune_hmc(
    model,
    X,
    proposal,
    schedule,
    n_chains,
    random_state,
    *,
    n_leapfrog=1,
    n_steps=1,
    step_size=0.5,
    target_accept=TARGET_ACCEPT,
    shared_noise=False,
):
    """HMC step sizes and preconditioner along the path, from a pilot AIS run.

    The pilot runs forward AIS with its own chains. Every ``(T - 1) /
    SCALE_SNAPSHOTS`` temperatures it sets the preconditioner of each row to
    ``1 / sqrt(mean_k g^2)``, ``g`` the chains' gradients of ``log f_t``
    (see :meth:`_Annealer.gradient_scales`); after each kernel it
    multiplies the step size of each row by
    ``exp(STEP_SIZE_ADAPT_RATE (a_t - target_accept))``, ``a_t`` the
    chains' mean acceptance probability. The pilot's weights are discarded:
    the scored run's kernels then depend on ``x`` and the pilot's random
    numbers only, and its weights stay unbiased. ``shared_noise``: as in
    :func:`annealed_importance_sampling`.

    Returns
    -------
    tuning : HMCTuning or None
        None when the model has no continuous latent layer or ``T == 1``.
    """
    random_state, betas, annealer = _run_setup(
        model,
        X,
        proposal,
        schedule,
        n_chains,
        random_state,
        n_leapfrog,
        n_steps,
        shared_noise=shared_noise,
    )
    if not annealer.continuous or len(betas) < 3:
        return None
    _, tuning = annealer.forward(betas, step_size, random_state, adapt=target_accept)
    return tuning


def annealed_importance_sampling(
    model,
    X,
    proposal,
    schedule,
    n_chains,
    random_state,
    *,
    n_leapfrog=1,
    n_steps=1,
    step_size=0.5,
    target_accept=TARGET_ACCEPT,
    tuning=None,
    shared_noise=False,
):
    """Forward AIS: log-weights ``log w`` (K, n), each unbiased for ``p(x)`` in ``w``.

    Parameters
    ----------
    model : DeepExponentialFamily
    X : array of shape (n, n_features)
    proposal : start distribution (see the module docstring)
    schedule : array-like of shape (T + 1,)
        ``beta_0 = 0 < ... < beta_T = 1``.
    n_chains : int
        ``K`` chains per row.
    random_state : int or RandomState
        One generator serves the whole run (pilot included).
    n_leapfrog : int, default=1
        Leapfrog steps per HMC trajectory (1: MALA).
    n_steps : int, default=1
        Kernels per intermediate temperature.
    step_size : float, default=0.5
        Initial HMC step size of the pilot run, in units of the
        preconditioner's scale; with ``target_accept=None`` the step of
        every kernel, the preconditioner then being the proposal's scales.
    target_accept : float or None, default=0.65
        Acceptance the pilot run (:func:`tune_hmc`) adapts to; None: no pilot.
    tuning : HMCTuning, optional
        The kernels' tuning from an earlier pilot; skips it.
    shared_noise : bool, default=False
        The same noise for chain ``k`` of every row (:meth:`_Annealer.noise`),
        so that a row's estimate does not depend on the other rows of ``X``;
        by default every chain of every row draws its own.

    Returns
    -------
    log_w : array of shape (K, n)
    accept : array of shape (n,) or None
        Mean HMC acceptance probability per row (None without continuous layers).
    tuning : HMCTuning or None
        The tuning used (pass it to the paired reverse run).
    """
    random_state, betas, annealer = _run_setup(
        model,
        X,
        proposal,
        schedule,
        n_chains,
        random_state,
        n_leapfrog,
        n_steps,
        shared_noise=shared_noise,
    )
    T = len(betas) - 1
    if tuning is None and annealer.continuous and T > 1:
        if target_accept is not None:
            tuning = tune_hmc(
                model,
                X,
                proposal,
                betas,
                n_chains,
                random_state,
                n_leapfrog=n_leapfrog,
                n_steps=n_steps,
                step_size=step_size,
                target_accept=target_accept,
                shared_noise=shared_noise,
            )
        else:
            tuning = HMCTuning.constant(step_size, annealer.proposal_scales(), T, X)
    log_w, accept = annealer.forward(betas, tuning, random_state)
    return log_w, accept, tuning


def reverse_annealed_importance_sampling(
    model,
    X,
    latents,
    proposal,
    schedule,
    n_chains,
    random_state,
    *,
    n_leapfrog=1,
    n_steps=1,
    tuning=None,
):
    """Reverse AIS from exact posterior samples: log-weights unbiased for ``1 / p(x)``.

    ``-log mean_k w_rev_k`` is a stochastic upper bound of ``log p(x)``
    (Grosse et al., 2015, Sec. 4). Run with the same ``schedule``,
    ``n_leapfrog``, ``n_steps`` and ``tuning`` as the forward run it is
    paired with; the kernels are reversed here.

    Parameters
    ----------
    model : DeepExponentialFamily
    X : array of shape (n, n_features)
    latents : list of arrays of shape (n, D_l)
        One exact sample of ``p(z | x)`` per row (for simulated data, the
        latents that generated it); all ``K`` chains of a row start there.
    proposal, schedule, n_chains, random_state, n_leapfrog, n_steps
        As for :func:`annealed_importance_sampling`.
    tuning : HMCTuning, optional
        Required when the model has continuous latent layers and ``T > 1``.

    Returns
    -------
    log_w_rev : array of shape (K, n)
    """
    random_state, betas, annealer = _run_setup(
        model, X, proposal, schedule, n_chains, random_state, n_leapfrog, n_steps
    )
    if annealer.continuous and len(betas) > 2 and tuning is None:
        raise ValueError(
            "tuning is required for a model with continuous latent layers: pass "
            "the one of the forward run (annealed_importance_sampling returns it)."
        )
    start = [tile_rows(z, annealer.n_chains) for z in latents]
    return annealer.reverse(start, betas, tuning, random_state)


def summarize_log_weights(log_w):
    """Estimate, standard error and effective sample size of ``log mean_k w_k``.

    Per row, with ``K`` weights: the estimate ``log mean_k w_k``; its
    standard error by the delta method, ``sd(w) / (sqrt(K) mean(w))
    = sqrt((K / ESS - 1) / (K - 1))``; and Kish's effective sample size
    ``ESS = (sum w)^2 / sum w^2`` (between 1 and K).

    Parameters
    ----------
    log_w : array of shape (K, n)

    Returns
    -------
    estimate, stderr, ess : arrays of shape (n,)
        ``stderr`` is NaN when ``K == 1``.
    """
    xp = get_namespace(log_w)
    k = log_w.shape[0]
    log_sum = logsumexp(log_w, axis=0, xp=xp)
    estimate = log_sum - math.log(k)
    finite = xp.isfinite(log_sum)
    safe = xp.where(finite, log_sum, xp.zeros_like(log_sum))
    w = xp.exp(log_w - safe[None, :])  # normalised weights, sum 1 per row
    w = xp.where(xp.isnan(w), xp.zeros_like(w), w)
    sum_sq = xp.sum(w * w, axis=0)
    nan = xp.full_like(estimate, math.nan)
    ess = xp.where(finite & (sum_sq > 0), 1.0 / xp.where(sum_sq > 0, sum_sq, 1.0), nan)
    if k == 1:
        return estimate, nan, ess
    rel_var = xp.maximum(k / ess - 1.0, xp.zeros_like(ess)) / (k - 1)
    return estimate, xp.sqrt(rel_var), ess


def to_host_schedule(schedule, n_temperatures):
    """The schedule a user asked for: an explicit array, else the sigmoidal one."""
    if schedule is None:
        return sigmoid_schedule(n_temperatures)
    return check_schedule(schedule)
