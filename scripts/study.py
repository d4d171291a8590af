"""The chapter's claims, measured across seeds: hidden x output activations, book vs exact.

    python scripts/study.py                  # 10 seeds: 5 to 7 minutes on 2 CPU cores
    python scripts/study.py --quick          # a smoke test: 3 seeds, 30 iterations, < 1 minute
    python scripts/study.py --out docs/study # redraw the results the README quotes

1. Selection, never on the test set: for each hidden {sigmoid, tanh, relu} x output
   {sigmoid, softmax}, every alpha x init scale of a small grid trains (exact mode) on 800
   of the 1000 training images and is scored on the other 200, over 3 folds (k-fold cross-
   validation); the best mean of the last few validation scores wins.
2. Test: each combination, at its chosen alpha and init, trains on all 1000 training images
   once per seed and is scored on the 10000 test images.
3. Book vs exact: each hidden activation {relu, sigmoid, tanh} at each listing's own
   settings (alpha, initial scales, D, iterations), in both modes.

Models train many at once (scripts/stacked.py), on the GPU when there is one. Seeds pair
the runs: seed s gives every model the same uniform draws for its initial weights and the
same dropout masks, so comparisons are made seed by seed. Writes study.md (the tables, which
claims held, and the scripts/train.py command that trains each model), study.json (every
model's curves) and study.png (curves, 95% bands). --quick is a smoke test of the machinery:
its tables say so, and it states no verdicts.
"""

from __future__ import annotations

import scripts  # noqa: F401  first: a signal during the imports below is one line

# isort: split

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ch9_shared.config import PRESETS, Config, ConfigError
from ch9_shared.data import SHIPPED, DataError, Dataset, load
from ch9_shared.files import OutputError, distinct, writable_files, write_atomically
from ch9_shared.loop import Diverged, LogRecord, train
from ch9_shared.threads import one_thread
from numpy_impl import activations as numpy_act
from numpy_impl.fast import FastNetwork
from scripts import chapter_figures as figures
from scripts.cli import (
    DEVICE_CHOICES,
    CliError,
    Parser,
    about,
    as_flags,
    command_line,
    exit_with,
    idx_files,
    imports_of_the_torch_extra,
    need_matplotlib,
)

with imports_of_the_torch_extra("scripts/study.py"):
    import scipy.stats

