"""JSON for scripts: every training event as one compact JSON object on a line of stdout (JSON
Lines), and the objects that `info --json` and `runs --json` print. docs/json.md describes them.

Each event object starts with "kind", the event's class name in lower case (started, step, eval,
sample, saved, skipped, alert, stopped), then the event's fields; an event field that is itself
called "kind" (Alert's) is written as "<event>_kind". Non-finite numbers are written as null, so
every line is standard JSON (`jq` reads it).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, fields

from rich.console import Console

from ..events import Event
from ..styles.blend import records
from ..values import json_safe


def dumps(obj: dict) -> str:
    """One compact line of standard JSON."""
    return json.dumps(json_safe(obj), separators=(",", ":"), allow_nan=False, default=str)


def event_record(ev: Event) -> dict:
    kind = type(ev).__name__.lower()
    record = {"kind": kind}
    values = asdict(ev)
    for f in fields(ev):
        record[f"{kind}_kind" if f.name == "kind" else f.name] = values[f.name]
    return record


class JsonLines:
    """Writes each event as one line of JSON to stdout (flushed, so a pipe sees it at once);
    messages from outside the event stream go to stderr as plain lines."""

    def __init__(self, err: Console, out=None):
        self.err, self.out = err, out

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def show(self, ev: Event) -> None:
        out = self.out or sys.stdout
        out.write(dumps(event_record(ev)) + "\n")
        out.flush()

    def notice(self, message: str) -> None:
        self.err.print(message, markup=False, highlight=False)


# ---- info --json and runs --json ----------------------------------------------------------------
def info_record(ckpt: dict, path) -> dict:
    """What `charlstm info` shows, as one object: the checkpoint without its tensors."""
    from pathlib import Path
    return {
        "run_name": ckpt.get("run_name"),
        "path": str(path),
        "run_dir": str(Path(path).parent),
        "params": sum(math.prod(v.shape) for v in ckpt["model"].values()),
        "model_config": ckpt["model_config"],
        "train_config": ckpt["train_config"],
        "vocab": ckpt["vocab"],
        "step": ckpt["step"],
        "epoch": ckpt.get("epoch"),
        "train_time": ckpt.get("train_time"),
        "best_val_loss": ckpt.get("best_val_loss"),
        "corpus": ckpt.get("corpus", {}),
        "saved_at": ckpt.get("saved_at"),
        "charlstm_version": ckpt.get("charlstm_version"),
        "torch_version": ckpt.get("torch_version"),
        "format_version": ckpt.get("format_version"),
        "lineage": ckpt.get("lineage", []),
        "adapted": ckpt.get("adapted", []),
        "sources": ckpt.get("sources", []),
        "styles": records(ckpt),
        "slim": ckpt.get("slim"),
    }


def run_record(entry) -> dict:
    """One line of `charlstm runs --json`: a run (a store.listing.RunEntry) as the table shows it, or
    why it could not be read."""
    ckpt = entry.checkpoint
    if ckpt is None:
        return {"name": entry.name, "path": str(entry.run_dir), "error": entry.error}
    m = ckpt["model_config"]
    return {"name": entry.name, "path": str(entry.run_dir), "cell": m["cell"], "layers": m["layers"],
            "hidden": m["hidden"], "steps": ckpt["step"], "train_time": ckpt.get("train_time"),
            "best_val_loss": ckpt.get("best_val_loss"), "saved_at": ckpt.get("saved_at")}
