"""docs/exercises.md's "Adding an exercise", followed to the letter on a copy of the project
in a temporary folder (the repository's own files untouched): each step's code goes where
the step says, and the exercise it adds is graded. Its answer passes and its track counts
one exercise more, its blank is not done, `--only` checks it alone, each typical mistake of
its catalogue fails with its kind, and its hint ladder goes one level further at each call,
from the script and from `hint()` alike. Should a step stop working, this fails."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from exercises import TRACKS
from parity_tests.conftest import REPO, child_env
from parity_tests.repository import repository_files

PACKAGES = ("ch9_shared", "exercises", "numpy_impl", "scripts")
"""What grading the backprop track needs: the copy holds these, as git tracks them."""
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```$", re.M | re.S)
STEP = re.compile(r"^\d+\. ", re.M)
PROJECT_FILE = re.compile(r"`(exercises/\w+\.py)`")


def section(title: str = "Adding an exercise") -> str:
    """The text of the docs' section, from its heading to the next one."""
    text = (REPO / "docs" / "exercises.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


@dataclass(frozen=True)
class Block:
    """A code block of a step: its language, its code (without the list's indent) and the
    first project file its step names, where the code goes."""

    language: str
    code: str
    file: str | None


def blocks(text: str) -> list[Block]:
    """The section's code blocks, in order, each with the file its step names first."""
    found, done = [], 0
    for match in FENCE.finditer(text):
        indent, language, body = match.groups()
        before = text[done:match.start()]
        steps = list(STEP.finditer(before))
        step = before[steps[-1].start():] if steps else before
        files = PROJECT_FILE.findall(step)
        code = "".join(line.removeprefix(indent) for line in body.splitlines(keepends=True))
        found.append(Block(language, code, files[0] if files else None))
        done = match.end()
    return found


def follow(steps: list[Block], project: Path) -> list[list[str]]:
    """Each step's Python where it says (an entry of EXERCISES inside that tuple, the rest
    at the end of its file); the commands of its shell steps."""
    commands = []
    for step in steps:
        if step.language == "bash":
            commands += [shlex.split(line.split("#")[0]) for line in step.code.splitlines()
                         if line.split("#")[0].strip()]
            continue
        assert step.language == "python" and step.file, step
        path = project / step.file
        text = path.read_text(encoding="utf-8")
        if path.name.endswith("_checks.py"):
            tuple_end = next(node.end_lineno for node in ast.parse(text).body
                             if isinstance(node, ast.Assign)
                             and [target.id for target in node.targets] == ["EXERCISES"])
            lines = text.splitlines(keepends=True)
            text = "".join([*lines[:tuple_end - 1], step.code, *lines[tuple_end - 1:]])
        else:
            text = text.rstrip("\n") + "\n\n\n" + step.code
        path.write_text(text, encoding="utf-8")
    return commands


@dataclass(frozen=True)
class Registration:
    """What the docs' registration says: the exercise's name, its hints, and each typical
    mistake's code (a lambda, as text) and kind."""

    name: str
    hints: tuple[str, ...]
    mistakes: tuple[tuple[ast.Lambda, str], ...]


def registration(steps: list[Block]) -> Registration:
    code = next(step.code for step in steps if step.file and step.file.endswith("_checks.py"))
    call = ast.parse(f"({code})", mode="eval").body.elts[0]
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    mistakes = tuple((wrong, ast.literal_eval(kind)) for wrong, kind in
                     (pair.elts for pair in keywords["mistakes"].elts))
    return Registration(call.args[0].attr, ast.literal_eval(keywords["hints"]), mistakes)


def answers_file(name: str, wrong: ast.Lambda, path: Path) -> Path:
    """A learner's file whose answer is the mistake's code."""
    arguments = ", ".join(argument.arg for argument in wrong.args.args)
    path.write_text(f"import numpy as np\n\n\ndef {name}({arguments}):\n"
                    f"    return {ast.unparse(wrong.body)}\n", encoding="utf-8")
    return path


def run_in(project: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in the copy, on its code (never the repository's)."""
    if args[0] == "python":
        args = [sys.executable, *args[1:]]
    return subprocess.run(args, cwd=project, capture_output=True, encoding="utf-8",
                          timeout=300, env=child_env(PYTHONPATH=str(project)))


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Registration, list]:
    """A copy of the project with the docs' exercise added, its registration, the commands
    of the docs' steps."""
    project = tmp_path_factory.mktemp("project")
    for package in PACKAGES:
        for path in repository_files(f"{package}/*"):
            copy = project / path.relative_to(REPO)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
    steps = blocks(section())
    commands = follow(steps, project)
    return project, registration(steps), commands


def test_the_steps_give_an_exercise_whose_answer_passes_and_whose_track_counts_it(added):
    project, registered, commands = added
    assert registered.name not in TRACKS["backprop"], (
        "the docs' example is one of the project's exercises now: give the docs another")
    count = len(TRACKS["backprop"]) + 1
    said = {}
    for command in commands:
        ran = run_in(project, command)
        said[" ".join(command[1:])] = ran
        assert ran.stderr == "" or "note:" in ran.stderr, (command, ran.stderr)
    right = said["scripts/check_exercises.py exercises/backprop_solutions.py"]
    assert right.returncode == 0, right.stdout + right.stderr
    assert f"\n{registered.name}: passed (" in right.stdout
    assert right.stdout.endswith(f"exercises/backprop_solutions.py: {count} of {count} passed\n")
    blank = said[f"scripts/check_exercises.py exercises/backprop.py --only {registered.name}"]
    assert blank.returncode == 1 and blank.stdout == (
        f"{registered.name}: not done yet\nexercises/backprop.py: 0 of 1 passed (only "
        f"{registered.name} checked: --only)\n")
    hint = said[f"scripts/check_exercises.py --hint {registered.name}"]
    assert hint.returncode == 0 and hint.stdout.startswith(
        f"{registered.name}, hint 1 of {len(registered.hints)}: {registered.hints[0]}\n")


def test_each_mistake_of_its_catalogue_fails_with_its_kind(added, tmp_path):
    project, registered, _ = added
    assert len(registered.mistakes) >= 2
    for number, (wrong, kind) in enumerate(registered.mistakes):
        answers = answers_file(registered.name, wrong, tmp_path / f"mistake_{number}.py")
        ran = run_in(project, ["python", "scripts/check_exercises.py", str(answers),
                               "--only", registered.name])
        line = ran.stdout.splitlines()[0]
        assert ran.returncode == 1 and line.startswith(f"{registered.name}: wrong: "), ran
        assert line.endswith(f": {kind}"), line


def test_its_hint_ladder_goes_one_level_further_at_each_call(added):
    """From the script and from hint() alike, the level kept between them; the last level
    is the fix."""
    project, registered, _ = added
    name, hints = registered.name, registered.hints
    assert len(hints) >= 2 and hints[-1].startswith("The fix: ")
    shown = [run_in(project, ["python", "scripts/check_exercises.py", "--hint", name]),
             run_in(project, ["python", "-c", f"from exercises import hint; hint({name!r})"])]
    shown += [run_in(project, ["python", "scripts/check_exercises.py", "--hint", name])
              for _ in hints[1:]]
    lines = [ran.stdout.splitlines()[0] for ran in shown]
    last = len(hints)
    assert lines[:last] == [f"{name}, hint {level} of {last}{' (the last)' * (level == last)}: "
                            f"{text}" for level, text in enumerate(hints, 1)]
    assert lines[-1] == lines[last - 1]  # the last level repeats
