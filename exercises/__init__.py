"""The teaching kit: write each step of chapter 9 yourself, and check it, on two tracks.

- backprop (NumPy alone): every derivative of the chapter by hand. Blanks in
  `exercises/backprop.py`, checks in `backprop_checks.py`, answers in
  `backprop_solutions.py`.
- autograd (torch): the same network as torch writes it, the jump from the hand-made
  backward pass to autograd. Blanks in `exercises/autograd.py`, checks in
  `autograd_checks.py`, answers in `autograd_solutions.py`.

A blank file defines its track's exercises, in order: each function or class in it is one,
and its name, written there once, is the exercise's everywhere else. Each is registered
once, in its track's checks (`EXERCISES`): its blank, inputs, reference, catalogue of
typical mistakes and hints; its answer is the function or class of its name in the
solutions (exercises/registry.py; docs/exercises.md, "Adding an exercise"). `grading.py`
is the engine that judges an answer on either track.

In a notebook, the learner's code runs in the learner's kernel:

    from exercises import check, hint, problem
    problem("tanh2deriv") # the problem posed: what goes in, what comes out
    check(tanh2deriv)     # one line: passed, not done yet, or wrong: what is off, never the fix
    hint("tanh2deriv")    # prints one more hint at each call, the last the fix (hints.py)

`scripts/check_exercises.py FILES` grades files of answers in child processes, with a time
and a memory limit (`runner.py`), for a teacher grading a class.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING

from exercises.hints import Hint, hint
from exercises.registry import TRACKS

if TYPE_CHECKING:
    from exercises.grading import Exercise, Result


def track_of(name: str) -> str:
    for track, names in TRACKS.items():
        if name in names:
            return track
    everything = ", ".join(name for names in TRACKS.values() for name in names)
    raise ValueError(f"no exercise is called {name!r}: the exercises are {everything}")


def exercise(name: str) -> Exercise:
    """The exercise called `name`, as its track's checks register it
    (exercises/{track}_checks.py); ValueError for a blank they do not register."""
    track = track_of(name)
    registered = importlib.import_module(f"exercises.{track}_checks").EXERCISE
    if name not in registered:
        raise ValueError(f"{name} has a blank in exercises/{track}.py and no registration in "
                         f"exercises/{track}_checks.py: add its Exercise to EXERCISES there")
    return registered[name]


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
    """Check one exercise of either track, found by the answer's name (or `name`), in
    `dtype` (float64 or float32), in this process: the grader's calls and lines
    (exercises/grading.py). Each answer runs on four configurations (images, hidden units,
    D): the chapter's first step (100, 100, 10000), a smaller one (20, 30, 200), the
    first's shapes with other values (100, 100, 999) and a batch of one (1, 13, 7). An
    answer that raises is told its line; one that fails where an exercise it calls
    (softmax_loss, in train_step) fails too is told to fix that one first
    (exercises/depends.py)."""
    from exercises.depends import because, calls_of
    from exercises.grading import grade
    name = name or getattr(answer, "__name__", "")
    result = grade(exercise(name), answer, dtype)
    if result.passed or answer is None:
        return result
    for callee, called in calls_of(answer, name).items():
        if not (first := grade(exercise(callee), called, dtype)).passed:
            return because(result, first)
    return result


def check_module(module: object, track: str = "backprop", dtype: str = "float64",
                 only: Iterable[str] | None = None) -> list[Result]:
    """Check every exercise of a track in a module of answers (or `only` those named: a
    name, or several; ValueError for one no exercise has), in this process."""
    names = TRACKS[track] if only is None else [only] if isinstance(only, str) else list(only)
    return [check(getattr(module, name, None), dtype, name) for name in names]


__all__ = ["TRACKS", "check", "check_module", "exercise", "hint", "problem", "track_of"]
