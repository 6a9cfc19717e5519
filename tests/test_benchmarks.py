"""benchmarks/paper_patches.py (the paper's Table 1) runs end to end at a tiny size."""

import csv
import importlib.util
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "paper_patches.py"


def load_script(name="paper_patches"):
    """The benchmark ``benchmarks/<name>.py`` imported as a module."""
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_paper_patches_quick_run_writes_the_table(tmp_path):
    # Two images in the van Hateren format, so the test needs no Pillow.
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.RandomState(0)
    for i in range(2):
        pixels = rng.randint(1, 4096, size=(1024, 1536))
        pixels.astype(">u2").tofile(images / f"imk{i:05d}.iml")
    out = tmp_path / "out"
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--images", str(images)]
        + ["--output", str(out), "--seed", "1", "--save", str(tmp_path / "models")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DDC-HM" in result.stdout and "IWAE-50" in result.stdout
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and (rows[0]["D1"], rows[0]["D2"]) == ("10", "10")
    for key in (
        "mmd2_ddchm",
        "mmd2_iwae50",
        "mmd2_gmm20",
        "mmd2_gaussian",
        "mmd2_reference",
        "floor",
    ):
        assert math.isfinite(float(rows[0][key]))
    for key in (
        "p_ddc_vs_iwae50",
        "p_ddc_vs_gmm20",
        "p_ddc_vs_iwae50_table_width",
    ):
        assert 0 <= float(rows[0][key]) <= 1
    X_test = np.load(tmp_path / "models" / "X_test.npy")
    assert X_test.shape == (200, 256)
    for name in ("DDC-HM", "IWAE-50"):
        with open(tmp_path / "models" / f"{name}-10x10.pkl", "rb") as f:
            est = pickle.load(f)
        assert est.n_features_in_ == 256 and np.all(np.isfinite(est.sample(3)))
    # --rescore re-draws the run's samples: the same MMD^2, and the score
    rescored = load_script().rescore(tmp_path / "models", seed=1, log=None)
    assert [(r["D1"], r["D2"]) for r in rescored] == [(10, 10)]
    for key in ("mmd2_ddchm", "mmd2_iwae50", "score_ddchm", "score_iwae50"):
        assert rescored[0][key] == pytest.approx(float(rows[0][key]), rel=1e-6)
    assert 0 < rescored[0]["min_noise_ddchm"] <= rescored[0]["noise_ddchm"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["n_train"] == 500
    ddc = saved["config"]["estimators"]["DDC-HM"]
    assert ddc["n_encoding"] == [500, 100] and ddc["n_hidden"] == 500
    assert ddc["n_sleep_samples"] == 1000
    for curve in saved["table"][0]["curves"].values():
        seconds = [point["seconds"] for point in curve]
        assert len(curve) >= 1 and seconds == sorted(seconds)
        assert all(math.isfinite(point["mmd2"]) for point in curve)
        assert all(math.isfinite(point["score"]) for point in curve)


def test_linear_model_reference_against_sklearn_pca():
    # An independent computation: scikit-learn's PCA (an SVD) gives the
    # leading directions and the trailing eigenvalues.
    from sklearn.decomposition import PCA

    bench = load_script()
    rng = np.random.RandomState(0)
    X = rng.standard_normal((3000, 6)) @ rng.standard_normal((6, 6)) + 2.0
    k = 2
    S, noise_variance = bench.linear_model_reference(X, k, 200_000, random_state=1)
    pca = PCA(n_components=6).fit(X)
    # the total noise is exactly PCA's residual: the trailing eigenvalues
    assert noise_variance.sum() == pytest.approx(pca.explained_variance_[k:].sum())
    leading = pca.components_[:k].T
    projector = leading @ leading.T
    residual_cov = (np.eye(6) - projector) @ np.cov(X.T) @ (np.eye(6) - projector)
    np.testing.assert_allclose(noise_variance, np.diag(residual_cov), rtol=1e-10)
    # the samples: the data's projection plus that noise, independent of it
    expected_cov = projector @ np.cov(X.T) @ projector + np.diag(noise_variance)
    np.testing.assert_allclose(
        np.cov(S.T), expected_cov, atol=0.03 * np.trace(expected_cov) / 6
    )
    np.testing.assert_allclose(S.mean(axis=0), X.mean(axis=0), atol=0.05)
    # the projection keeps real rows: off the noise, samples lie in a k-plane
    S_exact, _ = bench.linear_model_reference(
        np.c_[X[:, :2], X[:, :2] @ [[1.0], [2.0]]], 2, 50
    )
    assert np.linalg.matrix_rank(S_exact - S_exact.mean(axis=0), tol=1e-6) <= 3


def use_fake_patches(monkeypatch, bench, n_train, n_test):
    """Laplace data of 4 x 4 "patches" in place of the photographs."""
    rng = np.random.RandomState(0)
    data = type("Data", (), {})()
    data.X_train = rng.laplace(size=(n_train, 16))
    data.X_test = rng.laplace(size=(n_test, 16))
    data.patch_size, data.scale = 4, 1.0
    monkeypatch.setattr(bench, "load_data", lambda *a, **k: (data, "test data"))


def test_paper_patches_baselines_only_fits_no_learner(tmp_path, monkeypatch):
    bench = load_script()
    monkeypatch.setattr(
        bench, "make_estimators", lambda *a, **k: pytest.fail("fitted a learner")
    )
    use_fake_patches(monkeypatch, bench, 400, 300)
    table = bench.run(
        architectures=((3, 2), (5, 2)), n_test=300, learners=False, verbose=False
    )
    assert [row["D1"] for row in table] == [3, 5]
    for row in table:
        assert 0 < row["share_test_below_noise_norm"] < 1
        assert math.isfinite(row["mmd2_reference"])
    # more latents leave less noise
    assert table[1]["reference_noise_norm"] < table[0]["reference_noise_norm"]
    text = bench.format_table(table, bench.BASELINE_COLUMNS)
    assert "Eq.13 ref" in text and "IWAE" not in text
    assert "score PCA/GMM/Gauss" in text
    # the held-out scores: the Gaussian's against scipy's density of the
    # training patches' mean and maximum-likelihood covariance (plus
    # GaussianMixture's reg_covar), PCA's against sklearn's PCA refitted
    from scipy.stats import multivariate_normal
    from sklearn.decomposition import PCA

    data, _ = bench.load_data(None, 400, 300, 0)
    X, X_test = data.X_train, data.X_test[: bench.N_SCORE]
    cov = np.cov(X, rowvar=False, bias=True) + 1e-6 * np.eye(X.shape[1])
    expected = multivariate_normal(X.mean(axis=0), cov).logpdf(X_test).mean()
    for row in table:
        assert row["score_gaussian"] == pytest.approx(expected, rel=1e-6)
        pca = PCA(row["D1"], random_state=0).fit(X)
        assert row["score_pca"] == pytest.approx(pca.score(X_test))
        assert math.isfinite(row["score_gmm20"])


def test_paper_patches_importance_learner_gets_its_own_tests(monkeypatch):
    bench = load_script()
    use_fake_patches(monkeypatch, bench, 300, 120)
    fitted = {}
    make = bench.make_estimators

    def recording(*args, **kwargs):
        fitted.update(make(*args, **kwargs))
        return fitted

    monkeypatch.setattr(bench, "make_estimators", recording)
    (row,) = bench.run(
        architectures=((3, 2),),
        minutes=0.002,
        n_test=120,
        n_curve=60,
        verbose=False,
        importance=True,
    )
    assert fitted[bench.IMPORTANCE].expectations == "importance"
    assert fitted["DDC-HM"].expectations != "importance"
    for prefix in ("ddc", "ddcimportance"):
        for other in ("iwae50", "gmm20"):
            for suffix in ("", "_table_width"):
                assert 0 <= row[f"p_{prefix}_vs_{other}{suffix}"] <= 1
    for key in ("mmd2_ddchmimportance", "score_ddchmimportance", "score_ddchm"):
        assert math.isfinite(row[key])
    assert set(row["curves"]) == {"DDC-HM", "IWAE-50", bench.IMPORTANCE}
    text = bench.format_table([row], bench.COLUMNS + bench.IMPORTANCE_COLUMNS)
    assert "DDC-HM (importance)" in text


def test_log10_p_matches_the_p_value_and_survives_underflow():
    module = load_script()
    Result = type("Result", (), {})
    for statistic, std in [(0.3, 1.0), (-2.0, 1.0), (4.0, 0.5)]:
        r = Result()
        r.statistic, r.std = statistic, std
        p = 0.5 * math.erfc(statistic / std / math.sqrt(2))  # Phi(-t / std)
        assert module._log10_p(r) == pytest.approx(math.log10(p), rel=1e-9)
    r = Result()
    r.statistic, r.std = 50.0, 1.0  # p = Phi(-50) underflows to 0 in float64
    # Mills ratio: log Phi(-z) = -z^2/2 - log(z sqrt(2 pi)) + O(1/z^2)
    expected = (-(50.0**2) / 2 - math.log(50.0 * math.sqrt(2 * math.pi))) / math.log(10)
    assert module._log10_p(r) == pytest.approx(expected, abs=1e-3)


def test_step_size_follows_the_estimators_schedule():
    module = load_script()
    params = {
        "learning_rate": 1e-2,
        "learning_rate_decay": 0.1,
        "learning_rate_decay_samples": 1000,
    }
    assert module._step_size(params, 500) == pytest.approx(1e-2 * 0.1**0.5)
    assert module._step_size(params, 5000) == pytest.approx(1e-3)
    params["learning_rate_decay_power"] = 2.0
    assert module._step_size(params, 500) == pytest.approx(1e-2 * 0.1**0.25)
    params["learning_rate_decay_samples"] = None
    assert module._step_size(params, 5000) == pytest.approx(1e-2)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


class StubEstimator:
    """Takes 1 ms of the fake clock per row; warns on its second call."""

    def __init__(self, clock):
        self.clock, self.calls = clock, []
        self.params = {
            "learning_rate": 1e-2,
            "learning_rate_decay": 0.1,
            "learning_rate_decay_samples": None,
            "batch_size": 100,
        }
        self.n_samples_seen_, self.training_curve_ = 0, []

    def get_params(self):
        return dict(self.params)

    def set_params(self, **params):
        self.params.update(params)

    def _batch_size(self, n_samples):
        return self.params["batch_size"]

    def partial_fit(self, X):
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        self.calls.append(X[:, 0].copy())
        self.clock.now += 1e-3 * len(X)
        self.n_samples_seen_ += len(X)
        self.training_curve_.append(-1.0)
        if len(self.calls) == 2:
            warnings.warn("blew up", ConvergenceWarning, stacklevel=2)
        return self

    def sample(self, n, random_state=None):
        return np.random.RandomState(random_state).normal(size=(n, 2))


def test_train_for_budget_spends_the_budget_in_whole_passes(monkeypatch):
    module = load_script()
    clock = FakeClock()
    monkeypatch.setattr(module, "time", clock)
    est = StubEstimator(clock)
    X = np.column_stack([np.arange(1000.0), np.zeros(1000)])
    X_curve = np.random.RandomState(0).normal(size=(50, 2))
    # a pass takes 1 s of the fake clock: two passes, then half of one
    curve, messages, spent = module.train_for_budget(est, X, X_curve, 2.5)
    assert [len(rows) for rows in est.calls] == [1000, 1000, 500]
    for rows in est.calls[:2]:
        assert sorted(rows) == list(range(1000))  # each pass visits every row
    assert len(set(est.calls[2])) == 500
    assert spent == pytest.approx(2.5)
    assert [p["epochs"] for p in curve] == [1.0, 2.0, 2.5]
    assert messages == ["blew up"]
    # the step-size horizon: the samples the budget reaches at this speed
    assert est.params["learning_rate_decay_samples"] == pytest.approx(2500)
    # the step size reached: constant until the first horizon is set (2500
    # samples, from the first pass's speed), then decayed to the floor
    assert curve[0]["step_size"] == pytest.approx(1e-2)
    assert curve[1]["step_size"] == pytest.approx(1e-2 * 0.1 ** (2000 / 2500))
    assert curve[-1]["step_size"] == pytest.approx(1e-3)
    # blocks: four calls per pass; a zero budget still trains once
    est = StubEstimator(clock)
    curve, _, _ = module.train_for_budget(est, X, X_curve, 0.0, blocks_per_epoch=4)
    assert [len(rows) for rows in est.calls] == [250] and len(curve) == 1


class StoppingStub(StubEstimator):
    """Its guard stops its second call, as a collapse does (``diverged_``)."""

    def partial_fit(self, X):
        super().partial_fit(X)
        self.diverged_ = len(self.calls) == 2
        return self


def test_train_for_budget_stops_a_learner_its_guard_stopped(monkeypatch):
    module = load_script()
    clock = FakeClock()
    monkeypatch.setattr(module, "time", clock)
    X = np.column_stack([np.arange(1000.0), np.zeros(1000)])
    X_curve = np.random.RandomState(0).normal(size=(50, 2))
    est = StoppingStub(clock)
    curve, messages, spent = module.train_for_budget(est, X, X_curve, 5.0)
    # as fit would, it trains no further than the call that was stopped
    assert len(est.calls) == 2 and len(curve) == 2
    assert messages == ["blew up"] and spent == pytest.approx(2.0)
    # the protocol before: the whole budget
    est = StoppingStub(clock)
    curve, _, spent = module.train_for_budget(
        est, X, X_curve, 5.0, stop_when_diverged=False
    )
    assert len(est.calls) == 5 and spent == pytest.approx(5.0)


def run_by_fit(bench, minutes, n_test):
    """The benchmark by --protocol fit on one tiny architecture, quietly."""
    return bench.run(
        architectures=((3, 2),),
        minutes=minutes,
        n_test=n_test,
        n_curve=n_test // 2,
        verbose=False,
        protocol="fit",
    )


def test_paper_patches_fit_protocol_trains_each_learner_by_one_fit(monkeypatch):
    """--protocol fit: one fit per learner, max_iter from the probes; the
    row's epochs are the fitted estimator's n_iter_, its curve one point."""
    bench = load_script()
    use_fake_patches(monkeypatch, bench, 300, 120)
    fitted, budgets = {}, []
    make, fit_within = bench.make_estimators, bench.fit_within

    def recording(*args, **kwargs):
        fitted.update(make(*args, **kwargs))
        return fitted

    def probed(est, X, minutes, rng):
        budgets.append(minutes)
        return fit_within(est, X, minutes, rng)

    monkeypatch.setattr(bench, "make_estimators", recording)
    monkeypatch.setattr(bench, "fit_within", probed)
    monkeypatch.setattr(
        bench, "train_for_budget", lambda *a, **k: pytest.fail("streamed")
    )
    (row,) = run_by_fit(bench, minutes=0.002, n_test=120)
    assert budgets == [0.002, 0.002]
    for name, key in (("DDC-HM", "ddchm"), ("IWAE-50", "iwae50")):
        est = fitted[name]
        assert row[f"epochs_{key}"] == est.n_iter_ == est.max_iter >= 1
        (point,) = row["curves"][name]
        assert math.isfinite(point["mmd2"]) and math.isfinite(point["score"])
        assert point["epochs"] == est.n_iter_
        assert row[f"diverged_{key}"] is False and row[f"drift_{key}"] is False
    assert "no/no" in bench.format_table([row])


def test_paper_patches_fit_protocol_tells_a_drift_from_a_divergence(monkeypatch):
    """Under --protocol fit a drift warning (the check kept an earlier model)
    is recorded and marked, and is not a divergence; a fit its guard
    stopped (diverged_) is one."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    bench = load_script()
    use_fake_patches(monkeypatch, bench, 200, 80)
    outcome = {"DDC-HM": "drift", "IWAE-50": "diverged"}

    def fake_fit_within(est, X, minutes, rng):
        name = "IWAE-50" if "IWAE" in type(est).__name__ else "DDC-HM"
        est.set_params(max_iter=1).fit(X)
        if outcome[name] == "drift":
            warnings.warn(
                "X drifted away from the data: ...", ConvergenceWarning, stacklevel=2
            )
        else:
            est.diverged_ = True
            warnings.warn(
                "X diverged in epoch 1: ...", ConvergenceWarning, stacklevel=2
            )
        return 2, 1.5

    monkeypatch.setattr(bench, "fit_within", fake_fit_within)
    (row,) = run_by_fit(bench, minutes=0.01, n_test=80)
    assert row["drift_ddchm"] and not row["diverged_ddchm"]
    assert row["diverged_iwae50"] and not row["drift_iwae50"]
    assert row["warnings_ddchm"] == row["warnings_iwae50"] == 1
    assert row["warning_ddchm"].startswith("X drifted away")
    assert row["seconds_ddchm"] == 1.5
    assert "no+drift/yes" in bench.format_table([row])


def saved_tiny_run(folder, monkeypatch, n_train, minutes):
    """The benchmark module and its fake data, after a (3, 2) run on
    ``n_train`` fake patches and 60 held-out ones saved into ``folder``."""
    bench = load_script()
    use_fake_patches(monkeypatch, bench, n_train, 60)
    bench.run(
        architectures=((3, 2),),
        minutes=minutes,
        n_test=60,
        n_curve=30,
        verbose=False,
        save=str(folder),
    )
    data, _ = bench.load_data(None, n_train, 60, 0)
    return bench, data


def test_rescore_on_a_larger_held_out_set_of_the_same_split(tmp_path, monkeypatch):
    """--rescore DIR --rescore-test N: the saved models on more held-out
    patches (which must hold the run's), tested against GMM-20 too; the
    MMD^2 printed is the unbiased estimate recomputed here."""
    from sklearn_ddchm.metrics import median_heuristic, mmd2

    bench, data = saved_tiny_run(tmp_path, monkeypatch, 300, 0.002)
    extra = np.random.RandomState(5).laplace(size=(40, 16))
    larger = np.vstack([extra, data.X_test])
    (row,) = bench.rescore(tmp_path, seed=0, log=None, data=(data.X_train, larger))
    for key in ("p_ddc_vs_iwae50", "p_ddc_vs_gmm20", "p_ddc_vs_gmm20_table_width"):
        assert 0 <= row[key] <= 1
    with open(tmp_path / "DDC-HM-3x2.pkl", "rb") as f:
        est = pickle.load(f)
    S = bench._sample(est, len(larger), 3)
    expected = mmd2(larger, S, bandwidth=median_heuristic(larger))
    assert row["mmd2_ddchm"] == pytest.approx(expected)
    # the run's own held-out patches alone: no GMM-20 test
    (own,) = bench.rescore(tmp_path, seed=0, log=None)
    assert "p_ddc_vs_gmm20" not in own and "mmd2_gmm20" not in own
    with pytest.raises(ValueError, match="not the run's split"):
        bench.rescore(tmp_path, seed=0, log=None, data=(data.X_train, larger[:70]))


def test_diagnose_against_direct_computations(tmp_path, monkeypatch):
    """--diagnose DIR: the PCA tail against sklearn's PCA, the noise against
    the saved model, the D1-th signal eigenvalue against the Laplace layer's
    closed-form conditional variance, and E_q[r^2]/v (from the oracle's
    log-variance gradient) against a direct importance-sampling average of
    the squared residuals with other draws."""
    from sklearn.decomposition import PCA

    bench, data = saved_tiny_run(tmp_path, monkeypatch, 1300, 0.005)
    lines = []
    (out,) = bench.diagnose(
        tmp_path,
        data.X_train,
        n_rows=40,
        n_draws=500,
        n_samples=40_000,
        log=lines.append,
    )
    assert out["learner"] == "DDC-HM" and (out["D1"], out["D2"]) == (3, 2)
    assert "PCA tail" in lines[0] and "layer1.weights" in lines[0]
    with open(tmp_path / "DDC-HM-3x2.pkl", "rb") as f:
        est = pickle.load(f)
    params = {k: np.asarray(v) for k, v in est.model_.get_parameters().items()}
    noise = np.exp(params["layer0.log_var"])
    assert out["noise"] == pytest.approx(noise.sum())
    pca = PCA().fit(data.X_train)
    assert out["pca_tail"] == pytest.approx(pca.explained_variance_[3:].sum())
    assert out["data_last"] == pytest.approx(pca.explained_variance_[2])
    # z_1 | z_2 is Laplace(0, s(z_2)) coordinate by coordinate: Cov(z_1) is
    # diagonal, 2 E[s(z_2)^2], with z_2 from the top prior alone
    model = est.model_
    z2 = np.asarray(model.layers[2].sample(None, n_samples=200_000, random_state=1))
    s = np.asarray(model.layers[1].scale(z2))
    cov_z1 = np.diag(2.0 * np.mean(s * s, axis=0))
    loadings = params["layer0.weights"]
    exact = np.linalg.eigvalsh(loadings @ cov_z1 @ loadings.T)[::-1][2]
    assert out["signal_last"] == pytest.approx(exact, rel=0.05)
    # E_q[(x - Lambda z_1 - b)^2] / v directly, by self-normalised importance
    # sampling with other draws
    order = np.random.RandomState(5).permutation(len(data.X_train))
    rows = data.X_train[order[:40]]
    k = 4000
    proposal = est._scoring_proposal(rows)
    latents, log_q = proposal.sample(k, np.random.RandomState(7), shared_noise=False)
    # draw-major, as the proposal stacks its draws
    X_rep = np.tile(rows, (k, 1))
    log_w = np.asarray(model.log_joint(X_rep, latents)).reshape(k, -1) - log_q
    w = np.exp(log_w - log_w.max(axis=0))
    w /= w.sum(axis=0)
    z1 = np.asarray(latents[0]).reshape(k, len(rows), 3)
    resid = rows[None] - z1 @ loadings.T - params["layer0.bias"]
    expected = np.einsum("kn,knd->d", w, resid**2) / len(rows) / noise
    assert out["residual_ratio_mean"] == pytest.approx(expected.mean(), abs=0.01)
    for block in ("layer0.weights", "layer1.weights", "layer1.bias"):
        assert -1 <= out[f"cos_{block}"] <= 1
        assert out[f"norm_ratio_{block}"] > 0 and out[f"own_oracle_{block}"] > 0
        assert out[f"oracle_{block}"] > 0 and -1 <= out[f"own_cos_{block}"] <= 1
    # the loadings' radial gradient, from its definition on the same oracle
    oracle_bench = load_script("bench_oracle_gradient")
    true, _ = oracle_bench.importance_oracle(est, rows, 500, np.random.RandomState(3))
    g = np.asarray(true["layer0.weights"])
    assert out["radial_oracle"] == pytest.approx(np.sum(g * loadings))
    # D1 = 3: every column is among the weakest
    assert out["weakest_shrunk_oracle"] == np.sum(np.sum(g * loadings, axis=0) < 0)
    # the observation block of the wake gradient is the one DDC gets right
    assert out["cos_layer0.weights"] > 0.5
    # the oracle's agreement with itself: the same oracle with other draws
    again, _ = oracle_bench.importance_oracle(est, rows, 500, np.random.RandomState(4))
    for block in ("layer0.weights", "layer1.weights"):
        assert out[f"oracle_agreement_{block}"] == pytest.approx(
            oracle_bench.cosine(np.asarray(again[block]), np.asarray(true[block]))
        )
        assert -1 <= out[f"ddc_agreement_{block}"] <= 1
    assert out["oracle_agreement_layer0.weights"] > 0.9
    assert "cos(true, true')" in lines[0] and "mean of 5 steps" in lines[0]
    # --architectures picks the saved fits
    assert bench.diagnose(tmp_path, data.X_train, architectures=[(10, 10)]) == []


def timed_estimator(clock, fixed, per_step):
    """An estimator whose ``fit`` advances the fake clock ``clock[0]`` by
    ``fixed + per_step * steps`` (for ``fit_within``'s probes)."""
    from sklearn.base import BaseEstimator

    class Timed(BaseEstimator):
        def __init__(self, batch_size=10, max_iter=1, verbose=0):
            self.batch_size = batch_size
            self.max_iter = max_iter
            self.verbose = verbose

        def _minibatches(self, n_samples):
            # "auto": 25 rows on 1,000 or more, else 10 (a rule by the rows,
            # as DDC-HM's)
            if self.batch_size == "auto":
                size = 25 if n_samples >= 1000 else 10
            else:
                size = min(self.batch_size, n_samples)
            return size, math.ceil(n_samples / size)

        def fit(self, X):
            self.fitted_batches_ = getattr(self, "fitted_batches_", [])
            size, n_batches = self._minibatches(len(X))
            self.fitted_batches_.append(size)
            clock[0] += fixed + per_step * n_batches * self.max_iter
            self.n_iter_ = self.max_iter
            return self

    return Timed()


def test_fit_within_probes_a_short_data_set_with_rows_drawn_again(monkeypatch):
    """A data set shorter than a probe's steps is drawn with replacement: the
    probes still take PROBE_STEPS steps, so the budget is as for a long one."""
    budget = load_script("_budget")
    clock = [0.0]
    monkeypatch.setattr(budget.time, "process_time", lambda: clock[0])
    X = np.zeros((50, 2))  # 5 steps an epoch, 0.5 s at the marginal cost
    est = timed_estimator(clock, fixed=2.0, per_step=0.1)
    steps, _ = budget.fit_within(est, X, minutes=1.0, rng=np.random.RandomState(0))
    assert est.max_iter == 120 and steps == 600


def test_fit_within_probes_at_the_full_data_s_minibatch(monkeypatch):
    """A batch_size resolved by the rows ("auto") is resolved on the whole
    data, and the probes fit their subsets at that size, not at what their
    own rows would give: 25-row steps here, where 250- and 1,500-row probes
    would resolve to 10."""
    budget = load_script("_budget")
    clock = [0.0]
    monkeypatch.setattr(budget.time, "process_time", lambda: clock[0])
    X = np.zeros((2000, 2))  # 80 steps of 25 rows an epoch
    est = timed_estimator(clock, fixed=2.0, per_step=0.1)
    est.set_params(batch_size="auto")
    real = est
    probes = []
    clone = budget.clone

    def recording_clone(estimator):
        probe = clone(estimator)
        probes.append(probe)
        return probe

    monkeypatch.setattr(budget, "clone", recording_clone)
    steps, _ = budget.fit_within(est, X, minutes=1.0, rng=np.random.RandomState(0))
    # 0.1 s a step: 600 steps in the minute, 7 whole epochs of 80
    assert [p.batch_size for p in probes] == [25, 25]
    assert [p.fitted_batches_ for p in probes] == [[25], [25]]
    assert real.batch_size == "auto" and real.max_iter == 7 and steps == 560


def test_oracle_benchmark_exact_noise_gradient_matches_finite_differences():
    """bench_oracle_gradient's closed-form noise gradient, E_{p(z|x)} of
    d log p(x | z) / d log sigma^2, equals d mean log p(x) / d log sigma^2
    (Fisher's identity) by central differences of the exact marginal."""
    from sklearn_ddchm.utils._exact import linear_gaussian_log_likelihood

    bench = load_script("bench_oracle_gradient")
    model = bench.factor_model(6, 2, noise_scale=1.5)
    X, _ = bench.factor_model(6, 2).sample(50, random_state=0)
    got = bench.exact_noise_gradient(model, X)
    log_var = np.array(model.layers[0].params["log_var"])
    h = 1e-5
    for i in range(6):
        values = []
        for sign in (1, -1):
            shifted = log_var.copy()
            shifted[i] += sign * h
            model.layers[0].set_params({"log_var": shifted})
            values.append(np.mean(linear_gaussian_log_likelihood(model, X)))
        model.layers[0].set_params({"log_var": log_var})
        np.testing.assert_allclose(got[i], (values[0] - values[1]) / (2 * h), atol=1e-7)


def _small_fitted_sbn():
    """A DDC-HM fitted for two epochs to 60 rows of a random 8-3-2 SBN, then
    moved off the data (its weights doubled) so that its gradient is not
    small."""
    from sklearn_ddchm import DDCHelmholtzEstimator

    truth = DDCHelmholtzEstimator(model="sbn", latent_dims=(3, 2), random_state=0)
    truth._validate_params()
    truth._initialize(np.zeros((2, 8)))
    X, _ = truth.model_.sample(60, random_state=1)
    est = DDCHelmholtzEstimator(
        model="sbn",
        latent_dims=(3, 2),
        n_sleep_samples=300,
        max_iter=2,
        random_state=0,
    ).fit(X)
    params = est._trained_parameters()
    est._set_trained_parameters(
        {k: 2.0 * v for k, v in params.items() if k.endswith("weights")}
    )
    return est, X


def test_oracle_benchmark_sbn_oracle_and_radial_match_enumeration(tmp_path):
    """--mnist's numbers on an SBN small enough to enumerate: the Gibbs
    oracle's halves against the exact gradient, <g, theta> against central
    differences of the exact mean log-likelihood as a block is scaled, and
    the AIS change of scale_check against the exact change."""
    from sklearn_ddchm.utils._exact import (
        enumerated_log_likelihood,
        enumerated_posterior_gradient,
    )

    bench = load_script("bench_oracle_gradient")
    est, X = _small_fitted_sbn()
    cache = str(tmp_path / "oracle.npz")
    result = bench.sbn_gradients(est, X, 32, 20, 100, cache=cache)
    again = bench.sbn_gradients(est, X, 32, 20, 100, cache=cache)  # read back
    for k, v in result["oracle"].items():
        np.testing.assert_array_equal(again["oracle"][k], v)
    exact = enumerated_posterior_gradient(est.model_, X)
    params = result["params"]
    assert set(result["ddc"]) == set(params) == set(result["oracle"])
    for k in params:
        error = np.linalg.norm(result["oracle"][k] - exact[k])
        assert error < 0.05 * np.linalg.norm(exact[k]), k
        assert bench.cosine(*(half[k] for half in result["halves"])) > 0.99
    # --proposal-draws: importance sampling from the scoring proposal
    by_proposal, ess = bench.importance_oracle(est, X, 3000, np.random.RandomState(0))
    assert ess.shape == (X.shape[0],) and np.all(ess > 1)
    for k in params:
        error = np.linalg.norm(by_proposal[k] - exact[k])
        assert error < 0.05 * np.linalg.norm(exact[k]), k
    h = 1e-5
    for k in (k for k in params if k.endswith("weights")):
        values = []
        for factor in (1 + h, 1 - h):
            est._set_trained_parameters({k: params[k] * factor})
            values.append(np.mean(enumerated_log_likelihood(est.model_, X)))
        est._set_trained_parameters({k: params[k]})
        numeric = (values[0] - values[1]) / (2 * h)
        np.testing.assert_allclose(
            bench.radial(exact[k], params[k]), numeric, rtol=1e-5
        )
    reference = np.mean(enumerated_log_likelihood(est.model_, X))
    for k, change, _, by_oracle, by_ddc in bench.scale_check(est, X, result, 0.8):
        est._set_trained_parameters({k: params[k] * 0.8})
        truth = np.mean(enumerated_log_likelihood(est.model_, X)) - reference
        est._set_trained_parameters({k: params[k]})
        assert abs(change - truth) < 0.05, (k, change, truth)
        assert by_oracle == pytest.approx(
            -0.2 * bench.radial(result["oracle"][k], params[k])
        )
        assert by_ddc == pytest.approx(-0.2 * bench.radial(result["ddc"][k], params[k]))


def test_oracle_benchmark_patch_mode_runs(capsys, monkeypatch):
    """The patch mode at a tiny size: every block compared at each checkpoint."""
    bench = load_script("bench_oracle_gradient")
    small = dict(n_encoding=(20, 10), n_hidden=30, n_sleep_samples=60)
    monkeypatch.setattr(bench, "PATCH_SETTINGS", small)
    bench.patch_oracle(
        (3, 2),
        (2, 4),
        n_importance=20,
        n_rows=20,
        n_train=120,
        block=20,
        configs=("defaults",),
    )
    out = capsys.readouterr().out
    assert out.count("oracle median ESS") == 2
    assert out.count("  defaults ") == 2
    assert "nan" not in out


def test_oracle_benchmark_simplex_weights_are_distributions_and_restored():
    """Inside ``simplex_weights`` the wake phase's embedding weights are
    non-negative and sum to one per row (the projection onto the simplex,
    checked against a brute-force constrained minimisation); outside, the
    package's own function is back."""
    from scipy.optimize import minimize

    from sklearn_ddchm import _wake_sleep as ws

    bench = load_script("bench_oracle_gradient")
    rng = np.random.RandomState(0)
    H_sleep, H = rng.rand(40, 6), rng.rand(3, 6)
    G = ws.gram(ws.augment(H_sleep), 1e-2)
    signed = ws.embedding_weights(ws.augment(H_sleep), G, ws.augment(H))
    original = ws.embedding_weights
    with bench.simplex_weights():
        W = np.asarray(ws.embedding_weights(ws.augment(H_sleep), G, ws.augment(H)))
    assert ws.embedding_weights is original
    assert (signed < 0).any() and (W >= 0).all()
    np.testing.assert_allclose(W.sum(axis=1), 1.0)
    for w, v in zip(W, np.asarray(signed), strict=True):
        best = minimize(
            lambda u, v=v: np.sum((u - v) ** 2),
            np.full(40, 1 / 40),
            bounds=[(0, None)] * 40,
            constraints=[{"type": "eq", "fun": lambda u: u.sum() - 1}],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        ).x
        np.testing.assert_allclose(w, best, atol=1e-5)


def test_oracle_benchmark_simplex_config_changes_the_gradient():
    """The "simplex" configuration reaches the wake phase: same start and
    seeds as the defaults, another gradient, every entry finite."""
    bench = load_script("bench_oracle_gradient")
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    X, _, truth = make_sparse_hierarchical(300, random_state=0)
    kwargs = dict(n_repeats=1, n_sleep_samples=200, n_encoding=20)
    plain = bench.mean_ddc_gradient(truth, X, X[:50], **kwargs)
    simplex = bench.mean_ddc_gradient(truth, X, X[:50], simplex=True, **kwargs)
    assert plain.keys() == simplex.keys()
    assert all(np.isfinite(v).all() for v in simplex.values())
    assert any(not np.allclose(plain[k], simplex[k]) for k in plain)


def test_oracle_benchmark_least_squares_latents_match_lstsq():
    """The generalised least-squares latents equal NumPy's least-squares
    solution of the noise-whitened system ``Psi^-1/2 (x - b) ~ Psi^-1/2
    Lambda z``."""
    bench = load_script("bench_oracle_gradient")
    model = bench.factor_model(7, 3, noise_scale=1.3)
    rng = np.random.RandomState(0)
    obs = model.layers[0]
    obs.set_params({"log_var": rng.normal(size=7)})  # unequal noise per pixel
    X = rng.normal(size=(20, 7))
    weights, bias = (np.asarray(a) for a in obs.affine_parameters())
    noise_var = np.exp(np.asarray(obs.params["log_var"]))
    scale = 1.0 / np.sqrt(noise_var)
    expected = np.linalg.lstsq(
        weights * scale[:, None], ((X - bias) * scale).T, rcond=None
    )[0].T
    np.testing.assert_allclose(bench.least_squares_latents(model, X), expected)


def test_oracle_benchmark_projected_features_see_x_through_the_statistic(
    monkeypatch,
):
    """Inside ``projected_features`` the hidden features are unchanged by a
    move of ``x`` that ``Lambda^T Psi^-1`` does not see (the posterior's
    sufficient statistic) and change along ``Lambda``; per-coordinate and
    joint units fill ``n_hidden_``; outside, the estimator's methods are
    back and the features are those of ``x``."""
    from sklearn_ddchm import DDCHelmholtzEstimator

    bench = load_script("bench_oracle_gradient")
    monkeypatch.setattr(bench, "PROJECTED_MIN_JOINT", 10)
    rng = np.random.RandomState(0)
    X = rng.laplace(size=(300, 8))
    hidden, sleep = DDCHelmholtzEstimator._hidden, DDCHelmholtzEstimator._sleep
    # without the statistic (in h or as its units): outside the context h(x)
    # is the ReLU units alone, which the check below compares (its
    # standardisation was never set, as the projected h replaced h in every
    # sleep phase of the fit)
    est = DDCHelmholtzEstimator(
        latent_dims=(3, 2),
        n_hidden=40,
        n_sleep_samples=100,
        max_iter=1,
        recognition_statistic=False,
        hidden_features="relu",
    )
    with bench.projected_features():
        est.set_params(random_state=0).fit(X)
        weights, _ = (np.asarray(a) for a in est.model_.layers[0].affine_parameters())
        noise_var = np.exp(np.asarray(est.model_.get_parameters()["layer0.log_var"]))
        # rows v with Lambda^T Psi^-1 v = 0
        null = np.linalg.svd((weights / noise_var[:, None]).T)[2][3:]
        V = rng.normal(size=(5, 5)) @ null
        H = est._hidden(X[:5])
        np.testing.assert_allclose(est._hidden(X[:5] + 3 * V), H, atol=1e-8)
        assert not np.allclose(est._hidden(X[:5] + weights[:, 0]), H)
        assert H.shape == (5, 40)
        per = min(bench.PROJECTED_PER_COORDINATE * 3, 40 - 10) // 3
        assert est._projected_units[2].shape == (per, 3)
    assert DDCHelmholtzEstimator._hidden is hidden
    assert DDCHelmholtzEstimator._sleep is sleep
    assert not np.allclose(est._hidden(X[:5] + 3 * V), est._hidden(X[:5]))


def test_oracle_benchmark_projected_config_changes_the_gradient():
    """The "projected" configuration reaches the wake phase."""
    bench = load_script("bench_oracle_gradient")
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    X, _, truth = make_sparse_hierarchical(300, random_state=0)
    kwargs = dict(n_repeats=1, n_sleep_samples=200, n_encoding=20)
    plain = bench.mean_ddc_gradient(truth, X, X[:50], **kwargs)
    projected = bench.mean_ddc_gradient(truth, X, X[:50], projected=True, **kwargs)
    assert all(np.isfinite(v).all() for v in projected.values())
    assert any(not np.allclose(plain[k], projected[k]) for k in plain)


def test_oracle_benchmark_control_variate_subtracts_the_sleep_mean_score():
    """Inside ``score_control_variate`` a latent layer's gradient is the
    package's minus the sleep samples' mean score (computed here directly,
    per sample); the score it subtracts has mean zero under the model (a
    200,000-draw check); outside, the package's function is back."""
    from sklearn_ddchm import _wake_sleep as ws
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_oracle_gradient")
    _, _, truth = make_sparse_hierarchical(10, random_state=0)
    layer = truth.layers[1]
    _, (z1, z2) = truth.sample(400, random_state=1)
    w = np.random.RandomState(2).dirichlet(np.ones(400))
    plain = ws.latent_gradient(layer, z1, z2, w, w, split="child")
    original = ws.latent_gradient
    with bench.score_control_variate():
        shifted = ws.latent_gradient(layer, z1, z2, w, w, split="child")
    assert ws.latent_gradient is original
    for k in plain:
        per_sample = [
            layer.grad_params(z1[i : i + 1], z2[i : i + 1])[k] for i in range(400)
        ]
        np.testing.assert_allclose(
            shifted[k], plain[k] - np.mean(per_sample, axis=0), atol=1e-12
        )
    # 100 batch means of 2,000 draws' scores: their mean is zero within 5
    # standard errors, and the scores are not all zero
    _, (z1, z2) = truth.sample(200_000, random_state=3)
    uniform = np.full(2000, 1 / 2000)
    means = [
        layer.grad_params(z1[b : b + 2000], z2[b : b + 2000], uniform)
        for b in range(0, 200_000, 2000)
    ]
    for k in means[0]:
        batch = np.array([m[k] for m in means])
        error = batch.std(axis=0, ddof=1) / np.sqrt(len(batch))
        assert np.all(error > 0)
        assert np.all(np.abs(batch.mean(axis=0)) < 5 * error)


def test_oracle_benchmark_pooled_gradient_matches_a_sum_over_pairs():
    """``pooled_layer_gradient`` equals the brute-force sum over every (row,
    pool sample) pair of ``v_r w_rs grad log p(z_1^r | z_2^s)``, with signed
    row weights ``v`` and the weights ``p(z_1^r | z_2^s)`` normalised over
    the pool by hand; ``gaussian_draws`` has the asked mean and covariance
    (100,000 draws)."""
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_oracle_gradient")
    _, _, truth = make_sparse_hierarchical(10, random_state=0)
    layer = truth.layers[1]
    rng = np.random.RandomState(0)
    child = rng.laplace(size=(6, 2))
    row_weights = rng.normal(size=6)
    _, (_, pool) = truth.sample(7, random_state=1)
    got = bench.pooled_layer_gradient(layer, child, row_weights, pool)
    expected = {k: np.zeros_like(v) for k, v in got.items()}
    for z, v in zip(child, row_weights, strict=True):
        log_p = np.array([layer.log_prob(z[None], p[None])[0] for p in pool])
        w = np.exp(log_p - log_p.max())
        w = w / w.sum()
        for s, p in enumerate(pool):
            g = layer.grad_params(z[None], p[None])
            for k in expected:
                expected[k] += v * w[s] * g[k]
    for k in got:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-9, atol=1e-12)
    mean = rng.normal(size=(1, 2))
    root = rng.normal(size=(2, 2))
    cov = root @ root.T
    draws = bench.gaussian_draws(
        np.repeat(mean, 10_000, axis=0), cov, np.random.RandomState(2)
    )
    assert draws.shape == (10_000 * bench.POOLED_DRAWS, 2)
    np.testing.assert_allclose(draws.mean(axis=0), mean[0], atol=0.02)
    np.testing.assert_allclose(np.cov(draws.T), cov, rtol=0.03, atol=0.02)


def test_oracle_benchmark_new_configs_change_the_gradient():
    """The control-variate, pooled-z2 and rao-blackwell configurations reach
    the wake phase: another gradient of the Laplace layer, the observation
    layer's untouched, every entry finite; the estimator's wake phase is
    restored."""
    from sklearn_ddchm import DDCHelmholtzEstimator
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_oracle_gradient")
    X, _, truth = make_sparse_hierarchical(300, random_state=0)
    kwargs = dict(n_repeats=1, n_sleep_samples=200, n_encoding=20)
    wake = DDCHelmholtzEstimator._wake
    plain = bench.mean_ddc_gradient(truth, X, X[:50], **kwargs)
    for flag in ("control-variate", "pooled-z2", "rao-blackwell"):
        other = bench.mean_ddc_gradient(
            truth, X, X[:50], **bench.CONFIGS[flag], **kwargs
        )
        assert all(np.isfinite(v).all() for v in other.values())
        assert not np.allclose(plain["layer1.bias"], other["layer1.bias"])
        np.testing.assert_allclose(other["layer0.weights"], plain["layer0.weights"])
    assert DDCHelmholtzEstimator._wake is wake


def test_oracle_benchmark_latent_scale_reset_keeps_the_observations():
    """``reset_latent_scale`` brings every Laplace unit's mean scale to 1 (on
    fresh prior draws) and multiplies ``Lambda``'s columns by the old mean
    scales (measured here on other draws); the same noise draws give the
    same ``Lambda z_1`` before and after, up to the refit (2% of its
    covariance, of 50,000 draws)."""
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_oracle_gradient")
    _, _, model = make_sparse_hierarchical(10, random_state=0)
    params = model.get_parameters()
    params["layer1.bias"] = params["layer1.bias"] + 2.0  # mean scales near 3
    model.set_parameters(params)

    def mean_scale(m, seed):
        _, (_, z2) = m.sample(50_000, random_state=seed)
        p = m.get_parameters()
        return np.logaddexp(0.0, z2 @ p["layer1.weights"].T + p["layer1.bias"]).mean(0)

    def signal_cov(m, seed):
        _, (z1, _) = m.sample(50_000, random_state=seed)
        return np.cov((z1 @ m.get_parameters()["layer0.weights"].T).T)

    before, cov = mean_scale(model, 1), signal_cov(model, 2)
    loadings = model.get_parameters()["layer0.weights"]
    error = bench.reset_latent_scale(model, 3)
    assert 0 <= error < 0.05
    np.testing.assert_allclose(mean_scale(model, 4), 1.0, rtol=0.03)
    np.testing.assert_allclose(
        model.get_parameters()["layer0.weights"], loadings * before, rtol=0.03
    )
    after = signal_cov(model, 2)
    assert np.linalg.norm(after - cov) < 0.02 * np.linalg.norm(cov)


def test_oracle_benchmark_slow_latent_layer_scales_only_that_layer():
    """Inside ``slow_latent_layer(f)`` an Adam step moves the Laplace layer's
    parameters ``f`` times as far as outside (from the same state, gradient
    and optimiser moments) and every other parameter as far; outside the
    estimator's own step scales are back."""
    import copy

    from sklearn_ddchm import DDCHelmholtzEstimator
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_oracle_gradient")
    X, _, _ = make_sparse_hierarchical(200, random_state=0)
    est = DDCHelmholtzEstimator(n_sleep_samples=100, max_iter=1, random_state=0)
    est.fit(X)
    scales = DDCHelmholtzEstimator._step_scales
    before = est._trained_parameters()
    grads = {k: np.ones_like(v) for k, v in before.items()}
    plain = copy.deepcopy(est.optimizer_).step(
        before, grads, 1e-3, scales=est._step_scales()
    )
    with bench.slow_latent_layer(0.1):
        slow = copy.deepcopy(est.optimizer_).step(
            before, grads, 1e-3, scales=est._step_scales()
        )
    assert DDCHelmholtzEstimator._step_scales is scales
    for k in before:
        factor = 0.1 if k.startswith("layer1.") else 1.0
        np.testing.assert_allclose(
            slow[k] - before[k], factor * (plain[k] - before[k]), rtol=1e-10
        )
    with pytest.raises(ValueError, match="patch_fits only"):
        bench.mean_ddc_gradient(None, X, X, **bench.CONFIGS["slow-laplace"])


def test_oracle_benchmark_patch_fits_run(capsys, monkeypatch):
    """The fit comparison at a tiny size: one line per configuration."""
    bench = load_script("bench_oracle_gradient")
    small = dict(n_encoding=(20, 10), n_hidden=30, n_sleep_samples=60)
    monkeypatch.setattr(bench, "PATCH_SETTINGS", small)
    monkeypatch.setattr(bench, "PROJECTED_MIN_JOINT", 10)
    bench.patch_fits((3, 2), 1, n_train=200, n_test=40, n_score=20)
    out = capsys.readouterr().out
    assert out.count(" score ") == 2 and "projected" in out
    assert "nan" not in out
    own = dict(vars(bench.DDCHelmholtzEstimator))
    configs = (
        "control-variate",
        "pooled-z2",
        "rao-blackwell",
        "gauge",
        "gcv",
        "slow-laplace",
    )
    bench.patch_fits((3, 2), 1, n_train=200, n_test=40, n_score=20, configs=configs)
    out = capsys.readouterr().out
    assert all(f"  {c} " in out for c in configs) and "nan" not in out
    # every patched method restored as it was: inherited ones not copied in
    assert dict(vars(bench.DDCHelmholtzEstimator)) == own


def test_ddc_weights_benchmark_embedding_statistics_match_a_direct_count():
    """The wake phase's weight statistics equal a count over weights rebuilt
    from the same sleep draw: the ridge system solved afresh by NumPy."""
    from sklearn_ddchm import DDCHelmholtzEstimator
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_ddc_weights")
    X, _, _ = make_sparse_hierarchical(400, random_state=0)
    est = DDCHelmholtzEstimator(n_sleep_samples=150, max_iter=2, random_state=0)
    est.fit(X[:300])
    l1, negative, bad_rows = bench.embedding_statistics(
        est, X[300:], np.random.RandomState(3)
    )
    phase = est._sleep(est.n_sleep_samples, np.random.RandomState(3), encodings=False)
    F = np.hstack([np.asarray(phase.H_sleep), np.ones((150, 1))])
    Fx = np.hstack([np.asarray(est._hidden(X[300:])), np.ones((100, 1))])
    W = Fx @ np.linalg.solve(np.asarray(phase.embedding_gram), F.T)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-8)
    z = np.asarray(phase.sleep[1])
    variance = W @ z**2 - (W @ z) ** 2
    assert l1 == pytest.approx(np.abs(W).sum(axis=1).mean())
    assert negative == pytest.approx((W < 0).mean())
    assert bad_rows == pytest.approx((variance < 0).any(axis=1).mean())
    assert l1 >= 1.0 and 0.0 < negative < 1.0


def test_oracle_benchmark_patch_training_runs(capsys, monkeypatch):
    """Both gradients train the same start; every checkpoint is printed."""
    bench = load_script("bench_oracle_gradient")
    small = dict(n_encoding=(20, 10), n_hidden=30, n_sleep_samples=60)
    monkeypatch.setattr(bench, "PATCH_SETTINGS", small)
    bench.patch_training((3, 2), 4, n_train=300, n_test=20, block=100, n_importance=10)
    out = capsys.readouterr().out
    assert out.count("trained with the") == 2
    assert out.count("steps: score") == 4  # at 0 and at the last step, per run
    assert "nan" not in out


def test_early_stopping_benchmark_runs(capsys):
    bench = load_script("bench_early_stopping")
    bench.N_SCORE = 50
    bench.main(
        ["--architectures", "3x2", "--max-iter", "2", "--n-train", "200"]
        + ["--n-test", "60"]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if "3x2" in line]
    assert len(rows) == 4  # two learners, with and without early stopping
    assert all("nan" not in row for row in rows)
    bench.main(
        ["--architectures", "3x2", "--max-iter", "2", "--n-train", "200"]
        + ["--n-test", "60", "--fit-only", "--learners", "DDC-HM (importance)"]
    )
    (row,) = [line for line in capsys.readouterr().out.splitlines() if "3x2" in line]
    # smallest noise variance, then the two halves' log p(x) around their mean
    *_, score, _, _, _, noise, low, _, high = row.split()
    assert float(noise) > 0
    assert min(float(low), float(high)) <= float(score) <= max(float(low), float(high))


def test_mnist_benchmark_mean_mmd2_brute_force():
    """paper_mnist_sbn.mean_mmd2 is the mean of the unbiased MMD^2 over the
    draws at the one given bandwidth, with the standard error of that mean,
    against explicit Gram matrices."""
    bench = load_script("paper_mnist_sbn")
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    draws = [rng.randn(25, 3) + 0.3 * k for k in range(3)]
    sigma = 1.7

    def gram(A, B):
        d2 = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * sigma**2))

    def unbiased(A, B):
        m, n = len(A), len(B)
        kxx, kyy = gram(A, A), gram(B, B)
        return (
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
            + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * gram(A, B).mean()
        )

    values = np.array([unbiased(X, D) for D in draws])
    mean, se = bench.mean_mmd2(X, draws, sigma)
    np.testing.assert_allclose(mean, values.mean(), rtol=1e-10)
    np.testing.assert_allclose(se, values.std(ddof=1) / np.sqrt(3), rtol=1e-8)
    # one draw: no standard error
    assert math.isnan(bench.mean_mmd2(X, draws[:1], sigma)[1])


