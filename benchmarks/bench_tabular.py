"""DDC-HM against factor analysis on scikit-learn's bundled real data (issue 13).

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_tabular.py
    ... --datasets cancer digits --epochs 100 --seeds 0

A user with a table of real-valued features who tries a one-layer DDC-HM
(``model="gaussian", latent_dims=(d,)``) fits Table 1's linear-Gaussian
family, which ``sklearn.decomposition.FactorAnalysis(d)`` fits by maximum
likelihood in a fraction of a second: the baseline that user would pick. On
this model the exact posterior is Gaussian and closed-form, so the DDC wake
gradient can be checked against the true one at the fitted model.

Data: ``load_breast_cancer`` (30 features, ``d = 5``), ``load_digits``
(64 features, ``d = 10``), ``load_wine`` (13 features, ``d = 3``) and
``load_diabetes`` (10 features, ``d = 3``; since 2026-12-05), a 70/30
split (``random_state=0``), standardised on the training rows. For each
learner, from its defaults (random start, ``max_iter=--epochs``): the
held-out log-likelihood per row, exact (``FactorAnalysis.score``;
:func:`~sklearn_ddchm.utils._exact.linear_gaussian_log_likelihood` for
DDC-HM, whose ``score`` is an importance-sampling estimate: on cancer it is
0.04 nat below the exact value at 100 draws, and the figures measured here
before 2026-12-03, late, were that estimate), also on the features that
vary in the training rows only (digits has three constant corner pixels,
each of which makes the likelihood unbounded as its noise variance goes to
0: ``FactorAnalysis`` floors it at 1e-12, DDC-HM's data-based start at
1e-6 of the data's largest principal variance), the unbiased MMD^2 of
4,000 samples to the
held-out rows (Gaussian kernel, median heuristic on the held-out rows) and
its ratio to factor analysis's; for each DDC learner also the cosine between
its wake gradient of the observation layer (weights, bias, log variance;
mean of 10 sleep phases) and the exact free-energy gradient on the training
rows at the fitted model. Learners: DDC-HM with the defaults (with
``recognition_statistic="auto"`` the recognition features hold the
observation layer's statistic ``Lambda^T Psi^-1 x``), the same without it
(the defaults until 2026-12-03), the defaults with random ReLU units of
``x`` instead of kernel units of that statistic (``hidden_features="relu"``,
the defaults until 2026-12-05), ``expectations="importance"`` (the exact
gradient by importance sampling from the exact posterior: what the
algorithm could reach in the same steps), and ``learning_rate=1e-2`` (the
step before ``learning_rate="auto"``, 2026-12-05, which resolves to 2.5e-2
for cancer's 400 steps of 100 epochs and to 1e-2 for digits' 1,300).

Then the two choices a user without a linear-Gaussian model in mind would
make, both fitted on the features that vary in the training rows (as
``fit``'s warning about constant features advises): the package's default
preset (``model="sparse"``, two latent layers ``(d, 2)``, every other
parameter default; the same with ``n_init=3``, the best of three starts by
the training rows' log-likelihood; the same trained with
``expectations="importance"``, the exact gradient, to separate the model
family from DDC's gradient; and the same at ``learning_rate=1e-2``),
whose held-out ``log p(x)`` is estimated by
:func:`~sklearn_ddchm.log_likelihood` (importance sampling, 5,000 draws per
row from the estimator's proposal; the median effective sample size is
printed; on cancer AIS with 500 temperatures agreed to 0.05 nat), and
``GaussianMixture`` with full covariances, its number of components chosen
by BIC on the training rows from 1 to 8 (exact held-out log-likelihood).
Their figures sit beside factor analysis's on the same varying features,
with two more learners of the preset: the estimator's defaults as they are
(``latent_dims="auto"``: the widths chosen by factor analysis's BIC) and
the former default widths ``(2, 1)``; and ``FactorAnalysis`` with the
number of factors that BIC chooses (as ``"auto"`` chooses ``D_1``).
``--widths-only`` fits, of the preset's learners, only those two and ``(d,
2)``.

``--ddc-param NAME=VALUE`` (repeatable, VALUE read as JSON) changes a
parameter of every DDC-HM learner of the main run. ``--no-one-layer``
leaves out the one-layer DDC-HM learners (factor
analysis stays, as the yardstick). With several ``--seeds`` (the split
stays; the seeds vary the fits and the sample draws) a summary follows: per
dataset and learner, the mean and range over seeds (:func:`summarise`).

``--at-optimum`` instead compares DDC-HM's posterior moments and wake
gradient with the closed-form ones at the maximum-likelihood factor model
(:func:`at_optimum`), with the statistic's columns whitened (the defaults)
and only standardised.

``--ridges 1e-3 3e-4 1e-4`` instead fits the one-layer model and the
default preset at each relative ridge penalty (a number, or ``gcv``;
everything else default)
on the varying features, and prints each fit's held-out log p(x) and
MMD^2 against factor analysis, the one layer's spread along the data's
two leading principal directions against factor analysis's, and the mean
paired difference from the first penalty over ``--seeds``
(:func:`ridge_study`).

``--oracle 10 100`` instead compares the default preset's DDC wake
gradient, block by block, with the true gradient (importance sampling) on
300 held-out training rows after 10 and 100 epochs (:func:`preset_oracle`).

Measured 2026-12-03 (2-core CPU, one BLAS thread, seed 0, 100 epochs):
see ``benchmarks/README.md``, "Real tabular data".
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from scipy.stats import multivariate_normal
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
)
from sklearn.decomposition import FactorAnalysis
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_ddchm import DDCHelmholtzEstimator, log_likelihood
from sklearn_ddchm import _wake_sleep as ws
from sklearn_ddchm._latent_dims import select_n_factors
from sklearn_ddchm.metrics import mmd2
from sklearn_ddchm.utils._exact import (
    linear_gaussian_log_likelihood,
    linear_gaussian_marginal,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _options import add_ddc_param, ddc_params  # noqa: E402
from bench_oracle_gradient import (  # noqa: E402
    BLOCKS,
    compare,
    cosine,
    exact_observation_gradient,
    exact_posterior,
    importance_oracle,
    mean_ddc_gradient,
    standardised_statistic,
)

DATASETS = {
    "cancer": (load_breast_cancer, 5),
    "digits": (load_digits, 10),
    "wine": (load_wine, 3),
    "diabetes": (load_diabetes, 3),
}

LEARNERS = {
    "DDC-HM": {},
    "DDC-HM (no statistic)": {"recognition_statistic": False},
    "DDC-HM (ReLU units)": {"hidden_features": "relu"},
    "DDC-HM (importance)": {"expectations": "importance"},
    "DDC-HM (step 1e-2)": {"learning_rate": 1e-2},
}


def load(name):
    loader, d = DATASETS[name]
    X_train, X_test = train_test_split(loader().data, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), d


def ddc_observation_gradient(est, X, n_phases=10, seed=5):
    rng = np.random.RandomState(seed)
    grads = []
    for _ in range(n_phases):
        phase = est._sleep(est.n_sleep_samples, rng, encodings=False, means=True)
        est._residual_dof = ws.ridge_dof(*phase.hidden_system)
        grads.append(est._wake(X, phase, True, criterion=False)[0])
    return {
        k[len("layer0.") :]: np.mean([g[k] for g in grads], axis=0)
        for k in grads[0]
        if k.startswith("layer0.")
    }


def factor_analysis_log_likelihood(fa, X, features):
    """Mean exact log-density of ``X[:, features]`` under ``fa``'s marginal on
    those features."""
    cov = fa.get_covariance()[np.ix_(features, features)]
    return float(
        np.mean(multivariate_normal(fa.mean_[features], cov).logpdf(X[:, features]))
    )


def factor_analysis_samples(fa, n, seed):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, fa.components_.shape[0]))
    noise = rng.standard_normal((n, fa.mean_.shape[0])) * np.sqrt(fa.noise_variance_)
    return Z @ fa.components_ + noise + fa.mean_


def varying_features(X):
    """Indices of the columns of ``X`` with two different values at least
    (as the estimators' constant-feature warning counts them: a column's
    ``std`` can come out a rounding error above 0 when it is constant)."""
    return np.flatnonzero(np.ptp(X, axis=0) > 0)


def timed_fit(est, X):
    """``est.fit(X)``; returns its wall-clock seconds and how many warnings it
    raised (all recorded, none shown)."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    return time.perf_counter() - start, len(caught)


