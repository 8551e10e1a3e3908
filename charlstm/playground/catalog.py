"""The runs a playground server offers, by id: finding them, loading their models (the few most
recently used kept loaded) and each run's card (size, corpus, best loss, lineage, loss curves).

A request names a run by an id from `Catalog.listing`; ids are only ever looked up here, so no
path from a request reaches the file system. Knows nothing of the web server or the terminal.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..insight.gates import GATES
from ..model import CharLSTM
from ..store import checkpoint as ck
from ..store import runs
from ..styles.blend import records as style_records
from ..tokenizer import CharTokenizer
from ..values import is_finite_number, json_safe

CACHED = 4  # models kept loaded
CURVE_POINTS = 400  # training-loss points in a card's loss curve


class UnknownRun(LookupError):
    """An id that is not in the server's list."""


@dataclass
class Loaded:
    model: CharLSTM
    tok: CharTokenizer
    path: Path  # the checkpoint file
    meta: dict  # the checkpoint without its tensors, and "params"


class Catalog:
    """The runs in `named` (id -> run folder or checkpoint file, e.g. from the command line), then
    those under `root`, newest first (found afresh on each listing, named as `charlstm runs` names
    them, so the first of them is the run `charlstm sample` picks), then those in `extra` (the
    packaged starter): the page opens on the first."""

    def __init__(self, root: Path, named: dict[str, Path] | None = None, device: str = "cpu",
                 extra: dict[str, Path] | None = None):
        self.root, self.named, self.extra, self.device = Path(root), dict(named or {}), dict(extra or {}), device
        self.known: dict[str, Path] = {**self.named, **self.extra}
        self.cache: OrderedDict[tuple[str, int], Loaded] = OrderedDict()
        self.lock = threading.Lock()

    def listing(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        seen: set[Path] = set()
        found = ((runs.name_of(d, self.root), d) for d in runs.find(self.root))
        for name, path in [*self.named.items(), *found, *self.extra.items()]:
            if path.resolve() not in seen and name not in out:
                out[name] = path
                seen.add(path.resolve())
        self.known = out
        return out

    def where(self, run_id: object) -> Path:
        if not isinstance(run_id, str) or (run_id not in self.known and run_id not in self.listing()):
            raise UnknownRun(f"no run {str(run_id)[:80]!r} here (GET /api/runs lists them)")
        return self.known[run_id]

    def load(self, run_id: object) -> Loaded:
        """The run's model (best.pt before last.pt, as `charlstm sample` picks it); blocking, and
        loaded again when the file has changed since."""
        path = runs.checkpoint_path(self.where(run_id), self.root)
        key = (str(path), path.stat().st_mtime_ns)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        saved = ck.load(path, map_location="cpu")
        model, tok = ck.build_model(saved, self.device)
        meta = {k: v for k, v in saved.items() if k not in ("model", "optimizer", "hidden", "rng", "scaler")}
        meta["params"] = sum(v.numel() for v in saved["model"].values())
        got = Loaded(model, tok, path, meta)
        with self.lock:
            self.cache[key] = got
            while len(self.cache) > CACHED:
                self.cache.popitem(last=False)
        return got


def card(run_id: str, got: Loaded) -> dict:
    """The run card, JSON-safe: size, corpus, progress, best validation loss, lineage (the runs it
    was fine-tuned from, nearest first) and loss curves from metrics.jsonl (or the checkpoint's own
    record of evaluations when the log is gone)."""
    m, meta = got.meta["model_config"], got.meta
    records = runs.read_metrics(got.path.parent)[0] or [r for r in meta.get("metrics", []) if isinstance(r, dict)]
    train = [[r["step"], r["loss"]] for r in records
             if r.get("kind") == "train" and _finite(r.get("step"), r.get("loss"))]
    val = [[r["step"], r["val_loss"]] for r in records
           if r.get("kind", "eval") == "eval" and _finite(r.get("step"), r.get("val_loss"))]
    train = train[::max(1, math.ceil(len(train) / CURVE_POINTS))]
    corpus = meta.get("corpus", {})
    lineage = meta.get("lineage", [])
    return json_safe({"id": run_id, "name": meta.get("run_name") or run_id, "checkpoint": got.path.name,
                  "cell": m["cell"], "layers": m["layers"], "hidden": m["hidden"], "embed": m["embed"],
                  "vocab_size": m["vocab_size"], "params": meta["params"], "step": meta.get("step"),
                  "epoch": meta.get("epoch"), "train_time": meta.get("train_time"),
                  "best_val_loss": meta.get("best_val_loss"), "saved_at": meta.get("saved_at"),
                  "corpus": {"paths": corpus.get("paths", []), "tokens": corpus.get("tokens")},
                  "lineage": lineage if isinstance(lineage, list) else [],
                  "gates": list(GATES[m["cell"]]), "curves": {"train": train, "val": val},
                  "styles": style_records(meta)})




def _finite(*values) -> bool:
    return all(is_finite_number(v) for v in values)
