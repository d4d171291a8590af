"""Which exercises an answer calls, read from its own code: an exercise that fails because
one it calls is wrong says so first ("train_step: wrong: fails because softmax_loss, which
it calls, is wrong: fix softmax_loss first"), and the grader checks each after those it
calls (exercises/runner.py for a file, `exercises.check` in a notebook).

An answer calls an exercise where its code calls that name (`softmax_loss(...)`,
`TrueHidden.apply(...)`), directly or through a function or class of its own file that
does; never where the name is its own argument or variable (weights_0_1_update's
`layer_1_delta` is an array). Read with `ast`, never run: the text of a file, before any
answer runs, and in a notebook the source of the answer and of what its globals hold.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterable

from exercises import TRACKS
from exercises.grading import Result

EXERCISES = tuple(name for names in TRACKS.values() for name in names)
"""Every exercise's name, in the tracks' order."""


def called(node: ast.AST) -> set[str]:
    """The names a function or class calls (`f(...)`; for `F.apply(...)`, F), but those it
    binds itself: its arguments and the names it assigns."""
    bound = {arg.arg for child in ast.walk(node) if isinstance(child, ast.arguments)
             for arg in (*child.posonlyargs, *child.args, *child.kwonlyargs,
                         *filter(None, (child.vararg, child.kwarg)))}
    bound |= {child.id for child in ast.walk(node)
              if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store)}
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            function = child.func
            while isinstance(function, ast.Attribute):
                function = function.value
            if isinstance(function, ast.Name):
                names.add(function.id)
    return names - bound


def in_order(names: Iterable[str]) -> tuple[str, ...]:
    """The exercises among `names`, in the tracks' order."""
    names = set(names)
    return tuple(name for name in EXERCISES if name in names)


def calls_in_file(text: str) -> dict[str, tuple[str, ...]]:
    """Each exercise a file's text defines at its top level, and the exercises it calls,
    directly or through the file's other functions and classes, in the tracks' order; {}
    where the text is no Python."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the child will say
        return {}
    nodes = {node.name: node for node in tree.body
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    known = set(nodes) | set(EXERCISES)
    direct = {name: called(node) & known for name, node in nodes.items()}

    def reached(name: str) -> set[str]:
        seen, found, todo = {name}, set(), list(direct[name])
        while todo:
            callee = todo.pop()
            if callee in seen:
                continue
            seen.add(callee)
            if callee in EXERCISES:
                found.add(callee)  # its own callees are its own line's cause
            elif callee in direct:
                todo += direct[callee]
        return found

    return {name: in_order(reached(name)) for name in nodes if name in EXERCISES}


def _source_of(answer: object) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(answer)))
    except (TypeError, OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _globals_of(answer: object) -> dict[str, object]:
    """The globals an answer's code reads: a function's, or a class's methods'."""
    functions = ([getattr(value, "__func__", value) for value in vars(answer).values()]
                 if inspect.isclass(answer) else [answer])
    for function in functions:
        if inspect.isfunction(function := inspect.unwrap(function)):
            return function.__globals__
    return {}


def calls_of(answer: object, name: str) -> dict[str, object]:
    """The exercises an answer object (exercise `name`) calls, each with what its globals
    hold by that name now, in the tracks' order: read from its source, and from the source
    of the functions and classes of its own file that it calls."""
    found: dict[str, object] = {}
    seen, todo = {name}, [answer]
    while todo:
        current = todo.pop()
        tree, names = _source_of(current), _globals_of(current)
        for callee in sorted(called(tree) if tree is not None else ()):
            if callee in seen or callee not in names:
                continue
            seen.add(callee)
            if callee in EXERCISES:
                found[callee] = names[callee]
            elif _same_file(names[callee], answer):
                todo.append(names[callee])
    return {callee: found[callee] for callee in in_order(found)}


def _same_file(helper: object, answer: object) -> bool:
    """Whether a helper is the learner's own code, in the answer's file or cell module."""
    if not (inspect.isfunction(helper) or inspect.isclass(helper)):
        return False
    return getattr(helper, "__module__", None) == getattr(answer, "__module__", "")


def dependency_order(names: list[str], calls: dict[str, tuple[str, ...]]) -> list[str]:
    """`names`, each after those of them it calls, else in their order (a cycle keeps it)."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        for callee in calls.get(name, ()):
            if callee in names:
                visit(callee)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


NOT_RUN = "not run: the file's time ran out"
"""The line of an exercise a file's time did not reach: not judged, so neither a cause nor
told one."""
STATES = {"wrong": "is wrong", "not done": "is not done yet", "failed": "failed"}
PREFIXES = {"wrong": "wrong: ", "not done": "not done yet: ", "failed": "failed: "}


def because(result: Result, callee: Result) -> Result:
    """The result of an exercise that did not pass, told as failing because `callee`, an
    exercise it calls, did not pass either: the first thing to fix is the callee."""
    return Result(result.name, result.status,
                  f"{PREFIXES.get(result.status, '')}fails because {callee.name}, which it "
                  f"calls, {STATES.get(callee.status, 'is wrong')}: fix {callee.name} first")


def with_causes(results: list[Result], calls: dict[str, tuple[str, ...]]) -> list[Result]:
    """Each result that did not pass where an exercise it calls did not pass either, told
    as `because` the first of those; the others, and those not run, as they are."""
    by_name = {result.name: result for result in results
               if not result.message.startswith(NOT_RUN)}
    told = []
    for result in results:
        failed = [by_name[callee] for callee in calls.get(result.name, ())
                  if callee in by_name and not by_name[callee].passed]
        judged = result.name in by_name and not result.passed
        told.append(because(result, failed[0]) if failed and judged else result)
    return told
