"""Hints for every exercise of both tracks, revealed one level at a time.

    >>> from exercises import hint
    >>> hint("tanh2deriv")      # prints hint 1 of 3: a nudge
    >>> hint("tanh2deriv")      # prints hint 2 of 3: the idea
    >>> hint("tanh2deriv")      # prints hint 3 of 3: the fix, the last resort

The levels get more specific; only the last gives the fix (the corrected expression), and a
check's line never does: it says what is off and what kind of mistake it is. The level
reached for each exercise is kept in a small file (`state_path()`, deleted to start again),
so that a notebook, a prompt, `python -c` and scripts/check_exercises.py (which shows a
hint when asked) go on from one another. A blank's docstring poses the problem and never
gives what the checker accepts. Importing this module needs nothing but Python.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TypeVar

from ch9_shared.files import OutputError, write_atomically

R = TypeVar("R")

HINTS: dict[str, tuple[str, ...]] = {
    # The backprop track.
    "relu2deriv": (
        "relu's output is either 0 (the input was not positive) or the input itself.",
        "Where the unit is on, relu is the identity: slope 1. Where it is off, relu is "
        "flat: slope 0. So the slope only asks whether the output is positive.",
        "The fix: the comparison output > 0, as numbers of output's dtype: "
        "(output > 0).astype(output.dtype). An output of exactly 0 is a unit that is off.",
    ),
    "sigmoid2deriv": (
        "Write s = 1 / (1 + e^-x) and differentiate with the chain rule; then look for s "
        "in what you get.",
        "The derivative is e^-x / (1 + e^-x)^2, which is s times (1 - s).",
        "The fix: output * (1 - output).",
    ),
    "tanh2deriv": (
        "d/dx tanh(x) is 1 / cosh(x)^2; the identity cosh^2 - sinh^2 = 1 turns it into "
        "something in tanh(x) alone.",
        "The slope is 1 minus the square of tanh's output.",
        "The fix: 1 - output**2.",
    ),
    "softmax_cross_entropy_delta": (
        "Differentiate -log(softmax(x)[true class]) with respect to each x_j: the true "
        "class's term and the normalizer's term both contribute.",
        "For one image the gradient is the prediction minus the one-hot truth; the loss is "
        "summed over the batch and divided by D, so the gradient is divided by D.",
        "The fix: (layer_2 - labels) / D (the book's labels - layer_2 is its negative, "
        "which goes with the book's += update).",
    ),
    "dropout": (
        "Multiplying by the mask keeps the units where it is 1 and silences the rest.",
        "Half the units survive on average, so the kept ones are doubled to keep the "
        "layer's expected size.",
        "The fix: layer_1 * dropout_mask * 2.",
    ),
    "dropout_backward": (
        "Dropout is an elementwise product by a constant: y = x * m * 2.",
        "dy/dx = m * 2, so the gradient flowing back is multiplied by the same numbers.",
        "The fix: grad_layer_1 * dropout_mask * 2.",
    ),
    "layer_1_delta": (
        "Three steps back from layer_2_delta: the product by weights_1_2 (its transpose "
        "carries the gradient back), dropout (your dropout_backward), then tanh's slope.",
        "layer_1 after dropout is tanh's output times dropout_mask * 2: where a unit is kept, "
        "tanh's output is layer_1 / 2 (where it is dropped, the mask zeroes the gradient "
        "anyway).",
        "The fix: layer_2_delta @ weights_1_2.T * tanh2deriv(layer_1 / 2) * dropout_mask * 2.",
    ),
    "weights_1_2_update": (
        "The gradient of weights_1_2 has its shape (100, 10): one row per hidden unit, one "
        "column per class, summed over the images.",
        "That sum of outer products is layer_1.T @ layer_2_delta. Gradient descent moves "
        "against the gradient, by alpha times it.",
        "The fix: weights_1_2 - alpha * layer_1.T @ layer_2_delta.",
    ),
    "weights_0_1_update": (
        "The same rule as weights_1_2_update: the layer it reads, transposed, times the "
        "delta at the layer it writes.",
        "Here the layer it reads is layer_0 and the delta is layer_1_delta.",
        "The fix: weights_0_1 - alpha * layer_0.T @ layer_1_delta.",
    ),
    # The autograd track.
    "softmax_loss": (
        "torch.nn.functional has the loss that takes logits and applies log_softmax "
        "itself; it accepts one-hot (probability) targets as well as class indices.",
        "Its default reduction averages over the batch; the chapter sums (reduction='sum') "
        "and then divides by D.",
        "The fix: F.cross_entropy(logits, labels, reduction='sum') / D.",
    ),
    "sigmoid_loss": (
        "Sigmoid's canonical loss is binary cross-entropy, one yes-or-no per output.",
        "Use the version that takes logits (it applies the sigmoid itself, stably), summed, "
        "then divided by D.",
        "The fix: F.binary_cross_entropy_with_logits(logits, labels, reduction='sum') / D.",
    ),
    "identity_loss": (
        "The squared error's gradient is twice the error; the chapter's delta is the error "
        "itself, over D.",
        "So take half of the summed squared error, and divide by D.",
        "The fix: ((logits - labels) ** 2).sum() / (2 * D).",
    ),
    "ChapterNetwork": (
        "In __init__: nn.Linear(pixels, hidden_size, bias=False), and the same from hidden "
        "units to classes, stored as self.weights_0_1 and self.weights_1_2.",
        "In forward: layer_1 is tanh of the first layer's output, then the chapter's dropout "
        "with the mask you are given; the logits are the second layer applied to layer_1.",
        "The fix: in __init__, super().__init__(); self.weights_0_1 = nn.Linear(pixels, "
        "hidden_size, bias=False); self.weights_1_2 = nn.Linear(hidden_size, classes, "
        "bias=False). In forward, layer_1 = torch.tanh(self.weights_0_1(layer_0)) * "
        "dropout_mask * 2; return layer_1, self.weights_1_2(layer_1).",
    ),
    "TrueHidden": (
        "forward computes layer_1 as the chapter does and saves, with "
        "ctx.save_for_backward, what backward needs: tanh's output and the mask.",
        "backward multiplies grad_layer_1 by dropout's factor (the mask times 2) and by "
        "tanh's slope at tanh's output, 1 - t**2; it returns that and None.",
        "The fix: forward: hidden_output = torch.tanh(hidden_input); "
        "ctx.save_for_backward(hidden_output, dropout_mask); return hidden_output * "
        "dropout_mask * 2. backward: hidden_output, dropout_mask = ctx.saved_tensors; "
        "return grad_layer_1 * dropout_mask * 2 * (1 - hidden_output**2), None.",
    ),
    "BookHidden": (
        "forward is TrueHidden's, but save layer_1 itself (after dropout): the book's "
        "backward only knows layer_1.",
        "The book's line: its delta times tanh2deriv(layer_1), times dropout_mask, without "
        "the 2 and with the slope at the doubled output.",
        "The fix: forward: layer_1 = torch.tanh(hidden_input) * dropout_mask * 2; "
        "ctx.save_for_backward(layer_1, dropout_mask); return layer_1. backward: "
        "return grad_layer_1 * (1 - layer_1**2) * dropout_mask, None.",
    ),
    "train_step": (
        "Every PyTorch step has the same four calls around the forward pass: clear the "
        "gradients, compute a loss, backpropagate it, update.",
        "optimizer.zero_grad(); the logits are network(layer_0, dropout_mask)[2]; the loss "
        "is softmax_loss's (F.cross_entropy, summed, over D); then loss.backward() and "
        "optimizer.step().",
        "The fix: optimizer.zero_grad(); _, _, logits = network(layer_0, dropout_mask); "
        "loss = softmax_loss(logits, labels, D) (F.cross_entropy(logits, labels, "
        "reduction='sum') / D); loss.backward(); optimizer.step(); return loss.",
    ),
    "idiomatic_model": (
        "nn.Sequential of nn.Linear(784, hidden_size, bias=False), nn.Tanh(), nn.Dropout(p), "
        "nn.Linear(hidden_size, 10, bias=False); p is the probability of dropping a unit, "
        "and nn.Dropout scales the kept ones by 1 / (1 - p).",
        "The loss module's mean divides the summed loss by batch_size; the chapter divides "
        "it by D. SGD's lr must multiply by batch_size / D to make up for it.",
        "The fix: model = nn.Sequential(nn.Linear(784, hidden_size, bias=False), nn.Tanh(), "
        "nn.Dropout(0.5), nn.Linear(hidden_size, 10, bias=False)); return model, "
        "alpha * batch_size / D.",
    ),
    "manual_layer_1_delta": (
        "It is the backprop track's layer_1_delta, in torch. weight_1_2 is nn.Linear's "
        "weight, (10, 100): it is weights_1_2.T already.",
        "layer_2_delta @ weight_1_2 carries the gradient back to layer_1; then dropout's "
        "factor and tanh's slope at tanh's output (layer_1 / 2).",
        "The fix: layer_2_delta @ weight_1_2 * (1 - (layer_1 / 2)**2) * dropout_mask * 2; or, "
        "naming tanh's output, hidden_output = layer_1 / 2 and layer_2_delta @ weight_1_2 * "
        "(1 - hidden_output**2) * dropout_mask * 2.",
    ),
}

STATE = Path("grokking-ch9") / "hints.json"
"""The file of the levels reached, under the user's cache folder (XDG_CACHE_HOME, else
~/.cache, on every system): one place whatever the folder a hint is asked from."""

unsaved: dict[str, int] | None = None
"""The levels of this process, where the file could not be written (then read instead)."""


class Hint(str):
    """A text, which a plain Python prompt, IPython and a notebook show as it is."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))


