"""The thread policy (common/threads.py): one BLAS thread for training, each logged test
pass on a second thread, and nothing of it visible in what a run prints or saves."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from common.config import PRESETS
from numpy_impl.network import Network
from numpy_impl.train import Diverged
from numpy_impl.train import train as numpy_train

SHORT = PRESETS["relu"].replace(iterations=12)


def workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("test-pass")]


def blas_threads() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def test_log_lines_come_in_order_and_each_checkpoint_matches_its_line(dataset):
    """Every line of the log is handed on before the checkpoint of a later iteration, and a
    checkpoint's weights score what the log line of its iteration says."""
    events, saved = [], {}

    def save(checkpoint) -> None:
        events.append(("save", checkpoint.iteration))
        saved[checkpoint.iteration] = checkpoint

    numpy_train(SHORT.replace(log_every=1), dataset, log=lambda r: events.append(("log", r)),
                save=save, save_every=5)
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
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    with threadpool_limits(limits=2, user_api="blas"):  # a pool of 2, whatever the test runner's
        during = []
        numpy_train(SHORT, dataset, log=lambda r: None, progress=lambda i: during.append(
            blas_threads()))
        assert set(during) == {1} and blas_threads() == 2


def test_the_users_thread_count_wins(dataset, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before, during = blas_threads(), []
    numpy_train(SHORT, dataset, progress=lambda i: during.append(blas_threads()))
    assert set(during) == {before}


def test_each_test_pass_runs_on_the_second_thread(dataset, monkeypatch):
    from numpy_impl import train as module

    names = []
    real = module.test_pass
    monkeypatch.setattr(module, "test_pass", lambda *a: (names.append(
        threading.current_thread().name), real(*a))[1])
    numpy_train(SHORT, dataset, log=lambda r: None)
    assert len(names) == 2 and all(name.startswith("test-pass") for name in names)


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
        numpy_train(SHORT.replace(log_every=1), dataset, log=log)
    assert workers() == []


def test_a_diverged_run_still_hands_on_the_lines_before_it(dataset):
    lines = []
    with pytest.raises(Diverged):
        numpy_train(PRESETS["tanh"].replace(mode="exact", output="identity", alpha=1e6,
                                            iterations=5, log_every=1),
                    dataset, log=lines.append)
    assert [r.iteration for r in lines] == list(range(len(lines))) and workers() == []
