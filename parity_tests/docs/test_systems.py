"""The suite on every system: what a test needs from the system (conftest's markers) is
found missing where it is, the suite collects without Windows' missing modules, and every
text file is read and written as UTF-8 (Windows' default is its ANSI code page)."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest

from parity_tests.conftest import (
    REPO,
    can_symlink,
    child_env,
    has_folder,
    has_signal,
    importable,
    installed,
    needs_pty,
)
from parity_tests.repository import repository_files


def test_each_need_is_found_here_and_missing_where_it_is(monkeypatch):
    """Linux has all of them; the rest is Windows and macOS faked."""
    assert importable("pty", "fcntl", "termios") and can_symlink()
    assert has_signal("SIGALRM") and has_signal("SIGKILL") and has_folder("/proc/self")
    monkeypatch.setitem(sys.modules, "termios", None)
    assert not importable("pty", "fcntl", "termios")
    monkeypatch.delattr(signal, "SIGALRM")
    assert not has_signal("SIGALRM") and has_signal("SIGKILL")
    assert not has_folder("/no/such/proc")

    def refused(self: Path, target: object) -> None:
        raise OSError(1314, "A required privilege is not held by the client")

    monkeypatch.setattr(Path, "symlink_to", refused)
    assert not can_symlink()



def test_a_module_is_installed_or_missing_without_being_imported(monkeypatch):
    """numpy is there; a name no package has, a module blocked with None in sys.modules (as
    the tests block torch) and one whose spec cannot be read are missing; none is imported."""
    assert installed("numpy")
    assert not installed("no_such_module_here")
    monkeypatch.setitem(sys.modules, "torch", None)
    assert not installed("torch")
    monkeypatch.setitem(sys.modules, "spec_less", types.ModuleType("spec_less"))
    assert not installed("spec_less")
    assert "no_such_module_here" not in sys.modules

WINDOWS_MISSING = ("resource", "fcntl", "pty", "termios")


def collect(folder: Path, *args: str, missing: tuple[str, ...] = ()) -> str:
    """`python -m pytest -p no:cacheprovider -n 0 ARGS` here, with `missing` unimportable
    (a sitecustomize.py in `folder`, on PYTHONPATH, sets each to None in sys.modules)."""
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in missing),
        encoding="utf-8")
    env = child_env(PYTHONPATH=os.pathsep.join([str(folder), str(REPO)]))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0",
                           *args], cwd=REPO, env=env, capture_output=True, encoding="utf-8",
                          timeout=600).stdout


def collected_the_whole_suite(config: pytest.Config) -> bool:
    """Whether this session collected every test, none deselected: then it counted what a
    plain `--collect-only` counts, and the test need not collect a second time."""
    option = config.option  # without the cache provider (-p no:cacheprovider), no --lf
    return (set(config.args) <= {"parity_tests", str(REPO / "parity_tests")}
            and not (option.keyword or option.markexpr or option.deselect
                     or getattr(option, "lf", False)))


def test_the_whole_suite_is_told_without_the_cache_provider():
    """`-p no:cacheprovider` (a read-only checkout) takes --lf away: the check still answers."""
    option = argparse.Namespace(keyword="", markexpr="", deselect=None)
    config = types.SimpleNamespace(option=option, args=["parity_tests"])
    assert collected_the_whole_suite(config)
    option.lf = True
    assert not collected_the_whole_suite(config)
    config.args = ["parity_tests/kit"]
    del option.lf
    assert not collected_the_whole_suite(config)


def test_the_suite_collects_without_windows_missing_modules(tmp_path, request):
    """Every test is collected, as many as with them, and none fails to import; the test
    that needs a pseudo-terminal carries needs_pty (whose predicate, the modules missing,
    is False: test_each_need_is_found_here_and_missing_where_it_is), so it skips there."""
    count = re.compile(r"^(\d+) tests? collected in ", re.M)  # "..., 1 error in" does not match
    if collected_the_whole_suite(request.config):
        plain = len(request.session.items)
    else:
        found = count.search(collect(tmp_path / "plain", "--collect-only", "-q"))
        assert found
        plain = int(found[1])
    windows = collect(tmp_path / "windows", "--collect-only", "-q", missing=WINDOWS_MISSING)
    assert count.search(windows) and int(count.search(windows)[1]) == plain, windows[-3000:]
    from parity_tests.cli import test_outputs
    pty_test = test_outputs.test_progress_bar_on_a_terminal_leaves_stdout_as_the_log
    assert needs_pty.mark in pty_test.pytestmark



def test_the_suite_collects_without_torch(tmp_path):
    """Where the torch extra is not installed, no test module fails to import: a module of
    the torch side skips whole, and the NumPy side's tests are collected."""
    out = collect(tmp_path / "no-torch", "--collect-only", "-q",
                  missing=("torch", "torchvision", "scipy"))
    assert re.search(r"^\d+ tests? collected in ", out, re.M), out[-3000:]
    assert "parity_tests/chapter/test_book_log.py::" in out
    assert "parity_tests/chapter/test_torch.py::" not in out

