"""scripts/check_exercises.py grades code it did not write: each file in a child process with
a time limit and, where the system allows one, a memory limit, and this process alone decides
every verdict and the exit status.

Each adversarial answer below stands in a file whose other answers are right: it is graded
wrong or failed, in one line, and every other exercise of the file still passes."""

from __future__ import annotations

import csv
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exercises import TRACKS
from exercises.runner import Limits, grade_file
from parity_tests.conftest import REPO, child_env, needs_torch
from scripts.check_exercises import RIGHTS

QUICK = Limits(time=2, start=20)
COUNT = len(TRACKS["backprop"])  # the points of a backprop file: one an exercise
"""Short limits: the backprop track's answers take milliseconds."""

SOLUTIONS_TEXT = (REPO / "exercises" / "backprop_solutions.py").read_text(encoding="utf-8")
RIGHT = (f"_solutions: dict = {{}}\nexec({SOLUTIONS_TEXT!r}, _solutions)\n"
         "globals().update((k, v) for k, v in _solutions.items() if not k.startswith('__'))\n")
"""A file's other answers: the solutions, run from their text (a file of answers cannot
import them) in a namespace of their own, so that an answer below replaces one exercise
alone (layer_1_delta keeps the right tanh2deriv)."""

ADVERSARIAL = {  # case: (the exercise, its answer, words of its one line)
    "sys.exit(0) in an answer": (
        "relu2deriv", "import sys\ndef relu2deriv(output):\n    sys.exit(0)\n",
        "wrong: it raised SystemExit: 0: an answer returns its result, it does not exit"),
    "os._exit(0) in an answer": (
        "sigmoid2deriv", "import os\ndef sigmoid2deriv(output):\n    os._exit(0)\n",
        "failed: it ended the grader's process (exit status 0)"),
    "an endless loop": (
        "tanh2deriv", "def tanh2deriv(output):\n    while True:\n        pass\n",
        "of CPU time (an endless loop?)"),
    "tens of GB": (
        "dropout", "import numpy as np\ndef dropout(layer_1, dropout_mask):\n"
                   "    return np.ones(40 * 10**9 // 8)\n",
        "wrong: it raised MemoryError"),
    "a crash": (
        "dropout_backward", "import os, signal\ndef dropout_backward(grad_layer_1, mask):\n"
                            "    os.kill(os.getpid(), signal.SIGSEGV)\n",
        "failed: it crashed the grader's process (SIGSEGV)"),
    "float16": (
        "tanh2deriv", "def tanh2deriv(output):\n    return (1 - output**2).astype('float16')\n",
        "wrong: tanh2deriv(output) is float16, less precise than the exercise's float64"),
    "None": ("layer_1_delta", "def layer_1_delta(a, b, c, d):\n    return None\n",
             "not done yet (it returns None)"),
    "a list": ("relu2deriv", "def relu2deriv(output):\n    return [1, [2, 3]]\n",
               "wrong: it returned a list, not an array of numbers"),
    "a wrong shape": (
        "weights_1_2_update", "def weights_1_2_update(w, layer_1, delta, alpha):\n"
                              "    return (w - alpha * layer_1.T @ delta).T\n",
        "has shape (10, 100), expected (100, 10): a transposed product?"),
    "mutating its inputs": (  # and the next exercise, layer_1_delta, still gets the real mask
        "dropout_backward", "def dropout_backward(grad_layer_1, dropout_mask):\n"
                            "    dropout_mask[:] = 1\n    grad_layer_1[:] = 0\n"
                            "    return grad_layer_1\n",
        "it changes its argument grad_layer_1 in place"),
}


SOLUTIONS = [str(REPO / "exercises" / f"{track}_solutions.py") for track in TRACKS]


def answers(tmp_path: Path, name: str, text: str, right: str = RIGHT) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(right + text, encoding="utf-8")
    return path