HIDDEN = ("sigmoid", "tanh", "relu")
OUTPUT = ("sigmoid", "softmax")
ALPHAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
INITS = {"listing 1": (0.01, 0.1), "listing 2": (0.01, 0.01)}
"""The grid: alpha with D = batch * classes, and (init_0_1, init_1_2) of the two listings."""
VALIDATION = 200
"""Training images each fold of the selection holds out (of the chapter's 1000)."""
QUICK_TEST_SIZE = 1000
"""--quick scores on the first 1000 test images: a smoke test needs no more."""
LAST_POINTS = 5
"""Selection scores the mean of a curve's last 5 points (full study: iterations 261 to 300)."""
FILES = ("study.md", "study.json", "study.png")
"""What it writes in --out."""


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and the 95% interval of the mean (Student's t)."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        n, mean = len(values), statistics.fmean(values)
        if n < 2:
            return cls(mean, math.nan, math.nan, math.nan, n)
        std = statistics.stdev(values)
        half = t_975(n - 1) * std / math.sqrt(n)
        return cls(mean, std, mean - half, mean + half, n)

    def verdict(self, yes: str, no: str) -> str:
        """For a difference: which side its 95% interval lies on, if it lies on one."""
        if self.low > 0:
            return yes
        if self.high < 0:
            return no
        return "not resolved at 95%"

    def difference(self) -> str:
        """A difference of accuracies in points, with its interval: "+1.16 [+0.89, +1.44]"."""
        return f"{100 * self.mean:+.2f} [{100 * self.low:+.2f}, {100 * self.high:+.2f}]"

    def cells(self, scale: float = 100) -> str:
        return (f"{scale * self.mean:.2f} | {scale * self.std:.2f} "
                f"| [{scale * self.low:.2f}, {scale * self.high:.2f}]")


def t_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with `dof` degrees of freedom (scipy.stats)."""
    return float(scipy.stats.t.ppf(0.975, dof))


@dataclass
class Group:
    """Models trained as one stack: their test curves, which diverged, and the time."""

    configs: list[Config]
    curves: list[list[float]]  # test accuracy at each logged iteration and at the end, per seed
    train_curves: list[list[float]]  # train accuracy at each logged iteration, per seed
    logs: list[list[str]]  # each model's log, as scripts/train.py prints it
    iterations: list[int]  # how many iterations each point comes after
    diverged: list[bool]
    seconds_per_model: float

    @property
    def final(self) -> list[float]:
        return [curve[-1] for curve in self.curves]

    def minus(self, other: Group) -> Summary:
        """This group's final accuracy minus the other's, seed by seed (paired)."""
        return Summary.of([a - b for a, b in zip(self.final, other.final, strict=True)])


def train_group(name: str, configs: list[Config], data: Dataset, device: str) -> Group:
    from scripts.stacked import train_stack

    run = train_stack(configs, data, device)
    size = len(data.test_labels)
    curves = [[r.test_correct / size for r in log] + [final / size]
              for log, final in zip(run.logs, run.final, strict=True)]
    train_curves = [[r.train_correct / r.train_size for r in log] for log in run.logs]
    iterations = [r.iteration + 1 for r in run.logs[0]] + [configs[0].iterations]
    print(f"  {name}: {run.seconds:.1f} s for {len(configs)} models", file=sys.stderr)
    return Group(configs, curves, train_curves, [[str(r) for r in log] for log in run.logs],
                 iterations, [d is not None for d in run.diverged], run.seconds / len(configs))


def rerun(group: Group, data: Dataset) -> str:
    """Seed 1's model again, trained as its scripts/train.py command trains it
    (ch9_shared/loop.py, summing in another order than the stack): the same log, or how far
    rounding took a chaotic run."""
    records: list[LogRecord] = []
    try:
        train(FastNetwork(group.configs[0]), data, records.append)
    except Diverged as e:
        return f"{as_flags(e)} ({'as' if group.diverged[0] else 'unlike'} the stack's model)"
    lines, stacks = [str(r) for r in records], group.logs[0]
    if lines == stacks:
        return "the same log"
    differ = (sum(a != b for a, b in zip(lines, stacks, strict=False))
              + abs(len(lines) - len(stacks)))
    return (f"{differ} of {max(len(lines), len(stacks))} lines differ: a chaotic run, where "
            f"rounding decides (its last line {lines[-1]}; the stack's {stacks[-1]})")


def split(data: Dataset, fold: int) -> Dataset:
    """Fold k of the cross-validation: validate on training images 200 k to 200 k + 199, train
    on the other 800, in their order. No test image is in either part."""
    held = np.arange(VALIDATION * fold, VALIDATION * (fold + 1))
    kept = np.setdiff1d(np.arange(len(data.train_labels)), held)
    return Dataset(data.train_images[kept], data.train_labels[kept],
                   data.train_images[held], data.train_labels[held])


def select(base: Config, data: Dataset, folds: int, alphas: tuple[float, ...],
           inits: dict[str, tuple[float, float]], device: str) -> tuple[Config, dict[str, float]]:
    """`base` at the grid point with the best late validation accuracy (the mean of the last
    LAST_POINTS points of its curve, less noisy than the last alone), averaged over `folds` folds
    (fold k with seed k + 1; the first point wins a tie), and every point's score; a point
    that diverged in any fold scores -inf. Each fold's grid is one stack."""
    points = {f"alpha {alpha}, init {init}": dict(alpha=alpha, init_0_1=inits[init][0],
                                                  init_1_2=inits[init][1])
              for alpha in alphas for init in inits}
    late: dict[str, list[float]] = {name: [] for name in points}
    for fold in range(folds):
        validation = split(data, fold)
        small = base.replace(train_size=len(validation.train_labels), test_size=VALIDATION,
                             seed=fold + 1)
        group = train_group(f"select {base.hidden}/{base.output}, fold {fold + 1}/{folds}",
                            [small.replace(**point) for point in points.values()],
                            validation, device)
        for name, curve, diverged in zip(points, group.curves, group.diverged, strict=True):
            late[name].append(-math.inf if diverged else statistics.fmean(curve[-LAST_POINTS:]))
    scores = {name: statistics.fmean(values) for name, values in late.items()}
    best = max(points, key=scores.__getitem__)
    return base.replace(**points[best]), scores


def activation_seconds(repeats: int, device: str = "cpu"
                       ) -> dict[str, dict[str, dict[str, float]]]:
    """Seconds for the forward pass and for the derivative (from the output) of each hidden
    activation on a (100, 1000) array: the chapter's NumPy functions and torch's (on the
    study's device, synchronized around the timing), in both dtypes (torch's float64 not on
    MPS, which has none). Keyed by "library dtype", then "forward" or "derivative", then
    activation."""
    import torch

    from torch_impl import activations as torch_act
    from torch_impl.device import resolve_device, runs_dtype, synchronize

    device = resolve_device(device, torch.float32)

    def seconds(function, array) -> float:
        function(array)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            function(array)
        synchronize(device)
        return (time.perf_counter() - start) / repeats

    result: dict[str, dict[str, dict[str, float]]] = {}
    for dtype in ("float64", "float32"):
        x = np.random.default_rng(0).standard_normal((100, 1000)).astype(dtype)
        tables = [("NumPy", numpy_act.HIDDEN, x)]
        if runs_dtype(device, getattr(torch, dtype)):  # MPS: no torch float64
            tables.append(("torch", torch_act.HIDDEN, torch.from_numpy(x).to(device)))
        for library, table, array in tables:
            passes = result[f"{library} {dtype}"] = {"forward": {}, "derivative": {}}
            for name in HIDDEN:
                activation = table[name]
                passes["forward"][name] = seconds(activation.forward, array)
                passes["derivative"][name] = seconds(activation.deriv, activation.forward(array))
    return result


NOT_A_FINDING = "not a finding"
"""The verdict of every comparison of a --quick run: it tests the machinery, not the claims."""


def claims(grid: dict[tuple[str, str], Group], finding: bool) -> list[dict[str, object]]:
    """The chapter's two claims about accuracy, as differences seed by seed."""
    rows = []

    def compare(claim: str, name: str, a: Group, b: Group, yes: str, no: str) -> None:
        difference = a.minus(b)
        rows.append({"claim": claim, "comparison": name, "difference": difference.__dict__,
                     "verdict": difference.verdict(yes, no) if finding else NOT_A_FINDING})

    for output in OUTPUT:
        compare("tanh beats sigmoid in the hidden layer", f"{output} output: tanh - sigmoid",
                grid["tanh", output], grid["sigmoid", output], "held", "reversed")
    for hidden in HIDDEN:
        compare("softmax beats sigmoid at the output", f"{hidden} hidden: softmax - sigmoid",
                grid[hidden, "softmax"], grid[hidden, "sigmoid"], "held", "reversed")
    return rows


def table(groups: list[tuple[str, Group]], alphas: list[float]) -> list[str]:
    """One row per named group: its settings and its final test accuracy across seeds."""
    lines = ["| setting | mode | alpha | init (0_1, 1_2) | mean | std | 95% interval "
             "| diverged | s / model |", "|---|---|---|---|---|---|---|---|---|"]
    for name, group in groups:
        c = group.configs[0]
        edge = " (grid's edge)" if len(alphas) > 1 and c.alpha in (alphas[0], alphas[-1]) else ""
        lines.append(f"| {name} | {c.mode} | {c.alpha}{edge} | {c.init_0_1}, {c.init_1_2} "
                     f"| {Summary.of(group.final).cells()} | {sum(group.diverged)} "
                     f"| {group.seconds_per_model:.2f} |")
    return lines


def speed_rows(speed: dict[str, dict[str, dict[str, float]]], finding: bool) -> list[str]:
    lines = []
    for library, passes in speed.items():
        timings = "; ".join(f"{step}: " + ", ".join(f"{name} {1e6 * t:.0f} us"
                                                     for name, t in seconds.items())
                            for step, seconds in passes.items())
        verdicts = ", ".join(
            f"{step}: {'held' if min(s, key=s.__getitem__) == 'relu' else 'not held'}"
            for step, s in passes.items()) if finding else NOT_A_FINDING
        lines.append(f"| ReLU is popular because it is cheap to compute | {library}, "
                     f"(100, 1000): {timings} | | {verdicts} (a timing) |")
    return lines


def selection_table(grid: dict[tuple[str, str], Group],
                    selection: dict[tuple[str, str], dict[str, float]]) -> list[str]:
    """Every grid point's validation score for every combination; the chosen ones in bold."""
    lines = ["| alpha, init | " + " | ".join(f"{h}/{o}" for h, o in grid) + " |",
             "|---|" + "---|" * len(grid)]
    for point in next(iter(selection.values())):
        cells = []
        for key, group in grid.items():
            score = selection[key][point]
            text = "diverged" if score == -math.inf else f"{100 * score:.1f}"
            c = group.configs[0]
            chosen = point == f"alpha {c.alpha}, init {init_name(c)}"
            cells.append(f"**{text}**" if chosen else text)
        lines.append(f"| {point} | " + " | ".join(cells) + " |")
    return lines


def quirk_rows(quirk: dict[tuple[str, str, str], Group], finding: bool) -> list[dict]:
    """What book mode's quirk does to each hidden activation at each listing's settings:
    exact minus book, seed by seed."""
    rows = []
    for preset, hidden, mode in quirk:
        if mode == "book":
            d = quirk[preset, hidden, "exact"].minus(quirk[preset, hidden, "book"])
            rows.append({"listing": preset, "hidden": hidden, "difference": d.__dict__,
                         "verdict": d.verdict("the quirk costs accuracy", "the quirk gains")
                         if finding else NOT_A_FINDING})
    return rows


def commands(groups: list[tuple[str, Group]], reruns: dict[str, str]) -> list[str]:
    """The scripts/train.py command that trains each group's model for seed 1, and what it
    printed when the study ran it."""
    return ["| setting | seed 1 (change --seed for the others) | run by the study |",
            "|---|---|---|",
            *[f"| {name} | `{command_line(group.configs[0])}` | {reruns[name]} |"
              for name, group in groups]]


def grid_name(hidden: str, output: str) -> str:
    return f"{hidden}/{output}"


def quirk_name(listing: str, hidden: str, mode: str) -> str:
    return f"{listing} listing, {hidden} hidden, {mode}"


def named(grid: dict[tuple[str, str], Group], quirk: dict[tuple[str, str, str], Group]
          ) -> list[tuple[str, Group]]:
    """Every group of the study under its name in the tables (and in the reruns' keys)."""
    return ([(grid_name(*key), g) for key, g in grid.items()]
            + [(quirk_name(*key), g) for key, g in quirk.items()])


def report(grid: dict[tuple[str, str], Group],
           selection: dict[tuple[str, str], dict[str, float]],
           quirk: dict[tuple[str, str, str], Group],
           speed: dict[str, dict[str, dict[str, float]]], reruns: dict[str, str],
           settings: dict) -> tuple[str, dict]:
    """The Markdown report and the JSON document."""
    finding = not settings["quick"]
    found, quirk_found = claims(grid, finding), quirk_rows(quirk, finding)
    smoke = ([f"**A smoke test (`--quick`): {settings['iterations']} iterations, "
              f"{settings['seeds']} seeds, a {len(settings['alphas'])}-point grid, "
              f"{settings['test_size']} test images. Not a finding.**", ""]
             if not finding else [])
    named_grid = named(grid, {})
    named_quirk = [(f"{p} listing, {h} hidden", g) for (p, h, _), g in quirk.items()]
    lines = [*smoke, f"Test accuracy (%) on the {settings['test_size']} test images after "
             f"{settings['iterations']} iterations, {settings['seeds']} seeds; mean, standard "
             "deviation, 95% interval of the mean.", "",
             *table(named_grid, settings["alphas"]), "", *smoke,
             "| the chapter says | comparison | difference (points), 95% interval | verdict |",
             "|---|---|---|---|"]
    for row in found:
        lines.append(f"| {row['claim']} | {row['comparison']} "
                     f"| {Summary(**row['difference']).difference()} | {row['verdict']} |")
    lines += [*speed_rows(speed, finding), "", *smoke,
              "Book mode vs exact mode: each hidden activation at each listing's own settings "
              "(alpha, initial scales, D, iterations):", "", *table(named_quirk, []), "",
              "| listing | hidden | exact - book (points), 95% interval | verdict |",
              "|---|---|---|---|"]
    for row in quirk_found:
        lines.append(f"| {row['listing']} | {row['hidden']} "
                     f"| {Summary(**row['difference']).difference()} | {row['verdict']} |")
    lines += ["", *smoke, f"Selection: late validation accuracy (%) of each grid point (the mean "
              f"of its last {LAST_POINTS} logged points), averaged over {settings['folds']} "
              "folds of 200 training images (never the test set); the chosen point in bold.", "",
              *selection_table(grid, selection), "",
              "Every model above, again: `scripts/train.py` trains the same network with the "
              "same initial weights and dropout masks. The study runs each seed-1 command and "
              "says whether it printed the model's log: it adds in another order than the "
              "stack, so a chaotic run (a large learning rate) may stray in its last digits.",
              "", *commands(named(grid, quirk), reruns)]

    def entry(name: str, group: Group) -> dict:
        c = group.configs[0]
        return {"mode": c.mode, "alpha": c.alpha, "init": [c.init_0_1, c.init_1_2],
                "seeds": [c.seed for c in group.configs], "command": command_line(c),
                "rerun": reruns[name],
                "test_accuracy": Summary.of(group.final).__dict__, "final": group.final,
                "iterations": group.iterations, "curves": group.curves,
                "train_curves": group.train_curves,
                "diverged": group.diverged, "seconds_per_model": group.seconds_per_model}

    document = {
        "settings": settings,
        "combinations": [{"hidden": h, "output": o, **entry(grid_name(h, o), g),
                          "validation": {point: None if score == -math.inf else score
                                         for point, score in selection[h, o].items()}}
                         for (h, o), g in grid.items()],
        "claims": found,
        "quirk_groups": [{"listing": p, "hidden": h, **entry(quirk_name(p, h, m), g)}
                         for (p, h, m), g in quirk.items()],
        "quirk": quirk_found,
        "activation_seconds": speed,
    }
    return "\n".join(lines) + "\n", document


def init_name(config: Config) -> str:
    return next(name for name, scales in INITS.items()
                if scales == (config.init_0_1, config.init_1_2))


def bands(groups: dict[str, Group]) -> dict[str, figures.Band]:
    """Each group's mean curve and its 95% interval at every logged iteration."""
    result = {}
    for name, group in groups.items():
        at = [Summary.of(list(values)) for values in zip(*group.curves, strict=True)]
        result[name] = figures.Band(group.iterations, [s.mean for s in at], [s.low for s in at],
                                    [s.high for s in at])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="scripts/study.py", description=about(__doc__))
    parser.add_argument("--quick", action="store_true",
                        help="30 iterations, 3 seeds, a 2-point grid: a smoke test")
    parser.add_argument("--seeds", type=int, help="seeds 1..N per setting (default: 10; "
                        "--quick: 3)")
    parser.add_argument("--folds", type=int, help="cross-validation folds of the selection, "
                        "1 to 5 (default: 3; --quick: 1)")
    parser.add_argument("--out", type=Path, default=Path("study"),
                        help="folder for study.md, study.json, study.png (default: study)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                        help="float64 (default): every model is exactly the one its "
                        "scripts/train.py command trains; float32: about twice as fast, the "
                        "same models up to rounding, which chaotic runs at large learning "
                        "rates amplify")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else 3 if args.quick else 10
    folds = args.folds if args.folds is not None else 1 if args.quick else 3
    if seeds < 2:
        parser.error(f"--seeds must be at least 2 (a spread needs two), got {seeds}")
    if not 1 <= folds <= 5:
        parser.error(f"--folds must be from 1 to 5 (1000 training images, 200 a fold), "
                     f"got {folds}")
    with imports_of_the_torch_extra("scripts/study.py"):
        import torch  # noqa: F401  the study trains with torch (scripts/stacked.py)
    try:  # before minutes of training, not after
        outputs = writable_files("--out", args.out, FILES)
        distinct({"--out": outputs}, {"the run": idx_files(SHIPPED)})
        need_matplotlib(None)  # without it the study writes no study.png, and says so
    except (CliError, OutputError) as e:
        print(f"scripts/study.py: error: {as_flags(e)}", file=sys.stderr)
        return 2
    with one_thread():  # the thread policy of every run (ch9_shared/threads.py)
        return run(args, seeds, folds)


