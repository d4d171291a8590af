"""Check files of answers to the exercises: `python scripts/check_exercises.py [ANSWERS.py ...]`.

Each file is graded on the track whose blanks it defines (backprop: exercises/backprop.py,
NumPy alone; autograd: exercises/autograd.py, torch; both only where it defines each whole;
`--track` to say it), from a private copy made before any answer runs, in a child process
with limits of CPU time a call and wall-clock time a file and, where the system enforces
one (Linux), of memory (exercises/runner.py; where it does not, one note on standard error
says so): the answers' code runs there, and this process alone compares their tensors with
the project's and decides every verdict. A file whose verdict another process or the load
may have decided (a signal it did not send, a stop, a wall-clock limit) is graded again
alone once the others are done. With `--user` (as root), each file graded at once runs as a
user id of its own in that user's group. With
one file it prints one line per exercise and a summary line; with several, a table, one row
per file; `--only NAME[,NAME...]` checks those exercises alone. An answer that raises is
told its file and line; an exercise that fails because one it calls fails, to fix that one
first. `--csv FILE` writes the rows for a gradebook (points, and each exercise's status
and line), `--junit FILE` JUnit XML, and `--gradescope FILE` one file's results.json for
Gradescope. A pattern the shell left as it was (Windows: `answers\\*.py`) is expanded here.
Exit status: 0 when every file passed every exercise, 1 when not, 2 for bad input or an
answers' process that cannot start or import what grading needs (nothing is graded then),
and 2 when the grades are printed but an output cannot be written (a full disk, say: one
line says why, and no part of the file is written). To grade a class:

    python scripts/check_exercises.py answers/*.py --csv grades.csv
"""

from __future__ import annotations

import scripts  # noqa: F401  first: a signal during the imports below is one line

# isort: split

import argparse
import glob
import os
import queue
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from ch9_shared.config import DTYPE_CHOICES
from ch9_shared.files import (
    OutputError,
    distinct,
    output_target,
    signals_deferred,
    writable_file,
    write_atomically,
)
from ch9_shared.system import become_subreaper, not_traceable, spare_uids, user_options
from ch9_shared.threads import one_blas_thread
from exercises import TRACKS, gradebook, track_of
from exercises.hints import HINTS, next_hint, with_fix
from exercises.runner import (
    TRACK_CHOICES,
    Graded,
    Limits,
    check_environment,
    could_not_be_judged,
    defined_in_text,
    end_all_orphans,
    end_every_process,
    grade_file,
    lent,
    load_checks,
    private_copies,
    tracks_to_grade,
)
from scripts import exits
from scripts.cli import Parser, about, exit_with, integer_in, output_file, positive_float

BLANK = Path(__file__).resolve().parent.parent / "exercises" / "backprop.py"
RIGHTS = ("the answers run with your rights (they can read and write what you can); to grade "
          "answers you do not trust, run as root with --user nobody (docs/exercises.md)")
"""The note for a class graded without --user."""
T = TypeVar("T")
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


def exercise_names(text: str) -> tuple[str, ...]:
    """--only's names, comma-separated, each an exercise's (in either track)."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    every = [name for track in TRACKS.values() for name in track]
    unknown = [name for name in names if name not in every]
    if unknown or not names:
        listed = "; ".join(f"{track}: {', '.join(track_names)}"
                           for track, track_names in TRACKS.items())
        raise argparse.ArgumentTypeError(
            f"{'no exercise is called ' + repr(unknown[0]) if unknown else 'no name given'}: "
            f"the exercises are {listed}")
    return names


def checked(only: tuple[str, ...] | None) -> str:
    """The summary's note where --only checked some exercises alone."""
    return f" (only {', '.join(only)} checked: --only)" if only else ""


