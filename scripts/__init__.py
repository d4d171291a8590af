"""The scripts learners run. A script run as a program (python scripts/train.py, or
tools/bench.py) sets up how it ends here, before its slow imports (scripts/exits.py): a
signal even during start-up is one line."""

import os
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
if sys.argv and sys.argv[0] and os.path.dirname(os.path.realpath(sys.argv[0])) in (
        HERE, os.path.join(os.path.dirname(HERE), "tools")):
    from scripts import exits

    exits.set_up()
