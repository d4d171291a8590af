"""Many chapter networks at once, for scripts/study.py: M models in one stack, trained by
the same few matmuls.

The models of a stack share the data, the activations, the mode and the schedule; each has
its own alpha, initial scales and seed. Their matrices sit one behind the other, model m's
at [m]: `weights_0_1` (M, 784, H), `weights_1_2` (M, H, C). A step is numpy_impl/network.py's
`train_step`, the chapter's forward, backward by hand and update, on torch tensors with
torch_impl's activations, mapped over the models by `torch.func.vmap`: each of its matmuls
runs as one batched matmul of all M, each model with its own alpha (book mode's slope is not
a gradient, so autograd is no help here). Model m of a stack is the network
`scripts/train.py` trains with m's config: the same initial weights, the same dropout masks,
the same arithmetic up to rounding (the tests check its log in float64). Unlike numpy_impl,
a stack keeps all 784 pixels: gathering the nonzero pixels' rows of M matrices costs more
than the matmul saves.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import torch

from ch9_shared.config import Config, ConfigError
from ch9_shared.data import Dataset
from ch9_shared.loop import LogRecord, dropout_masks, initial_weights
from ch9_shared.threads import one_thread
from numpy_impl.network import Layers, train_step
from torch_impl import activations as act
from torch_impl.device import full_precision, resolve_device
from torch_impl.hand_built import on_device

Tensor = torch.Tensor

PER_MODEL = ("alpha", "init_0_1", "init_1_2", "seed")
"""What may differ between the models of one stack; everything else of a Config is shared."""


@dataclass
class StackRun:
    """What a stack's training leaves: each model's log and final score, and when (if) it
    diverged."""

    configs: list[Config]
    logs: list[list[LogRecord]]
    final: list[int]  # test images each model gets right after the last iteration
    diverged: list[int | None]  # the first logged iteration with weights not finite
    stack: Stack  # the trained weights
    seconds: float


def check_stack(configs: list[Config]) -> None:
    if not configs:
        raise ConfigError("a stack needs at least one model")
    first = configs[0]
    for config in configs[1:]:
        for name, value in vars(first).items():
            if name not in PER_MODEL and getattr(config, name) != value:
                raise ConfigError(f"the models of a stack share {name}: "
                                  f"{value!r} and {getattr(config, name)!r}")


def layer_2_of_step(layers: Layers, *step: Tensor) -> Tensor:
    """numpy_impl's train_step on one model (its weights, alpha, the batch, its mask): the
    step's layer_2, what vmap hands back."""
    return train_step(layers, *step).layer_2


class Stack:
    """`weights_0_1` (M, 784, H), `weights_1_2` (M, H, C), `alpha` (M,): model m's are [m]."""

    def __init__(self, configs: list[Config], device: torch.device):
        check_stack(configs)
        self.config = config = configs[0]
        self.layers = Layers.of(config, act.HIDDEN, act.OUTPUTS)
        dtype = getattr(torch, config.dtype)
        weights = [initial_weights(np.random.RandomState(c.seed), c) for c in configs]
        self.weights_0_1, self.weights_1_2 = (
            torch.tensor(np.stack(matrices), dtype=dtype, device=device)
            for matrices in zip(*weights, strict=True))
        self.alpha = torch.tensor([c.alpha for c in configs], dtype=dtype, device=device)
        # weights, alpha and mask are each model's; the batch is every model's
        self.steps = torch.func.vmap(functools.partial(layer_2_of_step, self.layers),
                                     in_dims=(0, 0, 0, None, None, 0))

    def train_step(self, layer_0: Tensor, labels: Tensor, dropout_mask: Tensor) -> Tensor:
        """One SGD step of every model, each with its mask (M, B, H); returns layer_2
        (M, B, C)."""
        return self.steps(self.weights_0_1, self.weights_1_2, self.alpha, layer_0, labels,
                          dropout_mask)

    @torch.no_grad()
    def predict(self, layer_0: Tensor, rows: int = 2000) -> Tensor:
        """Every model's logits of a test pass (M, N, C), no dropout, `rows` images at a time."""
        return torch.cat([self.layers.hidden(layer_0[start:start + rows] @ self.weights_0_1)
                          @ self.weights_1_2 for start in range(0, len(layer_0), rows)], dim=1)

    def correct(self, layer_0: Tensor, digits: Tensor) -> list[int]:
        """How many of a test set's images each model gets right."""
        return (self.predict(layer_0).argmax(dim=2) == digits).sum(dim=1).tolist()

    def finite(self) -> Tensor:
        """(M,) bool: which models' weights are all finite numbers."""
        return (torch.isfinite(self.weights_0_1).flatten(1).all(dim=1)
                & torch.isfinite(self.weights_1_2).flatten(1).all(dim=1))


def train_stack(configs: list[Config], data: Dataset, device: str = "auto") -> StackRun:
    """Train every model of `configs` on `data`, logging each at every `log_every`-th
    iteration, as ch9_shared/loop.py does for one; float32 matmuls at full precision."""
    start = time.perf_counter()
    device = resolve_device(device)
    stack = Stack(configs, device)
    config, dtype = stack.config, stack.weights_0_1.dtype

    images, labels, digits, test_layer_0, _, test_digits = on_device(data, config, dtype, device)
    train_size = digits.numel()

    # One RandomState per seed, past its initial draws: models of one seed share its masks.
    seeds = sorted({c.seed for c in configs})
    rngs = [np.random.RandomState(seed) for seed in seeds]
    for rng in rngs:
        initial_weights(rng, config)
    seed_of_model = torch.tensor([seeds.index(c.seed) for c in configs])

    logs: list[list[LogRecord]] = [[] for _ in configs]
    diverged: list[int | None] = [None] * len(configs)
    with torch.no_grad(), full_precision(device, dtype), one_thread():
        for iteration in range(config.iterations):
            masks = torch.from_numpy(np.stack([dropout_masks(rng, config) for rng in rngs]))
            masks = masks[seed_of_model].transpose(0, 1).to(device, dtype)  # (batches, M, B, H)
            train_correct = torch.zeros(len(configs), dtype=torch.long, device=device)
            for layer_0, batch_labels, batch_digits, dropout_mask in zip(
                images, labels, digits, masks, strict=True
            ):
                layer_2 = stack.train_step(layer_0, batch_labels, dropout_mask)
                train_correct += (layer_2.argmax(dim=2) == batch_digits).sum(dim=1)
            if iteration % config.log_every:
                continue
            test_correct = stack.correct(test_layer_0, test_digits)
            for m, (test, train) in enumerate(zip(test_correct, train_correct.tolist(),
                                                  strict=True)):
                logs[m].append(LogRecord(iteration, test, len(test_digits), train, train_size))
            mark_diverged(stack, diverged, iteration)
        final = stack.correct(test_layer_0, test_digits)
    mark_diverged(stack, diverged, config.iterations)
    return StackRun(configs, logs, final, diverged, stack, time.perf_counter() - start)


def mark_diverged(stack: Stack, diverged: list[int | None], iteration: int) -> None:
    """Note `iteration` for the models whose weights first stopped being finite by now."""
    for m, finite in enumerate(stack.finite().tolist()):
        if not finite and diverged[m] is None:
            diverged[m] = iteration
