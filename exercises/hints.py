"""Hints for every exercise of both tracks, revealed one level at a time.

    >>> from exercises import hint
    >>> hint("tanh2deriv")      # hint 1 of 3: a nudge
    >>> hint("tanh2deriv")      # hint 2 of 3: the idea
    >>> hint("tanh2deriv")      # hint 3 of 3: the formula, the last resort

A blank's docstring poses the problem and never gives what the checker accepts; the last
hint may. Text only: importing this module needs nothing but Python.
"""

from __future__ import annotations

HINTS: dict[str, tuple[str, ...]] = {
    # The backprop track.
    "relu2deriv": (
        "relu's output is either 0 (the input was not positive) or the input itself.",
        "Where the unit is on, relu is the identity: slope 1. Where it is off, relu is "
        "flat: slope 0. So the slope only asks whether the output is positive.",
        "(output > 0) as numbers: (output > 0).astype(output.dtype).",
    ),
    "sigmoid2deriv": (
        "Write s = 1 / (1 + e^-x) and differentiate with the chain rule; then look for s "
        "in what you get.",
        "The derivative is e^-x / (1 + e^-x)^2, which is s times (1 - s).",
        "output * (1 - output).",
    ),
    "tanh2deriv": (
        "d/dx tanh(x) is 1 / cosh(x)^2; the identity cosh^2 - sinh^2 = 1 turns it into "
        "something in tanh(x) alone.",
        "The slope is 1 minus the square of tanh's output.",
        "1 - output**2.",
    ),
    "softmax_cross_entropy_delta": (
        "Differentiate -log(softmax(x)[true class]) with respect to each x_j: the true "
        "class's term and the normalizer's term both contribute.",
        "For one image the gradient is the prediction minus the one-hot truth; the loss is "
        "summed over the batch and divided by D, so the gradient is divided by D.",
        "(layer_2 - labels) / D.",
    ),
    "dropout": (
        "Multiplying by the mask keeps the units where it is 1 and silences the rest.",
        "Half the units survive on average, so the kept ones are doubled to keep the "
        "layer's expected size.",
        "layer_1 * dropout_mask * 2.",
    ),
    "dropout_backward": (
        "Dropout is an elementwise product by a constant: y = x * m * 2.",
        "dy/dx = m * 2, so the gradient flowing back is multiplied by the same numbers.",
        "grad_layer_1 * dropout_mask * 2.",
    ),
    "layer_1_delta": (
        "Three steps back from layer_2_delta: the product by weights_1_2 (its transpose "
        "carries the gradient back), dropout (your dropout_backward), then tanh's slope.",
        "layer_1 after dropout is tanh's output times dropout_mask * 2: where a unit is kept, "
        "tanh's output is layer_1 / 2 (where it is dropped, the mask zeroes the gradient "
        "anyway).",
        "layer_2_delta @ weights_1_2.T * dropout_mask * 2 * tanh2deriv(layer_1 / 2).",
    ),
    "weights_1_2_update": (
        "The gradient of weights_1_2 has its shape (100, 10): one row per hidden unit, one "
        "column per class, summed over the images.",
        "That sum of outer products is layer_1.T @ layer_2_delta. Gradient descent moves "
        "against the gradient, by alpha times it.",
        "weights_1_2 - alpha * layer_1.T @ layer_2_delta.",
    ),
    "weights_0_1_update": (
        "The same rule as weights_1_2_update: the layer it reads, transposed, times the "
        "delta at the layer it writes.",
        "Here the layer it reads is layer_0 and the delta is layer_1_delta.",
        "weights_0_1 - alpha * layer_0.T @ layer_1_delta.",
    ),
    # The autograd track.
    "softmax_loss": (
        "torch.nn.functional has the loss that takes logits and applies log_softmax "
        "itself; it accepts one-hot (probability) targets as well as class indices.",
        "Its default reduction averages over the batch; the chapter sums (reduction='sum') "
        "and then divides by D.",
        "F.cross_entropy(logits, labels, reduction='sum') / D.",
    ),
    "sigmoid_loss": (
        "Sigmoid's canonical loss is binary cross-entropy, one yes-or-no per output.",
        "Use the version that takes logits (it applies the sigmoid itself, stably), summed, "
        "then divided by D.",
        "F.binary_cross_entropy_with_logits(logits, labels, reduction='sum') / D.",
    ),
    "identity_loss": (
        "The squared error's gradient is twice the error; the chapter's delta is the error "
        "itself, over D.",
        "So take half of the summed squared error, and divide by D.",
        "((logits - labels) ** 2).sum() / (2 * D).",
    ),
    "ChapterNetwork": (
        "In __init__: nn.Linear(pixels, hidden_size, bias=False), and the same from hidden "
        "units to classes, stored as self.weights_0_1 and self.weights_1_2.",
        "In forward: layer_1 is tanh of the first layer's output, then the chapter's dropout "
        "with the mask you are given; the logits are the second layer applied to layer_1.",
        "layer_1 = torch.tanh(self.weights_0_1(layer_0)) * dropout_mask * 2; "
        "return layer_1, self.weights_1_2(layer_1).",
    ),
    "TrueHidden": (
        "forward computes layer_1 as the chapter does and saves, with "
        "ctx.save_for_backward, what backward needs: tanh's output and the mask.",
        "backward multiplies grad_layer_1 by dropout's factor (the mask times 2) and by "
        "tanh's slope at tanh's output, 1 - t**2; it returns that and None.",
        "t = torch.tanh(hidden_input); save t and dropout_mask; return t * dropout_mask * 2. "
        "backward: return grad_layer_1 * dropout_mask * 2 * (1 - t**2), None.",
    ),
    "BookHidden": (
        "forward is TrueHidden's, but save layer_1 itself (after dropout): the book's "
        "backward only knows layer_1.",
        "The book's line: its delta times tanh2deriv(layer_1), times dropout_mask, without "
        "the 2 and with the slope at the doubled output.",
        "return grad_layer_1 * (1 - layer_1**2) * dropout_mask, None.",
    ),
    "train_step": (
        "Every PyTorch step has the same four calls around the forward pass: clear the "
        "gradients, compute a loss, backpropagate it, update.",
        "optimizer.zero_grad(); the logits are network(layer_0, dropout_mask)[2]; the loss "
        "is softmax_loss's (F.cross_entropy, summed, over D); then loss.backward() and "
        "optimizer.step().",
        "optimizer.zero_grad(); _, _, logits = network(layer_0, dropout_mask); "
        "loss = F.cross_entropy(logits, labels, reduction='sum') / D; loss.backward(); "
        "optimizer.step(); return loss.",
    ),
    "idiomatic_model": (
        "nn.Sequential of nn.Linear(784, hidden_size, bias=False), nn.Tanh(), nn.Dropout(p), "
        "nn.Linear(hidden_size, 10, bias=False); p is the probability of dropping a unit, "
        "and nn.Dropout scales the kept ones by 1 / (1 - p).",
        "The loss module's mean divides the summed loss by batch_size; the chapter divides "
        "it by D. SGD's lr must multiply by batch_size / D to make up for it.",
        "p = 0.5, and lr = alpha * batch_size / D.",
    ),
    "manual_layer_1_delta": (
        "It is the backprop track's layer_1_delta, in torch. weight_1_2 is nn.Linear's "
        "weight, (10, 100): it is weights_1_2.T already.",
        "layer_2_delta @ weight_1_2 carries the gradient back to layer_1; then dropout's "
        "factor and tanh's slope at tanh's output (layer_1 / 2).",
        "layer_2_delta @ weight_1_2 * (1 - (layer_1 / 2)**2) * dropout_mask * 2.",
    ),
}

_shown: dict[str, int] = {}


class Hint(str):
    """A hint's text, which a plain Python prompt, IPython and a notebook show as it is."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))


def hint(name: str, level: int | None = None) -> Hint:
    """The next hint for exercise `name` (or hint number `level`, from 1): each call
    reveals one more, and the last repeats once all are shown."""
    if name not in HINTS:
        raise ValueError(f"no exercise is called {name!r}: the exercises are "
                         f"{', '.join(HINTS)}")
    hints = HINTS[name]
    if level is None:
        level = min(_shown.get(name, 0) + 1, len(hints))
    if not 1 <= level <= len(hints):
        raise ValueError(f"{name} has hints 1 to {len(hints)}, not {level}")
    _shown[name] = max(_shown.get(name, 0), level)
    last = " (the last)" if level == len(hints) else ""
    return Hint(f"{name}, hint {level} of {len(hints)}{last}: {hints[level - 1]}")
