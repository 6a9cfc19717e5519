"""Data generators and loaders."""

from ._mnist import binarize, load_idx, load_mnist
from ._synthetic import make_sparse_hierarchical, make_sparse_model

__all__ = [
    "binarize",
    "load_idx",
    "load_mnist",
    "make_sparse_hierarchical",
    "make_sparse_model",
]
