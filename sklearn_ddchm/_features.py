"""Random sigmoid encoding functions T(z) for distributed distributional codes."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from .utils._array_api import (
    check_same_namespace,
    get_namespace,
    get_namespace_and_device,
    sigmoid,
    to_numpy,
)
from .utils._random import draw
from .utils._state import restored_on_error
from .utils._validation import IntInterval

__all__ = ["RandomSigmoidFeatures"]


class RandomSigmoidFeatures(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Random sigmoid features T(z) = sigmoid(z W + b), the encoding functions of a DDC.

    A distributed distributional code (DDC) represents a distribution over a
    latent ``z`` by the expectations ``E[T(z)]`` of ``n_components`` encoding
    functions. Following [1]_ (Eq. 4), each function is a
    sigmoid of a random projection, ``T_k(z) = sigmoid(w_k . z + b_k)``; the
    linear special case ``T(z) = z`` gives the classic mean-field Helmholtz
    machine. Like :class:`~sklearn.kernel_approximation.RBFSampler`, ``fit``
    only draws the random parameters (using the data for their scale and
    location) and ``transform`` is a fixed feature map.

    The defaults, ``weight_scale="auto"`` (``1 / sqrt(n_features)``) and
    ``bias="anchor"`` (hyperplanes through random points of the data's
    bounding box), are the best measured options; see the Notes.

    Parameters
    ----------
    n_components : int, default=100
        Number of encoding functions K, i.e. of output features. Ignored when
        ``activation="linear"``.

    activation : {"sigmoid", "linear"}, default="sigmoid"
        ``"sigmoid"``: ``T(z) = sigmoid(z @ weights_ + biases_)``.
        ``"linear"``: ``T(z) = z``, returned exactly; the output has
        ``n_features_in_`` columns and keeps the input feature names.

    weight_scale : "auto" or float > 0, default="auto"
        Standard deviation of the entries of ``weights_`` (drawn
        ``N(0, weight_scale**2)``). ``"auto"`` is ``1 / sqrt(n_features_in_)``,
        so that ``w . (z - z')`` stays of order one whatever the dimension.

    bias : {"anchor", "normal"}, default="anchor"
        ``"anchor"``: ``b_k = -w_k . a_k`` with ``a_k`` drawn uniformly in the
        bounding box ``[min(X), max(X)]`` (per feature) of the fit data, so
        that every hyperplane cuts through the data's range whatever its
        location (translation invariant). ``"normal"``: ``b_k ~ N(0,
        bias_scale**2)``, as in the paper.

    bias_scale : float > 0, default=1.0
        Standard deviation of the biases when ``bias="normal"``; ignored
        otherwise.

    random_state : int, RandomState instance or None, default=None
        Controls the draws of weights and anchors/biases. All random numbers
        are drawn on the host, so the same ``random_state`` gives the same
        features with every array namespace and device. Pass an int for
        reproducible output across multiple function calls.
        Seeds the random weights and anchors (see scikit-learn's glossary).

    Attributes
    ----------
    weights_ : array of shape (n_features, n_components)
        Projection directions, one column ``w_k`` per encoding function, in
        the namespace, device and dtype of the fit data (as
        ``RBFSampler.random_weights_``). The identity when
        ``activation="linear"``.

    biases_ : array of shape (n_components,)
        Offsets ``b_k``; zeros when ``activation="linear"``.

    anchors_ : array of shape (n_components, n_features)
        The point ``a_k`` each hyperplane goes through (``a_k @ weights_[:, k]
        + biases_[k] == 0``). Only set when ``bias="anchor"`` and
        ``activation="sigmoid"``.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.kernel_approximation.RBFSampler : Random Fourier features
        approximating an RBF kernel feature map.
    sklearn.neural_network.BernoulliRBM : Learned sigmoid features of binary
        data.

    Notes
    -----
    With the paper's unscaled N(0, 1) weights, every feature of
    high-dimensional latents saturates: for 200 Bernoulli(0.3) latents
    ``w . z`` has a standard deviation near 7.7, so about 70% of the values
    of ``T`` lie outside (0.05, 0.95) and the regression design degenerates to
    0/1 columns. The defaults were chosen with
    ``benchmarks/bench_encoding.py``: held-out R^2 of ridge regression of
    targets the DDC-HM needs on ``[T(z), 1]`` (mean over targets and 5
    seeds, 2000 training samples, lambda = 1e-3 trace(T'T) / K):

    ===========================  =========  =========  =========  =========
    weights / biases             2-D K=100  2-D K=200  bin K=100  bin K=200
    ===========================  =========  =========  =========  =========
    N(0, 1) / N(0, 1) (paper)    0.982      0.988      0.21       0.36
    1/sqrt(d) / N(0, 1)          0.987      0.990      0.36       0.67
    1 / box anchor               0.994      0.997      0.20       0.35
    0.5/sqrt(d) / box anchor     0.986      0.991      0.37       0.67
    1/sqrt(d) / data-row anchor  0.991      0.994      0.37       0.71
    1/sqrt(d) / box anchor       0.993      0.996      0.37       0.71
    2/sqrt(d) / box anchor       0.995      0.997      0.35       0.65
    standardized z, default      0.987      0.991      0.35       0.64
    ===========================  =========  =========  =========  =========

    The 2-D latents are Laplace(0, 1) and a mixture of N(-3, 1) and N(3, 1)
    (targets z, z^2, ``|z|``, z_1 z_2, sigmoid(a . z), softplus(a . z) and a
    logsumexp); the binary targets are z_i, z_i z_j, sigmoid(w . z + c),
    softplus(w . z + c) and sigmoid(w . z + c) z_i (with K = 100 < d = 200
    features no encoding can fit all linear targets, hence the lower scores).
    ``1 / sqrt(d)`` is clearly best in 200 dimensions (0.71 against at most
    0.67 for 0.5, 2 or sqrt(d) times it) and within 0.002 of the best in 2
    dimensions, where it hardly differs from 1. Anchored biases beat normal
    ones on both. Box anchors are slightly better than anchors at random rows
    of the data on average and clearly on the hardest targets (z^2 and
    ``|z|`` of the heavy-tailed latent: worst-target R^2 0.981 against 0.962
    at K=200), because they also place hyperplanes in the sparsely sampled
    tails.
    Standardizing z first did not help (0.64 on the binary latents), so no
    such option is offered; the defaults assume latents of roughly unit
    spread, as the DDC-HM's priors have. For latents of spread ``s``, set
    ``weight_scale`` to about ``1 / (sqrt(n_features) * s)``.

    References
    ----------
    .. [1] E. Vertes and M. Sahani, "Flexible and accurate inference and
       learning for deep generative models", Advances in Neural Information
       Processing Systems 31 (NeurIPS 2018).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ddchm._features import RandomSigmoidFeatures
    >>> rng = np.random.RandomState(0)
    >>> Z = (rng.uniform(size=(500, 200)) < 0.3).astype(float)
    >>> encoder = RandomSigmoidFeatures(n_components=50, random_state=0)
    >>> T = encoder.fit_transform(Z)
    >>> T.shape
    (500, 50)
    >>> bool(np.mean((T > 0.05) & (T < 0.95)) > 0.5)  # not saturated
    True
    >>> encoder.get_feature_names_out()[:3]
    array(['randomsigmoidfeatures0', 'randomsigmoidfeatures1',
           'randomsigmoidfeatures2'], dtype=object)
    """

    _parameter_constraints: dict = {
        "n_components": [IntInterval(1, None, closed="left")],
        "activation": [StrOptions({"sigmoid", "linear"})],
        "weight_scale": [
            StrOptions({"auto"}),
            Interval(Real, 0.0, None, closed="neither"),
        ],
        "bias": [StrOptions({"anchor", "normal"})],
        "bias_scale": [Interval(Real, 0.0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=100,
        *,
        activation="sigmoid",
        weight_scale="auto",
        bias="anchor",
        bias_scale=1.0,
        random_state=None,
    ):
        self.n_components = n_components
        self.activation = activation
        self.weight_scale = weight_scale
        self.bias = bias
        self.bias_scale = bias_scale
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Draw the random weights and biases, scaled and placed by `X`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples of the latent variable. Only its number of features (and,
            with ``bias="anchor"``, its per-feature range) is used.

        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        # a failed fit leaves a fitted transformer as it was
        with restored_on_error(self):
            return self._fit(X)

    def _fit(self, X):
        xp, _ = get_namespace_and_device(X)
        X = validate_data(self, X, dtype=[xp.float64, xp.float32])
        xp, device = get_namespace_and_device(X)
        n_features = X.shape[1]
        dtype = X.dtype

        self._linear = self.activation == "linear"
        if self._linear:
            # Kept so that the fitted state (namespace, device, dtype, feature
            # count) is described the same way for both activations.
            self.weights_ = xp.eye(n_features, dtype=dtype, device=device)
            self.biases_ = xp.zeros(n_features, dtype=dtype, device=device)
            self._n_features_out = n_features
            return self

        # One generator for all draws: calling ``draw`` with the int seed each
        # time would restart the stream and correlate weights and anchors.
        rng = check_random_state(self.random_state)
        if self.weight_scale == "auto":
            weight_scale = 1.0 / math.sqrt(n_features)
        else:
            weight_scale = float(self.weight_scale)
        shape = (n_features, self.n_components)
        self.weights_ = weight_scale * draw(
            rng, "standard_normal", shape, xp=xp, device=device, dtype=dtype
        )
        if self.bias == "anchor":
            low = xp.min(X, axis=0)
            high = xp.max(X, axis=0)
            _check_range(X, low, high, xp)
            unit = draw(
                rng,
                "uniform",
                (self.n_components, n_features),
                xp=xp,
                device=device,
                dtype=dtype,
            )
            self.anchors_ = low + (high - low) * unit
            with np.errstate(over="ignore"):  # reported just below
                self.biases_ = -xp.sum(self.anchors_ * self.weights_.T, axis=1)
            if not bool(xp.all(xp.isfinite(self.biases_))):
                raise ValueError(
                    "X is too large for the encoding functions: the biases "
                    f"-sum(anchor * weight) overflow {dtype} (largest |value| of X "
                    f"{float(xp.max(xp.abs(X))):.3g}). Rescale X."
                )
        else:
            self.biases_ = self.bias_scale * draw(
                rng,
                "standard_normal",
                (self.n_components,),
                xp=xp,
                device=device,
                dtype=dtype,
            )
        self._n_features_out = self.n_components
        return self

    def transform(self, X):
        """Evaluate the encoding functions T on `X`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Latent samples, in the namespace and on the device of the fit data.

        Returns
        -------
        T : array of shape (n_samples, n_features_out)
            ``sigmoid(X @ weights_ + biases_)``, or a copy of ``X`` when
            ``activation="linear"``; same namespace and device as `X`.
        """
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="weights_", method="transform")
        xp, _ = get_namespace_and_device(X)
        X = validate_data(self, X, reset=False, dtype=[xp.float64, xp.float32])
        if self._linear:
            # Never hand the caller's own array back as the output.
            return xp.asarray(X, copy=True)
        return self._transform(X, xp=xp)

    def _transform(self, Z, xp=None):
        """T(Z) without any validation: the fast path for internal callers.

        `Z` must already be a 2-D floating array with ``n_features_in_``
        columns in the namespace and on the device of ``weights_``; pass `xp`
        to skip the namespace look-up. With ``activation="linear"`` `Z` itself
        is returned (no copy).
        """
        if self._linear:
            return Z
        xp = get_namespace(Z) if xp is None else xp
        return sigmoid(Z @ self.weights_ + self.biases_, xp=xp)

    def get_feature_names_out(self, input_features=None):
        """Get output feature names for transformation.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only used to validate feature names with the names seen in `fit`
            (and, for ``activation="linear"``, as the output names).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``randomsigmoidfeatures0``, ``randomsigmoidfeatures1``, ...; with
            ``activation="linear"`` the input feature names (``x0``, ``x1``,
            ... when `X` had none), since T(z) = z.
        """
        check_is_fitted(self, "_n_features_out")
        if self._linear:
            return _check_feature_names_in(self, input_features)
        return super().get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.array_api_support = True
        return tags


def _check_range(X, low, high, xp):
    """Raise ValueError when X's per-feature range overflows its dtype."""
    fmax = float(xp.finfo(X.dtype).max)
    # Python floats: an overflow is inf, without NumPy's warning
    pairs = zip(to_numpy(high).tolist(), to_numpy(low).tolist(), strict=True)
    widest = max(float(h) - float(l) for h, l in pairs)
    if not widest <= fmax:
        raise ValueError(
            f"X's per-feature range (max - min up to {widest:.3g}) overflows "
            f"{X.dtype}: the encoding functions place their anchors in it. "
            "Rescale X."
        )
