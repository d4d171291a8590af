"""Run the learner's notebooks end to end, as a fresh kernel would: tools/run_notebooks.py.

Executes each notebook of notebooks/ (or those named) top to bottom with nbclient, in the
notebooks/ folder, without writing its outputs back (the notebooks are stored without
outputs), and prints how long each took. Exits 1 if a cell fails, naming the notebook,
the cell and the error; CI runs it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from scripts.cli import Parser, about, integer_in

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run(path: Path, timeout: int) -> float:
    """Execute the notebook at `path`; its seconds. Raises CellExecutionError."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="tools/run_notebooks.py", description=about(__doc__))
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: all of notebooks/)")
    parser.add_argument("--timeout", type=integer_in(1), default=300,
                        help="seconds a cell may take (default: %(default)s)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            print(f"tools/run_notebooks.py: error: {path}: no such notebook", file=sys.stderr)
            return 2
    total, failed = 0.0, 0
    for path in paths:
        try:
            seconds = run(path, args.timeout)
        except CellExecutionError as e:
            failed += 1
            error = next((line for line in str(e).splitlines()[::-1] if line.strip()), "")
            print(f"{path.name}: FAILED: {error}")
            continue
        total += seconds
        print(f"{path.name}: ran in {seconds:.0f} s")
    print(f"{len(paths) - failed} of {len(paths)} notebooks ran, in {total:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
