"""How much of a generated text is copied from the training text: the share of its n-grams (runs
of n characters) that also occur somewhere in the training text.

A model that memorises reproduces long runs verbatim, so its share of, say, 12-grams found in the
training text approaches 1; a model that generalises writes new combinations. n-grams are
compared by a 64-bit polynomial hash computed for all positions at once with numpy (collisions
between different n-grams have probability ~n_grams^2 / 2^64, negligible here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.corpus import split
from ..data.textfiles import id_dtype
from ..data.tokenfile import Tokens
from ..store import runs
from ..tokenizer import CharTokenizer

_P = np.uint64(1_000_003)
MAX_TRAIN_CHARS = 50_000_000  # training characters compared against (each n-gram hash takes 8 bytes)


SIZES = (5, 10, 20)  # the n-gram lengths `--novelty` reports

def _rolling(ids: np.ndarray, n: int) -> np.ndarray:
    """The hash of the n-gram starting at each position (empty if len(ids) < n)."""
    ids = np.asarray(ids, dtype=np.uint64)
    m = max(len(ids) - n + 1, 0)
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n if m else 0):
            h = h * _P + ids[k:k + m] + np.uint64(1)
    return h


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique hashes of every n-gram of `ids`."""
    return np.unique(_rolling(ids, n))


def copied_share(generated: np.ndarray, train_hashes: np.ndarray, n: int) -> tuple[float, int]:
    """(share of the generated n-grams found in the training text, number of generated n-grams)."""
    h = _rolling(generated, n)
    return (float(np.isin(h, train_hashes).mean()) if len(h) else 0.0), len(h)


def report(run_dir: Path, tokenizer: CharTokenizer, texts: list[str], val_fraction: float,
           sizes: tuple[int, ...] = SIZES) -> tuple[dict[int, float | None], int] | None:
    """For each n in `sizes`, the share of the generated n-grams (counted within each sample, never
    across two) that occur in the run's training text; and how many training characters were
    compared (at most MAX_TRAIN_CHARS). None when the run's token cache is gone."""
    path = Path(run_dir) / runs.TOKENS
    if not path.is_file():
        return None
    train_ids, _ = split(Tokens(path=path, dtype=id_dtype(tokenizer)), val_fraction)
    n_train = min(len(train_ids), MAX_TRAIN_CHARS)
    train = train_ids.read(0, n_train)
    samples = [np.asarray(tokenizer.encode(t, skip_unknown=True), dtype=np.int64) for t in texts]
    shares: dict[int, float | None] = {}
    for n in sizes:
        known = ngram_hashes(train, n)
        found = total = 0
        for ids in samples:
            share, count = copied_share(ids, known, n)
            found += share * count
            total += count
        shares[n] = found / total if total else None
    return shares, n_train
