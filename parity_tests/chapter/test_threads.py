"""The thread policy (ch9_shared/threads.py): one BLAS thread for training, each logged test
pass on a second thread, and nothing of it visible in what a run prints or saves."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from ch9_shared import threads
from ch9_shared.config import PRESETS
from ch9_shared.loop import Diverged, Saving, train
from ch9_shared.threads import THREAD_VARIABLES, one_thread, threads_set_by_user
from numpy_impl.fast import FastNetwork
from numpy_impl.network import Network
from parity_tests import conftest
from parity_tests.conftest import blas_threads

SHORT = conftest.SHORT_CONFIG.replace(iterations=12, log_every=10, test_size=10000)


def workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("test-pass")]


def test_log_lines_come_in_order_and_each_checkpoint_matches_its_line(dataset):
    """Every line of the log is handed on before the checkpoint of a later iteration, and a
    checkpoint's weights score what the log line of its iteration says."""
    events, saved = [], {}

    def save(checkpoint) -> None:
        events.append(("save", checkpoint.iteration))
        saved[checkpoint.iteration] = checkpoint

    train(FastNetwork(SHORT.replace(log_every=1)), dataset,
          log=lambda r: events.append(("log", r)), save=Saving(save, "numpy", 5))
    logged = [r.iteration for kind, r in events if kind == "log"]
    assert logged == list(range(12))
    for index, (kind, done) in enumerate(events):
        if kind == "save":
            assert [r.iteration for k, r in events[:index] if k == "log"] == list(range(done))
            record = next(r for k, r in events[:index] if k == "log" and r.iteration == done - 1)
            network = Network(SHORT, saved[done].weights_0_1, saved[done].weights_1_2)
            scores = network.predict(dataset.test_images / 255)
            assert np.count_nonzero(scores.argmax(1) == dataset.test_labels) == \
                record.test_correct
    assert [done for kind, done in events if kind == "save"] == [5, 10, 12]


def test_training_runs_blas_on_one_thread_and_gives_the_pool_back(dataset, monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with threadpool_limits(limits=2, user_api="blas"):  # a pool of 2, whatever the test runner's
        during = []
        train(FastNetwork(SHORT), dataset, log=lambda r: None,
              progress=lambda i: during.append(blas_threads()))
        assert set(during) == {1} and blas_threads() == 2


def test_the_users_thread_count_wins(dataset, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before, during = blas_threads(), []
    train(FastNetwork(SHORT), dataset, progress=lambda i: during.append(blas_threads()))
    assert set(during) == {before}


def test_each_test_pass_runs_on_the_second_thread(dataset, monkeypatch):
    from numpy_impl import fast as module

    names = []
    real = module.test_pass
    monkeypatch.setattr(module, "test_pass", lambda *a: (names.append(
        threading.current_thread().name), real(*a))[1])
    train(FastNetwork(SHORT), dataset, log=lambda r: None)
    assert len(names) == 2 and all(name.startswith("test-pass") for name in names)


def test_where_no_thread_can_start_each_test_pass_runs_inline(dataset, monkeypatch):
    """A process allowed no new threads (RuntimeError: can't start new thread): the run goes
    on, each test pass on this thread, and the log is the same."""
    expected = []
    train(FastNetwork(SHORT), dataset, log=expected.append)

    def refuse(self) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    got, names = [], []
    train(FastNetwork(SHORT), dataset,
          log=lambda r: (got.append(r), names.append(threading.current_thread().name)))
    assert [str(r) for r in got] == [str(r) for r in expected] and len(got) == 2
    assert names == [threading.current_thread().name] * 2 and workers() == []


class Stop(Exception):
    pass


@pytest.mark.parametrize("stop", [KeyboardInterrupt, BrokenPipeError, Stop])
def test_no_thread_is_left_running_when_a_run_stops(stop, dataset):
    """Ctrl-C, a closed pipe (raised by the log's print) or any error: the run stops, its
    worker with it."""
    def log(record) -> None:
        if record.iteration >= 10:
            raise stop()

    with pytest.raises(stop):
        train(FastNetwork(SHORT.replace(log_every=1)), dataset, log=log)
    assert workers() == []


def test_a_diverged_run_still_hands_on_the_lines_before_it(dataset):
    lines = []
    with pytest.raises(Diverged):
        train(FastNetwork(PRESETS["tanh"].replace(mode="exact", output="identity", alpha=1e6,
                                                  iterations=5, log_every=1)),
              dataset, log=lines.append)
    assert [r.iteration for r in lines] == list(range(len(lines))) and workers() == []


# Accelerate (NumPy's BLAS on macOS 14+), which threadpoolctl does not see ------------------

@pytest.fixture
def no_blas_pool(monkeypatch):
    """threadpoolctl sees no BLAS pool, as with Accelerate; none is resized."""
    monkeypatch.setattr(threads, "threadpool_info", lambda: [])
    monkeypatch.setattr(threads, "threadpool_limits", lambda **kw: 1 / 0)


def test_where_no_blas_pool_is_seen_the_policy_still_puts_torch_on_one_thread(
        no_blas_pool, monkeypatch):
    torch = pytest.importorskip("torch")
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_veclib_maximum_threads_is_the_users_thread_count_too(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not threads_set_by_user()
    monkeypatch.setenv("VECLIB_MAXIMUM_THREADS", "4")
    assert threads_set_by_user()


def test_tests_of_the_blas_threads_skip_where_no_pool_is_seen(no_blas_pool):
    assert blas_threads.__module__ == "parity_tests.conftest"
    with pytest.raises(pytest.skip.Exception, match="no BLAS thread pool"):
        blas_threads()


def test_the_machine_block_names_numpys_blas_even_where_threadpoolctl_sees_none(monkeypatch):
    """threadpoolctl's pool of NumPy's library where it sees one; else the BLAS NumPy was
    built with (numpy.show_config), its kernels and threads unknown."""
    seen = threads.numpy_blas()
    assert seen and all(isinstance(pool["num_threads"], int) for pool in seen)
    monkeypatch.setattr(threads, "threadpool_info", lambda: [])
    built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert threads.numpy_blas() == [{"internal_api": built["name"], "version": built["version"],
                                    "architecture": None, "num_threads": None}]
