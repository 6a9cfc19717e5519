"""Mixture-of-Gaussians prior for the top latent layer (the paper's Eq. 13)."""

from __future__ import annotations

import math

from ..utils._array_api import get_namespace, logsumexp
from ..utils._random import draw
from ._base import Layer, _device

_LOG_2PI = math.log(2.0 * math.pi)


class MixtureOfGaussiansPrior(Layer):
    """``p(z) = sum_k pi_k N(z | means_k, diag(exp(log_vars_k)))``.

    The paper's prior ``1/2 N(m, s^2) + 1/2 N(-m, s^2)`` is
    :meth:`symmetric` ``(n_features=1, m=3, s=0.1)``. Not an exponential
    family: learning algorithms use :meth:`grad_params` directly, which for a
    prior depends on the latent samples only.

    Parameters
    ----------
    n_features : int
    n_components : int
    means : array of shape (n_components, n_features), optional
    log_vars : array of shape (n_components, n_features), optional
    logits : array of shape (n_components,), optional
        Unnormalised log mixing weights, ``pi = softmax(logits)``.
    trainable : bool or iterable of str, default=False
        Fixed by default, as in the paper's experiments. As the top layer of
        a model an estimator fits, ``True`` (or the names of the parameters
        to learn) has the components learnt under the estimator's default
        ``fit_prior="auto"``; ``fit_prior=True`` or ``False`` overrides it.
    """

    param_names = ("means", "log_vars", "logits")
    is_exponential_family = False
    is_mixture = True

    def __init__(
        self,
        n_features,
        n_components=2,
        *,
        means=None,
        log_vars=None,
        logits=None,
        trainable=False,
    ):
        if (
            isinstance(n_components, bool)
            or not isinstance(n_components, int)
            or (n_components < 1)
        ):
            raise ValueError(f"n_components must be an int >= 1, got {n_components!r}.")
        self.n_components = n_components
        super().__init__(
            n_features,
            0,
            trainable=trainable,
            means=means,
            log_vars=log_vars,
            logits=logits,
        )

    @classmethod
    def symmetric(
        cls,
        n_features=1,
        m=3.0,
        sigma=0.1,
        *,
        xp=None,
        device=None,
        dtype=None,
        trainable=False,
    ):
        """The paper's prior ``1/2 N(m, sigma^2) + 1/2 N(-m, sigma^2)``."""
        if xp is None:
            import array_api_compat.numpy as xp
        dtype = xp.float64 if dtype is None else dtype
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}.")
        ones = xp.ones((2, n_features), dtype=dtype, device=device)
        sign = xp.asarray([[1.0], [-1.0]], dtype=dtype, device=device)
        return cls(
            n_features,
            2,
            means=float(m) * sign * ones,
            log_vars=ones * (2.0 * math.log(sigma)),
            logits=xp.zeros(2, dtype=dtype, device=device),
            trainable=trainable,
        )

    def param_shapes(self):
        k, d = self.n_components, self.n_features
        return {"means": (k, d), "log_vars": (k, d), "logits": (k,)}

    def initialize(self, random_state=None, *, xp=None, device=None, dtype=None):
        if xp is None:
            import array_api_compat.numpy as xp
        dtype = xp.float64 if dtype is None else dtype
        k, d = self.n_components, self.n_features
        means = 2.0 * draw(
            random_state, "standard_normal", (k, d), xp=xp, device=device, dtype=dtype
        )
        zeros = xp.zeros((k, d), dtype=dtype, device=device)
        return self.set_params(
            {
                "means": means,
                "log_vars": zeros + math.log(0.25),
                "logits": xp.zeros(k, dtype=dtype, device=device),
            }
        )

    def _log_weights(self):
        xp = self._xp()
        logits = self.params["logits"]
        return logits - logsumexp(logits, axis=0, xp=xp)

    def _component_log_prob(self, z):
        """log pi_k + log N(z_n | component k), shape (n, n_components)."""
        xp = get_namespace(z)
        mu, lv = self.params["means"], self.params["log_vars"]
        diff = z[:, None, :] - mu[None, :, :]
        quad = xp.sum(
            diff * diff / xp.exp(lv)[None, :, :] + lv[None, :, :] + _LOG_2PI, axis=2
        )
        return self._log_weights()[None, :] - 0.5 * quad

    def components(self):
        """``(log_weights, means, variances)``: shapes (K,), (K, D), (K, D)."""
        self._check_initialized()
        xp = self._xp()
        return (
            self._log_weights(),
            self.params["means"],
            xp.exp(self.params["log_vars"]),
        )

    def responsibilities(self, z):
        """``p(k | z)`` for each row of ``z``, shape (n, K)."""
        lp = self._component_log_prob(z)
        xp = get_namespace(lp)
        return xp.exp(lp - logsumexp(lp, axis=1, keepdims=True, xp=xp))

    def log_prob(self, child, parent=None):
        self._check_initialized()
        return logsumexp(self._component_log_prob(child), axis=1)

    def sample(self, parent=None, *, n_samples=None, random_state=None):
        self._check_initialized()
        xp = self._xp()
        mu, lv = self.params["means"], self.params["log_vars"]
        dev = _device(mu)
        n = int(n_samples)
        # Inverse-CDF choice of the component from one uniform per sample.
        u = draw(random_state, "uniform", (n, 1), xp=xp, device=dev, dtype=mu.dtype)
        cum = xp.cumulative_sum(xp.exp(self._log_weights()))
        comp = xp.sum(xp.astype(u >= cum[None, :-1], xp.int64), axis=1)
        eps = draw(
            random_state,
            "standard_normal",
            (n, self.n_features),
            xp=xp,
            device=dev,
            dtype=mu.dtype,
        )
        return xp.take(mu, comp, axis=0) + xp.exp(0.5 * xp.take(lv, comp, axis=0)) * eps

    def mean(self, parent=None, n_samples=None):
        xp = self._xp()
        m = xp.sum(xp.exp(self._log_weights())[:, None] * self.params["means"], axis=0)
        return xp.broadcast_to(m[None, :], (int(n_samples), self.n_features))

    def variance(self, parent=None, n_samples=None):
        xp = self._xp()
        pi = xp.exp(self._log_weights())[:, None]
        mu, v = self.params["means"], xp.exp(self.params["log_vars"])
        m = xp.sum(pi * mu, axis=0)
        var = xp.sum(pi * (v + mu * mu), axis=0) - m * m
        return xp.broadcast_to(var[None, :], (int(n_samples), self.n_features))

    def grad_params(self, child, parent=None, weights=None):
        xp = get_namespace(child)
        gamma = self.responsibilities(child)  # (n, k)
        if weights is not None:
            gamma_w = gamma * weights[:, None]
            total = xp.sum(weights)
        else:
            gamma_w = gamma
            total = float(child.shape[0])
        mu, v = self.params["means"], xp.exp(self.params["log_vars"])
        diff = child[:, None, :] - mu[None, :, :]
        g = gamma_w[:, :, None]
        return {
            "means": xp.sum(g * diff / v[None, :, :], axis=0),
            "log_vars": xp.sum(g * (0.5 * diff * diff / v[None, :, :] - 0.5), axis=0),
            "logits": xp.sum(gamma_w, axis=0) - total * xp.exp(self._log_weights()),
        }

    def grad_child(self, child, parent=None):
        xp = get_namespace(child)
        gamma = self.responsibilities(child)
        mu, v = self.params["means"], xp.exp(self.params["log_vars"])
        return xp.sum(
            gamma[:, :, None] * (mu[None, :, :] - child[:, None, :]) / v[None, :, :],
            axis=1,
        )

    def __repr__(self):
        return (
            f"MixtureOfGaussiansPrior(n_features={self.n_features}, "
            f"n_components={self.n_components})"
        )
