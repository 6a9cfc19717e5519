"""The divergence guard of the training driver: is a fit still sane?

A step size that is too large, or a gradient estimate that is biased the
wrong way, can make a fit run away while every number stays finite: a DDC-HM
on image patches went from a criterion of -678 to 2.8e34 with samples of
standard deviation 29,000 against the data's 1; a sigmoid belief network at
``learning_rate=1e6`` reached parameters of 1.8e6 and sampled only zeros. A
guard that only looks for NaN sees none of this. :class:`DivergenceGuard`
checks, every ``GUARD_EVERY_STEPS`` steps and at the end of every epoch,
what no sane model of the data can do, and remembers the parameters of the
last check that passed, so a fit that fails one stops with the last sane
model instead of the broken one.

A fit can also fail without running away: it can *collapse*, the
observation layer's mean ceasing to depend on the latents, so the model is
independent noise around a mean. That is a stationary point of the
likelihood (with the latents ignored, their posterior is their prior, and
the loadings' gradient sees nothing of the data's covariance), and the fits
seen to reach it did not leave it. On the paper's synthetic model at
``ridge=3e-5`` two fits of five collapsed within 30 epochs (the latents'
share of the model's variance fell from 0.998 and 0.988 to 0.004 and 0.005;
held-out log p(x) ended 2.0 and 1.6 nats per point below the truth). On
seed 1's patches Table 1's (50, 2) model fitted for 40 epochs fell from a
share of 0.73 to 0.04 and ended at a held-out log-likelihood of -357 per
patch, where a fit of 10 epochs ends at -282. All of them finite and within
every scale check above. Fits that did not collapse never fell below 0.85
of their largest share in the fits of ``benchmarks/bench_collapse.py``'s
first tasks (the synthetic model, scikit-learn's tables, 10 epochs of Table
1's patches, MNIST); 30 epochs of the patch models fell to 0.65-0.80 of it
without losing likelihood, and further when they drifted (below). The guard treats a
share below ``COLLAPSED_SHARE`` and below ``1 / COLLAPSE_FALL`` of the
largest of the same fit, if that reached ``EXPLAINING_SHARE``, as a failed
check. A collapse is gradual, so the check before the failed one is already
far down it; the fit goes back instead to the last check at which the share
was still within ``HEALTHY_SHARE_FRACTION`` of the largest (the start of the
run if none; a later ``partial_fit`` call goes back to an earlier call's).
On the synthetic seed 2 that is step 640 of 760, 1.35 nats per held-out
point below the truth, where the fit stopped at 2.76 below and, unchecked,
ended at 1.97 below (seed 4: 1.07, 1.81, 1.59); on the (50, 2) patches step
900 of 1,900, -288.9 per held-out patch against -349.9 where it stopped and
-356.6 at the end of 40 epochs (``benchmarks/bench_collapse.py``).

Between the two lies a *drift*: the share falls a long way without
collapsing while the model moves away from the data. Table 1's (100, 2)
model, fitted for 30 epochs, fell from a share of 0.76 and 0.75 to 0.07 and
0.12 on two draws of the patches, and ended at a held-out log p(x) of -278.4
and -327.4 per patch, below ``PCA(100)``'s -275.4 and -300.1, where its last
healthy check had -245.2 and -274.8, with every check passed. A share can
also fall where it should (data that are mostly noise, whose data-based
start overstates the latents), so this is no failed check: a fit whose share
ends below ``DRIFT_FRACTION`` of its largest compares, at its end, the model
it ended at with its last healthy check by their likelihood on
``DRIFT_ROWS`` training rows, and keeps the check if it is the likelier by
more than ``DRIFT_STANDARD_ERRORS`` standard errors
(``DivergenceGuard.drifted``; ``_base``).
"""

from __future__ import annotations

import math

import numpy as np

from .utils._array_api import get_namespace

