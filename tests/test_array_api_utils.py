"""Tests of the array-API shim and the host random-number helper.

Every numerical primitive is checked against SciPy/NumPy in float64 on every
backend of the ``backend`` fixture (NumPy, array_api_strict on its CPU device
and on ``device1``).
"""

import warnings

import array_api_compat
import numpy as np
import pytest
import sklearn
from scipy import special

from sklearn_ddchm.utils._array_api import (
    check_same_namespace,
    is_binary,
    log_sigmoid,
    logsumexp,
    sigmoid,
    softplus,
    softplus_inverse,
    solve_spd,
    to_namespace,
    to_numpy,
)
from sklearn_ddchm.utils._random import DeviceRandom, draw, host_random_state

# Arguments covering both tails, zero and the extremes where a naive formula
# overflows (exp(1000) is inf in float64).
EXTREME = np.array(
    [-1000.0, -745.0, -50.0, -1.5, -1e-8, 0.0, 1e-8, 0.3, 20.0, 50.0, 710.0, 1000.0]
)


def assert_on_backend(out, backend, dtype=None):
    """``out`` is an array of the backend's namespace, on its device, of ``dtype``."""
    if backend.name == "numpy":
        assert isinstance(out, np.ndarray)
    else:
        assert array_api_compat.array_namespace(out).__name__ == backend.xp.__name__
        assert array_api_compat.device(out) == backend.device
    if dtype is not None:
        assert out.dtype == dtype


def _no_warnings(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args, **kwargs)


# --------------------------------------------------------------------------
# Stable elementwise primitives


@pytest.mark.parametrize(
    "func, reference",
    [
        (sigmoid, special.expit),
        (log_sigmoid, special.log_expit),
        (softplus, lambda a: np.logaddexp(0.0, a)),
    ],
    ids=["sigmoid", "log_sigmoid", "softplus"],
)
def test_elementwise_primitive_matches_scipy_including_extremes(
    backend, func, reference
):
    a = backend.asarray(EXTREME)
    out = _no_warnings(func, a)
    assert_on_backend(out, backend, dtype=backend.xp.float64)
    got = backend.to_numpy(out)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, reference(EXTREME), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize(
    "func", [sigmoid, log_sigmoid, softplus], ids=["sigmoid", "log_sigmoid", "softplus"]
)
def test_elementwise_primitive_keeps_float32(backend, func):
    a = backend.asarray(np.linspace(-30, 30, 7), dtype=np.float32)
    out = _no_warnings(func, a)
    assert_on_backend(out, backend, dtype=backend.xp.float32)
    ref = func(np.linspace(-30, 30, 7))
    np.testing.assert_allclose(backend.to_numpy(out), ref, rtol=1e-6, atol=1e-6)


def test_sigmoid_tails_are_exact_zero_and_one(backend):
    out = backend.to_numpy(
        _no_warnings(sigmoid, backend.asarray(np.array([-1000.0, 1000.0])))
    )
    assert out[0] == 0.0
    assert out[1] == 1.0


def test_log_sigmoid_is_linear_in_the_negative_tail(backend):
    out = backend.to_numpy(
        _no_warnings(log_sigmoid, backend.asarray(np.array([-1000.0])))
    )
    np.testing.assert_allclose(out, [-1000.0], rtol=1e-15)


@pytest.mark.parametrize(
    "a",
    [
        np.array(3.0),
        np.array([[-800, -3, 0, 4, 900]]),
        np.linspace(-90.0, 90.0, 24, dtype=np.float32).reshape(2, 3, 4),
        np.linspace(-800.0, 800.0, 40)[::3],
    ],
    ids=["0-d", "int", "float32 3-d", "strided view"],
)
def test_numpy_softplus_every_input_form_matches_logaddexp_and_spares_input(a):
    # NumPy arrays of floats take an in-place path: it must leave its input
    # alone and agree with the one-ufunc form on every other form too
    before = a.copy()
    out = _no_warnings(softplus, a)
    np.testing.assert_array_equal(a, before)
    reference = np.logaddexp(0.0, a)
    assert np.asarray(out).dtype == reference.dtype
    rtol = 1e-6 if reference.dtype == np.float32 else 1e-15
    np.testing.assert_allclose(out, reference, rtol=rtol)


def test_softplus_inverse_matches_log_expm1(backend):
    y = np.array([1e-300, 1e-20, 1e-8, 0.1, 1.0, 5.0, 30.0, 700.0, 1000.0])
    out = _no_warnings(softplus_inverse, backend.asarray(y))
    assert_on_backend(out, backend, dtype=backend.xp.float64)
    got = backend.to_numpy(out)
    # log(expm1(y)) overflows past y ~ 709: there log(expm1(y)) = y to rounding.
    reference = np.where(y < 700, np.log(np.expm1(np.minimum(y, 700))), y)
    np.testing.assert_allclose(got, reference, rtol=1e-12)


