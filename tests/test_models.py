"""Tests of the exponential-family layers, the mixture prior and their stack.

Every quantity is checked against an independent computation: densities
against ``scipy.stats``, gradients against central finite differences of the
layer's own ``log_prob`` (itself checked against SciPy) or of an independently
written log-normaliser, samples against analytic moments, and every backend
of the ``backend`` fixture against NumPy.
"""

import math

import array_api_compat
import array_api_compat.numpy as np_compat
import numpy as np
import pytest
import sklearn
from scipy import special, stats
from sklearn.base import clone

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.models import (
    BernoulliLayer,
    BernoulliPrior,
    DeepExponentialFamily,
    GaussianLayer,
    GaussianPrior,
    LaplaceLayer,
    Layer,
    MixtureOfGaussiansPrior,
)
from sklearn_ddchm.utils._array_api import to_numpy

D, P, K, N = 3, 2, 3, 6  # child dim, parent dim, mixture components, samples

CONDITIONALS = ["gaussian", "laplace", "laplace_loc", "bernoulli"]
PRIORS = ["gaussian_prior", "bernoulli_prior", "mog"]
FAMILIES = CONDITIONALS + PRIORS
EXP_FAMILIES = [f for f in FAMILIES if f != "mog"]
CONTINUOUS = ["gaussian", "laplace", "laplace_loc", "gaussian_prior", "mog"]
BINARY = ["bernoulli", "bernoulli_prior"]


# --------------------------------------------------------------------------
# Random layers and inputs (NumPy, float64)


def make_layer(family, seed=0):
    rng = np.random.RandomState(seed)
    W = rng.standard_normal((D, P))
    b = rng.standard_normal(D)
    if family == "gaussian":
        return GaussianLayer(
            D, P, weights=W, bias=b, log_var=0.5 * rng.standard_normal(D)
        )
    if family == "laplace":
        return LaplaceLayer(D, P, weights=W, bias=b)
    if family == "laplace_loc":
        return LaplaceLayer(D, P, weights=W, bias=b, loc=0.7)
    if family == "bernoulli":
        return BernoulliLayer(D, P, weights=W, bias=b)
    if family == "gaussian_prior":
        return GaussianPrior(D, mean=b, log_var=0.5 * rng.standard_normal(D))
    if family == "bernoulli_prior":
        return BernoulliPrior(D, logits=b)
    if family == "mog":
        return MixtureOfGaussiansPrior(
            D,
            K,
            means=2.0 * rng.standard_normal((K, D)),
            log_vars=0.5 * rng.standard_normal((K, D)),
            logits=rng.standard_normal(K),
        )
    raise ValueError(family)


def make_inputs(family, n=N, seed=1):
    """``(child, parent)`` in the support, continuous children away from kinks."""
    rng = np.random.RandomState(seed)
    parent = None if family in PRIORS else rng.standard_normal((n, P))
    if family in BINARY:
        child = (rng.random_sample((n, D)) < 0.5).astype(np.float64)
    elif family.startswith("laplace"):
        # |child - loc| >= 0.1: central differences never cross the kink at loc.
        loc = 0.7 if family == "laplace_loc" else 0.0
        child = loc + rng.choice([-1.0, 1.0], (n, D)) * (
            0.1 + np.abs(rng.laplace(size=(n, D)))
        )
    else:
        child = 1.5 * rng.standard_normal((n, D))
    return child, parent


def make_weights(n=N, seed=2):
    return np.random.RandomState(seed).uniform(0.2, 2.0, n)


# --------------------------------------------------------------------------
# Independent reference computations from the raw parameters


def ref_activation(family, params, parent, n):
    if family in ("gaussian_prior",):
        return np.broadcast_to(params["mean"], (n, D))
    if family == "bernoulli_prior":
        return np.broadcast_to(params["logits"], (n, D))
    return parent @ params["weights"].T + params["bias"]


def ref_softplus(a):
    return np.logaddexp(0.0, a)


def ref_loc(family):
    return 0.7 if family == "laplace_loc" else 0.0


def ref_log_prob(family, params, child, parent):
    n = child.shape[0]
    if family == "mog":
        pi = np.exp(params["logits"]) / np.exp(params["logits"]).sum()
        sd = np.exp(0.5 * params["log_vars"])
        dens = sum(
            pi[k] * np.prod(stats.norm.pdf(child, params["means"][k], sd[k]), axis=1)
            for k in range(len(pi))
        )
        return np.log(dens)
    a = ref_activation(family, params, parent, n)
    if family.startswith("gaussian"):
        sd = np.exp(0.5 * params["log_var"])
        return stats.norm.logpdf(child, a, sd).sum(axis=1)
    if family.startswith("laplace"):
        return stats.laplace.logpdf(child, ref_loc(family), ref_softplus(a)).sum(axis=1)
    return stats.bernoulli.logpmf(child, special.expit(a)).sum(axis=1)


def ref_log_normalizer(family, params, parent, n):
    """Phi(eta(parent_n)) per sample, written without the library."""
    a = ref_activation(family, params, parent, n)
    if family.startswith("gaussian"):
        v = np.exp(params["log_var"])
        return np.sum(a * a / (2 * v) + 0.5 * np.log(v), axis=1)
    if family.startswith("laplace"):
        return np.sum(np.log(2 * ref_softplus(a)), axis=1)
    return np.sum(ref_softplus(a), axis=1)


def ref_mean_variance(family, params, parent, n):
    if family == "mog":
        pi = np.exp(params["logits"]) / np.exp(params["logits"]).sum()
        mu, v = params["means"], np.exp(params["log_vars"])
        mean = pi @ mu
        var = pi @ (v + mu * mu) - mean**2
        return np.broadcast_to(mean, (n, D)), np.broadcast_to(var, (n, D))
    a = ref_activation(family, params, parent, n)
    if family.startswith("gaussian"):
        return a, np.broadcast_to(np.exp(params["log_var"]), (n, D))
    if family.startswith("laplace"):
        s = ref_softplus(a)
        return np.full((n, D), ref_loc(family)), 2 * s * s
    p = special.expit(a)
    return p, p * (1 - p)


# --------------------------------------------------------------------------
# Finite differences


