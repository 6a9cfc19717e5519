"""The shared training driver (``sklearn_ddchm._base``): step-size schedules,
streaming with ``partial_fit``, and the verbose lines.

The step sizes are read where they are used, in ``Adam.step``, and compared
with the documented formulas evaluated here from the minibatch sizes alone.
The verbose lines run on a fake clock that advances a fixed time per step, so
the elapsed and remaining times are known exactly.
"""

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn import config_context as sklearn_config

import sklearn_ddchm._base as base
from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.baselines import IWAEEstimator, VAEEstimator, VIMCOEstimator
from sklearn_ddchm.utils._exact import linear_gaussian_log_likelihood
from sklearn_ddchm.utils._optim import Adam

ESTIMATORS = {
    "ddc": lambda **kw: DDCHelmholtzEstimator(
        n_encoding=10, n_hidden=10, n_sleep_samples=50, **kw
    ),
    "vae": lambda **kw: VAEEstimator(hidden_layer_sizes=(4,), **kw),
    "iwae": lambda **kw: IWAEEstimator(n_particles=2, hidden_layer_sizes=(4,), **kw),
    "vimco": lambda **kw: VIMCOEstimator(n_particles=2, **kw),
}


def _data(name, n, seed=0):
    rng = np.random.RandomState(seed)
    if name == "vimco":  # binary observations for the sigmoid belief network
        return (rng.uniform(size=(n, 4)) < 0.3).astype(float)
    return rng.normal(size=(n, 3))


@pytest.fixture
def step_sizes(monkeypatch):
    """The step size of every Adam step taken while the test runs."""
    sizes = []
    original = Adam.step

    def step(self, params, grads, learning_rate=None, scales=None):
        sizes.append(learning_rate)
        return original(self, params, grads, learning_rate, scales)

    monkeypatch.setattr(Adam, "step", step)
    return sizes


def test_adam_scales_multiply_the_step_of_the_named_parameters():
    """Adam's first step is ``lr * g / (|g| + eps / sqrt(1 - beta2))`` (after
    the bias corrections), so a scale multiplies the change of its parameter
    and no other."""
    rng = np.random.RandomState(0)
    params = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    grads = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    plain = Adam(0.1).step(params, grads)
    scaled = Adam(0.1).step(params, grads, scales={"a": 0.25})
    expected = 0.1 * grads["a"] / (np.abs(grads["a"]) + 1e-8 / np.sqrt(1 - 0.999))
    np.testing.assert_allclose(plain["a"] - params["a"], expected)
    np.testing.assert_allclose(scaled["a"] - params["a"], 0.25 * expected)
    np.testing.assert_array_equal(scaled["b"], plain["b"])


def _batch_sizes(n, batch_size):
    return [min(batch_size, n - start) for start in range(0, n, batch_size)]


# ---------------------------------------------------------------------------
# Step-size schedules


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_partial_fit_step_sizes_decay_over_the_sample_horizon(name, step_sizes):
    lr, decay, horizon = 0.1, 0.01, 250
    est = ESTIMATORS[name](
        learning_rate=lr,
        learning_rate_decay=decay,
        learning_rate_decay_samples=horizon,
        batch_size=40,
        random_state=0,
    )
    X = _data(name, 400)
    for start in range(0, 400, 100):
        est.partial_fit(X[start : start + 100])
    # the documented schedule: lr * decay ** (min(1, s / horizon) ** power), s
    # the samples seen before the step, counted across calls; blocks of 100
    # are minibatches of 40, 40, 20
    expected, seen = [], 0
    for _ in range(4):
        for size in _batch_sizes(100, 40):
            progress = min(1.0, seen / horizon)
            expected.append(lr * decay ** (progress**est.learning_rate_decay_power))
            seen += size
    np.testing.assert_allclose(step_sizes, expected, rtol=1e-14)
    assert step_sizes[0] == lr and step_sizes[-1] == pytest.approx(lr * decay)
    assert est.n_samples_seen_ == 400


