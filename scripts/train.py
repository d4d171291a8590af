"""Train chapter 9's network and print the book's log: `python scripts/train.py --help`.

With no flags it reproduces the book's published log (preset tanh, book mode, seed 1)
on the MNIST slice that ships with the package. torch is imported only for --impl torch,
--impl idiomatic and --download, so the NumPy side runs where torch is not installed.
"""

from __future__ import annotations

import sys

from scripts import cli


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, prog="scripts/train.py")


if __name__ == "__main__":
    cli.exit_with(lambda: main(sys.argv[1:]))