def finite_difference(f, x, eps=1e-6):
    """Central differences of the scalar function ``f`` at every entry of ``x``."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        g[idx] = (f(up) - f(down)) / (2 * eps)
    return g


def assert_grad_close(g, g_fd, rtol=1e-5, atol=1e-7):
    """Entrywise |g - g_fd| <= rtol (|g| + |g_fd|) + atol (atol above FD rounding)."""
    g = np.asarray(g)
    assert g.shape == g_fd.shape
    err = np.abs(g - g_fd)
    bound = rtol * (np.abs(g) + np.abs(g_fd)) + atol
    assert np.all(err <= bound), f"max error {err.max()}\n{g}\n{g_fd}"


def with_param(layer, name, value):
    return layer.copy().set_params({name: value})


def n_stats(family):
    return 2 * D if family.startswith("gaussian") else D


# --------------------------------------------------------------------------
# log_prob against scipy.stats


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("seed", [0, 1])
def test_log_prob_matches_scipy(family, seed):
    layer = make_layer(family, seed)
    child, parent = make_inputs(family, n=20, seed=seed + 10)
    if family.startswith("laplace"):
        # scipy's laplace.logpdf is log(pdf): -inf once |x - loc| / s > ~745, so
        # draw the children from the layer's own scales to stay in its range.
        s = ref_softplus(ref_activation(family, layer.params, parent, 20))
        child = ref_loc(family) + s * np.random.RandomState(seed).laplace(size=s.shape)
    got = layer.log_prob(child, parent)
    assert got.shape == (20,)
    np.testing.assert_allclose(
        got, ref_log_prob(family, layer.params, child, parent), rtol=1e-10
    )


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_log_prob_terms_of_the_affine_map_sum_to_log_prob(family):
    """``log_prob_terms(child, a)`` with ``a`` from ``affine_parameters``: the
    per-coordinate summands of ``log_prob`` (checked against SciPy above)."""
    layer = make_layer(family)
    child, parent = make_inputs(family, n=20)
    weights, offset = layer.affine_parameters()
    a = ref_activation(family, layer.params, parent, 20)
    if parent is None:
        assert weights is None
        np.testing.assert_array_equal(np.broadcast_to(offset, a.shape), a)
    else:
        np.testing.assert_allclose(parent @ weights.T + offset, a, rtol=1e-12)
    terms = layer.log_prob_terms(child, a)
    assert terms.shape == (20, D)
    np.testing.assert_allclose(
        terms.sum(axis=1), layer.log_prob(child, parent), rtol=1e-12, atol=1e-12
    )


def test_laplace_scale_is_softplus_of_affine_map():
    layer = make_layer("laplace")
    _, parent = make_inputs("laplace")
    expected = np.logaddexp(
        0.0, parent @ layer.params["weights"].T + layer.params["bias"]
    )
    np.testing.assert_allclose(layer.scale(parent), expected, rtol=1e-12)


def test_mog_symmetric_is_the_papers_two_component_prior():
    prior = MixtureOfGaussiansPrior.symmetric(1, m=3.0, sigma=0.1)
    z = np.linspace(-4, 4, 41)[:, None]
    expected = np.log(
        0.5 * stats.norm.pdf(z[:, 0], 3, 0.1) + 0.5 * stats.norm.pdf(z[:, 0], -3, 0.1)
    )
    np.testing.assert_allclose(prior.log_prob(z), expected, rtol=1e-10)


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_log_prob_has_exponential_family_form(family):
    # log p = eta . S(x) - Phi(eta) + log h(x), with Phi computed independently.
    layer = make_layer(family)
    child, parent = make_inputs(family)
    eta = layer.natural_parameters(parent, n_samples=N)
    S = layer.sufficient_statistics(child)
    log_h = -0.5 * D * math.log(2 * math.pi) if family.startswith("gaussian") else 0.0
    expected = (
        np.sum(eta * S, axis=1)
        - ref_log_normalizer(family, layer.params, parent, N)
        + log_h
    )
    np.testing.assert_allclose(layer.log_prob(child, parent), expected, rtol=1e-10)


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_sufficient_statistics_match_definition(family):
    layer = make_layer(family)
    child, _ = make_inputs(family)
    if family.startswith("gaussian"):
        expected = np.concatenate([child, child**2], axis=1)
    elif family.startswith("laplace"):
        expected = np.abs(child - ref_loc(family))
    else:
        expected = child
    np.testing.assert_allclose(layer.sufficient_statistics(child), expected, rtol=1e-14)


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_natural_and_mean_parameters_match_definition(family):
    layer = make_layer(family)
    _, parent = make_inputs(family)
    a = ref_activation(family, layer.params, parent, N)
    if family.startswith("gaussian"):
        v = np.exp(layer.params["log_var"])
        eta = np.concatenate([a / v, np.broadcast_to(-0.5 / v, a.shape)], axis=1)
        mu = np.concatenate([a, a * a + v], axis=1)
    elif family.startswith("laplace"):
        s = ref_softplus(a)
        eta, mu = -1.0 / s, s
    else:
        eta, mu = a, special.expit(a)
    np.testing.assert_allclose(
        layer.natural_parameters(parent, n_samples=N), eta, rtol=1e-12
    )
    np.testing.assert_allclose(
        layer.mean_parameters(parent, n_samples=N), mu, rtol=1e-12
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_mean_and_variance_match_analytic_formulas(family):
    layer = make_layer(family)
    _, parent = make_inputs(family)
    mean, var = ref_mean_variance(family, layer.params, parent, N)
    np.testing.assert_allclose(
        layer.mean(parent, n_samples=N), mean, rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(layer.variance(parent, n_samples=N), var, rtol=1e-12)


# --------------------------------------------------------------------------
# Gradients against finite differences


@pytest.mark.parametrize("family", FAMILIES)
def test_grad_params_matches_finite_differences(family):
    layer = make_layer(family)
    child, parent = make_inputs(family)
    w = make_weights()
    grads = layer.grad_params(child, parent, w)
    assert set(grads) == set(layer.param_names)
    for name, value in layer.params.items():
        g_fd = finite_difference(
            lambda t, name=name: np.sum(
                w * with_param(layer, name, t).log_prob(child, parent)
            ),
            value,
        )
        assert grads[name].shape == value.shape
        assert_grad_close(grads[name], g_fd)


@pytest.mark.parametrize("family", FAMILIES)
def test_grad_params_without_weights_uses_unit_weights(family):
    layer = make_layer(family)
    child, parent = make_inputs(family)
    unweighted = layer.grad_params(child, parent)
    ones = layer.grad_params(child, parent, np.ones(N))
    for name in layer.param_names:
        np.testing.assert_allclose(unweighted[name], ones[name], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_grad_natural_matches_finite_differences(family):
    layer = make_layer(family)
    _, parent = make_inputs(family)
    coef = np.random.RandomState(5).standard_normal((N, n_stats(family)))
    grads = layer.grad_natural(parent, coef)
    for name, value in layer.params.items():
        g_fd = finite_difference(
            lambda t, name=name: np.sum(
                coef
                * with_param(layer, name, t).natural_parameters(parent, n_samples=N)
            ),
            value,
        )
        assert_grad_close(grads[name], g_fd)


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_grad_log_normalizer_matches_finite_differences(family):
    layer = make_layer(family)
    _, parent = make_inputs(family)
    w = make_weights()
    grads = layer.grad_log_normalizer(parent, w)
    for name, value in layer.params.items():

        def phi(t, name=name):
            params = dict(layer.params, **{name: t})
            return np.sum(w * ref_log_normalizer(family, params, parent, N))

        assert_grad_close(grads[name], finite_difference(phi, value))


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_grad_natural_minus_grad_log_normalizer_is_grad_log_prob(family):
    # Eq. 16-17: sum_n w_n dlog p/dtheta = grad_natural(w S) - grad_log_normalizer(w).
    layer = make_layer(family)
    child, parent = make_inputs(family)
    w = make_weights()
    g_nat = layer.grad_natural(parent, w[:, None] * layer.sufficient_statistics(child))
    g_phi = layer.grad_log_normalizer(parent, w)
    for name, value in layer.params.items():
        g_fd = finite_difference(
            lambda t, name=name: np.sum(
                w * with_param(layer, name, t).log_prob(child, parent)
            ),
            value,
        )
        assert_grad_close(g_nat[name] - g_phi[name], g_fd)


@pytest.mark.parametrize("family", EXP_FAMILIES)
def test_grad_natural_minus_log_normalizer_matches_finite_differences(family):
    # the combined form (one product for affine layers) against finite
    # differences of sum_n coef_n . eta_n - w_n Phi_n, with a coef that is not
    # w * S(child) for any child
    layer = make_layer(family)
    _, parent = make_inputs(family)
    coef = np.random.RandomState(6).standard_normal((N, n_stats(family)))
    w = make_weights()
    grads = layer.grad_natural_minus_log_normalizer(parent, coef, w)
    for name, value in layer.params.items():

        def objective(t, name=name):
            params = dict(layer.params, **{name: t})
            eta = with_param(layer, name, t).natural_parameters(parent, n_samples=N)
            return np.sum(coef * eta) - np.sum(
                w * ref_log_normalizer(family, params, parent, N)
            )

        assert_grad_close(grads[name], finite_difference(objective, value))


@pytest.mark.parametrize("family", CONTINUOUS)
def test_grad_child_matches_finite_differences(family):
    layer = make_layer(family)
    child, parent = make_inputs(family)
    g = layer.grad_child(child, parent)
    assert g.shape == child.shape
    assert_grad_close(
        g, finite_difference(lambda x: np.sum(layer.log_prob(x, parent)), child)
    )


@pytest.mark.parametrize("family", BINARY)
def test_bernoulli_grad_child_is_the_logits(family):
    # The derivative of the relaxed density x . a - softplus(a) in x.
    layer = make_layer(family)
    child, parent = make_inputs(family)
    logits = ref_activation(family, layer.params, parent, N)
    np.testing.assert_allclose(layer.grad_child(child, parent), logits, rtol=1e-13)


@pytest.mark.parametrize("family", BINARY)
def test_bernoulli_grad_child_matches_finite_differences_of_relaxed_density(family):
    layer = make_layer(family)
    child, parent = make_inputs(family)
    logits = ref_activation(family, layer.params, parent, N)

    def relaxed(x):
        return np.sum(x * logits - ref_softplus(logits))

    assert_grad_close(
        layer.grad_child(child, parent), finite_difference(relaxed, child)
    )


@pytest.mark.parametrize("family", CONDITIONALS)
def test_grad_parent_matches_finite_differences(family):
    layer = make_layer(family)
    child, parent = make_inputs(family)
    g = layer.grad_parent(child, parent)
    assert g.shape == parent.shape
    assert_grad_close(
        g, finite_difference(lambda p: np.sum(layer.log_prob(child, p)), parent)
    )


# --------------------------------------------------------------------------
# Sample moments (n = 200,000)

N_MC = 200_000


def _assert_moments(x, mean, var):
    """Sample mean and variance within 5 standard errors of ``mean`` and ``var``."""
    n = x.shape[0]
    se_mean = np.sqrt(var / n)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * se_mean), (x.mean(0), mean)
    centred = x - x.mean(0)
    m4 = np.mean(centred**4, axis=0)
    se_var = np.sqrt(np.maximum(m4 - var**2, 0) / n)
    assert np.all(np.abs(x.var(0) - var) < 5 * se_var), (x.var(0), var)


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_moments_match_analytic_mean_and_variance(family):
    layer = make_layer(family, seed=3)
    if family in PRIORS:
        parent = None
    else:
        parent = np.tile(np.random.RandomState(4).standard_normal((1, P)), (N_MC, 1))
    x = layer.sample(parent, n_samples=N_MC, random_state=0)
    assert x.shape == (N_MC, D)
    mean, var = ref_mean_variance(family, layer.params, parent, 1)
    _assert_moments(x, mean[0], var[0])


@pytest.mark.parametrize("family", BINARY)
def test_bernoulli_samples_are_binary(family):
    layer = make_layer(family)
    _, parent = make_inputs(family, n=500)
    x = layer.sample(parent, n_samples=500, random_state=0)
    assert set(np.unique(x)) <= {0.0, 1.0}
    layer.check_child(x)


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_is_deterministic_given_random_state(family):
    layer = make_layer(family)
    _, parent = make_inputs(family)
    a = layer.sample(parent, n_samples=N, random_state=3)
    b = layer.sample(parent, n_samples=N, random_state=3)
    c = layer.sample(parent, n_samples=N, random_state=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def _separated_mog():
    # Components 10 apart: a sample's component is its nearest mean.
    pi = np.array([0.2, 0.5, 0.3])
    return MixtureOfGaussiansPrior(
        1,
        3,
        means=np.array([[-10.0], [0.0], [10.0]]),
        log_vars=2 * np.log(np.array([[0.5], [1.0], [0.8]])),
        logits=np.log(pi) + 0.3,
    ), pi


def test_mog_sample_proportions_match_mixing_weights():
    prior, pi = _separated_mog()
    z = prior.sample(n_samples=N_MC, random_state=0)[:, 0]
    comp = np.argmin(np.abs(z[:, None] - np.array([-10.0, 0.0, 10.0])), axis=1)
    freq = np.bincount(comp, minlength=3) / N_MC
    se = np.sqrt(pi * (1 - pi) / N_MC)
    assert np.all(np.abs(freq - pi) < 5 * se), (freq, pi)


def test_mog_density_integrates_to_one():
    prior, _ = _separated_mog()
    grid = np.linspace(-20, 20, 40_001)
    total = np.trapezoid(np.exp(prior.log_prob(grid[:, None])), grid)
    assert abs(total - 1.0) < 1e-8


def test_mog_density_matches_histogram_of_samples():
    prior, _ = _separated_mog()
    z = prior.sample(n_samples=N_MC, random_state=1)[:, 0]
    edges = np.linspace(-14, 14, 113)
    counts, _ = np.histogram(z, edges)
    expected = np.empty(len(edges) - 1)
    for i in range(len(edges) - 1):
        sub = np.linspace(edges[i], edges[i + 1], 51)
        expected[i] = N_MC * np.trapezoid(np.exp(prior.log_prob(sub[:, None])), sub)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 5)
    assert counts.sum() > N_MC - 5  # next to no mass outside [-14, 14]


def test_mog_single_component_is_gaussian():
    mean, log_var = np.array([0.3, -1.0, 2.0]), np.array([0.1, -0.4, 0.5])
    mog = MixtureOfGaussiansPrior(
        D, 1, means=mean[None], log_vars=log_var[None], logits=np.zeros(1)
    )
    gauss = GaussianPrior(D, mean=mean, log_var=log_var)
    z, _ = make_inputs("mog")
    np.testing.assert_allclose(mog.log_prob(z), gauss.log_prob(z), rtol=1e-12)
    np.testing.assert_allclose(mog.grad_child(z), gauss.grad_child(z), rtol=1e-12)


def test_mog_responsibilities_are_a_posterior_over_components():
    layer = make_layer("mog")
    z, _ = make_inputs("mog")
    params = layer.params
    pi = np.exp(params["logits"]) / np.exp(params["logits"]).sum()
    sd = np.exp(0.5 * params["log_vars"])
    joint = np.stack(
        [
            pi[k] * np.prod(stats.norm.pdf(z, params["means"][k], sd[k]), axis=1)
            for k in range(K)
        ],
        axis=1,
    )
    np.testing.assert_allclose(
        layer.responsibilities(z), joint / joint.sum(1, keepdims=True), rtol=1e-10
    )


# --------------------------------------------------------------------------
# Backends: identical values, namespace, device and dtype


def assert_on_backend(out, backend, dtype=None):
    if backend.name == "numpy":
        assert isinstance(out, np.ndarray)
    else:
        assert array_api_compat.array_namespace(out).__name__ == backend.xp.__name__
        assert array_api_compat.device(out) == backend.device
    if dtype is not None:
        assert out.dtype == dtype


def _call(layer, method, child, parent, coef, weights):
    """Run ``method`` with the given inputs; returns a dict of output arrays."""
    if method == "sample":
        out = layer.sample(parent, n_samples=N, random_state=0)
    elif method == "log_prob":
        out = layer.log_prob(child, parent)
    elif method in ("mean", "variance", "natural_parameters", "mean_parameters"):
        out = getattr(layer, method)(parent, n_samples=N)
    elif method == "sufficient_statistics":
        out = layer.sufficient_statistics(child)
    elif method == "grad_params":
        return layer.grad_params(child, parent, weights)
    elif method == "grad_natural":
        return layer.grad_natural(parent, coef)
    elif method == "grad_log_normalizer":
        return layer.grad_log_normalizer(parent, weights)
    elif method == "grad_child":
        out = layer.grad_child(child, parent)
    else:
        out = layer.grad_parent(child, parent)
    return {"out": out}


METHODS = [
    "sample",
    "log_prob",
    "mean",
    "variance",
    "sufficient_statistics",
    "natural_parameters",
    "mean_parameters",
    "grad_params",
    "grad_natural",
    "grad_log_normalizer",
    "grad_child",
    "grad_parent",
]
EXP_ONLY = {
    "sufficient_statistics",
    "natural_parameters",
    "mean_parameters",
    "grad_natural",
    "grad_log_normalizer",
}

BACKEND_CASES = [
    pytest.param(family, method, id=f"{family}-{method}")
    for family in FAMILIES
    for method in METHODS
    if not (family == "mog" and method in EXP_ONLY)
    and not (family in PRIORS and method == "grad_parent")
]


@pytest.mark.parametrize("family, method", BACKEND_CASES)
def test_layer_method_on_backend_matches_numpy(backend, family, method):
    layer = make_layer(family)
    child, parent = make_inputs(family)
    coef = np.random.RandomState(5).standard_normal((N, n_stats(family)))
    weights = make_weights()
    expected = _call(layer, method, child, parent, coef, weights)

    on_backend = layer.to(backend.xp, backend.device)
    conv = {
        k: None if v is None else backend.asarray(v)
        for k, v in dict(child=child, parent=parent, coef=coef, weights=weights).items()
    }
    got = _call(on_backend, method, **conv)
    assert set(got) == set(expected)
    for key, value in got.items():
        assert_on_backend(value, backend, dtype=backend.xp.float64)
        np.testing.assert_allclose(
            backend.to_numpy(value), expected[key], rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("family", FAMILIES)
def test_layer_to_moves_parameters_to_backend(backend, family):
    layer = make_layer(family)
    moved = layer.to(backend.xp, backend.device)
    for name, value in moved.params.items():
        assert_on_backend(value, backend, dtype=backend.xp.float64)
        np.testing.assert_array_equal(backend.to_numpy(value), layer.params[name])
    assert isinstance(layer.params[layer.param_names[0]], np.ndarray)  # original kept


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_and_log_prob_keep_float32(backend, family):
    layer = make_layer(family).to(backend.xp, backend.device, dtype=backend.xp.float32)
    _, parent = make_inputs(family)
    parent = None if parent is None else backend.asarray(parent, dtype=np.float32)
    x = layer.sample(parent, n_samples=N, random_state=0)
    assert_on_backend(x, backend, dtype=backend.xp.float32)
    lp = layer.log_prob(x, parent)
    assert_on_backend(lp, backend, dtype=backend.xp.float32)
    # float32 values agree with the float64 computation to float32 precision.
    ref = make_layer(family).log_prob(
        backend.to_numpy(x).astype(np.float64),
        None if parent is None else backend.to_numpy(parent).astype(np.float64),
    )
    np.testing.assert_allclose(backend.to_numpy(lp), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_grad_params_keeps_float32(backend, family):
    layer = make_layer(family).to(backend.xp, backend.device, dtype=backend.xp.float32)
    child, parent = make_inputs(family)
    parent = None if parent is None else backend.asarray(parent, dtype=np.float32)
    grads = layer.grad_params(backend.asarray(child, dtype=np.float32), parent)
    for value in grads.values():
        assert_on_backend(value, backend, dtype=backend.xp.float32)


@pytest.mark.parametrize("family", FAMILIES)
def test_float32_sample_is_float64_sample_rounded(backend, family):
    # The host draw is shared: float32 samples are the float64 ones to float32
    # precision (Bernoulli ones may flip only where u is within 1e-7 of p).
    layer = make_layer(family)
    _, parent = make_inputs(family)
    x64 = layer.sample(parent, n_samples=N, random_state=0)
    layer32 = layer.to(backend.xp, backend.device, dtype=backend.xp.float32)
    parent32 = None if parent is None else backend.asarray(parent, dtype=np.float32)
    x32 = backend.to_numpy(layer32.sample(parent32, n_samples=N, random_state=0))
    np.testing.assert_allclose(x32, x64, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------
# DeepExponentialFamily


def make_model(kind="laplace", seed=0):
    """A random 3-layer model: ``laplace`` = Gaussian / Laplace / MoG (the
    paper's structure), ``sbn`` = Bernoulli / Gaussian / Gaussian prior."""
    rng = np.random.RandomState(seed)
    if kind == "laplace":
        layers = [
            GaussianLayer(
                3,
                2,
                weights=rng.standard_normal((3, 2)),
                bias=rng.standard_normal(3),
                log_var=0.3 * rng.standard_normal(3),
            ),
            LaplaceLayer(
                2, 2, weights=rng.standard_normal((2, 2)), bias=rng.standard_normal(2)
            ),
            MixtureOfGaussiansPrior(
                2,
                2,
                means=rng.standard_normal((2, 2)),
                log_vars=0.3 * rng.standard_normal((2, 2)),
                logits=rng.standard_normal(2),
            ),
        ]
    else:
        layers = [
            BernoulliLayer(
                4, 3, weights=rng.standard_normal((4, 3)), bias=rng.standard_normal(4)
            ),
            GaussianLayer(
                3,
                2,
                weights=rng.standard_normal((3, 2)),
                bias=rng.standard_normal(3),
                log_var=0.3 * rng.standard_normal(3),
            ),
            GaussianPrior(
                2, mean=rng.standard_normal(2), log_var=0.3 * rng.standard_normal(2)
            ),
        ]
    return DeepExponentialFamily(layers)


def make_model_inputs(kind="laplace", n=N, seed=1):
    """``(X, [z1, z2])`` with Laplace latents away from their kink at 0."""
    rng = np.random.RandomState(seed)
    z2 = rng.standard_normal((n, 2))
    if kind == "laplace":
        z1 = rng.choice([-1.0, 1.0], (n, 2)) * (0.1 + np.abs(rng.laplace(size=(n, 2))))
        X = rng.standard_normal((n, 3))
    else:
        z1 = rng.standard_normal((n, 3))
        X = (rng.random_sample((n, 4)) < 0.5).astype(np.float64)
    return X, [z1, z2]


MODEL_KINDS = ["laplace", "sbn"]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_model_sample_shapes(kind):
    model = make_model(kind)
    X, latents = model.sample(11, random_state=0)
    assert X.shape == (11, model.n_features)
    assert [z.shape for z in latents] == [(11, d) for d in model.latent_dims]
    assert model.n_latent_layers == 2


def test_model_sample_is_ancestral_with_one_shared_random_state():
    model = make_model("laplace")
    X, (z1, z2) = model.sample(5, random_state=0)
    rng = np.random.RandomState(0)
    z2_ref = model.layers[2].sample(n_samples=5, random_state=rng)
    z1_ref = model.layers[1].sample(z2_ref, random_state=rng)
    X_ref = model.layers[0].sample(z1_ref, random_state=rng)
    np.testing.assert_array_equal(z2, z2_ref)
    np.testing.assert_array_equal(z1, z1_ref)
    np.testing.assert_array_equal(X, X_ref)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_log_joint_is_sum_of_layer_log_probs(kind):
    model = make_model(kind)
    X, (z1, z2) = make_model_inputs(kind)
    # each layer's log density written out with scipy.stats
    l0, l1, l2 = model.layers
    if kind == "laplace":
        expected = (
            stats.norm.logpdf(
                X,
                z1 @ l0.params["weights"].T + l0.params["bias"],
                np.exp(0.5 * l0.params["log_var"]),
            ).sum(1)
            + stats.laplace.logpdf(
                z1, 0.0, ref_softplus(z2 @ l1.params["weights"].T + l1.params["bias"])
            ).sum(1)
            + special.logsumexp(
                np.stack(
                    [
                        special.log_softmax(l2.params["logits"])[k]
                        + stats.norm.logpdf(
                            z2,
                            l2.params["means"][k],
                            np.exp(0.5 * l2.params["log_vars"][k]),
                        ).sum(1)
                        for k in range(2)
                    ],
                    axis=1,
                ),
                axis=1,
            )
        )
    else:
        expected = (
            stats.bernoulli.logpmf(
                X, special.expit(z1 @ l0.params["weights"].T + l0.params["bias"])
            ).sum(1)
            + stats.norm.logpdf(
                z1,
                z2 @ l1.params["weights"].T + l1.params["bias"],
                np.exp(0.5 * l1.params["log_var"]),
            ).sum(1)
            + stats.norm.logpdf(
                z2, l2.params["mean"], np.exp(0.5 * l2.params["log_var"])
            ).sum(1)
        )
    np.testing.assert_allclose(model.log_joint(X, [z1, z2]), expected, rtol=1e-10)


def test_log_joint_rejects_wrong_number_of_latents():
    model = make_model("laplace")
    X, (z1, _) = make_model_inputs("laplace")
    with pytest.raises(ValueError, match="latents must hold 2 arrays"):
        model.log_joint(X, [z1])


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_grad_latents_matches_finite_differences_of_log_joint(kind):
    model = make_model(kind)
    X, latents = make_model_inputs(kind)
    grads = model.grad_latents(X, latents)
    assert len(grads) == 2
    for l, z in enumerate(latents):

        def f(t, l=l):
            zs = list(latents)
            zs[l] = t
            return np.sum(model.log_joint(X, zs))

        assert_grad_close(grads[l], finite_difference(f, z))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_grad_parameters_matches_finite_differences_of_log_joint(kind):
    model = make_model(kind)
    X, latents = make_model_inputs(kind)
    w = make_weights()
    grads = model.grad_parameters(X, latents, w)
    params = model.get_parameters()
    assert set(grads) == set(params)
    for key, value in params.items():

        def f(t, key=key):
            return np.sum(
                w * model.copy().set_parameters({key: t}).log_joint(X, latents)
            )

        assert_grad_close(grads[key], finite_difference(f, value))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_model_on_backend_matches_numpy(backend, kind):
    model = make_model(kind)
    X, latents = make_model_inputs(kind)
    w = make_weights()
    moved = model.to(backend.xp, backend.device)
    Xb = backend.asarray(X)
    latents_b = [backend.asarray(z) for z in latents]

    Xs, zs = model.sample(N, random_state=0)
    Xs_b, zs_b = moved.sample(N, random_state=0)
    pairs = [(Xs_b, Xs), *zip(zs_b, zs, strict=True)]
    pairs.append((moved.log_joint(Xb, latents_b), model.log_joint(X, latents)))
    pairs += list(
        zip(
            moved.grad_latents(Xb, latents_b),
            model.grad_latents(X, latents),
            strict=True,
        )
    )
    g_b = moved.grad_parameters(Xb, latents_b, backend.asarray(w))
    g = model.grad_parameters(X, latents, w)
    pairs += [(g_b[k], g[k]) for k in g]
    for got, expected in pairs:
        assert_on_backend(got, backend, dtype=backend.xp.float64)
        np.testing.assert_allclose(
            backend.to_numpy(got), expected, rtol=1e-12, atol=1e-12
        )


def test_model_to_float32_samples_in_float32(backend):
    model = make_model("laplace").to(
        backend.xp, backend.device, dtype=backend.xp.float32
    )
    X, latents = model.sample(N, random_state=0)
    for a in [X, *latents, model.log_joint(X, latents)]:
        assert_on_backend(a, backend, dtype=backend.xp.float32)


def test_get_parameters_keys_and_values():
    model = make_model("laplace")
    params = model.get_parameters()
    assert set(params) == {
        "layer0.weights",
        "layer0.bias",
        "layer0.log_var",
        "layer1.weights",
        "layer1.bias",
        "layer2.means",
        "layer2.log_vars",
        "layer2.logits",
    }
    assert params["layer1.bias"] is model.layers[1].params["bias"]


def test_set_parameters_round_trips():
    model = make_model("laplace")
    new = {k: v + 1.0 for k, v in model.get_parameters().items()}
    assert model.set_parameters(new) is model
    for key, value in model.get_parameters().items():
        np.testing.assert_array_equal(value, new[key])


def test_copy_is_independent_of_original():
    model = make_model("laplace")
    before = {k: v.copy() for k, v in model.get_parameters().items()}
    clone = model.copy()
    clone.set_parameters({"layer0.bias": np.zeros(3)})
    clone.get_parameters()["layer1.weights"][0, 0] = 123.0  # in-place on the copy
    for key, value in model.get_parameters().items():
        np.testing.assert_array_equal(value, before[key])
    assert clone.get_parameters()["layer1.weights"][0, 0] == 123.0


def test_layer_copy_is_independent_of_original():
    layer = make_layer("gaussian")
    before = layer.params["bias"].copy()
    clone = layer.copy()
    clone.params["bias"][0] = 99.0
    np.testing.assert_array_equal(layer.params["bias"], before)


def test_copy_on_backend_keeps_namespace_and_device(backend):
    model = make_model("laplace").to(backend.xp, backend.device)
    for value in model.copy().get_parameters().values():
        assert_on_backend(value, backend)


def test_model_moves_to_numpy_and_copies_with_dispatch_off(backend):
    """A GPU-fitted model comes back to the host with ``to``, and copies,
    whether or not array-API dispatch is on (a CuPy model's ``to(numpy)``
    outside the dispatch context raised CuPy's implicit-conversion
    TypeError)."""
    model = make_model("laplace")
    moved = model.to(backend.xp, backend.device)
    with sklearn.config_context(array_api_dispatch=False):
        host = moved.to(np_compat, "cpu")
        twin = moved.copy()
    for key, value in model.get_parameters().items():
        assert isinstance(host.get_parameters()[key], np.ndarray)
        np.testing.assert_array_equal(host.get_parameters()[key], value)
        assert_on_backend(twin.get_parameters()[key], backend)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("layer0.foo", np.zeros(3), "foo"),
        ("layer7.bias", np.zeros(3), "layer7.bias"),
        ("bias", np.zeros(3), "bias"),
        ("layer0.bias", np.zeros(4), "bias"),
        ("layer0.weights", np.zeros((2, 3)), "weights"),
        ("layer0.bias", np.array([0.0, np.nan, 0.0]), "bias"),
        ("layer2.logits", np.array([np.inf, 0.0]), "logits"),
    ],
    ids=[
        "unknown-name",
        "no-such-layer",
        "no-layer-prefix",
        "bad-shape",
        "transposed",
        "nan",
        "inf",
    ],
)
def test_set_parameters_rejects_bad_values_naming_the_parameter(key, value, match):
    model = make_model("laplace")
    with pytest.raises(ValueError, match=match):
        model.set_parameters({key: value})


