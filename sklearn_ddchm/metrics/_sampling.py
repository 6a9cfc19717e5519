"""Samples of a fitted generative model, or of a pipeline ending in one, beside data.

A scorer or test that compares a model's samples with held-out data needs both
in one space. For a bare model that is the data's space. For a
:class:`~sklearn.pipeline.Pipeline` ``[t_1, ..., t_L, model]`` the model's
samples live in the space of ``t_L``'s output, the data in the space of
``t_1``'s input. :func:`comparison_samples` chooses one space and brings both
there: samples go back through the ``inverse_transform`` of the steps that
have an exact one, held-out data go forward through ``transform`` of the
others. The rule is written out in its docstring and in ``doc/metrics.rst``.
"""

from __future__ import annotations

import inspect
from numbers import Integral

import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.validation import _num_samples

from ..utils._array_api import _is_array, get_namespace_and_device, to_namespace
from ..utils._validation import IntInterval

__all__ = ["comparison_samples"]

#: The comparison spaces :func:`comparison_samples` knows.
SPACES = ("auto", "data", "model")


def _sample(estimator, n_samples, random_state):
    """``estimator.sample(n_samples)``, seeded when the method accepts a seed."""
    sample = estimator.sample
    try:
        accepts_seed = "random_state" in inspect.signature(sample).parameters
    except (TypeError, ValueError):  # builtins / C extensions without a signature
        accepts_seed = False
    if accepts_seed:
        out = sample(n_samples, random_state=random_state)
    else:
        out = sample(n_samples)
    # GaussianMixture.sample returns (X, component labels); KernelDensity returns X.
    if isinstance(out, tuple):
        out = out[0]
    return out


def split_generative(estimator):
    """``(transformers, model)`` of a fitted estimator or (nested) Pipeline.

    ``transformers`` are the steps before the final one, in order, with
    nested pipelines flattened and ``"passthrough"`` / ``None`` steps (the
    identity) left out; ``model`` is the final step, which must have a
    ``sample`` method.
    """
    transformers = []
    model = estimator
    while isinstance(model, Pipeline):
        for _, step in model.steps[:-1]:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue  # the identity
            transformers.append(step)
        model = model.steps[-1][1]
    if not callable(getattr(model, "sample", None)):
        raise TypeError(
            "estimator must be a fitted generative model with a sample method, or a "
            f"Pipeline ending in one; got final step {model!r}."
        )
    return transformers, model


def _float_array(A, xp, device):
    """``A`` (array, sparse matrix, DataFrame, list) as a dense float ``xp`` array."""
    if sp.issparse(A):
        A = A.toarray()
    A = to_namespace(A, xp, device)
    return check_array(
        A, dtype=[xp.float64, xp.float32], ensure_all_finite=False, ensure_min_samples=0
    )


def _round_trip_rtol(dtype, xp):
    """Relative tolerance of an exact inverse: sqrt(eps) of the dtype.

    An exact inverse (a scaler, a whitening PCA keeping every component)
    reproduces its input to a few eps (~1e-16 relative in float64); a lossy one
    (a feature selector, a PCA dropping components, a FunctionTransformer whose
    inverse is the default identity) misses by the size of what it discards.
    sqrt(eps) (1.5e-8 in float64, 3.5e-4 in float32) sits far from both.
    """
    return float(xp.finfo(dtype).eps) ** 0.5


def _is_exact_inverse(step, Z_in, Z_out):
    """Whether ``step.inverse_transform`` maps ``Z_out = step.transform(Z_in)``
    back to ``Z_in``, up to :func:`_round_trip_rtol` of ``max |Z_in|``.

    ``False`` when the step has no ``inverse_transform`` or when ``Z_in`` is
    not numeric (the data space then holds no points to compare).
    """
    if not hasattr(step, "inverse_transform"):
        return False
    xp, device = get_namespace_and_device(Z_in if _is_array(Z_in) else None)
    try:
        A = _float_array(Z_in, xp, device)
    except (TypeError, ValueError):  # e.g. strings before a OneHotEncoder
        return False
    R = _float_array(step.inverse_transform(Z_out), xp, device)
    return _equal_to_rounding(A, R, xp)


def _equal_to_rounding(A, B, xp):
    """Whether float arrays ``A`` and ``B`` are the same points up to the
    rounding of an exact inverse (:func:`_round_trip_rtol`, relative to
    ``A``'s largest absolute value)."""
    if A.shape != B.shape:
        return False
    if A.shape[0] == 0:
        return True
    scale = float(xp.max(xp.abs(A)))
    error = float(xp.max(xp.abs(B - xp.astype(A, B.dtype))))
    # written so that a NaN error counts as "not equal"
    return error <= _round_trip_rtol(A.dtype, xp) * scale


