"""Shared fixtures: the shipped data, the repository's paths, a CLI runner, and DEVICES."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from common.data import Dataset, load

REPO = Path(__file__).resolve().parent.parent
REFERENCE_LOG = Path(__file__).parent / "reference" / "book_ch9_seed1.log"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")])]
"""Parametrize a test over these: the CPU runs the body of every CUDA test, and only the
CUDA parameter skips where torch sees no GPU (`pytest -m cuda` runs just those)."""

BLOCK_TORCH = "import sys; sys.modules.update(torch=None, torchvision=None); "
"""Prefix for `python -c`: any later `import torch` raises ImportError."""


def pytest_configure(config: pytest.Config) -> None:
    """Each pytest-xdist worker computes on one thread (torch, and NumPy's BLAS). Two
    workers whose thread pools each want both of two cores spin while they wait for each
    other: the quick study took 200 s so, and 29 s alone. Runs started as processes of
    their own keep the project's thread policy."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
        threadpool_limits(limits=1)


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
    """What a command did: its exit status and its two streams."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def script(capsys):
    """Run a script's `main` in this process, as `python SCRIPT ARGS` would: for tests of
    what a command says and does, where a process of its own adds nothing but seconds."""
    import importlib

    def call(name: str, args: list[str]) -> Ran:
        folder = Path(name).parent.name or "scripts"  # tools/bench.py: the tools' folder
        main = importlib.import_module(f"{folder}.{Path(name).stem}").main
        capsys.readouterr()
        try:
            status = main(args)
        except SystemExit as stop:  # argparse's errors
            status = stop.code
        out, err = capsys.readouterr()
        return Ran(status, out, err)
    return call


def run(args: list[str], block_torch: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `python ARGS` from the repository root; with block_torch, torch cannot be imported."""
    if block_torch:
        assert args[0] in ("scripts/train.py", "-m")
        target = (f"runpy.run_module({args[1]!r}, run_name='__main__')" if args[0] == "-m"
                  else f"runpy.run_path({args[0]!r}, run_name='__main__')")
        rest = args[2:] if args[0] == "-m" else args[1:]
        code = (BLOCK_TORCH + f"import runpy; sys.argv = ['x', *{rest!r}]; " + target)
        args = ["-c", code]
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