def run(args: argparse.Namespace, seeds: int, folds: int) -> int:
    """Train every group, write study.md, study.json and study.png; the exit status."""
    from scripts.cli import device_flag

    start = time.perf_counter()
    iterations = 30 if args.quick else 300
    alphas = (0.5, 2.0) if args.quick else ALPHAS
    inits = {"listing 2": INITS["listing 2"]} if args.quick else INITS
    test_size = QUICK_TEST_SIZE if args.quick else Config().test_size
    base = Config(mode="exact", divisor="batch*classes", dtype=args.dtype,
                  iterations=iterations, test_size=test_size)
    seed_list = list(range(1, seeds + 1))
    try:
        device = str(device_flag(args.device, args.dtype))
        data = load(test_size=test_size)
        grid, selection = {}, {}
        for hidden in HIDDEN:
            for output in OUTPUT:
                chosen, selection[hidden, output] = select(
                    base.replace(hidden=hidden, output=output), data,
                    folds, alphas, inits, device)
                grid[hidden, output] = train_group(
                    f"{hidden}/{output}", [chosen.replace(seed=s) for s in seed_list], data,
                    device)
        quirk = {}
        for preset, listing in PRESETS.items():
            for hidden in HIDDEN:
                for mode in ("book", "exact"):
                    config = listing.replace(hidden=hidden, mode=mode, dtype=args.dtype,
                                             iterations=min(listing.iterations, iterations),
                                             test_size=test_size)
                    quirk[preset, hidden, mode] = train_group(
                        f"{preset} listing, {hidden} hidden, {mode}",
                        [config.replace(seed=s) for s in seed_list], data, device)
    except (ConfigError, DataError) as e:
        print(f"scripts/study.py: error: {as_flags(e)}", file=sys.stderr)
        return 2

    settings = {"seeds": seeds, "folds": folds, "iterations": iterations, "test_size": test_size,
                "alphas": list(alphas), "inits": inits, "dtype": args.dtype,
                "validation": VALIDATION, "quick": args.quick,
                "device": device}
    speed = activation_seconds(30 if args.quick else 300, device)
    reruns = {name: rerun(group, data) for name, group in named(grid, quirk)}
    markdown, document = report(grid, selection, quirk, speed, reruns, settings)
    document["seconds"] = time.perf_counter() - start
    markdown += (f"\nThe whole study: {document['seconds']:.0f} s on {settings['device']} "
                 f"({os.cpu_count()} CPU cores), `scripts/study.py"
                 f"{' --quick' if args.quick else ''}`.\n")
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomically(args.out / "study.md", lambda f: f.write(markdown.encode()))
    text = json.dumps(document, indent=1)
    write_atomically(args.out / "study.json", lambda f: f.write(text.encode()))
    try:
        figures.accuracy_bands(
            {"hidden x output (exact mode)": bands({f"{h}/{o}": g for (h, o), g in grid.items()}),
             "book vs exact, each listing's own hidden and sigmoid": bands(
                 {f"{p} listing, {h}, {m}": g for (p, h, m), g in quirk.items()
                  if h in (p, "sigmoid")})},
            args.out / "study.png", f"test accuracy, mean and 95% band over {seeds} seeds")
    except ImportError:
        print("scripts/study.py: no matplotlib, so no study.png: pip install -e '.[plot]'",
              file=sys.stderr)
    print(markdown)
    print(f"wrote {args.out}/study.md, study.json, study.png in "
          f"{document['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_with(main)
