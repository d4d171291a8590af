"""The command line the scripts share: argparse, the flags, the one-line usage error, the
broken-pipe exit, and the one adapter from parsed flags to the training loop
(`train_from_flags`, for `scripts/train.py`).

Standard output carries exactly the book's log lines; everything else goes to standard error.
Bad input is one line on standard error and exit status 2, never a traceback. The libraries
know no flags: their errors name a field in backquotes (`batch_size`), and `as_flags` turns
it into the flag (--batch-size). torch is imported only for --impl torch, --impl idiomatic
and --download, so the NumPy side runs where torch is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, NoReturn

import numpy as np

from ch9_shared import data
from ch9_shared.checkpoint import IMPLS, CheckpointError, load_checkpoint, save_checkpoint
from ch9_shared.config import (
    DIVISOR_CHOICES,
    DTYPE_CHOICES,
    HIDDEN_CHOICES,
    MODE_CHOICES,
    OUTPUT_CHOICES,
    PRESETS,
    Config,
    ConfigError,
)
from ch9_shared.files import (
    OutputError,
    distinct,
    file_path,
    writable_file,
    writable_files,
    write_atomically,
)
from ch9_shared.loop import Diverged, LogRecord, Model, Saving, train
from numpy_impl.fast import FastNetwork
from numpy_impl.network import book_slope_flips_at_start
from scripts import exits

Log = Callable[[LogRecord], None]
Progress = Callable[[int], None]


class Trained(NamedTuple):
    """What a training hands back: the device it ran on and how (for the summary line), and
    the final weights as NumPy arrays."""

    how_it_ran: str
    weights_0_1: np.ndarray
    weights_1_2: np.ndarray


IMPL_DEFAULTS = {"numpy": ("book", "numpy"), "torch": ("book", "numpy"),
                 "idiomatic": ("exact", "torch")}
"""Each implementation (ch9_shared/checkpoint.py's IMPLS)'s --mode and --rng when they are
not given."""

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
NEEDS_TORCH = "needs torch and torchvision ({}): pip install -e '.[torch]'"


def default_cache() -> Path | None:
    """$XDG_CACHE_HOME/grokking-ch9, else ~/.cache/grokking-ch9; None where there is no home
    folder (HOME unset and no passwd entry: a container's --user 4242)."""
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "grokking-ch9"
    try:
        return Path.home() / ".cache" / "grokking-ch9"
    except (RuntimeError, KeyError):
        return None


# Flags that override a field of the preset's Config, in the order --help lists them.
OVERRIDES = ("iterations", "batch_size", "alpha", "hidden_size", "hidden", "output",
             "softmax_base", "init_0_1", "init_1_2", "divisor", "train_size", "test_size",
             "dtype", "log_every")


class CliError(Exception):
    """Input the run cannot use; printed as one line, exit status 2."""


def stdout_closed_early() -> int:
    """The reader of standard output left (`| head`): stop quietly, with status 141 as Unix
    tools do."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141


def exit_with(main: Callable[[], int], prog: str | None = None,
              verdict: bool = False) -> NoReturn:
    """sys.exit(main()), quietly when the reader of standard output leaves, and in one line
    with the right status whatever else ends it (scripts/exits.py): a signal (128 + its
    number), a failure of the machine (1), input the run cannot use (2). With `verdict` (a
    script whose 1 is its answer: not close, not passed), a failure of the machine is 2."""
    exits.set_up()
    prog = prog or exits.program()
    try:
        status = main()
    except SystemExit as e:  # argparse's --help and usage errors: their words flushed below
        status = e.code
    except BrokenPipeError:
        status = stdout_closed_early()
    except (KeyboardInterrupt, MemoryError, OSError, RuntimeError) as e:
        status = exits.line_and_status(prog, e)
        if status is None:
            raise
        if verdict and status == 1:
            status = 2
    try:
        if sys.stdout is not None:
            sys.stdout.flush()  # here, not at exit, where a reader gone is "Exception ignored"
    except BrokenPipeError:
        status = stdout_closed_early()
    exits.let_signals_by()
    sys.exit(status)


FIELD = re.compile(r"`([a-z][a-z0-9_]*)`")


def as_flags(error: object) -> str:
    """A library's message with each field it names in backquotes (`batch_size`) written as
    the flag that sets it (--batch-size), on one line (control characters escaped)."""
    return exits.one_line(FIELD.sub(lambda field: "--" + field[1].replace("_", "-"), str(error)))


def about(doc: str | None) -> str | None:
    """A script's docstring's first paragraph, for --help; None under `python -OO`, which
    drops docstrings."""
    return doc.split("\n\n")[0] if doc else None


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(2, exits.one_line(f"{self.prog}: error: {message} (see --help)") + "\n")


def output_file(text: str) -> Path:
    """An argparse type: the path of a file to write, refused at once where it names a
    folder (ch9_shared.files.file_path: `--save ckpts/` is refused)."""
    try:
        return file_path(text)
    except OutputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def integer_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value >= high):
            bounds = f"at least {low}" if high is None else f"in [{low}, {high})"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value
    return parse


positive_int = integer_in(1)


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """--preset, --mode, --seed and the hyperparameters: what makes a run's Config."""
    p.add_argument("--preset", choices=tuple(PRESETS), default="tanh",
                   help="tanh: the book's listing; relu: the chapter's ReLU listing "
                   "(default: %(default)s)")
    p.add_argument("--mode", choices=MODE_CHOICES,
                   help="book: the listings' backward, quirk included; exact: the true gradient "
                   "(default: book; --impl idiomatic: exact, its only mode)")
    p.add_argument("--seed", type=integer_in(0, 2**32), default=1,
                   help="RandomState seed (default: 1)")
    g = p.add_argument_group("hyperparameters (default: the preset's)")
    g.add_argument("--iterations", type=positive_int, help="passes over the training set")
    g.add_argument("--batch-size", type=positive_int)
    g.add_argument("--alpha", type=positive_float, help="learning rate")
    g.add_argument("--hidden-size", type=positive_int)
    g.add_argument("--hidden", choices=HIDDEN_CHOICES, help="hidden activation")
    g.add_argument("--output", choices=OUTPUT_CHOICES, help="output layer and its loss")
    g.add_argument("--softmax-base", type=positive_float, help="softmax's base (e by default)")
    g.add_argument("--init-0-1", type=positive_float, metavar="S",
                   help="weights_0_1 starts uniform in [-S, S) (0.01)")
    g.add_argument("--init-1-2", type=positive_float, metavar="S",
                   help="weights_1_2 starts uniform in [-S, S) (tanh: 0.1, relu: 0.01)")
    g.add_argument("--divisor", choices=DIVISOR_CHOICES,
                   help="D of the output delta (layer_2 - labels) / D (tanh: batch*batch, "
                   "relu: batch*classes)")
    g.add_argument("--train-size", type=positive_int, help="first N training images (1000)")
    g.add_argument("--test-size", type=positive_int, help="first N test images (10000)")
    g.add_argument("--dtype", choices=DTYPE_CHOICES, help="float64 (default) or float32")
    g.add_argument("--log-every", type=positive_int, help="log every N-th iteration (10)")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data (default: the chapter's MNIST slice shipped in the package)")
    d.add_argument("--data-dir", type=Path,
                   help="a folder of IDX files (.gz or not), flat or in NAME/raw/")
    d.add_argument("--dataset", choices=tuple(data.DATASETS),
                   help="a full dataset from the cache folder (see --download)")
    d.add_argument("--download", action="store_true",
                   help="fetch --dataset into the cache with torchvision (checks its checksums)")
    d.add_argument("--cache-dir", type=Path,
                   help="where --dataset lives (default: $XDG_CACHE_HOME/grokking-ch9, else "
                   "~/.cache/grokking-ch9)")


def add_device_flag(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                   help="torch's device: auto takes the GPU torch sees (CUDA, or Apple's MPS "
                   "for --dtype float32: it has no float64), else the CPU (default: "
                   "%(default)s)")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="Grokking Deep Learning, chapter 9: an MNIST MLP with tanh/relu, softmax, "
        "dropout and mini-batch SGD. Prints the book's log on standard output.",
        epilog="Defaults reproduce the book's published log (preset tanh, book mode, seed 1).",
    )
    p.add_argument("--impl", choices=IMPLS, default="numpy",
                   help="which implementation trains: numpy by hand, torch (autograd, "
                   "hand-built for parity) or idiomatic (nn.Sequential, nn.Dropout, a "
                   "DataLoader) (default: %(default)s)")
    add_run_flags(p)
    add_data_flags(p)
    o = p.add_argument_group("output (standard output always carries just the log)")
    o.add_argument("--plot", type=Path, metavar="DIR",
                   help="write the run's figures (PNG) to DIR: curves, weight templates, class "
                   "averages, the activation table (needs matplotlib)")
    o.add_argument("--metrics", type=output_file, metavar="PATH",
                   help="write one JSON line per logged iteration: accuracies, losses, seconds, "
                   "impl, mode, config")
    o.add_argument("--save", type=output_file, metavar="PATH",
                   help="write a checkpoint here at the end (and see --save-every)")
    o.add_argument("--save-every", type=positive_int, metavar="N",
                   help="also write the checkpoint every N iterations")
    o.add_argument("--resume", type=Path, metavar="PATH",
                   help="go on from a checkpoint (pass the original run's flags; --iterations "
                   "may grow)")
    o.add_argument("--quiet", action="store_true",
                   help="no progress bar, no notes and no summary on standard error")
    t = p.add_argument_group("torch and idiomatic only")
    add_device_flag(t)
    t.add_argument("--rng", choices=("numpy", "torch"),
                   help="dropout masks from NumPy's RandomState stream (the same numbers as "
                   "--impl numpy) or from a torch.Generator on the device (faster, another "
                   "stream) (default: numpy; --impl idiomatic: torch, its only one)")
    p.set_defaults(prog=prog)  # for a trainer's notes: "PROG: note: ..."
    return p


def resolve_impl_flags(args: argparse.Namespace) -> None:
    """Fill in --mode and --rng by --impl; refuse what the idiomatic model cannot do."""
    mode, rng = IMPL_DEFAULTS[args.impl]
    if args.impl == "idiomatic" and args.mode == "book":
        raise CliError("--impl idiomatic has no book mode: autograd follows the true gradient, "
                       "and the book's quirk needs BookHidden: use --impl torch --mode book")
    if args.impl == "idiomatic" and args.rng == "numpy":
        raise CliError("--impl idiomatic has no --rng numpy: nn.Dropout draws its own masks "
                       "from torch's generator: use --impl torch --rng numpy")
    args.mode = args.mode or mode
    args.rng = args.rng or rng


def config_from_args(args: argparse.Namespace) -> Config:
    """The preset's Config with the flags given on the command line (no --mode: book)."""
    changes = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name) is not None}
    return PRESETS[args.preset].replace(mode=args.mode or "book", seed=args.seed, **changes)


