"""A read-only run of token ids, held in memory or read on demand from a token file.

Training and evaluation only ever ask for short spans (one lane of one window), so a file-backed
`Tokens` reads each span at its offset (portable.PositionalReader, on every OS): memory stays flat
whatever the corpus size, and unlike a memory map, reading never adds the file's pages to the
process's resident memory. Slicing makes a
view without reading anything. Knows nothing of torch or of what the ids mean.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ..store.portable import PositionalReader

CHUNK = 1 << 24  # ids per read when scanning a whole run


class IdRun:
    """What any run of ids that can `read(start, length)` and say its `len` gets: whole-run chunks,
    a checksum, and conversion to an array."""

    def read(self, start: int = 0, length: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def chunks(self, size: int = CHUNK):
        for s in range(0, len(self), size):
            yield self.read(s, size)

    def checksum(self) -> int:
        crc = 0
        for chunk in self.chunks():
            crc = zlib.crc32(chunk.tobytes(), crc)
        return crc

    def __array__(self, dtype=None, copy=None):
        a = self.read()
        return a if dtype is None else a.astype(dtype)


class Tokens(IdRun):
    def __init__(self, array: np.ndarray | None = None, path: str | Path | None = None,
                 dtype: np.dtype | type | None = None, start: int = 0, length: int | None = None):
        if (array is None) == (path is None):
            raise ValueError("give either an array or a path")
        self.array = None if array is None else np.asarray(array)
        self.path = None if path is None else Path(path)
        self.dtype = np.dtype(dtype) if dtype is not None else self.array.dtype
        total = len(self.array) if self.array is not None else self.path.stat().st_size // self.dtype.itemsize
        self.start = start
        self.length = total - start if length is None else length
        self._reader: PositionalReader | None = None

    @classmethod
    def of(cls, ids) -> Tokens:
        """Wrap an array or list (or return a Tokens, or anything read like one, as it is)."""
        return ids if isinstance(ids, IdRun) else cls(np.asarray(ids))

    def __len__(self) -> int:
        return self.length

    def slice(self, start: int, stop: int | None = None) -> Tokens:
        """A view of ids [start, stop); nothing is read."""
        stop = self.length if stop is None else min(stop, self.length)
        start = max(0, min(start, stop))
        view = Tokens.__new__(Tokens)
        view.array, view.path, view.dtype, view._reader = self.array, self.path, self.dtype, None
        view.start, view.length = self.start + start, stop - start
        return view

    def read(self, start: int = 0, length: int | None = None) -> np.ndarray:
        """ids [start, start + length) as a fresh array (clipped at the end)."""
        length = self.length - start if length is None else length
        length = max(0, min(length, self.length - start))
        a = self.start + start
        if self.array is not None:
            return self.array[a:a + length].copy()
        if self._reader is None:
            self._reader = PositionalReader(self.path)
        size = self.dtype.itemsize
        return np.frombuffer(self._reader.read(a * size, length * size), dtype=self.dtype)

    def __del__(self) -> None:
        if getattr(self, "_reader", None) is not None:
            try:
                self._reader.close()
            except OSError:
                pass
