"""The teaching kit: write each step of chapter 9 yourself, and check it, on two tracks.

- backprop (NumPy alone): every derivative of the chapter by hand. Blanks in
  `exercises/backprop.py`, checks in `grading.py`, answers in `backprop_solutions.py`.
- autograd (torch): the same network as torch writes it, the jump from the hand-made
  backward pass to autograd. Blanks in `exercises/autograd.py`, checks in
  `autograd_grading.py`, answers in `autograd_solutions.py`.

In a notebook, the learner's code runs in the learner's kernel:

    from exercises import check, hint, problem
    problem("tanh2deriv") # the problem posed: what goes in, what comes out
    check(tanh2deriv)     # one line: passed, not done yet, or wrong: what is off
    hint("tanh2deriv")    # one more hint at each call

`scripts/check_exercises.py FILES` grades files of answers in child processes, with a time
and a memory limit (`runner.py`), for a teacher grading a class.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING

from exercises.hints import Hint, hint

if TYPE_CHECKING:
    from exercises.grading import Exercise, Result

TRACKS: dict[str, tuple[str, ...]] = {
    "backprop": ("relu2deriv", "sigmoid2deriv", "tanh2deriv", "softmax_cross_entropy_delta",
                 "dropout", "dropout_backward", "layer_1_delta", "weights_1_2_update",
                 "weights_0_1_update"),
    "autograd": ("softmax_loss", "sigmoid_loss", "identity_loss", "ChapterNetwork",
                 "TrueHidden", "BookHidden", "train_step", "idiomatic_model",
                 "manual_layer_1_delta"),
}
"""Each track's exercises, in the order of its blank file (the backprop track needs NumPy
alone; the autograd track's checks import torch, only when one of them is asked for)."""


def track_of(name: str) -> str:
    for track, names in TRACKS.items():
        if name in names:
            return track
    everything = ", ".join(name for names in TRACKS.values() for name in names)
    raise ValueError(f"no exercise is called {name!r}: the exercises are {everything}")


def exercise(name: str) -> Exercise:
    """The exercise called `name`, from its track's checks."""
    if track_of(name) == "autograd":
        from exercises.autograd_grading import EXERCISE
    else:
        from exercises.grading import EXERCISE
    return EXERCISE[name]


def problem(name: str) -> Hint:
    """The blank's signature and docstring: the problem posed. (help() on a class blank
    would also print every method nn.Module or autograd.Function gives it.)"""
    blank = getattr(importlib.import_module(f"exercises.{track_of(name)}"), name)
    if inspect.isclass(blank):
        heading = f"class {name}({', '.join(base.__name__ for base in blank.__bases__)})"
    else:
        heading = f"{name}{inspect.signature(blank)}"
    return Hint(f"{heading}\n\n{inspect.getdoc(blank)}")


def check(answer: object, dtype: str = "float64", name: str | None = None) -> Result:
    """Check one exercise of either track, found by the answer's name (or `name`), on the
    chapter's first step and a second configuration, in `dtype` (float64 or float32)."""
    from exercises.grading import grade
    name = name or getattr(answer, "__name__", "")
    return grade(exercise(name), answer, dtype)


def check_module(module: object, track: str = "backprop", dtype: str = "float64"
                 ) -> list[Result]:
    """Check every exercise of a track in a module of answers, in this process."""
    return [check(getattr(module, name, None), dtype, name) for name in TRACKS[track]]


__all__ = ["TRACKS", "check", "check_module", "exercise", "hint", "problem", "track_of"]