def test_set_parameters_does_not_change_model_on_bad_value():
    model = make_model("laplace")
    before = model.layers[0].params["bias"].copy()
    with pytest.raises(ValueError):
        model.set_parameters({"layer0.bias": np.array([1.0, np.nan, 1.0])})
    np.testing.assert_array_equal(model.layers[0].params["bias"], before)


def test_set_parameters_is_all_or_nothing_across_layers():
    model = make_model("laplace")
    before = {k: v.copy() for k, v in model.get_parameters().items()}
    with pytest.raises(ValueError, match="logits"):
        model.set_parameters(
            {"layer0.bias": np.zeros(3), "layer2.logits": np.array([np.nan, 0.0])}
        )
    for key, value in model.get_parameters().items():
        np.testing.assert_array_equal(value, before[key])


def test_set_parameters_keeps_other_parameters_of_the_layer():
    model = make_model("laplace")
    weights = model.layers[0].params["weights"]
    model.set_parameters({"layer0.bias": np.zeros(3)})
    assert model.layers[0].params["weights"] is weights
    np.testing.assert_array_equal(model.layers[0].params["bias"], np.zeros(3))


def test_model_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="n_features"):
        DeepExponentialFamily([GaussianLayer(3, 2), GaussianPrior(4)])


def test_model_rejects_prior_that_is_not_last():
    with pytest.raises(ValueError, match="prior"):
        DeepExponentialFamily([GaussianLayer(3, 2), GaussianPrior(2), GaussianPrior(2)])


