"""Which random sigmoid encoding T(z) lets ridge regression fit DDC targets best?

The DDC Helmholtz machine learns expectations E[f(z)] by regressing functions
f(z) on the encoding T(z) of latent samples. This script measures, on held-out
samples, the R^2 of ridge regression of such targets on ``[T(z), 1]`` for the
options of :class:`sklearn_ddchm._features.RandomSigmoidFeatures`, on

(a) 2-D heavy-tailed continuous latents: z_1 ~ Laplace(0, 1) and z_2 a mixture
    of N(-3, 1) and N(+3, 1) (as in the paper's synthetic model); targets z,
    z^2, |z|, z_1 z_2, sigmoid(a . z), softplus(a . z) and logsumexp(A z)
    (log-normalisers);
(b) 200-D binary latents, Bernoulli(0.3); targets z_i, z_i z_j,
    sigmoid(w . z + c), softplus(w . z + c) and sigmoid(w . z + c) z_i (the
    terms of a sigmoid belief net's gradient), w scaled so that w . z has
    standard deviation 2.

Ridge: lambda = 1e-3 * trace(T^T T) / K, intercept not penalised; 2000
training and 2000 test samples; mean over 5 seeds. "mean" is the mean R^2
over targets, "worst" the R^2 of the hardest target. Run from the repository
root with the package importable, e.g.
``PYTHONPATH=. python benchmarks/bench_encoding.py`` (about 10 s).
"""

import time

import numpy as np
from scipy.special import expit, logsumexp
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ddchm._features import RandomSigmoidFeatures

N_TRAIN = 2000
N_TEST = 2000
N_SEEDS = 5
N_COMPONENTS = (100, 200)


# ---------------------------------------------------------------------------
# Latents and targets


def heavy_tailed_2d(n_samples, rng):
    z1 = rng.laplace(0.0, 1.0, n_samples)
    z2 = rng.standard_normal(n_samples) + 3.0 * rng.choice([-1.0, 1.0], n_samples)
    return np.c_[z1, z2]


def heavy_tailed_2d_targets(Z):
    A = np.random.RandomState(123).standard_normal((4, 2))
    L = Z @ A.T
    z1, z2 = Z.T
    columns = [z1, z2, z1**2, z2**2, np.abs(z1), np.abs(z2), z1 * z2]
    columns += [expit(L[:, i]) for i in range(4)]
    columns += [np.logaddexp(0.0, L[:, i]) for i in range(2)]
    columns += [logsumexp(L, axis=1)]
    return np.column_stack(columns)


def binary_200d(n_samples, rng):
    return (rng.uniform(size=(n_samples, 200)) < 0.3).astype(np.float64)


def binary_200d_targets(Z):
    n_features = Z.shape[1]
    rng = np.random.RandomState(7)
    W = rng.standard_normal((n_features, 6)) * 2.0 / np.sqrt(0.21 * n_features)
    L = Z @ W - 0.3 * W.sum(axis=0)
    columns = [Z[:, 0], Z[:, 1], Z[:, 2]]
    columns += [Z[:, 0] * Z[:, 1], Z[:, 3] * Z[:, 4], Z[:, 5] * Z[:, 6]]
    columns += [expit(L[:, i]) for i in range(4)]
    columns += [np.logaddexp(0.0, L[:, i]) for i in range(4, 6)]
    columns += [expit(L[:, 0]) * Z[:, 0], expit(L[:, 1]) * Z[:, 1]]
    return np.column_stack(columns)


DATASETS = {
    "2-D heavy-tail": (heavy_tailed_2d, heavy_tailed_2d_targets),
    "200-D binary": (binary_200d, binary_200d_targets),
}


# ---------------------------------------------------------------------------
# Encodings: name -> function(Z_train, n_components, seed) -> fitted T


