"""The DDC Helmholtz machine estimator (Vertes & Sahani, NeurIPS 2018)."""

from __future__ import annotations

import math
import numbers
import warnings
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _wake_sleep as ws
from ._base import BaseDeepGenerativeEstimator
from ._features import RandomSigmoidFeatures
from ._importance import MIXTURE_FLOOR, FactorisedProposal, importance_gradient
from ._linear_proposal import linear_gaussian_proposal
from .metrics._mmd import median_heuristic
from .utils._array_api import (
    check_same_namespace,
    get_namespace,
    get_namespace_and_device,
    is_binary,
    is_numpy_namespace,
    scipy_blas_single_threaded,
    to_namespace,
)
from .utils._random import draw
from .utils._validation import IntInterval

#: steps between two computations of the recognition regression's degrees of
#: freedom (the correction of the residual covariance, moment form): they
#: move slowly with the model, and each costs a solve with n_hidden + 1
#: right-hand sides
DOF_EVERY_STEPS = 10
#: ``learning_rate="auto"``: the first step size of a run of many steps ...
AUTO_LEARNING_RATE = 1e-2
#: ... and of a ``fit`` of ``n_steps`` steps, ``AUTO_LEARNING_RATE *
#: min(AUTO_LEARNING_RATE_MAX_FACTOR, max(1, AUTO_LEARNING_RATE_STEPS /
#: n_steps))``: Adam moves a weight by about the step size per step, so a
#: short fit at 1e-2 cannot travel as far as its parameters need to go (a
#: factor model of scikit-learn's breast-cancer table, 400 steps, stopped
#: 1.14-1.17 nats per held-out row short of the maximum-likelihood fit at
#: 1e-2, 0.02-0.05 at 2.5e-2 over five seeds, where 1,600 steps at 1e-2
#: got to 0.07; benchmarks/bench_tabular.py) ...
AUTO_LEARNING_RATE_STEPS = 1000
#: ... up to this factor (5e-2: 124 rows of the wine table, 200 steps,
#: measured as good as 1e-2 and 3e-2)
AUTO_LEARNING_RATE_MAX_FACTOR = 5.0
#: ``max_iter="auto"``: the epochs of ``fit`` are those of this many
#: minibatch steps, at most ``AUTO_MAX_EPOCHS``. A DDC-HM sharpens as its
#: steps add up, whatever the data's size: its observation noise shrinks and
#: its own samples grow likelier than held-out data. MNIST's SBN at its
#: default widths ended as close by MMD^2 after 5 epochs (3,000 steps of
#: 100 rows) as after 53, and 51-56 nats per test image likelier; the paper's synthetic
#: model is 0.034 nat per point below the truth's held-out log p(x) after
#: 1,200 steps, 0.048 after 3,000 and 0.072 after 4,000 (five seeds); two of
#: Table 1's patch models lose 4-7 nats per patch between 3,000 steps and
#: 7,900-10,000. Between 1,000 and 3,000 steps the differences measured
#: were small and mixed; MMD^2 on MNIST and on the (50, 10) patch model
#: still improved up to about 3,000 (benchmarks/README.md, "How long a
#: fit"). The cap counts steps, not rows: on MNIST (300-row minibatches)
#: 1,000 steps were 4-6 nats per test image likelier than 3,000 but 1.32x
#: and 1.42x the MMD^2 floor against 1.20x and 1.19x (two fit seeds).
AUTO_MAX_STEPS = 3000
AUTO_MAX_EPOCHS = 100
#: ``batch_size="auto"``: minibatches of ``AUTO_BATCH_SIZE`` rows, or of
#: the rows of ``AUTO_BATCHES_PER_EPOCH`` minibatches where that is more
#: (beyond 20,000 rows; 300 on MNIST's 60,000). A step's cost is mostly its
#: sleep phase, so a larger minibatch costs a step little, and on large data
#: the minibatch is most of the wake gradient's noise in the lower layers.
#: MNIST's SBN at its default widths, five fit seeds: 1.07-1.19x the floor
#: (mean 1.13x) in 20 minutes against 1.08-1.23x (1.18x) at 100 rows, and
#: 1.12-1.20x (1.17x) against 1.11-1.33x (1.23x) by max_iter="auto"
#: (benchmarks/README.md, "batch_size='auto'"); by AIS the latter are 3.3
#: nats per test image less likely (1.5-5.1 on every seed). At the paper's
#: 200-200-200, 20 minutes: 1.17-1.35x (1.25x) against 1.20-1.31x (1.27x);
#: over eleven fit seeds 1.16-1.35x (1.23x), four at or below 1.2x.
#: Data of up to 20,000 rows keep 100 rows, and their fits are unchanged.
AUTO_BATCH_SIZE = 100
AUTO_BATCHES_PER_EPOCH = 200
#: relative penalty of the encoding regressions when ``ridge="gcv"``
ENCODING_RIDGE = 1e-3
#: sleep samples drawn once after training for the final recognition model and
#: the weights behind ``posterior_expectation``: cheap once, and much less
#: noisy than a training-time sleep set of a few hundred samples.
FINAL_SLEEP_SAMPLES = 2000
#: floor of the DDC posterior variance used by the scoring proposal, as a
#: fraction of the median posterior variance over the final sleep samples: the
#: DDC estimate E[z^2] - E[z]^2 of one datum can come out near or below zero
#: through regression error, and a too narrow proposal ruins the estimate.
VARIANCE_FLOOR_FRACTION = 0.5
#: ... and never below this fraction of the layer's marginal variance
MARGINAL_FLOOR_FRACTION = 1e-3
#: with ``fan_in_scaling``, weight matrices with more parents than this take a
#: step scaled by ``sqrt(FAN_IN_REFERENCE / n_parents)`` (see ``_step_scales``);
#: 20 puts the weights of a 200-unit SBN at the 3e-3 step measured best there
#: (REFERENCE section 6) while the 2-D model keeps its 1e-2
FAN_IN_REFERENCE = 20
#: ``n_hidden="auto"``: one recognition unit per input feature, but at most
#: this share of the sleep samples the recognition regression is fitted on
#: (1000 units on 1000 sleep samples learnt MNIST worse than 600: the ridge
#: system is then under-determined) ...
HIDDEN_PER_SLEEP_SAMPLE = 0.6
#: ... and never fewer than this (the fixed default before; it wins over the
#: cap when there are few sleep samples, where the ridge keeps it solvable)
MIN_HIDDEN = 100
#: ``hidden_features="kernel"``: the Gaussian kernel's width as a multiple of
#: the median distance between standardised training rows (2.6 puts it at
#: 30 pixels on binarised MNIST, the best of the widths measured there with
#: centred units: 1.73, 2.6 and 4 times the median distance gave 1.81x /
#: 1.55x, 1.46x / 1.41x and 1.40x / 1.57x the floor after 6 epochs on fit
#: seeds 0 / 1; ``benchmarks/README.md``)
KERNEL_BANDWIDTH_FACTOR = 2.6
#: ``hidden_features="statistic"``: the kernel's width as a multiple of the
#: median distance between the standardised statistics ``t(x)`` of a sleep
#: phase's samples (0.5 against 1.0 and 2.0 on scikit-learn's digits table,
#: at a preset model fitted with ReLU units: its Laplace bias gradient 0.22 /
#: 0.10 / 0.04 of the true one; held-out log p(x) over 3 fit seeds -76.0 /
#: -76.4 with 0.5 / 1.0, cancer -20.1 / -23.2; ``benchmarks/README.md``) ...
STATISTIC_BANDWIDTH_FACTOR = 0.5
#: ... computed on this many of the phase's samples (the median of their
#: pairwise distances is stable to a few percent there and costs ~1 ms)
STATISTIC_BANDWIDTH_ROWS = 200


#: The paper's algorithm (Vertes & Sahani 2018) as estimator parameters:
#: ``DDCHelmholtzEstimator(**PAPER_ALGORITHM)``; what the benchmarks and tests
#: compare the defaults with (read-only).
PAPER_ALGORITHM = MappingProxyType(
    dict(
        encoding_refresh=None,
        recognition="predicted",
        ridge_reference="trace",
        observation_gradient="weights",
        gradient_split="paper",
        expectations="encodings",
        fan_in_scaling=False,
        hidden_features="relu",
        recognition_statistic=False,
        learning_rate_decay_power=1.0,
        average_fraction=0.0,
        init="random",
    )
)


class _SleepPhase(NamedTuple):
    """What one sleep phase produces (see ``DDCHelmholtzEstimator._sleep``)."""

    sleep: list  # [X_s, z_1, ..., z_L]
    H_sleep: object  # hidden features h(X_s)
    coefs: list  # recognition coefficients phi_l
    features_aug: list  # [T_l(z_l), 1]
    grams: list  # their regularised Gram matrices
    mean_coefs: object  # z_1 regressed on [h(x), 1], or None
    hidden_system: tuple  # (A, G): Gram matrix of [h(x), 1], and regularised
    refreshed: bool  # whether the encodings (and penalties) were just re-placed
    embedding_gram: object  # regularised Gram matrix of this phase's [h(x), 1]


