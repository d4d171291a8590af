"""The map of the house (docs/design.md), held: numpy_impl/ is the chapter alone; the
libraries know no command line and name no flag; nothing imports a script or another
module's `_private` name."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ch9_shared.loop import Diverged
from parity_tests.conftest import REPO
from scripts.cli import as_flags, build_parser

LIBRARIES = ("numpy_impl", "torch_impl", "exercises", "ch9_shared")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "*.py"], cwd=REPO, capture_output=True, encoding="utf-8",
                            check=True).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def library_files() -> list[Path]:
    return [p for p in python_files() if p.relative_to(REPO).parts[0] in LIBRARIES]


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def imported(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of each import statement in the file."""
    found = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_numpy_impl_holds_the_chapter_alone():
    modules = {p.name for p in (REPO / "numpy_impl").iterdir() if p.suffix == ".py"}
    assert modules == {"__init__.py", "activations.py", "listing.py", "network.py", "fast.py"}


def training_loops(module: ast.Module) -> list[int]:
    """The lines of each loop over a run's iterations: `for ... in range(..iterations..)`."""
    return [node.lineno for node in ast.walk(module)
            if isinstance(node, ast.For) and isinstance(node.iter, ast.Call)
            and isinstance(node.iter.func, ast.Name) and node.iter.func.id == "range"
            and "iterations" in ast.unparse(node.iter)]


def test_the_libraries_hold_one_training_loop():
    """ch9_shared/loop.py's; the book's own program (numpy_impl/listing.py) keeps its own."""
    found = {str(p.relative_to(REPO)): training_loops(tree(p)) for p in library_files()
             if p.relative_to(REPO).as_posix() != "numpy_impl/listing.py"}
    assert {name: lines for name, lines in found.items() if lines} == {
        "ch9_shared/loop.py": found["ch9_shared/loop.py"]}
    assert len(found["ch9_shared/loop.py"]) == 1


def test_the_loop_check_catches_a_second_loop():
    module = ast.parse("def train(config):\n"
                       "    for iteration in range(start, config.iterations):\n        pass\n")
    assert training_loops(module) == [2]


PRUNING = ("pixels", "flatnonzero")


def pruning(module: ast.Module) -> list[str]:
    """Each name of pixel pruning the module uses: `pixels`, np.flatnonzero."""
    names = {node.id for node in ast.walk(module) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(module) if isinstance(node, ast.Attribute)}
    names |= {node.arg for node in ast.walk(module) if isinstance(node, ast.arg)}
    return sorted(name for name in names if any(word in name for word in PRUNING))


def test_the_chapters_network_has_no_pixel_pruning():
    """numpy_impl/network.py is the chapter on whole matrices; the pruning is fast.py's."""
    assert pruning(tree(REPO / "numpy_impl" / "network.py")) == []
    assert pruning(tree(REPO / "numpy_impl" / "fast.py")) != []


def test_the_shared_package_imports_neither_side():
    for path in (REPO / "ch9_shared").glob("*.py"):
        tops = {module.split(".")[0] for module, _ in imported(path)}
        assert tops.isdisjoint({"numpy_impl", "torch_impl", "torch", "scripts"}), path


def test_torch_impl_imports_nothing_from_the_numpy_trainer():
    """The torch side takes the loop, the log and the draws from ch9_shared; only the parity
    tables (torch_impl/parity.py) read the NumPy side, and then only its chapter."""
    for path in (REPO / "torch_impl").glob("*.py"):
        numpy_side = {module for module, _ in imported(path) if module.startswith("numpy_impl")}
        expected = {"numpy_impl.network"} if path.name == "parity.py" else set()
        assert numpy_side == expected, path


TABLES = {"HIDDEN": {"relu", "sigmoid", "tanh"}, "OUTPUTS": {"softmax", "sigmoid", "identity"}}


