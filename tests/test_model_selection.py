"""Model selection of Pipelines ending in a generative model, scored by MMD.

The design card's usage: ``Pipeline([..., ("ddc", DDCHelmholtzEstimator())])``
in GridSearchCV, RandomizedSearchCV, HalvingGridSearchCV and cross_val_score
with the MMD scorers. Every search runs with ``error_score="raise"``, so a score
that could not be computed fails the test instead of turning into NaN. The fits
are tiny (a few epochs on a few hundred points); the data are chosen so that
which candidate is better is known in advance:

- ``learning_rate=1e-6`` leaves a model where it was initialised, while 0.1
  trains it; on linear-Gaussian data with one strong direction the trained
  model is closer to held-out data on every fold (4 data sets, 3 folds each,
  when the test was written: MMD^2 0.11-0.16 untrained, 0.006-0.11 trained);
- without a scaler, a model must move its offsets by 10 (3 standard
  deviations), which 30 Adam steps of size about 0.1 cannot do.
"""

import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.feature_selection import VarianceThreshold
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.metrics import (
    make_mmd_scorer,
    median_heuristic,
    mmd2,
    neg_mmd_scorer,
)

# The searches choose between a model trained a few steps and one that barely
# moves; both start from random parameters (init="random") because the data
# start of init="auto" is already a principal-subspace fit that a few large
# steps need not improve on.
TRAINED, UNTRAINED = 0.1, 1e-6


def _linear_gaussian(seed, n=300):
    """One latent direction in 4-D, offset 10 and scale ~3 (far from the init)."""
    rng = np.random.RandomState(seed)
    z = rng.normal(size=(n, 1))
    return z @ np.array([[3.0, -2.0, 1.0, 2.0]]) + 0.3 * rng.normal(size=(n, 4)) + 10


def _binary(seed, n=300):
    """Binary data with a column that is always 1 (a VarianceThreshold drops it)."""
    rng = np.random.RandomState(seed)
    z = rng.uniform(size=(n, 1)) < 0.5
    flips = rng.uniform(size=(n, 5)) < 0.1
    X = np.hstack([np.logical_xor(z, flips), np.ones((n, 1), dtype=bool)])
    return X.astype(float)


def _ddc(**kw):
    return DDCHelmholtzEstimator(
        model="gaussian",
        latent_dims=1,
        n_encoding=20,
        n_hidden=20,
        n_sleep_samples=100,
        batch_size=20,
        max_iter=3,
        init="random",
        random_state=0,
        **kw,
    )


def _vae(cls=VAEEstimator, **kw):
    kw = {"hidden_layer_sizes": (10,), "init": "random", **kw}
    return cls(
        model="gaussian", latent_dims=1, batch_size=20, max_iter=3, random_state=0, **kw
    )


def _finite(search):
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)), scores
    return scores


def test_grid_search_ddc_pipeline_prefers_the_trained_model():
    X = _linear_gaussian(0)
    pipe = Pipeline([("scale", StandardScaler()), ("ddc", _ddc())])
    search = GridSearchCV(
        pipe,
        {"ddc__learning_rate": [UNTRAINED, TRAINED]},
        scoring=neg_mmd_scorer,
        cv=3,
        error_score="raise",
    ).fit(X)
    _finite(search)
    assert search.best_params_ == {"ddc__learning_rate": TRAINED}
    for k in range(3):
        untrained, trained = search.cv_results_[f"split{k}_test_score"]
        assert trained > untrained


def test_grid_search_over_the_preprocessing_compares_in_the_data_space():
    """Candidates with and without a scaler are scored in one space, the data's:
    the samples of the scaled pipeline are scaled back."""
    X = _linear_gaussian(1)
    pipe = Pipeline([("scale", StandardScaler()), ("vae", _vae(learning_rate=TRAINED))])
    search = GridSearchCV(
        pipe,
        {"scale": [StandardScaler(), "passthrough"]},
        scoring=neg_mmd_scorer,
        cv=3,
        error_score="raise",
    ).fit(X)
    scaled, raw = _finite(search)
    assert scaled > raw
    assert isinstance(search.best_params_["scale"], StandardScaler)


def test_randomized_search_iwae_pipeline():
    X = _linear_gaussian(2)
    pipe = Pipeline([("scale", StandardScaler()), ("iwae", _vae(IWAEEstimator))])
    search = RandomizedSearchCV(
        pipe,
        {"iwae__learning_rate": [UNTRAINED, TRAINED], "iwae__n_particles": [2, 3]},
        n_iter=4,
        scoring=make_mmd_scorer(estimator="biased"),
        cv=2,
        random_state=0,
        error_score="raise",
    ).fit(X)
    scores = _finite(search)
    assert len(scores) == 4
    assert search.best_params_["iwae__learning_rate"] == TRAINED


