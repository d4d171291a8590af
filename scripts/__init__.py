"""The scripts learners run. A script run as a program (python scripts/train.py, or
tools/bench.py) sets up how it ends here, before its slow imports (scripts/exits.py): a
signal even during start-up is one line."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if sys.argv and sys.argv[0] and Path(sys.argv[0]).resolve().parent in (HERE, HERE.parent / "tools"):
    from scripts import exits

    exits.start()
