"""What the tracks register, read from the files' text without importing them (the autograd
track's blanks and checks import torch, which only its exercises may need; a hint needs
nothing but Python).

An exercise is registered once, in its track's checks (`EXERCISES` in
exercises/{track}_checks.py): the call that makes its `Exercise` names its blank first
(`blanks.NAME`, the function or class of the track's blank file), and holds its inputs, its
reference, its catalogue of typical mistakes and its hint ladder (`hints=`). Its answer is
the function or class of that name in exercises/{track}_solutions.py. So:

- TRACKS: each track's exercises, in the order of its blank file (exercises/{track}.py),
  the order in which they are checked and listed everywhere;
- HINTS: each exercise's hints, as its registration writes them, in the tracks' order.

docs/exercises.md ("Adding an exercise") walks a teacher through it.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRACK_NAMES = ("backprop", "autograd")
"""The tracks, each a blank file exercises/{track}.py and its checks exercises/{track}_checks.py."""


def blanks(track: str) -> tuple[str, ...]:
    """The functions and classes the track's blank file defines, in order."""
    source = (HERE / f"{track}.py").read_text(encoding="utf-8")
    return tuple(node.name for node in ast.parse(source).body
                 if isinstance(node, ast.FunctionDef | ast.ClassDef))


def registered_hints(checks: Path) -> dict[str, tuple[str, ...]]:
    """Each exercise's hints, read from its registration in a track's `checks` file: the
    `hints=` of the call whose first argument is its blank (`blanks.NAME`). ValueError, with
    the line, where they are not written out as a tuple of texts."""
    found = {}
    for node in ast.walk(ast.parse(checks.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and node.args
                and isinstance(blank := node.args[0], ast.Attribute)
                and isinstance(blank.value, ast.Name) and blank.value.id == "blanks"):
            continue
        for keyword in node.keywords:
            if keyword.arg == "hints":
                try:
                    hints = ast.literal_eval(keyword.value)
                except ValueError:
                    hints = None
                if not (isinstance(hints, tuple) and all(isinstance(h, str) for h in hints)):
                    raise ValueError(f"{checks.name}, line {keyword.value.lineno}: "
                                     f"the hints of {blank.attr} are a tuple of texts, written "
                                     "out there (hints=(\"...\", \"...\"))")
                found[blank.attr] = hints
    return found


TRACKS: dict[str, tuple[str, ...]] = {track: blanks(track) for track in TRACK_NAMES}
"""Each track's exercises, in the order of its blank file (the backprop track needs NumPy
alone; the autograd track's checks import torch, only when one of them is asked for)."""


def hints_in_order() -> dict[str, tuple[str, ...]]:
    """Each exercise's hints, in the tracks' order: () for a blank that no registration
    holds (its check says so)."""
    written = {name: hints for track in TRACKS
               for name, hints in registered_hints(HERE / f"{track}_checks.py").items()}
    return {name: written.get(name, ()) for names in TRACKS.values() for name in names}


HINTS: dict[str, tuple[str, ...]] = hints_in_order()
