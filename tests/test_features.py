"""Tests for RandomSigmoidFeatures, each against an independent computation."""

import math
import pickle
import re

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ddchm._features import RandomSigmoidFeatures


def _binary_latents(n_samples=300, n_features=200, p=0.3, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.uniform(size=(n_samples, n_features)) < p).astype(np.float64)


def _brute_force_sigmoid_features(Z, W, b):
    """T_ik = 1 / (1 + exp(-(w_k . z_i + b_k))), one element at a time."""
    n_samples, n_features = Z.shape
    n_components = W.shape[1]
    T = np.empty((n_samples, n_components))
    for i in range(n_samples):
        for k in range(n_components):
            a = math.fsum(Z[i, j] * W[j, k] for j in range(n_features)) + b[k]
            # Both branches are exact formulas; the split only avoids overflow.
            if a >= 0:
                T[i, k] = 1.0 / (1.0 + math.exp(-a))
            else:
                T[i, k] = math.exp(a) / (1.0 + math.exp(a))
    return T


# ---------------------------------------------------------------------------
# Values


@pytest.mark.parametrize("bias", ["anchor", "normal"])
def test_transform_matches_brute_force_loop(bias):
    rng = np.random.RandomState(1)
    Z = rng.laplace(size=(25, 3)) * 3.0
    encoder = RandomSigmoidFeatures(n_components=7, bias=bias, random_state=0)
    T = encoder.fit_transform(Z)
    expected = _brute_force_sigmoid_features(Z, encoder.weights_, encoder.biases_)
    assert T.dtype == np.float64
    assert_allclose(T, expected, rtol=0, atol=1e-12)
    # transform on new data uses the same functions.
    Z_new = rng.normal(size=(5, 3))
    assert_allclose(
        encoder.transform(Z_new),
        _brute_force_sigmoid_features(Z_new, encoder.weights_, encoder.biases_),
        rtol=0,
        atol=1e-12,
    )


def test_extreme_inputs_do_not_overflow():
    # |w . z + b| in the thousands: T must be exactly 0 or 1, with no warning
    # (RuntimeWarnings from the package are errors under pytest's config).
    Z = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]])
    encoder = RandomSigmoidFeatures(n_components=20, weight_scale=1.0, random_state=0)
    T = encoder.fit_transform(Z)
    assert np.all(np.isfinite(T))
    assert np.all((T >= 0) & (T <= 1))
    # sigmoid(a) for a < -709 is subnormal in float64: 0 is within atol
    assert_allclose(
        T,
        _brute_force_sigmoid_features(Z, encoder.weights_, encoder.biases_),
        atol=1e-300,
    )


def test_linear_activation_returns_input_exactly():
    rng = np.random.RandomState(0)
    Z = rng.standard_normal((30, 4)) * 1e3
    encoder = RandomSigmoidFeatures(n_components=50, activation="linear")
    T = encoder.fit_transform(Z)
    assert_array_equal(T, Z)
    assert T is not Z
    assert encoder.transform(Z).shape == (30, 4)
    assert_array_equal(encoder.weights_, np.eye(4))
    assert_array_equal(encoder.biases_, np.zeros(4))
    assert_array_equal(encoder._transform(Z), Z)
    assert_array_equal(encoder.get_feature_names_out(), ["x0", "x1", "x2", "x3"])


def test_weight_scale_and_bias_distributions():
    # The draws follow the documented distributions: N(0, scale^2) weights
    # with scale = 1/sqrt(d) for "auto"; N(0, bias_scale^2) biases.
    d, K = 50, 4000
    Z = np.random.RandomState(0).standard_normal((10, d))
    auto = RandomSigmoidFeatures(n_components=K, random_state=0).fit(Z)
    assert auto.weights_.shape == (d, K)
    assert abs(auto.weights_.std() - 1 / math.sqrt(d)) < 0.01 / math.sqrt(d)

    fixed = RandomSigmoidFeatures(
        n_components=K,
        weight_scale=2.5,
        bias="normal",
        bias_scale=3.0,
        random_state=0,
    ).fit(Z)
    assert abs(fixed.weights_.std() - 2.5) < 0.02
    assert fixed.biases_.shape == (K,)
    assert abs(fixed.biases_.std() - 3.0) < 0.15
    assert abs(fixed.biases_.mean()) < 0.15
    assert not hasattr(fixed, "anchors_")


