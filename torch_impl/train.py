"""The training loop on torch, parallel to numpy_impl/train.py.

Seeded like the NumPy side: the initial weights come from the same `RandomState` stream,
and so do the dropout masks (`rng="numpy"`, bit-comparable), unless `rng="torch"` draws
them with a `torch.Generator` on the device (faster, a different stream): one
`bernoulli_(0.5)` a batch, the draws `nn.Dropout(0.5)` makes on the CPU from a default
generator seeded alike, so that the idiomatic model (torch_impl/idiomatic.py) sees the
same masks there. The data goes to the device once; correct answers are counted on the
device and read only at log time.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ch9_shared.checkpoint import Checkpoint, CheckpointError
from ch9_shared.config import CLASSES, PIXELS, Config
from ch9_shared.data import Dataset
from ch9_shared.threads import Background, one_thread
from numpy_impl.train import Diverged, LogRecord, dropout_masks, due, initial_weights
from torch_impl.device import (
    full_precision,
    is_accelerator,
    resolve_device,
)
from torch_impl.network import LOSSES, Network, chapter_layout


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


def train(
    config: Config,
    data: Dataset,
    log: Callable[[LogRecord], None] | None = None,
    progress: Callable[[int], None] | None = None,
    resume: Checkpoint | None = None,
    save: Callable[[Checkpoint], None] | None = None,
    save_every: int | None = None,
    *,
    device: str | torch.device = "auto",
    rng: str = "numpy",
) -> Network:
    """Train from scratch, or on from `resume`; call `log` at every `log_every`-th iteration,
    `progress` after every iteration, and `save` every `save_every` iterations and at the end.
    Float32 matmuls run at full precision (device.full_precision), whatever the caller set.
    """
    start = time.perf_counter()
    dtype = getattr(torch, config.dtype)
    device = resolve_device(device, dtype)
    numpy_rng = np.random.RandomState(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed) if rng == "torch" else None
    if resume is None:
        weights_0_1, weights_1_2 = initial_weights(numpy_rng, config)
    else:
        weights_0_1, weights_1_2 = resume.weights_0_1, resume.weights_1_2
        numpy_rng.set_state(resume.numpy_rng)
        made_with = "numpy" if resume.torch_rng is None else "torch"
        if made_with != rng:
            raise CheckpointError(f"the checkpoint was made with `rng` {made_with}, not {rng}")
        if generator is not None:
            set_generator_state(resume, device, generator.set_state)
    network = Network.from_numpy(config, weights_0_1, weights_1_2, device)
    optimizer = network.sgd()

    images, labels, digits, test_images, test_labels, test_digits = on_device(
        data, config, dtype, device)
    batches, size = digits.shape
    train_size = batches * size

    # each logged test pass on a copy of the network: on the CPU, on a second thread while
    # training goes on (ch9_shared/threads.py); on a GPU, queued in order (it is async anyway)
    with full_precision(device, dtype), one_thread(), \
            Background(log, inline=is_accelerator(device)) as tests:
        for iteration in range(0 if resume is None else resume.iteration, config.iterations):
            logged = log is not None and iteration % config.log_every == 0
            if generator is None:
                masks = torch.as_tensor(dropout_masks(numpy_rng, config), dtype=dtype,
                                        device=device)
            else:  # one mask a batch, drawn as nn.Dropout draws it (torch_impl/idiomatic.py)
                masks = (torch.empty((size, config.hidden_size), dtype=dtype, device=device)
                         .bernoulli_(0.5, generator=generator) for _ in range(batches))
            train_correct = torch.zeros((), dtype=torch.int64, device=device)
            train_loss = torch.zeros((), dtype=dtype, device=device)
            for layer_0, batch_labels, batch_digits, dropout_mask in zip(
                images, labels, digits, masks, strict=True
            ):
                step = network.train_step(layer_0, batch_labels, dropout_mask, optimizer)
                train_correct += (step.layer_2.argmax(1) == batch_digits).sum()
                if logged:
                    train_loss += step.loss * config.D
            # checked once an iteration, not once a batch: reading a GPU value waits for it
            if not all(p.isfinite().all() for p in network.parameters()):
                raise Diverged(iteration, config.alpha)
            if progress is not None:
                progress(iteration)
            if logged:
                record = LogRecord(iteration, 0, len(test_labels), int(train_correct),
                                   train_size, float(train_loss) / train_size)
                tests.submit(functools.partial(test_pass, copy.deepcopy(network), test_images,
                                               test_labels, test_digits, record, start))
            if save is not None and due(iteration + 1, config.iterations, save_every):
                tests.flush()  # the log is whole up to the checkpoint
                save(Checkpoint(
                    chapter_layout(network.weights_0_1.weight),
                    chapter_layout(network.weights_1_2.weight),
                    iteration + 1, numpy_rng.get_state(legacy=False),
                    None if generator is None else generator.get_state().numpy(), config,
                    "torch", device.type))
    return network


def test_pass(network: Network, test_images: torch.Tensor, test_labels: torch.Tensor,
              test_digits: torch.Tensor, record: LogRecord, start: float) -> LogRecord:
    """`record` completed with the test pass of `network` (no dropout): its correct answers,
    its loss, and the seconds since `start`."""
    logits = network.predict(test_images)
    config = network.config
    test_loss = LOSSES[config.output](logits, test_labels, config.softmax_base) / len(logits)
    return dataclasses.replace(record, test_correct=int((logits.argmax(1) == test_digits).sum()),
                               test_loss=float(test_loss), seconds=time.perf_counter() - start)


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
    except RuntimeError:  # a checkpoint older than the device field, made on a GPU
        other = "cuda" if here == "cpu" else "cpu"
        raise CheckpointError(f"the checkpoint's torch.Generator state ({resume.torch_rng.size} "
                              f"bytes) is not a {here} generator's: resume it with `device` "
                              f"{other}") from None

