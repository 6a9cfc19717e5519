"""Ready-made model structures selected by name in the estimators."""

from __future__ import annotations

import numbers

from ._deep import DeepExponentialFamily
from ._families import (
    BernoulliLayer,
    BernoulliPrior,
    GaussianLayer,
    GaussianPrior,
    LaplaceLayer,
)
from ._mixture import MixtureOfGaussiansPrior

MODEL_NAMES = ("sparse", "sbn", "gaussian")


def check_latent_dims(latent_dims, name="latent_dims"):
    """``latent_dims`` as a tuple of positive ints (an int means one layer)."""
    if isinstance(latent_dims, numbers.Integral) and not isinstance(latent_dims, bool):
        latent_dims = (latent_dims,)
    try:
        dims = tuple(latent_dims)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of ints, got {latent_dims!r}."
        ) from None
    if not dims or any(
        isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1
        for d in dims
    ):
        raise ValueError(
            f"{name} must be a non-empty sequence of ints >= 1 (bottom-up: D_1, ..., "
            f"D_L), got {latent_dims!r}."
        )
    return tuple(int(d) for d in dims)


def build_model(name, n_features, latent_dims, *, trainable_prior=False):
    """An uninitialised :class:`DeepExponentialFamily` of a named structure.

    - ``"sparse"``: the paper's Eq. 13 generalised to any depth: Gaussian
      observations, Laplace layers with softplus scales, a symmetric
      two-component mixture-of-Gaussians prior (m=3, sigma=0.1) on z_L. With a
      single latent layer the prior is the mixture directly.
    - ``"sbn"``: sigmoid belief network, Bernoulli layers and prior.
    - ``"gaussian"``: linear-Gaussian layers with a standard Gaussian prior
      (factor analysis when there is one latent layer).
    """
    dims = (int(n_features), *check_latent_dims(latent_dims))
    if name == "sparse":
        layers = [GaussianLayer(dims[0], dims[1])]
        layers += [LaplaceLayer(dims[i], dims[i + 1]) for i in range(1, len(dims) - 1)]
        prior = MixtureOfGaussiansPrior.symmetric(
            dims[-1], m=3.0, sigma=0.1, trainable=trainable_prior
        )
    elif name == "sbn":
        layers = [BernoulliLayer(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]
        prior = BernoulliPrior(dims[-1], trainable=trainable_prior)
    elif name == "gaussian":
        layers = [GaussianLayer(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]
        prior = GaussianPrior(dims[-1], trainable=trainable_prior)
    else:
        raise ValueError(
            f"model must be one of {MODEL_NAMES} or a "
            f"DeepExponentialFamily, got {name!r}."
        )
    return DeepExponentialFamily([*layers, prior])
