"""Maximum mean discrepancy: estimators, kernel widths, tests and scorers.

The tools the DDC Helmholtz machine paper (Vertes & Sahani, 2018) judges models
with: MMD between data and model samples (Gretton et al., 2012) and the relative
three-sample MMD test (Bounliphone et al., 2016), plus scorers for
hyper-parameter search. See ``doc/metrics.rst`` for the conventions.
"""

from ._mmd import median_heuristic, mmd2, optimize_bandwidth
from ._sampling import comparison_samples
from ._scorers import make_mmd_scorer, neg_mmd_scorer
from ._tests import (
    MMDTestResult,
    RelativeMMDTestResult,
    mmd_test,
    relative_mmd_test,
    relative_mmd_test_estimators,
)

__all__ = [
    "MMDTestResult",
    "RelativeMMDTestResult",
    "comparison_samples",
    "make_mmd_scorer",
    "median_heuristic",
    "mmd2",
    "mmd_test",
    "neg_mmd_scorer",
    "optimize_bandwidth",
    "relative_mmd_test",
    "relative_mmd_test_estimators",
]
