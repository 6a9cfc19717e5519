"""Training for a wall-clock budget by ``fit``, shared by the benchmark scripts.

A user with a time budget calls ``fit`` with a ``max_iter`` that fills it, and
gets what ``fit`` adds to the steps: the step size decayed over the whole run,
the average of its last steps (``average_fraction``) and, for the package's
learners, the end-of-fit drift check. :func:`fit_within` chooses that
``max_iter`` from two short probes.
"""

import time

from sklearn.base import clone

import sklearn_ddchm._base as _base


def fit_within(est, X, minutes, rng):
    """``fit`` with the estimator's own defaults and schedule, ``max_iter``
    chosen so that training takes about ``minutes``.

    The time per step is measured first on clones, in the process's CPU
    time: a wall-clock probe taken while another job loads the machine
    under-counts the steps that fit (a DDC-HM fit once used 13 of its 20
    minutes that way). It is the difference between a fit of
    ``PROBE_STEPS[1]`` steps and one of ``PROBE_STEPS[0]`` steps on a subset,
    over the difference in steps: one probe's own time per step also counts
    the fit's fixed costs (set-up, the final sleep phase), which for DDC-HM
    on MNIST made a step look 30% dearer than in the real fit (14 epochs in
    14.7 of 20 minutes). ``max_iter`` is the number of whole epochs that fit
    the budget at that speed (at least 1). Returns ``(steps, seconds)`` of
    the real fit, in wall-clock seconds.
    """
    # the full data's minibatch (batch_size="auto" resolves it by the rows),
    # which the probes' subsets would not give
    batch, steps_per_epoch = est._minibatches(len(X))
    # The real fit evaluates its training criterion on every k-th step of its
    # long epochs; the probes are made to skip as many, or they would
    # over-count the time per step (by ~20% for DDC-HM on MNIST).
    every = max(1, steps_per_epoch // _base.CRITERION_BATCHES_PER_EPOCH)
    saved = _base.CRITERION_BATCHES_PER_EPOCH
    seconds = []
    try:
        for n_steps in PROBE_STEPS:
            probe = clone(est).set_params(max_iter=1, verbose=0, batch_size=batch)
            size = n_steps * batch
            # rows drawn again where X is short of a probe's steps: only the
            # number of steps matters
            subset = X[rng.choice(len(X), size=size, replace=size > len(X))]
            _base.CRITERION_BATCHES_PER_EPOCH = max(1, n_steps // every)
            start = time.process_time()
            probe.fit(subset)
            seconds.append(time.process_time() - start)
    finally:
        _base.CRITERION_BATCHES_PER_EPOCH = saved
    per_step = max(seconds[1] - seconds[0], 1e-9) / (PROBE_STEPS[1] - PROBE_STEPS[0])
    epochs = max(1, int(60 * minutes / (per_step * steps_per_epoch)))
    return fit_epochs(est, X, epochs)


#: the two probes of :func:`fit_within`, in steps
PROBE_STEPS = (10, 60)


def fit_epochs(est, X, epochs):
    """``fit`` for ``epochs`` epochs; returns ``(steps, wall-clock seconds)``."""
    est.set_params(max_iter=epochs)
    start = time.perf_counter()
    est.fit(X)
    seconds = time.perf_counter() - start
    return est.n_iter_ * est._minibatches(len(X))[1], seconds
