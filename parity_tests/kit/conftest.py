"""What the kit's tests share."""

from __future__ import annotations

from exercises.grading import Result


def one_line(result: Result) -> str:
    """The result's line, checked to be one line that starts with its exercise's name."""
    line = str(result)
    assert "\n" not in line and line.startswith(f"{result.name}: ")
    return line
