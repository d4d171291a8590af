"""One flat, typed, validated config for a run, and the chapter's two presets.

`tanh` is the book's listing; `relu` is the chapter's second listing (its ReLU rewrite).
They differ in four places: the hidden activation, the scale of `weights_1_2`'s
initial values, the divisor D of the output delta, and the number of iterations.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

HIDDEN_CHOICES = ("relu", "sigmoid", "tanh")
OUTPUT_CHOICES = ("softmax", "sigmoid", "identity")
MODE_CHOICES = ("book", "exact")
DTYPE_CHOICES = ("float64", "float32")
DIVISOR_CHOICES = ("batch*batch", "batch*classes")

PIXELS = 28 * 28
CLASSES = 10
MAX_HIDDEN = 2**20
MAX_FLOAT = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}
"""The largest finite value of each dtype: a setting above it becomes infinity."""
"""The most hidden units: weights_0_1 is then 784 x 2**20 float64s, 6.6 GB."""


class ConfigError(ValueError):
    """A hyperparameter that cannot work; the message says which and why."""


@dataclass(frozen=True)
class Config:
    """Every number of a run. Defaults are the book's listing (preset `tanh`).

    `init_0_1` and `init_1_2` are the half-widths s of the uniform initial weights,
    `(2 s) * random(shape) - s`. `divisor` names the listing's D in the output delta
    `(layer_2 - labels) / D`: the book divides by batch_size * batch_size (it meant
    batch_size * classes, which is what the ReLU listing uses).
    """

    hidden: Literal["relu", "sigmoid", "tanh"] = "tanh"
    output: Literal["softmax", "sigmoid", "identity"] = "softmax"
    mode: Literal["book", "exact"] = "book"
    seed: int = 1
    iterations: int = 300
    batch_size: int = 100
    alpha: float = 2.0
    hidden_size: int = 100
    softmax_base: float = math.e
    init_0_1: float = 0.01
    init_1_2: float = 0.1
    divisor: Literal["batch*batch", "batch*classes"] = "batch*batch"
    train_size: int = 1000
    test_size: int = 10000
    dtype: Literal["float64", "float32"] = "float64"
    log_every: int = 10

    def __post_init__(self) -> None:
        for name, choices in [
            ("hidden", HIDDEN_CHOICES),
            ("output", OUTPUT_CHOICES),
            ("mode", MODE_CHOICES),
            ("dtype", DTYPE_CHOICES),
            ("divisor", DIVISOR_CHOICES),
        ]:
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        for name in ("iterations", "batch_size", "hidden_size", "train_size", "test_size",
                     "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size > MAX_HIDDEN:
            raise ConfigError(f"hidden_size must be at most {MAX_HIDDEN} (weights_0_1 alone "
                              f"would not fit in memory), got {self.hidden_size}")
        for name in ("alpha", "init_0_1", "init_1_2", "softmax_base"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a finite number above 0, got {value!r}")
            if value > MAX_FLOAT[self.dtype]:
                raise ConfigError(f"{name} {value!r} overflows {self.dtype} (largest "
                                  f"{MAX_FLOAT[self.dtype]:.4g}): lower it, or use float64")
        if self.softmax_base <= 1:
            raise ConfigError(f"softmax_base must be above 1 (1 makes every class equally likely, "
                              f"below 1 prefers the smallest logit), got {self.softmax_base!r}")
        if self.batch_size > self.train_size:
            raise ConfigError(
                f"batch_size {self.batch_size} is larger than train_size {self.train_size}: "
                "lower `batch_size` or raise `train_size`"
            )

    @property
    def D(self) -> int:
        """The divisor of the output delta, by the preset's rule."""
        if self.divisor == "batch*batch":
            return self.batch_size * self.batch_size
        return self.batch_size * CLASSES

    def replace(self, **changes: object) -> Config:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, Config] = {
    "tanh": Config(),
    "relu": Config(hidden="relu", iterations=100, init_1_2=0.01, divisor="batch*classes"),
}
