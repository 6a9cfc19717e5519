"""``latent_dims="auto"``: the factor-analysis BIC choice of the latent widths."""

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.decomposition import FactorAnalysis

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm._latent_dims import (
    FALLBACK_LATENT_DIMS,
    MIN_BINARY_VARIANCE,
    auto_latent_dims,
    chooses_from_data,
    factor_analysis_bic,
    ledermann_bound,
    search_columns,
    select_n_factors,
)
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.models import DeepExponentialFamily, GaussianLayer, GaussianPrior


def factor_data(n, n_features, n_factors, seed):
    """Rows of a factor model with well separated loadings."""
    rng = np.random.RandomState(seed)
    loadings = rng.normal(size=(n_features, n_factors)) * 1.5
    noise = rng.uniform(0.2, 0.6, size=n_features)
    Z = rng.normal(size=(n, n_factors))
    return Z @ loadings.T + rng.normal(size=(n, n_features)) * np.sqrt(noise) + 0.3


def binary_factor_data(n, n_features, n_factors, seed, n_rare=0):
    """Rows of a thresholded factor model (every column on in 15-85% of the
    rows), with ``n_rare`` columns appended that are on in one row each."""
    rng = np.random.RandomState(seed)
    latent = factor_data(n, n_features, n_factors, seed)
    cut = np.quantile(latent, rng.uniform(0.15, 0.85, size=n_features), axis=0)
    X = (latent > np.diag(cut)).astype(float)
    rare = np.zeros((n, n_rare))
    rare[rng.randint(n, size=n_rare), np.arange(n_rare)] = 1.0
    return np.hstack([X, rare])


def count_parameters(n_features, n_factors):
    """Free parameters of a factor model, counted one by one: the loadings
    (a d x k matrix less the k (k - 1) / 2 of a rotation), the noise
    variances and the mean."""
    loadings = sum(1 for _ in range(n_features) for _ in range(n_factors))
    rotation = sum(1 for i in range(n_factors) for j in range(i))
    return loadings - rotation + n_features + n_features


@pytest.mark.parametrize("n_features", range(1, 80))
def test_ledermann_bound_counts_parameters(n_features):
    # a factor model is identifiable while it has no more parameters (mean
    # aside) than the covariance it models has entries
    k = ledermann_bound(n_features)
    entries = n_features * (n_features + 1) // 2
    if k:
        assert count_parameters(n_features, k) - n_features <= entries
    assert count_parameters(n_features, k + 1) - n_features > entries


def test_factor_analysis_bic_against_exact_likelihood():
    X = factor_data(400, 9, 3, seed=0)
    for k in (1, 3, 5):
        fa = FactorAnalysis(k, random_state=0).fit(X)
        log_l = multivariate_normal(fa.mean_, fa.get_covariance()).logpdf(X).sum()
        expected = -2 * log_l + count_parameters(9, k) * math.log(400)
        assert factor_analysis_bic(X, k) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("n_factors, n_features", [(1, 6), (4, 15), (7, 20)])
def test_select_n_factors_recovers_the_true_count(n_factors, n_features):
    X = factor_data(2000, n_features, n_factors, seed=n_factors)
    identifiable = range(1, ledermann_bound(n_features) + 1)
    scan = [factor_analysis_bic(X, k) for k in identifiable]
    assert 1 + int(np.argmin(scan)) == n_factors
    assert select_n_factors(X) == n_factors


def test_select_n_factors_none_identifiable():
    assert select_n_factors(np.random.RandomState(0).normal(size=(50, 2))) == 0


@pytest.mark.parametrize(
    "X, binary",
    [
        (np.random.RandomState(0).normal(size=(200, 2)), False),  # no factor model
        # five features: at most two factors, so (2, 1) whatever BIC says
        (factor_data(500, 5, 2, seed=0), False),
        (np.random.RandomState(0).normal(size=(2, 10)), False),  # two rows
        # binary: five columns to search, whatever the rare ones
        (binary_factor_data(500, 5, 2, seed=0, n_rare=20), True),
    ],
)
def test_auto_latent_dims_falls_back(X, binary):
    assert auto_latent_dims(X, binary=binary) == FALLBACK_LATENT_DIMS