def state_path() -> Path | None:
    """Where the levels reached are kept, or None where there is no home folder to keep
    them in."""
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache:
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME, nor a user database entry
            return None
    return Path(cache) / STATE


def levels() -> dict[str, int]:
    """The level reached for each exercise; a file that is missing, unreadable or not ours
    is no level reached (never an error: the learner may delete or break it)."""
    if unsaved is not None:
        return dict(unsaved)
    path = state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {name: level for name, level in data.items() if name in HINTS
            and type(level) is int and 1 <= level <= len(HINTS[name])}


def _save(reached: dict[str, int]) -> str | None:
    """Keep the levels reached in the file; where and why they could not be, or None
    (this process then keeps them)."""
    global unsaved
    unsaved = reached  # until the file holds them
    path = state_path()
    if path is None:
        return "a file: there is no home folder, nor XDG_CACHE_HOME"
    text = json.dumps(reached, indent=1, sort_keys=True).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda f: f.write(text))
    except OSError as e:
        return f"{e.filename or path}: {e.strerror or e}"
    except OutputError:
        return f"{path}: it is read-only or not a file"
    unsaved = None
    return None


def next_hint(name: str, level: int | None = None) -> str:
    """The next hint for exercise `name` (or hint number `level`, from 1), with where its
    level is kept: each call reveals one more, and the last repeats once all are shown."""
    if name not in HINTS:
        raise ValueError(f"no exercise is called {name!r}: the exercises are "
                         f"{', '.join(HINTS)}")
    hints = HINTS[name]
    reached = levels()
    if level is None:
        level = min(reached.get(name, 0) + 1, len(hints))
    if not 1 <= level <= len(hints):
        raise ValueError(f"{name} has hints 1 to {len(hints)}, not {level}")
    reached[name] = max(reached.get(name, 0), level)
    problem = _save(reached)
    last = " (the last)" if level == len(hints) else ""
    kept = (f"(could not keep your place in {problem}; this session remembers it)" if problem
            else f"(your place is kept in {state_path()}: delete it to start again)")
    return f"{name}, hint {level} of {len(hints)}{last}: {hints[level - 1]}\n{kept}"


def hint(name: str, level: int | None = None) -> None:
    """Print the next hint for exercise `name` (or hint number `level`, from 1): in a
    notebook, at a prompt and from `python -c` alike (a returned text would show only at
    a prompt). Each call reveals one more; the level is kept between runs (state_path)."""
    print(next_hint(name, level))


def with_fix(result: R) -> R:
    """A wrong result whose line also gives the fix, the exercise's last hint: for a
    teacher's gradebook (scripts/check_exercises.py, when asked). Any other result as it
    is."""
    if getattr(result, "status", None) != "wrong":
        return result
    fix = HINTS[result.name][-1]  # "The fix: ..."
    return dataclasses.replace(result, message=f"{result.message} ({fix})")
