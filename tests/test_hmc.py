"""The HMC sampler against closed forms and grid quadrature.

Monte Carlo error is measured, not assumed: the chains are independent, so
the spread of the per-chain means gives the standard error of a pooled
estimate whatever the autocorrelation within a chain. Estimates must agree
with the exact values to within a few standard errors.
"""

import numpy as np
import pytest

from sklearn_ddchm._hmc import hmc_sample, leapfrog, sample_posterior
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.models import (
    BernoulliLayer,
    BernoulliPrior,
    DeepExponentialFamily,
)

# Agreement within this many standard errors (per comparison).
N_SE = 4.5


def gaussian_target(mean, cov):
    precision = np.linalg.inv(cov)

    def log_prob_and_grad(z):
        d = z - mean
        return -0.5 * np.einsum("ni,ij,nj->n", d, precision, d), -d @ precision

    return log_prob_and_grad


def chain_mean_and_se(values):
    """Pooled mean and its standard error from values of shape (n_samples, n_chains)."""
    per_chain = values.mean(axis=0)
    return per_chain.mean(), per_chain.std(ddof=1) / np.sqrt(per_chain.size)


def assert_within_mc_error(values, exact, what, floor=0.0):
    estimate, se = chain_mean_and_se(values)
    assert abs(estimate - exact) <= N_SE * se + floor, (what, estimate, exact, se)


def test_leapfrog_is_reversible_and_second_order():
    """Negating the momentum retraces the path; the energy error falls as eps^2."""
    target = gaussian_target(np.zeros(2), np.array([[1.0, 0.8], [0.8, 1.0]]))
    rng = np.random.RandomState(0)
    z0, p0 = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    logp0, g0 = target(z0)
    eps = np.full((5, 1), 0.1)
    z1, p1, logp1, g1 = leapfrog(z0, p0, g0, eps, 7, target, 1.0)
    z2, p2, _, _ = leapfrog(z1, -p1, g1, eps, 7, target, 1.0)
    np.testing.assert_allclose(z2, z0, atol=1e-12)
    np.testing.assert_allclose(-p2, p0, atol=1e-12)

    def energy_error(step):
        # the same trajectory length at two step sizes
        n = int(round(0.8 / step))
        z, p, logp, _ = leapfrog(z0, p0, g0, np.full((5, 1), step), n, target, 1.0)
        h0 = -logp0 + 0.5 * (p0**2).sum(1)
        return np.abs(-logp + 0.5 * (p**2).sum(1) - h0).max()

    ratio = energy_error(0.1) / energy_error(0.05)
    assert 3.0 < ratio < 5.0  # second order: halving eps quarters the error


def test_hmc_matches_gaussian_moments():
    mean = np.array([1.0, -2.0])
    cov = np.array([[1.0, 0.9], [0.9, 2.0]])
    init = np.random.RandomState(1).standard_normal((16, 2)) * 3
    samples, info = hmc_sample(
        gaussian_target(mean, cov), init, 400, n_warmup=200, n_leapfrog=8,
        random_state=0,
    )  # fmt: skip
    assert samples.shape == (400, 16, 2)
    for i in range(2):
        assert_within_mc_error(samples[..., i], mean[i], f"mean {i}")
        centred = (samples[..., i] - mean[i]) ** 2
        assert_within_mc_error(centred, cov[i, i], f"variance {i}")
    cross = (samples[..., 0] - mean[0]) * (samples[..., 1] - mean[1])
    assert_within_mc_error(cross, cov[0, 1], "covariance")
    assert np.all(info["jump_rate"] == 0)


def test_warmup_adapts_the_step_size_to_the_target_acceptance():
    """A higher target gives smaller steps; the kept rate lands near the target.

    The kept step is the dual-averaging mean of the warm-up's iterates, a
    little smaller than the last iterate, so the kept acceptance errs high.
    """
    target = gaussian_target(np.zeros(2), np.array([[1.0, 0.9], [0.9, 2.0]]))
    init = np.random.RandomState(1).standard_normal((16, 2))
    rates, steps = [], []
    for target_accept in (0.6, 0.9):
        _, info = hmc_sample(
            target, init, 200, n_warmup=1000, n_leapfrog=8,
            target_accept=target_accept, random_state=0,
        )  # fmt: skip
        rates.append(info["accept_rate"].mean())
        steps.append(info["step_size"].mean())
        assert abs(rates[-1] - target_accept) < 0.15, (target_accept, rates[-1])
    assert rates[0] < rates[1] and steps[0] > steps[1]


