"""The hint ladder of every exercise of both tracks, revealed one level at a time.

    >>> from exercises import hint
    >>> hint("tanh2deriv")      # prints hint 1 of 3: a nudge
    >>> hint("tanh2deriv")      # prints hint 2 of 3: the idea
    >>> hint("tanh2deriv")      # prints hint 3 of 3: the fix, the last resort

The levels get more specific; only the last gives the fix (the corrected expression), and a
check's line never does: it says what is off and what kind of mistake it is. The level
reached for each exercise is kept in a small file (`state_path()`, deleted to start again),
so that a notebook, a prompt, `python -c` and scripts/check_exercises.py (which shows a
hint when asked) go on from one another. A blank's docstring poses the problem and never
gives what the checker accepts. Each exercise's hints are written in its registration, in
its track's checks (`hints=`), and read from there without importing them
(exercises/registry.py): importing this module needs nothing but Python.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TypeVar

from ch9_shared.files import OutputError, write_atomically
from exercises.registry import HINTS

R = TypeVar("R")

STATE = Path("grokking-ch9") / "hints.json"
"""The file of the levels reached, under the user's cache folder (XDG_CACHE_HOME, else
~/.cache, on every system): one place whatever the folder a hint is asked from."""

unsaved: dict[str, int] | None = None
"""The levels of this process, where the file could not be written (then read instead)."""


class Hint(str):
    """A text, which a plain Python prompt, IPython and a notebook show as it is."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))


def state_path() -> Path | None:
    """Where the levels reached are kept, or None where there is no home folder to keep
    them in."""
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache:
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME, nor a user database entry
            return None
    return Path(cache) / STATE


def levels() -> dict[str, int]:
    """The level reached for each exercise; a file that is missing, unreadable or not ours
    is no level reached (never an error: the learner may delete or break it)."""
    if unsaved is not None:
        return dict(unsaved)
    path = state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {name: level for name, level in data.items() if name in HINTS
            and type(level) is int and 1 <= level <= len(HINTS[name])}


def _save(reached: dict[str, int]) -> str | None:
    """Keep the levels reached in the file; where and why they could not be, or None
    (this process then keeps them)."""
    global unsaved
    unsaved = reached  # until the file holds them
    path = state_path()
    if path is None:
        return "a file: there is no home folder, nor XDG_CACHE_HOME"
    text = json.dumps(reached, indent=1, sort_keys=True).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda f: f.write(text))
    except OSError as e:
        return f"{e.filename or path}: {e.strerror or e}"
    except OutputError:
        return f"{path}: it is read-only or not a file"
    unsaved = None
    return None


def next_hint(name: str, level: int | None = None) -> str:
    """The next hint for exercise `name` (or hint number `level`, from 1), with where its
    level is kept: each call reveals one more, and the last repeats once all are shown."""
    if name not in HINTS:
        raise ValueError(f"no exercise is called {name!r}: the exercises are "
                         f"{', '.join(HINTS)}")
    hints = HINTS[name]
    if not hints:
        raise ValueError(f"{name} has no hints: its track's checks do not register it "
                         "(EXERCISES in exercises/*_checks.py)")
    reached = levels()
    if level is None:
        level = min(reached.get(name, 0) + 1, len(hints))
    if not 1 <= level <= len(hints):
        raise ValueError(f"{name} has hints 1 to {len(hints)}, not {level}")
    reached[name] = max(reached.get(name, 0), level)
    problem = _save(reached)
    last = " (the last)" if level == len(hints) else ""
    kept = (f"(could not keep your place in {problem}; this session remembers it)" if problem
            else f"(your place is kept in {state_path()}: delete it to start again)")
    return f"{name}, hint {level} of {len(hints)}{last}: {hints[level - 1]}\n{kept}"


def hint(name: str, level: int | None = None) -> None:
    """Print the next hint for exercise `name` (or hint number `level`, from 1): in a
    notebook, at a prompt and from `python -c` alike (a returned text would show only at
    a prompt). Each call reveals one more; the level is kept between runs (state_path)."""
    print(next_hint(name, level))


def with_fix(result: R) -> R:
    """A wrong result whose line also gives the fix, the exercise's last hint: for a
    teacher's gradebook (scripts/check_exercises.py, when asked). Any other result as it
    is."""
    if getattr(result, "status", None) != "wrong":
        return result
    fix = HINTS[result.name][-1]  # "The fix: ..."
    return dataclasses.replace(result, message=f"{result.message} ({fix})")