def test_partial_fit_without_horizon_keeps_the_constant_step(step_sizes):
    est = ESTIMATORS["vae"](learning_rate=0.05, batch_size=30, random_state=0)
    X = _data("vae", 90)
    est.partial_fit(X).partial_fit(X)
    assert step_sizes == [0.05] * 6


def test_fit_step_sizes_decay_over_the_run(step_sizes):
    """fit: lr * decay ** (i / (N - 1)) over its N steps, whatever the horizon."""
    lr, decay = 0.02, 0.1
    est = ESTIMATORS["vae"](
        learning_rate=lr,
        learning_rate_decay=decay,
        learning_rate_decay_samples=7,  # partial_fit only
        batch_size=30,
        max_iter=3,
        random_state=0,
    )
    est.fit(_data("vae", 100))
    n_steps = 3 * len(_batch_sizes(100, 30))
    expected = [lr * decay ** (i / (n_steps - 1)) for i in range(n_steps)]
    np.testing.assert_allclose(step_sizes, expected, rtol=1e-14)


@pytest.mark.parametrize("power", [0.5, 2.0])
def test_decay_power_shapes_both_schedules(power, step_sizes):
    """lr * decay ** (progress ** power), progress over fit's steps or the
    partial_fit horizon; the DDC-HM's default power is 2."""
    assert DDCHelmholtzEstimator().learning_rate_decay_power == 2.0
    lr, decay = 0.02, 0.1
    make = lambda **kw: ESTIMATORS["ddc"](  # noqa: E731
        learning_rate=lr,
        learning_rate_decay=decay,
        learning_rate_decay_power=power,
        batch_size=30,
        random_state=0,
        **kw,
    )
    X = _data("ddc", 90)
    make(max_iter=3).fit(X)
    n_steps = 9
    expected = [lr * decay ** ((i / (n_steps - 1)) ** power) for i in range(n_steps)]
    np.testing.assert_allclose(step_sizes, expected, rtol=1e-14)
    step_sizes.clear()
    est = make(learning_rate_decay_samples=150)
    est.partial_fit(X).partial_fit(X)
    expected = [lr * decay ** (min(1.0, s / 150) ** power) for s in range(0, 180, 30)]
    np.testing.assert_allclose(step_sizes, expected, rtol=1e-14)


def test_the_sample_clock_counts_fit_and_partial_fit(step_sizes):
    X = _data("vae", 100)
    est = ESTIMATORS["vae"](
        max_iter=2, batch_size=50, learning_rate_decay_samples=400, random_state=0
    )
    assert est.fit(X).n_samples_seen_ == 200
    assert est.fit(X).n_samples_seen_ == 200  # a new fit starts a new clock
    est.set_params(warm_start=True).fit(X)
    assert est.n_samples_seen_ == 400
    # partial_fit continues the clock: past the horizon, the floor
    del step_sizes[:]
    est.partial_fit(X)
    assert step_sizes == [est.learning_rate * est.learning_rate_decay] * 2


@pytest.mark.parametrize("value", [0, -3.0, "long", math.nan])
def test_invalid_horizon_is_rejected_by_name(value):
    est = ESTIMATORS["vae"](learning_rate_decay_samples=value)
    with pytest.raises(ValueError, match="learning_rate_decay_samples"):
        est.partial_fit(_data("vae", 20))
    assert not hasattr(est, "model_")


# ---------------------------------------------------------------------------
# Streaming: blocks of a dask array or of a memory-mapped file


def _streamed(make, blocks, n_epochs):
    est = make()
    for _ in range(n_epochs):
        for block in blocks():
            est.partial_fit(block)
    return est


