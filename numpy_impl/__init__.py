"""Grokking Deep Learning, chapter 9, by hand: NumPy only, every derivative written out.

Modules, in reading order: `activations` (the chapter's table), `network` (forward,
backward and update, and the model the training loop drives), `fast` (the same step on
fewer numbers: what a run uses); then `listing` (the book's programs in their own
structure). The loop and the log are ch9_shared/loop.py's; what both sides share (config,
data, checkpoints, ...) is the `ch9_shared` package; to write the backward pass yourself:
the top-level `exercises` package.
"""