def gaussian_mixture_by_bic(X, seed, max_components=8):
    """``GaussianMixture`` (full covariances) with the number of components,
    1 to ``max_components``, that minimises BIC on ``X``."""
    fits = [
        GaussianMixture(k, random_state=seed).fit(X)
        for k in range(1, max_components + 1)
    ]
    return min(fits, key=lambda gm: gm.bic(X))


#: importance draws per held-out row for the default preset's log p(x)
N_IMPORTANCE = 5000

#: the default preset as a user fits it, with the recognition units of the
#: defaults until 2026-12-05 (random ReLU units of x), from the best of three
#: starts (``n_init``; its time includes the comparison), and trained by the
#: exact gradient (importance sampling): what its model family reaches by
#: likelihood
PRESET_LEARNERS = {
    # what a user gets who passes no latent_dims (since 2026-12-06 "auto":
    # the widths chosen by factor analysis's BIC), and the default before
    "DDC-HM, the defaults (auto: {dims})": {"latent_dims": "auto"},
    "DDC-HM, (2, 1) (the default until 2026-12-06)": {"latent_dims": (2, 1)},
    "DDC-HM, default preset ({d}, 2)": {},
    "the same, ReLU units": {"hidden_features": "relu"},
    "the same, n_init=3": {"n_init": 3},
    "the same, exact gradient": {"expectations": "importance"},
    # the step before learning_rate="auto" (2026-12-05), which on cancer's
    # 400 steps resolves to 2.5e-2 (on digits' 1,300 steps to 1e-2)
    "the same, step 1e-2": {"learning_rate": 1e-2},
}


