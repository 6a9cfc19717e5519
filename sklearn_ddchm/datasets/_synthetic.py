"""The paper's synthetic sparse hierarchical model (Eq. 13)."""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

from ..models import (
    DeepExponentialFamily,
    GaussianLayer,
    LaplaceLayer,
    MixtureOfGaussiansPrior,
)


def make_sparse_model(
    n_features=2,
    latent_dims=(2, 1),
    *,
    m=3.0,
    sigma=0.1,
    noise_variance=0.01,
    random_state=None,
):
    """The true generative model of :func:`make_sparse_hierarchical`.

    See :func:`make_sparse_hierarchical` for how the random true parameters
    are drawn.

    Parameters
    ----------
    n_features : int, default=2
        D_x.
    latent_dims : tuple of int, default=(2, 1)
        (D_1, ..., D_L), bottom-up; at least two layers.
    m, sigma : float, default=3.0, 0.1
        Mixture prior means ``+-m`` and standard deviation.
    noise_variance : float, default=0.01
        Observation noise variance.
    random_state : int, RandomState or None
        Draws the true parameters.

    Returns
    -------
    model : DeepExponentialFamily
    """
    rng = check_random_state(random_state)
    latent_dims = tuple(latent_dims)
    for name, value in [
        ("n_features", n_features),
        *((f"latent_dims[{i}]", d) for i, d in enumerate(latent_dims)),
    ]:
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or value < 1
        ):
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    if len(latent_dims) < 2:
        raise ValueError(
            f"latent_dims must have at least 2 entries (Laplace layers and a "
            f"mixture prior), got {latent_dims!r}."
        )
    for name, value in [("m", m), ("sigma", sigma), ("noise_variance", noise_variance)]:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {name}={value!r}.")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(
                f"{name} must be a finite number > 0, got {name}={value!r}."
            )
    dims = (n_features, *latent_dims)
    layers = []
    # Observation: unit-norm loading directions spread over the half circle so
    # that the active latent shows up as a line through the origin.
    d1 = dims[1]
    loadings = rng.standard_normal((n_features, d1))
    if n_features == 2:
        angles = np.linspace(0, np.pi, d1, endpoint=False) + rng.uniform(0, np.pi / d1)
        loadings = np.stack([np.cos(angles), np.sin(angles)])
    loadings /= np.linalg.norm(loadings, axis=0, keepdims=True)
    layers.append(
        GaussianLayer(
            n_features,
            d1,
            weights=loadings,
            bias=np.zeros(n_features),
            log_var=np.full(n_features, math.log(noise_variance)),
        )
    )
    # Laplace layers: each child's scale is switched on by one sign of its
    # parent and off by the other (signs alternate), so children are sparse
    # and anti-correlated in magnitude: large scale softplus(+g m - c) when the
    # parent sits at one mode, tiny softplus(-g m - c) at the other.
    for level in range(1, len(dims) - 1):
        child, parent = dims[level], dims[level + 1]
        gains = rng.uniform(0.8, 1.2, size=(child, parent)) / parent
        signs = np.where(np.arange(child)[:, None] % 2 == 0, 1.0, -1.0)
        signs = signs * np.where(np.arange(parent)[None, :] % 2 == 0, 1.0, -1.0)
        offset = -rng.uniform(0.5, 1.5, size=child) * m / 2
        layers.append(
            LaplaceLayer(
                child, parent, weights=signs * gains * m / 3.0 * 1.0, bias=offset
            )
        )
    prior = MixtureOfGaussiansPrior.symmetric(dims[-1], m=m, sigma=sigma)
    layers.append(prior)
    return DeepExponentialFamily(layers)


def make_sparse_hierarchical(
    n_samples=10_000,
    n_features=2,
    latent_dims=(2, 1),
    *,
    m=3.0,
    sigma=0.1,
    noise_variance=0.01,
    random_state=None,
):
    """Data from the paper's sparse hierarchical model (Eq. 13), and the model itself.

    ``z_L ~ 1/2 N(m, sigma^2) + 1/2 N(-m, sigma^2)`` (per coordinate),
    ``z_l | z_{l+1} ~ Laplace(0, scale=softplus(B_l z_{l+1} + b_l))``,
    ``x | z_1 ~ N(Lambda z_1, noise_variance I)``.

    How the true parameters are drawn (so that the data look like the paper's
    Fig. 1: heavy tailed, sparse, anti-correlated, not a Gaussian blob):

    - ``B_l[i, j] = s_ij * g_ij * m / (3 * D_{l+1})`` with gains
      ``g ~ U(0.8, 1.2)`` and signs ``s_ij`` alternating over both ``i`` and
      ``j``; offsets ``b_l[i] = -u_i m / 2`` with ``u ~ U(0.5, 1.5)``. With
      ``m = 3`` and one parent, one child of each pair has scale
      ``softplus(~1.5) ~ 1.7`` and the other ``softplus(~-4.5) ~ 0.01``:
      exactly one is active, with Laplace tails.
    - ``Lambda``: unit-norm columns; for ``n_features == 2`` their angles are
      evenly spread over the half circle with a random rotation, otherwise
      random Gaussian directions.

    Parameters
    ----------
    n_samples : int, default=10000
    n_features : int, default=2
        D_x.
    latent_dims : tuple of int, default=(2, 1)
        (D_1, ..., D_L), bottom-up; at least two layers.
    m, sigma : float, default=3.0, 0.1
        Mixture prior means ``+-m`` and standard deviation.
    noise_variance : float, default=0.01
        Observation noise variance (the diagonal of Psi).
    random_state : int, RandomState or None
        Draws the true parameters, then the samples.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    latents : list of ndarray
        ``[z_1, ..., z_L]``.
    model : DeepExponentialFamily
        The true model (NumPy, float64).

    Examples
    --------
    >>> from sklearn_ddchm.datasets import make_sparse_hierarchical
    >>> X, (z1, z2), model = make_sparse_hierarchical(n_samples=100, random_state=0)
    >>> X.shape, z1.shape, z2.shape
    ((100, 2), (100, 2), (100, 1))
    """
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, numbers.Integral)
        or (n_samples < 1)
    ):
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
    rng = check_random_state(random_state)
    model = make_sparse_model(
        n_features,
        latent_dims,
        m=m,
        sigma=sigma,
        noise_variance=noise_variance,
        random_state=rng,
    )
    # The model's values grow like m^2 (a Laplace scale softplus(m * m / 3)):
    # large parameters overflow, which is reported once, below.
    with np.errstate(over="ignore", invalid="ignore"):
        X, latents = model.sample(n_samples, random_state=rng)
    if not all(np.isfinite(a).all() for a in (X, *latents)):
        raise ValueError(
            f"m={m}, sigma={sigma} and noise_variance={noise_variance} give samples "
            "that overflow float64 (the latents grow like m^2 and the "
            "observations with them); use smaller values."
        )
    return X, latents, model
