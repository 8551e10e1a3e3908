"""How much of a generated text is copied from the training text: the share of its n-grams (runs
of n characters) that also occur somewhere in the training text.

A model that memorises reproduces long runs verbatim, so its share of, say, 12-grams found in the
training text approaches 1; a model that generalises writes new combinations. n-grams are
compared by a 64-bit polynomial hash computed for all positions at once with numpy (collisions
between different n-grams have probability ~n_grams^2 / 2^64, negligible here).
"""

from __future__ import annotations

import numpy as np

_P = np.uint64(1_000_003)


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
