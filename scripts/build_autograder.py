"""Build a Gradescope autograder: `python scripts/build_autograder.py [--out autograder.zip]`.

The zip holds, at its root, Gradescope's two scripts (scripts/autograder/): setup.sh, which
installs the project with CPU-only torch, and run_autograder, which grades a submission's
file of answers as an unprivileged user who cannot read the solutions and writes
results.json; beside them, the project's source that `pip install` needs. Upload it in the
assignment's Configure Autograder page (docs/exercises.md). The same source gives the
same bytes: every entry has one date.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import zipfile
from pathlib import Path

from ch9_shared.files import OutputError, writable_file, write_atomically
from scripts.cli import Parser, about, exit_with, output_file

ROOT = Path(__file__).resolve().parent.parent
GRADESCOPE = ("setup.sh", "run_autograder")
"""Gradescope's scripts, from scripts/autograder/ to the zip's root."""
SOURCE = ("pyproject.toml", "README.md", "numpy_impl", "torch_impl", "ch9_shared", "exercises",
          "scripts")
"""What `pip install` of the project needs, and the grader."""
DATE = (1980, 1, 1, 0, 0, 0)


def kept(path: Path) -> bool:
    """A file of the project, not a cache or a build's leftover."""
    parts = path.relative_to(ROOT).parts
    return not any(part.startswith(".") or part == "__pycache__" or part.endswith(".egg-info")
                   for part in parts) and path.suffix != ".pyc"


def entries() -> list[tuple[str, Path]]:
    """(name in the zip, file) for every file the autograder needs, in a fixed order."""
    found = [(name, ROOT / "scripts" / "autograder" / name) for name in GRADESCOPE]
    for name in SOURCE:
        path = ROOT / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        found += [(file.relative_to(ROOT).as_posix(), file) for file in files
                  if file.is_file() and kept(file)]
    return found


def autograder_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, file in entries():
            info = zipfile.ZipInfo(name, DATE)
            info.external_attr = (stat.S_IFREG | (0o755 if name in GRADESCOPE else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return out.getvalue()


def packs(out: Path) -> str | None:
    """Why `out` cannot be the zip: a file it packs (through a link too), or a path inside
    a folder it packs (a second build would pack the first zip); None where it can be."""
    target = Path(os.path.realpath(out))
    if target in {Path(os.path.realpath(file)) for _, file in entries()}:
        return f"{out}: that is a file the autograder packs; write the zip elsewhere"
    for name in (*SOURCE, "scripts/autograder"):
        if (ROOT / name).is_dir() and target.is_relative_to(Path(os.path.realpath(ROOT / name))):
            return (f"{out}: inside {name}/, which the autograder packs (a later build would "
                    "pack this zip); write it elsewhere")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="scripts/build_autograder.py", description=about(__doc__))
    parser.add_argument("--out", type=output_file, default=Path("autograder.zip"),
                        metavar="FILE",
                        help="where to write the zip (default: autograder.zip)")
    args = parser.parse_args(argv)
    try:
        writable_file("--out", args.out)
        if why := packs(args.out):
            raise OutputError(f"--out {why}")
    except OutputError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    data = autograder_zip()
    write_atomically(args.out, lambda f: f.write(data))
    print(f"{args.out}: {len(entries())} files, {len(data) / 1e6:.1f} MB; upload it in the "
          "Gradescope assignment's Configure Autograder page")
    return 0


if __name__ == "__main__":
    exit_with(main)
