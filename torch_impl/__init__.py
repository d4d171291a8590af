"""Grokking Deep Learning, chapter 9, with torch.nn and autograd."""
