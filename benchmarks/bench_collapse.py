"""The divergence guard's collapse check: what it catches, its margin elsewhere.

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_collapse.py
    ... --tasks synthetic tables patches mnist --seeds 0 1 2 3 4

A fit *collapses* when the observation layer's mean stops depending on the
latents: the model becomes independent noise around a mean, a stationary
point of the likelihood that the fits seen to reach it did not leave, while
every number stays finite and within every scale check. The guard
(``sklearn_ddchm._guard``) measures, at each of its checks, the share of
the model's variance that the latents explain (``latent_variance_share`` on
its 256 fixed-seed samples) and stops a fit
whose share fell below ``COLLAPSED_SHARE`` (0.05) and below ``1 /
COLLAPSE_FALL`` (0.1) of the largest share of the same fit, if that reached
``EXPLAINING_SHARE`` (0.1).

For each fit this prints that share at the start, its largest, the smallest
after the largest (and as a fraction of it: a collapse is below 0.1), the
share at the last check, that of the model ``fit`` returned ("kept": after a
collapse the guard goes back to its last check with at least
``HEALTHY_SHARE_FRACTION`` of the largest share), the epochs run and the
warnings raised (the first 60 characters of each). Tasks:

- ``synthetic``: the paper's model (``bench_ddc_defaults.py``'s data: 4,000
  training points per seed, 30 epochs) at the default ridge and at
  ``ridge=3e-5``, where three fits of five failed without any warning
  before the check; with the held-out log p(x) of 500 points by quadrature
  minus the true model's.
- ``tables``: breast cancer and digits (``bench_tabular.py``'s split and
  scaling), the one-layer Gaussian model and the default preset on the
  features that vary, 100 epochs, seed 0.
- ``patches``: Table 1's (10, 10) and (50, 10) models with its settings on
  ``paper_patches.py``'s 10,000 training patches, 10 epochs, seed 0, and
  its (50, 2) model on seed 1's patches for 40 epochs, a fit that drifted
  to -357 per held-out patch (-282 in a fit of 10 epochs) without a
  warning before the check; with ``score`` on 1,000 held-out patches.
- ``mnist``: the SBN 200-200-200 of ``paper_mnist_sbn.py`` (float32), 3
  epochs (``--mnist DIR`` or the cache that script fills).
- ``drift``: Table 1's five architectures (``--drift-architectures``) with
  its settings, ``--drift-epochs`` (30) of ``fit`` on the patches of each of
  ``--drift-seeds`` (0 1): a fit whose share ends below ``DRIFT_FRACTION``
  (0.5) of its largest compares its end with its last healthy check on
  training rows and keeps the check if clearly the likelier (more than
  ``DRIFT_STANDARD_ERRORS`` standard errors); printed is the held-out log p(x) of
  the model returned and, where the fit compared, of its end, the fit's
  seconds and every warning in full. ``--drift-learner IWAE-50`` fits the
  baseline instead (the comparison is in the driver every estimator shares).

Measured 2026-12-05 (``--tasks synthetic patches``, 477 s, beside one
single-threaded scratch script; ``tables`` and ``mnist`` from the run of
``--tasks synthetic tables patches mnist`` the session before, 642 s, which
had no "kept" column; the warnings column shortened to the collapses (c),
the only ``ConvergenceWarning`` raised; digits' one layer also warned of its
3 constant pixels; last column: for the synthetic model held-out log p(x)
minus the truth's, for the patches held-out log p(x) per patch)::

  fit                    start largest smallest /larg.    end   kept ep.
  synthetic 0 at 0.001   0.999  0.999  0.9987  1.000 0.9987 0.9987  30 -0.021
  synthetic 0 at 3e-05   0.999  0.999  0.9420  0.943 0.9948 0.9948  30 -0.003
  synthetic 1 at 0.001   0.997  0.999  0.9988  1.000 0.9988 0.9988  30 -0.023
  synthetic 1 at 3e-05   0.997  0.997  0.9729  0.976 0.9945 0.9940  30 -0.068
  synthetic 2 at 0.001   0.998  0.999  0.9989  1.000 0.9989 0.9988  30 -0.052
  synthetic 2 at 3e-05   0.998  0.998  0.0256  0.026 0.0256 0.8199  18 -1.352 (c)
  synthetic 3 at 0.001   0.985  0.999  0.9991  1.000 0.9991 0.9991  30 -0.054
  synthetic 3 at 3e-05   0.985  0.999  0.9987  1.000 0.9987 0.9987  30 -0.003
  synthetic 4 at 0.001   0.988  0.998  0.9983  1.000 0.9983 0.9983  30 -0.019
  synthetic 4 at 3e-05   0.988  0.988  0.0380  0.038 0.0380 0.8633  15 -1.072 (c)
  cancer, one layer (5)  0.817  0.817  0.7839  0.960 0.7859        100
  cancer, preset (5, 2)  0.857  0.882  0.7917  0.898 0.8121        100
  digits, one layer (10) 0.514  0.553  0.5134  0.928 0.5134        100
  digits, preset (10, 2) 0.500  0.597  0.5176  0.866 0.5227        100
  patches 10x10, seed 0  0.474  0.559  0.4755  0.851 0.5174 0.5149  10 -280.2
  patches 50x10, seed 0  0.660  0.803  0.7184  0.894 0.7239 0.7259  10 -250.4
  patches 50x2, seed 1   0.642  0.732  0.0419  0.057 0.0419 0.6142  18 -288.9 (c)
  MNIST SBN              0.044  0.496  0.4957  1.000 0.4957          3

The three collapses are the fits that had failed without a warning: the
synthetic ones had ended 2.0 and 1.6 nats per point below the truth, the
patch model at -356.6 per patch after 40 epochs (a fit of 10 epochs ends at
-282). Where the check fires they are at -2.760, -1.810 and -349.9; the
models they go back to are 1.4, 0.7 and 61 nats better. No other fit came
within a factor 8 of the check (the smallest share after the largest: 0.85
of it, on the (10, 10) patch model), and those fits return the same models
as before the check existed.

``--tasks drift`` (2026-12-05, thirty-third session, 1,528 s alone; the
kept shares and steps of the drifted fits from ``--drift-architectures
100x2 100x10``, which reprinted every other figure to the digit; the last
column the held-out log p(x) per patch returned, and where the fit compared
its end with its healthy check, the end's; d: drifted, kept the check)::

  fit                    start largest smallest /larg.    end   kept held-out
  10x10, seed 0          0.474  0.625  0.4951  0.792 0.5236 0.5268 -280.0
  50x2, seed 0           0.655  0.722  0.5720  0.793 0.5952 0.5912 -254.5
  50x10, seed 0          0.660  0.823  0.6498  0.789 0.6591 0.6453 -249.9
  100x2, seed 0          0.756  0.756  0.0740  0.098 0.0740 0.6047 -245.2 (-278.4) d
  100x10, seed 0         0.768  0.873  0.3610  0.414 0.3610 0.7508 -242.6 (-250.5) d
  10x10, seed 1          0.424  0.659  0.5248  0.796 0.5414 0.5358 -331.5
  50x2, seed 1           0.642  0.731  0.0490  0.067 0.0490 0.6194 -288.2 (c, ep. 18)
  50x10, seed 1          0.633  0.835  0.5433  0.651 0.5433 0.5409 -281.3
  100x2, seed 1          0.746  0.746  0.0874  0.117 0.1212 0.6356 -274.8 (-327.4) d
  100x10, seed 1         0.732  0.876  0.5853  0.668 0.5853 0.6186 -265.2

``PCA(D1)`` on the same 1,000 held-out patches: -287.2 / -277.2 / -275.4
(seed 0; D1 = 10 / 50 / 100), -338.1 / -304.8 / -300.1 (seed 1). The two
(100, 2) fits had ended below it; all ten fits return models above it.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

from sklearn_ddchm import DDCHelmholtzEstimator, _guard
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.utils._exact import sparse_quadrature_log_likelihood

# the other benchmarks' data, imported where a task needs them
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SYNTHETIC_RIDGES = (1e-3, 3e-5)
#: held-out patches scored (score's importance estimate)
N_SCORE_PATCHES = 1000


def shares_of_fit(est, X):
    """Fit ``est`` on ``X``; the guard's shares at its checks, in order, and
    the warnings raised."""
    shares = []
    sample = _guard.DivergenceGuard._sample

    def recording(guard, step=0):
        spread, share = sample(guard, step)
        shares.append(share)
        return spread, share

    _guard.DivergenceGuard._sample = recording
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X)
    finally:
        _guard.DivergenceGuard._sample = sample
    return np.asarray(shares), [str(w.message) for w in caught]


def kept_share(est):
    """The latents' share of the model ``fit`` returned, by the guard's own
    draws (after a collapse, the model it went back to)."""
    return _guard.guard_draws(est.model_)[1]


def summary(shares):
    largest = int(np.argmax(shares))
    after = float(np.min(shares[largest:]))
    return dict(
        start=float(shares[0]),
        largest=float(shares[largest]),
        smallest_after=after,
        fall=after / float(shares[largest]),
        end=float(shares[-1]),
        n_checks=len(shares),
    )


def line(task, est, shares, messages, extra="", kept=None):
    s = summary(shares)
    s["kept"] = kept_share(est) if kept is None else kept
    print(
        f"  {task:34s} {s['start']:6.3f} {s['largest']:7.3f} "
        f"{s['smallest_after']:8.4f} {s['fall']:6.3f} {s['end']:7.4f} "
        f"{s['kept']:7.4f} {est.n_iter_:6d} {extra}  "
        f"warnings: {[m[:60] for m in messages]}",
        flush=True,
    )
    return s


def synthetic(seeds):
    rows = []
    for seed in seeds:
        X, _, truth = make_sparse_hierarchical(8000, random_state=seed)
        X_train, X_score = X[:4000], X[4000:4500]
        truth_ll = float(np.mean(sparse_quadrature_log_likelihood(truth, X_score)))
        for ridge in SYNTHETIC_RIDGES:
            est = DDCHelmholtzEstimator(max_iter=30, ridge=ridge, random_state=seed)
            shares, messages = shares_of_fit(est, X_train)
            gap = (
                float(np.mean(sparse_quadrature_log_likelihood(est.model_, X_score)))
                - truth_ll
            )
            s = line(
                f"synthetic seed {seed}, ridge {ridge:g}",
                est,
                shares,
                messages,
                f"log p gap {gap:+.3f}",
            )
            rows.append(dict(s, task="synthetic", ridge=ridge, warnings=messages))
    return rows


def tables():
    from bench_tabular import load, varying_features

    rows = []
    for name in ("cancer", "digits"):
        X_train, _, d = load(name)
        fits = {
            f"{name}, one layer ({d})": (
                DDCHelmholtzEstimator(
                    model="gaussian", latent_dims=(d,), max_iter=100, random_state=0
                ),
                X_train,
            ),
            f"{name}, preset ({d}, 2)": (
                DDCHelmholtzEstimator(latent_dims=(d, 2), max_iter=100, random_state=0),
                X_train[:, varying_features(X_train)],
            ),
        }
        for label, (est, X) in fits.items():
            shares, messages = shares_of_fit(est, X)
            rows.append(
                dict(
                    line(label, est, shares, messages),
                    task=label,
                    warnings=messages,
                )
            )
    return rows


def patches():
    from paper_patches import load_data, make_estimators

    rows = []
    # Table 1's settings; (50, 2) on seed 1's patches for 40 epochs is the
    # fit that drifted: -282 per patch after a fit of 10 epochs, -357 after
    # one of 40, with no warning before the check
    for dims, seed, epochs in (((10, 10), 0, 10), ((50, 10), 0, 10), ((50, 2), 1, 40)):
        data, _ = load_data(None, 10_000, 5_000, seed)
        est = make_estimators(dims, seed)["DDC-HM"].set_params(max_iter=epochs)
        shares, messages = shares_of_fit(est, data.X_train)
        score = est.score(data.X_test[:N_SCORE_PATCHES])
        label = f"patches {dims[0]}x{dims[1]}, seed {seed}"
        summary_row = line(
            label, est, shares, messages, f"held-out log p(x) {score:.1f}"
        )
        rows.append(dict(summary_row, task=label, warnings=messages))
    return rows


def fit_keeping_the_end(est, X):
    """:func:`shares_of_fit`, and the parameters the fit ended at if its
    latents' share fell enough for the fit to compare them with its last
    healthy check (``DRIFT_FRACTION``; None otherwise)."""
    Estimator = type(est)
    settle = Estimator._settle_drift
    ends = []

    def recording(self, *args, **kwargs):
        ends.append(dict(self._trained_parameters()))
        return settle(self, *args, **kwargs)

    Estimator._settle_drift = recording
    try:
        shares, messages = shares_of_fit(est, X)
    finally:
        Estimator._settle_drift = settle
    return shares, messages, (ends[0] if ends else None)


def drift(seeds, epochs, architectures=None, learner="DDC-HM"):
    """``learner`` of Table 1 (its settings) on its five architectures (or
    ``architectures``), ``epochs`` of ``fit`` on each seed's patches: the
    held-out log p(x) of the model returned and, where the fit compared its
    end with its last healthy check, of its end."""
    from paper_patches import TABLE1, load_data, make_estimators

    rows = []
    for seed in seeds:
        data, _ = load_data(None, 10_000, 5_000, seed)
        X_score = data.X_test[:N_SCORE_PATCHES]
        for dims in architectures or TABLE1:
            est = make_estimators(dims, seed)[learner].set_params(max_iter=epochs)
            start = time.perf_counter()
            shares, messages, end = fit_keeping_the_end(est, data.X_train)
            seconds = time.perf_counter() - start
            kept = est.score(X_score)
            share = kept_share(est)
            extra = f"held-out log p(x) {kept:.1f}"
            ended = None
            if end is not None:
                est._set_trained_parameters(end)
                est._finalize_fit(data.X_train, est._noise_source(data.X_train))
                ended = est.score(X_score)
                extra += f", its end {ended:.1f}"
            label = f"{learner} {dims[0]}x{dims[1]}, seed {seed}, {epochs} ep."
            summary_row = line(
                label, est, shares, messages, f"{extra}, {seconds:.0f} s", share
            )
            for message in messages:
                # which check a rescued fit went back to, and its figures
                print(f"    {message}", flush=True)
            rows.append(
                dict(
                    summary_row,
                    task=label,
                    warnings=messages,
                    held_out=kept,
                    held_out_end=ended,
                    seconds=seconds,
                )
            )
    return rows


def mnist(folder, cache):
    from paper_mnist_sbn import fetch_mnist_dir

    from sklearn_ddchm.datasets import binarize, load_mnist

    X_train, _, _, _ = load_mnist(folder or fetch_mnist_dir(cache))
    X = binarize(X_train, 0).astype(np.float32)
    est = DDCHelmholtzEstimator(
        model="sbn",
        latent_dims=(200, 200, 200),
        n_encoding=200,
        max_iter=3,
        random_state=0,
    )
    shares, messages = shares_of_fit(est, X)
    return [
        dict(
            line("MNIST SBN 200-200-200", est, shares, messages),
            task="mnist",
            warnings=messages,
        )
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["synthetic", "tables", "patches"],
        choices=["synthetic", "tables", "patches", "mnist", "drift"],
    )
    parser.add_argument(
        "--drift-seeds", type=int, nargs="+", default=[0, 1], help="patch draws"
    )
    parser.add_argument("--drift-epochs", type=int, default=30)
    parser.add_argument(
        "--drift-learner", default="DDC-HM", choices=["DDC-HM", "IWAE-50"]
    )
    parser.add_argument(
        "--drift-architectures",
        nargs="+",
        default=None,
        help="D1xD2 of Table 1 (default: all five)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--mnist", default=None, help="folder of MNIST's IDX files")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/sklearn_ddchm"))
    args = parser.parse_args(argv)
    print(
        f"collapse: share < {_guard.COLLAPSED_SHARE} and < 1/"
        f"{_guard.COLLAPSE_FALL:g} of the fit's largest, if that reached "
        f"{_guard.EXPLAINING_SHARE}"
    )
    print(
        f"  {'fit':34s} {'start':>6s} {'largest':>7s} {'smallest':>8s} "
        f"{'/larg.':>6s} {'end':>7s} {'kept':>7s} {'epochs':>6s}"
    )
    rows = []
    start = time.perf_counter()
    for task in args.tasks:
        if task == "synthetic":
            rows += synthetic(args.seeds)
        elif task == "tables":
            rows += tables()
        elif task == "patches":
            rows += patches()
        elif task == "drift":
            architectures = [
                tuple(int(v) for v in a.split("x"))
                for a in args.drift_architectures or ()
            ]
            rows += drift(
                args.drift_seeds, args.drift_epochs, architectures, args.drift_learner
            )
        else:
            rows += mnist(args.mnist, args.cache)
    healthy = [
        r
        for r in rows
        if not any("collapsed" in m or "diverged" in m for m in r["warnings"])
    ]
    if healthy:
        print(
            f"\nfits the guard let finish: {len(healthy)}; the smallest share after "
            f"the largest, as a fraction of it: {min(r['fall'] for r in healthy):.3f} "
            f"(a collapse is below {1 / _guard.COLLAPSE_FALL:.3f}); "
            f"{time.perf_counter() - start:.0f} s"
        )
    return rows


if __name__ == "__main__":
    main()
