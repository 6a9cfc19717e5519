"""A multilayer perceptron with hand-written back-propagation, in any array namespace.

The recognition networks of the VAE and IWAE are MLPs; with no automatic
differentiation available on the array API, the forward pass returns a cache
of what the backward pass needs, and :func:`mlp_backward` applies the chain
rule layer by layer. Conventions follow :class:`sklearn.neural_network.MLPRegressor`:
``coefs[i]`` has shape ``(n_in, n_out)``, a layer computes ``H @ W + b``, and
the output layer is linear.
"""

from __future__ import annotations

import math

from ..utils._array_api import get_namespace, sigmoid, softplus
from ..utils._random import draw

ACTIVATIONS = ("tanh", "relu", "softplus")


def _activate(A, activation):
    xp = get_namespace(A)
    if activation == "tanh":
        return xp.tanh(A)
    if activation == "relu":
        return xp.maximum(A, 0.0)
    return softplus(A, xp=xp)


def _activation_derivative(A, H, activation):
    """d activation(A) / dA elementwise, from the pre-activation A and its value H."""
    xp = get_namespace(A)
    if activation == "tanh":
        return 1.0 - H * H
    if activation == "relu":
        return xp.astype(A > 0, A.dtype)
    return sigmoid(A, xp=xp)


def mlp_init(
    layer_sizes, random_state, *, xp, device=None, dtype=None, output_scale=0.1
):
    """Random weights ``N(0, 1 / n_in)`` and zero intercepts.

    The fan-in scaling keeps every hidden pre-activation O(1). The output
    layer is scaled down by ``output_scale`` so that a fresh network maps
    every input close to its output intercepts (for a Gaussian recognition
    model: ``q(z | x) ~ N(0, I)`` at the start).

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_inputs, n_hidden_1, ..., n_outputs)``.
    random_state : RandomState
    xp, device, dtype
        Namespace, device and dtype of the arrays.

    Returns
    -------
    coefs : list of arrays of shape (n_in, n_out)
    intercepts : list of arrays of shape (n_out,)
    """
    coefs, intercepts = [], []
    n_layers = len(layer_sizes) - 1
    for i, (n_in, n_out) in enumerate(
        zip(layer_sizes[:-1], layer_sizes[1:], strict=True)
    ):
        scale = 1.0 / math.sqrt(n_in) * (output_scale if i == n_layers - 1 else 1.0)
        coefs.append(
            scale
            * draw(
                random_state,
                "standard_normal",
                (n_in, n_out),
                xp=xp,
                device=device,
                dtype=dtype,
            )
        )
        intercepts.append(xp.zeros(n_out, dtype=dtype, device=device))
    return coefs, intercepts


def mlp_forward(X, coefs, intercepts, activation="tanh"):
    """Output of the network and the cache :func:`mlp_backward` needs.

    Returns
    -------
    out : array of shape (n_samples, n_outputs)
    cache : list of ``(layer_input, pre_activation, activation_value)`` per
        hidden layer, then the input of the output layer.
    """
    cache = []
    H = X
    for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
        A = H @ W + b
        H_next = _activate(A, activation)
        cache.append((H, A, H_next))
        H = H_next
    cache.append(H)
    return H @ coefs[-1] + intercepts[-1], cache


def mlp_backward(coefs, cache, grad_out, activation="tanh"):
    """Gradients of ``sum(grad_out * out)`` wrt every weight and intercept.

    Parameters
    ----------
    coefs : list of arrays
        The weights the forward pass used.
    cache : list
        From :func:`mlp_forward`.
    grad_out : array of shape (n_samples, n_outputs)
        d objective / d out.

    Returns
    -------
    grad_coefs, grad_intercepts : lists shaped like ``coefs`` and the intercepts
    """
    xp = get_namespace(grad_out)
    n_layers = len(coefs)
    grad_coefs = [None] * n_layers
    grad_intercepts = [None] * n_layers
    delta = grad_out  # d objective / d (pre-activation of the current layer)
    H = cache[-1]
    grad_coefs[-1] = H.T @ delta
    grad_intercepts[-1] = xp.sum(delta, axis=0)
    for i in range(n_layers - 2, -1, -1):
        H_in, A, H_out = cache[i]
        delta = (delta @ coefs[i + 1].T) * _activation_derivative(A, H_out, activation)
        grad_coefs[i] = H_in.T @ delta
        grad_intercepts[i] = xp.sum(delta, axis=0)
    return grad_coefs, grad_intercepts
