"""DDC-HM's wake gradient centred on the model's own samples (measured, not adopted).

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/centred_wake.py
    ... --samples K [--observation-only] [--every M] [--weight W] --fit TASK SEED
    ... --samples K [--observation-only] [--every M] [--weight W] SCRIPT [ARGS ...]

Fisher's identity makes the true free-energy gradient average to zero over
the model's own data, ``E_{x ~ p_theta}[grad log p_theta(x)] = 0``; the DDC
wake gradient ``g(x)`` need not. If its error at the training images (the
MNIST models' sharpening, ``benchmarks/README.md``, "The sharpening's
cause") were the error it makes at the model's own samples, this would
remove it. Here every training
step subtracts from the wake gradient of its minibatch the same step's wake
gradient (the same sleep phase and recognition model) averaged over ``K``
times the minibatch's size of fresh ancestral samples of the model, an
estimate of that bias. The expected step is then zero whenever the data come
from the model, so the true parameters are a fixed point of the expected
update, which they are not for the DDC gradient itself.

``--fit TASK SEED`` fits one of ``bench_stream.py``'s tasks (``synthetic``,
``patches``, ``mnist``) for its epochs and prints its figures;
``SCRIPT ARGS`` runs another benchmark (e.g. ``paper_mnist_sbn.py`` or
``bench_tabular.py``) with every DDC-HM trained this way. ``--samples 0``
runs the estimator unchanged (the reference in the same process set-up).
``--observation-only`` centres the observation layer's gradient alone.
``--every M`` computes the correction at every ``M``-th step only and
subtracts the last one computed in between; ``--weight W`` subtracts a
running average of the corrections instead, each new one entering with
weight ``W`` (cheaper or smoother corrections; see :func:`centred_wake`).

Measured on five tasks (``benchmarks/README.md``, "Centring the wake
gradient"): closer to the held-out patches by MMD² after as many epochs but
farther at equal time, mixed on the synthetic model and the tabular data,
farther on MNIST, and no remedy for the sharpening; not an option of the
estimator. The cheaper (``--every``) and averaged (``--weight``)
corrections lose at equal time as well. Latest output (2026-12-06,
``--samples 1 --fit synthetic 0``; ``--samples 0`` gives -0.01861)::

    centred on 1 x the batch: synthetic seed 0, fit (13 s): log p - truth -0.00394
"""

import argparse
import contextlib
import os
import runpy
import sys
import time
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_stream  # noqa: E402

from sklearn_ddchm import DDCHelmholtzEstimator  # noqa: E402


def centred_gradient(grads, model_grads, observation_only=False):
    """``grads`` minus ``model_grads`` (every block, or ``layer0``'s alone)."""
    return {
        name: g - model_grads[name]
        if not observation_only or name.startswith("layer0.")
        else g
        for name, g in grads.items()
    }


@contextlib.contextmanager
def centred_wake(samples, observation_only=False, every=1, weight=1.0):
    """Inside, every DDC-HM step centres its wake gradient on ``samples`` x
    its minibatch's size of the model's own fresh samples (``samples=0``:
    the estimator unchanged).

    The step's own ``_gradient_step`` runs as it is; its wake phase (called
    once per step, after the sleep phase) also draws the model's samples
    from the step's generator, next after the sleep phase's draws, and
    evaluates the same phase's gradient on them. With ``every = M > 1``
    that correction is computed at an estimator's first step and every
    ``M``-th after it, and the last one computed is subtracted at the steps
    in between (a cheaper, stale correction: ``1 + 1 / M`` wake phases per
    step instead of 2). ``weight = w < 1`` subtracts instead a running
    average of the corrections computed so far, each new one entering it
    with weight ``w`` (the first with weight 1)."""
    original_step = DDCHelmholtzEstimator._gradient_step
    original_wake = DDCHelmholtzEstimator._wake
    # per estimator: steps centred so far and the last correction computed
    # (kept here, not on the estimator, so that nothing of it is pickled)
    stale = weakref.WeakKeyDictionary()

    def step(self, X_batch, rng, criterion=True):
        self._centring_rng = rng
        try:
            return original_step(self, X_batch, rng, criterion)
        finally:
            del self._centring_rng

    def wake(self, X_batch, phase, use_moments, criterion=True):
        grads, value = original_wake(self, X_batch, phase, use_moments, criterion)
        rng = getattr(self, "_centring_rng", None)
        if rng is None:  # a wake phase outside a training step
            return grads, value
        count, correction = stale.get(self, (0, None))
        if count % every == 0:
            n_model = max(1, round(samples * X_batch.shape[0]))
            X_model, _ = self.model_.sample(n_model, random_state=rng)
            fresh, _ = original_wake(self, X_model, phase, use_moments, criterion=False)
            if correction is not None and weight < 1.0:
                fresh = {
                    k: (1.0 - weight) * correction[k] + weight * fresh[k] for k in fresh
                }
            correction = fresh
        stale[self] = (count + 1, correction)
        return centred_gradient(grads, correction, observation_only), value

    if samples > 0:
        DDCHelmholtzEstimator._gradient_step = step
        DDCHelmholtzEstimator._wake = wake
    try:
        yield
    finally:
        DDCHelmholtzEstimator._gradient_step = original_step
        DDCHelmholtzEstimator._wake = original_wake


def fit_task(name, seed, quick=False):
    """One ``fit`` of ``bench_stream.py``'s task ``name`` for its epochs:
    ``(seconds, figures)``."""
    est, X, evaluate = bench_stream.make_task(name, seed, quick=quick)
    est.set_params(max_iter=2 if quick else bench_stream.EPOCHS[name])
    start = time.perf_counter()
    est.fit(X)
    return time.perf_counter() - start, evaluate(est)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=float, required=True)
    parser.add_argument("--observation-only", action="store_true")
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="M",
        help="recompute the correction every M-th step, reuse it in between",
    )
    parser.add_argument(
        "--weight",
        type=float,
        default=1.0,
        metavar="W",
        help="subtract a running average of the corrections, each new one "
        "entering it with weight W (1: the last one alone)",
    )
    parser.add_argument("--fit", nargs=2, metavar=("TASK", "SEED"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("script", nargs="?")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    if (options.fit is None) == (options.script is None):
        parser.error("give either --fit TASK SEED or a SCRIPT to run")
    if options.every < 1:
        parser.error("--every must be at least 1")
    if not 0.0 < options.weight <= 1.0:
        parser.error("--weight must be in (0, 1]")
    with centred_wake(
        options.samples, options.observation_only, options.every, options.weight
    ):
        if options.fit is not None:
            name, seed = options.fit[0], int(options.fit[1])
            seconds, figures = fit_task(name, seed, quick=options.quick)
            line = bench_stream._line(figures)
            print(
                f"centred on {options.samples:g} x the batch"
                f"{' (observation layer)' if options.observation_only else ''}"
                f"{f', every {options.every} steps' if options.every > 1 else ''}"
                f"{f', averaged by {options.weight:g}' if options.weight < 1 else ''}: "
                f"{name} seed {seed}, fit ({seconds:.0f} s): {line}",
                flush=True,
            )
            return
        sys.argv = [options.script, *options.args]
        runpy.run_path(options.script, run_name="__main__")


if __name__ == "__main__":
    main()
