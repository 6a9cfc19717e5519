"""``partial_fit``'s averaged model against its last iterate, and against ``fit``.

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_stream.py
    ... --tasks synthetic patches mnist --seeds 0 1 2 [--fit]

A user who streams data calls ``partial_fit`` once per block. Its step size
stays at ``learning_rate`` (``"auto"``: 1e-2) unless a horizon
(``learning_rate_decay_samples``) is given, so the last iterate carries the
noise of the last full-size steps. With ``average_fraction > 0`` (DDC-HM's
default 0.1) ``model_`` holds a polynomial-decay average of every iterate
of the stream instead, centred where a uniform average of the last tenth
of the steps would be, and each call continues from the last iterate.

Each stream here is one ``partial_fit`` call per epoch (the whole training
set, shuffled by the estimator) with every other parameter at the task's
settings. After the calls listed in ``--at`` (default: a third, two thirds
and all of the task's epochs) it prints the averaged model (``model_``) and
the last iterate (``_stream_iterate``, put into a copy of the estimator,
whose recognition model is refitted for it as ``partial_fit`` refits the
average's, so that ``score`` compares like with like), and the difference
or ratio of the two. ``--fit`` adds ``fit`` with ``max_iter`` the task's
epochs on the same data (its step decays over the run and it averages its
last tenth: what a user who can hold the data gets). ``--horizon`` gives
the stream the step schedule of such a ``fit`` (``learning_rate_decay_samples``
the task's epochs times its rows), whose last steps are small. Tasks:

- ``synthetic``: the paper's model (``make_sparse_hierarchical``, seed
  ``s``: 4,000 training points, 500 held out), DDC-HM's defaults, 30
  epochs; held-out log p(x) per point by quadrature minus the true
  model's (nats, higher is better).
- ``patches``: Table 1's (50, 10) model with its settings
  (``paper_patches.py``'s ``make_estimators``) on that script's 10,000
  training patches of seed ``s`` (``load_sample_image_patches``, needs
  Pillow), 10 epochs; MMD^2 of 5,000 samples to 5,000 held-out patches at
  the median-heuristic bandwidth of the first 2,000, and ``score`` on
  2,000 held-out patches.
- ``mnist``: the sigmoid belief network (56, 10) that ``latent_dims="auto"``
  chooses, as ``paper_mnist_sbn.py`` fits it (``n_encoding=200``,
  float32), 5 epochs (what ``max_iter="auto"`` ran in 100-row minibatches
  until 2026-12-07: the figures in ``benchmarks/README.md`` are of those;
  ``batch_size="auto"`` now gives each call 300); MMD^2 to 10,000 test
  images as a multiple of that script's floor, the mean of ``--draws``
  draws of 10,000 samples (``--mnist-dir`` or the cache that script fills).
"""

import argparse
import copy
import functools
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sklearn_ddchm import DDCHelmholtzEstimator  # noqa: E402
from sklearn_ddchm.datasets import make_sparse_hierarchical  # noqa: E402
from sklearn_ddchm.metrics import median_heuristic, mmd2  # noqa: E402
from sklearn_ddchm.utils._exact import sparse_quadrature_log_likelihood  # noqa: E402

EPOCHS = {"synthetic": 30, "patches": 10, "mnist": 5}


def last_iterate(est, X):
    """A copy of a streamed ``est`` at its last iterate instead of its average,
    with the recognition model refitted for it (``est`` is left as it was)."""
    other = copy.deepcopy(est)
    if other._stream_iterate is not None:
        other._set_trained_parameters(other._stream_iterate)
        other._stream_iterate = None
        other._finalize_fit(X, np.random.RandomState(0))
    return other


def synthetic_task(seed, quick=False):
    n_train, n_test = (300, 50) if quick else (4000, 500)
    X, _, truth = make_sparse_hierarchical(n_train + n_test, random_state=seed)
    X_train, X_test = X[:n_train], X[n_train:]
    reference = float(np.mean(sparse_quadrature_log_likelihood(truth, X_test)))

    def evaluate(est):
        value = np.mean(sparse_quadrature_log_likelihood(est.model_, X_test))
        return {"log p - truth": float(value) - reference}

    return DDCHelmholtzEstimator(random_state=seed), X_train, evaluate


def patches_task(seed, quick=False):
    from paper_patches import load_data, make_estimators

    n_train, n_test = (500, 300) if quick else (10_000, 5_000)
    data, _ = load_data(None, n_train, n_test, seed)
    X_test = data.X_test
    sigma = median_heuristic(X_test[:2000])
    est = make_estimators((50, 10), seed)["DDC-HM"]
    if quick:
        est.set_params(latent_dims=(4, 2), n_encoding=20, n_hidden=20)
        est.set_params(n_sleep_samples=60)

    def evaluate(model):
        samples = model.sample(len(X_test), random_state=7)
        return {
            "MMD2": float(mmd2(X_test, samples, bandwidth=sigma)),
            "score": float(model.score(X_test[:2000])),
        }

    return est, data.X_train, evaluate


