"""What a run folder is: the files it holds, where runs are found, and which run a user means.

A run is a folder (by default under ./checkpoints) holding `last.pt` and/or `best.pt`, the
metrics log `metrics.jsonl` and the token cache (`tokens.bin`, `corpus.json`). Every command that
takes a run accepts what `charlstm runs` prints (a name relative to the root, `compare-x/lstm`
included), a folder, a checkpoint file, or nothing for the newest run. Knows nothing of torch, of
what a checkpoint holds, or of the terminal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..errors import CheckpointError, RunBusyError
from . import starter
from .files import atomic_write
from .portable import open_fd

LAST, BEST = "last.pt", "best.pt"
METRICS = "metrics.jsonl"
TOKENS = "tokens.bin"
CORPUS_META = "corpus.json"
LOCK = ".lock"  # held (filelock) by the one process writing the run
WRITER = ".writer"  # the pid of the process holding LOCK, for the message that refuses a second writer
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
    base = file_name_part(Path(os.fsdecode(corpus[0]).rstrip("/\\")).stem)
    name = f"{base}-{datetime.now():%Y%m%d-%H%M%S}"
    n, out = 1, name
    while (Path(root) / out).exists():
        n += 1
        out = f"{name}-{n}"
    return out


# characters no file name may hold on Windows (and wildcards, which a corpus pattern brings), and the
# device names Windows reserves whatever the extension
NOT_IN_NAMES = re.compile(r'[<>:"/\\|?*\[\]\x00-\x1f]+')
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def file_name_part(text: str) -> str:
    """`text` made safe as part of a file name on every OS ("run" when nothing is left)."""
    name = NOT_IN_NAMES.sub("", text).strip(" .")
    return "run" if not name or name.lower() in RESERVED else name


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
    """Hold the run folder's lock for the whole of a train or resume. A second writer, in this
    process or another, is refused, naming the process that holds it (its pid is kept in WRITER); the
    operating system drops the lock of a killed process, so the next run takes it over. The lock is
    filelock's: flock on Linux and macOS, LockFileEx on Windows. Costs a few system calls per run,
    nothing per step."""
    import filelock

    path = Path(run_dir) / LOCK
    if path.is_symlink():
        raise RunBusyError(f"cannot lock {run_dir}: {LOCK} there is a link, not charlstm's lock file")
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise RunBusyError(f"{run_dir} is being written by process {_holder(run_dir)} (a train or resume still "
                           "running); wait for it to finish, stop it, or use another run") from None
    except OSError as e:
        raise RunBusyError(f"cannot lock {run_dir}: {e.strerror or e}") from None
    try:
        if not _same_file(lock, path):  # the folder was removed (and perhaps made again) meanwhile
            raise RunBusyError(f"{run_dir} was removed by the process that was writing it; try again")
        try:
            with atomic_write(Path(run_dir) / WRITER, "utf-8") as f:
                f.write(f"{os.getpid()}\n")
        except OSError as e:
            raise RunBusyError(f"cannot lock {run_dir}: {e.strerror or e}") from None
        yield
    finally:
        lock.release()


def _same_file(lock, path: Path) -> bool:
    """Whether the file `lock` holds is still the one at `path`. filelock keeps its descriptor in a
    private field (in its 3.x and 4.x releases alike); where it is not found, the file's being there
    is what can be checked."""
    fd = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    try:
        b = os.lstat(path)
        a = os.fstat(fd) if isinstance(fd, int) else b
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _holder(run_dir: Path) -> str:
    """The pid the lock's holder wrote, as text ("another process" before it has written one)."""
    try:
        words = (Path(run_dir) / WRITER).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        words = []
    return words[0] if words and words[0].isdigit() else "another process"


def is_busy(run_dir: Path) -> bool:
    """Whether another writer holds the run's lock (no lock file: not busy). Asked by taking the lock
    for an instant, which needs write access to the folder; where that is refused, not busy."""
    import filelock

    path = Path(run_dir) / LOCK
    if not path.is_file() or path.is_symlink():
        return False
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False


# ---- metrics.jsonl: one JSON object per line, appended as training goes -----------------------------
def append_metrics(run_dir: Path, record: dict) -> None:
    """One whole line per record, written with one O_APPEND write (never through a planted link);
    a failed write (full disk) is one clear error."""
    line = (json.dumps(record) + "\n").encode()
    path = Path(run_dir) / METRICS
    try:
        fd = open_fd(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
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
