"""The README's commands are the ones that work: each system's, as its users type them, and
CI runs them verbatim on that system (.ci/run and .github/workflows/tests.yml)."""

from __future__ import annotations

import re

import pytest

from parity_tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "tests.yml"
SYSTEMS = {"Linux": "ubuntu-latest", "macOS": "macos-latest", "Windows": "windows-latest"}
"""GitHub's `runner.os` of each system, and the runner the workflow's matrix names for it."""


def blocks(language: str, text: str | None = None) -> list[str]:
    """The code blocks in `language` of `text` (the README's by default), in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8") if text is None else text
    return [block.strip() for block in re.findall(rf"```{language}\n(.*?)```", text, re.S)]


def install_sections() -> dict[str, str]:
    """The README's opening, system by system: from each system's name in bold at the start
    of a line to the next one's (the last one's to the reading path)."""
    text = (REPO / "README.md").read_text(encoding="utf-8").split("## Reading path")[0]
    parts = re.split(rf"^\*\*({'|'.join(SYSTEMS)})\*\*", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def commands_for(system: str) -> list[str]:
    """What the README has a user of `system` type, in order: the lines of the code blocks
    of its section, in its shell (PowerShell on Windows, bash elsewhere), but comments."""
    language = "powershell" if system == "Windows" else "bash"
    return [line for block in blocks(language, install_sections()[system])
            for line in block.splitlines() if line.strip() and not line.startswith("#")]


def readme_commands() -> list[str]:
    """The POSIX run and test commands: macOS's, the two commands alone."""
    return commands_for("macOS")


def powershell_commands() -> list[str]:
    """Windows' run and test commands."""
    return commands_for("Windows")


def cpu_torch_command() -> str:
    """The README's CPU-only torch for a Linux machine without an NVIDIA GPU."""
    (command,) = [line for line in commands_for("Linux") if "download.pytorch.org/whl/cpu" in line]
    return command


def workflow_steps(text: str) -> list[dict[str, str]]:
    """The steps of the workflow's one job, each its keys and their values (a `run: |` block's
    lines joined), read line by line: PyYAML is no dependency of the project."""
    steps: list[dict[str, str]] = []
    block = None
    for line in text.split("\n    steps:\n", 1)[1].splitlines():
        if block and line.startswith(" " * 10):
            steps[-1][block] += line[10:] + "\n"
            continue
        if line.startswith("      - "):
            steps.append({})
            line = " " * 8 + line[8:]
        if line.startswith(" " * 8) and not line.startswith(" " * 9) and steps:
            key, _, value = line.strip().partition(":")
            block = key if value.strip() == "|" else None
            steps[-1][key] = "" if block else value.strip()
        elif line.strip() and not line.lstrip().startswith("#"):
            block = None
    return steps


def runs_on(condition: str | None, system: str) -> bool:
    """Whether a step's `if:` (none, or `runner.os == 'X'` or `!=`) lets it run on `system`."""
    if condition is None:
        return True
    match = re.fullmatch(r"runner\.os (==|!=) '(\w+)'", condition)
    assert match, f"a step condition this reader does not know: {condition}"
    operator, name = match.groups()
    return (name == system) == (operator == "==")


def missing_from_ci(system: str, workflow: str) -> list[str]:
    """The README's commands for `system` that the workflow does not run there, verbatim, in
    the system's own shell (PowerShell on Windows, the default bash elsewhere), in order."""
    shell = "powershell" if system == "Windows" else None
    ran = [line for step in workflow_steps(workflow)
           if "run" in step and runs_on(step.get("if"), system) and step.get("shell") == shell
           for line in step["run"].splitlines()]
    missing = [command for command in commands_for(system) if command not in ran]
    if missing:
        return missing
    found = [ran.index(command) for command in commands_for(system)]
    return [] if found == sorted(found) else ["(out of order)"]


def test_the_readme_opens_with_run_then_test_and_ci_runs_the_test_command_verbatim():
    run_chapter, run_tests = readme_commands()
    assert run_chapter.endswith("scripts/train.py")
    assert "pytest" in run_tests
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert run_tests in ci
    assert any(line.strip().endswith("ruff check .") for line in ci)


