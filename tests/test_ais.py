"""Annealed importance sampling, its reverse run and ``log_likelihood``.

Every estimate is checked against an independent computation: closed-form
log-likelihoods of linear-Gaussian models, enumeration of small sigmoid
belief networks, quadrature for the paper's sparse model
(``sklearn_ddchm.utils._exact``, itself checked against a proposal-free Monte
Carlo estimator here), brute-force conditionals for the Gibbs kernel and
closed-form Gaussian moments for the HMC kernel.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy import special, stats
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_ddchm import (
    DDCHelmholtzEstimator,
    UnreliableScoreWarning,
    log_likelihood,
    make_log_likelihood_scorer,
)
from sklearn_ddchm._ais import (
    PriorProposal,
    _Annealer,
    _GibbsSweep,
    annealed_importance_sampling,
    check_schedule,
    model_components,
    reverse_annealed_importance_sampling,
    sigmoid_schedule,
    summarize_log_weights,
    tile_rows,
)
from sklearn_ddchm._importance import FactorisedProposal, importance_log_weights
from sklearn_ddchm._log_likelihood import LOW_ESS
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.baselines._vimco import LayerwiseBernoulliProposal
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.models import (
    BernoulliLayer,
    BernoulliPrior,
    DeepExponentialFamily,
    GaussianLayer,
    GaussianPrior,
    MixtureOfGaussiansPrior,
)
from sklearn_ddchm.utils import _exact as exact_module
from sklearn_ddchm.utils._array_api import to_numpy
from sklearn_ddchm.utils._exact import (
    enumerated_log_likelihood,
    linear_gaussian_log_likelihood,
    sparse_monte_carlo_log_likelihood,
    sparse_quadrature_log_likelihood,
)

# --------------------------------------------------------------------------
# small models with exact answers


def linear_gaussian(seed=0):
    rng = np.random.RandomState(seed)
    return DeepExponentialFamily(
        [
            GaussianLayer(
                3,
                2,
                weights=rng.randn(3, 2),
                bias=rng.randn(3),
                log_var=np.log([0.2, 0.3, 0.25]),
            ),
            GaussianPrior(2, mean=np.array([0.5, -0.5]), log_var=np.zeros(2)),
        ]
    )


def two_layer_sbn(seed=0, gaussian_obs=False):
    """x (6) <- z_1 (3) <- z_2 (2): 32 latent states, both kinds of factor."""
    rng = np.random.RandomState(seed)
    obs = (
        GaussianLayer(
            6, 3, weights=rng.randn(6, 3), bias=rng.randn(6), log_var=np.zeros(6) - 1
        )
        if gaussian_obs
        else BernoulliLayer(6, 3, weights=2 * rng.randn(6, 3), bias=rng.randn(6))
    )
    return DeepExponentialFamily(
        [
            obs,
            BernoulliLayer(3, 2, weights=2 * rng.randn(3, 2), bias=rng.randn(3)),
            BernoulliPrior(2, logits=rng.randn(2)),
        ]
    )


def all_states(dims):
    n_bits = sum(dims)
    bits = ((np.arange(2**n_bits)[:, None] >> np.arange(n_bits)) & 1).astype(float)
    return [bits[:, sum(dims[:l]) : sum(dims[: l + 1])] for l in range(len(dims))]


def factorised_binary_proposal(n, seed=0):
    rng = np.random.RandomState(seed)
    return FactorisedProposal(
        [rng.uniform(0.05, 0.95, (n, 3)), rng.uniform(0.05, 0.95, (n, 2))],
        [None, None],
        [True, True],
        wide_means=[rng.uniform(0.2, 0.8, (1, 3)), rng.uniform(0.2, 0.8, (1, 2))],
        wide_variances=[None, None],
        defensive=0.3,
    )


def layerwise_proposal(X, seed=0):
    rng = np.random.RandomState(seed)
    recognition = [
        BernoulliLayer(
            3, X.shape[1], weights=rng.randn(3, X.shape[1]), bias=rng.randn(3)
        ),
        BernoulliLayer(2, 3, weights=2 * rng.randn(2, 3), bias=rng.randn(2)),
    ]
    return LayerwiseBernoulliProposal(recognition, X - 0.5)


def assert_matches(result, exact, mean_tol=0.02):
    """The mean error within ``mean_tol`` (or its Monte Carlo error), and each
    row's error of the size its standard error says."""
    err = to_numpy(result.log_likelihood) - exact
    stderr = to_numpy(result.stderr)
    assert abs(np.mean(err)) < max(mean_tol, 3 * result.mean_stderr)
    assert np.sqrt(np.mean((err / stderr) ** 2)) < 1.6


def fitted_at(model, X, **kwargs):
    """A DDC estimator whose generative model is ``model`` (a zero-ish step)."""
    params = dict(
        n_encoding=50,
        n_hidden=100,
        n_sleep_samples=500,
        max_iter=1,
        learning_rate=1e-12,
        random_state=0,
    )
    params.update(kwargs)
    return DDCHelmholtzEstimator(model=model, **params).fit(X)


# --------------------------------------------------------------------------
# schedules


def test_sigmoid_schedule_runs_from_zero_to_one_with_smallest_steps_at_the_ends():
    betas = sigmoid_schedule(100)
    assert betas.shape == (101,)
    assert betas[0] == 0.0 and betas[-1] == 1.0
    steps = np.diff(betas)
    assert np.all(steps > 0)
    np.testing.assert_allclose(betas, 1.0 - betas[::-1], atol=1e-12)
    assert steps[0] < steps[50] / 5 and steps[-1] < steps[50] / 5
    np.testing.assert_array_equal(sigmoid_schedule(1), [0.0, 1.0])


@pytest.mark.parametrize(
    "schedule",
    [[0.0], [0.0, 0.5], [0.1, 1.0], [0.0, 0.6, 0.4, 1.0], [[0.0, 1.0]], "abc"],
)
def test_check_schedule_rejects_what_is_not_a_path_from_zero_to_one(schedule):
    with pytest.raises(ValueError, match="schedule"):
        check_schedule(schedule)


def test_log_likelihood_rejects_a_bad_schedule():
    model = two_layer_sbn()
    X, _ = model.sample(20, random_state=0)
    est = fitted_at(model, X, latent_dims=(3, 2))
    with pytest.raises(ValueError, match="schedule"):
        log_likelihood(est, X, schedule=[0.0, 0.7, 0.5, 1.0])


# --------------------------------------------------------------------------
# the proposals' densities


@pytest.mark.parametrize("kind", ["factorised", "layerwise", "prior"])
def test_proposal_log_prob_at_its_draws_is_the_log_q_it_returned(kind):
    model = two_layer_sbn()
    X, _ = model.sample(5, random_state=0)
    proposal = {
        "factorised": lambda: factorised_binary_proposal(5),
        "layerwise": lambda: layerwise_proposal(X),
        "prior": lambda: PriorProposal(model, 5),
    }[kind]()
    for shared in (True, False):
        latents, log_q = proposal.sample(7, np.random.RandomState(0), shared)
        assert log_q.shape == (7, 5)
        np.testing.assert_allclose(proposal.log_prob(latents), log_q, rtol=1e-12)


