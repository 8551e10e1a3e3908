"""Batching for truncated BPTT: the training ids laid into B contiguous lanes, read as (x, y) windows.

Pure arithmetic over a `Tokens` run: window i is columns [iT, (i+1)T) of every lane, so the read
position is one integer and each lane continues where it stopped. Scoring (`scoring_windows`) lays
ids the same way but keeps every target, padding the last lane. Knows nothing of models or files.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from ..errors import CorpusError
from .tokenfile import Tokens

IGNORE = -100  # a target past the end of its lane: cross_entropy(ignore_index=IGNORE) skips it


def lane_length(n: int, batch_size: int) -> int:
    """Length L of each of B lanes over n ids (the last (n - 1) % B ids are dropped)."""
    L = (n - 1) // batch_size
    if L < 1:
        raise CorpusError(f"{n:,} characters cannot fill {batch_size} lanes")
    return L


def num_windows(lane_len: int, seq_len: int) -> int:
    """Windows per pass over the lanes; the last one may be shorter than T."""
    return math.ceil(lane_len / seq_len)


def window_spans(n: int, batch_size: int, i: int, seq_len: int) -> list[tuple[int, int]]:
    """(start, length) of the ids each lane reads for window i: its T inputs plus one more target.

    The stream is laid into B contiguous lanes of length L = (N - 1) // B. For ids
    "abcdefghijklm" and B = 3 (L = 4), inputs x and targets y are:

        x: a b c d      y: b c d e
           e f g h         f g h i
           i j k l         j k l m

    Window i is columns [iT, (i+1)T) of every lane. Reading windows left to right, lane k
    continues exactly where it stopped, so the hidden state of lane k is carried from one window
    to the next. Pure arithmetic: nothing is read here.
    """
    L = lane_length(n, batch_size)
    s = i * seq_len
    e = min(s + seq_len, L)
    return [(k * L + s, e - s + 1) for k in range(batch_size)]


def window(ids: Tokens, batch_size: int, i: int, seq_len: int,
           lanes: range | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Window i as int64 tensors x[B, T] and y[B, T] (y is x shifted by one). With `lanes`, only
    those lanes are read (one process's share when several train together)."""
    spans = window_spans(len(ids), batch_size, i, seq_len)
    if lanes is not None:
        spans = [spans[k] for k in lanes]
    rows = np.stack([ids.read(s, n) for s, n in spans])
    rows = torch.from_numpy(rows.astype(np.int64))
    return rows[:, :-1], rows[:, 1:]


def window_styles(ids, batch_size: int, i: int, seq_len: int, lanes: range | None = None) -> torch.Tensor | None:
    """The style id of each input of `window(ids, ...)`: int64 [B, T], or None for text without styles."""
    if not hasattr(ids, "read_styles"):  # a plain Tokens: text without styles
        return None
    spans = window_spans(len(ids), batch_size, i, seq_len)
    if lanes is not None:
        spans = [spans[k] for k in lanes]
    return torch.from_numpy(np.stack([ids.read_styles(s, n - 1) for s, n in spans]))


def scoring_windows(ids: Tokens, lanes: int, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every target of ids[1:] exactly once, as (x, y) windows of `lanes` contiguous lanes (lane k holds
    targets [kL, min(kL + L, n)), L = ceil(n / lanes)) read seq_len columns at a time, state carried
    across windows; a lane that has run out is padded with IGNORE targets. Scoring reads text this way
    (validation, `eval`, dynamic evaluation); training drops the tail instead (`window`)."""
    n = len(ids) - 1
    L = math.ceil(n / lanes)
    for s in range(0, L, seq_len):
        T = min(seq_len, L - s)
        x = np.zeros((lanes, T), dtype=np.int64)
        y = np.full((lanes, T), IGNORE, dtype=np.int64)
        for k in range(lanes):
            m = min(T, n - (k * L + s))  # targets this lane still has in this window
            if m > 0:
                span = ids.read(k * L + s, m + 1)
                x[k, :m], y[k, :m] = span[:-1], span[1:]
        yield x, y
