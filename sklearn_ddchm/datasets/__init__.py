"""Data generators and loaders."""

from ._synthetic import make_sparse_hierarchical, make_sparse_model

__all__ = ["make_sparse_hierarchical", "make_sparse_model"]
