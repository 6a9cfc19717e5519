"""Parameter constraints shared by the estimators and functions."""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval


class IntInterval(Interval):
    """``Interval(Integral, left, right, closed=...)`` that rejects bools.

    Python counts ``True`` as the integer 1, so scikit-learn's integer
    intervals accept ``n_importance=True``, which then fails deep inside the
    computation (``np.broadcast_to`` with a bool in a shape). A count is
    never a truth value: reject it where the parameters are validated.
    """

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool) and super().is_satisfied_by(val)
