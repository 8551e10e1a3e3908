"""The checks every checkpoint passes when it is read, by torch (checkpoint.load) or without it
(arrays.load): format, configs, vocabulary, weight shapes, finite weights, and the record the
commands read. Imports neither torch nor numpy: the caller says what a weight is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config import ModelConfig, TrainConfig, weight_shapes
from ..errors import CharLSTMError, CheckpointError
from ..tokenizer import CharTokenizer
from ..values import is_finite_number

FORMAT_VERSION = 1
REQUIRED = ("format_version", "model_config", "train_config", "vocab", "model")
READ_OPTIONS = {"encoding", "errors", "newline", "normalization", "pattern"}  # textfiles.ReadOptions


def validate(ckpt: object, path: Path | str, is_array: Callable[[object], bool],
             all_finite: Callable[[object], bool]) -> None:
    """Everything a loaded checkpoint must be, whatever read it (torch, or arrays.load without torch):
    the format, configs and vocabulary, each weight's shape against the config (`is_array` says what
    counts as a weight), finite weights, and the record every command reads. Any problem is one
    CheckpointError naming it."""
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
    expected = weight_shapes(cfg)  # arithmetic: nothing is allocated, whatever sizes the file claims
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
        if not is_array(t) or tuple(t.shape) != shape:
            got = tuple(t.shape) if is_array(t) else type(t).__name__
            raise CheckpointError(f"{path}: weight {k} has shape {got}, the config needs {shape}")
        if not all_finite(t):
            raise CheckpointError(f"{path}: weight {k} holds NaN or infinite values")
    _validate_record(ckpt, path)


def need(ok: bool, path: Path | str, what: str, resumable: bool = False) -> None:
    if not ok:
        raise CheckpointError(f"{path}: {what}" + ("; it cannot be resumed (sample, eval and info still read it)"
                                                   if resumable else ""))


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _validate_record(ckpt: dict, path: Path | str) -> None:
    """The fields every command reads (info, eval, sample --novelty), type-checked."""
    need(isinstance(ckpt["train_config"], dict) and bool(ckpt["train_config"]), path, "it holds no training config")
    try:
        TrainConfig.from_dict(ckpt["train_config"])
    except (CharLSTMError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has an unreadable training config: {e}") from None
    for key in ("step", "cursor"):
        need(is_int(ckpt.get(key, 0)) and ckpt.get(key, 0) >= 0, path, f"{key} is {ckpt.get(key)!r}, not a count")
    for key in ("train_time", "epoch"):
        need(is_finite_number(ckpt.get(key, 0)) and ckpt.get(key, 0) >= 0, path, f"{key} is {ckpt.get(key)!r}")
    best = ckpt.get("best_val_loss")
    need(best is None or is_finite_number(best), path, f"best_val_loss is {best!r}")
    corpus = ckpt.get("corpus")
    need(isinstance(corpus, dict) and isinstance(corpus.get("paths"), list) and bool(corpus["paths"])
          and all(isinstance(p, str) for p in corpus["paths"]) and isinstance(corpus.get("options"), dict)
          and set(corpus["options"]) <= READ_OPTIONS and all(isinstance(v, str) for v in corpus["options"].values())
          and is_int(corpus.get("tokens")) and is_int(corpus.get("checksum")), path,
          "its corpus record (paths, options, tokens, checksum) is incomplete")
    metrics = ckpt.get("metrics", [])
    need(isinstance(metrics, list) and all(isinstance(r, dict) for r in metrics), path,
          "its metrics are not a list of records")
    scored = ckpt.get("val_scored", {})
    need(isinstance(scored, dict) and all(is_int(scored.get(k, 0)) for k in ("chars", "of")), path,
          f"val_scored is {scored!r}")
    for key in ("run_name", "saved_at", "charlstm_version", "torch_version"):
        need(isinstance(ckpt.get(key, ""), str), path, f"{key} is not text")
    for key in ("lineage", "adapted", "sources"):  # fine-tuned from; adapted to (sample --save-adapted); the
        # texts a packaged model read, with their licences (tools/make_starter.py)
        records = ckpt.get(key, [])
        need(isinstance(records, list) and all(isinstance(r, dict) and all(
            isinstance(k, str) and (v is None or isinstance(v, (str, int, float, list))) for k, v in r.items())
            for r in records), path, f"its {key} record is not a list of records")
    need(isinstance(ckpt.get("slim", {}), dict), path, "its slim record is damaged")
