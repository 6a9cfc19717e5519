"""Annealed importance sampling: exact cases, bidirectional bounds and cost.

Five parts, each a sub-command (no sub-command runs ``exact``, ``sparse`` and
``bdmc`` at their defaults)::

    SCIPY_ARRAY_API=1 python benchmarks/bench_ais.py exact
    SCIPY_ARRAY_API=1 python benchmarks/bench_ais.py sparse [--rows 40]
    SCIPY_ARRAY_API=1 python benchmarks/bench_ais.py bdmc [--model est.pkl]
    SCIPY_ARRAY_API=1 python benchmarks/bench_ais.py score --model a.pkl \\
        --model b.pkl [--data test.npy | --mnist-dir DIR] [--cheap 30:4] [--own] \\
        [--start conditional]
    SCIPY_ARRAY_API=1 python benchmarks/bench_ais.py outliers [--rows 300]

``exact``: log p(x) of models where it is known exactly, by the package's
``log_likelihood`` (AIS, every estimator's own proposal as start) and by
``score_samples`` (importance sampling) for comparison: a linear-Gaussian
model 12-4-2 (closed form) scored through DDC-HM, VAE and IWAE-5, and a
sigmoid belief network 20-8-4 (enumeration of its 4,096 latent states)
through DDC-HM and VIMCO-5. The estimators are set at the true generative
model (DDC-HM by a fit with a zero step; the baselines' recognition models
trained for a few epochs with the generative model frozen), so the only
error is the estimator's.

``sparse``: the paper's sparse model (Eq. 13, 2-d) at its true parameters,
against ``sklearn_ddchm.utils._exact.sparse_quadrature_log_likelihood``
(closed form in one coordinate, Gauss-Legendre and Gauss-Hermite in the
others; equal to a 200,000-pair proposal-free Monte Carlo estimate within its
0.01-nat error, tests/test_ais.py). DDC-HM's proposal (fit with a zero step
at the truth) starts the chains.

``bdmc``: bidirectional Monte Carlo (Grosse et al., 2015) on images
simulated from a sigmoid belief network 784-200-200-200: forward AIS (a
stochastic lower bound) and reverse AIS from the simulated latents (an upper
bound), with their gap and the cost per image. ``--model PATH`` takes a
pickled fitted DDCHelmholtzEstimator or VIMCOEstimator (its model and its
proposal); without it the parameters are random (``--weight-scale``: weights
``N(0, (scale / sqrt(D_parent))^2)``, biases ``N(0, 1)``), which is NOT a
learnt model: its posteriors are less structured than a trained SBN's.

``score``: the held-out log-likelihood of saved estimators by the same AIS,
with standard errors, beside their ``score`` (importance sampling) and, where
``score`` builds a proposal around the recognition model's own, that
proposal alone, each with its error against AIS -- for the
DDC-HM against VIMCO-50 comparison on MNIST once both are trained
(``--mnist-dir``: the test images binarised as in paper_mnist_sbn.py, seed 1,
a random subset by seed 3; or ``--data`` a .npy array). ``--cheap T:K``
(repeatable) adds a shorter AIS, ``T`` temperatures and ``K`` chains per
image (what ``make_log_likelihood_scorer(n_temperatures=T, n_samples=K)``
computes), with its error against the main run, its time and how many
images have an effective sample size below ``LOW_ESS``.

``--own`` adds, for each model, the same AIS of as many images drawn from the
model itself (a model of the data's distribution finds them as probable as
held-out images on average; a model sharper than the data finds its own
more probable) and its layers' conditional entropies ``-E log p(z_l |
z_{l+1})`` over ancestral draws.

``--start conditional`` (score part) starts every AIS of a DDC-HM sigmoid
belief network, ``score``'s short one included, from the conditional
proposal that ``score``'s importance sampling draws from (``z_1`` around a
mode of its posterior, each layer above given the one below;
:class:`ConditionalStart`) instead of the recognition model's factorised
marginals. Measured on 2026-12-06 (20 MNIST test images, 8 chains x 2,000
temperatures, the fit-seed-0 (56, 10) models of 5 and 15 epochs of
``paper_mnist_sbn.py --ddc-only --latent-dims 56,10 --epochs E``, alone)::

                           AIS 8 x 2,000   score     AIS 4 x 30
    5 epochs,  recognition    -112.79     -118.94     -116.54
               conditional    -114.30     -120.90     -123.23
    15 epochs, recognition    -135.07     -144.82     -141.45
               conditional    -140.96     -148.06     -150.76

Every estimate is lower from the conditional start (median ESS 2.8 and
3.5 of 8 against 4.9 and 3.5); presumably its mode-centred conditionals
hold the chains near the one mode the greedy search found. The package's
AIS keeps the recognition marginals.

``outliers``: the main job's fitted model, and the paper's model at its
true parameters, scored on rows far from the data (held-out rows, the same
scaled by 3, rows uniform on [-6, 6]^2) by ``score_samples``, by importance
sampling with 10,000 samples and by AIS, each against quadrature
(:func:`run_outliers`).

BLAS runs on one thread (``--threads``): the machine is shared.

Measured 2026-12-01 on this project's 2-core CPU (shared with other jobs, so
the seconds are upper bounds), float64, NumPy 2.4, one BLAS thread.

``python benchmarks/bench_ais.py exact`` (40 rows; AIS 16 chains x 500
temperatures, one leapfrog step; "IS": ``score_samples``, 100 importance
samples; nats against the exact value)::

                          mean err  mean |err|  max |err|  mean stderr  s/row
    linear-Gaussian 12-4-2 (closed form), mean log p(x) = -16.843
      DDC-HM   AIS         +0.0038    0.0586     0.2362      0.0727     0.17
               IS          -0.2025    0.2060     0.5303
      VAE      AIS         -0.0074    0.0245     0.1015      0.0340     0.12
               IS          -0.1856    0.1870     1.1835
      IWAE-5   AIS         +0.0029    0.0301     0.0839      0.0424     0.10
               IS          -0.1732    0.1779     0.7062
    sigmoid belief network 20-8-4 (4,096 states), mean log p(x) = -8.278
      DDC-HM   AIS         -0.0005    0.0176     0.0769      0.0226     0.20
               IS          -0.0453    0.1250     0.9897
      VIMCO-5  AIS         -0.0074    0.0522     0.1636      0.0571     0.19
               IS          -1.3071    1.4999     2.8111

``bench_ais.py sparse --chains 256 --temperatures 4000`` (40 rows, mean log
p(x) = -1.577 by quadrature, 0.06 s per row)::

      DDC-HM   AIS         +0.0048    0.0183     0.0507      0.0221    15.27
               IS          -0.8233    1.0380     5.8251
      AIS: 39/40 rows within 0.05 nat; median |err| / stderr 0.77;
      1,023,744 transitions per row

and ``--chains 512`` (the machine more loaded)::

      DDC-HM   AIS         -0.0023    0.0108     0.0432      0.0159    24.86
      AIS: 40/40 rows within 0.05 nat; median |err| / stderr 0.43;
      2,047,488 transitions per row

Those two runs predate the mixture proposal of the top prior (2026-12-02,
fourth session; see ``benchmarks/README.md``, "A log-likelihood you can
trust"). The same command at its defaults, before and after that change in
one session::

      before  DDC-HM   AIS   mean err -0.0271  mean |err| 0.0711  max |err| 0.2797
                       IS    mean err -0.2821  mean |err| 0.3987  max |err| 3.1647
      after   DDC-HM   AIS   mean err +0.0034  mean |err| 0.0477  max |err| 0.1482
                       IS    mean err -0.0248  mean |err| 0.0948  max |err| 0.7962

and after, ``--chains 64 --temperatures 1000``: AIS mean err +0.0043, mean
|err| 0.0238, max |err| 0.0940, 33 of 40 rows within 0.05 nat, 0.62 s per row.

With the linear-Gaussian proposal (2026-12-02, fifth session; the previous
line re-run the same session at the defaults first)::

      before  DDC-HM   AIS   mean err +0.0034  mean |err| 0.0477  max |err| 0.1482
                       IS    mean err -0.0248  mean |err| 0.0948  max |err| 0.7962
      after   DDC-HM   AIS   mean err +0.0034  mean |err| 0.0080  max |err| 0.0331
                       IS    mean err -0.0709  mean |err| 0.0711  max |err| 0.1284

(AIS: 40 of 40 rows within 0.05 nat, 0.43 s per row; IS without adaptive
rounds, which this proposal does not need; ``--score-seeds 10``: IS mean
error -0.039, standard deviation 0.034 between seeds.) ``bench_ais.py exact
--score-seeds 10`` the same day, before / after, mean error (max) on the
linear-Gaussian 12-4-2 model: ``score`` -0.21 (1.35) / -0.09 (0.36) for
DDC-HM, -0.19 (1.18) / -0.12 (0.16) for VAE, -0.17 (0.71) / -0.12 (0.18) for
IWAE-5, over 10 seeds after -0.008 +- 0.089, -0.021 +- 0.064 and -0.024 +-
0.070; AIS mean |err| 0.050 / 0.027, 0.025 / 0.010, 0.030 / 0.011; the SBN
rows unchanged.

With the defaults (64 chains x 400 temperatures, 0.5 s per row) the mean
standard error is about 0.11 nat: the error falls like ``1 / sqrt(chains x
temperatures)``; on this model a power schedule ``beta_t = (t / T)^3`` (pass
``schedule``) had a 20% smaller standard error than the sigmoidal one.

``bench_ais.py score --model DIR/DDC-HM.pkl --images 50`` (2026-12-04,
alone, float32; a DDC-HM SBN 784-200-200-200 fitted by ``paper_mnist_sbn.py
--ddc-only --epochs 6 --dtype float32 --save DIR``)::

    50 held-out images; AIS 16 chains x 1000 temperatures from each estimator's proposal
      DDCHelmholtzEstimator (DDC-HM.pkl): AIS -107.207 +- 0.048 (Monte Carlo)
        +- 3.678 (over images) nats per image, median ESS 8.4 of 16 (28.4 s/image)
        score (importance, 100 draws): -120.790, error against AIS mean
          -13.583, worst -22.901 nats per image (1.56 s)
        FactorisedProposal alone (importance, 100 draws): -168.580, error
          against AIS mean -61.373, worst -97.083 nats per image (0.15 s)

(``score`` with ``z_1`` from the recognition marginals alone, the same day:
-145.201, error -37.994, worst -70.177, 0.67 s.)

``bench_ais.py exact --score-seeds 10`` the same day moved only the SBN rows
(DDC-HM's ``score`` now proposes ``z_1`` around a mode of its posterior and
``z_2`` given ``z_1``; binary layers are no longer re-centred by adaptive
rounds): DDC-HM IS mean err -0.086, max |err| 0.49, over 10 seeds -0.010 +-
0.040 (-0.045 +- 0.080 before); VIMCO-5 -0.86 +- 0.79 over 10 seeds (-1.03
+- 0.37; the same proposal, other draws).

``bench_ais.py bdmc --model ddc_mnist_10min.pkl --images 20 --chains 4
--temperatures 200``: a DDC-HM trained 10 minutes on binarised MNIST
(``paper_mnist_sbn.py``'s settings, 2,240 iterations on the shared CPU),
images simulated from it::

    start the estimator's proposal:
      lower (forward) -180.749 +- 0.064  upper (reverse) -180.602 +- 0.072
      gap: mean 0.147, median 0.086, max 1.637 nats; 19/20 images within 1 nat
      cost per image: forward 4.7 s, reverse 4.1 s; 796 transitions each
    start the prior (--start prior):
      lower -180.806 +- 0.051  upper -180.730 +- 0.068; gap mean 0.076, max 0.769; 20/20
      cost per image: forward 6.8 s, reverse 3.9 s

``bench_ais.py bdmc --images 20 --chains 4 --temperatures 200`` (random
parameters, weight scale 3; not a learnt model; from the prior)::

      lower -393.494 +- 0.111  upper -392.923 +- 0.105; gap mean 0.571, median
      0.682, max 1.803 nats; 16/20 images within 1 nat; 3.5 s + 4.1 s per image

``bench_ais.py score --model ddc_mnist_10min.pkl --images 20 --chains 4``
on real test images: AIS -151.659 +- 0.088 nats per image at 200
temperatures (4.2 s/image), -151.604 +- 0.042 at 1,000 (19.5 s/image);
``score`` (importance sampling, 100 samples) -193.976.

The MNIST comparison (2026-12-01): ``paper_mnist_sbn.py --minutes 20 --save
DIR`` then ``bench_ais.py score --images 50 --chains 4 --temperatures 300
--model DIR/DDC-HM.pkl --model DIR/VIMCO-50.pkl``::

    DDC-HM:   AIS -167.459 +- 0.073 (Monte Carlo) +- 5.486 (over images),
              median ESS 2.8 of 4, 4.6 s/image; score -213.298
    VIMCO-50: AIS -118.758 +- 0.025 (Monte Carlo) +- 4.009 (over images),
              median ESS 3.7 of 4, 9.2 s/image; score -121.514
    DDC-HM - VIMCO-50: -48.702 +- 2.312 nats per image (paired, 50 images;
              0% of them higher under DDC-HM)

On the first 10 of those images (``--images 10``), 300 and 1,000
temperatures: DDC-HM -168.423 and -168.426, VIMCO-50 -124.576 and -124.608
(8.9 and 28.3, 11.1 and 35.9 s/image).

A Gibbs sweep of the 600 units of the 784-200-200-200 network costs 4.7 ms
per chain with blocks of 256 chains x rows, 6.5 ms with 1,024 or 4,096.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import pickle
import time
import types
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_ddchm import (
    DDCHelmholtzEstimator,
    UnreliableScoreWarning,
    log_likelihood,
)
from sklearn_ddchm._ais import (
    AffineFactor,
    PriorProposal,
    annealed_importance_sampling,
    bernoulli_terms,
    identity_logit,
    reverse_annealed_importance_sampling,
    sigmoid_schedule,
    summarize_log_weights,
    tile_rows,
)
from sklearn_ddchm._base import _adapt_rounds
from sklearn_ddchm._binary_proposal import (
    CONDITIONAL_FLOOR,
    ConditionalBernoulliProposal,
)
from sklearn_ddchm._importance import (
    bernoulli_log_prob,
    bernoulli_p,
    importance_log_weights,
)
from sklearn_ddchm._log_likelihood import LOW_ESS
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.models import (
    BernoulliLayer,
    BernoulliPrior,
    DeepExponentialFamily,
    GaussianLayer,
    GaussianPrior,
)
from sklearn_ddchm.models._families import _AffineLayer
from sklearn_ddchm.models._presets import build_model
from sklearn_ddchm.utils._array_api import get_namespace, logsumexp, sigmoid, to_numpy
from sklearn_ddchm.utils._exact import (
    enumerated_log_likelihood,
    linear_gaussian_log_likelihood,
    sparse_quadrature_log_likelihood,
)

# ancestral draws behind --own's conditional entropies (the Monte Carlo error
# of a layer's entropy is then its per-draw spread / 70)
OWN_ENTROPY_SAMPLES = 5000


def at_truth(model, X, **kwargs):
    """DDC-HM whose generative model is ``model`` (one epoch at a zero step)."""
    params = dict(
        n_encoding=100,
        n_hidden=200,
        n_sleep_samples=1000,
        max_iter=1,
        learning_rate=1e-12,
        random_state=0,
    )
    params.update(kwargs)
    return DDCHelmholtzEstimator(model=model, **params).fit(X)


def frozen(model):
    model = model.copy()
    for layer in model.layers:
        layer.trainable = ()
    return model


def report(name, estimate, exact, stderr=None, seconds=None):
    err = np.asarray(estimate) - exact
    line = (
        f"  {name:28s} mean err {np.mean(err):+.4f}  mean |err| "
        f"{np.mean(np.abs(err)):.4f}  max |err| {np.max(np.abs(err)):.4f}"
    )
    if stderr is not None:
        line += f"  mean stderr {np.mean(stderr):.4f}"
    if seconds is not None:
        line += f"  {seconds:.2f} s/row"
    print(line, flush=True)


def ais_row(name, est, X, exact, args):
    start = time.perf_counter()
    result = log_likelihood(
        est,
        X,
        n_samples=args.chains,
        n_temperatures=args.temperatures,
        n_leapfrog=args.leapfrog,
        random_state=0,
    )
    seconds = (time.perf_counter() - start) / X.shape[0]
    report(
        f"{name} AIS",
        to_numpy(result.log_likelihood),
        exact,
        to_numpy(result.stderr),
        seconds,
    )
    start = time.perf_counter()
    score = to_numpy(est.score_samples(X))
    report(
        f"{name} score ({est.n_importance})",
        score,
        exact,
        seconds=(time.perf_counter() - start) / X.shape[0],
    )
    if args.score_seeds > 1:
        # score_samples shares one draw of its noise between all rows, so its
        # rows' errors move together: the spread over seeds is the honest one
        errors = [
            np.mean(to_numpy(est._score_estimate(X, "score_samples", seed)) - exact)
            for seed in range(args.score_seeds)
        ]
        print(
            f"  {name} score over {args.score_seeds} seeds: mean err "
            f"{np.mean(errors):+.4f}, standard deviation {np.std(errors, ddof=1):.4f}"
        )
    return result


def run_exact(args):
    rng = np.random.RandomState(0)
    lg = DeepExponentialFamily(
        [
            GaussianLayer(
                12,
                4,
                weights=rng.randn(12, 4),
                bias=rng.randn(12),
                log_var=np.log(rng.uniform(0.1, 0.5, 12)),
            ),
            GaussianLayer(
                4,
                2,
                weights=rng.randn(4, 2),
                bias=rng.randn(4),
                log_var=np.log(rng.uniform(0.1, 0.5, 4)),
            ),
            GaussianPrior(2, mean=rng.randn(2), log_var=np.zeros(2)),
        ]
    )
    X_train, _ = lg.sample(2000, random_state=1)
    X, _ = lg.sample(args.rows, random_state=2)
    exact = linear_gaussian_log_likelihood(lg, X)
    print(
        f"linear-Gaussian 12-4-2, {args.rows} rows, mean log p(x) = "
        f"{np.mean(exact):.3f}; AIS {args.chains} chains x {args.temperatures} "
        f"temperatures, {args.leapfrog} leapfrog step(s)"
    )
    baseline = dict(max_iter=args.epochs, random_state=0, learning_rate=3e-3)
    for name, est in [
        ("DDC-HM", at_truth(lg, X_train, latent_dims=(4, 2))),
        ("VAE", VAEEstimator(model=frozen(lg), **baseline).fit(X_train)),
        (
            "IWAE-5",
            IWAEEstimator(model=frozen(lg), n_particles=5, **baseline).fit(X_train),
        ),
    ]:
        ais_row(name, est, X, exact, args)
    rng = np.random.RandomState(1)
    sbn = DeepExponentialFamily(
        [
            BernoulliLayer(20, 8, weights=2 * rng.randn(20, 8), bias=rng.randn(20)),
            BernoulliLayer(8, 4, weights=2 * rng.randn(8, 4), bias=rng.randn(8)),
            BernoulliPrior(4, logits=rng.randn(4)),
        ]
    )
    X_train, _ = sbn.sample(2000, random_state=1)
    X, _ = sbn.sample(args.rows, random_state=2)
    exact = enumerated_log_likelihood(sbn, X)
    print(
        f"sigmoid belief network 20-8-4, {args.rows} rows, mean log p(x) = "
        f"{np.mean(exact):.3f} (enumeration of 4,096 states)"
    )
    for name, est in [
        ("DDC-HM", at_truth(sbn, X_train, latent_dims=(8, 4))),
        (
            "VIMCO-5",
            VIMCOEstimator(
                model=frozen(sbn), n_particles=5, max_iter=args.epochs, random_state=0
            ).fit(X_train),
        ),
    ]:
        ais_row(name, est, X, exact, args)


def run_sparse(args):
    X_all, _, model = make_sparse_hierarchical(2000, random_state=0)
    est = at_truth(model, X_all)
    X = X_all[: args.rows]
    start = time.perf_counter()
    exact = sparse_quadrature_log_likelihood(model, X)
    quad_seconds = (time.perf_counter() - start) / args.rows
    print(
        f"sparse model (Eq. 13) at its true parameters, {args.rows} rows, mean "
        f"log p(x) = {np.mean(exact):.3f} by quadrature ({quad_seconds:.2f} s/row)"
    )
    result = ais_row("DDC-HM", est, X, exact, args)
    err = to_numpy(result.log_likelihood) - exact
    print(
        f"  AIS rows within 0.05 nat: {np.sum(np.abs(err) < 0.05)}/{args.rows}; "
        f"|err| / stderr: median {np.median(np.abs(err) / to_numpy(result.stderr)):.2f}"
        f"; transitions per row {result.n_transitions}"
    )


def run_outliers(args):
    """``score_samples`` and AIS on rows far from the data, against quadrature.

    Two models: the main job's fit (``python -m sklearn_ddchm``: the sparse
    model from a random start, 4,000 points, defaults, 30 epochs), and the
    paper's model at its true parameters (Laplace scales down to 0.006, so
    rows off its two arms are far less likely than under the fit). Each is
    scored on ``--rows`` held-out rows, on the same rows scaled by 3 (far in
    the tails), and on rows uniform on [-6, 6]^2 (most of them far from
    anything the model puts mass on). Each estimate is compared with the
    exact log p(x) by quadrature; the warnings the call raised are counted
    (``log_likelihood`` warns when a row's ESS is below ``LOW_ESS``; the
    first estimate is ``score_samples``', which itself never checks ESS).
    """
    X_all, _, true_model = make_sparse_hierarchical(8000, random_state=0)
    models = {
        "the main job's fit": DDCHelmholtzEstimator(max_iter=30, random_state=0).fit(
            X_all[:4000]
        ),
        "the true parameters": at_truth(true_model, X_all[:4000]),
    }
    held_out = X_all[4000 : 4000 + args.rows]
    box = np.random.RandomState(5).uniform(-6.0, 6.0, size=(args.rows, 2))
    estimators = {
        "IS, 100 (score's)": dict(method="importance"),
        "IS, 10,000 samples": dict(method="importance", n_samples=10_000),
        "AIS (defaults)": dict(method="ais"),
    }
    for (model_label, est), (label, rows) in itertools.product(
        models.items(),
        (
            ("held-out rows", held_out),
            ("held-out rows x 3", 3.0 * held_out),
            ("uniform on [-6, 6]^2", box),
        ),
    ):
        label = f"{model_label}, {label}"
        exact = sparse_quadrature_log_likelihood(est.model_, rows)
        print(
            f"{label}, {len(rows)} rows: exact log p(x) median "
            f"{np.median(exact):.2f}, lowest {np.min(exact):.2f}",
            flush=True,
        )
        for name, kwargs in estimators.items():
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = log_likelihood(est, rows, random_state=0, **kwargs)
            seconds = time.perf_counter() - start
            err = to_numpy(result.log_likelihood) - exact
            print(
                f"  {name:24s} error mean {np.mean(err):+.3f}, median "
                f"{np.median(err):+.3f}, lowest {np.min(err):+.2f}; rows more "
                f"than 1 / 5 nats low: {np.sum(err < -1)} / {np.sum(err < -5)}; "
                f"warnings {len(caught)} (rows with ESS < {LOW_ESS}: "
                f"{np.sum(to_numpy(result.ess) < LOW_ESS)}); {seconds:.1f} s",
                flush=True,
            )


def random_sbn(scale, seed):
    """SBN 784-200-200-200 with weights N(0, (scale / sqrt(D_parent))^2)."""
    rng = np.random.RandomState(seed)
    model = build_model("sbn", 784, (200, 200, 200), trainable_prior=True)
    model.initialize(rng)
    params = {}
    for key, value in model.get_parameters().items():
        if key.endswith("weights"):
            params[key] = (
                rng.standard_normal(value.shape) * scale / math.sqrt(value.shape[1])
            )
        else:
            params[key] = rng.standard_normal(value.shape)
    return model.set_parameters(params)


def run_bdmc(args):
    if args.model:
        with open(args.model[0], "rb") as f:
            est = pickle.load(f)
        model = est.model_
        source = f"{type(est).__name__} from {args.model[0]}"
    else:
        est = None
        model = random_sbn(args.weight_scale, args.seed)
        source = (
            f"random parameters (weight scale {args.weight_scale}, seed {args.seed};"
            " not a learnt model)"
        )
    n = args.images
    X, Z = model.sample(n, random_state=args.seed + 1)
    if est is None or args.start == "prior":
        proposal, start_name = PriorProposal(model, n), "the prior"
    else:
        proposal, start_name = est._proposal(X), "the estimator's proposal"
    betas = sigmoid_schedule(args.temperatures)
    print(
        f"BDMC on {n} images simulated from an SBN "
        f"{'-'.join(str(d) for d in (model.n_features, *model.latent_dims))}: "
        f"{source}; start {start_name}; {args.chains} chains x "
        f"{args.temperatures} temperatures",
        flush=True,
    )
    t0 = time.perf_counter()
    log_w, _, tuning = annealed_importance_sampling(
        model, X, proposal, betas, args.chains, np.random.RandomState(0)
    )
    t1 = time.perf_counter()
    log_w_rev = reverse_annealed_importance_sampling(
        model,
        X,
        Z,
        proposal,
        betas,
        args.chains,
        np.random.RandomState(1),
        tuning=tuning,
    )
    t2 = time.perf_counter()
    lower, lower_se, _ = (to_numpy(a) for a in summarize_log_weights(log_w))
    upper, upper_se, _ = (to_numpy(a) for a in summarize_log_weights(log_w_rev))
    upper = -upper
    gap = upper - lower
    lower_se = np.sqrt(np.sum(lower_se**2)) / n
    upper_se = np.sqrt(np.sum(upper_se**2)) / n
    print(
        f"  lower (forward) {np.mean(lower):.3f} +- {lower_se:.3f}  upper (reverse) "
        f"{np.mean(upper):.3f} +- {upper_se:.3f}  nats per image"
    )
    print(
        f"  gap: mean {np.mean(gap):.3f}, median {np.median(gap):.3f}, max "
        f"{np.max(gap):.3f} nats; images with gap < 1 nat: {np.sum(gap < 1)}/{n}"
    )
    transitions = args.chains * (args.temperatures - 1)
    print(
        f"  cost per image: forward {(t1 - t0) / n:.1f} s, reverse {(t2 - t1) / n:.1f}"
        f" s; {transitions} transitions each (a transition = one Gibbs sweep over "
        f"{sum(model.latent_dims)} units + one independence move)"
    )


def _floored_terms(child, a):
    """``log Bernoulli(child; p)`` per coordinate, ``p = sigmoid(a)`` mixed with
    1/2 by ``CONDITIONAL_FLOOR`` (a conditional layer of
    :class:`ConditionalBernoulliProposal`, as it samples)."""
    xp = get_namespace(a)
    p = bernoulli_p(sigmoid(a), CONDITIONAL_FLOOR)
    return child * xp.log(p) + (1.0 - child) * xp.log(1.0 - p)


def _floored_logit(a):
    """The log-odds of the floored probability of :func:`_floored_terms`."""
    xp = get_namespace(a)
    p = bernoulli_p(sigmoid(a), CONDITIONAL_FLOOR)
    return xp.log(p) - xp.log(1.0 - p)


class ConditionalStart(ConditionalBernoulliProposal):
    """DDC-HM's conditional scoring proposal of an SBN as an AIS start.

    The package's AIS starts an SBN's chains from the recognition model's
    factorised marginals (the Gibbs sweeps need ``q`` as a mixture of
    products of affine factors); this gives the conditional proposal that
    form: per component of ``q(z_1 | x)`` a factor with fixed log-odds, then
    one factor per ``q(z_l | z_{l-1})``, whose log-odds are affine in
    ``z_{l-1}`` (``t_{l-1}`` is linear), then the defensive share's
    components. ``score --start conditional`` measures AIS from it.
    """

    @classmethod
    def of(cls, proposal):
        """The same proposal (its arrays shared) as a ``ConditionalStart``."""
        new = cls.__new__(cls)
        new.__dict__.update(proposal.__dict__)
        return new

    def grad_log_prob(self, latents):
        return [None] * len(latents)

    def scales(self):
        return [None] * (len(self.offsets) + 1)

    def gibbs_components(self, latents):
        """``q`` at ``latents`` (shape (k * n, D_l), index major) as
        ``(log weight + log density, factors)`` per mixture component."""
        xp = get_namespace(latents[0])
        k = latents[0].shape[0] // self._n
        chain, log_chain = [], 0.0
        for l in range(2, len(latents) + 1):
            eye = xp.eye(latents[l - 2].shape[1], dtype=latents[0].dtype)
            # t_{l-1}(z) = z M: the rows of M are t of the unit vectors
            weights = self.statistics[l - 2](eye).T  # (D_l, D_{l-1})
            offset = self.offsets[l - 2]
            offset = offset[0, :] if offset.shape[0] == 1 else tile_rows(offset, k)
            chain.append(
                AffineFactor(
                    child=l,
                    parent=l - 1,
                    weights=weights,
                    offset=offset,
                    terms=_floored_terms,
                    child_logit=_floored_logit,
                )
            )
            a = latents[l - 2] @ weights.T + offset
            log_chain = log_chain + xp.sum(_floored_terms(latents[l - 1], a), axis=1)
        log_weight = math.log(1.0 - self.share) - math.log(len(self.first))
        components = []
        for p in self.first:
            first = AffineFactor(
                child=1,
                parent=None,
                weights=None,
                offset=tile_rows(xp.log(p) - xp.log1p(-p), k),
                terms=bernoulli_terms,
                child_logit=identity_logit,
            )
            log_first = bernoulli_log_prob(latents[0], tile_rows(p, k))
            components.append((log_weight + log_first + log_chain, [first, *chain]))
        if self.share > 0:
            for total, factors in self.fallback.gibbs_components(latents):
                components.append((total + math.log(self.share), factors))
        return components


@contextlib.contextmanager
def conditional_ais_start(est):
    """Every AIS of ``est`` (``log_likelihood``, ``score``'s short AIS) started
    from :class:`ConditionalStart` where ``est`` scores through a
    :class:`ConditionalBernoulliProposal`; restored on exit."""
    own = est._scoring_proposal

    def scoring_proposal(X, *, for_ais=False):
        q = own(X)  # built once: its mode search is score's largest cost
        if not for_ais:
            return q
        if isinstance(q, ConditionalBernoulliProposal):
            return ConditionalStart.of(q)
        return own(X, for_ais=True)

    est._scoring_proposal = scoring_proposal
    try:
        yield
    finally:
        del est._scoring_proposal


def load_images(args):
    if args.data:
        return np.load(args.data)
    from paper_mnist_sbn import fetch_mnist_dir

    from sklearn_ddchm.datasets import binarize, load_mnist

    folder = args.mnist_dir or fetch_mnist_dir(args.cache)
    _, _, X_test, _ = load_mnist(folder)
    X_test = binarize(X_test, 1)
    rng = np.random.RandomState(3)
    return X_test[rng.permutation(len(X_test))[: args.images]]


def best_of_two(func):
    """``func()`` and the shorter of two timings of it (the first call of a
    model pays one-off costs)."""
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        value = func()
        seconds.append(time.perf_counter() - start)
    return value, min(seconds)


def print_score_errors(est, X, reference):
    """``score_samples`` against ``reference`` (AIS) per image, beside, for
    a model whose latent layers are all binary, the importance estimate that
    ``score_samples`` mixes with a short AIS, and the estimator's recognition
    proposal alone (its factorised proposal, without the scoring proposal
    built around it), each with ``n_importance`` draws.
    """
    k = est.n_importance
    annealing = est._score_annealing()
    label = f"importance, {k} draws"
    if annealing is not None:
        label += ", mixed with AIS {} x {}".format(*annealing)
    lines = [(f"score ({label})", *best_of_two(lambda: est.score_samples(X)))]
    if annealing is not None:
        lines.append(
            (
                f"importance alone ({k} draws)",
                *best_of_two(
                    lambda: log_likelihood(est, X, method="importance").log_likelihood
                ),
            )
        )
    X = est._validate_X(X, reset=False)
    own = est._proposal(X)
    if type(own) is not type(est._scoring_proposal(X)):
        start = time.perf_counter()
        log_w = importance_log_weights(
            est.model_, X, own, k, np.random.RandomState(0), _adapt_rounds(own)
        )
        estimate = logsumexp(log_w, axis=0, xp=np) - math.log(k)
        lines.append(
            (
                f"{type(own).__name__} alone (importance, {k} draws)",
                estimate,
                time.perf_counter() - start,
            )
        )
    for label, estimate, seconds in lines:
        err = to_numpy(estimate) - reference
        print(
            f"    {label}: "
            f"{err.mean() + reference.mean():.3f}, error against AIS mean "
            f"{err.mean():+.3f}, worst {err.min():+.3f} nats per image "
            f"({seconds:.2f} s)",
            flush=True,
        )


def print_flip_form_speed(est, X):
    """``score`` with the observation layer's own closed form of the flip
    changes against the form any affine layer has (toggled log-densities,
    ``_AffineLayer.flip_log_prob_changes``), when it has one: the best of two
    timings of each, taken alternately after :func:`print_score_errors`'s
    call (the first call of a model pays one-off costs), their ratio, and
    the largest difference of the two scores (the same noise, so only
    rounding differs)."""
    obs = est.model_.layers[0]
    general = _AffineLayer.flip_log_prob_changes
    if (
        not isinstance(obs, _AffineLayer)
        or type(obs).flip_log_prob_changes is general
        or not isinstance(est._scoring_proposal(X[:1]), ConditionalBernoulliProposal)
    ):
        return
    seconds, scores = {"closed": [], "general": []}, {}
    for form in ("closed", "general") * 2:
        if form == "general":
            obs.flip_log_prob_changes = types.MethodType(general, obs)
        try:
            start = time.perf_counter()
            scores[form] = to_numpy(est.score_samples(X))
            seconds[form].append(time.perf_counter() - start)
        finally:
            vars(obs).pop("flip_log_prob_changes", None)
    closed, slow = min(seconds["closed"]), min(seconds["general"])
    difference = np.max(np.abs(scores["general"] - scores["closed"]))
    print(
        f"    score with the closed flip form {closed:.2f} s, with the general "
        f"form {slow:.2f} s ({slow / closed:.2f}x); largest difference "
        f"{difference:.1e} nats",
        flush=True,
    )


def cheap_spec(text):
    """``"T:K"`` as ``(T, K)``, two ints >= 1 (temperatures, chains)."""
    try:
        temperatures, chains = (int(v) for v in text.split(":"))
    except ValueError:
        temperatures = chains = 0
    if temperatures < 1 or chains < 1:
        raise argparse.ArgumentTypeError(
            f"--cheap takes T:K, temperatures and chains >= 1, got {text!r}"
        )
    return temperatures, chains


def timed_ais(est, X, args, *, chains=None, temperatures=None, random_state=0):
    """The score part's AIS of ``X`` (``args.chains`` chains x
    ``args.temperatures`` temperatures unless given, ``args``' leapfrog steps
    and start) and its time in seconds."""
    start = time.perf_counter()
    result = log_likelihood(
        est,
        X,
        n_samples=args.chains if chains is None else chains,
        n_temperatures=args.temperatures if temperatures is None else temperatures,
        n_leapfrog=args.leapfrog,
        start="prior" if args.start == "prior" else "proposal",
        random_state=random_state,
    )
    return result, time.perf_counter() - start


def print_cheap_ais_error(est, X, reference, spec, args):
    """A cheaper AIS (``spec`` = ``(T, K)`` from :func:`cheap_spec`: ``T``
    temperatures, ``K`` chains per image) against ``reference``, the main
    AIS of the same images: the cost and bias of
    :func:`make_log_likelihood_scorer` at those settings.
    Its warning about rows with a low effective sample size is not shown;
    the number of such rows is printed instead.
    """
    temperatures, chains = spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableScoreWarning)
        # not the main run's seed 0: its error is then its own
        result, seconds = timed_ais(
            est, X, args, chains=chains, temperatures=temperatures, random_state=1
        )
    err = to_numpy(result.log_likelihood) - reference
    n_low = int(np.sum(to_numpy(result.ess) < LOW_ESS))
    print(
        f"    AIS {chains} chains x {temperatures} temperatures: "
        f"{err.mean() + reference.mean():.3f}, error against AIS mean "
        f"{err.mean():+.3f}, worst {err.min():+.3f} nats per image "
        f"({seconds:.2f} s; {n_low} images with an ESS below {LOW_ESS})",
        flush=True,
    )


def layer_entropies(model, n_samples, random_state):
    """``-E log p(z_l | z_{l+1})`` per layer of ``model``, observation layer
    first and prior last, each a Monte Carlo mean over ``n_samples``
    ancestral draws: the conditional entropies (nats, differential for
    continuous layers), whose sum is the joint entropy ``H(x, z)``. A layer
    whose entropy falls towards 0 has become (nearly) deterministic given its
    parent.
    """
    X, latents = model.sample(n_samples, random_state=random_state)
    values = [X, *latents]
    entropies = [
        -float(np.mean(to_numpy(layer.log_prob(values[i], values[i + 1]))))
        for i, layer in enumerate(model.layers[:-1])
    ]
    entropies.append(-float(np.mean(to_numpy(model.layers[-1].log_prob(values[-1])))))
    return entropies


def print_own_samples(est, values, args):
    """How sharp ``est``'s model is against the held-out images whose AIS
    estimates are ``values``: the same AIS of as many images drawn from the
    model itself (a model of the data's distribution finds both equally
    probable on average; a sharper one finds its own more probable), and its
    layers' conditional entropies (:func:`layer_entropies`).
    """
    n = len(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableScoreWarning)
        result, seconds = timed_ais(est, est.sample(n, random_state=11), args)
    own_values = to_numpy(result.log_likelihood)
    diff = values.mean() - own_values.mean()
    se = np.sqrt(values.var(ddof=1) / n + own_values.var(ddof=1) / n)
    entropies = layer_entropies(est.model_, OWN_ENTROPY_SAMPLES, 12)
    names = ["x|z_1"] + [
        f"z_{i}|z_{i + 1}" for i in range(1, est.model_.n_latent_layers)
    ]
    names.append(f"z_{est.model_.n_latent_layers}")
    print(
        f"    own samples ({n}, same AIS): {own_values.mean():.3f}; held-out "
        f"minus own {diff:+.3f} +- {se:.3f} nats per image ({seconds:.1f} s)",
        flush=True,
    )
    print(
        f"    conditional entropies ({OWN_ENTROPY_SAMPLES} ancestral draws): "
        + "  ".join(f"H({a}) {h:.1f}" for a, h in zip(names, entropies, strict=True))
        + f"  sum H(x, z) {sum(entropies):.1f} nats",
        flush=True,
    )


def score_one(est, path, X, args):
    """The score part for one saved estimator: its AIS line and the lines
    after it; ``{name: per-image AIS}``."""
    result, seconds = timed_ais(est, X, args)
    # the folder too: paper_mnist_sbn.py --save names every file DDC-HM.pkl
    name = os.path.join(
        os.path.basename(os.path.dirname(os.path.abspath(path))),
        os.path.basename(path),
    )
    values = to_numpy(result.log_likelihood)
    print(
        f"  {type(est).__name__} ({name}): AIS "
        f"{result.mean:.3f} +- {result.mean_stderr:.3f} (Monte Carlo) "
        f"+- {values.std(ddof=1) / np.sqrt(len(values)):.3f} (over images) "
        f"nats per image, median ESS {np.median(to_numpy(result.ess)):.1f} of "
        f"{args.chains} ({seconds / X.shape[0]:.1f} s/image)",
        flush=True,
    )
    print_score_errors(est, X, values)
    print_flip_form_speed(est, X)
    for spec in args.cheap:
        print_cheap_ais_error(est, X, values, spec, args)
    if args.own:
        print_own_samples(est, values, args)
    return {name: values}


def run_score(args):
    X = load_images(args)[: args.images]
    print(
        f"{X.shape[0]} held-out images; AIS {args.chains} chains x "
        f"{args.temperatures} temperatures from "
        + {
            "proposal": "each estimator's proposal",
            "prior": "the prior",
            "conditional": "DDC-HM's conditional proposal (score's AIS too)",
        }[args.start]
    )
    per_image = {}
    for path in args.model:
        with open(path, "rb") as f:
            est = pickle.load(f)
        with (
            conditional_ais_start(est)
            if args.start == "conditional"
            else contextlib.nullcontext()
        ):
            per_image.update(score_one(est, path, X, args))
    # Paired over the same images: the difference's standard error leaves out
    # the images' own spread of log p(x), which both models share.
    names = list(per_image)
    for a, b in itertools.combinations(names, 2):
        diff = per_image[a] - per_image[b]
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        print(
            f"  {a} - {b}: {diff.mean():+.3f} +- {se:.3f} nats per image "
            f"(paired over {len(diff)} images; {np.mean(diff > 0):.0%} of them higher "
            f"under {a})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part",
        nargs="?",
        choices=["exact", "sparse", "bdmc", "score", "outliers"],
        default=None,
    )
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--temperatures", type=int, default=None)
    parser.add_argument("--leapfrog", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--model", action="append", default=[])
    parser.add_argument(
        "--start",
        choices=["proposal", "prior", "conditional"],
        default="proposal",
        help="AIS start: each estimator's scoring proposal, the prior, or (score "
        "part, DDC-HM SBNs) its conditional proposal, score's own AIS included",
    )
    parser.add_argument("--weight-scale", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/sklearn_ddchm"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--cheap",
        action="append",
        default=[],
        metavar="T:K",
        type=cheap_spec,
        help="score part: also AIS with T temperatures and K chains per image, "
        "against the main AIS (repeatable)",
    )
    parser.add_argument(
        "--own",
        action="store_true",
        help="score part: also the same AIS of as many of each model's own "
        "samples, and its layers' conditional entropies",
    )
    parser.add_argument(
        "--score-seeds",
        type=int,
        default=1,
        help="exact and sparse parts: also the mean error of the importance "
        "estimate over this many seeds of its noise",
    )
    args = parser.parse_args()
    if args.start == "conditional" and args.part != "score":
        parser.error("--start conditional is for the score part")
    defaults = {
        "exact": (16, 500),
        "sparse": (64, 400),
        "bdmc": (4, 1000),
        "score": (16, 1000),
        "outliers": (None, None),
    }
    parts = [args.part] if args.part else ["exact", "sparse", "bdmc"]
    with threadpool_limits(args.threads):
        for part in parts:
            chains, temperatures = defaults[part]
            run_args = argparse.Namespace(**vars(args))
            run_args.chains = args.chains or chains
            run_args.temperatures = args.temperatures or temperatures
            {
                "exact": run_exact,
                "sparse": run_sparse,
                "bdmc": run_bdmc,
                "score": run_score,
                "outliers": run_outliers,
            }[part](run_args)


if __name__ == "__main__":
    main()
