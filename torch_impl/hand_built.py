"""The hand-built torch network as a model of the training loop (ch9_shared/loop.py).

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

from ch9_shared.checkpoint import Checkpoint, CheckpointError
from ch9_shared.config import CLASSES, PIXELS, Config
from ch9_shared.data import Dataset
from ch9_shared.loop import TestPass, dropout_masks
from torch_impl.activations import LOSSES
from torch_impl.device import (
    full_precision,
    is_accelerator,
    resolve_device,
)
from torch_impl.network import Network, chapter_layout


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


class HandBuilt:
    """The hand-built torch network as the model the training loop drives
    (ch9_shared/loop.py): its step is `Network.train_step`, autograd's backward and
    `torch.optim.SGD`. Float32 matmuls run at full precision (device.full_precision),
    whatever the caller set."""

    impl = "torch"

    def __init__(self, config: Config, device: str | torch.device = "auto", rng: str = "numpy"):
        self.config, self.rng = config, rng
        self.dtype = getattr(torch, config.dtype)
        self.device = resolve_device(device, self.dtype)
        self.generator_device = self.device.type
        self.inline_tests = is_accelerator(self.device)
        self.generator = (torch.Generator(self.device).manual_seed(config.seed)
                          if rng == "torch" else None)

    @property
    def ran_on(self) -> str:
        return f"{self.device} (masks from {self.rng})"

    def start(self, weights_0_1: np.ndarray, weights_1_2: np.ndarray, data: Dataset,
              resume: Checkpoint | None) -> list[tuple[torch.Tensor, ...]]:
        if resume is not None:
            made_with = "numpy" if resume.torch_rng is None else "torch"
            if made_with != self.rng:
                raise CheckpointError(f"the checkpoint was made with `rng` {made_with}, "
                                      f"not {self.rng}")
            if self.generator is not None:
                set_generator_state(resume, self.device, self.generator.set_state)
        self.network = Network.from_numpy(self.config, weights_0_1, weights_1_2, self.device)
        self.optimizer = self.network.sgd()
        images, labels, digits, *self.test_set = on_device(data, self.config, self.dtype,
                                                           self.device)
        return list(zip(images, labels, digits, strict=True))

    def masks(self, rng: np.random.RandomState) -> Iterable[torch.Tensor]:
        if self.generator is None:
            return torch.as_tensor(dropout_masks(rng, self.config), dtype=self.dtype,
                                   device=self.device)
        # one mask a batch, drawn as nn.Dropout draws it (torch_impl/idiomatic.py)
        shape = (self.config.batch_size, self.config.hidden_size)
        return [torch.empty(shape, dtype=self.dtype, device=self.device)
                .bernoulli_(0.5, generator=self.generator)
                for _ in range(self.config.train_size // self.config.batch_size)]

    def step(self, batch: tuple[torch.Tensor, ...], dropout_mask: torch.Tensor, logged: bool
             ) -> tuple[torch.Tensor, torch.Tensor | float]:
        layer_0, labels, digits = batch
        step = self.network.train_step(layer_0, labels, dropout_mask, self.optimizer)
        # counted on the device: reading a GPU value waits for it
        correct = (step.layer_2.argmax(1) == digits).sum()
        return correct, step.loss * self.config.D if logged else 0.0

    def finite(self) -> bool:
        """Checked once an iteration, not once a batch: reading a GPU value waits for it."""
        return all(bool(p.isfinite().all()) for p in self.network.parameters())

    def test_pass(self) -> TestPass:
        return functools.partial(test_pass, copy.deepcopy(self.network), *self.test_set)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        return (chapter_layout(self.network.weights_0_1.weight),
                chapter_layout(self.network.weights_1_2.weight))

    def generator_state(self) -> np.ndarray | None:
        return None if self.generator is None else self.generator.get_state().numpy()

    def context(self) -> contextlib.AbstractContextManager[object]:
        return full_precision(self.device, self.dtype)


def test_pass(network: Network, test_images: torch.Tensor, test_labels: torch.Tensor,
              test_digits: torch.Tensor) -> tuple[int, float]:
    """The test pass of `network` (no dropout): its correct answers and its loss per image."""
    logits = network.predict(test_images)
    config = network.config
    test_loss = LOSSES[config.output].summed(logits, test_labels, config.softmax_base) / len(logits)
    return int((logits.argmax(1) == test_digits).sum()), float(test_loss)


def set_generator_state(resume: Checkpoint, device: torch.device,
                        set_state: Callable[[torch.Tensor], None]) -> None:
    """Go on with the checkpoint's mask stream: `set_state` sets the state of the generator
    on `device`. A generator's state belongs to its kind of device (the CPU's Mersenne
    Twister: 5056 bytes; CUDA's Philox: 16; MPS's its own), and no state turns into another's,
    so a checkpoint of rng "torch" resumes on the kind of device that made it."""
    made_on, here = resume.torch_rng_device, device.type
    if made_on != here:
        raise CheckpointError(f"the checkpoint's dropout masks come from a torch.Generator on "
                              f"{made_on}, which cannot go on on {here}: resume it with "
                              f"`device` {made_on}")
    try:
        set_state(torch.from_numpy(resume.torch_rng))
    except RuntimeError:  # the state's size is not that of a generator on `here`
        raise CheckpointError(f"the checkpoint's torch_rng: {resume.torch_rng.size} bytes, not "
                              f"the state of a torch.Generator on {here}") from None