@pytest.mark.slow
def test_mnist_benchmark_budget_counts_the_marginal_cost_of_a_step(monkeypatch):
    """fit_within sets max_iter from the difference of its two probes, so a
    fit's fixed cost (here 30 steps' worth) does not shrink the budget; the
    clock is a fake one that each fit advances by its cost."""
    bench = load_script("paper_mnist_sbn")
    clock = [0.0]
    fixed, per_step = 3.0, 0.1
    monkeypatch.setattr(bench.time, "process_time", lambda: clock[0])
    X = np.zeros((1000, 2))  # 100 steps an epoch, 10 s at the marginal cost
    est = timed_estimator(clock, fixed, per_step)
    steps, _ = bench.fit_within(est, X, minutes=1.0, rng=np.random.RandomState(0))
    assert est.max_iter == 6 and steps == 600  # 60 s / 10 s, not 60 / 13
    # the probes ran on subsets of PROBE_STEPS steps
    assert clock[0] == pytest.approx(
        sum(fixed + per_step * n for n in bench.PROBE_STEPS) + fixed + 60.0
    )


def write_tiny_mnist(tmp_path):
    """A folder with MNIST's four IDX files: 240 training and 60 test images."""
    from test_mnist import write_idx

    rng = np.random.RandomState(0)
    data = tmp_path / "mnist"
    data.mkdir()
    write_idx(data / "train-images-idx3-ubyte", rng.randint(0, 256, (240, 28, 28)))
    write_idx(data / "train-labels-idx1-ubyte", np.zeros(240, np.uint8))
    write_idx(data / "t10k-images-idx3-ubyte", rng.randint(0, 256, (60, 28, 28)))
    write_idx(data / "t10k-labels-idx1-ubyte", np.zeros(60, np.uint8))
    return data