def test_streaming_dask_blocks_and_memmap_equal_in_memory_blocks(tmp_path):
    da = pytest.importorskip("dask.array")
    X = _data("ddc", 300)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    X_dask = da.from_array(X, chunks=(100, -1))

    def make():
        return ESTIMATORS["ddc"](
            learning_rate_decay_samples=600, batch_size=50, random_state=0
        )

    fits = [
        _streamed(make, lambda: (X[i : i + 100] for i in range(0, 300, 100)), 2),
        _streamed(
            make,
            lambda: (X_dask.blocks[i].compute() for i in range(X_dask.numblocks[0])),
            2,
        ),
        # only one block of the file is read into memory at a time
        _streamed(
            make, lambda: (np.asarray(mm[i : i + 100]) for i in range(0, 300, 100)), 2
        ),
    ]
    reference = fits[0].model_.get_parameters()
    for est in fits[1:]:
        assert est.n_samples_seen_ == 600 and est.n_iter_ == 6
        for key, value in est.model_.get_parameters().items():
            np.testing.assert_array_equal(value, reference[key])
    held_out = _data("ddc", 50, seed=1)
    assert fits[1].score(held_out) == fits[0].score(held_out)
    assert fits[1].sample(5).shape == (5, 3)
    assert fits[1].transform(held_out).shape[0] == 50


@pytest.mark.slow
def test_streamed_fit_matches_a_full_fit_on_linear_gaussian_data():
    """E passes over blocks with a horizon of E * n samples follow fit's
    schedule: the held-out log-likelihood of the streamed DDC-HM matches the
    full fit's and the true model's (exact, closed form). Measured on four
    data sets when the test was written: streamed - full within 0.006 nats,
    both within 0.006 of the truth; a constant step streamed 0.0005-0.05
    nats worse."""
    rng = np.random.RandomState(0)
    W, mu, psi = (
        np.array([[2.0, -1.0, 1.0, 1.5]]),
        np.array([1.0, -1.0, 0.5, 2.0]),
        0.25,
    )

    def draw(n):
        return rng.normal(size=(n, 1)) @ W + np.sqrt(psi) * rng.normal(size=(n, 4)) + mu

    X, X_test = draw(2000), draw(1000)
    truth = multivariate_normal(mu, W.T @ W + psi * np.eye(4)).logpdf(X_test).mean()
    n_epochs = 10

    def make(**kw):
        params = dict(
            model="gaussian",
            latent_dims=1,
            n_encoding=20,
            n_hidden=20,
            n_sleep_samples=100,
            learning_rate=0.1,
            batch_size=50,
            init="random",  # a data start is already at the PPCA fit
            random_state=0,
        )
        return DDCHelmholtzEstimator(**{**params, **kw})

    full = make(max_iter=n_epochs).fit(X)
    streamed = _streamed(
        lambda: make(learning_rate_decay_samples=n_epochs * len(X)),
        lambda: (X[i : i + 500] for i in range(0, len(X), 500)),
        n_epochs,
    )
    start = make(max_iter=1, learning_rate=1e-9).fit(X)

    def exact(est):
        return linear_gaussian_log_likelihood(est.model_, X_test).mean()

    assert exact(start) < truth - 10  # far from the truth at the start
    assert exact(streamed) == pytest.approx(exact(full), abs=0.02)
    assert exact(streamed) == pytest.approx(truth, abs=0.03)
    # score estimates it (100 importance samples shared by every row)
    assert streamed.score(X_test) == pytest.approx(exact(streamed), abs=0.1)


# ---------------------------------------------------------------------------
# Verbose lines


@pytest.fixture
def fake_clock(monkeypatch):
    """A clock that advances 0.5 s per training step."""
    now = [0.0]
    monkeypatch.setattr(base, "_clock", lambda: now[0])
    original = base.BaseDeepGenerativeEstimator._step

    def step(self, *args, **kwargs):
        now[0] += 0.5
        return original(self, *args, **kwargs)

    monkeypatch.setattr(base.BaseDeepGenerativeEstimator, "_step", step)
    return now