def tables(package: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """Each module-level dict of the package that is a table of hidden activations or of
    output layers: named HIDDEN or OUTPUTS, or under another name with such a table's keys
    (a LOSSES of the output layers' names, say). (file, its keys)."""
    found: dict[str, list[tuple[str, list[str]]]] = {name: [] for name in TABLES}
    for path in sorted(package.glob("*.py")):
        for node in tree(path).body:
            target = node.targets[0] if isinstance(node, ast.Assign) else getattr(
                node, "target", None)
            if not isinstance(target, ast.Name) or not isinstance(node.value, ast.Dict):
                continue
            keys = [key.value for key in node.value.keys if isinstance(key, ast.Constant)]
            for name, names in TABLES.items():
                if target.id == name or set(keys) == names:
                    found[name].append((path.name, keys))
    return found


def test_one_table_of_hidden_activations_and_one_of_output_layers_a_side_with_the_same_names():
    numpy_side, torch_side = tables(REPO / "numpy_impl"), tables(REPO / "torch_impl")
    for name, names in TABLES.items():
        assert len(numpy_side[name]) == len(torch_side[name]) == 1, (name, numpy_side,
                                                                     torch_side)
        assert set(numpy_side[name][0][1]) == set(torch_side[name][0][1]) == names


def test_the_table_check_catches_a_second_table(tmp_path):
    (tmp_path / "a.py").write_text('HIDDEN = {"tanh": 1}\n', encoding="utf-8")
    (tmp_path / "b.py").write_text('HIDDEN: dict = {"tanh": 2}\n', encoding="utf-8")
    (tmp_path / "c.py").write_text('MODULES = {"relu": 1, "sigmoid": 2, "tanh": 3}\n'
                                   'OUTPUTS = {"sigmoid": 1}\n'
                                   'LOSSES = {"softmax": 1, "sigmoid": 2, "identity": 3}\n',
                                   encoding="utf-8")
    found = tables(tmp_path)
    assert found["HIDDEN"] == [("a.py", ["tanh"]), ("b.py", ["tanh"]),
                               ("c.py", ["relu", "sigmoid", "tanh"])]
    assert found["OUTPUTS"] == [("c.py", ["sigmoid"]), ("c.py", ["softmax", "sigmoid", "identity"])]


HAND_WRITTEN = ("numpy_impl/", "torch_impl/network.py", "scripts/stacked.py")
"""Where a network's layers are written out: the chapter by hand, the torch side's
hand-built network, the study's stacks of models."""


def output_branches(module: ast.Module) -> list[int]:
    """The lines that compare an output layer's name (`config.output == "softmax"`,
    `output in ("sigmoid", "identity")`): a branch where the side's table should answer."""
    def named(node: ast.expr) -> bool:
        return ((isinstance(node, ast.Attribute) and node.attr == "output")
                or (isinstance(node, ast.Name) and node.id == "output"))

    def an_output(node: ast.expr) -> bool:
        values = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return any(isinstance(v, ast.Constant) and v.value in TABLES["OUTPUTS"] for v in values)

    return [node.lineno for node in ast.walk(module) if isinstance(node, ast.Compare)
            and any(named(part) for part in (node.left, *node.comparators))
            and any(an_output(part) for part in (node.left, *node.comparators))]


def test_output_layers_are_looked_up_in_their_table():
    """No `if` on the output layer's name where a network's layers are written: its side's
    OUTPUTS gives the layer, its stable form, its delta or loss."""
    found = {str(p.relative_to(REPO)): output_branches(tree(p)) for p in python_files()
             if p.relative_to(REPO).as_posix().startswith(HAND_WRITTEN)}
    assert len(found) >= 6
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_the_output_check_catches_a_branch():
    module = ast.parse('if config.output == "softmax":\n    pass\n'
                       'f = sigmoid if "sigmoid" == self.config.output else identity\n'
                       'g = output in ("sigmoid", "identity")\n'
                       'h = config.hidden == "sigmoid" or output == "tanh"\n')
    assert sorted(output_branches(module)) == [1, 3, 4]


PRODUCTS = ("mm", "bmm", "matmul", "addmm", "addmm_", "baddbmm", "baddbmm_", "dot")
TRANSPOSING = ("transpose", "permute", "swapaxes", "t")


def transposed(node: ast.expr) -> bool:
    """`a.T`, `a.mT`, `a.transpose(1, 2)`, `a.permute(1, 2, 0)`, `a.swapaxes(...)`, `a.t()`."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("T", "mT")
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in TRANSPOSING)


def transposed_product(node: ast.AST) -> bool:
    """A matrix product with a transposed factor: `a.T @ b`, `a @ b.T`, torch.bmm(a,
    b.transpose(1, 2)), `w.addmm_(a.T, b)`: how a backward written by hand reads."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return transposed(node.left) or transposed(node.right)
    return (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in PRODUCTS
            and any(transposed(arg) for arg in node.args))


def transposed_products(module: ast.Module) -> list[tuple[str, int]]:
    """(the function it stands in, line) of each transposed product of the module."""
    found = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if transposed_product(child):
                found.append((where, child.lineno))
            named = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            visit(child, f"{where}.{child.name}".lstrip(".") if named else where)

    visit(module, "")
    return found


BACKWARDS = ("numpy_impl/", "torch_impl/network.py")
"""The one backward a side: the chapter's, by hand, and the torch side's hand-built network
(book mode's `BookHidden`); scripts/stacked.py runs the chapter's."""
NOT_A_MODEL = ("exercises/", "parity_tests/")
"""The kit, whose exercises are the learner's own backward, and the tests."""
FLOOR = ("tools/bench.py", "big_matmuls")
"""The bench's floor: the chapter's products alone, timed, with no step around them."""


def test_one_backward_a_side():
    found = {}
    for path in python_files():
        name = path.relative_to(REPO).as_posix()
        if not name.startswith(BACKWARDS + NOT_A_MODEL):
            found[name] = [(where, line) for where, line in transposed_products(tree(path))
                           if (name, where.split(".")[0]) != FLOOR]
    assert len(found) >= 30 and any(name.startswith("scripts/") for name in found)
    assert {name: places for name, places in found.items() if places} == {}


def test_the_backward_check_catches_a_transposed_product():
    module = ast.parse("def backward(a, b, w, x):\n"
                       "    a = b @ w.T\n"
                       "    w -= x.mT @ a\n"
                       "    c = torch.bmm(b, w.transpose(1, 2))\n"
                       "    w.addmm_(x.T, a, alpha=-1)\n"
                       "    return torch.matmul(a.permute(1, 2, 0), b)\n"
                       "layer_1 = hidden(layer_0 @ weights_0_1)\n"
                       "templates = (weights_0_1 @ weights_1_2).T\n")
    assert transposed_products(module) == [("backward", line) for line in range(2, 7)]


def torch_serialization(module: ast.Module) -> list[str]:
    """Each call of torch's own file format: torch.save, torch.load."""
    return [ast.unparse(node.func) for node in ast.walk(module)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("save", "load") and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "torch"]


def test_every_implementation_writes_the_one_checkpoint_format():
    """ch9_shared/checkpoint.py's .npz, for every --impl: torch.save and torch.load appear
    in no library, script or tool."""
    found = {str(p.relative_to(REPO)): torch_serialization(tree(p)) for p in python_files()
             if p.relative_to(REPO).parts[0] in (*LIBRARIES, "scripts", "tools")}
    assert {name: calls for name, calls in found.items() if calls} == {}
    assert not (REPO / "torch_impl" / "checkpoint.py").exists()


def test_the_format_check_catches_torch_save():
    module = ast.parse("def save(path, state):\n    torch.save(state, path)\n")
    assert torch_serialization(module) == ["torch.save"]


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_a_library_imports_no_command_line_and_no_script(path):
    for module, _ in imported(path):
        top = module.split(".")[0]
        assert top not in ("argparse", "scripts", "tools"), f"{path}: imports {module}"


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_a_library_names_no_flag(path):
    flags = [(node.lineno, FLAG.findall(node.value)) for node in ast.walk(tree(path))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert [(line, found) for line, found in flags if found] == []


def test_the_flag_check_catches_a_flag():
    module = ast.parse('def f():\n    raise ValueError(f"lower --alpha (now {1})")\n')
    assert any(FLAG.search(node.value) for node in ast.walk(module)
               if isinstance(node, ast.Constant) and isinstance(node.value, str))


def test_each_field_a_library_error_names_is_a_flag():
    """A library error names a field in backquotes; the command line shows it as the flag
    (`batch_size` -> --batch-size), and that flag exists."""
    options = set(FLAG.findall(build_parser("scripts/train.py").format_help()))
    named = set()
    for path in library_files():
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for part in ast.walk(node.exc):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        named |= set(re.findall(r"`([a-z][a-z0-9_]*)`", part.value))
    assert {"batch_size", "device", "impl", "rng", "softmax_base"} <= named
    assert [name for name in named if as_flags(f"`{name}`") not in options] == []
    assert as_flags(Diverged(3, 2.0)).endswith("lower --alpha (now 2.0)")


SCRIPT_HELPERS = ("scripts.cli", "scripts.exits", "scripts.chapter_figures", "scripts.stacked")
"""The modules beside the scripts that are not scripts: the command line, how a script ends,
the figures, the study's stacked runs."""


def test_nothing_imports_a_private_name_or_a_script():
    """`from X import _name` nowhere; a script (scripts/*.py but the helpers, tools/*.py) is
    imported only by the tests that run it."""
    for helper in SCRIPT_HELPERS:
        path = REPO / Path(*helper.split(".")).with_suffix(".py")
        assert "__main__" not in path.read_text(encoding="utf-8"), f"{path} is a script"
    private, scripts = [], []
    for path in python_files():
        is_test = path.relative_to(REPO).parts[0] == "parity_tests"
        for module, names in imported(path):
            private += [f"{path}: {module}.{n}" for n in names if n.startswith("_")
                        and not n.startswith("__")]
            targets = [module] + [f"{module}.{n}" for n in names]
            scripts += [f"{path}: {t}" for t in targets if not is_test
                        and t.split(".")[0] in ("scripts", "tools") and t.count(".") == 1
                        and t not in SCRIPT_HELPERS]
    assert private == []
    assert scripts == []


def loaded_by(module: str) -> list[str]:
    """The project's modules a fresh Python has loaded after `import module`."""
    code = (f"import sys; import {module}; print(*sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('ch9_shared', 'numpy_impl', 'torch_impl', 'scripts')))")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          encoding="utf-8", check=True).stdout.split()


def test_the_training_script_loads_no_process_control():
    """Following a step from scripts/train.py opens the thread policy (ch9_shared/threads.py),
    not the subreaper, /proc and kill trees of ch9_shared/system.py."""
    loaded = loaded_by("scripts.train")
    assert "ch9_shared.threads" in loaded and "scripts.train" in loaded
    assert "ch9_shared.system" not in loaded


# The model gives the chapter's parts; the runner owns the rest ----------------------------

CHAPTER_PARTS = {"config", "start", "epoch", "test_pass", "state", "arithmetic"}
"""The Model protocol (ch9_shared/loop.py): its settings, taking its weights and data, an
epoch of steps, the test pass, its state for a checkpoint, the arithmetic it runs under."""
RUNNERS_WORDS = {"impl", "inline_tests", "ran_on", "generator_device", "torch_rng_device"}
"""What the loop or a script knows of a run and a model need not: the checkpoint's impl and
generator device, where the test passes run, what the summary line says."""


def class_members(node: ast.ClassDef) -> set[str]:
    """What a class defines: its methods, its class attributes, and each `self.X =`."""
    found = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.add(item.name)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            for target in targets:
                found |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
            for target in targets:
                found |= {n.attr for n in ast.walk(target) if isinstance(n, ast.Attribute)
                          and isinstance(n.value, ast.Name) and n.value.id == "self"}
    return found


def model_classes() -> dict[str, ast.ClassDef]:
    """Every class of the two sides that the loop drives: those with a `test_pass`."""
    found = {}
    for package in ("numpy_impl", "torch_impl"):
        for path in sorted((REPO / package).glob("*.py")):
            for node in tree(path).body:
                if isinstance(node, ast.ClassDef) and "test_pass" in class_members(node):
                    found[f"{package}/{path.name}:{node.name}"] = node
    return found


def stubs(node: ast.ClassDef) -> list[str]:
    """Each method that returns a stand-in rather than something of its own: None, a list of
    Nones, or a lambda around a result computed already."""
    found = []
    for item in node.body:
        if not isinstance(item, ast.FunctionDef):
            continue
        for sub in ast.walk(item):
            value = sub.value if isinstance(sub, ast.Return) else None
            if value is None:
                continue
            if (isinstance(value, ast.Constant) and value.value is None) \
                    or isinstance(value, ast.Lambda) \
                    or (isinstance(value, ast.BinOp) and isinstance(value.left, ast.List)
                        and ast.unparse(value.left) == "[None]"):
                found.append(f"{node.name}.{item.name}: return {ast.unparse(value)}")
    return found


def protocol_members() -> set[str]:
    loop = tree(REPO / "ch9_shared" / "loop.py")
    protocol = next(node for node in loop.body
                    if isinstance(node, ast.ClassDef) and node.name == "Model")
    return class_members(protocol)


def used_on(name: str, path: Path) -> set[str]:
    """The attributes a file reads of the variables called `name`."""
    return {node.attr for node in ast.walk(tree(path)) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == name}


def test_the_model_interface_is_the_chapters_parts():
    """The loop drives a model through these alone, and so does the one adapter from the
    flags (scripts/cli.py): threads, the checkpoint's metadata and the summary line are
    theirs, from the device and --impl."""
    assert protocol_members() == CHAPTER_PARTS
    assert used_on("model", REPO / "ch9_shared" / "loop.py") <= CHAPTER_PARTS
    assert used_on("model", REPO / "scripts" / "cli.py") <= CHAPTER_PARTS


def test_no_model_holds_the_runners_words_or_a_stub():
    models = model_classes()
    held = {name: sorted(class_members(node) & RUNNERS_WORDS) for name, node in models.items()}
    assert {name: words for name, words in held.items() if words} == {}
    assert [stub for node in models.values() for stub in stubs(node)] == []
    assert len(models) == 4  # numpy: Network, FastNetwork; torch: hand-built, idiomatic


def test_the_stub_and_words_checks_catch_them():
    module = ast.parse("class Idiomatic:\n    impl, inline_tests = 'idiomatic', True\n"
                       "    def test_pass(self):\n        result = 1\n"
                       "        return lambda: result\n"
                       "    def masks(self, rng):\n        return [None] * 10\n"
                       "    def generator_state(self):\n        return None\n"
                       "    def start(self):\n        self.ran_on = 'cpu'\n")
    node = module.body[0]
    assert class_members(node) & RUNNERS_WORDS == {"impl", "inline_tests", "ran_on"}
    assert [stub.split(":")[0] for stub in stubs(node)] == [
        "Idiomatic.test_pass", "Idiomatic.masks", "Idiomatic.generator_state"]


def module_function(path: Path, name: str) -> ast.FunctionDef | None:
    return next((node for node in tree(path).body
                 if isinstance(node, ast.FunctionDef) and node.name == name), None)


def test_the_idiomatic_module_has_pytorch_examples_train_and_test():
    """A `train` over one epoch and a `test`, each a plain function of the module (as
    pytorch/examples' mnist/main.py writes them), and the loop drives that `train`."""
    path = REPO / "torch_impl" / "idiomatic.py"
    train, test = module_function(path, "train"), module_function(path, "test")
    assert train is not None and test is not None
    train_source, test_source = ast.unparse(train), ast.unparse(test)
    assert [word for word in ("model.train()", ".zero_grad()", ".backward()", ".step()")
            if word not in train_source] == []
    assert any(isinstance(node, ast.For) for node in ast.walk(train))  # over the loader
    assert [word for word in ("model.eval()", "no_grad") if word not in test_source] == []
    model = next(node for node in tree(path).body
                 if isinstance(node, ast.ClassDef) and node.name == "Idiomatic")
    epoch = next(item for item in model.body
                 if isinstance(item, ast.FunctionDef) and item.name == "epoch")
    assert any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id == "train" for node in ast.walk(epoch))
    assert "zero_grad" not in ast.unparse(model)  # the step is `train`'s, written once
