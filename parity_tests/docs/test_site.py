"""The site (tools/build_site.py): its navigation is the README's reading path and covers
every page, its build is strict, and it deploys from main. The builds of small fixture sites
below show that a broken link, a missing anchor or image, or a notebook cell that raises
fails the real configuration's build; they need the `site` extra and skip without it (CI's
site step runs them: `pytest parity_tests/docs/test_site.py`). The full build and the browser
check are their own steps (tools/build_site.py, tools/check_site.py)."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

from parity_tests.conftest import REPO, child_env
from parity_tests.repository import repository_files
from tools.build_site import SITE, assemble, sphinx_command

READING_PATH = ["notebooks/1_the_listing.ipynb", "docs/walkthrough.md", "notebooks/README.md",
                "docs/exercises.md", "docs/parity.md", "docs/claims.md", "docs/performance.md",
                "docs/gpu.md"]
"""The issue's order: the listing, the walkthrough, the notebooks, the exercises, parity,
claims, speed, GPU and CI."""


def toctrees() -> list[tuple[str, list[str]]]:
    """site/toc.md's toctrees: (caption, the files of its entries in order)."""
    trees = re.findall(r"```\{toctree\}\n(.*?)```", (SITE / "toc.md").read_text(encoding="utf-8"),
                       re.S)
    result = []
    for tree in trees:
        caption = re.search(r"^:caption: (.+)$", tree, re.M)
        entries = [re.sub(r"^.*<(.+)>$", r"\1", line.strip()) for line in tree.splitlines()
                   if line.strip() and not line.startswith(":")]
        result.append((caption.group(1) if caption else "", entries))
    return result


def test_the_navigation_follows_the_readmes_reading_path():
    (caption, reading), *_ = toctrees()
    assert caption == "Reading path"
    assert [page for page in reading if page in READING_PATH] == READING_PATH
    assert reading[0] == READING_PATH[0]
    text = (REPO / "README.md").read_text(encoding="utf-8")
    path = text[text.index("## Reading path"):].split("\n## ")[0].split("\n|")[0]
    linked = [re.sub(r"/$", "/README.md", target.split("#")[0])
              for target in re.findall(r"\]\(([^)]+)\)", path)]
    assert linked == [page for page in READING_PATH if page in linked]
    assert len(linked) >= 5  # the listing, the walkthrough, the notebooks, parity, claims


def test_every_page_is_in_the_navigation_once():
    """A page that no toctree names fails the build; so does a name without a page."""
    entries = [entry for _, tree in toctrees() for entry in tree]
    pages = sorted(str(p.relative_to(REPO)) for p in
                   [*repository_files("docs/*.md"), *repository_files("notebooks/*.ipynb"),
                    REPO / "notebooks" / "README.md"])
    assert sorted(entries) == pages


def assignments(path: Path) -> dict[str, object]:
    """The literal values a Python file assigns at its top level."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            found.update({t.id: value for t in targets if isinstance(t, ast.Name)})
    return found


def test_the_build_is_strict_executes_every_notebook_and_fetches_nothing():
    command = sphinx_command(Path("src"), Path("out"), Path("doctrees"))
    assert {"-W", "--keep-going", "-E"} <= set(command)
    conf = assignments(SITE / "conf.py")
    assert conf["nb_execution_mode"] == "force"  # every notebook runs, at every build
    assert conf["nb_execution_allow_errors"] is False  # a cell that raises: a warning
    assert conf["suppress_warnings"] == []
    assert conf["myst_heading_anchors"] >= 3  # GitHub's anchors: docs/design.md#the-books-quirk
    assert conf["html_math_renderer"] == "mathml"  # no MathJax from a CDN
    assert {"dollarmath", "amsmath"} <= set(conf["myst_enable_extensions"])


def test_the_site_is_built_into_a_folder_git_ignores():
    ignored = subprocess.run(["git", "check-ignore", "build/site", "build/site-work",
                              "build/site-screenshots"], cwd=REPO, capture_output=True,
                             encoding="utf-8").stdout.split()
    assert ignored == ["build/site", "build/site-work", "build/site-screenshots"]


def test_the_workflow_builds_on_every_push_checks_in_chromium_and_deploys_from_main():
    text = (REPO / ".github" / "workflows" / "site.yml").read_text(encoding="utf-8")
    on = text[text.index("\non:"):text.index("\npermissions:")]
    assert "  push:\n" in on and "branches" not in on
    for step in ("tools/build_site.py", "pytest parity_tests/docs/test_site.py",
                 "tools/check_site.py", "apt-get install -y -qq chromium",
                 "actions/upload-pages-artifact@", "actions/deploy-pages@"):
        assert step in text
    deploy = text[text.index("\n  deploy:"):]
    assert "github.ref == 'refs/heads/main'" in deploy
    assert "pages: write" in deploy and "id-token: write" in deploy


def test_the_site_copies_no_text_into_git():
    """The pages are the repository's own files: site/ holds configuration alone."""
    assert sorted(p.name for p in SITE.iterdir() if p.name != "__pycache__") == [
        "conf.py", "favicon.svg", "mathml.py", "toc.md"]