def test_the_search_runs_only_where_it_can_choose_other_widths():
    # D_1 = max(2, k) with k <= ledermann_bound(d): d <= 5 allows k <= 2 only
    assert [ledermann_bound(d) for d in range(8)] == [0, 0, 0, 1, 1, 2, 3, 3]
    rng = np.random.RandomState(0)
    assert not chooses_from_data(rng.normal(size=(100, 5)), binary=False)
    assert chooses_from_data(rng.normal(size=(100, 6)), binary=False)
    assert not chooses_from_data(rng.normal(size=(2, 6)), binary=False)
    # binary data: counted on the columns searched
    assert chooses_from_data(binary_factor_data(100, 6, 2, seed=0), binary=True)
    X = binary_factor_data(100, 5, 2, seed=0, n_rare=30)
    assert not chooses_from_data(X, binary=True)
    # no column varies: none to search
    assert not chooses_from_data(np.zeros((30, 8)), binary=True)


def test_search_columns_drop_the_nearly_constant_binary_ones():
    # a column on in k of 1,000 rows has variance p (1 - p), p = k / 1000
    n = 1000
    counts = np.array([0, 1, 5, 10, 11, 12, 50, 500, 988, 989, 990, 995, 1000])
    X = (np.arange(n)[:, None] < counts[None, :]).astype(float)
    share = counts / n
    expected = share * (1 - share) > MIN_BINARY_VARIANCE
    assert expected.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    np.testing.assert_array_equal(search_columns(X, binary=True), expected)
    # continuous data keep every column, constant ones included
    assert search_columns(X * 0.001, binary=False).all()


