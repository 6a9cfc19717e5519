"""The linear-Gaussian scoring proposal (``sklearn_ddchm._linear_proposal``).

Each piece against an independent computation: the posterior and marginal
against conditioning the joint Gaussian with dense linear algebra and
``scipy.stats.multivariate_normal``; the Student-t density against
``scipy.stats.multivariate_t``; the proposal's density against a direct
mixture of scipy densities; its draws against their moments; its gradient
against finite differences; the scores it gives against closed-form
log-likelihoods (linear-Gaussian chains, a Gaussian mixture prior).
"""

import array_api_compat.numpy as np_compat
import numpy as np
import pytest
import sklearn
from scipy import optimize, special, stats
from test_ais import (
    assert_gradient_matches_finite_differences,
    assert_matches,
    fitted_at,
)
from test_baselines import gaussian_model

from sklearn_ddchm import DDCHelmholtzEstimator, log_likelihood
from sklearn_ddchm import _linear_proposal as linear_proposal_module
from sklearn_ddchm._importance import (
    MIXTURE_FLOOR,
    FactorisedProposal,
    importance_gradient,
)
from sklearn_ddchm._linear_proposal import (
    LINEAR_DF,
    RECOGNITION_SHARE,
    LinearGaussianProposal,
    linear_gaussian_posterior,
    linear_gaussian_proposal,
    multivariate_t_logpdf,
    stand_in_variance,
)
from sklearn_ddchm.baselines import IWAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.models import (
    DeepExponentialFamily,
    GaussianLayer,
    LaplaceLayer,
    MixtureOfGaussiansPrior,
)
from sklearn_ddchm.utils._array_api import to_numpy
from sklearn_ddchm.utils._exact import (
    linear_gaussian_log_likelihood,
    linear_gaussian_marginal,
    sparse_posterior_gradient,
    sparse_quadrature_log_likelihood,
)


def random_linear_gaussian(rng, n_features=5, d=3):
    W = rng.randn(n_features, d)
    b = rng.randn(n_features)
    psi = rng.uniform(0.1, 0.5, n_features)
    m = rng.randn(d)
    v = rng.uniform(0.3, 2.0, d)
    return W, b, psi, m, v