#: steps between two checks (and one at every epoch end)
GUARD_EVERY_STEPS = 100
#: how far a parameter may grow: beyond this factor of the largest absolute
#: parameter at the start of the run (at least 1) the fit has run away.
#: Learnt weights of the package's models stay within 100x of their start
#: (SBN on MNIST: |w| < 30 from 0.07; patch models: < 20 from 1).
PARAMETER_GROWTH_LIMIT = 1e4
#: the training criterion per datum may not exceed the data's own Gaussian
#: log-density per feature by more than this many nats per feature: that is a
#: density e^50 times higher, a variance collapsed below e^-100 times the
#: data's (for binary data, where log-probabilities are <= 0, the bound is
#: this many nats per feature above 0)
CRITERION_EXCESS_PER_FEATURE = 50.0
#: model samples may not spread more than this factor beyond the data
SAMPLE_SCALE_LIMIT = 1e3
#: model samples drawn at every check (fixed seed)
GUARD_SAMPLES = 256
#: a fit has collapsed when its latent layers explain less than this share
#: of the model's variance (``latent_variance_share``; a model of Table 1's
#: (100, 2) patches spent 15 of 30 epochs at 0.07-0.13 and ended above
#: ``PCA(100)`` by likelihood: small, not useless) ...
COLLAPSED_SHARE = 0.05
#: ... and less than a ``COLLAPSE_FALL``-th of the largest share of any check
#: of the same fit ...
COLLAPSE_FALL = 10.0
#: ... provided that largest share reached ``EXPLAINING_SHARE``: the share
#: of a model that never depended much on its latents moves by noise (of
#: white noise, whose data-based start explains 3-9% of it, it only shrinks)
EXPLAINING_SHARE = 0.1
#: a collapsed fit goes back to its last check with a share of at least this
#: fraction of the largest: the short fits that did not collapse never fell
#: below 0.85 of theirs, so such a check is still on the healthy side of the
#: fall (30-epoch patch fits that did not drift: 0.65-0.80)
HEALTHY_SHARE_FRACTION = 0.8
#: a fit whose latents' share ends below this fraction of its largest (which
#: reached ``EXPLAINING_SHARE``) may have *drifted*: the model it ended at is
#: compared, by its likelihood on training rows, with the last healthy check
#: (30 epochs of Table 1's patch models on two draws of the patches: (100, 2)
#: ended at 0.10 and 0.16 of it, 33 and 53 nats per held-out patch below its
#: last healthy check, (100, 10) on one draw at 0.41, 8 below; the other
#: seven at 0.65 and above; ``benchmarks/bench_collapse.py --tasks drift``)
DRIFT_FRACTION = 0.5
#: training rows the two models of a drifted fit are compared on: two fits'
#: per-row differences had a standard deviation of 10-14 nats on tables
#: (``_base.N_INIT_SCORE_ROWS``), so at 1,000 rows their mean is known to
#: about 0.4 nat, against 8-53 nats per patch lost by the drifts measured
DRIFT_ROWS = 1000
#: ... and the last healthy check is kept only if it is the likelier by more
#: than this many standard errors of the rows' paired differences: a
#: comparison within its noise keeps what the fit ended at (the smallest
#: gain seen, 0.03 nats per row on a test's 100 rows, was 2.4 of them)
DRIFT_STANDARD_ERRORS = 2.0


def latent_variance_share(layer, parent):
    """Share of the variance of ``x ~ p(x | z_1)`` that its mean's dependence
    on ``z_1`` explains.

    The law of total variance, summed over features, ``sum_i Var x_i =
    sum_i Var E[x_i | z_1] + sum_i E Var[x_i | z_1]``, with the outer
    moments over the rows of ``parent`` (draws of ``z_1``): the first term's
    share of the whole, 0 when ``x``'s mean ignores ``z_1`` and 1 when ``x``
    is a function of it.

    Parameters
    ----------
    layer : Layer
        The observation layer ``p(x | z_1)``.
    parent : array of shape (n_draws, n_parents)
        Draws of ``z_1``.

    Returns
    -------
    share : float in [0, 1], or NaN when ``x`` has no variance at all.
    """
    xp = get_namespace(parent)
    mean = layer.mean(parent)
    explained = float(xp.sum(xp.var(mean, axis=0)))
    residual = float(xp.sum(xp.mean(layer.variance(parent), axis=0)))
    total = explained + residual
    return explained / total if total > 0 else math.nan


