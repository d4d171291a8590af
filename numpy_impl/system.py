"""What differs between Linux, macOS and Windows, in one place.

Everything else in the project is the same code on every system. Each branch here has a
test that runs on Linux by faking the other systems (a module made unimportable, a call
made to raise).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

# The grader's child process: the channel, the limits, the kill.


# BLAS and threads.

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


# Paths and files.