@pytest.mark.parametrize("kind", ["factorised", "layerwise", "prior"])
def test_proposal_log_prob_is_normalised(kind):
    """Summed over all 32 states, each row's q is a distribution."""
    model = two_layer_sbn()
    X, _ = model.sample(4, random_state=0)
    proposal = {
        "factorised": lambda: factorised_binary_proposal(4),
        "layerwise": lambda: layerwise_proposal(X),
        "prior": lambda: PriorProposal(model, 4),
    }[kind]()
    states = all_states((3, 2))
    latents = [np.repeat(s, 4, axis=0) for s in states]  # state major, row minor
    total = special.logsumexp(proposal.log_prob(latents), axis=0)
    np.testing.assert_allclose(total, 0.0, atol=1e-12)


def assert_gradient_matches_finite_differences(proposal, latents, h=1e-6):
    """``proposal.grad_log_prob`` against central differences of ``log_prob``."""
    grads = proposal.grad_log_prob(latents)
    for l, z in enumerate(latents):
        for j in range(z.shape[1]):
            up = [v.copy() for v in latents]
            down = [v.copy() for v in latents]
            up[l][:, j] += h
            down[l][:, j] -= h
            fd = (proposal.log_prob(up) - proposal.log_prob(down)).reshape(-1) / (2 * h)
            np.testing.assert_allclose(grads[l][:, j], fd, rtol=1e-6, atol=1e-8)


def test_factorised_proposal_gradient_matches_finite_differences():
    rng = np.random.RandomState(0)
    n = 4
    proposal = FactorisedProposal(
        [rng.randn(n, 2), rng.randn(n, 1)],
        [rng.uniform(0.1, 1.0, (n, 2)), rng.uniform(0.1, 1.0, (n, 1))],
        [False, False],
        wide_means=[rng.randn(1, 2), rng.randn(1, 1)],
        wide_variances=[rng.uniform(1, 3, (1, 2)), rng.uniform(1, 3, (1, 1))],
        defensive=0.2,
    )
    latents = [rng.randn(3 * n, 2), rng.randn(3 * n, 1)]
    assert_gradient_matches_finite_differences(proposal, latents)


def mixture_proposal(n, seed=0):
    """A Student-t layer below a two-component mixture layer (K=2, D=3)."""
    rng = np.random.RandomState(seed)
    pi = rng.dirichlet([1.0, 1.0], size=n)
    comp_means = np.array([[2.0, -1.0, 0.5], [-2.0, 1.0, 3.0]])
    comp_vars = rng.uniform(0.05, 0.3, (2, 3))
    return FactorisedProposal(
        [rng.randn(n, 2), np.zeros((n, 3))],
        [rng.uniform(0.1, 1.0, (n, 2)), np.ones((n, 3))],
        [False, False],
        wide_means=[rng.randn(1, 2), np.zeros((1, 3))],
        wide_variances=[rng.uniform(1, 3, (1, 2)), np.full((1, 3), 4.0)],
        defensive=0.2,
        mixtures=[None, (np.log(pi), comp_means, comp_vars, np.log([[0.3, 0.7]]))],
    )


def test_mixture_proposal_density_against_scipy():
    # an independent computation of the same density, term by term
    n = 4
    proposal = mixture_proposal(n)
    rng = np.random.RandomState(1)
    latents = [rng.randn(5 * n, 2), rng.randn(5 * n, 3)]
    (log_pi, comp_means, comp_vars, wide_log_pi) = proposal.mixtures[1]
    rows = np.tile(np.arange(n), 5)  # importance index major

    def t_logpdf(z, loc, var):
        return stats.t.logpdf(z, 3, loc=loc, scale=np.sqrt(var)).sum(axis=-1)

    def mixture(z, log_w):
        comps = [t_logpdf(z, comp_means[k], comp_vars[k]) for k in range(2)]
        return special.logsumexp(np.stack(comps, axis=-1) + log_w, axis=-1)

    z0, z1 = latents
    post = t_logpdf(z0, proposal.means[0][rows], proposal.variances[0][rows])
    post = post + mixture(z1, log_pi[rows])
    wide = t_logpdf(z0, proposal.wide_means[0], proposal.wide_variances[0])
    wide = wide + mixture(z1, wide_log_pi)
    expected = np.logaddexp(np.log(0.8) + post, np.log(0.2) + wide)
    np.testing.assert_allclose(
        proposal.log_prob(latents).reshape(-1), expected, rtol=1e-12
    )


def test_mixture_proposal_draws_follow_its_weights_and_density():
    n = 3
    proposal = mixture_proposal(n)
    for shared in (True, False):
        latents, log_q = proposal.sample(20_000, np.random.RandomState(0), shared)
        np.testing.assert_allclose(proposal.log_prob(latents), log_q, rtol=1e-12)
        z = latents[1].reshape(20_000, n, 3)
        log_pi, comp_means, _, wide_log_pi = proposal.mixtures[1]
        # share of draws near the first component: 0.8 pi(x) + 0.2 pi_wide
        near_first = np.mean(np.abs(z[..., 0] - comp_means[0, 0]) < 2.0, axis=0)
        expected = 0.8 * np.exp(log_pi[:, 0]) + 0.2 * np.exp(wide_log_pi[0, 0])
        np.testing.assert_allclose(near_first, expected, atol=0.015)
        # each draw sits on one component in every coordinate at once: the
        # components put coordinates 0 and 1 on opposite sides (+2, -1 and -2,
        # +1), so both positive is rare (a Student-t tail, under 9%), where
        # independent per-coordinate choices would give w_0 w_1 of the draws
        both_positive = np.mean((z[..., 0] > 0) & (z[..., 1] > 0), axis=0)
        assert np.all(both_positive < 0.09)
        assert np.all(expected * (1 - expected) > 0.15)  # rows that would tell


def test_mixture_proposal_gradient_and_scales():
    n = 4
    proposal = mixture_proposal(n)
    rng = np.random.RandomState(2)
    latents = [rng.randn(3 * n, 2), rng.randn(3 * n, 3)]
    assert_gradient_matches_finite_differences(proposal, latents)
    log_pi, _, comp_vars, _ = proposal.mixtures[1]
    expected = np.sqrt(np.exp(log_pi) @ comp_vars)
    np.testing.assert_allclose(proposal.scales()[1], expected, rtol=1e-12)
    # adaptive refinement keeps the mixture as it is
    log_w = rng.randn(3, n)
    assert proposal.refined(latents, log_w).mixtures[1] is proposal.mixtures[1]


