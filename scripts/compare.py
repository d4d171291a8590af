"""Compare the NumPy and torch implementations tensor by tensor, like a backprop checker.

    python scripts/compare.py                      # the book's run: preset tanh, book mode
    python scripts/compare.py --preset relu --mode exact --iterations 20

Three tables: one training step from the same weights, batch and mask (every intermediate
tensor); the whole run (its log and final weights); and, for the same step, book mode
against exact mode, with the difference that the quirk's formula predicts
(docs/design.md). "close" is numpy_impl/close.py's tolerance, scaled to each tensor and
to the dtype. Exits 1 if a tensor of the first two tables, or the formula's row, is not
close; the rest of the third table is expected to differ.

Takes the flags of scripts/train.py that make a run (--preset, --mode, --seed, the
hyperparameters, the data flags) and --device; it writes no files.
"""

from __future__ import annotations

import argparse
import os
import sys

from numpy_impl.cli import (
    CliError,
    _Parser,
    add_data_flags,
    add_device_flag,
    add_run_flags,
    config_from_args,
    data_folder,
)
from numpy_impl.close import STEP_DEPTH, run_depth, tolerance
from numpy_impl.config import ConfigError
from numpy_impl.data import DataError, load
from numpy_impl.threads import one_thread
from numpy_impl.train import Diverged
from torch_impl.datasets import fetch
from torch_impl.device import resolve_device
from torch_impl.parity import all_close, first_step, quirk_rows, run_rows, step_rows, table


def build_parser():
    parser = _Parser(prog="scripts/compare.py", description=__doc__.split("\n\n")[0])
    add_run_flags(parser)
    add_data_flags(parser)
    add_device_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with one_thread():
        return compare(args)


def compare(args: argparse.Namespace) -> int:
    """Print the three tables; the exit status."""
    try:
        config = config_from_args(args)
        dataset = load(data_folder(args, fetch), config.train_size, config.test_size)
        device = resolve_device(args.device)
    except (CliError, ConfigError, DataError) as e:
        print(f"scripts/compare.py: error: {e}", file=sys.stderr)
        return 2
    try:
        first = first_step(config, dataset, device)
        steps = step_rows(first)
        run, same_log = run_rows(config, dataset, device)
    except Diverged as e:
        print(f"scripts/compare.py: error: {e}", file=sys.stderr)
        return 2
    steps_total = config.iterations * (config.train_size // config.batch_size)
    print(f"{config.hidden}/{config.output}, {config.dtype}, seed {config.seed}, on {device}; "
          f"close: |a - b| <= tol (|b| + max|b|), tol = 16 eps x depth: one step "
          f"{tolerance(config.dtype, STEP_DEPTH):.1e}, the run "
          f"{tolerance(config.dtype, run_depth(steps_total)):.1e}\n")
    print(table(f"one step, {config.mode} mode: numpy_impl (by hand) vs torch_impl "
                f"(autograd{', BookHidden' if config.mode == 'book' else ''})", steps),
          end="\n\n")
    print(table(f"whole run, {config.iterations} iterations: numpy_impl vs torch_impl", run))
    print(f"logs identical: {same_log}\n")
    formula_ok = True
    if config.mode == "book":
        quirk = quirk_rows(config, first, first_step(config.replace(mode="exact"), dataset,
                                                     device))
        print(table("the book's quirk, same step: book mode vs exact mode (expected to differ)",
                    quirk))
        formula_ok = quirk[-1].close
    ok = all_close(steps) and all_close(run) and same_log and formula_ok
    print(f"\n{'all tensors within tolerance' if ok else 'OUT OF TOLERANCE'}")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader left (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
