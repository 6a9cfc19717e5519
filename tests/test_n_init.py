"""``n_init``: several random starts, the best kept by the training rows.

The kept fit is checked against a brute force through the public API: every
start fitted on its own with ``n_init=1`` and scored by
:func:`~sklearn_ddchm.log_likelihood` with the documented seeds and rows.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import sklearn_ddchm._base as base
from sklearn_ddchm import DDCHelmholtzEstimator, log_likelihood
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical

SMALL = dict(n_encoding=20, n_hidden=20, n_sleep_samples=100, n_importance=20)

ESTIMATORS = {
    "ddc": lambda **kw: DDCHelmholtzEstimator(**SMALL, **kw),
    "vae": lambda **kw: VAEEstimator(hidden_layer_sizes=(4,), **kw),
    "iwae": lambda **kw: IWAEEstimator(n_particles=2, hidden_layer_sizes=(4,), **kw),
    "vimco": lambda **kw: VIMCOEstimator(n_particles=2, **kw),
}


def _data(name, n=120, seed=0):
    rng = np.random.RandomState(seed)
    if name == "vimco":  # binary observations for the sigmoid belief network
        return (rng.uniform(size=(n, 4)) < 0.3).astype(float)
    return rng.normal(size=(n, 3)) @ rng.normal(size=(3, 3))


@pytest.fixture(scope="module")
def cancer():
    X = load_breast_cancer().data[:, :10]
    return StandardScaler().fit_transform(X)


def _starts(random_state, n_init):
    """The documented starts and the comparison's seed."""
    seeds = np.random.RandomState(random_state).randint(
        np.iinfo(np.int32).max, size=n_init
    )
    return [random_state, *(int(s) for s in seeds[1:])], int(seeds[0])


def _parameters(est):
    return {k: np.asarray(v) for k, v in est.model_.get_parameters().items()}


