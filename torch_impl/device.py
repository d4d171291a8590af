"""Where torch runs, and at what precision.

    resolve_device("auto")      CUDA when torch sees a GPU, else the CPU
    full_precision(device, dt)  float32 matmuls at full float32 precision inside the block,
                                the caller's settings back after it
    notes(device, dtype)        what a user of a GPU should know before a run

Every trainer, comparison and evaluation runs inside `full_precision`: a caller's
`torch.set_float32_matmul_precision("high")` (or "medium") lets a float32 matmul round its
inputs to TF32 on a GPU (10 bits of float32's 23) or to bfloat16 on a CPU (7 bits), and a
float32 run would then measure that rounding, not the chapter.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator

import torch

from common.config import ConfigError

TF32_OVERRIDE = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"
"""Set to 1 in NVIDIA's containers: torch starts with TF32 matmuls on."""


def resolve_device(name: str | torch.device) -> torch.device:
    """auto: CUDA when torch sees a GPU, else the CPU."""
    name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("`device` cuda, but torch sees no CUDA GPU here: use `device` cpu "
                          "(or auto)")
    return torch.device(name)


def is_cuda(device: torch.device) -> bool:
    """Whether a run on `device` runs on a CUDA GPU (the tests make it say so on the CPU)."""
    return device.type == "cuda"


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work: a timing of CUDA work ends here, not at launch."""
    if is_cuda(device):
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def full_precision(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Float32 matmuls at full float32 precision ("highest": no TF32 in cuBLAS or cuDNN, no
    bfloat16 on the CPU) inside the block; the caller's settings are restored after it."""
    precision, cudnn_tf32 = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False  # what "highest" implies, said outright
    torch.backends.cudnn.allow_tf32 = False
    if is_cuda(device) and dtype == torch.float32 and os.environ.get(TF32_OVERRIDE) == "1":
        note_tf32_override()
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(precision)  # and cuda.matmul.allow_tf32 with it
        torch.backends.cudnn.allow_tf32 = cudnn_tf32


@functools.cache
def note_tf32_override() -> None:
    """One line on standard error, once a process: the override is about the numbers."""
    print(f"torch_impl: note: {TF32_OVERRIDE}=1 is set (NVIDIA's containers set it), which "
          "turns float32 CUDA matmuls into TF32; this run asks torch for full float32 "
          "precision, but unset the variable to be sure", file=sys.stderr)


def notes(device: torch.device, dtype: torch.dtype) -> list[str]:
    """What a user should know before a run on `device` starts."""
    if is_cuda(device) and dtype == torch.float64:
        return ["float64 on a GPU runs at 1/32 to 1/64 of float32's speed on most GPUs (all "
                "but the data-centre ones): `dtype` float32 is much faster (float64 is the "
                "default for parity with the NumPy side)"]
    return []
