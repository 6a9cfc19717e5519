"""Shared fixtures: the array namespaces every numerical test runs under.

``SCIPY_ARRAY_API=1`` must be set before scipy is imported (the README's test
command and .ci/run set it). Without it array-API dispatch cannot be switched
on, and the namespace fixtures below fail loudly instead of skipping.
"""

import os

import numpy as np
import pytest
import sklearn
from threadpoolctl import threadpool_limits

NAMESPACES = [
    pytest.param(("numpy", None), id="numpy"),
    pytest.param(("array_api_strict", "CPU_DEVICE"), id="strict-cpu"),
    pytest.param(("array_api_strict", "device1"), id="strict-device1"),
]


def _cupy_available():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


if _cupy_available():  # pragma: no cover - GPU machines only
    NAMESPACES.append(pytest.param(("cupy", None), id="cupy"))


class Backend:
    """A namespace and device under test, with helpers to move arrays there."""

    def __init__(self, name, device_name):
        self.name = name
        if name == "numpy":
            import array_api_compat.numpy as xp

            self.xp, self.device = xp, "cpu"
        elif name == "array_api_strict":
            import array_api_strict as xp

            self.xp, self.device = xp, xp.Device(device_name)
        else:  # pragma: no cover
            import array_api_compat
            import array_api_compat.cupy as xp

            # The current CUDA device: what ``device(x)`` reports for arrays the
            # estimators create, so attribute checks compare like with like.
            self.xp = xp
            self.device = array_api_compat.device(xp.asarray(0.0))

    def asarray(self, a, dtype=None):
        a = np.asarray(a)
        if self.name == "numpy":
            return a if dtype is None else a.astype(dtype)
        dtype = (
            getattr(self.xp, str(a.dtype))
            if dtype is None
            else getattr(self.xp, np.dtype(dtype).name)
        )
        return self.xp.asarray(a, dtype=dtype, device=self.device)

    def to_numpy(self, a):
        from sklearn_ddchm.utils._array_api import to_numpy

        return to_numpy(a)

    def __repr__(self):
        return f"Backend({self.name}, {self.device})"


@pytest.fixture(params=NAMESPACES)
def backend(request):
    """Every namespace/device under test, with array-API dispatch switched on."""
    name, device_name = request.param
    if name != "numpy" and os.environ.get("SCIPY_ARRAY_API") != "1":
        pytest.fail(
            "SCIPY_ARRAY_API=1 must be set before scipy is imported to test the "
            "array API (see README)."
        )
    with sklearn.config_context(array_api_dispatch=(name != "numpy")):
        yield Backend(name, device_name)


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    # The test matrices are small: on a shared 2-core machine OpenBLAS's spinning
    # threads make a 100 x 100 product up to 100x slower than one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        yield
