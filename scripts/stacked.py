"""Many chapter networks at once, for scripts/study.py: M models in one stack, trained by
the same few matmuls.

The models of a stack share the data, the activations, the mode and the schedule; each has
its own alpha, initial scales and seed. Their first layers sit side by side as the columns
of one matrix, so the first layer of all M is one matmul; the second layers are a batch:

    layer_1 (B, M, H) = hidden(layer_0 (B, 784) @ weights_0_1 (784, M*H)) * dropout_mask * 2
    layer_2 (M, B, C) = output(layer_1 as (M, B, H) @ weights_1_2 (M, H, C))

The backward pass is numpy_impl/network.py's, written by hand, with each model's own
alpha (book mode's slope is not a gradient, so autograd is no help here). Model m of a
stack is the network `scripts/train.py` trains with m's config: the same initial weights,
the same dropout masks, the same arithmetic up to rounding (the tests check its log in
float64). Unlike numpy_impl, a stack keeps all 784 pixels: gathering the nonzero pixels'
rows of a matrix M times as wide costs more than the matmul saves.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ch9_shared.config import PIXELS, Config, ConfigError
from ch9_shared.data import Dataset
from ch9_shared.loop import LogRecord, dropout_masks, initial_weights
from ch9_shared.threads import one_thread
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


def output(logits: Tensor, config: Config) -> Tensor:
    """layer_2 from the logits (M, B, C), as numpy_impl's Network.activate."""
    if config.output == "sigmoid":
        return 1 / (1 + torch.exp(-logits))
    if config.output == "identity":
        return logits
    if config.mode == "exact":
        logits = logits - logits.amax(dim=-1, keepdim=True)
    temp = torch.exp(logits * math.log(config.softmax_base))
    return temp / temp.sum(dim=-1, keepdim=True)


class Stack:
    """`weights_0_1` (784, M*H): model m's are columns m*H to (m+1)*H; `weights_1_2`
    (M, H, C); `alpha` (M, 1, 1)."""

    def __init__(self, configs: list[Config], device: torch.device):
        check_stack(configs)
        self.config = config = configs[0]
        self.models, self.hidden_size = len(configs), config.hidden_size
        activation = act.HIDDEN[config.hidden]
        self.hidden, self.hidden2deriv = activation.forward, activation.deriv
        dtype = getattr(torch, config.dtype)
        weights = [initial_weights(np.random.RandomState(c.seed), c) for c in configs]
        self.weights_0_1 = torch.tensor(np.concatenate([w for w, _ in weights], axis=1),
                                        dtype=dtype, device=device)
        self.weights_1_2 = torch.tensor(np.stack([w for _, w in weights]), dtype=dtype,
                                        device=device)
        self.alpha = torch.tensor([c.alpha for c in configs], dtype=dtype,
                                  device=device).view(-1, 1, 1)

    def forward(self, layer_0: Tensor, dropout_mask: Tensor) -> tuple[Tensor, Tensor]:
        """layer_1 (B, M, H), dropped out, and layer_2 (M, B, C)."""
        batch = len(layer_0)
        layer_1 = self.hidden(layer_0 @ self.weights_0_1)
        layer_1 = (layer_1 * (dropout_mask * 2)).view(batch, self.models, self.hidden_size)
        layer_2 = output(torch.bmm(layer_1.transpose(0, 1), self.weights_1_2), self.config)
        return layer_1, layer_2

    def backward(self, layer_1: Tensor, layer_2: Tensor, labels: Tensor, dropout_mask: Tensor
                 ) -> tuple[Tensor, Tensor]:
        """layer_2_delta (M, B, C) and layer_1_delta (B, M*H), in book or exact mode."""
        config = self.config
        layer_2_delta = (layer_2 - labels) / config.D
        if config.output == "softmax":
            layer_2_delta = math.log(config.softmax_base) * layer_2_delta
        back = torch.bmm(layer_2_delta, self.weights_1_2.transpose(1, 2)).transpose(0, 1)
        back = back.reshape(len(labels), -1)
        layer_1 = layer_1.reshape(len(labels), -1)
        if config.mode == "book":
            layer_1_delta = back * self.hidden2deriv(layer_1) * dropout_mask
        else:
            layer_1_delta = back * self.hidden2deriv(layer_1 / 2) * (dropout_mask * 2)
        return layer_2_delta, layer_1_delta

    def train_step(self, layer_0: Tensor, labels: Tensor, dropout_mask: Tensor) -> Tensor:
        """One SGD step of every model; returns layer_2 (M, B, C).

        weights_0_1 -= layer_0.T @ (alpha * layer_1_delta), each model's columns with its own
        alpha, accumulated in place (`addmm_`) instead of through a (784, M*H) temporary."""
        layer_1, layer_2 = self.forward(layer_0, dropout_mask)
        layer_2_delta, layer_1_delta = self.backward(layer_1, layer_2, labels, dropout_mask)
        self.weights_1_2 -= self.alpha * torch.bmm(layer_1.permute(1, 2, 0), layer_2_delta)
        alpha_delta = self.alpha.view(1, -1, 1) * layer_1_delta.view(len(layer_0), self.models, -1)
        self.weights_0_1.addmm_(layer_0.T, alpha_delta.flatten(1), alpha=-1)
        return layer_2

    @torch.no_grad()
    def predict(self, layer_0: Tensor, rows: int = 2000) -> Tensor:
        """Every model's logits of a test pass (M, N, C), no dropout, `rows` images at a time."""
        logits = []
        for start in range(0, len(layer_0), rows):
            layer_1 = self.hidden(layer_0[start:start + rows] @ self.weights_0_1)
            layer_1 = layer_1.view(len(layer_1), self.models, -1).transpose(0, 1)
            logits.append(torch.bmm(layer_1, self.weights_1_2))
        return torch.cat(logits, dim=1)

    def correct(self, layer_0: Tensor, digits: Tensor) -> list[int]:
        """How many of a test set's images each model gets right."""
        return (self.predict(layer_0).argmax(dim=2) == digits).sum(dim=1).tolist()

    def finite(self) -> Tensor:
        """(M,) bool: which models' weights are all finite numbers."""
        weights_0_1 = self.weights_0_1.view(PIXELS, self.models, -1)
        return (torch.isfinite(weights_0_1).all(dim=2).all(dim=0)
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
            masks = masks[seed_of_model].permute(1, 2, 0, 3).flatten(2)  # (batches, B, M*H)
            masks = masks.to(device, dtype)
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
