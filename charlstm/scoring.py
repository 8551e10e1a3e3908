"""Scoring any text with a trained model: loss in nats/char, bits/char and perplexity.

The files are read the way the model's corpus was (encoding, newlines, normalization from the
checkpoint), then scored as one stream with the hidden state carried, like validation. Characters
the model never saw have no probability at all (their loss would be infinite), so they are left
out of the stream and counted, and the report says which they were.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .corpus import ReadOptions, find_files, iter_text
from .errors import CorpusError
from .evaluate import evaluate
from .model import CharLSTM
from .tokenizer import CharTokenizer


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


def read_ids(paths: list[str | Path], tokenizer: CharTokenizer, opts: ReadOptions) -> tuple[np.ndarray, list[str],
                                                                                           Counter]:
    found = find_files(paths, opts.pattern)
    known, unknown, parts = tokenizer.stoi, Counter(), []
    for f in found.files:
        for block in iter_text(f, opts):
            parts.extend(known[c] for c in block if c in known)
            unknown.update(c for c in block if c not in known)
    return np.asarray(parts, dtype=np.int64), [str(f) for f in found.files], unknown


def score_files(model: CharLSTM, tokenizer: CharTokenizer, paths: list[str | Path], opts: ReadOptions,
                batch_size: int = 64, seq_len: int = 256,
                progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None) -> Score:
    ids, files, unknown = read_ids(paths, tokenizer, opts)
    if len(ids) < 2:
        raise CorpusError("nothing to score: the text holds fewer than 2 characters the model knows")
    if on_total:
        on_total(len(ids) - 1)
    nats = evaluate(model, ids, batch_size=batch_size, seq_len=seq_len, progress=progress)
    return Score(nats, len(ids) - 1, files, unknown)
