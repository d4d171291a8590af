"""Check the chapter's backprop exercises: `python scripts/check_exercises.py [ANSWERS.py]`.

Loads ANSWERS.py (default: the blank numpy_impl/exercises.py), checks each of its
functions against numpy_impl's own code (numpy_impl/grading.py), and prints one line per
exercise, then a summary line naming the file. Exits 0 when every exercise passes, 1 when
one does not, 2 when the file cannot be loaded. To grade a class:

    for f in answers/*.py; do python scripts/check_exercises.py "$f"; done
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from numpy_impl import grading
from numpy_impl.cli import _Parser

BLANK = Path(grading.__file__).with_name("exercises.py")


class AnswersError(Exception):
    """A file of answers that cannot be loaded; the message says which and why."""


def load_answers(path: Path) -> ModuleType:
    """Run the file as a module of its own, without a traceback for what goes wrong."""
    if not path.exists():
        raise AnswersError(f"{path}: no such file")
    if path.is_dir():
        raise AnswersError(f"{path}: is a folder; pass a file of answers such as {BLANK.name}")
    spec = importlib.util.spec_from_file_location(f"answers_{path.stem}", path)
    if spec is None or spec.loader is None or path.suffix != ".py":
        raise AnswersError(f"{path}: not a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise AnswersError(f"{path}: cannot be imported: {type(e).__name__}"
                           + (f": {detail}" if detail else "")) from None
    return module


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="scripts/check_exercises.py", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("answers", nargs="?", type=Path, default=BLANK,
                        help="a copy of numpy_impl/exercises.py with your answers "
                             "(default: the blank exercises)")
    args = parser.parse_args(argv)
    try:
        module = load_answers(args.answers)
    except AnswersError as e:
        print(f"scripts/check_exercises.py: error: {e}", file=sys.stderr)
        return 2
    results = grading.check_module(module)
    for result in results:
        print(result)
    passed = sum(result.passed for result in results)
    print(f"{args.answers}: {passed} of {len(results)} passed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