def python(args: list[str], first: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python ARGS` from the repository root in a process of its own, this checkout's code
    first on the path, after the folder `first` (a sitecustomize.py, a package) if given."""
    path = [str(first)] if first else []
    path += [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                          encoding="utf-8", timeout=300,
                          env=child_env(PYTHONPATH=os.pathsep.join(path)))


@pytest.mark.parametrize("case", ADVERSARIAL)
def test_an_adversarial_answer_fails_alone(case, tmp_path):
    name, text, words = ADVERSARIAL[case]
    graded = grade_file(answers(tmp_path, "answers", text), QUICK)
    assert graded.error is None and graded.tracks == ["backprop"]
    lines = {result.name: str(result) for result in graded.results}
    assert list(lines) == list(TRACKS["backprop"])
    assert words in lines[name] and "\n" not in lines[name], lines[name]
    assert not graded.results[TRACKS["backprop"].index(name)].passed
    others = [line for other, line in lines.items() if other != name]
    assert all(": passed (" in line for line in others), others


def test_printing_10_mb_changes_nothing(tmp_path):
    """Not even on the channel, the child's own standard output: its descriptor 1 is now
    os.devnull."""
    text = ("import os, sys\nright = dropout\n"
            "print('x' * 10**7)\nos.write(1, b'w' * 10**6)\n"
            "def dropout(layer_1, dropout_mask):\n"
            "    sys.stdout.write('y' * 10**7)\n    sys.stderr.write('z' * 10**7)\n"
            "    os.write(1, b'v' * 10**6)\n"
            "    return right(layer_1, dropout_mask)\n")
    graded = grade_file(answers(tmp_path, "loud", text), QUICK)
    assert graded.all_passed, [str(r) for r in graded.results]


def test_replacing_the_graders_functions_changes_nothing(tmp_path):
    """The answers cannot import the grader's functions (the child refuses the project's
    modules), and replacing NumPy's comparisons in the child decides nothing: the verdicts
    are the parent's, so the wrong answers stay wrong."""
    forger = answers(tmp_path, "importer", "from exercises import grading, runner\n", right="")
    graded = grade_file(forger, QUICK)
    assert graded.error == ("cannot be imported: ImportError: the grader does not allow "
                            "importing exercises: an answer is graded on its own code, not the "
                            f"project's ({forger}, line 1: from exercises import grading, runner)")
    text = textwrap.dedent("""\
        import numpy as np
        np.allclose = np.array_equal = lambda *args, **kwargs: True
        np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), bool)
        def relu2deriv(output):
            return output
        def tanh2deriv(output):
            return 1 - output
        """)
    graded = grade_file(answers(tmp_path, "forger", text, right=""), QUICK)
    lines = [str(result) for result in graded.results]
    assert lines[0].startswith("relu2deriv: wrong: relu2deriv(output) differs at 4901 of 10000 "
                               "entries")
    assert lines[0].endswith("it is relu's output, not its slope, which takes two values only")
    assert lines[2].endswith("tanh2deriv(output) differs at every one of 10000 entries, by a "
                             "factor from 0.5 to 1.49e+03: max abs diff 2.0e+00, max rel diff "
                             "1.0e+00 (tolerance 7e-15 of the tensor's size): it is linear in "
                             "the output, and tanh's slope is not")
    assert graded.passed == 0


IMPORT_FAILURES = {  # the file's text, its one line
    "SystemExit at import": ("import sys\nsys.exit(0)\n", "cannot be imported: SystemExit: 0"),
    "os._exit at import": ("import os\nos._exit(3)\n",
                           "cannot be imported: it ended the grader's process (exit status 3)"),
    "a syntax error": ("def relu2deriv(output)\n    return output\n",
                       "cannot be imported: SyntaxError: expected ':'"),
}


@pytest.mark.parametrize("case", IMPORT_FAILURES)
def test_a_file_that_cannot_be_imported_is_one_line(case, tmp_path):
    text, words = IMPORT_FAILURES[case]
    graded = grade_file(answers(tmp_path, "broken", text, right=""), QUICK)
    assert graded.error is not None and graded.error.startswith(words), graded.error
    assert graded.results == [] and not graded.all_passed


@needs_torch
def test_the_autograd_track_in_its_own_child(tmp_path):
    """A torch file: its track is found by the names it defines; an answer that ends the
    child fails alone, and the rest pass (in a second child)."""
    text = (REPO / "exercises" / "autograd_solutions.py").read_text(encoding="utf-8")
    text += textwrap.dedent("""\
        import os
        class TrueHidden(TrueHidden):
            @staticmethod
            def backward(ctx, grad_layer_1):
                os._exit(0)
        """)
    graded = grade_file(answers(tmp_path, "torch_answers", text, right=""),
                        Limits(time=5, start=60))
    assert graded.tracks == ["autograd"]
    statuses = {result.name: result.status for result in graded.results}
    assert list(statuses) == list(TRACKS["autograd"])
    assert statuses.pop("TrueHidden") == "failed"
    assert set(statuses.values()) == {"passed"}, [str(r) for r in graded.results]


def test_one_file_prints_a_line_an_exercise(tmp_path, script):
    ran = script("check_exercises.py", [str(REPO / "exercises" / "backprop_solutions.py")])
    lines = ran.stdout.splitlines()
    assert ran.returncode == 0 and ran.stderr == ""
    assert [line.split(":")[0] for line in lines[:-1]] == list(TRACKS["backprop"])
    assert lines[-1].endswith(f"backprop_solutions.py: {COUNT} of {COUNT} passed")

    blank = script("check_exercises.py", [])  # the blank backprop exercises
    assert blank.returncode == 1 and blank.stdout.count("not done yet") == COUNT


def test_a_class(tmp_path, script):
    """Several files: a table, one row a file (by student: the file's name), the CSV of the
    same rows, exit 0 only when every file passed everything."""
    good = answers(tmp_path, "alice", "")
    half = answers(tmp_path, "bob", "def relu2deriv(output):\n    return output >= 0\n")
    broken = answers(tmp_path, "carol", "def x(:\n", right="")
    blank = REPO / "exercises" / "backprop.py"
    grades = tmp_path / "grades.csv"
    ran = script("check_exercises.py", [str(good), str(half), str(broken), str(blank),
                                        "--csv", str(grades)])
    assert ran.returncode == 1
    rows = [" ".join(row.split()) for row in ran.stdout.splitlines()]  # the cells, unpadded
    assert rows[0] == "file track passed not passed"
    assert rows[1] == f"{good} backprop {COUNT} of {COUNT}"
    assert rows[2] == f"{blank} backprop 0 of {COUNT} all not done"
    assert rows[3].endswith(f"backprop {COUNT - 1} of {COUNT} relu2deriv (wrong)")
    assert rows[4].endswith(f"backprop 0 of {COUNT} cannot be imported: SyntaxError: invalid "
                            f"syntax ({broken}, line 1: def x(:)")
    assert rows[5] == "1 of 4 files passed every exercise"
    book = list(csv.DictReader(grades.open(encoding="utf-8", newline="")))
    assert [row["student"] for row in book] == ["alice", "backprop", "bob", "carol"]
    assert [row["points"] for row in book] == [str(COUNT), "0", str(COUNT - 1), "0"]
    assert book[2]["relu2deriv"] == "wrong" and book[2]["tanh2deriv"] == "passed"
    assert book[3]["error"].startswith("cannot be imported")
    assert book[3]["relu2deriv"] == "failed"



BAD_INPUT = {  # arguments (T: the tmp folder), words of the one line
    "missing": (["T/nobody.py"], "T/nobody.py: no such file"),
    "folder": (["T"], "is a folder"),
    "not python": (["T/answers.txt"], "not a Python file (.py)"),
    "twice": (["T/alice.py", "T/alice.py"], "a file is named twice"),
    "csv is an answers file": (["T/alice.py", "--csv", "T/alice.py"], "is a file of answers"),
    "csv in no folder": (["T/alice.py", "--csv", "T/no/grades.csv"], "does not exist"),
    "time 0": (["T/alice.py", "--time-limit", "0"], "must be a finite number above 0"),
    "jobs 0": (["T/alice.py", "--jobs", "0"], "must be at least 1"),
    "memory": (["T/alice.py", "--memory-mb", "12"], "must be at least 256"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_line_and_grades_nothing(case, tmp_path, script):
    (tmp_path / "alice.py").write_text(RIGHT, encoding="utf-8")
    (tmp_path / "answers.txt").write_text(RIGHT, encoding="utf-8")
    args, words = BAD_INPUT[case]
    ran = script("check_exercises.py", [a.replace("T", str(tmp_path), 1) for a in args])
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr.startswith("scripts/check_exercises.py: error: ")
    assert words.replace("T", str(tmp_path), 1) in ran.stderr and ran.stderr.count("\n") == 1
    assert not (tmp_path / "no").exists()


RIGHTS_NOTE = f"scripts/check_exercises.py: note: {RIGHTS}\n"
"""What a class graded without --user is told, once."""


def test_the_backprop_track_with_numpy_alone(tmp_path):
    """A teacher's machine without torch: neither the grader nor its children import it
    (a `torch` package first on the path raises ImportError in both)."""
    blocked = tmp_path / "blocked" / "torch"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('torch is blocked here')\n",
                                         encoding="utf-8")
    (tmp_path / "good.py").write_text(RIGHT, encoding="utf-8")
    (tmp_path / "bad.py").write_text("def relu2deriv(output)\n", encoding="utf-8")
    (tmp_path / "torch_answers.py").write_text("import torch\n", encoding="utf-8")
    files = [str(tmp_path / name) for name in ("good.py", "bad.py", "torch_answers.py")]
    result = python(["scripts/check_exercises.py", *files], first=blocked.parent)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and result.stderr == RIGHTS_NOTE, result.stderr
    assert "cannot be imported: SyntaxError" in lines[1]  # by student: bad, good, torch_answers
    assert lines[2].endswith(f"backprop  {COUNT} of {COUNT}")
    assert lines[3].endswith("cannot be imported: ImportError: torch is blocked here "
                             f"({files[2]}, line 1: import torch)")


def test_a_pattern_the_shell_left_is_expanded(tmp_path, script):
    """Windows' shells pass `answers\\*.py` as it is: the script expands it, sorted; an
    existing file whose name looks like a pattern is that file; a pattern that matches
    nothing is one line."""
    answers(tmp_path, "bob[1]", "")
    answers(tmp_path, "alice", "def relu2deriv(output):\n    return output\n")
    (tmp_path / "notes.txt").write_text("not answers\n", encoding="utf-8")
    ran = script("check_exercises.py", [str(tmp_path / "*.py")])
    rows = ran.stdout.splitlines()
    assert ran.returncode == 1 and len(rows) == 4, ran.stdout + ran.stderr
    assert rows[1].startswith(f"{tmp_path / 'alice.py'}  ") and rows[1].endswith("(wrong)")
    assert rows[2].startswith(f"{tmp_path / 'bob[1].py'}  ")
    assert rows[2].endswith(f"{COUNT} of {COUNT}")

    literal = script("check_exercises.py", [str(tmp_path / "bob[1].py")])
    assert literal.returncode == 0
    assert literal.stdout.endswith(f"bob[1].py: {COUNT} of {COUNT} passed\n")

    nothing = script("check_exercises.py", [str(tmp_path / "*.ipynb"), str(tmp_path / "*.py")])
    assert nothing.returncode == 2 and nothing.stdout == ""
    assert nothing.stderr == (f"scripts/check_exercises.py: error: {tmp_path / '*.ipynb'}: "
                              "no file matches this pattern\n")


def test_a_csv_that_cannot_be_written_after_grading_is_one_line(tmp_path, script, monkeypatch):
    """A disk that fills up during grading: the grades are printed, the one line says why
    the CSV is not, exit 2, and no part of the file is left."""
    def full(source, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    grades = tmp_path / "grades.csv"
    ran = script("check_exercises.py", [str(answers(tmp_path, "alice", "")), "--csv", str(grades)])
    assert ran.returncode == 2 and ran.stdout.endswith(f"alice.py: {COUNT} of {COUNT} passed\n")
    assert ran.stderr == (f"scripts/check_exercises.py: error: --csv {grades}: cannot write it "
                          f"({os.strerror(errno.ENOSPC)}: free some space, or write elsewhere)\n")
    assert [path.name for path in tmp_path.iterdir() if "grades" in path.name] == []


WITHOUT_MEMORY_LIMIT = {  # a sitecustomize.py that makes this system one that sets no limit
    "Windows: no resource module": (
        "import sys\nfor name in ('resource', 'fcntl', 'pty', 'termios'):\n"
        "    sys.modules[name] = None\n",
        "this system has none (Python has no resource module here)"),
    "macOS: setrlimit refuses RLIMIT_DATA": (
        "import resource\nsetrlimit = resource.setrlimit\n"
        "def refuse(which, limits):\n"
        "    if which == resource.RLIMIT_DATA:\n"
        "        raise ValueError('current limit exceeds maximum limit')\n"
        "    setrlimit(which, limits)\n"
        "resource.setrlimit = refuse\n",
        "setrlimit(RLIMIT_DATA) refused it: current limit exceeds maximum limit"),
}


@needs_torch  # the solutions of both tracks
@pytest.mark.parametrize("system", WITHOUT_MEMORY_LIMIT)
def test_without_a_memory_limit_the_solutions_pass_with_one_note(system, tmp_path):
    """Where the grader cannot set its memory limit, the answers are not blamed: both
    solution files pass, and one line on standard error (one a run, not one a child) says
    that the grading ran without the limit, and why."""
    site, reason = WITHOUT_MEMORY_LIMIT[system]
    (tmp_path / "sitecustomize.py").write_text(site, encoding="utf-8")
    ran = python(["scripts/check_exercises.py", *SOLUTIONS], first=tmp_path)
    rows = ran.stdout.splitlines()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    counts = [str(len(TRACKS[track])) for track in ("autograd", "backprop")]  # by student
    assert [row.split()[-3:] for row in rows[1:3]] == [[n, "of", n] for n in counts]
    assert ran.stderr == RIGHTS_NOTE + ("scripts/check_exercises.py: note: graded without a "
                                        f"memory limit (--memory-mb): {reason}\n")
