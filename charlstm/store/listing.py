"""The runs under a root as `charlstm runs` lists them: each run's name and folder with its newest
checkpoint that loads, or why none does. A module of its own because it reads checkpoints:
checkpoint.py imports runs.py, which knows run folders but not what a checkpoint holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import CharLSTMError
from . import checkpoint, runs


@dataclass(frozen=True)
class RunEntry:
    """One run: its name as `charlstm runs` prints it (runs.name_of), its folder, and either its
    newest checkpoint that loads (`checkpoint`, read from `path`) or why none loads (`error`)."""
    name: str
    run_dir: Path
    checkpoint: dict | None = None
    path: Path | None = None
    error: str | None = None


def list_runs(root: str | Path = runs.DEFAULT_ROOT) -> list[RunEntry]:
    """Every run under `root`, newest first (see runs.find), an unreadable one included with its
    error. A `root` that is missing or not a folder, or that holds no run, is refused
    (CharLSTMError)."""
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise CharLSTMError(f"no runs: {root} {what} (train one with `charlstm train CORPUS`, or give --root)")
    entries = [_entry(d, root) for d in runs.find(root)]
    if not entries:
        raise CharLSTMError(f"no runs under {root} (train one with `charlstm train CORPUS`)")
    return entries


def _entry(run_dir: Path, root: Path) -> RunEntry:
    name = runs.name_of(run_dir, root)
    try:
        saved, path, _ = checkpoint.load_newest_good(run_dir)
    except CharLSTMError as e:
        return RunEntry(name, run_dir, error=str(e))
    return RunEntry(name, run_dir, saved, path)