def test_independence_move_gives_separated_modes_their_weights():
    """Two modes 40 widths apart: trajectories cannot cross, the proposal can."""
    weights, means, sd = np.array([0.3, 0.7]), np.array([-20.0, 20.0]), 1.0

    def target(z):
        log_c = np.log(weights) - 0.5 * ((z - means) / sd) ** 2
        top = log_c.max(axis=1, keepdims=True)
        resp = np.exp(log_c - top)
        resp /= resp.sum(axis=1, keepdims=True)
        logp = top[:, 0] + np.log(np.exp(log_c - top).sum(axis=1))
        grad = (resp * -(z - means) / sd**2).sum(axis=1, keepdims=True)
        return logp, grad

    wide = 30.0

    def draw(n, rng):
        return rng.standard_normal((n, 1)) * wide

    def log_q(z):
        return -0.5 * (z[:, 0] / wide) ** 2

    init = np.full((32, 1), -20.0)  # every chain starts in the lighter mode
    samples, info = hmc_sample(
        target, init, 400, n_warmup=100, n_leapfrog=5, proposal=(draw, log_q),
        random_state=0,
    )  # fmt: skip
    assert info["jump_rate"].mean() > 0
    assert_within_mc_error((samples[..., 0] > 0).astype(float), 0.7, "P(mode 2)")
    without, _ = hmc_sample(
        target, init, 100, n_warmup=50, n_leapfrog=5, random_state=0
    )
    assert np.all(without < 0)  # HMC alone stays where it started


# -- the paper's synthetic model: 3 latents, against grid quadrature ------------


def _nodes(centre, half_width, step, fine_half_width, fine_step):
    """Grid nodes around ``centre`` plus a fine patch at 0 (the Laplace kink)."""
    nodes = np.union1d(
        np.arange(centre - half_width, centre + half_width, step),
        np.arange(-fine_half_width, fine_half_width, fine_step),
    )
    edges = np.concatenate(
        [[nodes[0] - step / 2], (nodes[1:] + nodes[:-1]) / 2, [nodes[-1] + step / 2]]
    )
    return nodes, np.diff(edges)


