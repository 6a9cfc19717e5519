"""Binary tables with the defaults: the widths ``latent_dims="auto"`` gives a
sigmoid belief network, against fixed widths and the baselines a user would
pick (issue 13).

Usage::

    SCIPY_ARRAY_API=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_binary.py
    ... --seeds 0 1 2 --widths 2,1 8,4 16,8 32,10 64,10

Data: scikit-learn's digits, each 8x8 image's pixel on where its intensity
is above 7 (of 16): 1,797 binary images of 64 pixels, 8 of which are never
or almost never on; a 70/30 split (``random_state=0``). Learners, each from a
random start with its defaults (``max_iter=--epochs``):

- ``DDCHelmholtzEstimator(model="sbn")``: the defaults, whose
  ``latent_dims="auto"`` chooses the widths from the data
  (:func:`sklearn_ddchm._latent_dims.auto_latent_dims`: factor analysis's
  BIC on the columns that are not almost constant); the same at ``(2, 1)``,
  what ``"auto"`` gave binary data until 2026-12-06; and at each of
  ``--widths``, to show where the choice lands among them;
- ``VIMCOEstimator(model="sbn", n_particles=50)``, the SBN baseline, with
  its defaults (the same ``"auto"`` widths);
- independent Bernoulli pixels (the training rows' frequencies), exact;
- ``sklearn.neural_network.BernoulliRBM(n_components=16)`` with its defaults
  otherwise: scikit-learn's model for binary data. With 16 hidden units its
  partition function is a sum over the ``2^16`` hidden states, so its
  held-out log-likelihood is exact and its samples are exact draws (a
  hidden state from its marginal, then the pixels).

Reported per learner: the held-out log p(x) per image (the SBNs' by
:func:`sklearn_ddchm.log_likelihood`, importance sampling with 2,000 draws
per image from the estimator's proposal, whose expected value is below the
true one; exact for the other two), the unbiased MMD^2 of 4,000 samples to
the held-out images (Gaussian kernel, median heuristic on the held-out
images), the fit's seconds and, for the SBNs, the median effective sample
size of the importance draws. With several ``--seeds`` (the split stays;
the seeds vary the fits and the draws) a summary gives each learner's mean,
smallest and largest over seeds, and its paired difference from the
defaults.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from scipy.special import expit, logsumexp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM

from sklearn_ddchm import DDCHelmholtzEstimator, log_likelihood
from sklearn_ddchm.baselines import VIMCOEstimator
from sklearn_ddchm.metrics import median_heuristic, mmd2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _options import add_ddc_param, ddc_params  # noqa: E402

#: importance draws per held-out image for the SBNs' log p(x)
N_DRAWS = 2000
#: samples per MMD^2
N_SAMPLES = 4000
#: hidden units of the RBM baseline: few enough to enumerate its states
RBM_COMPONENTS = 16
DEFAULTS = "DDC-HM, the defaults"


def load_binary_digits():
    """scikit-learn's digits with each pixel on where its intensity exceeds
    7 of 16, split 70/30 (``random_state=0``)."""
    X = (load_digits().data > 7).astype(np.float64)
    return train_test_split(X, test_size=0.3, random_state=0)


def bernoulli_log_likelihood(X_train, X_test):
    """Held-out log p(x) per row of independent Bernoulli columns with the
    training rows' frequencies (clipped to ``[1 / (2 n), 1 - 1 / (2 n)]``, so
    a pixel never on in training costs a finite amount)."""
    n = X_train.shape[0]
    p = np.clip(X_train.mean(axis=0), 0.5 / n, 1 - 0.5 / n)
    return float(np.mean(X_test @ np.log(p) + (1 - X_test) @ np.log1p(-p)))


def hidden_states(n_hidden):
    """Every binary vector of ``n_hidden`` units, one per row (``2^n``)."""
    codes = np.arange(2**n_hidden)[:, None]
    return ((codes >> np.arange(n_hidden)) & 1).astype(np.float64)


def rbm_log_marginal_hidden(rbm, H):
    """Unnormalised log p(h) of ``rbm`` for the rows of ``H``: ``c . h +
    sum_i log(1 + exp(b_i + W_i . h))``, the visible units summed out."""
    logits = H @ rbm.components_ + rbm.intercept_visible_
    return H @ rbm.intercept_hidden_ + np.logaddexp(0.0, logits).sum(axis=1)


def rbm_log_partition(rbm):
    """log Z of ``rbm``, summed over its hidden states exactly."""
    return float(
        logsumexp(rbm_log_marginal_hidden(rbm, hidden_states(rbm.n_components)))
    )


def rbm_log_likelihood(rbm, X):
    """Exact mean log p(x) of ``rbm`` on the rows of ``X``: minus the free
    energy (``BernoulliRBM.score_samples`` gives a pseudo-likelihood) less
    log Z (:func:`rbm_log_partition`)."""
    hidden = np.logaddexp(0.0, X @ rbm.components_.T + rbm.intercept_hidden_)
    log_unnormalised = X @ rbm.intercept_visible_ + hidden.sum(axis=1)
    return float(np.mean(log_unnormalised) - rbm_log_partition(rbm))


def rbm_samples(rbm, n, rng):
    """``n`` exact draws of ``rbm``: a hidden state from its marginal
    (:func:`rbm_log_marginal_hidden`), then the visible units given it."""
    H = hidden_states(rbm.n_components)
    log_p = rbm_log_marginal_hidden(rbm, H)
    p = np.exp(log_p - logsumexp(log_p))
    h = H[rng.choice(len(H), size=n, p=p / p.sum())]
    mean = expit(h @ rbm.components_ + rbm.intercept_visible_)
    return (rng.random_sample(mean.shape) < mean).astype(np.float64)


def sbn_learners(widths, extra):
    """The SBN learners: name -> unfitted estimator factory of a seed."""

    def ddc(dims):
        return lambda seed: DDCHelmholtzEstimator(
            model="sbn", latent_dims=dims, random_state=seed, **extra
        )

    learners = {
        DEFAULTS: ddc("auto"),
        "DDC-HM (2, 1) (the default until 2026-12-06)": ddc((2, 1)),
    }
    learners.update({f"DDC-HM {dims}": ddc(dims) for dims in widths})
    learners["VIMCO-50, its defaults"] = lambda seed: VIMCOEstimator(
        model="sbn", n_particles=50, random_state=seed
    )
    return learners


def run(seed, widths, epochs, extra, with_vimco=True):
    """Fit every learner on the training images with fit seed ``seed``;
    return one dict per learner (name, dims, log p(x), MMD^2, seconds)."""
    X_train, X_test = load_binary_digits()
    sigma = median_heuristic(X_test)
    rows = []

    def report(name, dims, score, samples, seconds, ess=None):
        value = mmd2(samples, X_test, bandwidth=sigma)
        rows.append(
            {
                "seed": seed,
                "learner": name,
                "dims": dims,
                "score": score,
                "mmd2": value,
                "seconds": seconds,
                "ess": ess,
            }
        )
        print(
            f"seed {seed}  {name:45s} {str(dims):10s} log p(x) {score:8.3f}  "
            f"MMD^2 {value:9.2e}  ink {samples.sum(axis=1).mean():6.2f}  "
            f"{seconds:6.1f} s"
            + ("" if ess is None else f"  median ESS {ess:.0f} of {N_DRAWS}"),
            flush=True,
        )

    for name, make in sbn_learners(widths, extra).items():
        if name.startswith("VIMCO") and not with_vimco:
            continue
        est = make(seed).set_params(max_iter=epochs)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 'did not converge' is expected
            est.fit(X_train)
        seconds = time.perf_counter() - start
        result = log_likelihood(
            est, X_test, method="importance", n_samples=N_DRAWS, random_state=seed
        )
        score, ess = result.mean, float(np.median(result.ess))
        samples = np.asarray(est.sample(N_SAMPLES, random_state=seed + 1), float)
        report(name, est.latent_dims_, score, samples, seconds, ess)
    rng = np.random.RandomState(seed)
    start = time.perf_counter()
    p = X_train.mean(axis=0)
    samples = (rng.random_sample((N_SAMPLES, p.size)) < p).astype(np.float64)
    report(
        "independent Bernoulli pixels",
        "",
        bernoulli_log_likelihood(X_train, X_test),
        samples,
        time.perf_counter() - start,
    )
    start = time.perf_counter()
    rbm = BernoulliRBM(n_components=RBM_COMPONENTS, random_state=seed).fit(X_train)
    seconds = time.perf_counter() - start
    report(
        f"BernoulliRBM({RBM_COMPONENTS}), its defaults",
        "",
        rbm_log_likelihood(rbm, X_test),
        rbm_samples(rbm, N_SAMPLES, rng),
        seconds,
    )
    return rows


def summarise(rows):
    """Per learner over seeds: mean [smallest, largest] of log p(x), of its
    paired difference from the defaults' and of MMD^2; returns them keyed by
    learner."""
    defaults = {r["seed"]: r["score"] for r in rows if r["learner"] == DEFAULTS}
    groups = {}
    for r in rows:
        groups.setdefault(r["learner"], []).append(r)
    summary = {}
    print("\nover seeds: mean [smallest, largest]")
    for name, group in groups.items():
        stats = {
            "log p(x)": [r["score"] for r in group],
            "vs defaults": [r["score"] - defaults[r["seed"]] for r in group],
            "MMD^2": [r["mmd2"] for r in group],
        }
        summary[name] = {
            key: (float(np.mean(v)), min(v), max(v)) for key, v in stats.items()
        }
        print(
            f"  {name:45s} "
            + "  ".join(
                f"{key} {m:9.3g} [{lo:9.3g}, {hi:9.3g}]"
                for key, (m, lo, hi) in summary[name].items()
            ),
            flush=True,
        )
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--widths",
        nargs="*",
        default=["8,4", "16,8", "32,10", "64,10"],
        help="fixed latent_dims to fit beside the defaults, e.g. 16,8",
    )
    parser.add_argument("--no-vimco", action="store_true")
    add_ddc_param(parser, "learning_rate=0.01")
    args = parser.parse_args(argv)
    widths = [tuple(int(v) for v in w.split(",")) for w in args.widths]
    X_train, X_test = load_binary_digits()
    print(
        f"binarised digits: {X_train.shape[0]} training / {X_test.shape[0]} "
        f"held-out images of {X_train.shape[1]} pixels; mean ink "
        f"{X_train.sum(axis=1).mean():.2f} / {X_test.sum(axis=1).mean():.2f}; "
        f"{args.epochs} epochs",
        flush=True,
    )
    rows = []
    for seed in args.seeds:
        rows += run(
            seed, widths, args.epochs, ddc_params(args.ddc_param), not args.no_vimco
        )
    if len(args.seeds) > 1:
        summarise(rows)
    return rows


if __name__ == "__main__":
    main()
