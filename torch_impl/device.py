"""Where torch runs, and at what precision.

    resolve_device("auto", dt)  the accelerator torch sees (CUDA, or Apple's MPS where it
                                runs `dt`: it has no float64), else the CPU
    is_accelerator(device)      CUDA or MPS: work queued, waited for by synchronize
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

from ch9_shared.config import ConfigError

TF32_OVERRIDE = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"
"""Set to 1 in NVIDIA's containers: torch starts with TF32 matmuls on."""

ACCELERATORS = ("cuda", "mps")


class NoFloat64(ConfigError):
    """float64 asked of a device that has none (MPS); the message names the config's words,
    a command line says it in its flags."""


@functools.cache
def mps_usable() -> bool:
    """Whether Apple's GPU runs here: torch says MPS is available *and* a small tensor is
    allocated and computed on it (GitHub's macOS runners say available, then fail)."""
    if not torch.backends.mps.is_available():
        return False
    try:
        return (torch.ones(4, device="mps") * 2).sum().item() == 8
    except Exception:  # a probe: whatever MPS raises, it is not usable
        return False


def accelerator() -> str | None:
    """"cuda" or "mps": the accelerator torch sees and can use here, or None.
    torch.accelerator where torch has it (2.6+), else torch.cuda and torch.backends.mps."""
    if hasattr(torch, "accelerator"):
        current = (torch.accelerator.current_accelerator()
                   if torch.accelerator.is_available() else None)
        kind = None if current is None else current.type
    else:
        kind = ("cuda" if torch.cuda.is_available()
                else "mps" if torch.backends.mps.is_available() else None)
    if kind == "mps" and not mps_usable():
        return None
    return kind if kind in ACCELERATORS else None


def available(kind: str) -> bool:
    """Whether a device of `kind` ("cpu", "cuda", "mps") can run here."""
    return kind == "cpu" or (kind == "cuda" and torch.cuda.is_available()) or (
        kind == "mps" and mps_usable())


def runs_dtype(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether `device` computes in `dtype`: all do but MPS, which has no float64."""
    return not (device.type == "mps" and dtype == torch.float64)


def resolve_device(name: str | torch.device, dtype: torch.dtype = torch.float64
                   ) -> torch.device:
    """The device `name` says, for a run in `dtype`. auto: the accelerator here where it runs
    `dtype` (MPS has no float64), else the CPU. A device that is not here, or float64 on
    MPS, raises ConfigError (NoFloat64)."""
    device = torch.device("cpu" if str(name) == "auto" else name)
    if str(name) == "auto":
        kind = accelerator()
        if kind is not None and runs_dtype(torch.device(kind), dtype):
            device = torch.device(kind)
    if device.type == "cuda" and not available("cuda"):
        raise ConfigError("`device` cuda, but torch sees no CUDA GPU here: use `device` cpu "
                          "(or auto)")
    if device.type == "mps" and not available("mps"):
        raise ConfigError("`device` mps, but torch sees no usable Apple GPU (MPS) here: use "
                          "`device` cpu (or auto)")
    if not runs_dtype(device, dtype):
        raise NoFloat64("`dtype` float64 does not run on MPS (Apple's GPUs have no float64): "
                        "use `dtype` float32, or `device` cpu")
    return device


def is_accelerator(device: torch.device) -> bool:
    """Whether `device` queues its work (CUDA, MPS) rather than running it as it is called."""
    return device.type in ACCELERATORS


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work: a timing of GPU work ends here, not at launch."""
    if not is_accelerator(device):
        return
    if hasattr(torch, "accelerator"):
        torch.accelerator.synchronize(device)
    elif device.type == "cuda":
        torch.cuda.synchronize(device)
    else:
        torch.mps.synchronize()


@contextlib.contextmanager
def full_precision(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Float32 matmuls at full float32 precision ("highest": no TF32 in cuBLAS or cuDNN, no
    bfloat16 on the CPU) inside the block; the caller's settings are restored after it."""
    precision, cudnn_tf32 = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False  # what "highest" implies, said outright
    torch.backends.cudnn.allow_tf32 = False
    if device.type == "cuda" and dtype == torch.float32 and os.environ.get(TF32_OVERRIDE) == "1":
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
    """What a user should know before a run on `device` starts (MPS runs only float32:
    resolve_device refuses float64 there)."""
    if device.type == "cuda" and dtype == torch.float64:
        return ["float64 on a GPU runs at 1/32 to 1/64 of float32's speed on most GPUs (all "
                "but the data-centre ones): `dtype` float32 is much faster (float64 is the "
                "default for parity with the NumPy side)"]
    return []