def test_ddc_proposal_mixes_over_the_top_priors_components():
    X, _, _ = make_sparse_hierarchical(n_samples=400, random_state=0)
    est = DDCHelmholtzEstimator(max_iter=2, random_state=0).fit(X)
    proposal = est._proposal(X[:50])
    assert proposal.mixtures[0] is None
    log_pi, comp_means, comp_vars, wide_log_pi = proposal.mixtures[1]
    prior = est.model_.layers[-1]
    np.testing.assert_allclose(comp_means, prior.params["means"])
    np.testing.assert_allclose(comp_vars, np.exp(prior.params["log_vars"]))
    pi = np.exp(log_pi)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    assert np.all(pi >= 0.05 / 2 - 1e-12)
    # the weights are the DDC expectation of p(k | z): the component the
    # recognition means lean to takes the larger weight
    r_top = est._moments(est._posterior_means(X[:50])[1], 2)[0][:, 0]
    lean = np.sign(r_top) == np.sign(comp_means[:, 0][np.argmax(pi, axis=1)])
    assert np.mean(lean) > 0.9


def test_prior_proposal_gradient_matches_finite_differences():
    model = DeepExponentialFamily(
        [GaussianLayer(3, 2), GaussianLayer(2, 2), GaussianPrior(2)]
    ).initialize(0)
    proposal = PriorProposal(model, 3)
    latents = [np.random.RandomState(1).randn(6, 2) for _ in range(2)]
    assert_gradient_matches_finite_differences(proposal, latents)


# --------------------------------------------------------------------------
# the kernels


def brute_force_log_odds(model, X_rep, latents, proposal, beta, v, i):
    def log_f(values):
        log_q = np.reshape(proposal.log_prob(values), -1)
        return beta * model.log_joint(X_rep, values) + (1 - beta) * log_q

    one = [z.copy() for z in latents]
    zero = [z.copy() for z in latents]
    one[v - 1][:, i] = 1.0
    zero[v - 1][:, i] = 0.0
    return log_f(one) - log_f(zero)


@pytest.mark.parametrize("kind", ["factorised", "layerwise", "prior"])
@pytest.mark.parametrize("gaussian_obs", [False, True])
def test_gibbs_conditionals_match_brute_force(kind, gaussian_obs):
    """Every unit's log-odds under q^(1-beta) p^beta, before and after updates.

    Covers the mixture of two products (the defensive proposal), affine
    proposal factors (the layer-wise proposal), the fast Bernoulli path and
    the generic one (Gaussian observations).
    """
    model = two_layer_sbn(seed=1, gaussian_obs=gaussian_obs)
    n, k, beta = 5, 3, 0.37
    X, _ = model.sample(n, random_state=0)
    proposal = {
        "factorised": lambda: factorised_binary_proposal(n),
        "layerwise": lambda: layerwise_proposal(X),
        "prior": lambda: PriorProposal(model, n),
    }[kind]()
    X_rep = tile_rows(X, k)
    rng = np.random.RandomState(2)
    latents = [(rng.random_sample((k * n, d)) < 0.5).astype(float) for d in (3, 2)]
    log_p = model.log_joint(X_rep, latents)
    sweep = _GibbsSweep(
        X_rep,
        latents,
        [
            (beta, model_components(model, X_rep, latents, [1, 2], total=log_p)),
            (1 - beta, proposal.gibbs_components(latents)),
        ],
    )
    for _ in range(3):
        current = [z.copy() for z in sweep.values[1:]]
        for v, d in ((1, 3), (2, 2)):
            for i in range(d):
                got, _ = sweep.conditional(v, i)
                want = brute_force_log_odds(model, X_rep, current, proposal, beta, v, i)
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        # move some units, so that the caches have to follow
        for v, i in ((1, 0), (2, 1), (1, 2)):
            sweep.update(v, i, rng.random_sample(k * n))


@pytest.mark.parametrize("dtype, scale", [(np.float32, 14.0), (np.float64, 25.0)])
def test_gibbs_conditionals_with_large_weights_in_either_precision(dtype, scale):
    """Weights of SBNs trained on MNIST reach 14. The fast Bernoulli path
    multiplies up to 64 likelihood ratios exp(+-w) before one log (a product
    that passes float32's range, e^88, long before float64's), picks
    exp(w) or exp(-w) per row (a blend e_up + on (e_down - e_up) cancels
    once exp(2|w|) passes 1 / eps) and updates sigmoid(a) multiplicatively
    (a probability falling below eps survives). The sweep's log-odds, before
    and after updates, match the float64 brute force, and no overflow or NaN
    reaches the chains (RuntimeWarnings from the package are errors here)."""
    rng = np.random.RandomState(7)
    model = DeepExponentialFamily(
        [
            BernoulliLayer(
                100, 3, weights=scale * np.sign(rng.randn(100, 3)), bias=rng.randn(100)
            ),
            BernoulliLayer(3, 2, weights=2 * rng.randn(3, 2), bias=rng.randn(3)),
            BernoulliPrior(2, logits=rng.randn(2)),
        ]
    )
    cast_model = model.to(np, dtype=dtype)
    n, k, beta = 4, 3, 0.37
    X, _ = model.sample(n, random_state=0)
    proposal = factorised_binary_proposal(n)
    X_rep = tile_rows(X, k)
    latents = [(rng.random_sample((k * n, d)) < 0.5).astype(float) for d in (3, 2)]
    cast_latents = [z.astype(dtype) for z in latents]
    X_cast = X_rep.astype(dtype)
    sweep = _GibbsSweep(
        X_cast,
        cast_latents,
        [
            (
                beta,
                model_components(
                    cast_model,
                    X_cast,
                    cast_latents,
                    [1, 2],
                    total=cast_model.log_joint(X_cast, cast_latents),
                ),
            ),
            (1 - beta, proposal.gibbs_components(cast_latents)),
        ],
    )
    for _ in range(2):
        current = [z.astype(np.float64) for z in sweep.values[1:]]
        for i in range(3):
            got, _ = sweep.conditional(1, i)
            want = brute_force_log_odds(model, X_rep, current, proposal, beta, 1, i)
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=2e-4)
        for v, i in ((1, 0), (1, 1), (2, 1), (1, 2)):
            sweep.update(v, i, rng.random_sample(k * n).astype(dtype))
        assert all(np.all(np.isfinite(z)) for z in sweep.values)


