"""`python -m torch_impl`: the same as `scripts/train.py --impl torch` (or --impl idiomatic)."""

import sys

from numpy_impl.cli import main
from torch_impl.datasets import fetch
from torch_impl.idiomatic import idiomatic_trainer
from torch_impl.train import torch_trainer

sys.exit(main(sys.argv[1:], prog="python -m torch_impl",
              trainers={"torch": torch_trainer, "idiomatic": idiomatic_trainer},
              fetch=fetch, default_impl="torch"))