def run_mnist_script(data, *args, script="paper_mnist_sbn.py"):
    """stdout of an MNIST benchmark ``script`` on the tiny IDX files in
    ``data`` (40 evaluation images, 2 draws), which must exit 0."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script)]
        + ["--mnist-dir", str(data), "--n-eval", "40", "--draws", "2", *args],
        cwd=ROOT,
        env={**os.environ, "SCIPY_ARRAY_API": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_mnist_benchmark_rbm_gibbs_samples_match_enumeration():
    """paper_mnist_sbn.rbm_gibbs_samples draws from the RBM's visible
    marginal: ``p(v) ~ exp(b_v . v) prod_j (1 + exp(b_j + W_j . v))``,
    enumerated over all 2^3 states of a 3 x 2 RBM."""
    import itertools

    from sklearn.neural_network import BernoulliRBM

    bench = load_script("paper_mnist_sbn")
    rng = np.random.RandomState(0)
    rbm = BernoulliRBM(n_components=2)
    rbm.components_ = rng.normal(scale=1.5, size=(2, 3))
    rbm.intercept_hidden_ = rng.normal(size=2)
    rbm.intercept_visible_ = rng.normal(size=3)
    states = np.array(list(itertools.product([0, 1], repeat=3)), dtype=float)
    log_p = states @ rbm.intercept_visible_ + np.logaddexp(
        0, states @ rbm.components_.T + rbm.intercept_hidden_
    ).sum(axis=1)
    exact = np.exp(log_p - np.logaddexp.reduce(log_p))
    V = bench.rbm_gibbs_samples(rbm, 40_000, 30, np.random.RandomState(1))
    index = V @ [4, 2, 1]
    empirical = np.bincount(index.astype(int), minlength=8) / len(V)
    # 5 standard errors of a frequency near 1/2 over 40,000 chains: 0.0125
    np.testing.assert_allclose(empirical, exact, atol=0.0125)
    assert set(np.unique(V)) <= {0.0, 1.0}


def test_mnist_benchmark_runs_saves_and_reevaluates(tmp_path):
    """paper_mnist_sbn.py end to end on tiny IDX files: both methods and the
    RBM baseline fit, the relative test runs, and ``--load`` of the
    ``--save``d estimators reproduces their MMD^2 to the printed digit (the
    draws are seeded)."""
    data = write_tiny_mnist(tmp_path)

    def run(*args):
        return run_mnist_script(data, *args).splitlines()

    fitted = run(
        "--epochs",
        "1",
        "--dtype",
        "float32",
        "--rbm",
        "--save",
        str(tmp_path / "models"),
    )
    loaded = run(
        "--load", str(tmp_path / "models"), "--rbm", "--mean-removed", "--match-mean"
    )
    removed = [row for row in loaded if "mean image removed" in row]
    # the floor's line, then one per model (DDC-HM, its matched copy,
    # VIMCO-50, RBM-200)
    assert len(removed) == 5 and "floor MMD^2" in removed[0]
    assert sum("pixel means matched to training" in row for row in loaded) == 1
    assert all("x the floor)" in row for row in removed[1:])
    assert "2 disjoint subsets of 40 training images" in fitted[0]
    assert fitted[0] == loaded[0]
    assert fitted[2].startswith("MMD^2 between two of those training subsets")
    assert fitted[2] == loaded[2]
    (line,) = [row for row in fitted if row.startswith("RBM-200")]
    (again,) = [row for row in loaded if row.startswith("RBM-200")]
    assert "10 epochs" in line and "loaded" in again
    assert line.split("MMD^2")[1] == again.split("MMD^2")[1]
    for name in ("DDC-HM", "VIMCO-50"):
        (line,) = [row for row in fitted if row.startswith(name)]
        (again,) = [row for row in loaded if row.startswith(name)]
        assert "1 epochs" in line and "loaded" in again
        assert line.split("MMD^2")[1] == again.split("MMD^2")[1]
    assert fitted[-1].startswith("relative test") and fitted[-1] == loaded[-1]


def test_mnist_benchmark_epochs_auto_leaves_ddc_its_default_length(tmp_path):
    """``--epochs auto`` fits DDC-HM with ``max_iter="auto"``: on 240 tiny
    training images in one minibatch that is the cap of 100 epochs (100
    steps), where ``--epochs 2`` gives 2; ``fit_within`` is not called."""
    data = write_tiny_mnist(tmp_path)
    small = ["--ddc-only", "--latent-dims", "3,2", "--dtype", "float32"]
    for name, value in [("batch_size", 240), ("n_sleep_samples", 100)]:
        small += ["--ddc-param", f"{name}={value}"]
    for epochs, want in [("auto", "100 epochs, 100 steps"), ("2", "2 epochs, 2 steps")]:
        lines = run_mnist_script(data, "--epochs", epochs, *small).splitlines()
        (line,) = [row for row in lines if row.startswith("DDC-HM")]
        assert want in line


def test_mnist_benchmark_mean_removed_mmd2_ignores_offsets_of_a_whole_set():
    """paper_mnist_sbn.mean_removed_mmd2 is mean_mmd2 of the sets centred
    here by hand, and a constant added to every row of a set (ink, a pixel's
    mean) changes the raw MMD^2 but not it."""
    from sklearn_ddchm.metrics import mmd2

    bench = load_script("paper_mnist_sbn")
    rng = np.random.RandomState(0)
    X = (rng.rand(60, 8) < 0.3).astype(float)
    draws = [(rng.rand(50, 8) < 0.3).astype(float) for _ in range(3)]
    shifted = [D + np.linspace(0.0, 0.4, 8) for D in draws]
    value, se = bench.mean_removed_mmd2(X, draws, 1.5)
    by_hand = [
        mmd2(X - X.mean(axis=0), D - D.mean(axis=0), bandwidth=1.5) for D in draws
    ]
    assert value == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert se == pytest.approx(np.std(by_hand, ddof=1) / np.sqrt(3), rel=1e-12)
    again, _ = bench.mean_removed_mmd2(X, shifted, 1.5)
    assert again == pytest.approx(value, rel=1e-9, abs=1e-15)
    raw, _ = bench.mean_mmd2(X, draws, 1.5)
    raw_shifted, _ = bench.mean_mmd2(X, shifted, 1.5)
    assert raw_shifted > raw + 0.01


def test_mnist_benchmark_match_pixel_means_against_a_high_sample_oracle():
    """paper_mnist_sbn.match_pixel_means: the copy's pixel means, estimated
    from 200,000 of its own samples (another seed than the fit's), are the
    target within 5 standard errors; the estimator passed is unchanged, and
    so are the copy's other parameters."""
    from sklearn_ddchm import DDCHelmholtzEstimator

    bench = load_script("paper_mnist_sbn")
    rng = np.random.RandomState(0)
    X = (rng.rand(200, 12) < np.linspace(0.05, 0.6, 12)).astype(float)
    est = DDCHelmholtzEstimator(
        model="sbn", latent_dims=(4, 2), max_iter=2, random_state=0
    ).fit(X)
    before = {k: v.copy() for k, v in est.model_.layers[0].params.items()}
    target = np.linspace(0.02, 0.9, 12)
    matched = bench.match_pixel_means(est, target, n_samples=50_000)
    n = 200_000
    means = np.asarray(matched.sample(n, random_state=7), dtype=float).mean(axis=0)
    se = np.sqrt(target * (1 - target) / n)
    assert np.all(np.abs(means - target) < 5 * se)
    # the unmatched model was elsewhere: the test can fail
    own = np.asarray(est.sample(n, random_state=7), dtype=float).mean(axis=0)
    assert np.max(np.abs(own - target) / se) > 50
    for k, v in est.model_.layers[0].params.items():
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(
        matched.model_.layers[0].params["weights"], before["weights"]
    )
    with pytest.raises(ValueError, match="target"):
        bench.match_pixel_means(est, np.r_[0.0, target[1:]])


def test_mnist_benchmark_ink_counts_pixels_on():
    """paper_mnist_sbn.ink is the mean count of ones per row, counted here
    by a Python loop."""
    bench = load_script("paper_mnist_sbn")
    X = (np.random.RandomState(0).rand(7, 11) < 0.3).astype(np.float32)
    counted = sum(sum(1 for v in row if v == 1.0) for row in X) / len(X)
    assert bench.ink(X) == pytest.approx(counted, rel=1e-12)


def plain_sbn(seed=0):
    bench = load_script("bench_mnist_plain")
    rng = np.random.RandomState(seed)
    X = (rng.rand(30, 6) < 0.4).astype(float)
    m = bench.PlainSBN(6, (3, 2, 2), 8, 5, X, rng, np.float64)
    # parameters away from the near-zero start, so that every term matters
    m.set_params([rng.randn(*p.shape) for p in m.params()])
    return bench, m, X, rng


def test_plain_mnist_gradients_match_explicit_sums():
    """bench_mnist_plain.sbn_gradients against a loop over data and sleep
    samples: sum_b sum_s w_bs d log p(x_b, z^s) / d theta / B, each
    conditional with its child's weights."""
    from scipy.special import expit

    bench, m, X, rng = plain_sbn()
    sleep = m.sample(7, rng)
    Z = sleep[1:]
    Xb = X[:4]
    weights = [rng.randn(4, 7) for _ in range(3)]
    grads = bench.sbn_gradients(m, Xb, Z, weights)
    values = [None, *Z]  # values[l] is z_l; the child of conditional l is z_{l-1}
    expected_W = [np.zeros_like(W) for W in m.W]
    expected_c = [np.zeros_like(c) for c in m.c]
    expected_top = np.zeros_like(m.top)
    for b in range(4):
        for s in range(7):
            for l in range(3):
                child = Xb[b] if l == 0 else values[l][s]
                parent = values[l + 1][s]
                resid = child - expit(m.W[l] @ parent + m.c[l])
                # the expectation is over z_1 for x's layer, else over the child
                w = weights[max(l - 1, 0)][b, s]
                expected_W[l] += w * np.outer(resid, parent) / 4
                expected_c[l] += w * resid / 4
            expected_top += weights[2][b, s] * (Z[2][s] - expit(m.top)) / 4
    for got, want in zip(grads, [*expected_W, *expected_c, expected_top], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_plain_mnist_ddc_weights_are_the_ridge_regression_read_at_r():
    """sum_s w_s(x) f(z^s) equals the ridge regression of f on [T(z), 1] (same
    penalty) evaluated at [r(x), 1], for any f (Eq. 12's identity)."""
    bench, m, X, rng = plain_sbn(1)
    sleep = m.sample(40, rng)
    weights = bench.ddc_weights(m, X[:5], sleep, 1e-3)
    # r(x) by the same recognition chain, written out
    design_s, design_b = (
        bench.with_one(m.hidden(sleep[0])),
        bench.with_one(m.hidden(X[:5])),
    )
    for l in range(3):
        F = bench.with_one(m.encode(l, sleep[l + 1]))
        phi, _ = bench.ridge_solve(design_s, F[:, :-1], 1e-3)
        r_s, r_b = design_s @ phi, design_b @ phi
        f = np.column_stack([sleep[l + 1], rng.randn(40)])
        G = F.T @ F + 1e-3 * np.trace(F.T @ F) / F.shape[1] * np.eye(F.shape[1])
        beta = np.linalg.solve(G, F.T @ f)
        np.testing.assert_allclose(
            weights[l] @ f, bench.with_one(r_b) @ beta, rtol=1e-8
        )
        design_s, design_b = bench.with_one(r_s), bench.with_one(r_b)


def test_plain_mnist_runs_end_to_end(tmp_path):
    data = write_tiny_mnist(tmp_path)
    args = ["--steps", "20", "--sleep", "60", "--hidden", "20", "--encoding", "10"]
    lines = run_mnist_script(data, *args, script="bench_mnist_plain.py").splitlines()
    assert lines[0].startswith("floor MMD^2(test, train)")
    assert "in MNIST order" in lines[1]
    for name in ("last iterate", "averaged"):
        (line,) = [row for row in lines if "20 steps" in row and name in row]
        assert "x the floor" in line


def test_tabular_benchmark_exact_gradient_matches_finite_differences():
    """bench_tabular's closed-form observation gradient (expected complete-data
    gradient under the exact posterior, non-zero prior mean) equals the
    gradient of the mean exact log p(x) (Fisher's identity), by central
    differences of every parameter of the observation layer."""
    from test_linear_proposal import _finite_difference_gradient

    from sklearn_ddchm.models import DeepExponentialFamily, GaussianLayer, GaussianPrior

    bench = load_script("bench_tabular")
    rng = np.random.RandomState(0)
    model = DeepExponentialFamily(
        [
            GaussianLayer(
                5,
                2,
                weights=rng.randn(5, 2),
                bias=rng.randn(5),
                log_var=0.3 * rng.randn(5),
            ),
            GaussianPrior(2, mean=rng.randn(2), log_var=0.2 * rng.randn(2)),
        ]
    )
    X = 2.0 * rng.randn(40, 5)
    got = bench.exact_observation_gradient(model, X)
    want = _finite_difference_gradient(model, X, eps=1e-6)
    for name in ("weights", "bias", "log_var"):
        np.testing.assert_allclose(
            got[name], want[f"layer0.{name}"], rtol=1e-5, atol=1e-7
        )


def test_tabular_benchmark_marginal_log_likelihood():
    """bench_tabular's exact log-likelihood of factor analysis on a subset of
    features against scikit-learn's own on a FactorAnalysis fitted to just
    those features' covariance, and on all features against
    FactorAnalysis.score."""
    from sklearn.decomposition import FactorAnalysis

    bench = load_script("bench_tabular")
    X_train, X_test, d = bench.load("cancer")
    fa = FactorAnalysis(d, random_state=0).fit(X_train)
    everything = np.arange(X_train.shape[1])
    assert bench.factor_analysis_log_likelihood(
        fa, X_test, everything
    ) == pytest.approx(fa.score(X_test), rel=1e-10)
    # on a subset: the Gaussian with the restricted mean and covariance,
    # written out (log-determinant by slogdet, quadratic form by solve)
    subset = np.array([0, 3, 7, 12, 29])
    mean = fa.mean_[subset]
    cov = fa.get_covariance()[np.ix_(subset, subset)]
    r = X_test[:, subset] - mean
    quad = np.sum(r * np.linalg.solve(cov, r.T).T, axis=1)
    expected = -0.5 * (quad + np.linalg.slogdet(cov)[1] + 5 * np.log(2 * np.pi))
    assert bench.factor_analysis_log_likelihood(fa, X_test, subset) == pytest.approx(
        np.mean(expected), rel=1e-10
    )


def test_tabular_benchmark_quick_run(capsys):
    bench = load_script("bench_tabular")
    rows = bench.run(["cancer"], epochs=1, seeds=[0], n_samples=200, user=False)
    assert [r["learner"] for r in rows][0] == "FactorAnalysis(5)"
    assert len(rows) == 1 + len(bench.LEARNERS)
    for r in rows[1:]:
        assert np.isfinite(r["score"]) and np.isfinite(r["mmd2"])
        # every feature of the cancer table varies
        assert r["score_varying"] == pytest.approx(r["score"], rel=1e-10)
        if "score_estimate" in r:
            assert r["score_estimate"] == pytest.approx(r["score"], abs=0.5)
    assert set(rows[1]["cosine"]) == {"weights", "bias", "log_var"}
    assert "x FA's" in capsys.readouterr().out
    alone = bench.run(
        ["cancer"], epochs=1, seeds=[0], n_samples=200, user=False, one_layer=False
    )
    assert [r["learner"] for r in alone] == ["FactorAnalysis(5)"]


def test_tabular_benchmark_user_choices(capsys, monkeypatch):
    """bench_tabular's default-preset and GaussianMixture rows: fitted on the
    varying features only (a constant column added to the data changes
    nothing), the mixture's component count is BIC's argmin over a brute
    force of the same fits, and the preset's log p(x) is finite with an
    effective sample size of at most the draws."""
    from sklearn.mixture import GaussianMixture

    bench = load_script("bench_tabular")
    monkeypatch.setattr(bench, "N_IMPORTANCE", 50)
    X_train, X_test, d = bench.load("cancer")
    X_train, X_test = X_train[:150, :6], X_test[:60, :6]
    fa_row = dict(dataset="cancer", score_varying=-8.0, mmd2_varying=1e-2)
    rows = bench.user_choices(X_train, X_test, 2, 1, 0, 200, fa_row)
    padded = bench.user_choices(
        np.c_[X_train, np.zeros(150)], np.c_[X_test, np.zeros(60)], 2, 1, 0, 200, fa_row
    )
    for row, same in zip(rows, padded, strict=True):
        assert row["learner"] == same["learner"]
        assert row["score_varying"] == pytest.approx(same["score_varying"], rel=1e-10)
    from sklearn.decomposition import FactorAnalysis

    # factor analysis's BIC by brute force over the identifiable counts (at
    # most 3 factors of 6 features): -2 log L + (d k - k (k - 1) / 2 + 2 d) log n
    fa_bics = [
        -2 * 150 * FactorAnalysis(k, random_state=0).fit(X_train).score(X_train)
        + (6 * k - k * (k - 1) / 2 + 12) * np.log(150)
        for k in range(1, 4)
    ]
    k = int(np.argmin(fa_bics)) + 1
    assert rows[0]["learner"] == f"FactorAnalysis({k}), BIC"
    bics = [
        GaussianMixture(k, random_state=0).fit(X_train).bic(X_train)
        for k in range(1, 9)
    ]
    assert rows[1]["learner"] == f"GaussianMixture({int(np.argmin(bics)) + 1}), BIC"
    assert [r["learner"] for r in rows[2:]] == [
        f"DDC-HM, the defaults (auto: {(max(2, k), max(1, max(2, k) // 2))})",
        "DDC-HM, (2, 1) (the default until 2026-12-06)",
        "DDC-HM, default preset (2, 2)",
        "the same, ReLU units",
        "the same, n_init=3",
        "the same, exact gradient",
        "the same, step 1e-2",
    ]
    for row in rows[2:]:
        assert np.isfinite(row["score_varying"]) and 1 <= row["median_ess"] <= 50
    assert all(np.isfinite(r["mmd2"]) for r in rows)
    assert "x FA's" in capsys.readouterr().out


def test_tabular_benchmark_summary_over_seeds(capsys):
    """bench_tabular.summarise: mean and range over seeds, the difference
    from the same seed's factor analysis (the run's, not one chosen by BIC),
    mixtures and factor models by BIC pooled whatever their component count,
    single-seed learners left out; checked against the
    figures written out by hand."""
    bench = load_script("bench_tabular")
    rows = []
    for seed, (fa, ddc, gm, k) in enumerate(
        [(-10.0, -12.0, -5.0, 2), (-11.0, -11.5, -6.0, 3)]
    ):
        rows += [
            dict(
                dataset="t",
                seed=seed,
                learner="FactorAnalysis(2)",
                score_varying=fa,
                mmd2_ratio=1.0,
            ),
            dict(
                dataset="t",
                seed=seed,
                learner="DDC-HM",
                score_varying=ddc,
                mmd2_ratio=2.0 + seed,
            ),
            dict(
                dataset="t",
                seed=seed,
                learner=f"GaussianMixture({k}), BIC",
                kind="GaussianMixture, BIC",
                score_varying=gm,
                mmd2_ratio=0.5,
            ),
            # a learner, not the yardstick, though its name says factor analysis
            dict(
                dataset="t",
                seed=seed,
                learner=f"FactorAnalysis({k + 5}), BIC",
                kind="FactorAnalysis, BIC",
                score_varying=fa + 3.0,
                mmd2_ratio=0.9,
            ),
        ]
    rows.append(
        dict(dataset="u", seed=0, learner="DDC-HM", score_varying=-1.0, mmd2_ratio=1.0)
    )
    summary = bench.summarise(rows)
    assert set(summary) == {
        ("t", "FactorAnalysis(2)"),
        ("t", "DDC-HM"),
        ("t", "GaussianMixture, BIC"),
        ("t", "FactorAnalysis, BIC"),
    }
    assert summary["t", "FactorAnalysis, BIC"]["vs FA"] == pytest.approx((3, 3, 3))
    ddc = summary["t", "DDC-HM"]
    assert ddc["log p(x)"] == pytest.approx((-11.75, -12.0, -11.5))
    assert ddc["vs FA"] == pytest.approx((-1.25, -2.0, -0.5))
    assert ddc["MMD^2 x FA's"] == pytest.approx((2.5, 2.0, 3.0))
    assert summary["t", "GaussianMixture, BIC"]["vs FA"] == pytest.approx(
        (5.0, 5.0, 5.0)
    )
    assert "over seeds" in capsys.readouterr().out
    assert bench.summarise(rows[-1:]) == {}


def test_tabular_benchmark_preset_oracle(capsys):
    """bench_tabular.preset_oracle: every compared block in the oracle and in
    the DDC gradient of each kind of units, shaped alike and finite, the two
    kinds different; the oracle's median ESS within [1, draws]; the printed
    lines name the blocks and the units."""
    bench = load_script("bench_tabular")
    (result,) = bench.preset_oracle("cancer", [1], n_rows=20, n_importance=50)
    assert tuple(result["ddc"]) == bench.ORACLE_UNITS == ("statistic", "relu")
    for block in bench.BLOCKS:
        assert np.all(np.isfinite(result["oracle"][block]))
        for grad in result["ddc"].values():
            assert grad[block].shape == result["oracle"][block].shape
            assert np.all(np.isfinite(grad[block]))
    ddc = result["ddc"]
    assert not np.allclose(ddc["statistic"]["layer1.bias"], ddc["relu"]["layer1.bias"])
    assert 1 <= result["median_ess"] <= 50 and result["var_z1"] > 0
    out = capsys.readouterr().out
    assert "layer1.bias" in out and "relu      units" in out


def test_mixture_draws_take_an_equal_block_of_each_component():
    """paper_mnist_sbn.mixture_draws: draw k of the mixture holds, in order,
    the rows [i n / K, (i + 1) n / K) of component i's draw k (n not a
    multiple of K: the blocks' sizes differ by at most one and add to n), so
    its column means are the components' block means weighted by block size."""
    bench = load_script("paper_mnist_sbn")
    rng = np.random.RandomState(0)
    n, n_components, n_draws = 10, 3, 2
    per = [
        [rng.rand(n, 4) + 10 * i + 100 * k for k in range(n_draws)]
        for i in range(n_components)
    ]
    mixed = bench.mixture_draws(per)
    assert len(mixed) == n_draws
    for k, draw in enumerate(mixed):
        assert draw.shape == (n, 4)
        # which component each row came from, read off its offset
        source = ((draw[:, 0] - 100 * k) // 10).astype(int)
        sizes = np.bincount(source, minlength=n_components)
        assert sizes.sum() == n and sizes.max() - sizes.min() <= 1
        assert list(source) == sorted(source)
        start = 0
        for i, size in enumerate(sizes):
            np.testing.assert_array_equal(
                draw[start : start + size], per[i][k][start : start + size]
            )
            start += size


def test_mnist_benchmark_records_the_averaged_iterates():
    """paper_mnist_sbn.record_iterates keeps evenly spaced iterates of fit's
    averaged steps, after a probe fit that it forgets: with every step kept,
    their plain mean is the averaged model fit returns; the training code's
    running mean is restored afterwards."""
    from sklearn.base import clone

    import sklearn_ddchm._base as base
    from sklearn_ddchm import DDCHelmholtzEstimator

    bench = load_script("paper_mnist_sbn")
    X = (np.random.RandomState(0).rand(60, 12) < 0.3).astype(np.float64)
    est = DDCHelmholtzEstimator(
        model="sbn",
        latent_dims=(3,),
        n_encoding=5,
        n_hidden=8,
        n_sleep_samples=30,
        batch_size=10,
        max_iter=5,
        average_fraction=0.4,
        random_state=0,
    )
    original = base._running_mean
    window = math.ceil(0.4 * 5 * 6)  # 12 averaged steps of 30
    with bench.record_iterates(est, len(X), window) as iterates:
        clone(est).set_params(max_iter=1).fit(X)  # a probe
        est.fit(X)
    assert base._running_mean is original
    assert [count for count, _ in iterates] == list(range(1, window + 1))
    fitted = est._trained_parameters()
    for key, value in fitted.items():
        mean = np.mean([params[key] for _, params in iterates], axis=0)
        np.testing.assert_allclose(mean, np.asarray(value), rtol=1e-10, atol=1e-12)
    with bench.record_iterates(est, len(X), 3) as iterates:
        est.fit(X)
    assert [count for count, _ in iterates] == [4, 8, 12]
    before = {k: np.array(v) for k, v in est._trained_parameters().items()}
    lines = bench.iterate_lines(est, iterates, X, 2.0, 1.0, 20, 2)
    assert len(lines) == 5 and lines[0].startswith("  iterate 4 of the averaged")
    assert "iterates' mean ink" in lines[-2]
    assert lines[-1].startswith("  the equal mixture of the 3 iterates: MMD^2")
    # the iterates are evaluated on a copy: the fitted model is untouched
    for key, value in est._trained_parameters().items():
        np.testing.assert_array_equal(np.asarray(value), before[key])


def pickled_tiny_sbn(X, seed, path):
    """A one-epoch DDC-HM SBN 12-4-3 fitted to ``X``, pickled to ``path``."""
    from sklearn_ddchm import DDCHelmholtzEstimator

    est = DDCHelmholtzEstimator(
        model="sbn", latent_dims=(4, 3), n_encoding=10, max_iter=1, random_state=seed
    ).fit(X)
    with open(path, "wb") as f:
        pickle.dump(est, f)
    return est


def ais_score_args(bench, data, images, models, *, cheap=(), own=False):
    """bench_ais.py score's arguments: AIS 2 chains x 5 temperatures."""
    return bench.argparse.Namespace(
        data=str(data),
        images=images,
        chains=2,
        temperatures=5,
        leapfrog=1,
        start="proposal",
        model=[str(m) for m in models],
        cheap=list(cheap),
        own=own,
    )


def test_ais_benchmark_cheap_line_is_log_likelihood_at_those_settings(tmp_path, capsys):
    """bench_ais.py score --cheap T:K prints the mean of log_likelihood with
    T temperatures and K chains (computed here directly, same seed) and its
    difference from the main AIS run, for each saved model; the models'
    names keep their folders apart; a malformed T:K is refused."""
    from sklearn_ddchm import log_likelihood

    bench = load_script("bench_ais")
    X = (np.random.RandomState(0).rand(60, 12) < 0.4).astype(float)
    paths = []
    for seed in (0, 1):
        folder = tmp_path / f"fit{seed}"
        folder.mkdir()
        pickled_tiny_sbn(X, seed, folder / "DDC-HM.pkl")
        paths.append(str(folder / "DDC-HM.pkl"))
    np.save(tmp_path / "x.npy", X[:5])
    bench.run_score(
        ais_score_args(
            bench, tmp_path / "x.npy", 5, paths, cheap=[bench.cheap_spec("3:2")]
        )
    )
    out = capsys.readouterr().out.splitlines()
    cheap = [row for row in out if "AIS 2 chains x 3 temperatures" in row]
    assert len(cheap) == 2
    for path, row in zip(paths, cheap, strict=True):
        with open(path, "rb") as f:
            est = pickle.load(f)
        main = log_likelihood(
            est, X[:5], n_samples=2, n_temperatures=5, random_state=0
        ).log_likelihood
        short = log_likelihood(
            est, X[:5], n_samples=2, n_temperatures=3, random_state=1
        ).log_likelihood
        printed = float(row.split(":")[1].split(",")[0])
        error = float(row.split("mean")[1].split(",")[0])
        assert printed == pytest.approx(np.mean(short), abs=5e-4)
        assert error == pytest.approx(np.mean(short - main), abs=5e-4)
    assert any("fit0/DDC-HM.pkl - fit1/DDC-HM.pkl" in row for row in out)
    for bad in ("3x2", "0:4", "30:"):
        with pytest.raises(bench.argparse.ArgumentTypeError, match="T:K"):
            bench.cheap_spec(bad)
    # without --own, no own-sample lines
    assert not any("own samples" in row for row in out)


def test_conditional_ais_start_gibbs_log_odds_match_brute_force():
    """bench_ais.ConditionalStart: its components' totals sum to the
    conditional proposal's density, and a Gibbs sweep of q^(1 - beta) p^beta
    through them gives every unit of a three-layer SBN (z_2 both the child
    of one conditional factor and the parent of the next) the log-odds of
    the densities toggled by brute force, before and after units move."""
    from sklearn_ddchm._ais import _GibbsSweep, model_components, tile_rows
    from sklearn_ddchm._binary_proposal import conditional_bernoulli_proposal
    from sklearn_ddchm._importance import FactorisedProposal
    from sklearn_ddchm.models import (
        BernoulliLayer,
        BernoulliPrior,
        DeepExponentialFamily,
    )
    from sklearn_ddchm.utils._array_api import logsumexp

    bench = load_script("bench_ais")
    rng = np.random.RandomState(9)
    dims = (8, 4, 3, 2)
    model = DeepExponentialFamily(
        [
            BernoulliLayer(
                d, p, weights=3 * rng.randn(d, p) / np.sqrt(p), bias=rng.randn(d)
            )
            for d, p in zip(dims[:-1], dims[1:], strict=True)
        ]
        + [BernoulliPrior(dims[-1], logits=rng.randn(dims[-1]))]
    )
    n, k, beta = 3, 2, 0.45
    X, _ = model.sample(n, random_state=1)
    recognition = FactorisedProposal(
        [rng.uniform(-0.1, 1.1, size=(n, d)) for d in dims[1:]],
        [None] * 3,
        [True] * 3,
        [rng.uniform(0.2, 0.8, size=(1, d)) for d in dims[1:]],
        [None] * 3,
    )
    q = bench.ConditionalStart.of(conditional_bernoulli_proposal(model, X, recognition))
    latents = [(rng.random_sample((k * n, d)) < 0.5).astype(float) for d in dims[1:]]
    components = q.gibbs_components(latents)
    assert len(components) == 4  # two for z_1, two of the defensive share
    totals = np.stack([total for total, _ in components])
    np.testing.assert_allclose(
        logsumexp(totals, axis=0, xp=np), q.log_prob(latents).reshape(-1), rtol=1e-12
    )
    X_rep = tile_rows(X, k)

    def log_f(values):
        log_q = np.reshape(q.log_prob(values), -1)
        return beta * model.log_joint(X_rep, values) + (1 - beta) * log_q

    sweep = _GibbsSweep(
        X_rep,
        latents,
        [
            (beta, model_components(model, X_rep, latents, [1, 2, 3])),
            (1 - beta, components),
        ],
    )
    for _ in range(2):
        current = [z.copy() for z in sweep.values[1:]]
        for v, d in enumerate(dims[1:], start=1):
            for i in range(d):
                one = [z.copy() for z in current]
                zero = [z.copy() for z in current]
                one[v - 1][:, i], zero[v - 1][:, i] = 1.0, 0.0
                got, _ = sweep.conditional(v, i)
                want = log_f(one) - log_f(zero)
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        for v, i in ((1, 1), (2, 0), (3, 1), (2, 2)):
            sweep.update(v, i, rng.random_sample(k * n))


def test_conditional_ais_start_matches_enumeration_and_is_undone(tmp_path):
    """Inside bench_ais.conditional_ais_start, AIS starts from ConditionalStart
    and its log_likelihood of a small SBN agrees with enumeration (a kernel
    that did not leave the annealed densities invariant would bias it);
    score's short AIS uses the same start; on exit the estimator scores as
    before."""
    from sklearn_ddchm import log_likelihood
    from sklearn_ddchm.utils._exact import enumerated_log_likelihood

    bench = load_script("bench_ais")
    X = (np.random.RandomState(0).rand(60, 12) < 0.4).astype(float)
    est = pickled_tiny_sbn(X, 0, tmp_path / "DDC-HM.pkl")
    rows = X[:20]
    exact = enumerated_log_likelihood(est.model_, rows)
    before = est.score_samples(rows)
    with bench.conditional_ais_start(est):
        start = est._scoring_proposal(rows, for_ais=True)
        assert isinstance(start, bench.ConditionalStart)
        result = log_likelihood(est, rows, n_samples=16, n_temperatures=100)
        inside = est.score_samples(rows)
    err = np.asarray(result.log_likelihood) - exact
    assert abs(np.mean(err)) < 0.05 and np.max(np.abs(err)) < 0.15
    assert not np.allclose(inside, before)
    assert "_scoring_proposal" not in vars(est)
    assert not isinstance(
        est._scoring_proposal(rows, for_ais=True), bench.ConditionalStart
    )
    np.testing.assert_array_equal(est.score_samples(rows), before)


def test_ais_benchmark_own_samples_line(tmp_path, capsys):
    """bench_ais.py score --own prints the same AIS of as many of the model's
    own samples (computed here directly: est.sample(n, random_state=11)) and
    the held-out minus own difference."""
    from sklearn_ddchm import log_likelihood

    bench = load_script("bench_ais")
    X = (np.random.RandomState(0).rand(60, 12) < 0.4).astype(float)
    path = tmp_path / "DDC-HM.pkl"
    est = pickled_tiny_sbn(X, 0, path)
    np.save(tmp_path / "x.npy", X[:6])
    bench.run_score(ais_score_args(bench, tmp_path / "x.npy", 6, [path], own=True))
    out = capsys.readouterr().out.splitlines()
    (row,) = [r for r in out if "own samples" in r]
    held_out = log_likelihood(
        est, X[:6], n_samples=2, n_temperatures=5, random_state=0
    ).log_likelihood
    own = log_likelihood(
        est,
        est.sample(6, random_state=11),
        n_samples=2,
        n_temperatures=5,
        random_state=0,
    ).log_likelihood
    assert float(row.split(":")[1].split(";")[0]) == pytest.approx(
        np.mean(own), abs=5e-4
    )
    printed_diff = float(row.split("own")[2].split("+-")[0])
    assert printed_diff == pytest.approx(np.mean(held_out) - np.mean(own), abs=5e-4)
    (entropy_row,) = [r for r in out if "conditional entropies" in r]
    for name in ("H(x|z_1)", "H(z_1|z_2)", "H(z_2)", "sum H(x, z)"):
        assert name in entropy_row


def test_layer_entropies_match_enumeration():
    """bench_ais.layer_entropies (Monte Carlo -E log p(child | parent)) against
    the exact conditional entropies of a small sigmoid belief network: binary
    entropies of its conditional means, averaged over the parents'
    distribution by enumerating their states."""
    import itertools

    from sklearn_ddchm.models._presets import build_model

    bench = load_script("bench_ais")
    model = build_model("sbn", 6, (3, 2), trainable_prior=True).initialize(
        random_state=4
    )
    # a prior away from fair coins and sharper conditionals, so no entropy
    # is at its maximum
    params = model.trainable_parameters()
    model.set_parameters(
        {
            "layer2.logits": np.array([1.5, -0.7]),
            "layer1.weights": 3.0 * params["layer1.weights"],
            "layer0.weights": 3.0 * params["layer0.weights"],
        }
    )
    prior, middle, observation = model.layers[2], model.layers[1], model.layers[0]

    def binary_entropy(p):
        return float(-np.sum(p * np.log(p) + (1 - p) * np.log1p(-p)))

    def states(d):
        return np.array(list(itertools.product([0.0, 1.0], repeat=d)))

    z2 = states(2)
    p_top = np.asarray(prior.mean(None, n_samples=1))[0]
    p_z2 = np.prod(np.where(z2 == 1, p_top, 1 - p_top), axis=1)
    means_z1 = np.asarray(middle.mean(z2))  # (4, 3)
    z1 = states(3)
    # p(z_1) = sum_{z_2} p(z_2) p(z_1 | z_2)
    p_z1_given = np.prod(
        np.where(z1[None] == 1, means_z1[:, None], 1 - means_z1[:, None]), axis=2
    )
    p_z1 = p_z2 @ p_z1_given
    means_x = np.asarray(observation.mean(z1))
    exact = [
        sum(p * binary_entropy(m) for p, m in zip(p_z1, means_x, strict=True)),
        sum(p * binary_entropy(m) for p, m in zip(p_z2, means_z1, strict=True)),
        binary_entropy(p_top),
    ]
    estimate = bench.layer_entropies(model, 200_000, 0)
    np.testing.assert_allclose(estimate, exact, atol=0.02)


def test_ais_benchmark_times_score_with_both_flip_forms(tmp_path, capsys):
    """bench_ais.py score also times score_samples with the observation
    layer's flip changes by toggled log-densities: the same scores to
    rounding (computed here with the general form patched in directly), and
    the layer keeps its closed form afterwards."""
    from sklearn_ddchm.models._families import _AffineLayer

    bench = load_script("bench_ais")
    X = (np.random.RandomState(0).rand(60, 12) < 0.4).astype(float)
    path = tmp_path / "DDC-HM.pkl"
    est = pickled_tiny_sbn(X, 0, path)
    np.save(tmp_path / "x.npy", X[:6])
    bench.run_score(ais_score_args(bench, tmp_path / "x.npy", 6, [path]))
    out = capsys.readouterr().out.splitlines()
    (row,) = [r for r in out if "closed flip form" in r]
    closed = est.score_samples(X[:6])
    obs = est.model_.layers[0]
    obs.flip_log_prob_changes = bench.types.MethodType(
        _AffineLayer.flip_log_prob_changes, obs
    )
    general = est.score_samples(X[:6])
    printed = float(row.split("largest difference")[1].split()[0])
    assert printed == pytest.approx(np.max(np.abs(general - closed)), abs=1e-12)
    assert printed < 1e-9
    # the benchmark put the closed form back
    with open(path, "rb") as f:
        fresh = pickle.load(f)
    bench.print_flip_form_speed(fresh, X[:6])
    assert "flip_log_prob_changes" not in vars(fresh.model_.layers[0])


def test_oracle_benchmark_reweighted_wake_matches_enumeration():
    """--finetune-steps' reweighted wake phase: with many draws its gradient
    is the exact one (enumeration) on a small SBN, the step also runs the
    sleep phase (one more sleep phase counted), and the fine-tune trains
    through it, one step per minibatch, then leaves fit's own step in place."""
    import copy

    from sklearn_ddchm.utils._exact import enumerated_posterior_gradient

    bench = load_script("bench_oracle_gradient")
    est, X = _small_fitted_sbn()
    exact = enumerated_posterior_gradient(est.model_, X)
    stepped = copy.deepcopy(est)
    phases = stepped._n_sleep_phases
    (grads, state, value), ess = bench.reweighted_wake_gradient(
        stepped, X, 3000, np.random.RandomState(0)
    )
    assert stepped._n_sleep_phases == phases + 1 and state == {}
    assert set(grads) == set(est.model_.trainable_parameters())
    assert ess.shape == (X.shape[0],) and np.all(ess > 1)
    for k, g in grads.items():
        error = np.linalg.norm(g - exact[k])
        assert error < 0.05 * np.linalg.norm(exact[k]), k
    # the mean importance estimate of log p(x) against the exact one
    from sklearn_ddchm.utils._exact import enumerated_log_likelihood

    assert value == pytest.approx(
        np.mean(enumerated_log_likelihood(est.model_, X)), abs=0.05
    )
    tuned = copy.deepcopy(est)
    before = tuned._trained_parameters()
    per_step, median_ess = bench.reweighted_finetune(tuned, X, 50, 1e-3)
    assert per_step > 0 and median_ess >= 1
    assert tuned.n_iter_ == est.n_iter_ + 1
    assert "_gradient_step" not in vars(tuned)
    after = tuned._trained_parameters()
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    # the control (n_draws=None) is the DDC wake phase: no ESS
    assert math.isnan(bench.reweighted_finetune(copy.deepcopy(est), X, None, 1e-3)[1])


def test_oracle_benchmark_prints_ink_minus_posterior_predicted_ink(capsys):
    """--mnist's summed observation-bias line: the oracle's figure against
    the images' ink minus the ink their exact posterior predicts,
    sum_z p(z | x) sum_i sigmoid(a_i(z_1)), by enumeration."""
    from scipy.special import expit, logsumexp

    from sklearn_ddchm.utils._exact import _binary_states

    bench = load_script("bench_oracle_gradient")
    est, X = _small_fitted_sbn()
    result = bench.sbn_gradients(est, X, 32, 20, 100)
    bench.print_gradients(result)
    (row,) = [r for r in capsys.readouterr().out.splitlines() if "summed" in r]
    printed = float(row.split("oracle")[1].split()[0])
    model = est.model_
    latents = _binary_states(model, 2**16)
    weights, bias = model.layers[0].affine_parameters()
    predicted = expit(latents[0] @ weights.T + bias).sum(axis=1)
    gap = []
    for x in X:
        log_joint = model.log_joint(
            np.broadcast_to(x, (len(predicted), x.size)), latents
        )
        posterior = np.exp(log_joint - logsumexp(log_joint))
        gap.append(x.sum() - posterior @ predicted)
    assert printed == pytest.approx(np.sum(result["oracle"]["layer0.bias"]), abs=1e-3)
    # the Gibbs oracle within its Monte Carlo error of the exact figure
    assert printed == pytest.approx(
        np.mean(gap), abs=0.05 * np.mean(np.abs(gap)) + 0.02
    )


def test_tabular_benchmark_exact_posterior_matches_gaussian_conditioning():
    """bench_oracle_gradient's exact posterior of a factor model (information
    form) equals the conditional of the joint Gaussian of ``(z, x)``
    (covariance form: ``m = mu + P L^T S^-1 (x - L mu - b)``, ``C = P - P L^T
    S^-1 L P`` with ``S = L P L^T + Psi``)."""
    from sklearn_ddchm.models import DeepExponentialFamily, GaussianLayer, GaussianPrior

    bench = load_script("bench_oracle_gradient")
    rng = np.random.RandomState(1)
    L, b, log_var = rng.randn(6, 3), rng.randn(6), 0.4 * rng.randn(6)
    mu, log_p = rng.randn(3), 0.3 * rng.randn(3)
    model = DeepExponentialFamily(
        [
            GaussianLayer(6, 3, weights=L, bias=b, log_var=log_var),
            GaussianPrior(3, mean=mu, log_var=log_p),
        ]
    )
    X = rng.randn(20, 6)
    M, C = bench.exact_posterior(model, X)
    P = np.diag(np.exp(log_p))
    S = L @ P @ L.T + np.diag(np.exp(log_var))
    gain = P @ L.T @ np.linalg.inv(S)
    np.testing.assert_allclose(M, mu + (X - L @ mu - b) @ gain.T, rtol=1e-10)
    np.testing.assert_allclose(C, P - gain @ L @ P, rtol=1e-10, atol=1e-12)


def test_standardised_statistic_switch_restores_the_whitening():
    """The benchmark switch makes ``_wake_sleep.whitening`` return the
    identity (the centre kept) inside, and the whitening again after."""
    from sklearn_ddchm import _wake_sleep as ws

    bench = load_script("bench_oracle_gradient")
    S = np.random.RandomState(0).randn(50, 3) @ np.diag([1.0, 5.0, 0.1])
    with bench.standardised_statistic():
        centre, W = ws.whitening(S)
        np.testing.assert_allclose(W, np.eye(3))
        np.testing.assert_allclose(centre, S.mean(axis=0))
    _, W = ws.whitening(S)
    np.testing.assert_allclose(W @ W.T, np.linalg.inv(np.cov(S, rowvar=False)))


def test_tabular_benchmark_principal_variance_ratio():
    """bench_tabular.principal_variance_ratio: 1 for the reference itself,
    the scale for a multiple of it, and for a diagonal reference the ratio
    of the two largest diagonal entries, written out."""
    bench = load_script("bench_tabular")
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    reference = A @ A.T + np.eye(6)
    assert bench.principal_variance_ratio(reference, reference) == pytest.approx(1.0)
    assert bench.principal_variance_ratio(2.5 * reference, reference) == pytest.approx(
        2.5
    )
    ref = np.diag([1.0, 9.0, 4.0, 0.5])
    cov = np.diag([3.0, 18.0, 4.0, 7.0])
    # leading directions of ref: coordinates 1 (9) and 2 (4)
    assert bench.principal_variance_ratio(cov, ref) == pytest.approx(
        (18.0 / 9.0 + 4.0 / 4.0) / 2
    )


def test_tabular_benchmark_ridge_study(capsys):
    bench = load_script("bench_tabular")
    bench.N_IMPORTANCE = 50
    ridges = [bench.penalty("1e-3"), bench.penalty("gcv")]
    assert ridges == [1e-3, "gcv"]
    rows = bench.ridge_study(["wine"], ridges, seeds=[0, 1], epochs=1, n_samples=200)
    assert len(rows) == 2 * 2 * 2  # seeds x penalties x learners
    assert {r["ridge"] for r in rows} == {1e-3, "gcv"}
    for r in rows:
        assert np.isfinite(r["vs_fa"]) and np.isfinite(r["mmd2_ratio"])
        assert np.isfinite(r["spread"]) == (r["learner"] == "one layer")
    out = capsys.readouterr().out
    # the reference penalty's paired difference from itself is exactly 0
    (line,) = [
        x
        for x in out.splitlines()
        if x.strip().startswith("wine     one layer") and "1e-03" in x
    ]
    assert line.count("(+0.000 +- 0.000)") == 3
    assert any(
        x.strip().startswith("wine     one layer") and "gcv" in x
        for x in out.splitlines()
    )


def test_early_stopping_benchmark_ddc_param_reaches_only_ddc_learners(monkeypatch):
    bench = load_script("bench_early_stopping")
    seen = {}

    def record(est, X, X_test, sigma):
        seen[type(est).__name__] = est.get_params()
        return 1, 1, 0.0, 0.0, 0.0, None

    monkeypatch.setattr(bench, "fit_once", record)
    bench.main(
        ["--architectures", "3x2", "--max-iter", "1", "--n-train", "100"]
        + ["--n-test", "30", "--fit-only", "--ddc-param", "ridge=1e-4"]
        + ["--ddc-param", 'hidden_features="relu"']
    )
    ddc = seen["DDCHelmholtzEstimator"]
    assert ddc["ridge"] == 1e-4 and ddc["hidden_features"] == "relu"
    assert "ridge" not in seen["IWAEEstimator"]


def test_tabular_benchmark_ddc_param_reaches_every_ddc_learner(monkeypatch):
    bench = load_script("bench_tabular")
    seen = []

    def record(est, X):
        seen.append(est.get_params())
        raise _Stop  # only the parameters it was given matter here

    monkeypatch.setattr(bench, "timed_fit", record)
    # the run's parameters override a learner's own
    monkeypatch.setattr(bench, "LEARNERS", {"step 1e-2": {"learning_rate": 1e-2}})
    monkeypatch.setattr(bench, "PRESET_LEARNERS", {"preset": {}})
    with pytest.raises(_Stop):
        bench.run(
            ["wine"],
            1,
            [0],
            n_samples=50,
            ddc_params={"sleep_decay": 0.5, "learning_rate": 2e-3},
        )
    assert [(p["sleep_decay"], p["learning_rate"]) for p in seen] == [(0.5, 2e-3)]
    seen.clear()
    monkeypatch.setattr(bench, "LEARNERS", {})
    with pytest.raises(_Stop):
        bench.user_choices(
            *bench.load("wine")[:2],
            3,
            1,
            0,
            50,
            {"mmd2_varying": 1.0},
            {"learning_rate": 1e-3},
        )
    assert [p["learning_rate"] for p in seen] == [1e-3]


class _Stop(Exception):
    pass


def test_ddc_param_option_reads_json_values():
    import argparse

    options = load_script("_options")
    parser = argparse.ArgumentParser()
    options.add_ddc_param(parser)
    args = parser.parse_args(
        ["--ddc-param", "ridge=1e-4", "--ddc-param", 'hidden_features="relu"']
        + ["--ddc-param", "latent_dims=[5, 2]", "--ddc-param", "ridge=3e-4"]
    )
    assert options.ddc_params(args.ddc_param) == {
        "ridge": 3e-4,  # a later item for the same name wins
        "hidden_features": "relu",
        "latent_dims": [5, 2],
    }
    assert options.ddc_params([]) == {}


def test_bench_collapse_records_one_share_per_check_and_unpatches():
    from sklearn_ddchm import DDCHelmholtzEstimator, _guard
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_collapse")
    X, _, _ = make_sparse_hierarchical(400, random_state=0)
    est = DDCHelmholtzEstimator(
        n_encoding=10, n_hidden=10, n_sleep_samples=50, max_iter=2, random_state=0
    )
    sample = _guard.DivergenceGuard._sample
    shares, messages = bench.shares_of_fit(est, X)
    assert _guard.DivergenceGuard._sample is sample
    # the guard's start, then the end of each of the 2 epochs of 4 steps
    assert len(shares) == 3 and messages == []
    assert np.all((shares >= 0) & (shares <= 1))
    s = bench.summary(np.array([0.2, 0.9, 0.3, 0.6]))
    assert (s["start"], s["largest"], s["smallest_after"], s["end"]) == (
        0.2,
        0.9,
        0.3,
        0.6,
    )
    assert s["fall"] == pytest.approx(1 / 3)
    # without averaging the model returned is the one of the last check
    est.set_params(average_fraction=0.0)
    shares, _ = bench.shares_of_fit(est, X)
    assert bench.kept_share(est) == shares[-1]


def test_bench_collapse_keeps_the_end_of_a_fit_that_compared_it(monkeypatch):
    from sklearn_ddchm import DDCHelmholtzEstimator, _guard
    from sklearn_ddchm.datasets import make_sparse_hierarchical

    bench = load_script("bench_collapse")
    X, _, _ = make_sparse_hierarchical(400, random_state=0)
    est = DDCHelmholtzEstimator(
        n_encoding=10, n_hidden=10, n_sleep_samples=50, max_iter=2, random_state=0
    )
    settle = DDCHelmholtzEstimator._settle_drift
    shares, messages, end = bench.fit_keeping_the_end(est, X)
    assert end is None and DDCHelmholtzEstimator._settle_drift is settle
    # every fit compares its end when any share counts as a drift
    monkeypatch.setattr(_guard, "DRIFT_FRACTION", 2.0)
    shares, messages, end = bench.fit_keeping_the_end(est, X)
    assert DDCHelmholtzEstimator._settle_drift is settle
    assert set(end) == set(est._trained_parameters())
    # here the end was the likelier (no warning): it is the model returned
    assert messages == []
    for name, value in est._trained_parameters().items():
        np.testing.assert_array_equal(value, end[name])


def small_rbm(n_visible=5, n_hidden=3, seed=0):
    """A BernoulliRBM with random parameters, small enough to enumerate."""
    from sklearn.neural_network import BernoulliRBM

    rng = np.random.RandomState(seed)
    rbm = BernoulliRBM(n_components=n_hidden)
    rbm.components_ = rng.normal(size=(n_hidden, n_visible))
    rbm.intercept_hidden_ = rng.normal(size=n_hidden)
    rbm.intercept_visible_ = rng.normal(size=n_visible)
    return rbm


def rbm_joint_by_enumeration(rbm):
    """Every visible state and its exact probability, from the joint
    ``exp(b.v + c.h + v W^T h)`` summed over every (v, h) pair."""
    import itertools

    n_visible, n_hidden = rbm.components_.shape[1], rbm.components_.shape[0]
    V = np.array(list(itertools.product([0.0, 1.0], repeat=n_visible)))
    H = np.array(list(itertools.product([0.0, 1.0], repeat=n_hidden)))
    energy = (
        (V @ rbm.intercept_visible_)[:, None]
        + (H @ rbm.intercept_hidden_)[None, :]
        + V @ rbm.components_.T @ H.T
    )
    weight = np.exp(energy).sum(axis=1)
    return V, weight / weight.sum()


def test_binary_benchmark_rbm_likelihood_and_samples_are_exact():
    bench = load_script("bench_binary")
    rbm = small_rbm()
    V, p = rbm_joint_by_enumeration(rbm)
    # the log-likelihood of each visible state, one at a time
    for k in (0, 7, 19, 31):
        assert bench.rbm_log_likelihood(rbm, V[k : k + 1]) == pytest.approx(
            math.log(p[k]), abs=1e-10
        )
    # the draws' frequencies against the exact distribution: a chi-square
    # that an exact sampler passes (2^5 states, 200,000 draws)
    X = bench.rbm_samples(rbm, 200_000, np.random.RandomState(1))
    codes = (X @ (2 ** np.arange(5)[::-1])).astype(int)
    counts = np.bincount(codes, minlength=32)
    expected = p * len(X)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    from scipy.stats import chi2 as chi2_distribution

    assert chi2_distribution.sf(chi2, df=31) > 1e-3


def test_binary_benchmark_independent_bernoulli():
    bench = load_script("bench_binary")
    X_train = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 1, 0]], float)
    X_test = np.array([[1, 0, 1], [0, 1, 0]], float)
    # by hand: p = (3/4, 3/4, 1/8), the never-seen column clipped at 1 / (2 n)
    p = [0.75, 0.75, 0.125]
    rows = [
        math.log(p[0]) + math.log(1 - p[1]) + math.log(p[2]),
        math.log(1 - p[0]) + math.log(p[1]) + math.log(1 - p[2]),
    ]
    assert bench.bernoulli_log_likelihood(X_train, X_test) == pytest.approx(
        np.mean(rows)
    )