def test_posterior_and_marginal_match_conditioning_the_joint_gaussian():
    rng = np.random.RandomState(0)
    W, b, psi, m, v = random_linear_gaussian(rng)
    X = rng.randn(4, 5) * 2
    mean, colour, whiten, log_det, log_marg = linear_gaussian_posterior(
        X, W, b, psi, m, v
    )
    # the joint of (z, x) and the textbook conditioning formulas, densely
    V = np.diag(v)
    S_xx = W @ V @ W.T + np.diag(psi)
    S_zx = V @ W.T
    gain = S_zx @ np.linalg.inv(S_xx)
    cov = V - gain @ S_zx.T
    np.testing.assert_allclose(mean, m + (X - W @ m - b) @ gain.T, rtol=1e-10)
    np.testing.assert_allclose(colour.T @ colour, cov, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(colour @ whiten, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(log_det, np.linalg.slogdet(cov)[1], rtol=1e-10)
    exact = stats.multivariate_normal(W @ m + b, S_xx).logpdf(X)
    np.testing.assert_allclose(log_marg, exact, rtol=1e-10)


def test_posterior_with_a_prior_per_row_matches_conditioning_each_row():
    """A prior variance per row: every output of each row equals the joint
    Gaussian's conditioning with that row's prior (dense)."""
    rng = np.random.RandomState(4)
    W, b, psi, _, _ = random_linear_gaussian(rng)
    X = rng.randn(4, 5) * 2
    m = rng.randn(3)
    v = rng.uniform(0.3, 2.0, (4, 3))
    mean, colour, whiten, log_det, log_marg = linear_gaussian_posterior(
        X, W, b, psi, m, v
    )
    assert colour.shape == whiten.shape == (4, 3, 3) and log_det.shape == (4,)
    for r in range(4):
        V = np.diag(v[r])
        S_xx = W @ V @ W.T + np.diag(psi)
        gain = V @ W.T @ np.linalg.inv(S_xx)
        cov = V - gain @ W @ V
        np.testing.assert_allclose(mean[r], m + gain @ (X[r] - W @ m - b), rtol=1e-10)
        np.testing.assert_allclose(colour[r].T @ colour[r], cov, atol=1e-12)
        np.testing.assert_allclose(colour[r] @ whiten[r], np.eye(3), atol=1e-12)
        np.testing.assert_allclose(log_det[r], np.linalg.slogdet(cov)[1], rtol=1e-10)
        exact = stats.multivariate_normal(W @ m + b, S_xx).logpdf(X[r])
        np.testing.assert_allclose(log_marg[r], exact, rtol=1e-10)


def test_multivariate_t_density_against_scipy():
    rng = np.random.RandomState(1)
    A = rng.randn(4, 4)
    S = A @ A.T + np.eye(4)
    mu = rng.randn(4)
    z = rng.randn(6, 4) * 3
    diff = z - mu
    delta = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(S), diff)
    for df in (1, 3, 7.5):
        ours = multivariate_t_logpdf(delta, np.linalg.slogdet(S)[1], 4, df)
        np.testing.assert_allclose(
            ours, stats.multivariate_t(mu, S, df=df).logpdf(z), rtol=1e-10
        )


def coupled_proposal(n=3, seed=0, fallback=True, per_row=False):
    """Two components for z_1 (D=3) coupled with z_2's (D=2), defended; with
    ``per_row`` a scale matrix per component and row (as below a mixture
    prior, where the stand-in is matched per row)."""
    rng = np.random.RandomState(seed)
    C, d, d2 = 2, 3, 2
    colours, whitens, log_dets = [], [], []
    for _ in range(C):
        factors = []
        for _ in range(n if per_row else 1):
            A = rng.randn(d, d)
            S = A @ A.T + 0.5 * np.eye(d)
            L = np.linalg.cholesky(np.linalg.inv(S))  # precision = L L^T
            factors.append((np.linalg.inv(L), L, np.linalg.slogdet(S)[1]))
        if not per_row:
            factors = factors[0]
        else:
            factors = [np.stack(f) for f in zip(*factors, strict=True)]
        colours.append(factors[0])
        whitens.append(factors[1])
        log_dets.append(factors[2])
    pi = rng.dirichlet([1.0, 1.0], size=n)
    parent = (np.array([[3.0, -3.0], [-3.0, 3.0]]), rng.uniform(0.01, 0.1, (C, d2)))
    rec = None
    if fallback:
        rec = FactorisedProposal(
            [rng.randn(n, d), rng.randn(n, d2)],
            [rng.uniform(0.2, 1.0, (n, d)), rng.uniform(0.2, 1.0, (n, d2))],
            [False, False],
            wide_means=[np.zeros((1, d)), np.zeros((1, d2))],
            wide_variances=[np.full((1, d), 4.0), np.full((1, d2), 9.0)],
        )
    return LinearGaussianProposal(
        np.log(pi),
        rng.randn(C, n, d),
        np.stack(colours),
        np.stack(whitens),
        np.array(log_dets),
        parent=parent,
        fallback=rec,
    )


def scale_matrix(q, c, r):
    """``S_c`` of row ``r``: shared by the rows, or the row's own."""
    colour = q.colours[c] if q.colours.ndim == 3 else q.colours[c, r]
    return colour.T @ colour


@pytest.mark.parametrize("per_row", [False, True])
def test_proposal_density_is_the_mixture_of_scipy_densities(per_row):
    q = coupled_proposal(per_row=per_row)
    rng = np.random.RandomState(2)
    n = 3
    z1, z2 = rng.randn(5 * n, 3), 3 * rng.randn(5 * n, 2)
    rows = np.tile(np.arange(n), 5)
    expected = np.empty(5 * n)
    p_means, p_vars = q.parent
    for i in range(5 * n):
        r = rows[i]
        terms = []
        for c in range(2):
            S = scale_matrix(q, c, r)
            t1 = stats.multivariate_t(q.means[c, r], S, df=LINEAR_DF).logpdf(z1[i])
            t2 = stats.t(3, p_means[c], np.sqrt(p_vars[c])).logpdf(z2[i]).sum()
            terms.append(q.log_weights[r, c] + t1 + t2)
        lin = special.logsumexp(terms)
        rec = q.fallback.log_prob(
            [z1[i : i + 1 * 1].repeat(n, 0), z2[i : i + 1].repeat(n, 0)]
        )
        expected[i] = np.logaddexp(
            np.log1p(-RECOGNITION_SHARE) + lin, np.log(RECOGNITION_SHARE) + rec[0, r]
        )
    np.testing.assert_allclose(q.log_prob([z1, z2]).reshape(-1), expected, rtol=1e-10)


@pytest.mark.parametrize("per_row", [False, True])
def test_proposal_draws_carry_their_density_and_follow_the_components(per_row):
    q = coupled_proposal(fallback=False, per_row=per_row)
    for shared in (True, False):
        latents, log_q = q.sample(5, np.random.RandomState(0), shared)
        np.testing.assert_allclose(q.log_prob(latents), log_q, rtol=1e-12)
    k = 20_000
    (z1, z2), _ = q.sample(k, np.random.RandomState(1), shared_noise=False)
    z1, z2 = z1.reshape(k, 3, 3), z2.reshape(k, 3, 2)
    pi = np.exp(q.log_weights)
    # z_2 tells the component (centres at +-3, widths <= 0.3)
    first = z2[:, :, 0] > 0
    np.testing.assert_allclose(first.mean(axis=0), pi[:, 0], atol=0.015)
    for c, sel in enumerate((first, ~first)):
        for r in range(3):
            draws = z1[sel[:, r], r]
            # Student-t: covariance df / (df - 2) S
            se = np.sqrt(
                LINEAR_DF
                / (LINEAR_DF - 2)
                * np.diag(scale_matrix(q, c, r))
                / len(draws)
            )
            assert np.all(np.abs(draws.mean(axis=0) - q.means[c, r]) < 5 * se)
            assert np.all(np.abs(np.median(draws, axis=0) - q.means[c, r]) < 5 * se)


@pytest.mark.parametrize("per_row", [False, True])
def test_proposal_gradient_matches_finite_differences_and_scales(per_row):
    q = coupled_proposal(per_row=per_row)
    rng = np.random.RandomState(3)
    latents = [rng.randn(4 * 3, 3), rng.randn(4 * 3, 2) * 3]
    assert_gradient_matches_finite_differences(q, latents)
    s1, s2 = q.scales()
    pi = np.exp(q.log_weights)
    expected = [
        sum(pi[r, c] * np.diag(scale_matrix(q, c, r)) for c in range(2))
        for r in range(3)
    ]
    np.testing.assert_allclose(s1**2, np.stack(expected))
    np.testing.assert_allclose(s2**2, pi @ q.parent[1])


def test_refined_keeps_the_linear_part_and_refines_the_recognition():
    q = coupled_proposal()
    latents, log_q = q.sample(50, np.random.RandomState(4))
    log_w = -log_q  # any weights
    r = q.refined(latents, log_w)
    assert r.means is q.means and r.colours is q.colours
    assert r.fallback is not q.fallback
    latents, log_q = r.sample(5, np.random.RandomState(5))
    np.testing.assert_allclose(r.log_prob(latents), log_q, rtol=1e-12)


# --------------------------------------------------------------------------
# scores against closed forms


@pytest.mark.parametrize("dims", [(3,), (3, 2), (3, 2, 2)])
def test_scores_of_linear_gaussian_chains_match_the_closed_form(dims):
    """One layer: the proposal is the posterior itself; deeper: the posterior
    of z_1 under its marginal moments, the layers above from the DDC."""
    model = gaussian_model(len(dims), n_features=6, latent_dims=dims)
    X, _ = model.sample(30, random_state=1)
    exact = linear_gaussian_log_likelihood(model, X)
    # deeper: the DDC's upper layers widen the weights' spread, and 1,000 of
    # them left a bias of -0.07 to +0.05 nat per row over four fit seeds at
    # (3, 2, 2) (-0.10 to +0.06 with the statistic units; 4,000: -0.05 to +0.02)
    n_importance = 1000 if len(dims) == 1 else 4000
    est = fitted_at(model, X, latent_dims=dims, n_importance=n_importance)
    assert isinstance(est._scoring_proposal(X[:2]), LinearGaussianProposal)
    err = est.score_samples(X) - exact
    # one layer: 1000 weights of second moment ~1.05 (the same for every row)
    assert abs(err.mean()) < (0.03 if len(dims) == 1 else 0.1)
    latents, _ = est._scoring_proposal(X[:3]).sample(2, np.random.RandomState(0))
    assert_gradient_matches_finite_differences(est._scoring_proposal(X[:3]), latents)
    result = log_likelihood(est, X, n_samples=16, n_temperatures=200, random_state=0)
    assert_matches(result, exact)


@pytest.mark.parametrize("latent_dims", [(2,), (3, 2)])
def test_linear_gaussian_marginal_matches_many_draws(latent_dims):
    """The marginal's mean and covariance against the sample moments of
    200,000 draws of the same chain (a high-sample oracle; the prior's mean
    and variances not 0 and 1), and the log-likelihood against SciPy's
    Gaussian density with them."""
    model = gaussian_model(3, n_features=4, latent_dims=latent_dims)
    mean, cov = linear_gaussian_marginal(model)
    X, _ = model.sample(200_000, random_state=4)
    X = np.asarray(X)
    np.testing.assert_allclose(X.mean(axis=0), mean, atol=0.02 * np.sqrt(cov.max()))
    assert np.allclose(np.cov(X.T), cov, atol=0.03 * np.abs(cov).max())
    np.testing.assert_allclose(
        linear_gaussian_log_likelihood(model, X[:50]),
        stats.multivariate_normal(mean, cov).logpdf(X[:50]),
        rtol=1e-10,
    )


def test_linear_gaussian_log_likelihood_of_a_subset_of_features():
    """``features=`` gives the marginal of those columns: the full
    log-likelihood of the model whose observation layer keeps only their
    rows (the features left out are integrated out)."""
    model = gaussian_model(3, n_features=6, latent_dims=(3, 2))
    X, _ = model.sample(20, random_state=2)
    features = np.array([4, 0, 2])
    obs = model.layers[0].params
    kept = DeepExponentialFamily(
        [
            GaussianLayer(
                3,
                3,
                weights=obs["weights"][features],
                bias=obs["bias"][features],
                log_var=obs["log_var"][features],
            ),
            *model.layers[1:],
        ]
    )
    np.testing.assert_allclose(
        linear_gaussian_log_likelihood(model, X, features=features),
        linear_gaussian_log_likelihood(kept, X[:, features]),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        linear_gaussian_log_likelihood(model, X, features=np.arange(6)),
        linear_gaussian_log_likelihood(model, X),
        rtol=1e-12,
    )


def test_score_of_a_gaussian_mixture_prior_matches_the_closed_form():
    """z_1 under a two-component mixture: log p(x) is a mixture of Gaussians."""
    rng = np.random.RandomState(5)
    W, b, psi = rng.randn(4, 2), rng.randn(4), rng.uniform(0.05, 0.2, 4)
    prior = MixtureOfGaussiansPrior.symmetric(2, m=3.0, sigma=0.5)
    model = DeepExponentialFamily(
        [GaussianLayer(4, 2, weights=W, bias=b, log_var=np.log(psi)), prior]
    )
    model.initialize(random_state=0)
    X, _ = model.sample(30, random_state=1)
    log_pi, means, variances = prior.components()
    exact = special.logsumexp(
        [
            log_pi[k]
            + stats.multivariate_normal(
                W @ means[k] + b, W @ np.diag(variances[k]) @ W.T + np.diag(psi)
            ).logpdf(X)
            for k in range(2)
        ],
        axis=0,
    )
    est = fitted_at(model, X, latent_dims=(2,), n_importance=1000)
    q = est._scoring_proposal(X)
    # the components' weights are the exact p(k | x), floored
    post = np.exp(
        [
            log_pi[k]
            + stats.multivariate_normal(
                W @ means[k] + b, W @ np.diag(variances[k]) @ W.T + np.diag(psi)
            ).logpdf(X)
            - exact
            for k in range(2)
        ]
    ).T
    np.testing.assert_allclose(
        np.exp(q.log_weights), (1 - MIXTURE_FLOOR) * post + MIXTURE_FLOOR / 2
    )
    assert abs((est.score_samples(X) - exact).mean()) < 0.02


def sparse_model(rng, n_features=8, dims=(4, 2)):
    return DeepExponentialFamily(
        [
            GaussianLayer(
                n_features,
                dims[0],
                weights=rng.randn(n_features, dims[0]),
                bias=np.zeros(n_features),
                log_var=np.full(n_features, np.log(0.05)),
            ),
            LaplaceLayer(
                dims[0], dims[1], weights=rng.randn(*dims) * 0.5, bias=np.zeros(dims[0])
            ),
            MixtureOfGaussiansPrior.symmetric(dims[1], m=3.0, sigma=0.1),
        ]
    )


def test_sparse_model_couples_z1_with_the_components_of_z2(monkeypatch):
    # rounds enough for the stand-in's fixed point (the default stops early)
    monkeypatch.setattr(linear_proposal_module, "STAND_IN_ROUNDS", 50)
    rng = np.random.RandomState(6)
    model = sparse_model(rng)
    model.initialize(random_state=0)
    X, _ = model.sample(20, random_state=1)
    est = fitted_at(model, X, latent_dims=(4, 2))
    q = est._scoring_proposal(X)
    assert isinstance(q, LinearGaussianProposal)
    laplace, mixture = model.layers[1], model.layers[2]
    _, p_means, p_vars = mixture.components()
    np.testing.assert_array_equal(q.parent[0], p_means)
    # each component's stand-in prior for z_1: per row and coordinate, the
    # Laplace variance 2 s^2 at its centre, or s |mu| where the stand-in
    # posterior's mean mu lies further out than 2 s (tail-matched)
    W = model.layers[0].params["weights"]
    psi = np.exp(model.layers[0].params["log_var"])
    matched_rows = 0
    for c in range(2):
        s = np.sqrt(laplace.variance(p_means[c : c + 1])[0] / 2)
        for row in range(X.shape[0]):
            mean = q.means[c, row]
            v = np.maximum(2 * s**2, s * np.abs(mean))
            cov = np.linalg.inv(W.T @ np.diag(1 / psi) @ W + np.diag(1 / v))
            # the stand-in posterior's covariance, and its mean a fixed point
            np.testing.assert_allclose(
                q.colours[c, row].T @ q.colours[c, row], cov, rtol=1e-8
            )
            np.testing.assert_allclose(
                cov @ (W.T @ ((X[row] - model.layers[0].params["bias"]) / psi)),
                mean,
                rtol=1e-8,
            )
            matched_rows += np.any(np.abs(mean) > 2 * s)
    assert matched_rows > 0  # the test covers both cases
    # averaged with the recognition's weights of z_2's components
    assert q.fallback is not None and q.fallback.mixtures[1] is not None
    latents, log_q = q.sample(10, np.random.RandomState(0))
    assert np.all(np.isfinite(log_q))


def test_stand_in_variance_of_laplace_and_gaussian_layers():
    """Laplace: ``max(2 s^2, s |z - loc|)`` in closed form (the conditional's
    own variance at and near ``loc``); Gaussian: its variance wherever ``z``
    is."""
    rng = np.random.RandomState(3)
    parent = rng.randn(6, 2)
    laplace = LaplaceLayer(3, 2, loc=0.5).initialize(random_state=0)
    z = 0.5 + rng.randn(6, 3) * np.array([0.01, 1.0, 10.0])
    z[0, 0] = 0.5  # at the location the slope is 0: keep the own variance
    s = laplace.scale(parent)
    own = laplace.variance(parent)
    np.testing.assert_allclose(own, 2 * s**2)
    got = stand_in_variance(laplace, z, parent, own)
    np.testing.assert_allclose(got, np.maximum(2 * s**2, s * np.abs(z - 0.5)))
    assert got[0, 0] == own[0, 0] and np.any(got > own) and np.any(got == own)
    gaussian = GaussianLayer(3, 2).initialize(random_state=0)
    np.testing.assert_allclose(
        stand_in_variance(gaussian, z * 100, parent, gaussian.variance(parent)),
        gaussian.variance(parent),
    )


def test_tail_matched_stand_in_posterior_is_the_mode_under_the_laplace_prior(
    monkeypatch,
):
    """For a row far from the data (every coordinate of z_1 beyond 2 s) the
    stand-in posterior's mean, at its fixed point, is the mode of
    ``log N(x; W z + b, Psi) + log Laplace(z; 0, s_c)`` found by a generic
    optimiser."""
    monkeypatch.setattr(linear_proposal_module, "STAND_IN_ROUNDS", 100)
    rng = np.random.RandomState(6)
    model = sparse_model(rng)
    model.initialize(random_state=0)
    obs, laplace, mixture = model.layers
    W, b = obs.params["weights"], obs.params["bias"]
    psi = np.exp(obs.params["log_var"])
    _, p_means, _ = mixture.components()
    z_far = np.array([[12.0, -12.0, 14.0, -12.0]])
    x = z_far @ W.T + b
    q = linear_gaussian_proposal(model, x)
    for c in range(2):
        s = laplace.scale(p_means[c : c + 1])[0]

        def neg_log_post(z, s=s):
            r = x[0] - W @ z - b
            return 0.5 * np.sum(r * r / psi) + np.sum(np.abs(z) / s)

        mode = optimize.minimize(
            neg_log_post,
            z_far[0],
            method="Nelder-Mead",
            options=dict(xatol=1e-10, fatol=1e-12, maxiter=20000),
        ).x
        assert np.all(np.abs(mode) > 2 * s)
        np.testing.assert_allclose(q.means[c, 0], mode, atol=1e-5)


def test_scores_of_rows_far_from_the_data_match_quadrature(monkeypatch):
    """The main job's fit (the paper's model learnt from a random start; its
    parameters to three decimals) scored on rows uniform on [-6, 6]^2, most
    far from anything it generates, against quadrature. Without the
    tail-matched stand-in (0 rounds) the estimates are nats too low (z_1's
    Gaussian stand-in over-shrinks), with it within half a nat."""
    model = DeepExponentialFamily(
        [
            GaussianLayer(
                2,
                2,
                weights=np.array([[1.32, -0.614], [1.041, 0.78]]),
                bias=np.array([-0.002, -0.006]),
                log_var=np.array([-5.64, -6.28]),
            ),
            LaplaceLayer(
                2,
                1,
                weights=np.array([[0.618], [-0.57]]),
                bias=np.array([-1.56, -0.932]),
            ),
            MixtureOfGaussiansPrior.symmetric(1, m=3.0, sigma=0.1),
        ]
    )
    X, _ = model.sample(500, random_state=0)
    est = fitted_at(model, X)
    rows = np.random.RandomState(5).uniform(-6.0, 6.0, size=(40, 2))
    exact = sparse_quadrature_log_likelihood(model, rows)
    err = est.score_samples(rows) - exact
    assert np.median(np.abs(err)) < 0.1 and np.min(err) > -0.5
    monkeypatch.setattr(linear_proposal_module, "STAND_IN_ROUNDS", 0)
    before = est.score_samples(rows) - exact
    assert np.mean(before) < -1.0 and np.min(before) < -5.0


def test_binary_models_keep_their_own_proposal():
    X = (np.random.RandomState(0).rand(20, 6) > 0.5).astype(float)
    est = VIMCOEstimator(latent_dims=(3,), max_iter=1, random_state=0).fit(X)
    assert linear_gaussian_proposal(est.model_, X) is None
    assert not isinstance(est._scoring_proposal(X), LinearGaussianProposal)


def test_iwae_is_scored_with_the_same_linear_gaussian_proposal():
    model = gaussian_model(7, n_features=6, latent_dims=(2,))
    X, _ = model.sample(30, random_state=1)
    est = IWAEEstimator(model=model, max_iter=1, n_importance=1000, random_state=0)
    est.fit(X)
    q = est._scoring_proposal(X)
    assert isinstance(q, LinearGaussianProposal)
    exact = linear_gaussian_log_likelihood(est.model_, X)
    assert abs((est.score_samples(X) - exact).mean()) < 0.02


def test_ddc_estimator_on_sparse_data_scores_with_the_linear_proposal():
    X = make_sparse_hierarchical(200, random_state=0)[0]
    est = DDCHelmholtzEstimator(max_iter=2, random_state=0).fit(X)
    assert isinstance(est._scoring_proposal(X[:3]), LinearGaussianProposal)
    assert np.all(np.isfinite(est.score_samples(X[:20])))


def test_switched_off_units_keep_the_proposal_finite_in_float32():
    """A Laplace scale of e^-100 underflows to 0 in float32: the stand-in
    variance is floored, so the proposal stays finite and usable."""
    rng = np.random.RandomState(8)
    model = sparse_model(rng)
    model.layers[1].params["bias"] = np.full(4, -100.0)
    model.layers[1].params["weights"] = np.zeros((4, 2))
    model.initialize(random_state=0)
    X, _ = model.sample(5, random_state=1)
    m32 = model.to(np_compat, "cpu", dtype=np.float32)
    q = linear_gaussian_proposal(m32, X.astype(np.float32))
    assert q is not None and q.means.dtype == np.float32
    latents, log_q = q.sample(6, np.random.RandomState(0))
    assert all(np.all(np.isfinite(z)) for z in latents)
    assert np.all(np.isfinite(log_q))


def test_a_cholesky_that_returns_nan_falls_back_to_the_recognition_proposal(
    monkeypatch,
):
    """CuPy's Cholesky does not raise on a matrix it cannot factorise, it
    returns NaN (NumPy raises LinAlgError). Emulated on array_api_strict:
    the linear-Gaussian proposal is dropped, scoring uses the estimator's
    own, and the scores stay finite and near the exact ones (quadrature)."""
    xp = pytest.importorskip("array_api_strict")
    X = make_sparse_hierarchical(200, random_state=0)[0]
    est = DDCHelmholtzEstimator(max_iter=2, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xp.asarray(X)
        est.fit(Xs)
        assert isinstance(est._scoring_proposal(Xs[:3, ...]), LinearGaussianProposal)
        want = est.score_samples(Xs[:20, ...])
        monkeypatch.setattr(
            xp.linalg, "cholesky", lambda a, **kw: xp.full(a.shape, xp.nan)
        )
        assert linear_gaussian_proposal(est.model_, Xs[:3, ...]) is None
        assert not isinstance(
            est._scoring_proposal(Xs[:3, ...]), LinearGaussianProposal
        )
        got = to_numpy(est.score_samples(Xs[:20, ...]))
    assert np.all(np.isfinite(got))
    # both proposals estimate the same log p(x): the exact one by quadrature
    exact = sparse_quadrature_log_likelihood(est.model_.to(np_compat, "cpu"), X[:20])
    assert np.median(np.abs(to_numpy(want) - exact)) < 0.2
    assert np.median(np.abs(got - exact)) < 1.0


def test_proposal_on_backend_matches_numpy(backend):
    """The same host random numbers: the same draws, densities, gradients and
    scales on every namespace/device."""
    rng = np.random.RandomState(9)
    model = sparse_model(rng)
    model.initialize(random_state=0)
    X, _ = model.sample(4, random_state=1)

    def run(xp, device, to):
        q = linear_gaussian_proposal(model.to(xp, device), to(X))
        latents, log_q = q.sample(3, np.random.RandomState(0), shared_noise=False)
        return [*latents, log_q, *q.grad_log_prob(latents), *q.scales()]

    want = run(np_compat, "cpu", lambda a: a)
    got = run(backend.xp, backend.device, backend.asarray)
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(backend.asarray(np.zeros(1)))
        np.testing.assert_allclose(backend.to_numpy(g), w, rtol=1e-8, atol=1e-10)


def test_below_a_gaussian_layer_z1_is_proposed_from_its_exact_conditional():
    """In a linear-Gaussian chain the location of z_1 given a proposed z_2 is
    E[z_1 | z_2, x], by conditioning the joint Gaussian of (z_1, x) given
    z_2 densely, and its scale matrix Cov[z_1 | z_2, x]."""
    model = gaussian_model(3, n_features=6, latent_dims=(3, 2))
    X, _ = model.sample(5, random_state=1)
    est = fitted_at(model, X, latent_dims=(3, 2))
    q = est._scoring_proposal(X)
    assert q.gain is not None and q.means.shape[0] == 1
    obs, first = model.layers[0], model.layers[1]
    W, b = obs.params["weights"], obs.params["bias"]
    psi = np.exp(obs.params["log_var"])
    W2, c = first.params["weights"], first.params["bias"]
    V = np.diag(np.exp(first.params["log_var"]))
    S_xx = W @ V @ W.T + np.diag(psi)
    gain = V @ W.T @ np.linalg.inv(S_xx)
    cov = V - gain @ W @ V
    np.testing.assert_allclose(q.colours[0].T @ q.colours[0], cov, rtol=1e-10)
    for z2 in np.random.RandomState(0).randn(3, 2):
        m = W2 @ z2 + c
        exact = m + (X - W @ m - b) @ gain.T
        np.testing.assert_allclose(q.means[0] + z2 @ q.gain.T, exact, rtol=1e-10)


@pytest.mark.parametrize("dims", [(3, 2), (3,)])
def test_score_through_the_linear_proposal_on_backend_matches_numpy(backend, dims):
    model = gaussian_model(4, n_features=6, latent_dims=dims)
    X, _ = model.sample(30, random_state=1)
    params = dict(model="gaussian", latent_dims=dims, max_iter=1, random_state=0)
    want = DDCHelmholtzEstimator(**params).fit(X).score_samples(X)
    est = DDCHelmholtzEstimator(**params).fit(backend.asarray(X))
    assert isinstance(est._scoring_proposal(backend.asarray(X)), LinearGaussianProposal)
    got = est.score_samples(backend.asarray(X))
    assert type(got) is type(backend.asarray(np.zeros(1)))
    np.testing.assert_allclose(backend.to_numpy(got), want, rtol=1e-7)


# --------------------------------------------------------------------------
# the importance-sampling oracle of the free-energy gradient


def _finite_difference_gradient(model, X, eps=1e-5):
    """d mean log p(x) / d theta of a linear-Gaussian model, central differences
    of the closed-form marginal."""
    params = {k: np.array(v, dtype=float) for k, v in model.get_parameters().items()}
    out = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            values = []
            for sign in (1, -1):
                shifted = value.copy()
                shifted[idx] += sign * eps
                model.set_parameters({**params, name: shifted})
                values.append(linear_gaussian_log_likelihood(model, X).mean())
            g[idx] = (values[0] - values[1]) / (2 * eps)
        out[name] = g
    model.set_parameters(params)
    return out


def test_importance_gradient_matches_finite_differences_of_the_closed_form():
    model = gaussian_model(seed=3, n_features=4, latent_dims=(2,))
    rng = np.random.RandomState(0)
    X = rng.randn(6, 4) * 1.5  # off the model, so the gradient is not ~0
    exact = _finite_difference_gradient(model, X)
    q = linear_gaussian_proposal(model, X)
    grads, ess, _ = importance_gradient(model, X, q, 20_000, np.random.RandomState(1))
    assert ess.shape == (6,) and np.all(ess > 5_000)
    assert set(grads) == set(exact)
    for name, value in exact.items():
        err = np.linalg.norm(grads[name] - value) / np.linalg.norm(value)
        assert err < 0.03, (name, err)


def test_importance_gradient_matches_the_sparse_oracle():
    # the 2-D sparse model, where sparse_posterior_gradient samples the exact
    # posterior without a proposal: two independent estimates of one gradient
    rng = np.random.RandomState(1)
    model = sparse_model(rng, n_features=2, dims=(2, 1))
    model.initialize(random_state=0)
    X, _ = model.sample(10, random_state=2)
    X = X * 1.3  # off the model
    est = fitted_at(model, X, latent_dims=(2, 1))
    reference = sparse_posterior_gradient(est.model_, X, n_draws=200_000)
    grads, ess, _ = importance_gradient(
        est.model_, X, est._scoring_proposal(X), 50_000, np.random.RandomState(3)
    )
    assert np.all(ess > 1_000)
    # blocks of norm ~0.05 differ by the Monte Carlo noise of both estimates
    # (the reference's own seeds move them by 0.03): compare the whole vector
    # and the blocks that stand out of that noise
    a = np.concatenate([np.ravel(grads[k]) for k in reference])
    b = np.concatenate([np.ravel(v) for v in reference.values()])
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 0.03
    for name, value in reference.items():
        if np.linalg.norm(value) > 0.2:
            err = np.linalg.norm(grads[name] - value) / np.linalg.norm(value)
            assert err < 0.05, (name, err)
