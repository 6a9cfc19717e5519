"""Seconds per epoch of every estimator on NumPy (CPU) and on CuPy (GPU), same machine.

Usage (on a machine with an NVIDIA GPU and CuPy)::

    SCIPY_ARRAY_API=1 python benchmarks/bench_gpu.py [--quick] [--dtype float32]

The tasks and settings are those of ``benchmarks/bench_baselines.py`` (patch-sized
sparse model, N = 10,000, batch 100; SBN 200-200-200 on 784-dim binary data,
batch 24), plus the same tasks with larger minibatches (1000), where a GPU has
enough work per kernel to pay for its launches. Each estimator is timed as a
``partial_fit`` pass after a set-up pass, on NumPy and then on CuPy with
``sklearn.set_config(array_api_dispatch=True)``; the GPU is synchronised before
each clock read. The MMD statistic (``mmd2``, blocked) is timed too. The last
table gives the CPU/GPU ratio per row.

NumPy timings use every core of the machine the script runs on (BLAS threads
unrestricted, ``n_jobs=None``) unless ``--threads`` is given. The table below
was measured while DDC-HM fits pinned every BLAS library to one thread on
NumPy; they now pin only SciPy's own copy (see the estimator's Notes and
``bench_ddc.py``), so its NumPy rows there are an upper bound.

Measured 2026-11-25 on a lent machine with one NVIDIA H100 80GB HBM3 (driver
580.159.04) and 16 CPU cores; NumPy 2.5.2, CuPy 14.2.0, scikit-learn 1.9.1,
float32; ``python benchmarks/bench_gpu.py --tasks patch,sbn``; seconds per epoch
(10,000 patches; 50,000 SBN images)::

    task   batch  estimator   NumPy (16 cores)   CuPy (H100)   NumPy / CuPy
    patch    100  VAE              0.33             1.01           0.33
    patch    100  IWAE-50          5.79             2.37           2.45
    patch    100  DDC-HM           6.14             2.25           2.73
    patch   1000  VAE              0.15             0.17           0.87
    patch   1000  IWAE-50          7.01             1.29           5.43
    patch   1000  DDC-HM           1.41             0.28           5.07
    sbn       24  VIMCO-50        71.8             31.5            2.28
    sbn       24  DDC-HM         128.4             44.3            2.90
    sbn     1000  VIMCO-50       102.7             14.1            7.26
    sbn     1000  DDC-HM           9.33             1.32           7.07

Measured 2026-12-04 on a lent machine with one NVIDIA H200 and 16 CPU cores
(NumPy 2.5.2, SciPy 1.18.1, CuPy 14.2.0, scikit-learn 1.9.1, float32, BLAS
threads unrestricted); ``python benchmarks/bench_gpu.py --device-random``,
seconds per epoch (NumPy on the 16 cores, CuPy on the H200)::

    task   batch  estimator   NumPy   CuPy   NumPy/CuPy   CuPy, device_random
    patch    100  VAE          0.42   1.45       0.29         1.59
    patch    100  IWAE-50      7.77   3.18       2.44         1.43
    patch    100  DDC-HM       5.00   2.93       1.71         1.63
    patch   1000  VAE          0.29   0.15       1.95         0.11
    patch   1000  IWAE-50      8.63   1.45       5.95         0.13
    patch   1000  DDC-HM       0.88   0.26       3.40         0.14
    sbn       24  VIMCO-50    220.6   26.2       8.41         15.9
    sbn       24  DDC-HM       98.2   32.6       3.01         11.9
    sbn     1000  VIMCO-50    198.3   15.0      13.24         1.19
    sbn     1000  DDC-HM       6.14   1.29       4.77         0.64
    mmd2 (two 20,000 x 256 samples, seconds): NumPy 4.81, CuPy 0.58

``device_random=True`` (the training noise drawn by CuPy's generator instead
of on the host and moved): ``--skip-numpy --device-random --tasks patch,sbn``,
on an H100 in another session (its plain CuPy column ran slower than the
H100 table above: compare within a row)::

    task   batch  estimator   CuPy   CuPy, device_random   ratio
    patch    100  VAE          1.44        1.33             1.08
    patch    100  IWAE-50      3.14        1.55             2.02
    patch    100  DDC-HM       2.92        1.36             2.14
    patch   1000  VAE          0.17        0.17             0.97
    patch   1000  IWAE-50      1.87        0.19             10.0
    patch   1000  DDC-HM       0.36        0.20             1.80
    sbn       24  VIMCO-50    46.5        21.9              2.12
    sbn       24  DDC-HM      61.4        31.9              1.92
    sbn     1000  VIMCO-50    20.8         1.19            17.5
    sbn     1000  DDC-HM       1.92        1.01             1.90

``--main-job`` (2026-12-04, the H200 above, after the fix that took the
data start's eigendecomposition to the host): the main job's fit, float64,
the same MMD^2 (2.919e-04) and exact log-likelihood gap (-0.0217 nat) on
both, parameters equal to 1.0e-13 (relative) after 1,200 steps; 6.7 s on
NumPy against 37.5 s on CuPy on a fresh machine (CuPy compiles its kernels
on first use; 4.1 s against 8.9 s in a scratch run of the same fits once
its kernel cache was warm: the 2-D model is launch-bound).

``--profile-ddc``: a DDC-HM patch step at batch 100 took 37.0 ms under
the profiler, 15.8 ms (43%) of it drawing on the host and moving the draws;
with ``--device-random`` 14.1 ms, of which 0.5 ms.

An earlier run (``--quick`` sizes, before DDC-HM pinned any BLAS) gave the
DDC-HM patch epoch on NumPy as 41.6 s: NumPy's and SciPy's OpenBLAS pools,
16 spinning threads each, against 6.1 s with everything pinned. The unbiased ``mmd2`` of
two 20,000 x 256 samples (blocked): 3.47 s on NumPy, 0.64 s on CuPy. At batch
100 the GPU runs small kernels (the VAE's are launch-bound: 0.33x); with
1000-row minibatches the DDC-HM epoch is 0.28 s on the GPU, 4.6x faster than
IWAE-50's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sklearn
from bench_baselines import binarised_digits  # same SBN data as there
from threadpoolctl import threadpool_limits

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.metrics import mmd2

N_TRAIN = 10_000
SBN_EPOCH = 50_000


def _sync(xp_name):
    if xp_name == "cupy":
        import cupy

        cupy.cuda.Device().synchronize()


def _to(xp_name, X):
    if xp_name == "cupy":
        import cupy

        return cupy.asarray(X)
    return X


def seconds_per_pass(est, X, xp_name):
    if xp_name == "cupy-dr":  # CuPy with the training noise drawn on the GPU
        est.set_params(device_random=True)
        xp_name = "cupy"
    with sklearn.config_context(array_api_dispatch=(xp_name != "numpy")):
        Xd = _to(xp_name, X)
        est.partial_fit(Xd[: min(len(X), 2 * est._batch_size(len(X)))])
        _sync(xp_name)
        start = time.perf_counter()
        est.partial_fit(Xd)
        _sync(xp_name)
        return time.perf_counter() - start


def estimators(task, batch, model):
    if task == "patch":
        common = dict(model=model, batch_size=batch, random_state=0)
        ddc = dict(n_hidden=500, n_encoding=(500, 100), n_sleep_samples=1000)
        return {
            "VAE": VAEEstimator(**common),
            "IWAE-50": IWAEEstimator(n_particles=50, **common),
            "DDC-HM": DDCHelmholtzEstimator(**common, **ddc),
        }
    sbn = dict(
        model="sbn", latent_dims=(200, 200, 200), batch_size=batch, random_state=0
    )
    return {
        "VIMCO-50": VIMCOEstimator(n_particles=50, **sbn),
        "DDC-HM": DDCHelmholtzEstimator(n_hidden=300, n_encoding=200, **sbn),
    }


def profile_ddc_on_gpu(device_random=False):
    """Share of a DDC-HM patch step on CuPy spent drawing random numbers.

    The draws are made on the host with the estimator's ``RandomState`` and
    moved to the device (``utils._random.draw``), which keeps fits identical
    across backends.
    """
    import cProfile
    import pstats

    import cupy

    X, _, model = make_sparse_hierarchical(
        n_samples=2000, n_features=256, latent_dims=(100, 10), random_state=0
    )
    with sklearn.config_context(array_api_dispatch=True):
        Xd = cupy.asarray(X.astype("float32"))
        est = estimators("patch", 100, model)["DDC-HM"]
        est.set_params(device_random=device_random)
        est.partial_fit(Xd[:200])
        cupy.cuda.Device().synchronize()
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        est.partial_fit(Xd)
        cupy.cuda.Device().synchronize()
        prof.disable()
        total = time.perf_counter() - start
    stats = pstats.Stats(prof).stats
    drawing = sum(
        cum
        for (filename, _, func), (_, _, _, cum, _) in stats.items()
        if func == "draw" and filename.endswith("_random.py")
    )
    n_iter = len(X) // est._batch_size(len(X))
    print(
        f"DDC-HM patch on CuPy, batch 100, device_random={device_random} "
        f"(profiled): {1000 * total / n_iter:.1f} "
        f"ms per step, of which drawing random numbers on the host and "
        f"moving them {1000 * drawing / n_iter:.1f} ms ({100 * drawing / total:.0f}%)"
    )


def main_job_on_both(seed=0):
    """The main job's fit (``python -m sklearn_ddchm``) on NumPy and on CuPy.

    The paper's synthetic sparse model, 4,000 training points, the defaults,
    30 epochs from a random start, float64. Prints each fit's time, MMD^2 of
    its samples to 4,000 held-out points, ``score`` and the exact held-out
    log-likelihood gap to the true model (quadrature, 200 points), and the
    largest relative difference between the two fits' parameters: the
    random draws are made on the host, so the fits should agree to rounding.
    """
    import array_api_compat.numpy as np_compat

    from sklearn_ddchm.utils._array_api import to_numpy
    from sklearn_ddchm.utils._exact import sparse_quadrature_log_likelihood

    X, _, true_model = make_sparse_hierarchical(8000, random_state=seed)
    X_train, X_test = X[:4000], X[4000:]
    truth, _ = true_model.sample(4000, random_state=seed + 2)
    print(f"true model's own MMD^2 {mmd2(X_test, truth):.3e}")
    true_ll = np.mean(sparse_quadrature_log_likelihood(true_model, X_test[:200]))
    params = {}
    try:
        import cupy  # noqa: F401
    except ImportError:
        namespaces = ("numpy",)
        print("CuPy is not installed: the NumPy fit alone")
    else:
        namespaces = ("numpy", "cupy")
    for xp_name in namespaces:
        est = DDCHelmholtzEstimator(max_iter=30, random_state=seed)
        with sklearn.config_context(array_api_dispatch=(xp_name != "numpy")):
            start = time.perf_counter()
            est.fit(_to(xp_name, X_train))
            _sync(xp_name)
            seconds = time.perf_counter() - start
            samples = to_numpy(est.sample(4000, random_state=seed + 1))
            score = float(est.score(_to(xp_name, X_test)))
            model = est.model_.to(np_compat, "cpu")
        params[xp_name] = model.get_parameters()
        gap = np.mean(sparse_quadrature_log_likelihood(model, X_test[:200])) - true_ll
        print(
            f"{xp_name:6s} fit {seconds:.1f} s ({est.n_iter_} epochs), MMD^2 "
            f"{mmd2(X_test, samples):.3e}, score {score:.4f}, exact log p gap "
            f"{gap:+.4f}"
        )
    if "cupy" not in params:
        return
    worst = max(
        float(np.max(np.abs(params["numpy"][k] - params["cupy"][k])))
        / (1.0 + float(np.max(np.abs(params["numpy"][k]))))
        for k in params["numpy"]
    )
    print(f"largest relative parameter difference, NumPy against CuPy: {worst:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-numpy", action="store_true")
    parser.add_argument(
        "--tasks", default="patch,sbn,mmd", help="comma-separated subset"
    )
    parser.add_argument(
        "--device-random",
        action="store_true",
        help="also time CuPy with device_random=True (column 'cupy-dr')",
    )
    parser.add_argument(
        "--profile-ddc",
        action="store_true",
        help="only profile a DDC-HM patch epoch on CuPy (share of random draws)",
    )
    parser.add_argument(
        "--main-job",
        action="store_true",
        help="only fit the main job's model on NumPy and on CuPy and compare",
    )
    args = parser.parse_args()
    if args.main_job:
        main_job_on_both()
        return
    if args.profile_ddc:
        profile_ddc_on_gpu(device_random=args.device_random)
        return
    n_points = 2_000 if args.quick else N_TRAIN
    sbn_points = 1_200 if args.quick else 7_200
    namespaces = ["cupy"] if args.skip_numpy else ["numpy", "cupy"]
    if args.device_random:
        namespaces.append("cupy-dr")
    rows = {}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        X, _, model = make_sparse_hierarchical(
            n_samples=n_points, n_features=256, latent_dims=(100, 10), random_state=0
        )
        X = X.astype(args.dtype)
        Xs = binarised_digits(sbn_points, np.random.RandomState(0)).astype(args.dtype)
        tasks = args.tasks.split(",")
        for task, data, scale, batches in (
            ("patch", X, N_TRAIN / n_points, (100, 1000)),
            ("sbn", Xs, SBN_EPOCH / sbn_points, (24, 1000)),
        ):
            if task not in tasks:
                continue
            for batch in batches:
                for xp_name in namespaces:
                    for name, est in estimators(task, batch, model).items():
                        try:
                            sec = seconds_per_pass(est, data, xp_name) * scale
                        except Exception as exc:  # report and go on
                            print(
                                f"{task} {name} batch {batch} {xp_name}: FAILED {exc!r}"
                            )
                            continue
                        rows[(task, batch, name, xp_name)] = sec
                        print(
                            f"{task:6s} batch {batch:5d} {name:9s} {xp_name:6s} "
                            f"{sec:9.2f} s/epoch",
                            flush=True,
                        )
        n_mmd = 2_000 if args.quick else 20_000
        if "mmd" not in tasks:
            namespaces = []
        rng = np.random.RandomState(0)
        A = rng.randn(n_mmd, 256).astype(args.dtype)
        B = (rng.randn(n_mmd, 256) * 1.05).astype(args.dtype)
        for xp_name in [name for name in namespaces if name != "cupy-dr"]:
            with sklearn.config_context(array_api_dispatch=(xp_name != "numpy")):
                a, b = _to(xp_name, A), _to(xp_name, B)
                mmd2(a[:100], b[:100], bandwidth=16.0)
                _sync(xp_name)
                start = time.perf_counter()
                value = float(mmd2(a, b, bandwidth=16.0))
                _sync(xp_name)
                sec = time.perf_counter() - start
            rows[("mmd2", n_mmd, "unbiased", xp_name)] = sec
            print(f"mmd2 {n_mmd} x 256 {xp_name:6s} {sec:8.3f} s  (MMD2 {value:.3e})")

    print(
        "\n| task | batch | estimator | NumPy s | CuPy s | NumPy / CuPy "
        "| CuPy, device_random s |"
    )
    print("|---|---|---|---|---|---|---|")
    keys = sorted({k[:3] for k in rows}, key=str)
    for key in keys:
        cpu, gpu = rows.get(key + ("numpy",)), rows.get(key + ("cupy",))
        dev = rows.get(key + ("cupy-dr",))
        ratio = f"{cpu / gpu:.2f}" if cpu and gpu else "-"
        fmt = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
        print(
            f"| {key[0]} | {key[1]} | {key[2]} | {fmt(cpu)} | {fmt(gpu)} | {ratio} "
            f"| {fmt(dev)} |"
        )


if __name__ == "__main__":
    main()