def test_model_rejects_prior_first():
    with pytest.raises(ValueError, match="prior"):
        DeepExponentialFamily([GaussianPrior(3), GaussianLayer(3, 2), GaussianPrior(2)])


def test_model_rejects_last_layer_that_is_not_a_prior():
    with pytest.raises(ValueError, match="must be a prior"):
        DeepExponentialFamily([GaussianLayer(3, 2), GaussianLayer(2, 1)])


def test_model_rejects_fewer_than_two_layers():
    with pytest.raises(ValueError, match="at least 2 layers"):
        DeepExponentialFamily([GaussianPrior(2)])


def test_model_rejects_non_layer():
    with pytest.raises(TypeError, match="Layer"):
        DeepExponentialFamily([GaussianLayer(3, 2), "prior"])


def test_model_initialize_is_deterministic_and_fills_every_layer():
    def fresh():
        return DeepExponentialFamily(
            [GaussianLayer(3, 2), LaplaceLayer(2, 1), MixtureOfGaussiansPrior(1)]
        )

    a, b = fresh().initialize(random_state=0), fresh().initialize(random_state=0)
    assert a.is_initialized
    pa, pb = a.get_parameters(), b.get_parameters()
    assert set(pa) == set(pb)
    for key in pa:
        assert pa[key].shape == pb[key].shape
        np.testing.assert_array_equal(pa[key], pb[key])


