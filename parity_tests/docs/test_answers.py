"""A place for a learner's answers: `answers/`, which git ignores and the README and the blanks
name; an answer there, or anywhere git does not track, changes neither what the suite
collects nor what it checks (parity_tests/repository.py; pyproject.toml's norecursedirs)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from parity_tests.conftest import REPO, child_env
from parity_tests.repository import gitignored, repository_files

RULES = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
HALF_WRITTEN = "def tanh2deriv(output):\n    return 1 - output **\n"
"""An answer being typed: pytest, were it to import it, would stop on its syntax error."""


def collected() -> list[str]:
    """The test ids pytest collects from the whole checkout (`pytest .`, which recurses
    further than the test command's testpaths), in a process of its own."""
    ran = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0",
                          "-p", "no:cacheprovider", "."], cwd=REPO, capture_output=True,
                         encoding="utf-8", env=child_env(), timeout=600)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    return [line for line in ran.stdout.splitlines() if "::" in line]


def test_answers_written_during_a_run_change_nothing_collected():
    """A copy of the blanks in the checkout's root (where the blanks once said to put it)
    and a half-written answer in answers/, named as pytest collects, appear between two
    collections: the ids stay the same (no answer file is a test id of its own, pytest
    does not import the half-written one), so two pytest-xdist workers agree on them."""
    token = uuid.uuid4().hex[:8]
    folder = REPO / "answers"
    made_folder = not folder.exists()
    root_copy, typed = REPO / f"my_answers_{token}.py", folder / f"test_answers_{token}.py"
    before = collected()
    try:
        folder.mkdir(exist_ok=True)
        with root_copy.open("x", encoding="utf-8") as out:
            out.write((REPO / "exercises" / "backprop.py").read_text(encoding="utf-8"))
        with typed.open("x", encoding="utf-8") as out:
            out.write(HALF_WRITTEN)
        after = collected()
    finally:
        root_copy.unlink(missing_ok=True)
        typed.unlink(missing_ok=True)
        if made_folder:
            shutil.rmtree(folder, ignore_errors=True)
    assert after == before
    assert not [test for test in after if token in test]


def test_the_readme_and_the_blanks_say_where_answers_go_and_git_ignores_it():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "cp exercises/backprop.py answers/" in readme
    for track in ("backprop", "autograd"):
        source = (REPO / "exercises" / f"{track}.py").read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(source))
        assert f"cp exercises/{track}.py answers/" in doc
        assert f"check_exercises.py answers/{track}.py" in doc
        assert gitignored(f"answers/{track}.py", RULES)
    assert (REPO / "answers" / "README.md") in repository_files("answers/*")
    if shutil.which("git") and (REPO / ".git").exists():
        ran = subprocess.run(["git", "check-ignore", "answers/backprop.py", "answers/README.md"],
                             cwd=REPO, capture_output=True, encoding="utf-8")
        assert ran.stdout.split() == ["answers/backprop.py"]


def tree(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n", encoding="utf-8")


PROJECT = ["README.md", "docs/walkthrough.md", "docs/study/study.md",
           "notebooks/1_the_listing.ipynb", "answers/README.md", "numpy_impl/network.py"]
"""A checkout's own files (docs/study/ is no /study/, which .gitignore names from the root)."""
LEARNERS = ["my_answers.py"]
"""An untracked answer git does not ignore: in an archive, without git, nothing says so."""
OUTPUTS = ["answers/backprop.py", ".venv/bin/python", "build/site/index.html",
           "study/seeds.json", "exercises/__pycache__/x.pyc", ".ci/node/n.js",
           "grokking_ch9.egg-info/PKG-INFO"]
"""What .gitignore names: a learner's answers, a venv, the outputs of runs."""


def test_without_git_the_files_are_those_on_disk_but_what_gitignore_names(tmp_path):
    tree(tmp_path, PROJECT + LEARNERS + OUTPUTS)
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    expected = sorted(tmp_path / name for name in [*PROJECT, *LEARNERS, ".gitignore"])
    assert repository_files(root=tmp_path) == expected
    docs = tmp_path / "docs"
    assert repository_files("docs/*.md", root=tmp_path) == [docs / "study" / "study.md",
                                                           docs / "walkthrough.md"]
    assert repository_files("notebooks/*.ipynb", root=tmp_path) == [
        tmp_path / "notebooks" / "1_the_listing.ipynb"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_with_git_the_files_are_those_git_tracks(tmp_path):
    tree(tmp_path, PROJECT + LEARNERS + OUTPUTS)
    shutil.copy(REPO / ".gitignore", tmp_path / ".gitignore")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run(["git", "add", "--", *PROJECT, ".gitignore"], cwd=tmp_path, check=True,
                   env=env)
    assert repository_files(root=tmp_path) == sorted(
        tmp_path / name for name in [*PROJECT, ".gitignore"])
    page = tmp_path / "docs" / "walkthrough.md"
    page.unlink()  # deleted, not yet committed: no file to read
    assert page not in repository_files(root=tmp_path)
