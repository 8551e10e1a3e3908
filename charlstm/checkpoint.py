"""Checkpoints: one self-describing plain dict per file, saved atomically and loaded safely.

A checkpoint holds only tensors and primitives, so every load goes through
`torch.load(weights_only=True)` with no allow-list: a file crafted to run code on unpickling is
refused, never executed. Every load is validated (format, shapes against the stored config and
vocabulary, finite weights) and any problem becomes one `CheckpointError`. Knows nothing of the
training loop or the terminal.
"""

from __future__ import annotations

import math
import os
import pickle
import re
from pathlib import Path

import torch

from .config import ModelConfig
from .errors import CharLSTMError, CheckpointError
from .model import CharLSTM
from .runs import checkpoints_in
from .tokenizer import CharTokenizer

FORMAT_VERSION = 1
REQUIRED = ("format_version", "model_config", "train_config", "vocab", "model")
TMP_MARK = ".tmp-"


def save(ckpt: dict, path: Path) -> None:
    """Write `ckpt` so that `path` always holds either the old file or the complete new one:
    temp file in the same directory, flush + fsync, os.replace, fsync the directory."""
    path = Path(path)
    check_plain(ckpt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise CheckpointError(f"could not save {path}: {e.strerror or e}; the previous checkpoint "
                                  "is untouched") from e
        raise
    _fsync_dir(path.parent)


_PLAIN = (int, float, str, bool, bytes, type(None))


def check_plain(obj: object, where: str = "checkpoint") -> None:
    """Refuse (TypeError, a bug) anything but tensors, primitives, lists, tuples and str-keyed dicts,
    so every checkpoint written can be read back with weights_only=True."""
    if type(obj) in _PLAIN or type(obj) is torch.Tensor:
        return
    if type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
    elif type(obj) is dict:
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}")
            check_plain(v, f"{where}[{k!r}]")
    else:
        raise TypeError(f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}, not a plain value")


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories
    finally:
        os.close(fd)


def remove_orphans(run_dir: Path) -> list[Path]:
    """Delete temp files left by a run that died mid-save; returns what was removed."""
    gone = [p for p in Path(run_dir).glob(f".*{TMP_MARK}*") if p.is_file()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def load(path: Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict:
    """Read and validate a checkpoint; any problem is one CheckpointError naming it. `mmap` maps the
    tensors instead of reading them (for looking at metadata of many runs quickly)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        # a reference to a class or function is what a code-running pickle needs: that is refused;
        # anything else the unpickler trips over is plain corruption
        found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", str(e))
        if found:
            raise CheckpointError(f"{path} was refused: it holds objects other than tensors and plain values "
                                  f"({found.group(1)}), which could run code when loaded") from None
        raise CheckpointError(f"{path} is corrupt or not a charlstm checkpoint (unreadable pickle data)") from None
    except Exception as e:  # truncated zip, bad magic, garbage bytes ...
        raise CheckpointError(f"{path} is corrupt or not a charlstm checkpoint ({type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''})") from None
    validate(ckpt, path)
    return ckpt


def validate(ckpt: object, path: Path | str = "checkpoint") -> None:
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        raise CheckpointError(f"{path} is not a charlstm checkpoint (missing "
                              f"{', '.join(k for k in REQUIRED if not isinstance(ckpt, dict) or k not in ckpt)})")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {ckpt['format_version']!r}; this charlstm reads "
                              f"version {FORMAT_VERSION}")
    try:
        cfg = ModelConfig.from_dict(ckpt["model_config"])
        tok = CharTokenizer.from_dict(ckpt["vocab"])
    except (CharLSTMError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has an unreadable config or vocabulary: {e}") from None
    if tok.vocab_size != cfg.vocab_size:
        raise CheckpointError(f"{path}: vocabulary holds {tok.vocab_size} characters but the model "
                              f"was built for {cfg.vocab_size}")
    expected = {k: tuple(v.shape) for k, v in CharLSTM(cfg).state_dict().items()}
    weights = ckpt["model"]
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path}: weights are not a state dict")
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the stored config (missing: "
                              f"{', '.join(missing) or '-'}; unexpected: {', '.join(unexpected) or '-'})")
    for k, shape in expected.items():
        t = weights[k]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise CheckpointError(f"{path}: weight {k} has shape {got}, the config needs {shape}")
        if not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: weight {k} holds NaN or infinite values")


def build_model(ckpt: dict, device: str | torch.device = "cpu") -> tuple[CharLSTM, CharTokenizer]:
    """Model (in eval mode) and tokenizer from a validated checkpoint."""
    model = CharLSTM(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), CharTokenizer.from_dict(ckpt["vocab"])


def load_newest_good(run_dir: Path, map_location: str | torch.device = "cpu") -> tuple[dict, Path, list[str]]:
    """The newest checkpoint of a run that loads; returns it, its path and the problems with any
    newer ones that were passed over (so the caller can say so)."""
    candidates = checkpoints_in(run_dir)
    problems: list[str] = []
    for p in candidates:
        try:
            return load(p, map_location), p, problems
        except CheckpointError as e:
            problems.append(str(e))
    raise CheckpointError(f"no loadable checkpoint in {run_dir}" + (": " + "; ".join(problems) if problems else ""))


def is_finite_number(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