def test_binary_benchmark_quick_run(capsys):
    bench = load_script("bench_binary")
    rows = bench.main(
        ["--epochs", "1", "--widths", "4,2", "--no-vimco", "--seeds", "0", "1"]
    )
    out = capsys.readouterr().out
    names = {r["learner"] for r in rows}
    assert bench.DEFAULTS in names and "DDC-HM (4, 2)" in names
    assert any(n.startswith("BernoulliRBM") for n in names)
    defaults = [r for r in rows if r["learner"] == bench.DEFAULTS]
    # "auto" chose from the binarised digits, not (2, 1)
    assert all(r["dims"] != (2, 1) for r in defaults)
    assert all(np.isfinite(r["score"]) and np.isfinite(r["mmd2"]) for r in rows)
    assert "over seeds" in out


def test_mnist_benchmark_latent_dims_option(tmp_path):
    """paper_mnist_sbn.py --latent-dims: "auto" fits the widths that
    auto_latent_dims gives the binarised training images (printed), and
    named widths are fitted as given."""
    from sklearn_ddchm._latent_dims import auto_latent_dims
    from sklearn_ddchm.datasets import binarize, load_mnist

    data = write_tiny_mnist(tmp_path)
    X_train = binarize(load_mnist(str(data))[0], 0)
    expected = auto_latent_dims(X_train, binary=True)
    for option, widths in (("auto", expected), ("3,2", (3, 2))):
        models = tmp_path / option.replace(",", "_")
        stdout = run_mnist_script(
            data,
            *["--ddc-only", "--epochs", "1", "--latent-dims", option],
            *["--save", str(models)],
        )
        printed = f'latent_dims="auto" on the training images: {expected}'
        assert (printed in stdout) == (option == "auto")
        with open(models / "DDC-HM.pkl", "rb") as f:
            assert pickle.load(f).latent_dims_ == widths


