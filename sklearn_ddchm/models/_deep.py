"""A chain of exponential-family layers: z_L -> ... -> z_1 -> x."""

from __future__ import annotations

from copy import copy as _shallow_copy

from sklearn.utils import check_random_state

from ..utils._random import DeviceRandom
from ._base import Layer


class DeepExponentialFamily:
    """Hierarchical generative model ``p(x, z_1..z_L)`` (Section 3 of the paper).

    Parameters
    ----------
    layers : list of Layer
        Bottom-up: ``layers[0]`` is the observation model ``p(x | z_1)``,
        ``layers[l]`` is ``p(z_l | z_{l+1})`` and ``layers[-1]`` the prior
        ``p(z_L)`` (a layer with ``n_parents == 0``).

    Examples
    --------
    >>> from sklearn_ddchm.models import (DeepExponentialFamily, GaussianLayer,
    ...                                   GaussianPrior)
    >>> model = DeepExponentialFamily([GaussianLayer(3, 2), GaussianPrior(2)])
    >>> model = model.initialize(random_state=0)
    >>> X, (z1,) = model.sample(5, random_state=0)
    >>> X.shape, z1.shape
    ((5, 3), (5, 2))
    """

    def __init__(self, layers):
        layers = list(layers)
        if len(layers) < 2:
            raise ValueError(
                "layers must hold an observation layer and a prior (at least 2 "
                "layers), "
                f"got {len(layers)}."
            )
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{i}] must be a Layer, got {type(layer).__name__}."
                )
        # Fix: the prior checks used to come after the dimension check, which
        # always fired first for a misplaced prior (n_parents == 0 never equals
        # the next layer's n_features >= 1), so the "only the last layer may be
        # a prior" message was unreachable. Check placement first.
        if layers[-1].n_parents != 0:
            raise ValueError("layers[-1] must be a prior (n_parents == 0).")
        for i, layer in enumerate(layers[:-1]):
            if layer.n_parents == 0:
                raise ValueError(
                    f"layers[{i}] is a prior; only the last layer may be one."
                )
        for i in range(len(layers) - 1):
            if layers[i].n_parents != layers[i + 1].n_features:
                raise ValueError(
                    f"layers[{i}] expects a parent of dimension {layers[i].n_parents} "
                    f"but layers[{i + 1}] has n_features={layers[i + 1].n_features}."
                )
        self.layers = layers

    # -- structure ------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Dimension of the observations."""
        return self.layers[0].n_features

    @property
    def latent_dims(self) -> tuple:
        """Dimensions of z_1 ... z_L."""
        return tuple(layer.n_features for layer in self.layers[1:])

    @property
    def n_latent_layers(self) -> int:
        return len(self.layers) - 1

    @property
    def is_initialized(self) -> bool:
        return all(layer.is_initialized for layer in self.layers)

    def initialize(self, random_state=None, *, xp=None, device=None, dtype=None):
        """Draw random parameters for every layer that has none; returns self."""
        rng = check_random_state(random_state)
        for layer in self.layers:
            if not layer.is_initialized:
                layer.initialize(rng, xp=xp, device=device, dtype=dtype)
        return self

    def initialize_from_data(self, X, random_state=None, n_samples=2000):
        """Start the observation layer from the data; returns self.

        Draws ``n_samples`` latents ``z_1`` from the current model (the layers
        above keep their parameters) and calls
        ``layers[0].initialize_from_data(X, z_1)``: for Gaussian observations
        a probabilistic PCA of ``X`` scaled to the spread of ``z_1``, for
        Bernoulli ones biases matching the data's means. The model's first
        samples then cover the data instead of a random region around it.
        """
        rng = check_random_state(random_state)
        _, latents = self.sample(n_samples, random_state=rng)
        self.layers[0].initialize_from_data(X, latents[0], random_state=rng)
        return self

    # -- parameters -----------------------------------------------------------
    def get_parameters(self) -> dict:
        """All parameters, keyed ``"layer{l}.{name}"`` (l = 0: the observations)."""
        return {
            f"layer{i}.{name}": value
            for i, layer in enumerate(self.layers)
            for name, value in layer.params.items()
        }

    def set_parameters(self, params) -> DeepExponentialFamily:
        """Set parameters from a dict keyed like :meth:`get_parameters`."""
        per_layer = {}
        for key, value in params.items():
            head, _, name = key.partition(".")
            if not head.startswith("layer") or not head[5:].isdigit() or not name:
                raise ValueError(
                    f"parameter names look like 'layer0.weights', got {key!r}."
                )
            i = int(head[5:])
            if i >= len(self.layers):
                raise ValueError(f"{key!r}: the model has {len(self.layers)} layers.")
            per_layer.setdefault(i, {})[name] = value
        # Fix: validate every layer's new values before changing any layer; a
        # bad value for a later layer used to raise after earlier layers were
        # already updated, leaving the model half-changed. set_params builds a
        # new dict, so staging it on a shallow copy of the layer leaves the
        # layer itself untouched until all checks have passed.
        staged = {}
        for i, values in per_layer.items():
            trial = _shallow_copy(self.layers[i])
            trial.set_params(values)
            staged[i] = trial.params
        for i, new_params in staged.items():
            self.layers[i].params = new_params
        return self

    def trainable_parameters(self) -> dict:
        """The parameters learning algorithms may change (keyed as get_parameters)."""
        return {
            f"layer{i}.{name}": layer.params[name]
            for i, layer in enumerate(self.layers)
            for name in layer.trainable
        }

    def copy(self) -> DeepExponentialFamily:
        """A deep copy: the copy's arrays are independent of this model's."""
        return DeepExponentialFamily([layer.copy() for layer in self.layers])

    def to(self, xp, device=None, dtype=None) -> DeepExponentialFamily:
        """A copy with every parameter in ``xp`` on ``device`` as ``dtype``."""
        return DeepExponentialFamily(
            [layer.to(xp, device, dtype) for layer in self.layers]
        )

    # -- distribution -----------------------------------------------------------
    def sample(self, n_samples=1, random_state=None):
        """Ancestral sample ``(X, [z_1, ..., z_L])``.

        Returns
        -------
        X : array of shape (n_samples, n_features)
        latents : list of arrays
            ``latents[l-1]`` has shape (n_samples, latent_dims[l-1]).
        """
        rng = (
            random_state
            if isinstance(random_state, DeviceRandom)
            else check_random_state(random_state)
        )
        z = self.layers[-1].sample(None, n_samples=int(n_samples), random_state=rng)
        latents = [z]
        for layer in reversed(self.layers[:-1]):
            z = layer.sample(z, random_state=rng)
            latents.append(z)
        latents.reverse()
        return latents[0], latents[1:]

    def log_joint(self, X, latents):
        """log p(x, z_1..z_L) per sample, shape (n_samples,)."""
        values = [X, *latents]
        if len(latents) != self.n_latent_layers:
            raise ValueError(
                f"latents must hold {self.n_latent_layers} arrays, got {len(latents)}."
            )
        total = self.layers[-1].log_prob(values[-1])
        for i, layer in enumerate(self.layers[:-1]):
            total = total + layer.log_prob(values[i], values[i + 1])
        return total

    def grad_latents(self, X, latents):
        """d log p(x, z) / d z_l for every latent layer: (n, latent_dims[l-1]) each."""
        values = [X, *latents]
        grads = []
        for i in range(1, len(values)):
            g = self.layers[i - 1].grad_parent(values[i - 1], values[i])
            parent = values[i + 1] if i + 1 < len(values) else None
            g = g + self.layers[i].grad_child(values[i], parent)
            grads.append(g)
        return grads

    def grad_parameters(self, X, latents, weights=None):
        """sum_n w_n d log p(x_n, z_n) / d theta, keyed like :meth:`get_parameters`."""
        values = [X, *latents]
        out = {}
        for i, layer in enumerate(self.layers):
            parent = values[i + 1] if i + 1 < len(values) else None
            for name, g in layer.grad_params(values[i], parent, weights).items():
                out[f"layer{i}.{name}"] = g
        return out

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"DeepExponentialFamily([{inner}])"
