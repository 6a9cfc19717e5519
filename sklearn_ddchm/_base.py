"""The training driver shared by the DDC Helmholtz machine and the baselines.

Like ``sklearn.mixture._base.BaseMixture``, the loop lives once: validation,
initialisation (``warm_start``), minibatches, the Adam step with its
step-size schedule, the divergence guard, the convergence test, verbose
lines, ``partial_fit``, sampling and scoring. A learning algorithm
implements the few methods marked "hook" below.
"""

from __future__ import annotations

import math
import numbers
import os
import time
import warnings
from abc import ABCMeta, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
from joblib import effective_n_jobs
from sklearn import config_context, get_config
from sklearn.base import (
    BaseEstimator,
    DensityMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import _ais
from ._binary_proposal import conditional_bernoulli_proposal
from ._guard import (
    DRIFT_ROWS,
    DRIFT_STANDARD_ERRORS,
    GUARD_EVERY_STEPS,
    DivergenceGuard,
)
from ._importance import FactorisedProposal, importance_log_weights
from ._latent_dims import FALLBACK_LATENT_DIMS, auto_latent_dims, chooses_from_data
from ._linear_proposal import LinearGaussianProposal, linear_gaussian_proposal
from ._log_likelihood import (
    DEFAULT_AIS_CHAINS,
    LogLikelihoodResult,
    UnreliableScoreWarning,
    _warn_if_unreliable,
)
from .models import DeepExponentialFamily
from .models._presets import MODEL_NAMES, build_model
from .utils._array_api import (
    check_same_namespace,
    get_namespace,
    get_namespace_and_device,
    is_binary,
    is_numpy_namespace,
    to_namespace,
    to_numpy,
)
from .utils._optim import Adam
from .utils._random import make_device_random
from .utils._state import restored_on_error
from .utils._validation import IntInterval

#: minibatches per epoch at which the training criterion is evaluated (at
#: least; every one on epochs of up to this many)
CRITERION_BATCHES_PER_EPOCH = 100
#: rows per chunk in score_samples: n_importance * chunk latents live at once
SCORE_CHUNK_ROWS = 256
#: numbers per array in a block of AIS (chains x rows x widest layer): the
#: Gibbs sweep of an MNIST-sized SBN ran 30% faster per chain with blocks of
#: 256 chain-rows (1.6 MB arrays) than with 1024 or 4096
AIS_CHUNK_ELEMENTS = 2**18
#: score_samples of a model whose latent layers are all binary (a sigmoid
#: belief network) mixes in AIS of ``SCORE_AIS_CHAINS`` chains per row over
#: ``n_importance // SCORE_DRAWS_PER_TEMPERATURE`` temperatures: importance
#: sampling misses posterior modes that a few Gibbs sweeps find. On 20 MNIST
#: test images, against AIS of 8 chains x 2,000 temperatures (2026-12-06),
#: the 100-draw importance estimate was 22.4, 12.7 and 3.2 nats per image
#: low under a (56, 10) DDC-HM after 53 and 5 epochs and VIMCO-50 at the
#: same widths, and 16.6, 12.0 and 1.9 low with 1,000 draws; AIS of 4 chains
#: x 20 temperatures, about three times the cost of 100 draws, 6.5, 6.3 and
#: 0.1 low (10 temperatures: 15.0, 10.4, 1.2; 100: 3.1, 2.4, 0.3); eight
#: chains of 10 temperatures, at the same cost as four of 20: 10.7, 8.0, 1.0.
SCORE_AIS_CHAINS = 4
SCORE_DRAWS_PER_TEMPERATURE = 5
#: adaptive importance-sampling rounds before the scored one. Measured on the
#: paper's synthetic model at its true parameters (100 rows, exact log p(x) by
#: quadrature, mean -1.72): with 100 importance samples the estimate is -5.86
#: with no adaptation, -2.69 with 2 rounds (-2.48 with 1000 samples and none),
#: for 3x the cost.
SCORE_ADAPT_ROUNDS = 2
#: the same for the linear-Gaussian proposal, where the rounds only re-centre
#: its 10% recognition share: over 10 seeds on the same model the mean error
#: was -0.039 with none and -0.030 with two (standard deviation 0.03-0.05), on
#: (50, 10) and (100, 10) patch models within 0.4 nat per patch, for a third
#: of the cost
LINEAR_ADAPT_ROUNDS = 0

#: training rows (at most, drawn once) on which ``fit`` compares its
#: ``n_init`` fits. On the default preset's fits of breast cancer and digits
#: (eight seeds each, 2026-12-04) the mean log p(x) of the training rows
#: ranked the fits as that of held-out rows did, but for one adjacent pair
#: per table. Two fits' per-row differences had a standard deviation of 10
#: and 14 nats, so at 2,000 rows their mean is known to 0.2-0.3 nat, against
#: fits 2.6-4.3 nats per row apart
N_INIT_SCORE_ROWS = 2000

#: lines within an epoch at ``verbose >= 2``: one every tenth of an epoch
#: (every ``ceil(n_batches / 10)`` steps), about every 10 s on an MNIST epoch
VERBOSE_LINES_PER_EPOCH = 10

#: the clock of the verbose lines (a module attribute, so tests can replace it)
_clock = time.perf_counter

#: Headroom, as a power of two, of the range of X's largest |value| the
#: estimators accept: [tiny^(1/4) * 2^8, max^(1/4) * 2^-8] of the dtype's
#: floats, about [3.1e-75, 4.5e74] in float64 and [8.4e-8, 1.7e7] in float32.
#: The models square the data (Gaussian log-densities, the standardisation of
#: the recognition inputs) and divide by variances of its scale; the
#: optimiser squares those gradients: fourth powers of X's scale, with 2^32
#: to spare for sums over features and rows. Beyond the range the models
#: overflow (measured: RuntimeWarnings and -inf scores from 1e100 in float64,
#: 1e14 in float32; divergence for 1e-160 in float64).
X_SCALE_HEADROOM_LOG2 = 8

#: one thread pool per size, per process (a forked child makes its own)
_THREAD_POOLS: dict = {}


def _thread_pool(n_workers):
    key = (os.getpid(), n_workers)
    if key not in _THREAD_POOLS:
        _THREAD_POOLS[key] = ThreadPoolExecutor(
            max_workers=n_workers, thread_name_prefix="sklearn_ddchm"
        )
    return _THREAD_POOLS[key]


def _format_duration(seconds):
    """``12.3s``, ``2m05s`` or ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Progress:
    """The verbose lines of one run of the training driver (:meth:`_run`).

    ``verbose >= 1``: one line per epoch (epoch ``k/n_epochs`` of a ``fit``,
    the epoch count and samples seen for a ``partial_fit``) with the epoch's
    mean training criterion, the last step size, the elapsed time and, in
    ``fit``, the estimated remaining time (elapsed time per step times the
    steps left, assuming all ``max_iter`` epochs run); and a closing line of
    ``fit`` with the total time. ``verbose >= 2`` adds a line every
    ``ceil(n_batches / VERBOSE_LINES_PER_EPOCH)`` steps inside an epoch, with
    the mean criterion of the epoch so far.
    """

    def __init__(self, estimator, n_epochs, n_batches, partial):
        self.estimator = estimator
        self.name = type(estimator).__name__
        self.n_epochs, self.n_batches = n_epochs, n_batches
        self.partial = partial
        self.every = max(1, math.ceil(n_batches / VERBOSE_LINES_PER_EPOCH))
        self.start = _clock()

    def _times(self, steps_done):
        elapsed = _clock() - self.start
        text = f"elapsed {_format_duration(elapsed)}"
        if not self.partial:
            left = self.n_epochs * self.n_batches - steps_done
            remaining = elapsed * left / max(steps_done, 1)
            text += f", remaining ~{_format_duration(remaining)}"
        return text

    def step(self, epoch, batch, criterion_sum, n_criterion, learning_rate, steps_done):
        """After step ``batch`` (0-based) of ``epoch`` (0-based), if a line is due;
        ``criterion_sum`` sums the criterion of ``n_criterion`` of the epoch's
        steps so far, ``steps_done`` counts the steps of the run so far."""
        done = batch + 1
        if done % self.every or done == self.n_batches:
            return  # the epoch line follows the last step
        est = self.estimator
        where = f"epoch {est.n_iter_ + 1}" if self.partial else f"epoch {epoch + 1}"
        print(
            f"[{self.name}]   step {done}/{self.n_batches} of {where}: "
            f"{est._criterion_name} = {float(criterion_sum) / n_criterion:.4f} "
            f"(epoch so far), step size {learning_rate:.3g}, "
            f"{self._times(steps_done)}"
        )

    def epoch(self, epoch, value, learning_rate, steps_done):
        """After ``epoch`` (0-based) ends with mean criterion ``value``."""
        est = self.estimator
        if self.partial:
            where = (
                f"partial_fit epoch {est.n_iter_} ({est.n_samples_seen_} samples seen)"
            )
        else:
            where = f"epoch {epoch + 1}/{self.n_epochs}"
        print(
            f"[{self.name}] {where}: {est._criterion_name} = {value:.4f}, "
            f"step size {learning_rate:.3g}, {self._times(steps_done)}"
        )

    def done(self, n_epochs_run, steps_done):
        """The closing line of a ``fit``."""
        if self.partial:
            return
        total = _clock() - self.start
        print(
            f"[{self.name}] fit done: {n_epochs_run} epochs, {steps_done} steps in "
            f"{_format_duration(total)} "
            f"({1000 * total / max(steps_done, 1):.2f} ms per step)"
        )


def accepted_scale(dtype, xp):
    """``(low, high)``: the range of X's largest |value| the estimators accept.

    See ``X_SCALE_HEADROOM_LOG2``; X that is all zero is accepted too.
    """
    info = xp.finfo(dtype)
    headroom = 2.0**X_SCALE_HEADROOM_LOG2
    return (
        float(info.smallest_normal) ** 0.25 * headroom,
        float(info.max) ** 0.25 / headroom,
    )


def _call_in_worker(config, func, *args):
    # scikit-learn's configuration and NumPy's error state are thread-local:
    # a worker gets the caller's, so a diverging step stays silent there too.
    with config_context(**config), np.errstate(all="ignore"):
        return func(*args)


def _paired_gain(better, worse):
    """Mean of ``better - worse`` over rows and its standard error (host
    arrays of per-row log-likelihoods under the same noise); a gain of inf
    (error 0) where only ``worse`` has non-finite rows, -inf where
    ``better`` has."""
    if not np.all(np.isfinite(better)):
        return -math.inf, 0.0
    if not np.all(np.isfinite(worse)):
        return math.inf, 0.0
    diff = better - worse
    error = float(np.std(diff, ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0
    return float(np.mean(diff)), error


def _running_mean(mean, value, count):
    """The mean of ``count`` dicts of arrays, from that of the first
    ``count - 1`` (None for none) and the last, ``value``."""
    if mean is None:
        return dict(value)
    return {k: m + (value[k] - m) / count for k, m in mean.items()}


def _decaying_mean(mean, value, count, fraction):
    """Polynomial-decay average of ``count`` dicts of arrays (Shamir & Zhang,
    "Stochastic gradient descent for non-smooth optimization: convergence
    results and optimal averaging schemes", ICML 2013), from that of the
    first ``count - 1`` (None for none) and the last, ``value``.

    ``mean + (eta + 1) / (count + eta) * (value - mean)`` with ``eta = 2 /
    fraction - 2``: after many steps the ``s``-th of ``t`` iterates weighs
    about ``(eta + 1) / t * (s / t) ** eta``, so the average's centre of mass
    lies at ``1 - fraction / 2`` of the steps so far, where a uniform average
    of the last ``fraction`` of them has its own (``fraction = 1``: the mean
    of all). A stream of unknown length can average "its last tenth" only so.
    """
    if mean is None:
        return dict(value)
    eta = 2.0 / fraction - 2.0
    weight = (eta + 1.0) / (count + eta)
    return {k: m + weight * (value[k] - m) for k, m in mean.items()}


class BaseDeepGenerativeEstimator(
    TransformerMixin, DensityMixin, BaseEstimator, metaclass=ABCMeta
):
    """Shared fit/partial_fit/sample/score machinery; see the subclasses."""

    _parameter_constraints: dict = {
        "model": [StrOptions(set(MODEL_NAMES)), DeepExponentialFamily],
        "latent_dims": [
            StrOptions({"auto"}),
            "array-like",
            IntInterval(1, None, closed="left"),
        ],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "device_random": ["boolean"],
        "learning_rate_decay": [Interval(numbers.Real, 0, 1, closed="right")],
        "learning_rate_decay_samples": [
            Interval(numbers.Real, 0, None, closed="neither"),
            None,
        ],
        "learning_rate_decay_power": [
            Interval(numbers.Real, 0, None, closed="neither")
        ],
        "average_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "batch_size": [IntInterval(1, None, closed="left")],
        "max_iter": [IntInterval(1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "n_iter_no_change": [IntInterval(1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "fit_prior": ["boolean", StrOptions({"auto"})],
        "init": [StrOptions({"auto", "data", "random"})],
        "n_importance": [IntInterval(1, None, closed="left")],
        "warm_start": ["boolean"],
        "n_init": [IntInterval(1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- hooks ------------------------------------------------------------------
    @abstractmethod
    def _initialize_algorithm(self, X, rng):
        """Set up the recognition side after ``model_`` exists."""

    @abstractmethod
    def _gradient_step(self, X_batch, rng, criterion=True):
        """One minibatch: ``(model_grads, extra_grads, criterion)``.

        ``model_grads`` is keyed like ``model_.trainable_parameters()``,
        ``extra_grads`` like :meth:`_get_extra_parameters`; ``criterion`` is
        a 0-d array (the per-datum training objective on the batch). With
        ``criterion=False`` the driver does not need it: an algorithm for
        which it is extra work may return None.
        """

    def _get_extra_parameters(self) -> dict:
        """Parameters of the learning algorithm that Adam updates (none by default)."""
        return {}

    def _set_extra_parameters(self, params):
        """Store what :meth:`_get_extra_parameters` returned, updated."""

    def _finalize_fit(self, X, rng):
        """Bring the recognition side in line with the final model (optional)."""

    @abstractmethod
    def _proposal(self, X):
        """An importance-sampling proposal for rows of ``X`` (see ``_importance``).

        It is also the start distribution of annealed importance sampling,
        so besides ``sample`` and ``refined`` it evaluates ``log_prob``,
        ``grad_log_prob``, ``scales`` and ``gibbs_components`` at any point
        (the protocol is in :mod:`sklearn_ddchm._ais`).
        """

    #: name of the per-epoch training criterion in verbose output
    _criterion_name = "objective"

    # -- validation -------------------------------------------------------------
    def _validate_X(self, X, reset):
        """``validate_data``; for a fitted model (``reset=False``) also the
        model's support (e.g. binary X for a Bernoulli observation layer) and
        X's scale (:meth:`_check_scale`)."""
        xp = get_namespace(X)
        X = validate_data(self, X, reset=reset, dtype=[xp.float64, xp.float32])
        if not reset and hasattr(self, "model_"):
            self._check_model_matches(X)
            self._check_scale(X)
        return X

    def _check_scale(self, X):
        """Raise ValueError, naming X's scale and the remedy, when X's largest
        |value| is outside the range the models can square and divide by
        without overflow (:func:`accepted_scale`)."""
        if not (X.shape[0] and X.shape[1]):
            return
        xp = get_namespace(X)
        largest = float(xp.max(xp.abs(X)))
        low, high = accepted_scale(X.dtype, xp)
        if largest > high or 0 < largest < low:
            raise ValueError(
                f"X's largest absolute value is {largest:.3g}; for {X.dtype} "
                f"data {type(self).__name__} needs it within [{low:.3g}, "
                f"{high:.3g}] (or X all zero): the models square the data and "
                "divide by variances of its scale, which overflows beyond that "
                "range. Standardise X first (e.g. with "
                "sklearn.preprocessing.StandardScaler)."
            )

    def _check_model_matches(self, X):
        model = self.model_
        model.layers[0].check_child(X, name="X")

    def _latent_dims_for(self, X):
        """``latent_dims``, with ``"auto"`` resolved on ``X``
        (:func:`~sklearn_ddchm._latent_dims.auto_latent_dims`)."""
        if not isinstance(self.latent_dims, str):
            return self.latent_dims
        binary = self.model == "sbn" or is_binary(X)
        if not chooses_from_data(X, binary=binary):
            return FALLBACK_LATENT_DIMS
        self._check_scale(X)  # before factor models square X
        start = time.perf_counter()
        dims = auto_latent_dims(X, binary=binary)
        if self.verbose:
            print(
                f"[{type(self).__name__}] latent_dims='auto': {dims} "
                f"({time.perf_counter() - start:.1f} s)"
            )
        return dims

    def _fits_preset_prior(self):
        """Whether a named model's top prior is learnt: ``fit_prior="auto"``
        keeps it fixed, as every named model's prior is by default."""
        return self.fit_prior != "auto" and bool(self.fit_prior)

    def _make_model(self, X, rng):
        xp, device = get_namespace_and_device(X)
        n_features = X.shape[1]
        if isinstance(self.model, str):
            model = build_model(
                self.model,
                n_features,
                self._latent_dims_for(X),
                trainable_prior=self._fits_preset_prior(),
            )
        else:
            model = self.model.copy()
            if model.n_features != n_features:
                raise ValueError(
                    f"model has n_features={model.n_features} observations but X has "
                    f"{n_features} features."
                )
            if self.fit_prior != "auto":
                # The copy's flags change, never the instance the user passed.
                top = model.layers[-1]
                top.trainable = top.param_names if self.fit_prior else ()
        model.initialize(rng)
        return model.to(xp, device, X.dtype)

    # -- fitting ----------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the generative model to ``X`` for ``max_iter`` epochs.

        With ``warm_start=True`` and a fitted model, training continues from
        it, and ``X`` must match it (feature count and names, support).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense, finite, with its largest absolute value within
            ``sklearn_ddchm._base.accepted_scale`` of its dtype (or all zero).
        y : Ignored

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            For X the model cannot take (NaN/inf, wrong width, values beyond
            the accepted scale, non-binary X for a Bernoulli observation
            layer) and for invalid hyper-parameters. A failed call leaves the
            estimator as it was.
        TypeError
            For sparse or non-numeric X and hyper-parameters of the wrong type.

        Warns
        -----
        ConvergenceWarning
            When ``tol`` is set and ``max_iter`` epochs end unconverged;
            when the divergence guard stops the fit, because it ran away or
            collapsed (``diverged_``); and when the fit drifted: its latents'
            share of the model's variance ended below half of its largest,
            and an earlier check of the fit, which it then keeps, had a
            higher likelihood on 1,000 of the training rows by more than two
            standard errors (the User Guide, "Steps that cannot run away
            unnoticed").
        """
        warm = self.warm_start and hasattr(self, "model_")
        if self.n_init > 1 and not warm:
            return self._fit_best_of_starts(X)
        # Nothing of a previous fit changes until X and the model are checked.
        with restored_on_error(self):
            try:
                X = self._validate_X(X, reset=not warm)
            except ValueError as exc:
                if warm and "features" in str(exc):
                    raise ValueError(
                        f"{exc} warm_start=True continues the fitted model; set "
                        "warm_start=False to fit a new model to X."
                    ) from exc
                raise
            X, X_val = self._validation_split(X, warm)
            if not warm:
                self._initialize(X)
        noise = self._noise_source(X)
        with self._blas_threads(X):
            n_epochs = self._fit_epochs(X.shape[0])
            self._run(X, n_epochs, scheduled=True, noise=noise, X_val=X_val)
            self._finalize_fit(X, noise)
        # partial_fit calls keep the guard's last healthy parameters between
        # them (a collapse goes back to them); a fit's end needs no copy of
        # its parameters in every pickle
        self._healthy_snapshot = None
        return self

    def _fit_epochs(self, n_samples):
        """The epochs of a ``fit`` on ``n_samples`` training rows:
        ``max_iter`` (an estimator with a data-dependent default resolves it
        here)."""
        return self.max_iter

    def _batch_size(self, n_samples):
        """Rows of a minibatch in an epoch over ``n_samples`` rows:
        ``batch_size`` (an estimator with a data-dependent default resolves
        it here)."""
        return self.batch_size

    def _minibatches(self, n_samples):
        """``(batch_size, n_batches)`` of an epoch over ``n_samples`` rows:
        minibatches of :meth:`_batch_size` rows (all rows when fewer), the
        last one shorter."""
        batch_size = min(self._batch_size(n_samples), n_samples)
        return batch_size, math.ceil(n_samples / batch_size)

    def _validation_split(self, X, warm):
        """``(X_train, X_val)``: with ``early_stopping``, a random
        ``validation_fraction`` of the rows (at least one) held out; else
        ``(X, None)``. Drawn from ``random_state`` before the fit draws
        anything (from the fitted ``random_state_`` on a warm start)."""
        if not self.early_stopping:
            return X, None
        n = X.shape[0]
        n_val = math.ceil(self.validation_fraction * n)
        if n_val >= n:
            raise ValueError(
                f"early_stopping=True holds out validation_fraction="
                f"{self.validation_fraction} of X's {n} rows for validation "
                f"({n_val}), which leaves none to train on. Pass more rows, a "
                "smaller validation_fraction, or early_stopping=False."
            )
        rng = self.random_state_ if warm else check_random_state(self.random_state)
        xp, device = get_namespace_and_device(X)
        order = to_namespace(rng.permutation(n), xp, device)
        return (
            xp.take(X, order[n_val:], axis=0),
            xp.take(X, order[:n_val], axis=0),
        )

    def _validation_score(self, X, X_val, noise):
        """Mean log-likelihood of ``X_val`` by ``score``'s estimate (the same
        noise at every epoch), or -inf where it is not
        finite; the recognition side is first brought in line with the
        current model (:meth:`_finalize_fit` on the training rows)."""
        self._finalize_fit(X, noise)
        return self._mean_log_likelihood(X_val)

    def _mean_log_likelihood(self, X, random_state=None):
        """``score``'s estimate on ``X`` (its noise seeded by ``random_state``,
        default the estimator's own) as a float, -inf where it is not finite:
        a fit or an epoch to rank last, said by the value, not a warning."""
        value = float(np.mean(self._row_log_likelihoods(X, random_state)))
        return value if math.isfinite(value) else -math.inf

    def _row_log_likelihoods(self, X, random_state=None):
        """``score_samples``'s estimate on ``X`` as a host array, quietly (see
        :meth:`_mean_log_likelihood`)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnreliableScoreWarning)
            with np.errstate(all="ignore"):
                values = self._score_estimate(X, "fit", random_state)
        return to_numpy(values)

    def _fit_best_of_starts(self, X):
        """``fit`` with ``n_init > 1``: fit from ``n_init`` starts, keep the best.

        Each start is a clone fitted with ``n_init=1``: the first with this
        estimator's ``random_state`` (so it is the fit ``n_init=1`` makes),
        the others with seeds drawn from it. The best has the highest mean
        log-likelihood, ``score``'s estimate with the same noise for every
        fit, on the same training rows (``N_INIT_SCORE_ROWS`` at most); a fit
        that diverged or collapsed ranks below every fit that did not. Its
        fitted attributes become this estimator's, and only its warnings are
        raised.
        Nothing changes if a fit raises.
        """
        name = type(self).__name__
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=self.n_init
        )
        # seeds[0] seeds the comparison: rows and scoring noise
        starts = [self.random_state, *(int(seed) for seed in seeds[1:])]
        n = _num_samples(X)
        X_rows = X
        if n > N_INIT_SCORE_ROWS:
            rows = np.random.RandomState(int(seeds[0])).choice(
                n, N_INIT_SCORE_ROWS, replace=False
            )
            X_rows = _safe_indexing(X, np.sort(rows))
        best = None
        widths = None
        for i, start in enumerate(starts):
            fit = clone(self).set_params(n_init=1, random_state=start)
            if widths is not None:
                # latent_dims="auto" chooses from X alone and draws nothing:
                # the later starts take the first one's widths, not a new search
                fit.set_params(latent_dims=widths)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit.fit(X)
            if isinstance(self.model, str) and isinstance(self.latent_dims, str):
                widths = fit.latent_dims_
            value = fit._mean_log_likelihood(X_rows, random_state=int(seeds[0]))
            rank = (not fit.diverged_, value)
            if self.verbose:
                print(
                    f"[{name}] start {i + 1}/{self.n_init}: mean log-likelihood "
                    f"of {min(n, N_INIT_SCORE_ROWS)} training rows {value:.6g}"
                    + (" (diverged)" if fit.diverged_ else "")
                )
            if best is None or rank > best[0]:
                best = (rank, i, fit, caught)
        _, kept, fit, caught = best
        if self.verbose:
            print(f"[{name}] kept start {kept + 1} of {self.n_init}.")
        # The kept fit's attributes replace a previous fit's (public fitted
        # attributes end in "_"); parameters and what others set on this
        # estimator (output configuration, a Pipeline's callback context) stay.
        own = set(clone(self).__dict__)
        for key in [key for key in self.__dict__ if key.endswith("_")]:
            if key not in own and not key.startswith("_"):
                del self.__dict__[key]
        self.__dict__.update(
            {key: value for key, value in fit.__dict__.items() if key not in own}
        )
        for record in caught:
            warnings.warn(record.message, stacklevel=4)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One pass (epoch) over ``X`` in minibatch steps; initialises first.

        The step size is ``learning_rate`` when ``learning_rate_decay_samples``
        is None; otherwise it decays with the samples seen by all training
        steps since initialisation, ``n_samples_seen_`` (counted over
        ``partial_fit`` calls), ``learning_rate * learning_rate_decay **
        (min(1, n_samples_seen_ / learning_rate_decay_samples) **
        learning_rate_decay_power)``, see :meth:`_step_size`. Streams data
        that do not fit in memory one block at a time.

        With ``average_fraction > 0`` the fitted model (``model_``, what
        :meth:`sample`, :meth:`transform` and :meth:`score` use) is a
        polynomial-decay average of every iterate since initialisation
        (weighted towards the latest, see ``average_fraction``), and the next
        call continues from the last iterate, kept aside: a stream at a
        constant step size ends wherever its last noisy step left it, the
        average where the steps have been heading.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Validates ``X`` like :meth:`fit` (against the fitted model after the
        first call); a failed call leaves the estimator as it was.

        Returns
        -------
        self : object
        """
        with restored_on_error(self):
            first = not hasattr(self, "model_")
            X = self._validate_X(X, reset=first)
            if first:
                self._initialize(X, stream=True)
        noise = self._noise_source(X)
        with self._blas_threads(X):
            self._run(X, 1, scheduled=False, noise=noise)
            self._finalize_fit(X, noise)
        return self

    def _noise_source(self, X):
        """Where a fit draws its noise: the host ``random_state_``, or the device.

        With ``device_random=True`` on CuPy, a CuPy generator seeded from
        ``random_state_`` (one host draw per call, so ``partial_fit`` stays
        reproducible). Minibatch order is always drawn on the host.
        """
        xp = get_namespace(X)
        if getattr(self, "device_random", False) and "cupy" in xp.__name__:
            seed = int(self.random_state_.randint(np.iinfo(np.int32).max))
            return make_device_random(xp, seed)
        return self.random_state_

    def _blas_threads(self, X):
        """Context for the BLAS threads of a fit on ``X`` (hook).

        Threads over minibatch slices (``n_jobs``) and BLAS threads would
        compete for the same cores, so each slice's products run on one.
        """
        if self._n_gradient_threads(X) > 1:
            return threadpool_limits(limits=1, user_api="blas")
        return nullcontext()

    def _initialize(self, X, stream=False):
        # one persistent generator: partial_fit continues the same stream
        self.random_state_ = check_random_state(self.random_state)
        self.model_ = self._make_model(X, self.random_state_)
        self.latent_dims_ = self.model_.latent_dims
        self._check_model_matches(X)
        self._check_scale(X)
        # a stream's first batch of one row shows no feature's spread
        if not (stream and X.shape[0] < 2):
            self._warn_unbounded_features(X)
        if self._starts_from_data(X):
            self.model_.initialize_from_data(X, self.random_state_)
        self._initialize_algorithm(X, self.random_state_)
        self.learning_rate_ = self._initial_learning_rate(None)
        self.optimizer_ = Adam(self.learning_rate_)
        self.n_iter_ = 0
        self.n_samples_seen_ = 0
        self.training_curve_ = []
        # partial_fit's averaging (average_fraction): the iterate that training
        # continues from while model_ holds the average, and how many steps
        # the average has seen
        self._stream_iterate = None
        self._stream_average = None
        self._n_stream_steps = 0
        # the divergence guard's reference for a collapse, and where one goes
        # back to (_guard.py)
        self._largest_latent_share = None
        self._healthy_snapshot = None

    def _warn_unbounded_features(self, X):
        """One UserWarning naming the features of X on which the observation
        layer's likelihood is unbounded (constant ones under a Gaussian)."""
        layer = self.model_.layers[0]
        unbounded = layer.unbounded_features(X)
        if not unbounded:
            return
        shown = ", ".join(str(i) for i in unbounded[:10])
        more = f" and {len(unbounded) - 10} more" if len(unbounded) > 10 else ""
        warnings.warn(
            f"X has {len(unbounded)} constant feature(s) (indices {shown}{more}). "
            f"Under a {type(layer).__name__} observation layer the likelihood "
            "has no upper bound on them (their noise variance can go to 0), so "
            "score() and the training criterion gain there whatever that "
            "variance was started at or learnt, which says nothing about the "
            "other features. Remove them first, e.g. with "
            "sklearn.feature_selection.VarianceThreshold.",
            UserWarning,
            # _initialize, fit or partial_fit, their _fit_context wrapper
            stacklevel=5,
        )

    def _starts_from_data(self, X):
        """Whether ``init`` asks for a data-dependent start of ``model_``."""
        if not isinstance(self.model, str) and self.model.layers[0].is_initialized:
            return False  # the user's parameters
        if self.init == "auto":
            # with D <= D_1 a PCA of X leaves no noise subspace to separate; a
            # random start measured better there (benchmarks/bench_ddc_defaults.py)
            return X.shape[1] > self.model_.latent_dims[0]
        return self.init == "data"

    def _initial_learning_rate(self, n_steps):
        """The first step size of a run of ``n_steps`` steps (None for
        ``partial_fit``, whose run has no known length): ``learning_rate``
        (a subclass may resolve an ``"auto"`` from the run's length)."""
        return self.learning_rate

    def _step_size(self, step, total_steps, scheduled):
        """Step size of minibatch step ``step`` (0-based) of a run.

        ``learning_rate_ * learning_rate_decay ** (progress **
        learning_rate_decay_power)``, a decay from ``learning_rate_`` (the
        run's resolved ``learning_rate``) to ``learning_rate_ *
        learning_rate_decay`` (geometric for a power of 1):

        - ``fit`` (``scheduled``): ``progress = step / total_steps`` over the
          run's ``total_steps + 1`` steps, so the last step is at the floor;
        - ``partial_fit``: ``progress = min(1, n_samples_seen_ /
          learning_rate_decay_samples)``, the samples seen before this step
          since initialisation, counted across calls; 0 (the constant
          ``learning_rate``) when ``learning_rate_decay_samples`` is None.
        """
        if scheduled:
            progress = step / total_steps
        elif self.learning_rate_decay_samples is None:
            progress = 0.0
        else:
            progress = min(1.0, self.n_samples_seen_ / self.learning_rate_decay_samples)
        exponent = progress**self.learning_rate_decay_power
        return self.learning_rate_ * self.learning_rate_decay**exponent

    def _run(self, X, n_epochs, scheduled, noise=None, X_val=None):
        """Adam on minibatches for ``n_epochs`` passes, at the step sizes of
        :meth:`_step_size` (``scheduled`` for ``fit``). The steps draw from
        ``noise`` (:meth:`_noise_source`; ``random_state_`` if None), the
        minibatch order always from ``random_state_``. With validation rows
        ``X_val`` (``early_stopping``) each epoch is scored on them, the run
        stops after ``n_iter_no_change`` epochs without an improvement by
        ``tol`` (0 if None) and ends at the best-scoring epoch's parameters.
        Verbose lines: :class:`_Progress`."""
        self._check_model_matches(X)
        xp, device = get_namespace_and_device(X)
        rng = self.random_state_
        noise = rng if noise is None else noise
        n = X.shape[0]
        batch_size, n_batches = self._minibatches(n)
        n_steps = n_epochs * n_batches
        total_steps = max(n_steps - 1, 1)
        self.learning_rate_ = self._initial_learning_rate(
            n_steps if scheduled else None
        )
        # partial_fit has no last tenth: it keeps a polynomial-decay average
        # over its whole stream (_decaying_mean) in model_, and continues from
        # its last iterate
        stream_average = not scheduled and self.average_fraction > 0
        if not scheduled and self._stream_iterate is not None:
            self._set_trained_parameters(self._stream_iterate)
        # a fit (a warm start too) goes on from model_ and ends the stream
        self._stream_iterate = None
        if not stream_average:
            # a later stream, or call, that averages starts a new average
            self._stream_average, self._n_stream_steps = None, 0
        step = 0
        best, no_improvement = -math.inf, 0
        self.converged_ = False
        self.diverged_ = False
        self._insane_fit = None
        guard = DivergenceGuard(self, X)
        recent, n_recent = 0.0, 0
        progress = _Progress(self, n_epochs, n_batches, partial=not scheduled)
        # The per-epoch criterion is a mean over minibatches; on long epochs a
        # systematic subset of CRITERION_BATCHES_PER_EPOCH of them estimates
        # it as well, and where it costs extra work (DDC-HM: a quarter of an
        # MNIST step) the other steps skip it.
        criterion_every = max(1, n_batches // CRITERION_BATCHES_PER_EPOCH)
        # Polyak-Ruppert averaging (average_fraction): fit averages its last
        # steps; with early stopping each epoch is scored and kept as the mean
        # of its own last steps, because a raw iterate carries the noise of a
        # step size that has not decayed yet (MNIST, benchmarks/README.md:
        # the epoch kept was 9.2x the MMD^2 floor as its last iterate, 2.1x
        # as the mean of its last tenth, 4.2x as the mean of all of it).
        if not scheduled:
            first_averaged, per_epoch = n_steps, False
        elif X_val is None:
            first_averaged = n_steps - math.ceil(self.average_fraction * n_steps)
            per_epoch = False
        else:
            first_averaged = n_batches - math.ceil(self.average_fraction * n_batches)
            per_epoch = True
        average, n_averaged = None, 0
        self.validation_scores_ = None if X_val is None else []
        self.best_validation_score_ = None
        best_params, best_validation = None, -math.inf
        for epoch in range(n_epochs):
            order = to_namespace(rng.permutation(n), xp, device)
            criterion, n_criterion = 0.0, 0
            for b in range(n_batches):
                # array_api_strict rejects out-of-bounds slice stops
                idx = order[b * batch_size : min((b + 1) * batch_size, n)]
                X_batch = xp.take(X, idx, axis=0)
                learning_rate = self._step_size(step, total_steps, scheduled)
                reason = self._step(
                    X_batch, noise, learning_rate, criterion=b % criterion_every == 0
                )
                if reason is None:
                    if self._last_criterion is not None:
                        criterion = criterion + self._last_criterion
                        n_criterion += 1
                        recent = recent + self._last_criterion
                        n_recent += 1
                    step += 1
                    self.n_samples_seen_ += int(X_batch.shape[0])
                    if (b + 1 if per_epoch else step) > first_averaged:
                        n_averaged += 1
                        average = _running_mean(
                            average, self._trained_parameters(), n_averaged
                        )
                    if stream_average:
                        self._n_stream_steps += 1
                        self._stream_average = _decaying_mean(
                            self._stream_average,
                            self._trained_parameters(),
                            self._n_stream_steps,
                            self.average_fraction,
                        )
                    if step % GUARD_EVERY_STEPS == 0 or b + 1 == n_batches:
                        # a window may hold no criterion (epochs of over
                        # 100 * GUARD_EVERY_STEPS minibatches): the other
                        # checks still run
                        reason = guard.check(
                            float(recent / n_recent) if n_recent else None, step
                        )
                        recent, n_recent = 0.0, 0
                        if reason is None:
                            guard.save(step)
                if reason is not None:
                    self._stop_diverged(guard, reason, epoch, step, learning_rate)
                    return
                if self.verbose >= 2:
                    progress.step(epoch, b, criterion, n_criterion, learning_rate, step)
            value = float(criterion / n_criterion)
            self.n_iter_ += 1
            self.training_curve_.append(value)
            if self.verbose:
                progress.epoch(epoch, value, learning_rate, step)
            if X_val is not None:
                last = None
                if average is not None:
                    last = self._trained_parameters()
                    self._set_trained_parameters(average)
                score = self._validation_score(X, X_val, noise)
                self.validation_scores_.append(score)
                if self.verbose:
                    print(
                        f"[{type(self).__name__}] epoch {epoch + 1}: validation "
                        f"log-likelihood {score:.6g}"
                    )
                if best_params is None or score > self.best_validation_score_:
                    # references suffice: every update creates new arrays
                    best_params = dict(self._trained_parameters())
                    self.best_validation_score_ = score
                if last is not None:
                    # training goes on from the epoch's last iterate
                    self._set_trained_parameters(last)
                    average, n_averaged = None, 0
                if score > best_validation + (self.tol or 0.0):
                    no_improvement = 0
                    best_validation = score
                else:
                    no_improvement += 1
                if no_improvement >= self.n_iter_no_change:
                    self.converged_ = True
                    if self.verbose:
                        print(
                            f"[{type(self).__name__}] Stopped early: the "
                            "validation log-likelihood improved by less than "
                            f"tol={self.tol} for {self.n_iter_no_change} epochs."
                        )
                    break
            elif self.tol is not None:
                if value < best + self.tol:
                    no_improvement += 1
                else:
                    no_improvement = 0
                best = max(best, value)
                if no_improvement >= self.n_iter_no_change:
                    self.converged_ = True
                    if self.verbose:
                        print(
                            f"[{type(self).__name__}] Converged: "
                            f"{self._criterion_name} "
                            f"improved by less than tol={self.tol} for "
                            f"{self.n_iter_no_change} epochs."
                        )
                    break
        if best_params is not None:
            # early stopping keeps its best validated epoch
            self._set_trained_parameters(best_params)
        elif average is not None:
            # a run that diverged returned above, at its last sane parameters
            self._set_trained_parameters(average)
        elif stream_average and self._stream_average is not None:
            self._stream_iterate = self._trained_parameters()
            self._set_trained_parameters(self._stream_average)
        if scheduled and X_val is None and guard.drifted():
            # (early stopping has already kept its best validated epoch)
            self._settle_drift(guard, X, noise)
        if self.verbose:
            progress.done(epoch + 1, step)
        if scheduled and X_val is None and self.tol is not None and not self.converged_:
            # fit only: one partial_fit epoch is not meant to converge
            warnings.warn(
                f"{type(self).__name__} did not converge in {n_epochs} epochs "
                f"(max_iter={self.max_iter!r}): the training criterion never went "
                f"n_iter_no_change={self.n_iter_no_change} epochs in a row "
                f"without improving by tol={self.tol}. Increase max_iter, or "
                "raise tol.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _settle_drift(self, guard, X, noise):
        """End a fit whose latents' share fell (``guard.drifted()``) at its
        last healthy check if that has the higher mean log-likelihood on
        ``DRIFT_ROWS`` fixed training rows (``score``'s estimate, the same
        noise for both) by more than ``DRIFT_STANDARD_ERRORS`` standard
        errors of the paired difference, warning once; else at its end.

        On Table 1's (100, 2) patch model (seed 1's patches, 30 epochs) the
        share fell from 0.75 to 0.12 and the fit ended at a held-out log
        p(x) of -327.4 per patch, below ``PCA(100)``'s -300.1, where its last
        healthy check had -274.8, with every check passed and no warning
        (``benchmarks/bench_collapse.py --tasks drift``).
        """
        xp, device = get_namespace_and_device(X)
        # fixed rows and noise, none drawn from the fit's own stream
        rows = np.random.RandomState(0).permutation(X.shape[0])[:DRIFT_ROWS]
        X_rows = xp.take(X, to_namespace(rows, xp, device), axis=0)
        end = self._trained_parameters()
        opt = self.optimizer_
        end_moments = (dict(opt.first_moment), dict(opt.second_moment), opt.n_steps)
        self._finalize_fit(X, noise)
        end_rows = self._row_log_likelihoods(X_rows, random_state=0)
        guard.restore(healthy=True)
        self._finalize_fit(X, noise)
        healthy_rows = self._row_log_likelihoods(X_rows, random_state=0)
        gain, error = _paired_gain(healthy_rows, end_rows)
        if not gain > DRIFT_STANDARD_ERRORS * error:
            self._set_trained_parameters(end)
            opt.first_moment, opt.second_moment, opt.n_steps = end_moments
            return
        kept = guard.healthy_description("the fall")
        end_score, healthy_score = np.mean(end_rows), np.mean(healthy_rows)
        warnings.warn(
            f"{type(self).__name__} drifted away from the data: its latent "
            "layers' share of the model's variance fell from "
            f"{guard.largest_share:.1%} to {guard.share:.1%} during the fit, "
            f"and its mean log-likelihood on {X_rows.shape[0]} training rows "
            f"ended at {end_score:.6g}, below the {healthy_score:.6g} (+- "
            f"{error:.2g}) of {kept}: "
            "it keeps those. early_stopping=True (which scores held-out rows "
            "after every epoch) or a smaller learning_rate keeps more of such "
            "a fit.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _stop_diverged(self, guard, reason, epoch, step, learning_rate):
        """End a run that failed a divergence check and warn once, saying
        what happened and what to change: a run that ran away is put back to
        the parameters of the last check that passed, one that collapsed
        (``guard.collapsed``) to those of its last check before the collapse
        began."""
        self.diverged_ = True
        # partial_fit's average has taken in the steps since the last check
        # too: its next call starts a new one from the parameters restored
        self._stream_average, self._n_stream_steps = None, 0
        name = type(self).__name__
        if guard.collapsed:
            # the last check that passed is already far down a gradual
            # collapse (the paper's synthetic model at ridge=3e-5, seed 2:
            # 2.76 nats per point below the truth there, 1.35 at the last
            # healthy check; _guard.py)
            guard.restore(healthy=True)
            kept = guard.healthy_description("the collapse")
            where = (
                f"in epoch {self.n_iter_ + 1} (step {step + 1} of this run): "
                f"{reason}. Stopped, and restored {kept}."
            )
            # the model is bad, not its likelihood estimates: scoring is
            # reliable and does not warn
            message = f"{name} collapsed {where} {self._collapse_advice()}"
        else:
            guard.restore()
            where = (
                f"in epoch {self.n_iter_ + 1} (step {step + 1} of this run): "
                f"{reason}. Stopped, and restored the parameters after step "
                f"{guard.saved_step}, the last that passed the divergence checks."
            )
            # read by scoring (_fit_sanity_problem): it warns with this
            self._insane_fit = (
                f"the last fit diverged ({reason}) and stopped at the parameters "
                f"after step {guard.saved_step}"
            )
            message = (
                f"{name} diverged {where} Lower learning_rate (the step size was "
                f"{learning_rate:.3g})."
            )
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
        if self.n_iter_ == 0:
            # the first epoch was started: count it (n_iter_ >= 1 after a
            # fit), its criterion unknown
            self.n_iter_ = 1
            self.training_curve_.append(float("nan"))

    # -- data-parallel gradients (used by the baselines) --------------------------
    def _n_gradient_threads(self, X):
        """Threads computing one minibatch's gradient: ``n_jobs`` on NumPy, else 1.

        On a GPU the kernels of one stream run in order anyway, so slicing
        the minibatch would only add launches.
        """
        n_jobs = getattr(self, "n_jobs", None)
        if n_jobs is None or not is_numpy_namespace(get_namespace(X)):
            return 1
        return max(1, int(effective_n_jobs(n_jobs)))

    def _sliced_gradients(self, gradients_on, X_batch, noise):
        """``gradients_on(X_batch, noise)``, computed on row slices in threads.

        For objectives that are means over the minibatch of per-datum terms
        (the IWAE and VIMCO bounds): ``gradients_on(X, noise)`` returns
        ``(model_grads, extra_grads, criterion)`` as means over the rows of
        ``X``, and ``noise`` is a list of arrays whose axis 1 runs over those
        rows. The noise is drawn for the whole minibatch before it is sliced,
        so the result does not depend on the number of threads (up to the
        order of floating-point sums). NumPy releases the GIL inside its
        loops and BLAS calls, so the slices run in parallel.
        """
        n = X_batch.shape[0]
        n_slices = min(self._n_gradient_threads(X_batch), n)
        if n_slices == 1:
            return gradients_on(X_batch, noise)
        edges = [n * c // n_slices for c in range(n_slices + 1)]
        slices = list(zip(edges[:-1], edges[1:], strict=True))
        config = get_config()
        pool = _thread_pool(n_slices - 1)
        futures = [
            pool.submit(
                _call_in_worker,
                config,
                gradients_on,
                X_batch[a:b],
                [u[:, a:b] for u in noise],
            )
            for a, b in slices[1:]
        ]
        a, b = slices[0]
        # the calling thread takes the first slice itself
        results = [gradients_on(X_batch[a:b], [u[:, a:b] for u in noise])]
        results += [future.result() for future in futures]
        fractions = [(b - a) / n for a, b in slices]

        def weighted(values):
            return sum(f * v for f, v in zip(fractions, values, strict=True))

        model_grads = {k: weighted([r[0][k] for r in results]) for k in results[0][0]}
        extra_grads = {k: weighted([r[1][k] for r in results]) for k in results[0][1]}
        return model_grads, extra_grads, weighted([r[2] for r in results])

    def _step(self, X_batch, rng, learning_rate, criterion=True):
        """One Adam step; ``None``, or what was non-finite (no step is taken).

        ``criterion=False``: the driver does not need this step's training
        criterion (``_last_criterion`` may then be None).
        """
        # Overflow inside a diverging step is reported once, by the guard below
        # (a ConvergenceWarning), not as a cascade of NumPy RuntimeWarnings.
        with np.errstate(all="ignore"):
            model_grads, extra_grads, criterion = self._gradient_step(
                X_batch, rng, criterion=criterion
            )
        xp = get_namespace(X_batch)
        # One reduction over everything, so the guard costs one device sync.
        check = 0.0 if criterion is None else criterion
        for g in (*model_grads.values(), *extra_grads.values()):
            check = check + xp.sum(g)
        if not bool(xp.isfinite(check)):
            # the driver restores the last parameters that passed its checks
            return (
                "non-finite gradients"
                if criterion is None or bool(xp.isfinite(criterion))
                else "non-finite training criterion"
            )
        new = self.optimizer_.step(
            self._trained_parameters(),
            {**model_grads, **{"extra." + k: v for k, v in extra_grads.items()}},
            learning_rate,
            scales=self._step_scales(),
        )
        self._set_trained_parameters(new)
        self._last_criterion = criterion
        return None

    def _trained_parameters(self):
        """What a step updates: the model's trainable parameters and the
        algorithm's (keyed ``"extra.<name>"``)."""
        extra = self._get_extra_parameters()
        return {
            **self.model_.trainable_parameters(),
            **{"extra." + k: v for k, v in extra.items()},
        }

    def _set_trained_parameters(self, params):
        """Store a dict keyed like :meth:`_trained_parameters`."""
        model = {k: v for k, v in params.items() if not k.startswith("extra.")}
        extra = {
            k.removeprefix("extra."): v
            for k, v in params.items()
            if k.startswith("extra.")
        }
        if model:
            self.model_.set_parameters(model)
        if extra:
            self._set_extra_parameters(extra)

    def _step_scales(self):
        """Per-parameter multipliers of the step size (none by default)."""
        return None

    # -- generative side --------------------------------------------------------
    def sample(self, n_samples=1, random_state=None):
        """Draw observations from the fitted generative model.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState or None
            ``None`` uses the estimator's ``random_state`` (like
            ``GaussianMixture.sample``).

        Returns
        -------
        X : array of shape (n_samples, n_features)
            In the namespace, on the device and of the dtype of the fit.
        """
        check_is_fitted(self)
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, numbers.Integral)
            or (n_samples < 1)
        ):
            raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        X, _ = self.model_.sample(int(n_samples), random_state=rng)
        return X

    def score_samples(self, X):
        """Estimate of log p(x) for each row of ``X``, by importance sampling.

        ``log mean_k p(x, z^k) / q(z^k | x)`` with ``n_importance`` draws from
        the estimator's proposal, after ``SCORE_ADAPT_ROUNDS`` rounds of
        adaptive importance sampling that re-centre its continuous layers on
        the weighted draws (binary layers are never re-centred: with a few
        hundred bits the weighted draws collapse onto one). When the
        observation layer is Gaussian with a mean linear in ``z_1`` and every
        latent is continuous, the proposal is
        instead the model's linear-Gaussian one (a full-covariance Student-t
        posterior of ``z_1`` under a Gaussian stand-in for its prior, per
        top-prior component), with the recognition model's proposal as a
        10% defensive share and no adaptive rounds (see the User Guide,
        "Scoring"). For :class:`~sklearn_ddchm.DDCHelmholtzEstimator`, when
        every latent layer is binary, in two layers or more, ``z_1`` is
        proposed around a mode of its posterior (mixed with the recognition
        marginals) and each layer above given the one below
        (``sklearn_ddchm._binary_proposal``), again with the recognition
        model's proposal as a 10% defensive share. The same noise
        is shared by all rows, so the estimate of a row does not depend on
        the other rows. The estimate is unbiased
        for p(x), hence biased low for log p(x) by roughly the variance of the
        normalised weights over ``2 n_importance``: for posteriors with sharp,
        mode-dependent structure it can be nats too low with 100 samples, and
        far more for rows unlike anything the model generates (it does not
        check its weights; :func:`sklearn_ddchm.log_likelihood` warns about
        rows whose effective sample size is below 1.5). It is the fast
        estimate model selection calls; to compare models use
        :func:`sklearn_ddchm.log_likelihood` (annealed importance sampling,
        with standard errors).

        When every latent layer is binary (a sigmoid belief network), where
        the draws of importance sampling miss posterior modes that Gibbs
        sweeps find, the estimate is the equal mixture of that one and of
        annealed importance sampling with 4 chains over ``n_importance / 5``
        temperatures, started from the recognition model (both unbiased for
        p(x), so the mixture is too; its log is at most log 2 below the
        better of the two), at several times the cost. On three MNIST
        models (20 test images, against AIS of 8 chains x 2,000
        temperatures) this took the error of the 100-draw estimate from
        -21.4, -13.0 and -3.0 nats per image to -9.6, -6.1 and -0.8 (see
        the User Guide, "Scoring").

        A non-finite estimate, or a fit flagged as not sane, raises an
        :class:`~sklearn_ddchm.UnreliableScoreWarning`.

        A proposal draw at which the model's density under- or overflows (a
        Laplace scale rounding to 0 for a row far from the training data, say)
        gets importance weight 0, silently: the other draws carry the
        estimate. A row at which every draw does so gets ``-inf``.

        Returns
        -------
        log_likelihood : array of shape (n_samples,)
        """
        values = self._score_estimate(X, "score_samples")
        _warn_if_unreliable(self, values, "score_samples")
        return values

    def _score_estimate(self, X, caller, random_state=None):
        """:meth:`score_samples`' estimate on ``X`` (validated as ``caller``'s
        input; its noise seeded by ``random_state``, default the estimator's
        own), without warnings.

        Models whose latent layers are all binary take the equal mixture of
        the importance estimate and a short AIS (``SCORE_AIS_CHAINS``): two
        unbiased estimates of p(x) with different weaknesses, whose mixture
        is unbiased too and whose log is never more than log 2 below the
        larger of theirs.
        """
        kwargs = {"caller": caller, "random_state": random_state, "warn": False}
        importance = self._estimate_log_likelihood(
            X, method="importance", **kwargs
        ).log_likelihood
        annealing = self._score_annealing()
        if annealing is None:
            return importance
        chains, temperatures = annealing
        annealed = self._estimate_log_likelihood(
            X,
            method="ais",
            n_samples=chains,
            n_temperatures=temperatures,
            shared_noise=True,
            **kwargs,
        ).log_likelihood
        xp = get_namespace(importance)
        return xp.logaddexp(importance, annealed) - math.log(2.0)

    def _score_annealing(self):
        """``(chains, temperatures)`` of the AIS that :meth:`score_samples`
        mixes in (every latent layer binary), or None."""
        if not all(layer.is_binary for layer in self.model_.layers[1:]):
            return None
        return SCORE_AIS_CHAINS, max(
            2, self.n_importance // SCORE_DRAWS_PER_TEMPERATURE
        )

    def _scoring_proposal(self, X, *, for_ais=False):
        """The proposal that scoring starts from.

        The estimator's own (:meth:`_proposal`), inside a
        :class:`~sklearn_ddchm._linear_proposal.LinearGaussianProposal` where
        the model's observation layer is linear-Gaussian and its latents
        continuous, or inside a
        :class:`~sklearn_ddchm._binary_proposal.ConditionalBernoulliProposal`
        where its latents are all binary, in two layers or more (not
        ``for_ais``: AIS started from that proposal ended 1.5-5.9 nats per
        image lower on two MNIST models than AIS from the recognition
        marginals, presumably because its mode-centred conditionals hold
        the chains near the mode the search found; ``benchmarks/bench_ais.py
        score --start conditional``).
        """
        own = self._proposal(X)
        linear = linear_gaussian_proposal(self.model_, X, own)
        if linear is not None:
            return linear
        binary = (
            None if for_ais else conditional_bernoulli_proposal(self.model_, X, own)
        )
        return own if binary is None else binary

    def _fit_sanity_problem(self):
        """Why the fitted model should not be trusted, or None (hook).

        Scoring warns with this reason (:class:`UnreliableScoreWarning`).
        The training driver's divergence guard sets ``self._insane_fit`` to
        what happened when it stops a fit (and clears it when a run starts);
        a subclass may override this method instead.
        """
        return self.__dict__.get("_insane_fit")

    def _collapse_advice(self):
        """What may avoid a collapse (the divergence guard's), for its warning."""
        return (
            "A smaller learning_rate, another random_state (n_init > 1 keeps the "
            "best of several starts) or early_stopping=True (keeps the best "
            "validated epoch) may avoid it."
        )

    def _estimate_log_likelihood(
        self,
        X,
        *,
        method,
        caller,
        n_samples=None,
        n_temperatures=1,
        schedule=None,
        start="proposal",
        n_leapfrog=1,
        n_steps=1,
        random_state=None,
        shared_noise=False,
        warn=True,
    ):
        """The estimator of log p(x) behind ``score_samples`` and ``log_likelihood``.

        Validates ``X`` as ``caller`` (``ClassName.caller()`` in errors),
        scores it in blocks of rows and returns a
        :class:`~sklearn_ddchm.LogLikelihoodResult`.

        - ``"importance"``: :func:`_adapt_rounds` adaptive rounds, then
          ``n_samples`` (default ``n_importance``) draws; the same noise for
          every row (a fresh generator per block, seeded by ``random_state``,
          default the estimator's own), so a row's estimate does not depend
          on the others.
        - ``"ais"``: :mod:`sklearn_ddchm._ais` with ``n_samples`` chains
          (default ``DEFAULT_AIS_CHAINS``) per row, independent between rows;
          with ``shared_noise``, chain ``k`` of every row draws the same
          noise (a fresh generator per block, as for ``"importance"``).

        ``warn=False``: no :class:`UnreliableScoreWarning` (a caller that
        combines estimates warns once, on the combination).
        """
        check_is_fitted(self)
        check_same_namespace(
            X, self, attribute=self._namespace_attribute, method=caller
        )
        X = self._validate_X(X, reset=False)
        xp = get_namespace(X)
        # None: the estimator's own seed, never drawing from (so changing) a
        # RandomState instance held in its random_state parameter
        own = self.random_state
        if random_state is None:
            seed_source = own if isinstance(own, numbers.Integral) else 0
        else:
            seed_source = random_state
        estimates, stderrs, esss, accepts = [], [], [], []
        if method == "importance":
            k = self.n_importance if n_samples is None else int(n_samples)
            seed = _score_seed(seed_source)
            betas = None
            for start_row in range(0, X.shape[0], SCORE_CHUNK_ROWS):
                chunk = X[
                    start_row : min(start_row + SCORE_CHUNK_ROWS, X.shape[0]), ...
                ]
                # a fresh generator per chunk: same noise for every row.
                # Draws outside the model's numerical range get log-weight
                # -inf (NaN is mapped there too): by design, so NumPy's
                # warnings about them would only be noise.
                with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                    proposal = self._scoring_proposal(chunk)
                    log_w = importance_log_weights(
                        self.model_,
                        chunk,
                        proposal,
                        k,
                        np.random.RandomState(seed),
                        n_adapt=_adapt_rounds(proposal),
                    )
                for out, value in zip(
                    (estimates, stderrs, esss),
                    _ais.summarize_log_weights(log_w),
                    strict=True,
                ):
                    out.append(value)
        else:
            k = DEFAULT_AIS_CHAINS if n_samples is None else int(n_samples)
            betas = _ais.to_host_schedule(schedule, n_temperatures)
            if shared_noise:
                seed = _score_seed(seed_source)
            else:
                rng = check_random_state(seed_source)
            width = max(self.model_.n_features, *self.model_.latent_dims)
            rows = max(1, AIS_CHUNK_ELEMENTS // (k * width))
            for start_row in range(0, X.shape[0], rows):
                chunk = X[start_row : min(start_row + rows, X.shape[0]), ...]
                proposal = (
                    _ais.PriorProposal(self.model_, chunk.shape[0])
                    if start == "prior"
                    else self._scoring_proposal(chunk, for_ais=True)
                )
                log_w, accept, _ = _ais.annealed_importance_sampling(
                    self.model_,
                    chunk,
                    proposal,
                    betas,
                    k,
                    np.random.RandomState(seed) if shared_noise else rng,
                    n_leapfrog=n_leapfrog,
                    n_steps=n_steps,
                    shared_noise=shared_noise,
                )
                for out, value in zip(
                    (estimates, stderrs, esss),
                    _ais.summarize_log_weights(log_w),
                    strict=True,
                ):
                    out.append(value)
                if accept is not None:
                    accepts.append(accept)

        def joined(parts):
            return xp.concat(parts) if len(parts) > 1 else parts[0]

        result = LogLikelihoodResult(
            joined(estimates),
            joined(stderrs),
            joined(esss),
            method=method,
            n_samples=k,
            n_temperatures=1 if betas is None else len(betas) - 1,
            acceptance_rate=joined(accepts) if accepts else None,
            n_transitions=0 if betas is None else k * (len(betas) - 2) * n_steps,
        )
        if not warn:
            return result
        _warn_if_unreliable(
            self,
            result.log_likelihood,
            caller,
            # only log_likelihood's callers asked for a careful estimate;
            # score's fast one would warn on every hard model
            ess=result.ess if caller == "log_likelihood" else None,
            n_weights=k,
        )
        return result

    def score(self, X, y=None):
        """Mean estimated log-likelihood per sample, a float (like ``PCA.score``).

        The fast estimate of :meth:`score_samples`, what
        ``GridSearchCV(scoring=None)`` and ``cross_val_score`` use. To compare
        models, prefer :func:`sklearn_ddchm.log_likelihood` (annealed
        importance sampling, with standard errors) or its scorer
        :func:`sklearn_ddchm.make_log_likelihood_scorer`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        xp = get_namespace(X)
        return float(xp.mean(self.score_samples(X)))

    #: a fitted array attribute that shows the fit's namespace and device
    _namespace_attribute = "input_mean_"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _adapt_rounds(proposal):
    """Adaptive rounds ``score_samples`` runs before drawing with ``proposal``.

    ``SCORE_ADAPT_ROUNDS`` for a factorised proposal with a continuous layer
    to re-centre, ``LINEAR_ADAPT_ROUNDS`` for the linear-Gaussian proposal,
    none otherwise: :meth:`FactorisedProposal.refined` keeps binary layers as
    they are, and the other proposals have no moments to refit.
    """
    if isinstance(proposal, LinearGaussianProposal):
        return LINEAR_ADAPT_ROUNDS
    if isinstance(proposal, FactorisedProposal) and not all(proposal.binary):
        return SCORE_ADAPT_ROUNDS
    return 0


def _score_seed(random_state):
    """A fixed seed for scoring: an int as it is, one drawn from a RandomState."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
