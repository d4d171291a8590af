"""Check files of answers to the exercises: `python scripts/check_exercises.py [ANSWERS.py ...]`.

Each file is graded on the track(s) whose functions it defines (backprop:
exercises/backprop.py, NumPy alone; autograd: exercises/autograd.py, torch), in a child
process with a time limit per exercise and, where the system enforces one (Linux), a
memory limit (exercises/runner.py; where it does not, one note on standard error says so):
the answers' code runs there, and this process alone compares their tensors with the
project's and decides every verdict. With one file it prints one line per exercise and a
summary line; with several, a table, one row per file. `--csv FILE` writes the rows for a
gradebook. A pattern the shell left as it was (Windows: `answers\\*.py`) is expanded here.
Exit status: 0 when every file passed every exercise, 1 when not, 2 for bad input (nothing
is graded then), and 2 when the grades are printed but `--csv` cannot be written (a full
disk, say: one line says why, and no part of the file is written). To grade a class:

    python scripts/check_exercises.py answers/*.py --csv grades.csv
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common.config import DTYPE_CHOICES
from common.files import OutputError, writable_file, write_atomically
from exercises import TRACKS
from exercises.runner import Graded, Limits, grade_file
from scripts.cli import Parser, exit_with, integer_in, positive_float

BLANK = Path(__file__).resolve().parent.parent / "exercises" / "backprop.py"
COLUMNS = ["file", "track", "passed", "total", "error",
           *(name for names in TRACKS.values() for name in names)]
MAX_SECONDS = 24 * 60 * 60
"""The longest --time-limit, a day: the child's deadlines overflow the clock near 1e11 s."""
MAX_MEMORY_MB = 2**30
"""The largest --memory-mb, 1 PiB: past 2**44 MiB the limit overflows setrlimit's bytes."""


def seconds(text: str) -> float:
    value = positive_float(text)
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SECONDS} (a day), got {text!r}")
    return value


def memory_mb(text: str) -> int:
    value = integer_in(256)(text)
    if value > MAX_MEMORY_MB:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_MEMORY_MB} (1 PiB), got {value}")
    return value


def bad_answers_file(path: Path) -> str | None:
    """Why `path` cannot be a file of answers, or None."""
    if path.is_dir():
        return f"{path}: is a folder; pass files of answers such as {BLANK.name}"
    if not path.exists():
        return f"{path}: no such file"
    if path.suffix != ".py":
        return f"{path}: not a Python file (.py)"
    if not os.access(path, os.R_OK):
        return f"{path}: cannot be read"
    return None


def expanded(path: Path) -> list[Path]:
    """The files a pattern names that the shell did not expand (Windows' shells pass
    `answers\\*.py` as it is), sorted; [path] itself when it exists or is no pattern, and []
    when it is a pattern that matches nothing."""
    text = str(path)
    if path.exists() or not any(char in text for char in "*?["):
        return [path]
    return [Path(match) for match in sorted(glob.glob(text))]


def row(graded: Graded) -> dict[str, object]:
    """A file's grades as a gradebook row: one column an exercise, its status."""
    statuses = {result.name: result.status for result in graded.results}
    return {"file": str(graded.path), "track": "+".join(graded.tracks) or "-",
            "passed": graded.passed, "total": graded.total, "error": graded.error or "",
            **{name: statuses.get(name, "") for name in COLUMNS[5:]}}


def not_passed(graded: Graded) -> str:
    """What did not pass, and why: each exercise's status, or one word for them all."""
    if graded.error:
        return graded.error
    missed = [result for result in graded.results if not result.passed]
    statuses = {result.status for result in missed}
    if len(missed) == len(graded.results) > 1 and len(statuses) == 1:
        return f"all {statuses.pop()}"
    return ", ".join(f"{result.name} ({result.status})" for result in missed)


def table(grades: list[Graded]) -> str:
    """One row a file: its track, how many passed, and what did not."""
    lines = [("file", "track", "passed", "not passed")]
    for graded in grades:
        lines.append((str(graded.path), "+".join(graded.tracks) or "-",
                      f"{graded.passed} of {graded.total}", not_passed(graded)))
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)),
                                line[3]]).rstrip() for line in lines)


def csv_text(grades: list[Graded]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row(graded) for graded in grades)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="scripts/check_exercises.py", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("answers", nargs="*", type=Path,
                        help="copies of exercises/backprop.py or exercises/autograd.py with "
                             "answers (default: the blank backprop exercises)")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="also write one row per file, one column per exercise, here")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="float64",
                        help="the dtype of the chapter's tensors (default: float64)")
    parser.add_argument("--time-limit", type=seconds, default=Limits.time,
                        metavar="SECONDS",
                        help=f"wall-clock seconds per exercise (default: {Limits.time:g})")
    parser.add_argument("--memory-mb", type=memory_mb, default=Limits.memory_mb,
                        help=f"the child's data segment, in MiB (default: {Limits.memory_mb})")
    parser.add_argument("--jobs", type=integer_in(1), default=min(2, os.cpu_count() or 1),
                        help="files graded at once, one child each (default: 2, or 1 core)")
    args = parser.parse_args(argv)
    problems = [f"{path}: no file matches this pattern" for path in args.answers
                if not expanded(path)]
    paths = [match for path in args.answers for match in expanded(path)] or [BLANK]
    problems += [problem for path in paths if (problem := bad_answers_file(path))]
    if len({path.resolve() for path in paths}) != len(paths):
        problems.append("a file is named twice")
    try:
        if args.csv is not None:
            if args.csv.resolve() in {path.resolve() for path in paths}:
                raise OutputError(f"--csv {args.csv}: that is a file of answers")
            writable_file("--csv", args.csv)
    except OutputError as e:
        problems.append(str(e))
    if problems:
        print(f"{parser.prog}: error: {problems[0]}", file=sys.stderr)
        return 2
    limits = Limits(time=args.time_limit, memory_mb=args.memory_mb, dtype=args.dtype)
    with ThreadPoolExecutor(args.jobs) as pool:
        grades = list(pool.map(lambda path: grade_file(path, limits), paths))
    unlimited = next((graded.unlimited for graded in grades if graded.unlimited), None)
    if unlimited:
        print(f"{parser.prog}: note: graded without a memory limit (--memory-mb): "
              f"{unlimited}", file=sys.stderr)
    if len(grades) == 1:
        graded = grades[0]
        for result in graded.results:
            print(result)
        print(f"{graded.path}: {graded.error}" if graded.error
              else f"{graded.path}: {graded.passed} of {graded.total} passed")
    else:
        print(table(grades))
        passed = sum(graded.all_passed for graded in grades)
        print(f"{passed} of {len(grades)} files passed every exercise")
    if args.csv is not None:
        text = csv_text(grades).encode("utf-8")
        try:
            write_atomically(args.csv, lambda f: f.write(text))
        except OSError as e:
            print(f"{parser.prog}: error: --csv {args.csv}: cannot write it ({e.strerror or e})",
                  file=sys.stderr)
            return 2
    return 0 if all(graded.all_passed for graded in grades) else 1


if __name__ == "__main__":
    exit_with(main)