def test_bench_stream_last_iterate_is_a_copy_at_the_stream_iterate():
    bench = load_script("bench_stream")
    from sklearn_ddchm import DDCHelmholtzEstimator

    X = np.random.RandomState(0).normal(size=(90, 3))
    est = DDCHelmholtzEstimator(
        n_encoding=10, n_hidden=10, n_sleep_samples=50, batch_size=30, random_state=0
    )
    est.partial_fit(X).partial_fit(X)
    before = {k: np.array(v) for k, v in est._trained_parameters().items()}
    other = bench.last_iterate(est, X)
    for k, v in other._trained_parameters().items():
        np.testing.assert_array_equal(v, est._stream_iterate[k])
        np.testing.assert_array_equal(est._trained_parameters()[k], before[k])
    assert not np.array_equal(
        other.model_.get_parameters()["layer0.weights"],
        est.model_.get_parameters()["layer0.weights"],
    )
    # its recognition model is its own, refitted for the iterate
    assert other.recognition_coefs_ is not est.recognition_coefs_


def test_bench_stream_prints_the_average_the_iterate_and_fit():
    bench = load_script("bench_stream")
    lines = []
    results = bench.run_task(
        "synthetic", 0, [1, 2], with_fit=True, log=lines.append, quick=True
    )
    assert sorted(results, key=str) == [1, 2, "fit"]
    assert len(lines) == 3 and "fit of 2 epochs" in lines[-1]
    for call, line in zip((1, 2), lines, strict=False):
        averaged, iterate = results[call]
        gap = averaged["log p - truth"] - iterate["log p - truth"]
        assert f"averaged - iterate: log p - truth {gap:+.4g}" in line
        assert all(np.isfinite(v) for v in (*averaged.values(), *iterate.values()))


