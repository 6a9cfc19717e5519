"""Time the package's sigmoid and softplus on NumPy against one-ufunc forms.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_primitives.py [--repeat 7]

For float32 and float64 arrays of the shapes the learners evaluate most (a
VIMCO-50 minibatch of 24 x 50 particles over MNIST's 784 pixels, a DDC-HM
sleep phase of 1,000 samples over 200 units, a patch minibatch of 100 x 500),
the best of ``--repeat`` timings of:

- ``sigmoid`` against SciPy's ``expit`` (one ufunc, the same formula);
- ``softplus`` against NumPy's ``logaddexp(0, a)`` (one ufunc, the same
  formula);

in milliseconds per call, and the ratio one-ufunc / package (``x``;
above 1: the package's form is faster).
Each pair is checked to agree to 1e-6 (float32) or 1e-13 (float64), relative.

On 2026-12-06 (this project's 2-core machine, NumPy 2.4.6, SciPy 1.17.1, one
thread) the package used the one-ufunc forms on NumPy (since 2026-12-01,
chosen on float64 timings); on float32, the dtype of every MNIST and patch
benchmark, they were 2.0-2.4x slower than NumPy's vectorised passes, and
VIMCO-50's step on the SBN 200-200-200 was 1.27-1.35x slower than the
package of 2026-11-25 in alternating runs of ``bench_baselines.py``. Output
of that day, after the change back (alone on the machine)::

    shape          dtype    sigmoid    expit     x | softplus logaddexp     x
    (24, 50, 784)  float32    1.707    3.862  2.26 |    9.028    17.725  1.96
    (24, 50, 784)  float64    6.396    6.115  0.96 |   12.861    18.760  1.46
    (1000, 200)    float32    0.370    0.819  2.21 |    1.864     3.814  2.05
    (1000, 200)    float64    1.199    1.423  1.19 |    2.653     3.985  1.50
    (100, 500)     float32    0.094    0.226  2.41 |    0.474     0.946  1.99
    (100, 500)     float64    0.317    0.375  1.18 |    0.628     1.038  1.65

Times vary by 15-25% from run to run on this machine, the ratios less.
"""

import argparse
import timeit

import numpy as np
from scipy.special import expit

from sklearn_ddchm.utils._array_api import sigmoid, softplus

SHAPES = [(24, 50, 784), (1000, 200), (100, 500)]


def best_ms(func, a, repeat):
    """Best of ``repeat`` timings of ``func(a)``, in milliseconds per call."""
    number = max(1, int(2e6 // a.size))
    seconds = min(timeit.repeat(lambda: func(a), number=number, repeat=repeat))
    return 1e3 * seconds / number


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"{'shape':14s} {'dtype':7s} {'sigmoid':>8s} {'expit':>8s} {'x':>5s} | "
        f"{'softplus':>8s} {'logaddexp':>9s} {'x':>5s}"
    )
    for shape in SHAPES:
        for dtype in (np.float32, np.float64):
            a = (4.0 * rng.standard_normal(shape)).astype(dtype)
            rtol = 1e-6 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(sigmoid(a), expit(a), rtol=rtol)
            np.testing.assert_allclose(softplus(a), np.logaddexp(0.0, a), rtol=rtol)
            times = [
                best_ms(f, a, args.repeat)
                for f in (sigmoid, expit, softplus, lambda v: np.logaddexp(0.0, v))
            ]
            print(
                f"{str(shape):14s} {np.dtype(dtype).name:7s} {times[0]:8.3f} "
                f"{times[1]:8.3f} {times[1] / times[0]:5.2f} | {times[2]:8.3f} "
                f"{times[3]:9.3f} {times[3] / times[2]:5.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