def test_trainable_parameters_excludes_fixed_mixture_prior():
    model = make_model("laplace")
    assert set(model.trainable_parameters()) == {
        "layer0.weights",
        "layer0.bias",
        "layer0.log_var",
        "layer1.weights",
        "layer1.bias",
    }


# --------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("family", BINARY)
@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, np.nan])
def test_bernoulli_check_child_rejects_non_binary(family, bad):
    layer = make_layer(family)
    child, _ = make_inputs(family)
    child[2, 1] = bad
    with pytest.raises(ValueError, match="binary"):
        layer.check_child(child)


@pytest.mark.parametrize("family", BINARY)
def test_bernoulli_check_child_accepts_binary(family):
    layer = make_layer(family)
    layer.check_child(make_inputs(family)[0])


@pytest.mark.parametrize("family", ["gaussian", "gaussian_prior", "laplace", "mog"])
def test_continuous_check_child_accepts_real_values(family):
    make_layer(family).check_child(make_inputs(family)[0])


@pytest.mark.parametrize(
    "build",
    [
        lambda: GaussianLayer(0, 2),
        lambda: GaussianLayer(-3, 2),
        lambda: GaussianLayer(3, -1),
        lambda: GaussianLayer(3, 0),
        lambda: GaussianPrior(0),
        lambda: LaplaceLayer(-1, 2),
        lambda: LaplaceLayer(2, 0),
        lambda: BernoulliLayer(0, 2),
        lambda: BernoulliLayer(2, 0),
        lambda: BernoulliPrior(-2),
        lambda: MixtureOfGaussiansPrior(0),
        lambda: MixtureOfGaussiansPrior(2, 0),
    ],
    ids=[
        "gauss-0",
        "gauss-neg",
        "gauss-neg-parent",
        "gauss-no-parent",
        "gprior-0",
        "laplace-neg",
        "laplace-no-parent",
        "bern-0",
        "bern-no-parent",
        "bprior-neg",
        "mog-0",
        "mog-0-components",
    ],
)
def test_nonpositive_dimensions_raise(build):
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize("sigma", [0.0, -0.1, np.nan])
def test_mog_symmetric_rejects_nonpositive_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        MixtureOfGaussiansPrior.symmetric(sigma=sigma)


