"""
==================================================================
Fig. 2: exact posteriors of one data point under the learnt models
==================================================================

A generative model is judged by its samples (:ref:`Fig. 1
<sphx_glr_auto_examples_plot_paper_fig1_synthetic.py>`) and also by the
latent structure it assigns to the data. Vertes & Sahani (2018, Fig. 2) take
one data point and draw from its *exact* posterior ``p(z_1, z_2 | x)`` under
the true model and under each learnt model by Hamiltonian Monte Carlo: the
DDC-HM's posterior stays close to the truth, the VAE's and the IWAE's do not.

This example trains the same four learners as Fig. 1 from the true
parameters (the DDC-HM, the classic Helmholtz machine, the VAE and IWAE-50),
then samples the posterior of one held-out point under each learnt model
(the fitted :class:`~sklearn_ddchm.models.DeepExponentialFamily` is the
estimator's ``model_``) and under the true model. The sampler is the
package's internal ``sklearn_ddchm._hmc.sample_posterior``: vectorised HMC
chains with a step size tuned during warm-up, plus moves that propose a
fresh draw from the prior, which let chains cross between the two modes of
the mixture prior (HMC trajectories alone cannot: the modes are many prior
widths apart). It is tested against grid quadrature on this model
(``tests/test_hmc.py``).

The data point is a held-out point close to the origin (at the 10th
percentile of the distance from it), where either Laplace unit of ``z_1``
could be the active one, so that the posterior of ``z_2`` has mass at both
prior modes.
"""

# %%
# Training
# --------
import os

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm._hmc import sample_posterior
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.metrics import mmd2

# The test suite runs every example at a quick size
# (SKLEARN_DDCHM_EXAMPLE_QUICK=1); the gallery shows the full size.
QUICK = os.environ.get("SKLEARN_DDCHM_EXAMPLE_QUICK") == "1"
N_TRAIN = 300 if QUICK else 4000
N_EPOCHS = 2 if QUICK else 30
N_CHAINS = 4 if QUICK else 32
N_DRAWS = 20 if QUICK else 500  # kept HMC iterations per chain
N_WARMUP = 10 if QUICK else 300

X, _, true_model = make_sparse_hierarchical(n_samples=2 * N_TRAIN, random_state=0)
X_train, X_test = X[:N_TRAIN], X[N_TRAIN:]
common = dict(model=true_model, learning_rate=1e-3, max_iter=N_EPOCHS, random_state=0)
models = {"true model": true_model}
for name, est in {
    "DDC-HM": DDCHelmholtzEstimator(**common),
    "classic HM": DDCHelmholtzEstimator(
        encoding="linear", expectations="encodings", **common
    ),
    "VAE": VAEEstimator(**common),
    "IWAE-50": IWAEEstimator(n_particles=50, **common),
}.items():
    models[name] = est.fit(X_train).model_

distance = np.linalg.norm(X_test, axis=1)
x = X_test[np.argsort(distance)[len(X_test) // 10]]
print(f"data point x = [{x[0]:.3f}, {x[1]:.3f}]")

# %%
# Posterior samples by HMC
# ------------------------
posteriors = {}
for name, model in models.items():
    (z1, z2), info = sample_posterior(
        model,
        x,
        N_DRAWS,
        n_chains=N_CHAINS,
        n_warmup=N_WARMUP,
        n_leapfrog=10,
        random_state=0,
    )
    Z = np.concatenate([z1.reshape(-1, 2), z2.reshape(-1, 1)], axis=1)
    posteriors[name] = Z
    print(
        f"{name:10s} HMC acceptance {info['accept_rate'].mean():.2f}, "
        f"prior moves accepted {info['jump_rate'].mean():.3f}"
    )

# %%
# How far each learnt posterior is from the true one
# --------------------------------------------------
# Posterior means, standard deviations, the probability of the positive mode
# of ``z_2``, and the MMD² between each model's posterior samples and the
# true model's (median-heuristic width; the true model's row compares two
# independent halves of its own samples, the Monte Carlo floor).
Z_true = posteriors["true model"]
half = len(Z_true) // 2
columns = ["E[z1_1]", "E[z1_2]", "E[z2]", "sd z1_1", "sd z1_2", "sd z2", "P(z2>0)"]
print(" " * 10, *(f"{c:>8s}" for c in columns), f"{'MMD^2':>9s}")
for name, Z in posteriors.items():
    reference = Z_true[:half]
    other = Z[half:] if name == "true model" else Z
    distance = mmd2(reference, other[: len(reference)])
    mean, sd = Z.mean(axis=0), Z.std(axis=0)
    values = [*mean, *sd, np.mean(Z[:, 2] > 0)]
    print(f"{name:10s}", *(f"{v:8.3f}" for v in values), f"{distance:9.2e}")

# %%
# Corner plots
# ------------
# Pairwise 2-D histograms (lower triangle) and marginal histograms (diagonal)
# of the three latents, on the same axes for every model. The last panel
# shows where the data point lies among the held-out data.
labels = ["$z_{1,1}$", "$z_{1,2}$", "$z_2$"]
pooled = np.concatenate(list(posteriors.values()))
low, high = np.quantile(pooled, [0.002, 0.998], axis=0)
pad = 0.05 * (high - low)
limits = list(zip(low - pad, high + pad, strict=True))


def corner(subfig, Z, title):
    axes = subfig.subplots(3, 3)
    for i in range(3):
        for j in range(3):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(Z[:, i], bins=40, range=limits[i], color="C0")
                ax.set_yticks([])
            else:
                ax.hist2d(
                    Z[:, j], Z[:, i], bins=40, range=[limits[j], limits[i]],
                    cmap="Blues", cmin=1,
                )  # fmt: skip
                ax.set_ylim(limits[i])
            ax.set_xlim(limits[j])
            if i == 2:
                ax.set_xlabel(labels[j])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
            elif j > 0 or i == 0:
                ax.set_yticklabels([])
    subfig.suptitle(title)


fig = plt.figure(figsize=(15, 10), layout="constrained")
subfigs = fig.subfigures(2, 3, wspace=0.04, hspace=0.04)
for subfig, (name, Z) in zip(subfigs.ravel()[:5], posteriors.items(), strict=True):
    corner(subfig, Z, f"{name}: P($z_2 > 0$) = {np.mean(Z[:, 2] > 0):.2f}")
ax = subfigs.ravel()[-1].subplots()
ax.scatter(X_test[:, 0], X_test[:, 1], s=2, alpha=0.3, linewidths=0)
ax.scatter(*x, marker="x", s=120, color="C3", label="the data point")
limit = np.quantile(np.abs(X_test), 0.999)
ax.set_xlim(-limit, limit)
ax.set_ylim(-limit, limit)
ax.set_aspect("equal")
ax.legend(loc="upper right")
subfigs.ravel()[-1].suptitle("held-out data")
plt.show()