#: the preset learners of ``--widths-only``: the defaults, the former
#: default widths and the hand-chosen ones
WIDTH_LEARNERS = tuple(PRESET_LEARNERS)[:3]


def user_choices(
    X_train,
    X_test,
    d,
    epochs,
    seed,
    n_samples,
    fa_row,
    ddc_params=None,
    learners=None,
):
    """Rows for the default preset and ``GaussianMixture`` by BIC, both on the
    features that vary in ``X_train``, with ``fa_row``'s factor analysis on
    the same features as the yardstick; ``learners``: the keys of
    :data:`PRESET_LEARNERS` to fit (default all)."""
    varying = varying_features(X_train)
    X_fit, X_eval = X_train[:, varying], X_test[:, varying]
    fa_mmd = fa_row["mmd2_varying"]
    rows = []
    # factor analysis with its number of factors chosen as latent_dims="auto"
    # chooses D_1: the linear model a user choosing by BIC would fit
    start = time.perf_counter()
    k = max(1, select_n_factors(X_fit))
    fa = FactorAnalysis(k, random_state=seed).fit(X_fit)
    seconds = time.perf_counter() - start
    rows.append(
        dict(
            learner=f"FactorAnalysis({k}), BIC",
            kind="FactorAnalysis, BIC",
            score_varying=fa.score(X_eval),
            mmd2=mmd2(X_eval, factor_analysis_samples(fa, n_samples, seed + 1)),
            seconds=seconds,
        )
    )
    start = time.perf_counter()
    gm = gaussian_mixture_by_bic(X_fit, seed)
    seconds = time.perf_counter() - start
    rows.append(
        dict(
            learner=f"GaussianMixture({gm.n_components}), BIC",
            kind="GaussianMixture, BIC",
            score_varying=gm.score(X_eval),
            mmd2=mmd2(X_eval, gm.sample(n_samples)[0]),
            seconds=seconds,
        )
    )
    for label, params in PRESET_LEARNERS.items():
        if learners is not None and label not in learners:
            continue
        params = {"latent_dims": (d, 2), **params}
        est = DDCHelmholtzEstimator(
            max_iter=epochs, random_state=seed, **params
        ).set_params(**(ddc_params or {}))
        seconds, n_warnings = timed_fit(est, X_fit)
        result = log_likelihood(
            est, X_eval, method="importance", n_samples=N_IMPORTANCE, random_state=seed
        )
        samples = np.asarray(est.sample(n_samples, random_state=seed + 1))
        rows.append(
            dict(
                learner=label.format(d=d, dims=est.latent_dims_),
                score_varying=float(np.mean(result.log_likelihood)),
                median_ess=float(np.median(result.ess)),
                mmd2=mmd2(X_eval, samples),
                seconds=seconds,
                warnings=n_warnings,
            )
        )
    for row in rows:
        row.update(dataset=fa_row["dataset"], seed=seed)
        row["mmd2_ratio"] = row["mmd2"] / fa_mmd
        ess = f"  median ESS {row['median_ess']:.0f}" if "median_ess" in row else ""
        print(
            f"  {row['learner']:30s} log p(x) on the varying features "
            f"{row['score_varying']:8.3f} "
            f"({row['score_varying'] - fa_row['score_varying']:+7.3f} vs FA)  "
            f"MMD^2 {row['mmd2']:.2e} ({row['mmd2_ratio']:6.2f}x FA's)  "
            f"{row['seconds']:5.1f} s{ess}",
            flush=True,
        )
    return rows


