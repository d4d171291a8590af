"""The thread policy of a run: one BLAS thread for training, the test pass on a second thread.

A chapter run is 3000 small matrix products (100 x ~500 x 100) and 30 wide ones, the test
passes (100 x 668 x 10000). A thread pool gains little on the small products and, on a
machine that is busy with anything else, loses a lot: a BLAS or OpenMP worker that waits
for a core it does not get spins. So training runs its products on one thread, and each
logged test pass, which needs only a copy of the weights, runs on a second Python thread
while training goes on (NumPy and torch release the GIL inside their products). The log
is the same to the digit; docs/performance.md has the measurements behind the policy.

The environment variables OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS and
VECLIB_MAXIMUM_THREADS, when set, override the single BLAS thread: the run then uses what
they say.

Apple's Accelerate (the BLAS of NumPy's wheels for macOS 14+) is the exception: threadpoolctl
does not see it, and it takes its number of threads from VECLIB_MAXIMUM_THREADS only as it
loads, before any of our code could set it. The entry points do not set it (a variable set
for the whole process could not be given back, and would pass for the user's choice), so
there NumPy's products run on the threads Accelerate picks (Grand Central Dispatch's, which
wait without spinning), and torch's on one. To pin Accelerate too, start Python with
VECLIB_MAXIMUM_THREADS=1 (the policy then leaves every thread count as the environment says).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")

T = TypeVar("T")


BLAS_KEYS = ("internal_api", "version", "architecture", "num_threads")


def blas_pools() -> list[dict]:
    """The BLAS thread pools threadpoolctl sees in this process (OpenBLAS, MKL, BLIS). None
    where NumPy uses Apple's Accelerate (its wheels for macOS 14+): threadpoolctl can
    neither see nor resize it."""
    return [pool for pool in threadpool_info() if pool["user_api"] == "blas"]


def one_blas_thread() -> contextlib.AbstractContextManager:
    """NumPy's BLAS on one thread inside the block, where threadpoolctl sees its pool;
    where it sees none (Accelerate), nothing: Accelerate's threads follow
    VECLIB_MAXIMUM_THREADS, which it reads from the environment as it loads."""
    if not blas_pools():
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def numpy_blas() -> list[dict]:
    """NumPy's BLAS, for a machine block: threadpoolctl's pools of NumPy's own library (not
    another's, such as SciPy's when a test has loaded it), with their kernels and threads;
    where it sees none (Accelerate), the BLAS NumPy says it was built with (its name and
    version, from numpy.show_config), kernels and threads unknown."""
    pools = [{key: pool.get(key) for key in BLAS_KEYS} for pool in blas_pools()
             if "numpy" in Path(pool["filepath"]).parent.name]
    if pools:
        return pools
    built = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return [{"internal_api": built.get("name"), "version": built.get("version"),
             "architecture": None, "num_threads": None}]


def threads_set_by_user() -> bool:
    return any(os.environ.get(name) for name in THREAD_VARIABLES)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """The policy, the one place every trainer and script takes it from: inside the block,
    NumPy's BLAS (threadpoolctl) and, where torch is loaded, torch's CPU ops run on one
    thread, unless the user set the number of threads in the environment; the pools' sizes
    come back after. Where threadpoolctl sees no BLAS (Accelerate), torch alone is set (see
    the module's docstring). (torch is looked up, never imported: the NumPy side runs
    without it.)"""
    if threads_set_by_user():
        yield
        return
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else 1
    with one_blas_thread():
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


class SecondThread(Generic[T]):
    """Jobs on a second thread, their results handed on in order, on the caller's thread.

        with SecondThread(log) as tests:
            tests.submit(lambda: test_pass(copy_of_the_weights))  # returns at once
            tests.flush()  # wait for every job submitted, and hand its result on

    Leaving the block hands on what is pending (also when the block raises Diverged: its log
    lines came before the divergence), except on KeyboardInterrupt, BrokenPipeError and the
    like, which cancel what has not started. Either way no thread is left running. With
    `inline`, each job runs at once on the caller's thread (a GPU queues its work anyway);
    so does every job from the first the system gives no thread for (RuntimeError: can't
    start new thread), after the jobs before it.
    """

    def __init__(self, on_result: Callable[[T], object], inline: bool = False):
        self.on_result, self.inline = on_result, inline
        self.pending: deque[Future[T]] = deque()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-pass")

    def submit(self, job: Callable[[], T]) -> None:
        if not self.inline:
            try:
                self.pending.append(self.pool.submit(job))
            except RuntimeError:  # no thread for the worker: this thread does the work
                self.inline = True
        if self.inline:
            self.flush()
            self.on_result(job())
            return
        while self.pending and self.pending[0].done():
            self.on_result(self.pending.popleft().result())

    def flush(self) -> None:
        while self.pending:
            self.on_result(self.pending.popleft().result())

    def __enter__(self) -> SecondThread[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: object, tb: object) -> None:
        try:
            if kind is None or issubclass(kind, ArithmeticError):
                self.flush()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