class DDCHelmholtzEstimator(BaseDeepGenerativeEstimator):
    """Deep exponential family model learnt by DDC wake-sleep.

    The approximate posterior of each latent layer ``z_l`` is a distributed
    distributional code: the expectations ``r_l(x) ~ E[T_l(z_l) | x]`` of
    ``K_l`` random sigmoid encoding functions, produced by a recognition model
    trained on samples from the generative model (sleep phase, Eq. 7-8). The
    wake phase turns these expectations into the gradient of the free energy
    through linear maps learnt on the same samples (Eq. 11-12, 36), without
    any parametric or factorised form of the posterior.

    Each step: draw ``n_sleep_samples`` joint samples from the model;
    solve the ridge regressions of the recognition model and of the gradient
    approximators in closed form; take a minibatch of data; step the model
    parameters with Adam along the approximate free-energy gradient.

    The defaults go beyond the paper where its algorithm fails from a random
    start (see the User Guide, "From a random start"): the encodings follow
    the model (``encoding_refresh``), every recognition layer reads the
    hidden features (``recognition="hidden"``), ridge penalties are relative
    to the features' variance (``ridge_reference``), the gradient of a
    Gaussian observation layer is computed from posterior moments
    (``observation_gradient``), latent conditionals use one consistent
    regression (``gradient_split="child"``), the observation layer starts
    from the data (``init``) and the recognition units follow the model's
    samples (``hidden_features``, ``recognition_statistic``). The paper's algorithm is
    ``encoding_refresh=None, recognition="predicted", ridge_reference="trace",
    observation_gradient="weights", gradient_split="paper", init="random"``.

    Parameters
    ----------
    model : {"sparse", "sbn", "gaussian"} or DeepExponentialFamily, default="sparse"
        ``"sparse"``: the paper's Eq. 13 (mixture-of-Gaussians prior,
        Laplace layers with softplus scale, Gaussian observations);
        ``"sbn"``: sigmoid belief network (binary ``X``); ``"gaussian"``:
        linear-Gaussian layers. A :class:`~sklearn_ddchm.models.DeepExponentialFamily`
        is copied; layers that carry parameters start from them (the paper's
        synthetic experiment starts at the true parameters), the others are
        drawn at random. Its top layer learns as its own ``trainable`` says
        (see ``fit_prior``).
    latent_dims : "auto", int or tuple of int, default="auto"
        ``(D_1, ..., D_L)``, bottom-up. Ignored when ``model`` is an instance.
        ``"auto"``: two layers, ``D_1`` the number of factors with the lowest
        BIC of :class:`~sklearn.decomposition.FactorAnalysis` on ``X`` (at
        most 2,000 of its rows; the factor model is the observation layer's
        family with Gaussian latents), from 2 to 100, and ``D_2 = D_1 // 2``
        from 1 to 10. Binary data are searched on their columns of variance
        above 0.01 (a factor can reproduce the few ones of a column that is
        almost constant, so on all 784 pixels of binarised MNIST the
        criterion kept improving with every factor added). ``(2, 1)``, the
        paper's synthetic model's, for five searched columns or fewer, where the
        criterion could choose nothing else. On the first batch of
        :meth:`partial_fit`. The widths used are
        ``latent_dims_`` (``benchmarks/README.md``: on scikit-learn's tables,
        binarised digits and binarised MNIST the widths chosen fitted
        held-out rows better than ``(2, 1)``).
    n_encoding : int or tuple of int, default=100
        Number of encoding functions ``K_l`` per latent layer (one int for all).
        Under the default ``expectations="embedding"`` they size
        :meth:`transform`'s features and :meth:`score`'s proposal but not
        the fit: to tune the fit, search over ``n_hidden`` or
        ``latent_dims``.
    n_hidden : int or "auto", default="auto"
        Units of the recognition model's hidden layer ``h(x)`` (Eq. 8): fixed
        random ReLU units ``[W x + b]_+`` or kernel units (see
        ``hidden_features``). ``"auto"``: one per input feature, capped
        at 60% of ``n_sleep_samples`` (the recognition regressions are
        fitted on the sleep samples), and never fewer than 100; see
        ``n_hidden_``.
        The DDC expectations are regressions on these units, so too few
        leave them coarse, and more units than sleep samples leave the
        regressions under-determined (measured on MNIST: ``benchmarks/README.md``).
    hidden_features : {"auto", "relu", "kernel", "statistic"}, default="auto"
        The recognition model's hidden layer ``h(x)``. ``"relu"``: the fixed
        random ReLU units above (Eq. 8). ``"kernel"``: Gaussian-kernel units
        ``exp(-||u - c_j||^2 / (2 s^2))`` of the standardised input ``u``,
        centred on ``n_hidden`` of each step's sleep samples (so they follow
        the model as it moves), of width ``s`` = 2.6 times the median
        distance between training rows (``kernel_bandwidth_``).
        ``"statistic"``: the same units of the observation layer's statistic
        ``t(x)`` for ``z_1`` (see ``recognition_statistic``) instead of ``x``,
        standardised and centred on each step's sleep samples, of width 0.5
        times the median distance between their standardised statistics. The
        posterior of every latent depends on ``x`` only through ``t(x)``, a
        ``D_1``-dimensional vector, where the same number of units resolves
        the posterior far more finely than in the ``D``-dimensional space of
        ``x``. Both kernel kinds need ``n_hidden < n_sleep_samples`` and
        ``sleep_decay=0`` (the features change every step). ``"auto"``:
        ``"kernel"`` for binary data (every value 0 or 1), ``"statistic"``
        for other data with more features than ``z_1`` where ``t(x)`` is in
        ``h(x)`` too (``recognition_statistic``: the local units leave the
        linear part of the posterior means to it), each where those
        conditions hold, else ``"relu"``. Measured
        (``benchmarks/README.md``): on binarised MNIST kernel units learnt a
        model closer to the data; on Table 1's patch models statistic units
        learnt models closer to held-out patches by likelihood and by MMD^2,
        on scikit-learn's tables by likelihood, with the observation layer's
        wake gradient closer to the true one; on the paper's 2-D model (as
        many features as ``z_1``) either kind of kernel units was worse than
        ReLU units.
    recognition_statistic : {"auto"} or bool, default="auto"
        Whether ``h(x)`` also holds the observation layer's statistic of
        ``x`` for ``z_1``, ``t(x)`` with ``log p(x | z_1) = t(x) . z_1 +
        f(x) + g(z_1)``: ``Lambda^T Psi^-1 x`` for Gaussian observations,
        ``W^T x`` for Bernoulli ones (see
        :meth:`~sklearn_ddchm.models.Layer.parent_statistic`). The posterior
        of every latent depends on ``x`` only through ``t(x)``, and the
        posterior mean of a linear-Gaussian model is linear in it, which
        random units of ``x`` only approximate. Its columns are whitened on
        each step's sleep samples (``statistic_whitening_``) and scaled to 10
        times the units' spread, so the ridge penalty all but spares them,
        in every direction (they follow the model, so it needs
        ``sleep_decay=0``). ``"auto"``: on for
        Gaussian observations (on Table 1's patch model it brought the
        observation layer's wake gradient closer to the true one, loadings'
        cosine 0.74-0.90 against 0.57-0.69, and on a 32-pixel factor model
        it cut the noise variance's gradient bias from +0.08 to +0.01 per
        pixel; ``benchmarks/README.md``), off for Bernoulli ones, where on
        MNIST it was no better.
    n_sleep_samples : int, default=1000
        Joint samples from the model drawn every step; every regression is
        solved afresh on them (the paper's synthetic run used 200; 1000 gave
        half the MMD^2 from the true parameters, ``benchmarks/bench_sleep_options.py``).
    learning_rate : float or "auto", default="auto"
        Initial Adam step size. Starting at good parameters (the paper's
        protocol) calls for a smaller step, e.g. 1e-4 to 1e-3. With
        ``fan_in_scaling`` the weights of units with many parents take a
        smaller step. ``"auto"``: 1e-2 for :meth:`fit` runs of 1,000 steps
        or more (``max_iter`` times the minibatches per epoch) and for
        :meth:`partial_fit`; a shorter ``fit`` starts larger, at ``1e-2 *
        1000 / n_steps`` up to 5e-2. Adam moves each weight by about the
        step size per step, and at 1e-2 a few hundred steps do not carry the
        parameters as far as they need to go: on small tables (a few hundred
        rows, 100 epochs of 4 minibatches) the defaults otherwise stopped
        short of the maximum-likelihood fit by about a nat per row
        (``benchmarks/README.md``). The value used is ``learning_rate_``.
        A search over ``max_iter`` (successive halving on it, say) thus
        compares runs started at different steps; give a number to compare
        budgets alone.
    learning_rate_decay : float in (0, 1], default=0.1
        Ratio of the final to the initial step size, decayed every step (at the
        pace of ``learning_rate_decay_power``): over the ``max_iter`` epochs of
        :meth:`fit`, and over ``learning_rate_decay_samples`` samples of
        :meth:`partial_fit`; 1.0 keeps the step constant. A decaying step is
        what lets a DDC-HM reach the data's floor (a constant step leaves it
        wandering at a 4-5x worse MMD on MNIST).
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
    learning_rate_decay_power : float > 0, default=2.0
        Shape of the decay: the step size is ``learning_rate *
        learning_rate_decay ** (progress ** learning_rate_decay_power)``,
        ``progress`` running from 0 to 1 over the fit (or the ``partial_fit``
        horizon). 1 decays geometrically at a constant rate; a larger power
        keeps the step near ``learning_rate`` for longer and decays it later
        (with 2, half-way through the step is ``learning_rate_decay ** 0.25`` of
        the first, 0.56 for a decay of 0.1, against 0.32 at a power of 1). From
        a random start a DDC-HM is still moving towards the data when a
        geometric decay has already slowed it (measured in
        ``benchmarks/bench_ddc_defaults.py``).
    average_fraction : float in [0, 1), default=0.1
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
    batch_size : int or "auto", default="auto"
        Minibatch size of the wake phase. ``"auto"``: 100 rows, or ``ceil(n /
        200)`` of ``n`` rows where that is more (an epoch of 200 minibatches
        beyond 20,000 rows: 300 on MNIST's 60,000); for :meth:`partial_fit`,
        ``n`` is the rows of the call. A step's cost is mostly its sleep
        phase, so on large data a larger minibatch buys a less noisy
        gradient for little.
    max_iter : int or "auto", default="auto"
        Epochs (passes over the data) of :meth:`fit`. ``"auto"``: the epochs
        of 3,000 minibatch steps, at most 100 (100 epochs up to 3,000 rows at
        the default ``batch_size``, 30 on 10,000 rows, 15 on MNIST's 60,000
        in minibatches of 300).
        A DDC-HM sharpens as its steps add up, whatever the data's size: its
        observation noise shrinks and its own samples become likelier than
        held-out rows. Held-out likelihood fell with the steps after about
        3,000 on every data set measured, while MMD² to held-out data moved
        either way (``benchmarks/README.md``, "How long a fit"). Give a
        number to fill a time budget or to search over the length.
        ``n_iter_`` is the number of epochs run.
    tol : float or None, default=None
        Stop when the per-epoch training criterion (the DDC estimate of
        ``E_q[log p(x, z)]`` per datum) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``None`` runs all ``max_iter`` epochs
        (the criterion is a noisy minibatch estimate).
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
    ridge : float or "gcv", default=1e-3
        Relative ridge penalty of the sleep-phase regressions, ``lambda =
        ridge * n * mean_k Var(F_k)`` for ``n`` samples of a design ``F``
        (see ``ridge_reference``; the constant column is not penalised).
        ``"gcv"`` chooses the recognition regressions' penalty by generalised
        cross-validation on the sleep samples at every ``encoding_refresh``
        (the encoding regressions keep 1e-3): smoother recognition maps,
        which learnt more slowly on image patches. Smaller penalties fit
        the posterior more closely and larger ones steady the fit; measured
        from 1e-3 down (``benchmarks/README.md``), 1e-4 fitted the
        one-layer models of scikit-learn's tables and the synthetic model's
        noise variance better but Table 1's patch models worse, and 3e-5
        failed three of five synthetic fits from a random start.
    ridge_reference : {"variance", "trace"}, default="variance"
        What ``ridge`` is relative to: the features' variance, or their
        uncentred second moment ``trace(F^T F) / (n K)`` (the original rule,
        up to 237x larger for sigmoid features far from 0, which shrinks the
        small-variance directions that carry the latent layers' gradients).
    sleep_decay : float in [0, 1), default=0.0
        Forgetting factor of the recognition model's regression statistics:
        0 solves on each step's fresh sleep samples alone; ``d > 0``
        accumulates them (recursive least squares), an effective
        ``n_sleep_samples / (1 - d)`` samples. The gradient approximators
        always use the fresh samples (the weight identity needs them).
        Features that follow the model cannot be accumulated, so with ``d >
        0`` the ``"auto"`` recognition features fall back to random ReLU
        units of ``x`` without the statistic (``hidden_features``,
        ``recognition_statistic``), and :meth:`fit` says so in a
        ``UserWarning`` where the fallback was measured to cost: on breast
        cancer's one-layer factor model, ``d=0.9`` ended 2.8-4.1 nats per
        held-out row behind ``FactorAnalysis`` over five seeds, where the
        defaults end 0.02-0.05 behind (``benchmarks/README.md``). Setting
        ``hidden_features="relu"`` and ``recognition_statistic=False`` chooses
        the same features without the warning.
    recognition : {"hidden", "predicted", "sampled"}, default="hidden"
        How the recognition maps of layers above the first are fitted:
        ``"hidden"`` regresses ``T_l(z_l^s)`` on the hidden features
        ``[h(x^s), 1]`` like the first layer (the design ``[h(x),
        r_{l-1}(x)]``, a network between layers, spans the same functions);
        ``"predicted"`` on the predicted ``r_{l-1}(x^s)`` (the paper's Eq. 8);
        ``"sampled"`` on the sampled ``T_{l-1}(z_{l-1}^s)``, reusing the Gram
        matrix of the gradient approximators. All are consistent on a chain
        model; through ``r_1`` alone ``E[z_2 | x]`` had 4x the error.
    encoding : {"sigmoid", "linear"}, default="sigmoid"
        ``"sigmoid"``: random sigmoid encodings (Eq. 4, see
        :class:`RandomSigmoidFeatures`). ``"linear"``: ``T(z) = z``, the
        mean-field posterior of the classic Helmholtz machine.
    encoding_refresh : int or None, default=10
        Every ``encoding_refresh`` steps the sigmoid encodings of continuous
        latent layers are re-placed on the current sleep samples (same random
        directions, anchors spread over the latents' current range), so that
        they keep resolving the latents as the model moves; ``None`` keeps
        the encodings drawn on the initial model (the paper).
    gradient_split : {"child", "paper"}, default="child"
        How the gradient of each latent conditional ``p(z_l | z_{l+1})`` is
        approximated: ``"child"`` regresses the whole gradient on ``T(z_l)``,
        consistent because ``q(z_l, z_{l+1} | x) = p(z_{l+1} | z_l) q(z_l |
        x)``; ``"paper"`` regresses the sufficient-statistic term on
        ``T(z_l)`` and the log-normaliser term on ``T(z_{l+1})`` (Eq. 26,
        32), whose two estimates of the same expectation come from different
        regressions and do not cancel when those disagree.
    observation_gradient : {"moments", "weights"}, default="moments"
        For an observation layer whose log-density is quadratic in ``z_1``
        (Gaussian with a linear mean), ``"moments"`` computes Eq. 19 from the
        posterior mean and covariance of ``z_1``: the mean from the
        recognition's regression of ``z_1`` on ``[h(x), 1]``, the covariance
        from that regression's residuals at the sleep pairs. ``"weights"``
        contracts the data with the DDC weights (the paper), whose expected
        squared residuals can come out negative for narrow posteriors and
        let the noise variance collapse. Other layers always use weights.
    expectations : {"embedding", "encodings", "importance", "mixed"}, \
            default="embedding"
        How posterior expectations enter the wake phase: ``"encodings"``
        through the encoding functions (Eq. 5, 12, the paper's algorithm);
        ``"embedding"`` through the conditional mean embedding of the sleep
        samples in the hidden features, ``w(x) = [h_s, 1] G^{-1} [h(x), 1]``,
        the limit of infinitely many encoding functions (the paper's Section
        8). The embedding's gradient has the right sign in every parameter
        block at the true parameters of the paper's synthetic model, where the
        encodings' Laplace bias does not, and one set of weights serves every
        layer. With ``"embedding"`` the wake phase reads no encoding, so
        ``encoding``, ``encoding_refresh``, ``gradient_split`` and
        ``recognition`` shape only :meth:`transform`'s features and
        :meth:`score`'s proposal, not the fit (the classic Helmholtz machine
        is ``encoding="linear", expectations="encodings"``). The features of
        :meth:`transform` are DDC means either way. ``"importance"`` is not
        the DDC wake phase: the free-energy gradient is estimated by
        self-normalised importance sampling with ``n_importance`` draws per
        row from the model's own linear-Gaussian posterior (the proposal
        :meth:`score` uses, without its recognition share), and no sleep
        phase runs during training (only at the end, for :meth:`transform`
        and :meth:`score`). Only for a linear-Gaussian observation layer
        under continuous latents whose proposal needs no recognition model
        (one latent layer, or the sparse model's two); on the (50, 10)
        patch model it kept improving where the DDC gradient drifts away
        (see the User Guide), at about 4.6 times the cost per step.
        ``"mixed"``: the observation layer's gradient from the embedding's
        wake phase (as ``"embedding"``), the latent layers' and the prior's
        from the importance estimate (as ``"importance"``, with the same
        requirements), where the wake phase's estimate is weakest: on Table
        1's (50, 10) patch model its Laplace block is a signal at 0.05 of the
        true gradient's norm under noise several times its size, where its
        observation blocks agree with the truth to cosine 0.96-0.99. Like
        ``"embedding"`` it reads no encoding, and its training criterion is
        the wake phase's. About 4.4 times the cost per step of
        ``"embedding"`` (``benchmarks/README.md``).
    fan_in_scaling : bool, default=True
        Scale the step of a weight matrix with ``n`` parents by
        ``min(1, sqrt(20 / n))``. Adam moves every weight by about the step
        size, so a unit with ``n`` parents sees its input move up to ``n``
        times as far: the step that a 2-D model needs makes a sigmoid belief
        network with 200 units per layer wander. Biases, variances and the
        weights of units with at most 20 parents take the whole step.
        ``False`` takes one step size for every parameter (the paper).
    fit_prior : "auto" or bool, default="auto"
        Whether the top prior's parameters are learnt (Eq. 21) or kept fixed.
        ``"auto"``: fixed for a named ``model``; for a ``model`` instance,
        as its top layer's own ``trainable`` says (every prior class is
        fixed by default). ``True`` or ``False`` decides for an instance's
        top layer too, whatever that layer says. A
        :class:`~sklearn_ddchm.models.MixtureOfGaussiansPrior` moves its
        components to the data's clusters only when learnt
        (``benchmarks/bench_clustered.py``).
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
        Importance samples per datum in :meth:`score_samples` (the fast
        estimate; :func:`~sklearn_ddchm.log_likelihood` runs annealed
        importance sampling from the same proposal). When every latent
        layer is binary :meth:`score_samples` mixes that estimate with
        annealed importance sampling of 4 chains over ``n_importance // 5``
        temperatures.
    warm_start : bool, default=False
        Continue from the previous fit's parameters.
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
    encoders_ : list of RandomSigmoidFeatures
        The encoding functions ``T_l`` of each latent layer.
    input_mean_, input_scale_ : arrays of shape (n_features,)
        Standardisation of the inputs of the recognition model: the features'
        means and standard deviations, or 0.5 and 0.5 for binary data (every
        value 0 or 1), which the recognition model then sees as -1 and +1.
    n_hidden_ : int
        Units of the recognition model's hidden layer (``n_hidden`` resolved).
    recognition_weights_ : array of shape (n_units, n_features)
        Weights of the recognition model's hidden layer, with
        ``n_units = n_hidden_``.
    recognition_bias_ : array of shape (n_units,)
        Biases of the recognition model's hidden layer.
    hidden_features_ : {"relu", "kernel", "statistic"}
        ``hidden_features`` resolved. With kernel units the ReLU layer's
        weights and biases above are drawn but unused.
    kernel_bandwidth_ : float or None
        Width ``s`` of the kernel units (None with ReLU units).
    recognition_centres_ : array of shape (n_units, n_features or D_1) or None
        Standardised centres of the kernel units: the last sleep phase's
        samples (``"kernel"``) or their statistics ``t(x)``
        (``"statistic"``), those the fitted ``recognition_coefs_`` were
        regressed on (None with ReLU units).
    statistic_units_mean_, statistic_units_scale_ : arrays of shape (D_1,) or None
        Standardisation of ``t(x)`` for the statistic units, from the last
        sleep phase's samples (None with other units).
    recognition_offset_ : array of shape (n_units,) or None
        Mean of each kernel unit over the last sleep phase's samples,
        subtracted from the units (None with ReLU units, with
        ``ridge_reference="trace"``, whose penalty is defined on the
        uncentred units, or before the first sleep phase). It changes no
        regression in exact arithmetic, but on MNIST the units vary by about
        1% around a mean near 0.9, and the Gram matrix of uncentred units
        loses that variation to float32 rounding.
    recognition_statistic_ : bool
        ``recognition_statistic`` resolved.
    statistic_centre_ : array of shape (D_1,) or None
        Mean of the observation layer's statistic ``t(x)`` over the last
        sleep phase's samples (None without the statistic).
    statistic_whitening_ : array of shape (D_1, D_1) or None
        PCA whitening of ``t(x)`` from the same samples, ``u(x) = (t(x) -
        statistic_centre_) @ statistic_whitening_``: the form in which
        ``t(x)``'s columns enter ``h(x)``. Whitened, every direction of
        ``t(x)`` has unit variance, so the relative ridge penalty does not
        shrink the directions in which it varies little, which a posterior
        mean needs as much as the others (see the User Guide). The
        statistic units keep the standardised ``t(x)``.
    statistic_mean_, statistic_scale_ : arrays of shape (D_1,) or None
        Standardisation of the whitened statistic ``u(x)`` in ``h(x)``,
        ``(u(x) - mean) / scale``, from the last sleep phase's samples (None
        without the statistic).
    recognition_coefs_ : list of arrays
        ``phi_l`` of shape (n_inputs + 1, K_l): the last row is the intercept;
        ``n_inputs`` is ``n_hidden_``, plus ``D_1`` with the statistic.
    sleep_latents_ : list of arrays of shape (FINAL_SLEEP_SAMPLES, D_l)
        Latent samples behind :meth:`posterior_expectation`.
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
        The first step size of the last run (``learning_rate`` resolved).
    training_curve_ : list of float
        Per-epoch mean of the DDC estimate of ``E_q[log p(x, z)]`` per datum,
        over the epoch's minibatches; an epoch of more than 100 minibatches
        evaluates it on every ``k``-th of them (``k = n_batches // 100``):
        it costs as much as a quarter of a step.
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
    RandomSigmoidFeatures : The encoding functions.

    Notes
    -----
    On NumPy the ridge systems are solved by SciPy's Cholesky. A SciPy wheel
    carries its own OpenBLAS beside NumPy's, and two pools of spinning
    threads made a 16-core patch epoch 6.8x slower (41.6 s against 6.1 s,
    ``benchmarks/bench_gpu.py``), so :meth:`fit` and :meth:`partial_fit` run
    SciPy's copy on one thread; NumPy's products keep the threads the caller
    set (``threadpoolctl.threadpool_limits`` caps them). On 2 cores a float32
    patch step took 38.0 ms with NumPy on both, 47.6 ms with everything
    on one thread (``benchmarks/bench_ddc.py``).

    References
    ----------
    E. Vertes and M. Sahani. Flexible and accurate inference and learning for
    deep generative models. NeurIPS 2018.

    Examples
    --------
    >>> from sklearn_ddchm import DDCHelmholtzEstimator
    >>> from sklearn_ddchm.datasets import make_sparse_hierarchical
    >>> X, _, _ = make_sparse_hierarchical(n_samples=500, random_state=0)
    >>> est = DDCHelmholtzEstimator(max_iter=2, random_state=0).fit(X)
    >>> est.transform(X[:3]).shape
    (3, 200)
    >>> est.sample(4).shape
    (4, 2)
    """

    _parameter_constraints: dict = {
        **BaseDeepGenerativeEstimator._parameter_constraints,
        "n_encoding": [
            "array-like",
            IntInterval(1, None, closed="left"),
        ],
        "learning_rate": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "batch_size": [IntInterval(1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [IntInterval(1, None, closed="left"), StrOptions({"auto"})],
        "n_hidden": [IntInterval(1, None, closed="left"), StrOptions({"auto"})],
        "n_sleep_samples": [IntInterval(2, None, closed="left")],
        "ridge": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"gcv"}),
        ],
        "encoding": [StrOptions({"sigmoid", "linear"})],
        "gradient_split": [StrOptions({"paper", "child"})],
        "sleep_decay": [Interval(numbers.Real, 0, 1, closed="left")],
        "recognition": [StrOptions(set(ws.RECOGNITION_DESIGNS))],
        "ridge_reference": [StrOptions({"variance", "trace"})],
        "encoding_refresh": [IntInterval(1, None, closed="left"), None],
        "observation_gradient": [StrOptions({"moments", "weights"})],
        "expectations": [StrOptions({"encodings", "embedding", "importance", "mixed"})],
        "fan_in_scaling": ["boolean"],
        "hidden_features": [StrOptions({"auto", "relu", "kernel", "statistic"})],
        "recognition_statistic": [StrOptions({"auto"}), "boolean"],
    }

    _criterion_name = "E_q[log p(x,z)]"

    def __init__(
        self,
        model="sparse",
        latent_dims="auto",
        n_encoding=100,
        n_hidden="auto",
        hidden_features="auto",
        recognition_statistic="auto",
        n_sleep_samples=1000,
        learning_rate="auto",
        learning_rate_decay=0.1,
        learning_rate_decay_samples=None,
        learning_rate_decay_power=2.0,
        average_fraction=0.1,
        batch_size="auto",
        max_iter="auto",
        tol=None,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        ridge=1e-3,
        ridge_reference="variance",
        sleep_decay=0.0,
        recognition="hidden",
        encoding="sigmoid",
        encoding_refresh=10,
        gradient_split="child",
        observation_gradient="moments",
        expectations="embedding",
        fan_in_scaling=True,
        fit_prior="auto",
        init="auto",
        n_importance=100,
        warm_start=False,
        n_init=1,
        device_random=False,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.latent_dims = latent_dims
        self.n_encoding = n_encoding
        self.n_hidden = n_hidden
        self.hidden_features = hidden_features
        self.recognition_statistic = recognition_statistic
        self.n_sleep_samples = n_sleep_samples
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
        self.ridge = ridge
        self.ridge_reference = ridge_reference
        self.sleep_decay = sleep_decay
        self.recognition = recognition
        self.encoding = encoding
        self.encoding_refresh = encoding_refresh
        self.gradient_split = gradient_split
        self.observation_gradient = observation_gradient
        self.expectations = expectations
        self.fan_in_scaling = fan_in_scaling
        self.fit_prior = fit_prior
        self.init = init
        self.n_importance = n_importance
        self.warm_start = warm_start
        self.n_init = n_init
        self.device_random = device_random
        self.random_state = random_state
        self.verbose = verbose

    # -- set-up -----------------------------------------------------------------
    def _n_encoding_per_layer(self, n_layers):
        k = self.n_encoding
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            return (int(k),) * n_layers
        k = tuple(k)
        if len(k) != n_layers or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
            for v in k
        ):
            raise ValueError(
                f"n_encoding must be an int >= 1 or {n_layers} ints >= 1 (one per "
                f"latent "
                f"layer), got {self.n_encoding!r}."
            )
        return tuple(int(v) for v in k)

    def _blas_threads(self, X):
        # The ridge systems go through SciPy's Cholesky: SciPy's vendored
        # OpenBLAS runs on one thread for the fit, so that its pool does not
        # compete with NumPy's, whose threads stay as the caller set them.
        if is_numpy_namespace(get_namespace(X)):
            return scipy_blas_single_threaded()
        return super()._blas_threads(X)

    def _initialize_algorithm(self, X, rng):
        obs = self.model_.layers[0]
        if not obs.is_exponential_family:
            # the wake phase contracts S_0(x) with the DDC weights (Eq. 36)
            raise ValueError(
                "DDCHelmholtzEstimator needs an exponential-family observation "
                f"layer (layers[0]); got {type(obs).__name__}."
            )
        xp, device = get_namespace_and_device(X)
        dtype = X.dtype
        n_features = X.shape[1]
        model = self.model_
        n_layers = model.n_latent_layers
        n_encoding = self._n_encoding_per_layer(n_layers)
        binary = is_binary(X)
        if binary:
            # Binary data as -1 / +1. Standardised, a pixel that is on in one
            # of MNIST's 60,000 images becomes 245 there and swamps the random
            # features, which then barely see the common pixels.
            self.input_mean_ = xp.full(n_features, 0.5, dtype=dtype, device=device)
            self.input_scale_ = xp.full(n_features, 0.5, dtype=dtype, device=device)
        else:
            self.input_mean_ = xp.mean(X, axis=0)
            scale = xp.std(X, axis=0)
            self.input_scale_ = xp.where(scale > 0, scale, xp.ones_like(scale))
        self.n_hidden_ = self._resolve_n_hidden(n_features)
        # Random ReLU features of standardised inputs; 1/sqrt(D) keeps the
        # pre-activations O(1) whatever the input dimension.
        self.recognition_weights_ = draw(
            rng,
            "standard_normal",
            (self.n_hidden_, n_features),
            xp=xp,
            device=device,
            dtype=dtype,
        ) / math.sqrt(n_features)
        self.recognition_bias_ = draw(
            rng, "standard_normal", (self.n_hidden_,), xp=xp, device=device, dtype=dtype
        )
        # the statistic units go with the statistic itself (see below)
        self._resolve_recognition_statistic(X)
        self._resolve_hidden_features(X, binary)
        self._warn_accumulation_fallback(X, binary)
        # Encoding functions placed on latents of the initial model; with
        # encoding_refresh they follow the model (see _sleep).
        _, latents = model.sample(max(self.n_sleep_samples, 2), random_state=rng)
        self.encoders_ = []
        for z, k in zip(latents, n_encoding, strict=True):
            enc = RandomSigmoidFeatures(
                n_components=k,
                activation=self.encoding,
                random_state=rng.randint(np.iinfo(np.int32).max),
            )
            self.encoders_.append(enc.fit(z))
        if self.expectations in ("importance", "mixed") and (
            linear_gaussian_proposal(model, X[:2, ...]) is None
        ):
            raise ValueError(
                f'expectations="{self.expectations}" needs a Gaussian '
                "observation layer with a mean linear in z_1 and continuous "
                "latents whose "
                "linear-Gaussian posterior needs no recognition model (one "
                "latent layer, or the sparse model's two); got "
                f"{model!r}. Use expectations='embedding'."
            )
        self._recognition_design = self.recognition
        self._recognition_stats = None
        self._n_sleep_phases = 0
        self._recognition_ridge = None
        # degrees of freedom of the recognition regression (moment form)
        self._residual_dof = None

    # -- the algorithm ----------------------------------------------------------
    def _resolve_n_hidden(self, n_features):
        if self.n_hidden != "auto":
            return int(self.n_hidden)
        cap = int(HIDDEN_PER_SLEEP_SAMPLE * self.n_sleep_samples)
        return max(MIN_HIDDEN, min(int(n_features), cap))

    def _resolve_hidden_features(self, X, binary):
        """``hidden_features_``, ``kernel_bandwidth_`` and the first centres."""
        fits_kernel = self.n_hidden_ < self.n_sleep_samples and self.sleep_decay == 0
        observation = self.model_.layers[0]
        has_statistic = self._has_statistic(X)
        kind = self.hidden_features
        if kind == "auto":
            kind = self._auto_hidden_features(
                X, binary, self.recognition_statistic_, self.sleep_decay
            )
        elif kind in ("kernel", "statistic") and not fits_kernel:
            raise ValueError(
                f"hidden_features={kind!r} centres its n_hidden units on each "
                "step's sleep samples, so it needs n_hidden < n_sleep_samples "
                f"(got {self.n_hidden_} units, n_hidden={self.n_hidden!r}, and "
                f"n_sleep_samples={self.n_sleep_samples}) and sleep_decay=0 (got "
                f"{self.sleep_decay}: its statistics would mix features of "
                "different centres). Raise n_sleep_samples, lower n_hidden, "
                "set sleep_decay=0 or use hidden_features='relu'."
            )
        elif kind == "statistic" and not has_statistic:
            raise ValueError(
                "hidden_features='statistic' places its units on the observation "
                "layer's statistic t(x) of x for z_1, which "
                f"{type(observation).__name__} does not have (Gaussian and "
                "Bernoulli layers do). Use hidden_features='relu' or 'kernel'."
            )
        self.hidden_features_ = kind
        self.kernel_bandwidth_ = self.recognition_centres_ = None
        self.recognition_offset_ = None
        self.statistic_units_mean_ = self.statistic_units_scale_ = None
        if kind == "kernel":
            U = (X - self.input_mean_) / self.input_scale_
            try:
                median = median_heuristic(U)
            except ValueError:  # most rows identical: the rows' typical scale
                median = math.sqrt(X.shape[1])
            self.kernel_bandwidth_ = KERNEL_BANDWIDTH_FACTOR * median
            # until the first sleep phase places them: training rows
            self.recognition_centres_ = U[: self.n_hidden_, ...]

    def _has_statistic(self, X):
        """Whether the observation layer meets ``z_1`` through a statistic of
        ``x`` (Gaussian and Bernoulli layers do)."""
        return self.model_.layers[0].parent_statistic(X[:1, ...]) is not None

    def _auto_hidden_features(self, X, binary, with_statistic, sleep_decay):
        """What ``hidden_features="auto"`` means here, at ``sleep_decay``."""
        fits_kernel = self.n_hidden_ < self.n_sleep_samples and sleep_decay == 0
        if binary:
            return "kernel" if fits_kernel else "relu"
        # t(x) compresses x only when x has more features than z_1; the local
        # units need t(x) itself beside them, which carries the linear part
        # of every posterior mean (without it, breast cancer's factor model:
        # held-out log p(x) -45.1 per row against -18.9 with it, -19.0 with
        # ReLU units and t(x))
        compresses = X.shape[1] > self.model_.layers[0].n_parents
        return (
            "statistic"
            if fits_kernel and self._has_statistic(X) and compresses and with_statistic
            else "relu"
        )

    def _auto_recognition_statistic(self, X, sleep_decay):
        """What ``recognition_statistic="auto"`` means here, at ``sleep_decay``."""
        return (
            self._has_statistic(X)
            and not self.model_.layers[0].is_binary
            and sleep_decay == 0
        )

    def _warn_accumulation_fallback(self, X, binary):
        """One UserWarning when ``sleep_decay > 0`` made an ``"auto"``
        recognition choice fall back from what it gives at ``sleep_decay=0``,
        where that was measured to matter: kernel units for binary data, the
        statistic and its units where ``x`` has more features than ``z_1``
        (with as many, as on the paper's 2-D model, the statistic changed
        nothing measurable)."""
        if self.sleep_decay == 0:
            return
        compresses = X.shape[1] > self.model_.layers[0].n_parents
        lost = []
        statistic = self.recognition_statistic_
        if (
            self.recognition_statistic == "auto"
            and self._auto_recognition_statistic(X, 0.0)
            and compresses
        ):
            statistic = True
            lost.append(
                "the observation statistic t(x) in h(x) (recognition_statistic)"
            )
        if self.hidden_features == "auto":
            kind = self._auto_hidden_features(X, binary, statistic, 0.0)
            if kind != self.hidden_features_:
                lost.append(f"{kind!r} units for random ReLU units (hidden_features)")
        if not lost:
            return
        measured = (
            "On binarised MNIST (6 epochs) ReLU units ended 1.83x and 1.94x the "
            "MMD^2 floor where kernel units ended 1.46x and 1.41x."
            if binary
            else "On breast cancer's one-layer factor model that cost 2.8-4.1 nats "
            "per held-out row against FactorAnalysis, where sleep_decay=0 is "
            "0.02-0.05 behind it."
        )
        warnings.warn(
            f"sleep_decay={self.sleep_decay} accumulates the recognition "
            "regressions' statistics over steps, which features that follow the "
            f"model cannot share, so 'auto' gave up {' and '.join(lost)}. "
            f"{measured} Set sleep_decay=0, or set hidden_features='relu' and "
            "recognition_statistic=False to choose this on purpose.",
            UserWarning,
            stacklevel=4,
        )

    def _resolve_recognition_statistic(self, X):
        """``recognition_statistic_``; the standardisation waits for a sleep phase."""
        has_statistic = self._has_statistic(X)
        use = self.recognition_statistic
        if use == "auto":
            use = self._auto_recognition_statistic(X, self.sleep_decay)
        elif use and (not has_statistic or self.sleep_decay != 0):
            raise ValueError(
                "recognition_statistic=True needs an observation layer whose "
                "log-density meets z_1 through a statistic of x (Gaussian or "
                f"Bernoulli; got {type(self.model_.layers[0]).__name__}) and "
                f"sleep_decay=0 (got {self.sleep_decay}: the statistic follows the "
                "model, so accumulated regression statistics would mix "
                "different features). Use recognition_statistic=False."
            )
        self.recognition_statistic_ = bool(use)
        self.statistic_mean_ = self.statistic_scale_ = None
        self.statistic_centre_ = self.statistic_whitening_ = None

    def _collapse_advice(self):
        # measured (benchmarks/README.md): on the paper's synthetic model two
        # fits of five collapsed at ridge=3e-5 and none at 1e-3; on Table 1's
        # (50, 2) patch model (seed 1's patches, 40 epochs) the default 1e-3
        # collapsed, 1e-2 sooner, while 1e-4 and learning_rate=3e-3 did not
        return (
            "A smaller learning_rate, another ridge (it was "
            f"{self.ridge!r}; collapses have followed both too small and too "
            "large a penalty), another random_state (n_init > 1 keeps the best of "
            "several starts) or early_stopping=True (keeps the best validated "
            "epoch) may avoid it."
        )

    def _initial_learning_rate(self, n_steps):
        """``learning_rate``, or its ``"auto"`` value for a run of ``n_steps``.

        A ``fit`` of few steps starts with a larger step (see
        ``AUTO_LEARNING_RATE_STEPS``); ``partial_fit`` (``n_steps`` None), a
        stream of unknown length, at ``AUTO_LEARNING_RATE``.
        """
        if self.learning_rate != "auto":
            return self.learning_rate
        if n_steps is None:
            return AUTO_LEARNING_RATE
        factor = max(1.0, AUTO_LEARNING_RATE_STEPS / n_steps)
        return AUTO_LEARNING_RATE * min(AUTO_LEARNING_RATE_MAX_FACTOR, factor)

    def _batch_size(self, n_samples):
        """``batch_size``, or its ``"auto"`` value for an epoch over
        ``n_samples`` rows: ``AUTO_BATCH_SIZE`` rows, or the rows of
        ``AUTO_BATCHES_PER_EPOCH`` minibatches where that is more."""
        if self.batch_size != "auto":
            return self.batch_size
        return max(AUTO_BATCH_SIZE, math.ceil(n_samples / AUTO_BATCHES_PER_EPOCH))

    def _fit_epochs(self, n_samples):
        """``max_iter``, or its ``"auto"`` value for ``n_samples`` rows: the
        epochs of ``AUTO_MAX_STEPS`` minibatches, at least one and at most
        ``AUTO_MAX_EPOCHS``."""
        if self.max_iter != "auto":
            return self.max_iter
        _, n_batches = self._minibatches(n_samples)
        return max(1, min(AUTO_MAX_EPOCHS, math.ceil(AUTO_MAX_STEPS / n_batches)))

    def _kernel_units(self):
        """Whether ``h(x)`` is kernel units of ``x`` (estimators pickled before
        ``hidden_features`` existed have ReLU units)."""
        return getattr(self, "hidden_features_", "relu") == "kernel"

    def _place_statistic_units(self, S):
        """Centre the statistic's kernel units on a sleep phase's ``t(x)``.

        The statistic moves with the observation layer, so its
        standardisation, the units' centres (the first ``n_hidden_`` samples)
        and their width follow each sleep phase, as the kernel units of ``x``
        follow its samples.
        """
        xp = get_namespace(S)
        mean, scale = xp.mean(S, axis=0), xp.std(S, axis=0)
        scale = xp.where(scale > 0, scale, xp.ones_like(scale))
        U = (S - mean) / scale
        try:
            median = median_heuristic(
                U[: min(STATISTIC_BANDWIDTH_ROWS, U.shape[0]), ...]
            )
        except ValueError:  # most samples share one statistic
            median = math.sqrt(S.shape[1])
        self.statistic_units_mean_, self.statistic_units_scale_ = mean, scale
        self.recognition_centres_ = U[: self.n_hidden_, ...]
        self.kernel_bandwidth_ = STATISTIC_BANDWIDTH_FACTOR * float(median)

    def _hidden(self, X, sleep_phase=False):
        """The recognition model's features ``h(x)`` of ``X``.

        ``sleep_phase=True`` marks a sleep phase's samples: the kernel units'
        offsets and the statistic's standardisation are taken from them first.
        """
        statistic_units = getattr(self, "hidden_features_", "relu") == "statistic"
        with_statistic = getattr(self, "recognition_statistic_", False)
        S = (
            self.model_.layers[0].parent_statistic(X)
            if statistic_units or with_statistic
            else None
        )
        H = self._hidden_units(X, sleep_phase, statistic=S)
        if not with_statistic:
            return H
        xp = get_namespace(H)
        U = self._whitened_statistic(S, sleep_phase)
        if sleep_phase:
            self.statistic_mean_, self.statistic_scale_ = ws.match_scale(U, H)
        return xp.concat(
            [H, (U - self.statistic_mean_) / self.statistic_scale_], axis=1
        )

    def _whitened_statistic(self, S, sleep_phase):
        """``t(x)`` in whitened coordinates, fitted on a sleep phase's samples.

        The posterior depends on every direction of ``t(x)``, and the
        directions in which it varies little are the ones a relative ridge
        penalty would otherwise shrink
        (:func:`~sklearn_ddchm._wake_sleep.whitening`). Estimators pickled
        before the whitening existed use ``t(x)`` as it is.
        """
        if sleep_phase:
            self.statistic_centre_, self.statistic_whitening_ = ws.whitening(S)
        W = getattr(self, "statistic_whitening_", None)
        return S if W is None else (S - self.statistic_centre_) @ W

    def _hidden_units(self, X, sleep_phase=False, statistic=None):
        kind = getattr(self, "hidden_features_", "relu")
        if kind in ("kernel", "statistic"):
            if kind == "kernel":
                inputs, mean, scale = X, self.input_mean_, self.input_scale_
            else:
                if sleep_phase:
                    self._place_statistic_units(statistic)
                inputs = statistic
                mean = self.statistic_units_mean_
                scale = self.statistic_units_scale_
            H = ws.kernel_features(
                inputs,
                self.recognition_centres_,
                mean,
                scale,
                self.kernel_bandwidth_,
                # getattr: kernel-unit estimators pickled before the offset
                # existed have uncentred units
                offset=None
                if sleep_phase
                else getattr(self, "recognition_offset_", None),
            )
            if sleep_phase:
                self.recognition_offset_ = None
            if sleep_phase and self.ridge_reference == "variance":
                # On MNIST kernel units vary by ~1% around ~0.9: uncentred, their
                # float32 Gram matrix was not positive definite and the embedding
                # weights of one step were 58% rounding error (0.03% centred). The
                # shift is absorbed by the unpenalised intercept of every ridge
                # regression on [h, 1], and the centred penalty does not see it.
                self.recognition_offset_ = get_namespace(H).mean(H, axis=0)
                H = H - self.recognition_offset_
            return H
        return ws.hidden_features(
            X,
            self.recognition_weights_,
            self.recognition_bias_,
            self.input_mean_,
            self.input_scale_,
        )

    def _refresh_encoders(self, latents):
        """Re-place the encoding functions on fresh latents of the current model.

        Each encoder is refitted with its own seed, so its random directions
        and relative anchor positions stay and only the box they are placed in
        follows the latents: encodings placed once, on the initial model, go
        flat where a moved model puts its latents (13 of 100 still varied on
        the paper's synthetic model at a random-start plateau). Binary and
        linear encodings do not depend on the latents' spread and are kept.
        """
        for enc, z, layer in zip(
            self.encoders_, latents, self.model_.layers[1:], strict=True
        ):
            if enc.activation == "linear" or layer.is_binary:
                continue
            enc.fit(z)
        # accumulated regression statistics describe the old features
        self._recognition_stats = None

    def _sleep(
        self,
        n_samples,
        rng,
        accumulate=False,
        refresh=False,
        means=False,
        encodings=True,
    ):
        """Sleep phase: samples, features, recognition model and Gram matrices.

        ``refresh`` re-places the encodings on this phase's latents first;
        ``means`` also regresses ``z_1`` on ``[h(x), 1]`` (for the moment form);
        ``encodings=False`` leaves out the encoded latents, their Gram matrices
        and their regressions (only the hidden features' system is fitted).
        """
        X_s, latents = self.model_.sample(n_samples, random_state=rng)
        if self._kernel_units():
            # the kernel units follow the model: centred on this phase's samples
            self.recognition_centres_ = (
                X_s[: self.n_hidden_, ...] - self.input_mean_
            ) / self.input_scale_
        if refresh:
            self._refresh_encoders(latents)
        xp = get_namespace(X_s)
        centred = self.ridge_reference == "variance"
        features = (
            [enc._transform(z) for enc, z in zip(self.encoders_, latents, strict=True)]
            if encodings
            else []
        )
        H_s = self._hidden(X_s, sleep_phase=True)
        encoding_ridge = recognition_ridge = self.ridge
        if self.ridge == "gcv":
            if refresh or self._recognition_ridge is None:
                targets = features + ([latents[0]] if means else [])
                self._recognition_ridge = ws.gcv_ridge(H_s, xp.concat(targets, axis=1))
            recognition_ridge, encoding_ridge = self._recognition_ridge, ENCODING_RIDGE
        features_aug = [ws.augment(T) for T in features]
        grams = [ws.gram(T, encoding_ridge, centred) for T in features_aug]
        coefs, stats, mean_coefs, hidden_system = ws.fit_recognition(
            H_s,
            features,
            recognition_ridge,
            self._recognition_stats if accumulate else None,
            self.sleep_decay,
            sampled_design=(features_aug, grams)
            if self._recognition_design == "sampled"
            else None,
            design=self._recognition_design if encodings else "hidden",
            centred=centred,
            extra_targets=latents[0] if means else None,
        )
        if accumulate:
            self._recognition_stats = stats
        embedding_gram = hidden_system[1]
        if accumulate and self.sleep_decay > 0:
            # The embedding's weights [h_s, 1] G^{-1} [h(x), 1] sum to one over
            # this phase's samples only with their own Gram matrix: with the
            # accumulated one, which also counts earlier phases' samples that
            # the weights cannot reach, they summed to 1 - sleep_decay once the
            # statistics had built up, and shrank every expectation taken
            # through them.
            embedding_gram = ws.gram(ws.augment(H_s), recognition_ridge, centred)
        return _SleepPhase(
            [X_s, *latents],
            H_s,
            coefs,
            features_aug,
            grams,
            mean_coefs,
            hidden_system,
            refresh,
            embedding_gram,
        )

    def _step_scales(self):
        """Smaller steps for the weights of units with many parents.

        Adam moves every weight by about the step size, so a unit with ``n``
        parents sees its input move by up to ``n`` times that: one step size
        cannot suit the 2-D synthetic model (1-2 parents) and a 200-unit
        sigmoid belief network at once. Weight matrices with more than
        ``FAN_IN_REFERENCE`` parents take ``sqrt(FAN_IN_REFERENCE / n)``
        of the step; biases, variances and small layers the whole step.
        """
        if not self.fan_in_scaling:
            return None
        scales = {
            f"layer{i}.weights": math.sqrt(FAN_IN_REFERENCE / layer.n_parents)
            for i, layer in enumerate(self.model_.layers)
            if "weights" in layer.trainable and layer.n_parents > FAN_IN_REFERENCE
        }
        return scales or None

    def _uses_moments(self):
        obs = self.model_.layers[0]
        return (
            self.observation_gradient == "moments"
            and obs.supports_moments
            and bool(obs.trainable)
        )

    def _gradient_step(self, X_batch, rng, criterion=True):
        if self.expectations == "importance":
            return self._importance_step(X_batch, rng)
        refresh = self.encoding_refresh is not None and (
            self._n_sleep_phases > 0
            and self._n_sleep_phases % self.encoding_refresh == 0
        )
        self._n_sleep_phases += 1
        use_moments = self._uses_moments()
        phase = self._sleep(
            self.n_sleep_samples,
            rng,
            accumulate=True,
            refresh=refresh,
            # the embedding's wake phase reads only the hidden features'
            # system: the encodings would be computed, regressed and dropped
            # (unless GCV picks the penalty from them)
            encodings=self.expectations == "encodings" or self.ridge == "gcv",
            means=use_moments,
        )
        grads, value = self._wake(X_batch, phase, use_moments, criterion)
        if self.expectations == "mixed":
            # the layers above the observations from the importance estimate
            sampled, _, _ = self._importance_step(X_batch, rng)
            grads.update(
                {k: v for k, v in sampled.items() if not k.startswith("layer0.")}
            )
        return grads, {}, value

    def _importance_step(self, X_batch, rng):
        """The free-energy gradient by self-normalised importance sampling
        (``expectations="importance"``); its criterion is the batch's mean
        importance estimate of ``log p(x)``."""
        xp = get_namespace(X_batch)
        model = self.model_
        trainable = model.trainable_parameters()
        with np.errstate(all="ignore"):
            proposal = linear_gaussian_proposal(model, X_batch)
            if proposal is None:  # a posterior that no longer factorises:
                # non-finite gradients, which the divergence guard reports
                nan = {k: xp.full_like(v, xp.nan) for k, v in trainable.items()}
                return nan, {}, xp.asarray(xp.nan)
            grads, _, log_px = importance_gradient(
                model, X_batch, proposal, self.n_importance, rng
            )
        return {k: grads[k] for k in trainable}, {}, xp.mean(log_px)

    def _wake(self, X_batch, phase, use_moments, criterion=True):
        """Wake phase (Eq. 9-12, 36): the free-energy gradient on ``X_batch``
        from the sleep ``phase``'s regressions, and the training criterion
        (None unless ``criterion``)."""
        xp = get_namespace(X_batch)
        model = self.model_
        sleep, features_aug, grams = phase.sleep, phase.features_aug, phase.grams
        H_batch = self._hidden(X_batch)
        # [h(x_s), 1] of the sleep samples, built once for the embedding and
        # the moments (the encodings' weight form reads neither)
        embedding = self.expectations in ("embedding", "mixed")
        H_sleep_aug = ws.augment(phase.H_sleep) if embedding or use_moments else None
        if embedding:
            # one set of weights over the sleep samples for every layer
            W1 = ws.embedding_weights(
                H_sleep_aug, phase.embedding_gram, ws.augment(H_batch)
            )
            mean_weights = [xp.mean(W1, axis=0)] * model.n_latent_layers
        else:
            R = ws.posterior_means(H_batch, phase.coefs, self._recognition_design)
            W1 = ws.ddc_weights(features_aug[0], grams[0], ws.augment(R[0]))
            mean_weights = [xp.mean(W1, axis=0)] + [
                ws.ddc_weights(
                    features_aug[l], grams[l], xp.mean(ws.augment(R[l]), axis=0)
                )
                for l in range(1, len(R))
            ]
        moments = None
        if use_moments:
            # E_q[z_1] from the recognition's regression of z_1 itself on
            # [h(x), 1] (z_1 as an extra, linear, encoding); the covariance
            # from the same regression's residuals at the sleep pairs, never
            # a difference of large second moments (ws.posterior_covariance).
            residuals = sleep[1] - H_sleep_aug @ phase.mean_coefs
            # one solve with n_hidden + 1 right-hand sides: every few steps
            if self._n_sleep_phases % DOF_EVERY_STEPS == 1 or (
                self._residual_dof is None
            ):
                self._residual_dof = ws.ridge_dof(*phase.hidden_system)
            moments = (
                ws.augment(H_batch) @ phase.mean_coefs,
                ws.posterior_covariance(
                    residuals, mean_weights[0], dof=self._residual_dof
                ),
            )
        L = model.n_latent_layers
        grads = {}
        for i, layer in enumerate(model.layers):
            if not layer.trainable:
                continue
            if i == 0 and moments is not None:
                g = ws.observation_gradient_moments(layer, X_batch, *moments)
            elif i == 0:
                g = ws.observation_gradient(layer, X_batch, sleep[1], W1)
            elif i < L:
                g = ws.latent_gradient(
                    layer,
                    sleep[i],
                    sleep[i + 1],
                    mean_weights[i - 1],
                    mean_weights[i],
                    split=self.gradient_split,
                )
            else:
                g = ws.prior_gradient(layer, sleep[i], mean_weights[i - 1])
            for name in layer.trainable:
                grads[f"layer{i}.{name}"] = g[name]
        if not criterion:
            return grads, None
        value = ws.expected_log_joint(
            model, X_batch, sleep, W1, mean_weights, moments=moments
        )
        return grads, value

    def _finalize_fit(self, X, rng):
        n = max(self.n_sleep_samples, FINAL_SLEEP_SAMPLES)
        phase = self._sleep(n, rng, refresh=self.encoding_refresh is not None)
        sleep, coefs = phase.sleep, phase.coefs
        self.recognition_coefs_ = coefs
        self.sleep_latents_ = sleep[1:]
        self._sleep_features_aug = phase.features_aug
        self._sleep_grams = phase.grams
        # Typical posterior variance per latent coordinate, from the sleep data
        # (row-independent, unlike a floor taken from the batch being scored).
        xp = get_namespace(X)
        self._posterior_variance_floor = []
        R = ws.posterior_means(phase.H_sleep, coefs, self._recognition_design)
        for l in range(1, len(sleep)):
            _, v = self._moments(R[l - 1], l)
            v_sorted = xp.sort(xp.maximum(v, xp.zeros_like(v)), axis=0)
            median = v_sorted[v.shape[0] // 2, ...]
            # never below a small fraction of the marginal (prior) variance
            marginal = xp.var(sleep[l], axis=0)
            self._posterior_variance_floor.append(
                xp.maximum(
                    VARIANCE_FLOOR_FRACTION * median,
                    MARGINAL_FLOOR_FRACTION * marginal + 1e-12,
                )
            )

    # -- posterior side ---------------------------------------------------------
    def _posterior_means(self, X):
        """DDC means ``r_l(x)`` of new data, inside the range of ``E[T_l(z_l)]``.

        With sigmoid encodings an expectation lies in ``[0, 1]``; the linear
        recognition regression on ReLU features extrapolates without bound for
        rows far from the training data (a row of 1e300 gave 5.5e298), and
        latents drawn from such means overflow the model's densities. The clip
        only moves an estimate towards the true expectation. Training uses
        the unclipped regression (``_gradient_step``).
        """
        R = ws.posterior_means(
            self._hidden(X), self.recognition_coefs_, self._recognition_design
        )
        xp = get_namespace(R[0])
        return [
            xp.clip(r, min=0.0, max=1.0) if enc.activation == "sigmoid" else r
            for r, enc in zip(R, self.encoders_, strict=True)
        ]

    def _check_X(self, X, method):
        check_is_fitted(self)
        check_same_namespace(X, self, attribute="input_mean_", method=method)
        return self._validate_X(X, reset=False)

    def transform(self, X):
        """DDC posterior mean parameters ``r_l(x)`` of every latent layer, concatenated.

        Column block ``l`` approximates ``E[T_l(z_l) | x]`` (Eq. 2); see
        :meth:`get_feature_names_out`. Deterministic, row by row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        With sigmoid encodings (the default) the values are clipped to
        ``[0, 1]``, the range of an expectation of a sigmoid: ``r_l`` is a
        linear regression on ReLU features of ``x`` and, for rows far outside
        the training data, would extrapolate without bound. The clip only
        moves an estimate towards the true expectation.

        Returns
        -------
        R : array of shape (n_samples, sum(K_l))
        """
        X = self._check_X(X, "transform")
        xp = get_namespace(X)
        return xp.concat(self._posterior_means(X), axis=1)

    def get_feature_names_out(self, input_features=None):
        """Names ``ddc_z{l}_{i}``: encoding function ``i`` of latent layer ``l``."""
        check_is_fitted(self)
        return np.asarray(
            [
                f"ddc_z{l + 1}_{i}"
                for l, enc in enumerate(self.encoders_)
                for i in range(enc._n_features_out)
            ],
            dtype=object,
        )

    def posterior_expectation(self, X, func, layer=1, weights="signed"):
        """``E_q[func(z_layer) | x]`` for each row of ``X``, through the DDC (Eq. 5).

        ``func`` is evaluated once on the stored sleep samples of the layer;
        the expectation is the weighted sum ``sum_s w_s(x) func(z^s)`` with
        ``w(x) = T_s (T_s^T T_s + Lambda)^{-1} [r(x), 1]``, which equals the
        prediction ``alpha r(x)`` of the ridge regression of ``func`` on the
        encoding features.

        This is a linear estimate: the weights sum to one but can be
        negative, so the result can leave the range of ``func`` (a variance
        ``E[z^2] - E[z]^2`` below zero for 42-51% of the rows of the paper's
        sparse model at its true parameters). ``weights="simplex"`` projects
        each row's weights onto the probability simplex first (the nearest
        non-negative weights summing to one,
        ``sklearn_ddchm._wake_sleep.project_to_simplex``), which keeps every
        expectation a convex combination of ``func``'s values, at the price of
        a bias where the posterior is narrower than the sleep samples resolve
        (``benchmarks/bench_posterior_expectation.py`` measures both).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        func : callable
            Maps an array of shape (n_sleep, D_layer) in the fit's namespace to
            an array of shape (n_sleep,) or (n_sleep, n_outputs).
        layer : int, default=1
            Latent layer, 1 (closest to ``X``) to ``L``.
        weights : {"signed", "simplex"}, default="signed"
            The DDC weights as they are, or projected onto the simplex.

        Returns
        -------
        expectation : array of shape (n_samples,) or (n_samples, n_outputs)
        """
        X = self._check_X(X, "posterior_expectation")
        n_layers = len(self.encoders_)
        if (
            isinstance(layer, bool)
            or not isinstance(layer, numbers.Integral)
            or not (1 <= layer <= n_layers)
        ):
            raise ValueError(f"layer must be an int in [1, {n_layers}], got {layer!r}.")
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}.")
        if weights not in ("signed", "simplex"):
            raise ValueError(f"weights must be 'signed' or 'simplex', got {weights!r}.")
        return self._expectation(
            self._posterior_means(X)[layer - 1],
            layer,
            func,
            simplex=weights == "simplex",
        )

    def _expectation(self, R, layer, func, simplex=False):
        """``E_q[func(z_layer)]`` from DDC means ``R`` of that layer (Eq. 5)."""
        W = ws.ddc_weights(
            self._sleep_features_aug[layer - 1],
            self._sleep_grams[layer - 1],
            ws.augment(R),
        )
        if simplex:
            W = ws.project_to_simplex(W)
        xp, device = get_namespace_and_device(R)
        values = to_namespace(func(self.sleep_latents_[layer - 1]), xp, device, R.dtype)
        if values.ndim not in (1, 2) or values.shape[0] != W.shape[1]:
            raise ValueError(
                f"func must return an array of shape ({W.shape[1]},) or "
                f"({W.shape[1]}, m) for {W.shape[1]} sleep samples, got shape "
                f"{tuple(values.shape)}."
            )
        return W @ values

    def _moments(self, R, layer):
        """DDC posterior mean and variance per coordinate of latent ``layer``."""
        xp = get_namespace(R)
        d = self.sleep_latents_[layer - 1].shape[1]
        both = self._expectation(R, layer, lambda z: xp.concat([z, z * z], axis=1))
        mean = both[:, :d]
        return mean, both[:, d:] - mean * mean

    def _proposal(self, X):
        """Defensive Student-t / Bernoulli proposal from DDC posterior moments."""
        xp = get_namespace(X)
        R = self._posterior_means(X)
        means, variances, binary, wide_means, wide_variances = [], [], [], [], []
        mixtures = []
        for l, layer in enumerate(self.model_.layers[1:], start=1):
            m, v = self._moments(R[l - 1], l)
            binary.append(layer.is_binary)
            means.append(m)
            z = self.sleep_latents_[l - 1]
            wide_means.append(xp.mean(z, axis=0)[None, :])
            wide_variances.append(xp.var(z, axis=0)[None, :] + 1e-12)
            floor = self._posterior_variance_floor[l - 1]
            variances.append(None if layer.is_binary else xp.maximum(v, floor[None, :]))
            mixtures.append(
                self._mixture_proposal(R[l - 1], l, layer) if layer.is_mixture else None
            )
        return FactorisedProposal(
            means, variances, binary, wide_means, wide_variances, mixtures=mixtures
        )

    def _mixture_proposal(self, R, l, layer):
        """A mixture layer's proposal: its own components, reweighted per row.

        ``p(k | x) = E[p(k | z_l) | x]`` exactly, so the DDC expectation of
        the prior's responsibilities (Eq. 5) estimates each row's mixing
        weights; the estimate is clipped to [0, 1], renormalised and mixed
        with ``MIXTURE_FLOOR`` of an even spread. The components keep the
        prior's means and variances: within one narrow component the
        likelihood moves the posterior little.
        """
        xp = get_namespace(R)
        log_prior, comp_means, comp_variances = layer.components()
        pi = xp.clip(self._expectation(R, l, layer.responsibilities), 0.0, 1.0)
        total = xp.sum(pi, axis=1, keepdims=True)
        k = pi.shape[1]
        even = xp.full_like(pi, 1.0 / k)
        pi = xp.where(total > 0, pi / xp.where(total > 0, total, 1.0), even)
        pi = (1.0 - MIXTURE_FLOOR) * pi + MIXTURE_FLOOR / k
        return (xp.log(pi), comp_means, comp_variances, log_prior[None, :])