#: training rows held out of the fit for the oracle's gradient (``--oracle``)
ORACLE_ROWS = 300
#: importance draws per row of the oracle (``--oracle``)
ORACLE_IMPORTANCE = 4000
#: recognition units the DDC gradient is taken with (``--oracle``)
ORACLE_UNITS = ("statistic", "relu")


def preset_oracle(
    name, epochs, seed=0, n_rows=ORACLE_ROWS, n_importance=ORACLE_IMPORTANCE
):
    """The default preset's DDC wake gradient against the true one.

    The preset (``latent_dims=(d, 2)``) is fitted for each of ``epochs`` on
    all but the last ``n_rows`` training rows, on the features that vary in
    them; on those rows the true gradient of the mean log-likelihood is
    estimated by self-normalised importance sampling (``n_importance`` draws
    per row from the estimator's scoring proposal; the median effective
    sample size is printed), and the DDC gradient (mean of 5 steps with fresh sleep
    samples, :func:`bench_oracle_gradient.mean_ddc_gradient`) is compared
    with it block by block (cosine / relative error): the observation
    layer's weights, bias and log variance, the Laplace layer's weights and
    bias (:func:`bench_oracle_gradient.importance_oracle`, as on the
    patches). The DDC gradient is taken at the same model with each kind of
    recognition units of :data:`ORACLE_UNITS` (the defaults' first). Returns
    one dict per fit, ``ddc`` keyed by the units' kind.
    """
    X_train, _, d = load(name)
    X_fit, rows = X_train[:-n_rows], X_train[-n_rows:]
    varying = varying_features(X_fit)
    X_fit, rows = X_fit[:, varying], rows[:, varying]
    results = []
    for n_epochs in epochs:
        est = DDCHelmholtzEstimator(
            latent_dims=(d, 2), max_iter=n_epochs, random_state=seed
        )
        timed_fit(est, X_fit)
        oracle, ess = importance_oracle(
            est, rows, n_importance, np.random.RandomState(seed + 1)
        )
        ddc = {
            kind: mean_ddc_gradient(
                est.model_.copy(), X_fit, rows, hidden_features=kind
            )
            for kind in ORACLE_UNITS
        }
        _, latents = est.model_.sample(4000, random_state=0)
        result = dict(
            dataset=name,
            epochs=n_epochs,
            median_ess=float(np.median(ess)),
            var_z1=float(latents[0].var(axis=0).sum()),
            ddc=ddc,
            oracle=oracle,
        )
        results.append(result)
        print(
            f"{name}, default preset ({d}, 2), {n_epochs} epochs: var z_1 "
            f"{result['var_z1']:.1f}; oracle median ESS {result['median_ess']:.0f} "
            f"of {n_importance}; oracle d/d Laplace bias per unit "
            f"{np.mean(oracle['layer1.bias']):+.4f}, d/d log var per feature "
            f"{np.mean(oracle['layer0.log_var']):+.4f}\n  cosine/relative error "
            f"per block {'  '.join(BLOCKS)}",
            flush=True,
        )
        for kind, grad in ddc.items():
            print(
                f"  {kind:9s} units: {compare(grad, oracle)}  d/d Laplace bias "
                f"{np.mean(grad['layer1.bias']):+.4f}, d/d log var "
                f"{np.mean(grad['layer0.log_var']):+.4f}",
                flush=True,
            )
    return results


#: epochs of the exact-gradient fit that reaches the maximum-likelihood factor
#: model (``--at-optimum``; on cancer its training log p(x) is then within
#: 0.02 nat per row of ``FactorAnalysis``'s)
OPTIMUM_EPOCHS = 400


