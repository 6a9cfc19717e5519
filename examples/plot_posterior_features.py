"""
===================================================
Posterior features for a classifier: DDC-HM vs PCA
===================================================

:meth:`~sklearn_ddchm.DDCHelmholtzEstimator.transform` maps each data point
to its DDC posterior features ``r_l(x) ~ E[T_l(z_l) | x]``: expectations of
random sigmoid functions of each latent layer under the approximate
posterior. They summarise what the generative model infers about the hidden
causes of ``x``, so they can feed a downstream model like any other
unsupervised features.

This example fits a two-layer sigmoid belief network by DDC wake-sleep to
binarised 8 x 8 digits (:func:`sklearn.datasets.load_digits`, labels unused),
passes its features to a :class:`~sklearn.linear_model.LogisticRegression`,
and compares the cross-validated accuracy with the same classifier on PCA
features with as many components, and on the raw pixels. Each is one
:class:`~sklearn.pipeline.Pipeline`, so every cross-validation fold fits the
unsupervised step on its training part only.
"""

# %%
# Pipelines
# ---------
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.datasets import binarize

# The test suite runs every example at a quick size
# (SKLEARN_DDCHM_EXAMPLE_QUICK=1); the gallery shows the full size.
QUICK = os.environ.get("SKLEARN_DDCHM_EXAMPLE_QUICK") == "1"
N_ROWS = 400 if QUICK else None  # None: all 1,797 digits
N_FOLDS = 2 if QUICK else 3
# Latent layers of 32 and 16 binary units; 32 + 16 = 48 encoding functions,
# so 48 features, fewer than the 64 pixels (PCA can then match the count).
LATENT_DIMS = (32, 16)
N_ENCODING = (32, 16)

digits = load_digits()
X = binarize(digits.data[:N_ROWS] * (255 / 16), random_state=0)
y = digits.target[:N_ROWS]
n_features = sum(N_ENCODING)


def classifier():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


pipelines = {
    "DDC-HM features": make_pipeline(
        DDCHelmholtzEstimator(
            model="sbn",
            latent_dims=LATENT_DIMS,
            n_encoding=N_ENCODING,
            # the default number of epochs; the test suite's quick size: 2
            **({"max_iter": 2} if QUICK else {}),
            random_state=0,
        ),
        classifier(),
    ),
    "PCA features": make_pipeline(PCA(n_components=n_features), classifier()),
    "raw pixels": classifier(),
}

# %%
# Cross-validated accuracy
# ------------------------
cv = StratifiedKFold(N_FOLDS, shuffle=True, random_state=0)
scores, fitted = {}, {}
for name, pipe in pipelines.items():
    start = time.perf_counter()
    results = cross_validate(pipe, X, y, cv=cv, return_estimator=True)
    scores[name], fitted[name] = results["test_score"], results["estimator"]
    print(
        f"{name:16s} accuracy {scores[name].mean():.3f} "
        f"+- {scores[name].std():.3f} over {N_FOLDS} folds "
        f"({time.perf_counter() - start:.1f} s)"
    )
print(f"features: {n_features} for DDC-HM and PCA, {X.shape[1]} pixels")

fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(scores)
ax.barh(
    names,
    [scores[n].mean() for n in names],
    xerr=[scores[n].std() for n in names],
    color=["C0", "C1", "C7"],
)
for i, n in enumerate(names):
    ax.plot(scores[n], np.full(len(scores[n]), i), "k.", alpha=0.6)
ax.set_xlim(0.5, 1.0)
ax.set_xlabel(f"accuracy ({N_FOLDS}-fold cross-validation)")
ax.invert_yaxis()
fig.tight_layout()

# %%
# What the features look like
# ---------------------------
# The DDC features of one digit of each class from 0 to 5, from the model
# fitted on the first fold: each row is one image's posterior summary (first
# the block of ``z_1``, then that of ``z_2``).
ddc = fitted["DDC-HM features"][0][0]
order = [np.flatnonzero(y == digit)[0] for digit in range(6)]
fig, (ax_img, ax_feat) = plt.subplots(
    1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 4]}
)
ax_img.imshow(
    np.concatenate([X[i].reshape(8, 8) for i in order], axis=0), cmap="gray_r"
)
ax_img.set_axis_off()
ax_img.set_title("digits")
image = ax_feat.imshow(ddc.transform(X[order]), aspect="auto", cmap="viridis")
ax_feat.axvline(N_ENCODING[0] - 0.5, color="w")
ax_feat.set_yticks(range(6), [str(y[i]) for i in order])
ax_feat.set_xlabel("feature (encoding functions of $z_1$, then $z_2$)")
ax_feat.set_title("DDC posterior features $r(x)$")
fig.colorbar(image, ax=ax_feat)
fig.tight_layout()
plt.show()
