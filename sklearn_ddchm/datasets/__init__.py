"""Data generators and loaders."""

from ._mnist import binarize, load_idx, load_mnist
from ._patches import (
    load_sample_image_patches,
    load_van_hateren_image,
    load_van_hateren_patches,
    patches_from_images,
    preprocess_patches,
)
from ._synthetic import make_sparse_hierarchical, make_sparse_model

__all__ = [
    "binarize",
    "load_idx",
    "load_mnist",
    "load_sample_image_patches",
    "load_van_hateren_image",
    "load_van_hateren_patches",
    "make_sparse_hierarchical",
    "make_sparse_model",
    "patches_from_images",
    "preprocess_patches",
]
