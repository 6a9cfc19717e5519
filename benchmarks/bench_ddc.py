"""Time DDCHelmholtzEstimator.fit and show where a step's time goes.

Usage::

    SCIPY_ARRAY_API=1 python benchmarks/bench_ddc.py [--quick] [--dtype float32]

Two configurations:

- synthetic: the paper's sizes (N=10,000, D_x=2, D_1=2, D_2=1, K_1=K_2=100,
  100 hidden units, 200 sleep samples, batch 100);
- patch: an image-patch sized model (D_x=256, D_1=100, D_2=10, K_1=500,
  K_2=100, 500 hidden units, 1000 sleep samples, batch 100).

For each: seconds per epoch and per step of ``fit``, and the split of a
step into sleep sampling (ancestral sampling + encoding features),
sleep regressions (recognition model, Gram matrices), the wake phase
(posterior means, DDC weights, gradients, criterion), the Adam step and the
driver (minibatching, guard, bookkeeping), from cProfile's cumulative times
(profiling inflates Python-heavy parts a little; the shares are what matter).

A plain NumPy loop of the same algorithm at the synthetic sizes with 1000
sleep samples (no validation, no array-API indirection, hand-written
gradients for this one model) runs in the same process as the reference for
the estimator's overhead; the ratio is printed.

Measured 2026-11-25 on this project's 2-core CPU (idle). The estimator runs
SciPy's own OpenBLAS (the Cholesky solves) on one thread and leaves NumPy's
products on the threads the environment sets (two here); ``--threads 1`` caps
everything at one. Wall (CPU) milliseconds per step::

                               --dtype float32                float64
                               default       --threads 1      default
    synthetic                  2.13 (4.21)   2.13 (2.13)      3.05 (6.03)
    synthetic-1000-sleep       7.41 (13.97)  7.18 (7.17)      6.13 (12.22)
    patch-sampled-recognition 36.87 (73.51) 44.54 (44.53)    67.55 (134.64)
    patch                     38.01 (75.73) 47.58 (47.56)    70.99 (141.49)

    patch, float32, default: sleep sampling 22.1%, sleep regressions 53.0%,
    wake 23.6%, Adam 0.5%, driver 0.8%
    plain NumPy loop (synthetic, 1000 sleep samples, float64): 5.27
    ms/step; estimator: 5.83 ms/step; ratio 1.11

Measured 2026-12-01 (shared machine, ``OPENBLAS_NUM_THREADS=1``,
``--dtype float32``), with the defaults of issue 13 (hidden-feature
recognition for every layer, moment-form observation gradient, encodings
re-placed every 10 epochs; ``--threads`` left at its default)::

    synthetic                  4.85 ms/step
    synthetic-1000-sleep       8.43 ms/step
    patch-sampled-recognition 85.55 ms/step
    patch                     67.71 ms/step
    patch: sleep sampling 26.4%, sleep regressions 49.7%, wake 22.6%,
    Adam 0.4%, driver 0.9%
    plain NumPy loop (synthetic, 1000 sleep samples, float64): 12.05
    ms/step; estimator: 12.79 ms/step; ratio 1.06

The plain loop took 2.3x its time of 2026-11-25 in this run: the machine was
slower (a shared host, one thread), so compare the ratios.

Measured 2026-12-03 (eighth session, alone, ``OPENBLAS_NUM_THREADS=1``,
``--dtype float32``), with the defaults since 2026-12-02
(``expectations="embedding"``, whose training reads no encoding function,
so the sleep phase computes none)::

    synthetic                  3.55 ms/step
    synthetic-1000-sleep       5.24 ms/step
    patch-sampled-recognition 59.03 ms/step
    patch                     66.56 ms/step
    patch: sleep sampling 37.2%, sleep regressions 32.2%, wake 28.2%,
    Adam 0.6%, driver 1.7%
    plain NumPy loop (synthetic, 1000 sleep samples, float64): 14.68 ms/step
      estimator, defaults: 6.45 ms/step; ratio 0.44
      estimator, expectations="encodings": 15.82 ms/step; ratio 1.08

The plain loop is the paper's algorithm, encodings and their DDC weights
included; the ratio with ``expectations="encodings"`` is the like-for-like
overhead (8%), the defaults' the cost of what users now run (0.44 of the
paper's loop). A run a few minutes earlier, same command: 4.48, 4.42, 55.9
and 60.6 ms per step (the machine's speed varies by 15-25% between runs).

On a 16-core machine (``--quick --dtype float32``, one 20-step epoch, so
noisier) a patch step took 64.4 ms with NumPy on 16 threads (1030 ms of
CPU) and 76.0 ms with ``--threads 1``.

The patch model's regressions (ridge systems of 501 unknowns on 1000 samples
with 500 and 100 right-hand sides, three Gram matrices of 1000 x 501) are
about 2 GFLOP per step. They are solved by Cholesky (SciPy's LAPACK
``potrf``/``potrs``), which took the float32 patch step from 78 to 53 ms
against ``numpy.linalg.solve``, both on one thread.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical


def _patch(**params):
    """The patch-sized model (Table 1's (100, 10) settings), ``params`` changed."""
    return dict(
        data=dict(n_features=256, latent_dims=(100, 10)),
        est=dict(
            latent_dims=(100, 10),
            n_encoding=(500, 100),
            n_hidden=500,
            n_sleep_samples=1000,
            batch_size=100,
            **params,
        ),
    )


CONFIGS = {
    "synthetic": dict(
        data=dict(n_features=2, latent_dims=(2, 1)),
        est=dict(
            latent_dims=(2, 1),
            n_encoding=100,
            n_hidden=100,
            n_sleep_samples=200,
            batch_size=100,
        ),
    ),
    "synthetic-1000-sleep": dict(
        data=dict(n_features=2, latent_dims=(2, 1)),
        est=dict(
            latent_dims=(2, 1),
            n_encoding=100,
            n_hidden=100,
            n_sleep_samples=1000,
            batch_size=100,
        ),
    ),
    "patch-sampled-recognition": _patch(recognition="sampled"),
    "patch": _patch(),
    # the defaults until 2026-12-05 (random ReLU units of x instead of kernel
    # units of the observation statistic)
    "patch-relu-units": _patch(hidden_features="relu"),
}

PHASES = {
    "sleep sampling": ["sample", "_transform"],
    "sleep regressions": ["fit_recognition", "gram"],
}


def time_fit(name, n_samples, epochs, dtype="float64", **params):
    cfg = CONFIGS[name]
    X, _, _ = make_sparse_hierarchical(n_samples, random_state=0, **cfg["data"])
    X = X.astype(dtype)
    est = DDCHelmholtzEstimator(
        max_iter=epochs, random_state=0, **{**cfg["est"], **params}
    )
    start, cpu = time.perf_counter(), time.process_time()
    est.fit(X)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    iters = epochs * est._minibatches(n_samples)[1]
    return est, X, seconds, cpu, iters


def phase_split(est, X, epochs):
    prof = cProfile.Profile()
    est.set_params(max_iter=epochs)
    prof.enable()
    est.fit(X)
    prof.disable()
    stats = pstats.Stats(prof).stats
    cum = {}
    for (filename, _, func), (_, _, _, ct, _) in stats.items():
        if "sklearn_ddchm" in filename or func in ("sample", "_transform"):
            key = (filename.rsplit("/", 1)[-1], func)
            cum[key] = cum.get(key, 0.0) + ct

    def get(file, func):
        return cum.get((file, func), 0.0)

    total = get("_base.py", "_run")
    step = get("_helmholtz.py", "_gradient_step")
    sleep = get("_helmholtz.py", "_sleep")
    sampling = get("_deep.py", "sample") + get("_features.py", "_transform")
    sampling = min(sampling, sleep)
    regress = sleep - sampling
    adam = get("_optim.py", "step")
    return {
        "sleep sampling": sampling,
        "sleep regressions": regress,
        "wake": step - sleep,
        "Adam": adam,
        "driver": total - step - adam,
    }, total


def plain_numpy_loop(n_iter, n_sleep=1000, K=100, H=100, batch=100, seed=0):
    """The algorithm for the sparse 2-1-2 model in plain NumPy (overhead reference)."""
    rng = np.random.RandomState(seed)
    X, _, model = make_sparse_hierarchical(10_000, random_state=0)
    Lam = model.layers[0].params["weights"].copy()
    c = model.layers[0].params["bias"].copy()
    lv = model.layers[0].params["log_var"].copy()
    B = model.layers[1].params["weights"].copy()
    b = model.layers[1].params["bias"].copy()
    W_h, b_h = rng.randn(H, 2) / np.sqrt(2), rng.randn(H)
    W1, b1 = rng.randn(2, K) / np.sqrt(2), rng.randn(K)
    W2, b2 = rng.randn(1, K), rng.randn(K)
    mu, sd = X.mean(0), X.std(0)
    params = [Lam, c, lv, B, b]
    m_ = [np.zeros_like(p) for p in params]
    v_ = [np.zeros_like(p) for p in params]

    def sig(a):
        return 1 / (1 + np.exp(-a))

    def aug(F):
        return np.hstack([F, np.ones((len(F), 1))])

    def solve(F, Y, tau=1e-3):
        lam = tau * np.sum(F[:, :-1] ** 2) / (F.shape[1] - 1)
        G = F.T @ F + np.diag(np.r_[np.full(F.shape[1] - 1, lam), 0.0])
        return G, np.linalg.solve(G, F.T @ Y)

    start = time.perf_counter()
    for t in range(1, n_iter + 1):
        z2 = np.where(rng.rand(n_sleep, 1) < 0.5, 3.0, -3.0) + 0.1 * rng.randn(
            n_sleep, 1
        )
        a1 = z2 @ B.T + b
        s1 = np.logaddexp(0, a1)
        z1 = s1 * rng.laplace(size=s1.shape)
        m0 = z1 @ Lam.T + c
        xs = m0 + np.exp(lv / 2) * rng.randn(n_sleep, 2)
        T1, T2 = aug(sig(z1 @ W1 + b1)), aug(sig(z2 @ W2 + b2))
        Hs = aug(np.maximum((xs - mu) / sd @ W_h.T + b_h, 0))
        _, phi1 = solve(Hs, T1[:, :-1])
        _, phi2 = solve(aug(Hs @ phi1), T2[:, :-1])
        G1, G2 = solve(T1, T1[:, :1])[0], solve(T2, T2[:, :1])[0]
        xb = X[rng.randint(0, len(X), batch)]
        r1 = aug(aug(np.maximum((xb - mu) / sd @ W_h.T + b_h, 0)) @ phi1)
        r2 = aug(r1 @ phi2)
        Wt = T1 @ np.linalg.solve(G1, r1.T)  # (S, batch)
        w1, w2 = Wt.mean(1), T2 @ np.linalg.solve(G2, r2.mean(0))
        v0 = np.exp(lv)
        # observation layer: sum_b,s W[s,b] grad log N(x_b | Lam z1_s + c)
        sx = Wt @ xb / batch
        gLam = ((sx - w1[:, None] * m0) / v0).T @ z1
        gc = (sx - w1[:, None] * m0).sum(0) / v0
        sxx = Wt @ (xb**2) / batch
        glv = np.sum(
            0.5 * (sxx - 2 * sx * m0 + w1[:, None] * m0**2) / v0 - 0.5 * w1[:, None],
            axis=0,
        )
        # Laplace layer, paper split
        ga = (w1[:, None] * np.abs(z1) / s1**2 - w2[:, None] / s1) * sig(a1)
        grads = [gLam, gc, glv, ga.T @ z2, ga.sum(0)]
        for i, g in enumerate(grads):
            m_[i] = 0.9 * m_[i] + 0.1 * g
            v_[i] = 0.999 * v_[i] + 0.001 * g * g
            step = 1e-4 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            params[i] += step * m_[i] / (np.sqrt(v_[i]) + 1e-8)
    return (time.perf_counter() - start) / n_iter


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cap every BLAS library at this many threads (default: as set by "
        "the environment; the estimator pins SciPy's own copy to one)",
    )
    args = parser.parse_args()
    with threadpool_limits(limits=args.threads, user_api="blas"):
        run(args)


def run(args):
    n = 2_000 if args.quick else 10_000
    epochs = 1 if args.quick else 3
    print(f"N={n}, {epochs} epoch(s) per timing\n")
    for name in CONFIGS:
        est, X, seconds, cpu, iters = time_fit(name, n, epochs, args.dtype)
        split, total = phase_split(est, X, 1)
        print(
            f"{name:22s} {seconds / epochs:7.3f} s/epoch  "
            f"{1000 * seconds / iters:7.2f} ms/step "
            f"(CPU {1000 * cpu / iters:.2f})"
        )
        print(
            "    " + ", ".join(f"{k} {100 * v / total:4.1f}%" for k, v in split.items())
        )
    ref = plain_numpy_loop(200 if args.quick else 1000)
    print(
        f"\nplain NumPy loop (synthetic, 1000 sleep samples): {1000 * ref:.2f} ms/step"
    )
    # The loop computes the paper's encodings and their DDC weights; the
    # default embedding skips them, so the like-for-like overhead ratio is
    # the one with expectations="encodings".
    for label, params in [
        ("defaults", {}),
        ('expectations="encodings"', {"expectations": "encodings"}),
    ]:
        _, X, seconds, _, iters = time_fit(
            "synthetic-1000-sleep", n, epochs, "float64", **params
        )
        ours = seconds / iters
        print(
            f"  estimator, {label}: {1000 * ours:.2f} ms/step; ratio {ours / ref:.2f}"
        )


if __name__ == "__main__":
    main()
