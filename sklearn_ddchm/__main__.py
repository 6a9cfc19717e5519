"""The package's main job: ``python -m sklearn_ddchm``.

Fits a DDC Helmholtz machine to data from the paper's synthetic sparse
hierarchical model, draws samples from the learnt model, and prints how close
they are to held-out data (MMD^2 against the true model's own), the
held-out log-likelihood estimate, and the time taken.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_ddchm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--max-iter", type=int, default=30, help="epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--n-exact", type=int, default=200, help="test points scored by quadrature"
    )
    args = parser.parse_args(argv)

    from sklearn_ddchm import DDCHelmholtzEstimator
    from sklearn_ddchm.datasets import make_sparse_hierarchical
    from sklearn_ddchm.metrics import mmd2

    X, _, true_model = make_sparse_hierarchical(
        2 * args.n_samples, random_state=args.seed
    )
    X_train, X_test = X[: args.n_samples], X[args.n_samples :]
    print(
        f"data: {args.n_samples} training and {len(X_test)} test points from the "
        "sparse hierarchical model (Vertes & Sahani 2018, Eq. 13), D_x=2, D_1=2, D_2=1"
    )

    est = DDCHelmholtzEstimator(max_iter=args.max_iter, random_state=args.seed)
    start = time.perf_counter()
    est.fit(X_train)
    seconds = time.perf_counter() - start
    n_steps = est.n_iter_ * est._minibatches(args.n_samples)[1]
    print(
        f"fit: {est.n_iter_} epochs ({n_steps} steps) from a random start in "
        f"{seconds:.1f} s, {1000 * seconds / n_steps:.2f} ms per step"
    )

    samples = est.sample(len(X_test), random_state=args.seed + 1)
    truth, _ = true_model.sample(len(X_test), random_state=args.seed + 2)
    start = time.perf_counter()
    print(
        f"sample: {len(samples)} draws; MMD^2 to test data = "
        f"{mmd2(X_test, samples):.2e} (true model's own samples: "
        f"{mmd2(X_test, truth):.2e}; a Gaussian fit: "
        f"{mmd2(X_test, _gaussian_samples(X_train, len(X_test), args.seed)):.2e})"
    )
    score = est.score(X_test)
    print(
        f"score: held-out mean log-likelihood {score:.3f} nats per point "
        f"(est.score: importance sampling, {est.n_importance} samples) in "
        f"{time.perf_counter() - start:.1f} s"
    )
    # exact up to quadrature error (2-D observations): the reference the fast
    # estimate is checked against, on the first rows of the test set
    from sklearn_ddchm.utils._exact import sparse_quadrature_log_likelihood

    rows = X_test[: args.n_exact]
    start = time.perf_counter()
    learnt = np.mean(sparse_quadrature_log_likelihood(est.model_, rows))
    true = np.mean(sparse_quadrature_log_likelihood(true_model, rows))
    print(
        f"exact held-out log p(x) on {len(rows)} test points (quadrature): "
        f"learnt {learnt:.3f}, true model {true:.3f} (gap {learnt - true:+.3f}) "
        f"in {time.perf_counter() - start:.1f} s; est.score on the same points "
        f"{est.score(rows):.3f}"
    )


def _gaussian_samples(X, n, seed):
    rng = np.random.RandomState(seed)
    return rng.multivariate_normal(X.mean(0), np.cov(X.T), size=n)


if __name__ == "__main__":
    main()