def test_verbose_1_prints_epochs_times_step_size_and_a_closing_line(
    capsys, fake_clock, step_sizes
):
    est = ESTIMATORS["vae"](max_iter=3, batch_size=25, verbose=1, random_state=0)
    est.fit(_data("vae", 100))
    lines = capsys.readouterr().out.splitlines()
    c = est.training_curve_
    # 4 steps of 0.5 s per epoch, 12 in all
    assert lines == [
        f"[VAEEstimator] epoch 1/3: ELBO = {c[0]:.4f}, step size "
        f"{step_sizes[3]:.3g}, elapsed 2.0s, remaining ~4.0s",
        f"[VAEEstimator] epoch 2/3: ELBO = {c[1]:.4f}, step size "
        f"{step_sizes[7]:.3g}, elapsed 4.0s, remaining ~2.0s",
        f"[VAEEstimator] epoch 3/3: ELBO = {c[2]:.4f}, step size "
        f"{step_sizes[11]:.3g}, elapsed 6.0s, remaining ~0.0s",
        "[VAEEstimator] fit done: 3 epochs, 12 steps in 6.0s (500.00 ms per step)",
    ]


def test_verbose_2_adds_lines_every_tenth_of_an_epoch(
    capsys, fake_clock, step_sizes, monkeypatch
):
    criteria = []
    original = base.BaseDeepGenerativeEstimator._step

    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        criteria.append(float(self._last_criterion))
        return out

    monkeypatch.setattr(base.BaseDeepGenerativeEstimator, "_step", step)
    est = ESTIMATORS["vae"](max_iter=1, batch_size=10, verbose=2, random_state=0)
    est.fit(_data("vae", 200))
    lines = capsys.readouterr().out.splitlines()
    # 20 steps: a line after steps 2, 4, ..., 18, then the epoch and closing lines
    assert len(lines) == 11
    for k, line in zip(range(2, 20, 2), lines[:9], strict=True):
        assert line == (
            f"[VAEEstimator]   step {k}/20 of epoch 1: ELBO = "
            f"{np.mean(criteria[:k]):.4f} (epoch so far), step size "
            f"{step_sizes[k - 1]:.3g}, elapsed {0.5 * k:.1f}s, "
            f"remaining ~{0.5 * (20 - k):.1f}s"
        )
    assert lines[9].startswith("[VAEEstimator] epoch 1/1: ELBO = ")
    assert lines[10].startswith("[VAEEstimator] fit done: 1 epochs, 20 steps")


@pytest.mark.parametrize("name", ["ddc", "vae"])
def test_long_epochs_evaluate_the_criterion_on_every_kth_minibatch(name, monkeypatch):
    # 20 minibatches, at least 5 with a criterion: every 4th (0, 4, ..., 16);
    # DDC-HM skips the others' criterion (None); the VAE's comes for free with
    # its gradient, and the epoch's figure is the mean of all that exist.
    monkeypatch.setattr(base, "CRITERION_BATCHES_PER_EPOCH", 5)
    calls = []
    original = base.BaseDeepGenerativeEstimator._step

    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls.append((kwargs["criterion"], self._last_criterion))
        return out

    monkeypatch.setattr(base.BaseDeepGenerativeEstimator, "_step", step)
    est = ESTIMATORS[name](max_iter=2, batch_size=10, random_state=0)
    est.fit(_data(name, 200))
    assert [wanted for wanted, _ in calls] == [b % 4 == 0 for b in range(20)] * 2
    for wanted, value in calls:
        assert (value is not None) if wanted else (name == "vae" or value is None)
    for epoch in range(2):
        values = [
            float(v) for _, v in calls[20 * epoch : 20 * (epoch + 1)] if v is not None
        ]
        assert len(values) == (5 if name == "ddc" else 20)
        assert est.training_curve_[epoch] == pytest.approx(np.mean(values), rel=1e-12)


def test_verbose_partial_fit_line_counts_epochs_and_samples(capsys, fake_clock):
    est = ESTIMATORS["vae"](batch_size=50, verbose=1, random_state=0)
    X = _data("vae", 100)
    est.partial_fit(X).partial_fit(X)
    lines = capsys.readouterr().out.splitlines()
    c = est.training_curve_
    assert lines == [
        f"[VAEEstimator] partial_fit epoch 1 (100 samples seen): ELBO = "
        f"{c[0]:.4f}, step size 0.001, elapsed 1.0s",
        f"[VAEEstimator] partial_fit epoch 2 (200 samples seen): ELBO = "
        f"{c[1]:.4f}, step size 0.001, elapsed 1.0s",
    ]