def test_anchor_hyperplanes_pass_through_box_points():
    rng = np.random.RandomState(0)
    # Shifted and scaled data: anchors must follow the data's location.
    Z = rng.laplace(size=(400, 3)) * np.array([1.0, 5.0, 0.1]) + np.array(
        [100.0, -20.0, 3.0]
    )
    encoder = RandomSigmoidFeatures(n_components=60, random_state=0).fit(Z)
    anchors = encoder.anchors_
    assert anchors.shape == (60, 3)
    # Every anchor lies in the data's bounding box ...
    assert np.all(anchors >= Z.min(axis=0)) and np.all(anchors <= Z.max(axis=0))
    # ... and every hyperplane w_k . z + b_k = 0 goes through its anchor.
    for k in range(60):
        w_k = encoder.weights_[:, k]
        residual = math.fsum(anchors[k] * w_k) + encoder.biases_[k]
        assert abs(residual) < 1e-9 * (1 + math.fsum(np.abs(anchors[k] * w_k)))
    # Anchor coordinates are spread over the whole range, not clumped.
    position = (anchors - Z.min(axis=0)) / (Z.max(axis=0) - Z.min(axis=0))
    assert_allclose(position.mean(axis=0), 0.5, atol=0.1)


def test_anchor_with_auto_scale_avoids_saturation_on_binary_latents():
    # The point of the options: with N(0, 1) weights, w . z over 200
    # Bernoulli(0.3) latents has a standard deviation near sqrt(60) ~ 7.7, so
    # only ~30% of the values T_ik are in (0.05, 0.95) and ~37% are within 1e-3
    # of 0 or 1; with anchors and 1/sqrt(d) weights none are.
    Z = _binary_latents()

    def fractions(encoder):
        T = encoder.fit_transform(Z)
        unsaturated = np.mean((T > 0.05) & (T < 0.95))
        saturated = np.mean((T < 1e-3) | (T > 1 - 1e-3))
        return unsaturated, saturated

    scaled = RandomSigmoidFeatures(n_components=200, random_state=0)
    paper = RandomSigmoidFeatures(
        n_components=200, weight_scale=1.0, bias="normal", random_state=0
    )
    unsaturated, saturated = fractions(scaled)
    assert unsaturated > 0.95
    assert saturated == 0.0
    unsaturated, saturated = fractions(paper)
    assert unsaturated < 0.35
    assert saturated > 0.3


def test_anchor_biases_are_translation_invariant():
    # Anchors move with the data; normal biases do not, so shifted latents
    # saturate them.
    Z = _binary_latents(n_samples=100, n_features=50)
    shift = 50.0
    anchored = RandomSigmoidFeatures(n_components=30, random_state=0)
    T = anchored.fit_transform(Z)
    T_shifted = anchored.fit_transform(Z + shift)
    assert_allclose(T_shifted, T, rtol=0, atol=1e-10)

    normal = RandomSigmoidFeatures(n_components=30, bias="normal", random_state=0)
    T_normal = normal.fit_transform(Z + shift)
    assert np.mean((T_normal > 0.05) & (T_normal < 0.95)) < 0.1


def test_constant_feature_gives_anchor_on_the_constant():
    Z = np.c_[np.full(10, 7.0), np.arange(10.0)]
    encoder = RandomSigmoidFeatures(n_components=5, random_state=0).fit(Z)
    assert_array_equal(encoder.anchors_[:, 0], 7.0)
    assert np.all(np.isfinite(encoder.transform(Z)))


