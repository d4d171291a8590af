"""Sphinx configuration of the project's site: the README, docs/ and the four notebooks,
executed at build time (tools/build_site.py builds it; site/toc.md is its navigation)."""

from __future__ import annotations

import os
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "site"))  # site/mathml.py

project = "Grokking Deep Learning, chapter 9"
author = "the project's authors"
copyright = "the project's authors; MNIST: CC BY-SA 3.0"

extensions = ["myst_nb", "mathml"]
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

# Markdown as GitHub reads it: its heading anchors (docs/design.md#the-books-quirk), math
# between dollars and in ```math fences, and links to any file of the repository.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4
myst_fence_as_directive = ["math"]
myst_dmath_double_inline = True

# Every notebook runs at build time, in its own folder, as a fresh kernel would run it. A cell
# that raises is a warning that shows the cell and its traceback, so an error under -W, and
# --keep-going lists every other problem before the build fails.
nb_execution_mode = "force"
nb_execution_allow_errors = False
nb_execution_raise_on_error = False
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_execution_in_temp = False
nb_merge_streams = True

# Warnings are errors (tools/build_site.py runs sphinx-build -W --keep-going); these make
# the checks of the links strict too.
nitpicky = True
suppress_warnings: list[str] = []

html_theme = "furo"
html_title = "Grokking Deep Learning, chapter 9"
html_favicon = "favicon.svg"  # else every browser asks for /favicon.ico, and gets a 404
html_math_renderer = "mathml"  # site/mathml.py: MathML at build time, nothing fetched
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
highlight_language = "none"  # a block without a language is plain text, as on GitHub
pygments_style = "friendly"
pygments_dark_style = "monokai"


def toc_titles() -> dict[str, str]:
    """The title site/toc.md gives each page, by its name in Sphinx (its path, no suffix)."""
    entries = re.findall(r"^(.+?) <([^>]+)>$",
                         (Path(__file__).parent / "toc.md").read_text(encoding="utf-8"), re.M)
    return {str(Path(path).with_suffix("")): title for title, path in entries}


def title_untitled_pages(app: Any, docname: str, source: list[str]) -> None:
    """A page with no heading of its own (docs/study/study.md, a table that scripts/study.py
    writes) takes its title from the navigation, so that it has one in the sidebar, in
    previous / next and in the browser's tab."""
    markdown = str(app.env.doc2path(docname)).endswith(".md")
    if markdown and docname in TITLES and not re.search(r"^# ", source[0], re.M):
        source[0] = f"# {TITLES[docname]}\n\n{source[0]}"


def repository_url(path: str) -> str | None:
    """Where GitHub shows `path` at the commit being built: only in GitHub Actions, from its
    variables (the project names no address of its own)."""
    server, repo, sha = (os.environ.get(f"GITHUB_{v}") for v in ("SERVER_URL", "REPOSITORY",
                                                                  "SHA"))
    if not (server and repo and sha):
        return None
    kind = "tree" if (REPO / path).is_dir() else "blob"
    return f"{server}/{repo}/{kind}/{sha}/{path}"


def links_to_the_repository(app: Any, doctree: Any) -> None:
    """Links to what is not a page. A link to a folder ([notebooks](notebooks/)) opens the
    folder's README.md, as on GitHub. A link to a file of the repository that the site does
    not hold (numpy_impl/network.py) goes to the file on GitHub when GitHub Actions builds
    the site, and is plain text elsewhere. A link to nothing is left to myst-parser, whose
    warning fails the build."""
    from docutils import nodes
    from sphinx import addnodes

    docname = app.env.docname
    for node in list(doctree.findall(addnodes.pending_xref)):
        if node.get("reftype") != "myst" or node.get("refdomain"):
            continue
        path, _, anchor = node["reftarget"].partition("#")
        if not path or re.match(r"[a-z]+:", path):
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(docname), path))
        if (Path(app.srcdir) / target / "README.md").is_file():
            node["refdomain"], node["reftarget"] = "doc", f"{target}/README"
            node["reftargetid"] = anchor or None
        elif not target.startswith("..") and (REPO / target).exists():
            url = repository_url(target)
            text = node.children or [nodes.literal(path, path)]
            node.replace_self(nodes.reference("", "", *text, refuri=url, internal=False)
                              if url else nodes.inline("", "", *text))


TITLES = toc_titles()


def setup(app: Any) -> None:
    app.connect("source-read", title_untitled_pages)
    app.connect("doctree-read", links_to_the_repository)
