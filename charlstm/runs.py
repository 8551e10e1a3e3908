"""What a run folder is: the files it holds, where runs are found, and which run a user means.

A run is a folder (by default under ./checkpoints) holding `last.pt` and/or `best.pt`, the
metrics log `metrics.jsonl` and the token cache (`tokens.bin`, `corpus.json`). Every command that
takes a run accepts what `charlstm runs` prints (a name relative to the root, `compare-x/lstm`
included), a folder, a checkpoint file, or nothing for the newest run. Knows nothing of torch, of
what a checkpoint holds, or of the terminal.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from .errors import CheckpointError

LAST, BEST = "last.pt", "best.pt"
METRICS = "metrics.jsonl"
TOKENS = "tokens.bin"
CORPUS_META = "corpus.json"
DEFAULT_ROOT = Path("checkpoints")
DEPTH = 2  # `compare` keeps its runs one level below its own folder


def checkpoints_in(run_dir: Path) -> list[Path]:
    """The checkpoint files of a run folder, newest first."""
    found = [p for p in (Path(run_dir) / LAST, Path(run_dir) / BEST) if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def is_run(path: Path) -> bool:
    return Path(path).is_dir() and bool(checkpoints_in(path))


def find(root: Path = DEFAULT_ROOT) -> list[Path]:
    """Every run folder under `root` (up to DEPTH levels down), newest checkpoint first."""
    root = Path(root)
    if not root.is_dir():
        return []
    dirs = {p.parent for depth in range(1, DEPTH + 1) for name in (LAST, BEST)
            for p in root.glob("/".join(["*"] * depth) + "/" + name) if p.is_file()}
    return sorted(dirs, key=lambda d: checkpoints_in(d)[0].stat().st_mtime_ns, reverse=True)


def name_of(run_dir: Path, root: Path = DEFAULT_ROOT) -> str:
    """How `charlstm runs` names a run: its path relative to the root when it lies under it."""
    try:
        return Path(run_dir).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(run_dir)


def locate(target: str | Path | None, root: Path = DEFAULT_ROOT) -> Path:
    """The run folder or checkpoint file a user means by `target`: None (the newest run under
    `root`), a checkpoint file, a run folder, or a run's name under `root`."""
    root = Path(root)
    if target is None:
        found = find(root)
        if not found:
            raise CheckpointError(f"no runs under {root}/ (train one first: charlstm train CORPUS)")
        return found[0]
    p = Path(target)
    for candidate in (p, root / p):
        if candidate.is_file() or is_run(candidate):
            return candidate
    if p.is_dir() or (root / p).is_dir():
        where = p if p.is_dir() else root / p
        raise CheckpointError(f"no checkpoint ({LAST} or {BEST}) in {where}")
    raise CheckpointError(f"no run {str(target)!r}: not a checkpoint file, a run folder, or a run under {root}/ "
                          "(`charlstm runs` lists them)")


def checkpoint_path(target: str | Path | None, root: Path = DEFAULT_ROOT, last: bool = False) -> Path:
    """The checkpoint file for `target` (see `locate`); in a run folder best.pt is preferred, or
    last.pt with `last`, falling back to the other one."""
    p = locate(target, root)
    if p.is_file():
        return p
    order = (LAST, BEST) if last else (BEST, LAST)
    return next(p / name for name in order if (p / name).is_file())


def run_dir_of(target: str | Path | None, root: Path = DEFAULT_ROOT) -> Path:
    """The run folder for `target`; for a checkpoint file, the folder holding it."""
    p = locate(target, root)
    return p.parent if p.is_file() else p


def default_name(corpus: list[str | Path], root: Path = DEFAULT_ROOT) -> str:
    """The first corpus path's stem and the time, e.g. `pydocs-20261127-221500` (`-2`, `-3` when taken)."""
    base = Path(str(corpus[0]).rstrip("/")).stem or "run"
    name = f"{base}-{datetime.now():%Y%m%d-%H%M%S}"
    n, out = 1, name
    while (Path(root) / out).exists():
        n += 1
        out = f"{name}-{n}"
    return out


# ---- metrics.jsonl: one JSON object per line, appended as training goes -----------------------------
def append_metrics(run_dir: Path, record: dict) -> None:
    with open(Path(run_dir) / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(run_dir: Path) -> tuple[list[dict], int]:
    """The records of a run's metrics log and how many unreadable lines were skipped (a write cut
    short by a crash or a full disk leaves a torn last line)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    return records, bad


def truncate_metrics(run_dir: Path, step: int) -> int:
    """Keep the records up to `step` (those after the checkpoint being resumed will be written
    again); returns how many unreadable lines were dropped."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return 0
    records, bad = read_metrics(run_dir)
    keep = [r for r in records if isinstance(r.get("step", 0), int) and r.get("step", 0) <= step]
    path.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
    return bad