def test_random_state_reproducible_and_seeds_differ():
    Z = _binary_latents(n_samples=50, n_features=10)
    a = RandomSigmoidFeatures(n_components=8, random_state=3).fit(Z)
    b = RandomSigmoidFeatures(n_components=8, random_state=3).fit(Z)
    c = RandomSigmoidFeatures(n_components=8, random_state=4).fit(Z)
    assert_array_equal(a.weights_, b.weights_)
    assert_array_equal(a.biases_, b.biases_)
    assert not np.allclose(a.weights_, c.weights_)
    rs = np.random.RandomState(3)
    d = RandomSigmoidFeatures(n_components=8, random_state=rs).fit(Z)
    assert_array_equal(a.weights_, d.weights_)
    # Anchors come from the same generator *after* the weights, not from a
    # restarted stream (which would make the two draws start identically).
    unit = (a.anchors_ - Z.min(axis=0)) / (Z.max(axis=0) - Z.min(axis=0))
    restarted = np.random.RandomState(3).random_sample((8, 10))
    assert not np.allclose(unit, restarted)


def test_fit_does_not_keep_a_reference_to_X():
    Z = np.random.RandomState(0).standard_normal((20, 3))
    encoder = RandomSigmoidFeatures(n_components=4, random_state=0).fit(Z)
    for value in vars(encoder).values():
        assert value is not Z
        if isinstance(value, np.ndarray):
            assert not np.shares_memory(value, Z)


# ---------------------------------------------------------------------------
# Namespaces, devices and dtypes


@pytest.mark.parametrize("bias", ["anchor", "normal"])
def test_same_random_state_same_features_on_every_backend(backend, bias):
    rng = np.random.RandomState(0)
    Z = rng.laplace(size=(40, 5))
    ref = RandomSigmoidFeatures(n_components=12, bias=bias, random_state=7).fit(Z)
    T_ref = ref.transform(Z)

    Z_xp = backend.asarray(Z)
    encoder = RandomSigmoidFeatures(n_components=12, bias=bias, random_state=7)
    T_xp = encoder.fit(Z_xp).transform(Z_xp)
    for name in ("weights_", "biases_", "anchors_"):
        if not hasattr(ref, name):
            continue
        attribute = getattr(encoder, name)
        if backend.name != "numpy":
            assert attribute.device == backend.device
        assert_array_equal(backend.to_numpy(attribute), getattr(ref, name))
    assert type(T_xp) is type(Z_xp)
    if backend.name != "numpy":
        assert T_xp.device == backend.device
    assert_allclose(backend.to_numpy(T_xp), T_ref, rtol=1e-14, atol=1e-15)
    # The private fast path gives the same result without validation.
    assert_allclose(
        backend.to_numpy(encoder._transform(Z_xp, xp=backend.xp)),
        T_ref,
        rtol=1e-14,
        atol=1e-15,
    )
    assert_allclose(
        backend.to_numpy(encoder._transform(Z_xp)), T_ref, rtol=1e-14, atol=1e-15
    )


