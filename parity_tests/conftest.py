"""Shared fixtures and constants: the shipped data, the repository's paths, the command-line
harness (`script` in this process, `run` in a process of its own), DEVICES, the log line,
the BLAS pools' threads, and the markers of what a test needs from the system.

torch is not imported here: the NumPy tests run where it is not installed (a GPU's
parameters look for torch only when a test of theirs is set up)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from ch9_shared.close import Comparison, compare
from ch9_shared.config import PRESETS
from ch9_shared.data import Dataset, load
from ch9_shared.threads import blas_pools

REPO = Path(__file__).resolve().parent.parent
REFERENCE_LOG = Path(__file__).parent / "reference" / "book_ch9_seed1.log"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

SHORT = ["--preset", "relu", "--iterations", "4", "--log-every", "2", "--test-size", "500"]
"""A short run's flags (about a second): a test that needs another length, log or device
gives those flags after these (argparse keeps the last)."""
SHORT_CONFIG = PRESETS["relu"].replace(iterations=4, log_every=2, test_size=500)
"""The same short run, as a Config."""

LOG_LINE = re.compile(r"I:\d+ Test-Acc:[0-9.e-]+ Train-Acc:[0-9.e-]+")
"""One line of the book's log."""

CUDA = pytest.param("cuda", marks=[
    pytest.mark.cuda,
    pytest.mark.skipif("not __import__('torch').cuda.is_available()",
                       reason="no CUDA GPU here")])
MPS = pytest.param("mps", marks=[
    pytest.mark.mps,
    pytest.mark.skipif("not __import__('torch_impl.device').device.mps_usable()",
                       reason="no usable Apple GPU (MPS) here")])
DEVICES = ["cpu", CUDA, MPS]
"""Parametrize a test over these: the CPU runs the body of every GPU test, and only the CUDA
and MPS parameters skip where torch cannot use that GPU (`pytest -m cuda`, `-m mps` run just
those). MPS has no float64: a test of float64 takes FLOAT64_DEVICES, or skips with
`float64_on`."""
FLOAT64_DEVICES = ["cpu", CUDA]


def dtype_for(device: str) -> str:
    """The chapter's float64 where `device` has it; float32 on MPS."""
    return "float32" if device == "mps" else "float64"


def float64_on(device: str, dtype: str) -> None:
    """Skip the test where `device` cannot run `dtype`: float64 on MPS."""
    if device == "mps" and dtype == "float64":
        pytest.skip("MPS has no float64")


def blas_threads() -> int:
    """The most threads of a BLAS pool threadpoolctl sees; the test skips where it sees none
    (Apple's Accelerate, NumPy's BLAS on macOS 14+)."""
    pools = blas_pools()
    if not pools:
        pytest.skip("threadpoolctl sees no BLAS thread pool here (Accelerate, on macOS?)")
    return max(pool["num_threads"] for pool in pools)


def importable(*names: str) -> bool:
    """Whether each module imports here (Windows has no pty, fcntl, termios or resource)."""
    try:
        for name in names:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def installed(name: str) -> bool:
    """Whether module `name` is there to import, found without importing it (a module set to
    None in sys.modules, as the tests block torch, counts as missing)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # in sys.modules without a spec
        return False


HAS_TORCH = installed("torch")
NEEDS_TORCH = "needs torch: pip install -e '.[torch]'"
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason=NEEDS_TORCH)
"""For a test of the torch side in a module of the NumPy side's; a module of the torch side
alone starts with `pytest.importorskip("torch", reason=NEEDS_TORCH)`."""


def can_symlink() -> bool:
    """Whether this process may make a symbolic link (Windows lets only an administrator or
    Developer Mode make one)."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            (Path(folder) / "link").symlink_to(folder)
        except (OSError, NotImplementedError):
            return False
    return True


def has_signal(name: str) -> bool:
    """Whether the system has the signal (Windows has no SIGALRM and no SIGKILL)."""
    return hasattr(signal, name)


def has_folder(path: str) -> bool:
    """Whether the system has the folder: /proc and /sys are Linux's."""
    return Path(path).is_dir()


needs_pty = pytest.mark.skipif(not importable("pty", "fcntl", "termios"),
                               reason="needs a pseudo-terminal (pty, fcntl, termios): not on "
                               "Windows")
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"),
                                reason="needs os.mkfifo (a named pipe): not on Windows")
needs_symlinks = pytest.mark.skipif(not can_symlink(),
                                    reason="cannot make a symbolic link here (Windows: only an "
                                    "administrator or Developer Mode can)")
needs_proc = pytest.mark.skipif(not has_folder("/proc/self"), reason="needs Linux's /proc")
needs_sys = pytest.mark.skipif(not has_folder("/sys/kernel"), reason="needs Linux's /sys")


