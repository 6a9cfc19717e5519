"""Regressions of issue 12: every bad input and every blow-up gets a clear answer.

Each test is one case of the issue's list (the training divergence guard for
finite blow-ups, the issue's first case, is tested with the training driver).
The property-based tests over the public API are in test_properties.py.
"""

import gzip
import math
import pickle
import re
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_ddchm import DDCHelmholtzEstimator, RandomSigmoidFeatures
from sklearn_ddchm import _wake_sleep as ws
from sklearn_ddchm._base import accepted_scale
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import binarize, load_idx, make_sparse_hierarchical
from sklearn_ddchm.metrics import (
    median_heuristic,
    mmd2,
    mmd_test,
    relative_mmd_test,
)

DDC_SMALL = dict(n_encoding=10, n_hidden=10, n_sleep_samples=30)
COMMON = dict(max_iter=2, n_importance=5, random_state=0)


def _estimators():
    """The four estimators, small; VIMCO on a sigmoid belief net (binary X)."""
    return [
        DDCHelmholtzEstimator(**DDC_SMALL, **COMMON),
        VAEEstimator(hidden_layer_sizes=(5,), **COMMON),
        IWAEEstimator(hidden_layer_sizes=(5,), n_particles=3, **COMMON),
        VIMCOEstimator(model="sbn", latent_dims=(3,), n_particles=3, **COMMON),
    ]


ESTIMATORS = pytest.mark.parametrize(
    "make_estimator",
    [lambda e=e: clone(e) for e in _estimators()],
    ids=[type(e).__name__ for e in _estimators()],
)


def _data(estimator, n_features, seed=0, n_samples=40):
    rng = np.random.RandomState(seed)
    if isinstance(estimator, VIMCOEstimator):
        return (rng.uniform(size=(n_samples, n_features)) < 0.4).astype(float)
    return rng.normal(size=(n_samples, n_features))


def _state(estimator):
    """Everything the estimator holds, as bytes: equal bytes, equal state."""
    return pickle.dumps(estimator)


@pytest.fixture
def no_runtime_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# ---------------------------------------------------------------------------
# Silent wrong results


def _sample_with_outlier(outlier):
    rng = np.random.RandomState(1)
    X, Y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 0.5
    X[4, 0] = outlier
    return X, Y


def test_mmd_test_with_a_1e300_value(no_runtime_warnings):
    # was: statistic=nan with pvalue=0.0196, the smallest attainable
    X, Y = _sample_with_outlier(1e300)
    res = mmd_test(X, Y, n_permutations=50, random_state=0)
    assert math.isfinite(res.statistic)
    # a 1e100 outlier (nothing overflows) is as far from every point: the
    # kernel values, the median width and the test are the same
    ref = mmd_test(*_sample_with_outlier(1e100), n_permutations=50, random_state=0)
    assert res.statistic == pytest.approx(ref.statistic, abs=1e-15)
    assert res.bandwidth == ref.bandwidth
    assert res.pvalue == ref.pvalue


def test_mmd2_and_relative_test_with_large_values(no_runtime_warnings):
    # was: NaN for a value of 1e160 (mmd2) and 1e300 (relative_mmd_test)
    X, Y = _sample_with_outlier(1e160)
    assert mmd2(X, Y) == pytest.approx(mmd2(*_sample_with_outlier(1e100)), abs=1e-15)
    X, Y = _sample_with_outlier(1e300)
    rel = relative_mmd_test(X, Y, Y + 0.2)
    ref = relative_mmd_test(*_sample_with_outlier(1e100), Y + 0.2)
    for field in ("statistic", "pvalue", "std", "mmd2_xy", "mmd2_xz"):
        assert math.isfinite(getattr(rel, field))
        assert getattr(rel, field) == pytest.approx(getattr(ref, field), abs=1e-12)


@pytest.mark.parametrize("estimator", ["unbiased", "biased", "linear"])
@pytest.mark.parametrize("bandwidth", [1e-160, 1e-300])
def test_mmd2_with_a_tiny_bandwidth(no_runtime_warnings, bandwidth, estimator):
    # was: NaN with RuntimeWarnings (1e-160), ZeroDivisionError (1e-300). The
    # kernel of distinct points is then 0 and k(x, x) = 1.
    rng = np.random.RandomState(2)
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(8, 2))
    m, n = 6, 8
    expected = {"unbiased": 0.0, "biased": 1 / m + 1 / n, "linear": 0.0}[estimator]
    assert mmd2(X, Y, bandwidth=bandwidth, estimator=estimator) == pytest.approx(
        expected, abs=1e-15
    )
    Y[0] = X[0]  # a point shared by both samples: k = 1 between them
    got = mmd2(X, Y, bandwidth=bandwidth)
    assert got == pytest.approx(-2 / (m * n), abs=1e-15)


