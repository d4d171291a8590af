"""Regenerate the figures of the README and the walkthrough (docs/images/).

    python scripts/figures.py [--out docs/images]

Trains the chapter three times (NumPy book mode, NumPy exact mode, torch book mode; about
15 s) and draws: book vs exact mode, NumPy vs torch, the weight templates and class
averages of the book's run, the activation table, and the book's slope beside the gradient's.
"""

from __future__ import annotations

import scripts  # noqa: F401  first: a signal during the imports below is one line

# isort: split

import sys
from pathlib import Path

from ch9_shared.config import PRESETS
from ch9_shared.data import SHIPPED, load
from ch9_shared.files import OutputError, distinct, writable_files
from ch9_shared.loop import LogRecord, train
from numpy_impl.fast import FastNetwork
from scripts import chapter_figures as figures
from scripts.cli import (
    CliError,
    Parser,
    about,
    as_flags,
    exit_with,
    idx_files,
    imports_of_the_torch_extra,
    need_matplotlib,
)

with imports_of_the_torch_extra("scripts/figures.py"):
    from torch_impl.hand_built import HandBuiltModel

FIGURES = ("curves_book_vs_exact.png", "curves_numpy_vs_torch.png", "weight_templates.png",
           "class_averages.png", "activations.png", "book_slopes.png")
"""The files it writes in --out, in order."""
OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="scripts/figures.py", description=about(__doc__))
    parser.add_argument("--out", type=Path, default=OUT, help="folder (default: docs/images)")
    args = parser.parse_args(argv)
    try:  # before the training, not after
        outputs = writable_files("--out", args.out, FIGURES)
        distinct({"--out": outputs}, {"the run": idx_files(SHIPPED)})
        need_matplotlib(parser.prog)
    except (CliError, OutputError) as e:
        print(f"scripts/figures.py: error: {as_flags(e)}", file=sys.stderr)
        return 2
    data = load()
    book, exact = PRESETS["tanh"], PRESETS["tanh"].replace(mode="exact")
    runs: dict[str, list[LogRecord]] = {"numpy book": [], "numpy exact": [], "torch book": []}
    network = train(FastNetwork(book), data, runs["numpy book"].append)
    train(FastNetwork(exact), data, runs["numpy exact"].append)
    train(HandBuiltModel(book, "cpu"), data, runs["torch book"].append)
    title = "tanh/softmax, seed 1, 1000 training images"
    curves_modes, curves_sides, templates, averages, table, slopes = (
        args.out / name for name in FIGURES)
    written = [
        figures.training_curves({"book mode": runs["numpy book"],
                                 "exact mode": runs["numpy exact"]}, curves_modes, title),
        figures.training_curves({"numpy_impl": runs["numpy book"],
                                 "torch_impl": runs["torch book"]}, curves_sides,
                                f"{title}: the two logs are the same"),
        figures.weight_templates(network.weights_0_1, network.weights_1_2, templates),
        figures.class_averages(data.train_images, data.train_labels, averages),
        figures.activation_table(table),
        figures.book_slopes(slopes),
    ]
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_with(main)
