"""Deep exponential family models: conditionals, priors and their stack.

One exponential family is one class with the interface of :class:`Layer`;
learning algorithms depend on that interface only.
"""

from ._base import Layer
from ._deep import DeepExponentialFamily
from ._families import (
    BernoulliLayer,
    BernoulliPrior,
    GaussianLayer,
    GaussianPrior,
    LaplaceLayer,
)
from ._mixture import MixtureOfGaussiansPrior

__all__ = [
    "Layer",
    "DeepExponentialFamily",
    "GaussianLayer",
    "GaussianPrior",
    "LaplaceLayer",
    "BernoulliLayer",
    "BernoulliPrior",
    "MixtureOfGaussiansPrior",
]
