"""Random numbers for every algorithm of the package, through one helper.

The array API standard has no random module. By default every draw is made
on the host with a NumPy ``RandomState`` (from ``check_random_state``) and
then moved to the device of the computation: results are then identical on
NumPy, array_api_strict and CuPy for the same ``random_state``.

Seam for a device RNG
---------------------
A host draw plus a transfer is the slow part of sampling on a GPU. Any object
with the methods of :class:`DeviceRandom` (``standard_normal``, ``uniform``,
``standard_laplace``, each taking ``shape``, ``dtype``) that already returns
arrays of the target namespace can be passed wherever a ``random_state`` is
accepted by the model library; :func:`draw` then calls it directly and skips
the transfer. :func:`make_device_random` builds one for CuPy; the estimators
use it only with ``device_random=True``, because it breaks the bit-for-bit
agreement between backends.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from ._array_api import is_numpy_namespace, to_namespace

_KINDS = ("standard_normal", "uniform", "standard_laplace")


class DeviceRandom:
    """Generator drawing directly in the namespace ``xp`` (e.g. ``cupy.random``).

    Parameters
    ----------
    generator : object
        A generator with NumPy's ``standard_normal``, ``random`` and
        ``laplace`` methods that returns arrays of the target namespace, such as
        ``cupy.random.RandomState(seed)``.
    """

    def __init__(self, generator):
        self.generator = generator

    def standard_normal(self, shape, dtype):
        return self.generator.standard_normal(size=shape).astype(dtype)

    def uniform(self, shape, dtype):
        return self.generator.random_sample(size=shape).astype(dtype)

    def standard_laplace(self, shape, dtype):
        return self.generator.laplace(size=shape).astype(dtype)


def make_device_random(xp, seed=None):  # pragma: no cover - needs a GPU
    """A :class:`DeviceRandom` on CuPy's generator, for speed over reproducibility."""
    if "cupy" not in xp.__name__:
        raise ValueError(f"make_device_random supports CuPy only, got {xp.__name__}.")
    import cupy

    return DeviceRandom(cupy.random.RandomState(seed))


def draw(random_state, kind, shape, *, xp, device=None, dtype=None):
    """Draw an array of ``shape`` from a standard distribution.

    Parameters
    ----------
    random_state : int, RandomState, None or DeviceRandom
        Source of randomness; anything but a :class:`DeviceRandom` goes through
        :func:`sklearn.utils.check_random_state` and draws on the host.
    kind : {"standard_normal", "uniform", "standard_laplace"}
        ``uniform`` is on [0, 1).
    shape : tuple of int
    xp, device, dtype
        Namespace, device and floating dtype of the result (dtype defaults to
        ``xp.float64``).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
    dtype = xp.float64 if dtype is None else dtype
    shape = tuple(int(s) for s in shape)
    if isinstance(random_state, DeviceRandom):
        return getattr(random_state, kind)(shape, dtype)
    rng = check_random_state(random_state)
    if kind == "standard_normal":
        host = rng.standard_normal(size=shape)
    elif kind == "uniform":
        host = rng.random_sample(size=shape)
    else:
        host = rng.laplace(size=shape)
    if is_numpy_namespace(xp):
        return host.astype(dtype, copy=False)
    return to_namespace(host, xp, device=device, dtype=dtype)


def host_random_state(random_state):
    """The ``RandomState`` behind ``random_state`` for host-side choices (indices).

    A :class:`DeviceRandom` has no host generator; a fresh one seeded from the
    device is not reproducible, so callers needing host randomness get a
    deterministic ``RandomState(0)``-seeded fallback drawn from it.
    """
    if isinstance(random_state, DeviceRandom):
        seed = int(
            np.asarray(random_state.uniform((1,), "float64").tolist()[0]) * 2**31
        )
        return np.random.RandomState(seed)
    return check_random_state(random_state)
