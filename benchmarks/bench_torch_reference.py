"""PyTorch reference timings for the baselines, measured in the same run as ours.

Usage (needs PyTorch, which is *not* a dependency of the package)::

    python -m pip install torch
    SCIPY_ARRAY_API=1 python benchmarks/bench_torch_reference.py [--threads 2]

The issue's PyTorch figures were measured elsewhere; this script times minimal
PyTorch implementations of the same two workloads next to ours, on the same
machine and thread count, so the ratios do not mix machines:

- IWAE-50 on the patch-sized sparse model (D_x=256, D_1=100, D_2=10; MoG prior,
  Laplace layer with softplus scale, Gaussian observations), recognition MLP
  2 x 100 tanh, batch 100, float32: seconds per 10,000-point epoch;
- VIMCO-50 on an SBN 200-200-200 with 784 binary observations, batch 24,
  float32: seconds per 50,000-image epoch.

Both use autograd for the gradients; ours use the package's hand-written
gradients (see ``bench_baselines.py`` for the full table).

Measured 2026-11-25 on this project's 2-core CPU (idle), PyTorch 2.14.1
(``pip install torch``, by hand, in a separate virtual environment); ours
after the Cholesky solves, the branch-free sigmoid and ``n_jobs``, which this
script sets to the thread count when it is above 1::

    1 thread :  IWAE-50 patch ours 3.99 s/epoch, PyTorch 3.50, ratio 1.14
                VIMCO-50 SBN  ours 70.2 s/50k,   PyTorch 80.2, ratio 0.88
    2 threads:  IWAE-50 patch ours 3.01 s/epoch, PyTorch 2.00, ratio 1.51
                VIMCO-50 SBN  ours 49.9 s/50k,   PyTorch 50.3, ratio 0.99

Before those changes (PyTorch 2.13, same machine): one thread 1.09 and 1.03,
two threads 2.06 and 1.36, when NumPy's ufuncs ran on one core only.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_ddchm.baselines import IWAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical


def torch_iwae_epoch_seconds(X, model, k, n_iter, torch):
    f = torch.float32
    P = {
        n: torch.tensor(np.asarray(v), dtype=f, requires_grad=True)
        for n, v in model.get_parameters().items()
        if not n.startswith("layer2")
    }
    means = torch.tensor(model.layers[2].params["means"], dtype=f)
    log_vars = torch.tensor(model.layers[2].params["log_vars"], dtype=f)
    d_x, d1, d2 = X.shape[1], 100, 10
    enc = torch.nn.Sequential(
        torch.nn.Linear(d_x, 100),
        torch.nn.Tanh(),
        torch.nn.Linear(100, 100),
        torch.nn.Tanh(),
        torch.nn.Linear(100, 2 * (d1 + d2)),
    )
    opt = torch.optim.Adam([*P.values(), *enc.parameters()], lr=1e-4)
    Xt = torch.tensor(X, dtype=f)
    c = 0.5 * math.log(2 * math.pi)

    def step(xb):
        out = enc(xb)
        mu, lv = out[:, : d1 + d2], out[:, d1 + d2 :]
        eps = torch.randn(k, *mu.shape)
        z = mu + torch.exp(0.5 * lv) * eps
        log_q = (-0.5 * eps**2 - 0.5 * lv - c).sum(-1)
        z1, z2 = z[..., :d1], z[..., d1:]
        comp = (
            -0.5 * (z2[..., None, :] - means) ** 2 / torch.exp(log_vars)
            - 0.5 * log_vars
            - c
        ).sum(-1)
        lp = torch.logsumexp(comp + math.log(0.5), -1)
        s = torch.nn.functional.softplus(z2 @ P["layer1.weights"].T + P["layer1.bias"])
        lp = lp + (-z1.abs() / s - torch.log(2 * s)).sum(-1)
        m = z1 @ P["layer0.weights"].T + P["layer0.bias"]
        lv0 = P["layer0.log_var"]
        lp = lp + (-0.5 * (xb - m) ** 2 / torch.exp(lv0) - 0.5 * lv0 - c).sum(-1)
        loss = -(torch.logsumexp(lp - log_q, 0) - math.log(k)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(3):
        step(Xt[i * 100 : (i + 1) * 100])
    start = time.perf_counter()
    for i in range(n_iter):
        step(Xt[(i % 90) * 100 : (i % 90 + 1) * 100])
    return (time.perf_counter() - start) / n_iter * (10_000 / 100)


def torch_vimco_epoch_seconds(X, k, n_iter, torch):
    f = torch.float32
    rng = np.random.RandomState(0)

    def lin(i, o):
        return [
            torch.tensor(rng.randn(o, i) / np.sqrt(i), dtype=f, requires_grad=True),
            torch.zeros(o, dtype=f, requires_grad=True),
        ]

    gen = [lin(200, 784), lin(200, 200), lin(200, 200)]
    prior = torch.zeros(200, dtype=f, requires_grad=True)
    rec = [lin(784, 200), lin(200, 200), lin(200, 200)]
    params = [p for pair in gen + rec for p in pair] + [prior]
    opt = torch.optim.Adam(params, lr=3e-4)
    Xt = torch.tensor(X, dtype=f)

    def bern(x, logits):
        return (x * logits - torch.nn.functional.softplus(logits)).sum(-1)

    def step(xb):
        h, log_q = xb.expand(k, *xb.shape), 0.0
        hs = []
        for W, b in rec:
            logits = h @ W.T + b
            h = torch.bernoulli(torch.sigmoid(logits)).detach()
            log_q = log_q + bern(h, logits)
            hs.append(h)
        log_p = bern(hs[-1], prior.expand_as(hs[-1]))
        below = [xb.expand(k, *xb.shape), *hs[:-1]]
        for (W, b), child, parent in zip(gen, below, hs, strict=True):
            log_p = log_p + bern(child, parent @ W.T + b)
        log_w = log_p - log_q  # (k, B)
        bound = torch.logsumexp(log_w, 0) - math.log(k)
        others = (log_w.sum(0, keepdim=True) - log_w) / (k - 1)
        eye = torch.eye(k, dtype=torch.bool)[:, :, None]
        loo = torch.logsumexp(
            torch.where(eye, others[:, None], log_w[None]), 1
        ) - math.log(k)
        signal = (bound[None] - loo).detach()
        w = torch.softmax(log_w, 0).detach()
        surrogate = bound + (signal * log_q).sum(0) - (w * log_q).sum(0)
        opt.zero_grad()
        (-surrogate.mean()).backward()
        opt.step()

    for i in range(3):
        step(Xt[i * 24 : (i + 1) * 24])
    start = time.perf_counter()
    for i in range(n_iter):
        step(Xt[(i % 40) * 24 : (i % 40 + 1) * 24])
    return (time.perf_counter() - start) / n_iter * (50_000 / 24)


def ours_epoch_seconds(est, X, n_points, epoch_size):
    est.partial_fit(X[:500])
    start = time.perf_counter()
    est.partial_fit(X[:n_points])
    return (time.perf_counter() - start) / n_points * epoch_size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    X, _, model = make_sparse_hierarchical(
        10_000, n_features=256, latent_dims=(100, 10), random_state=0
    )
    X = X.astype(np.float32)
    rng = np.random.RandomState(0)
    B = (rng.rand(1000, 784) < 0.2).astype(np.float32)
    # ours spread over the cores by n_jobs (row slices in threads, BLAS on one
    # thread each); PyTorch by its intra-op threads
    n_jobs = args.threads if args.threads > 1 else None
    with threadpool_limits(limits=args.threads, user_api="blas"):
        t_iwae = torch_iwae_epoch_seconds(X, model, 50, 30, torch)
        o_iwae = ours_epoch_seconds(
            IWAEEstimator(model=model, n_particles=50, random_state=0, n_jobs=n_jobs),
            X,
            3000,
            10_000,
        )
        t_vimco = torch_vimco_epoch_seconds(B, 50, 40, torch)
        o_vimco = ours_epoch_seconds(
            VIMCOEstimator(
                model="sbn",
                latent_dims=(200, 200, 200),
                n_particles=50,
                batch_size=24,
                random_state=0,
                n_jobs=n_jobs,
            ),
            B,
            960,
            50_000,
        )
    print(
        f"{args.threads} thread(s), ours n_jobs={n_jobs}, float32, "
        f"PyTorch {torch.__version__}"
    )
    print(
        f"IWAE-50 patch  : ours {o_iwae:7.2f} s/epoch, PyTorch {t_iwae:7.2f}, "
        f"ratio {o_iwae / t_iwae:.2f}"
    )
    print(
        f"VIMCO-50 SBN   : ours {o_vimco:7.2f} s/50k,   PyTorch {t_vimco:7.2f}, "
        f"ratio {o_vimco / t_vimco:.2f}"
    )


if __name__ == "__main__":
    main()
