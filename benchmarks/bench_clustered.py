"""DDC-HM with a mixture-of-Gaussians top prior on clustered data (issue 13).

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_clustered.py
    ... --seeds 0 1 2 3 4 --tasks synthetic cancer diabetes [--quick]

A user whose rows fall in clusters builds the one-layer model
``x = Lambda z + b + noise`` with a mixture prior on ``z``,
``DeepExponentialFamily([GaussianLayer(D, d), MixtureOfGaussiansPrior(d, K)])``,
and passes it as ``model``. The baseline that user would pick instead is
``GaussianMixture`` (full covariances), and ``FactorAnalysis(d)`` is the
same family with one Gaussian in place of the mixture. Every figure is an
exact held-out log-likelihood per row: the fitted model's marginal is a
mixture of ``K`` Gaussians in ``x``
(:func:`~sklearn_ddchm.utils._exact.linear_gaussian_log_likelihood`), and
scikit-learn's ``score`` for the two baselines.

Tasks:

- ``synthetic``: data drawn from such a model (``D = 10``, ``d = 2``,
  ``K = 4`` clusters with means ``3 N(0, I)`` and standard deviation 0.3 in
  ``z``, ``Lambda`` and ``b`` standard normal, noise variance 0.1), a fresh
  truth per seed, 4,000 training and 2,000 held-out rows; the true model's
  own held-out log-likelihood is the ceiling.
- ``cancer`` and ``diabetes``: ``bench_tabular.py``'s split and
  standardisation (``d = 5`` and ``3``), ``K = 4``; ``GaussianMixture`` also
  with its number of components chosen by BIC, as in ``bench_tabular.py``.

Learners, each from a random start with every other parameter at its
default (``random_state`` = the seed): DDC-HM with ``fit_prior=True`` (the
mixture's means, variances and weights learnt), DDC-HM with
``fit_prior=False`` (the top layer keeps the parameters it was drawn with:
what the default ``fit_prior="auto"`` does with a mixture built with its
default ``trainable=False``), ``FactorAnalysis(d)`` and
``GaussianMixture(K)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.decomposition import FactorAnalysis
from sklearn.mixture import GaussianMixture

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.models import (
    DeepExponentialFamily,
    GaussianLayer,
    MixtureOfGaussiansPrior,
)
from sklearn_ddchm.utils._exact import linear_gaussian_log_likelihood

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tabular import gaussian_mixture_by_bic, load, timed_fit  # noqa: E402

#: the synthetic task's sizes: features, latent dimension, clusters
SYNTHETIC = {"n_features": 10, "n_latent": 2, "n_clusters": 4}
N_TRAIN, N_TEST = 4000, 2000
#: mixture components of the fitted models on the real tables
K_TABLES = 4


def true_model(seed, n_features=10, n_latent=2, n_clusters=4):
    """The synthetic task's model: a mixture of ``n_clusters`` tight
    Gaussians in ``z`` (means ``3 N(0, I)``, standard deviation 0.3), mapped
    by a standard normal ``Lambda`` and ``b``, noise variance 0.1."""
    rng = np.random.RandomState(seed)
    return DeepExponentialFamily(
        [
            GaussianLayer(
                n_features,
                n_latent,
                weights=rng.randn(n_features, n_latent),
                bias=rng.randn(n_features),
                log_var=np.full(n_features, np.log(0.1)),
            ),
            MixtureOfGaussiansPrior(
                n_latent,
                n_clusters,
                means=3.0 * rng.randn(n_clusters, n_latent),
                log_vars=np.full((n_clusters, n_latent), np.log(0.3**2)),
                logits=np.zeros(n_clusters),
            ),
        ]
    )


def mixture_model(n_features, n_latent, n_clusters):
    """The model a user passes: nothing set, so every layer starts at random
    (the observation layer from the data, by the default ``init``)."""
    return DeepExponentialFamily(
        [
            GaussianLayer(n_features, n_latent),
            MixtureOfGaussiansPrior(n_latent, n_clusters),
        ]
    )


def task_data(task, seed, quick=False):
    """``(X_train, X_test, d, K, truth)``; ``truth`` is None on real tables."""
    if task == "synthetic":
        truth = true_model(seed, **SYNTHETIC)
        n_train, n_test = (500, 300) if quick else (N_TRAIN, N_TEST)
        X_train, _ = truth.sample(n_train, random_state=100 + seed)
        X_test, _ = truth.sample(n_test, random_state=200 + seed)
        return (
            np.asarray(X_train),
            np.asarray(X_test),
            SYNTHETIC["n_latent"],
            SYNTHETIC["n_clusters"],
            truth,
        )
    X_train, X_test, d = load(task)
    return X_train, X_test, d, K_TABLES, None


def run_task(task, seed, quick=False, max_iter="auto"):
    """One task and seed: a list of ``(kind, learner, held-out log p per
    row, seconds, warnings)``; ``kind`` names the learner across seeds."""
    X_train, X_test, d, K, truth = task_data(task, seed, quick)
    D = X_train.shape[1]
    rows = []
    if truth is not None:
        value = float(np.mean(linear_gaussian_log_likelihood(truth, X_test)))
        rows.append(("truth", "true model", value, 0.0, 0))
    for fit_prior in (True, False):
        est = DDCHelmholtzEstimator(
            model=mixture_model(D, d, K),
            fit_prior=fit_prior,
            max_iter=max_iter,
            random_state=seed,
        )
        seconds, n_warnings = timed_fit(est, X_train)
        value = float(np.mean(linear_gaussian_log_likelihood(est.model_, X_test)))
        rows.append(
            (
                f"ddc_{fit_prior}",
                f"DDC-HM, MoG({K}), fit_prior={fit_prior}",
                value,
                seconds,
                n_warnings,
            )
        )
    fa = FactorAnalysis(d, random_state=seed)
    seconds, n_warnings = timed_fit(fa, X_train)
    rows.append(("fa", f"FactorAnalysis({d})", fa.score(X_test), seconds, n_warnings))
    gm = GaussianMixture(K, random_state=seed)
    seconds, n_warnings = timed_fit(gm, X_train)
    rows.append(("gmm", f"GaussianMixture({K})", gm.score(X_test), seconds, n_warnings))
    if truth is None:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bic = gaussian_mixture_by_bic(X_train, seed)
        rows.append(
            (
                "gmm_bic",
                f"GaussianMixture({bic.n_components}), BIC",
                bic.score(X_test),
                time.perf_counter() - start,
                0,
            )
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=["synthetic", "cancer", "diabetes"],
        default=["synthetic", "cancer", "diabetes"],
    )
    parser.add_argument(
        "--quick", action="store_true", help="small synthetic data, 5 epochs"
    )
    args = parser.parse_args(argv)
    max_iter = 5 if args.quick else "auto"
    summary = {}
    for task in args.tasks:
        print(f"{task}: held-out log p(x) per row (exact); seconds; warnings")
        per_kind = summary.setdefault(task, {})
        for seed in args.seeds:
            for kind, learner, value, seconds, n_warnings in run_task(
                task, seed, args.quick, max_iter
            ):
                per_kind.setdefault(kind, []).append(value)
                print(
                    f"  seed {seed}  {learner:32s} {value:9.3f}  "
                    f"{seconds:6.1f} s  {n_warnings}",
                    flush=True,
                )
    print(
        "mean over seeds, and DDC-HM with fit_prior=True minus each learner "
        "(mean, min, max over seeds)"
    )
    for task, per_kind in summary.items():
        learnt = np.asarray(per_kind["ddc_True"])
        for kind, values in per_kind.items():
            gap = learnt - np.asarray(values)
            print(
                f"  {task:9s} {KIND_NAMES[kind]:28s} {np.mean(values):9.3f}  "
                f"{np.mean(gap):+.3f} [{np.min(gap):+.3f}, {np.max(gap):+.3f}]"
            )
    return summary


KIND_NAMES = {
    "truth": "true model",
    "ddc_True": "DDC-HM, fit_prior=True",
    "ddc_False": "DDC-HM, fit_prior=False",
    "fa": "FactorAnalysis(d)",
    "gmm": "GaussianMixture(K)",
    "gmm_bic": "GaussianMixture, BIC",
}


if __name__ == "__main__":
    main()