@pytest.mark.parametrize("n_factors", [2, 4])
def test_binary_data_are_searched_on_their_varying_columns(n_factors):
    X = binary_factor_data(2000, 24, n_factors, seed=n_factors, n_rare=40)
    kept = X[:, :24]
    # the choice is the scan's minimum over the 24 varying columns alone
    scan = [factor_analysis_bic(kept, k) for k in range(1, ledermann_bound(24) + 1)]
    d1 = max(2, 1 + int(np.argmin(scan)))
    assert auto_latent_dims(X, binary=True) == (d1, max(1, d1 // 2))
    assert auto_latent_dims(kept, binary=True) == (d1, max(1, d1 // 2))
    assert d1 >= n_factors


def test_top_layer_is_at_most_ten_wide(monkeypatch):
    import sklearn_ddchm._latent_dims as module

    X = factor_data(200, 12, 4, seed=0)
    for k, expected in [(20, (20, 10)), (21, (21, 10)), (92, (92, 10))]:
        monkeypatch.setattr(module, "select_n_factors", lambda X, m, k=k: k)
        assert auto_latent_dims(X, binary=False) == expected


def test_auto_latent_dims_halves_upwards():
    X = factor_data(2000, 20, 6, seed=1)
    assert auto_latent_dims(X, binary=False) == (6, 3)
    # a single factor still gets two latent units (the paper's smallest model)
    X = factor_data(2000, 8, 1, seed=1)
    assert select_n_factors(X) == 1
    assert auto_latent_dims(X, binary=False) == (2, 1)


@pytest.mark.parametrize(
    "Estimator, params",
    [
        (DDCHelmholtzEstimator, {}),
        (VAEEstimator, {}),
        (IWAEEstimator, {}),
        (VIMCOEstimator, {"model": "sbn_gaussian"}),
    ],
)
def test_estimators_resolve_auto(Estimator, params):
    X = factor_data(600, 12, 4, seed=2)
    est = Estimator(max_iter=1, random_state=0, **params).fit(X)
    assert est.latent_dims_ == (4, 2)
    assert est.model_.latent_dims == (4, 2)
    assert est.latent_dims == "auto"  # the parameter is left as given


def test_binary_data_choose_for_sbn_and_sparse_models():
    X = binary_factor_data(600, 16, 4, seed=1, n_rare=10)
    expected = auto_latent_dims(X, binary=True)
    assert expected != FALLBACK_LATENT_DIMS
    for model in ("sbn", "sparse"):
        est = DDCHelmholtzEstimator(model=model, max_iter=1, random_state=0).fit(X)
        assert est.latent_dims_ == est.model_.latent_dims == expected


def test_explicit_widths_and_model_instances_are_kept():
    X = factor_data(300, 12, 4, seed=3)
    est = DDCHelmholtzEstimator(latent_dims=(3,), max_iter=1, random_state=0).fit(X)
    assert est.latent_dims_ == (3,)
    model = DeepExponentialFamily([GaussianLayer(12, 5), GaussianPrior(5)])
    est = DDCHelmholtzEstimator(model=model, max_iter=1, random_state=0).fit(X)
    assert est.latent_dims_ == (5,)


def test_auto_draws_nothing_from_the_fit_stream():
    # on two features "auto" is (2, 1): the fit must be the one (2, 1) gives,
    # draw for draw (the package's main job fits such data with the defaults)
    X = np.random.RandomState(4).standard_t(3, size=(300, 2))
    auto = DDCHelmholtzEstimator(max_iter=2, random_state=0).fit(X)
    fixed = DDCHelmholtzEstimator(latent_dims=(2, 1), max_iter=2, random_state=0).fit(X)
    for a, b in zip(auto.model_.layers, fixed.model_.layers, strict=True):
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])


def test_partial_fit_chooses_on_the_first_batch():
    X = factor_data(600, 12, 4, seed=2)
    est = DDCHelmholtzEstimator(random_state=0).partial_fit(X[:300])
    assert est.latent_dims_ == auto_latent_dims(X[:300], binary=False)
    est.partial_fit(X[300:])
    assert est.latent_dims_ == est.model_.latent_dims


def test_auto_learns_a_wide_table_better_than_two_latents():
    # five factors in sixteen features: "auto" finds them and the held-out
    # likelihood of its fit beats the old default (2, 1)'s by 7.5 nats per
    # row and comes within 0.8 nat of the maximum-likelihood factor model's
    # (fit seeds 1 and 2: 7.3 and 4.4 nats above (2, 1), 0.7 and 3.9 below
    # factor analysis)
    X = factor_data(1500, 16, 5, seed=5)
    X_train, X_test = X[:1000], X[1000:]
    auto = DDCHelmholtzEstimator(max_iter=40, random_state=0).fit(X_train)
    old = DDCHelmholtzEstimator(latent_dims=(2, 1), max_iter=40, random_state=0)
    old.fit(X_train)
    fa = FactorAnalysis(5).fit(X_train)
    assert auto.latent_dims_ == (5, 2)
    auto_score, old_score = auto.score(X_test), old.score(X_test)
    assert auto_score > old_score + 4.0
    assert auto_score > fa.score(X_test) - 1.5


def test_verbose_names_the_widths_chosen(capsys):
    X = factor_data(300, 12, 4, seed=2)
    DDCHelmholtzEstimator(max_iter=1, random_state=0, verbose=1).fit(X)
    assert "latent_dims='auto': (4, 2)" in capsys.readouterr().out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_auto_chooses_alike_in_every_namespace(backend, dtype):
    # the factor search runs on the host; the widths must not depend on the
    # namespace, device or precision the data come in
    X = factor_data(600, 12, 4, seed=2)
    est = DDCHelmholtzEstimator(max_iter=1, random_state=0)
    est.fit(backend.asarray(X, dtype=dtype))
    assert est.latent_dims_ == (4, 2)


def test_best_of_starts_searches_once_and_keeps_the_widths(monkeypatch):
    import sklearn_ddchm._base as base

    calls = []

    def counted(X, *, binary):
        calls.append(X.shape)
        return auto_latent_dims(X, binary=binary)

    monkeypatch.setattr(base, "auto_latent_dims", counted)
    X = factor_data(300, 12, 4, seed=2)
    est = DDCHelmholtzEstimator(n_init=3, max_iter=1, random_state=0).fit(X)
    assert calls == [(300, 12)]
    assert est.latent_dims_ == est.model_.latent_dims == (4, 2)
    assert est.latent_dims == "auto"
    # the starts are the fits "auto" would have made: the same best start
    again = DDCHelmholtzEstimator(
        latent_dims=(4, 2), n_init=3, max_iter=1, random_state=0
    ).fit(X)
    for name, value in again.model_.get_parameters().items():
        np.testing.assert_array_equal(est.model_.get_parameters()[name], value)


def test_auto_learns_binary_digits_better_than_two_latents():
    # scikit-learn's digits, each pixel on above 7 of 16: "auto" chooses
    # from the pixels that vary, (19, 9), and its sigmoid belief network fits
    # held-out images better than the former default (2, 1): by 3.78 and
    # 3.82 nats per image on fit seeds 0 and 1 (-19.71 against -23.49)
    from sklearn.datasets import load_digits

    X = (load_digits().data > 7).astype(float)
    X_train, X_test = X[:1200], X[1200:1500]
    auto = DDCHelmholtzEstimator(model="sbn", max_iter=30, random_state=0)
    auto.fit(X_train)
    old = DDCHelmholtzEstimator(
        model="sbn", latent_dims=(2, 1), max_iter=30, random_state=0
    ).fit(X_train)
    assert auto.latent_dims_ == auto_latent_dims(X_train, binary=True)
    assert auto.latent_dims_[0] > 10
    gain = auto.score(X_test) - old.score(X_test)
    assert gain > 2.5