def test_bench_stream_horizon_decays_the_stream_over_its_epochs(monkeypatch):
    bench = load_script("bench_stream")
    made = []
    original = bench.synthetic_task

    def task(seed, quick=False):
        est, X, evaluate = original(seed, quick=quick)
        made.append((est, X))
        return est, X, lambda model: {"log p - truth": 0.0}

    monkeypatch.setattr(bench, "synthetic_task", task)
    bench.run_task("synthetic", 0, [2], horizon=True, log=lambda line: None, quick=True)
    est, X = made[0]
    assert est.learning_rate_decay_samples == 2 * X.shape[0]
    assert est.n_samples_seen_ == 2 * X.shape[0]
    bench.run_task("synthetic", 0, [1], log=lambda line: None, quick=True)
    assert made[1][0].learning_rate_decay_samples is None


def test_centred_wake_subtracts_the_wake_gradient_of_fresh_model_samples():
    bench = load_script("centred_wake")
    from sklearn_ddchm import DDCHelmholtzEstimator

    X = np.random.RandomState(0).normal(size=(60, 3))
    est = DDCHelmholtzEstimator(
        n_encoding=10, n_hidden=10, n_sleep_samples=40, batch_size=20, max_iter=1
    ).fit(X)
    original = DDCHelmholtzEstimator._gradient_step, DDCHelmholtzEstimator._wake
    reference = pickle.loads(pickle.dumps(est))
    with bench.centred_wake(2):
        grads, _, _ = est._gradient_step(X[:20], np.random.RandomState(5))
    assert (DDCHelmholtzEstimator._gradient_step, DDCHelmholtzEstimator._wake) == (
        original
    )
    assert not hasattr(est, "_centring_rng")
    # the same step written out: one sleep phase, the batch's wake gradient
    # and that of 40 model samples drawn next from the same stream
    rng = np.random.RandomState(5)
    reference._n_sleep_phases += 1
    phase = reference._sleep(
        40, rng, accumulate=True, refresh=False, encodings=False, means=True
    )
    batch, _ = reference._wake(X[:20], phase, True)
    X_model, _ = reference.model_.sample(40, random_state=rng)
    own, _ = reference._wake(X_model, phase, True, criterion=False)
    assert set(grads) == set(batch)
    for name in grads:
        np.testing.assert_allclose(grads[name], batch[name] - own[name], atol=1e-12)
    # a wake phase outside a training step is left as it is
    with bench.centred_wake(2):
        outside, _ = reference._wake(X[:20], phase, True)
    for name in outside:
        np.testing.assert_array_equal(outside[name], batch[name])
    observation = bench.centred_gradient(batch, own, observation_only=True)
    for name in grads:
        centred = name.startswith("layer0.")
        expected = batch[name] - own[name] if centred else batch[name]
        np.testing.assert_array_equal(observation[name], expected)
    # samples=0 leaves the estimator's own step
    copy = pickle.loads(pickle.dumps(reference))
    with bench.centred_wake(0):
        a, _, _ = reference._gradient_step(X[:20], np.random.RandomState(1))
    b, _, _ = copy._gradient_step(X[:20], np.random.RandomState(1))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_centred_wake_every_m_steps_reuses_the_last_correction():
    """With every=2 the correction computed at an estimator's first step is
    subtracted again at its second, and a new one is computed at its third;
    with weight=1/2 the second step subtracts the mean of the first two
    fresh corrections (each step against the same step left uncentred, on a
    copy, with the same generators); nothing of it stays on the estimator."""
    bench = load_script("centred_wake")
    from sklearn_ddchm import DDCHelmholtzEstimator

    X = np.random.RandomState(0).normal(size=(60, 3))
    est = DDCHelmholtzEstimator(
        n_encoding=10, n_hidden=10, n_sleep_samples=40, batch_size=20, max_iter=1
    ).fit(X)
    steps = ((5, slice(0, 20)), (6, slice(20, 40)), (7, slice(40, 60)))

    def corrections_of(**options):
        """Each step's correction (its uncentred gradient minus its centred
        one), on copies of ``est`` with the same generators."""
        centring, plain = (pickle.loads(pickle.dumps(est)) for _ in range(2))
        with bench.centred_wake(2, **options):
            centred = [
                centring._gradient_step(X[rows], np.random.RandomState(seed))[0]
                for seed, rows in steps
            ]
        assert not any(key.startswith("_centring") for key in vars(centring))
        return [
            {name: b[name] - c[name] for name in b}
            for c, b in zip(
                centred,
                (
                    plain._gradient_step(X[r], np.random.RandomState(s))[0]
                    for s, r in steps
                ),
                strict=True,
            )
        ]

    corrections = corrections_of(every=2)
    for name in corrections[0]:
        np.testing.assert_allclose(
            corrections[1][name], corrections[0][name], atol=1e-12
        )
    assert any(
        not np.allclose(corrections[2][name], corrections[0][name])
        for name in corrections[0]
    )
    # a running average: each fresh correction enters with weight 1/2
    fresh = corrections_of(every=1)
    averaged = corrections_of(every=1, weight=0.5)
    for name in fresh[0]:
        np.testing.assert_allclose(averaged[0][name], fresh[0][name], atol=1e-12)
        np.testing.assert_allclose(
            averaged[1][name], 0.5 * (fresh[0][name] + fresh[1][name]), atol=1e-12
        )
    for bad in (["--every", "0"], ["--weight", "0"], ["--weight", "1.5"]):
        with pytest.raises(SystemExit):
            bench.main(["--samples", "1", *bad, "--fit", "synthetic", "0"])