def at_optimum(name, epochs=OPTIMUM_EPOCHS, seed=0, n_phases=10):
    """DDC-HM's posterior moments and wake gradient at the maximum-likelihood
    factor model, where the true gradient vanishes.

    On the features that vary in the training rows, the one-layer model is
    fitted by the exact gradient
    (``expectations="importance"``) for ``epochs`` epochs; at its
    parameters, on the training rows, the recognition of a fresh estimator
    (the defaults, ``n_phases`` sleep phases) is compared with the closed-form
    posterior (:func:`bench_oracle_gradient.exact_posterior`): the slope of
    each latent's DDC posterior mean on the exact one, the relative error
    of the means, the ratio of the DDC posterior variances (from the
    regression's residuals, as the wake phase takes them) to the exact ones,
    and the error of the observation layer's wake gradient against the
    exact gradient (norms per block). Each with the statistic's columns in
    ``h(x)`` whitened (the defaults) and only standardised (before
    2026-12-05, :func:`bench_oracle_gradient.standardised_statistic`).
    Returns a dict per design.
    """
    X_train, _, d = load(name)
    # constant features make the likelihood unbounded (see run)
    X_train = X_train[:, varying_features(X_train)]
    est = DDCHelmholtzEstimator(
        model="gaussian",
        latent_dims=(d,),
        expectations="importance",
        max_iter=epochs,
        random_state=seed,
    )
    timed_fit(est, X_train)
    fa = FactorAnalysis(d, random_state=seed).fit(X_train)
    model = est.model_
    exact_mean, exact_cov = exact_posterior(model, X_train)
    exact_grad = exact_observation_gradient(model, X_train)
    print(
        f"{name}: factor model ({d} factors) fitted by the exact gradient, "
        f"{epochs} epochs: training log p(x) "
        f"{np.mean(linear_gaussian_log_likelihood(model, X_train)):.3f} per row "
        f"(FactorAnalysis {fa.score(X_train):.3f}); exact gradient norm "
        + ", ".join(f"{k} {np.linalg.norm(v):.3f}" for k, v in exact_grad.items()),
        flush=True,
    )
    results = {}
    for design, active in (("whitened", False), ("standardised", True)):
        ddc = DDCHelmholtzEstimator(model=model.copy(), random_state=seed)
        ddc._validate_params()
        ddc._initialize(ddc._validate_X(X_train, reset=True))
        means, variances = [], []
        with standardised_statistic(active):
            gradient = ddc_observation_gradient(ddc, X_train, n_phases, seed + 5)
            # the same sleep phases again (same seed), for the moments
            rng = np.random.RandomState(seed + 5)
            for _ in range(n_phases):
                phase = ddc._sleep(
                    ddc.n_sleep_samples, rng, encodings=False, means=True
                )
                H_sleep = ws.augment(phase.H_sleep)
                H = ws.augment(ddc._hidden(X_train))
                weights = np.mean(
                    ws.embedding_weights(H_sleep, phase.embedding_gram, H), axis=0
                )
                residuals = phase.sleep[1] - H_sleep @ phase.mean_coefs
                dof = ws.ridge_dof(*phase.hidden_system)
                means.append(H @ phase.mean_coefs)
                variances.append(
                    np.diag(ws.posterior_covariance(residuals, weights, dof=dof))
                )
        mean = np.mean(means, axis=0)
        slopes = [np.polyfit(exact_mean[:, j], mean[:, j], 1)[0] for j in range(d)]
        error = np.sqrt(np.mean((mean - exact_mean) ** 2)) / np.std(exact_mean)
        ratio = np.mean(variances, axis=0) / np.diag(exact_cov)
        grad_error = {
            k: float(np.linalg.norm(gradient[k] - exact_grad[k])) for k in exact_grad
        }
        results[design] = dict(
            slopes=slopes, error=error, variance_ratio=ratio, grad_error=grad_error
        )
        print(
            f"  statistic {design:12s}: posterior-mean slope "
            f"{min(slopes):.3f}-{max(slopes):.3f}, relative error {error:.3f}; "
            f"variance ratio {ratio.min():.2f}-{ratio.max():.2f}; wake gradient "
            "error " + ", ".join(f"{k} {v:.3f}" for k, v in grad_error.items()),
            flush=True,
        )
    return results


#: penalties of ``--ridges`` (the default first: the paired differences are
#: against it)
STUDY_RIDGES = (1e-3, 3e-4, 1e-4)


