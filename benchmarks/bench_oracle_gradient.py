"""The DDC wake gradient against the true free-energy gradient (issue 13, item 7).

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_oracle_gradient.py
    ... bench_oracle_gradient.py --patches  # the Table 1 patch model
    ... bench_oracle_gradient.py --patches --train-steps 1000
    ... bench_oracle_gradient.py --patches --fit-epochs 10  # defaults, projected

On the paper's synthetic sparse model (D_x = D_1 = 2, so the exact posterior
can be sampled without a proposal to tune:
``sklearn_ddchm.utils._exact.sparse_posterior_gradient``), at two parameter
values:

- a random-start plateau: the paper's algorithm fitted from a random start
  for 30 epochs (4,000 points), where it stops far from the data;
- the true parameters, where the true gradient is (nearly) zero.

For each configuration the DDC wake gradient on 200 data points (mean of 5
steps with fresh sleep samples) is compared with the oracle, block by block:
the cosine similarity (the sign of a block is right when it is > 0) and the
relative error. ``tests/test_wake_sleep.py`` holds the small version.

Measured 2026-12-01 (``--seed 0 --epochs 30``), cosine / relative error per
block (observation weights, bias, log-variance; Laplace layer weights, bias);
the defaults use ``expectations="embedding"``, ``encodings`` is the defaults
with ``expectations="encodings"`` (the defaults before)::

    plateau: oracle gradient norms per block 0.152 0.033 0.177 0.420 0.158
      defaults    +0.83/0.69  +0.95/1.74  +1.00/0.07  +0.95/0.31  +0.98/0.24
      paper       -0.37/2.65  +0.95/1.64  +1.00/0.26  +0.16/1.00  +0.97/0.85
      weights-gradient -0.56/1.26  +0.95/1.74  +1.00/0.45  +0.95/0.31  +0.98/0.24
      paper-split +0.83/0.69  +0.95/1.74  +1.00/0.07  +0.95/0.31  +0.98/0.24
      encodings   +0.94/0.57  +0.95/1.74  +1.00/0.28  +0.64/0.78  +0.97/0.64

    truth: oracle gradient norms per block 1.294 0.776 0.029 0.035 0.017
      defaults    +0.97/0.25  +0.94/0.40  +0.83/2.10  +0.99/2.05  +0.93/0.75
      paper       +0.42/2.00  +0.93/0.48  -0.99/15.63  +1.00/1.52  -0.95/1.10
      weights-gradient +0.86/0.56  +0.94/0.40  +0.85/8.68  +0.99/2.05  +0.93/0.75
      paper-split +0.97/0.25  +0.94/0.40  +0.83/2.10  +0.99/2.05  +0.93/0.75
      encodings   +0.97/0.25  +0.94/0.40  +0.81/2.11  +1.00/1.55  -0.98/1.17

At both points every block of the defaults has the right sign. The paper's
algorithm points the observation weights away from the oracle at the plateau
(cosine -0.37: the false fixed point). With ``expectations="encodings"`` the
Laplace bias block has the wrong sign at the truth (-0.98) where the true
gradient is small (norm 0.017) and the encodings' bias of about 0.02 is
larger. The log-variance block at the truth is off by 2.1x its small norm
(norm 0.029) for the defaults and the encodings, 8.7x with the weight-form
observation gradient and 15.6x for the paper's algorithm.

Re-measured 2026-12-03 with the defaults of that day, which add the
observation layer's statistic to the recognition features
(``recognition_statistic="auto"``; ``--configs defaults paper``, the
paper's rows repeated the ones above to the printed digit)::

    plateau  defaults  +0.86/0.61  +0.95/1.60  +1.00/0.07  +0.95/0.34  +0.98/0.25
    truth    defaults  +0.90/0.44  +0.95/0.52  +0.82/3.15  +0.99/1.92  +0.87/0.79

Every block keeps the right sign at both points. At the true parameters the
observation weights' cosine is 0.90 (0.97 without the statistic) and the
log-variance block's relative error 3.15 (2.10) of its small norm.

Then, on a factor-analysis model of 32 pixels and 8 latents (exact posterior
in closed form), the noise variance's gradient on 1,000 points from the true
model, at the true noise and at 1.5x and 1/1.5x of it. Measured 2026-12-02
(exact, DDC defaults, bias, per-pixel correlation)::

    noise x1.00: +0.004  +0.081  +0.078  +0.20
    noise x1.50: -0.124  -0.066  +0.057  +0.88
    noise x0.67: +0.193  +0.301  +0.108  -0.23

The defaults' estimate is biased upwards by 0.06-0.11 per pixel: the DDC
gradient vanishes at a noise variance larger than the truth's (on the
(50, 10) patch model: 0.66 against IWAE-50's 0.44). Two causes, each
measured: the posterior mean regressed on 100 random ReLU features misses
part of a mean that is linear in x, and that error enters the expected
squared residual twice (through the mean at the datum and through the
residual covariance); and the degrees-of-freedom correction of the residual
covariance counts the fitted mean's own variance a second time. Regressing
the mean on ``[h(x), x~, 1]`` (the standardised inputs appended) without the
correction removes the bias (+0.001, -0.001, +0.005; correlations 0.89,
0.94, 0.96), but the (50, 10) patch model then learnt a noise variance of
0.36 and samples whose squared norm has a standard deviation of 11,000
(MMD^2 0.178 against 0.0172 after 14 epochs), so it is not the default: the
old bias was offsetting another error, not yet found.

The observation layer's statistic in the recognition features (the
defaults since 2026-12-03, ``recognition_statistic="auto"``) removes most
of the bias. Measured 2026-12-03 (same columns)::

    noise x1.00: +0.004  +0.014  +0.010  +0.85
    noise x1.50: -0.124  -0.115  +0.009  +0.96
    noise x0.67: +0.193  +0.205  +0.011  +0.94

a bias of 0.009-0.011 per pixel (0.06-0.11 before) and per-pixel
correlations of 0.85-0.96 with the exact gradient (-0.23 to 0.88 before).

On the paper's Table 1 patch model (``--patches``: (50, 10), its DDC-HM
settings, 10,000 of scikit-learn's sample-photograph patches, the data-based
start), where no closed form exists, the oracle is self-normalised importance
sampling from the linear-Gaussian scoring proposal
(:func:`sklearn_ddchm._importance.importance_gradient`, 4,000 draws for each
of 200 training patches). Measured 2026-12-02 (``--patches``, defaults), the
model's state, then cosine / relative error per block as above::

    10 steps: noise variance 68.2, ||Lambda|| 5.68, var z_1 557; ESS 33
      defaults    +0.54/1.09  +0.84/0.61  +0.96/0.69  +0.24/0.97  +0.01/1.10
      encodings   +0.55/1.08  +0.84/0.61  +0.96/0.64  +0.09/1.00  +0.08/1.01
    100 steps: noise variance 113.4, ||Lambda|| 3.84, var z_1 1362; ESS 22
      defaults    +0.68/0.83  +0.88/0.52  +0.72/1.36  +0.18/1.01  -0.02/1.08
      encodings   +0.69/0.83  +0.88/0.52  +0.73/1.32  +0.22/0.98  +0.27/0.96
    1000 steps: noise variance 168.2, ||Lambda|| 1.57, var z_1 6455; ESS 26
      defaults    +0.71/0.86  +0.86/0.54  +0.20/1.26  -0.02/1.40  +0.35/1.28
      encodings   +0.71/0.84  +0.86/0.54  +0.24/1.21  +0.15/1.04  +0.36/0.95

(the data's total variance is 200). The mean over pixels of the log noise
variance's gradient, DDC (defaults) against the oracle, printed beside:
+0.786 against +0.453 after 10 steps, +0.248 against +0.041 after 100,
+0.076 against -0.093 after 1,000 (the sign wrong: the DDC gradient still
raises a noise that should fall). Here, unlike on the 2-D model, the DDC
gradient of the Laplace layer is unrelated to the true one (cosine -0.02 to
+0.35, relative error about 1), the loadings' is only loosely aligned (0.54
to 0.71) and the noise variance's turns away as the fit goes on (0.96 at
the start, 0.20 after 1,000 steps): the model drifts to one in which the
observation noise carries 84% of the data's variance, passing on the way
the best model it reaches (``score`` on 1,000 held-out patches, same fit:
-310 at the start, -271 after 50-100 steps, -283 after 600;
``early_stopping=True`` keeps such a model). Measured on snapshots of one
such fit with code not in the package: with 4,000 sleep samples instead of
1,000 the Laplace blocks' DDC gradient shrinks (norm 0.2 against the oracle's
9.3) rather than turning towards the oracle, so it is a bias, not noise; the
held-out patches' posterior expectation of that gradient varies ten times
more across patches than the gradient does across the model's own samples
(the data lie where the sleep samples do not go); appending the standardised
inputs to ``h(x)``, with or without the degrees-of-freedom correction of the
residual covariance, leaves the noise variance's gradient biased (+0.18
against the oracle's +0.04 after 100 steps, +0.04 against -0.09 after 1,000)
and the loadings' cosine at 0.58-0.78 on these snapshots (it reached
0.98-1.00 only on a fit started from a 100-row PCA, whose noise variance was
0.2), and does not touch the Laplace blocks.

With the observation layer's statistic in the recognition features (the
defaults since 2026-12-03; ``--patches --configs defaults no-statistic``,
the second the defaults before; each at the new defaults' own states, which
differ from the ones above), then the noise variance's per-pixel gradient
(the oracle's: +0.441, +0.041 and -0.017 at the three states)::

    10 steps: noise variance 66.3, ||Lambda|| 6.06, var z_1 578; ESS 31
      defaults      +0.74/0.75  +0.91/0.42  +0.98/0.22  +0.34/0.95  +0.06/1.06  +0.478
      no-statistic  +0.57/1.13  +0.85/0.57  +0.95/0.77  +0.30/0.96  +0.07/1.07  +0.796
    100 steps: noise variance 95.6, ||Lambda|| 5.66, var z_1 1256; ESS 32
      defaults      +0.90/0.43  +0.93/0.37  +0.91/0.56  +0.40/0.94  +0.12/1.06  +0.120
      no-statistic  +0.69/0.89  +0.86/0.56  +0.66/1.74  +0.44/0.92  +0.10/1.12  +0.304
    1000 steps: noise variance 110.2, ||Lambda|| 6.37, var z_1 5434; ESS 40
      defaults      +0.83/0.57  +0.92/0.40  +0.82/0.65  +0.18/0.99  -0.05/1.07  +0.051
      no-statistic  +0.64/0.98  +0.83/0.64  +0.36/2.00  +0.21/0.99  +0.06/1.08  +0.218

The observation blocks are now aligned with the oracle (loadings 0.74-0.90,
log variance 0.82-0.98, against 0.57-0.69 and 0.36-0.95 without the
statistic at the same states), and the noise variance stops at 110 of the
data's 200 after 1,000 steps (168 with the defaults before); its gradient
still has the wrong sign there (+0.051 against -0.017). The Laplace blocks
are as unrelated to the oracle as before (cosine -0.05 to +0.40): the
statistic repairs the observation layer's part of the gradient only.

Weights kept a distribution (issue 13, item 5): the ``simplex``
configuration projects every row of the wake phase's embedding weights onto
the probability simplex (:func:`simplex_weights`; not an estimator option).
Measured 2026-12-03 (``--configs defaults simplex`` and ``--patches
--configs defaults simplex``; the defaults' rows repeated the ones above to
the printed digit)::

    plateau  simplex  +0.88/0.65  +0.95/1.74  +1.00/0.17  +0.99/0.37  +0.90/0.72
    truth    simplex  +0.97/0.24  +0.94/0.40  +0.84/1.88  +0.84/1.84  -0.53/1.59
    patches, 10 steps    +0.55/1.08  +0.84/0.61  +0.96/0.64  +0.32/0.98  -0.29/1.05
    patches, 100 steps   +0.68/0.84  +0.88/0.52  +0.73/1.32  +0.02/1.01  +0.07/1.00
    patches, 1000 steps  +0.71/0.86  +0.86/0.54  +0.22/1.23  +0.03/1.05  +0.32/0.95

On the 2-D model the projection turns the Laplace bias block at the true
parameters the wrong way (cosine -0.53 against the defaults' +0.93) and
triples that block's relative error at the plateau (0.72 against 0.24). On
the patches it leaves the observation blocks as they were (the noise
variance's per-pixel gradient +0.756, +0.241, +0.072 against the defaults'
+0.786, +0.248, +0.076 and the oracle's +0.453, +0.041, -0.093) and the
Laplace blocks as unrelated to the oracle as before (cosine -0.29 to
+0.32). Keeping the weights a distribution does not repair the patch
gradient, and costs accuracy where the gradient was right.

Recognition features suited to the observation layer (issue 13, item 2's
"encoding functions chosen to suit the model", on the recognition side):
for a Gaussian observation layer the posterior of every latent depends on
``x`` only through ``Lambda^T Psi^-1 (x - b)``, so the ``projected``
configuration (:func:`projected_features`; not an estimator option)
computes ``h`` from the least-squares estimate of ``z_1`` (standardised on
each step's sleep samples): five units of each coordinate alone (two at
``D1 = 100``) and the rest of the 500 (at least 250) random ReLU units of
the whole vector. Measured 2026-12-03 (``--patches --configs
defaults projected``; the defaults' rows repeated the ones above to the
printed digit), per block as above, then the noise variance's per-pixel
gradient (oracle +0.453, +0.041, -0.093)::

    10 steps     +0.64/0.93  +0.86/0.54  +0.98/0.25  +0.10/1.01  +0.45/0.93  +0.538
    100 steps    +0.79/0.68  +0.86/0.54  +0.75/1.22  +0.29/1.08  +0.55/0.92  +0.226
    1000 steps   +0.85/0.56  +0.80/0.65  +0.68/0.74  +0.12/1.65  +0.11/2.06  +0.005

The loadings' and the noise variance's blocks move towards the oracle
(cosine 0.64-0.85 and 0.68-0.98 against the defaults' 0.54-0.71 and
0.20-0.96; the per-pixel noise gradient +0.005 after 1,000 steps against
the defaults' +0.076 and the oracle's -0.093); the Laplace blocks stay
unrelated to the oracle (cosine +0.10 to +0.55, relative error 0.9 to 2.1).
The projection alone does not bring the data among the sleep samples:
standardised by them, the least-squares latents of 200 training patches
have a median radius of 1.8-2.2 against the sleep samples' 6.4-6.8 (15-31%
of the patches inside the sleep samples' 1-99% radius band; in pixel space
25-43%), inside the shell in 50 dimensions as in 256 (scratch code). What
the per-coordinate units add is that each coordinate's one-dimensional
marginal does cover the data; random units of the whole projected vector
alone changed nothing (scratch code: held-out ``score`` after 10 epochs
-287.2 against the defaults' -287.8). On the 2-D model (``--configs
defaults projected``, where ``n_hidden=100`` leaves no room for
per-coordinate units) every block keeps the right sign: plateau +0.90/0.67
+1.00/1.15 +1.00/0.11 +0.90/0.43 +0.96/0.27, truth +0.89/0.53 +0.99/0.41
+0.87/1.68 +0.99/1.65 +0.94/0.79. Fitted with it (``--patches
--fit-epochs 10 [--latent-dims D1 D2] [--seed S]``: ``fit`` for 10 epochs
from the random start, Table 1's settings; held-out ``score`` per patch,
MMD^2 of 5,000 samples at the held-out patches' median bandwidth, total
noise variance; seed 1 draws its own patches, hence its other MMD^2
scale; 2026-12-03, two runs side by side)::

    (50, 10), seed 0   defaults -287.79 0.2426 171.1   projected -262.80 0.2693 117.9
    (50, 10), seed 1   defaults -331.99 0.0044 183.9   projected -290.47 0.0198 119.1
    (10, 10), seed 0   defaults -291.29 0.2359 174.3   projected -282.41 0.2793 142.3
    (100, 10), seed 0  defaults -291.31 0.2575 181.8   projected -296.23 0.2673 181.0

Where ``D1 <= 50`` the noise stops growing to 67-72% of the data's
variance (46-56%) and held-out likelihood rises by 9-42 nats per patch,
past ``PCA(D1)``'s (-288.8 and -278.5 on seed 0's patches, -305.8 at
``D1 = 50`` on seed 1's); at ``D1 =
100``, where only two units per coordinate fit in ``n_hidden=500`` beside
the 250 or more joint ones, it is 5 nats worse. The MMD^2 at this bandwidth gets worse
everywhere (1.04-4.5 times), the disagreement between the two criteria
that IWAE-50 shows too (``benchmarks/README.md``). It reaches neither the
importance learner's likelihood nor Table 1's MMD^2 targets and leaves the
Laplace layer's gradient wrong, so it stays a measurement.

Trained by each gradient from one start (``--patches --train-steps 1000``:
the data-based start and 10 DDC steps, then 1,000 steps of 100 patches at
the estimator's step sizes; ``score`` on 1,000 test patches, noise variance,
``||Lambda||``, training seconds; 2026-12-02, nearly alone on the machine)::

    DDC gradient:    0: -310.07  66.5 5.61;   100: -271.10 116.2 3.69 (4 s);
                   400: -280.03 159.7 1.69;  1000: -285.26 168.1 0.65 (40 s)
    oracle gradient: 0: -310.07  66.5 5.61;   100: -253.55  81.5 8.35 (19 s);
                   400: -250.09  79.5 11.16; 1000: -246.86  78.9 12.31 (186 s)

With the right gradient (100 draws per patch) the same model family keeps
improving and ends 38 nats per patch above the DDC run, 24 above the best
model the DDC run passed, at 4.6 times the cost per step; the noise
variance settles at 79 instead of growing to 168. The gap on these patches
is the DDC estimate's, not the model's or the schedule's.

Where the Laplace layer's estimate goes wrong: at (10, 10) the oracle is
reliable (median ESS 234-294 of 2,000), and the patch mode prints the mean
over units of the Laplace bias gradient (positive: the latent scales
should grow). Measured 2026-12-04 (``--patches --latent-dims 10 10
--importance 2000 --seed 1 --configs defaults control-variate pooled-z2
rao-blackwell sleep-8000 gcv``), after 10 / 100 / 1,000 steps (var ``z_1``
179 / 535 / 3,355), mean bias gradient and the Laplace blocks' cosines::

    oracle           +0.0098 -0.0297 -0.0157
    defaults         -0.0491 +0.0050 +0.0070   W +0.70 -0.29 +0.16  b -0.30 -0.22 -0.13
    control-variate  -0.0502 +0.0031 +0.0047   W +0.72 -0.27 +0.10  b -0.24 -0.21 -0.07
    rao-blackwell    -0.0506 +0.0006 +0.0028   W +0.70 -0.29 +0.06  b -0.31 -0.05 +0.00
    sleep-8000       -0.0462 +0.0062 +0.0059   W +0.86 -0.66 +0.61  b -0.12 -0.29 -0.49
    gcv              -0.0359 +0.0033 +0.0075   W +0.70 -0.09 +0.32  b -0.36 -0.08 -0.24
    pooled-z2        +0.8147 -0.1147 -0.0624   W +0.58 +0.09 +0.97  b +0.85 +0.98 +0.87

and on seed 0's patches (var ``z_1`` 186 / 357 / 2,190; ``--seed 0
--configs defaults control-variate pooled-z2 rao-blackwell``): oracle
-0.0060 / +0.0021 / -0.0165, defaults -0.0093 / -0.0012 / -0.0021,
control-variate -0.0096 / -0.0003 / -0.0003, rao-blackwell -0.0081 /
-0.0003 / -0.0002, pooled-z2 +56.58 / -0.0800 / -0.0924. From 100 steps on
the DDC estimate misses the shrinking the true gradient asks for (wrong
sign on seed 1, eight times too weak on seed 0) while ``z_1``'s variance
grows 12-19 times. Neither the sleep samples' Monte Carlo noise (the
control variate, exact: the score has mean zero under the model), nor the
one ``z_2`` paired with each sleep ``z_1`` (Rao-Blackwellised over the
pool), nor their number, nor the penalty changes that; ``z_1`` drawn from
the Gaussian of the DDC posterior moments instead of the embedding weights
does (direction right on seed 1, cosine 0.85-0.98) at 4-83 times the size,
and is unstable (relative error 1,294 once on seed 0; 395 and 550 for the
2-D model's Laplace blocks at the truth). The 2-D model's rows (``--configs
defaults control-variate pooled-z2 rao-blackwell``)::

    plateau control-variate +0.86/0.61 +0.95/1.60 +1.00/0.07 +0.98/0.28 +0.99/0.13
            rao-blackwell   +0.86/0.61 +0.95/1.60 +1.00/0.07 +0.97/0.26 +0.99/0.17
            pooled-z2       +0.86/0.61 +0.95/1.60 +1.00/0.07 -0.07/1.44 -0.26/1.20
    truth   control-variate +0.90/0.44 +0.95/0.52 +0.82/3.15 +0.98/0.47 +0.98/0.36
            rao-blackwell   +0.90/0.44 +0.95/0.52 +0.82/3.15 +1.00/2.02 +0.75/0.86
            pooled-z2       +0.90/0.44 +0.95/0.52 +0.82/3.15 +0.48/550 -0.52/395

(the control variate cuts the Laplace blocks' error at the truth about
fourfold there, where the true gradient is small). Fitted for 10 epochs
(``--patches --fit-epochs 10 --latent-dims 10 10 --configs defaults
control-variate pooled-z2 gauge gcv``; ``score``, MMD^2)::

    seed 1  defaults -330.54 0.0298  control-variate -330.60 0.0326
            pooled-z2 -331.40 0.0009  gauge -336.36 0.1266  gcv -333.45 0.0202
    seed 0  defaults -283.89 0.2934  control-variate -283.79 0.2941
            pooled-z2 -286.47 0.2173  gauge -285.69 0.2980  gcv -286.01 0.2130

``gauge`` (:func:`fixed_latent_scale`) shows the growth of ``z_1`` is not a
drift along the ``z_1`` / ``Lambda`` symmetry: with the scale held, the
loadings grow instead. No configuration reaches the importance learner.

Kernel recognition units (``--configs defaults kernel-units``, seed 1,
same states): the observation blocks come close to the oracle (loadings
+0.96/0.30, +1.00/0.08, +1.00/0.08; noise gradient per pixel +0.1030,
+0.0699, +0.0559 against the oracle's +0.1088, +0.0679, +0.0547), the
Laplace blocks less wrong (weights +0.40, +0.36, +0.38; bias -0.17,
+0.34, -0.19; mean bias gradient -0.0152, -0.0040, +0.0030). Fitted for
10 epochs (``--fit-epochs 10 --configs kernel-units``) they lose
likelihood: seed 1 -354.01, MMD^2 0.0015, noise variance 183.0; seed 0
-292.00, 0.2071, 163.3 (the defaults -330.54 and -283.89 above).

The Laplace layer moving ten times slower (``--fit-epochs 10 --configs
slow-laplace``, :func:`slow_latent_layer`): seed 1 -331.56, MMD^2 0.0013,
noise variance 159.9; seed 0 -287.78, 0.2127, 157.7; at (50, 10), seed 0
(``--latent-dims 50 10 --configs defaults slow-laplace``) -276.29,
0.1924, 136.9 against the defaults' -255.67, 0.2427, 107.2. Whatever holds that
layer back (slow-laplace, gauge aside, pooled-z2, kernel units) moves the
fit along the same trade: closer by MMD^2 at this bandwidth, 1-24 nats
lower by likelihood, more variance in the noise.

**MNIST** (``--mnist DIR [DIR ...]``, the sigmoid belief networks that
``paper_mnist_sbn.py --save DIR`` fitted, 784-200-200-200): the oracle is
Gibbs sampling of the exact posterior
(:func:`sklearn_ddchm.utils._exact.gibbs_posterior_gradient`, the AIS
kernel at inverse temperature 1; 16 chains per image started from the
model's scoring proposal, 100 sweeps of burn-in, then every 5th of 100
more), on 50 training images, in two independent halves of 8 chains whose
cosine is the oracle's own noise; the DDC gradient is the mean of 5 steps'
on the same images. ``<g, theta>`` is the change of the mean
log-likelihood per unit of a relative scaling of a block (> 0: growing
the weights raises it); ``--scale 0.9`` checks it by AIS (4 x 100, paired)
at each weight block scaled by 0.9. Measured 2026-12-05 (``--mnist
/work/scratch/s25/e3 .../e12 .../d100s0 --scale 0.9``; the fits of seed 0
after 3, 12 and 38 epochs of ``benchmarks/README.md``'s "Likelihood along
a fit's length")::

    3 epochs   |oracle| |DDC| halves' cos  cos  rel  <g,theta> oracle  DDC
    layer0.weights  3.72  4.53   +0.99    +0.76 0.80      +14.95  +78.63
    layer0.bias    0.667 0.677   +1.00    +0.93 0.37       +4.82   +0.36
    layer1.weights  4.65  2.96   +0.98    +0.56 0.83       -4.78   -0.45
    layer1.bias    0.575 0.359   +0.98    +0.57 0.82       -0.23   -0.02
    layer2.weights 0.532  1.18   +0.63    +0.03 2.41       +0.04   -0.19
    x 0.9 by AIS: layer0 -1.55 +- 0.18 (oracle -1.49, DDC -7.86),
                  layer1 +0.58 +- 0.16 (+0.48, +0.05), layer2 -0.09 +- 0.16
    12 epochs
    layer0.weights  3.15   3.6   +0.94    +0.68 0.87      -13.66  +40.86
    layer1.weights  5.82   2.5   +0.97    +0.43 0.90      -14.09   -0.18
    layer2.weights 0.594 0.538   +0.87    +0.18 1.22       -0.14   +0.03
    x 0.9 by AIS: layer0 +1.08 +- 0.45 (oracle +1.37, DDC -4.09),
                  layer1 +0.63 +- 0.40 (+1.41, +0.02)
    38 epochs (the defaults' 20 minutes)
    layer0.weights  3.22  3.06   +0.93    +0.60 0.88      -56.57  +40.48
    layer0.bias    0.808 0.568   +0.96    +0.80 0.61       +3.80   +0.14
    layer1.weights  5.79  2.58   +0.97    +0.32 0.96      -20.89   +0.10
    layer2.weights 0.568 0.339   +0.98    +0.14 1.09       +0.15   +0.10
    x 0.9 by AIS: layer0 +4.49 +- 0.47 (oracle +5.66, DDC -4.05),
                  layer1 +1.31 +- 0.28 (+2.09, -0.01)

(nats per image). The oracle's halves agree (cosine 0.93-1.00 on the
lower blocks) and AIS confirms the sign of its ``<g, theta>`` on every
block where the change is outside the noise. The DDC gradient has the
right sign on every lower block (cosine 0.60-0.93) but not its radial
part: it grows the observation weights at every stage (``<g, theta>``
+40 to +79) where the likelihood wants them smaller from 12 epochs on
(-14 and -57), and it has almost no radial part for the middle weights
(-0.5 to +0.1 against -5 to -21) nor any alignment with the top
weights' gradient (cosine 0.03-0.18). That is the measured cause of the
sharpening: the wake gradient itself pushes the weights up, and the
likelihood's pull back is missing from it. ``--variant`` (the DDC
gradient again under other settings, the oracle stored beside each model
and reused) at the 12- and 38-epoch models, ``<g, theta>`` of the
observation weights (DDC defaults +40.9 / +40.5, oracle -13.7 / -56.6)::

    n_sleep_samples=2000           +51.7 / +39.0
    n_sleep_samples=5000           +49.4 / +37.2
    ... and n_hidden_=3000         +43.6 / +27.6
    ridge=0.01 / 0.0001            +36.5, +38.6 / +37.2, +37.3
    recognition_statistic=false    +40.9 / +40.5 (already off for binary data)
    kernel_bandwidth_ x0.5 / x2    +26.9, +45.8 / +21.4, +46.8
    ridge="gcv" (GCV chose 0.32)   -4.0 / -9.6 (cosine 0.75 / 0.70)

Only a much stronger ridge on the recognition regressions (GCV's choice,
300 times the default's) gives the observation weights' radial part the
right sign; no setting gives the middle layer its radial part (+0.3 at
most) or the top layer a cosine above 0.55.

``--proposal-draws 100 1000``: the same gradient by self-normalised
importance sampling from each model's scoring proposal (the conditional
Bernoulli proposal built on the DDC recognition model, what a reweighted
wake phase would use; :func:`importance_oracle`), cosines per block then
``<g, theta>`` of the three weight matrices::

  3 epochs, 100 draws (ESS 2.7)   +0.83 +0.95 +0.33 +0.35 -0.10 -0.14; +10.6  +2.9 -0.2
           1000 draws (ESS 3.3)   +0.83 +0.93 +0.46 +0.48 -0.07 -0.11;  +8.6  +1.2 +0.5
  12 epochs, 100 draws (ESS 11.8) +0.73 +0.83 +0.46 +0.47 +0.04 +0.09; -20.4  -6.1 +0.2
           1000 draws (ESS 21.2)  +0.74 +0.83 +0.45 +0.45 +0.21 +0.29; -22.6  -5.7 +0.3
  38 epochs, 100 draws (ESS 22.3) +0.73 +0.78 +0.71 +0.71 +0.87 +0.93; -56.5 -11.1 +0.2
           1000 draws (ESS 106)   +0.77 +0.84 +0.76 +0.76 +0.43 +0.56; -57.5 -10.1 +0.1

(oracle ``<g, theta>``: +15.0 / -4.8 at 3 epochs, -13.7 / -14.1 at 12,
-56.6 / -20.9 at 38, for the observation and middle weights). On the
sharpened models (12 and 38 epochs) importance sampling from the DDC
recognition's proposal gets both radial signs right, the observation
weights' to within 1 nat at 38 epochs, and aligns the middle weights far
better (cosine 0.71-0.76 against the DDC gradient's 0.32 at 38); at 3
epochs, where its effective sample size is about 3, it is no better than
the DDC gradient. At 100 draws per image it took about 1 s for the 50
images (a scratch timing), where a DDC step on 100 images takes 0.14 s.

``--finetune-steps 200 --proposal-draws 10 100``: each model trained 200
steps more (100 training images each, constant step 1e-3) by the DDC wake
phase and by a reweighted wake phase built on that estimate
(:func:`reweighted_wake_gradient`), then judged by MMD^2 and AIS
(:func:`mnist_finetunes`). Measured 2026-12-05 (two models side by side),
MMD^2 x the floor and log p(test) per image::

  38 epochs (1.36x, -145.06): DDC 1.66x -145.32; reweighted 10 draws
      3.56x -117.63, 100 draws 4.25x -117.22 (0.61 and 1.00 s per step
      against the DDC step's 0.06)
  6 epochs (1.46x, -110.77):  DDC 1.82x -110.76; reweighted 10 draws
      5.37x -110.66, 100 draws 5.86x -110.34

The reweighted phase undoes the 38-epoch model's sharpening but gains
nothing on the 6-epoch model, and moves both away from the data by MMD^2.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import pickle
import sys
import time
import warnings

import numpy as np

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm import _wake_sleep as ws
from sklearn_ddchm._binary_proposal import conditional_bernoulli_proposal
from sklearn_ddchm._helmholtz import PAPER_ALGORITHM
from sklearn_ddchm._importance import FactorisedProposal, importance_gradient
from sklearn_ddchm.datasets import load_sample_image_patches, make_sparse_hierarchical
from sklearn_ddchm.models import DeepExponentialFamily, GaussianLayer, GaussianPrior
from sklearn_ddchm.utils._exact import sparse_posterior_gradient
from sklearn_ddchm.utils._optim import Adam

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CONFIGS = {
    "defaults": {},
    "paper": PAPER_ALGORITHM,
    "weights-gradient": {"observation_gradient": "weights"},
    "paper-split": {"gradient_split": "paper"},
    "encodings": {"expectations": "encodings"},
    # the defaults before 2026-12-03: recognition features without the
    # observation layer's statistic Lambda^T Psi^-1 x
    "no-statistic": {"recognition_statistic": False},
    # the defaults with every row's embedding weights projected onto the
    # probability simplex (issue 13, item 5: weights kept a distribution);
    # not an estimator option, see simplex_weights
    "simplex": {"simplex": True},
    # the defaults with the recognition model's hidden features computed from
    # the least-squares estimate of z_1 (per coordinate and jointly) instead
    # of from x; not an estimator option, see projected_features
    "projected": {"projected": True},
    # the defaults with the sleep samples' mean score subtracted from every
    # latent layer's gradient (a control variate); not an estimator option,
    # see score_control_variate
    "control-variate": {"control_variate": True},
    # the defaults with the Laplace (z_1 -> z_2) layer's gradient from z_2 |
    # z_1 weighted over the sleep samples, z_1 drawn from the DDC posterior
    # moments' Gaussian or the sleep samples' (rao-blackwell); not estimator
    # options, see pooled_parent_gradient
    "pooled-z2": {"pooled_z2": "gaussian"},
    "rao-blackwell": {"pooled_z2": "sleep"},
    # the defaults with the ridge penalty chosen by generalised
    # cross-validation, and with 8 times Table 1's sleep samples
    # the defaults with the Laplace layer's mean scale reset to 1 every
    # GAUGE_EVERY steps, the loadings taking it over (patch_fits only); see
    # fixed_latent_scale
    "gauge": {"gauge": True},
    "gcv": {"ridge": "gcv"},
    "sleep-8000": {"n_sleep_samples": 8000},
    # the recognition model's hidden units as Gaussian kernels on the sleep
    # samples (the default for binary data) instead of random ReLU units
    "kernel-units": {"hidden_features": "kernel"},
    # the defaults with the Laplace (z_1 -> z_2) layer's step ten times
    # smaller (patch_fits only); see slow_latent_layer
    "slow-laplace": {"laplace_step": 0.1},
    # the observation statistic's columns in h(x) standardised per column,
    # not whitened (the defaults before 2026-12-05); see
    # standardised_statistic
    "standardised-statistic": {"standardised_statistic": True},
}
#: configuration keys that change training, not one gradient (patch_fits
#: only), and those that only make sense for one gradient (not patch_fits)
TRAINING_SWITCHES = ("gauge", "laplace_step")
GRADIENT_SWITCHES = ("simplex",)
#: configurations that change training (patch_fits only)
FIT_ONLY = tuple(
    name for name, config in CONFIGS.items() if set(TRAINING_SWITCHES) & set(config)
)
BLOCKS = (
    "layer0.weights",
    "layer0.bias",
    "layer0.log_var",
    "layer1.weights",
    "layer1.bias",
)


@contextlib.contextmanager
def simplex_weights(active=True):
    """The wake phase's embedding weights projected onto the simplex.

    Inside, every row of ``w(x)`` (``_wake_sleep.embedding_weights``) is
    replaced by its Euclidean projection onto the probability simplex
    (``_wake_sleep.project_to_simplex``):
    non-negative weights that sum to one, so every expectation of a training
    step is a convex combination of the sleep samples' values. This
    measures whether weights kept a distribution give a more accurate
    gradient; it is not an option of the estimator.
    """
    original = ws.embedding_weights
    if active:

        def projected(*args):
            W = original(*args)
            return ws.project_to_simplex(W) if W.ndim == 2 else W

        ws.embedding_weights = projected
    try:
        yield
    finally:
        ws.embedding_weights = original


@contextlib.contextmanager
def score_control_variate(active=True):
    """Latent-layer gradients with the sleep samples' mean score subtracted.

    The wake phase estimates ``E_q[grad log p(z_l | z_{l+1})]`` as
    ``sum_s w_s f(z^s)`` over the sleep samples (``_wake_sleep.latent_gradient``),
    with weights that sum to one. Under the model the score has mean zero
    exactly, ``E_p[grad log p(z_l | z_{l+1})] = 0``, so ``sum_s (w_s - 1/S)
    f(z^s)`` has the same expectation: inside, every latent layer's weights
    are shifted by ``-1/S``, which removes the Monte Carlo error of the
    sleep samples' own mean score. It measures how much of the latent
    layers' gradient error that noise is; it is not an option of the
    estimator.
    """
    original = ws.latent_gradient
    if active:

        def shifted(layer, child, parent, child_weights, parent_weights, **kwargs):
            uniform = 1.0 / child.shape[0]
            return original(
                layer,
                child,
                parent,
                child_weights - uniform,
                parent_weights - uniform,
                **kwargs,
            )

        ws.latent_gradient = shifted
    try:
        yield
    finally:
        ws.latent_gradient = original


#: z_1 draws per datum of ``pooled_parent_gradient(mode="gaussian")``
POOLED_DRAWS = 10


def pooled_layer_gradient(layer, child, row_weights, parents):
    """``sum_r row_weights_r E_{p(z_2 | z_1^r)}[grad log p(z_1^r | z_2)]`` over a pool.

    For each row ``z_1^r`` of ``child``, ``p(z_2 | z_1^r)`` is represented by
    the pool ``parents`` (draws of ``z_2`` from its prior: the sleep
    samples) with self-normalised weights ``p(z_1^r | z_2^s)``. The gradient
    is computed in the exponential family's form (the child's statistics
    contracted with the weights first), so no (rows x pool x D_1) array is
    built.
    """
    stats = layer.sufficient_statistics(child)
    log_w = stats @ layer.natural_parameters(parents).T
    log_w = log_w - layer.log_normalizer(parents)[None, :]
    log_w = log_w - log_w.max(axis=1, keepdims=True)
    w = np.exp(log_w)
    w = w / w.sum(axis=1, keepdims=True) * row_weights[:, None]
    g = layer.grad_natural(parents, w.T @ stats)
    g_phi = layer.grad_log_normalizer(parents, w.sum(axis=0))
    return {k: g[k] - g_phi[k] for k in g}


def gaussian_draws(mean, cov, random_state):
    """``POOLED_DRAWS`` draws of ``N(mean_b, cov)`` per row, shape (draws * n, D)."""
    n, dim = mean.shape
    values, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.maximum(values, 0.0))[None, :]
    noise = random_state.standard_normal((POOLED_DRAWS, n, dim))
    return (mean[None] + noise @ root.T).reshape(-1, dim)


@contextlib.contextmanager
def pooled_parent_gradient(mode=None):
    """The first latent layer's gradient by :func:`pooled_layer_gradient`.

    Inside, the wake phase's gradient of ``p(z_1 | z_2)`` (the Laplace layer
    of the sparse model) is replaced; ``z_2 | z_1`` is then represented by
    the sleep samples of ``z_2`` weighted by ``p(z_1 | z_2)`` (the model's
    own conditional, self-normalised over the pool) instead of by a
    regression on ``h(x)``. ``z_1``:

    - ``mode="gaussian"``: ``POOLED_DRAWS`` draws per datum from the
      Gaussian with the DDC posterior mean and covariance that the
      observation layer's moment form uses (``observation_gradient=
      "moments"``), averaged;
    - ``mode="sleep"``: the sleep samples of ``z_1`` with the batch-mean
      embedding weights, as the package does; only the inner expectation
      over ``z_2 | z_1`` changes (Rao-Blackwellised: a pool instead of the
      one paired ``z_2``).

    It locates the error of that block (the representation of ``z_1`` or of
    ``z_2 | z_1``); it is not an option of the estimator (two-latent-layer
    models with a moment-form observation layer only).
    """
    if mode is None:
        yield
        return
    wake = DDCHelmholtzEstimator._wake

    def pooled_wake(self, X_batch, phase, use_moments, criterion=True):
        grads, value = wake(self, X_batch, phase, use_moments, criterion)
        H_aug = ws.augment(self._hidden(X_batch))
        H_sleep_aug = ws.augment(phase.H_sleep)
        weights = ws.embedding_weights(H_sleep_aug, phase.embedding_gram, H_aug)
        mean_weights = np.mean(weights, axis=0)
        if mode == "sleep":
            child, row_weights = phase.sleep[1], mean_weights
        else:
            residuals = phase.sleep[1] - H_sleep_aug @ phase.mean_coefs
            cov = ws.posterior_covariance(
                residuals, mean_weights, dof=ws.ridge_dof(*phase.hidden_system)
            )
            child = gaussian_draws(
                H_aug @ phase.mean_coefs,
                cov,
                np.random.RandomState(self._n_sleep_phases),
            )
            row_weights = np.full(len(child), 1.0 / len(child))
        layer = self.model_.layers[1]
        g = pooled_layer_gradient(layer, child, row_weights, phase.sleep[2])
        for name in layer.trainable:
            grads[f"layer1.{name}"] = g[name]
        return grads, value

    DDCHelmholtzEstimator._wake = pooled_wake
    try:
        yield
    finally:
        DDCHelmholtzEstimator._wake = wake


#: steps between two resets of ``fixed_latent_scale``
GAUGE_EVERY = 10
#: draws of z_2 that ``fixed_latent_scale`` measures the scale on
GAUGE_DRAWS = 4000


def reset_latent_scale(model, random_state):
    """Rescale ``z_1`` to a mean Laplace scale of 1, ``Lambda`` taking it over.

    Per unit ``j``, ``c_j`` is the mean of ``s_j(z_2)`` over ``GAUGE_DRAWS``
    prior draws of ``z_2``; the Laplace layer's affine map is refitted (least
    squares, on the same draws) to the inverse softplus of ``s_j / c_j`` and
    column ``j`` of ``Lambda`` is multiplied by ``c_j``, which leaves
    ``p(x)`` unchanged up to the refit's error (softplus is not
    homogeneous). Returns the median relative error of the refitted scales.
    """
    params = model.get_parameters()
    _, (_, z2) = model.sample(GAUGE_DRAWS, random_state=random_state)
    weights, bias = params["layer1.weights"], params["layer1.bias"]
    scale = np.logaddexp(0.0, z2 @ weights.T + bias)
    c = scale.mean(axis=0)
    target = np.maximum(scale / c, 1e-8)
    design = np.hstack([z2, np.ones((len(z2), 1))])
    coef = np.linalg.lstsq(design, target + np.log(-np.expm1(-target)), rcond=None)[0]
    refit = np.logaddexp(0.0, design @ coef)
    model.set_parameters(
        {
            "layer1.weights": coef[:-1].T.copy(),
            "layer1.bias": coef[-1].copy(),
            "layer0.weights": params["layer0.weights"] * c[None, :],
        }
    )
    return float(np.median(np.abs(refit / target - 1.0)))


@contextlib.contextmanager
def fixed_latent_scale(active=True):
    """Training steps followed, every ``GAUGE_EVERY``, by :func:`reset_latent_scale`.

    ``p(x)`` is unchanged when ``z_1`` is scaled and ``Lambda`` scaled back,
    so this tests whether the growth of ``z_1``'s variance under the DDC
    gradient is a drift along that symmetry, which fixing the scale would
    stop. Adam's moment estimates are left as they were. It is not an
    option of the estimator.
    """
    if not active:
        yield
        return
    step = DDCHelmholtzEstimator._step
    # the estimator inherits _step: restoring must not leave a copy on the
    # subclass, which would hide later changes of the base class's method
    inherited = "_step" not in vars(DDCHelmholtzEstimator)

    def gauged_step(self, X_batch, rng, learning_rate, criterion=True):
        reason = step(self, X_batch, rng, learning_rate, criterion)
        self._gauge_steps = getattr(self, "_gauge_steps", 0) + 1
        if reason is None and self._gauge_steps % GAUGE_EVERY == 0:
            reset_latent_scale(self.model_, self._gauge_steps)
        return reason

    DDCHelmholtzEstimator._step = gauged_step
    try:
        yield
    finally:
        if inherited:
            del DDCHelmholtzEstimator._step
        else:
            DDCHelmholtzEstimator._step = step


@contextlib.contextmanager
def slow_latent_layer(factor=None):
    """The first latent layer's step size multiplied by ``factor`` in training.

    Inside, :meth:`DDCHelmholtzEstimator._step_scales` also scales the steps
    of ``layer1`` (the sparse model's Laplace layer): it measures what the
    fit gains or loses when the layer whose DDC gradient is least accurate
    moves less. It is not an option of the estimator.
    """
    if factor is None:
        yield
        return
    scales = DDCHelmholtzEstimator._step_scales

    def slowed(self):
        out = dict(scales(self) or {})
        for name in self.model_.layers[1].trainable:
            key = f"layer1.{name}"
            out[key] = out.get(key, 1.0) * factor
        return out

    DDCHelmholtzEstimator._step_scales = slowed
    try:
        yield
    finally:
        DDCHelmholtzEstimator._step_scales = scales


#: per-coordinate units of ``projected_features`` for each coordinate of z_1
PROJECTED_PER_COORDINATE = 5
#: ``projected_features`` keeps at least this many units of the whole vector
PROJECTED_MIN_JOINT = 250


def least_squares_latents(model, X):
    """The generalised least-squares estimate of ``z_1`` from ``X``.

    For a Gaussian observation layer ``x = Lambda z_1 + b + e``, ``e ~ N(0,
    Psi)``, ``z_hat = (Lambda^T Psi^-1 Lambda)^-1 Lambda^T Psi^-1 (x - b)``.
    As a function of ``z_1``, ``p(x | z_1)`` depends on ``x`` only through
    ``Lambda^T Psi^-1 (x - b)``, so the posterior of every latent given
    ``x`` is a function of ``z_hat`` alone: the pixels' noise directions
    drop out.
    """
    obs = model.layers[0]
    weights, bias = obs.affine_parameters()
    noise_var = obs.variance(np.zeros((1, weights.shape[1]), dtype=X.dtype))[0]
    scaled = weights / noise_var[:, None]  # Psi^-1 Lambda
    return np.linalg.solve(weights.T @ scaled, ((X - bias) @ scaled).T).T


@contextlib.contextmanager
def projected_features(active=True):
    """Recognition features of the least-squares latents instead of ``x``.

    Inside, :class:`DDCHelmholtzEstimator`'s hidden layer ``h(x)`` (Eq. 8)
    is computed from ``s``, :func:`least_squares_latents` of the current
    model standardised by the sleep samples of the same step (so ``h``
    follows the model, and the sleep samples and the data of one step see
    the same map): ``n_hidden - PROJECTED_PER_COORDINATE * D_1`` random ReLU
    units of the whole of ``s`` (at least :data:`PROJECTED_MIN_JOINT`) and
    ``PROJECTED_PER_COORDINATE`` units ``[a s_i + c]_+`` of each coordinate
    alone (random slopes ``a`` and offsets ``c``, standard normal). It
    measures whether a recognition model suited to the observation layer
    repairs the patch gradient; it is not an estimator option (only for a
    Gaussian observation layer with a mean linear in ``z_1``, NumPy only).
    """
    if not active:
        yield
        return
    hidden, sleep = DDCHelmholtzEstimator._hidden, DDCHelmholtzEstimator._sleep

    def projected_hidden(self, X, sleep_phase=False):
        Z = least_squares_latents(self.model_, X)
        if getattr(self, "_projected_scale", None) is None:
            # the first call after a sleep phase began: its sleep samples
            scale = Z.std(axis=0)
            self._projected_scale = (Z.mean(axis=0), np.where(scale > 0, scale, 1.0))
        mean, scale = self._projected_scale
        S = (Z - mean) / scale
        n, d = S.shape
        # units per coordinate: at most PROJECTED_PER_COORDINATE, leaving at
        # least PROJECTED_MIN_JOINT joint ones
        per = max(
            0,
            min(PROJECTED_PER_COORDINATE, (self.n_hidden_ - PROJECTED_MIN_JOINT) // d),
        )
        n_joint = self.n_hidden_ - per * d
        units = getattr(self, "_projected_units", None)
        if units is None or units[0].shape != (n_joint, d):
            seed = self.random_state if isinstance(self.random_state, int) else 0
            rng = np.random.RandomState(seed)
            units = (
                rng.standard_normal((n_joint, d)) / np.sqrt(d),
                rng.standard_normal(n_joint),
                rng.standard_normal((per, d)),
                rng.standard_normal((per, d)),
            )
            units = tuple(u.astype(X.dtype) for u in units)
            self._projected_units = units
        W, b, a, c = units
        joint = np.maximum(S @ W.T + b, 0.0)
        single = np.maximum(S[:, None, :] * a[None] + c[None], 0.0).reshape(n, -1)
        return np.concatenate([joint, single], axis=1)

    def projected_sleep(self, *args, **kwargs):
        self._projected_scale = None
        return sleep(self, *args, **kwargs)

    DDCHelmholtzEstimator._hidden = projected_hidden
    DDCHelmholtzEstimator._sleep = projected_sleep
    try:
        yield
    finally:
        DDCHelmholtzEstimator._hidden = hidden
        DDCHelmholtzEstimator._sleep = sleep


@contextlib.contextmanager
def standardised_statistic(active=True):
    """The observation statistic's columns in ``h(x)`` only standardised.

    Inside, :func:`sklearn_ddchm._wake_sleep.whitening` returns the identity
    (the centre stays), so the columns ``t(x)`` enter ``h(x)`` standardised
    per column, as before 2026-12-05: the design whose relative ridge
    penalty shrinks the directions in which ``t(x)`` varies little. Not an
    option of the estimator.
    """
    original = ws.whitening
    if active:

        def identity(S):
            centre, W = original(S)
            return centre, np.eye(W.shape[0], dtype=W.dtype)

        ws.whitening = identity
    try:
        yield
    finally:
        ws.whitening = original


#: configuration keys that are not estimator parameters: the context manager
#: each one's value is passed to (False or None: off)
SWITCHES = {
    "simplex": simplex_weights,
    "projected": projected_features,
    "control_variate": score_control_variate,
    "pooled_z2": pooled_parent_gradient,
    "gauge": fixed_latent_scale,
    "laplace_step": slow_latent_layer,
    "standardised_statistic": standardised_statistic,
}


def split_configuration(config, training):
    """A configuration's estimator parameters and its switches, not yet entered.

    ``training``: whether the switches will be on during a ``fit``
    (:func:`patch_fits`) rather than one gradient (:func:`mean_ddc_gradient`);
    a switch meant for the other raises a ValueError.
    """
    params, switches = dict(config), []
    for key, manager in SWITCHES.items():
        value = params.pop(key, None)
        if value is None or value is False:
            continue
        if training and key in GRADIENT_SWITCHES:
            raise ValueError(f"patch_fits does not run the {key} configuration")
        if not training and key in TRAINING_SWITCHES:
            raise ValueError(
                f"the {key} configuration changes training: patch_fits only"
            )
        switches.append(manager(value))
    return params, switches


def mean_ddc_gradient(model, X_fit, X, n_repeats=5, random_state=0, **config):
    params, switches = split_configuration(config, training=False)
    est = DDCHelmholtzEstimator(model=model, random_state=random_state, **params)
    est._validate_params()
    est._initialize(est._validate_X(X_fit, reset=True))
    with contextlib.ExitStack() as stack:
        for switch in switches:
            stack.enter_context(switch)
        grads = [est._gradient_step(X, est.random_state_)[0] for _ in range(n_repeats)]
    return {k: np.mean([g[k] for g in grads], axis=0) for k in grads[0]}


def compare(ddc, oracle):
    out = []
    for k in BLOCKS:
        rel = np.linalg.norm(ddc[k] - oracle[k]) / np.linalg.norm(oracle[k])
        out.append(f"{cosine(ddc[k], oracle[k]):+.2f}/{rel:.2f}")
    return "  ".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--patches",
        action="store_true",
        help="the Table 1 patch model instead (see patch_oracle)",
    )
    parser.add_argument("--latent-dims", type=int, nargs=2, default=(50, 10))
    parser.add_argument("--steps", type=int, nargs="+", default=(10, 100, 1000))
    parser.add_argument("--importance", type=int, default=4000)
    parser.add_argument(
        "--rows", type=int, default=None, help="200 (--patches), 50 (--mnist)"
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=CONFIGS,
        default=None,
        help="the DDC configurations to compare (default: all of them on the "
        "synthetic model, defaults and encodings on the patches)",
    )
    parser.add_argument(
        "--train-steps",
        type=int,
        default=0,
        help="with --patches: train with the DDC and the oracle gradient instead",
    )
    parser.add_argument(
        "--fit-epochs",
        type=int,
        default=0,
        help="with --patches: fit each configuration for this many epochs "
        "instead (see patch_fits)",
    )
    parser.add_argument(
        "--mnist",
        nargs="+",
        default=None,
        metavar="DIR",
        help="fitted MNIST SBNs (paper_mnist_sbn.py --save DIR) against a "
        "Gibbs oracle instead (see mnist_oracle)",
    )
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--sweeps", type=int, nargs=2, default=(100, 100))
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="with --mnist: check each weight block's <g, theta> by AIS at "
        "the block scaled by this factor",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=VALUE[,NAME=VALUE]",
        help="with --mnist: the DDC gradient again with these parameters or "
        "fitted attributes (JSON values; repeatable)",
    )
    parser.add_argument(
        "--proposal-draws",
        type=int,
        nargs="+",
        default=(),
        help="with --mnist: also the gradient by importance sampling from "
        "each model's scoring proposal, with these draws per image",
    )
    parser.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="with --mnist: train each model this many steps more by the DDC "
        "and by a reweighted wake phase (--proposal-draws draws) instead",
    )
    args = parser.parse_args(argv)
    if args.mnist and args.finetune_steps:
        mnist_finetunes(args.mnist, args.finetune_steps, args.proposal_draws)
        return
    if args.mnist:
        mnist_oracle(
            args.mnist,
            n_rows=args.rows or 50,
            n_chains=args.chains,
            n_burn=args.sweeps[0],
            n_keep=args.sweeps[1],
            seed=args.seed,
            scale=args.scale,
            variants=[
                (
                    spec,
                    {
                        item.split("=", 1)[0]: json.loads(item.split("=", 1)[1])
                        for item in spec.split(",")
                    },
                )
                for spec in args.variant
            ],
            importance=args.proposal_draws,
        )
        return
    if args.patches and args.fit_epochs:
        patch_fits(
            tuple(args.latent_dims),
            args.fit_epochs,
            seed=args.seed,
            configs=args.configs or ("defaults", "projected"),
        )
        return
    if args.patches and args.train_steps:
        patch_training(tuple(args.latent_dims), args.train_steps, seed=args.seed)
        return
    if args.patches:
        patch_oracle(
            tuple(args.latent_dims),
            args.steps,
            n_importance=args.importance,
            n_rows=args.rows or 200,
            seed=args.seed,
            configs=args.configs or ("defaults", "encodings"),
        )
        return
    X, _, truth = make_sparse_hierarchical(4000, random_state=args.seed)
    batch = X[:200]
    plateau = DDCHelmholtzEstimator(
        max_iter=args.epochs, random_state=args.seed, **PAPER_ALGORITHM
    ).fit(X)
    print(
        "blocks: " + "  ".join(BLOCKS) + "  (cosine/relative error per block)",
        flush=True,
    )
    for name, model in [("plateau", plateau.model_), ("truth", truth)]:
        oracle = sparse_posterior_gradient(model, batch)
        norms = " ".join(f"{np.linalg.norm(oracle[k]):.3f}" for k in BLOCKS)
        print(f"\n{name}: oracle gradient norms per block {norms}")
        for config in args.configs or [c for c in CONFIGS if c not in FIT_ONLY]:
            ddc = mean_ddc_gradient(model, X, batch, **CONFIGS[config])
            print(f"  {config:11s} {compare(ddc, oracle)}", flush=True)
    factor_model_noise_gradient()


def mnist_rows(n_rows, seed, mnist_dir=None, cache="~/.cache/sklearn_ddchm"):
    """``n_rows`` random training images of MNIST, binarised as
    ``paper_mnist_sbn.py`` binarises them (seed 0)."""
    from paper_mnist_sbn import fetch_mnist_dir

    from sklearn_ddchm.datasets import binarize, load_mnist

    folder = mnist_dir or fetch_mnist_dir(os.path.expanduser(cache))
    X_train = binarize(load_mnist(folder)[0], 0)
    rng = np.random.RandomState(seed)
    return X_train[rng.permutation(len(X_train))[:n_rows]]


def radial(gradient, params):
    """``<g, theta>``: the change of the mean log-likelihood per unit of a
    relative scaling ``theta -> (1 + a) theta`` of one block (> 0: growing
    the block raises it)."""
    return float(np.ravel(gradient) @ np.ravel(np.asarray(params, float)))


def mnist_oracle(
    paths,
    n_rows=50,
    n_chains=16,
    n_burn=100,
    n_keep=100,
    seed=0,
    scale=None,
    variants=(),
    importance=(),
):
    """The DDC wake gradient of fitted MNIST SBNs (``paper_mnist_sbn.py
    --save DIR``) against :func:`gibbs_posterior_gradient` on ``n_rows``
    training images (:func:`sbn_gradients`, :func:`print_gradients`; the
    oracle is stored in ``DIR`` and reused by later runs of the same
    settings). With
    ``scale`` each weight block is also multiplied by it, and the change of
    the images' mean log-likelihood by AIS is printed beside the first-order
    predictions of both gradients (:func:`scale_check`). ``variants``:
    ``(label, {name: value})`` pairs, the DDC gradient again from a copy of
    the estimator so changed (:func:`mean_gradient_of_copy`), each printed
    as one line of cosines and ``<g, theta>`` per block; ``importance``:
    draws per image of :func:`importance_oracle` (importance sampling from
    the scoring proposal, the gradient a reweighted wake phase would use),
    printed alike."""
    X = mnist_rows(n_rows, seed)
    for path in paths:
        est = pickle.load(open(os.path.join(path, "DDC-HM.pkl"), "rb"))
        X_est = X.astype(est.model_.layers[0].params["bias"].dtype)
        start = time.time()
        cache = os.path.join(
            path, f"oracle-{n_rows}-{n_chains}-{n_burn}-{n_keep}-{seed}.npz"
        )
        result = sbn_gradients(est, X_est, n_chains, n_burn, n_keep, seed, cache)
        print(
            f"\n{path}: Gibbs oracle, {n_chains} chains x {n_rows} images, "
            f"{n_burn} + {n_keep} sweeps ({time.time() - start:.0f} s), log p(x, "
            f"z) {result['log_joint'][0]:.1f} -> {result['log_joint'][1]:.1f} "
            "over the last half's kept sweeps"
        )
        print_gradients(result)
        params, oracle = result["params"], result["oracle"]
        others = [
            (label, mean_gradient_of_copy(est, X_est, seed, changes))
            for label, changes in variants
        ]
        for n in importance:
            rng = np.random.RandomState(seed)
            gradient, ess = importance_oracle(est, X_est, n, rng)
            label = f"importance, {n} draws (ESS median {np.median(ess):.1f})"
            others.append((label, {k: gradient[k] for k in params}))
        for label, other in others:
            cosines = " ".join(f"{cosine(other[k], oracle[k]):+.2f}" for k in other)
            radials = " ".join(
                f"{radial(other[k], params[k]):+.1f}"
                for k in other
                if k.endswith("weights")
            )
            print(f"  {label}: cos {cosines}; <g,theta> weights {radials}", flush=True)
        if scale is not None:
            for k, change, stderr, by_oracle, by_ddc in scale_check(
                est, X_est, result, scale
            ):
                print(
                    f"  {k} x {scale}: AIS change {change:+.2f} +- {stderr:.2f} "
                    f"nats per image; first order: oracle {by_oracle:+.2f}, DDC "
                    f"{by_ddc:+.2f}",
                    flush=True,
                )


def sbn_gradients(est, X, n_chains=16, n_burn=100, n_keep=100, seed=0, cache=None):
    """The Gibbs oracle of ``est``'s model on ``X`` in two independent halves
    of ``n_chains`` chains (their agreement is the oracle's own noise),
    started from the estimator's scoring proposal, and the mean of 5 DDC
    wake gradients on the same rows. Returns a dict: ``oracle`` (the halves'
    mean), ``halves``, ``ddc``, ``params`` (the trained parameters) and
    ``log_joint`` (the last half's first and last kept sweep). With a
    ``cache`` path the oracle is read from there if it exists (the DDC
    gradient is always recomputed), else stored there."""
    from sklearn_ddchm.utils._exact import gibbs_posterior_gradient

    params = est._trained_parameters()
    if cache is not None and os.path.exists(cache):
        stored = np.load(cache)
        halves = [{k: stored[f"half{h}." + k] for k in params} for h in (0, 1)]
        log_joint = tuple(stored["log_joint"])
    else:
        halves = []
        for half in range(2):
            gradient, log_joint = gibbs_posterior_gradient(
                est.model_,
                X,
                est._scoring_proposal(X, for_ais=True),
                n_chains=n_chains // 2,
                n_burn=n_burn,
                n_keep=n_keep,
                random_state=seed + half,
            )
            halves.append(gradient)
        if cache is not None:
            np.savez(
                cache,
                log_joint=np.asarray(log_joint),
                **{f"half{h}." + k: halves[h][k] for h in (0, 1) for k in params},
            )
    return {
        "oracle": {k: (halves[0][k] + halves[1][k]) / 2 for k in params},
        "halves": halves,
        "ddc": mean_gradient_of_copy(est, X, seed),
        "params": params,
        "log_joint": log_joint,
    }


def print_gradients(result):
    """Per trained block: norms, the oracle halves' cosine, the DDC
    gradient's cosine and relative error against the oracle, and ``<g,
    theta>`` of each (:func:`radial`)."""
    print(
        "  block           |oracle|  |DDC|  halves' cos  cos   rel"
        "   <g,theta> oracle  DDC"
    )
    oracle, halves, params = result["oracle"], result["halves"], result["params"]
    for k, ddc in result["ddc"].items():
        error = np.linalg.norm(ddc - oracle[k]) / np.linalg.norm(oracle[k])
        print(
            f"  {k:15s} {np.linalg.norm(oracle[k]):8.3g} {np.linalg.norm(ddc):6.3g}"
            f"  {cosine(halves[0][k], halves[1][k]):+11.2f}"
            f" {cosine(ddc, oracle[k]):+5.2f} {error:5.2f}"
            f"   {radial(oracle[k], params[k]):+15.2f} {radial(ddc, params[k]):+6.2f}",
            flush=True,
        )
    # A Bernoulli observation layer's bias gradient is E_q[x - sigmoid(a)]
    # per pixel: summed, the images' ink minus the ink the posterior
    # predicts for them.
    key = "layer0.bias"
    if key in oracle:
        print(
            "  observation biases' gradient summed over pixels (images' ink "
            f"minus posterior-predicted ink): oracle {np.sum(oracle[key]):+.3f} "
            f"(halves {np.sum(halves[0][key]):+.3f} / {np.sum(halves[1][key]):+.3f}),"
            f" DDC {np.sum(result['ddc'][key]):+.3f}",
            flush=True,
        )


def scale_check(est, X, result, scale):
    """For each weight block: the change of the mean log-likelihood of ``X``
    (AIS, 4 chains x 100 temperatures, the same noise for every model) when
    that block alone is multiplied by ``scale``, its standard error over
    the rows, and the first-order predictions ``(scale - 1) <g, theta>`` of
    the oracle and of the DDC gradient in ``result`` (:func:`sbn_gradients`)."""
    from sklearn_ddchm import log_likelihood

    def mean_log_likelihood(model):
        with warnings.catch_warnings():
            # most rows' 4 weights are unbalanced; the change is paired
            warnings.simplefilter("ignore")
            values = log_likelihood(
                model, X, n_temperatures=100, n_samples=4, random_state=0
            ).log_likelihood
        return np.asarray(values, float)

    params = result["params"]
    reference = mean_log_likelihood(est)
    rows = []
    for k in (k for k in params if k.endswith("weights")):
        model = copy.deepcopy(est)
        model._set_trained_parameters({k: params[k] * scale})
        change = mean_log_likelihood(model) - reference
        rows.append(
            (
                k,
                change.mean(),
                change.std(ddof=1) / np.sqrt(len(change)),
                (scale - 1) * radial(result["oracle"][k], params[k]),
                (scale - 1) * radial(result["ddc"][k], params[k]),
            )
        )
    return rows


def mean_gradient_of_copy(est, X, seed, changes=None):
    """The mean of 5 DDC wake gradients on ``X`` from a copy of ``est`` (its
    sleep phase re-places the kernel units), with ``changes`` applied (see
    :func:`mnist_oracle`)."""
    work = copy.deepcopy(est)
    for name, value in (changes or {}).items():
        if name.endswith("_"):
            setattr(work, name, value)
        else:
            work.set_params(**{name: value})
    rng = np.random.RandomState(seed)
    draws = [work._gradient_step(X, rng)[0] for _ in range(5)]
    return {
        k: np.mean([np.asarray(d[k], float) for d in draws], axis=0) for k in draws[0]
    }


def cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


#: the patch model's DDC-HM: Table 1's settings (``paper_patches.py``)
PATCH_SETTINGS = dict(n_encoding=(500, 100), n_hidden=500, n_sleep_samples=1000)
#: rows per ``importance_gradient`` call: memory of n_importance x rows x 256
ORACLE_CHUNK = 10


def patch_estimator(latent_dims, decay_samples, seed):
    """Table 1's DDC-HM on the patches, its step decaying over ``decay_samples``.

    Without ``partial_fit``'s averaging (``average_fraction=0``): its streams
    compare gradients at, and train the oracle's rival from, the iterate
    itself, as when these figures were measured."""
    return DDCHelmholtzEstimator(
        model="sparse",
        latent_dims=latent_dims,
        learning_rate_decay_samples=decay_samples,
        average_fraction=0.0,
        random_state=seed,
        **PATCH_SETTINGS,
    )


def importance_oracle(est, X, n_importance, random_state):
    """The true gradient of the mean log-likelihood of ``X`` under
    ``est.model_``, by self-normalised importance sampling
    (:func:`~sklearn_ddchm._importance.importance_gradient`, ``n_importance``
    draws per row from the estimator's scoring proposal), in chunks of
    ``ORACLE_CHUNK`` rows; returns the gradient (keyed like the model's
    parameters) and every row's effective sample size."""
    oracle, ess = {}, []
    for at in range(0, len(X), ORACLE_CHUNK):
        rows = X[at : at + ORACLE_CHUNK]
        g, e, _ = importance_gradient(
            est.model_, rows, est._scoring_proposal(rows), n_importance, random_state
        )
        for k, v in g.items():
            oracle[k] = oracle.get(k, 0.0) + v * len(rows) / len(X)
        ess.append(e)
    return oracle, np.concatenate(ess)


def reweighted_wake_gradient(est, X, n_draws, rng):
    """One step's gradient of a reweighted wake phase for an SBN (a scratch
    algorithm, not an option of the package).

    The sleep phase of the defaults (``expectations="embedding"``: it trains
    the recognition model on the step's sleep samples), then the gradient of
    the mean log-likelihood of ``X`` by self-normalised importance sampling
    (:func:`~sklearn_ddchm._importance.importance_gradient`, ``n_draws``
    draws per row) from the conditional Bernoulli proposal built as the
    scoring proposal is, on the embedding's posterior means ``E[z_l | x] =
    sum_s w_s(x) z_l^s`` of this step's sleep samples. Returns what
    ``_gradient_step`` returns (the gradients of the trainable parameters,
    no optimiser state, the rows' mean importance estimate of ``log p(x)``)
    and the rows' effective sample sizes.
    """
    model = est.model_
    est._n_sleep_phases += 1
    phase = est._sleep(est.n_sleep_samples, rng, accumulate=True, encodings=False)
    weights = ws.embedding_weights(
        ws.augment(phase.H_sleep), phase.embedding_gram, ws.augment(est._hidden(X))
    )
    layers = range(1, model.n_latent_layers + 1)
    recognition = FactorisedProposal(
        [weights @ phase.sleep[l] for l in layers],
        [None for _ in layers],
        [True for _ in layers],
        [np.mean(phase.sleep[l], axis=0)[None, :] for l in layers],
        [None for _ in layers],
    )
    proposal = conditional_bernoulli_proposal(model, X, recognition)
    grads, ess, log_px = importance_gradient(model, X, proposal, n_draws, rng)
    trainable = model.trainable_parameters()
    return ({k: grads[k] for k in trainable}, {}, np.mean(log_px)), ess


def reweighted_finetune(est, X, n_draws, learning_rate):
    """``est`` (a fitted MNIST SBN, changed in place) trained on ``X`` for
    one epoch more by ``fit`` with ``warm_start``, at the constant step
    ``learning_rate`` (the defaults' last), by the DDC wake phase
    (``n_draws=None``) or by :func:`reweighted_wake_gradient` with
    ``n_draws`` draws; returns the seconds per step and the median over
    steps of the steps' median effective sample size."""
    est.set_params(warm_start=True, max_iter=1, learning_rate=learning_rate)
    est.set_params(learning_rate_decay=1.0)
    medians = []
    if n_draws is not None:

        def step(X_batch, rng, criterion=True):
            result, ess = reweighted_wake_gradient(est, X_batch, n_draws, rng)
            medians.append(float(np.median(ess)))
            return result

        est._gradient_step = step
    start = time.process_time()
    try:
        est.fit(X)
    finally:
        vars(est).pop("_gradient_step", None)
    steps = est._minibatches(X.shape[0])[1]
    return (time.process_time() - start) / steps, (
        float(np.median(medians)) if medians else float("nan")
    )


def mnist_finetunes(paths, n_steps, draws, n_images=100, learning_rate=1e-3, seed=7):
    """Each fitted MNIST SBN (``paper_mnist_sbn.py --save DIR``) trained for
    ``n_steps`` more steps (one epoch of ``n_steps`` minibatches of random
    training images, :func:`reweighted_finetune`) by the DDC wake phase and
    by the reweighted wake phase with each of ``draws``; every model, the
    start included, judged by ``paper_mnist_sbn.py``'s yardstick (MMD^2 of
    five draws of 10,000 samples to 10,000 test images, its floor, the
    samples' ink) and by AIS (4 chains x 100 temperatures from the scoring
    proposal) on ``bench_ais.py score``'s first ``n_images`` test images."""
    from bench_ais import load_images
    from paper_mnist_sbn import _mmd_line, evaluation_data, sample_draws

    from sklearn_ddchm import log_likelihood

    mnist = os.path.expanduser("~/.cache/sklearn_ddchm")
    yardstick = evaluation_data(None, mnist, 10_000, 5)
    X_test = load_images(
        argparse.Namespace(data=None, mnist_dir=None, cache=mnist, images=n_images)
    )
    rows = np.random.RandomState(seed).choice(
        len(yardstick.X_train), n_steps * 100, replace=False
    )
    print(
        f"floor MMD^2 {yardstick.floor:.3e}; {n_steps} steps of 100 training "
        f"images at a constant step of {learning_rate:g}; AIS 4 x 100 on "
        f"{len(X_test)} test images"
    )
    for path in paths:
        start_model = pickle.load(open(os.path.join(path, "DDC-HM.pkl"), "rb"))
        dtype = start_model.model_.layers[0].params["bias"].dtype
        X_fit = yardstick.X_train[rows].astype(dtype)
        runs = [("start", start_model, "")]
        for n_draws in (None, *draws):
            est = copy.deepcopy(start_model).set_params(batch_size=100)
            per_step, ess = reweighted_finetune(est, X_fit, n_draws, learning_rate)
            label = "DDC wake" if n_draws is None else f"reweighted, {n_draws} draws"
            detail = f" ({per_step:.2f} s/step" + (
                ")" if n_draws is None else f", ESS median {ess:.1f})"
            )
            runs.append((label, est, detail))
        base = None
        for label, est, detail in runs:
            samples = sample_draws(est, 10_000, 5)
            ll = np.asarray(
                log_likelihood(
                    est,
                    X_test.astype(dtype),
                    n_samples=4,
                    n_temperatures=100,
                    random_state=0,
                ).log_likelihood,
                dtype=float,
            )
            base = ll if base is None else base
            paired = ll - base
            paired_se = paired.std(ddof=1) / np.sqrt(len(ll))
            mmd_line = _mmd_line(
                yardstick.X_eval, samples, yardstick.sigma, yardstick.floor
            )
            print(
                f"{path} {label}{detail}: {mmd_line}; log p(test) "
                f"{ll.mean():.2f} ({paired.mean():+.2f} +- {paired_se:.2f} "
                "against the start)",
                flush=True,
            )


def patch_oracle(
    latent_dims=(50, 10),
    steps=(10, 100, 1000),
    n_importance=4000,
    n_rows=200,
    seed=0,
    n_train=10_000,
    block=1000,
    configs=("defaults", "encodings"),
):
    """The DDC wake gradient against the importance-sampling oracle on patches.

    Table 1's sparse model and settings on scikit-learn's sample photographs
    (``n_train`` patches, as ``paper_patches.py``), fitted from its
    data-based start by ``partial_fit`` on ``block``-row blocks (100-row
    steps, the first block also initialising the model; the step decays over
    30 epochs). After each number of ``steps`` (the first is at least one
    block's)
    the DDC gradient of each of ``configs`` (mean of 5 steps with fresh sleep
    samples) is compared, block by block, with the true gradient of the
    log-likelihood on ``n_rows`` further training patches:
    :func:`~sklearn_ddchm._importance.importance_gradient` with
    ``n_importance`` draws per patch from the linear-Gaussian scoring
    proposal (its median effective sample size is printed; the oracle is
    trustworthy where that is in the tens or more). Also printed, the
    model's state: total observation noise variance, ``||Lambda||_F`` and the
    total variance of ``z_1``.
    """
    data = load_sample_image_patches(n_train=n_train, n_test=1, random_state=seed)
    X = data.X_train
    X_fit, batch = X[: n_train - n_rows], X[n_train - n_rows :]
    est = patch_estimator(latent_dims, 30 * len(X_fit), seed)
    rng = np.random.RandomState(seed)
    done = 0
    print(
        f"patch model {latent_dims}: cosine/relative error per block "
        + "  ".join(BLOCKS),
        flush=True,
    )
    for target in sorted(steps):
        while done < max(target, 1):
            rows = rng.choice(len(X_fit), block, replace=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.partial_fit(X_fit[rows])
            done = est.n_samples_seen_ // est._batch_size(block)
        oracle, ess = importance_oracle(
            est, batch, n_importance, np.random.RandomState(seed + 1)
        )
        params = est.model_.get_parameters()
        _, latents = est.model_.sample(2000, random_state=0)
        norms = " ".join(f"{np.linalg.norm(oracle[k]):.3g}" for k in BLOCKS)
        noise = np.exp(params["layer0.log_var"]).sum()
        print(
            f"\n{done} steps: noise variance {noise:.1f}"
            f", ||Lambda|| {np.linalg.norm(params['layer0.weights']):.2f}, "
            f"var z_1 {latents[0].var(axis=0).sum():.0f}; oracle median ESS "
            f"{np.median(ess):.0f} of {n_importance}; "
            f"oracle norms {norms}",
            flush=True,
        )
        for config in configs:
            ddc = mean_ddc_gradient(
                est.model_.copy(),
                X_fit[:block],
                batch,
                **{**PATCH_SETTINGS, **CONFIGS[config]},
            )
            print(
                f"  {config:11s} {compare(ddc, oracle)}  d/d log var per "
                f"pixel {np.mean(ddc['layer0.log_var']):+.4f} (oracle "
                f"{np.mean(oracle['layer0.log_var']):+.4f}); d/d Laplace "
                f"bias per unit {np.mean(ddc['layer1.bias']):+.4f} (oracle "
                f"{np.mean(oracle['layer1.bias']):+.4f})",
                flush=True,
            )


#: draws per patch of the oracle gradient when it trains (patch_training)
TRAINING_IMPORTANCE = 100
#: checkpoints of patch_training (steps)
TRAINING_CHECKPOINTS = (0, 50, 100, 200, 400, 600, 1000, 2000, 3000)


def patch_training(
    latent_dims=(50, 10),
    n_steps=1000,
    seed=0,
    n_train=10_000,
    n_test=1000,
    block=1000,
    n_importance=TRAINING_IMPORTANCE,
):
    """The patch model trained by its DDC gradient and by the oracle's.

    Both runs start from the same model: the data-based start and one
    ``block`` of DDC steps (as :func:`patch_oracle`). Then ``n_steps``
    minibatch steps of 100 patches at the estimator's own step sizes (Adam,
    ``learning_rate`` decayed as in ``fit`` over ``n_steps``, the fan-in
    scales), once with the DDC wake gradient (``partial_fit``) and once with
    :func:`~sklearn_ddchm._importance.importance_gradient` (``n_importance``
    draws per patch from the linear-Gaussian proposal). Printed at the
    checkpoints: held-out ``score`` on ``n_test`` test patches, total noise
    variance, ``||Lambda||_F`` and seconds of training (the oracle run has its
    own Adam, started afresh; the DDC run continues the estimator's). What
    the model family
    reaches on these patches when the gradient is right, and so how much of
    the gap is the DDC estimate's.
    """
    data = load_sample_image_patches(n_train=n_train, n_test=n_test, random_state=seed)
    X, X_test = data.X_train, data.X_test
    start = patch_estimator(latent_dims, 100 * n_steps, seed)
    rng = np.random.RandomState(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.partial_fit(X[rng.choice(len(X), block, replace=False)])
    start.set_params(learning_rate_decay_samples=start.n_samples_seen_ + 100 * n_steps)
    for gradient in ("DDC", "oracle"):
        est = copy.deepcopy(start)
        rng = np.random.RandomState(seed + 1)
        optimizer = Adam(est.learning_rate_)
        seconds = 0.0
        print(f"\n{latent_dims} trained with the {gradient} gradient:", flush=True)
        for t in range(n_steps + 1):
            if t in TRAINING_CHECKPOINTS or t == n_steps:
                # the recognition side (score's proposal) of the current model
                est._finalize_fit(X[:block], est.random_state_)
                params = est.model_.get_parameters()
                print(
                    f"  {t:5d} steps: score {est.score(X_test):8.2f}, noise "
                    f"variance {np.exp(params['layer0.log_var']).sum():6.1f}, "
                    f"||Lambda|| {np.linalg.norm(params['layer0.weights']):5.2f}"
                    f", {seconds:5.0f} s",
                    flush=True,
                )
            if t == n_steps:
                break
            batch = X[rng.choice(len(X), 100, replace=False)]
            begin = time.perf_counter()
            if gradient == "DDC":
                # one partial_fit step without partial_fit's closing sleep phase
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est._run(batch, 1, scheduled=False)
            else:
                with np.errstate(all="ignore"):
                    grads, _, _ = importance_gradient(
                        est.model_,
                        batch,
                        est._scoring_proposal(batch),
                        n_importance,
                        rng,
                    )
                params = est.model_.trainable_parameters()
                est.model_.set_parameters(
                    optimizer.step(
                        params,
                        {k: grads[k] for k in params},
                        est._step_size(t, n_steps, scheduled=True),
                        est._step_scales(),
                    )
                )
            seconds += time.perf_counter() - begin


def patch_fits(
    latent_dims=(50, 10),
    epochs=10,
    seed=0,
    configs=("defaults", "projected"),
    n_train=10_000,
    n_test=5_000,
    n_score=2_000,
):
    """Table 1's DDC-HM fitted by each configuration, judged on held-out patches.

    ``fit`` for ``epochs`` epochs from the random start with Table 1's
    settings (``random_state=seed``), on the data of ``paper_patches.py
    --n-test 5000`` with the same seed; printed per configuration: held-out
    ``score`` (mean log p(x) per patch on the first ``n_score`` held-out
    patches, by importance sampling), the MMD^2 of ``n_test`` samples to the
    held-out patches at the median heuristic's bandwidth on them (as
    ``paper_patches.py``), the total observation noise variance (the
    training patches' total variance is 256, of seed 0's held-out ones 200),
    the number of ``ConvergenceWarning`` and the seconds of ``fit``.
    """
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_ddchm.metrics import median_heuristic, mmd2

    data = load_sample_image_patches(n_train=n_train, n_test=n_test, random_state=seed)
    X, X_test = data.X_train, data.X_test
    bandwidth = median_heuristic(X_test)
    print(f"patch model {latent_dims}, {epochs} epochs, seed {seed}:", flush=True)
    for config in configs:
        params, switches = split_configuration(CONFIGS[config], training=True)
        est = DDCHelmholtzEstimator(
            model="sparse",
            latent_dims=latent_dims,
            max_iter=epochs,
            random_state=seed,
            **{**PATCH_SETTINGS, **params},
        )
        with contextlib.ExitStack() as stack:
            for switch in switches:
                stack.enter_context(switch)
            w = stack.enter_context(warnings.catch_warnings(record=True))
            warnings.simplefilter("always", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X)
            seconds = time.perf_counter() - start
            score = est.score(X_test[:n_score])
            samples = est.sample(len(X_test), random_state=seed + 3)
        noise = np.exp(est.model_.get_parameters()["layer0.log_var"]).sum()
        n_warnings = sum(issubclass(m.category, ConvergenceWarning) for m in w)
        print(
            f"  {config:11s} score {score:8.2f}  MMD^2 "
            f"{mmd2(X_test, samples, bandwidth=bandwidth):.4f}  noise variance "
            f"{noise:6.1f}  {n_warnings} warnings  {seconds:5.0f} s",
            flush=True,
        )


def factor_model(n_features=32, n_latent=8, noise_scale=1.0):
    """A factor-analysis model (Gaussian latents, linear-Gaussian pixels)."""
    rng = np.random.RandomState(0)
    return DeepExponentialFamily(
        [
            GaussianLayer(
                n_features,
                n_latent,
                weights=rng.randn(n_features, n_latent) / np.sqrt(n_latent),
                bias=0.1 * rng.randn(n_features),
                log_var=np.full(n_features, np.log(0.3 * noise_scale)),
            ),
            GaussianPrior(
                n_latent, mean=np.zeros(n_latent), log_var=np.zeros(n_latent)
            ),
        ]
    )


def exact_observation_gradient(model, X):
    """The free-energy gradient of the observation layer of a one-layer
    linear-Gaussian model under its exact posterior ``N(m(x), C)``, ``C =
    (P^-1 + Lambda^T Psi^-1 Lambda)^-1`` and ``m(x) = mu + C Lambda^T Psi^-1
    (x - b - Lambda mu)`` for the prior ``N(mu, P)``; batch means by name."""
    M, C = exact_posterior(model, X)
    return ws.observation_gradient_moments(model.layers[0], X, M, C)


def exact_posterior(model, X):
    """The exact posterior ``N(m(x), C)`` of a one-layer linear-Gaussian model
    (see :func:`exact_observation_gradient`): the means, shape (n, D_1), and
    the covariance, shape (D_1, D_1)."""
    obs, prior = model.layers
    W, b = obs.affine_parameters()
    v = np.exp(obs.params["log_var"])
    mu, p = prior.params["mean"], np.exp(prior.params["log_var"])
    C = np.linalg.inv(np.diag(1.0 / p) + W.T @ (W / v[:, None]))
    return mu + (X - b - mu @ W.T) @ (W / v[:, None]) @ C, C


def exact_noise_gradient(model, X):
    """mean_x E_{p(z|x)}[d log p(x | z) / d log sigma^2] in closed form:
    ((x - W m(x) - b)^2 + diag(W C W^T)) / (2 sigma^2) - 1/2, with the exact
    Gaussian posterior N(m(x), C) of a factor-analysis model."""
    return exact_observation_gradient(model, X)["log_var"]


def factor_model_noise_gradient():
    """The observation noise's gradient in 32 dimensions (8 latents), on 1,000
    points from the true model, at the true noise variance (where the exact
    gradient is ~0: Fisher's identity) and at 1.5x and 1/1.5x of it."""
    truth = factor_model()
    X, _ = truth.sample(1000, random_state=1)
    print(
        "\nfactor model (32 pixels, 8 latents), d/d log sigma^2 averaged over "
        "pixels: exact, DDC (defaults), bias, per-pixel correlation"
    )
    for scale in (1.0, 1.5, 1 / 1.5):
        model = factor_model(noise_scale=scale)
        exact = exact_noise_gradient(model, X)
        ddc = mean_ddc_gradient(model, X, X, n_repeats=3)["layer0.log_var"]
        print(
            f"  noise x{scale:.2f}: {exact.mean():+.3f}  {ddc.mean():+.3f}  "
            f"{np.mean(ddc - exact):+.3f}  {np.corrcoef(ddc, exact)[0, 1]:+.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