def test_softplus_inverse_inverts_softplus(backend):
    a = np.array([-30.0, -5.0, -0.5, 0.0, 0.5, 5.0, 30.0, 500.0])
    out = softplus_inverse(softplus(backend.asarray(a)))
    np.testing.assert_allclose(backend.to_numpy(out), a, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_scipy(backend, axis, keepdims):
    rng = np.random.RandomState(0)
    a = rng.standard_normal((4, 5)) * 300.0  # spans exp over/underflow
    out = _no_warnings(logsumexp, backend.asarray(a), axis=axis, keepdims=keepdims)
    assert_on_backend(out, backend, dtype=backend.xp.float64)
    ref = special.logsumexp(a, axis=axis, keepdims=keepdims)
    assert tuple(out.shape) == np.shape(ref)
    np.testing.assert_allclose(backend.to_numpy(out), ref, rtol=1e-12)


def test_logsumexp_extreme_values_do_not_overflow(backend):
    a = np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [1000.0, -1000.0]])
    out = backend.to_numpy(_no_warnings(logsumexp, backend.asarray(a), axis=1))
    np.testing.assert_allclose(out, special.logsumexp(a, axis=1), rtol=1e-14)


def test_logsumexp_of_all_minus_inf_row_is_minus_inf_without_warning(backend):
    a = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    out = backend.to_numpy(_no_warnings(logsumexp, backend.asarray(a), axis=1))
    np.testing.assert_array_equal(out, [-np.inf, 0.0])


# --------------------------------------------------------------------------
# Conversions


def test_to_numpy_round_trips_through_backend(backend):
    a = np.random.RandomState(1).standard_normal((3, 4))
    b = backend.asarray(a)
    back = to_numpy(b)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, a)


def test_to_namespace_places_host_array_on_backend_device(backend):
    a = np.random.RandomState(2).standard_normal((3, 2))
    out = to_namespace(a, backend.xp, device=backend.device)
    assert_on_backend(out, backend, dtype=backend.xp.float64)
    np.testing.assert_array_equal(to_numpy(out), a)


def test_to_namespace_casts_dtype(backend):
    a = np.arange(6.0).reshape(2, 3)
    out = to_namespace(a, backend.xp, device=backend.device, dtype=backend.xp.float32)
    assert_on_backend(out, backend, dtype=backend.xp.float32)
    np.testing.assert_array_equal(to_numpy(out), a.astype(np.float32))


def test_to_namespace_back_to_numpy_round_trips(backend):
    a = np.random.RandomState(3).standard_normal(5)
    import array_api_compat.numpy as np_compat

    out = to_namespace(to_namespace(a, backend.xp, device=backend.device), np_compat)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, a)


def test_to_namespace_of_none_is_none(backend):
    assert to_namespace(None, backend.xp, device=backend.device) is None


def test_to_numpy_from_strict_device1_copies_to_host():
    import array_api_strict as xps

    a = xps.asarray([1.0, 2.0], device=xps.Device("device1"))
    np.testing.assert_array_equal(to_numpy(a), [1.0, 2.0])


# --------------------------------------------------------------------------
# check_same_namespace


class Cls:
    """A stand-in estimator with one fitted attribute."""

    def __init__(self, coef_):
        self.coef_ = coef_


def test_check_same_namespace_rejects_numpy_input_after_strict_fit():
    import array_api_strict as xps

    est = Cls(xps.asarray([1.0, 2.0]))
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError) as excinfo:
            check_same_namespace(np.ones(2), est, attribute="coef_", method="method")
    message = str(excinfo.value)
    assert "must use the same namespace" in message
    assert "Cls.method()" in message


def test_check_same_namespace_rejects_other_device():
    import array_api_strict as xps

    est = Cls(xps.asarray([1.0, 2.0], device=xps.Device("CPU_DEVICE")))
    X = xps.asarray([1.0, 2.0], device=xps.Device("device1"))
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match="must use the same namespace"):
            check_same_namespace(X, est, attribute="coef_", method="predict")


def test_check_same_namespace_accepts_matching_namespace_and_device():
    import array_api_strict as xps

    device = xps.Device("device1")
    est = Cls(xps.asarray([1.0, 2.0], device=device))
    with sklearn.config_context(array_api_dispatch=True):
        check_same_namespace(
            xps.asarray([3.0], device=device), est, attribute="coef_", method="predict"
        )


def test_check_same_namespace_does_nothing_with_dispatch_off():
    import array_api_strict as xps

    est = Cls(xps.asarray([1.0, 2.0]))
    with sklearn.config_context(array_api_dispatch=False):
        check_same_namespace(np.ones(2), est, attribute="coef_", method="method")


def test_check_same_namespace_accepts_numpy_on_both_sides_under_dispatch():
    est = Cls(np.ones(2))
    with sklearn.config_context(array_api_dispatch=True):
        check_same_namespace(np.ones(3), est, attribute="coef_", method="method")


# --------------------------------------------------------------------------
# draw


