"""Styles at sampling time (blend.py): reading `--style a:0.7,b:0.3`, folding a blend into a styled
model's weights so every engine and export runs it as an ordinary model, and a checkpoint's styles as
`info` shows them.

May import the leaves and config only: neither torch nor numpy, so the torch-free sampler can use it.
"""