def command_line(config: Config, prog: str = "scripts/train.py") -> str:
    """The command that trains `config`: a flag for each field that differs from the
    default preset (the inverse of config_from_args)."""
    default = PRESETS["tanh"]
    flags = [prog]
    for name in ("mode", "seed", *OVERRIDES):
        if getattr(config, name) != getattr(default, name):
            flags += [f"--{name.replace('_', '-')}", str(getattr(config, name))]
    return shlex.join(flags)


def data_folder(args: argparse.Namespace) -> Path | None:
    """The folder to read, from --data-dir or --dataset (fetching it if asked); None: shipped."""
    if args.data_dir is not None and args.dataset is not None:
        raise CliError("give --data-dir or --dataset, not both")
    if args.download and args.dataset is None:
        raise CliError("--download needs --dataset (mnist, fashion-mnist or kmnist)")
    if args.dataset is None:
        return args.data_dir
    args.cache_dir = args.cache_dir or default_cache()
    if args.cache_dir is None:
        raise CliError("no home folder to keep --dataset in (HOME is not set and this user has "
                       "none): give --cache-dir, or set XDG_CACHE_HOME")
    if args.download:
        return fetch_dataset(args.dataset, args.cache_dir)
    folder = args.cache_dir / data.DATASETS[args.dataset] / "raw"
    if not folder.is_dir():
        raise CliError(f"{args.dataset} is not in {args.cache_dir}: add --download to fetch it "
                       "(or --cache-dir to point at another cache)")
    return folder


