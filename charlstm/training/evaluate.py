"""Loss in nats per character: of a run's validation ids, or of any text files.

`evaluate` lays an id stream into contiguous lanes and reads it window by window with the hidden
state carried, exactly like training; the tail of the last lane is padded and masked, so every
target is counted once. bits/char = nats / ln 2. `score_files` reads files the way the model's
corpus was read (options from the checkpoint) and scores them as one stream; characters the model
never saw have no probability at all (their loss would be infinite), so they are left out and
counted. `static_and_dynamic` reads ids twice in dynamic evaluation's lanes: once with the weights
fixed (the static loss) and once adapting them as it goes (adapt/dynamic.py), so the two numbers
differ only by what the updates learned. Knows nothing of training state or the terminal.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..adapt.dynamic import dynamic_evaluate
from ..config import AdaptConfig
from ..data.textfiles import ReadOptions, read_known
from ..data.tokenfile import Tokens
from ..data.windows import IGNORE, scoring_windows
from ..errors import CorpusError
from ..model import CharLSTM
from ..tokenizer import CharTokenizer


@torch.inference_mode()
def evaluate(model: CharLSTM, ids: Tokens | np.ndarray, batch_size: int = 64, seq_len: int = 256,
             max_chars: int | None = None, progress: Callable[[int], None] | None = None,
             style: torch.Tensor | None = None) -> float:
    """Mean nats/char of predicting ids[1:] from ids[:-1] (the first `max_chars` ids if given), a
    styled model reading every character in `style` (weights per style; None: an even blend).
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
    state, total = None, 0.0
    style = None if style is None else style.to(device)
    try:
        for x, y in scoring_windows(ids, max(1, min(batch_size, n)), seq_len):
            logits, state = model(torch.from_numpy(x).to(device), state, style)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                     torch.from_numpy(y).to(device).reshape(-1),
                                     ignore_index=IGNORE, reduction="sum").item()
            if progress:
                progress(int((y != IGNORE).sum()))
    finally:
        model.train(was_training)
    return total / n


def scored_targets(n_ids: int, max_chars: int | None = None) -> int:
    """How many characters `evaluate(ids, max_chars=...)` predicts: all but the first of the ids it reads."""
    return max(0, (n_ids if max_chars is None else min(n_ids, max_chars)) - 1)


def bits(nats: float) -> float:
    return nats / math.log(2)


@dataclass
class Score:
    nats: float  # mean cross-entropy per scored character
    scored: int  # characters predicted (all known characters but the first)
    files: list[str]
    unknown: Counter = field(default_factory=Counter)  # character -> how often it was left out

    @property
    def bits(self) -> float:
        return self.nats / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats)


def read_scored(tokenizer: CharTokenizer, paths: list[str | Path], opts: ReadOptions) -> tuple[np.ndarray, list[str],
                                                                                             Counter]:
    """The ids of `paths` that the model knows (see read_known), refused when fewer than 2 are left."""
    ids, files, unknown = read_known(paths, tokenizer, opts)
    if len(ids) < 2:
        raise CorpusError("nothing to score: the text holds fewer than 2 characters the model knows")
    return ids, files, unknown


def score_files(model: CharLSTM, tokenizer: CharTokenizer, paths: list[str | Path], opts: ReadOptions,
                batch_size: int = 64, seq_len: int = 256,
                progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None) -> Score:
    """The loss of `paths` read as one stream."""
    ids, files, unknown = read_scored(tokenizer, paths, opts)
    if on_total:
        on_total(len(ids) - 1)
    nats = evaluate(model, ids, batch_size=batch_size, seq_len=seq_len, progress=progress)
    return Score(nats, len(ids) - 1, files, unknown)


def static_and_dynamic(model: CharLSTM, ids: np.ndarray, config: AdaptConfig,
                       progress: Callable[[int], None] | None = None) -> tuple[float, float]:
    """(static, dynamic) mean nats/char of ids, both read in `config`'s lanes on the same kernels, so they
    differ only by the updates; `progress` counts the characters of both passes."""
    return dynamic_evaluate(model, ids, config.fixed(), progress), dynamic_evaluate(model, ids, config, progress)
