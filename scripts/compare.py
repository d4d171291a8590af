"""Compare the NumPy and torch implementations tensor by tensor, like a backprop checker.

    python scripts/compare.py                      # the book's run: preset tanh, book mode
    python scripts/compare.py --preset relu --mode exact --iterations 20
    python scripts/compare.py --json docs/parity/tanh_book_float64.json   # the docs' run

Three tables: one training step from the same weights, batch and mask (every intermediate
tensor); the whole run (its log and final weights); and, for the same step, book mode
against exact mode, with the difference that the quirk's formula predicts
(docs/design.md). "close" is ch9_shared/close.py's tolerance, scaled to each tensor and
to the dtype. Exits 1 if a tensor of the first two tables, or the formula's row, is not
close; the rest of the third table is expected to differ.

Takes the flags of scripts/train.py that make a run (--preset, --mode, --seed, the
hyperparameters, the data flags) and --device. --json PATH writes every row of the three
tables, the settings and the machine as JSON; it is the only file it writes. The figures
that docs/parity.md and docs/walkthrough.md quote are such files, in docs/parity/
(parity_tests/chapter/test_parity_figures.py holds the pages to them).
"""

from __future__ import annotations

import scripts  # noqa: F401  first: a signal during the imports below is one line

# isort: split

import argparse
import dataclasses
import json
import sys

import numpy as np

from ch9_shared import system
from ch9_shared.close import STEP_DEPTH, Comparison, run_depth, tolerance
from ch9_shared.config import Config, ConfigError
from ch9_shared.data import DataError, Dataset, load
from ch9_shared.files import OutputError, distinct, writable_file, write_atomically
from ch9_shared.loop import Diverged
from ch9_shared.threads import one_thread
from scripts.cli import (
    CliError,
    Parser,
    about,
    add_data_flags,
    add_device_flag,
    add_run_flags,
    as_flags,
    command_line,
    config_from_args,
    data_files,
    data_flag,
    data_folder,
    device_flag,
    exit_with,
    imports_of_the_torch_extra,
    output_file,
)

with imports_of_the_torch_extra("scripts/compare.py"):
    import torch

    from torch_impl.parity import (
        all_close,
        first_step_both_sides,
        quirk_rows,
        run_rows,
        step_rows,
        table,
    )

TABLES = ("one_step", "whole_run", "quirk")
"""The document's tables, in the order they are printed (quirk: book mode only)."""


def build_parser():
    parser = Parser(prog="scripts/compare.py", description=about(__doc__))
    add_run_flags(parser)
    add_data_flags(parser)
    add_device_flag(parser)
    parser.add_argument("--json", type=output_file, metavar="PATH",
                        help="also write every row of the tables, the settings and the "
                        "machine here, as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with one_thread(), np.errstate(all="ignore"):  # a divergence is one line, not warnings
        return compare(args)


def compare(args: argparse.Namespace) -> int:
    """Print the three tables (and write them with --json); the exit status."""
    try:
        if args.json is not None:
            distinct({"--json": args.json}, {data_flag(args): data_files(args)})
            writable_file("--json", args.json)
        config = config_from_args(args)
        folder = data_folder(args)
        dataset = load(folder, config.train_size, config.test_size)
        device = device_flag(args.device, config.dtype)
    except (CliError, ConfigError, DataError, OutputError) as e:
        print(f"scripts/compare.py: error: {as_flags(e)}", file=sys.stderr)
        return 2
    try:
        document = record(config, dataset, device,
                          "the shipped data" if folder is None else str(folder))
    except Diverged as e:
        print(f"scripts/compare.py: error: {as_flags(e)}", file=sys.stderr)
        return 2
    print(report(document))
    if args.json is not None:
        text = json.dumps(document, indent=1) + "\n"
        write_atomically(args.json, lambda f: f.write(text.encode()))
    return 0 if document["ok"] else 1


def record(config: Config, dataset: Dataset, device: torch.device | str,
           data: str = "the shipped data") -> dict:
    """Run the comparisons: the settings, the machine, every row of the three tables (as
    dicts: dataclasses.asdict of ch9_shared/close.py's Comparison) and the verdict."""
    first = first_step_both_sides(config, dataset, device)
    steps = step_rows(first)
    run, same_log = run_rows(config, dataset, device)
    exact = config.replace(mode="exact")
    quirk = (quirk_rows(config, first, first_step_both_sides(exact, dataset, device))
             if config.mode == "book" else [])
    ok = (all_close(steps) and all_close(run) and same_log
          and (not quirk or quirk[-1].close))  # the formula's row: the rest is to differ
    steps_total = config.iterations * (config.train_size // config.batch_size)
    return {
        "settings": {"command": f"{command_line(config, 'scripts/compare.py')} --device "
                                f"{torch.device(device).type}",
                     "config": dataclasses.asdict(config), "device": str(device),
                     "dtype": config.dtype, "data": data, "steps": steps_total,
                     "tolerance": {"one_step": tolerance(config.dtype, STEP_DEPTH),
                                   "whole_run": tolerance(config.dtype,
                                                          run_depth(steps_total))}},
        "machine": machine(),
        **{name: [row_dict(row) for row in rows]
           for name, rows in zip(TABLES, (steps, run, quirk), strict=True)},
        "logs_identical": same_log,
        "ok": ok,
    }


def row_dict(row: Comparison) -> dict:
    return {**dataclasses.asdict(row), "shape": list(row.shape)}


def rows_of(document: dict, name: str) -> list[Comparison]:
    """A table of a recorded document as Comparison rows again."""
    return [Comparison(**{**row, "shape": tuple(row["shape"])}) for row in document[name]]


def machine() -> dict:
    """What the last digits of a comparison depend on: the libraries, NumPy's BLAS kernels
    (`ch9_shared.system.machine`) and the threads (a sum split across threads adds in
    another order)."""
    return {**system.machine(), "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_threads": torch.get_num_threads()}


def report(document: dict) -> str:
    """The tables as scripts/compare.py prints them, from a document that `record` made
    (or that --json wrote)."""
    settings, config = document["settings"], document["settings"]["config"]
    tol = settings["tolerance"]
    mode = config["mode"]
    lines = [f"{config['hidden']}/{config['output']}, {config['dtype']}, seed {config['seed']}, "
             f"on {settings['device']}; close: |a - b| <= tol (|b| + max|b|), tol = 16 eps x "
             f"depth: one step {tol['one_step']:.1e}, the run {tol['whole_run']:.1e}", "",
             table(f"one step, {mode} mode: numpy_impl (by hand) vs torch_impl "
                   f"(autograd{', BookHidden' if mode == 'book' else ''})",
                   rows_of(document, "one_step")), "",
             table(f"whole run, {config['iterations']} iterations: numpy_impl vs torch_impl",
                   rows_of(document, "whole_run")),
             f"logs identical: {document['logs_identical']}", ""]
    if mode == "book":
        lines.append(table("the book's quirk, same step: book mode vs exact mode (expected to "
                           "differ)", rows_of(document, "quirk")))
    lines += ["", "all tensors within tolerance" if document["ok"] else "OUT OF TOLERANCE"]
    return "\n".join(lines)


if __name__ == "__main__":
    exit_with(main, verdict=True)
