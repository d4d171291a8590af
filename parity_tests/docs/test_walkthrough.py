"""The walkthrough quotes real code: every quoted line must still stand, in order, in its file."""

from __future__ import annotations

import re

import pytest

from parity_tests.conftest import REPO

WALKTHROUGH = REPO / "docs" / "walkthrough.md"


def quoted_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(source path, quoted lines) for each ```python block whose first line is `# PATH`."""
    blocks = []
    for body in re.findall(r"```python\n(.*?)```", text, re.S):
        first, *lines = body.splitlines()
        if first.startswith("# ") and first.endswith(".py"):
            blocks.append((first[2:], [line.strip() for line in lines if line.strip()]))
    return blocks


def stands_in(lines: list[str], source: str) -> bool:
    """True if `lines` appear in `source` as consecutive non-blank lines (indent aside)."""
    code = [line.strip() for line in source.splitlines() if line.strip()]
    return any(code[i:i + len(lines)] == lines for i in range(len(code) - len(lines) + 1))


BLOCKS = quoted_blocks(WALKTHROUGH.read_text(encoding="utf-8"))


def side_by_side(text: str) -> dict[str, list[str]]:
    """The lines of code in each column of the table "The step, side by side", by the file
    its header names: every `code` of a cell (several in a cell: `<br>` between them)."""
    section = text.split("## The step, side by side", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines()
            if line.startswith("|") and not line.startswith("|---")]
    header, *body = rows
    files = [cell.strip() for cell in header[1:]]
    return {path: [code for row in body for code in re.findall(r"`([^`]+)`", row[1 + i])]
            for i, path in enumerate(files)}


STEPS = side_by_side(WALKTHROUGH.read_text(encoding="utf-8"))


def test_the_steps_stand_side_by_side_from_the_code():
    """Each model's step, row by row, quoted from its file."""
    assert set(STEPS) == {"numpy_impl/network.py", "torch_impl/network.py",
                          "torch_impl/idiomatic.py"}
    for path, lines in STEPS.items():
        code = {line.strip() for line in (REPO / path).read_text(encoding="utf-8").splitlines()}
        assert len(lines) >= 4 and [line for line in lines if line not in code] == [], path


def test_a_changed_step_line_is_caught():
    text = WALKTHROUGH.read_text(encoding="utf-8").replace("`loss.backward()`",
                                                          "`loss.backward(retain_graph=True)`")
    steps = side_by_side(text)
    code = set((REPO / "torch_impl" / "network.py").read_text(encoding="utf-8").splitlines())
    assert any(line not in {c.strip() for c in code}
               for line in steps["torch_impl/network.py"])


def test_the_walkthrough_quotes_both_sides_and_the_idiomatic_model():
    assert {path for path, _ in BLOCKS} == {"numpy_impl/network.py", "numpy_impl/activations.py",
                                            "torch_impl/network.py", "torch_impl/idiomatic.py"}
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize(("path", "lines"), BLOCKS, ids=[f"{p}:{q[0][:30]}" for p, q in BLOCKS])
def test_quoted_code_is_the_real_code(path, lines):
    assert stands_in(lines, (REPO / path).read_text(encoding="utf-8")), (
        f"{path} no longer has:\n" + "\n".join(lines))


def test_a_changed_line_is_caught(tmp_path):
    path, lines = BLOCKS[0]
    source = (REPO / path).read_text(encoding="utf-8")
    assert stands_in(lines, source)
    changed = source.replace(lines[0], lines[0].replace("@", "@ 1 *"), 1)
    assert changed != source and not stands_in(lines, changed)


def test_the_walkthroughs_images_exist():
    for image in re.findall(r"\]\((images/[^)]+)\)", WALKTHROUGH.read_text(encoding="utf-8")):
        assert (WALKTHROUGH.parent / image).stat().st_size > 1000
