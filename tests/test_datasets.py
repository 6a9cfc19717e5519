"""Tests of the paper's synthetic sparse hierarchical data (Eq. 13, Fig. 1)."""

import math

import numpy as np
import pytest
from scipy import stats

from sklearn_ddchm.datasets import make_sparse_hierarchical, make_sparse_model
from sklearn_ddchm.models import (
    DeepExponentialFamily,
    GaussianLayer,
    LaplaceLayer,
    MixtureOfGaussiansPrior,
)


def _assert_same_parameters(model_a, model_b):
    pa, pb = model_a.get_parameters(), model_b.get_parameters()
    assert set(pa) == set(pb)
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key])


@pytest.mark.parametrize(
    "n_features, latent_dims",
    [(2, (2, 1)), (4, (3, 2, 1)), (5, (2, 3)), (1, (1, 1))],
)
def test_shapes(n_features, latent_dims):
    X, latents, model = make_sparse_hierarchical(
        n_samples=37, n_features=n_features, latent_dims=latent_dims, random_state=0
    )
    assert isinstance(X, np.ndarray)
    assert X.shape == (37, n_features)
    assert [z.shape for z in latents] == [(37, d) for d in latent_dims]
    assert isinstance(model, DeepExponentialFamily)
    assert model.n_features == n_features
    assert model.latent_dims == tuple(latent_dims)


def test_default_model_structure_is_gaussian_laplace_mixture():
    _, _, model = make_sparse_hierarchical(n_samples=5, random_state=0)
    obs, laplace, prior = model.layers
    assert isinstance(obs, GaussianLayer)
    assert isinstance(laplace, LaplaceLayer)
    assert isinstance(prior, MixtureOfGaussiansPrior)
    assert _all_float64_numpy(model)


def _all_float64_numpy(model):
    return all(
        v.dtype == np.float64 and isinstance(v, np.ndarray)
        for v in model.get_parameters().values()
    )


def test_deterministic_given_random_state():
    X1, lat1, model1 = make_sparse_hierarchical(n_samples=200, random_state=3)
    X2, lat2, model2 = make_sparse_hierarchical(n_samples=200, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    for a, b in zip(lat1, lat2, strict=True):
        np.testing.assert_array_equal(a, b)
    _assert_same_parameters(model1, model2)


def test_different_random_states_give_different_data():
    X1, _, _ = make_sparse_hierarchical(n_samples=50, random_state=0)
    X2, _, _ = make_sparse_hierarchical(n_samples=50, random_state=1)
    assert not np.allclose(X1, X2)


def test_returned_model_is_make_sparse_model_with_same_seed():
    _, _, model = make_sparse_hierarchical(n_samples=10, random_state=5)
    _assert_same_parameters(model, make_sparse_model(random_state=5))


@pytest.mark.parametrize("seed", [0, 7])
def test_resampling_the_model_on_the_same_seed_path_reproduces_the_data(seed):
    X, latents, _ = make_sparse_hierarchical(n_samples=300, random_state=seed)
    rng = np.random.RandomState(seed)
    model = make_sparse_model(random_state=rng)
    X_again, latents_again = model.sample(300, random_state=rng)
    np.testing.assert_array_equal(X_again, X)
    for a, b in zip(latents_again, latents, strict=True):
        np.testing.assert_array_equal(a, b)


def test_parameters_follow_the_documented_recipe():
    m = 3.0
    model = make_sparse_model(m=m, sigma=0.2, noise_variance=0.05, random_state=0)
    obs, laplace, prior = model.layers
    # unit-norm loading columns, orthogonal for two latents on the half circle
    W = obs.params["weights"]
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), 1.0, rtol=1e-12)
    assert abs(W[:, 0] @ W[:, 1]) < 1e-12
    np.testing.assert_allclose(obs.params["bias"], 0.0)
    np.testing.assert_allclose(np.exp(obs.params["log_var"]), 0.05, rtol=1e-12)
    # B = s g m / (3 D_parent), g in [0.8, 1.2], alternating signs; b = -u m / 2
    B = laplace.params["weights"]
    assert np.all(np.abs(B) >= 0.8 * m / 3 - 1e-12)
    assert np.all(np.abs(B) <= 1.2 * m / 3 + 1e-12)
    assert B[0, 0] > 0 > B[1, 0]
    b = laplace.params["bias"]
    assert np.all((-1.5 * m / 2 <= b) & (b <= -0.5 * m / 2))
    assert laplace.loc == 0.0
    # prior: 1/2 N(m, sigma^2) + 1/2 N(-m, sigma^2)
    np.testing.assert_allclose(np.sort(prior.params["means"][:, 0]), [-m, m])
    np.testing.assert_allclose(np.exp(0.5 * prior.params["log_vars"]), 0.2, rtol=1e-12)
    np.testing.assert_allclose(prior.params["logits"][0], prior.params["logits"][1])