@ESTIMATORS
def test_failed_warm_start_refit_leaves_the_estimator_as_it_was(make_estimator):
    estimator = make_estimator()
    # was: a broadcast error from inside the algorithm, n_features_in_ = 3 on
    # a 2-feature model, and every later transform failing
    X2, X3 = _data(estimator, 2), _data(estimator, 3, seed=1)
    estimator.set_params(warm_start=False).fit(X2)
    before = _state(estimator)
    Z = estimator.transform(X2)
    estimator.set_params(warm_start=True)
    with pytest.raises(ValueError, match="X has 3 features.*warm_start=False"):
        estimator.fit(X3)
    estimator.set_params(warm_start=False)
    assert _state(estimator) == before
    assert estimator.n_features_in_ == 2
    np.testing.assert_array_equal(estimator.transform(X2), Z)
    estimator.fit(X3)  # a new model on 3 features
    assert estimator.transform(X3).shape[0] == X3.shape[0]


@pytest.mark.parametrize(
    "estimator, bad_params",
    [
        (DDCHelmholtzEstimator(**DDC_SMALL, **COMMON), {"n_encoding": (5, 5, 5)}),
        (VAEEstimator(**COMMON), {"model": "sbn"}),
        (VIMCOEstimator(model="sbn_gaussian", **COMMON), {"model": "sparse"}),
    ],
    ids=["DDC n_encoding", "VAE binary latents", "VIMCO continuous latents"],
)
def test_failed_cold_refit_leaves_the_estimator_as_it_was(estimator, bad_params):
    # errors raised while the new model is set up (after X was validated and
    # n_features_in_ reset) used to leave a mix of the old and new fits
    X = np.random.RandomState(3).normal(size=(30, 2))
    estimator.fit(X)
    before = _state(estimator)
    good = estimator.get_params()
    estimator.set_params(**bad_params)
    with pytest.raises(ValueError):
        estimator.fit(X[:, :1])
    assert _state(estimator.set_params(**good)) == before
    # and a failed first partial_fit leaves it unfitted
    fresh = type(estimator)(**{**good, **bad_params})
    with pytest.raises(ValueError):
        fresh.partial_fit(X)
    assert not hasattr(fresh, "model_") and not hasattr(fresh, "n_features_in_")


def test_binarize_nan_bool_and_scaled_intensities():
    # was: NaN -> 0 silently; [[True, False]] -> [[0, 0]]; [0, 1] data -> 0.3% ones
    with pytest.raises(ValueError, match="NaN"):
        binarize(np.array([[np.nan, 100.0]]), random_state=0)
    with pytest.raises(TypeError, match="boolean.*already binary"):
        binarize(np.array([[True, False]]), random_state=0)
    scaled = np.random.RandomState(4).uniform(size=(20, 20))
    with pytest.warns(UserWarning, match=r"\[0, 1\].*X \* 255"):
        binarize(scaled, random_state=0)
    # the remedy the warning gives draws with the intended probabilities
    B = binarize(scaled * 255, random_state=0)
    p = scaled.mean()
    assert abs(B.mean() - p) < 5 * math.sqrt(p * (1 - p) / B.size)


# ---------------------------------------------------------------------------
# Unclear answers


@ESTIMATORS
@pytest.mark.parametrize("scale", [1e200, 1e300])
def test_fit_on_data_beyond_the_model_scale(make_estimator, scale, no_runtime_warnings):
    estimator = make_estimator()
    # was: overflow RuntimeWarnings, a divergence warning advising a lower
    # learning_rate, an untrained model and score -inf
    X = _data(estimator, 2)
    X[0, 0] = scale
    if isinstance(estimator, VIMCOEstimator):
        match = "binary"  # the sigmoid belief net's own, clearer, complaint
    else:
        match = (
            rf"largest absolute value is {re.escape(f'{scale:.3g}')}.*StandardScaler"
        )
    with pytest.raises(ValueError, match=match):
        estimator.fit(X)
    assert not hasattr(estimator, "model_")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accepted_scale_bounds_are_exact(dtype, no_runtime_warnings):
    estimator = VAEEstimator(hidden_layer_sizes=(5,), **COMMON)
    low, high = accepted_scale(np.dtype(dtype), np)
    X = np.random.RandomState(5).uniform(-1, 1, size=(30, 2))
    X = (X / np.abs(X).max()).astype(dtype)
    top = np.nextafter(dtype(high), dtype(0))
    estimator.fit(X * top)
    with pytest.raises(ValueError, match="largest absolute value"):
        estimator.fit(X * np.nextafter(dtype(high), dtype(np.inf)))
    with pytest.raises(ValueError, match="largest absolute value"):
        estimator.fit(X * np.nextafter(dtype(low), dtype(0)))
    estimator.fit(np.zeros_like(X))  # all zero: accepted


