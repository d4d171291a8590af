"""Build the project's site, to read without running anything: tools/build_site.py.

Sphinx with myst-nb turns the README, docs/ and the four notebooks into a static site in
build/site (git ignores build/), executing every notebook at build time so that its logs,
tables and figures show. The build is offline and strict: sphinx-build runs with -W
--keep-going, so a broken link, a missing anchor or image, or a notebook cell that raises
fails it (exit status 1), after every problem has been listed. The configuration is
site/conf.py and the navigation, in the README's reading path, site/toc.md.

    .venv/bin/pip install -e '.[site]'
    .venv/bin/python tools/build_site.py --open   # build, then open it in a browser

tools/check_site.py then reads the built site in headless Chromium.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import webbrowser
from pathlib import Path

from scripts.cli import Parser, about

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "site"  # conf.py, toc.md, mathml.py
OUT = REPO / "build" / "site"
SOURCE_MARK = ".build_site"  # the source folder's: a folder without it is never removed
PAGES = ("docs", "notebooks")
"""The folders the site reads whole, beside the README (which becomes its home page)."""


class Refused(Exception):
    """A folder the build would replace holds something it did not write."""


def clear(folder: Path, mark: str) -> None:
    """Remove `folder` if it is one the build wrote (it holds the file `mark`) or empty."""
    if folder.is_dir() and not (folder / mark).is_file() and any(folder.iterdir()):
        raise Refused(f"{folder} is not a folder this script built: give another --out")
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    elif folder.exists() or folder.is_symlink():
        folder.unlink()


def assemble(src: Path) -> Path:
    """Lay out Sphinx's source folder at `src`, anew: index.md is the README followed by the
    navigation (site/toc.md), and docs/ and notebooks/ are copies of the repository's (Sphinx
    would follow links to them out of its source folder, and their relative links with them).
    The notebooks run in the copy, inside the checkout, where their setup cell finds it."""
    clear(src, SOURCE_MARK)
    src.mkdir(parents=True)
    (src / SOURCE_MARK).write_text("written by tools/build_site.py\n", encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    toc = (SITE / "toc.md").read_text(encoding="utf-8")
    (src / "index.md").write_text(f"{readme.rstrip()}\n\n{toc}", encoding="utf-8")
    for name in PAGES:
        shutil.copytree(REPO / name, src / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return src


def sphinx_command(src: Path, out: Path, doctrees: Path) -> list[str]:
    """sphinx-build, strict: warnings are errors (-W), all of them listed (--keep-going),
    every page read again (-E) so that every notebook runs and every warning shows."""
    return [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E",
            "-c", str(SITE), "-d", str(doctrees), str(src), str(out)]


def build(out: Path) -> int:
    """Build the site into `out`; sphinx-build's exit status. Sphinx writes into `out`-work
    (the source folder, the doctrees, the notebooks' images, the HTML), and the HTML moves
    to `out` once the build has passed. Its messages name the repository's files
    (docs/walkthrough.md:12), not their copies in the source folder."""
    work = out.parent / f"{out.name}-work"
    clear(out, ".buildinfo")  # Sphinx's, in every HTML build: no site after a failed build
    src = assemble(work / "src")
    html = work / "html"
    if html.exists():
        shutil.rmtree(html)
    # the kernels' debugger would warn on standard error about Python's frozen modules
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env["PYTHONIOENCODING"] = "utf-8"  # Sphinx's output, read below as UTF-8 on any system
    with subprocess.Popen(sphinx_command(src, html, work / "doctrees"), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8",
                          bufsize=1) as sphinx:
        assert sphinx.stdout is not None
        for line in sphinx.stdout:
            if "Kernel is running over TCP without encryption" in line:  # ipykernel 7's note
                continue
            line = line.replace(f"{src}{os.sep}index.md", "README.md")
            sys.stderr.write(line.replace(f"{src}{os.sep}", ""))
    if sphinx.returncode == 0:
        shutil.move(html, out)
    return sphinx.returncode


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="tools/build_site.py", description=about(__doc__))
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder to build the site into (default: build/site)")
    parser.add_argument("--open", action="store_true",
                        help="open the site's home page in a browser once built")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        status = build(args.out.resolve())
    except Refused as e:
        print(f"tools/build_site.py: error: {e}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    if status:
        print(f"tools/build_site.py: the build failed (see above), in {seconds:.0f} s",
              file=sys.stderr)
        return 1
    index = args.out.resolve() / "index.html"
    print(f"built {index} in {seconds:.0f} s", file=sys.stderr)
    if args.open:
        webbrowser.open(index.as_uri())
    return 0


if __name__ == "__main__":
    sys.exit(main())
