"""Train chapter 9's network and print the book's log: `python scripts/train.py --help`.

With no flags it reproduces the book's published log (preset tanh, book mode, seed 1)
on the MNIST slice that ships with the package. torch is imported only for --impl torch,
--impl idiomatic and --download, so the NumPy side runs where torch is not installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from numpy_impl import cli
from numpy_impl.cli import CliError, Log, Progress, Trained, numpy_trainer
from numpy_impl.config import Config
from numpy_impl.data import Dataset

NEEDS_TORCH = "needs torch and torchvision ({}): pip install -e '.[torch]'"


def torch_trainer(
    config: Config, dataset: Dataset, log: Log, progress: Progress, args: argparse.Namespace
) -> Trained:
    try:
        if args.impl == "idiomatic":
            from torch_impl.idiomatic import idiomatic_trainer as trainer
        else:
            from torch_impl.train import torch_trainer as trainer
    except ImportError as e:
        raise CliError(f"--impl {args.impl} " + NEEDS_TORCH.format(e)) from None
    return trainer(config, dataset, log, progress, args)


def fetch(dataset: str, cache_dir: Path) -> Path:
    try:
        from torch_impl.datasets import fetch as torchvision_fetch
    except ImportError as e:
        raise CliError("--download " + NEEDS_TORCH.format(e)) from None
    return torchvision_fetch(dataset, cache_dir)


TRAINERS = {"numpy": numpy_trainer, "torch": torch_trainer, "idiomatic": torch_trainer}


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, prog="scripts/train.py", trainers=TRAINERS, fetch=fetch)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