def in_background(function: Callable[..., T], *args: object) -> Callable[[], T]:
    """function(*args), started on a thread of its own; call the result to wait for it."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(function, *args)
    pool.shutdown(wait=False)
    return future.result


def environment_said(found: tuple[str | None, str | None], prog: str) -> int | None:
    """check_environment's verdict said: 2 where the answers' process cannot work here (its
    line said), else None (its note said, if any)."""
    broken, readable = found
    if broken:
        exits.say(f"{prog}: error: {broken}")
        return 2
    if readable:
        print(f"{prog}: note: {readable}", file=sys.stderr)
    return None


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


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="scripts/check_exercises.py", description=about(__doc__),
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog=__doc__ and __doc__.split("\n\n", 1)[1])
    parser.add_argument("answers", nargs="*", type=Path,
                        help="copies of exercises/backprop.py or exercises/autograd.py with "
                             "answers (default: the blank backprop exercises)")
    parser.add_argument("--csv", type=output_file, metavar="FILE",
                        help="also write one row per file, by student, here: points, and "
                             "each exercise's status and line")
    parser.add_argument("--junit", type=output_file, metavar="FILE",
                        help="also write JUnit XML here: a testsuite per file, a testcase per "
                             "exercise")
    parser.add_argument("--gradescope", type=output_file, metavar="FILE",
                        help="also write Gradescope's results.json here (one file of answers)")
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, default="float64",
                        help="the dtype of the chapter's tensors (default: float64)")
    parser.add_argument("--track", choices=TRACK_CHOICES,
                        help="grade every file on this track, or both (default: the track "
                             "whose blanks the file defines; both where it defines each "
                             "track's every blank)")
    parser.add_argument("--only", type=exercise_names, metavar="NAME[,NAME...]",
                        help="check these exercises alone, on their track (and, unseen, "
                             "those they call: the cause of a failure); the summary and "
                             "the gradebooks count them alone")
    parser.add_argument("--time-limit", type=seconds, default=Limits.time,
                        metavar="SECONDS",
                        help=f"CPU seconds a call of an answer (default: {Limits.time:g}; "
                             "each call also has a wall-clock backstop of 3 times as long, at "
                             "least 30 s more)")
    parser.add_argument("--file-budget", type=seconds, default=Limits.file_budget,
                        metavar="SECONDS",
                        help="CPU seconds for a whole file, all its calls together (default: "
                             f"{Limits.file_budget:g}; a wall-clock backstop of "
                             f"{Limits().backstop(Limits.file_budget):g} s keeps a submission "
                             "inside Gradescope's 10 minutes); exercises left then are "
                             "\"not run\"")
    parser.add_argument("--memory-mb", type=memory_mb, default=Limits.memory_mb,
                        help=f"the child's data segment, in MiB (default: {Limits.memory_mb})")
    parser.add_argument("--user", metavar="NAME",
                        help="run the answers with this user's rights (as root, not on "
                             "Windows), each file graded at once as a user id of its own in "
                             "its group, kept from the solutions: the Gradescope autograder")
    parser.add_argument("--visibility", choices=gradebook.VISIBILITIES, default="visible",
                        help="when students see the results in Gradescope (results.json's "
                             "visibility; default: visible)")
    parser.add_argument("--jobs", type=integer_in(1), default=min(2, os.cpu_count() or 1),
                        help="files graded at once, one child each (default: 2, or 1 core)")
    parser.add_argument("--hint", choices=HINTS, metavar="NAME",
                        help="show the next hint for exercise NAME, one level more at each "
                             "run (kept as hint() keeps it), and grade nothing")
    parser.add_argument("--tell", action="store_true",
                        help="a wrong answer's line also gives the fix, the exercise's last "
                             "hint: for a teacher's gradebook")
    args = parser.parse_args(argv)
    if args.hint is not None:
        try:
            print(next_hint(args.hint))
        except ValueError as e:  # a blank that its track's checks do not register
            exits.say(f"{parser.prog}: error: {e}")
            return 2
        return 0
    problems = [f"{path}: no file matches this pattern" for path in args.answers
                if not expanded(path)]
    paths = [match for path in args.answers for match in expanded(path)] or [BLANK]
    problems += [problem for path in paths if (problem := bad_answers_file(path))]
    if len({path.resolve() for path in paths}) != len(paths):
        problems.append("a file is named twice")
    outputs = {"--csv": args.csv, "--junit": args.junit, "--gradescope": args.gradescope}
    if args.gradescope is not None and len(paths) > 1:
        problems.append(f"--gradescope writes the results of one submission, and {len(paths)} "
                        "files are given: grade one file, or use --csv or --junit for a class")
    targets: dict[str, Path] = {}  # fixed now: an answer's link there later is replaced
    try:
        for flag, output in outputs.items():
            if output is not None:
                if output.resolve() in {path.resolve() for path in paths}:
                    raise OutputError(f"{flag} {output}: that is a file of answers")
                targets[flag] = output_target(flag, output)
                writable_file(flag, output)
        distinct(outputs)
    except OutputError as e:
        problems.append(str(e))
    if args.only and args.track not in (None, "both") and (
            stray := [name for name in args.only if name not in TRACKS[args.track]]):
        problems.append(f"--only {stray[0]}: an exercise of the {track_of(stray[0])} track, "
                        f"and --track is {args.track}: leave out --track")
    if args.user is not None:
        try:
            user_options(args.user)
        except ValueError as e:
            problems.append(f"--user {args.user}: {e}")
    if problems:
        exits.say(f"{parser.prog}: error: {problems[0]}")
        return 2
    limits = Limits(time=args.time_limit, file_budget=args.file_budget,
                    memory_mb=args.memory_mb, dtype=args.dtype, user=args.user,
                    track=args.track, only=args.only or ())
    become_subreaper()
    not_traceable()  # no answer writes to this process's output, nor reads its memory
    uids = spare_uids(args.jobs) if args.user is not None else []
    environment = in_background(check_environment, replace(limits, uid=uids[0] if uids else None))
    alone = args.user is None and len(paths) == 1  # a learner's check: the two at once
    if not alone and (status := environment_said(environment(), parser.prog)) is not None:
        return status
    if args.user is None and len(paths) > 1:
        print(f"{parser.prog}: note: {RIGHTS}", file=sys.stderr)
    if len(paths) > 1:  # before any answer runs, so that none can change them (one
        # file's grade_file imports them while its child starts)
        load_checks({track for path in paths
                     for track in tracks_to_grade(defined_in_text(path), limits)})
    free: queue.Queue[int | None] = queue.Queue()
    for uid in uids or [None] * args.jobs:
        free.put(uid)

    def graded(path: Path) -> Graded:
        """The file's grades, from its copy, as a user id of its own where there are spare
        ones."""
        uid = free.get()
        try:
            own = replace(limits, uid=uid)
            with lent(copies[path], own):
                return grade_file(path, own, copies[path])
        except Exception as e:  # the grader's own fault with this file: its line alone
            return could_not_be_judged(path, e, limits)
        finally:
            free.put(uid)

    start = time.monotonic()
    folder = tempfile.TemporaryDirectory(prefix="check_exercises-")
    try:
        copies = private_copies(paths, Path(folder.name))
    except OSError as e:
        folder.cleanup()
        exits.say(f"{parser.prog}: error: cannot copy the answers before grading them: "
                  f"{exits.describe(e)}")
        return 2
    try:
        # one BLAS thread (the thread policy): a child started as another user is forked,
        # and OpenBLAS's fork handler waits forever on a pool that another thread's product
        # holds
        with one_blas_thread():
            with ThreadPoolExecutor(args.jobs) as pool:
                try:
                    grades = list(pool.map(graded, paths))
                except KeyboardInterrupt:  # a signal: the answers end now, the threads with them
                    with signals_deferred():
                        end_every_process()
                    raise
            if min(args.jobs, len(paths)) > 1:  # what another file may have caused: alone
                grades = [graded(one.path) if one.suspect else one for one in grades]
        grades = gradebook.ordered(grades)
        if args.tell:
            grades = [replace(one, results=[with_fix(result) for result in one.results])
                      for one in grades]
    finally:
        end_all_orphans()  # nothing an answer started may outlive the grading
        folder.cleanup()
    took = time.monotonic() - start
    if alone and (status := environment_said(environment(), parser.prog)) is not None:
        return status  # its grades are not the file's: nothing is said of them
    unlimited = next((graded.unlimited for graded in grades if graded.unlimited), None)
    if unlimited:
        print(f"{parser.prog}: note: graded without a memory limit (--memory-mb): "
              f"{unlimited}", file=sys.stderr)
    if len(grades) == 1:
        graded = grades[0]
        for result in graded.results:
            print(result)
        print(f"{graded.path}: {graded.error}" if graded.error
              else f"{graded.path}: {graded.passed} of {graded.total} passed{checked(args.only)}")
    else:
        print(table(grades))
        passed = sum(graded.all_passed for graded in grades)
        print(f"{passed} of {len(grades)} files passed every exercise{checked(args.only)}")
    texts = {"--csv": lambda: gradebook.csv_text(grades),
             "--junit": lambda: gradebook.junit_xml(grades),
             "--gradescope": lambda: gradebook.gradescope_json(grades[0], took,
                                                               args.visibility)}
    for flag, output in outputs.items():
        if output is not None:
            data = texts[flag]().encode("utf-8", errors="replace")
            try:
                write_atomically(targets[flag], lambda f, data=data: f.write(data),
                                 follow_links=False)
            except OSError as e:
                exits.say(f"{parser.prog}: error: {flag} {output}: cannot write it "
                          f"({exits.reason(e)})")
                return 2
            except OutputError as e:  # made read-only during grading
                exits.say(f"{parser.prog}: error: {flag} {output}: cannot write it ({e})")
                return 2
    environment = next((graded.environment for graded in grades if graded.environment), None)
    if environment:
        exits.say(f"{parser.prog}: error: {environment}")
        return 2
    return 0 if all(graded.all_passed for graded in grades) else 1


if __name__ == "__main__":
    exit_with(main, verdict=True)
