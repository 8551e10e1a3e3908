"""A corpus ready to train on: its vocabulary, its token file and the train/val split.

The text files (textfiles.py) are encoded once into a token file in the run folder and read
span by span, so memory stays flat whatever the corpus size; an unchanged corpus reuses the cache.
How the training ids become (x, y) windows is windows.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..errors import CorpusError, ResumeMismatchError
from ..store import runs
from ..tokenizer import CharTokenizer, describe_char
from .labels import StyledTokens, label_files
from .textfiles import (
    CorpusFiles,
    Progress,
    ReadOptions,
    ShouldStop,
    encode_files,
    find_files,
    fingerprint,
    id_dtype,
    read_meta,
    scan_vocabulary,
    tokenizer_from_counts,
    write_atomically,
)
from .tokenfile import Tokens

ProgressFactory = Callable[[str, int], Progress]  # (description, total bytes) -> callback


@dataclass
class Corpus:
    tokenizer: CharTokenizer
    tokens: Tokens | StyledTokens  # all ids, read from the token file on demand (laid out by style when labelled)
    files: CorpusFiles
    from_cache: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # character -> occurrences
    file_tokens: list[int] = field(default_factory=list)  # ids per file, in order

    @property
    def styles(self) -> tuple[str, ...]:
        """The style names (train --styles), or () for a corpus read without labels."""
        return self.tokens.names if isinstance(self.tokens, StyledTokens) else ()

    def style_record(self) -> list[dict]:
        """Each style's name, characters and share of the text, for the checkpoint and `info`."""
        if not self.styles:
            return []
        chars = self.tokens.chars()
        return [{"name": n, "chars": c, "share": round(c / max(1, sum(chars)), 4)} for n, c in zip(self.styles, chars)]

    def describe(self) -> str:
        skipped = f", {len(self.files.skipped)} skipped" if self.files.skipped else ""
        cached = " (token cache reused)" if self.from_cache else ""
        styles = "".join(f", style {r['name']} {r['share']:.0%}" for r in self.style_record())
        return (f"{len(self.files.files)} file(s){skipped}, {len(self.tokens):,} characters, "
                f"vocabulary {self.tokenizer.vocab_size}{cached}{styles}")

    def label(self, paths: list[str | Path], how: str | None) -> Corpus:
        """Label the text by style, in place (`how`: folder, file or a mapping file; None: leave it as it
        is), and return this corpus."""
        if how is None:
            return self
        labels = label_files(paths, self.files.files, how)
        self.tokens = StyledTokens.build(self.tokens, self.file_tokens, labels)
        return self

    def restyle(self, names: tuple[str, ...]) -> Corpus:
        """Renumber the style ids, in place, as positions in `names` (a model's styles, which hold this
        text's and perhaps more), and return this corpus; unlabelled text stays as it is."""
        if self.styles:
            self.tokens = self.tokens.renamed(names)
        return self


def prepare_corpus(paths: list[str | Path], cache_dir: Path, opts: ReadOptions | None = None,
                   tokenizer: CharTokenizer | None = None, progress: ProgressFactory | None = None,
                   max_vocab: int | None = None, should_stop: ShouldStop | None = None,
                   vocab_for: Callable[[dict[str, int]], CharTokenizer] | None = None) -> Corpus:
    """Find, read, check and encode the corpus into `cache_dir`, reusing an earlier encoding when
    the files and options are unchanged. With `tokenizer`, the corpus must fit that vocabulary
    (resume); with `vocab_for`, the vocabulary is what it returns for the corpus's character counts
    (fine-tuning: the parent's, extended or mapped); without either, it is built from the corpus.
    `should_stop` is asked once per block read (True raises errors.Interrupted). On any failure the
    cache files are as they were (or gone), no temporary file is left, and `cache_dir` is removed if
    this call made it."""
    opts = opts or ReadOptions()
    found = find_files(paths, opts.pattern)
    created = not cache_dir.exists()
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _prepare(found, cache_dir, opts, tokenizer, progress, max_vocab, should_stop, vocab_for)
    except BaseException:
        if created:
            shutil.rmtree(cache_dir, ignore_errors=True)
        raise