def test_centred_wake_fits_a_task(capsys):
    bench = load_script("centred_wake")
    bench.main(["--samples", "1", "--fit", "synthetic", "0", "--quick"])
    line = capsys.readouterr().out
    assert "synthetic seed 0, fit" in line and "log p - truth" in line
    value = float(line.rsplit("log p - truth", 1)[1])
    assert np.isfinite(value)


def test_bench_primitives_prints_a_checked_row_per_shape_and_dtype(monkeypatch, capsys):
    bench = load_script("bench_primitives")
    # one small shape keeps the test quick; the script checks each pair of
    # forms against each other before timing them
    monkeypatch.setattr(bench, "SHAPES", [(3, 7)])
    monkeypatch.setattr(sys, "argv", ["bench_primitives.py", "--repeat", "1"])
    bench.main()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["shape", "dtype"]
    rows = [line.split() for line in lines[1:]]
    assert [row[2] for row in rows] == ["float32", "float64"]
    for row in rows:
        # times and ratios: positive and finite
        values = [float(v) for v in row[3:6] + row[7:10]]
        assert all(0 < v < math.inf for v in values), row


def test_bench_clustered_quick_run_scores_every_learner(capsys):
    """bench_clustered's quick run: every learner of both kinds of task gets a
    finite exact held-out log-likelihood, and the summary compares each with
    DDC-HM's learnt mixture (0 against itself)."""
    bench = load_script("bench_clustered")
    summary = bench.main(
        ["--quick", "--seeds", "0", "--tasks", "synthetic", "diabetes"]
    )
    assert set(summary["synthetic"]) == {"truth", "ddc_True", "ddc_False", "fa", "gmm"}
    assert set(summary["diabetes"]) == {"ddc_True", "ddc_False", "fa", "gmm", "gmm_bic"}
    for per_kind in summary.values():
        assert all(np.isfinite(v).all() for v in per_kind.values())
    out = capsys.readouterr().out
    assert "DDC-HM, fit_prior=True " in out and "+0.000 [+0.000, +0.000]" in out


