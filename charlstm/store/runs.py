"""What a run folder is: the files it holds, where runs are found, and which run a user means.

A run is a folder (by default under ./checkpoints) holding `last.pt` and/or `best.pt`, the
metrics log `metrics.jsonl` and the token cache (`tokens.bin`, `corpus.json`). Every command that
takes a run accepts what `charlstm runs` prints (a name relative to the root, `compare-x/lstm`
included), a folder, a checkpoint file, or nothing for the newest run. Knows nothing of torch, of
what a checkpoint holds, or of the terminal.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..errors import CheckpointError, RunBusyError
from . import starter
from .files import atomic_write

LAST, BEST = "last.pt", "best.pt"
METRICS = "metrics.jsonl"
TOKENS = "tokens.bin"
CORPUS_META = "corpus.json"
LOCK = ".lock"  # held (flock) by the one process writing the run
MARKERS = (LOCK, CORPUS_META, TOKENS, LAST, BEST)  # a folder holding any of these is a run folder
DEFAULT_ROOT = Path("checkpoints")
DEPTH = 2  # `compare` keeps its runs one level below its own folder


def checkpoints_in(run_dir: Path) -> list[Path]:
    """The checkpoint files of a run folder, newest first."""
    found = [p for p in (Path(run_dir) / LAST, Path(run_dir) / BEST) if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def is_run(path: Path) -> bool:
    return Path(path).is_dir() and bool(checkpoints_in(path))


def is_run_folder(path: Path) -> bool:
    """Whether `path` is a run folder, finished or still being written (any of its files is there)."""
    return any(os.path.lexists(os.path.join(path, name)) for name in MARKERS)




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
    `root`), a checkpoint file, a run folder, a run's name under `root`, or `starter` (the packaged
    starter model, unless a run or file of that name exists)."""
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
    if str(target) == starter.NAME and starter.path() is not None:  # a folder of that name holding no run is no run
        return starter.path()
    if p.is_dir() or (root / p).is_dir():
        where = p if p.is_dir() else root / p
        raise CheckpointError(f"no checkpoint ({LAST} or {BEST}) in {where}")
    if str(target) == starter.NAME:
        raise CheckpointError("this install has no starter model (build it with `python tools/make_starter.py`)")
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
    base = Path(os.fsdecode(corpus[0]).rstrip("/")).stem or "run"
    name = f"{base}-{datetime.now():%Y%m%d-%H%M%S}"
    n, out = 1, name
    while (Path(root) / out).exists():
        n += 1
        out = f"{name}-{n}"
    return out


def claim_new(corpus: list[str | Path], root: Path = DEFAULT_ROOT) -> Path:
    """Create a new run folder with a default name; mkdir is atomic, so two runs started in the same
    second never share one."""
    Path(root).mkdir(parents=True, exist_ok=True)
    while True:
        run_dir = Path(root) / default_name(corpus, root)
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue


@contextmanager
def writer_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the whole of a train or resume. A second writer is refused,
    naming the process; the lock of a killed process is released by the kernel (flock), so the
    next run takes it over. Costs one system call per run, nothing per step."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        raise RunBusyError(f"cannot lock {run_dir}: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = (os.pread(fd, 32, 0).decode(errors="replace").split() or ["another process"])[0]
            raise RunBusyError(f"{run_dir} is being written by process {holder} (a train or resume still "
                               "running); wait for it to finish, stop it, or use another run") from None
        if not _same_file(fd, path):  # the folder was removed (and perhaps made again) meanwhile
            raise RunBusyError(f"{run_dir} was removed by the process that was writing it; try again")
        mine = f"{os.getpid()}\n".encode()
        os.pwrite(fd, mine, 0)  # written, then cut to length: a reader sees a whole pid on the first line
        os.ftruncate(fd, len(mine))
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def is_busy(run_dir: Path) -> bool:
    """Whether another process holds the run's writer lock (no lock file: not busy)."""
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# ---- metrics.jsonl: one JSON object per line, appended as training goes -----------------------------
def append_metrics(run_dir: Path, record: dict) -> None:
    """One whole line per record, written with one O_APPEND write (never through a planted link);
    a failed write (full disk) is one clear error."""
    line = (json.dumps(record) + "\n").encode()
    path = Path(run_dir) / METRICS
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            if os.write(fd, line) != len(line):
                raise OSError(28, "short write (disk full?)")
        finally:
            os.close(fd)
    except OSError as e:
        raise CheckpointError(f"could not write {path}: {e.strerror or e}; the checkpoints are untouched") from None


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
    try:  # the old log stays whole until the new one is complete
        with atomic_write(path, "utf-8") as f:
            f.write("".join(json.dumps(r) + "\n" for r in keep))
    except OSError as e:
        raise CheckpointError(f"could not rewrite {path}: {e.strerror or e}") from None
    return bad
