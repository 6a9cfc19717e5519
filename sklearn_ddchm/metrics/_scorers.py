"""Scorers ranking generative models by the MMD between data and model samples.

``sklearn.metrics.make_scorer`` cannot be used: a scorer made by it calls
``score_func(y_true, y_pred)``, and model selection of an unsupervised estimator
passes ``y=None``, so every score would silently be NaN. The scorers here are
plain callables with scikit-learn's scorer signature ``scorer(estimator, X,
y=None)``, and they only use the public ``sample`` method of the estimator (or
of a Pipeline's final step) and the preceding steps' ``transform`` /
``inverse_transform`` (:mod:`._sampling`).
"""

from __future__ import annotations

from sklearn.utils._param_validation import StrOptions, validate_params

from ..utils._array_api import to_namespace
from ..utils._validation import IntInterval
from ._mmd import (
    _BANDWIDTH_CONSTRAINT,
    _ESTIMATORS,
    _MIN_SAMPLES,
    DEFAULT_BLOCK_SIZE,
    MEDIAN_MAX_SAMPLES,
    _check_bandwidth,
    _check_samples,
    _median_bandwidth,
    _mmd2,
)
from ._sampling import SPACES, _comparison_samples

__all__ = ["make_mmd_scorer", "neg_mmd_scorer"]

#: Seed of the median-heuristic subsample of the scoring data: fixed, so that all
#: candidates scored on one fold get the same kernel.
_MEDIAN_SEED = 0


class _MMDScorer:
    """Callable ``scorer(estimator, X, y=None) = -MMD^2(X, estimator.sample(n))``.

    Built by :func:`make_mmd_scorer`; a module-level class with plain attributes so
    that it pickles (joblib sends scorers to worker processes).
    """

    def __init__(
        self,
        *,
        n_samples,
        bandwidth,
        random_state,
        estimator,
        kernel,
        block_size,
        space="auto",
    ):
        self.n_samples = n_samples
        self.bandwidth = bandwidth
        self.random_state = random_state
        self.estimator = estimator
        self.kernel = kernel
        self.block_size = block_size
        self.space = space

    def __call__(self, estimator, X, y=None):
        """Score ``estimator`` on data ``X`` (``y`` is ignored); greater is better.

        Parameters
        ----------
        estimator : object
            A fitted generative model (a ``sample(n_samples)`` method) or a
            fitted Pipeline ending in one.
        X : array-like of shape (n_samples, n_features)
            Held-out data, as the estimator takes it.
        y : None
            Ignored; present for scikit-learn's scorer signature.

        Returns
        -------
        score : float
            ``-MMD^2`` between ``X`` and the samples, in the space chosen by
            :func:`comparison_samples`.
        """
        # An int seed gives every candidate the same random numbers (common random
        # numbers), which makes the comparison between candidates less noisy.
        X, samples = _comparison_samples(
            estimator, X, self.n_samples, self.space, self.random_state
        )
        (X,), xp, device = _check_samples(
            [X],
            ["X"],
            min_samples=_MIN_SAMPLES[self.estimator],
            reason=f"estimator={self.estimator!r}",
        )
        # The model may live on another device or namespace (e.g. fitted on GPU).
        samples = to_namespace(samples, xp, device, dtype=X.dtype)
        (X, samples), xp, device = _check_samples(
            [X, samples],
            ["X", "estimator.sample(n_samples)"],
            min_samples=_MIN_SAMPLES[self.estimator],
            reason=f"estimator={self.estimator!r}",
        )
        if isinstance(self.bandwidth, str):
            # The kernel depends on the scoring data only, not on the model's
            # samples: every candidate scored on a fold is judged with one kernel.
            sigma = _median_bandwidth(
                [X],
                max_samples=MEDIAN_MAX_SAMPLES,
                random_state=_MEDIAN_SEED,
                xp=xp,
                device=device,
            )
        else:
            sigma = _check_bandwidth(self.bandwidth)
        return -_mmd2(
            X,
            samples,
            sigma,
            self.estimator,
            xp=xp,
            device=device,
            block_size=self.block_size,
        )

    def __repr__(self):
        return (
            f"make_mmd_scorer(n_samples={self.n_samples!r}, "
            f"bandwidth={self.bandwidth!r}, random_state={self.random_state!r}, "
            f"estimator={self.estimator!r}, space={self.space!r})"
        )