def grid_posterior(model, x):
    """Nodes and normalised weights of p(z_1, z_2 | x) by the midpoint rule.

    z_1 is pinned near Lambda^{-1} x by the small observation noise (the
    observation weights are square and invertible, D_x = D_1 = 2); z_2 lies
    near a prior mode +-m.
    """
    obs = model.layers[0].params
    centre = np.linalg.solve(obs["weights"], x - obs["bias"])
    a, wa = _nodes(centre[0], 0.6, 0.02, 0.04, 0.001)
    b, wb = _nodes(centre[1], 0.6, 0.02, 0.04, 0.001)
    c_pos, wc_pos = _nodes(3.0, 0.5, 0.01, 0.0, 1.0)
    c = np.concatenate([-c_pos[::-1], c_pos])
    wc = np.concatenate([wc_pos[::-1], wc_pos])
    A, B = np.meshgrid(a, b, indexing="ij")
    z1 = np.stack([A.ravel(), B.ravel()], axis=1)
    X = np.repeat(x[None], len(z1), axis=0)
    log_w = np.empty((len(z1), len(c)))
    for j, cj in enumerate(c):
        log_w[:, j] = model.log_joint(X, [z1, np.full((len(z1), 1), cj)])
    w = np.exp(log_w - log_w.max()) * np.outer(np.outer(wa, wb).ravel(), wc)
    w /= w.sum()
    # the grid holds the posterior: almost no mass on its border
    border = np.zeros((len(a), len(b)), dtype=bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    assert w[border.ravel()].sum() < 1e-6
    assert w[:, [0, len(c_pos) - 1, len(c_pos), -1]].sum() < 1e-6
    coords = [np.repeat(A.ravel()[:, None], len(c), 1), np.repeat(B.ravel()[:, None],
              len(c), 1), np.broadcast_to(c, w.shape)]  # fmt: skip
    return coords, w


@pytest.mark.slow
def test_sample_posterior_matches_grid_quadrature_on_the_sparse_model():
    X, _, model = make_sparse_hierarchical(n_samples=20, random_state=0)
    x = X[4]  # a point whose posterior has mass in both modes of z_2
    coords, w = grid_posterior(model, x)
    p_positive = w[coords[2] > 0].sum()
    assert 0.05 < p_positive < 0.95, p_positive

    (z1, z2), info = sample_posterior(
        model, x, 300, n_chains=32, n_warmup=200, n_leapfrog=10, random_state=0
    )
    assert z1.shape == (300, 32, 2) and z2.shape == (300, 32, 1)
    assert info["jump_rate"].mean() > 0.01
    draws = [z1[..., 0], z1[..., 1], z2[..., 0]]
    # the grid's own error (midpoint rule) is far below these floors
    assert_within_mc_error((draws[2] > 0).astype(float), p_positive, "P(z2 > 0)")
    for i, (values, nodes) in enumerate(zip(draws, coords, strict=True)):
        mean = (w * nodes).sum()
        var = (w * (nodes - mean) ** 2).sum()
        assert_within_mc_error(values, mean, f"mean of latent {i}", floor=1e-3)
        assert_within_mc_error(
            (values - mean) ** 2, var, f"variance of latent {i}", floor=1e-4
        )
        # marginal histogram: ten bins of equal mass under the grid
        order = np.argsort(nodes.ravel())
        cdf = np.cumsum(w.ravel()[order])
        edges = nodes.ravel()[order][np.searchsorted(cdf, np.arange(1, 10) / 10)]
        bins = np.digitize(values, edges)
        exact = np.bincount(np.digitize(nodes.ravel(), edges), w.ravel(), 10)
        for k in range(10):
            assert_within_mc_error(
                (bins == k).astype(float), exact[k], f"bin {k} of latent {i}",
                floor=2e-3,
            )  # fmt: skip


def test_sample_posterior_rejects_binary_latents_and_bad_points():
    sbn = DeepExponentialFamily([BernoulliLayer(3, 2), BernoulliPrior(2)])
    sbn.initialize(random_state=0)
    with pytest.raises(ValueError, match="continuous latent layers"):
        sample_posterior(sbn, np.zeros(3), 5)
    X, _, model = make_sparse_hierarchical(n_samples=2, random_state=0)
    with pytest.raises(ValueError, match="one data point of shape"):
        sample_posterior(model, X, 5)
    with pytest.raises(ValueError, match="n_chains must be an int >= 1"):
        sample_posterior(model, X[0], 5, n_chains=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples must be an int >= 1"),
        ({"n_leapfrog": 0}, "n_leapfrog must be an int >= 1"),
        ({"n_warmup": -1}, "n_warmup must be an int >= 0"),
        ({"target_accept": 1.0}, "target_accept must be in"),
        ({"step_size": 0.0}, "step_size must be a float > 0"),
    ],
)
def test_hmc_sample_rejects_bad_settings(kwargs, match):
    args = {"n_samples": 5, **kwargs}
    target = gaussian_target(np.zeros(1), np.eye(1))
    with pytest.raises(ValueError, match=match):
        hmc_sample(target, np.zeros((2, 1)), **args)


def test_hmc_sample_runs_in_the_namespace_of_init(backend):
    """The same draws on every backend: the chains agree with NumPy's."""
    xp = backend.xp
    precision = np.array([[2.0, 0.5], [0.5, 1.0]])
    P = backend.asarray(precision)

    def target(z):
        return -0.5 * xp.sum((z @ P) * z, axis=1), -(z @ P)

    def target_np(z):
        return -0.5 * np.sum((z @ precision) * z, axis=1), -(z @ precision)

    init = np.random.RandomState(0).standard_normal((4, 2))
    samples, _ = hmc_sample(target, backend.asarray(init), 20, n_warmup=10,
                            random_state=0)  # fmt: skip
    reference, _ = hmc_sample(target_np, init, 20, n_warmup=10, random_state=0)
    assert samples.shape == (20, 4, 2)
    np.testing.assert_allclose(backend.to_numpy(samples), reference, rtol=1e-10)