def test_gibbs_sweeps_leave_the_annealed_distribution_invariant():
    """Exact draws from q^(1-beta) p^beta stay distributed so after a forward and
    a reverse sweep: state frequencies against the enumerated target."""
    model = two_layer_sbn(seed=4)
    X, _ = model.sample(1, random_state=3)
    proposal = factorised_binary_proposal(1, seed=5)
    beta, k = 0.6, 20000
    states = all_states((3, 2))
    log_f = (
        beta * model.log_joint(np.repeat(X, 32, axis=0), states)
        + (1 - beta) * proposal.log_prob(states)[:, 0]
    )
    target = np.exp(log_f - special.logsumexp(log_f))
    rng = np.random.RandomState(0)
    idx = rng.choice(32, size=k, p=target)
    annealer = _Annealer(model, X, proposal, k, n_leapfrog=1, n_steps=1)
    state = annealer.evaluate([s[idx].copy() for s in states])
    for reverse in (False, True):
        state = annealer.gibbs(state, beta, rng, reverse=reverse)
        code = (state.latents[0] @ [1, 2, 4] + 8 * (state.latents[1] @ [1, 2])).astype(
            int
        )
        counts = np.bincount(code, minlength=32)
        # state index in all_states is the same binary code
        chi2 = stats.chisquare(counts, k * target)
        assert chi2.pvalue > 1e-3


@pytest.mark.parametrize("kind", ["factorised", "layerwise", "prior"])
def test_states_after_a_kernel_carry_their_exact_densities(kind):
    """The densities a chain carries are those of its latents, recomputed on
    fresh arrays (the layers cache affine maps by array identity, and a Gibbs
    sweep changes its arrays in place)."""
    model = two_layer_sbn(seed=1)
    X, _ = model.sample(5, random_state=0)
    proposal = {
        "factorised": lambda: factorised_binary_proposal(5),
        "layerwise": lambda: layerwise_proposal(X),
        "prior": lambda: PriorProposal(model, 5),
    }[kind]()
    annealer = _Annealer(model, X, proposal, 4, n_leapfrog=1, n_steps=2)
    state = annealer.start(np.random.RandomState(0))
    for reverse in (False, True):
        state, _ = annealer.transition(
            state, 0.4, None, None, np.random.RandomState(1), reverse=reverse
        )
        fresh = [z.copy() for z in state.latents]
        np.testing.assert_allclose(
            state.log_p, model.log_joint(tile_rows(X, 4), fresh), rtol=1e-12
        )
        np.testing.assert_allclose(
            state.log_q, proposal.log_prob(fresh).reshape(-1), rtol=1e-12
        )


def gaussian_posterior(model, x, beta):
    """Mean and covariance of p(z) p(x | z)^beta (a one-layer linear-Gaussian model)."""
    W = model.layers[0].params["weights"]
    b = model.layers[0].params["bias"]
    v = np.exp(model.layers[0].params["log_var"])
    m0 = model.layers[1].params["mean"]
    P0 = np.diag(np.exp(-model.layers[1].params["log_var"]))
    precision = P0 + beta * W.T @ np.diag(1 / v) @ W
    cov = np.linalg.inv(precision)
    mean = cov @ (P0 @ m0 + beta * W.T @ ((x - b) / v))
    return mean, cov


def test_hmc_and_independence_kernels_leave_the_annealed_distribution_invariant():
    """From exact draws of p(z) p(x|z)^beta (Gaussian), the chains keep its moments."""
    model = linear_gaussian()
    X, _ = model.sample(1, random_state=0)
    beta, k = 0.5, 20000
    mean, cov = gaussian_posterior(model, X[0], beta)
    rng = np.random.RandomState(1)
    z = rng.multivariate_normal(mean, cov, size=k)
    annealer = _Annealer(model, X, PriorProposal(model, 1), k, n_leapfrog=3, n_steps=2)
    state = annealer.evaluate([z])
    scales = [np.sqrt(np.diag(cov))[None, :]]
    state, accept = annealer.transition(state, beta, np.array([0.9]), scales, rng)
    assert 0.3 < float(np.mean(accept)) < 0.99  # the chains did move
    moved = state.latents[0]
    assert np.mean(np.any(moved != z, axis=1)) > 0.3
    se = np.sqrt(np.diag(cov) / k)
    np.testing.assert_array_less(np.abs(moved.mean(0) - mean), 4 * se)
    np.testing.assert_allclose(np.cov(moved.T), cov, rtol=0.06, atol=0.02 * cov.max())


# --------------------------------------------------------------------------
# AIS: exactness against independent computations


def test_an_int_seed_gives_one_stream_of_random_numbers():
    """An int random_state seeds one generator for the run (not one per draw,
    which would give every kernel the same noise and bias the weights)."""
    model = linear_gaussian()
    X, Z = model.sample(3, random_state=0)
    proposal = PriorProposal(model, 3)
    betas = sigmoid_schedule(5)
    seeded, _, tuning = annealed_importance_sampling(model, X, proposal, betas, 4, 7)
    stream, _, _ = annealed_importance_sampling(
        model, X, proposal, betas, 4, np.random.RandomState(7)
    )
    np.testing.assert_array_equal(seeded, stream)
    reverse = reverse_annealed_importance_sampling(
        model, X, Z, proposal, betas, 4, 7, tuning=tuning
    )
    np.testing.assert_array_equal(
        reverse,
        reverse_annealed_importance_sampling(
            model, X, Z, proposal, betas, 4, np.random.RandomState(7), tuning=tuning
        ),
    )


def test_ais_with_one_step_is_importance_sampling():
    model = two_layer_sbn()
    X, _ = model.sample(6, random_state=0)
    proposal = factorised_binary_proposal(6)
    log_w, _, _ = annealed_importance_sampling(
        model, X, proposal, [0.0, 1.0], 8, np.random.RandomState(3)
    )
    want = importance_log_weights(
        model, X, proposal, 8, np.random.RandomState(3), shared_noise=False
    )
    np.testing.assert_allclose(log_w, want, rtol=1e-12)


def test_reverse_ais_with_one_step_is_the_harmonic_mean_weight():
    model = two_layer_sbn()
    X, Z = model.sample(6, random_state=0)
    proposal = factorised_binary_proposal(6)
    log_w = reverse_annealed_importance_sampling(
        model, X, Z, proposal, [0.0, 1.0], 2, np.random.RandomState(0)
    )
    want = proposal.log_prob(Z)[0] - model.log_joint(X, Z)
    np.testing.assert_allclose(log_w, np.stack([want, want]), rtol=1e-12)


def test_ais_matches_the_enumerated_sbn_likelihood_for_every_start():
    model = two_layer_sbn(seed=2)
    X, _ = model.sample(40, random_state=1)
    exact = enumerated_log_likelihood(model, X)
    est = fitted_at(model, X, latent_dims=(3, 2))
    for start in ("proposal", "prior"):
        result = log_likelihood(
            est, X, n_samples=16, n_temperatures=200, start=start, random_state=0
        )
        assert_matches(result, exact)
        assert result.mean_stderr < 0.01


def test_ais_matches_the_closed_form_linear_gaussian_likelihood():
    model = linear_gaussian()
    X, _ = model.sample(40, random_state=1)
    exact = linear_gaussian_log_likelihood(model, X)
    est = fitted_at(model, X, latent_dims=(2,))
    result = log_likelihood(est, X, n_samples=16, n_temperatures=200, random_state=0)
    assert_matches(result, exact)
    assert result.mean_stderr < 0.01
    assert 0.4 < float(np.mean(result.acceptance_rate)) < 0.9