@pytest.mark.parametrize("kind", ["standard_normal", "uniform", "standard_laplace"])
def test_draw_gives_identical_values_on_every_backend(backend, kind):
    out = draw(7, kind, (50, 3), xp=backend.xp, device=backend.device)
    assert_on_backend(out, backend, dtype=backend.xp.float64)
    rng = np.random.RandomState(7)
    expected = {
        "standard_normal": lambda: rng.standard_normal((50, 3)),
        "uniform": lambda: rng.random_sample((50, 3)),
        "standard_laplace": lambda: rng.laplace(size=(50, 3)),
    }[kind]()
    np.testing.assert_array_equal(backend.to_numpy(out), expected)


@pytest.mark.parametrize("kind", ["standard_normal", "uniform", "standard_laplace"])
def test_draw_float32_is_the_rounded_float64_draw(backend, kind):
    out = draw(
        3, kind, (20,), xp=backend.xp, device=backend.device, dtype=backend.xp.float32
    )
    assert_on_backend(out, backend, dtype=backend.xp.float32)
    ref = draw(3, kind, (20,), xp=backend.xp, device=backend.device)
    np.testing.assert_array_equal(
        backend.to_numpy(out), backend.to_numpy(ref).astype(np.float32)
    )


def test_draw_uniform_is_in_unit_interval(backend):
    out = backend.to_numpy(
        draw(0, "uniform", (10_000,), xp=backend.xp, device=backend.device)
    )
    assert out.min() >= 0.0
    assert out.max() < 1.0


def test_draw_advances_a_shared_random_state():
    import array_api_compat.numpy as np_compat

    rng = np.random.RandomState(0)
    first = draw(rng, "standard_normal", (5,), xp=np_compat)
    second = draw(rng, "standard_normal", (5,), xp=np_compat)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(
        np.concatenate([first, second]), np.random.RandomState(0).standard_normal(10)
    )


def test_draw_rejects_unknown_kind(backend):
    with pytest.raises(ValueError, match="kind must be one of"):
        draw(0, "gamma", (3,), xp=backend.xp, device=backend.device)


def test_draw_with_device_random_calls_its_generator_directly():
    import array_api_compat.numpy as np_compat

    device_rng = DeviceRandom(np.random.RandomState(4))
    out = {
        kind: draw(device_rng, kind, (6, 2), xp=np_compat)
        for kind in ["standard_normal", "uniform", "standard_laplace"]
    }
    rng = np.random.RandomState(4)
    np.testing.assert_array_equal(out["standard_normal"], rng.standard_normal((6, 2)))
    np.testing.assert_array_equal(out["uniform"], rng.random_sample((6, 2)))
    np.testing.assert_array_equal(out["standard_laplace"], rng.laplace(size=(6, 2)))


def test_host_random_state_passes_seeds_and_is_deterministic_for_device_random():
    assert isinstance(host_random_state(0), np.random.RandomState)
    a = host_random_state(DeviceRandom(np.random.RandomState(1))).random_sample(3)
    b = host_random_state(DeviceRandom(np.random.RandomState(1))).random_sample(3)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# Symmetric positive-definite solve


@pytest.mark.parametrize("rhs_shape", [(6,), (6, 3)], ids=["vector", "matrix"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_solve_spd_matches_lu_solve(backend, rhs_shape, dtype):
    rng = np.random.RandomState(0)
    F = rng.randn(20, 6)
    A, B = F.T @ F + 0.1 * np.eye(6), rng.randn(*rhs_shape)
    out = solve_spd(backend.asarray(A, dtype), backend.asarray(B, dtype))
    assert_on_backend(out, backend, dtype=getattr(backend.xp, np.dtype(dtype).name))
    assert out.shape == rhs_shape
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(backend.to_numpy(out), np.linalg.solve(A, B), rtol=rtol)


def test_solve_spd_falls_back_for_indefinite_and_non_finite_matrices():
    A = np.array([[1.0, 2.0], [2.0, 1.0]])  # symmetric, eigenvalues 3 and -1
    B = np.array([1.0, 0.0])
    np.testing.assert_allclose(solve_spd(A, B), np.linalg.solve(A, B), rtol=1e-12)
    A_nan = np.array([[np.nan, 0.0], [0.0, 1.0]])
    with np.errstate(all="ignore"):
        out = solve_spd(A_nan, B)
    assert not np.all(np.isfinite(out))  # NaN in, NaN out: the guard sees it


def test_solve_spd_result_is_c_contiguous():
    # Later products must not depend on the memory order LAPACK returns.
    rng = np.random.RandomState(1)
    F = rng.randn(30, 5)
    out = solve_spd(F.T @ F + np.eye(5), rng.randn(5, 4))
    assert out.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(
    "values",
    [[[0.0, 1.0], [1.0, 0.0]], [[0.0, 0.0]], [[0.0, 0.5]], [[1.0, 2.0]], [[-0.0, 1.0]]],
)
def test_is_binary_matches_a_set_membership_check(backend, values):
    X = np.asarray(values)
    expected = set(np.unique(X).tolist()) <= {0.0, 1.0}
    assert is_binary(backend.asarray(X)) is expected