def _prepare(found: CorpusFiles, cache_dir: Path, opts: ReadOptions, tokenizer: CharTokenizer | None,
             progress: ProgressFactory | None, max_vocab: int | None, should_stop: ShouldStop | None,
             vocab_for: Callable[[dict[str, int]], CharTokenizer] | None = None) -> Corpus:
    tokens_path, meta_path = cache_dir / runs.TOKENS, cache_dir / runs.CORPUS_META
    fp = fingerprint(found.files, opts)
    meta = read_meta(meta_path)
    if (meta and meta.get("fingerprint") == fp and tokens_path.is_file() and not tokens_path.is_symlink()
            and (tokenizer is None or meta.get("vocab") == tokenizer.to_dict()) and "file_tokens" in meta):
        tok = CharTokenizer.from_dict(meta["vocab"])
        return Corpus(tok, Tokens(path=tokens_path, dtype=id_dtype(tok)), found, from_cache=True,
                      counts=meta.get("counts", {}), file_tokens=meta["file_tokens"])

    total = found.total_bytes
    counts = scan_vocabulary(found.files, opts, progress("scanning", total) if progress else None, should_stop)
    char_counts = {chr(c): int(counts[c]) for c in np.flatnonzero(counts)}
    if vocab_for is not None and char_counts:
        tokenizer = vocab_for(char_counts)
    tokenizer = _vocabulary(counts, found, opts, tokenizer, max_vocab)
    meta_path.unlink(missing_ok=True)  # the cache is invalid from here until both files are written again
    sizes = encode_files(found.files, tokenizer, opts, tokens_path,
                         progress("encoding", total) if progress else None, should_stop)
    # ASCII JSON: a file name that is not valid UTF-8 holds lone surrogates, kept as \udcXX escapes
    write_atomically(meta_path, [json.dumps({"fingerprint": fp, "vocab": tokenizer.to_dict(), "tokens": sum(sizes),
                                             "counts": char_counts, "file_tokens": sizes}).encode()])
    return Corpus(tokenizer, Tokens(path=tokens_path, dtype=id_dtype(tokenizer)), found, counts=char_counts,
                  file_tokens=sizes)


def _vocabulary(counts: np.ndarray, found: CorpusFiles, opts: ReadOptions, tokenizer: CharTokenizer | None,
                max_vocab: int | None) -> CharTokenizer:
    """The vocabulary the corpus is encoded with: built from the counts, or `tokenizer` (resume), which
    must hold every character seen."""
    seen = tokenizer_from_counts(counts, opts.normalization)
    if seen.vocab_size == 0:
        raise CorpusError(f"corpus is empty: {', '.join(str(p) for p in found.files)}")
    if all(c.isspace() for c in seen.chars):
        raise CorpusError("corpus holds only whitespace")
    if max_vocab is not None and tokenizer is None and seen.vocab_size > max_vocab:
        rare = sorted(seen.chars, key=lambda c: counts[ord(c)])[:5]
        raise CorpusError(
            f"the corpus has {seen.vocab_size:,} distinct characters, more than --max-vocab {max_vocab:,}: the "
            "embedding and output layers would dwarf the LSTM and most characters would be seen too rarely to "
            f"learn (rarest: {', '.join(describe_char(c) for c in rare)}). Filter the files (--pattern), try "
            "--normalization NFKC, or raise --max-vocab")
    if tokenizer is None:
        return seen
    extra = sorted(set(seen.chars) - set(tokenizer.stoi))
    if extra:
        shown = ", ".join(describe_char(c) for c in extra[:10])
        raise ResumeMismatchError(
            f"the corpus holds {len(extra)} character(s) the checkpoint's vocabulary lacks: {shown}"
            f"{' ...' if len(extra) > 10 else ''}")
    return tokenizer


def split(ids: Tokens | StyledTokens, val_fraction: float) -> tuple[Tokens, Tokens]:
    """Contiguous split: the last `val_fraction` of the ids is validation (views, nothing read);
    styled text is split per style (StyledTokens.split), so each style's own tail is held out."""
    if isinstance(ids, StyledTokens):
        return ids.split(val_fraction)
    n_val = int(len(ids) * val_fraction)
    return ids.slice(0, len(ids) - n_val), ids.slice(len(ids) - n_val)


def check_trainable(n_train: int, n_val: int, batch_size: int, seq_len: int) -> None:
    """Refuse corpora too short for one full training window and a validation split."""
    need = batch_size * seq_len + 1
    if n_train < need:
        raise CorpusError(
            f"corpus too short: {n_train:,} training characters, but --batch-size {batch_size} x "
            f"--seq-len {seq_len} needs at least {need:,}; use a longer corpus or smaller values")
    if n_val < 2:
        raise CorpusError("corpus too short for a validation split: raise --val-fraction or add text")


def lay_out(tokens: Tokens, cfg: TrainConfig) -> tuple[Tokens, Tokens]:
    """(training ids, validation ids), refusing a corpus too short for one window and a validation split."""
    train_ids, val_ids = split(tokens, cfg.val_fraction)
    check_trainable(len(train_ids), len(val_ids), cfg.batch_size, cfg.seq_len)
    return train_ids, val_ids