def test_each_system_has_its_commands_in_the_order_a_newcomer_runs_them():
    """One section a system, each whole in itself: a reader follows their own system's from
    top to bottom and runs nothing another system needs. On Linux the CPU-only torch comes
    before the test command (after it, pip would already have put PyPI's CUDA build, some
    5 GB, in the venv); macOS and Windows run the two commands alone."""
    assert list(install_sections()) == list(SYSTEMS)
    run_chapter, run_tests = readme_commands()
    assert commands_for("Linux") == [run_chapter, cpu_torch_command(), run_tests]
    assert len(powershell_commands()) == 2
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text.count("download.pytorch.org/whl/cpu") == 1  # Linux's section alone


def test_the_readme_is_for_a_learner_arriving_cold():
    """Short, the two commands first, then the reading path; the details live in docs/. (155
    lines until the README gave Windows' commands and the notes macOS, Debian and a Linux
    machine without an NVIDIA GPU need: 167.)"""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 167
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
    from scripts.cli import build_parser

    flags = {o for a in build_parser("x")._actions for o in a.option_strings} - {"-h", "--help"}
    table = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## scripts/train.py")[1]
    table = table.split("\n## ")[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `--")]
    documented = {flag for row in rows for flag in re.findall(r"--[a-z0-9-]+", row)}
    assert documented == flags


def test_windows_gets_the_same_two_commands_for_powershell():
    """Windows PowerShell 5.1 rejects `&&`, so `;` joins the commands, and a venv's programs
    are in `.venv\\Scripts`. `".[test]"` is in double quotes, which PowerShell and cmd.exe
    alike remove, so pip sees `.[test]`: single quotes, fine in PowerShell, would reach pip
    from cmd.exe as part of the argument, and bare brackets are a wildcard to some shells
    (zsh, macOS' own, refuses a pattern that matches nothing), so no block leaves them bare.
    Spelled back for a POSIX shell, each line is the POSIX block's command."""
    run_chapter, run_tests = powershell_commands()
    assert run_chapter.endswith("scripts\\train.py")
    assert run_tests.endswith("-m pytest")
    for command in (run_chapter, run_tests):
        assert "&&" not in command and "'" not in command and ".venv/" not in command
        assert command.startswith("py -m venv .venv; .venv\\Scripts\\python -m pip install")
    assert '".[test]"' in run_tests
    posix = [re.sub(r"^py ", "python3 ", command).replace("; ", " && ").replace("\\", "/")
             .replace("Scripts/python -m pip", "bin/pip").replace("Scripts", "bin")
             .replace('"', "'") for command in (run_chapter, run_tests)]
    assert posix == readme_commands()


def test_the_readme_says_once_what_windows_reads_for_the_posix_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rule = "read `.venv\\Scripts\\` for `.venv/bin/`, `;` for `&&`"
    assert text.count(rule) == 1
    assert text.index("```powershell") < text.index("## Reading path")
    assert text.index(rule) < text.index(".venv/bin/", text.index("## Reading path"))


def test_the_workflow_runs_on_linux_macos_and_windows():
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "runs-on: ${{ matrix.os }}" in text
    matrix = text.split("matrix:", 1)[1].split("steps:", 1)[0]
    assert all(runner in matrix for runner in SYSTEMS.values())


@pytest.mark.parametrize("system", SYSTEMS)
def test_ci_runs_each_systems_readme_commands_verbatim_in_its_shell(system):
    assert missing_from_ci(system, WORKFLOW.read_text(encoding="utf-8")) == []


def test_the_ci_check_finds_a_command_missing_in_its_shell_or_on_its_system():
    text = WORKFLOW.read_text(encoding="utf-8")
    posix_tests, (ps_run, ps_tests) = readme_commands()[1], powershell_commands()
    assert missing_from_ci("Windows", text.replace("shell: powershell", "shell: pwsh", 1)) == [
        ps_run]
    assert missing_from_ci("Windows", text.replace(ps_tests, ps_tests.replace('"', "'"))) == [
        ps_tests]
    linux_only = text.replace(f"if: runner.os != 'Windows'\n        run: {posix_tests}",
                              f"if: runner.os == 'Linux'\n        run: {posix_tests}")
    assert missing_from_ci("macOS", linux_only) == [posix_tests]
    assert missing_from_ci("Linux", linux_only) == []
    head, *steps = text.split("\n      - ")
    torch = next(step for step in steps if cpu_torch_command() in step)
    torch_last = "\n      - ".join([head, *(step for step in steps if step != torch), torch])
    assert missing_from_ci("Linux", torch_last) == ["(out of order)"]
    torch_on_macos = text.replace(torch, torch.replace("== 'Linux'", "== 'macOS'"))
    assert missing_from_ci("Linux", torch_on_macos) == [cpu_torch_command()]