def make_model(config: Config, args: argparse.Namespace) -> tuple[Model, str]:
    """The model --impl names, its masks from --rng, and the device it runs on (--device,
    resolved: "cpu", "cuda" or "mps")."""
    if args.impl == "numpy":
        if args.device not in ("auto", "cpu") or args.rng == "torch":
            raise CliError("--device cuda or mps and --rng torch are for --impl torch or "
                           "idiomatic; the NumPy side runs on the CPU with NumPy's RandomState")
        return FastNetwork(config), "cpu"
    with needs_torch(f"--impl {args.impl}"):
        from torch_impl.hand_built import HandBuiltModel
        from torch_impl.idiomatic import Idiomatic
    device = cli_device(args, config)
    if args.impl == "torch":
        return HandBuiltModel(config, device, args.rng), device.type
    return Idiomatic(config, device), device.type


def how_it_ran(args: argparse.Namespace, device: str, config: Config) -> str:
    """The summary line's words for the device and how: the masks' source (--impl torch),
    SGD's learning rate (--impl idiomatic, docs/walkthrough.md section 7)."""
    if args.impl == "numpy":
        return device
    if args.impl == "torch":
        return f"{device} (masks from {args.rng})"
    from torch_impl.idiomatic import learning_rate

    return f"{device} (SGD lr {learning_rate(config):g})"


