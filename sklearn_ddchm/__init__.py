"""sklearn-ddchm: Distributed Distributional Code Helmholtz Machines for scikit-learn.

The public face of the package:

- :class:`DDCHelmholtzEstimator`: a deep exponential family model learnt with
  DDC wake-sleep (Vertes & Sahani, NeurIPS 2018).
- :class:`RandomSigmoidFeatures`: the encoding functions ``T(z) = sigmoid(W z + b)``.
- :func:`log_likelihood`: held-out log-likelihood of any of the package's
  estimators by annealed importance sampling, with standard errors
  (:class:`LogLikelihoodResult`); :func:`make_log_likelihood_scorer` for model
  selection; :class:`UnreliableScoreWarning` when a score cannot be trusted.
- :mod:`sklearn_ddchm.models`, :mod:`sklearn_ddchm.datasets`,
  :mod:`sklearn_ddchm.metrics`: the model library, data generators and MMD tools.
"""

from ._features import RandomSigmoidFeatures
from ._helmholtz import DDCHelmholtzEstimator
from ._log_likelihood import (
    LogLikelihoodResult,
    UnreliableScoreWarning,
    log_likelihood,
    make_log_likelihood_scorer,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "DDCHelmholtzEstimator",
    "RandomSigmoidFeatures",
    "log_likelihood",
    "LogLikelihoodResult",
    "make_log_likelihood_scorer",
    "UnreliableScoreWarning",
    "__version__",
]
