"""The chapter's network as idiomatic PyTorch: where a learner of the hand-built one lands.

    model = nn.Sequential(nn.Linear(784, H, bias=False), nn.Tanh(), nn.Dropout(0.5),
                          nn.Linear(H, 10, bias=False))

trained the way pytorch/examples' mnist trains: `train` is one epoch (a DataLoader, a loss
module, torch.optim.SGD, in `model.train()`), `test` the test pass (`model.eval()`, with
`torch.no_grad()`); the training loop (ch9_shared/loop.py) calls `train` once an iteration.
It is the hand-built network (torch_impl/network.py) in exact mode, nothing written by hand:

- `nn.Dropout(0.5)` keeps each unit with probability 1/2 and scales the kept ones by
  1 / (1 - 0.5) = 2, the book's `dropout_mask * 2`; it draws its masks from torch's default
  generator (seeded with `torch.manual_seed`), and only in `model.train()` mode.
- the loss modules average (their default reduction="mean") where the book divides by D:
  `learning_rate` turns the book's alpha into SGD's lr.
- autograd follows the true gradient, so there is no book mode: the book's update is not the
  gradient of any loss (see numpy_impl/network.py), and needs `BookHidden`.

The initial weights are the same `RandomState` draws as on every other side, copied in
transposed. On the CPU, the hand-built network (torch_impl/hand_built.py) in exact mode with
`rng="torch"` draws the same dropout masks, and the two agree to rounding
(parity_tests/chapter/test_idiomatic.py).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ch9_shared.config import CLASSES, PIXELS, Config, ConfigError
from ch9_shared.data import Dataset
from ch9_shared.loop import State, TestPass
from torch_impl.activations import HIDDEN, OUTPUTS
from torch_impl.device import full_precision, resolve_device
from torch_impl.hand_built import set_generator_state
from torch_impl.network import chapter_weights, from_numpy


def check(config: Config) -> None:
    """Raise ConfigError for what the idiomatic model cannot do."""
    if config.mode != "exact":
        raise ConfigError("the idiomatic model follows the true gradient (mode exact); the "
                          "book's quirk needs BookHidden: use `impl` torch `mode` book")
    if config.softmax_base != math.e:
        raise ConfigError(f"`softmax_base` {config.softmax_base:g} is not for the idiomatic "
                          "model: nn.CrossEntropyLoss's softmax has base e; for another base "
                          "use `impl` torch")


def make_model(config: Config) -> nn.Sequential:
    """784 -> H -> 10, no biases, dropout 1/2 on the hidden layer."""
    return nn.Sequential(
        nn.Linear(PIXELS, config.hidden_size, bias=False),
        HIDDEN[config.hidden].module(),
        nn.Dropout(0.5),
        nn.Linear(config.hidden_size, CLASSES, bias=False),
    )


def train(model: nn.Module, device: torch.device, loader: DataLoader,
          optimizer: torch.optim.Optimizer, criterion: nn.Module
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch, as pytorch/examples' mnist trains: a step on each batch of the loader.
    The training images it got right, counted on the dropped-out forward pass before each
    update (as the book counts), and the loss module's means summed over the batches; both
    stay on the device (reading a GPU value waits for it)."""
    model.train()
    correct, loss_sum = 0, 0
    for data, target in loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = criterion(output, loss_target(criterion, target, output))
        loss.backward()
        optimizer.step()
        correct += (output.argmax(1) == target).sum()
        loss_sum += loss.detach()
    return correct, loss_sum


@torch.no_grad()
def test(model: nn.Module, images: torch.Tensor, digits: torch.Tensor, criterion: nn.Module
         ) -> tuple[int, float]:
    """The test pass, on the whole test set at once: no dropout (model.eval()), no graph
    (torch.no_grad()). The test images it gets right, and the loss module's mean."""
    model.eval()
    output = model(images)
    loss = criterion(output, loss_target(criterion, digits, output))
    return int((output.argmax(1) == digits).sum()), float(loss)


