"""Conveniences for notebooks and scripts: load a trained model in one call."""

from __future__ import annotations

from pathlib import Path

import torch

from . import checkpoint
from .devices import resolve_device
from .model import CharLSTM
from .tokenizer import CharTokenizer


def load(target: str | Path | None = None, root: str | Path = "checkpoints", device: str = "cpu",
         prefer_best: bool = True) -> tuple[CharLSTM, CharTokenizer]:
    """(model in eval mode, tokenizer) from a checkpoint file, a run directory, or the newest run."""
    order = (checkpoint.BEST, checkpoint.LAST) if prefer_best else (checkpoint.LAST, checkpoint.BEST)
    path = checkpoint.resolve(target, Path(root), order)
    dev = resolve_device(device)
    return checkpoint.build_model(checkpoint.load(path, map_location=torch.device("cpu")), dev)
