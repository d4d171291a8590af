"""The hand-built torch network (torch_impl/network.py) as the model the training loop
drives (ch9_shared/loop.py).

Seeded like the NumPy side: the initial weights come from the same `RandomState` stream,
and so do the dropout masks (`rng="numpy"`, bit-comparable), unless `rng="torch"` draws
them with a `torch.Generator` on the device (faster, a different stream): one
`bernoulli_(0.5)` a batch, the draws `nn.Dropout(0.5)` makes on the CPU from a default
generator seeded alike, so that the idiomatic model (torch_impl/idiomatic.py) sees the
same masks there. The data goes to the device once; correct answers are counted on the
device and read only at log time.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ch9_shared.checkpoint import CheckpointError
from ch9_shared.config import CLASSES, PIXELS, Config
from ch9_shared.data import Dataset
from ch9_shared.loop import State, TestPass, dropout_masks
from torch_impl.device import full_precision, resolve_device
from torch_impl.network import Network, chapter_weights, from_numpy


class OnDevice(NamedTuple):
    """A dataset as the loops use it, on the device: the fixed batches, then the test set."""

    images: torch.Tensor  # (batches, B, 784) pixel values / 255
    labels: torch.Tensor  # (batches, B, classes) one-hot
    digits: torch.Tensor  # (batches, B) the labels as digits
    test_images: torch.Tensor
    test_labels: torch.Tensor
    test_digits: torch.Tensor


def on_device(data: Dataset, config: Config, dtype: torch.dtype, device: torch.device
              ) -> OnDevice:
    """The train_size // batch_size batches (a remainder is left out, as in the listings)
    and the test set, moved to `device` once."""
    batches, size = config.train_size // config.batch_size, config.batch_size
    images = torch.as_tensor(data.train_images[:batches * size] / 255, dtype=dtype,
                             device=device).view(batches, size, PIXELS)
    digits = torch.as_tensor(data.train_labels[:batches * size], dtype=torch.int64,
                             device=device).view(batches, size)
    test_images = torch.as_tensor(data.test_images / 255, dtype=dtype, device=device)
    test_digits = torch.as_tensor(data.test_labels, dtype=torch.int64, device=device)
    return OnDevice(images, F.one_hot(digits, CLASSES).to(dtype), digits, test_images,
                    F.one_hot(test_digits, CLASSES).to(dtype), test_digits)


class HandBuiltModel:
    """The hand-built torch network as the model the training loop drives: its step is
    `Network.train_step`, autograd's backward and `torch.optim.SGD`. Float32 matmuls run at
    full precision (device.full_precision), whatever the caller set."""

    def __init__(self, config: Config, device: str | torch.device = "auto", rng: str = "numpy"):
        self.config = config
        self.dtype = getattr(torch, config.dtype)
        self.device = resolve_device(device, self.dtype)
        self.generator = (torch.Generator(self.device).manual_seed(config.seed)
                          if rng == "torch" else None)

    def start(self, state: State, data: Dataset) -> None:
        if state.generator is not None and self.generator is not None:
            set_generator_state(state.generator, self.device, self.generator.set_state)
        self.network = from_numpy(Network(self.config), state.weights_0_1, state.weights_1_2,
                                  self.config.dtype, self.device)
        self.optimizer = self.network.sgd()
        images, labels, digits, *self.test_set = on_device(data, self.config, self.dtype,
                                                           self.device)
        self.batches = list(zip(images, labels, digits, strict=True))

    def masks(self, rng: np.random.RandomState) -> Iterable[torch.Tensor]:
        if self.generator is None:
            return torch.as_tensor(dropout_masks(rng, self.config), dtype=self.dtype,
                                   device=self.device)
        # one mask a batch, drawn as nn.Dropout draws it (torch_impl/idiomatic.py)
        shape = (self.config.batch_size, self.config.hidden_size)
        return [torch.empty(shape, dtype=self.dtype, device=self.device)
                .bernoulli_(0.5, generator=self.generator)
                for _ in range(self.config.train_size // self.config.batch_size)]

    def epoch(self, rng: np.random.RandomState, logged: bool
              ) -> tuple[torch.Tensor, torch.Tensor | float]:
        """The chapter's inner loop: a step on each batch, its mask drawn from `rng` or from
        the model's own generator. Counted on the device: reading a GPU value waits for it."""
        correct, loss = 0, 0.0
        for (layer_0, labels, digits), dropout_mask in zip(self.batches, self.masks(rng),
                                                           strict=True):
            step = self.network.train_step(layer_0, labels, dropout_mask, self.optimizer)
            correct += (step.layer_2.argmax(1) == digits).sum()
            if logged:
                loss += step.loss
        return correct, loss

    def test_pass(self) -> TestPass:
        return functools.partial(test_pass, copy.deepcopy(self.network), *self.test_set)

    def state(self) -> State:
        generator = None if self.generator is None else self.generator.get_state().numpy()
        return State(*chapter_weights(self.network), generator)

    def arithmetic(self) -> contextlib.AbstractContextManager[object]:
        return full_precision(self.device, self.dtype)


def test_pass(network: Network, test_images: torch.Tensor, test_labels: torch.Tensor,
              test_digits: torch.Tensor) -> tuple[int, float]:
    """The test pass of `network` (no dropout): its correct answers and its loss (the
    chapter's, over the whole test set)."""
    logits = network.predict(test_images)
    return int((logits.argmax(1) == test_digits).sum()), float(network.loss(logits, test_labels))


def set_generator_state(state: np.ndarray, device: torch.device,
                        set_state: Callable[[torch.Tensor], None]) -> None:
    """Go on with a checkpoint's mask stream: `set_state` sets the state of the generator
    on `device` (the loop checked that the checkpoint's was made on this kind of device)."""
    try:
        set_state(torch.from_numpy(state))
    except RuntimeError:  # the state's size is not that of a generator on `device`
        raise CheckpointError(f"the checkpoint's torch_rng: {state.size} bytes, not the "
                              f"state of a torch.Generator on {device.type}") from None