def _encoder(weight_scale, bias):
    def make(Z_train, n_components, seed):
        d = Z_train.shape[1]
        scale = weight_scale if isinstance(weight_scale, str) else weight_scale(d)
        encoder = RandomSigmoidFeatures(
            n_components, weight_scale=scale, bias=bias, random_state=seed
        ).fit(Z_train)
        return encoder.transform

    return make


def _row_anchored(Z_train, n_components, seed):
    # The alternative anchor: each hyperplane through a random *row* of the
    # fit data instead of a uniform point of its bounding box.
    encoder = RandomSigmoidFeatures(n_components, bias="normal", random_state=seed).fit(
        Z_train
    )
    rows = np.random.RandomState(seed + 1000).randint(len(Z_train), size=n_components)
    encoder.biases_ = -np.einsum("kd,dk->k", Z_train[rows], encoder.weights_)
    return encoder.transform


def _standardized(Z_train, n_components, seed):
    pipeline = make_pipeline(
        StandardScaler(), RandomSigmoidFeatures(n_components, random_state=seed)
    ).fit(Z_train)
    return pipeline.transform


ENCODINGS = {
    "paper: N(0,1) weights, N(0,1) bias": _encoder(lambda d: 1.0, "normal"),
    "1/sqrt(d), N(0,1) bias": _encoder("auto", "normal"),
    "1, box anchor": _encoder(lambda d: 1.0, "anchor"),
    "0.5/sqrt(d), box anchor": _encoder(lambda d: 0.5 / np.sqrt(d), "anchor"),
    "1/sqrt(d), box anchor [default]": _encoder("auto", "anchor"),
    "2/sqrt(d), box anchor": _encoder(lambda d: 2.0 / np.sqrt(d), "anchor"),
    "1/sqrt(d), data-row anchor": _row_anchored,
    "standardize z, then default": _standardized,
}


# ---------------------------------------------------------------------------


def ridge_r2(T_train, Y_train, T_test, Y_test):
    """Held-out R^2 per target of ridge regression on [T, 1]."""
    n_components = T_train.shape[1]
    lam = 1e-3 * np.trace(T_train.T @ T_train) / n_components
    A = np.column_stack([T_train, np.ones(len(T_train))])
    penalty = lam * np.eye(n_components + 1)
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(A.T @ A + penalty, A.T @ Y_train)
    prediction = np.column_stack([T_test, np.ones(len(T_test))]) @ coef
    return 1.0 - ((prediction - Y_test) ** 2).mean(axis=0) / Y_test.var(axis=0)


def main():
    start = time.perf_counter()
    scores = {}  # (dataset, K, encoding) -> list of per-target R^2 arrays
    for data_name, (sample, targets) in DATASETS.items():
        for seed in range(N_SEEDS):
            rng = np.random.RandomState(seed)
            Z_train, Z_test = sample(N_TRAIN, rng), sample(N_TEST, rng)
            Y_train, Y_test = targets(Z_train), targets(Z_test)
            for K in N_COMPONENTS:
                for enc_name, make in ENCODINGS.items():
                    transform = make(Z_train, K, 100 + seed)
                    r2 = ridge_r2(
                        transform(Z_train), Y_train, transform(Z_test), Y_test
                    )
                    scores.setdefault((data_name, K, enc_name), []).append(r2)

    columns = [(data, K) for data in DATASETS for K in N_COMPONENTS]
    width = max(len(name) for name in ENCODINGS)
    print("Held-out R^2 of ridge regression on [T(z), 1] (mean over targets, worst)")
    print(" " * width + "".join(f" | {f'{d}, K={K}':^22}" for d, K in columns))
    print(" " * width + f" | {'mean':>8}{'worst':>10}    " * len(columns))
    for enc_name in ENCODINGS:
        row = f"{enc_name:<{width}}"
        for data_name, K in columns:
            per_target = np.mean(scores[(data_name, K, enc_name)], axis=0)
            row += f" | {per_target.mean():8.3f}{per_target.min():10.3f}    "
        print(row)
    print(
        f"\n({N_SEEDS} seeds, {N_TRAIN} train / {N_TEST} test samples; "
        f"{time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