@pytest.mark.parametrize("activation", ["sigmoid", "linear"])
def test_float32_preserved_on_every_backend(backend, activation):
    Z = _binary_latents(n_samples=30, n_features=6)
    Z_xp = backend.asarray(Z, dtype=np.float32)
    encoder = RandomSigmoidFeatures(
        n_components=5, activation=activation, random_state=0
    ).fit(Z_xp)
    T = encoder.transform(Z_xp)
    assert encoder.weights_.dtype == backend.xp.float32
    assert encoder.biases_.dtype == backend.xp.float32
    assert T.dtype == backend.xp.float32
    ref = RandomSigmoidFeatures(
        n_components=5, activation=activation, random_state=0
    ).fit_transform(Z)
    assert_allclose(backend.to_numpy(T), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "fit_device, transform_input, detail",
    [
        ("CPU_DEVICE", "numpy", "Array namespaces used during fit"),
        ("device1", "numpy", "Array namespaces used during fit"),
        ("device1", "list", "not compatible with the array-like input"),
        ("device1", "CPU_DEVICE", "Devices used during fit"),
        ("CPU_DEVICE", "device1", "Devices used during fit"),
    ],
)
def test_transform_rejects_other_namespace_or_device(
    fit_device, transform_input, detail
):
    xp = pytest.importorskip("array_api_strict")
    Z = np.random.RandomState(0).standard_normal((10, 3))
    encoder = RandomSigmoidFeatures(n_components=4, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        encoder.fit(xp.asarray(Z, device=xp.Device(fit_device)))
        if transform_input == "numpy":
            Z_other = Z
        elif transform_input == "list":
            Z_other = Z.tolist()
        else:
            Z_other = xp.asarray(Z, device=xp.Device(transform_input))
        pattern = r"RandomSigmoidFeatures\.transform\(\) must use the same namespace"
        with pytest.raises(ValueError, match=pattern) as excinfo:
            encoder.transform(Z_other)
    assert detail in str(excinfo.value)


# ---------------------------------------------------------------------------
# Feature names, pandas output, pickling


def test_feature_names_and_pandas_output():
    pd = pytest.importorskip("pandas")
    Z = pd.DataFrame(
        np.random.RandomState(0).standard_normal((15, 3)), columns=["a", "b", "c"]
    )
    encoder = RandomSigmoidFeatures(n_components=4, random_state=0)
    encoder.set_output(transform="pandas")
    T = encoder.fit_transform(Z)
    expected = [f"randomsigmoidfeatures{k}" for k in range(4)]
    assert isinstance(T, pd.DataFrame)
    assert list(T.columns) == expected
    assert_array_equal(T.index, Z.index)
    assert_array_equal(encoder.feature_names_in_, ["a", "b", "c"])
    assert_array_equal(encoder.get_feature_names_out(), expected)
    assert_array_equal(encoder.get_feature_names_out(["a", "b", "c"]), expected)
    with pytest.raises(ValueError, match="input_features is not equal"):
        encoder.get_feature_names_out(["a", "b", "x"])

    linear = RandomSigmoidFeatures(activation="linear").set_output(transform="pandas")
    T_linear = linear.fit_transform(Z)
    assert list(T_linear.columns) == ["a", "b", "c"]
    assert_array_equal(T_linear.to_numpy(), Z.to_numpy())


def test_pickle_round_trip():
    Z = _binary_latents(n_samples=20, n_features=8)
    encoder = RandomSigmoidFeatures(n_components=6, random_state=0).fit(Z)
    restored = pickle.loads(pickle.dumps(encoder))
    assert_array_equal(restored.transform(Z), encoder.transform(Z))
    assert restored.get_params() == encoder.get_params()


# ---------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "params, name",
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": 2.5}, "n_components"),
        ({"weight_scale": 0.0}, "weight_scale"),
        ({"weight_scale": -1.0}, "weight_scale"),
        ({"weight_scale": "scale"}, "weight_scale"),
        ({"bias_scale": 0.0}, "bias_scale"),
        ({"bias": "uniform"}, "bias"),
        ({"activation": "relu"}, "activation"),
    ],
)
def test_invalid_parameters_name_the_parameter(params, name):
    Z = np.zeros((5, 2))
    pattern = re.escape(f"The '{name}' parameter of RandomSigmoidFeatures must be")
    with pytest.raises(ValueError, match=pattern):
        RandomSigmoidFeatures(**params).fit(Z)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_rejected(bad):
    Z = np.zeros((5, 2))
    Z[2, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        RandomSigmoidFeatures(n_components=3).fit(Z)
    encoder = RandomSigmoidFeatures(n_components=3).fit(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        encoder.transform(Z)


def test_wrong_number_of_features_rejected():
    encoder = RandomSigmoidFeatures(n_components=3).fit(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="X has 3 features, but RandomSigmoidFeatures"):
        encoder.transform(np.zeros((5, 3)))


def test_transform_before_fit_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RandomSigmoidFeatures().transform(np.zeros((2, 2)))


# ---------------------------------------------------------------------------
# scikit-learn's estimator checks, array-API ones included (they run only with
# SCIPY_ARRAY_API=1; the conftest fixture insists on it for the tests above).


@parametrize_with_checks(
    [
        RandomSigmoidFeatures(n_components=20),
        RandomSigmoidFeatures(n_components=20, bias="normal", weight_scale=0.5),
        RandomSigmoidFeatures(activation="linear"),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
