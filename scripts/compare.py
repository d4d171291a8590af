"""Compare the NumPy and torch implementations tensor by tensor, like a backprop checker.

    python scripts/compare.py                      # the book's run: preset tanh, book mode
    python scripts/compare.py --preset relu --mode exact --iterations 20

Three tables: one training step from the same weights, batch and mask (every intermediate
tensor); the whole run (its log and final weights); and, for the same step, book mode
against exact mode, with the difference that DESIGN.md's formula predicts. Exits 1 if a
tensor of the first two tables is out of tolerance (float64: 1e-12; float32:
torch.testing.assert_close's defaults); the third table is there to explain, not to pass.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
import torch

from numpy_impl.cli import CliError, build_parser, config_from_args, data_folder
from numpy_impl.config import Config
from numpy_impl.data import DataError, Dataset, load
from numpy_impl.network import Network, Step, book_slope_error
from numpy_impl.train import dropout_masks, initial_weights, make_batches
from numpy_impl.train import train as numpy_train
from torch_impl.datasets import fetch
from torch_impl.network import Network as TorchNetwork
from torch_impl.network import Step as TorchStep
from torch_impl.train import resolve_device
from torch_impl.train import train as torch_train

TOLERANCE = {"float64": (1e-12, 1e-12), "float32": (1.3e-6, 1e-5)}  # (rtol, atol)


class Table:
    """Rows of name, shape, exact, close, max abs diff, max rel diff."""

    def __init__(self, title: str, rtol: float, atol: float):
        self.title, self.rtol, self.atol, self.rows = title, rtol, atol, []
        self.all_close = True

    def add(self, name: str, a: np.ndarray, b: np.ndarray) -> None:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        diff = np.abs(a - b)
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        close = bool(np.all(diff <= self.atol + self.rtol * np.abs(b)))
        self.all_close &= close
        self.rows.append((name, "x".join(map(str, a.shape)), str(np.array_equal(a, b)), str(close),
                          f"{diff.max():.2e}", f"{rel.max():.2e}"))

    def __str__(self) -> str:
        header = ("tensor", "shape", "exact", "close", "max abs diff", "max rel diff")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(len(header))]
        rows = [header, *self.rows]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        return "\n".join([self.title, *lines])


class FirstStep(NamedTuple):
    """The run's first step, taken by both sides from the same weights, batch and mask."""

    network: Network
    step: Step
    model: TorchNetwork
    torch_step: TorchStep
    weights_1_2: np.ndarray  # as it was before the step
    dropout_mask: np.ndarray


def first_step(config: Config, dataset: Dataset, device: torch.device | str = "cpu") -> FirstStep:
    rng = np.random.RandomState(config.seed)
    weights_0_1, weights_1_2 = initial_weights(rng, config)
    batch = make_batches(dataset.train_images, dataset.train_labels, config)[0]
    dropout_mask = dropout_masks(rng, config)[0].astype(config.dtype)
    dtype = np.dtype(config.dtype)

    network = Network(config, weights_0_1.astype(dtype), weights_1_2.astype(dtype))
    step = network.train_step(batch.layer_0, batch.labels, dropout_mask, batch.pixels)

    model = TorchNetwork.from_numpy(config, weights_0_1, weights_1_2, device)
    layer_0 = np.zeros((config.batch_size, network.weights_0_1.shape[0]), dtype)
    layer_0[:, batch.pixels] = batch.layer_0
    optimizer = torch.optim.SGD(model.parameters(), lr=config.alpha)
    inputs = (torch.from_numpy(a).to(device) for a in (layer_0, batch.labels, dropout_mask))
    torch_step = model.train_step(*inputs, optimizer)
    return FirstStep(network, step, model, torch_step, weights_1_2, dropout_mask)


def step_table(config: Config, first: FirstStep) -> Table:
    table = Table(f"one step, {config.mode} mode: numpy_impl (by hand) vs torch_impl "
                  f"(autograd{', BookHidden' if config.mode == 'book' else ''})",
                  *TOLERANCE[config.dtype])
    for name in ("layer_1", "layer_2", "layer_2_delta", "layer_1_delta"):
        table.add(name, getattr(first.step, name), getattr(first.torch_step, name).cpu().numpy())
    for name in ("weights_1_2", "weights_0_1"):
        table.add(f"{name} (updated)", getattr(first.network, name),
                  getattr(first.model, name).weight.detach().cpu().numpy().T)
    return table


def whole_run(config: Config, dataset, device: torch.device) -> tuple[Table, bool]:
    numpy_log, torch_log = [], []
    network = numpy_train(config, dataset, lambda r: numpy_log.append(str(r)))
    model = torch_train(config, dataset, lambda r: torch_log.append(str(r)), device=str(device))
    table = Table(f"whole run, {config.iterations} iterations: numpy_impl vs torch_impl",
                  *TOLERANCE[config.dtype])
    for name in ("weights_0_1", "weights_1_2"):
        table.add(f"{name} (final)", getattr(network, name),
                  getattr(model, name).weight.detach().cpu().numpy().T)
    return table, numpy_log == torch_log


def quirk(config: Config, book: FirstStep, exact: FirstStep) -> Table:
    """The same first step in book and in exact mode, on the NumPy side."""
    table = Table("the book's quirk, same step: book mode vs exact mode (expected to differ)",
                  *TOLERANCE[config.dtype])
    table.add("layer_2_delta", book.step.layer_2_delta, exact.step.layer_2_delta)
    table.add("layer_1_delta", book.step.layer_1_delta, exact.step.layer_1_delta)
    table.add("weights_1_2 (updated)", book.network.weights_1_2, exact.network.weights_1_2)
    table.add("weights_0_1 (updated)", book.network.weights_0_1, exact.network.weights_0_1)
    t = book.step.layer_1 / 2
    predicted = ((book.step.layer_2_delta @ book.weights_1_2.T) * book.dropout_mask
                 * book_slope_error(config.hidden, t))
    table.add("layer_1_delta book-exact vs formula",
              book.step.layer_1_delta - exact.step.layer_1_delta, predicted)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = build_parser("scripts/compare.py")
    parser.description = __doc__.split("\n\n")[0]
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        dataset = load(data_folder(args, fetch), config.train_size, config.test_size)
        device = resolve_device(args.device)
    except (CliError, DataError, ValueError) as e:
        print(f"scripts/compare.py: error: {e}", file=sys.stderr)
        return 2
    first = first_step(config, dataset, device)
    steps = step_table(config, first)
    run_table, same_log = whole_run(config, dataset, device)
    print(f"{config.hidden}/{config.output}, {config.dtype}, seed {config.seed}, on {device}; "
          f"close: |a - b| <= {steps.atol:g} + {steps.rtol:g} |b|\n")
    print(steps, end="\n\n")
    print(run_table)
    print(f"logs identical: {same_log}\n")
    if config.mode == "book":
        print(quirk(config, first, first_step(config.replace(mode="exact"), dataset, device)))
    ok = steps.all_close and run_table.all_close and same_log
    print(f"\n{'all tensors within tolerance' if ok else 'OUT OF TOLERANCE'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