def train_from_flags(
    config: Config, dataset: data.Dataset, log: Log, progress: Progress, args: argparse.Namespace
) -> Trained:
    """The one adapter from the flags to the training loop: the model, the checkpoint to
    resume from (checked against this run) and where to save one."""
    model, device = make_model(config, args)
    resume = None
    if args.resume is not None:
        resume = load_checkpoint(args.resume)
        resume.check_resumes(config, args.impl, args.resume)
        if not args.quiet:
            print(f"resuming from {args.resume}: {resume.iteration} iterations done",
                  file=sys.stderr)
        if resume.iteration == config.iterations and args.save is not None:
            save_checkpoint(args.save, resume)  # a finished run has nothing to train: a copy
    saving = None if args.save is None else Saving(
        functools.partial(save_checkpoint, args.save), args.impl, args.save_every)
    train(model, dataset, log, progress, resume, saving, device)
    state = model.state()
    return Trained(how_it_ran(args, device, config), state.weights_0_1, state.weights_1_2)


def fetch_dataset(dataset: str, cache_dir: Path) -> Path:
    """--download: the dataset from torchvision into the cache."""
    with needs_torch("--download"):
        from torch_impl.datasets import fetch as torchvision_fetch
    return torchvision_fetch(dataset, cache_dir)


@contextlib.contextmanager
def needs_torch(what: str) -> Iterator[None]:
    """Imports of torch_impl inside the block; without torch, one line on how to install it."""
    try:
        yield
    except ImportError as e:
        raise CliError(f"{what} " + NEEDS_TORCH.format(e)) from None


@contextlib.contextmanager
def imports_of_the_torch_extra(prog: str) -> Iterator[None]:
    """A script's imports of what `pip install -e '.[torch]'` installs (torch, torchvision,
    SciPy), at the top of the script: where they are missing, one line and exit 2."""
    try:
        yield
    except ImportError as e:
        print(f"{prog}: error: {prog} {NEEDS_TORCH.format(e)}", file=sys.stderr)
        raise SystemExit(2) from None


def device_flag(name: str, dtype: str):
    """The torch device --device names, for a run in --dtype: float64 on MPS is refused in
    the flags' words."""
    import torch

    from torch_impl.device import NoFloat64, resolve_device

    try:
        return resolve_device(name, getattr(torch, dtype))
    except NoFloat64:
        raise NoFloat64(f"--device {name} runs only --dtype float32 (Apple's GPUs have no "
                        "float64): add --dtype float32, or use --device cpu") from None


def cli_device(args: argparse.Namespace, config: Config):
    """The device --device names, and its notes on standard error (unless --quiet): float64
    on a GPU, for one."""
    import torch

    from torch_impl.device import notes

    device = device_flag(args.device, config.dtype)
    if not args.quiet:
        for note in notes(device, getattr(torch, config.dtype)):
            print(f"{args.prog}: note: {as_flags(note)}", file=sys.stderr)
    return device


