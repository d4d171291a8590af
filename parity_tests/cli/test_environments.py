"""Environments a learner's machine may have: `python -OO`, a standard stream that cannot
encode a name, a reader of standard output that leaves, a deleted current folder, and one
table of exit statuses that the docs and the scripts share."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exercises import TRACKS
from parity_tests.conftest import REPO, child_env, importable, needs_torch

SCRIPTS = ["scripts/train.py", "scripts/evaluate.py", "scripts/compare.py", "scripts/study.py",
           "scripts/figures.py", "scripts/check_exercises.py", "scripts/build_autograder.py",
           "tools/bench.py", "tools/run_notebooks.py", "tools/build_data.py",
           "tools/build_site.py", "tools/check_site.py"]
NEED_TORCH = {"scripts/compare.py", "scripts/study.py", "scripts/figures.py", "tools/bench.py"}
RUN = ["--iterations", "2", "--train-size", "100", "--test-size", "100", "--quiet"]


def python(args: list[str], cwd: Path, *flags: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, *args], cwd=cwd, capture_output=True,
                          encoding="utf-8", timeout=600, **{"env": child_env(), **options})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("run") / "run.npz"
    ran = python([str(REPO / "scripts/train.py"), *RUN, "--save", str(path)], REPO)
    assert ran.returncode == 0, ran.stderr
    return path


@pytest.mark.parametrize("script", [
    pytest.param(script, marks=needs_torch if script in NEED_TORCH else ())
    for script in SCRIPTS])
def test_every_script_helps_without_docstrings(script, tmp_path):
    """`python -OO` drops docstrings, which the scripts' --help took its words from."""
    ran = python([str(REPO / script), "--help"], tmp_path, "-OO")
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    assert ran.stdout.startswith("usage:")


def test_a_run_and_a_grading_work_without_docstrings(tmp_path):
    ran = python([str(REPO / "scripts/train.py"), *RUN], tmp_path, "-OO")
    assert ran.returncode == 0 and ran.stdout.startswith("I:0 "), ran.stderr
    ran = python([str(REPO / "scripts/check_exercises.py"),
                  str(REPO / "exercises/backprop_solutions.py")], tmp_path, "-OO")
    count = len(TRACKS["backprop"])
    assert ran.returncode == 0 and f"{count} of {count} passed" in ran.stdout, ran.stderr


@pytest.mark.parametrize("command", [
    ["scripts/evaluate.py", "CHECKPOINT", "--test-size", "100"],
    ["scripts/build_autograder.py", "--out", "NAME.zip"],
    ["scripts/check_exercises.py", "NAME.py"],
], ids=lambda command: Path(command[0]).stem)
def test_a_name_an_ascii_stream_cannot_encode_is_shown_escaped(command, checkpoint,
                                                                 tmp_path):
    name = "r\u00e9sum\u00e9"
    (tmp_path / f"{name}.npz").write_bytes(checkpoint.read_bytes())
    (tmp_path / f"{name}.py").write_bytes((REPO / "exercises/backprop_solutions.py")
                                          .read_bytes())
    args = [arg.replace("CHECKPOINT", f"{name}.npz").replace("NAME", name) for arg in command]
    ran = python([str(REPO / args[0]), *args[1:]], tmp_path,
                 env=child_env(PYTHONIOENCODING="ascii:strict"))
    assert ran.returncode == 0, ran.stderr
    assert "r\\xe9sum\\xe9" in ran.stdout and "Traceback" not in ran.stderr


