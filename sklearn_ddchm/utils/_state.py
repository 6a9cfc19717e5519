"""Estimator state helpers shared by the estimators."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def restored_on_error(estimator):
    """Put the estimator's attributes back as they were if the block raises.

    For validation and set-up in ``fit`` / ``partial_fit``: they rebind
    attributes (``n_features_in_``, ``feature_names_in_``, ``model_``, ...)
    and never modify the objects the attributes held, so a shallow copy of
    ``__dict__`` is enough to undo them. A failed call then leaves the
    estimator as it was.
    """
    state = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(state)
        raise
