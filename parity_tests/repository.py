"""The repository's own files, for the tests that parametrize over files or read each one:
what git tracks, never a learner's untracked answers (a copy of the blanks in the root, a
notebook's copy, anything in `answers/`). So what the suite collects and checks stays the
same while a learner writes one, even between the collections of two pytest-xdist workers."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def repository_files(pattern: str = "*", root: Path = REPO) -> list[Path]:
    """The files whose path from `root` (with `/`) matches `pattern` (fnmatch: `*` crosses
    folders), sorted: those git tracks where the checkout has git; else, in an archive
    without .git, every file on disk but what .gitignore names (`on_disk`)."""
    if (root / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                                check=True).stdout.decode("utf-8").split("\0")
    else:
        listed = on_disk(root)
    return sorted(root / name for name in listed
                  if name and fnmatch.fnmatchcase(name, pattern) and (root / name).is_file())


def on_disk(root: Path) -> list[str]:
    """Every file under `root` (paths with `/`) but .git and what .gitignore names."""
    ignore = root / ".gitignore"
    rules = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    found = []
    for folder, folders, files in os.walk(root):
        here = Path(folder).relative_to(root).as_posix()
        prefix = "" if here == "." else f"{here}/"
        folders[:] = [name for name in folders
                      if name != ".git" and not gitignored(prefix + name, rules, folder=True)]
        found += [prefix + name for name in files
                  if name != ".git" and not gitignored(prefix + name, rules)]
    return found


def gitignored(path: str, rules: list[str], folder: bool = False) -> bool:
    """Whether .gitignore's `rules` ignore `path` (from the root, with `/`), as git reads the
    simple rules a .gitignore of this project uses: `name`, `name/` (folders only), `/name`
    and `a/b` (from the root), `*` in a name, and `!` to keep a path; the last rule that
    matches decides."""
    ignored = False
    for line in rules:
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        keep = rule.startswith("!")
        rule = rule.removeprefix("!")
        if rule.endswith("/") and not folder:
            continue
        rule = rule.rstrip("/")
        target = path if "/" in rule else path.rsplit("/", 1)[-1]
        if fnmatch.fnmatchcase(target, rule.lstrip("/")):
            ignored = not keep
    return ignored
