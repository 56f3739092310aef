"""The joblib backend ``"godnb"``: joblib's and scikit-learn's parallel calls as godnb jobs,
one bar per call, errors and cancel, the same results as ``n_jobs=1``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import godnb as god
from godnb import Engine
from godnb.core import display
from godnb.execution.context import current_run
from tests.core import funcs

joblib = pytest.importorskip("joblib")
from joblib import Parallel, delayed  # noqa: E402

from godnb.contrib.joblib import GodnbBackend, register_godnb_backend  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def square(x: int) -> int:
    return x * x


def job_options(_: object = None) -> tuple[int, str, str | None]:
    job = current_run.get().job  # type: ignore[union-attr]
    return job.priority, job.group, job.backend


@pytest.fixture
def eng() -> Iterator[Engine]:
    with Engine(threads=4, processes=2) as e:
        yield e


class Recorder:
    """Stands in for the notebook: what godnb asked to show, and how often it was ticked."""

    def __init__(self) -> None:
        self.shown: list[Any] = []
        self.ticks = 0
        self.closed = 0

    def show(self, obj: Any) -> Recorder:
        self.shown.append(obj)
        return self

    def tick(self) -> None:
        self.ticks += 1

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(display, "show", recorder.show)
    return recorder


def test_importing_registers_the_backend() -> None:
    from joblib.parallel import BACKENDS

    assert "godnb" in BACKENDS


def test_parallel_runs_on_the_engine_it_is_given(eng: Engine) -> None:
    before = eng.stats().submitted
    with joblib.parallel_config(backend="godnb", engine=eng):
        out = Parallel(n_jobs=4)(delayed(square)(i) for i in range(200))
    assert out == [square(i) for i in range(200)]
    assert eng.stats().submitted > before  # batches of calls, each one job


def test_default_engine_and_the_older_api(eng: Engine) -> None:
    god.set_default_engine(eng)
    before = eng.stats().submitted
    with joblib.parallel_backend("godnb", n_jobs=2):
        assert Parallel()(delayed(square)(i) for i in range(5)) == [0, 1, 4, 9, 16]
    assert Parallel(n_jobs=2, backend="godnb")(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]
    assert eng.stats().submitted - before >= 2


def test_one_bar_per_call_with_every_batch(eng: Engine, shown: Recorder) -> None:
    with joblib.parallel_config(backend="godnb", engine=eng):
        Parallel(n_jobs=2, batch_size=1)(delayed(time.sleep)(0.05) for _ in range(8))
        Parallel(n_jobs=2)(delayed(square)(i) for i in range(3))
    assert len(shown.shown) == 2 and shown.closed == 2
    group = shown.shown[0]
    assert isinstance(group, god.JobGroup) and group.name == "sleep"
    assert len(group) == 8 and group.finished_count == 8  # it grew with every dispatch
    assert shown.ticks >= 1  # the caller refreshed it while it waited


def test_job_options_and_backend_kwargs(eng: Engine) -> None:
    with joblib.parallel_config(backend="godnb", engine=eng, priority=5, group="sweep"):
        assert Parallel(n_jobs=2)(delayed(job_options)() for _ in range(2)) == \
            [(5, "sweep", "thread")] * 2
    register_godnb_backend(engine=eng, name="godnb-test", priority=-3)
    with joblib.parallel_config(backend="godnb-test"):
        assert Parallel(n_jobs=2)(delayed(job_options)() for _ in range(2)) == \
            [(-3, "default", "thread")] * 2
    with pytest.raises(god.ValidationError, match="priority"):
        Parallel(n_jobs=2, backend=GodnbBackend(engine=eng, priority="high"))(
            delayed(abs)(1) for _ in range(2))
    with pytest.raises(ValueError, match="runs coroutines"):
        Parallel(n_jobs=2, backend=GodnbBackend(engine=eng, on="async"))(
            delayed(abs)(1) for _ in range(2))


def test_n_jobs(eng: Engine) -> None:
    backend = GodnbBackend(engine=eng)
    assert backend.effective_n_jobs(-1) == 4 and backend.effective_n_jobs(-2) == 3
    assert backend.effective_n_jobs(3) == 3
    with pytest.raises(ValueError, match="n_jobs == 0"):
        backend.effective_n_jobs(0)


def test_first_error_is_raised_and_the_rest_cancelled(eng: Engine) -> None:
    before = eng.stats().counts["cancelled"]
    t0 = time.monotonic()
    with joblib.parallel_config(backend="godnb", engine=eng), pytest.raises(RuntimeError,
                                                                            match="bad"):
        Parallel(n_jobs=4, batch_size=1, pre_dispatch="all")(
            [delayed(funcs.cooperative)(), delayed(funcs.cooperative)(),
             delayed(funcs.boom)("bad"), *[delayed(funcs.cooperative)()] * 3])
    # It did not wait for the cooperative jobs (30 s each): they were cancelled.
    assert time.monotonic() - t0 < 20
    assert eng.stats().counts["cancelled"] - before == 5


def test_generators_and_timeout(eng: Engine) -> None:
    with joblib.parallel_config(backend="godnb", engine=eng):
        gen = Parallel(n_jobs=2, return_as="generator")(delayed(square)(i) for i in range(5))
        assert list(gen) == [0, 1, 4, 9, 16]
        with pytest.raises(ValueError, match="generator_unordered"):
            Parallel(n_jobs=2, return_as="generator_unordered")(
                delayed(square)(i) for i in range(5))
        with pytest.raises(TimeoutError):
            Parallel(n_jobs=2, timeout=0.2)(delayed(funcs.cooperative)() for _ in range(2))


def test_process_backend(eng: Engine) -> None:
    with joblib.parallel_config(backend="godnb", engine=eng, on="process"):
        assert Parallel(n_jobs=2)(delayed(funcs.double)(i) for i in range(6)) == \
            [0, 2, 4, 6, 8, 10]


def test_cancelling_the_group_ends_the_call(eng: Engine, shown: Recorder) -> None:
    def cancel_soon() -> None:
        while not shown.shown:
            time.sleep(0.01)
        shown.shown[0].cancel()

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    with joblib.parallel_config(backend="godnb", engine=eng), \
            pytest.raises(god.JobCancelled):
        Parallel(n_jobs=2)(delayed(funcs.cooperative)() for _ in range(4))
    canceller.join()


# -- scikit-learn: the same results as n_jobs=1 ------------------------------------------------
def test_cross_val_score_and_grid_search_match_n_jobs_1(eng: Engine) -> None:
    sklearn = pytest.importorskip("sklearn")
    assert sklearn
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(random_state=0)
    grid = {"max_depth": [1, 2, 3, None], "min_samples_leaf": [1, 5]}
    serial = cross_val_score(model, X, y, cv=5, n_jobs=1)
    serial_grid = GridSearchCV(model, grid, cv=3, n_jobs=1).fit(X, y)
    before = eng.stats().submitted
    with joblib.parallel_config(backend="godnb", engine=eng):
        parallel = cross_val_score(model, X, y, cv=5, n_jobs=4)
        parallel_grid = GridSearchCV(model, grid, cv=3, n_jobs=4).fit(X, y)
    assert eng.stats().submitted - before >= 2
    assert list(parallel) == list(serial)
    assert parallel_grid.best_params_ == serial_grid.best_params_
    assert list(parallel_grid.cv_results_["mean_test_score"]) == \
        list(serial_grid.cv_results_["mean_test_score"])


# -- in a real kernel: the bar is live while the cell waits, final once it returns -----------------
@pytest.mark.kernel
@pytest.mark.timeout(180)
def test_live_bar_in_a_real_kernel() -> None:
    from tests.notebook.test_nb_kernel import SETUP, WIDGET_MIME, run_notebook, stream_text

    cells = run_notebook([
        SETUP,
        "import time, json, joblib\nimport godnb.contrib.joblib\n"
        "import godnb.notebook.showing as showing\n"
        "ticks = []\n_tick = showing.LiveDisplay.tick\n"
        "showing.LiveDisplay.tick = lambda self: (ticks.append(1), _tick(self))[1]\n"
        "eng = god.Engine(threads=2)",
        "with joblib.parallel_config(backend='godnb', engine=eng):\n"
        "    out = joblib.Parallel(n_jobs=2, batch_size=1)(\n"
        "        joblib.delayed(time.sleep)(0.1) for _ in range(6))",
        "print(json.dumps({'ticks': len(ticks), 'n': len(out)}))\neng.shutdown()",
    ])
    outputs = cells[2].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    data = outputs[0].data
    assert WIDGET_MIME not in data  # the live widget gave way to its final state
    assert data["text/plain"].startswith("sleep ") and " 6/6 " in data["text/plain"]
    assert "completed" in data["text/plain"]
    facts = json.loads(stream_text(cells[3]))
    assert facts["n"] == 6 and facts["ticks"] >= 2