def mixture_under_gaussian(seed=0, n_features=3):
    """x (Gaussian, 3-D) <- z_1 (1-D) under a three-component mixture prior."""
    rng = np.random.RandomState(seed)
    return DeepExponentialFamily(
        [
            GaussianLayer(
                n_features,
                1,
                weights=rng.randn(n_features, 1),
                bias=rng.randn(n_features),
                log_var=np.log(rng.uniform(0.1, 0.5, n_features)),
            ),
            MixtureOfGaussiansPrior(
                1,
                3,
                means=np.array([[-2.5], [0.5], [3.0]]),
                log_vars=np.log([[0.1], [0.4], [0.2]]),
                logits=np.array([0.3, -0.5, 0.1]),
            ),
        ]
    )


def test_closed_form_mixture_likelihood_matches_quadrature():
    """The closed form of a linear-Gaussian chain under a mixture prior
    against p(x) = int p(x | z) p(z) dz on a fine grid of the 1-D latent."""
    model = mixture_under_gaussian()
    X, _ = model.sample(30, random_state=1)
    obs, prior = model.layers
    z = np.linspace(-8.0, 8.0, 40_001)
    log_prior = to_numpy(prior.log_prob(z[:, None]))
    W, b = to_numpy(obs.params["weights"]), to_numpy(obs.params["bias"])
    v = np.exp(to_numpy(obs.params["log_var"]))
    mean = z[:, None] * W[:, 0][None, :] + b  # (grid, D)
    expected = []
    for x in X:
        log_lik = stats.norm.logpdf(x, loc=mean, scale=np.sqrt(v)).sum(axis=1)
        expected.append(special.logsumexp(log_lik + log_prior) + np.log(z[1] - z[0]))
    np.testing.assert_allclose(
        linear_gaussian_log_likelihood(model, X), expected, atol=1e-6
    )
    # restricted to two columns: the marginal of those columns
    expected_cols = []
    for x in X:
        log_lik = stats.norm.logpdf(
            x[[0, 2]], loc=mean[:, [0, 2]], scale=np.sqrt(v[[0, 2]])
        ).sum(axis=1)
        expected_cols.append(
            special.logsumexp(log_lik + log_prior) + np.log(z[1] - z[0])
        )
    np.testing.assert_allclose(
        linear_gaussian_log_likelihood(model, X, features=[0, 2]),
        expected_cols,
        atol=1e-6,
    )


def test_closed_form_one_component_mixture_is_the_gaussian_prior_case():
    model = linear_gaussian()
    prior = model.layers[-1]
    mixture = DeepExponentialFamily(
        [
            *model.layers[:-1],
            MixtureOfGaussiansPrior(
                prior.n_features,
                1,
                means=to_numpy(prior.params["mean"])[None, :],
                log_vars=to_numpy(prior.params["log_var"])[None, :],
                logits=np.zeros(1),
            ),
        ]
    )
    X, _ = model.sample(20, random_state=2)
    np.testing.assert_allclose(
        linear_gaussian_log_likelihood(mixture, X),
        linear_gaussian_log_likelihood(model, X),
        rtol=1e-12,
    )


def test_ais_on_a_model_with_continuous_and_binary_latents_matches_exact():
    """x (Gaussian) <- z_1 (Gaussian) <- z_2 (Bernoulli prior): HMC and Gibbs in
    one kernel. Exact: a sum over the 8 states of z_2 of Gaussian marginals."""
    rng = np.random.RandomState(0)
    model = DeepExponentialFamily(
        [
            GaussianLayer(
                4,
                2,
                weights=rng.randn(4, 2),
                bias=rng.randn(4),
                log_var=np.zeros(4) - 1,
            ),
            GaussianLayer(
                2,
                3,
                weights=2 * rng.randn(2, 3),
                bias=rng.randn(2),
                log_var=np.zeros(2),
            ),
            BernoulliPrior(3, logits=rng.randn(3)),
        ]
    )
    X, _ = model.sample(20, random_state=1)
    obs, mid, prior = model.layers
    W0, b0, v0 = (
        obs.params["weights"],
        obs.params["bias"],
        np.exp(obs.params["log_var"]),
    )
    W1, b1, v1 = (
        mid.params["weights"],
        mid.params["bias"],
        np.exp(mid.params["log_var"]),
    )
    cov = W0 @ np.diag(v1) @ W0.T + np.diag(v0)
    (states,) = all_states((3,))
    log_prior = prior.log_prob(states)
    exact = special.logsumexp(
        [
            lp + stats.multivariate_normal(W0 @ (W1 @ s + b1) + b0, cov).logpdf(X)
            for s, lp in zip(states, log_prior, strict=True)
        ],
        axis=0,
    )
    log_w, accept, _ = annealed_importance_sampling(
        model, X, PriorProposal(model, 20), sigmoid_schedule(200), 16, 0
    )
    estimate, stderr, _ = summarize_log_weights(log_w)
    err = estimate - exact
    assert abs(np.mean(err)) < max(0.02, 3 * np.sqrt(np.sum(stderr**2)) / 20)
    assert np.sqrt(np.mean((err / stderr) ** 2)) < 1.6
    assert 0.4 < np.mean(accept) < 0.9


def test_sparse_model_references_agree():
    """Quadrature against the proposal-free Monte Carlo estimator (REFERENCE Sec. 7)."""
    X, _, model = make_sparse_hierarchical(500, random_state=0)
    X = X[:6]
    quad = sparse_quadrature_log_likelihood(model, X)
    mc = sparse_monte_carlo_log_likelihood(model, X, n_pairs=200_000)
    np.testing.assert_allclose(quad, mc, atol=0.03)
    # refining the quadrature changes nothing that matters
    finer = sparse_quadrature_log_likelihood(model, X, n_hermite=32, panels_per_width=4)
    np.testing.assert_allclose(quad, finer, atol=1e-9)


