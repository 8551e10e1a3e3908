"""Slim checkpoints: what a trained model needs to be used and built on, without what only
training needs.

A training checkpoint also holds the optimizer's moments (twice the weights again for Adam), the
carried hidden state and the random streams. A slim one keeps the weights (optionally in fp16),
the vocabulary, both configs, the corpus record (file names, not where they lay), the best
validation loss, the lineage and a compact loss curve (every evaluation, and at most CURVE_POINTS
training losses from the run's metrics log, for the playground's run card), so
`sample`, `eval`, `inspect`, `gates`, `info` and `train --init-from` read it like any other
checkpoint; `resume` refuses it with a one-line reason. Knows nothing of the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..store import checkpoint
from ..values import is_finite_number

KEPT = ("format_version", "charlstm_version", "torch_version", "saved_at", "model_config", "train_config", "vocab",
        "model", "step", "epoch", "train_time", "best_val_loss", "val_scored", "corpus", "run_name", "lineage",
        "adapted", "sources")


CURVE_POINTS = 200  # training-loss points kept from the metrics log


def compact_curve(evals: Iterable[dict], log: Iterable[dict]) -> list[dict]:
    """The records a slim checkpoint keeps as its metrics: the training losses of the metrics `log`
    (step and loss only), thinned evenly to at most CURVE_POINTS, then the checkpoint's `evals`."""
    train = [{"kind": "train", "step": r["step"], "loss": r["loss"]} for r in log
             if r.get("kind") == "train" and is_finite_number(r.get("step")) and is_finite_number(r.get("loss"))]
    train = train[::max(1, math.ceil(len(train) / CURVE_POINTS))]
    return [*train, *(dict(r) for r in evals if isinstance(r, dict))]


def slim(ckpt: dict, half: bool = False, log: Iterable[dict] = ()) -> dict:
    """The slim form of a validated checkpoint (a new dict; `ckpt` is not modified), with its
    evaluations and a thinned curve of the training losses in `log` (the run's metrics log, when
    there is one). With `half`, the weights are stored as fp16 (half the bytes; they are read back
    into fp32 on load); a weight too large for fp16 is refused rather than stored as infinity."""
    out = {k: ckpt[k] for k in KEPT if k in ckpt}
    out["metrics"] = compact_curve(ckpt.get("metrics", []), log)
    if isinstance(out.get("corpus"), dict):  # file names only: where they lay on this machine is nobody's business
        out["corpus"] = {**out["corpus"], "paths": [p.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or p
                                                    for p in out["corpus"]["paths"]]}
    weights = {}
    for k, t in ckpt["model"].items():
        if half and t.is_floating_point():
            h = t.to(torch.float16)
            if not bool(torch.isfinite(h).all()):
                raise CheckpointError(f"weight {k} holds values beyond fp16's range (±65504): export without --half")
            t = h
        weights[k] = t.detach().cpu().clone()
    out["model"] = weights
    out["slim"] = {"half": bool(half), "from_step": int(ckpt.get("step", 0))}
    return out


def export_pt(ckpt: dict, path: Path, half: bool = False, log: Iterable[dict] = ()) -> int:
    """Write the slim form of `ckpt` (with the training losses of `log`) to `path` atomically;
    returns its size in bytes."""
    path = Path(path)
    checkpoint.save(slim(ckpt, half, log), path)
    return path.stat().st_size


def export_adapted(ckpt: dict, record: dict, path: Path) -> int:
    """Write `ckpt` (its weights already adapted to a text, `charlstm sample --adapt`) as a slim
    checkpoint in fp32 (an update moves a weight by less than fp16 can tell apart), with `record`
    (what it was adapted to, and how) first in its `adapted` list. Returns the size in bytes."""
    out = slim(ckpt)
    out["adapted"] = [dict(record), *ckpt.get("adapted", [])]
    out["saved_at"] = record.get("saved_at", out.get("saved_at", ""))
    checkpoint.save(out, Path(path))
    return Path(path).stat().st_size
