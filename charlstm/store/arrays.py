"""A checkpoint read without torch: the plain dict `checkpoint.load` returns, with numpy arrays where
the file holds tensors, so sampling on the CPU can start without importing torch (the import alone
takes seconds on a slow disk; bench/RESULTS.md, "Sampling without torch, and start-up").

A checkpoint is the zip file torch.save writes: a pickle (data.pkl) of plain values whose tensors
point at raw storages (data/0, data/1, ...) stored beside it. The pickle is read by an unpickler
that knows exactly three outside names: torch's tensor rebuild function, its storage classes (each
only a dtype here) and OrderedDict (the rebuild's empty hook argument). Any other name is refused,
as torch.load with weights_only=True refuses it, so reading a file never runs its code. Only the model's
weights are read from the zip; the optimizer state of a last.pt stays on disk.

Anything this reader does not follow (a newer torch's layout, a big-endian file, a damaged zip)
raises `Unreadable`; the caller then loads the file with torch, which names the problem. A file that
reads but fails the checks is a CheckpointError, as from checkpoint.load.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checks

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
           "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class Unreadable(Exception):
    """This reader cannot follow the file; load it with torch instead."""


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: object  # a numpy dtype, or "bfloat16" (numpy has none: read as uint16, widened to float32)


@dataclass(frozen=True)
class Lazy:
    """A tensor of the file not read yet: its shape, and where its numbers lie."""
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def read(self, archive: zipfile.ZipFile, prefix: str) -> np.ndarray:
        """The tensor's values (bf16 and fp16 widened to float32, as sampling computes in fp32)."""
        raw_type = np.uint16 if self.storage.dtype == "bfloat16" else self.storage.dtype
        flat = np.frombuffer(archive.read(f"{prefix}data/{self.storage.key}"), dtype=raw_type)
        size = int(np.prod(self.shape)) if self.shape else 1
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) if size else self.offset
        if last >= len(flat) and size:
            raise Unreadable(f"tensor reaches past its storage ({last} >= {len(flat)})")
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.shape,
                                               [s * flat.itemsize for s in self.stride])
        if self.storage.dtype == "bfloat16":  # bf16 is the top half of a float32
            return (view.astype(np.uint32) << 16).view(np.float32)
        return view.astype(np.float32) if view.dtype == np.float16 else view.copy()


def _rebuild(storage: _Storage, offset: int, shape: tuple, stride: tuple, *_: object) -> Lazy:
    return Lazy(storage, int(offset), tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise Unreadable(f"unexpected name {module}.{name} in the pickle")

    def persistent_load(self, pid: object) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise Unreadable(f"unexpected persistent id {pid!r:.80}")
        if pid[1] not in _DTYPES.values():
            raise Unreadable(f"unexpected storage type {pid[1]!r}")
        return _Storage(str(pid[2]), pid[1])


def load(path: Path) -> dict:
    """The checkpoint at `path`, validated as checkpoint.load validates it, with its model's
    weights as float32 numpy arrays; its other tensors stay `Lazy` (shape only)."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise Unreadable("not one data.pkl in the zip")
            prefix = pickles[0][:-len("data.pkl")]
            if f"{prefix}byteorder" in archive.namelist() and archive.read(f"{prefix}byteorder") != b"little":
                raise Unreadable("not a little-endian file")
            ckpt = _Unpickler(archive.open(pickles[0])).load()
            weights = ckpt.get("model") if isinstance(ckpt, dict) else None
            if isinstance(weights, dict):
                ckpt["model"] = {k: v.read(archive, prefix) if isinstance(v, Lazy) else v for k, v in weights.items()}
    except Unreadable:
        raise
    except Exception as e:  # a damaged zip or pickle: torch's reader words it for the user
        raise Unreadable(f"{type(e).__name__}: {e}") from e
    checks.validate(ckpt, path, lambda t: isinstance(t, np.ndarray), lambda t: bool(np.isfinite(t).all()))
    return ckpt


def load_any(path: Path, mmap: bool = False) -> dict:
    """The checkpoint at `path`, validated: read by `load` (no torch) where it follows the file, else
    by torch (checkpoint.load, which names any problem; `mmap` maps its tensors)."""
    try:
        return load(path)
    except Unreadable:
        from .checkpoint import load as load_with_torch
        return load_with_torch(path, map_location="cpu", mmap=mmap)