def test_top_latent_is_the_symmetric_mixture():
    _, (_, z2), _ = make_sparse_hierarchical(
        n_samples=10_000, m=3.0, sigma=0.1, random_state=0
    )
    z2 = z2[:, 0]
    assert abs(np.mean(z2 > 0) - 0.5) < 5 * math.sqrt(0.25 / z2.size)
    np.testing.assert_allclose(
        np.abs(z2).mean(), 3.0, atol=5 * 0.1 / math.sqrt(z2.size)
    )
    np.testing.assert_allclose((np.abs(z2) - 3.0).std(), 0.1, rtol=0.05)


def test_observations_are_linear_in_z1_plus_small_noise():
    X, (z1, _), model = make_sparse_hierarchical(
        n_samples=10_000, noise_variance=0.01, random_state=0
    )
    residual = X - z1 @ model.layers[0].params["weights"].T
    assert np.all(np.abs(residual.mean(0)) < 5 * 0.1 / 100)
    np.testing.assert_allclose(residual.var(0), 0.01, rtol=0.05)


# --------------------------------------------------------------------------
# The data look like the paper's Fig. 1

FIG1_SEEDS = [0, 1]


@pytest.fixture(params=FIG1_SEEDS, scope="module")
def fig1_data(request):
    return make_sparse_hierarchical(n_samples=10_000, random_state=request.param)


def test_observations_are_heavy_tailed(fig1_data):
    X, _, _ = fig1_data
    assert np.all(stats.kurtosis(X, axis=0) > 1.0)


def test_latent_magnitudes_are_anticorrelated(fig1_data):
    _, (z1, _), _ = fig1_data
    assert np.corrcoef(np.abs(z1[:, 0]), np.abs(z1[:, 1]))[0, 1] < -0.2


def test_one_latent_is_active_at_a_time(fig1_data):
    # sparse: in almost every sample one of the two z1 coordinates is tiny
    _, (z1, _), _ = fig1_data
    small = np.min(np.abs(z1), axis=1)
    assert np.mean(small < 0.1) > 0.9


def test_observations_are_not_gaussian(fig1_data):
    X, _, _ = fig1_data
    assert np.all(stats.normaltest(X, axis=0).pvalue < 1e-10)


# --------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize("n_samples", [0, -5, 2.5, True, "10"])
def test_bad_n_samples_raises(n_samples):
    with pytest.raises(ValueError, match="n_samples"):
        make_sparse_hierarchical(n_samples=n_samples, random_state=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_features": 0}, "n_features"),
        ({"n_features": -1}, "n_features"),
        ({"n_features": 2.0}, "n_features"),
        ({"latent_dims": (2,)}, "latent_dims"),
        ({"latent_dims": ()}, "latent_dims"),
        ({"latent_dims": (2, 0)}, r"latent_dims\[1\]"),
        ({"latent_dims": (-2, 1)}, r"latent_dims\[0\]"),
        ({"m": 0.0}, "m="),
        ({"m": -3.0}, "m="),
        ({"sigma": 0.0}, "sigma"),
        ({"noise_variance": -0.01}, "noise_variance"),
        ({"noise_variance": float("nan")}, "noise_variance"),
    ],
)
def test_bad_model_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_sparse_hierarchical(n_samples=10, random_state=0, **kwargs)
    with pytest.raises(ValueError, match=match):
        make_sparse_model(random_state=0, **kwargs)
