"""The chapter's network as idiomatic PyTorch: where a learner of the hand-built one lands.

    model = nn.Sequential(nn.Linear(784, H, bias=False), nn.Tanh(), nn.Dropout(0.5),
                          nn.Linear(H, 10, bias=False))

trained the way pytorch/examples' mnist trains: a DataLoader, a loss module, torch.optim.SGD,
`model.train()` for an epoch and `model.eval()` with `torch.no_grad()` for the test pass.
It is the hand-built network (torch_impl/network.py) in exact mode, nothing written by hand:

- `nn.Dropout(0.5)` keeps each unit with probability 1/2 and scales the kept ones by
  1 / (1 - 0.5) = 2, the book's `dropout_mask * 2`; it draws its masks from torch's default
  generator (seeded with `torch.manual_seed`), and only in `model.train()` mode.
- the loss modules average (their default reduction="mean") where the book divides by D:
  `learning_rate` turns the book's alpha into SGD's lr.
- autograd follows the true gradient, so there is no book mode: the book's update is not the
  gradient of any loss (see numpy_impl/network.py), and needs `BookHidden`.

The initial weights are the same `RandomState` draws as on every other side, copied in
transposed. On the CPU, the hand-built network (torch_impl/train.py) in exact mode with
`rng="torch"` draws the same dropout masks, and the two agree to rounding
(parity_tests/chapter/test_idiomatic.py).
"""

from __future__ import annotations

import contextlib
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ch9_shared.checkpoint import Checkpoint
from ch9_shared.config import CLASSES, PIXELS, Config, ConfigError
from ch9_shared.data import Dataset
from ch9_shared.loop import TestPass
from torch_impl.activations import HIDDEN, OUTPUTS
from torch_impl.device import full_precision, resolve_device
from torch_impl.network import chapter_layout
from torch_impl.train import set_generator_state


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


def from_numpy(config: Config, weights_0_1: np.ndarray, weights_1_2: np.ndarray,
               device: torch.device | str = "cpu") -> nn.Sequential:
    """The model holding the NumPy side's matrices, in config.dtype on `device`
    (nn.Linear keeps its weight as (out, in): the NumPy matrices transposed)."""
    model = make_model(config).to(device, getattr(torch, config.dtype))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(weights_0_1.T))
        model[3].weight.copy_(torch.from_numpy(weights_1_2.T))
    return model


def weights(model: nn.Sequential) -> tuple[np.ndarray, np.ndarray]:
    """weights_0_1 and weights_1_2 in the NumPy layout."""
    return chapter_layout(model[0].weight), chapter_layout(model[3].weight)


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
    """The idiomatic model as the model the training loop drives (ch9_shared/loop.py): its
    step is pytorch/examples' `optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`.
    Dropout draws from the default generator, seeded with torch.manual_seed(config.seed);
    the test pass runs at once, in `model.eval()`."""

    impl, inline_tests = "idiomatic", True

    def __init__(self, config: Config, device: str | torch.device = "auto"):
        check(config)
        self.config = config
        self.dtype = getattr(torch, config.dtype)
        self.device = resolve_device(device, self.dtype)
        self.generator_device = self.device.type
        self.lr = learning_rate(config)

    @property
    def ran_on(self) -> str:
        return f"{self.device} (SGD lr {self.lr:g})"

    def start(self, weights_0_1: np.ndarray, weights_1_2: np.ndarray, data: Dataset,
              resume: Checkpoint | None) -> DataLoader:
        config, dtype = self.config, self.dtype
        self.model = from_numpy(config, weights_0_1, weights_1_2, self.device)
        torch.manual_seed(config.seed)  # after nn.Linear drew the initial weights it threw away
        if resume is not None:
            set_generator_state(resume, self.device,
                                functools.partial(set_dropout_rng_state, self.device))
        self.criterion = OUTPUTS[config.output].module()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr)
        # the canonical loss summed over a batch's B images is a loss module's mean times this
        self.batch_loss = self.lr * config.D / config.alpha
        train_set = TensorDataset(
            torch.as_tensor(data.train_images[:config.train_size] / 255, dtype=dtype),
            torch.as_tensor(data.train_labels[:config.train_size], dtype=torch.int64))
        self.test_images = torch.as_tensor(data.test_images / 255, dtype=dtype,
                                           device=self.device)
        self.test_digits = torch.as_tensor(data.test_labels, dtype=torch.int64,
                                           device=self.device)
        return DataLoader(train_set, batch_size=config.batch_size, shuffle=False,
                          drop_last=True, generator=torch.Generator())

    def masks(self, rng: np.random.RandomState) -> list[None]:
        """None a batch: nn.Dropout draws its own."""
        return [None] * (self.config.train_size // self.config.batch_size)

    def step(self, batch: list[torch.Tensor], dropout_mask: None, logged: bool
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch of pytorch/examples' training epoch: its correct answers and its loss,
        of the dropped-out forward pass before the update (as the book counts)."""
        data, target = (tensor.to(self.device) for tensor in batch)
        self.model.train()
        self.optimizer.zero_grad()
        output = self.model(data)
        loss = self.criterion(output, loss_target(self.criterion, target, output))
        loss.backward()
        self.optimizer.step()
        return (output.argmax(1) == target).sum(), loss.detach() * self.batch_loss

    def finite(self) -> bool:
        return all(bool(p.isfinite().all()) for p in self.model.parameters())

    def test_pass(self) -> TestPass:
        """The test pass over the whole test set: no dropout (model.eval()), no graph
        (torch.no_grad()). Its correct answers, and its loss per image."""
        correct, mean = test(self.model, self.test_images, self.test_digits, self.criterion)
        result = correct, mean * self.batch_loss / self.config.batch_size
        return lambda: result

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        return weights(self.model)

    def generator_state(self) -> np.ndarray:
        return dropout_rng_state(self.device).numpy()

    def context(self) -> contextlib.AbstractContextManager[object]:
        return full_precision(self.device, self.dtype)


@torch.no_grad()
def test(model: nn.Module, images: torch.Tensor, digits: torch.Tensor, criterion: nn.Module
         ) -> tuple[int, float]:
    """The test pass: model.eval(), the correct answers, and the loss module's mean."""
    model.eval()
    output = model(images)
    loss = criterion(output, loss_target(criterion, digits, output))
    return int((output.argmax(1) == digits).sum()), float(loss)
