"""Adam (Kingma & Ba, 2014), shared by every estimator of the package."""

from __future__ import annotations

import math

from ._array_api import get_namespace


class Adam:
    """Adam on a dict of arrays, ascending (``maximize=True``) or descending.

    State (first and second moments) is kept per parameter name, in the
    parameters' namespace and device.

    Parameters
    ----------
    learning_rate : float
    beta1, beta2 : float, default=0.9, 0.999
    epsilon : float, default=1e-8
    maximize : bool, default=True
        Learning algorithms of this package ascend a (free-energy) objective.
    """

    def __init__(
        self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, maximize=True
    ):
        for name, value, low, high in [
            ("learning_rate", learning_rate, 0, math.inf),
            ("beta1", beta1, 0, 1),
            ("beta2", beta2, 0, 1),
        ]:
            if not (low < value < high if name != "beta1" else low <= value < high):
                raise ValueError(f"{name} must be in ({low}, {high}), got {value}.")
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.maximize = maximize
        self.n_steps = 0
        self.first_moment = {}
        self.second_moment = {}

    def step(self, params, grads, learning_rate=None, scales=None):
        """New parameter arrays after one step; ``params`` is not modified.

        Parameters whose gradient is missing from ``grads`` are returned as is.
        ``scales`` (a dict, optional) multiplies the step size of the named
        parameters.
        """
        lr = self.learning_rate if learning_rate is None else learning_rate
        self.n_steps += 1
        t = self.n_steps
        # bias corrections folded into the step size (Kingma & Ba, Sec. 2)
        step_size = lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        sign = 1.0 if self.maximize else -1.0
        new = {}
        for name, value in params.items():
            g = grads.get(name)
            if g is None:
                new[name] = value
                continue
            xp = get_namespace(value)
            m = self.first_moment.get(name)
            v = self.second_moment.get(name)
            if m is None:
                m = xp.zeros_like(value)
                v = xp.zeros_like(value)
            m = self.beta1 * m + (1.0 - self.beta1) * g
            v = self.beta2 * v + (1.0 - self.beta2) * (g * g)
            self.first_moment[name], self.second_moment[name] = m, v
            scale = 1.0 if scales is None else scales.get(name, 1.0)
            new[name] = value + (sign * step_size * scale) * m / (
                xp.sqrt(v) + self.epsilon
            )
        return new

    def to(self, xp, device=None):
        from ._array_api import to_namespace

        for state in (self.first_moment, self.second_moment):
            for k, v in state.items():
                state[k] = to_namespace(v, xp, device)
        return self
