"""The one array-API shim every module of the package goes through.

scikit-learn's own helpers in ``sklearn.utils._array_api`` are private and
change between releases, so this module builds on the standalone
``array_api_compat`` package and follows scikit-learn's public switch,
``sklearn.get_config()["array_api_dispatch"]``: when it is off, every input
is converted to NumPy; when it is on, the namespace and device of the inputs
are used as they are.
"""

from __future__ import annotations

import math

import array_api_compat
import array_api_compat.numpy as np_compat
import numpy as np
from sklearn import get_config

__all__ = [
    "get_namespace",
    "get_namespace_and_device",
    "to_numpy",
    "to_namespace",
    "check_same_namespace",
    "is_numpy_namespace",
    "floating_dtype",
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "softplus_inverse",
    "logsumexp",
    "relu",
]


def _is_array(obj) -> bool:
    return array_api_compat.is_array_api_obj(obj) and not isinstance(obj, (str, bytes))


def get_namespace(*arrays):
    """Namespace of ``arrays`` under scikit-learn's dispatch setting.

    Returns ``array_api_compat.numpy`` when ``array_api_dispatch`` is off or
    when no argument is an array; otherwise the (wrapped) namespace shared by
    all arrays. ``None`` arguments are ignored.
    """
    arrays = [a for a in arrays if a is not None and _is_array(a)]
    if not get_config()["array_api_dispatch"] or not arrays:
        return np_compat
    xp = array_api_compat.array_namespace(*arrays)
    if array_api_compat.is_numpy_namespace(xp):
        return np_compat
    return xp


def get_namespace_and_device(*arrays):
    """``(xp, device)`` of ``arrays``; the device is ``"cpu"`` for NumPy."""
    xp = get_namespace(*arrays)
    arrays = [a for a in arrays if a is not None and _is_array(a)]
    if is_numpy_namespace(xp) or not arrays:
        return xp, "cpu"
    return xp, array_api_compat.device(arrays[0])


def device(array):
    """The device ``array`` lives on (``"cpu"`` for NumPy arrays)."""
    return array_api_compat.device(array)


def is_binary(X) -> bool:
    """Whether every value of ``X`` is 0 or 1 (one device-to-host scalar)."""
    xp = get_namespace(X)
    return bool(xp.all((X == 0) | (X == 1)))


def is_numpy_namespace(xp) -> bool:
    return array_api_compat.is_numpy_namespace(xp)


def to_numpy(array) -> np.ndarray:
    """Copy ``array`` (any namespace, any device) to a NumPy array on the host."""
    if isinstance(array, np.ndarray):
        return array
    if array_api_compat.is_cupy_array(array):
        return array.get()
    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_array_api_strict_namespace(
        array_api_compat.array_namespace(array)
    ):
        import array_api_strict

        # array_api_strict refuses np.asarray off its CPU device on purpose.
        array = array_api_strict.asarray(
            array, device=array_api_strict.Device("CPU_DEVICE")
        )
    return np.asarray(array)


def to_namespace(array, xp, device=None, dtype=None):
    """``array`` (host or any namespace) as an array of ``xp`` on ``device``.

    Arrays already in ``xp`` are passed to ``xp.asarray`` (no copy when
    nothing changes); anything else goes through the host.
    """
    if array is None:
        return None
    if is_numpy_namespace(xp):
        out = to_numpy(array) if _is_array(array) else np.asarray(array)
        return out if dtype is None else out.astype(dtype, copy=False)
    if not (
        _is_array(array)
        and array_api_compat.array_namespace(array).__name__ == xp.__name__
    ):
        array = to_numpy(array) if _is_array(array) else np.asarray(array)
    if device is None:
        return xp.asarray(array, dtype=dtype)
    return xp.asarray(array, dtype=dtype, device=device)


def check_same_namespace(X, estimator, *, attribute, method):
    """Raise if ``X`` is not in the namespace and on the device of a fitted attribute.

    The message follows scikit-learn's wording (``check_array_api_same_namespace``
    looks for "must use the same namespace" and ``Class.method()``).
    """
    if not get_config()["array_api_dispatch"]:
        return
    attr = getattr(estimator, attribute)
    a_xp, a_device = get_namespace_and_device(attr)
    X_xp, X_device = get_namespace_and_device(X)
    if is_numpy_namespace(a_xp) and is_numpy_namespace(X_xp):
        return
    if a_xp.__name__ == X_xp.__name__ and X_device == a_device:
        return
    if not _is_array(X):
        detail = (
            f"Array namespace used during fit ({a_xp.__name__}) is not compatible "
            f"with the array-like input passed to {method}."
        )
    elif a_xp.__name__ != X_xp.__name__:
        detail = (
            f"Array namespaces used during fit ({a_xp.__name__}) and {method} "
            f"({X_xp.__name__}) differ."
        )
    else:
        detail = (
            f"Devices used during fit ({a_device}) and {method} ({X_device}) differ."
        )
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        f"namespace and the same device as those passed to fit(). {detail}"
    )


def floating_dtype(X, xp):
    """Float dtype to compute in: float32 stays float32, everything else float64."""
    if X is not None and X.dtype == xp.float32:
        return xp.float32
    return xp.float64


# ---------------------------------------------------------------------------
# Numerically stable primitives, written once (scipy.special.expit is a ufunc
# and does not accept device arrays).


