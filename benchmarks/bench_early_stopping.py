"""``early_stopping=True`` against a plain ``fit`` on the Table 1 patch models.

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_early_stopping.py
    ... --architectures 10x10 50x10 100x10 --max-iter 30

For each architecture, DDC-HM (Table 1's settings) and IWAE-50 (its
defaults), as in ``paper_patches.py``, are fitted from the same random
start on the same 10,000 patches of scikit-learn's sample photographs, once
with ``fit`` for ``--max-iter`` epochs and once with ``early_stopping=True``
(10% of the patches held out, scored after every epoch; the fit stops after
10 epochs without improvement and keeps its best epoch). Printed per fit:
epochs run, the epoch kept, the held-out log-likelihood per patch on the
first 2,000 test patches (``score``: importance sampling from the
linear-Gaussian scoring proposal, within about 5 nats of annealed importance
sampling on these models), the MMD^2 of 5,000 samples to the 5,000 test
patches at ``paper_patches.py``'s bandwidth, and the training seconds
(noisy: compare only within one run). The last column is a reference:
scikit-learn's probabilistic PCA with ``D_1`` components
(``PCA(D_1).score``), the Gaussian-latent model that the data-based start
approximates.

On these patches both learners pass a better model than the one they end
at (see ``bench_oracle_gradient.py --patches`` for where DDC-HM's gradient
goes wrong); early stopping keeps it. Measured 2026-12-02 (one run per
architecture, two side by side on the 2-core machine)::

      D1xD2  learner             fit epochs kept  log p(x)     MMD^2     s  PCA(D1)
      10x10   DDC-HM             fit     30   30    -292.7 2.350e-01    98  -288.8
      10x10   DDC-HM  early_stopping     11    1    -289.4 3.018e-01    47  -288.8
      10x10  IWAE-50             fit     30   30    -305.9 3.169e-01    94  -288.8
      10x10  IWAE-50  early_stopping     11    1    -291.4 2.163e-01    38  -288.8
      50x10   DDC-HM             fit     30   30    -289.5 2.353e-01   122  -278.5
      50x10   DDC-HM  early_stopping     11    1    -274.3 2.835e-01    65  -278.5
      50x10  IWAE-50             fit     30   30    -296.9 2.607e-01   163  -278.5
      50x10  IWAE-50  early_stopping     11    1    -285.2 1.195e-01    71  -278.5
     100x10   DDC-HM             fit     30   30    -295.4 2.498e-01   150  -277.1
     100x10   DDC-HM  early_stopping     11    1    -263.7 2.662e-01    75  -277.1
     100x10  IWAE-50             fit     30   30    -294.9 2.042e-01   250  -277.1
     100x10  IWAE-50  early_stopping     11    1    -286.0 9.280e-02    99  -277.1

Every early-stopped fit kept its first epoch. DDC-HM early-stopped is the
best of the four by likelihood on every architecture (at 10 x 10 level with
PCA), IWAE-50 early-stopped the best by MMD^2 at 50 and 100 latents.

With the defaults of 2026-12-03 (``recognition_statistic="auto"``: the
observation layer's statistic in DDC-HM's recognition features),
``--architectures 50x10 10x10 --learners DDC-HM`` and ``--architectures
100x10 --learners DDC-HM`` (side by side with other single-threaded
benchmarks)::

      D1xD2  learner             fit epochs kept  log p(x)     MMD^2     s  PCA(D1)
      50x10   DDC-HM             fit     30   30    -256.8 2.395e-01   199  -278.5
      50x10   DDC-HM  early_stopping     30   30    -256.4 2.389e-01   267  -278.5
      10x10   DDC-HM             fit     30   30    -285.0 2.991e-01   158  -288.8
      10x10   DDC-HM  early_stopping     11    1    -286.4 2.967e-01    76  -288.8
     100x10   DDC-HM             fit     30   30    -241.8 2.216e-01   242  -277.1
     100x10   DDC-HM  early_stopping     11    1    -248.4 2.463e-01   133  -277.1

DDC-HM's 30-epoch fit is now above ``PCA(D1)`` on all three and 32.7, 7.7
and 53.6 nats per patch above the old defaults' (the first table); it is
level with early stopping at (50, 10), where the validation score kept
rising for 30 epochs, and above it at (10, 10) and (100, 10), where early
stopping kept the first epoch. Early stopping no longer helps DDC-HM here.

Since 2026-12-05 each epoch is scored and kept as the mean of its last
``average_fraction`` of iterates (DDC-HM: a tenth; the tables above kept
an epoch's last iterate). The same two commands that day, side by side::

      D1xD2  learner             fit epochs kept  log p(x)     MMD^2     s  PCA(D1)
      50x10   DDC-HM             fit     30   30    -256.3 2.393e-01   137  -278.5
      50x10   DDC-HM  early_stopping     30   30    -255.6 2.387e-01   188  -278.5
      10x10   DDC-HM             fit     30   30    -284.9 2.991e-01   100  -288.8
      10x10   DDC-HM  early_stopping     13    3    -285.7 3.020e-01    58  -288.8
     100x10   DDC-HM             fit     30   30    -241.4 2.217e-01   176  -277.1
     100x10   DDC-HM  early_stopping     11    1    -247.0 2.437e-01   119  -277.1

The stopped fits gained 0.7-1.4 nats per patch over the last-iterate rule;
the 30-epoch fit is still level with or above them.

``--learners`` picks among ``LEARNERS``; ``"DDC-HM (importance)"`` is DDC-HM
with ``expectations="importance"`` (the wake gradient by importance
sampling). ``--architectures 50x10 --max-iter 10 --learners DDC-HM "DDC-HM
(importance)"``, 2026-12-02::

    (learner, fit, epochs, kept, log p(x), MMD^2, s, PCA(D1))
    50x10 DDC-HM               fit            10 10  -287.8 2.418e-01  37 -278.5
    50x10 DDC-HM               early_stopping 10  1  -274.2 2.827e-01  50 -278.5
    50x10 DDC-HM (importance)  fit            10 10  -248.6 1.907e-01  93 -278.5
    50x10 DDC-HM (importance)  early_stopping 10 10  -248.8 1.913e-01 113 -278.5
    10x10 DDC-HM               fit            10 10  -291.3 2.361e-01  39 -288.8
    10x10 DDC-HM               early_stopping 10  1  -289.3 3.015e-01  48 -288.8
    10x10 DDC-HM (importance)  fit            10 10  -282.7 2.574e-01  78 -288.8
    10x10 DDC-HM (importance)  early_stopping 10  9  -282.6 2.555e-01  88 -288.8
   100x10 DDC-HM (importance)  fit            10 10  -190.3 1.485e-01 193 -277.1
   100x10 DDC-HM (importance)  early_stopping 10 10  -200.8 1.462e-01 180 -277.1

(the 10 x 10 and 100 x 10 rows by ``--architectures 10x10`` and ``100x10``,
side by side).

``--fit-only`` skips the early-stopped fits; ``--ddc-param NAME=VALUE``
(repeatable, VALUE read as JSON) changes a parameter of every DDC-HM
learner. Each row ends with the
smallest pixel noise variance and the held-out log p(x) of the lower and the
upper half of the scored patches by norm. ``--architectures 100x10
--max-iter 30 --learners "DDC-HM (importance)" --fit-only``, 2026-12-02,
alone::

   100x10 DDC-HM (importance)  fit  30 30  -142.2 1.374e-01 1037 -277.1
          smallest noise 3.04e-04, halves +68.1 / -352.5

Thirty epochs took the importance learner from -190.3 (10 epochs) to
-142.2 per patch: +69 on the lower half by norm (-1.1 -> +68.1), +27 on
the upper half (-379.5 -> -352.5); most of it on nearly flat patches
(``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from sklearn_ddchm.metrics import median_heuristic, mmd2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _options import add_ddc_param, ddc_params  # noqa: E402
from paper_patches import load_data, make_estimators  # noqa: E402

N_SCORE = 2000
#: the learners this script can compare: paper_patches' two, DDC-HM
#: trained by the importance-sampling gradient instead of the DDC one, and
#: DDC-HM without the observation layer's statistic in its recognition
#: features (the defaults until 2026-12-03)
LEARNERS = {
    "DDC-HM": {},
    "IWAE-50": {},
    "DDC-HM (importance)": {"expectations": "importance"},
    "DDC-HM (no statistic)": {"recognition_statistic": False},
    "DDC-HM (ReLU units)": {"hidden_features": "relu"},
}


def fit_once(est, X, X_test, sigma):
    """Fit, then (epochs, epoch kept, test score, MMD^2, seconds, details).

    ``details``: the smallest pixel noise variance and the mean held-out
    log p(x) of the lower and the upper half of the scored patches by norm
    (where the likelihood is won), or None for a model without a Gaussian
    observation layer.
    """
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    seconds = time.perf_counter() - start
    scores = est.validation_scores_
    kept = est.n_iter_ if scores is None else int(np.argmax(scores)) + 1
    S = np.asarray(est.sample(len(X_test), random_state=1))
    scored = X_test[:N_SCORE]
    log_p = est.score_samples(scored)
    details = None
    params = est.model_.get_parameters()
    if "layer0.log_var" in params:
        norms = np.linalg.norm(scored, axis=1)
        low = norms < np.median(norms)
        details = (
            float(np.exp(params["layer0.log_var"]).min()),
            float(log_p[low].mean()),
            float(log_p[~low].mean()),
        )
    return (
        est.n_iter_,
        kept,
        float(np.mean(log_p)),
        mmd2(X_test, S, bandwidth=sigma),
        seconds,
        details,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--architectures", nargs="+", default=["10x10", "50x10", "100x10"]
    )
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--n-test", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--learners", nargs="+", default=["DDC-HM", "IWAE-50"], choices=LEARNERS
    )
    add_ddc_param(parser)
    parser.add_argument(
        "--fit-only",
        action="store_true",
        help="only the plain fit of each learner (no early-stopped fit)",
    )
    args = parser.parse_args(argv)
    params = ddc_params(args.ddc_param)
    data, source = load_data(None, args.n_train, args.n_test, args.seed)
    X, X_test = data.X_train, data.X_test
    sigma = median_heuristic(X_test)
    print(f"{source}: {len(X)} training, {len(X_test)} test patches")
    print(
        f"{'D1xD2':>7} {'learner':>19} {'fit':>15} {'epochs':>6} {'kept':>4} "
        f"{'log p(x)':>9} {'MMD^2':>9} {'s':>5}  PCA(D1)  smallest pixel "
        "noise variance, log p(x) of the lower / upper half by norm"
    )
    for arch in args.architectures:
        dims = tuple(int(d) for d in arch.split("x"))
        reference = PCA(dims[0]).fit(X).score(X_test[:N_SCORE])
        for name in args.learners:
            for early in (False,) if args.fit_only else (False, True):
                est = make_estimators(dims, args.seed)[name.split(" ")[0]]
                est.set_params(
                    max_iter=args.max_iter, early_stopping=early, **LEARNERS[name]
                )
                if name.startswith("DDC-HM"):
                    est.set_params(**params)
                n_iter, kept, score, mmd, seconds, details = fit_once(
                    est, X, X_test, sigma
                )
                label = "early_stopping" if early else "fit"
                extra = (
                    ""
                    if details is None
                    else "  {:.2e} {:.1f} / {:.1f}".format(*details)
                )
                print(
                    f"{arch:>7} {name:>19} {label:>15} {n_iter:6d} {kept:4d} "
                    f"{score:9.1f} {mmd:9.3e} {seconds:5.0f}  {reference:.1f}" + extra,
                    flush=True,
                )


if __name__ == "__main__":
    main()
