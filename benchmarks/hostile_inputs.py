"""Hostile-input audit of the public API (issue 12): what each bad input gets.

Runs a fixed grid of bad inputs through the four estimators, the encoding
transformer, the metrics and the loaders, and prints, per class of input, how
many calls ended in each outcome:

- ``ValueError`` / ``TypeError``: raised from this package or from
  scikit-learn's validation (a message naming the argument), the estimator's
  state unchanged;
- ``ok``: finite output of the documented shape;
- ``warning``: ``ok`` with a warning of this package (ConvergenceWarning,
  UserWarning) -- the documented kind;
- anything else is a problem and is listed: an exception from inside NumPy,
  SciPy or the algorithm, a non-finite output, a RuntimeWarning, or a failed
  call that changed the estimator.

Usage::

    SCIPY_ARRAY_API=1 python benchmarks/hostile_inputs.py [--quick]

The issue's author tried 511 cases; this grid makes 3,992 calls (``--quick``
fewer; 3,532 on 2026-12-01). On 2026-12-07 (one BLAS thread, 21 s): 0
problems; the outcomes per class of input are printed. The property-based
tests (tests/test_properties.py) draw 970 more in CI.
"""

import argparse
import collections
import gzip
import io
import math
import os
import pickle
import tempfile
import traceback
import warnings
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import scipy.sparse
from sklearn.base import clone

from sklearn_ddchm import DDCHelmholtzEstimator, RandomSigmoidFeatures
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import (
    binarize,
    load_idx,
    make_sparse_hierarchical,
)
from sklearn_ddchm.metrics import (
    make_mmd_scorer,
    median_heuristic,
    mmd2,
    mmd_test,
    optimize_bandwidth,
    relative_mmd_test,
)

TALLY = collections.defaultdict(collections.Counter)
PROBLEMS = []

CLEAR_ORIGINS = ("sklearn_ddchm", "sklearn/utils", "sklearn/base.py")
#: InvalidParameterError is scikit-learn's ValueError/TypeError for parameters
CLEAR_ERRORS = (
    "ValueError",
    "TypeError",
    "InvalidParameterError",
    "FileNotFoundError",
    "FloatingPointError",
    "NotFittedError",
)


def record(case_class, label, func, args=(), check=None, estimator=None):
    """Run ``func(*args)`` and file its outcome under ``case_class``."""
    before = pickle.dumps(estimator) if estimator is not None else None
    non_finite_error = False
    # verbose=True among the hyper-parameters prints progress lines: not here
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        try:
            out = func(*args)
        except (ValueError, TypeError, ArithmeticError, OSError) as exc:
            origin = traceback.extract_tb(exc.__traceback__)[-1].filename
            non_finite_error = "infinity" in str(exc) or "NaN" in str(exc)
            clear = any(o in origin for o in CLEAR_ORIGINS) and str(exc)
            outcome = type(exc).__name__ if clear else f"unclear {type(exc).__name__}"
            if estimator is not None and pickle.dumps(estimator) != before:
                outcome = "error changed the estimator"
        except Exception as exc:  # noqa: BLE001 - the audit files everything
            outcome = f"unexpected {type(exc).__name__}"
        else:
            outcome = "ok"
            if check is not None:
                problem = check(out)
                if problem:
                    outcome = problem
        runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        if runtime and outcome in CLEAR_ERRORS and non_finite_error:
            # scikit-learn's own finiteness check sums +inf and -inf: its
            # warning, before its clear error
            outcome = f"{outcome} (+ scikit-learn's RuntimeWarning)"
        elif runtime and (outcome == "ok" or outcome in CLEAR_ERRORS):
            outcome = "RuntimeWarning"
        elif outcome == "ok" and caught:
            outcome = "warning"
    TALLY[case_class][outcome] += 1
    if outcome.split(" (")[0] not in ("ok", "warning", *CLEAR_ERRORS):
        PROBLEMS.append((case_class, label, outcome))


def _call(func, args, kwargs):
    return func(*args, **kwargs)


def _fit_with(est, params, X):
    est.set_params(**params)
    est.fit(X)
    return est.score_samples(X)