def _assert_same_model(a, b):
    pa, pb = _parameters(a), _parameters(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


@pytest.mark.parametrize("row_cap", [None, 150])
def test_n_init_keeps_the_start_with_the_best_training_log_likelihood(
    cancer, row_cap, monkeypatch
):
    if row_cap is not None:
        monkeypatch.setattr(base, "N_INIT_SCORE_ROWS", row_cap)
    params = dict(latent_dims=(3, 2), max_iter=8, random_state=4, **SMALL)
    n_init = 4
    est = DDCHelmholtzEstimator(n_init=n_init, **params).fit(cancer)

    # brute force: each start alone, scored on the documented rows and noise
    starts, seed = _starts(4, n_init)
    rows = np.arange(cancer.shape[0])
    if row_cap is not None:
        rows = np.sort(
            np.random.RandomState(seed).choice(cancer.shape[0], row_cap, replace=False)
        )
    fits, values = [], []
    for start in starts:
        fit = DDCHelmholtzEstimator(**{**params, "random_state": start}).fit(cancer)
        result = log_likelihood(
            fit, cancer[rows], method="importance", random_state=seed
        )
        fits.append(fit)
        values.append(float(np.mean(result.log_likelihood)))
    # the starts really differ, so picking the wrong one would show
    assert max(values) - min(values) > 0.5
    best = int(np.argmax(values))
    _assert_same_model(est, fits[best])
    assert est.n_iter_ == fits[best].n_iter_
    np.testing.assert_array_equal(est.transform(cancer), fits[best].transform(cancer))
    # the first start is n_init=1's fit
    _assert_same_model(fits[0], DDCHelmholtzEstimator(**params).fit(cancer))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_every_estimator_keeps_its_best_start(name):
    X = _data(name)
    make = ESTIMATORS[name]
    est = make(n_init=2, max_iter=2, random_state=0).fit(X)
    starts, seed = _starts(0, 2)
    singles = [make(max_iter=2, random_state=s).fit(X) for s in starts]
    values = [
        np.mean(
            log_likelihood(s, X, method="importance", random_state=seed).log_likelihood
        )
        for s in singles
    ]
    assert values[0] != values[1]
    _assert_same_model(est, singles[int(np.argmax(values))])
    assert est.get_params()["n_init"] == 2
    assert est.get_params()["random_state"] == 0


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_warm_start_continues_without_new_starts(name, monkeypatch):
    X = _data(name)
    est = ESTIMATORS[name](n_init=3, max_iter=1, random_state=0).fit(X)
    calls = []
    original = base.BaseDeepGenerativeEstimator._fit_best_of_starts
    monkeypatch.setattr(
        base.BaseDeepGenerativeEstimator,
        "_fit_best_of_starts",
        lambda self, X: calls.append(1) or original(self, X),
    )
    before = _parameters(est)
    est.set_params(warm_start=True).fit(X)
    assert calls == []
    assert est.n_iter_ == 2
    assert any(not np.array_equal(before[k], v) for k, v in _parameters(est).items())
    # partial_fit ignores n_init too
    est.partial_fit(X)
    assert calls == [] and est.n_iter_ == 3


def test_a_fit_that_diverged_ranks_below_every_fit_that_did_not(cancer, monkeypatch):
    # Start 0 is made the best by the comparison and flagged as diverged: the
    # other start is kept.
    params = dict(latent_dims=(3, 2), max_iter=2, random_state=0, **SMALL)
    original_run = base.BaseDeepGenerativeEstimator._run

    def run(self, *args, **kwargs):
        original_run(self, *args, **kwargs)
        if self.random_state == 0:
            self.diverged_ = True

    monkeypatch.setattr(base.BaseDeepGenerativeEstimator, "_run", run)
    monkeypatch.setattr(
        base.BaseDeepGenerativeEstimator,
        "_mean_log_likelihood",
        lambda self, X, random_state=None: 0.0 if self.random_state == 0 else -1.0,
    )
    est = DDCHelmholtzEstimator(n_init=2, **params).fit(cancer)
    starts, _ = _starts(0, 2)
    other = DDCHelmholtzEstimator(**{**params, "random_state": starts[1]}).fit(cancer)
    _assert_same_model(est, other)
    assert not est.diverged_


def test_when_every_start_diverges_one_convergence_warning():
    X, _, _ = make_sparse_hierarchical(1000, random_state=0)
    est = DDCHelmholtzEstimator(
        n_sleep_samples=300, learning_rate=100.0, max_iter=3, random_state=0, n_init=3
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == 1
    assert "diverged" in str(convergence[0].message)
    assert est.diverged_
    params = est.model_.get_parameters()
    assert all(np.all(np.isfinite(np.asarray(v))) for v in params.values())


def test_the_kept_fit_warns_once(cancer):
    X = np.column_stack([cancer[:, :4], np.zeros(cancer.shape[0])])
    est = DDCHelmholtzEstimator(
        latent_dims=(2, 1), max_iter=1, random_state=0, n_init=3, **SMALL
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    # the same warning a single start raises
    with pytest.warns(UserWarning) as single:
        est.set_params(n_init=1).fit(X)
    assert [str(w.message) for w in single] == messages


def test_a_failed_fit_with_n_init_leaves_the_estimator_as_it_was(cancer):
    est = DDCHelmholtzEstimator(
        latent_dims=(2, 1), max_iter=1, random_state=0, n_init=2, **SMALL
    )
    est.fit(cancer)
    before = _parameters(est)
    Z = est.transform(cancer)
    bad = cancer.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad)
    for key, value in _parameters(est).items():
        np.testing.assert_array_equal(value, before[key])
    np.testing.assert_array_equal(est.transform(cancer), Z)


def test_n_init_must_be_a_positive_integer(cancer):
    with pytest.raises(ValueError, match="n_init"):
        DDCHelmholtzEstimator(n_init=0).fit(cancer)
    with pytest.raises((TypeError, ValueError), match="n_init"):
        DDCHelmholtzEstimator(n_init=1.5).fit(cancer)


def test_verbose_names_each_start_and_the_kept_one(cancer, capsys):
    DDCHelmholtzEstimator(
        latent_dims=(2, 1), max_iter=1, random_state=0, n_init=2, verbose=1, **SMALL
    ).fit(cancer)
    out = capsys.readouterr().out
    assert "start 1/2: mean log-likelihood of 569 training rows" in out
    assert "start 2/2" in out
    assert "kept start" in out


def test_output_configuration_survives_n_init(cancer):
    pd = pytest.importorskip("pandas")
    est = DDCHelmholtzEstimator(
        latent_dims=(2, 1), max_iter=1, random_state=0, n_init=2, **SMALL
    ).set_output(transform="pandas")
    frame = pd.DataFrame(cancer, columns=[f"f{i}" for i in range(cancer.shape[1])])
    Z = est.fit(frame).transform(frame)
    assert isinstance(Z, pd.DataFrame)
    assert list(est.feature_names_in_) == list(frame.columns)


def test_n_init_in_every_namespace_matches_numpy(backend, cancer, monkeypatch):
    # the comparison's rows are taken from X in its own namespace and device
    monkeypatch.setattr(base, "N_INIT_SCORE_ROWS", 100)
    params = dict(latent_dims=(2, 1), max_iter=2, random_state=0, n_init=3, **SMALL)
    reference = DDCHelmholtzEstimator(**params).fit(cancer)
    X = backend.asarray(cancer)
    est = DDCHelmholtzEstimator(**params).fit(X)
    for key, value in _parameters(reference).items():
        got = backend.to_numpy(est.model_.get_parameters()[key])
        np.testing.assert_allclose(got, value, rtol=1e-8, atol=1e-10, err_msg=key)


def test_n_init_with_early_stopping_and_a_model_instance(cancer):
    from sklearn_ddchm.models._presets import build_model

    model = build_model("gaussian", cancer.shape[1], (2,))
    model.initialize(np.random.RandomState(7))
    before = {k: np.array(v) for k, v in model.get_parameters().items()}
    params = dict(
        model=model,
        max_iter=3,
        early_stopping=True,
        n_iter_no_change=1,
        random_state=0,
        **SMALL,
    )
    est = DDCHelmholtzEstimator(n_init=2, **params).fit(cancer)
    starts, _ = _starts(0, 2)
    singles = [
        DDCHelmholtzEstimator(**{**params, "random_state": s}).fit(cancer)
        for s in starts
    ]
    kept = [s for s in singles if s.validation_scores_ == est.validation_scores_]
    assert len(kept) == 1
    _assert_same_model(est, kept[0])
    # the model passed in is a parameter: every start fits a copy of it
    for key, value in model.get_parameters().items():
        np.testing.assert_array_equal(value, before[key])