def sigmoid(a, xp=None):
    """Logistic sigmoid 1 / (1 + exp(-a)), without overflow for large |a|."""
    xp = get_namespace(a) if xp is None else xp
    # 1 / (1 + exp(-a)) keeps full relative accuracy in both tails down to
    # the smallest normal number (unlike 1 - s or tanh forms): for a << 0 the
    # sum is exp(-a) to within rounding. Where exp(-a) overflows (a < -709.8
    # in float64, -88.7 in float32) the result is 0 where the true value is
    # subnormal, an absolute error below 1e-308 (1e-38). Only NumPy reports
    # that overflow, so it is silenced there. Branch-free on purpose: a select
    # over a random sign mask (xp.where) cost NumPy 8x the arithmetic on a
    # 1200 x 784 array. Nor SciPy's expit on NumPy: one ufunc of the same
    # formula, but NumPy's exp is vectorised where expit's loop is not, so on
    # float32 these passes are 2.2-2.4x faster, on float64 0.96-1.19x
    # (benchmarks/bench_primitives.py, 2026-12-06).
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + xp.exp(-a))


def log_sigmoid(a, xp=None):
    """log sigmoid(a) = -softplus(-a), accurate in both tails."""
    xp = get_namespace(a) if xp is None else xp
    return -softplus(-a, xp=xp)


def softplus(a, xp=None):
    """log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|))."""
    xp = get_namespace(a) if xp is None else xp
    if isinstance(a, np.ndarray) and a.ndim and np.issubdtype(a.dtype, np.floating):
        # The same passes in place. NumPy's logaddexp(0, a) is one ufunc of
        # this formula, but its loop is not vectorised: 2.0x slower on
        # float32 and 1.5-1.7x on float64 (benchmarks/bench_primitives.py,
        # 2026-12-06); it set the pace of VIMCO-50's step on MNIST.
        out = np.abs(a)
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        out += np.maximum(a, 0.0)
        return out
    return xp.maximum(a, 0.0) + xp.log1p(xp.exp(-xp.abs(a)))


def softplus_inverse(y, xp=None):
    """Inverse of :func:`softplus` for ``y > 0``: y + log(-expm1(-y))."""
    xp = get_namespace(y) if xp is None else xp
    return y + xp.log(-xp.expm1(-y))


def logsumexp(a, axis=None, xp=None, keepdims=False):
    """log(sum(exp(a), axis)), shifted by the maximum; -inf rows stay -inf."""
    xp = get_namespace(a) if xp is None else xp
    a_max = xp.max(a, axis=axis, keepdims=True)
    a_max = xp.where(xp.isfinite(a_max), a_max, xp.zeros_like(a_max))
    s = xp.sum(xp.exp(a - a_max), axis=axis, keepdims=True)
    # Fix: an all -inf row sums to 0 and log(0) raised "divide by zero"
    # RuntimeWarning (an error under the test suite's filter); take the log of
    # a positive placeholder there and put -inf back explicitly.
    # (Testing s == 0 rather than s > 0 keeps NaN inputs NaN.)
    empty = s == 0
    out = xp.where(
        empty,
        xp.full_like(s, -math.inf),
        xp.log(xp.where(empty, xp.ones_like(s), s)) + a_max,
    )
    if not keepdims:
        out = xp.squeeze(out, axis=axis) if axis is not None else xp.reshape(out, ())
    return out


def diag(d):
    """The diagonal matrix with ``d`` on its diagonal (the array API has none)."""
    xp = get_namespace(d)
    return xp.eye(d.shape[0], dtype=d.dtype, device=device(d)) * d[None, :]


def solve_spd(A, B, xp=None):
    """Solve ``A X = B`` for a symmetric positive-definite ``A``.

    On NumPy this is a Cholesky factorisation and two triangular solves
    (LAPACK ``potrf``/``potrs``): for the 501 x 501 float32 ridge systems of the
    DDC sleep phase with 500 right-hand sides it took 7.0 ms against 16.4 ms
    for ``numpy.linalg.solve``'s LU. A matrix that is not numerically positive
    definite falls back to the LU solve. Other namespaces use
    ``xp.linalg.solve``: the array API has no triangular solve, and CuPy's
    Cholesky does not report a failed factorisation.

    Parameters
    ----------
    A : array of shape (n, n)
    B : array of shape (n,) or (n, m)
    """
    xp = get_namespace(A) if xp is None else xp
    if is_numpy_namespace(xp):
        from scipy.linalg import LinAlgError, cho_factor, cho_solve

        A_np, B_np = np.asarray(A), np.asarray(B)
        if np.all(np.isfinite(A_np)):
            try:
                factor = cho_factor(A_np, lower=True, check_finite=False)
            except LinAlgError:
                pass
            else:
                # LAPACK returns Fortran order; C order keeps later products
                # bit-identical across row subsets, as with numpy.linalg.solve.
                return np.ascontiguousarray(cho_solve(factor, B_np, check_finite=False))
    if B.ndim == 1:
        return xp.linalg.solve(A, B[:, None])[:, 0]
    return xp.linalg.solve(A, B)


def scipy_blas_single_threaded():
    """Context that runs SciPy's own OpenBLAS on one thread, NumPy's untouched.

    A SciPy wheel carries its own OpenBLAS (in ``scipy.libs``) beside NumPy's;
    code alternating NumPy products with SciPy's LAPACK (:func:`solve_spd`)
    then has two pools of spinning threads competing for the cores. On a
    16-core machine that made a DDC-HM patch epoch 6.8x slower than on one
    thread. Where NumPy and SciPy share one BLAS (conda, system packages)
    there is nothing to pin and this is a no-op.
    """
    from contextlib import nullcontext

    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    paths = [
        lib.filepath
        for lib in controller.lib_controllers
        if lib.user_api == "blas" and "scipy.libs" in lib.filepath
    ]
    if not paths:
        return nullcontext()
    return controller.select(filepath=paths).limit(limits=1)


def relu(a, xp=None):
    xp = get_namespace(a) if xp is None else xp
    return xp.maximum(a, 0.0)


def log_2pi() -> float:
    return math.log(2.0 * math.pi)
