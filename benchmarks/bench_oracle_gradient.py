"""The DDC wake gradient against the true free-energy gradient (issue 13, item 7).

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_oracle_gradient.py

On the paper's synthetic sparse model (D_x = D_1 = 2, so the exact posterior
can be sampled without a proposal to tune:
``sklearn_ddchm.utils._exact.sparse_posterior_gradient``), at two parameter
values:

- a random-start plateau: the paper's algorithm fitted from a random start
  for 30 epochs (4,000 points), where it stops far from the data;
- the true parameters, where the true gradient is (nearly) zero.

For each configuration the DDC wake gradient on 200 data points (mean of 5
steps with fresh sleep samples) is compared with the oracle, block by block:
the cosine similarity (the sign of a block is right when it is > 0) and the
relative error. ``tests/test_wake_sleep.py`` holds the small version.
"""

from __future__ import annotations

import argparse

import numpy as np

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm._helmholtz import PAPER_ALGORITHM
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.utils._exact import sparse_posterior_gradient

CONFIGS = {
    "defaults": {},
    "paper": PAPER_ALGORITHM,
    "weights-gradient": {"observation_gradient": "weights"},
    "paper-split": {"gradient_split": "paper"},
    "embedding": {"expectations": "embedding"},
}
BLOCKS = (
    "layer0.weights",
    "layer0.bias",
    "layer0.log_var",
    "layer1.weights",
    "layer1.bias",
)


def mean_ddc_gradient(model, X_fit, X, n_repeats=5, **params):
    est = DDCHelmholtzEstimator(model=model, random_state=0, **params)
    est._validate_params()
    est._initialize(est._validate_X(X_fit, reset=True))
    grads = [est._gradient_step(X, est.random_state_)[0] for _ in range(n_repeats)]
    return {k: np.mean([g[k] for g in grads], axis=0) for k in grads[0]}


def compare(ddc, oracle):
    out = []
    for k in BLOCKS:
        a, b = np.ravel(ddc[k]), np.ravel(oracle[k])
        cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        rel = np.linalg.norm(a - b) / np.linalg.norm(b)
        out.append(f"{cos:+.2f}/{rel:.2f}")
    return "  ".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args(argv)
    X, _, truth = make_sparse_hierarchical(4000, random_state=args.seed)
    batch = X[:200]
    plateau = DDCHelmholtzEstimator(
        max_iter=args.epochs, random_state=args.seed, **PAPER_ALGORITHM
    ).fit(X)
    print(
        "blocks: " + "  ".join(BLOCKS) + "  (cosine/relative error per block)",
        flush=True,
    )
    for name, model in [("plateau", plateau.model_), ("truth", truth)]:
        oracle = sparse_posterior_gradient(model, batch)
        norms = " ".join(f"{np.linalg.norm(oracle[k]):.3f}" for k in BLOCKS)
        print(f"\n{name}: oracle gradient norms per block {norms}")
        for config, params in CONFIGS.items():
            ddc = mean_ddc_gradient(model, X, batch, **params)
            print(f"  {config:11s} {compare(ddc, oracle)}", flush=True)


if __name__ == "__main__":
    main()