def write_metrics(path: Path, records: list[LogRecord], impl: str, config: Config) -> None:
    """One JSON object per line; a loss that is not finite is written as null. Written beside
    and renamed, so the file is whole or absent."""
    lines = []
    for record in records:
        metrics = {k: (v if math.isfinite(v) else None) for k, v in record.metrics().items()}
        lines.append(json.dumps({**metrics, "impl": impl, "mode": config.mode,
                                 "config": dataclasses.asdict(config)}))
    text = "".join(line + "\n" for line in lines)
    write_atomically(path, lambda f: f.write(text.encode()))


def need_matplotlib(what: str | None = "--plot") -> None:
    """Before a run that draws figures: matplotlib is there (`what` needs it; None where
    figures are optional), and MPLBACKEND, if set, names a backend it knows. matplotlib
    checks MPLBACKEND when it is imported (ValueError), which would be after the training;
    the figures are drawn with Agg whatever it names."""
    backend = os.environ.get("MPLBACKEND", "")
    try:
        import matplotlib  # noqa: F401
        from matplotlib import rcsetup

        if backend:
            rcsetup.validate_backend(backend)  # where matplotlib was imported before
    except ImportError:
        if what is not None:
            raise CliError(f"{what} needs matplotlib: pip install -e '.[plot]'") from None
    except ValueError as e:
        if not backend:
            raise CliError(f"matplotlib cannot start: {e}") from None
        raise CliError(f"MPLBACKEND={backend} is not a matplotlib backend: unset it, or set one "
                       "that matplotlib knows (agg, say); the figures are drawn with Agg "
                       "whatever it names") from None


def write_figures(directory: Path, records: list[LogRecord], impl: str, config: Config,
                  trained: Trained, dataset: data.Dataset) -> list[Path]:
    from scripts.chapter_figures import chapter_figures

    return chapter_figures(directory, {f"{impl}, {config.mode} mode": records},
                           trained.weights_0_1, trained.weights_1_2, dataset.train_images,
                           dataset.train_labels,
                           f"{config.hidden}/{config.output}, seed {config.seed}")


def data_files(args: argparse.Namespace) -> list[Path]:
    """The IDX files a run reads, where they can be found now (a folder that is wrong is
    refused later, by data.load)."""
    if args.data_dir is not None:
        return idx_files(args.data_dir)
    if args.dataset is not None and (cache := args.cache_dir or default_cache()) is not None:
        return idx_files(cache / data.DATASETS[args.dataset] / "raw")
    return idx_files(data.SHIPPED)


def idx_files(folder: Path) -> list[Path]:
    """The IDX files of the dataset in `folder` (flat or in NAME/raw/); none where there is
    none."""
    try:
        folder = data.find_idx_folder(folder)
    except data.DataError:
        return []
    return [path for name in data.FILES.values()
            if (path := data.idx_path(folder, name)) is not None]


def data_flag(args: argparse.Namespace) -> str:
    """The flag that names the data files a run reads (the run's own slice: "the run"), in
    a collision's words."""
    return "--data-dir" if args.data_dir else "--dataset" if args.dataset else "the run"


def check_outputs(args: argparse.Namespace) -> None:
    """Every output path, before anything trains: none is an input (the data, --resume) or
    another output (each figure of --plot included), a file can be written where a file is
    asked for, a folder made where a folder is (its files included); matplotlib is there,
    with a backend it knows, for --plot."""
    from scripts.chapter_figures import CHAPTER_FIGURES

    figures = None if args.plot is None else [args.plot / name for name in CHAPTER_FIGURES]
    same = args.save is not None and args.resume is not None and \
        os.path.realpath(args.save) == os.path.realpath(args.resume)  # a run goes on in place
    distinct({"--save": None if same else args.save, "--metrics": args.metrics,
              "--plot": figures and [args.plot, *figures]},
             {data_flag(args): data_files(args), "--resume": args.resume})
    for flag, path in (("--metrics", args.metrics), ("--save", args.save)):
        if path is not None:
            writable_file(flag, path)
    if args.save_every is not None and args.save is None:
        raise CliError("--save-every needs --save PATH")
    if args.plot is not None:
        writable_files("--plot", args.plot, CHAPTER_FIGURES)
        need_matplotlib()


