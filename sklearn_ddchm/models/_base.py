"""The interface every conditional distribution of a deep exponential family has.

A layer is ``p(child | parent)`` (or a prior ``p(child)`` with no parent) in
exponential-family form (Section 3 of Vertes & Sahani, 2018)::

    log p(child | parent) = eta(parent, theta)^T S(child) - Phi(eta(parent, theta))
                            + log h(child)

Learning algorithms never look inside a family. They need

- ``sample``, ``log_prob``;
- the sufficient statistics ``S`` and mean parameters ``mu = E[S | parent]``;
- ``grad_natural(parent, coef) = sum_n coef_n^T d eta(parent_n) / d theta``: a
  vector-Jacobian product of the natural parameter, returned per parameter with
  the parameter's own shape (never a dense Jacobian);
- ``grad_log_normalizer(parent, weights) = sum_n w_n d Phi(eta(parent_n)) / d theta``;
- ``grad_params(child, parent, weights)
  = sum_n w_n d log p(child_n | parent_n) / d theta``
  (derived here from the two above, Eq. 16-17 of the paper's appendix);
- ``grad_child`` and ``grad_parent``: d log p / d child and d log p / d parent,
  per sample.

Priors that are not in the exponential family (the mixture of Gaussians)
override ``grad_params`` and set ``is_exponential_family = False``.
"""

from __future__ import annotations

import numbers

import array_api_compat

from ..utils._array_api import device as _device
from ..utils._array_api import get_namespace, to_namespace