def needs_signal(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not has_signal(name), reason=f"this system has no signal.{name}")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a Python child whose output a test reads as UTF-8: it writes UTF-8
    too (on Windows a pipe would otherwise carry the ANSI code page, cp1252)."""
    return {**os.environ, "PYTHONIOENCODING": "utf-8", **extra}


def peak_within(peak_mb: float | None, low: float, high: float) -> bool:
    """A peak memory of tools/bench.py within (low, high) MB, or None where the system
    gives none (bench.peak_mb: no getrusage on Windows)."""
    if sys.platform == "win32":
        return peak_mb is None
    return peak_mb is not None and low < peak_mb < high


BLOCK_TORCH = "import sys; sys.modules.update(torch=None, torchvision=None, scipy=None); "
"""Prefix for `python -c`: any later import of what the torch extra installs (torch,
torchvision, SciPy) raises ImportError."""


def pytest_configure(config: pytest.Config) -> None:
    """Each pytest-xdist worker computes on one thread (NumPy's BLAS here, torch once the
    tests are collected). Two workers whose thread pools each want both of two cores spin
    while they wait for each other: the quick study took 200 s so, and 29 s alone. Runs
    started as processes of their own keep the project's thread policy."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        threadpool_limits(limits=1)


def pytest_collection_finish(session: pytest.Session) -> None:
    """torch on one thread in a pytest-xdist worker, where a collected test imported it."""
    torch = sys.modules.get("torch")
    if os.environ.get("PYTEST_XDIST_WORKER") and torch is not None:
        torch.set_num_threads(1)


def assert_close(actual: object, expected: object, name: str = "tensor",
                 depth: float = 1) -> Comparison:
    """Raise AssertionError, naming the tensor and by how much it is off, unless close."""
    comparison = compare(name, actual, expected, depth)
    if not comparison.close:
        raise AssertionError(str(comparison))
    return comparison


def softmax_vjp(output: np.ndarray, grad_output: np.ndarray, base: float = math.e
                ) -> np.ndarray:
    """dL/dx from dL/d(output), using only the output s = softmax(x):

        dL/dx_i = ln(base) * s_i * (g_i - sum_j g_j s_j)
    """
    dot = np.sum(grad_output * output, axis=1, keepdims=True)
    return math.log(base) * output * (grad_output - dot)


@pytest.fixture(autouse=True)
def hint_levels(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                ) -> Path:
    """A cache folder of the test's own (XDG_CACHE_HOME, which its children inherit): the
    hint levels a test reaches (exercises/hints.py) are kept there, never in the user's
    ~/.cache, and none is left from another test."""
    from exercises import hints
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(hints, "unsaved", None)
    return cache


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return load()


def first_test_images(dataset: Dataset, test_size: int) -> Dataset:
    """The dataset with only its first `test_size` test images, as `--test-size` loads it."""
    return Dataset(dataset.train_images, dataset.train_labels, dataset.test_images[:test_size],
                   dataset.test_labels[:test_size])


@pytest.fixture(scope="session")
def book_run() -> subprocess.CompletedProcess[str]:
    """`python scripts/train.py`, the chapter as a learner first runs it, in a process of
    its own: run once, for every test of what it prints."""
    return run(["scripts/train.py"])


@pytest.fixture(scope="session")
def shared_mnist() -> Path:
    if not (SHARED_MNIST / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"the full MNIST is not at {SHARED_MNIST}")
    return SHARED_MNIST


@dataclass
class Ran:
    """What a command did: its exit status and its two streams (and, where the caller asked
    to catch it, the exception that escaped its `main`)."""

    returncode: int | str | None
    stdout: str
    stderr: str
    raised: BaseException | None = None


def in_process(name: str, args: list[str],
               catch: tuple[type[BaseException], ...] = ()) -> Ran:
    """Run a script's `main` in this process, as `python NAME ARGS` would (NAME:
    scripts/train.py, tools/bench.py): for tests of what a command says and does, where a
    process of its own adds nothing but seconds. An exception of a kind in `catch` is
    handed back in `raised`, with what was printed before it; any other goes on."""
    folder = Path(name).parent.name or "scripts"
    main = importlib.import_module(f"{folder}.{Path(name).stem}").main
    out, err = io.StringIO(), io.StringIO()
    status: int | str | None = None
    raised = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(args)
        except SystemExit as stop:  # argparse's errors
            status = stop.code
        except catch as error:
            raised = error
    return Ran(status, out.getvalue(), err.getvalue(), raised)


@pytest.fixture
def script():
    """`in_process`, as a fixture: `script("scripts/train.py", [...])`."""
    return in_process


def run(args: list[str], block_torch: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `python ARGS` from the repository root; with block_torch (ARGS: a script and its
    arguments), torch, torchvision and SciPy cannot be imported."""
    if block_torch:
        code = (BLOCK_TORCH + f"import runpy; sys.argv = ['x', *{args[1:]!r}]; "
                f"runpy.run_path({args[0]!r}, run_name='__main__')")
        args = ["-c", code]
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                          encoding="utf-8", env=child_env(), timeout=600)