def test_the_source_folder_is_the_readme_with_the_navigation_and_the_pages(tmp_path):
    src = assemble(tmp_path / "src")
    index = (src / "index.md").read_text(encoding="utf-8")
    assert index.startswith((REPO / "README.md").read_text(encoding="utf-8").rstrip())
    assert index.endswith((SITE / "toc.md").read_text(encoding="utf-8"))
    for entry in (entry for _, tree in toctrees() for entry in tree):
        assert (src / entry).read_bytes() == (REPO / entry).read_bytes()


# Builds of small sites with the real configuration: each takes a few seconds.

needs_sphinx = pytest.mark.skipif(
    importlib.util.find_spec("myst_nb") is None or importlib.util.find_spec("furo") is None,
    reason="needs the site extra: pip install -e '.[site]'")


def notebook(*cells: str) -> str:
    """A notebook titled "A notebook" whose code cells are `cells`."""
    return json.dumps({
        "cells": [{"cell_type": "markdown", "id": "title", "metadata": {},
                   "source": "# A notebook"}] +
                 [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                   "metadata": {}, "outputs": [], "source": source}
                  for i, source in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5})


GOOD = {
    "index.md": "# Home\n\nSee [the page](page.md#a-section).\n\n"
                "```{toctree}\npage.md\nrun.ipynb\nsub/README.md\n```\n",
    "sub/README.md": "# A folder's README\n",
    "page.md": "# Page\n\n## A section\n\nThe book's slope: $s(2t) = 1 - 4t^2$.\n\n"
               "[A folder](sub/) and [the listing](numpy_impl/listing.py) (no page).\n\n"
               "```math\n\\delta_1 = \\left(\\delta_2 W_{12}^\\top\\right) \\odot 2\\,s(t)\n```\n"
               "\n![a figure](figure.svg)\n",
    "figure.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>',
    "run.ipynb": notebook("print('I:0 Test-Acc:0.394 Train-Acc:0.156')"),
}


def build(tmp_path: Path, changes: dict[str, str] | None = None) -> tuple[int, str]:
    """Build GOOD with `changes` (file name: new text); the exit status and the output."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name, text in {**GOOD, **(changes or {})}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text, encoding="utf-8")
    run = subprocess.run(sphinx_command(src, out, tmp_path / "doctrees"), cwd=REPO,
                         capture_output=True, encoding="utf-8", env=child_env(), timeout=120)
    return run.returncode, run.stdout + run.stderr


@needs_sphinx
def test_a_clean_site_builds_with_its_math_as_mathml_and_its_notebook_run(tmp_path):
    status, output = build(tmp_path)
    assert status == 0, output
    page = (tmp_path / "out" / "page.html").read_text(encoding="utf-8")
    assert page.count("<math") == 2 and "<mo>⊙</mo>" in page
    assert 'href="sub/README.html"' in page  # a folder's link opens its README
    assert "the listing" in page and "listing.py" not in page  # a file's: text, off GitHub
    assert "I:0 Test-Acc:0.394 Train-Acc:0.156" in (tmp_path / "out" / "run.html").read_text(
        encoding="utf-8")


BROKEN = {
    "a broken link": ({"page.md": GOOD["page.md"] + "\n[gone](missing.md)\n"}, "missing.md"),
    "a missing anchor": ({"index.md": GOOD["index.md"].replace("#a-section", "#no-section")},
                         "no-section"),
    "a missing image": ({"page.md": GOOD["page.md"].replace("figure.svg", "nowhere.png")},
                        "nowhere.png"),
    "LaTeX that cannot be read": ({"page.md": GOOD["page.md"] + "\n$\\nosuchcommand$\n"},
                                  "nosuchcommand"),
    "a cell that raises": ({"run.ipynb": notebook("print('before')",
                                                  "raise ValueError('a deliberate error')")},
                           "a deliberate error"),
}


@needs_sphinx
@pytest.mark.parametrize("changes, named", BROKEN.values(), ids=BROKEN.keys())
def test_the_build_fails_on(tmp_path, changes, named):
    status, output = build(tmp_path, changes)
    assert status != 0, output
    assert named in output, output

