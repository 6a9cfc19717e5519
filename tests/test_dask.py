"""A model search on a Dask cluster of worker processes equals the serial search.

scikit-learn's searches parallelise through joblib; under
``joblib.parallel_config(backend="dask")`` joblib sends the (candidate, fold)
fits to the workers of the current ``distributed.Client``. The cluster here
is a ``LocalCluster`` of two single-threaded worker processes, so the fits are
pickled, run in other interpreters and their scores sent back, as on a real
cluster. The cluster is started once for the module and always closed by the
fixture; connection timeouts make a cluster that cannot start fail the test
instead of hanging it.
"""

import logging
import os

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ddchm import DDCHelmholtzEstimator
from sklearn_ddchm.metrics import neg_mmd_scorer

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

#: seconds a worker or client may take to connect before the test fails
CONNECT_TIMEOUT = 120


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            timeout=CONNECT_TIMEOUT,
        ) as cluster,
        distributed.Client(cluster, timeout=CONNECT_TIMEOUT) as client,
    ):
        client.wait_for_workers(2, timeout=CONNECT_TIMEOUT)
        yield client


def _search(n_jobs):
    rng = np.random.RandomState(0)
    z = rng.normal(size=(200, 1))
    X = z @ np.array([[3.0, -2.0, 1.0]]) + 0.3 * rng.normal(size=(200, 3)) + 10
    ddc = DDCHelmholtzEstimator(
        model="gaussian",
        latent_dims=1,
        n_hidden=10,
        n_sleep_samples=50,
        batch_size=20,
        max_iter=2,
        init="random",  # the trained model must beat the one that barely moves
        random_state=0,
    )
    pipe = Pipeline([("scale", StandardScaler()), ("ddc", ddc)])
    search = GridSearchCV(
        pipe,
        {"ddc__learning_rate": [1e-6, 0.1], "ddc__n_encoding": [5, 10]},
        scoring=neg_mmd_scorer,
        cv=2,
        n_jobs=n_jobs,
        error_score="raise",
    )
    return search.fit(X)


@pytest.mark.slow
def test_grid_search_on_worker_processes_equals_the_serial_search(client):
    serial = _search(n_jobs=None)
    with (
        distributed.get_task_stream(client) as tasks,
        joblib.parallel_config(backend="dask"),
    ):
        on_cluster = _search(n_jobs=-1)
    # the fits ran on both worker processes, not in this one
    workers = {task["worker"] for task in tasks.data}
    assert workers == set(client.scheduler_info()["workers"])
    for k in range(2):
        key = f"split{k}_test_score"
        # the same fits, bit for bit (one BLAS thread in every process)
        np.testing.assert_array_equal(
            on_cluster.cv_results_[key], serial.cv_results_[key]
        )
    assert np.all(np.isfinite(serial.cv_results_["mean_test_score"]))
    assert on_cluster.best_params_ == serial.best_params_
    assert serial.best_params_["ddc__learning_rate"] == 0.1


def test_workers_inherit_the_environment(client):
    """Array-API runs need SCIPY_ARRAY_API=1 in every worker before scipy is
    imported; a LocalCluster's workers inherit the client's environment (a
    cluster started elsewhere must set it itself: see doc/scaling.rst)."""
    seen = client.run(os.environ.get, "SCIPY_ARRAY_API")
    assert set(seen.values()) == {os.environ.get("SCIPY_ARRAY_API")}