def _result(res):
    """A test result's fields are finite."""
    values = [v for v in vars(res).values() if isinstance(v, float)]
    return None if all(math.isfinite(v) for v in values) else "non-finite result"


def finite(shape=None):
    def check(out):
        arr = np.asarray(out, dtype=float)
        if shape is not None and arr.shape != shape:
            return f"shape {arr.shape}"
        return None if np.isfinite(arr).all() else "non-finite output"

    return check


# ---------------------------------------------------------------------------


def estimators():
    common = dict(max_iter=2, n_importance=5, random_state=0)
    return {
        "DDC": DDCHelmholtzEstimator(
            n_encoding=8, n_hidden=8, n_sleep_samples=20, **common
        ),
        "VAE": VAEEstimator(hidden_layer_sizes=(4,), **common),
        "IWAE": IWAEEstimator(hidden_layer_sizes=(4,), n_particles=2, **common),
        "VIMCO": VIMCOEstimator(model="sbn", latent_dims=(3,), n_particles=2, **common),
    }


def clean(name, n=30, d=3, seed=0):
    rng = np.random.RandomState(seed)
    if name == "VIMCO":
        return (rng.uniform(size=(n, d)) < 0.4).astype(float)
    return rng.standard_normal((n, d))


def hostile_arrays(base, quick):
    """(class, label, X) for bad versions of the clean array ``base``."""
    n, d = base.shape
    for value in (np.nan, np.inf, -np.inf):
        X = base.copy()
        X[n // 2, d - 1] = value
        yield "NaN/inf in X", repr(value), X
    exponents = (-320, -300, -160, -80, -10, 10, 80, 160, 300, 308)
    for e in exponents[:: 3 if quick else 1]:
        with np.errstate(over="ignore"):
            yield "X scale", f"1e{e}", base * 10.0**e
        X = base.copy()
        X[0, 0] = 10.0**e if e < 309 else 1.7e308
        yield "one extreme value", f"1e{e}", X
    yield "containers", "list", base.tolist()
    yield (
        "containers",
        "pandas",
        pd.DataFrame(base, columns=[f"f{i}" for i in range(d)]),
    )
    yield "containers", "sparse csr", scipy.sparse.csr_matrix(base)
    yield "containers", "ragged list", [list(r) for r in base[:2]] + [[1.0]]
    path = os.path.join(tempfile.mkdtemp(), "mm")
    mm = np.memmap(path, dtype=float, mode="w+", shape=base.shape)
    mm[...] = base
    yield "containers", "memmap", mm
    for dtype in ("bool", "int64", "uint8", "float16", "float32", "complex128"):
        with np.errstate(all="ignore"):
            yield "dtypes", dtype, base.astype(dtype)
    yield "dtypes", "numeric strings", base.astype(str)
    yield "dtypes", "words", np.full(base.shape, "a")
    yield "dtypes", "object numbers", base.astype(object)
    yield "dtypes", "None entries", np.where(base > 0, base, None)
    yield "shapes", "1-D", base[:, 0]
    yield "shapes", "3-D", base[None]
    yield "shapes", "0 rows", base[:0]
    yield "shapes", "0 columns", base[:, :0]
    yield "shapes", "1 row", base[:1]
    yield "shapes", "scalar", 3.0
    yield "shapes", "None", None


HOSTILE_VALUES = [
    None, True, False, 0, 1, 2, -1, 0.0, 0.5, -0.5, 1e-300, 1e300,
    float("nan"), float("inf"), "bogus", "", [1], (2, 1), (1, 0), {},
]  # fmt: skip


def audit_estimators(quick):
    for name, est0 in estimators().items():
        X = clean(name)
        # fit on hostile X (fresh and on a fitted estimator)
        for cls, label, Xh in hostile_arrays(X, quick):
            est = clone(est0)
            record(f"fit: {cls}", f"{name} {label}", est.fit, (Xh,), None, est)
        fitted = clone(est0).fit(X)
        for cls, label, Xh in hostile_arrays(X, quick):
            for method in ("transform", "score_samples", "score"):
                record(
                    f"{method}: {cls}",
                    f"{name} {label}",
                    getattr(fitted, method),
                    (Xh,),
                    finite(),
                    fitted,
                )
            est = pickle.loads(pickle.dumps(fitted))
            record(f"partial_fit: {cls}", label, est.partial_fit, (Xh,), None, est)
            est = pickle.loads(pickle.dumps(fitted)).set_params(warm_start=True)
            record(f"warm fit: {cls}", f"{name} {label}", est.fit, (Xh,), None, est)
        # wrong widths
        for d in (1, 2, 4, 10):
            Xw = clean(name, d=d, seed=1)
            record("wrong width", f"{name} transform d={d}", fitted.transform, (Xw,))
            est = pickle.loads(pickle.dumps(fitted)).set_params(warm_start=True)
            record("wrong width", f"{name} warm fit d={d}", est.fit, (Xw,), None, est)
        # unfitted use
        for method, args in [
            ("transform", (X,)),
            ("score", (X,)),
            ("score_samples", (X,)),
            ("sample", (3,)),
            ("get_feature_names_out", ()),
        ]:
            record(
                "unfitted use", f"{name} {method}", getattr(clone(est0), method), args
            )
        # sample's argument
        for n_samples in (0, -1, 1.5, True, "3", None, 10**0, 2):
            label = f"{name} {n_samples!r}"
            record("sample(n_samples)", label, fitted.sample, (n_samples,), finite())
        # hyper-parameters
        for param in sorted(type(est0)._parameter_constraints):
            for value in HOSTILE_VALUES[:: 3 if quick else 1]:
                if param == "learning_rate" and isinstance(value, float):
                    if math.isfinite(value) and value > 0.1:
                        continue  # blow-ups: the divergence guard's cases
                if param in ("max_iter", "n_sleep_samples") and value == 1e300:
                    continue
                record(
                    "hyper-parameters", f"{name} {param}={value!r}", _fit_with,
                    (clone(est0), {param: value}, X), finite(),
                )  # fmt: skip


def audit_features(quick):
    X = clean("DDC")
    for cls, label, Xh in hostile_arrays(X, quick):
        est = RandomSigmoidFeatures(n_components=4, random_state=0)
        record(f"fit: {cls}", f"features {label}", est.fit, (Xh,), None, est)
        fitted = RandomSigmoidFeatures(n_components=4, random_state=0).fit(X)
        record(
            f"transform: {cls}", f"features {label}", fitted.transform, (Xh,),
            finite(), fitted,
        )  # fmt: skip
        record(f"refit: {cls}", f"features {label}", fitted.fit, (Xh,), None, fitted)


BANDWIDTHS = [
    "median", "power", 5e-324, 1e-300, 1e-160, 1e-8, 1.0, 1e8, 1e160, 1e300,
    1.7e308, 0.0, -1.0, float("nan"), float("inf"), "bogus", None, True,
]  # fmt: skip


def audit_metrics(quick):
    rng = np.random.RandomState(0)
    X, Y, Z = rng.standard_normal((3, 12, 2))
    Y += 0.5
    cases = list(hostile_arrays(X, quick))
    for cls, label, Xh in cases:
        for est in ("unbiased", "biased", "linear"):
            record(
                f"metrics: {cls}", f"mmd2 {est} {label}", _call,
                (mmd2, (Xh, Y), dict(estimator=est)), finite(),
            )  # fmt: skip
        record(f"metrics: {cls}", f"median {label}", median_heuristic, (Xh, Y))
        record(
            f"metrics: {cls}", f"mmd_test {label}", _call,
            (mmd_test, (Xh, Y), dict(n_permutations=20, random_state=0)), _result,
        )  # fmt: skip
        record(
            f"metrics: {cls}", f"relative {label}", relative_mmd_test, (Xh, Y, Z),
            _result,
        )  # fmt: skip
        record(
            f"metrics: {cls}", f"optimize {label}", _call,
            (optimize_bandwidth, (Xh, Y), dict(n_grid=3)), finite(),
        )  # fmt: skip
    for bw in BANDWIDTHS:
        for est in ("unbiased", "biased", "linear"):
            record(
                "metrics: bandwidth", f"mmd2 {bw!r} {est}", _call,
                (mmd2, (X, Y), dict(bandwidth=bw, estimator=est)), finite(),
            )  # fmt: skip
        record(
            "metrics: bandwidth", f"mmd_test {bw!r}", _call,
            (mmd_test, (X, Y), dict(bandwidth=bw, n_permutations=9)), _result,
        )  # fmt: skip
        record(
            "metrics: bandwidth", f"relative {bw!r}", _call,
            (relative_mmd_test, (X, Y, Z), dict(bandwidth=bw)), _result,
        )  # fmt: skip
        record(
            "metrics: bandwidth", f"scorer {bw!r}", _call,
            (make_mmd_scorer, (), dict(bandwidth=bw)),
        )  # fmt: skip
    for key, value in [("n_permutations", v) for v in (0, -1, 1.5, True, None, "5")] + [
        ("block_size", v) for v in (0, -1, 1.5, True, None)
    ]:
        record(
            "metrics: other parameters", f"mmd_test {key}={value!r}", _call,
            (mmd_test, (X, Y), {key: value}), _result,
        )  # fmt: skip


def audit_datasets(quick):
    rng = np.random.RandomState(0)
    base = rng.randint(0, 256, (4, 5)).astype(float)
    for cls, label, Xh in hostile_arrays(base, quick):
        record(f"binarize: {cls}", label, binarize, (Xh, 0))
    for label, Xh in [
        ("negative", -base),
        ("above 255", base + 300),
        ("in [0, 1]", base / 255),
        ("binary ints", (base > 100).astype(int)),
    ]:
        record("binarize: values", label, binarize, (Xh, 0))
    tmp = tempfile.mkdtemp()
    good = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(6)
    files = {
        "good": good,
        "empty": b"",
        "2 bytes": good[:2],
        "6 bytes": bytes([0, 0, 8, 3, 0, 0]),
        "bad magic": b"\x01" + good[1:],
        "bad type code": good[:2] + b"\x07" + good[3:],
        "short payload": good[:-1],
        "long payload": good + b"\x00",
        "huge shape": bytes([0, 0, 8, 3]) + b"\xff" * 12,
    }
    for label, payload in files.items():
        for compress in ("none", "gzip", "truncated gzip"):
            path = os.path.join(tmp, f"{label}-{compress}".replace(" ", "_"))
            data = gzip.compress(payload) if compress != "none" else payload
            if compress == "truncated gzip":
                data = data[: len(data) // 2]
            path += ".gz" if compress != "none" else ""
            with open(path, "wb") as f:
                f.write(data)
            record("load_idx", f"{label} {compress}", load_idx, (path,))
    record("load_idx", "missing file", load_idx, (os.path.join(tmp, "nothing"),))
    for key, values in [
        ("n_samples", (0, -1, 2.5, True, "5", None)),
        ("n_features", (0, -1, 1.5, True)),
        ("latent_dims", ((), (2,), (2, 0), (2, -1), "ab", None)),
        ("m", (0, -1, float("nan"), float("inf"), 1e155, "3", None, True)),
        ("sigma", (0, -1, float("nan"), float("inf"), 1e300, "3")),
        ("noise_variance", (0, -1, float("nan"), float("inf"), 1e300)),
    ]:
        for value in values:
            record(
                "make_sparse_hierarchical", f"{key}={value!r}", _call,
                (make_sparse_hierarchical, (), {"n_samples": 5, key: value,
                                                "random_state": 0}),
                lambda out: finite()(out[0]),
            )  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    args = parser.parse_args()
    audit_estimators(args.quick)
    audit_features(args.quick)
    audit_metrics(args.quick)
    audit_datasets(args.quick)
    total = sum(sum(c.values()) for c in TALLY.values())
    print(f"{total} hostile calls\n")
    groups = collections.defaultdict(collections.Counter)
    for case_class, counter in TALLY.items():
        groups[case_class.split(": ")[-1]].update(counter)
    width = max(len(k) for k in groups)
    for case_class in sorted(groups):
        counts = ", ".join(f"{k} {v}" for k, v in groups[case_class].most_common())
        print(f"{case_class:<{width}}  {counts}")
    print(f"\n{len(PROBLEMS)} problems")
    for case_class, label, outcome in PROBLEMS:
        print(f"  {case_class}: {label}: {outcome}")


if __name__ == "__main__":
    main()