def learning_rate(config: Config) -> float:
    """SGD's lr on the loss module's mean that takes the book's step, alpha * dL / D.

    L is the output layer's canonical loss summed over the batch (dL/d logits = layer_2 -
    labels), and the book divides it by D. The loss modules keep their default
    reduction="mean": they divide by N, the number of terms (B for cross-entropy, one an
    image; B * classes for BCE and MSE, one an output), and MSELoss is the squared error,
    twice the canonical half of it. SGD steps lr * dL / N (MSE: lr * 2 dL / N), so

        lr = alpha * N / D        (MSE: alpha * N / (2 D))

    tanh preset, cross-entropy: N = B = 100, D = B * B = 10000: lr = 2 * 100 / 10000 = 0.02
    relu preset, cross-entropy: N = B = 100, D = B * 10 = 1000:  lr = 2 * 100 / 1000 = 0.2
    """
    terms = config.batch_size if config.output == "softmax" else config.batch_size * CLASSES
    lr = config.alpha * terms / config.D
    return lr / 2 if config.output == "identity" else lr


def chapter_loss(mean: torch.Tensor | float, images: int, config: Config
                 ) -> torch.Tensor | float:
    """The chapter's loss of `images` images (the canonical loss summed over them, / D)
    from a loss module's mean over them: SGD at learning_rate(config) on the mean over a
    batch takes the chapter's step at alpha, lr * mean = alpha * the chapter's loss."""
    return mean * (learning_rate(config) * images / (config.alpha * config.batch_size))


def loss_target(criterion: nn.Module, digits: torch.Tensor, output: torch.Tensor
                ) -> torch.Tensor:
    """What the loss module takes: nn.CrossEntropyLoss the digits, BCE and MSE one-hot rows
    in the output's dtype."""
    if isinstance(criterion, nn.CrossEntropyLoss):
        return digits
    return F.one_hot(digits, CLASSES).to(output.dtype)


def dropout_rng_state(device: torch.device) -> torch.Tensor:
    """The state of the generator nn.Dropout draws from: `device`'s default generator."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return torch.get_rng_state()


def set_dropout_rng_state(device: torch.device, state: torch.Tensor) -> None:
    """Set the state of `device`'s default generator, the one nn.Dropout draws from."""
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)
    else:
        torch.set_rng_state(state)


class Idiomatic:
    """The idiomatic model as the model the training loop drives (ch9_shared/loop.py): each
    iteration is one epoch of `train`, each logged test pass `test` on a copy of the model.
    Dropout draws from the default generator, seeded with torch.manual_seed(config.seed)."""

    def __init__(self, config: Config, device: str | torch.device = "auto"):
        check(config)
        self.config = config
        self.dtype = getattr(torch, config.dtype)
        self.device = resolve_device(device, self.dtype)

    def start(self, state: State, data: Dataset) -> None:
        config, dtype = self.config, self.dtype
        self.model = from_numpy(make_model(config), state.weights_0_1, state.weights_1_2,
                                config.dtype, self.device)
        torch.manual_seed(config.seed)  # after nn.Linear drew the initial weights it threw away
        if state.generator is not None:
            set_generator_state(state.generator, self.device,
                                functools.partial(set_dropout_rng_state, self.device))
        self.criterion = OUTPUTS[config.output].module()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=learning_rate(config))
        train_set = TensorDataset(
            torch.as_tensor(data.train_images[:config.train_size] / 255, dtype=dtype),
            torch.as_tensor(data.train_labels[:config.train_size], dtype=torch.int64))
        self.loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=False,
                                 drop_last=True, generator=torch.Generator())
        self.test_images = torch.as_tensor(data.test_images / 255, dtype=dtype,
                                           device=self.device)
        self.test_digits = torch.as_tensor(data.test_labels, dtype=torch.int64,
                                           device=self.device)

    def epoch(self, rng: np.random.RandomState, logged: bool
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch of `train` (nn.Dropout draws the masks, not `rng`; the loss comes with
        every step, logged or not)."""
        correct, loss_sum = train(self.model, self.device, self.loader, self.optimizer,
                                  self.criterion)
        return correct, chapter_loss(loss_sum, self.config.batch_size, self.config)

    def test_pass(self) -> TestPass:
        return functools.partial(test_pass, copy.deepcopy(self.model), self.test_images,
                                 self.test_digits, self.criterion, self.config)

    def state(self) -> State:
        return State(*chapter_weights(self.model), dropout_rng_state(self.device).numpy())

    def arithmetic(self) -> contextlib.AbstractContextManager[object]:
        return full_precision(self.device, self.dtype)


def test_pass(model: nn.Module, images: torch.Tensor, digits: torch.Tensor,
              criterion: nn.Module, config: Config) -> tuple[int, float]:
    """`test` of `model`: its correct answers, and its loss as the chapter's."""
    correct, mean = test(model, images, digits, criterion)
    return correct, chapter_loss(mean, len(digits), config)