def test_mmd2_bandwidth_1e300_and_overflowing_median(no_runtime_warnings):
    rng = np.random.RandomState(6)
    X, Y = rng.normal(size=(5, 2)), rng.normal(size=(7, 2))
    # every kernel value is 1: MMD^2 is 0 for all three estimators
    for estimator in ("unbiased", "biased", "linear"):
        assert mmd2(X, Y, bandwidth=1e300, estimator=estimator) == pytest.approx(
            0.0, abs=1e-15
        )
    with pytest.raises(ValueError, match="bandwidth=inf"):
        median_heuristic(np.array([[1e308], [-1e308], [1e308], [-1e308]]))


@pytest.mark.parametrize("cls", [VAEEstimator, IWAEEstimator, VIMCOEstimator])
def test_n_jobs_zero_is_a_parameter_error(cls):
    # was: joblib's "n_jobs == 0 in Parallel has no meaning" at fit
    with pytest.raises(InvalidParameterError, match="'n_jobs' parameter"):
        cls(n_jobs=0).fit(np.zeros((10, 2)))


def test_binarize_strings_and_other_non_numbers():
    # was: numpy's UFuncTypeError
    for X in (np.array([["a", "b"]]), [["1", "2"]], np.array([[1 + 2j]])):
        with pytest.raises(TypeError, match="must hold numbers"):
            binarize(X, random_state=0)
    import scipy.sparse

    with pytest.raises(TypeError, match="sparse"):
        binarize(scipy.sparse.csr_matrix(np.ones((2, 2))), random_state=0)


def test_load_idx_truncated_gzip_names_the_path(tmp_path):
    # was: EOFError without the path
    path = tmp_path / "images-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 100]) + bytes(100))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=rf"{path.name} is not a complete gzip"):
        load_idx(path)


def test_load_idx_file_shorter_than_its_header(tmp_path):
    # was: "the header announces shape (0, 0, 0)", a shape read from beyond
    # the end of the file
    path = tmp_path / "six-bytes"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="announces 3 dimensions") as info:
        load_idx(path)
    assert "shape" not in str(info.value) and "six-bytes" in str(info.value)
    path.write_bytes(bytes([0, 0]))
    with pytest.raises(ValueError, match="not an IDX file.*2 bytes"):
        load_idx(path)


@ESTIMATORS
def test_huge_row_at_scoring(make_estimator, no_runtime_warnings):
    estimator = make_estimator()
    # was: 5-10 RuntimeWarnings and score -inf; DDC transform 5.5e298
    X = _data(estimator, 3)
    estimator.fit(X)
    before = _state(estimator)
    row = X[:1].copy()
    row[0, 0] = 1e300
    for method in ("score", "score_samples", "transform"):
        with pytest.raises(ValueError, match="largest absolute value|binary"):
            getattr(estimator, method)(row)
    assert _state(estimator) == before
    if isinstance(estimator, VIMCOEstimator):
        return
    # a row far out but inside the accepted scale: finite, no warnings
    row[0, 0] = 1e70
    assert np.isfinite(estimator.score_samples(row)).all()
    Z = estimator.transform(row)
    assert np.isfinite(Z).all()
    if isinstance(estimator, DDCHelmholtzEstimator):
        # expectations of sigmoid encodings
        assert Z.min() >= 0.0 and Z.max() <= 1.0