@validate_params(
    {
        "n_samples": [IntInterval(1, None, closed="left"), None],
        "bandwidth": [StrOptions({"median"}), _BANDWIDTH_CONSTRAINT],
        "random_state": ["random_state"],
        "estimator": [StrOptions(set(_ESTIMATORS))],
        "kernel": [StrOptions({"rbf"})],
        "block_size": [IntInterval(1, None, closed="left")],
        "space": [StrOptions(set(SPACES))],
    },
    prefer_skip_nested_validation=True,
)
def make_mmd_scorer(
    n_samples=None,
    bandwidth="median",
    random_state=0,
    estimator="unbiased",
    *,
    kernel="rbf",
    block_size=DEFAULT_BLOCK_SIZE,
    space="auto",
):
    """Scorer ``-MMD^2(X, estimator.sample(n))`` for model selection.

    The returned callable has scikit-learn's scorer signature
    ``scorer(estimator, X, y=None) -> float`` and can be passed as ``scoring``
    to :class:`~sklearn.model_selection.GridSearchCV`,
    :class:`~sklearn.model_selection.RandomizedSearchCV`,
    :class:`~sklearn.model_selection.HalvingGridSearchCV` or
    :func:`~sklearn.model_selection.cross_val_score`. Greater is better.

    ``estimator`` is a generative model or a
    :class:`~sklearn.pipeline.Pipeline` ending in one, e.g.
    ``Pipeline([("scale", StandardScaler()), ("ddc", DDCHelmholtzEstimator())])``.
    The scorer draws from the final step's ``sample(n)``, which may return an
    array (:class:`~sklearn.neighbors.KernelDensity`, this package's models) or
    a tuple ``(X, labels)`` (:class:`~sklearn.mixture.GaussianMixture`);
    ``random_state`` is passed to ``sample`` when its signature has that
    parameter, otherwise the model's own ``random_state`` applies. Samples and
    held-out data are then compared in one space, chosen by ``space`` as in
    :func:`comparison_samples`: by default the samples are mapped back
    through the ``inverse_transform`` of the preceding steps while each is
    exact (a scaler: the comparison is in the data's own space), and the
    held-out data forward through the others (a feature selector, a
    transformer without inverse: the comparison is in the space after it).
    Samples returned in another array namespace or on another device are moved
    to those of ``X``.

    Parameters
    ----------
    n_samples : int or None, default=None
        Number of model samples; ``None`` draws as many as ``X`` has rows.
    bandwidth : "median" or float, default="median"
        Width ``sigma`` of ``exp(-||x - y||^2 / (2 sigma^2))``. ``"median"`` is
        the median heuristic (:func:`median_heuristic`) on the scoring data
        ``X`` alone, not on ``X`` pooled with the samples as in :func:`mmd2`: all
        candidates scored on one fold are then compared with the same kernel,
        and a model cannot change the kernel it is judged by.
    random_state : int, RandomState instance or None, default=0
        Passed to ``estimator.sample``. An int gives every candidate the same
        seed (less noisy comparisons).
    estimator : {"unbiased", "biased", "linear"}, default="unbiased"
        Estimator of MMD^2 (:func:`mmd2`); ``"linear"`` for very large folds.
    kernel : {"rbf"}, default="rbf"
        The Gaussian kernel, the only one implemented.
    block_size : int, default=1024
        Rows per block of the Gram matrices.
    space : {"auto", "data", "model"}, default="auto"
        Where samples and held-out data are compared, for a Pipeline
        (:func:`comparison_samples`): ``"auto"`` the earliest space both
        reach exactly, ``"data"`` the data's space (samples back through
        every ``inverse_transform``), ``"model"`` the final step's input
        space (held-out data forward through every ``transform``). A bare
        model is always compared in the data's space. The median-heuristic
        width is taken in the comparison space.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None)`` returning ``-MMD^2`` as a float;
        picklable.

    See Also
    --------
    neg_mmd_scorer : ``make_mmd_scorer()`` with the defaults.
    comparison_samples : The held-out data and samples the scorer compares.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_ddchm.metrics import make_mmd_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (150, 1)), rng.normal(3, 1, (150, 1))])
    >>> X = X[rng.permutation(len(X))]  # K-fold splits must see both modes
    >>> search = GridSearchCV(GaussianMixture(random_state=0),
    ...                       {"n_components": [1, 2]}, scoring=make_mmd_scorer())
    >>> search.fit(X).best_params_
    {'n_components': 2}

    A pipeline is scored in the data's own space when its steps invert
    exactly:

    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> pipe = Pipeline([("scale", StandardScaler()),
    ...                  ("gm", GaussianMixture(random_state=0))])
    >>> search = GridSearchCV(pipe, {"gm__n_components": [1, 2]},
    ...                       scoring=make_mmd_scorer(), error_score="raise")
    >>> search.fit(100.0 * X).best_params_
    {'gm__n_components': 2}
    """
    return _MMDScorer(
        n_samples=n_samples,
        bandwidth=bandwidth,
        random_state=random_state,
        estimator=estimator,
        kernel=kernel,
        block_size=block_size,
        space=space,
    )


#: ``make_mmd_scorer()``: ``-MMD^2_u(X, estimator.sample(len(X)))`` with the
#: median-heuristic width of ``X`` and ``random_state=0``.
neg_mmd_scorer = make_mmd_scorer()