def test_verbose_0_is_silent(capsys):
    ESTIMATORS["vae"](max_iter=2, random_state=0).fit(_data("vae", 50))
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "seconds, text",
    [(0.04, "0.0s"), (59.94, "59.9s"), (125.4, "2m05s"), (3725.0, "1h02m")],
)
def test_durations_read_as_seconds_minutes_hours(seconds, text):
    assert base._format_duration(seconds) == text


# ---------------------------------------------------------------------------
# Averaging the last iterates of fit (average_fraction)


@pytest.fixture
def iterates(monkeypatch):
    """The trained parameters after every Adam step taken while the test runs."""
    seen = []
    original = Adam.step

    def step(self, params, grads, learning_rate=None, scales=None):
        new = original(self, params, grads, learning_rate, scales)
        seen.append({k: np.array(v, copy=True) for k, v in new.items()})
        return new

    monkeypatch.setattr(Adam, "step", step)
    return seen


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_fit_averages_the_last_iterates(name, fraction, iterates):
    """The fitted parameters are the mean of the last ceil(f * N) of fit's N
    iterates; averaging changes nothing else (same iterates, same noise)."""
    X = _data(name, 100)
    make = lambda f: ESTIMATORS[name](  # noqa: E731
        batch_size=30, max_iter=3, random_state=0, average_fraction=f
    )
    last = make(0.0).fit(X)
    trajectory = list(iterates)
    iterates.clear()
    averaged = make(fraction).fit(X)
    n_steps = 3 * len(_batch_sizes(100, 30))
    assert len(trajectory) == n_steps
    # the training itself is unchanged
    for a, b in zip(iterates, trajectory, strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    n_mean = math.ceil(fraction * n_steps)
    expected = {
        k: np.mean([it[k] for it in trajectory[-n_mean:]], axis=0)
        for k in trajectory[-1]
    }
    got = {**averaged.model_.trainable_parameters()}
    got.update({"extra." + k: v for k, v in averaged._get_extra_parameters().items()})
    assert set(got) == set(expected)
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-10, atol=1e-12)
    # and the unaveraged fit ends at its last iterate
    for k, v in last.model_.trainable_parameters().items():
        np.testing.assert_array_equal(v, trajectory[-1][k])


