"""Time and peak memory of :func:`sklearn_ddchm.metrics.mmd2` in blocks.

Usage::

    python benchmarks/bench_mmd.py [--quick] [--block-size 1024] [--case N D ...]

Cases: n = m = 10,000 and 100,000 points in 2 and 256 dimensions (standard
normal X, Y shifted by 0.1 in every coordinate), float64, NumPy. For each case:

- ``mmd2(X, Y)`` (unbiased, blocked; the bandwidth is the median heuristic,
  computed once beforehand and passed to every method so that they compute the
  same number);
- the linear-time estimator ``mmd2(X, Y, estimator="linear")``;
- a dense reference built on :func:`sklearn.metrics.pairwise.rbf_kernel`
  (K_XX, K_YY and K_XY formed one at a time, 8 n^2 bytes each), only where it
  fits in memory: at most 20,000 pooled points.

Peak memory is the ``tracemalloc`` peak during the call, i.e. the memory
allocated on top of the inputs (NumPy reports its data buffers to
tracemalloc); it is not the process RSS. ``--quick`` skips the 100,000 x 256
unbiased case (minutes on 2 cores) but still times its linear estimator.

Measured on a 2-core x86-64 Linux VM (OpenBLAS 0.3.31, NumPy 2.4.6, Python
3.11), float64, default block_size=1024, on 2026-11-25; the cores were shared
with another job (load average 3-6), so the times are pessimistic. The
100,000 x 2 row comes from the ``--quick`` run, the others from
``--case 10000 2 --case 10000 256 --case 100000 256`` (MiB: tracemalloc peak;
ratios: dense / blocked)::

      n=m    d | blocked s  MiB |  dense s   MiB | t ratio m ratio | linear s
   10,000    2 |      5.98  40.1 |     7.30 763.1 |   1.22x   19.0x |    0.002
   10,000  256 |      7.32  40.1 |     9.81 763.1 |   1.34x   19.0x |    0.034
  100,000    2 |    246.57  40.8 |      n/a       |                 |    0.010
  100,000  256 |    392.89  40.8 |      n/a       |                 |    0.417

Blocked and dense MMD^2_u agree to 1.6e-13 (relative). The blocked peak does not
grow with n (only O(n) vectors of squared norms); the dense one is one n x n
Gram matrix. The linear estimator is about three orders of magnitude faster but
noisier: it averages n/2 terms instead of n^2 kernel values.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
import tracemalloc

import numpy as np
from sklearn.metrics.pairwise import rbf_kernel

from sklearn_ddchm.metrics import median_heuristic, mmd2
from sklearn_ddchm.metrics._mmd import DEFAULT_BLOCK_SIZE

#: The dense reference holds one n x n float64 Gram matrix at a time (plus
#: rbf_kernel's temporaries): 0.8 GB at 10,000 points per sample (20,000 pooled),
#: 80 GB at 100,000, hence the cut.
DENSE_MAX_POOLED = 20_000

#: Mean shift between the two samples, so that MMD^2 is clearly non-zero.
SHIFT = 0.1

CASES = [(10_000, 2), (10_000, 256), (100_000, 2), (100_000, 256)]

#: Cases whose quadratic-time estimator --quick skips.
SLOW_CASES = {(100_000, 256)}


def dense_mmd2(X, Y, sigma):
    """MMD^2_u from dense Gram matrices made by scikit-learn's rbf_kernel."""
    gamma = 1.0 / (2.0 * sigma**2)
    m, n = len(X), len(Y)
    K = rbf_kernel(X, X, gamma=gamma)
    s_xx = K.sum() - np.trace(K)
    del K
    K = rbf_kernel(Y, Y, gamma=gamma)
    s_yy = K.sum() - np.trace(K)
    del K
    s_xy = rbf_kernel(X, Y, gamma=gamma).sum()
    return s_xx / (m * (m - 1)) + s_yy / (n * (n - 1)) - 2.0 * s_xy / (m * n)


def measure(func, *args, **kwargs):
    """(result, seconds, tracemalloc peak in MiB) of ``func(*args, **kwargs)``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    result = func(*args, **kwargs)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def run(quick, block_size, cases=None):
    print(
        f"# {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}, {datetime.date.today()}, "
        f"block_size={block_size}{', quick' if quick else ''}"
    )
    header = (
        f"{'n=m':>8} {'d':>4} | {'blocked s':>9} {'peak MiB':>8} | "
        f"{'dense s':>8} {'peak MiB':>8} | {'time ratio':>10} "
        f"{'mem ratio':>9} | {'linear s':>8} | {'rel. diff':>9}"
    )
    print(header)
    print("-" * len(header))
    rng = np.random.RandomState(0)
    for n, d in cases or CASES:
        X = rng.normal(size=(n, d))
        Y = rng.normal(loc=SHIFT, size=(n, d))
        sigma = median_heuristic(X, Y)
        row = f"{n:>8,} {d:>4} | "
        if quick and (n, d) in SLOW_CASES:
            blocked = None
            row += f"{'skipped':>9} {'':>8} | "
        else:
            blocked, t_b, p_b = measure(
                mmd2, X, Y, bandwidth=sigma, block_size=block_size
            )
            row += f"{t_b:>9.2f} {p_b:>8.1f} | "
        if 2 * n <= DENSE_MAX_POOLED and blocked is not None:
            dense, t_d, p_d = measure(dense_mmd2, X, Y, sigma)
            diff = abs(dense - blocked) / abs(dense)
            row += f"{t_d:>8.2f} {p_d:>8.1f} | {t_d / t_b:>9.2f}x {p_d / p_b:>8.1f}x | "
        else:
            diff = None
            row += f"{'n/a':>8} {'':>8} | {'':>10} {'':>9} | "
        _, t_l, _ = measure(
            mmd2, X, Y, bandwidth=sigma, estimator="linear", block_size=block_size
        )
        row += f"{t_l:>8.3f} | " + (f"{diff:>9.1e}" if diff is not None else "")
        print(row, flush=True)
    print(
        "time ratio = dense / blocked seconds; mem ratio = dense / blocked peak; "
        "rel. diff = |dense - blocked| / dense."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the 100,000 x 256 quadratic-time case",
    )
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    parser.add_argument(
        "--case",
        type=int,
        nargs=2,
        action="append",
        metavar=("N", "D"),
        help="run only this case (repeatable)",
    )
    args = parser.parse_args()
    run(args.quick, args.block_size, [tuple(c) for c in args.case or []])


if __name__ == "__main__":
    main()