def guard_draws(model):
    """The guard's ``GUARD_SAMPLES`` samples of ``model`` (a fixed seed, so
    every check sees the same draws) and the latents' share of the model's
    variance over them (:func:`latent_variance_share`)."""
    with np.errstate(all="ignore"):
        samples, latents = model.sample(
            GUARD_SAMPLES, random_state=np.random.RandomState(0)
        )
        share = latent_variance_share(model.layers[0], latents[0])
    return samples, share


class DivergenceGuard:
    """Sanity checks of a running fit, and the parameters of the last that passed.

    Parameters
    ----------
    estimator : BaseDeepGenerativeEstimator
        The estimator being fitted (``model_``, ``optimizer_`` and the extra
        parameters exist).
    X : array of shape (n_samples, n_features)
        The training data, for its scale.
    """

    def __init__(self, estimator, X):
        self.estimator = estimator
        xp = get_namespace(X)
        self.binary = bool(estimator.model_.layers[0].is_binary)
        n_features = X.shape[1]
        variance = xp.var(X, axis=0)
        spread = float(xp.sqrt(xp.mean(variance)))
        self.data_scale = spread if spread > 0 else 1.0
        if self.binary:
            gaussian_log_density = 0.0
        else:
            positive = xp.where(variance > 0, variance, xp.ones_like(variance))
            gaussian_log_density = -0.5 * float(
                xp.sum(xp.log(2.0 * math.pi * math.e * positive))
            )
        self.criterion_limit = (
            gaussian_log_density + CRITERION_EXCESS_PER_FEATURE * n_features
        )
        self.parameter_limit = PARAMETER_GROWTH_LIMIT * max(
            1.0, self._largest_parameter()
        )
        self.saved_step = 0
        self.collapsed = False
        # partial_fit and warm starts continue a fit: a collapse is measured
        # against the largest share of every run since its start
        earlier = estimator.__dict__.get("_largest_latent_share")
        self.largest_share = -math.inf if earlier is None else earlier
        self.largest_share_step = None
        self.share = None
        self._healthy = None
        self._sample()
        self.save(0)
        if self._healthy is None:
            # the run starts below the healthy range of an earlier run's
            # largest share: a collapse goes back to that run's last healthy
            # check, or, if none is kept, to where this run starts
            earlier = estimator.__dict__.get("_healthy_snapshot")
            if earlier is not None:
                self._healthy, self.healthy_share = earlier
                self.healthy_step = None
            else:
                self._healthy = self._snapshot
                self.healthy_step, self.healthy_share = 0, self.share

    def _parameters(self):
        est = self.estimator
        return est.model_.trainable_parameters(), est._get_extra_parameters()

    def _largest_parameter(self):
        params, extra = self._parameters()
        largest = 0.0
        for value in (*params.values(), *extra.values()):
            xp = get_namespace(value)
            largest = max(largest, float(xp.max(xp.abs(value))))
        return largest

    def save(self, step):
        """Remember the current parameters (and optimiser state) as sane, and
        as healthy if the latents' share is near the largest of the fit."""
        params, extra = self._parameters()
        opt = self.estimator.optimizer_
        # references suffice: every update creates new arrays
        self._snapshot = (
            params,
            extra,
            dict(opt.first_moment),
            dict(opt.second_moment),
            opt.n_steps,
        )
        self.saved_step = step
        if (
            self.share is not None
            and self.share >= HEALTHY_SHARE_FRACTION * self.largest_share
        ):
            self._healthy = self._snapshot
            self.healthy_step, self.healthy_share = step, self.share
            # for the next partial_fit call (see __init__; fit drops it)
            self.estimator._healthy_snapshot = (self._snapshot, self.share)

    def drifted(self):
        """Whether the latents' share at the last check fell below
        ``DRIFT_FRACTION`` of the largest of the fit (which reached
        ``EXPLAINING_SHARE``), with a healthy check to go back to.

        Not a failed check: a share can also fall where the data are mostly
        noise and a data-based start overstated the latents, so the fit's
        end decides (``_base``) by comparing the two models' likelihoods.
        """
        return (
            self.share is not None
            and self._healthy is not None
            and self.largest_share >= EXPLAINING_SHARE
            and self.share < DRIFT_FRACTION * self.largest_share
        )

    def healthy_description(self, event):
        """The last healthy check (``healthy_step``) in words for a warning:
        its parameters and the latents' share there, before ``event``."""
        if self.healthy_step is None:
            return (
                f"the parameters of an earlier call's last check before {event} "
                f"(its latents explained {self.healthy_share:.1%})"
            )
        if self.healthy_step:
            return (
                f"the parameters after step {self.healthy_step}, the last check "
                f"before {event} (its latents explained {self.healthy_share:.1%})"
            )
        return (
            "the parameters this run started from (their latents explained "
            f"{self.healthy_share:.1%})"
        )

    def restore(self, healthy=False):
        """Put back the parameters of the last check that passed, or with
        ``healthy`` those of the last check before a collapse began
        (``healthy_step``: 0 for the start of this run, None for an earlier
        run of the same fit)."""
        snapshot = self._healthy if healthy else self._snapshot
        params, extra, first, second, n_steps = snapshot
        est = self.estimator
        if params:
            est.model_.set_parameters(params)
        if extra:
            est._set_extra_parameters(extra)
        opt = est.optimizer_
        opt.first_moment, opt.second_moment, opt.n_steps = (
            dict(first),
            dict(second),
            n_steps,
        )

    def _sample(self, step=0):
        """``GUARD_SAMPLES`` model samples (fixed seed), their spread, and
        the latents' share of the model's variance (recorded if the largest
        of the run so far)."""
        samples, share = guard_draws(self.estimator.model_)
        xp = get_namespace(samples)
        spread = float(xp.sqrt(xp.mean(xp.var(samples, axis=0))))
        if share > self.largest_share:
            self.largest_share, self.largest_share_step = share, step
            self.estimator._largest_latent_share = share
        self.share = share
        return spread, share

    def check(self, criterion=None, step=None):
        """What makes the current fit insane, or None.

        Sets ``collapsed`` when the answer is a collapse (see the module's
        docstring), which calls for other remedies than a runaway.

        Parameters
        ----------
        criterion : float or None
            The mean training criterion per datum over recent steps.
        step : int or None
            The run's step, for the message of a collapse.
        """
        largest = self._largest_parameter()
        if not math.isfinite(largest):
            return "non-finite parameters"
        if largest > self.parameter_limit:
            return (
                f"a parameter reached {largest:.3g}, beyond "
                f"{PARAMETER_GROWTH_LIMIT:.0e} times its starting scale"
            )
        if criterion is not None and (
            not math.isfinite(criterion) or criterion > self.criterion_limit
        ):
            return (
                f"training criterion {criterion:.4g} per datum, more than "
                f"{CRITERION_EXCESS_PER_FEATURE:g} nats per feature above what the "
                "data's scale allows (a collapsed variance)"
            )
        spread, share = self._sample(step)
        if not math.isfinite(spread):
            return "non-finite samples"
        if not self.binary and spread > SAMPLE_SCALE_LIMIT * self.data_scale:
            return (
                f"samples spread {spread:.3g}, {spread / self.data_scale:.3g} times "
                "the data's"
            )
        if (
            share < COLLAPSED_SHARE
            and share * COLLAPSE_FALL < self.largest_share
            and self.largest_share >= EXPLAINING_SHARE
        ):
            self.collapsed = True
            when = {
                None: "an earlier run of this fit",
                0: "the start of this run",
            }.get(
                self.largest_share_step, f"step {self.largest_share_step} of this run"
            )
            return (
                f"its latent layers explain {share:.2%} of the model's variance, "
                f"down from {self.largest_share:.1%} at {when}: the model has "
                "become independent noise around a mean"
            )
        return None
