"""Grokking Deep Learning, chapter 9, by hand: NumPy only, every derivative written out.

Modules, in reading order: `activations` (the chapter's table), `network` (forward and
backward), `train` (the loop and the log); then `listing` (the book's programs in their own
structure). What both sides share (config, data, checkpoints, ...) is the `ch9_shared` package;
to write the backward pass yourself: the top-level `exercises` package.
"""