def test_sparse_quadrature_follows_z2_far_from_its_prior(monkeypatch):
    """A row far off the model's arms pulls z_2 ten prior widths from its
    component's centre: 16 Gauss-Hermite nodes were 23 nats low there. The
    adaptive node count matches a brute-force trapezoid over z_2 (the inner
    integrals as in the quadrature, checked by Monte Carlo above)."""
    _, _, model = make_sparse_hierarchical(10, random_state=0)
    row = np.array([[-0.7, -4.1]])
    got = sparse_quadrature_log_likelihood(model, row)[0]
    m, S, logdet = exact_module._sparse_gaussian_in_z1(model, row)
    B, c = model.layers[1].params["weights"][:, 0], model.layers[1].params["bias"]
    prior = model.layers[2]
    means = prior.params["means"][:, 0]
    sds = np.exp(0.5 * prior.params["log_vars"][:, 0])
    slope = S[0, 1] / S[1, 1]
    grid = np.linspace(-6.0, 6.0, 3001)
    components = zip(means, sds, strict=True)
    log_prior = special.logsumexp(
        [stats.norm(mu, sd).logpdf(grid) + np.log(0.5) for mu, sd in components],
        axis=0,
    )
    log_inner = [
        exact_module._log_inner_integral(
            m[0],
            slope,
            S[0, 0] - slope * S[0, 1],
            np.sqrt(S[1, 1]),
            exact_module._softplus(B[0] * z + c[0]),
            exact_module._softplus(B[1] * z + c[1]),
            2,
        )
        for z in grid
    ]
    brute = special.logsumexp(log_prior + log_inner) + np.log(grid[1] - grid[0])
    np.testing.assert_allclose(got, brute - logdet, atol=1e-6)
    # the fixed 16 nodes of before, for the record
    monkeypatch.setattr(exact_module, "MAX_HERMITE", 16)
    with pytest.warns(RuntimeWarning, match="has not converged"):
        assert sparse_quadrature_log_likelihood(model, row)[0] < got - 20


@pytest.mark.slow
def test_ais_matches_quadrature_on_the_sparse_model_at_its_true_parameters():
    """Where importance sampling is nats off, AIS agrees within its standard error."""
    X, _, model = make_sparse_hierarchical(2000, random_state=0)
    est = fitted_at(model, X, n_encoding=100, n_hidden=200, n_sleep_samples=1000)
    X = X[:8]
    exact = sparse_quadrature_log_likelihood(model, X)
    result = log_likelihood(
        est, X, n_samples=32, n_temperatures=300, n_leapfrog=1, random_state=0
    )
    assert_matches(result, exact, mean_tol=0.1)
    importance = est.score_samples(X) - exact
    assert np.mean(np.abs(result.log_likelihood - exact)) < np.mean(np.abs(importance))


# --------------------------------------------------------------------------
# bidirectional Monte Carlo


@pytest.mark.parametrize(
    "kind, long, max_gap", [("sbn", 100, 0.05), ("gaussian", 300, 0.25)]
)
def test_forward_and_reverse_ais_sandwich_the_exact_likelihood(kind, long, max_gap):
    """Forward AIS is below log p(x), reverse AIS from the simulated latents above,
    both up to Monte Carlo error; more temperatures close the gap."""
    model = two_layer_sbn(seed=3) if kind == "sbn" else linear_gaussian(seed=3)
    X, Z = model.sample(30, random_state=0)
    exact = np.mean(
        enumerated_log_likelihood(model, X)
        if kind == "sbn"
        else linear_gaussian_log_likelihood(model, X)
    )
    proposal = PriorProposal(model, 30)
    gaps = []
    for T in (2, long):
        betas = sigmoid_schedule(T)
        log_w, _, tuning = annealed_importance_sampling(
            model, X, proposal, betas, 8, np.random.RandomState(0)
        )
        log_w_rev = reverse_annealed_importance_sampling(
            model, X, Z, proposal, betas, 8, np.random.RandomState(1), tuning=tuning
        )
        lower, lower_se, _ = summarize_log_weights(log_w)
        upper, upper_se, _ = summarize_log_weights(log_w_rev)
        lower, upper = np.mean(lower), -np.mean(upper)
        lower_se = np.sqrt(np.sum(lower_se**2)) / 30
        upper_se = np.sqrt(np.sum(upper_se**2)) / 30
        assert lower < exact + 3 * lower_se
        assert upper > exact - 3 * upper_se
        gaps.append(upper - lower)
    assert gaps[1] < 0.5 * gaps[0]
    assert gaps[1] < max_gap


def test_reverse_ais_needs_the_forward_tuning_for_continuous_latents():
    model = linear_gaussian()
    X, Z = model.sample(3, random_state=0)
    with pytest.raises(ValueError, match="tuning"):
        reverse_annealed_importance_sampling(
            model, X, Z, PriorProposal(model, 3), sigmoid_schedule(5), 2, 0
        )


# --------------------------------------------------------------------------
# the standard error, reproducibility, backends


def test_standard_error_matches_the_spread_of_independent_runs():
    model = two_layer_sbn(seed=5)
    X, _ = model.sample(12, random_state=0)
    proposal = PriorProposal(model, 12)
    runs, ses = [], []
    for seed in range(30):
        log_w, _, _ = annealed_importance_sampling(
            model, X, proposal, sigmoid_schedule(3), 8, np.random.RandomState(seed)
        )
        estimate, stderr, _ = summarize_log_weights(log_w)
        runs.append(estimate)
        ses.append(stderr)
    spread = np.sqrt(np.mean(np.var(runs, axis=0, ddof=1)))
    claimed = np.sqrt(np.mean(np.square(ses)))
    assert claimed > 0.05  # an informative test: the runs do disagree
    assert 0.7 < spread / claimed < 1.4


def test_summary_of_log_weights_matches_direct_formulas():
    rng = np.random.RandomState(0)
    log_w = rng.randn(10, 4) * 2 - 30
    estimate, stderr, ess = summarize_log_weights(log_w)
    w = np.exp(log_w)
    np.testing.assert_allclose(estimate, np.log(w.mean(0)), rtol=1e-12)
    np.testing.assert_allclose(
        stderr, w.std(0, ddof=1) / np.sqrt(10) / w.mean(0), rtol=1e-10
    )
    np.testing.assert_allclose(ess, w.sum(0) ** 2 / (w**2).sum(0), rtol=1e-12)


def test_log_likelihood_is_reproducible_with_a_fixed_random_state():
    model = linear_gaussian()
    X, _ = model.sample(10, random_state=0)
    est = fitted_at(model, X, latent_dims=(2,))
    first = log_likelihood(est, X, n_samples=4, n_temperatures=10, random_state=3)
    again = log_likelihood(est, X, n_samples=4, n_temperatures=10, random_state=3)
    other = log_likelihood(est, X, n_samples=4, n_temperatures=10, random_state=4)
    np.testing.assert_array_equal(first.log_likelihood, again.log_likelihood)
    np.testing.assert_array_equal(first.stderr, again.stderr)
    assert np.all(first.log_likelihood != other.log_likelihood)
    # None: the estimator's own seed, so two calls agree too
    np.testing.assert_array_equal(
        log_likelihood(est, X, n_samples=4, n_temperatures=10).log_likelihood,
        log_likelihood(est, X, n_samples=4, n_temperatures=10).log_likelihood,
    )


