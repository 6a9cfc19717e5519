"""Baseline learning algorithms for the comparisons of the DDC Helmholtz machine.

Every baseline is an estimator of this package on the same model library,
array-API backend and training driver as
:class:`~sklearn_ddchm.DDCHelmholtzEstimator` (same ``model`` /
``latent_dims`` specification, Adam schedule, minibatches, ``partial_fit``,
``sample``, ``score_samples`` through the shared importance-sampling
estimator with the algorithm's own recognition model as proposal, and
:func:`sklearn_ddchm.log_likelihood`'s annealed importance sampling started
from that proposal), so that a comparison differs only in the inference and
learning algorithm.

- :class:`VAEEstimator` and :class:`IWAEEstimator` (``n_particles=k``):
  continuous latents (Gaussian and Laplace layers, mixture-of-Gaussians
  prior). The recognition model is an MLP (two hidden layers of 100 tanh
  units by default, as in the paper's Section 7) that outputs a factorised
  Gaussian over all latent layers jointly; gradients are reparameterised.
  The VAE is the IWAE with ``k = 1``.
- :class:`VIMCOEstimator` (``n_particles=k``): binary latents (sigmoid belief
  networks), a layer-wise factorised Bernoulli recognition model and the
  leave-one-out control variates of Mnih & Rezende (2016).
- The classic Helmholtz machine, mean-field wake-sleep (Hinton et al., 1995;
  Dayan et al., 1995), is ``DDCHelmholtzEstimator(encoding="linear",
  expectations="encodings")``: with the encoding ``T(z) = z`` the recognition
  model predicts the posterior means only, so the wake phase learns as if the
  posterior were a product of independent factors with those means (with
  the default ``expectations="embedding"`` the wake phase reads no
  encoding). It is not repeated here.

The objectives and gradients are also available as functions of arrays
(``_vae.iwae_gradients``, ``_vimco.vimco_gradients``), which the tests check
against finite differences.
"""

from ._vae import IWAEEstimator, VAEEstimator
from ._vimco import VIMCOEstimator

__all__ = ["IWAEEstimator", "VAEEstimator", "VIMCOEstimator"]