def penalty(text):
    """A ``--ridges`` value: a number, or "gcv"."""
    return text if text == "gcv" else float(text)


def penalty_label(ridge):
    return ridge if isinstance(ridge, str) else f"{ridge:.0e}"


def principal_variance_ratio(cov, reference, k=2):
    """Mean over the ``k`` leading eigenvectors ``u`` of ``reference`` of
    ``u^T cov u / u^T reference u``: how much wider (> 1) a model spreads
    along the directions in which the data vary most, the directions a
    median-heuristic MMD^2 sees first."""
    values, vectors = np.linalg.eigh(reference)
    top = vectors[:, np.argsort(values)[::-1][:k]]
    return float(np.mean(np.sum(top * (cov @ top), axis=0) / np.sort(values)[::-1][:k]))


def ridge_study(datasets, ridges, seeds, epochs, n_samples=4000):
    """The one-layer DDC-HM and the default preset at each relative ridge
    penalty in ``ridges``, everything else default, on the features that
    vary in the training rows, against ``FactorAnalysis`` on the same
    features: held-out log p(x) per row (exact for the one layer, importance
    sampling with ``N_IMPORTANCE`` draws for the preset) minus factor
    analysis's, MMD^2 as a multiple of its, and for the one layer
    :func:`principal_variance_ratio` against factor analysis's covariance.
    Prints each fit, then per dataset, learner and penalty the mean
    [smallest, largest] over seeds and the mean paired difference from
    ``ridges[0]`` +- its standard error. Returns the rows."""
    rows = []
    for name in datasets:
        X_train, X_test, d = load(name)
        varying = varying_features(X_train)
        X_train, X_test = X_train[:, varying], X_test[:, varying]
        for seed in seeds:
            fa = FactorAnalysis(d, random_state=seed).fit(X_train)
            fa_score = fa.score(X_test)
            fa_mmd = mmd2(X_test, factor_analysis_samples(fa, n_samples, seed + 1))
            print(
                f"{name} seed {seed}: FactorAnalysis({d}) held-out log p(x) "
                f"{fa_score:8.3f}  MMD^2 {fa_mmd:.2e}",
                flush=True,
            )
            for ridge in ridges:
                for learner, params in (
                    ("one layer", dict(model="gaussian", latent_dims=(d,))),
                    ("default preset", dict(latent_dims=(d, 2))),
                ):
                    est = DDCHelmholtzEstimator(
                        max_iter=epochs, random_state=seed, ridge=ridge, **params
                    )
                    timed_fit(est, X_train)
                    if learner == "one layer":
                        score = np.mean(
                            linear_gaussian_log_likelihood(est.model_, X_test)
                        )
                        spread = principal_variance_ratio(
                            linear_gaussian_marginal(est.model_)[1], fa.get_covariance()
                        )
                    else:
                        score = np.mean(
                            log_likelihood(
                                est,
                                X_test,
                                method="importance",
                                n_samples=N_IMPORTANCE,
                                random_state=seed,
                            ).log_likelihood
                        )
                        spread = np.nan
                    samples = np.asarray(est.sample(n_samples, random_state=seed + 1))
                    row = dict(
                        dataset=name,
                        seed=seed,
                        learner=learner,
                        ridge=ridge,
                        vs_fa=float(score - fa_score),
                        mmd2_ratio=mmd2(X_test, samples) / fa_mmd,
                        spread=spread,
                    )
                    rows.append(row)
                    print(
                        f"  {learner:15s} ridge {penalty_label(ridge):>7s}: log p(x) "
                        f"{row['vs_fa']:+7.3f} vs FA  MMD^2 "
                        f"{row['mmd2_ratio']:6.2f}x FA's"
                        + (
                            ""
                            if np.isnan(spread)
                            else f"  top-2 principal variance {spread:.3f}x FA's"
                        ),
                        flush=True,
                    )
    print(
        "\nover seeds: mean [smallest, largest]; paired difference from ridge "
        f"{penalty_label(ridges[0])}, mean +- standard error"
    )
    for name in datasets:
        for learner in ("one layer", "default preset"):
            base = {
                r["seed"]: r
                for r in rows
                if (r["dataset"], r["learner"], r["ridge"])
                == (name, learner, ridges[0])
            }
            for ridge in ridges:
                group = [
                    r
                    for r in rows
                    if (r["dataset"], r["learner"], r["ridge"])
                    == (name, learner, ridge)
                ]
                parts = []
                for key, label in (
                    ("vs_fa", "vs FA"),
                    ("mmd2_ratio", "MMD^2 x FA's"),
                    ("spread", "top-2 variance x FA's"),
                ):
                    values = np.array([r[key] for r in group])
                    if np.isnan(values).all():
                        continue
                    diff = values - np.array([base[r["seed"]][key] for r in group])
                    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
                    parts.append(
                        f"{label} {values.mean():+.3f} [{values.min():+.3f}, "
                        f"{values.max():+.3f}] ({diff.mean():+.3f} +- {se:.3f})"
                    )
                print(
                    f"  {name:8s} {learner:15s} {penalty_label(ridge):>7s}  "
                    + "  ".join(parts)
                )
    return rows


