"""Seconds per epoch of the baselines and of DDC-HM, against PyTorch reference timings.

Three tasks, every estimator on the same model library and NumPy backend:

(a) the paper's synthetic model (Section 7): N = 10,000 points in 2-D,
    latents (2, 1), started at the true parameters;
(b) a patch-sized sparse model: D_x = 256, latents (100, 10), N = 10,000
    (random data from ``make_sparse_hierarchical``); the PyTorch references
    (10,000 x 256 data, two latent layers, same 2-core CPU) are VAE 0.30 s,
    IWAE-5 0.75 s, IWAE-50 4.2 s per epoch;
(c) a sigmoid belief network 200-200-200 on 784-dim binary data (binarised
    ``load_digits`` upsampled to 28 x 28), VIMCO with k = 50 and minibatches
    of 24 (Mnih & Rezende's setting): a few hundred steps timed and
    extrapolated to a 50,000-image epoch; the PyTorch reference is 46 s.

Settings: batch size 100 for (a) and (b); recognition MLPs of 2 x 100 tanh
units; DDC-HM with the estimator's defaults on (a), the paper's patch
settings on (b) (n_hidden=500, n_encoding=(500, 100), 1000 sleep samples)
and n_hidden=300, n_encoding=200 on (c); "classic HM" is
``DDCHelmholtzEstimator(encoding="linear", expectations="encodings")`` with
the same settings. An epoch
is timed as a ``partial_fit`` pass after one on 500 points (the set-up);
``--quick`` times 2,000 points (50 SBN steps) and scales linearly.

Run from the repository root, e.g. ``python benchmarks/bench_baselines.py``
(about 5 minutes; ``--quick`` about 40 s). BLAS runs on one thread unless
``--threads`` says otherwise: on this machine, shared with other jobs,
OpenBLAS's two spinning threads made the small products up to 100x slower
(DDC-HM on the synthetic task: 65.9 s/epoch with two threads, 0.49 s with
one), so use ``--threads 2`` only on an idle machine. The "CPU" column is the
process time, what a pass costs on one otherwise idle core.

Measured 2026-11-25 on this 2-core CPU, idle, NumPy 2.4 / OpenBLAS, float32,
after the Cholesky ridge solves, the branch-free sigmoid and ``n_jobs``; wall
seconds per epoch (PyTorch's references are wall times on the same CPU).
``python benchmarks/bench_baselines.py`` (one BLAS thread, ``n_jobs=None``)
and ``--n-jobs 2`` (the baselines' minibatch slices on both cores; DDC-HM
always runs on one)::

    task       estimator   1 thread   n_jobs=2   PyTorch   best / PyTorch
    synthetic  VAE           0.09       0.20        -           -
    synthetic  IWAE-5        0.12       0.22        -           -
    synthetic  IWAE-50       0.38       0.50        -           -
    synthetic  DDC-HM        0.44       0.41        -           -
    synthetic  classic HM    0.20       0.19        -           -
    patch      VAE           0.22       0.40      0.30        0.72
    patch      IWAE-5        0.54       0.66      0.75        0.72
    patch      IWAE-50       3.92       2.93      4.2         0.70
    patch      DDC-HM        5.04       4.86        -           -
    patch      classic HM    2.48       2.47        -           -
    sbn        VIMCO-50     69.8       54.5      46           1.19
    sbn        DDC-HM       98.6      104.6        -           -

Threads pay only where a slice has work: on the 2-D synthetic task and for
the VAE, ``n_jobs=2`` is slower. ``bench_torch_reference.py`` timed PyTorch
in the same session: VIMCO-50 50.3 s on two threads against ours 49.9 s with
``n_jobs=2`` (the 46 s reference was measured elsewhere).

DDC-HM / IWAE-50 at one thread: 1.16 on the synthetic task with the default
1000 sleep samples and 0.63 with the paper's 200 (0.24 s/epoch in the same
float32 setting, timed separately), 1.29 on the patch task; against IWAE-50
with ``n_jobs=2``: 0.82 synthetic, 1.66 patch. At the paper's patch settings
a step of DDC-HM is about 2.2 GFLOP of regressions (1000 sleep samples,
501 x 501 systems with 500 and 100 right-hand sides) against about 0.8 for
IWAE-50, so on a CPU it stays slower per epoch at batch 100. On a GPU it is
faster (``bench_gpu.py``: 2.25 against 2.37 s at batch 100, 0.28 against 1.29
s at batch 1000), as it is on a CPU with 1000-row minibatches (1.41 against
7.01 s on 16 cores).

Earlier figures (same machine, before the Cholesky solves and the sigmoid
change): IWAE-50 3.92, DDC-HM 6.95 s/epoch on the patch task; VIMCO-50 85.5 s
per 50,000 images; before the model library cached each layer's affine map,
IWAE-50 12.1 s and VIMCO-50 172 s.

Re-measured 2026-12-06 (one thread, alone, two runs each, alternating with
the package of that morning, whose sigmoid and softplus went through SciPy's
``expit`` and NumPy's ``logaddexp``; ``bench_primitives.py``), before ->
after: patch VAE 0.30-0.31 -> 0.30, IWAE-5 0.71 -> 0.67-0.69, IWAE-50
5.59-5.60 -> 4.89-5.03, DDC-HM 4.52-4.56 -> 4.19-4.21 s/epoch; SBN VIMCO-50
155.8-159.8 -> 118.8-122.1, DDC-HM 100.6-104.1 -> 88.5-101.1 s per 50,000
images. The machine had become about twice as slow since 2026-11-25: the
package of that day took 124-141 s for the VIMCO-50 epoch (69.8 s then).
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical

#: PyTorch on the same 2-core CPU (REFERENCE.md section 4), seconds per epoch
PYTORCH = {
    ("patch", "VAE"): 0.30,
    ("patch", "IWAE-5"): 0.75,
    ("patch", "IWAE-50"): 4.2,
    ("sbn", "VIMCO-50"): 46.0,
}
N_TRAIN = 10_000
SBN_EPOCH = 50_000
SBN_BATCH = 24


def reparameterised(n_particles, **kwargs):
    if n_particles == 1:
        return VAEEstimator(**kwargs)
    return IWAEEstimator(n_particles=n_particles, **kwargs)


def continuous_estimators(model, ddc_params, n_jobs=None):
    common = dict(model=model, batch_size=100, random_state=0)
    return {
        "VAE": reparameterised(1, n_jobs=n_jobs, **common),
        "IWAE-5": reparameterised(5, n_jobs=n_jobs, **common),
        "IWAE-50": reparameterised(50, n_jobs=n_jobs, **common),
        "DDC-HM": DDCHelmholtzEstimator(**common, **ddc_params),
        "classic HM": DDCHelmholtzEstimator(
            encoding="linear", expectations="encodings", **common, **ddc_params
        ),
    }


def seconds_per_pass(est, X):
    """Wall-clock and CPU seconds of one partial_fit pass over X, after a set-up pass.

    On a machine shared with other jobs the wall time includes waiting for a
    core; with one BLAS thread the CPU time is what the pass costs alone.
    """
    est.partial_fit(X[: min(len(X), 500)])
    wall, cpu = time.perf_counter(), time.process_time()
    est.partial_fit(X)
    return time.perf_counter() - wall, time.process_time() - cpu


def binarised_digits(n_samples, rng):
    digits = load_digits().images  # (1797, 8, 8), values 0..16
    up = np.kron(digits, np.ones((1, 4, 4)))[:, 2:30, 2:30]  # 28 x 28
    X = (up > 8).reshape(len(up), -1).astype(float)
    return X[rng.randint(0, len(X), size=n_samples)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2,000 points and 50 SBN steps, scaled up linearly",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: see the module docstring)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="n_jobs of the VAE, IWAE and VIMCO estimators (threads over "
        "minibatch slices; default None, one thread)",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="dtype of the data, hence of every computation (PyTorch's "
        "default is float32)",
    )
    args = parser.parse_args()
    n_points = 2_000 if args.quick else N_TRAIN
    sbn_steps = 50 if args.quick else 300
    rows = []

    with threadpool_limits(limits=args.threads, user_api="blas"):
        # (a) synthetic and (b) patch-sized sparse model
        tasks = {
            "synthetic": (dict(n_features=2, latent_dims=(2, 1)), {}),
            "patch": (
                dict(n_features=256, latent_dims=(100, 10)),
                dict(n_hidden=500, n_encoding=(500, 100), n_sleep_samples=1000),
            ),
        }
        for task, (shape, ddc_params) in tasks.items():
            X, _, model = make_sparse_hierarchical(
                n_samples=n_points, random_state=0, **shape
            )
            X = X.astype(args.dtype)
            for name, est in continuous_estimators(
                model, ddc_params, args.n_jobs
            ).items():
                wall, cpu = np.array(seconds_per_pass(est, X)) * N_TRAIN / n_points
                rows.append((task, name, wall, cpu))
                print(
                    f"{task:10s} {name:11s} {wall:8.2f} s/epoch (CPU {cpu:.2f} s)",
                    flush=True,
                )

        # (c) SBN 200-200-200 on 784-dim binary data, minibatches of 24
        X = binarised_digits(sbn_steps * SBN_BATCH, np.random.RandomState(0)).astype(
            args.dtype
        )
        sbn = dict(
            model="sbn",
            latent_dims=(200, 200, 200),
            batch_size=SBN_BATCH,
            random_state=0,
        )
        for name, est in {
            "VIMCO-50": VIMCOEstimator(n_particles=50, n_jobs=args.n_jobs, **sbn),
            "DDC-HM": DDCHelmholtzEstimator(n_hidden=300, n_encoding=200, **sbn),
        }.items():
            wall, cpu = np.array(seconds_per_pass(est, X)) * SBN_EPOCH / len(X)
            rows.append(("sbn", name, wall, cpu))
            print(
                f"{'sbn':10s} {name:11s} {wall:8.2f} s per 50,000 images (CPU "
                f"{cpu:.2f} s)",
                flush=True,
            )

    print(
        "\n| task | estimator | wall s/epoch | CPU s/epoch | PyTorch s/epoch "
        "| wall / PyTorch |"
    )
    print("|---|---|---|---|---|---|")
    for task, name, wall, cpu in rows:
        ref = PYTORCH.get((task, name))
        ratio = f"{wall / ref:.2f}" if ref else "-"
        print(f"| {task} | {name} | {wall:.2f} | {cpu:.2f} | {ref or '-'} | {ratio} |")
    walls = {(task, name): wall for task, name, wall, _ in rows}
    for task, other in (
        ("synthetic", "IWAE-50"),
        ("patch", "IWAE-50"),
        ("sbn", "VIMCO-50"),
    ):
        ratio = walls[(task, "DDC-HM")] / walls[(task, other)]
        print(f"{task}: DDC-HM / {other} = {ratio:.2f} (wall)")


if __name__ == "__main__":
    main()