@pytest.mark.parametrize("kind", ["sbn", "gaussian"])
def test_ais_on_backend_matches_numpy(backend, kind):
    """The same host random numbers: the same estimate on every namespace/device."""
    model = two_layer_sbn() if kind == "sbn" else linear_gaussian()
    X, Z = model.sample(4, random_state=0)
    betas = sigmoid_schedule(4)

    def run(xp, device, to):
        m = model.to(xp, device)
        Xb, Zb = to(X), [to(z) for z in Z]
        proposal = PriorProposal(m, 4)
        log_w, _, tuning = annealed_importance_sampling(
            m, Xb, proposal, betas, 3, np.random.RandomState(0)
        )
        log_w_rev = reverse_annealed_importance_sampling(
            m, Xb, Zb, proposal, betas, 3, np.random.RandomState(1), tuning=tuning
        )
        return log_w, log_w_rev

    import array_api_compat.numpy as np_xp

    want = run(np_xp, "cpu", lambda a: a)
    got = run(backend.xp, backend.device, backend.asarray)
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(backend.asarray(np.zeros(1)))
        np.testing.assert_allclose(backend.to_numpy(g), w, rtol=1e-9, atol=1e-9)


def test_log_likelihood_on_backend_returns_arrays_of_that_backend(backend):
    model = two_layer_sbn()
    X, _ = model.sample(30, random_state=0)
    est = DDCHelmholtzEstimator(
        model="sbn",
        latent_dims=(3, 2),
        n_encoding=10,
        n_hidden=10,
        n_sleep_samples=50,
        max_iter=1,
        random_state=0,
    ).fit(backend.asarray(X))
    result = log_likelihood(
        est, backend.asarray(X[:5]), n_samples=3, n_temperatures=4, random_state=0
    )
    ref = DDCHelmholtzEstimator(
        model="sbn",
        latent_dims=(3, 2),
        n_encoding=10,
        n_hidden=10,
        n_sleep_samples=50,
        max_iter=1,
        random_state=0,
    ).fit(X)
    want = log_likelihood(ref, X[:5], n_samples=3, n_temperatures=4, random_state=0)
    for name in ("log_likelihood", "stderr", "ess"):
        got = getattr(result, name)
        assert type(got) is type(backend.asarray(np.zeros(1)))
        np.testing.assert_allclose(
            backend.to_numpy(got), getattr(want, name), rtol=1e-6, atol=1e-8
        )


# --------------------------------------------------------------------------
# every estimator, one estimator of log p(x)


def test_every_estimator_is_scored_by_the_same_ais():
    """DDC-HM, VAE and IWAE (continuous), VIMCO (binary): each start
    distribution anneals to the exact log-likelihood."""
    lg = linear_gaussian(seed=1)
    X, _ = lg.sample(30, random_state=0)
    exact = linear_gaussian_log_likelihood(lg, X)
    for est in (
        fitted_at(lg, X, latent_dims=(2,)),
        VAEEstimator(model=lg, max_iter=2, random_state=0).fit(X),
        IWAEEstimator(model=lg, n_particles=3, max_iter=2, random_state=0).fit(X),
    ):
        result = log_likelihood(
            est, X, n_samples=16, n_temperatures=100, random_state=0
        )
        assert_matches(result, exact, mean_tol=0.05)
    sbn = two_layer_sbn(seed=6)
    Xb, _ = sbn.sample(30, random_state=0)
    vimco = VIMCOEstimator(model=sbn, n_particles=3, max_iter=2, random_state=0).fit(Xb)
    exact = enumerated_log_likelihood(vimco.model_, Xb)
    result = log_likelihood(vimco, Xb, n_samples=16, n_temperatures=100, random_state=0)
    assert_matches(result, exact, mean_tol=0.05)


def test_importance_method_is_score_samples_with_its_uncertainty():
    model = linear_gaussian()
    X, _ = model.sample(20, random_state=0)
    est = fitted_at(model, X, latent_dims=(2,), n_importance=50)
    result = log_likelihood(est, X, method="importance")
    np.testing.assert_array_equal(result.log_likelihood, est.score_samples(X))
    assert result.n_samples == 50 and result.n_temperatures == 1
    assert np.all(result.stderr > 0) and np.all((result.ess >= 1) & (result.ess <= 50))
    assert result.mean == pytest.approx(est.score(X))
    assert result.mean_stderr == pytest.approx(np.sqrt(np.sum(result.stderr**2)) / 20)
    assert "importance" in repr(result)


def sbn_40_10_4():
    """A sigmoid belief network small enough to enumerate (2^14 latent states)
    whose posteriors are sharp enough for a weak proposal to miss modes."""
    rng = np.random.RandomState(3)
    return DeepExponentialFamily(
        [
            BernoulliLayer(40, 10, weights=2 * rng.randn(40, 10), bias=rng.randn(40)),
            BernoulliLayer(10, 4, weights=2 * rng.randn(10, 4), bias=rng.randn(10)),
            BernoulliPrior(4, logits=rng.randn(4)),
        ]
    )


def test_ais_with_shared_noise_gives_each_row_its_estimate_alone():
    """shared_noise: chain k of every row draws the same noise, so a row's
    estimate does not depend on the rows beside it (score_samples' contract:
    scikit-learn checks it on subsets and permutations)."""
    model = two_layer_sbn(seed=4)
    X, _ = model.sample(12, random_state=0)
    est = fitted_at(model, X, latent_dims=(3, 2))
    order = np.random.RandomState(1).permutation(12)

    def ais(rows, shared):
        return est._estimate_log_likelihood(
            rows,
            method="ais",
            caller="test",
            n_samples=4,
            n_temperatures=10,
            shared_noise=shared,
            warn=False,
        ).log_likelihood

    full = ais(X, True)
    np.testing.assert_allclose(ais(X[order], True), full[order], rtol=1e-12)
    np.testing.assert_allclose(ais(X[:5], True), full[:5], rtol=1e-12)
    # without it each row's chains draw their own noise, which depends on
    # the row's position
    assert not np.allclose(ais(X[order], False), ais(X, False)[order])


def test_ais_with_shared_noise_is_unbiased_for_the_enumerated_likelihood():
    """Sharing noise between rows leaves each row's chains independent of one
    another: the mean weight of many chains is p(x) (enumeration)."""
    model = two_layer_sbn(seed=5)
    X, _ = model.sample(6, random_state=0)
    exact = enumerated_log_likelihood(model, X)
    log_w, _, _ = annealed_importance_sampling(
        model,
        X,
        factorised_binary_proposal(6),
        sigmoid_schedule(5),
        4000,
        np.random.RandomState(0),
        shared_noise=True,
    )
    estimate = special.logsumexp(log_w, axis=0) - np.log(4000)
    np.testing.assert_allclose(estimate, exact, atol=0.03)