def run(
    datasets,
    epochs,
    seeds,
    n_samples=4000,
    user=True,
    one_layer=True,
    ddc_params=None,
    learners=None,
):
    rows = []
    for name in datasets:
        X_train, X_test, d = load(name)
        # Features constant in the training rows (digits: 3 corner pixels,
        # also constant in the test rows) make the likelihood unbounded: each
        # is worth -0.5 log(2 pi v) for a noise variance v that a learner may
        # take to any floor. Every log p(x) is also given on the others.
        varying = varying_features(X_train)
        for seed in seeds:
            start = time.perf_counter()
            fa = FactorAnalysis(d, random_state=seed).fit(X_train)
            seconds = time.perf_counter() - start
            fa_samples = factor_analysis_samples(fa, n_samples, seed + 1)
            fa_mmd = mmd2(X_test, fa_samples)
            fa_row = dict(
                dataset=name,
                seed=seed,
                learner=f"FactorAnalysis({d})",
                score=fa.score(X_test),
                score_varying=factor_analysis_log_likelihood(fa, X_test, varying),
                mmd2=fa_mmd,
                mmd2_varying=mmd2(X_test[:, varying], fa_samples[:, varying]),
                mmd2_ratio=1.0,
                seconds=seconds,
            )
            rows.append(fa_row)
            print(
                f"{name} (n={X_train.shape[0]}, D={X_train.shape[1]}, d={d}, "
                f"{len(varying)} features vary) seed {seed}: "
                f"FactorAnalysis({d}) held-out log p(x) {fa_row['score']:8.3f} "
                f"(varying features {fa_row['score_varying']:8.3f})  "
                f"MMD^2 {fa_mmd:.2e}  {seconds:5.2f} s",
                flush=True,
            )
            for learner, params in LEARNERS.items() if one_layer else ():
                est = DDCHelmholtzEstimator(
                    model="gaussian",
                    latent_dims=(d,),
                    max_iter=epochs,
                    random_state=seed,
                    **params,
                ).set_params(**(ddc_params or {}))
                seconds, n_warnings = timed_fit(est, X_train)
                value = mmd2(
                    X_test, np.asarray(est.sample(n_samples, random_state=seed + 1))
                )
                row = dict(
                    dataset=name,
                    seed=seed,
                    learner=learner,
                    # exact (score's importance estimate is 0.04 nat off here)
                    score=np.mean(linear_gaussian_log_likelihood(est.model_, X_test)),
                    score_estimate=est.score(X_test),
                    score_varying=np.mean(
                        linear_gaussian_log_likelihood(est.model_, X_test, varying)
                    ),
                    mmd2=value,
                    mmd2_ratio=value / fa_mmd,
                    seconds=seconds,
                    warnings=n_warnings,
                )
                cos = ""
                if params.get("expectations") != "importance":
                    exact = exact_observation_gradient(est.model_, X_train)
                    ddc = ddc_observation_gradient(est, X_train)
                    # on the varying features: a constant one's bias gradient, (x -
                    # m) / v at a variance near its floor, would swamp the rest
                    row["cosine"] = {
                        k: cosine(ddc[k][varying], exact[k][varying]) for k in exact
                    }
                    cos = "  gradient cosine " + " ".join(
                        f"{k} {c:+.2f}" for k, c in row["cosine"].items()
                    )
                rows.append(row)
                print(
                    f"  {learner:22s} log p(x) {row['score']:8.3f} "
                    f"({row['score'] - fa_row['score']:+7.3f} vs FA; varying "
                    f"features {row['score_varying']:8.3f}, "
                    f"{row['score_varying'] - fa_row['score_varying']:+7.3f})  "
                    f"MMD^2 {value:.2e} "
                    f"({row['mmd2_ratio']:6.2f}x FA's)  {seconds:5.1f} s  "
                    f"{n_warnings} warnings{cos}",
                    flush=True,
                )
            if user:
                rows.extend(
                    user_choices(
                        X_train,
                        X_test,
                        d,
                        epochs,
                        seed,
                        n_samples,
                        fa_row,
                        ddc_params,
                        learners,
                    )
                )
    return rows