def test_partial_parameters_raise():
    with pytest.raises(ValueError, match="missing"):
        GaussianLayer(3, 2, weights=np.zeros((3, 2)))


def test_unknown_trainable_name_raises():
    with pytest.raises(ValueError, match="trainable"):
        GaussianLayer(3, 2, trainable=["weights", "scale"])


def test_constructor_rejects_wrong_parameter_shape():
    with pytest.raises(ValueError, match="weights"):
        GaussianLayer(
            3, 2, weights=np.zeros((2, 3)), bias=np.zeros(3), log_var=np.zeros(3)
        )


def test_prior_rejects_parent():
    layer = make_layer("gaussian_prior")
    with pytest.raises(ValueError, match="prior"):
        layer.log_prob(np.zeros((2, D)), np.zeros((2, P)))


def test_conditional_requires_parent():
    layer = make_layer("gaussian")
    with pytest.raises(ValueError, match="parent"):
        layer.log_prob(np.zeros((2, D)))


def test_uninitialized_layer_raises_helpful_error():
    with pytest.raises(ValueError, match="initialize"):
        GaussianLayer(3, 2).log_prob(np.zeros((2, 3)), np.zeros((2, 2)))


@pytest.mark.parametrize("family", FAMILIES)
def test_initialize_gives_finite_parameters_of_the_right_shape(family):
    layer = make_layer(family)
    fresh = type(layer).__new__(type(layer))
    fresh.__dict__.update(layer.__dict__)
    fresh.params = {}
    fresh.initialize(random_state=0)
    assert fresh.params.keys() == layer.param_shapes().keys()
    for name, value in fresh.params.items():
        assert value.shape == layer.param_shapes()[name]
        assert np.all(np.isfinite(value))