@pytest.mark.parametrize("command", [
    ["scripts/train.py", *RUN],
    ["scripts/evaluate.py", "CHECKPOINT", "--test-size", "100"],
    ["scripts/build_autograder.py", "--out", "a.zip"],
    ["scripts/check_exercises.py", str(REPO / "exercises/backprop_solutions.py")],
    ["scripts/build_autograder.py", "--help"],
    pytest.param(["scripts/figures.py", "--help"], marks=needs_torch),
], ids=lambda command: " ".join(Path(arg).stem for arg in command[:2]))
def test_a_reader_that_left_is_status_141_and_no_word(command, checkpoint, tmp_path):
    """Standard output a pipe whose reader has gone (`| head` done): quietly 141, even where
    the script's last words waited in the buffer until exit."""
    read, write = os.pipe()
    os.close(read)
    args = [str(checkpoint) if arg == "CHECKPOINT" else arg for arg in command]
    buffered = {name: value for name, value in child_env().items()
                if name != "PYTHONUNBUFFERED"}  # as a learner's shell has it
    try:
        ran = subprocess.run([sys.executable, str(REPO / args[0]), *args[1:]], cwd=tmp_path,
                             stdout=write, stderr=subprocess.PIPE, encoding="utf-8",
                             env=buffered, timeout=600)
    finally:
        os.close(write)
    assert ran.returncode in (0, 141) if "--help" in args else ran.returncode == 141
    assert ran.stderr == "", ran.stderr


@pytest.mark.skipif(os.name != "posix", reason="a folder in use cannot be deleted on Windows")
@pytest.mark.parametrize("impl", ["numpy", pytest.param("torch", marks=needs_torch)])
def test_a_deleted_current_folder_is_one_line_before_anything_loads(impl, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    ran = subprocess.run(["sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh",
                          str(gone), sys.executable, str(REPO / "scripts/train.py"), "--impl",
                          impl, *RUN], capture_output=True, encoding="utf-8",
                         env=child_env(), timeout=600)
    assert ran.returncode == 2 and ran.stdout == "", ran.stderr
    assert ran.stderr.count("\n") == 1 and "current folder no longer exists" in ran.stderr


def status_table() -> tuple[list[str], dict[str, list[str]]]:
    """docs/cli.md's table of exit statuses: its header's cells, and each status's cells."""
    text = (REPO / "docs/cli.md").read_text(encoding="utf-8")
    section = text.split("## Exit statuses", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return rows[0], {row[0].strip("| "): row[1:] for row in rows[2:]}


def test_the_docs_table_of_statuses_is_the_scripts():
    """Its second column is exactly the scripts that exit with a verdict, and every signal it
    names has the status 128 + its number here."""
    header, rows = status_table()
    documented = set(re.findall(r"`(\w+\.py)`", header[2]))
    verdicts = {path.name for path in (REPO / "scripts").glob("*.py")
                if "exit_with(main, verdict=True)" in path.read_text(encoding="utf-8")}
    assert documented == verdicts == {"compare.py", "check_exercises.py"}
    named = re.findall(r"(\d+) (SIG[A-Z0-9]+)", rows["128 + n"][0])
    assert len(named) >= 8
    for status, name in named:
        if hasattr(signal, name):
            assert int(status) == 128 + getattr(signal, name), name


def file_size_limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 10, 2 << 10))


@pytest.mark.skipif(not importable("resource"), reason="no resource module (Windows)")
@pytest.mark.parametrize("command, status", [
    (["scripts/train.py", *RUN, "--save", "c.npz"], 1),
    pytest.param(["scripts/compare.py", "--iterations", "1", "--test-size", "100", "--json",
                  "c.json"], 2, marks=needs_torch),
    (["scripts/check_exercises.py", "ANSWERS/a.py", "ANSWERS/b.py", "--csv", "c.csv"], 2),
], ids=lambda value: Path(value[0]).stem if isinstance(value, list) else str(value))
def test_a_failure_of_the_machine_has_the_tables_status(command, status, tmp_path):
    """The file-size limit (2 KiB) stops the output's write: 1, or 2 where 1 is a verdict."""
    answers, out = tmp_path / "answers", tmp_path / "out"
    answers.mkdir()
    out.mkdir()
    for name in ("a.py", "b.py"):
        (answers / name).write_bytes((REPO / "exercises/backprop_solutions.py").read_bytes())
    args = [arg.replace("ANSWERS", str(answers)) for arg in command]
    ran = python([str(REPO / args[0]), *args[1:]], out, preexec_fn=file_size_limit)
    assert ran.returncode == status, ran.stderr
    assert "File too large" in ran.stderr and "Traceback" not in ran.stderr
    assert os.listdir(out) == []