def summarise(rows):
    """Print, for every dataset and learner fitted on more than one seed, the
    mean, smallest and largest over seeds of its held-out log p(x) on the
    varying features, of its difference from factor analysis's (same seed)
    and of its MMD^2 as a multiple of factor analysis's; returns them as a
    dict keyed ``(dataset, learner)``. ``GaussianMixture`` and
    ``FactorAnalysis`` rows chosen by BIC are pooled whatever number of
    components or factors BIC chose."""
    factor = {
        (r["dataset"], r["seed"]): r["score_varying"]
        for r in rows
        # the run's yardstick, not the learner "FactorAnalysis(k), BIC"
        if r["learner"].startswith("FactorAnalysis") and "kind" not in r
    }
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r.get("kind", r["learner"])), []).append(r)
    summary = {}
    for key, group in groups.items():
        if len(group) < 2:
            continue
        stats = {}
        for name, values in (
            ("log p(x)", [r["score_varying"] for r in group]),
            (
                "vs FA",
                [r["score_varying"] - factor[r["dataset"], r["seed"]] for r in group],
            ),
            ("MMD^2 x FA's", [r["mmd2_ratio"] for r in group]),
        ):
            stats[name] = (float(np.mean(values)), min(values), max(values))
        summary[key] = stats
    if summary:
        print(
            "\nover seeds: mean [smallest, largest]; log p(x) on the varying features"
        )
        for (dataset, learner), stats in summary.items():
            print(
                f"  {dataset:7s} {learner:30s} "
                + "  ".join(
                    f"{name} {mean:8.3f} [{low:8.3f}, {high:8.3f}]"
                    for name, (mean, low, high) in stats.items()
                ),
                flush=True,
            )
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS)
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--no-user-choices",
        action="store_true",
        help="leave out the default preset and GaussianMixture by BIC",
    )
    parser.add_argument(
        "--widths-only",
        action="store_true",
        help="of the default preset's learners only the defaults "
        "(latent_dims='auto'), (2, 1) and (d, 2)",
    )
    parser.add_argument(
        "--no-one-layer",
        action="store_true",
        help="leave out the one-layer DDC-HM learners (factor analysis stays)",
    )
    parser.add_argument(
        "--oracle",
        type=int,
        nargs="+",
        metavar="EPOCHS",
        help="instead, compare the default preset's DDC gradient with the true "
        "one after each of these numbers of epochs",
    )
    parser.add_argument(
        "--at-optimum",
        action="store_true",
        help="instead, DDC-HM's posterior moments and wake gradient at the "
        "maximum-likelihood factor model, with the statistic whitened and not",
    )
    add_ddc_param(parser, "sleep_decay=0.9")
    parser.add_argument(
        "--ridges",
        type=penalty,
        nargs="+",
        metavar="RIDGE",
        help="instead, the one-layer model and the default preset at each of "
        "these ridge penalties (numbers or gcv; the first is the reference), e.g. "
        f"{' '.join(f'{r:g}' for r in STUDY_RIDGES)}",
    )
    args = parser.parse_args(argv)
    if args.ridges:
        ridge_study(args.datasets, args.ridges, args.seeds, args.epochs)
        return
    if args.at_optimum:
        for name in args.datasets:
            at_optimum(name, seed=args.seeds[0])
        return
    if args.oracle:
        for name in args.datasets:
            preset_oracle(name, args.oracle, seed=args.seeds[0])
        return
    rows = run(
        args.datasets,
        args.epochs,
        args.seeds,
        user=not args.no_user_choices,
        one_layer=not args.no_one_layer,
        ddc_params=ddc_params(args.ddc_param),
        learners=WIDTH_LEARNERS if args.widths_only else None,
    )
    summarise(rows)


if __name__ == "__main__":
    main()