def test_laplace_initialize_gives_requested_scale_at_zero_parent():
    layer = LaplaceLayer(3, 2).initialize(random_state=0, scale=0.4)
    np.testing.assert_allclose(layer.scale(np.zeros((1, 2))), 0.4, rtol=1e-12)


def test_layers_are_layer_instances():
    for family in FAMILIES:
        assert isinstance(make_layer(family), Layer)


def test_gaussian_initialize_from_data_is_the_ppca_fit(backend):
    """PPCA start: model mean = data mean, model covariance = the PPCA fit of X."""
    rng = np.random.RandomState(20)
    W = rng.randn(6, 2)
    X = rng.randn(3000, 2) @ W.T + 0.3 * rng.randn(3000, 6) + 5.0
    parent = rng.laplace(size=(3000, 2)) * np.array([3.0, 0.5]) + 1.0
    layer = GaussianLayer(6, 2).initialize(rng)
    layer = layer.to(backend.xp, backend.device)
    Xb, Pb = backend.asarray(X), backend.asarray(parent)
    layer.initialize_from_data(Xb, Pb, random_state=0)
    weights = backend.to_numpy(layer.params["weights"])
    bias = backend.to_numpy(layer.params["bias"])
    var = np.exp(backend.to_numpy(layer.params["log_var"]))
    model_mean = weights @ parent.mean(0) + bias
    np.testing.assert_allclose(model_mean, X.mean(0), atol=1e-8)
    model_cov = weights @ np.diag(parent.var(0)) @ weights.T + np.diag(var)
    data_cov = np.cov(X.T)
    # the two principal directions exactly, the rest as per-feature noise
    lam, U = np.linalg.eigh(data_cov)
    top = U[:, -2:]
    np.testing.assert_allclose(
        top.T @ model_cov @ top, top.T @ data_cov @ top, rtol=1e-3, atol=1e-3
    )
    np.testing.assert_allclose(np.diag(model_cov), np.diag(data_cov), rtol=0.05)


