"""The README's two commands are the ones that work: CI runs the second verbatim."""

from __future__ import annotations

import re

from parity_tests.conftest import REPO


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"),
                        re.S)
    return [block.strip() for block in blocks[:2]]


def test_the_readme_opens_with_run_then_test_and_ci_runs_the_test_command_verbatim():
    run_chapter, run_tests = readme_commands()
    assert run_chapter.endswith("scripts/train.py")
    assert "pytest" in run_tests
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert run_tests in ci
    assert any(line.strip().endswith("ruff check .") for line in ci)


def test_the_readme_is_for_a_learner_arriving_cold():
    """Short, the two commands first, then the reading path; the details live in docs/."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 155
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[0] == "Reading path"
    assert text.index("```bash") < text.index("## Reading path")
    path = text[text.index("## Reading path"):]
    order = [path.index(s) for s in ("numpy_impl/listing.py", "exact mode", "book's own update",
                                     "[notebooks](notebooks/)", "scripts/compare.py",
                                     "docs/claims.md")]
    assert order == sorted(order)


def test_the_flag_reference_lists_every_flag_of_train_py_and_no_other():
    """docs/cli.md's table, kept true: each flag of the parser has a row, and each row's
    flags are the parser's."""
    from numpy_impl.cli import build_parser

    flags = {o for a in build_parser("x")._actions for o in a.option_strings} - {"-h", "--help"}
    table = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## scripts/train.py")[1]
    table = table.split("\n## ")[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `--")]
    documented = {flag for row in rows for flag in re.findall(r"--[a-z0-9-]+", row)}
    assert documented == flags
