"""Gaussian, Laplace and Bernoulli conditionals and priors.

Each conditional's natural parameter is a function of an affine map of the
parent, ``a = parent @ weights.T + bias`` (``bias`` alone for a prior), so
every gradient wrt the parameters is a product of ``d/da`` with the parent:
``grad_weights = g_a.T @ parent`` and ``grad_bias = g_a.sum(0)``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import check_random_state

from ..utils._array_api import (
    get_namespace,
    is_binary,
    sigmoid,
    softplus,
    to_namespace,
    to_numpy,
)
from ..utils._random import draw
from ._base import Layer, _device, affine

_LOG_2PI = math.log(2.0 * math.pi)


class _AffineLayer(Layer):
    """A layer whose natural parameter depends on ``a = parent W^T + b``."""

    #: name of the affine offset parameter (``bias`` for conditionals)
    _offset = "bias"

    def _weights(self):
        return self.params.get("weights")

    def _pre_activation(self, parent, n_samples=None):
        self._check_initialized()
        if parent is not None and self.n_parents == 0:
            raise ValueError(f"{type(self).__name__} is a prior: parent must be None.")
        if parent is None and self.n_parents:
            raise ValueError(f"{type(self).__name__} needs a parent array.")
        weights, offset = self._weights(), self.params[self._offset]
        # An algorithm step asks for log_prob, grad_natural, grad_log_normalizer,
        # grad_parent... of the same parent batch: the affine map, the one
        # large product, is computed once per (parent, parameters). Identity of
        # the arrays is the key (parameters are replaced, never modified in
        # place, see Layer.set_params); the cache holds references, so an id
        # cannot be reused while it is cached.
        cached = self.__dict__.get("_cache_affine")
        if (
            cached is not None
            and cached[0] is parent
            and cached[1] is weights
            and cached[2] is offset
        ):
            return cached[3]
        a = affine(parent, weights, offset, n_samples)
        if parent is not None:
            self._cache_affine = (parent, weights, offset, a)
        return a

    def _affine_grads(self, parent, g_a):
        """Gradients of the affine parameters from d/da, shape (n, n_features)."""
        xp = get_namespace(g_a)
        out = {self._offset: xp.sum(g_a, axis=0)}
        if self.n_parents:
            out["weights"] = g_a.T @ parent
        return out

    def affine_parameters(self):
        """``(weights, offset)`` of the affine map ``a = parent @ weights.T + offset``.

        ``weights`` is None for a prior (``a`` is then the offset alone). Used
        by samplers that change one parent coordinate at a time and update
        ``a`` by a column of ``weights`` instead of recomputing the product.
        """
        self._check_initialized()
        return self._weights(), self.params[self._offset]

    def log_prob_terms(self, child, pre_activation):
        """log p(child_ni | a_ni) per coordinate, shape (n, n_features).

        The summands of :meth:`log_prob` as a function of the affine map
        ``a`` (see :meth:`affine_parameters`) instead of the parent.
        """
        raise NotImplementedError

    def flip_log_prob_changes(self, child, pre_activation, sign):
        """Change of ``log p(child | a)`` as ``a`` moves by one weight column.

        ``log p(child | a + sign_k W[:, k]) - log p(child | a)`` for every
        parent coordinate ``k``: what toggling parent bit ``k`` (``sign_k =
        1 - 2 z_k``) does to the log-density, for a search over binary parents
        one bit at a time (the scoring proposal of sigmoid belief networks
        looks for a mode of ``z_1`` so). This form evaluates
        :meth:`log_prob_terms` at every toggled map; a family may override it
        with a closed form.

        Parameters
        ----------
        child : array of shape (n, n_features)
        pre_activation : array of shape (n, n_features)
            The affine map ``a`` at the current parent.
        sign : array of shape (n, n_parents)
            +1 or -1 per parent coordinate.

        Returns
        -------
        change : array of shape (n, n_parents)
        """
        xp = get_namespace(pre_activation)
        toggled = (
            pre_activation[:, None, :] + sign[:, :, None] * self._weights().T[None, ...]
        )
        here = xp.sum(self.log_prob_terms(child, pre_activation), axis=1)
        there = xp.sum(self.log_prob_terms(child[:, None, :], toggled), axis=2)
        return there - here[:, None]

    def _affine_shapes(self):
        shapes = {self._offset: (self.n_features,)}
        if self.n_parents:
            shapes["weights"] = (self.n_features, self.n_parents)
        return shapes

    def _draw_affine(self, random_state, xp, device, dtype, weight_scale, offset):
        params = {self._offset: offset}
        if self.n_parents:
            params["weights"] = weight_scale * draw(
                random_state,
                "standard_normal",
                (self.n_features, self.n_parents),
                xp=xp,
                device=device,
                dtype=dtype,
            )
        return params

    def _n(self, parent, n_samples, child=None):
        if parent is not None:
            return parent.shape[0]
        if child is not None:
            return child.shape[0]
        return n_samples


def _default_xp(xp):
    if xp is None:
        import array_api_compat.numpy as xp
    return xp


class GaussianLayer(_AffineLayer):
    """Gaussian ``p(child | parent) = N(weights @ parent + bias, diag(exp(log_var)))``.

    Sufficient statistics ``S(x) = [x, x**2]`` (per coordinate, stacked along
    columns), natural parameters ``[m / v, -1 / (2 v)]``.

    Parameters
    ----------
    n_features, n_parents : int
    weights : array of shape (n_features, n_parents), optional
    bias : array of shape (n_features,), optional
    log_var : array of shape (n_features,), optional
        Log of the diagonal variance (learnt on the log scale so that Adam
        steps cannot make it negative).
    trainable : bool or iterable of str, default=True
    """

    param_names = ("weights", "bias", "log_var")

    def __init__(
        self,
        n_features,
        n_parents,
        *,
        weights=None,
        bias=None,
        log_var=None,
        trainable=True,
    ):
        if n_parents == 0:
            raise ValueError("GaussianLayer needs n_parents >= 1; use GaussianPrior.")
        super().__init__(
            n_features,
            n_parents,
            trainable=trainable,
            weights=weights,
            bias=bias,
            log_var=log_var,
        )

    def param_shapes(self):
        shapes = self._affine_shapes()
        shapes["log_var"] = (self.n_features,)
        return shapes

    def initialize(
        self,
        random_state=None,
        *,
        xp=None,
        device=None,
        dtype=None,
        weight_scale=None,
        variance=0.1,
    ):
        xp = _default_xp(xp)
        dtype = xp.float64 if dtype is None else dtype
        scale = (
            1.0 / math.sqrt(max(self.n_parents, 1))
            if weight_scale is None
            else weight_scale
        )
        zeros = xp.zeros(self.n_features, dtype=dtype, device=device)
        params = self._draw_affine(random_state, xp, device, dtype, scale, zeros)
        params["log_var"] = zeros + math.log(variance)
        return self.set_params(params)

    def _moments(self, parent, n_samples=None):
        m = self._pre_activation(parent, n_samples)
        v = get_namespace(m).exp(self.params["log_var"])
        return m, v

    def mean(self, parent=None, n_samples=None):
        return self._moments(parent, n_samples)[0]

    def variance(self, parent=None, n_samples=None):
        m, v = self._moments(parent, n_samples)
        return get_namespace(m).broadcast_to(v[None, :], m.shape)

    def unbounded_features(self, child):
        # A column without spread is fitted exactly by the offset, and its
        # log-density -log(2 pi v) / 2 grows without bound as its variance v
        # is learnt towards 0 (factor analysis has the same degeneracy).
        if child.shape[0] == 0 or not {"log_var", self._offset} <= set(self.trainable):
            return []
        xp = get_namespace(child)
        constant = to_numpy(xp.max(child, axis=0) == xp.min(child, axis=0))
        return [int(i) for i in np.flatnonzero(constant)]

    def sample(self, parent=None, *, n_samples=None, random_state=None):
        m, v = self._moments(parent, n_samples)
        xp = get_namespace(m)
        eps = draw(
            random_state,
            "standard_normal",
            m.shape,
            xp=xp,
            device=_device(m),
            dtype=m.dtype,
        )
        return m + xp.sqrt(v) * eps

    def log_prob(self, child, parent=None):
        m, v = self._moments(parent, child.shape[0])
        xp = get_namespace(m)
        r = child - m
        return -0.5 * xp.sum(r * r / v + xp.log(v) + _LOG_2PI, axis=1)

    def log_prob_terms(self, child, pre_activation):
        xp = get_namespace(pre_activation)
        v = xp.exp(self.params["log_var"])
        r = child - pre_activation
        return -0.5 * (r * r / v + xp.log(v) + _LOG_2PI)

    def sufficient_statistics(self, child):
        xp = get_namespace(child)
        return xp.concat([child, child * child], axis=1)

    def natural_parameters(self, parent=None, n_samples=None):
        m, v = self._moments(parent, n_samples)
        xp = get_namespace(m)
        return xp.concat([m / v, xp.broadcast_to(-0.5 / v, m.shape)], axis=1)

    def mean_parameters(self, parent=None, n_samples=None):
        m, v = self._moments(parent, n_samples)
        xp = get_namespace(m)
        return xp.concat([m, m * m + v], axis=1)

    def log_normalizer(self, parent=None, n_samples=None):
        m, v = self._moments(parent, n_samples)
        xp = get_namespace(m)
        return xp.sum(0.5 * m * m / v + 0.5 * xp.log(v), axis=1)

    def log_base_measure(self, child):
        xp = get_namespace(child)
        return xp.zeros(child.shape[0], dtype=child.dtype, device=_device(child)) - (
            0.5 * _LOG_2PI * self.n_features
        )

    def grad_natural(self, parent, coef):
        d = self.n_features
        m, v = self._moments(parent, coef.shape[0])
        xp = get_namespace(m)
        c1, c2 = coef[:, :d], coef[:, d:]
        # d(m/v)/da = 1/v; d(m/v)/dlog_v = -m/v; d(-1/(2v))/dlog_v = 1/(2v)
        grads = self._affine_grads(parent, c1 / v)
        grads["log_var"] = xp.sum(-c1 * m / v + 0.5 * c2 / v, axis=0)
        return grads

    def grad_log_normalizer(self, parent, weights):
        # Phi = m^2/(2v) + log(v)/2 (+ constants)
        m, v = self._moments(parent, weights.shape[0])
        xp = get_namespace(m)
        w = weights[:, None]
        grads = self._affine_grads(parent, w * m / v)
        grads["log_var"] = xp.sum(w * (0.5 - 0.5 * m * m / v), axis=0)
        return grads

    def grad_params(self, child, parent=None, weights=None):
        # Direct form of the base class's derivation (fewer temporaries than
        # stacking S = [x, x^2]); the tests check both against differences.
        m, v = self._moments(parent, child.shape[0])
        xp = get_namespace(m)
        diff = child - m
        r = diff / v
        w = 1.0 if weights is None else weights[:, None]
        grads = self._affine_grads(parent, w * r)
        grads["log_var"] = 0.5 * xp.sum(w * (r * diff - 1.0), axis=0)
        return grads

    def parent_statistic(self, child):
        # -(x - W z - b)^2 / (2 v) = x^T V^-1 W z + terms of x or z alone
        if not self.n_parents:
            return None
        xp = get_namespace(child)
        return (child / xp.exp(self.params["log_var"])) @ self.params["weights"]

    @property
    def supports_moments(self):
        # quadratic in the parent through the affine mean; a prior has no parent
        return self.n_parents > 0

    def expected_log_prob_moments(self, child, parent_mean, parent_cov):
        # E_q (x - W z - b)^2 = (x - W m - b)^2 + diag(W C W^T)
        self._check_moments()
        m, v = self._moments(parent_mean)
        xp = get_namespace(m)
        r = child - m
        spread = self._projected_covariance(parent_cov)
        return -0.5 * xp.sum(
            (r * r + spread[None, :]) / v + xp.log(v) + _LOG_2PI, axis=1
        )

    def expected_grad_params_moments(self, child, parent_mean, parent_cov):
        # d/dtheta of expected_log_prob_moments summed over rows:
        # W: sum_n (r_n / v) m_n^T - n W C / v;  b: sum_n r_n / v;
        # log_var: sum_n ((r_n^2 + diag(W C W^T)) / v - 1) / 2
        self._check_moments()
        m, v = self._moments(parent_mean)
        xp = get_namespace(m)
        n = child.shape[0]
        r = child - m
        weights = self.params["weights"]
        wc = weights @ parent_cov
        spread = xp.sum(wc * weights, axis=1)
        grads = self._affine_grads(parent_mean, r / v)
        grads["weights"] = grads["weights"] - n * wc / v[:, None]
        grads["log_var"] = 0.5 * xp.sum((r * r + spread[None, :]) / v - 1.0, axis=0)
        return grads

    def _projected_covariance(self, parent_cov):
        """``diag(W C W^T)``: the parent's covariance seen through the weights."""
        xp = get_namespace(parent_cov)
        weights = self.params["weights"]
        return xp.sum((weights @ parent_cov) * weights, axis=1)

    def _check_moments(self):
        if not self.supports_moments:
            raise NotImplementedError(
                f"{type(self).__name__} is a prior: it has no moment form."
            )

    def initialize_from_data(self, child, parent, random_state=None):
        """Probabilistic PCA of ``child`` (Tipping & Bishop, 1999) scaled to ``parent``.

        The ``k = min(n_parents, n_features)`` leading principal directions
        ``u_j`` of ``child`` (eigenvalues ``lambda_j``), scaled by
        ``sqrt(lambda_j - sigma^2)`` and turned by a random rotation ``Q``
        within their span, become the columns of ``weights``, divided by the
        spread of ``parent[:, j]``: ``weights[:, :k] = U diag(sqrt(lambda -
        sigma^2)) Q diag(1 / std(parent))``. The model's covariance is then
        PPCA's maximum-likelihood fit whatever ``Q``.
        ``sigma^2`` is the mean of the other eigenvalues (PPCA's maximum
        likelihood noise), or a tenth of the smallest when ``n_parents >=
        n_features`` leaves none. The bias puts the model's mean on the data
        mean; ``log_var`` is each feature's variance left unexplained. Parent
        coordinates beyond ``n_features`` keep small random directions.
        """
        self._check_initialized()
        random_state = check_random_state(random_state)
        xp = get_namespace(child)
        dtype, dev = child.dtype, _device(child)
        n, d = child.shape
        mean = xp.mean(child, axis=0)
        centred = child - mean
        cov = centred.T @ centred / max(n - 1, 1)
        # eigh's eigenvectors are defined up to sign and QR's factors up to
        # the signs of R's diagonal, and LAPACK and cuSOLVER choose
        # differently: both are taken on the host (a d x d and a k x k
        # matrix, once per fit), as the random draws are (utils._random), so
        # that a start is the same on NumPy, array_api_strict and CuPy.
        eigvals, eigvecs = np.linalg.eigh(to_numpy(cov))  # ascending
        eigvals = to_namespace(eigvals, xp, device=dev)
        eigvecs = to_namespace(eigvecs, xp, device=dev)
        eigvals = xp.maximum(eigvals, xp.zeros_like(eigvals))
        k = min(self.n_parents, d)
        top = eigvals[d - k :]
        u = eigvecs[:, d - k :]
        if d > k:
            sigma2 = xp.mean(eigvals[: d - k])
        else:
            sigma2 = 0.1 * eigvals[0]
        floor = xp.asarray(1e-6, dtype=dtype, device=dev) * (xp.max(eigvals) + 1e-30)
        sigma2 = xp.maximum(sigma2, floor)
        explained = xp.maximum(top - sigma2, floor)
        parent_mean = xp.mean(parent, axis=0)
        parent_std = xp.std(parent, axis=0)
        parent_std = xp.where(parent_std > 0, parent_std, xp.ones_like(parent_std))
        weights = self.params["weights"]
        # A random rotation within the principal subspace: the principal axes
        # themselves are a saddle for sparse (non-Gaussian) latents, whose
        # directions need not be orthogonal (PCA-aligned starts ended at
        # MMD^2 3.1e-3 on the paper's synthetic model, random rotations at
        # 1e-4; benchmarks/bench_ddc_defaults.py).
        gaussian = draw(
            random_state, "standard_normal", (k, k), xp=xp, device=dev, dtype=dtype
        )
        rotation = to_namespace(np.linalg.qr(to_numpy(gaussian))[0], xp, device=dev)
        scaled = (u * xp.sqrt(explained)[None, :]) @ rotation
        scaled = scaled / parent_std[None, :k]
        if self.n_parents > k:
            # no data direction left: keep the random ones, at the noise's scale
            extra = weights[:, k:] * xp.sqrt(sigma2) / parent_std[None, k:]
            scaled = xp.concat([scaled, extra], axis=1)
        # each feature's variance not explained by the k directions
        residual = xp.linalg.diagonal(cov) - (u * u) @ explained
        variance = xp.maximum(residual, 1e-3 * xp.linalg.diagonal(cov) + floor)
        return self.set_params(
            {
                "weights": scaled,
                "bias": mean - scaled @ parent_mean,
                "log_var": xp.log(variance),
            }
        )

    def grad_child(self, child, parent=None):
        m, v = self._moments(parent, child.shape[0])
        return (m - child) / v

    def grad_parent(self, child, parent):
        m, v = self._moments(parent)
        return ((child - m) / v) @ self.params["weights"]