def test_gaussian_initialize_from_data_rotation_is_random_within_the_subspace():
    rng = np.random.RandomState(21)
    X = rng.randn(500, 5) @ rng.randn(5, 5)
    parent = rng.randn(500, 3)
    a = GaussianLayer(5, 3).initialize(rng).initialize_from_data(X, parent, 0)
    b = GaussianLayer(5, 3).initialize(rng).initialize_from_data(X, parent, 1)
    wa, wb = a.params["weights"], b.params["weights"]
    assert not np.allclose(wa, wb)
    # different axes, the same model covariance W diag(Var(parent)) W^T
    d = np.diag(parent.var(0))
    np.testing.assert_allclose(wa @ d @ wa.T, wb @ d @ wb.T, atol=1e-8)


def test_gaussian_initialize_from_data_is_the_same_whatever_signs_linalg_picks(
    monkeypatch,
):
    """eigh's eigenvectors are defined up to sign and QR's factors up to the
    signs of R's diagonal; LAPACK and cuSOLVER pick differently, and CuPy's
    starts (so its fits) differed from NumPy's. A namespace whose eigh and
    QR return the other signs must give NumPy's start, and a fit from it
    NumPy's model."""
    xp = pytest.importorskip("array_api_strict")
    eigh, qr = xp.linalg.eigh, xp.linalg.qr

    def alternate(n):
        return xp.asarray((-1.0) ** np.arange(n))

    def eigh_other_signs(a):
        values, vectors = result = eigh(a)
        return type(result)(values, vectors * alternate(a.shape[-1]))

    def qr_other_signs(a, **kwargs):
        q, r = result = qr(a, **kwargs)
        s = alternate(q.shape[-1])
        return type(result)(q * s, s[:, None] * r)

    rng = np.random.RandomState(24)
    X = rng.randn(400, 6) @ rng.randn(6, 6) + 2.0
    parent = rng.laplace(size=(400, 3))
    layer = GaussianLayer(6, 3).initialize(0)
    want = layer.copy().initialize_from_data(X, parent, random_state=0).params
    est = DDCHelmholtzEstimator(
        model="gaussian", latent_dims=(3, 2), max_iter=1, random_state=0
    )
    want_fit = clone(est).fit(X).model_.get_parameters()
    monkeypatch.setattr(xp.linalg, "eigh", eigh_other_signs)
    monkeypatch.setattr(xp.linalg, "qr", qr_other_signs)
    with sklearn.config_context(array_api_dispatch=True):
        got = layer.to(xp, xp.Device("CPU_DEVICE")).initialize_from_data(
            xp.asarray(X), xp.asarray(parent), random_state=0
        )
        got_fit = clone(est).fit(xp.asarray(X)).model_.get_parameters()
    for name, value in want.items():
        np.testing.assert_allclose(to_numpy(got.params[name]), value, rtol=1e-12)
    for name, value in want_fit.items():
        np.testing.assert_allclose(to_numpy(got_fit[name]), value, rtol=1e-8)


def test_bernoulli_initialize_from_data_matches_the_data_means():
    rng = np.random.RandomState(22)
    X = (rng.rand(400, 6) < np.linspace(0.05, 0.9, 6)).astype(float)
    X[:, 0] = 0.0  # a unit that is never on gets a finite bias
    parent = (rng.rand(400, 3) < 0.4).astype(float)
    layer = BernoulliLayer(6, 3).initialize(rng)
    layer.initialize_from_data(X, parent)
    logits = layer.params["weights"] @ parent.mean(0) + layer.params["bias"]
    p = 1 / (1 + np.exp(-logits))
    expected = np.clip(X.mean(0), 1 / 402, 1 - 1 / 402)
    np.testing.assert_allclose(p, expected, rtol=1e-10)


def test_deep_model_initialize_from_data_changes_only_the_observation_layer():
    model = DeepExponentialFamily(
        [GaussianLayer(4, 2), LaplaceLayer(2, 1), GaussianPrior(1)]
    ).initialize(0)
    before = model.copy()
    X = np.random.RandomState(23).randn(300, 4) * 7.0 + 3.0
    model.initialize_from_data(X, random_state=0)
    for i in (1, 2):
        for k, v in before.layers[i].params.items():
            np.testing.assert_array_equal(model.layers[i].params[k], v)
    samples, _ = model.sample(4000, random_state=1)
    # the first samples cover the data: same mean and overall spread
    np.testing.assert_allclose(samples.mean(0), X.mean(0), atol=0.5)
    np.testing.assert_allclose(samples.std(), X.std(), rtol=0.15)


@pytest.mark.parametrize("family", FAMILIES)
def test_parent_statistic_carries_every_child_parent_interaction(family):
    """log p(x | z) = t(x) . z + f(x) + g(z): the mixed second difference of
    log p over two children and two parents is (t(x1) - t(x2)) . (z1 - z2),
    checked on the layer's own log_prob (itself checked against SciPy)."""
    layer = make_layer(family)
    child, parent = make_inputs(family, n=4)
    t = layer.parent_statistic(child)
    if family not in ("gaussian", "bernoulli"):
        assert t is None  # no parent, or |x - W z - b| does not split
        return
    assert t.shape == (4, P)
    x1, x2, z1, z2 = child[:2], child[2:], parent[:2], parent[2:]
    mixed = (
        layer.log_prob(x1, z1)
        - layer.log_prob(x1, z2)
        - layer.log_prob(x2, z1)
        + layer.log_prob(x2, z2)
    )
    np.testing.assert_allclose(mixed, np.sum((t[:2] - t[2:]) * (z1 - z2), axis=1))