def test_score_samples_of_binary_latents_mixes_importance_and_ais():
    """For an SBN score_samples is log((p_IS + p_AIS) / 2): the importance
    estimate and AIS with 4 chains over n_importance / 5 temperatures, each
    computed here through log_likelihood's own routes."""
    model = two_layer_sbn(seed=7)
    X, _ = model.sample(15, random_state=0)
    est = fitted_at(model, X, latent_dims=(3, 2), n_importance=40)
    importance = log_likelihood(est, X, method="importance").log_likelihood
    annealed = est._estimate_log_likelihood(
        X,
        method="ais",
        caller="test",
        n_samples=4,
        n_temperatures=8,
        shared_noise=True,
    ).log_likelihood
    want = np.log((np.exp(importance) + np.exp(annealed)) / 2)
    np.testing.assert_allclose(est.score_samples(X), want, rtol=1e-12)
    assert est.score(X) == pytest.approx(np.mean(want))
    # continuous latents: the importance estimate alone
    lg = linear_gaussian()
    Xc, _ = lg.sample(10, random_state=0)
    est = fitted_at(lg, Xc, latent_dims=(2,))
    np.testing.assert_array_equal(
        est.score_samples(Xc),
        log_likelihood(est, Xc, method="importance").log_likelihood,
    )


def test_score_samples_of_binary_latents_finds_modes_the_proposal_misses():
    """Against enumeration: where a weak recognition model (VIMCO after a few
    epochs) makes the 100-draw importance estimate nats too low, the mixture
    with AIS is within a nat; where the proposal is good (DDC-HM at the true
    model) it stays as close as the importance estimate."""
    model = sbn_40_10_4()
    X_train, _ = model.sample(2000, random_state=1)
    X, _ = model.sample(100, random_state=2)
    exact = enumerated_log_likelihood(model, X)
    frozen = model.copy()
    for layer in frozen.layers:
        layer.trainable = ()
    vimco = VIMCOEstimator(
        model=frozen, n_particles=5, max_iter=30, random_state=0
    ).fit(X_train)
    ddc = fitted_at(model, X_train, latent_dims=(10, 4), n_encoding=100, n_hidden=200)
    for est, importance_at_most, mixture_within in (
        (vimco, -2.0, 1.0),
        (ddc, 0.0, 0.2),
    ):
        with warnings.catch_warnings():
            # the weak proposal's degenerate weights are the point here
            warnings.simplefilter("ignore", UnreliableScoreWarning)
            importance = log_likelihood(est, X, method="importance").log_likelihood
        mixture = est.score_samples(X)
        assert np.mean(importance - exact) < importance_at_most
        assert abs(np.mean(mixture - exact)) < mixture_within
        assert (
            np.mean(np.abs(mixture - exact))
            < np.mean(np.abs(importance - exact)) + 0.05
        )


# --------------------------------------------------------------------------
# scorers, validation, warnings


def test_log_likelihood_scorer_works_in_model_selection():
    model = two_layer_sbn()
    X, _ = model.sample(60, random_state=0)
    est = DDCHelmholtzEstimator(
        model="sbn",
        latent_dims=(3, 2),
        n_encoding=10,
        n_hidden=10,
        n_sleep_samples=50,
        max_iter=1,
        random_state=0,
    )
    scorer = make_log_likelihood_scorer(n_samples=2, n_temperatures=3, random_state=0)
    scorer = pickle.loads(pickle.dumps(scorer))  # joblib workers get a copy
    scores = cross_val_score(est, X, scoring=scorer, cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    with pytest.raises(TypeError, match="n_chains"):
        make_log_likelihood_scorer(n_chains=3)


def test_log_likelihood_validates_its_arguments():
    model = two_layer_sbn()
    X, _ = model.sample(20, random_state=0)
    est = fitted_at(model, X, latent_dims=(3, 2))
    with pytest.raises(InvalidParameterError, match="method"):
        log_likelihood(est, X, method="harmonic")
    with pytest.raises(InvalidParameterError, match="n_samples"):
        log_likelihood(est, X, n_samples=0)
    with pytest.raises(TypeError, match="estimator must be"):
        log_likelihood(PCA().fit(X), X)
    with pytest.raises(NotFittedError):
        log_likelihood(DDCHelmholtzEstimator(), X)
    with pytest.raises(ValueError, match="features"):
        log_likelihood(est, X[:, :4])


def test_score_samples_warns_once_when_the_estimate_is_not_finite():
    model = linear_gaussian()
    X, _ = model.sample(20, random_state=0)
    est = fitted_at(model, X, latent_dims=(2,))
    # a zero observation variance: every draw has density 0 (or 0/0)
    est.model_.layers[0].set_params({"log_var": np.full(3, -1e4)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = est.score_samples(X)
    assert not np.any(np.isfinite(values))
    relevant = [w for w in caught if issubclass(w.category, UnreliableScoreWarning)]
    assert len(relevant) == 1
    assert "not finite for 20 of 20 rows" in str(relevant[0].message)
    assert len(caught) == 1  # and no NumPy RuntimeWarning cascade


def test_score_warns_when_the_fit_was_flagged_as_not_sane():
    model = linear_gaussian()
    X, _ = model.sample(20, random_state=0)
    est = fitted_at(model, X, latent_dims=(2,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.score(X)  # a sane fit scores silently
    est._insane_fit = "diverged at epoch 3"
    with pytest.warns(UnreliableScoreWarning, match="diverged at epoch 3"):
        est.score(X)
    with pytest.warns(UnreliableScoreWarning, match="not a converged fit"):
        log_likelihood(est, X, n_samples=2, n_temperatures=2)


def test_log_likelihood_warns_once_when_one_weight_dominates():
    X, _, _ = make_sparse_hierarchical(n_samples=400, random_state=0)
    est = DDCHelmholtzEstimator(max_iter=3, random_state=0).fit(X)
    far = X[:20] * 300  # far outside anything the model generates
    for method, k in (("importance", 100), ("ais", 16)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = log_likelihood(
                est, far, method=method, n_samples=k, n_temperatures=50, random_state=0
            )
        messages = [
            str(w.message)
            for w in caught
            if issubclass(w.category, UnreliableScoreWarning)
        ]
        # the estimate is still returned, with its (near 1) ESS per row
        assert np.median(result.ess) < 1.5 and result.log_likelihood.shape == (20,)
        assert len(messages) == 1, messages
        assert "one weight carries nearly all the mass" in messages[0]
        assert f"of {k})" in messages[0] and "start='prior'" in messages[0]
    # rows like the training data: no such warning; score never checks ESS
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliableScoreWarning)
        log_likelihood(est, X[:20], method="importance", random_state=0)
        est.score(far)
    # a few degenerate rows among good ones warn too, counted, though the
    # median ESS is healthy (the rule looked at the median before)
    mixed = np.concatenate([X[:20], far[:4]])
    with pytest.warns(UnreliableScoreWarning, match="nearly all the mass") as record:
        result = log_likelihood(est, mixed, method="importance", random_state=0)
    low = int(np.sum(result.ess < LOW_ESS))
    assert np.median(result.ess) > 10 * LOW_ESS and 1 <= low <= 4
    assert f"for {low} of 24 rows" in str(record[0].message)