def main(argv: list[str] | None, *, prog: str) -> int:
    """Parse, check, load, train the model of --impl, print the log; return the exit
    status. The metrics of the logged iterations are written even when a run stops early."""
    args = build_parser(prog).parse_args(argv)
    records: list[LogRecord] = []
    done = 0  # iterations finished, for the line a signal leaves
    status = 0
    try:
        resolve_impl_flags(args)
        config = config_from_args(args)
        check_outputs(args)
        dataset = data.load(data_folder(args), config.train_size, config.test_size)
        pending = [] if args.quiet else notes(config)
        with progress_bar(config.iterations, show=not args.quiet) as bar:
            def announce() -> None:
                """The notes, once training has begun: a trainer's own checks, which may
                refuse the run in one line, come first."""
                with bar.external_write_mode(file=sys.stderr):
                    while pending:
                        print(f"{prog}: note: {pending.pop(0)}", file=sys.stderr)

            def log(record: LogRecord) -> None:
                announce()
                records.append(record)
                with bar.external_write_mode(file=sys.stdout):
                    print(record, flush=True)

            def progress(iteration: int) -> None:
                nonlocal done
                done = iteration + 1
                announce()
                bar.update()

            start = time.perf_counter()
            trained = train_from_flags(config, dataset, log, progress, args)
            seconds = time.perf_counter() - start
        if args.plot is not None:
            write_figures(args.plot, records, args.impl, config, trained, dataset)
    except BrokenPipeError:
        status = stdout_closed_early()
    except (CliError, ConfigError, OutputError, data.DataError, Diverged, CheckpointError) as e:
        exits.say(f"{prog}: error: {as_flags(e)}")
        status = 2
    except OSError as e:
        exits.say(f"{prog}: error: {exits.describe(e)}")
        status = exits.status_of(e)
    except MemoryError:
        exits.say(f"{prog}: error: out of memory: ask for less (a smaller --hidden-size, "
                  "--train-size, --test-size or --batch-size)")
        status = 1
    except KeyboardInterrupt as e:
        exits.say(stopped(prog, e, done, argv, args))
        status = exits.interrupted_status(e)
    if args.metrics is not None and records:
        try:
            write_metrics(args.metrics, records, args.impl, config)
        except OSError as e:
            exits.say(f"{prog}: error: --metrics {args.metrics}: {exits.reason(e)}")
            return status or exits.status_of(e)
    if status == 0 and not args.quiet:
        print(f"{prog}: {args.impl} on {trained.how_it_ran}, {config.mode} mode, "
              f"{config.hidden}/{config.output}, {config.dtype}, {config.iterations} iterations "
              f"in {seconds:.2f} s", file=sys.stderr)
    return status


def stopped(prog: str, signal: KeyboardInterrupt, done: int, argv: list[str] | None,
            args: argparse.Namespace) -> str:
    """The line a signal leaves: where the run stopped, and how to go on."""
    where = f"{prog}: stopped by {exits.signal_name(signal)} after {done} iterations"
    if args.save is None or not args.save.is_file():
        return (f"{where}; no checkpoint was saved (--save PATH --save-every N keeps one to "
                "go on from): run it again")
    flags = list(sys.argv[1:] if argv is None else argv)
    for i, flag in enumerate(flags):
        if flag == "--resume" or flag.startswith("--resume="):
            del flags[i:i + (flag == "--resume") + 1]
            break
    command = shlex.join(["python", prog, *flags, "--resume", str(args.save)])
    return f"{where}; the last checkpoint is {args.save}: go on with {command}"


def notes(config: Config) -> list[str]:
    """What a learner should know before this run starts."""
    found = []
    if config.train_size % config.batch_size:
        found.append(f"the last {config.train_size % config.batch_size} training images do "
                     "not fill a batch and are left out, as in the book")
    if config.mode == "book" and book_slope_flips_at_start(config.hidden):
        found.append(f"in book mode a {config.hidden} hidden layer takes each unit's slope at "
                     f"2t, which has the wrong sign where its units start (t = "
                     f"{config.hidden}(0)): they learn in the wrong direction and the run may "
                     "not learn; --mode exact follows the true gradient")
    return found


def progress_bar(total: int, show: bool):
    """A tqdm bar on standard error, only where it is a terminal, and only for runs longer
    than two seconds; a silent stand-in otherwise."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: one thread fewer that could fail to start
    return tqdm(total=total, file=sys.stderr, unit="it", delay=2, leave=False,
                disable=not (show and sys.stderr.isatty()))