def test_halving_search_over_max_iter_of_a_pipeline():
    """The resource is the final step's max_iter (``ddc__max_iter``)."""
    X = _linear_gaussian(3)
    pipe = Pipeline([("scale", StandardScaler()), ("ddc", _ddc())])
    search = HalvingGridSearchCV(
        pipe,
        {"ddc__learning_rate": [UNTRAINED, TRAINED]},
        resource="ddc__max_iter",
        min_resources=1,
        max_resources=3,
        factor=2,
        scoring=neg_mmd_scorer,
        cv=2,
        error_score="raise",
    ).fit(X)
    _finite(search)
    assert search.n_resources_ == [1, 2]
    assert search.best_params_["ddc__learning_rate"] == TRAINED
    assert search.best_estimator_[-1].n_iter_ == 2


def test_halving_search_gaussian_mixture_pipeline():
    rng = np.random.RandomState(4)
    X = np.concatenate([rng.normal(-3, 1, (150, 2)), rng.normal(3, 1, (150, 2))])
    X = 100.0 + 10.0 * X[rng.permutation(len(X))]
    pipe = Pipeline(
        [("scale", StandardScaler()), ("gm", GaussianMixture(random_state=0))]
    )
    search = HalvingGridSearchCV(
        pipe,
        {"gm__n_components": [1, 2]},
        resource="gm__max_iter",
        min_resources=5,
        max_resources=20,
        factor=2,
        scoring=neg_mmd_scorer,
        cv=3,
        error_score="raise",
    ).fit(X)
    _finite(search)
    assert search.best_params_["gm__n_components"] == 2


def _manual_scores(make_pipe, X, space_of):
    """cross_val_score by hand: fit on each training fold, bring data and
    samples to the comparison space with ``space_of(pipe, X_test, drawn)``, and
    compute -MMD^2_u with the median width of the held-out data."""
    out = []
    for train, test in KFold(2).split(X):
        pipe = make_pipe().fit(X[train])
        drawn = pipe[-1].sample(len(test), random_state=0)
        X_space, samples = space_of(pipe, X[test], drawn)
        out.append(-mmd2(X_space, samples, bandwidth=median_heuristic(X_space)))
    return out


def test_cross_val_score_ddc_pipeline_equals_manual_scores():
    X = _linear_gaussian(5, n=200)

    def make_pipe():
        return Pipeline(
            [("scale", StandardScaler()), ("ddc", _ddc(learning_rate=TRAINED))]
        )

    scores = cross_val_score(make_pipe(), X, scoring=neg_mmd_scorer, cv=2)

    def data_space(pipe, X_test, drawn):
        return X_test, pipe[0].inverse_transform(drawn)

    manual = _manual_scores(make_pipe, X, data_space)
    np.testing.assert_allclose(scores, manual, rtol=1e-10)


def test_cross_val_score_vimco_pipeline_with_feature_selector():
    """The selector's inverse would put 0 where the data have 1: not exact, so
    the held-out data are compared after the selector."""
    X = _binary(6, n=200)

    def make_pipe(learning_rate=TRAINED):
        vimco = VIMCOEstimator(
            latent_dims=1,
            n_particles=2,
            batch_size=20,
            max_iter=3,
            learning_rate=learning_rate,
            init="random",
            random_state=0,
        )
        return Pipeline([("select", VarianceThreshold()), ("vimco", vimco)])

    scores = cross_val_score(make_pipe(), X, scoring=neg_mmd_scorer, cv=2)
    manual = _manual_scores(
        make_pipe, X, lambda pipe, X_test, drawn: (X_test[:, :5], drawn)
    )
    np.testing.assert_allclose(scores, manual, rtol=1e-10)
    untrained = cross_val_score(make_pipe(UNTRAINED), X, scoring=neg_mmd_scorer, cv=2)
    assert np.all(scores > untrained)


@pytest.mark.parametrize(
    "final",
    [_ddc(learning_rate=TRAINED), _vae(learning_rate=TRAINED)],
    ids=["ddc", "vae"],
)
def test_pipeline_score_and_transform_stay_available(final):
    """The pipeline's own score (mean log-likelihood) and transform still work
    beside the MMD scorer: the scorer only adds a way to rank."""
    X = _linear_gaussian(7, n=200)
    pipe = Pipeline([("scale", StandardScaler()), ("model", final)]).fit(X)
    assert np.isfinite(pipe.score(X))
    assert pipe.transform(X).shape[0] == len(X)
    assert np.isfinite(neg_mmd_scorer(pipe, X))
