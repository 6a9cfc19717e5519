"""
=================================================================
The paper's synthetic experiment: learning from the true model
=================================================================

Vertes & Sahani (2018, Section 7) generate data from a sparse hierarchical
model (mixture-of-Gaussians prior, Laplace middle layer with a softplus scale,
Gaussian observations), start every learning algorithm at the *true*
parameters and check whether it stays there. An algorithm whose posterior
approximation is biased drifts away; the DDC Helmholtz machine should not.

This example fits the DDC-HM, the classic (mean-field) Helmholtz machine
(``encoding="linear"``), the VAE and the IWAE with 50 samples from the truth,
and compares samples of the learnt models with the data by the unbiased MMD²
(Gaussian kernel, median heuristic) and the relative three-sample test. The
VAE and IWAE lose the anti-correlated, heavy-tailed structure (measured on
this data set: MMD² 1.5e-2 for the VAE, 4.4e-3 for IWAE-50, 1.6e-4 for DDC-HM,
7e-5 for the true model's own samples; the relative test prefers DDC-HM over
IWAE-50 with p = 1.5e-5); the classic Helmholtz machine stays as close as
DDC-HM on this model (2.9e-5). The paper's settings are 1000 epochs at
learning rate 1e-4 on 10,000 points; this example runs 20 epochs at 1e-3 on
4,000 points to finish in about 20 seconds.
"""

import matplotlib.pyplot as plt

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.metrics import mmd2, relative_mmd_test

X, latents, true_model = make_sparse_hierarchical(n_samples=8000, random_state=0)
X_train, X_test = X[:4000], X[4000:]

common = dict(model=true_model, learning_rate=1e-3, max_iter=20, random_state=0)
fits = {
    "DDC-HM": DDCHelmholtzEstimator(**common),
    "classic HM": DDCHelmholtzEstimator(encoding="linear", **common),
    "VAE": VAEEstimator(**common),
    "IWAE-50": IWAEEstimator(n_particles=50, **common),
}
for est in fits.values():
    est.fit(X_train)

samples = {"true model": true_model.sample(4000, random_state=1)[0]}
samples.update({name: est.sample(4000, random_state=1) for name, est in fits.items()})
for name, S in samples.items():
    print(f"{name:12s} MMD^2 to held-out data: {mmd2(X_test, S):.2e}")

for other in ("IWAE-50", "classic HM"):
    result = relative_mmd_test(X_test, samples[other], samples["DDC-HM"])
    print(
        f"relative test, H0 '{other} at least as close as DDC-HM': "
        f"p = {result.pvalue:.2g}"
    )

fig, axes = plt.subplots(1, 6, figsize=(20, 3.5), sharex=True, sharey=True)
for ax, (name, S) in zip(axes, [("data", X_test), *samples.items()], strict=True):
    ax.scatter(S[:, 0], S[:, 1], s=2, alpha=0.3)
    ax.set_title(name)
axes[0].set_xlim(-12, 12)
axes[0].set_ylim(-12, 12)
plt.tight_layout()
plt.show()
