"""From files to training windows: token cache, train/val split, lanes, (x, y) windows.

The corpus is encoded once into a token file in the run directory and memory-mapped, so memory
stays flat whatever the corpus size. Batching is pure: the training ids are laid into B contiguous
lanes and window i is columns [iT, (i+1)T) of every lane; the read position is one integer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .corpus import (
    CorpusFiles,
    Progress,
    ReadOptions,
    encode_files,
    find_files,
    fingerprint,
    load_tokens,
    read_meta,
    scan_vocabulary,
    tokenizer_from_counts,
)
from .errors import CorpusError, ResumeMismatchError
from .tokenizer import CharTokenizer, describe_char

TOKENS_FILE = "tokens.bin"
META_FILE = "corpus.json"
ProgressFactory = Callable[[str, int], Progress]  # (description, total bytes) -> callback


@dataclass
class Corpus:
    tokenizer: CharTokenizer
    tokens: np.ndarray  # all ids, memory-mapped
    files: CorpusFiles
    from_cache: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # character -> occurrences

    def describe(self) -> str:
        skipped = f", {len(self.files.skipped)} skipped" if self.files.skipped else ""
        cached = " (token cache reused)" if self.from_cache else ""
        return (f"{len(self.files.files)} file(s){skipped}, {len(self.tokens):,} characters, "
                f"vocabulary {self.tokenizer.vocab_size}{cached}")


def prepare_corpus(paths: list[str | Path], cache_dir: Path, opts: ReadOptions | None = None,
                   tokenizer: CharTokenizer | None = None,
                   progress: ProgressFactory | None = None) -> Corpus:
    """Find, read, check and encode the corpus into `cache_dir`, reusing an earlier encoding when
    the files and options are unchanged. With `tokenizer`, the corpus must fit that vocabulary
    (resume); without, the vocabulary is built from the corpus."""
    opts = opts or ReadOptions()
    found = find_files(paths, opts.pattern)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tokens_path, meta_path = cache_dir / TOKENS_FILE, cache_dir / META_FILE
    fp = fingerprint(found.files, opts)
    meta = read_meta(meta_path)
    if (meta and meta.get("fingerprint") == fp and tokens_path.exists()
            and (tokenizer is None or meta.get("vocab") == tokenizer.to_dict())):
        tok = CharTokenizer.from_dict(meta["vocab"])
        return Corpus(tok, load_tokens(tokens_path, tok), found, from_cache=True, counts=meta.get("counts", {}))

    total = found.total_bytes
    counts = scan_vocabulary(found.files, opts, progress("scanning", total) if progress else None)
    seen = tokenizer_from_counts(counts, opts.normalization)
    if seen.vocab_size == 0:
        raise CorpusError(f"corpus is empty: {', '.join(str(p) for p in found.files)}")
    if all(c.isspace() for c in seen.chars):
        raise CorpusError("corpus holds only whitespace")
    if tokenizer is None:
        tokenizer = seen
    else:
        extra = sorted(set(seen.chars) - set(tokenizer.chars))
        if extra:
            shown = ", ".join(describe_char(c) for c in extra[:10])
            raise ResumeMismatchError(
                f"the corpus holds {len(extra)} character(s) the checkpoint's vocabulary lacks: {shown}"
                f"{' ...' if len(extra) > 10 else ''}")
    n = encode_files(found.files, tokenizer, opts, tokens_path, progress("encoding", total) if progress else None)
    char_counts = {chr(c): int(counts[c]) for c in np.flatnonzero(counts)}
    meta_path.write_text(json.dumps({"fingerprint": fp, "vocab": tokenizer.to_dict(), "tokens": n,
                                     "counts": char_counts}, ensure_ascii=False), encoding="utf-8")
    return Corpus(tokenizer, load_tokens(tokens_path, tokenizer), found, counts=char_counts)


def split(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous split: the last `val_fraction` of the ids is validation (views, no copy)."""
    n_val = int(len(ids) * val_fraction)
    return ids[: len(ids) - n_val], ids[len(ids) - n_val:]


def lay_lanes(ids: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Lay the stream into B contiguous lanes of length L = (N - 1) // B, targets shifted by one.

    For ids "abcdefghijklm" and B = 3 (L = 4), inputs x and targets y are:

        x: a b c d      y: b c d e
           e f g h         f g h i
           i j k l         j k l m

    Reading windows of T columns left to right, lane k continues exactly where it stopped, so the
    hidden state of lane k can be carried from one window to the next. The last (N - 1) % B ids
    are dropped. Views of `ids`, so a memory-mapped corpus is never copied whole.
    """
    L = (len(ids) - 1) // batch_size
    if L < 1:
        raise CorpusError(f"{len(ids):,} characters cannot fill {batch_size} lanes")
    x = ids[: batch_size * L].reshape(batch_size, L)
    y = ids[1: batch_size * L + 1].reshape(batch_size, L)
    return x, y


def num_windows(lane_len: int, seq_len: int) -> int:
    """Windows per pass over the lanes; the last one may be shorter than T."""
    return math.ceil(lane_len / seq_len)


def window(lanes: tuple[np.ndarray, np.ndarray], i: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window i of the lanes as int64 tensors x[B, T], y[B, T]."""
    x, y = lanes
    s = i * seq_len
    e = min(s + seq_len, x.shape[1])
    return (torch.from_numpy(np.ascontiguousarray(x[:, s:e], dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(y[:, s:e], dtype=np.int64)))


def check_trainable(n_train: int, n_val: int, batch_size: int, seq_len: int) -> None:
    """Refuse corpora too short for one full training window and a validation split."""
    need = batch_size * seq_len + 1
    if n_train < need:
        raise CorpusError(
            f"corpus too short: {n_train:,} training characters, but --batch-size {batch_size} x "
            f"--seq-len {seq_len} needs at least {need:,}; use a longer corpus or smaller values")
    if n_val < 2:
        raise CorpusError("corpus too short for a validation split: raise --val-fraction or add text")