def _polynomial_decay_weights(t, fraction):
    """The weight of each of ``t`` iterates in ``_decaying_mean``'s average,
    in closed form: with ``eta = 2 / f - 2`` and ``w_s = (eta + 1) / (s +
    eta)``, iterate ``s`` keeps ``w_s * prod_{r > s} (1 - w_r)`` and ``1 - w_r
    = (r - 1) / (r + eta)``, a ratio of gamma functions."""
    from scipy.special import gammaln

    eta = 2.0 / fraction - 2.0
    s = np.arange(1, t + 1, dtype=float)
    log_tail = gammaln(t) - gammaln(s) - gammaln(t + eta + 1) + gammaln(s + eta + 1)
    return (eta + 1) / (s + eta) * np.exp(log_tail)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_decaying_mean_against_its_closed_form_weights(fraction):
    rng = np.random.RandomState(0)
    values = rng.normal(size=(40, 3))
    mean = None
    for count, v in enumerate(values, start=1):
        mean = base._decaying_mean(mean, {"a": v}, count, fraction)
    weights = _polynomial_decay_weights(40, fraction)
    np.testing.assert_allclose(weights.sum(), 1.0)
    np.testing.assert_allclose(mean["a"], weights @ values, rtol=1e-12)
    if fraction == 1.0:  # the mean of all
        np.testing.assert_allclose(mean["a"], values.mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_decaying_mean_weighs_the_stream_like_the_last_fraction(fraction):
    """Its centre of mass after many steps is that of a uniform average of
    the last ``fraction`` of them, ``1 - fraction / 2``, and most of its
    weight lies on the most recent ``2 * fraction`` of the steps."""
    t = 100_000
    weights = _polynomial_decay_weights(t, fraction)
    position = np.arange(1, t + 1) / t
    assert weights @ position == pytest.approx(1 - fraction / 2, abs=1e-3)
    assert weights[position > 1 - 2 * fraction].sum() > 0.85


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_partial_fit_averages_its_stream_and_continues_from_the_iterate(name, iterates):
    """With average_fraction > 0, model_ holds the polynomial-decay average
    of every iterate of the stream, across calls (closed-form weights), and
    each call continues from the last iterate: the iterates are those of the
    unaveraged stream. With 0, model_ is the last iterate."""
    X = _data(name, 90)
    make = lambda f: ESTIMATORS[name](  # noqa: E731
        batch_size=30, random_state=0, average_fraction=f
    )
    last = make(0.0).partial_fit(X).partial_fit(X)
    trajectory = list(iterates)
    iterates.clear()
    averaged = make(0.5).partial_fit(X).partial_fit(X)
    assert len(trajectory) == len(iterates) == 6
    for a, b in zip(iterates, trajectory, strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    weights = _polynomial_decay_weights(6, 0.5)
    for k, v in averaged._trained_parameters().items():
        expected = np.tensordot(weights, np.stack([it[k] for it in trajectory]), 1)
        np.testing.assert_allclose(v, expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(averaged._stream_iterate[k], trajectory[-1][k])
        np.testing.assert_array_equal(last._trained_parameters()[k], trajectory[-1][k])
    assert last._stream_iterate is None
    # a fraction set to 0 mid-stream continues from the iterate and keeps it
    iterates.clear()
    averaged.set_params(average_fraction=0.0).partial_fit(X)
    assert averaged._stream_iterate is None and averaged._stream_average is None
    assert averaged._n_stream_steps == 0  # averaging again starts afresh
    for k, v in averaged._trained_parameters().items():
        np.testing.assert_array_equal(v, iterates[-1][k])
    # fit starts afresh
    averaged.set_params(average_fraction=0.5, max_iter=1).fit(X)
    assert averaged._stream_iterate is None and averaged._n_stream_steps == 0


def test_a_warm_fit_goes_on_from_the_average_and_ends_the_stream(monkeypatch):
    starts = []
    original = Adam.step

    def step(self, params, grads, learning_rate=None, scales=None):
        starts.append({k: np.array(v, copy=True) for k, v in params.items()})
        return original(self, params, grads, learning_rate, scales)

    monkeypatch.setattr(Adam, "step", step)
    X = _data("ddc", 90)
    est = ESTIMATORS["ddc"](batch_size=30, random_state=0, max_iter=1)
    est.partial_fit(X).partial_fit(X)
    average = est._trained_parameters()
    starts.clear()
    est.set_params(warm_start=True).fit(X)
    for k, v in starts[0].items():
        np.testing.assert_array_equal(v, average[k])
    assert est._stream_iterate is None and est._stream_average is None
    assert est._n_stream_steps == 0
    # the next call streams on from fit's model, not from the old iterate
    fitted = est._trained_parameters()
    starts.clear()
    est.partial_fit(X)
    for k, v in starts[0].items():
        np.testing.assert_array_equal(v, fitted[k])


def test_ddc_default_averages_the_last_tenth():
    assert DDCHelmholtzEstimator().average_fraction == 0.1
    assert VAEEstimator().average_fraction == 0.0


# --------------------------------------------------------------------------
# Early stopping on a held-out share of fit's rows


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_early_stopping_keeps_the_best_validated_epoch(
    name, fraction, iterates, monkeypatch
):
    """Every epoch is scored on the held-out rows as the mean of its last
    ceil(average_fraction * steps) iterates (its last iterate for 0), a run
    without improvement by tol stops after n_iter_no_change epochs, the fit
    ends at the best-scoring epoch's mean, and training goes on from each
    epoch's last iterate."""
    starts = []  # the parameters each step starts from
    recording = Adam.step

    def step(self, params, grads, learning_rate=None, scales=None):
        starts.append({k: np.array(v, copy=True) for k, v in params.items()})
        return recording(self, params, grads, learning_rate, scales)

    monkeypatch.setattr(Adam, "step", step)
    X = _data(name, 100)
    est = ESTIMATORS[name](
        batch_size=20,
        max_iter=6,
        random_state=0,
        early_stopping=True,
        validation_fraction=0.1,
        average_fraction=fraction,
        tol=1e9,  # nothing after the first epoch counts as an improvement
        n_iter_no_change=2,
    ).fit(X)
    assert est.n_iter_ == 3 and len(est.validation_scores_) == 3
    assert est.converged_
    assert est.best_validation_score_ == max(est.validation_scores_)
    steps = len(_batch_sizes(90, 20))  # 10 of the 100 rows held out
    assert len(iterates) == 3 * steps == 15
    n_mean = max(1, math.ceil(fraction * steps))  # 3 of 5 for 0.5
    windows = [iterates[steps * (e + 1) - n_mean : steps * (e + 1)] for e in range(3)]
    means = [{k: np.mean([it[k] for it in w], axis=0) for k in w[0]} for w in windows]
    best = means[int(np.argmax(est.validation_scores_))]
    for k, v in est._trained_parameters().items():
        np.testing.assert_allclose(v, best[k], rtol=1e-10, atol=1e-12)
    # each epoch after the first starts from the last iterate, not the mean
    for e in (1, 2):
        for k, v in starts[steps * e].items():
            np.testing.assert_array_equal(v, iterates[steps * e - 1][k])
    # the held-out rows: the first 10 of random_state's permutation
    X_val = X[np.random.RandomState(0).permutation(100)[:10]]
    X_train = X[np.random.RandomState(0).permutation(100)[10:]]
    for k, params in enumerate(means):
        est._set_trained_parameters(params)
        est._finalize_fit(X_train, np.random.RandomState(k))
        if name == "ddc":  # its proposal also depends on the sleep draws
            assert abs(est.score(X_val) - est.validation_scores_[k]) < 0.5
        else:
            assert est.score(X_val) == pytest.approx(est.validation_scores_[k])


def test_early_stopping_runs_on_while_the_validation_score_improves():
    X = _data("vae", 100)
    est = ESTIMATORS["vae"](
        batch_size=30, max_iter=4, random_state=0, early_stopping=True
    ).fit(X)
    assert est.n_iter_ == 4 and not est.converged_  # 10 epochs of patience


def test_validation_scores_are_none_without_early_stopping():
    X = _data("ddc", 60)
    est = ESTIMATORS["ddc"](max_iter=1, random_state=0).fit(X)
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    est.set_params(early_stopping=True).partial_fit(X)  # partial_fit ignores it
    assert est.validation_scores_ is None


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_validation_fraction_outside_the_open_interval_is_rejected(fraction):
    est = ESTIMATORS["vae"](early_stopping=True, validation_fraction=fraction)
    with pytest.raises(ValueError, match="validation_fraction"):
        est.fit(_data("vae", 20))


def test_early_stopping_without_rows_to_train_on_fails_and_keeps_the_fit():
    est = ESTIMATORS["vae"](max_iter=1, random_state=0).fit(_data("vae", 20))
    before = {k: np.copy(v) for k, v in est.model_.get_parameters().items()}
    est.set_params(early_stopping=True, validation_fraction=0.5)
    with pytest.raises(ValueError, match="validation_fraction=0.5 of X's 1 rows"):
        est.fit(_data("vae", 1))
    for k, v in est.model_.get_parameters().items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("name", ["ddc", "vae"])
def test_early_stopping_on_backend_matches_numpy(name, backend):
    """The same split, the same epochs scored alike, on every namespace/device."""
    X = _data(name, 80)
    make = lambda: ESTIMATORS[name](  # noqa: E731
        max_iter=3, random_state=0, early_stopping=True
    )
    with sklearn_config(array_api_dispatch=False):
        want = make().fit(X).validation_scores_
    got = make().fit(backend.asarray(X))
    np.testing.assert_allclose(got.validation_scores_, want, rtol=1e-8)
    assert type(got.model_.layers[0].params["bias"]) is type(backend.asarray(X))
