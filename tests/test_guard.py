"""The divergence guard: finite blow-ups stop with one warning and sane parameters.

The cases of issue 12's "silent wrong results" (1) live here: a sigmoid belief
network at ``learning_rate=1e6`` and continuous models at 10-100 ran away
without any warning, because only non-finite numbers were checked.
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ddchm import DDCHelmholtzEstimator, UnreliableScoreWarning
from sklearn_ddchm._guard import (
    COLLAPSE_FALL,
    DRIFT_FRACTION,
    DRIFT_ROWS,
    EXPLAINING_SHARE,
    HEALTHY_SHARE_FRACTION,
    PARAMETER_GROWTH_LIMIT,
    SAMPLE_SCALE_LIMIT,
    DivergenceGuard,
    guard_draws,
    latent_variance_share,
)
from sklearn_ddchm.baselines import IWAEEstimator, VIMCOEstimator
from sklearn_ddchm.datasets import make_sparse_hierarchical
from sklearn_ddchm.models import BernoulliLayer, GaussianLayer
from sklearn_ddchm.utils._exact import sparse_quadrature_log_likelihood


@pytest.fixture(scope="module")
def digits():
    return (load_digits().data[:600] > 7).astype(float)


@pytest.fixture(scope="module")
def sparse_data():
    X, _, _ = make_sparse_hierarchical(1000, random_state=0)
    return X


def _fit_recording(est, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def _largest_parameter(est):
    return max(float(np.max(np.abs(v))) for v in est.model_.get_parameters().values())


@pytest.mark.parametrize(
    "make",
    [
        lambda: DDCHelmholtzEstimator(
            model="sbn", latent_dims=(10,), n_encoding=20, n_hidden=30
        ),
        lambda: VIMCOEstimator(latent_dims=(10,), n_particles=5),
    ],
    ids=["ddc", "vimco"],
)
def test_sbn_at_an_absurd_step_stops_with_one_warning_and_sane_parameters(make, digits):
    est = make().set_params(learning_rate=1e6, max_iter=3, random_state=0)
    caught = _fit_recording(est, digits)
    assert len(caught) == 1
    assert "diverged" in str(caught[0].message)
    assert "learning_rate" in str(caught[0].message)
    assert est.diverged_
    # before the fix: parameters of 1.8e6 and samples of all zeros
    assert _largest_parameter(est) < 100
    samples = np.asarray(est.sample(300, random_state=0))
    assert 0.01 < samples.mean() < 0.99
    with pytest.warns(UnreliableScoreWarning, match="diverged"):
        assert np.isfinite(est.score(digits[:50]))


@pytest.mark.parametrize("learning_rate", [10.0, 100.0])
@pytest.mark.parametrize(
    "make",
    [
        lambda: DDCHelmholtzEstimator(n_sleep_samples=300),
        lambda: IWAEEstimator(n_particles=5),
    ],
    ids=["ddc", "iwae"],
)
def test_continuous_model_at_a_large_step_stops_with_one_warning(
    make, learning_rate, sparse_data
):
    est = make().set_params(learning_rate=learning_rate, max_iter=3, random_state=0)
    caught = _fit_recording(est, sparse_data)
    assert len(caught) == 1
    assert est.diverged_
    params = est.model_.get_parameters()
    assert all(np.all(np.isfinite(v)) for v in params.values())
    samples = np.asarray(est.sample(500, random_state=0))
    # before the fix: samples up to 1.5e37 against data of spread ~2
    assert samples.std() < 100 * sparse_data.std()
    with pytest.warns(UnreliableScoreWarning, match="diverged"):
        est.score(sparse_data[:50])


def test_a_clean_fit_is_not_flagged(sparse_data):
    est = DDCHelmholtzEstimator(max_iter=2, n_sleep_samples=300, random_state=0)
    assert _fit_recording(est, sparse_data) == []
    assert not est.diverged_
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliableScoreWarning)
        est.score(sparse_data[:50])


def _guarded(X):
    est = DDCHelmholtzEstimator(max_iter=1, n_sleep_samples=200, random_state=0)
    est.fit(X)
    return est, DivergenceGuard(est, X)


def test_guard_names_each_kind_of_runaway(sparse_data):
    est, guard = _guarded(sparse_data)
    assert guard.check(criterion=-3.0) is None
    params = est.model_.get_parameters()
    # a parameter beyond the growth limit
    big = params["layer1.weights"] * 0 + 2 * PARAMETER_GROWTH_LIMIT * 10
    est.model_.set_parameters({"layer1.weights": big})
    assert "parameter" in guard.check()
    guard.restore()
    np.testing.assert_array_equal(
        est.model_.get_parameters()["layer1.weights"], params["layer1.weights"]
    )
    # a criterion no model of the data's scale reaches (a collapsed variance)
    assert "criterion" in guard.check(criterion=60.0 * sparse_data.shape[1])
    assert "criterion" in guard.check(criterion=float("nan"))
    # samples spread far beyond the data
    wide = params["layer0.weights"] * 10 * SAMPLE_SCALE_LIMIT
    est.model_.set_parameters({"layer0.weights": wide})
    assert "samples spread" in guard.check()


def test_guard_restores_the_optimiser_state_it_saved(sparse_data):
    est, guard = _guarded(sparse_data)
    opt = est.optimizer_
    saved_steps = opt.n_steps
    first = dict(opt.first_moment)
    opt.n_steps += 5
    opt.first_moment = {k: v + 1 for k, v in opt.first_moment.items()}
    guard.restore()
    assert opt.n_steps == saved_steps
    for k, v in first.items():
        np.testing.assert_array_equal(opt.first_moment[k], v)


def test_windows_without_a_criterion_are_still_checked(sparse_data, monkeypatch):
    # An epoch of 20 minibatches with the criterion on its first only (every
    # 20th) and a check every 5 steps: the checks of steps 10, 15 and 20 see
    # no criterion and still run their other tests, and still save.
    import sklearn_ddchm._base as base
    from sklearn_ddchm._guard import DivergenceGuard

    monkeypatch.setattr(base, "CRITERION_BATCHES_PER_EPOCH", 1)
    monkeypatch.setattr(base, "GUARD_EVERY_STEPS", 5)
    seen, saved = [], []
    check, save = DivergenceGuard.check, DivergenceGuard.save

    def recording_check(self, criterion=None, step=None):
        seen.append(criterion)
        return check(self, criterion, step)

    def recording_save(self, step):
        saved.append(step)
        return save(self, step)

    monkeypatch.setattr(DivergenceGuard, "check", recording_check)
    monkeypatch.setattr(DivergenceGuard, "save", recording_save)
    X = sparse_data[:400]
    est = DDCHelmholtzEstimator(
        n_encoding=10, n_hidden=10, n_sleep_samples=50, batch_size=20, max_iter=1
    )
    est.set_params(random_state=0).fit(X)
    assert saved == [0, 5, 10, 15, 20]  # the start, then every check
    assert seen[0] is not None and np.isfinite(seen[0])
    assert seen[1:] == [None, None, None]


# --------------------------------------------------------------------------
# a collapse: finite, within every scale, and useless


def test_latent_variance_share_matches_the_linear_gaussian_closed_form():
    # x | z ~ N(L z + b, diag(psi)), z ~ N(0, S): the latents explain
    # tr(L S L^T) of the total tr(L S L^T) + sum(psi)
    rng = np.random.RandomState(0)
    loadings = rng.randn(4, 2)
    psi = np.array([0.1, 0.5, 1.0, 2.0])
    S = np.array([[1.0, 0.6], [0.6, 4.0]])
    layer = GaussianLayer(
        4, 2, weights=loadings, bias=rng.randn(4), log_var=np.log(psi)
    )
    z = rng.multivariate_normal(np.zeros(2), S, size=200_000)
    explained = np.trace(loadings @ S @ loadings.T)
    expected = explained / (explained + psi.sum())
    assert latent_variance_share(layer, z) == pytest.approx(expected, rel=5e-3)
    ignored = GaussianLayer(
        4, 2, weights=0 * loadings, bias=rng.randn(4), log_var=np.log(psi)
    )
    assert latent_variance_share(ignored, z) == pytest.approx(0.0, abs=1e-15)


def test_latent_variance_share_of_bernoulli_pixels_by_enumeration():
    # z uniform over the 8 states of 3 bits: the outer moments are sums over
    # the states, Var E[x|z] = mean (p - mean p)^2 and E Var = mean p (1 - p)
    rng = np.random.RandomState(1)
    weights, bias = 2 * rng.randn(5, 3), rng.randn(5)
    layer = BernoulliLayer(5, 3, weights=weights, bias=bias)
    states = np.array([[(k >> j) & 1 for j in range(3)] for k in range(8)], float)
    p = 1 / (1 + np.exp(-(states @ weights.T + bias)))
    explained = np.sum(np.mean((p - p.mean(axis=0)) ** 2, axis=0))
    residual = np.sum(np.mean(p * (1 - p), axis=0))
    assert latent_variance_share(layer, states) == pytest.approx(
        explained / (explained + residual), rel=1e-12
    )


def _first_run_guard(X):
    """A fitted estimator and a guard of a new fit's first run (as ``fit``
    starts it: no earlier share), the share at its start, the loadings."""
    est, _ = _guarded(X)
    est._largest_latent_share = est._healthy_snapshot = None
    guard = DivergenceGuard(est, X)
    weights = est.model_.get_parameters()["layer0.weights"]
    return est, guard, guard.largest_share, weights


def test_guard_names_a_collapse_but_not_a_model_that_never_used_its_latents(
    sparse_data,
):
    est, guard, _, weights = _first_run_guard(sparse_data)
    assert guard.check(step=5) is None and not guard.collapsed
    est.model_.set_parameters({"layer0.weights": weights * 1e-3})
    reason = guard.check(step=7)
    assert guard.collapsed
    assert "latent layers explain" in reason and "the start of this run" in reason
    # a guard that starts at that model saw no larger share: nothing fell
    est._largest_latent_share = None
    fresh = DivergenceGuard(est, sparse_data)
    assert fresh.check(step=1) is None and not fresh.collapsed


def _guard_share(est):
    # the share by the guard's own draws (fixed seed)
    return guard_draws(est.model_)[1]


def test_a_collapse_goes_back_to_the_last_healthy_check(sparse_data):
    est, guard, start, weights = _first_run_guard(sparse_data)
    # a healthy check, then one on the way down (passed, not healthy)
    est.model_.set_parameters({"layer0.weights": weights * 0.99})
    assert guard.check(step=10) is None
    guard.save(10)
    healthy = est.model_.get_parameters()
    assert guard.share >= HEALTHY_SHARE_FRACTION * start
    est.model_.set_parameters({"layer0.weights": weights * 0.06})
    assert guard.check(step=20) is None
    guard.save(20)
    assert guard.share < HEALTHY_SHARE_FRACTION * start
    est.model_.set_parameters({"layer0.weights": weights * 1e-3})
    assert guard.check(step=30) is not None and guard.collapsed
    guard.restore(healthy=True)
    assert guard.healthy_step == 10
    for name, value in est.model_.get_parameters().items():
        np.testing.assert_array_equal(value, healthy[name])
    # a run (a later partial_fit call's) that starts below the healthy range
    # of an earlier run's largest share goes back to that run's last healthy
    # check ...
    est._largest_latent_share = 2 * start
    est.model_.set_parameters({"layer0.weights": weights * 0.06})
    later = DivergenceGuard(est, sparse_data)
    est.model_.set_parameters({"layer0.weights": weights * 1e-3})
    assert later.check(step=5) is not None and later.collapsed
    later.restore(healthy=True)
    assert later.healthy_step is None
    np.testing.assert_array_equal(
        est.model_.get_parameters()["layer0.weights"], healthy["layer0.weights"]
    )
    # ... or, if none is kept, to where it started
    est._healthy_snapshot = None
    est.model_.set_parameters({"layer0.weights": weights * 0.06})
    fresh = DivergenceGuard(est, sparse_data)
    est.model_.set_parameters({"layer0.weights": weights * 1e-3})
    assert fresh.check(step=5) is not None and fresh.collapsed
    fresh.restore(healthy=True)
    assert fresh.healthy_step == 0
    np.testing.assert_array_equal(
        est.model_.get_parameters()["layer0.weights"], weights * 0.06
    )


def test_a_collapse_between_partial_fit_calls_goes_back_to_the_earlier_call(
    sparse_data,
):
    # steps too small to undo the collapse made between the calls; without
    # partial_fit's averaging model_ is what the next call continues from
    est = DDCHelmholtzEstimator(
        n_sleep_samples=200, learning_rate=1e-6, random_state=0, average_fraction=0.0
    )
    est.partial_fit(sparse_data)
    before = est.model_.get_parameters()
    weights = before["layer0.weights"]
    est.model_.set_parameters({"layer0.weights": weights * 1e-3})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.partial_fit(sparse_data)
    messages = [
        str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)
    ]
    assert len(messages) == 1 and "an earlier call's" in messages[0]
    assert est.diverged_
    for name, value in est.model_.get_parameters().items():
        np.testing.assert_array_equal(value, before[name])
    # fit keeps no such copy in the fitted estimator
    est.set_params(max_iter=1).fit(sparse_data)
    assert est._healthy_snapshot is None


def _collapse_data():
    # the paper's synthetic model, seed 2, as bench_ddc_defaults.py draws it
    X, _, _ = make_sparse_hierarchical(8000, random_state=2)
    return X[:4000]


def test_a_collapsing_fit_stops_with_one_warning_and_scores_without_one():
    # At ridge=3e-5 this fit's latent share fell from 0.998 to 0.004 and it
    # ended 2 nats per point below the truth with no warning at all; the
    # check stops it at 2.6% and goes back to the last healthy check.
    X = _collapse_data()
    est = DDCHelmholtzEstimator(max_iter=30, ridge=3e-5, random_state=2)
    caught = _fit_recording(est, X)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "collapsed" in message and "ridge" in message
    assert "restored the parameters after step" in message
    assert est.diverged_ and est.n_iter_ < 30
    params = est.model_.get_parameters()
    assert all(np.all(np.isfinite(v)) for v in params.values())
    kept = _guard_share(est)
    assert kept >= HEALTHY_SHARE_FRACTION * est._largest_latent_share
    assert f"{kept:.1%}" in message
    # and it is the better model: by quadrature, 1.35 nats per held-out point
    # below the truth, where the fit stopped at 2.76 below and, unchecked,
    # ended at 1.97 below
    data, _, truth = make_sparse_hierarchical(8000, random_state=2)
    X_held_out = data[4000:4100]
    gap = np.mean(sparse_quadrature_log_likelihood(est.model_, X_held_out)) - np.mean(
        sparse_quadrature_log_likelihood(truth, X_held_out)
    )
    assert -1.7 < gap < -1.0
    # the estimate of a collapsed fit's likelihood is as good as any
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliableScoreWarning)
        assert np.isfinite(est.score(X[:50]))


def test_the_same_fit_at_the_default_ridge_is_not_flagged():
    est = DDCHelmholtzEstimator(max_iter=30, random_state=2)
    assert _fit_recording(est, _collapse_data()) == []
    assert not est.diverged_


def test_the_collapse_reference_spans_partial_fit_calls_and_resets_with_fit(
    sparse_data,
):
    # each partial_fit call is a run of its own; the largest share is the
    # fit's, so a model that collapsed between calls is caught at the next
    est = DDCHelmholtzEstimator(n_sleep_samples=200, random_state=0)
    est.partial_fit(sparse_data)
    largest = est._largest_latent_share
    assert largest > 0.9
    weights = est.model_.get_parameters()["layer0.weights"]
    est.model_.set_parameters({"layer0.weights": weights * 1e-3})
    guard = DivergenceGuard(est, sparse_data)  # as the next call makes it
    assert guard.largest_share == largest
    assert "an earlier run of this fit" in guard.check(step=3)
    # fit starts a new reference (no share exceeds 1)
    est._largest_latent_share = 2.0
    est.set_params(max_iter=1).fit(sparse_data)
    assert est._largest_latent_share <= 1.0


def test_n_init_keeps_a_start_that_did_not_collapse():
    # the warning's advice: the first start is the collapsing fit above, the
    # second (a seed drawn from random_state=2) is not, and it is kept
    # without the first's warning
    X = _collapse_data()
    est = DDCHelmholtzEstimator(max_iter=30, ridge=3e-5, random_state=2, n_init=2)
    assert _fit_recording(est, X) == []
    assert not est.diverged_
    samples, latents = est.model_.sample(2000, random_state=0)
    assert latent_variance_share(est.model_.layers[0], latents[0]) > 0.9


def test_white_noise_is_not_a_collapse():
    # the data-based start of white noise explains a few percent of it, below
    # EXPLAINING_SHARE: however far that shrinks, nothing collapsed
    X = np.random.RandomState(0).randn(2000, 10)
    est = DDCHelmholtzEstimator(max_iter=30, random_state=0)
    assert _fit_recording(est, X) == []
    assert est._largest_latent_share < EXPLAINING_SHARE


def test_a_share_that_fell_less_than_tenfold_is_not_a_collapse(sparse_data):
    est, guard, start, weights = _first_run_guard(sparse_data)
    # loadings at half their size: the share falls, but by far less than
    # COLLAPSE_FALL
    est.model_.set_parameters({"layer0.weights": weights * 0.5})
    assert guard.check(step=1) is None
    samples, latents = est.model_.sample(256, random_state=0)
    share = latent_variance_share(est.model_.layers[0], latents[0])
    assert start / COLLAPSE_FALL < share < start


def test_guard_calls_a_share_fallen_below_the_drift_fraction_drifted(sparse_data):
    est, guard, start, weights = _first_run_guard(sparse_data)
    assert guard.check(step=1) is None and not guard.drifted()
    # loadings at 0.02 of their size: below DRIFT_FRACTION of the start's
    # share, far above a collapse
    est.model_.set_parameters({"layer0.weights": weights * 0.02})
    assert guard.check(step=2) is None
    assert guard.share < DRIFT_FRACTION * start and guard.drifted()
    # a model that never explained much has nothing to drift from
    est._largest_latent_share = None
    est.model_.set_parameters({"layer0.weights": weights * 0.01})
    fresh = DivergenceGuard(est, sparse_data)
    est.model_.set_parameters({"layer0.weights": weights * 0.005})
    assert fresh.check(step=1) is None
    assert fresh.share < DRIFT_FRACTION * fresh.largest_share
    assert fresh.largest_share < EXPLAINING_SHARE and not fresh.drifted()


def _drifting_fit(X, monkeypatch, scales, make=None):
    """A fit at a step too small to move the model, whose loadings are
    multiplied by ``scales[k]`` just before its step ``k`` (0-based): a drift
    (or a move) made on purpose, for the fit's end to judge. 1,000 rows in
    minibatches of 100 and 3 epochs: checks after steps 10, 20 and 30."""
    if make is None:
        est = DDCHelmholtzEstimator(
            max_iter=3, learning_rate=1e-7, n_sleep_samples=200, random_state=0
        )
    else:
        est = make()
    Estimator = type(est)
    step = Estimator._step
    calls = []

    def moved_step(self, *args, **kwargs):
        if len(calls) in scales:
            weights = self.model_.get_parameters()["layer0.weights"]
            self.model_.set_parameters({"layer0.weights": weights * scales[len(calls)]})
        calls.append(1)
        return step(self, *args, **kwargs)

    settle = Estimator._settle_drift
    settled = []

    def recorded_settle(self, *args, **kwargs):
        settled.append(1)
        return settle(self, *args, **kwargs)

    monkeypatch.setattr(Estimator, "_step", moved_step)
    monkeypatch.setattr(Estimator, "_settle_drift", recorded_settle)
    caught = _fit_recording(est, X)
    monkeypatch.undo()
    return est, caught, len(settled)


def _quoted_scores(message):
    # "... ended at <end>, below the <healthy> (+- <error>) of ..."
    found = re.search(r"ended at (\S+), below the (\S+) \(\+- (\S+)\) of", message)
    return float(found.group(1)), float(found.group(2))


def test_a_drifted_fit_keeps_its_last_healthy_check_with_one_warning(
    sparse_data, monkeypatch
):
    # the loadings shrink to 2% before step 15: step 10 is the last
    # healthy check, and the end (the same model, shrunk) is far worse
    est, caught, settled = _drifting_fit(sparse_data, monkeypatch, {15: 0.02})
    assert settled == 1 and len(caught) == 1
    message = str(caught[0].message)
    assert "drifted away from the data" in message
    assert "the parameters after step 10" in message and "early_stopping" in message
    assert not est.diverged_ and est.n_iter_ == 3
    # it is the model of the same fit undisturbed (a step of 1e-7 moves none)
    undisturbed, quiet, settled = _drifting_fit(sparse_data, monkeypatch, {})
    assert quiet == [] and settled == 0
    np.testing.assert_allclose(
        est.model_.get_parameters()["layer0.weights"],
        undisturbed.model_.get_parameters()["layer0.weights"],
        rtol=1e-4,
    )
    end, healthy = _quoted_scores(message)
    assert healthy > end + 1
    # the warning's figure is the kept model's estimate on the same rows (up
    # to the recognition model, which the fit's end refits on new samples)
    rows = sparse_data[np.random.RandomState(0).permutation(1000)[:DRIFT_ROWS]]
    assert est._mean_log_likelihood(rows, random_state=0) == pytest.approx(
        healthy, abs=0.05
    )


def test_a_share_that_fell_with_a_better_model_keeps_the_fit_s_end(monkeypatch):
    # weak signal in noise: the data-based start explains 8% of it.
    # Inflated tenfold before step 0 (a share of 0.9, a poor model) and put
    # back before step 15, the share falls below DRIFT_FRACTION of its
    # largest, but the end is the better model: kept, with no warning
    rng = np.random.RandomState(0)
    X = rng.laplace(size=(1000, 1)) @ rng.randn(1, 20) * 0.2 + rng.randn(1000, 20)
    est, caught, settled = _drifting_fit(X, monkeypatch, {0: 10.0, 15: 0.1})
    assert settled == 1 and caught == []
    assert _guard_share(est) < DRIFT_FRACTION * est._largest_latent_share
    undisturbed, _, _ = _drifting_fit(X, monkeypatch, {})
    np.testing.assert_allclose(
        est.model_.get_parameters()["layer0.weights"],
        undisturbed.model_.get_parameters()["layer0.weights"],
        rtol=1e-4,
    )


def test_a_baseline_s_drifted_fit_keeps_its_last_healthy_check(
    sparse_data, monkeypatch
):
    # the comparison lives in the training driver that every estimator shares
    def make():
        return IWAEEstimator(
            max_iter=3, learning_rate=1e-7, n_particles=5, random_state=0
        )

    est, caught, settled = _drifting_fit(sparse_data, monkeypatch, {15: 0.02}, make)
    assert settled == 1 and len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("IWAEEstimator drifted away from the data")
    end, healthy = _quoted_scores(message)
    assert healthy > end + 1
    undisturbed, quiet, _ = _drifting_fit(sparse_data, monkeypatch, {}, make)
    assert quiet == []
    np.testing.assert_allclose(
        est.model_.get_parameters()["layer0.weights"],
        undisturbed.model_.get_parameters()["layer0.weights"],
        rtol=1e-4,
    )


def test_paired_gain_is_the_paired_t_statistic_s_parts():
    from scipy.stats import ttest_rel

    from sklearn_ddchm._base import _paired_gain

    rng = np.random.RandomState(0)
    worse = rng.randn(500) * 10 - 300
    better = worse + 0.5 + rng.randn(500)
    gain, error = _paired_gain(better, worse)
    assert gain == pytest.approx(np.mean(better - worse))
    assert gain / error == pytest.approx(ttest_rel(better, worse).statistic)
    # a model that fails on a row loses to one that does not
    broken = better.copy()
    broken[3] = -np.inf
    assert _paired_gain(broken, worse)[0] == -np.inf
    assert _paired_gain(better, broken)[0] == np.inf


def test_a_comparison_within_its_noise_keeps_the_fit_s_end(sparse_data, monkeypatch):
    # the check "likelier" by 0.01 nat per row with paired differences of
    # standard deviation 1 on 1,000 rows (standard error 0.03): within the
    # comparison's noise, so the fit keeps its end and says nothing
    rng = np.random.RandomState(0)
    end_rows = rng.randn(DRIFT_ROWS) - 5.0
    noise = rng.randn(DRIFT_ROWS)
    healthy_rows = end_rows + 0.01 + noise - noise.mean()
    answers = iter([end_rows, healthy_rows])
    monkeypatch.setattr(
        DDCHelmholtzEstimator,
        "_row_log_likelihoods",
        lambda self, X, random_state=None: next(answers),
    )
    est, caught, settled = _drifting_fit(sparse_data, monkeypatch, {15: 0.02})
    assert settled == 1 and caught == []
    shrunk = est.model_.get_parameters()["layer0.weights"]
    undisturbed = _drifting_fit(sparse_data, monkeypatch, {})[0]
    # the end kept: the loadings shrunk before step 15
    np.testing.assert_allclose(
        shrunk,
        0.02 * undisturbed.model_.get_parameters()["layer0.weights"],
        rtol=1e-3,
    )
