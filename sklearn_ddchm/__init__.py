"""sklearn-ddchm: Distributed Distributional Code Helmholtz Machines for scikit-learn.

The public face of the package:

- :class:`DDCHelmholtzEstimator`: a deep exponential family model learnt with
  DDC wake-sleep (Vertes & Sahani, NeurIPS 2018).
- :class:`RandomSigmoidFeatures`: the encoding functions ``T(z) = sigmoid(W z + b)``.
- :mod:`sklearn_ddchm.models`, :mod:`sklearn_ddchm.datasets`,
  :mod:`sklearn_ddchm.metrics`: the model library, data generators and MMD tools.
"""

from ._features import RandomSigmoidFeatures
from ._helmholtz import DDCHelmholtzEstimator

__version__ = "0.1.0.dev0"

__all__ = ["DDCHelmholtzEstimator", "RandomSigmoidFeatures", "__version__"]