FILE_FIRST = {"io", "os", "gzip", "bz2", "lzma"}
"""Modules whose open (or fdopen) takes the file, then the mode; a Path's open takes the mode."""
BINARY_BY_DEFAULT = {"gzip", "bz2", "lzma"}
NOT_FILES = {("os", "open"), ("webbrowser", "open"), ("archive", "open")}
"""Calls named open that decode no text: a descriptor, a browser, a ZipFile's member (bytes)."""


def opens_text(call: ast.Call, receiver: str | None) -> bool:
    """Whether an open() or fdopen() call opens a file in text mode."""
    first = isinstance(call.func, ast.Attribute) and receiver not in FILE_FIRST
    given = call.args[0:1] if first else call.args[1:2]
    mode = next((k.value for k in call.keywords if k.arg == "mode"), given[0] if given else None)
    if not isinstance(mode, ast.Constant):  # the default mode, or one not known here
        return receiver not in BINARY_BY_DEFAULT
    return "b" not in mode.value and (receiver not in BINARY_BY_DEFAULT or "t" in mode.value)


def decodes_text(call: ast.Call) -> bool:
    """Whether the call reads or writes text: open() in text mode, Path.read_text and
    write_text, subprocess's text=True."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    receiver = (func.value.id if isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name) else None)
    if name in ("read_text", "write_text"):
        return len(call.args) < (1 if name == "read_text" else 2)  # else the encoding is given
    if name in ("open", "fdopen") and (receiver, name) not in NOT_FILES:
        return opens_text(call, receiver)
    return any(k.arg in ("text", "universal_newlines") and isinstance(k.value, ast.Constant)
               and k.value.value is True for k in call.keywords)


def unencoded(tree: ast.AST) -> list[int]:
    """The lines of calls that read or write text without naming an encoding."""
    return sorted(call.lineno for call in ast.walk(tree) if isinstance(call, ast.Call)
                  and decodes_text(call) and not any(k.arg == "encoding" for k in call.keywords))


def sources() -> dict[str, str]:
    """The repository's Python code by name: its .py files, and the notebooks' code cells
    (without their % and ! lines)."""
    code = {}
    for path in repository_files():
        name = path.relative_to(REPO).as_posix()
        if path.suffix == ".py":
            code[name] = path.read_text(encoding="utf-8")
            continue
        if path.suffix != ".ipynb":
            continue
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "code":
                lines = "".join(cell["source"]).splitlines()
                code[f"{name}, cell {i}"] = "\n".join(
                    "" if line.lstrip().startswith(("%", "!")) else line for line in lines)
    return code


def test_every_text_read_and_write_names_its_encoding():
    found = {name: lines for name, text in sources().items()
             if (lines := unencoded(ast.parse(text)))}
    assert found == {}


@pytest.mark.parametrize("line", [
    'open("a.txt")', 'open("a.txt", "w")', 'open(path, mode="a")', 'path.open()',
    'path.open("w")', 'io.open("a")', 'os.fdopen(fd, "w")', 'gzip.open(path, "rt")',
    'path.read_text()', 'path.write_text("x")', 'subprocess.run(["ls"], text=True)',
    'subprocess.Popen(["ls"], universal_newlines=True)'])
def test_the_check_finds_each_kind_of_unencoded_call(line):
    assert unencoded(ast.parse(line)) == [1]
    named = line[:-1] + (', encoding="utf-8")' if line[-2] != "(" else 'encoding="utf-8")')
    assert unencoded(ast.parse(named)) == []


@pytest.mark.parametrize("line", [
    'open("a.npz", "rb")', 'path.open("wb")', 'os.fdopen(fd, "wb")', 'gzip.open(path)',
    'os.open(path, os.O_WRONLY)', 'webbrowser.open(url)', 'path.read_bytes()',
    'path.read_text("utf-8")', 'path.write_text("x", "utf-8")', 'subprocess.run(["ls"])'])
def test_the_check_passes_binary_and_named_calls(line):
    assert unencoded(ast.parse(line)) == []
