"""What the kit's tests share."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from exercises.grading import Result


def runnable_by_others(path: str) -> bool:
    """Whether another user (nobody) may run the interpreter at `path`: every folder above
    it open to others, and the file itself."""
    real = Path(os.path.realpath(path))
    return all(os.stat(folder).st_mode & 0o001 for folder in real.parents) and bool(
        os.stat(real).st_mode & 0o001)


def one_line(result: Result) -> str:
    """The result's line, checked to be one line that starts with its exercise's name."""
    line = str(result)
    assert "\n" not in line and line.startswith(f"{result.name}: ")
    return line


def wrong_line(result: Result, *words: str) -> str:
    """The line of a wrong answer, checked: one line, `NAME: wrong: ...`, saying each of
    `words`."""
    line = one_line(result)
    assert result.status == "wrong" and line.startswith(f"{result.name}: wrong: "), line
    for word in words:
        assert word in line, line
    return line


def line_of(function: Callable[..., object], text: str = "return") -> int:
    """The number of the first line of `function`, in its file, that holds `text`."""
    lines, first = inspect.getsourcelines(function)
    return first + next(number for number, line in enumerate(lines) if text in line)


def has_process_filter() -> bool:
    """Whether the answers' process here may start no process (ch9_shared/system.py's
    seccomp filter: Linux on x86-64 or ARM64)."""
    import platform
    import sys

    from ch9_shared.system import CALLS
    return sys.platform.startswith("linux") and platform.machine() in CALLS
