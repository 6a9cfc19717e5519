"""Variational and importance-weighted autoencoders on the model library.

The recognition model is an MLP mapping standardised ``x`` to the means and
log-variances of a factorised Gaussian over all latent layers jointly,
``q(z_1, ..., z_L | x) = N(mu(x), diag(exp(log_var(x))))`` with
``z = [z_1, ..., z_L]`` concatenated. The objective is the importance-weighted
bound of Burda et al. (2016, Eq. 8)::

    L_k(x) = E_{eps} log 1/k sum_j w_j,   w_j = p(x, z_j) / q(z_j | x),
    z_j = mu(x) + sigma(x) * eps_j,       eps_j ~ N(0, I),

which is the VAE's evidence lower bound for ``k = 1`` (Kingma & Welling,
2014). Its gradient on fixed noise (Burda et al., Eq. 14) is
``sum_j w~_j grad log w_j`` with the normalised weights ``w~``:

- generative parameters: ``sum_j w~_j grad_theta log p(x, z_j)``, from
  :meth:`DeepExponentialFamily.grad_parameters`;
- recognition parameters: by the chain rule through ``z = mu + sigma eps``.
  ``log q(z_j | x) = -sum_d (eps_jd^2 / 2 + log sigma_d) + const`` on the
  reparameterised sample, so with ``g_j = grad_z log p(x, z_j)``
  (:meth:`DeepExponentialFamily.grad_latents`)::

      d L / d mu      = sum_j w~_j g_j
      d L / d log_var = sum_j w~_j g_j * sigma * eps_j / 2 + 1 / 2

  and these are back-propagated through the MLP (:mod:`._mlp`).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._base import BaseDeepGenerativeEstimator
from .._importance import FactorisedProposal
from ..utils._array_api import (
    check_same_namespace,
    get_namespace,
    get_namespace_and_device,
    logsumexp,
)
from ..utils._random import draw
from ..utils._validation import IntInterval
from ._mlp import ACTIVATIONS, mlp_backward, mlp_forward, mlp_init

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------
# The objective and its gradient as functions of arrays (tested on their own)


def split_layers(Z, latent_dims):
    """Column blocks ``[z_1, ..., z_L]`` of the concatenated latents ``Z``."""
    out, start = [], 0
    for d in latent_dims:
        out.append(Z[:, start : start + d])
        start += d
    return out


def encode(X_std, coefs, intercepts, activation):
    """Recognition means and log-variances of the concatenated latents, and a cache."""
    out, cache = mlp_forward(X_std, coefs, intercepts, activation)
    d = out.shape[1] // 2
    return out[:, :d], out[:, d:], cache


def log_weights(model, X, mean, log_var, eps):
    """``log w_j = log p(x, z_j) - log q(z_j | x)`` for ``z_j = mean + sigma eps_j``.

    Parameters
    ----------
    model : DeepExponentialFamily
    X : array of shape (B, n_features)
    mean, log_var : arrays of shape (B, D)
        Recognition output; ``D = sum(latent_dims)``.
    eps : array of shape (k, B, D)
        Standard normal noise.

    Returns
    -------
    log_w : array of shape (k, B)
    X_rep : array of shape (k * B, n_features)
        ``X`` repeated once per particle (particle index major).
    latents : list of arrays of shape (k * B, D_l)
    """
    xp = get_namespace(X)
    k, B, D = eps.shape
    sigma = xp.exp(0.5 * log_var)
    Z = xp.reshape(mean[None, ...] + sigma[None, ...] * eps, (k * B, D))
    latents = split_layers(Z, model.latent_dims)
    X_rep = xp.reshape(
        xp.broadcast_to(X[None, ...], (k, B, X.shape[1])), (k * B, X.shape[1])
    )
    log_p = xp.reshape(model.log_joint(X_rep, latents), (k, B))
    log_q = -0.5 * xp.sum(eps * eps + log_var[None, ...] + _LOG_2PI, axis=2)
    return log_p - log_q, X_rep, latents


def iwae_bound(model, X, mean, log_var, eps):
    """Per-datum importance-weighted bound ``log 1/k sum_j w_j``, shape (B,)."""
    xp = get_namespace(X)
    log_w, _, _ = log_weights(model, X, mean, log_var, eps)
    return logsumexp(log_w, axis=0, xp=xp) - math.log(eps.shape[0])


def iwae_gradients(model, X, X_std, coefs, intercepts, eps, activation="tanh"):
    """Batch-mean IWAE bound and its gradient on fixed noise (Burda et al., Eq. 14).

    Parameters
    ----------
    model : DeepExponentialFamily
    X : array of shape (B, n_features)
    X_std : array of shape (B, n_features)
        Standardised ``X``, the input of the recognition MLP.
    coefs, intercepts : lists of arrays
        Recognition MLP, output ``2 * D`` (means then log-variances).
    eps : array of shape (k, B, D)
    activation : str

    Returns
    -------
    bound : 0-d array
        ``mean_b L_k(x_b)``.
    model_grads : dict
        Gradient of ``bound`` wrt every model parameter, keyed like
        :meth:`DeepExponentialFamily.get_parameters`.
    grad_coefs, grad_intercepts : lists of arrays
        Gradient of ``bound`` wrt the recognition MLP.
    """
    xp = get_namespace(X)
    k, B, D = eps.shape
    mean, log_var, cache = encode(X_std, coefs, intercepts, activation)
    log_w, X_rep, latents = log_weights(model, X, mean, log_var, eps)
    log_norm = logsumexp(log_w, axis=0, keepdims=True, xp=xp)
    bound = xp.mean(log_norm) - math.log(k)
    w = xp.exp(log_w - log_norm)  # normalised importance weights, (k, B)
    # generative side: sum_j w~_j grad log p(x, z_j), averaged over the batch
    model_grads = model.grad_parameters(X_rep, latents, xp.reshape(w, (k * B,)) / B)
    # recognition side: chain rule through z = mean + sigma * eps
    g_z = xp.reshape(xp.concat(model.grad_latents(X_rep, latents), axis=1), (k, B, D))
    wg = w[..., None] * g_z
    sigma = xp.exp(0.5 * log_var)
    grad_mean = xp.sum(wg, axis=0)
    # + 1/2: -log q grows with the width, d(log sigma)/d(log_var) = 1/2, sum_j w~_j = 1
    grad_log_var = 0.5 * sigma * xp.sum(wg * eps, axis=0) + 0.5
    grad_out = xp.concat([grad_mean, grad_log_var], axis=1) / B
    grad_coefs, grad_intercepts = mlp_backward(coefs, cache, grad_out, activation)
    return bound, model_grads, grad_coefs, grad_intercepts


# ---------------------------------------------------------------------------
# The estimators


class _BaseReparameterisedEstimator(BaseDeepGenerativeEstimator):
    """Shared code of :class:`VAEEstimator` and :class:`IWAEEstimator`."""

    _parameter_constraints: dict = {
        **BaseDeepGenerativeEstimator._parameter_constraints,
        "hidden_layer_sizes": [
            "array-like",
            IntInterval(1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "n_jobs": [
            IntInterval(1, None, closed="left"),
            IntInterval(None, -1, closed="right"),
            None,
        ],
    }

    #: prefix of the output feature names
    _feature_prefix = "iwae"

    def _n_particles(self):
        raise NotImplementedError

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
            for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be an int >= 1 or a sequence of ints >= 1, "
                f"got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _initialize_algorithm(self, X, rng):
        model = self.model_
        binary = [
            l for l, layer in enumerate(model.layers[1:], start=1) if layer.is_binary
        ]
        if binary:
            raise ValueError(
                f"{type(self).__name__} needs continuous latent variables (its "
                "gradient is reparameterised through z = mu + sigma * eps), but latent "
                f"layer(s) {binary} of the model are binary. Use VIMCOEstimator for "
                "sigmoid belief networks."
            )
        xp, device = get_namespace_and_device(X)
        self.input_mean_ = xp.mean(X, axis=0)
        scale = xp.std(X, axis=0)
        self.input_scale_ = xp.where(scale > 0, scale, xp.ones_like(scale))
        n_latent = sum(model.latent_dims)
        sizes = (X.shape[1], *self._hidden_sizes(), 2 * n_latent)
        self.encoder_coefs_, self.encoder_intercepts_ = mlp_init(
            sizes, rng, xp=xp, device=device, dtype=X.dtype
        )

    def _get_extra_parameters(self):
        params = {f"coefs_{i}": W for i, W in enumerate(self.encoder_coefs_)}
        params.update(
            {f"intercepts_{i}": b for i, b in enumerate(self.encoder_intercepts_)}
        )
        return params

    def _set_extra_parameters(self, params):
        n = len(self.encoder_coefs_)
        self.encoder_coefs_ = [params[f"coefs_{i}"] for i in range(n)]
        self.encoder_intercepts_ = [params[f"intercepts_{i}"] for i in range(n)]

    def _standardize(self, X):
        return (X - self.input_mean_) / self.input_scale_

    def _gradient_step(self, X_batch, rng, criterion=True):
        xp, device = get_namespace_and_device(X_batch)
        n_latent = self.encoder_intercepts_[-1].shape[0] // 2
        eps = draw(
            rng,
            "standard_normal",
            (self._n_particles(), X_batch.shape[0], n_latent),
            xp=xp,
            device=device,
            dtype=X_batch.dtype,
        )
        return self._sliced_gradients(self._gradients_on, X_batch, [eps])

    def _gradients_on(self, X_batch, noise):
        (eps,) = noise
        bound, grads, grad_coefs, grad_intercepts = iwae_gradients(
            self.model_,
            X_batch,
            self._standardize(X_batch),
            self.encoder_coefs_,
            self.encoder_intercepts_,
            eps,
            self.activation,
        )
        trainable = self.model_.trainable_parameters()
        extra = {f"coefs_{i}": g for i, g in enumerate(grad_coefs)}
        extra.update({f"intercepts_{i}": g for i, g in enumerate(grad_intercepts)})
        return {k: grads[k] for k in trainable}, extra, bound

    # -- posterior side ---------------------------------------------------------
    def _encode(self, X):
        mean, log_var, _ = encode(
            self._standardize(X),
            self.encoder_coefs_,
            self.encoder_intercepts_,
            self.activation,
        )
        return mean, log_var

    def transform(self, X):
        """Recognition means ``mu(x)`` of every latent layer, concatenated.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : array of shape (n_samples, sum(latent_dims))
            Column block ``l`` is the mean of ``q(z_l | x)``; see
            :meth:`get_feature_names_out`.
        """
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="input_mean_", method="transform")
        X = self._validate_X(X, reset=False)
        return self._encode(X)[0]

    def get_feature_names_out(self, input_features=None):
        """Names ``{prefix}_z{l}_{i}``: coordinate ``i`` of latent layer ``l``."""
        check_is_fitted(self)
        return np.asarray(
            [
                f"{self._feature_prefix}_z{l + 1}_{i}"
                for l, d in enumerate(self.model_.latent_dims)
                for i in range(d)
            ],
            dtype=object,
        )

    def _proposal(self, X):
        # The recognition model's own mean and width, with Student-t tails
        # (FactorisedProposal) so that log p(x) stays finite when q is too narrow.
        xp = get_namespace(X)
        mean, log_var = self._encode(X)
        dims = self.model_.latent_dims
        return FactorisedProposal(
            split_layers(mean, dims),
            split_layers(xp.exp(log_var), dims),
            [False] * len(dims),
        )


class IWAEEstimator(_BaseReparameterisedEstimator):
    """Deep exponential family model learnt as an importance-weighted autoencoder.

    Maximises the ``k``-sample importance-weighted bound of Burda et al.
    (2016) with reparameterised gradients; the proposal is a factorised
    Gaussian over all latent layers produced by an MLP from ``x``.

    Parameters
    ----------
    model : {"sparse", "gaussian"} or DeepExponentialFamily, default="sparse"
        The generative model, as for
        :class:`~sklearn_ddchm.DDCHelmholtzEstimator`: ``"sparse"`` (the
        paper's Eq. 13), ``"gaussian"`` (linear-Gaussian layers) or an
        instance, copied, whose layers that carry parameters start from them.
        Every latent layer must be continuous; ``"sbn"`` (binary latents)
        raises a ValueError in :meth:`fit`.
    latent_dims : "auto", int or tuple of int, default="auto"
        ``(D_1, ..., D_L)``, bottom-up. Ignored when ``model`` is an instance.
        ``"auto"``: chosen from ``X`` as
        :class:`~sklearn_ddchm.DDCHelmholtzEstimator` chooses them (see its
        ``latent_dims``), so that both fit the same model family; the widths
        used are ``latent_dims_``.
    n_particles : int, default=5
        ``k``, the importance samples per datum in the training bound (the
        paper compares k = 5 and 50). ``n_particles=1`` is the VAE.
        Not to be confused with ``n_importance``, used for scoring only.
    hidden_layer_sizes : int or tuple of int, default=(100, 100)
        Hidden units of the recognition MLP (the paper's two layers of 100).
    activation : {"tanh", "relu", "softplus"}, default="tanh"
        Hidden-unit nonlinearity of the recognition MLP; the output layer is
        linear (means and log-variances).
    learning_rate : float, default=1e-3
        Initial Adam step size (generative and recognition parameters alike).
    learning_rate_decay : float in (0, 1], default=0.1
        Ratio of the final to the initial step size, decayed every step at the
        pace of ``learning_rate_decay_power`` (the schedule of
        :class:`~sklearn_ddchm.DDCHelmholtzEstimator`): over the ``max_iter``
        epochs of :meth:`fit`, and over ``learning_rate_decay_samples`` samples
        of :meth:`partial_fit`; 1.0 keeps the step constant.
    learning_rate_decay_samples : float or None, default=None
        Horizon of the :meth:`partial_fit` schedule, in samples: a step taken
        after ``s`` samples (``n_samples_seen_``, counted over the training
        steps since initialisation, across calls) has the step size
        ``learning_rate * learning_rate_decay ** (min(1, s /
        learning_rate_decay_samples) ** learning_rate_decay_power)``, the floor
        after the horizon. ``None`` keeps :meth:`partial_fit` at the constant
        ``learning_rate``. ``E`` streamed passes over ``n`` samples with a
        horizon of ``E * n`` follow the schedule of ``fit(max_iter=E)``.
        :meth:`fit` decays over its own run and ignores it.
    learning_rate_decay_power : float > 0, default=1.0
        Shape of the decay: the step size is ``learning_rate *
        learning_rate_decay ** (progress ** learning_rate_decay_power)``,
        ``progress`` running from 0 to 1 over the fit (or the ``partial_fit``
        horizon). 1 decays geometrically at a constant rate; a larger power
        keeps the step near ``learning_rate`` for longer and decays it later
        (with 2, half-way through the step is ``learning_rate_decay ** 0.25`` of
        the first, 0.56 for a decay of 0.1, against 0.32 at a power of 1).
    average_fraction : float in [0, 1), default=0.0
        Fraction of :meth:`fit`'s steps, at its end, whose parameters are
        averaged (Polyak-Ruppert averaging): the fitted parameters are the
        mean of the iterates after each of the last ``ceil(average_fraction
        * N)`` of its ``N`` scheduled steps (fewer, or none, when ``tol``
        ends the fit early), which smooths the noise that the last steps'
        gradients leave in the last iterate. With ``early_stopping`` the same
        share of every epoch is averaged instead: each epoch is scored, and
        may be kept, as the mean of its last ``ceil(average_fraction * M)``
        of ``M`` iterates, while training goes on from its last iterate. 0
        keeps the last iterate. A fit that diverges keeps its last sane
        iterate instead. :meth:`partial_fit`, whose stream has no
        known end, keeps in ``model_`` a polynomial-decay average of every
        iterate of its stream, across calls (iterate ``s`` of ``t`` with a
        weight about proportional to ``(s / t) ** (2 / average_fraction -
        2)``, so the average is centred where a uniform one of the last
        ``average_fraction`` of the steps is), while each call continues from
        the last iterate.
    batch_size : int, default=100
    max_iter : int, default=100
        Epochs (passes over the data) of :meth:`fit`.
    tol : float or None, default=None
        Stop when the per-epoch mean training bound has not improved by
        ``tol`` for ``n_iter_no_change`` epochs; ``None`` runs all epochs.
    n_iter_no_change : int, default=10
    early_stopping : bool, default=False
        ``fit`` holds out a random ``validation_fraction`` of ``X``, scores
        it after every epoch (``score``'s importance-sampling estimate of the
        held-out log-likelihood, the same noise each time), stops after
        ``n_iter_no_change`` epochs without an improvement by ``tol`` (0 if
        None) and ends at the parameters of the best-scoring epoch (that
        epoch's average, see ``average_fraction``). For fits that pass a good
        model and then move away from it. Scoring runs ``score`` on the
        held-out rows after every epoch, which on large data can cost more
        than the epoch's training: lower ``validation_fraction`` there.
        ``partial_fit`` ignores it.
    validation_fraction : float in (0, 1), default=0.1
        Share of ``fit``'s rows held out when ``early_stopping=True``.
    fit_prior : "auto" or bool, default="auto"
        Whether the top prior's parameters are learnt or kept fixed.
        ``"auto"``: fixed for a named ``model``; for a ``model`` instance,
        as its top layer's own ``trainable`` says (every prior class is
        fixed by default). ``True`` or ``False`` decides for an instance's
        top layer too, whatever that layer says.
    init : {"auto", "data", "random"}, default="auto"
        How the observation layer starts: ``"data"`` fits it to ``X`` (a
        probabilistic PCA of ``X`` for Gaussian observations, the data's means
        for Bernoulli ones, see
        :meth:`~sklearn_ddchm.models.DeepExponentialFamily.initialize_from_data`)
        so that the model's first samples cover the data; ``"random"`` draws
        it at random like the layers above; ``"auto"`` is ``"data"`` when
        ``X`` has more features than the first latent layer (a PCA then
        separates a latent subspace from noise) and ``"random"`` otherwise.
        An observation layer of a ``model`` instance that carries parameters
        keeps them either way.
    n_importance : int, default=100
        Importance samples per datum in :meth:`score_samples`, the package's
        shared estimator: the proposal starts as ``q`` widened to Student-t
        tails (the private ``sklearn_ddchm._importance.FactorisedProposal``) and is
        re-centred by its adaptive rounds.
    warm_start : bool, default=False
        Continue from the previous fit's generative and recognition parameters.
    n_init : int, default=1
        The number of fits from different random starts: :meth:`fit` keeps
        the one with the highest mean log-likelihood on the training rows
        (:meth:`score`'s estimate, with the same noise for every fit, on at
        most 2,000 rows), as ``GaussianMixture`` keeps its best start, at
        ``n_init`` times the cost. The first start is the one ``n_init=1``
        makes; a fit that diverged or collapsed (``diverged_``) is kept only
        if every fit did, and only the kept fit's warnings are raised.
        Ignored when ``warm_start`` continues a fitted model, and by
        :meth:`partial_fit`.
    n_jobs : int or None, default=None
        Threads computing each minibatch's gradient, each on a slice of the
        minibatch (NumPy inputs only; other array namespaces compute it in
        one piece). ``None`` means 1 and ``-1`` all processors, as in
        joblib. The noise is drawn for the whole minibatch before slicing,
        so the fit does not depend on ``n_jobs`` beyond floating-point
        rounding. While threads are used, BLAS runs on one thread in each.
    device_random : bool, default=False
        Draw the training noise with CuPy's own generator when ``X`` is a
        CuPy array, instead of drawing it on the host with ``random_state``
        and moving it to the GPU. Faster (the host draws were 42% of a DDC-HM
        patch step on an H100, ``benchmarks/bench_gpu.py``) and
        reproducible for a given ``random_state`` on the same device, but the
        fit then no longer equals the NumPy fit draw for draw. Ignored for
        other namespaces.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        0: silent. 1: a line per epoch (``epoch k/max_iter``, the epoch's
        mean training criterion, the step size, elapsed and estimated
        remaining time) and a closing line of :meth:`fit` with the total
        time. 2 and more: also a line every tenth of an epoch.

    Attributes
    ----------
    latent_dims_ : tuple of int
        The widths ``(D_1, ..., D_L)`` of ``model_``'s latent layers: what
        ``latent_dims="auto"`` chose.
    model_ : DeepExponentialFamily
        The learnt generative model, in the namespace and on the device of X.
    encoder_coefs_ : list of arrays
        Weights of the recognition MLP, ``coefs[i]`` of shape (n_in, n_out);
        the output has ``2 * sum(latent_dims)`` units, the means then the
        log-variances of ``q``.
    encoder_intercepts_ : list of arrays
    input_mean_, input_scale_ : arrays of shape (n_features,)
        Standardisation of the inputs of the recognition MLP.
    n_iter_ : int
        Epochs run.
    validation_scores_ : list of float or None
        The held-out log-likelihood after each epoch of the last ``fit``
        with ``early_stopping=True``; None otherwise.
    best_validation_score_ : float or None
        The best of ``validation_scores_``, the epoch whose parameters the
        fit kept; None without early stopping.
    n_samples_seen_ : int
        Samples processed by training steps since initialisation (by
        :meth:`fit` and :meth:`partial_fit`); the clock of the
        :meth:`partial_fit` schedule (``learning_rate_decay_samples``).
    learning_rate_ : float
        The first step size of the last run (``learning_rate``).
    training_curve_ : list of float
        Per-epoch mean of the training bound per datum.
    converged_ : bool
    diverged_ : bool
        Whether the last :meth:`fit` or :meth:`partial_fit` stopped at a
        divergence check (non-finite numbers, a parameter beyond 1e4 times its
        starting scale, samples spread beyond 1e3 times the data's, or a
        training criterion no sane model reaches: the parameters are then
        those of the last check that passed) or because it collapsed (its
        latents came to explain less than 5% of the model's variance and
        less than a tenth of their largest share in the same fit: the
        parameters are then those of its last check at which they still
        explained at least 80% of that share). A ``ConvergenceWarning`` says
        which.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    VAEEstimator : The single-sample case.
    sklearn_ddchm.DDCHelmholtzEstimator : The DDC Helmholtz machine.

    Notes
    -----
    With ``z_j = mu(x) + sigma(x) eps_j``, ``log w_j = log p(x, z_j) - log
    q(z_j | x)`` and the normalised weights ``w~_j``, the gradient of
    ``log 1/k sum_j w_j`` on fixed noise (Burda et al., Eq. 14) is
    ``sum_j w~_j grad_theta log p(x, z_j)`` for the generative parameters and,
    back-propagated through the MLP,
    ``d/d mu = sum_j w~_j g_j`` and
    ``d/d log_var = sum_j w~_j g_j sigma eps_j / 2 + 1/2`` with
    ``g_j = grad_z log p(x, z_j)``.

    References
    ----------
    Y. Burda, R. Grosse and R. Salakhutdinov. Importance weighted
    autoencoders. ICLR 2016.

    Examples
    --------
    >>> from sklearn_ddchm.baselines import IWAEEstimator
    >>> from sklearn_ddchm.datasets import make_sparse_hierarchical
    >>> X, _, _ = make_sparse_hierarchical(n_samples=500, random_state=0)
    >>> est = IWAEEstimator(n_particles=5, max_iter=2, random_state=0).fit(X)
    >>> est.transform(X[:3]).shape
    (3, 3)
    >>> est.sample(4).shape
    (4, 2)
    """

    _parameter_constraints: dict = {
        **_BaseReparameterisedEstimator._parameter_constraints,
        "n_particles": [IntInterval(1, None, closed="left")],
    }

    _criterion_name = "IWAE bound"

    def __init__(
        self,
        model="sparse",
        latent_dims="auto",
        n_particles=5,
        hidden_layer_sizes=(100, 100),
        activation="tanh",
        learning_rate=1e-3,
        learning_rate_decay=0.1,
        learning_rate_decay_samples=None,
        learning_rate_decay_power=1.0,
        average_fraction=0.0,
        batch_size=100,
        max_iter=100,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        fit_prior="auto",
        init="auto",
        n_importance=100,
        warm_start=False,
        n_init=1,
        n_jobs=None,
        device_random=False,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.latent_dims = latent_dims
        self.n_particles = n_particles
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_decay_samples = learning_rate_decay_samples
        self.learning_rate_decay_power = learning_rate_decay_power
        self.average_fraction = average_fraction
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.fit_prior = fit_prior
        self.init = init
        self.n_importance = n_importance
        self.warm_start = warm_start
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.device_random = device_random
        self.random_state = random_state
        self.verbose = verbose

    def _n_particles(self):
        return int(self.n_particles)


class VAEEstimator(_BaseReparameterisedEstimator):
    """Deep exponential family model learnt as a variational autoencoder.

    Maximises the evidence lower bound ``E_q[log p(x, z) - log q(z | x)]``
    with one reparameterised sample per datum, ``q`` a factorised Gaussian
    over all latent layers produced by an MLP from ``x``. This is
    :class:`IWAEEstimator` with ``n_particles=1`` and shares its code: the
    two give identical fits for the same ``random_state``.

    Parameters
    ----------
    model : {"sparse", "gaussian"} or DeepExponentialFamily, default="sparse"
        The generative model, as for
        :class:`~sklearn_ddchm.DDCHelmholtzEstimator`: ``"sparse"`` (the
        paper's Eq. 13), ``"gaussian"`` (linear-Gaussian layers) or an
        instance, copied, whose layers that carry parameters start from them.
        Every latent layer must be continuous; ``"sbn"`` (binary latents)
        raises a ValueError in :meth:`fit`.
    latent_dims : "auto", int or tuple of int, default="auto"
        ``(D_1, ..., D_L)``, bottom-up. Ignored when ``model`` is an instance.
        ``"auto"``: chosen from ``X`` as
        :class:`~sklearn_ddchm.DDCHelmholtzEstimator` chooses them (see its
        ``latent_dims``), so that both fit the same model family; the widths
        used are ``latent_dims_``.
    hidden_layer_sizes : int or tuple of int, default=(100, 100)
        Hidden units of the recognition MLP (the paper's two layers of 100).
    activation : {"tanh", "relu", "softplus"}, default="tanh"
        Hidden-unit nonlinearity of the recognition MLP; the output layer is
        linear (means and log-variances).
    learning_rate : float, default=1e-3
        Initial Adam step size (generative and recognition parameters alike).
    learning_rate_decay : float in (0, 1], default=0.1
        Ratio of the final to the initial step size, decayed every step at the
        pace of ``learning_rate_decay_power`` (the schedule of
        :class:`~sklearn_ddchm.DDCHelmholtzEstimator`): over the ``max_iter``
        epochs of :meth:`fit`, and over ``learning_rate_decay_samples`` samples
        of :meth:`partial_fit`; 1.0 keeps the step constant.
    learning_rate_decay_samples : float or None, default=None
        Horizon of the :meth:`partial_fit` schedule, in samples: a step taken
        after ``s`` samples (``n_samples_seen_``, counted over the training
        steps since initialisation, across calls) has the step size
        ``learning_rate * learning_rate_decay ** (min(1, s /
        learning_rate_decay_samples) ** learning_rate_decay_power)``, the floor
        after the horizon. ``None`` keeps :meth:`partial_fit` at the constant
        ``learning_rate``. ``E`` streamed passes over ``n`` samples with a
        horizon of ``E * n`` follow the schedule of ``fit(max_iter=E)``.
        :meth:`fit` decays over its own run and ignores it.
    learning_rate_decay_power : float > 0, default=1.0
        Shape of the decay: the step size is ``learning_rate *
        learning_rate_decay ** (progress ** learning_rate_decay_power)``,
        ``progress`` running from 0 to 1 over the fit (or the ``partial_fit``
        horizon). 1 decays geometrically at a constant rate; a larger power
        keeps the step near ``learning_rate`` for longer and decays it later
        (with 2, half-way through the step is ``learning_rate_decay ** 0.25`` of
        the first, 0.56 for a decay of 0.1, against 0.32 at a power of 1).
    average_fraction : float in [0, 1), default=0.0
        Fraction of :meth:`fit`'s steps, at its end, whose parameters are
        averaged (Polyak-Ruppert averaging): the fitted parameters are the
        mean of the iterates after each of the last ``ceil(average_fraction
        * N)`` of its ``N`` scheduled steps (fewer, or none, when ``tol``
        ends the fit early), which smooths the noise that the last steps'
        gradients leave in the last iterate. With ``early_stopping`` the same
        share of every epoch is averaged instead: each epoch is scored, and
        may be kept, as the mean of its last ``ceil(average_fraction * M)``
        of ``M`` iterates, while training goes on from its last iterate. 0
        keeps the last iterate. A fit that diverges keeps its last sane
        iterate instead. :meth:`partial_fit`, whose stream has no
        known end, keeps in ``model_`` a polynomial-decay average of every
        iterate of its stream, across calls (iterate ``s`` of ``t`` with a
        weight about proportional to ``(s / t) ** (2 / average_fraction -
        2)``, so the average is centred where a uniform one of the last
        ``average_fraction`` of the steps is), while each call continues from
        the last iterate.
    batch_size : int, default=100
    max_iter : int, default=100
        Epochs (passes over the data) of :meth:`fit`.
    tol : float or None, default=None
        Stop when the per-epoch mean training bound has not improved by
        ``tol`` for ``n_iter_no_change`` epochs; ``None`` runs all epochs.
    n_iter_no_change : int, default=10
    early_stopping : bool, default=False
        ``fit`` holds out a random ``validation_fraction`` of ``X``, scores
        it after every epoch (``score``'s importance-sampling estimate of the
        held-out log-likelihood, the same noise each time), stops after
        ``n_iter_no_change`` epochs without an improvement by ``tol`` (0 if
        None) and ends at the parameters of the best-scoring epoch (that
        epoch's average, see ``average_fraction``). For fits that pass a good
        model and then move away from it. Scoring runs ``score`` on the
        held-out rows after every epoch, which on large data can cost more
        than the epoch's training: lower ``validation_fraction`` there.
        ``partial_fit`` ignores it.
    validation_fraction : float in (0, 1), default=0.1
        Share of ``fit``'s rows held out when ``early_stopping=True``.
    fit_prior : "auto" or bool, default="auto"
        Whether the top prior's parameters are learnt or kept fixed.
        ``"auto"``: fixed for a named ``model``; for a ``model`` instance,
        as its top layer's own ``trainable`` says (every prior class is
        fixed by default). ``True`` or ``False`` decides for an instance's
        top layer too, whatever that layer says.
    init : {"auto", "data", "random"}, default="auto"
        How the observation layer starts: ``"data"`` fits it to ``X`` (a
        probabilistic PCA of ``X`` for Gaussian observations, the data's means
        for Bernoulli ones, see
        :meth:`~sklearn_ddchm.models.DeepExponentialFamily.initialize_from_data`)
        so that the model's first samples cover the data; ``"random"`` draws
        it at random like the layers above; ``"auto"`` is ``"data"`` when
        ``X`` has more features than the first latent layer (a PCA then
        separates a latent subspace from noise) and ``"random"`` otherwise.
        An observation layer of a ``model`` instance that carries parameters
        keeps them either way.
    n_importance : int, default=100
        Importance samples per datum in :meth:`score_samples`, the package's
        shared estimator: the proposal starts as ``q`` widened to Student-t
        tails (the private ``sklearn_ddchm._importance.FactorisedProposal``) and is
        re-centred by its adaptive rounds.
    warm_start : bool, default=False
        Continue from the previous fit's generative and recognition parameters.
    n_init : int, default=1
        The number of fits from different random starts: :meth:`fit` keeps
        the one with the highest mean log-likelihood on the training rows
        (:meth:`score`'s estimate, with the same noise for every fit, on at
        most 2,000 rows), as ``GaussianMixture`` keeps its best start, at
        ``n_init`` times the cost. The first start is the one ``n_init=1``
        makes; a fit that diverged or collapsed (``diverged_``) is kept only
        if every fit did, and only the kept fit's warnings are raised.
        Ignored when ``warm_start`` continues a fitted model, and by
        :meth:`partial_fit`.
    n_jobs : int or None, default=None
        Threads computing each minibatch's gradient, each on a slice of the
        minibatch (NumPy inputs only; other array namespaces compute it in
        one piece). ``None`` means 1 and ``-1`` all processors, as in
        joblib. The noise is drawn for the whole minibatch before slicing,
        so the fit does not depend on ``n_jobs`` beyond floating-point
        rounding. While threads are used, BLAS runs on one thread in each.
    device_random : bool, default=False
        Draw the training noise with CuPy's own generator when ``X`` is a
        CuPy array, instead of drawing it on the host with ``random_state``
        and moving it to the GPU. Faster (the host draws were 42% of a DDC-HM
        patch step on an H100, ``benchmarks/bench_gpu.py``) and
        reproducible for a given ``random_state`` on the same device, but the
        fit then no longer equals the NumPy fit draw for draw. Ignored for
        other namespaces.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        0: silent. 1: a line per epoch (``epoch k/max_iter``, the epoch's
        mean training criterion, the step size, elapsed and estimated
        remaining time) and a closing line of :meth:`fit` with the total
        time. 2 and more: also a line every tenth of an epoch.

    Attributes
    ----------
    latent_dims_ : tuple of int
        The widths ``(D_1, ..., D_L)`` of ``model_``'s latent layers: what
        ``latent_dims="auto"`` chose.
    model_ : DeepExponentialFamily
        The learnt generative model, in the namespace and on the device of X.
    encoder_coefs_ : list of arrays
        Weights of the recognition MLP, ``coefs[i]`` of shape (n_in, n_out);
        the output has ``2 * sum(latent_dims)`` units, the means then the
        log-variances of ``q``.
    encoder_intercepts_ : list of arrays
    input_mean_, input_scale_ : arrays of shape (n_features,)
        Standardisation of the inputs of the recognition MLP.
    n_iter_ : int
        Epochs run.
    validation_scores_ : list of float or None
        The held-out log-likelihood after each epoch of the last ``fit``
        with ``early_stopping=True``; None otherwise.
    best_validation_score_ : float or None
        The best of ``validation_scores_``, the epoch whose parameters the
        fit kept; None without early stopping.
    n_samples_seen_ : int
        Samples processed by training steps since initialisation (by
        :meth:`fit` and :meth:`partial_fit`); the clock of the
        :meth:`partial_fit` schedule (``learning_rate_decay_samples``).
    learning_rate_ : float
        The first step size of the last run (``learning_rate``).
    training_curve_ : list of float
        Per-epoch mean of the training bound per datum.
    converged_ : bool
    diverged_ : bool
        Whether the last :meth:`fit` or :meth:`partial_fit` stopped at a
        divergence check (non-finite numbers, a parameter beyond 1e4 times its
        starting scale, samples spread beyond 1e3 times the data's, or a
        training criterion no sane model reaches: the parameters are then
        those of the last check that passed) or because it collapsed (its
        latents came to explain less than 5% of the model's variance and
        less than a tenth of their largest share in the same fit: the
        parameters are then those of its last check at which they still
        explained at least 80% of that share). A ``ConvergenceWarning`` says
        which.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    IWAEEstimator : The multi-sample bound.
    sklearn_ddchm.DDCHelmholtzEstimator : The DDC Helmholtz machine.

    References
    ----------
    D. P. Kingma and M. Welling. Auto-encoding variational Bayes. ICLR 2014.
    D. J. Rezende, S. Mohamed and D. Wierstra. Stochastic backpropagation and
    approximate inference in deep generative models. ICML 2014.

    Examples
    --------
    >>> from sklearn_ddchm.baselines import VAEEstimator
    >>> from sklearn_ddchm.datasets import make_sparse_hierarchical
    >>> X, _, _ = make_sparse_hierarchical(n_samples=500, random_state=0)
    >>> est = VAEEstimator(max_iter=2, random_state=0).fit(X)
    >>> est.transform(X[:3]).shape
    (3, 3)
    >>> isinstance(est.score(X), float)
    True
    """

    _criterion_name = "ELBO"
    _feature_prefix = "vae"

    def __init__(
        self,
        model="sparse",
        latent_dims="auto",
        hidden_layer_sizes=(100, 100),
        activation="tanh",
        learning_rate=1e-3,
        learning_rate_decay=0.1,
        learning_rate_decay_samples=None,
        learning_rate_decay_power=1.0,
        average_fraction=0.0,
        batch_size=100,
        max_iter=100,
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        fit_prior="auto",
        init="auto",
        n_importance=100,
        warm_start=False,
        n_init=1,
        n_jobs=None,
        device_random=False,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.latent_dims = latent_dims
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_decay_samples = learning_rate_decay_samples
        self.learning_rate_decay_power = learning_rate_decay_power
        self.average_fraction = average_fraction
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.fit_prior = fit_prior
        self.init = init
        self.n_importance = n_importance
        self.warm_start = warm_start
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.device_random = device_random
        self.random_state = random_state
        self.verbose = verbose

    def _n_particles(self):
        return 1