def test_ddc_transform_stays_in_the_range_of_the_encodings():
    rng = np.random.RandomState(7)
    X = rng.normal(size=(60, 2))
    est = DDCHelmholtzEstimator(**DDC_SMALL, **COMMON).fit(X)
    far = np.array([[1e6, -1e6], [1e30, 3.0]])
    Z = est.transform(far)
    assert Z.min() >= 0.0 and Z.max() <= 1.0
    # on the training data the clip changes (almost) nothing: the
    # regression's own predictions lie in [0, 1] up to its error
    raw = np.concatenate(
        ws.posterior_means(
            est._hidden(X), est.recognition_coefs_, est._recognition_design
        ),
        axis=1,
    )
    np.testing.assert_allclose(est.transform(X), np.clip(raw, 0, 1))
    linear = DDCHelmholtzEstimator(encoding="linear", **DDC_SMALL, **COMMON).fit(X)
    assert np.abs(linear.transform(far)).max() > 1  # T(z) = z: no range to clip to


@pytest.mark.parametrize(
    "estimator",
    [
        DDCHelmholtzEstimator(model="sbn", latent_dims=(3,), **DDC_SMALL, **COMMON),
        VIMCOEstimator(model="sbn", latent_dims=(3,), n_particles=3, **COMMON),
    ],
    ids=["DDC", "VIMCO"],
)
def test_sbn_transform_rejects_non_binary_x_like_score(estimator):
    # was: score rejected non-binary X, transform accepted it silently
    X = (np.random.RandomState(8).uniform(size=(40, 4)) < 0.5).astype(float)
    estimator.fit(X)
    for method in ("transform", "score", "score_samples"):
        with pytest.raises(ValueError, match="binary"):
            getattr(estimator, method)(X * 0.5)


@ESTIMATORS
def test_tol_without_convergence_warns_once(make_estimator):
    estimator = make_estimator()
    # was: converged_=False and no ConvergenceWarning (GaussianMixture warns)
    X = _data(estimator, 2)
    estimator.set_params(tol=1e-3, n_iter_no_change=5, max_iter=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert not estimator.converged_
    assert len(convergence) == 1
    assert "max_iter=2" in str(convergence[0].message)
    # converged, tol=None, or one partial_fit epoch: no warning
    for params in (
        dict(tol=1e9, n_iter_no_change=1, max_iter=3),
        dict(tol=None, max_iter=2),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            estimator.set_params(**params).fit(X)
            estimator.partial_fit(X)


# ---------------------------------------------------------------------------
# Found by the property-based tests (test_properties.py)


def test_failed_refit_of_the_encoding_functions_leaves_them_as_they_were():
    # a NaN DataFrame reset feature_names_in_ before check_array raised
    pd = pytest.importorskip("pandas")
    X = np.random.RandomState(9).normal(size=(10, 2))
    enc = RandomSigmoidFeatures(n_components=3, random_state=0).fit(X)
    before = _state(enc)
    bad = pd.DataFrame(np.vstack([X, [[np.nan, 1.0]]]), columns=["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        enc.fit(bad)
    assert _state(enc) == before


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1e308], [-1e308]]), "range"),
        (np.array([[1.7e308, 1.7e308], [1e308, 1.6e308]]), "biases"),
    ],
)
def test_encoding_functions_reject_x_that_overflows_them(X, match):
    # the anchors' range overflowed to inf, the biases to NaN: NaN features
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=match):
            RandomSigmoidFeatures(n_components=3, random_state=0).fit(X)


@pytest.mark.parametrize(
    "call",
    [
        lambda: VIMCOEstimator(n_importance=True).fit(np.zeros((4, 2))),
        lambda: DDCHelmholtzEstimator(n_hidden=True).fit(np.zeros((4, 2))),
        lambda: mmd_test(np.zeros((4, 2)), np.ones((4, 2)), n_permutations=True),
    ],
    ids=["n_importance", "n_hidden", "n_permutations"],
)
def test_a_bool_is_not_a_count(call):
    # n_importance=True passed validation and failed in np.broadcast_to
    with pytest.raises(InvalidParameterError, match="must be an int.*Got True"):
        call()


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(m=1e155), ValueError, "overflow float64"),
        (dict(sigma=float("inf")), ValueError, "sigma must be a finite number"),
        (dict(m="3"), TypeError, "m must be a real number"),
        (dict(noise_variance=True), TypeError, "noise_variance must be a real"),
    ],
)
def test_synthetic_data_with_parameters_that_overflow(params, error, match):
    # m=1e155 gave overflow RuntimeWarnings and samples of inf; m="3" a
    # comparison TypeError from inside
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(error, match=match):
            make_sparse_hierarchical(5, **params, random_state=0)