class Layer:
    """Base class of a conditional distribution ``p(child | parent)``.

    Parameters
    ----------
    n_features : int
        Dimension of the child variable.
    n_parents : int
        Dimension of the parent variable; 0 for a top-layer prior.
    trainable : bool or iterable of str
        Which parameters learning algorithms may change. ``True`` means all
        of :attr:`param_names`, ``False`` none.
    **params : arrays
        Initial parameters by name (all of :attr:`param_names` or none); layers
        without parameters get them from :meth:`initialize`.
    """

    #: names of the parameters, in a fixed order
    param_names: tuple = ()
    #: whether ``S``, ``grad_natural`` and ``grad_log_normalizer`` exist
    is_exponential_family = True
    #: whether the child takes values in {0, 1} only
    is_binary = False
    #: a mixture of narrow components (``components`` and ``responsibilities``
    #: available): scoring proposals then mix over its components
    is_mixture = False

    def __init__(self, n_features, n_parents=0, *, trainable=True, **params):
        _check_positive_int(n_features, "n_features")
        _check_positive_int(n_parents, "n_parents", allow_zero=True)
        self.n_features = int(n_features)
        self.n_parents = int(n_parents)
        if trainable is True:
            trainable = self.param_names
        elif trainable is False:
            trainable = ()
        trainable = tuple(trainable)
        unknown = set(trainable) - set(self.param_names)
        if unknown:
            raise ValueError(
                f"trainable must name parameters of {type(self).__name__} "
                f"{self.param_names}, got unknown {sorted(unknown)}."
            )
        self.trainable = trainable
        self.params = {}
        for name, value in params.items():
            if name not in self.param_names:
                raise TypeError(
                    f"{type(self).__name__} got an unexpected parameter {name!r}; "
                    f"expected one of {self.param_names}."
                )
            if value is not None:
                self.params[name] = value
        if self.params:
            missing = set(self.param_names) - set(self.params)
            if missing:
                raise ValueError(
                    f"{type(self).__name__}: give all of {self.param_names} or none; "
                    f"missing {sorted(missing)}."
                )
            self.set_params(self.params)

    # -- parameters ---------------------------------------------------------
    @property
    def is_initialized(self) -> bool:
        return bool(self.params)

    def param_shapes(self) -> dict:
        """Shape of every parameter, by name."""
        raise NotImplementedError

    def initialize(self, random_state=None, *, xp=None, device=None, dtype=None):
        """Draw default random parameters; returns self."""
        raise NotImplementedError

    def set_params(self, params) -> Layer:
        """Replace parameters by name, checking shapes and finiteness; returns self.

        Parameter arrays are treated as immutable: change them through this
        method (or ``DeepExponentialFamily.set_parameters``), not in place,
        since results derived from them may be cached.
        """
        shapes = self.param_shapes()
        new = dict(self.params)
        for name, value in params.items():
            if name not in shapes:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r}; "
                    f"expected one of {tuple(shapes)}."
                )
            if not hasattr(value, "shape"):
                import numpy as np

                value = np.asarray(value, dtype=float)
            if tuple(value.shape) != shapes[name]:
                raise ValueError(
                    f"{type(self).__name__}.{name} must have shape {shapes[name]}, "
                    f"got {tuple(value.shape)}."
                )
            xp = get_namespace(value)
            if not bool(xp.all(xp.isfinite(value))):
                raise ValueError(
                    f"{type(self).__name__}.{name} must be finite, got NaN or inf."
                )
            new[name] = value
        self.params = new
        self._drop_caches()
        self._check_params()
        return self

    def _check_params(self):
        """Family-specific checks (e.g. positive scales); raise ValueError."""

    def copy(self) -> Layer:
        """A copy whose parameter arrays are independent of this layer's."""
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__getstate__())
        new.params = {k: _copy_array(v) for k, v in self.params.items()}
        return new

    def __getstate__(self):
        # derived arrays (a family's caches, "_cache_*") are not state
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_cache_")}

    def _drop_caches(self):
        for key in [k for k in self.__dict__ if k.startswith("_cache_")]:
            del self.__dict__[key]

    def to(self, xp, device=None, dtype=None) -> Layer:
        """A copy with every parameter moved to namespace ``xp`` on ``device``."""
        new = self.copy()
        new.params = {
            k: to_namespace(v, xp, device=device, dtype=dtype)
            for k, v in self.params.items()
        }
        return new

    def _xp(self):
        return get_namespace(*self.params.values())

    def _check_initialized(self):
        if not self.params:
            raise ValueError(
                f"{type(self).__name__} has no parameters yet: pass them to the "
                "constructor or call initialize()."
            )

    # -- distribution -------------------------------------------------------
    def sample(self, parent=None, *, n_samples=None, random_state=None):
        """Draw one child per parent row (or ``n_samples`` from a prior)."""
        raise NotImplementedError

    def log_prob(self, child, parent=None):
        """log p(child_n | parent_n), shape (n_samples,)."""
        raise NotImplementedError

    def mean(self, parent=None, n_samples=None):
        """E[child | parent], shape (n_samples, n_features)."""
        raise NotImplementedError

    def variance(self, parent=None, n_samples=None):
        """Var[child | parent] per coordinate, shape (n_samples, n_features)."""
        raise NotImplementedError

    def sufficient_statistics(self, child):
        """S(child), shape (n_samples, n_stats)."""
        raise NotImplementedError

    def mean_parameters(self, parent=None, n_samples=None):
        """mu(parent) = E[S(child) | parent], shape (n_samples, n_stats)."""
        raise NotImplementedError

    def natural_parameters(self, parent=None, n_samples=None):
        """eta(parent, theta), shape (n_samples, n_stats)."""
        raise NotImplementedError

    def log_normalizer(self, parent=None, n_samples=None):
        """Phi(eta(parent, theta)), shape (n_samples,)."""
        raise NotImplementedError

    def log_base_measure(self, child):
        """log h(child), shape (n_samples,): log p = eta^T S - Phi + log h."""
        raise NotImplementedError

    # -- gradients ----------------------------------------------------------
    def grad_natural(self, parent, coef):
        """sum_n coef_n^T d eta(parent_n, theta) / d theta, one array per parameter.

        Parameters
        ----------
        parent : array of shape (n, n_parents) or None
        coef : array of shape (n, n_stats)
        """
        raise NotImplementedError

    def grad_log_normalizer(self, parent, weights):
        """sum_n w_n d Phi(eta(parent_n, theta)) / d theta, one array per parameter.

        ``weights`` has shape (n,); with ``parent=None`` its length gives n.
        """
        raise NotImplementedError

    def grad_natural_minus_log_normalizer(self, parent, coef, weights):
        """``grad_natural(parent, coef) - grad_log_normalizer(parent, weights)``.

        The two halves of a weighted log-likelihood gradient, ``sum_n (coef_n^T
        d eta_n / d theta - w_n d Phi_n / d theta)``, which the wake phase
        needs together (Eq. 19). A layer may override it to contract both in
        one product.
        """
        g_nat = self.grad_natural(parent, coef)
        g_phi = self.grad_log_normalizer(parent, weights)
        return {k: g_nat[k] - g_phi[k] for k in g_nat}

    def grad_params(self, child, parent=None, weights=None):
        """sum_n w_n d log p(child_n | parent_n) / d theta (Eq. 16-17).

        ``weights=None`` means all ones. Returns a dict of arrays shaped like
        the parameters.
        """
        xp = get_namespace(child)
        n = child.shape[0]
        if weights is None:
            weights = xp.ones(n, dtype=child.dtype, device=_device(child))
        stats = self.sufficient_statistics(child)
        return self.grad_natural_minus_log_normalizer(
            parent, weights[:, None] * stats, weights
        )

    #: whether :meth:`expected_log_prob_moments` and
    #: :meth:`expected_grad_params_moments` exist: ``E_q[log p(child | z)]``
    #: depends on ``q`` only through the mean and covariance of ``z``
    supports_moments = False

    def expected_log_prob_moments(self, child, parent_mean, parent_cov):
        """``E_q[log p(child_n | z)]`` for ``q`` with the given moments, shape (n,).

        Only for layers with :attr:`supports_moments`, whose log-density is a
        quadratic function of the parent: the expectation then depends on
        ``q(z)`` only through ``parent_mean[n]`` (shape (n, n_parents)) and
        the covariance ``parent_cov`` (shape (n_parents, n_parents), shared by
        the rows).
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no moment form (supports_moments=False)."
        )

    def expected_grad_params_moments(self, child, parent_mean, parent_cov):
        """``sum_n E_q[d log p(child_n | z) / d theta]`` from the moments of ``q``.

        See :meth:`expected_log_prob_moments`. Returns a dict of arrays shaped
        like the parameters.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no moment form (supports_moments=False)."
        )

    def parent_statistic(self, child):
        """The statistic of ``child`` that meets the parent in ``log p``, or None.

        ``t(child)`` of shape (n, n_parents) such that ``log p(child | parent)
        = t(child) . parent + f(child) + g(parent)``. Where it exists, the
        posterior of the parent, and of every layer above it, depends on
        ``child`` only through ``t(child)``: Bayes' rule multiplies the prior
        by ``exp(t(child) . parent + g(parent))``, and ``f(child)`` cancels.
        None where ``log p`` does not split so (a Laplace layer's
        ``|child - W parent - b|``) or there is no parent.
        """
        return None

    def initialize_from_data(self, child, parent, random_state=None):
        """Set parameters so that the model's children resemble ``child``.

        ``parent`` holds draws of the parent variable under the (already
        initialised) layers above, shape (m, n_parents). The default keeps the
        parameters as they are; observation families override it (a data
        dependent start puts the model's first samples where the data are).
        Returns self.
        """
        return self

    def grad_child(self, child, parent=None):
        """d log p(child | parent) / d child, shape (n, n_features)."""
        raise NotImplementedError

    def grad_parent(self, child, parent):
        """d log p(child | parent) / d parent, shape (n, n_parents)."""
        raise NotImplementedError

    def check_child(self, child, name="X"):
        """Raise ValueError when ``child`` is outside the support."""

    def unbounded_features(self, child):
        """Indices of the columns of ``child`` on which this layer, as the
        observation layer of training data ``child``, has a likelihood without
        an upper bound in its trainable parameters (none by default)."""
        return []

    def __repr__(self):
        extra = f", n_parents={self.n_parents}" if self.n_parents else ""
        return f"{type(self).__name__}(n_features={self.n_features}{extra})"


def _check_positive_int(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{name} must be {bound}, got {value}.")


def _copy_array(a):
    # the array's own namespace, not the dispatch setting's: with dispatch off
    # that is NumPy, which cannot (CuPy) or must not (array_api_strict) take
    # a device array
    xp = array_api_compat.array_namespace(a)
    return xp.asarray(a, copy=True)


def affine(parent, weights, bias, n_samples=None):
    """parent @ weights.T + bias; a prior (parent None) broadcasts the bias."""
    if parent is None:
        xp = get_namespace(bias)
        if n_samples is None:
            raise ValueError("n_samples is required when the layer has no parent.")
        return xp.broadcast_to(bias[None, :], (int(n_samples), bias.shape[0]))
    return parent @ weights.T + bias