class GaussianPrior(GaussianLayer):
    """Gaussian prior ``p(z) = N(mean, diag(exp(log_var)))`` for the top layer.

    Parameters
    ----------
    n_features : int
    mean, log_var : arrays of shape (n_features,), optional
    trainable : bool or iterable of str, default=False
        Fixed by default, like every top prior: the layers below can absorb
        its mean and scale. As the top layer of a model an estimator fits,
        ``True`` (or the names of the parameters to learn) has it learnt
        under the estimator's default ``fit_prior="auto"``.
    """

    param_names = ("mean", "log_var")
    _offset = "mean"

    def __init__(self, n_features, *, mean=None, log_var=None, trainable=False):
        Layer.__init__(
            self, n_features, 0, trainable=trainable, mean=mean, log_var=log_var
        )

    def initialize(
        self, random_state=None, *, xp=None, device=None, dtype=None, variance=1.0
    ):
        xp = _default_xp(xp)
        dtype = xp.float64 if dtype is None else dtype
        zeros = xp.zeros(self.n_features, dtype=dtype, device=device)
        return self.set_params({"mean": zeros, "log_var": zeros + math.log(variance)})


class LaplaceLayer(_AffineLayer):
    """Laplace with softplus scale: ``p(z | parent) = Laplace(loc, s)``.

    ``s = softplus(weights @ parent + bias)``.

    The density is ``exp(-|z - loc| / s) / (2 s)``: ``s`` is the *scale* (the
    paper's Eq. 13 writes ``lambda = softplus(B z2)`` without saying whether
    lambda is a scale or a rate; we take it as the scale). Sufficient statistic
    ``S(z) = |z - loc|``, natural parameter ``-1 / s``, log-normaliser
    ``log(2 s)``, mean parameter ``E|z - loc| = s``.

    The location is a fixed constant (``loc``, default 0, as in the paper): a
    learnt location would make ``S`` depend on the parameters and leave the
    exponential family.

    Parameters
    ----------
    n_features, n_parents : int
    weights : array of shape (n_features, n_parents), optional
    bias : array of shape (n_features,), optional
    loc : float, default=0.0
    trainable : bool or iterable of str, default=True
    """

    param_names = ("weights", "bias")

    def __init__(
        self, n_features, n_parents, *, weights=None, bias=None, loc=0.0, trainable=True
    ):
        if n_parents == 0:
            raise ValueError("LaplaceLayer needs n_parents >= 1.")
        self.loc = float(loc)
        super().__init__(
            n_features, n_parents, trainable=trainable, weights=weights, bias=bias
        )

    def param_shapes(self):
        return self._affine_shapes()

    def initialize(
        self,
        random_state=None,
        *,
        xp=None,
        device=None,
        dtype=None,
        weight_scale=None,
        scale=1.0,
    ):
        xp = _default_xp(xp)
        dtype = xp.float64 if dtype is None else dtype
        w_scale = (
            1.0 / math.sqrt(self.n_parents) if weight_scale is None else weight_scale
        )
        # inverse softplus of the wanted scale, on the host
        offset = xp.zeros(self.n_features, dtype=dtype, device=device) + (
            scale + math.log(-math.expm1(-scale))
        )
        return self.set_params(
            self._draw_affine(random_state, xp, device, dtype, w_scale, offset)
        )

    def scale(self, parent):
        return self._scale_terms(parent)[0]

    def _scale_terms(self, parent):
        """``(s, ds/da) = (softplus(a), sigmoid(a))``, cached like the affine map."""
        a = self._pre_activation(parent)
        cached = self.__dict__.get("_cache_scale")
        if cached is not None and cached[0] is a:
            return cached[1], cached[2]
        s, slope = softplus(a), sigmoid(a)
        self._cache_scale = (a, s, slope)
        return s, slope

    def mean(self, parent=None, n_samples=None):
        a = self._pre_activation(parent, n_samples)
        return get_namespace(a).zeros_like(a) + self.loc

    def variance(self, parent=None, n_samples=None):
        s = self.scale(parent)
        return 2.0 * s * s

    def sample(self, parent=None, *, n_samples=None, random_state=None):
        s = self.scale(parent)
        xp = get_namespace(s)
        eps = draw(
            random_state,
            "standard_laplace",
            s.shape,
            xp=xp,
            device=_device(s),
            dtype=s.dtype,
        )
        return self.loc + s * eps

    def log_prob(self, child, parent=None):
        s = self.scale(parent)
        xp = get_namespace(s)
        return -xp.sum(xp.abs(child - self.loc) / s + xp.log(2.0 * s), axis=1)

    def log_prob_terms(self, child, pre_activation):
        xp = get_namespace(pre_activation)
        s = softplus(pre_activation)
        return -(xp.abs(child - self.loc) / s + xp.log(2.0 * s))

    def sufficient_statistics(self, child):
        return get_namespace(child).abs(child - self.loc)

    def natural_parameters(self, parent=None, n_samples=None):
        return -1.0 / self.scale(parent)

    def mean_parameters(self, parent=None, n_samples=None):
        return self.scale(parent)

    def log_normalizer(self, parent=None, n_samples=None):
        s = self.scale(parent)
        return get_namespace(s).sum(get_namespace(s).log(2.0 * s), axis=1)

    def log_base_measure(self, child):
        xp = get_namespace(child)
        return xp.zeros(child.shape[0], dtype=child.dtype, device=_device(child))

    def grad_natural(self, parent, coef):
        s, slope = self._scale_terms(parent)
        # d(-1/s)/da = sigmoid(a) / s^2
        return self._affine_grads(parent, coef * slope / (s * s))

    def grad_log_normalizer(self, parent, weights):
        s, slope = self._scale_terms(parent)
        # d log(2 s)/da = sigmoid(a) / s
        return self._affine_grads(parent, weights[:, None] * slope / s)

    def grad_params(self, child, parent=None, weights=None):
        s, slope = self._scale_terms(parent)
        g_a = (get_namespace(s).abs(child - self.loc) / s - 1.0) * slope / s
        if weights is not None:
            g_a = weights[:, None] * g_a
        return self._affine_grads(parent, g_a)

    def grad_child(self, child, parent=None):
        s = self.scale(parent)
        return -get_namespace(s).sign(child - self.loc) / s

    def grad_parent(self, child, parent):
        s, slope = self._scale_terms(parent)
        xp = get_namespace(s)
        g_a = (xp.abs(child - self.loc) / s - 1.0) * slope / s
        return g_a @ self.params["weights"]


