"""Train chapter 9's network and print the book's log: `python scripts/train.py --help`.

With no flags it reproduces the book's published log (preset tanh, book mode, seed 1)
on the MNIST slice that ships with the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

from numpy_impl.cli import main, numpy_trainer
from numpy_impl.data import DataError


def fetch(dataset: str, cache_dir: Path) -> Path:
    try:
        from torch_impl.datasets import fetch as torchvision_fetch
    except ImportError as e:
        raise DataError(f"--download needs torchvision ({e}): pip install -e '.[torch]'") from None
    return torchvision_fetch(dataset, cache_dir)


if __name__ == "__main__":
    sys.exit(main(
        sys.argv[1:],
        prog="scripts/train.py",
        trainers={
            "numpy": numpy_trainer,
            "torch": "--impl torch is not built yet (it arrives with the torch.nn issue); "
                     "use --impl numpy",
        },
        fetch=fetch,
    ))