@pytest.mark.parametrize("n_rows", [1, 2, 5])
def test_constant_large_column_fits_with_saturated_features(n_rows):
    """Found by the hypothesis tests: one column of 1e9 saturates every hidden
    sigmoid, the features have no variance and the variance-relative ridge was
    zero (a singular recognition system). The penalty's floor is relative to
    the features' uncentred scale."""
    X = np.full((n_rows, 1), 1.00000176e9)
    est = DDCHelmholtzEstimator(
        n_encoding=5, n_hidden=5, n_sleep_samples=10, max_iter=1, random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    # only the warning that a constant feature's likelihood is unbounded
    assert [str(w.message)[:40] for w in caught] == [
        "X has 1 constant feature(s) (indices 0)."
    ]
    assert np.all(np.isfinite(est.transform(X)))
    assert np.isfinite(est.score(X))
    A = np.ones((4, 4)) * 10.0  # three constant features and the intercept
    penalty = ws.ridge_penalty(A, 1e-3)
    assert np.all(penalty[:3] > 0) and penalty[3] == 0
    assert np.linalg.matrix_rank(A + np.diag(penalty)) == 4


@ESTIMATORS
def test_constant_features_warn_once_and_their_likelihood_is_unbounded(
    make_estimator,
):
    """A constant column under a Gaussian observation layer: the offset fits
    it exactly and the likelihood grows without bound as its noise variance
    goes to 0, so fit says so once, naming the columns; a Bernoulli
    observation layer (VIMCO's SBN) has no such degeneracy and stays
    silent."""
    est = make_estimator()
    X = _data(est, 4, n_samples=60)
    X[:, [1, 3]] = X[0, [1, 3]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.set_params(max_iter=5).fit(X)
    unbounded = [w for w in caught if "constant feature" in str(w.message)]
    if isinstance(est, VIMCOEstimator):
        assert unbounded == []
        return
    assert len(unbounded) == 1 and unbounded[0].category is UserWarning
    assert "(indices 1, 3)" in str(unbounded[0].message)
    assert "VarianceThreshold" in str(unbounded[0].message)
    assert unbounded[0].filename == __file__
    # the premise, on the fitted model: with the constant columns' loadings
    # at 0 and offsets at their values, each nat of log-variance taken off
    # them adds exactly half a nat per column to score(), without end
    layer = est.model_.layers[0]
    weights = np.array(layer.params["weights"])
    bias = np.array(layer.params["bias"])
    weights[[1, 3]], bias[[1, 3]] = 0.0, X[0, [1, 3]]
    layer.set_params({"weights": weights, "bias": bias})
    start, scores = np.array(layer.params["log_var"]), []
    for shift in (0.0, 10.0, 20.0):
        log_var = start.copy()
        log_var[[1, 3]] -= shift
        layer.set_params({"log_var": log_var})
        scores.append(est.score(X))
    np.testing.assert_allclose(np.diff(scores), [10.0, 10.0], rtol=1e-6)


def test_unbounded_features_follow_the_trainable_parameters():
    from sklearn_ddchm.models import BernoulliLayer, GaussianLayer

    X = np.column_stack([np.ones(5), np.arange(5.0), np.zeros(5)])
    assert GaussianLayer(3, 2).unbounded_features(X) == [0, 2]
    # a fixed variance or a fixed offset leaves the likelihood bounded
    for fixed in ("log_var", "bias"):
        trainable = [name for name in GaussianLayer.param_names if name != fixed]
        assert GaussianLayer(3, 2, trainable=trainable).unbounded_features(X) == []
    assert GaussianLayer(3, 2).unbounded_features(X[:0]) == []
    assert BernoulliLayer(3, 2).unbounded_features(X) == []


def test_partial_fit_on_single_rows_does_not_call_every_feature_constant():
    """A stream of single rows starts with a batch in which every column is
    trivially constant: partial_fit does not warn about it (fit on one row,
    whose likelihood is unbounded, does: test above), but a first batch of
    two rows with a constant column does."""
    from sklearn_ddchm import DDCHelmholtzEstimator

    X = np.random.RandomState(0).randn(3, 4)
    est = DDCHelmholtzEstimator(
        model="gaussian",
        latent_dims=(2,),
        n_encoding=10,
        n_sleep_samples=50,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for row in X:
            est.partial_fit(row[None, :])
    assert not [w for w in caught if "constant feature" in str(w.message)]
    assert est.n_samples_seen_ == 3
    X[:, 2] = 1.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clone(est).partial_fit(X[:2])
    messages = [str(w.message) for w in caught if "constant feature" in str(w.message)]
    assert len(messages) == 1 and "(indices 2)" in messages[0]
