"""Validation loss: mean cross-entropy in nats per character over a whole id stream.

The stream is laid into contiguous lanes and read window by window with the hidden state carried,
exactly like training; the tail of the last lane is padded and masked, so every target is counted
once. bits/char = nats / ln 2. Knows nothing of training state or the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .model import CharLSTM
from .tokens import Tokens

IGNORE = -100


@torch.inference_mode()
def evaluate(model: CharLSTM, ids: Tokens | np.ndarray, batch_size: int = 64, seq_len: int = 256,
             max_chars: int | None = None, progress: Callable[[int], None] | None = None) -> float:
    """Mean nats/char of predicting ids[1:] from ids[:-1] (the first `max_chars` ids if given).
    `progress(n)` is told how many more targets were scored after each window."""
    ids = Tokens.of(ids)
    if max_chars is not None:
        ids = ids.slice(0, max_chars)
    n = len(ids) - 1  # targets
    if n < 1:
        raise ValueError("need at least 2 ids to evaluate")
    was_training = model.training
    model.eval()
    device = model.head.weight.device
    B = max(1, min(batch_size, n))
    L = math.ceil(n / B)  # lane k holds targets [kL, min(kL + L, n))
    state, total = None, 0.0
    try:
        for s in range(0, L, seq_len):
            T = min(seq_len, L - s)
            x = np.zeros((B, T), dtype=np.int64)
            y = np.full((B, T), IGNORE, dtype=np.int64)
            for k in range(B):
                m = min(T, n - (k * L + s))  # targets this lane still has in this window
                if m > 0:
                    span = ids.read(k * L + s, m + 1)
                    x[k, :m], y[k, :m] = span[:-1], span[1:]
            logits, state = model(torch.from_numpy(x).to(device), state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                     torch.from_numpy(y).to(device).reshape(-1),
                                     ignore_index=IGNORE, reduction="sum").item()
            if progress:
                progress(int((y != IGNORE).sum()))
    finally:
        model.train(was_training)
    return total / n


def bits(nats: float) -> float:
    return nats / math.log(2)
