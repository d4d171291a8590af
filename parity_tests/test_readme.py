"""The README's two commands are the ones that work: CI runs the second verbatim."""

from __future__ import annotations

import re

from parity_tests.conftest import REPO


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    return [block.strip() for block in blocks[:2]]


def test_the_readme_opens_with_run_then_test_and_ci_runs_the_test_command_verbatim():
    run_chapter, run_tests = readme_commands()
    assert run_chapter.endswith("scripts/train.py")
    assert "pytest" in run_tests
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert run_tests in ci
    assert any(line.strip().endswith("ruff check .") for line in ci)