@functools.lru_cache(maxsize=1)
def _mnist_data(mnist_dir, draws):
    """paper_mnist_sbn.py's images, test images, bandwidth and floor (its
    ``draws`` MMD^2 of 10,000 images each), computed once for every seed."""
    from paper_mnist_sbn import evaluation_data

    cache = os.path.expanduser("~/.cache/sklearn_ddchm")
    return evaluation_data(mnist_dir, cache, 10_000, draws)


def mnist_task(seed, mnist_dir=None, draws=5, quick=False):
    from paper_mnist_sbn import mean_mmd2, sample_draws

    data = _mnist_data(mnist_dir, draws)
    X = data.X_train.astype(np.float32)
    est = DDCHelmholtzEstimator(
        model="sbn", latent_dims=(56, 10), n_encoding=200, random_state=seed
    )

    def evaluate(model):
        value, _ = mean_mmd2(
            data.X_eval, sample_draws(model, data.n, draws), data.sigma
        )
        return {"MMD2 x floor": value / data.floor}

    return est, X, evaluate


def make_task(name, seed, **options):
    """``(estimator, X, evaluate)`` of the task ``name`` for ``seed`` (looked
    up at the call, so a test may replace one task's function)."""
    make = {"synthetic": synthetic_task, "patches": patches_task, "mnist": mnist_task}
    return make[name](seed, **options)


def _line(figures):
    return ", ".join(f"{k} {v:.4g}" for k, v in figures.items())


def _comparison(averaged, iterate):
    """Averaged minus iterate for log-likelihoods, their ratio for MMD^2."""
    parts = []
    for key, a in averaged.items():
        b = iterate[key]
        if "MMD2" in key:
            parts.append(f"{key} ratio {a / b:.3f}")
        else:
            parts.append(f"{key} {a - b:+.4g}")
    return "averaged - iterate: " + ", ".join(parts)


def run_task(name, seed, at, with_fit=False, horizon=False, log=print, **options):
    """Stream one task's estimator, printing the averaged model and the last
    iterate after each call in ``at``; returns ``{call: (averaged,
    iterate)}`` and, with ``with_fit``, ``fit``'s figures under ``"fit"``.
    ``horizon``: the step decays over the stream's ``max(at)`` epochs
    (``learning_rate_decay_samples``) as ``fit``'s does over its run."""
    est, X, evaluate = make_task(name, seed, **options)
    if horizon:
        est.set_params(learning_rate_decay_samples=max(at) * X.shape[0])
    results = {}
    seconds = 0.0
    for call in range(1, max(at) + 1):
        start = time.perf_counter()
        est.partial_fit(X)
        seconds += time.perf_counter() - start
        if call not in at:
            continue
        averaged, iterate = evaluate(est), evaluate(last_iterate(est, X))
        results[call] = (averaged, iterate)
        log(
            f"{name} seed {seed}, {call} calls ({seconds:.0f} s of training): "
            f"averaged {_line(averaged)} | last iterate "
            f"{_line(iterate)} | {_comparison(averaged, iterate)}"
        )
    if with_fit:
        params = {**est.get_params(), "max_iter": max(at)}
        params["learning_rate_decay_samples"] = None  # fit decays over its run
        fitted = type(est)(**params)
        start = time.perf_counter()
        fitted.fit(X)
        seconds = time.perf_counter() - start
        results["fit"] = evaluate(fitted)
        log(
            f"{name} seed {seed}, fit of {max(at)} epochs ({seconds:.0f} s): "
            f"{_line(results['fit'])}"
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", nargs="+", default=["synthetic"], choices=sorted(EPOCHS)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--at",
        nargs="+",
        type=int,
        default=None,
        help="calls after which to evaluate (default: a third, two thirds, all)",
    )
    parser.add_argument("--fit", action="store_true", help="add fit of as many epochs")
    parser.add_argument(
        "--horizon",
        action="store_true",
        help="the stream's step decays over its epochs (learning_rate_decay_samples)",
    )
    parser.add_argument("--draws", type=int, default=5, help="MNIST's MMD^2 draws")
    parser.add_argument("--mnist-dir", default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    args = parser.parse_args(argv)
    for name in args.tasks:
        epochs = 3 if args.quick else EPOCHS[name]
        at = args.at or sorted({max(1, epochs // 3), max(1, 2 * epochs // 3), epochs})
        options = {"quick": args.quick}
        if name == "mnist":
            options.update(mnist_dir=args.mnist_dir, draws=args.draws)
        for seed in args.seeds:
            run_task(name, seed, at, with_fit=args.fit, horizon=args.horizon, **options)


if __name__ == "__main__":
    main()