def _fake_skimage(monkeypatch, images):
    """Stand-ins for ``skimage`` and ``skimage.data`` serving ``images``."""
    import types

    package = types.ModuleType("skimage")
    data = types.ModuleType("skimage.data")
    for name, image in images.items():
        setattr(data, name, lambda image=image: image)
    package.data = data
    monkeypatch.setitem(sys.modules, "skimage", package)
    monkeypatch.setitem(sys.modules, "skimage.data", data)


def test_paper_patches_skimage_source_cuts_the_named_photographs(monkeypatch):
    """``--images skimage``: the photographs of ``SKIMAGE_PHOTOGRAPHS``, cut and
    preprocessed by ``patches_from_images`` with its defaults (those of the
    sample photographs); without scikit-image, an error naming the fix."""
    from sklearn_ddchm.datasets import patches_from_images

    bench = load_script()
    rng = np.random.default_rng(0)
    images = {
        name: rng.integers(0, 256, size=(192, 256), dtype=np.uint8)
        for name in bench.SKIMAGE_PHOTOGRAPHS + ("astronaut",)
    }
    _fake_skimage(monkeypatch, images)
    data, source = bench.load_data("skimage", 300, 100, 3)
    expected = patches_from_images(
        [images[name].astype(float) for name in bench.SKIMAGE_PHOTOGRAPHS],
        n_train=300,
        n_test=100,
        split="regions",
        block_size=64,
        test_size=0.2,
        offset=1.0,
        random_state=3,
    )
    np.testing.assert_array_equal(data.X_train, expected.X_train)
    np.testing.assert_array_equal(data.X_test, expected.X_test)
    assert data.filenames == [f"skimage.data.{n}" for n in bench.SKIMAGE_PHOTOGRAPHS]
    assert all(name in source for name in bench.SKIMAGE_PHOTOGRAPHS)

    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match="pip install scikit-image"):
        bench.load_data("skimage", 300, 100, 3)


def test_paper_patches_skimage_source_on_the_real_photographs():
    pytest.importorskip("skimage")
    bench = load_script()
    data, _ = bench.load_data("skimage", 500, 200, 0)
    assert data.X_train.shape == (500, 256) and data.X_test.shape == (200, 256)
    # preprocessing: every patch's mean removed, unit variance over training
    np.testing.assert_allclose(data.X_train.mean(axis=1), 0, atol=1e-10)
    assert data.X_train.var() == pytest.approx(1.0, rel=1e-6)


def test_sleep_options_from_random_reports_the_exact_held_out_likelihood():
    """``bench_sleep_options.py --from-random``: each option's figure is the
    quadrature log-likelihood of the fit it names (refitted here with the same
    seed), the truth's that of the generating model, and a one-epoch fit from
    a random start is below the truth."""
    from sklearn_ddchm import DDCHelmholtzEstimator
    from sklearn_ddchm.datasets import make_sparse_hierarchical
    from sklearn_ddchm.utils._exact import sparse_quadrature_log_likelihood

    bench = load_script("bench_sleep_options")
    results = bench.from_random(1, epochs=1, n_train=300, n_test=30, log=None)
    X, _, truth = make_sparse_hierarchical(330, random_state=0)
    assert results[0, None] == pytest.approx(
        np.mean(sparse_quadrature_log_likelihood(truth, X[300:]))
    )
    decayed = bench.RANDOM_START_OPTIONS.index(dict(sleep_decay=0.9))
    est = DDCHelmholtzEstimator(max_iter=1, random_state=0, sleep_decay=0.9)
    est.fit(X[:300])
    assert results[0, decayed] == pytest.approx(
        np.mean(sparse_quadrature_log_likelihood(est.model_, X[300:]))
    )
    assert len(results) == len(bench.RANDOM_START_OPTIONS) + 1
    assert all(
        results[0, i] < results[0, None] for i in range(len(bench.RANDOM_START_OPTIONS))
    )