class BernoulliLayer(_AffineLayer):
    """Sigmoid belief network layer.

    ``p(x_i = 1 | parent) = sigmoid(weights @ parent + bias)``.

    Sufficient statistic ``S(x) = x``, natural parameter the logits ``a``,
    log-normaliser ``softplus(a)``, mean parameter ``sigmoid(a)``.

    Parameters
    ----------
    n_features, n_parents : int
    weights : array of shape (n_features, n_parents), optional
    bias : array of shape (n_features,), optional
    trainable : bool or iterable of str, default=True
    """

    param_names = ("weights", "bias")
    is_binary = True

    def __init__(
        self, n_features, n_parents, *, weights=None, bias=None, trainable=True
    ):
        if n_parents == 0:
            raise ValueError("BernoulliLayer needs n_parents >= 1; use BernoulliPrior.")
        super().__init__(
            n_features, n_parents, trainable=trainable, weights=weights, bias=bias
        )

    def param_shapes(self):
        return self._affine_shapes()

    def initialize(
        self, random_state=None, *, xp=None, device=None, dtype=None, weight_scale=None
    ):
        xp = _default_xp(xp)
        dtype = xp.float64 if dtype is None else dtype
        scale = (
            1.0 / math.sqrt(max(self.n_parents, 1))
            if weight_scale is None
            else weight_scale
        )
        zeros = xp.zeros(self.n_features, dtype=dtype, device=device)
        return self.set_params(
            self._draw_affine(random_state, xp, device, dtype, scale, zeros)
        )

    def logits(self, parent=None, n_samples=None):
        return self._pre_activation(parent, n_samples)

    def mean(self, parent=None, n_samples=None):
        return self._logit_terms(parent, n_samples, which=(0,))[0]

    def _logit_terms(self, parent, n_samples=None, which=(0, 1)):
        """``(sigmoid(a), softplus(a))`` (those in ``which``), cached per logits.

        Each term is computed on first use: ``log_prob`` needs only the
        softplus, ``mean`` only the sigmoid.
        """
        a = self.logits(parent, n_samples)
        cached = self.__dict__.get("_cache_logit")
        if cached is None or cached[0] is not a:
            cached = [a, None, None]
            if parent is not None:
                self._cache_logit = cached
        for i in which:
            if cached[i + 1] is None:
                cached[i + 1] = sigmoid(a) if i == 0 else softplus(a)
        return cached[1], cached[2]

    def variance(self, parent=None, n_samples=None):
        p = self.mean(parent, n_samples)
        return p * (1.0 - p)

    def sample(self, parent=None, *, n_samples=None, random_state=None):
        p = self.mean(parent, n_samples)
        xp = get_namespace(p)
        u = draw(
            random_state, "uniform", p.shape, xp=xp, device=_device(p), dtype=p.dtype
        )
        return xp.astype(u < p, p.dtype)

    def log_prob(self, child, parent=None):
        a = self.logits(parent, child.shape[0])
        xp = get_namespace(a)
        return xp.sum(
            child * a - self._logit_terms(parent, child.shape[0], which=(1,))[1], axis=1
        )

    def log_prob_terms(self, child, pre_activation):
        return child * pre_activation - softplus(pre_activation)

    def flip_log_prob_changes(self, child, pre_activation, sign):
        """Change of ``log p(child | a)`` as ``a`` moves by one weight column.

        ``log p(child | a + sign_k W[:, k]) - log p(child | a)`` for every
        parent coordinate ``k``, in closed form. With ``delta = sign_k W[:,
        k]``, ``log p(x | a + delta) - log p(x | a) = x . delta - sum_i
        [softplus(a_i + delta_i) - softplus(a_i)]`` and ``softplus(a +
        delta) - softplus(a) = log(sigmoid(-a) + sigmoid(a) exp(delta))``:
        the first sum is one product with ``W``, the second needs one
        logarithm per entry and ``exp(+-W)`` once per call, where evaluating
        the toggled log-densities costs a softplus (an exponential and a
        logarithm) per entry: ``score`` of an SBN 784-200-200-200 learnt on
        MNIST runs about twice as fast (``benchmarks/bench_ais.py score``).
        Weights so large that ``exp(W)`` could overflow take the general
        form.

        Parameters
        ----------
        child : array of shape (n, n_features)
        pre_activation : array of shape (n, n_features)
            The logits ``a`` at the current parent.
        sign : array of shape (n, n_parents)
            +1 or -1 per parent coordinate.

        Returns
        -------
        change : array of shape (n, n_parents)
        """
        xp = get_namespace(pre_activation)
        weights = self._weights()
        if bool(xp.max(xp.abs(weights)) > math.log(xp.finfo(weights.dtype).max) / 2):
            return super().flip_log_prob_changes(child, pre_activation, sign)
        w_t = weights.T[None, ...]
        scale = xp.where(sign[:, :, None] > 0, xp.exp(w_t), xp.exp(-w_t))
        p, q = sigmoid(pre_activation), sigmoid(-pre_activation)
        softplus_change = xp.sum(xp.log(q[:, None, :] + p[:, None, :] * scale), axis=2)
        return sign * (child @ weights) - softplus_change

    def sufficient_statistics(self, child):
        return child

    def natural_parameters(self, parent=None, n_samples=None):
        return self.logits(parent, n_samples)

    def mean_parameters(self, parent=None, n_samples=None):
        return self.mean(parent, n_samples)

    def log_normalizer(self, parent=None, n_samples=None):
        a = self.logits(parent, n_samples)
        return get_namespace(a).sum(
            self._logit_terms(parent, n_samples, which=(1,))[1], axis=1
        )

    def log_base_measure(self, child):
        xp = get_namespace(child)
        return xp.zeros(child.shape[0], dtype=child.dtype, device=_device(child))

    def grad_natural(self, parent, coef):
        return self._affine_grads(parent, coef)

    def grad_log_normalizer(self, parent, weights):
        a = self.logits(parent, weights.shape[0])
        return self._affine_grads(
            parent, weights[:, None] * self.mean(parent, a.shape[0])
        )

    def grad_natural_minus_log_normalizer(self, parent, coef, weights):
        # both halves are gradients of the affine map: one product, not two
        # (the observation layer's (784 x n_sleep) x (n_sleep x 200) on MNIST)
        mean = self.mean(parent, weights.shape[0])
        return self._affine_grads(parent, coef - weights[:, None] * mean)

    def grad_params(self, child, parent=None, weights=None):
        g_a = child - self.mean(parent, child.shape[0])
        if weights is not None:
            g_a = weights[:, None] * g_a
        return self._affine_grads(parent, g_a)

    def parent_statistic(self, child):
        # x . (W z + b) - sum softplus(W z + b): x meets z only in x^T W z
        if not self.n_parents:
            return None
        return child @ self.params["weights"]

    def initialize_from_data(self, child, parent, random_state=None):
        """Biases matching the data's mean of every unit; weights kept.

        ``bias_i = logit(mean(child_i)) - weights_i . mean(parent)``, the
        standard start of a sigmoid belief network's bottom layer, with the
        mean clipped to ``[1/(n+2), 1 - 1/(n+2)]`` so that a pixel that is
        never on gets a finite bias.
        """
        self._check_initialized()
        xp = get_namespace(child)
        n = child.shape[0]
        eps = 1.0 / (n + 2)
        p = xp.clip(xp.mean(child, axis=0), eps, 1.0 - eps)
        weights = self.params["weights"]
        return self.set_params(
            {
                "weights": weights,
                "bias": xp.log(p) - xp.log1p(-p) - weights @ xp.mean(parent, axis=0),
            }
        )

    def grad_child(self, child, parent=None):
        # log p is linear in x: the derivative of the relaxed density.
        return self.logits(parent, child.shape[0]) + 0.0 * child

    def grad_parent(self, child, parent):
        return (child - self.mean(parent)) @ self.params["weights"]

    def check_child(self, child, name="X"):
        if not is_binary(child):
            raise ValueError(
                f"{name} must be binary (0/1) for a Bernoulli layer "
                f"({type(self).__name__}); got other values."
            )


class BernoulliPrior(BernoulliLayer):
    """Factorised Bernoulli prior ``p(z_i = 1) = sigmoid(logits_i)``.

    Parameters
    ----------
    n_features : int
    logits : array of shape (n_features,), optional
    trainable : bool or iterable of str, default=False
        Fixed by default, like every top prior. As the top layer of a model
        an estimator fits, ``True`` has it learnt under the estimator's
        default ``fit_prior="auto"``.
    """

    param_names = ("logits",)
    _offset = "logits"

    def __init__(self, n_features, *, logits=None, trainable=False):
        Layer.__init__(self, n_features, 0, trainable=trainable, logits=logits)

    def initialize(self, random_state=None, *, xp=None, device=None, dtype=None):
        xp = _default_xp(xp)
        dtype = xp.float64 if dtype is None else dtype
        return self.set_params(
            {"logits": xp.zeros(self.n_features, dtype=dtype, device=device)}
        )
