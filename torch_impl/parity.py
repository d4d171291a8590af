"""The parity checks: the NumPy side by hand against the torch side by autograd, tensor by
tensor, under ch9_shared/close.py's one notion of "close".

    first_step_both_sides(config, data)   both sides take the run's first step from the
                                          same weights, batch and dropout mask (torch's
                                          on any device)
    step_rows(first)           every tensor of that step, side by side
    run_rows(config, data)     a whole run on both sides: the final weights, and the logs
    quirk_rows(book, exact)    the same step in book and exact mode, and the difference that
                               book_slope_error's formula predicts
    table(title, rows)         the rows as a backprop checker prints them

scripts/compare.py prints these rows; the tests assert them; parity_tests/chapter/test_mutants.py
puts wrong factors into either side and checks that these rows catch every one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ch9_shared.close import STEP_DEPTH, Comparison, compare, run_depth
from ch9_shared.config import Config
from ch9_shared.data import Dataset
from ch9_shared.loop import State, dropout_masks, initial_weights, train
from ch9_shared.threads import one_thread
from numpy_impl.network import Network, Step, book_minus_exact
from torch_impl.device import full_precision
from torch_impl.hand_built import HandBuiltModel
from torch_impl.network import Network as TorchNetwork
from torch_impl.network import Step as TorchStep
from torch_impl.network import chapter_layout, from_numpy

STEP_TENSORS = ("layer_1", "layer_2", "layer_2_delta", "layer_1_delta")


class FirstStep(NamedTuple):
    """The run's first step, taken by both sides from the same weights, batch and mask."""

    network: Network
    step: Step
    model: TorchNetwork
    torch_step: TorchStep
    weights_1_2: np.ndarray  # as it was before the step
    dropout_mask: np.ndarray


def first_step_both_sides(config: Config, dataset: Dataset, device: torch.device | str = "cpu"
                          ) -> FirstStep:
    """Both sides' first step; torch's on `device`, its float32 matmuls at full precision,
    under the thread policy of every run (ch9_shared/threads.py): a sum split across threads
    adds in another order, and the docs' figures are one thread's."""
    with one_thread():
        return _first_step_both_sides(config, dataset, device)


def _first_step_both_sides(config: Config, dataset: Dataset, device: torch.device | str
                           ) -> FirstStep:
    rng = np.random.RandomState(config.seed)
    weights_0_1, weights_1_2 = initial_weights(rng, config)
    network = Network(config)
    network.start(State(weights_0_1, weights_1_2), dataset)
    batch = network.batches[0]
    dropout_mask = dropout_masks(rng, config)[0].astype(config.dtype)
    step = network.train_step(batch.layer_0, batch.labels, dropout_mask)

    device = torch.device(device)
    model = from_numpy(TorchNetwork(config), weights_0_1, weights_1_2, config.dtype, device)
    inputs = (torch.from_numpy(a).to(device) for a in (batch.layer_0, batch.labels,
                                                       dropout_mask))
    with full_precision(device, getattr(torch, config.dtype)):
        torch_step = model.train_step(*inputs, model.sgd())
    return FirstStep(network, step, model, torch_step, weights_1_2, dropout_mask)


def weights(model: TorchNetwork, name: str) -> np.ndarray:
    """A torch network's matrix in the NumPy layout (nn.Linear keeps it transposed)."""
    return chapter_layout(getattr(model, name).weight)


def step_rows(first: FirstStep) -> list[Comparison]:
    """Every tensor of the step: autograd's (actual) against the hand-made (expected)."""
    rows = [compare(name, getattr(first.torch_step, name), getattr(first.step, name),
                    STEP_DEPTH) for name in STEP_TENSORS]
    rows += [compare(f"{name} (updated)", weights(first.model, name),
                     getattr(first.network, name), STEP_DEPTH)
             for name in ("weights_1_2", "weights_0_1")]
    return rows


def run_rows(config: Config, dataset: Dataset, device: torch.device | str = "cpu"
             ) -> tuple[list[Comparison], bool]:
    """The whole run on both sides: its final weights, and whether the logs are the same."""
    numpy_log: list[str] = []
    torch_log: list[str] = []
    network = train(Network(config), dataset, lambda r: numpy_log.append(str(r)))
    device = torch.device(device)
    model = train(HandBuiltModel(config, device), dataset, lambda r: torch_log.append(str(r)),
                  device=device.type)
    depth = run_depth(config.iterations * (config.train_size // config.batch_size))
    rows = [compare(f"{name} (final)", weights(model.network, name), getattr(network, name),
                    depth)
            for name in ("weights_0_1", "weights_1_2")]
    return rows, numpy_log == torch_log


def quirk_rows(config: Config, book: FirstStep, exact: FirstStep) -> list[Comparison]:
    """The same first step in book and in exact mode, on the NumPy side: what differs, and
    that the difference is book_slope_error's formula, to rounding."""
    rows = [compare(name, getattr(book.step, name), getattr(exact.step, name), STEP_DEPTH)
            for name in ("layer_2_delta", "layer_1_delta")]
    rows += [compare(f"{name} (updated)", getattr(book.network, name),
                     getattr(exact.network, name), STEP_DEPTH)
             for name in ("weights_1_2", "weights_0_1")]
    predicted = book_minus_exact(config.hidden, book.step.layer_2_delta, book.weights_1_2,
                                 book.dropout_mask, book.step.layer_1)
    rows.append(compare("layer_1_delta book-exact vs formula",
                        book.step.layer_1_delta - exact.step.layer_1_delta, predicted,
                        STEP_DEPTH))
    return rows


def all_close(rows: list[Comparison]) -> bool:
    return all(row.close for row in rows)


HEADER = ("tensor", "shape", "exact", "close", "max abs diff", "max rel diff", "of tolerance")


def percent(used: float) -> str:
    """A share of the tolerance to two significant digits, written plainly: 0.035%, 150%."""
    return f"{float(f'{100 * used:.2g}'):g}%" if used < 10 else ">999%"


def table(title: str, rows: list[Comparison]) -> str:
    """The rows as aligned columns under a title, as a backprop checker prints them."""
    cells = [HEADER] + [(r.name, "x".join(map(str, r.shape)), str(r.exact), str(r.close),
                         f"{r.max_abs:.2e}", f"{r.max_rel:.2e}",
                         percent(r.used)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    return "\n".join([title, *lines])
