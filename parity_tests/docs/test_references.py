"""Every reference points inside the repository: Markdown links and their anchors resolve,
and the README, the docs and the code name only files the repository has."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from parity_tests.conftest import REPO
from parity_tests.repository import repository_files

TOP = ("numpy_impl", "torch_impl", "ch9_shared", "exercises", "scripts", "tools", "parity_tests",
       "docs", "notebooks", ".ci", ".github")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
PROJECT_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(map(re.escape, TOP))})/[\w./-]*[\w/])")
CAPS_DOC = re.compile(r"(?<![\w./-])([A-Z][A-Z_]+\.md)\b")


FILES = repository_files()  # git's: an untracked answer file is no test id of its own
NAMES = {f.name for f in FILES}
MARKDOWN = [f for f in FILES if f.suffix == ".md"] + [f for f in FILES if f.suffix == ".ipynb"]
TEXT = MARKDOWN + [f for f in FILES if f.suffix in (".py", ".sh", ".toml", ".yml", ".cjs")]


def text_of(path: Path) -> str:
    """A file's text; a notebook's is its cells' sources."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(cell["source"]) for cell in cells)
    return path.read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text_of(path), re.M)}


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(text_of(path)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        where = (path.parent / file).resolve() if file else path
        if file and (not where.exists() or REPO not in where.parents):
            broken.append(f"{target} (no such file)")
        elif anchor and where.suffix in (".md", ".ipynb") and anchor not in anchors(where):
            broken.append(f"{target} (no heading #{anchor})")
    return broken


def ignored(paths: list[str]) -> set[str]:
    """Those of `paths` that git ignores: what runs write (a venv, an install folder)."""
    found = subprocess.run(["git", "check-ignore", "--stdin"], cwd=REPO, input="\n".join(paths),
                           capture_output=True, encoding="utf-8").stdout.split()
    return set(found)


def missing_names(path: Path) -> list[str]:
    """Project paths (numpy_impl/..., docs/...) and documents (DESIGN.md) that are not in the
    repository."""
    text = text_of(path)
    paths = [p.rstrip("/") for p in PROJECT_PATH.findall(text)]
    outputs = ignored(paths)
    missing = [p for p in paths if not (REPO / p).exists() and p not in outputs]
    missing += [n for n in CAPS_DOC.findall(text) if n not in NAMES]
    return list(dict.fromkeys(missing))


def relative(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


@pytest.mark.parametrize("path", MARKDOWN, ids=relative(MARKDOWN))
def test_every_link_and_anchor_resolves(path):
    assert broken_links(path) == []


NAMING = [path for path in TEXT if path != Path(__file__)]  # this file names broken examples


@pytest.mark.parametrize("path", NAMING, ids=relative(NAMING))
def test_every_file_named_is_in_the_repository(path):
    assert missing_names(path) == []


def test_nothing_outside_the_repository_is_cited():
    """A user has the repository, not the folder it was built in; only the tests may read a
    full MNIST beside it, and they skip where there is none."""
    for path in TEXT:
        if "parity_tests" not in path.parts:
            assert "../shared" not in text_of(path), path


def test_the_checks_find_what_is_broken(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A heading\n[ok](#a-heading) [gone](#no-such) [file](nowhere.md) "
                    "see DESIGN.md and numpy_impl/nowhere.py, numpy_impl/network.py\n",
                    encoding="utf-8")
    assert broken_links(page) == ["#no-such (no heading #no-such)", "nowhere.md (no such file)"]
    assert missing_names(page) == ["numpy_impl/nowhere.py", "DESIGN.md"]
    assert slug("The book's quirk: `book` and `exact`") == "the-books-quirk-book-and-exact"
