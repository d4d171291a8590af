"""What differs between Linux, macOS and Windows, in one place.

Everything else in the project is the same code on every system. Each branch here has a
test that runs on Linux by faking the other systems (a module made unimportable, a call
made to raise).
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

# The grader's child process: the channel, the limits, the kill.

def limit_memory(memory_mb: int) -> str | None:
    """Cap this process's data segment at `memory_mb` MiB, so that an allocation past it
    raises MemoryError, and write no core file. None when the cap is set, else why not:
    Windows has no `resource`, and macOS's RLIMIT_DATA caps the whole address space, which
    a Python process has long passed, so setrlimit refuses it."""
    try:
        import resource
    except ImportError:
        return "this system has none (Python has no resource module here)"
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_mb << 20, memory_mb << 20))
    except (ValueError, OSError) as e:
        return f"setrlimit(RLIMIT_DATA) refused it: {e}"
    return None


def new_group_options() -> dict[str, object]:
    """Popen's options that start the child in a process group of its own: a new session
    where the system has one (POSIX), so that kill_group ends what the child started too;
    on Windows a new process group. Either way a Ctrl+C meant for the grader does not reach
    the answers' code."""
    if hasattr(os, "setsid"):
        return {"start_new_session": True}
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}


def kill_group(process: subprocess.Popen) -> None:
    """Kill the child and, where the system has process groups to kill (POSIX), every
    process of its group; Windows kills the child alone. Returns once the child is gone."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(OSError):  # the group is gone, or (macOS) only a zombie
            os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    process.wait()


def user_options(name: str) -> dict[str, object]:
    """Popen's options that start the child as the user `name`, in that user's group and no
    other, so that it reads only what that user may (Gradescope runs its autograders as
    root). ValueError, with why in words, where this process cannot: only root can start a
    process as another user, and Windows has no such users (nor Python's pwd module)."""
    try:
        import pwd
    except ImportError:
        raise ValueError("this system cannot start a process as another user (Python has no "
                         "pwd module here)") from None
    if os.geteuid() != 0:
        raise ValueError("only root can run the answers as another user: run as root, or "
                         "as the user you want")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ValueError(f"no user called {name!r} here") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def how_it_ended(code: int) -> str | None:
    """What ended a child whose exit status is `code` (Popen's returncode), or None when it
    exited by itself. POSIX reports a signal as a negative code; Windows has no signals and
    reports a crash (an access violation, a stack overflow) as an NTSTATUS of 0xC0000000 up."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{name} (out of memory?)" if name == "SIGKILL" else name
    if code >= 0xC0000000:
        return f"exception {code:#x}"
    return None


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


def machine() -> dict[str, object]:
    """The start of a record's machine block: the machine, Python, NumPy and NumPy's BLAS
    (scripts/compare.py and tools/bench.py add what their figures also depend on)."""
    return {"machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "numpy": np.__version__,
            "numpy_blas": numpy_blas()}

# A command's peak memory.

PEAK_OF_CHILD = """import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"""
"""Run a command, then print its peak resident memory. A go-between, because on Linux a
child's peak counts its parent's memory at the fork."""


def peak_mb(argv: Sequence[str]) -> float | None:
    """The peak resident memory of the command `argv`, in MB, in a process of its own; None
    on Windows, which has no getrusage. macOS counts it in bytes, Linux in KiB."""
    if sys.platform == "win32":
        return None
    peak = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, *argv], capture_output=True,
                          encoding="utf-8", check=True)
    return int(peak.stdout) / (1024**2 if sys.platform == "darwin" else 1024)


# Signals.

def writes_past_size_limit_raise() -> None:
    """A write past the file-size limit (ulimit -f) raises OSError (EFBIG), which the
    scripts report in one line, instead of SIGXFSZ killing the process; Windows has no such
    signal, and no such limit."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
