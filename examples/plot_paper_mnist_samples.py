"""
==========================================================
Binary images: samples of the DDC-HM and of VIMCO-50
==========================================================

The paper's MNIST experiment (Vertes & Sahani, 2018, Section 7) trains a
sigmoid belief network (three layers of 200 binary latents) on
stochastically binarised MNIST by the DDC Helmholtz machine and by VIMCO with
50 samples, then compares their samples with the test images by MMD and the
relative three-sample test: the DDC-HM's samples are the closer.

MNIST is not downloaded when these pages are built, so this example runs the
same comparison on the 8 x 8 digits that ship with scikit-learn
(:func:`sklearn.datasets.load_digits`, 1,797 images), binarised the same way
(:func:`sklearn_ddchm.datasets.binarize`), with three layers of 32 binary
latents. Both estimators use their defaults otherwise (step sizes and their
decay, minibatches, encoding functions) and the same number of epochs; the
example prints the training time of each.

On MNIST itself, the benchmark script runs the paper's setting with an equal
wall-clock budget for both algorithms (it reads the original IDX files from
``--mnist-dir``, or fetches them)::

    SCIPY_ARRAY_API=1 python benchmarks/paper_mnist_sbn.py --minutes 10
"""

# %%
# Data and fits
# -------------
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.baselines import VIMCOEstimator
from sklearn_ddchm.datasets import binarize
from sklearn_ddchm.metrics import median_heuristic, mmd2, relative_mmd_test

# The test suite runs every example at a quick size
# (SKLEARN_DDCHM_EXAMPLE_QUICK=1); the gallery shows the full size.
QUICK = os.environ.get("SKLEARN_DDCHM_EXAMPLE_QUICK") == "1"
N_EPOCHS = 2 if QUICK else 100
LATENT_DIMS = (8, 8, 8) if QUICK else (32, 32, 32)

digits = load_digits().data  # intensities 0..16
X = binarize(digits * (255 / 16), random_state=0)
X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)

learners = {
    "DDC-HM": DDCHelmholtzEstimator(
        model="sbn", latent_dims=LATENT_DIMS, max_iter=N_EPOCHS, random_state=0
    ),
    "VIMCO-50": VIMCOEstimator(
        latent_dims=LATENT_DIMS, n_particles=50, max_iter=N_EPOCHS, random_state=0
    ),
}
samples = {}
for name, est in learners.items():
    start = time.perf_counter()
    est.fit(X_train)
    seconds = time.perf_counter() - start
    samples[name] = est.sample(len(X_test), random_state=1)
    print(f"{name:8s} {N_EPOCHS} epochs in {seconds:.1f} s")

# %%
# How close the samples are to held-out images
# --------------------------------------------
# Unbiased MMD² (Gaussian kernel, median-heuristic width of the held-out
# images, the same for every comparison). The floor compares the held-out
# images with as many training images.
bandwidth = median_heuristic(X_test)
floor = mmd2(X_test, X_train[: len(X_test)], bandwidth=bandwidth)
print(f"floor (held-out vs training images): MMD^2 {floor:.2e}")
for name, S in samples.items():
    print(
        f"{name:8s} MMD^2 to held-out images {mmd2(X_test, S, bandwidth=bandwidth):.2e}"
    )
result = relative_mmd_test(
    X_test, samples["VIMCO-50"], samples["DDC-HM"], bandwidth=bandwidth
)
print(
    f"relative test, H0 'VIMCO-50 at least as close as DDC-HM': p = {result.pvalue:.2g}"
)

# %%
# Sample grids
# ------------
# Ten by ten binary images of each: held-out digits, then samples of each
# learnt model.


def mosaic(images, n=10, size=8):
    """``n * n`` images of ``size x size`` pixels as one array, with 1-pixel gaps."""
    out = np.full((n * (size + 1) - 1, n * (size + 1) - 1), np.nan)
    for k, image in enumerate(images[: n * n]):
        i, j = divmod(k, n)
        out[
            i * (size + 1) : i * (size + 1) + size,
            j * (size + 1) : j * (size + 1) + size,
        ] = image.reshape(size, size)
    return out


fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
panels = {"held-out digits": X_test, **samples}
cmap = plt.get_cmap("gray_r").with_extremes(bad="lightsteelblue")  # the gaps
for ax, (name, images) in zip(axes, panels.items(), strict=True):
    ax.imshow(mosaic(images), cmap=cmap, vmin=0, vmax=1)
    ax.set_title(name)
    ax.set_axis_off()
fig.tight_layout()
plt.show()
