"""The chapter's figures, as PNG files (matplotlib, no screen needed).

- training curves: test and train accuracy at each logged iteration, several runs overlaid;
- weight templates: for each digit, the 28x28 input-space image `weights_0_1 @ weights_1_2[:, d]`
  (what a pixel adds to digit d's logit through the hidden layer, tanh taken as linear);
- class averages: the mean image of each digit ("the average 2 shares quite a bit with the
  average 3");
- the activation table: each hidden activation and its derivative.

matplotlib is imported only here, and only when a figure is drawn.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ch9_shared.config import CLASSES
from ch9_shared.files import write_atomically
from ch9_shared.loop import LogRecord
from numpy_impl import activations as act


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    """Write beside, then rename: never a half-written PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(path, lambda f: figure.savefig(f, format="png", dpi=80))
    finally:
        _pyplot().close(figure)
    return path


def training_curves(runs: Mapping[str, Sequence[LogRecord]], path: Path, title: str) -> Path:
    """Test (solid) and train (dashed) accuracy per logged iteration, one colour per run."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    colours = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for index, ((name, records), colour) in enumerate(zip(runs.items(), colours, strict=False)):
        iterations = [r.iteration for r in records]
        style = {"color": colour, "linewidth": 4 if index == 0 and len(runs) > 1 else 1.5,
                 "alpha": 0.45 if index == 0 and len(runs) > 1 else 1}  # so overlaid runs show
        axes.plot(iterations, [r.test_correct / r.test_size for r in records], "-",
                  label=f"{name}: test", **style)
        axes.plot(iterations, [r.train_correct / r.train_size for r in records], "--",
                  label=f"{name}: train", **style)
    axes.set(xlabel="iteration", ylabel="accuracy", title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def _digit_grid(images: np.ndarray, path: Path, title: str, cmap: str, symmetric: bool) -> Path:
    plt = _pyplot()
    figure, grid = plt.subplots(2, 5, figsize=(8, 3.8))
    for digit, axes in enumerate(grid.flat):
        image = images[digit].reshape(28, 28)
        limit = np.abs(image).max() if symmetric else None
        axes.imshow(image, cmap=cmap, vmin=-limit if symmetric else None, vmax=limit)
        axes.set_title(str(digit))
        axes.axis("off")
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def weight_templates(weights_0_1: np.ndarray, weights_1_2: np.ndarray, path: Path) -> Path:
    """What each digit's output looks for in the input: weights_0_1 @ weights_1_2[:, d]."""
    templates = (weights_0_1 @ weights_1_2).T  # (classes, 784)
    return _digit_grid(templates, path, "weights_0_1 @ weights_1_2[:, digit] "
                       "(red: pixels that argue for the digit, blue: against)", "bwr", True)


def class_averages(images: np.ndarray, digits: np.ndarray, path: Path) -> Path:
    """The average training image of each digit."""
    averages = np.stack([images[digits == d].mean(axis=0) if (digits == d).any()
                         else np.zeros(images.shape[1]) for d in range(CLASSES)])
    return _digit_grid(averages, path, "the average image of each digit (training set)",
                       "gray_r", False)


def activation_table(path: Path) -> Path:
    """Each hidden activation (solid) and its derivative, computed from the output (dashed)."""
    plt = _pyplot()
    x = np.linspace(-4, 4, 401)
    figure, grid = plt.subplots(1, 3, figsize=(9, 3), sharey=True)
    for axes, (name, (forward, deriv)) in zip(grid, act.HIDDEN.items(), strict=True):
        out = forward(x)
        axes.plot(x, out, label=name)
        axes.plot(x, deriv(out), "--", label=f"{name}2deriv(output)")
        axes.set_title(name)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", loc="upper left")
        axes.set_xlabel("x")
    figure.tight_layout()
    return _save(figure, path)


def book_slopes(path: Path) -> Path:
    """Book mode's slope of a kept unit, hidden2deriv(2t), beside the true one, 2
    hidden2deriv(t), over each activation's range of t (its output before dropout); shaded
    where the two have opposite signs, a dot where units start (t = hidden(0))."""
    plt = _pyplot()
    ranges = {"relu": (0, 1.5), "sigmoid": (0, 1), "tanh": (-1, 1)}
    figure, grid = plt.subplots(1, 3, figsize=(10, 3.2))
    for axes, (name, (forward, deriv)) in zip(grid, act.HIDDEN.items(), strict=True):
        t = np.linspace(*ranges[name], 601)[1:-1]
        book, true = deriv(2 * t), 2 * deriv(t)
        axes.plot(t, true, label="true: 2 hidden2deriv(t)")
        axes.plot(t, book, "--", label="book: hidden2deriv(2t)")
        axes.fill_between(t, -2, 2.5, where=np.sign(book) * np.sign(true) < 0, color="red",
                          alpha=0.12, label="opposite signs")
        start = float(forward(np.zeros(1))[0])
        axes.plot([start], [2 * float(deriv(np.array([start]))[0])], "ko",
                  label="where units start")
        axes.axhline(0, color="gray", linewidth=0.8)
        axes.set(title=name, xlabel="t (the unit's output before dropout)", ylim=(-2, 2.5))
        axes.grid(alpha=0.3)
    grid[0].legend(fontsize="small", loc="lower left")
    figure.tight_layout()
    return _save(figure, path)


CHAPTER_FIGURES = ("curves.png", "weight_templates.png", "class_averages.png", "activations.png")
"""The files chapter_figures writes in its folder, in order."""


def chapter_figures(directory: Path, runs: Mapping[str, Sequence[LogRecord]],
                    weights_0_1: np.ndarray, weights_1_2: np.ndarray,
                    images: np.ndarray, digits: np.ndarray, title: str) -> list[Path]:
    """The four figures of a run, in `directory` (named as CHAPTER_FIGURES)."""
    curves, templates, averages, table = (directory / name for name in CHAPTER_FIGURES)
    return [
        training_curves(runs, curves, title),
        weight_templates(weights_0_1, weights_1_2, templates),
        class_averages(images, digits, averages),
        activation_table(table),
    ]


class Band(NamedTuple):
    """A curve across seeds: its mean and an interval around it, at each iteration."""

    iterations: Sequence[int]
    mean: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]


def accuracy_bands(panels: Mapping[str, Mapping[str, Band]], path: Path, title: str) -> Path:
    """One panel per mapping: each curve's mean as a line, its interval as a shaded band.
    Iterations on a log scale, accuracy from just below where the curves stand a quarter of
    the way in: the plateau, where the curves differ, fills the panel."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (name, curves) in zip(axes[0], panels.items(), strict=True):
        for label, band in curves.items():
            (line,) = ax.plot(band.iterations, band.mean, label=label)
            ax.fill_between(band.iterations, band.low, band.high, color=line.get_color(),
                            alpha=0.25)
        floor = min(band.mean[len(band.mean) // 4] for band in curves.values())
        top = max(max(band.high) for band in curves.values())
        ax.set_ylim(floor - 0.04, top + 0.005)
        ax.set_xscale("log")
        ax.set(xlabel="iterations done", ylabel="test accuracy", title=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="lower right", ncol=2)
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)