def _comparison_index(transformers, forward, space):
    """Index ``s`` of the comparison space: the input space of ``transformers[s]``.

    ``forward[j]`` is the data's representation entering ``transformers[j]``
    (``forward[L]`` enters the model). ``s = 0`` is the data space, ``s = L``
    the model's input space.
    """
    n_steps = len(transformers)
    if space == "model":
        return n_steps
    if space == "data":
        for step in transformers:
            if not hasattr(step, "inverse_transform"):
                raise ValueError(
                    f'space="data" needs every step before the model to have an '
                    f"inverse_transform; {step!r} has none. Use space='auto' or "
                    "'model'."
                )
        return 0
    s = n_steps
    for j in reversed(range(n_steps)):
        if not _is_exact_inverse(transformers[j], forward[j], forward[j + 1]):
            break
        s = j
    return s


@validate_params(
    {
        "estimator": [object],
        "X": ["array-like", "sparse matrix"],
        "n_samples": [IntInterval(1, None, closed="left"), None],
        "space": [StrOptions(set(SPACES))],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def comparison_samples(estimator, X, *, n_samples=None, space="auto", random_state=0):
    """Held-out data and model samples in one space, for any generative pipeline.

    ``estimator`` is a fitted generative model (anything with
    ``sample(n_samples)``: this package's estimators,
    :class:`~sklearn.mixture.GaussianMixture`, whose ``(X, labels)`` is
    unpacked, :class:`~sklearn.neighbors.KernelDensity`) or a fitted
    :class:`~sklearn.pipeline.Pipeline` ``[t_1, ..., t_L, model]`` ending in
    one (nested pipelines are flattened, ``"passthrough"`` steps skipped). The
    model samples in the space of ``t_L``'s output, ``X`` lives in ``t_1``'s
    input space: this function brings both to the space chosen by ``space``.

    - ``"auto"`` (default): the **earliest space both can reach exactly**.
      Walking back from the model, the samples go through the
      ``inverse_transform`` of each step that is an exact inverse on this data
      (``t.inverse_transform(t.transform(Z))`` reproduces ``Z``, the step's
      input, to sqrt(eps) of ``max |Z|``), and stop at the first step that is
      not (no ``inverse_transform``, as a
      :class:`~sklearn.preprocessing.Normalizer`; a lossy one, as a feature
      selector, which fills zeros, or a PCA dropping components; a
      :class:`~sklearn.preprocessing.FunctionTransformer` without
      ``inverse_func``, whose inverse is the identity). ``X`` goes forward
      through the steps up to and including that one. With every step exact
      (scalers) the comparison is in the data's own space; with the last step
      lossy, in the model's input space.
    - ``"data"``: samples back through every step's ``inverse_transform``,
      exact or not; ``X`` as given. A ValueError if a step has none.
    - ``"model"``: ``X`` forward through every step; samples as drawn.

    Scores are comparable between candidates only within one space: with
    ``"auto"`` a search whose candidates share their preprocessing, or whose
    preprocessing is exactly invertible, compares all of them in one space.

    Parameters
    ----------
    estimator : object
        A fitted generative model or a fitted Pipeline ending in one.
    X : array-like or sparse matrix of shape (n_samples_X, n_features)
        Held-out data, as the pipeline takes it.
    n_samples : int or None, default=None
        Number of model samples; ``None`` draws as many as ``X`` has rows.
    space : {"auto", "data", "model"}, default="auto"
        The comparison space (above).
    random_state : int, RandomState instance or None, default=0
        Passed to the model's ``sample`` when its signature has that parameter
        (otherwise the model's own ``random_state`` applies).

    Returns
    -------
    X_space : array of shape (n_samples_X, n_space_features)
        ``X`` in the comparison space.
    samples : array of shape (n_samples, n_space_features)
        The model's samples in the comparison space.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ddchm.metrics import comparison_samples
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(loc=100.0, scale=10.0, size=(200, 2))
    >>> pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    >>> X_space, samples = comparison_samples(pipe.fit(X), X)
    >>> X_space is X  # the scaler is exact: compared in the data's space
    True
    >>> bool(abs(samples.mean() - 100.0) < 3.0)  # samples scaled back
    True
    """
    return _comparison_samples(estimator, X, n_samples, space, random_state)


def _comparison_samples(estimator, X, n_samples, space, random_state):
    """:func:`comparison_samples` without parameter validation (for the scorers)."""
    transformers, model = split_generative(estimator)
    forward = [X]
    if space != "data":  # the data space needs no forward pass
        for step in transformers:
            forward.append(step.transform(forward[-1]))
    s = _comparison_index(transformers, forward, space)
    n = _num_samples(X) if n_samples is None else n_samples
    # An int is passed on as is: every candidate draws with the same seed.
    if not isinstance(random_state, Integral):
        random_state = check_random_state(random_state)
    samples = _sample(model, n, random_state)
    if _is_array(X) and _is_array(samples):
        # A pipeline runs in the namespace and on the device of its input; a
        # model that samples elsewhere (e.g. on the host) is brought there.
        samples = to_namespace(samples, *get_namespace_and_device(X))
    for step in reversed(transformers[s:]):
        samples = step.inverse_transform(samples)
    X_space = forward[s]
    if sp.issparse(X_space):
        X_space = X_space.toarray()
    if sp.issparse(samples):
        samples = samples.toarray()
    return X_space, samples
