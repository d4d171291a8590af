"""`python -m numpy_impl`: the same as `scripts/train.py --impl numpy`, with NumPy alone."""

import sys

from numpy_impl.cli import main, numpy_trainer

sys.exit(main(sys.argv[1:], prog="python -m numpy_impl", trainers={"numpy": numpy_trainer}))
