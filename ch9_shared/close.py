"""When two tensors agree: the one notion of "close" that every comparison here uses.

Two computations of the same tensor that add in another order (NumPy's BLAS against
torch's, a CPU against a GPU, `1 - t**2` against `1 - t*t`) agree to rounding, not to the
bit. This module says how far apart they may be, tensor by tensor:

    |a - b| <= tol * (|b| + max|b|),      tol = ULPS * depth * eps(dtype)

- `eps` is the machine epsilon of the computation's dtype: 2.2e-16 in float64, 1.2e-7
  in float32 (so a float32 check is never a float64 check with a looser constant).
- `depth` is how many rounding steps the tensor went through: 1 for an elementwise
  function, STEP_DEPTH for a tensor of one training step, more for a whole run
  (`run_depth`). Each step may add a few ulps; ULPS leaves room for that.
- `|b|` is the entry's own size: a relative tolerance.
- `max|b|` is the tensor's size. An entry near zero that came out of a cancellation
  (`1 - t**2` at t near 1, a dot product of terms of both signs) carries the absolute
  error of the large numbers it came from; judged by its own size alone, one such entry
  would force a loose tolerance on the whole tensor. Judged by the tensor's size, it
  passes, and the rest of the tensor is still held to a few ulps.

A wrong factor of 1% moves a tensor's largest entries by 1e-2 max|b|: a thousand times
the float32 tolerance of one step (128 eps = 1.5e-5), so it fails in both dtypes, where
an absolute tolerance of 1e-5 would pass it on any tensor whose entries are about 1e-5.
(parity_tests/chapter/test_mutants.py puts wrong factors into the code and checks just that.)

NumPy only: torch tensors are read through `.detach().cpu().numpy()` without importing
torch, so the NumPy side keeps running where torch is not installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ULPS = 16
"""Rounding allowed per step of depth, in units of eps: a measured one-step comparison of
NumPy and torch uses at most 17 eps of its 128 (parity_tests/chapter/test_close.py keeps it so)."""

STEP_DEPTH = 8
"""The depth of one training step: the hidden matmul, the activation, dropout, the output
matmul, the output layer, its delta, the backward matmul, the slope (then the update)."""


def run_depth(steps: int) -> float:
    """The depth of a tensor after `steps` training steps: independent roundings add up
    like a random walk, so the error of a stable run grows as the square root of its steps.
    (A chaotic run, where rounding decides the trajectory, fits no tolerance at all.)"""
    return STEP_DEPTH * math.sqrt(steps)


def tolerance(dtype: object, depth: float = 1) -> float:
    """ULPS * depth * eps(dtype): how far apart, relative to scale, two computations of a
    tensor of that dtype and depth may be."""
    return ULPS * depth * float(np.finfo(np.dtype(dtype)).eps)


def as_numpy(tensor: object) -> np.ndarray:
    """A NumPy array of a NumPy array, a number, or a torch tensor on any device."""
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.asarray(tensor)


def computed_in(*arrays: np.ndarray) -> np.dtype:
    """The dtype a comparison is judged in: the least precise floating dtype of the two."""
    floats = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.floating)]
    return max(floats, key=lambda d: np.finfo(d).eps) if floats else np.dtype(np.float64)


@dataclass(frozen=True)
class Comparison:
    """One tensor, two ways: a backprop checker's row."""

    name: str
    shape: tuple[int, ...]
    exact: bool  # equal to the bit
    close: bool  # within `tol`
    max_abs: float  # max |a - b|
    max_rel: float  # max |a - b| / max(|a|, |b|), entry by entry
    used: float  # the largest |a - b| / (tol (|b| + max|b|)): at most 1 when close
    tol: float

    def __str__(self) -> str:
        verdict = "close" if self.close else "NOT close"
        return (f"{self.name} {'x'.join(map(str, self.shape))}: {verdict} (max abs diff "
                f"{self.max_abs:.2e}, max rel diff {self.max_rel:.2e}, {100 * self.used:.0f}% "
                f"of the tolerance {self.tol:.1e})")


def compare(name: str, actual: object, expected: object, depth: float = 1,
            dtype: object = None) -> Comparison:
    """Compare `actual` with `expected` (the reference) under the project's tolerance, in
    `dtype` if given (a grader judges in the exercise's dtype, never the answer's), else in
    the least precise dtype of the two."""
    a, b = as_numpy(actual), as_numpy(expected)
    if a.shape != b.shape:
        raise ValueError(f"{name}: shape {a.shape} where {b.shape} was expected")
    tol = tolerance(computed_in(a, b) if dtype is None else dtype, depth)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))  # the same infinity, or NaN
        diff = np.where(same, 0.0, np.abs(a64 - b64))
        allowed = tol * np.abs(b64) + tol * np.abs(b64[np.isfinite(b64)]).max(initial=0.0)
        scale = np.maximum(np.abs(a64), np.abs(b64))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        ratio = np.divide(diff, allowed, out=np.full_like(diff, np.inf), where=allowed > 0)
    ratio = np.where(same, 0.0, np.nan_to_num(ratio, nan=np.inf))
    used = float(ratio.max(initial=0.0))
    return Comparison(name, a.shape, bool(np.array_equal(a, b, equal_nan=True)), used <= 1,
                      float(np.nanmax(diff, initial=0.0)), float(np.nanmax(rel, initial=0.0)),
                      used, tol)
