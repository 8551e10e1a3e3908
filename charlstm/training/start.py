"""Starting and continuing runs: `train()` and `resume()`, which set a `Run` up and yield its events.

Both read the same way: join the processes torchrun started (if any), claim the run folder under
its writer lock, build the run with one of the setups (`setup.new_run`, `setup.fine_tune_run`,
`setup.resumed_run`), and hand it to `loop.train_loop`. `train()` turns its options into a
`Request`; `resume()` finds the checkpoint and checks it can be restored before taking the lock.
A `train()` that fails before its first event removes the run folder it created.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import ModelConfig, TrainConfig
from ..data.corpus import ProgressFactory
from ..data.textfiles import ReadOptions
from ..devices import choose_for_training, configure
from ..errors import CharLSTMError, ConfigError, ResumeMismatchError
from ..events import Event
from ..store import checkpoint, runs, starter
from . import finetune
from .distributed import Dist
from .loop import train_loop
from .plan import probe_seconds
from .request import Request
from .setup import Place, find_resumable, fine_tune_run, new_run, resumed_run

RESUME_OVERRIDABLE = ("precision", "steps", "epochs", "time", "eval_every", "eval_chars", "save_every",
                      "save_every_time", "sample_every", "sample_length", "max_bad_steps", "log_every",
                      "plateau", "patience")


@dataclass(frozen=True)
class TrainOptions:
    """What `train()` takes besides the corpus, the configs and where the run goes, as one typed object
    (or as keywords of these names). `preset` ("auto" or a name in sizing.PRESETS) fills in the model
    fields missing from `model` and the sized TrainConfig fields not named in `keep` (sizing.choose).
    `init_from` (a run, a checkpoint file or `starter`) starts from those weights: the size comes from
    the checkpoint (size fields in `model` that disagree are refused), the vocabulary is the parent's,
    extended, checked or mapped as `vocab` says (finetune.plan_vocab, `map_to` for 'map'), the optimizer
    is fresh, and the rate, schedule, warm-up and budget not named in `keep` (or given in the config's
    budget) are fine-tuning's (sizing.FINE_TUNE). `styles` (folder, file or a mapping file:
    data/labels.py) labels the text by style. `read_options` says how the text is read; `threads` sets
    torch's CPU threads; `should_stop` is asked at every step; `progress` makes the reading bars."""
    preset: str | None = None
    keep: Collection[str] = ()
    init_from: str | Path | None = None
    vocab: str = "extend"
    map_to: str | None = None
    styles: str | None = None
    read_options: ReadOptions | None = None
    threads: int | None = None
    should_stop: Callable[[], bool] | None = None
    progress: ProgressFactory | None = None


def train(corpus: list[str | Path], model: dict | None = None, config: TrainConfig | None = None, *,
          run_dir: str | Path | None = None, root: str | Path = "checkpoints", device: str = "auto",
          options: TrainOptions | None = None, **keywords) -> Iterator[Event]:
    """Start a new run on `corpus` (files or directories) and yield its events.
    `model` holds ModelConfig fields other than vocab_size (cell, embed, hidden, layers, dropout,
    weight_drop); `config` the TrainConfig. Without `run_dir`, a new folder under `root` is made with a
    default name; a given `run_dir` that holds a run, or that another process is writing, is refused
    (RunBusyError names the process). The rest is a `TrainOptions`, given as `options` or as keywords
    of its field names (`preset="tiny"`, `init_from="starter"`, ...), which become one `Request`."""
    o = dataclasses.replace(options or TrainOptions(), **keywords)  # an unknown keyword is a TypeError
    req = Request(tuple(corpus), dict(model or {}), config or TrainConfig(), frozenset(o.keep),
                  o.read_options or ReadOptions(), o.preset, o.init_from, o.vocab, o.map_to, o.styles)
    return start(req, run_dir, Path(root), (device, o.threads), o.should_stop, o.progress)


def start(req: Request, run_dir: str | Path | None, root: Path, where: tuple[str, int | None],
          should_stop: Callable[[], bool] | None, progress: ProgressFactory | None) -> Iterator[Event]:
    """`train()` for a `Request`: checked, the parent model read (fine-tuning), the folder claimed and
    locked, the run set up; `where` is (device, threads)."""
    req.check()
    parent = _parent(req, root) if req.init_from is not None else None  # read and checked before any folder is made
    dev, dist, why = _join(*where)
    run_dir, created = _claim(run_dir, req.corpus, root, dist)
    # a run being written is refused by the lock (naming the writer), a finished one by the check under it
    with _held(run_dir, dist, lambda: _refuse_existing(run_dir)):
        try:  # a refusal before the first event (bad text, a precision that cannot run) leaves nothing behind
            place = Place(run_dir, dev, dist, progress, should_stop, why)
            run = fine_tune_run(req, place, *parent) if parent else new_run(req, place)
            events = train_loop(run, should_stop)
            first = next(events)
        except BaseException:
            if created:  # still under our lock: no other writer can be using it
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        yield first
        yield from events


def resume(target: str | Path | None = None, root: str | Path = "checkpoints", overrides: dict | None = None,
           device: str = "auto", threads: int | None = None, should_stop: Callable[[], bool] | None = None,
           progress: ProgressFactory | None = None) -> Iterator[Event]:
    """Continue a run (a run folder, a checkpoint file, or the newest run under `root`).
    `overrides` may change the budget and logging (RESUME_OVERRIDABLE); anything else is refused.
    The run goes on in the precision it trained in, or in fp32 where that one cannot run here (a
    note says so); a `precision` override chooses, and one that cannot run here is refused.
    A run another process is writing is refused (RunBusyError names the process); a checkpoint
    whose training state cannot be restored is refused (CheckpointError) before anything in the run
    folder is rewritten."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    bad = sorted(set(overrides) - set(RESUME_OVERRIDABLE))
    if bad:
        raise ResumeMismatchError(f"resume cannot change {', '.join(bad)}: they would not match the "
                                  "saved optimizer state and data position; start a new run instead")
    where = runs.locate(target, Path(root))
    run_dir = where.parent if where.is_file() else where
    dev, dist, why = _join(device, threads)
    # read and checked before the lock is taken: a refused checkpoint leaves the folder exactly as it was
    seen = _stamp(where)
    found = find_resumable(where, overrides, dist)
    with _held(run_dir, dist):  # before anything is removed or rewritten: no save of another process is in flight
        if dist.share(_stamp(where) != seen):  # another writer saved between the look and the lock
            found = find_resumable(where, overrides, dist)
        removed = checkpoint.remove_orphans(run_dir) if dist.is_main else []
        notes = [f"removed {len(removed)} temp file(s) left by an interrupted save"] if removed else []
        run = resumed_run(found, Place(run_dir, dev, dist, progress, should_stop, why), notes)
        yield from train_loop(run, should_stop)


def _stamp(where: Path) -> list[tuple]:
    """What changes when a checkpoint of `where` (a file or a run folder) is written again."""
    found = [where] if where.is_file() else runs.checkpoints_in(where)
    return [(p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in found]


def _refuse_existing(run_dir: Path) -> None:
    if runs.checkpoints_in(run_dir):
        raise ConfigError(f"{run_dir} already holds a run: continue it with `charlstm resume {run_dir}` "
                          "or choose another --name")


def _claim(run_dir: str | Path | None, corpus: list[str | Path], root: Path, dist: Dist) -> tuple[Path, bool]:
    """The run folder (rank 0 names it, for all ranks) and whether this call made it. A default
    name is claimed with an atomic mkdir, so two runs started in the same second never share one."""
    made = False
    if dist.is_main:
        try:
            if run_dir is None:
                run_dir, made = runs.claim_new(corpus, root), True
            else:
                run_dir = Path(run_dir)
                try:
                    run_dir.mkdir(parents=True)
                    made = True
                except FileExistsError:
                    pass
        except OSError as e:
            raise ConfigError(f"cannot make the run folder {run_dir or root}: {e.strerror or e}") from None
    return Path(dist.share(str(run_dir))), made


@contextmanager
def _held(run_dir: Path, dist: Dist, check: Callable[[], None] | None = None) -> Iterator[None]:
    """The run folder's writer lock, held by rank 0 for the whole block (one system call, nothing
    per step); then `check`. A refusal by either reaches every rank."""
    with ExitStack() as stack:
        problem = None
        if dist.is_main:
            try:
                stack.enter_context(runs.writer_lock(run_dir))
                if check is not None:
                    check()
            except CharLSTMError as e:
                problem = e
        problem = dist.share(problem)
        if problem is not None:
            raise problem
        yield


def _join(device: str, threads: int | None) -> tuple[torch.device, Dist, str]:
    """The device, the process group when torchrun started several processes (each CUDA process
    takes the GPU numbered by its LOCAL_RANK), and why that device when a timed pass chose it."""
    dev, why = choose_for_training(device, probe_seconds)
    dist = Dist.from_env(dev.type)
    if dist.active and dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(dev)
    configure(dev)
    if threads:
        torch.set_num_threads(threads)
    return dev, dist, why


def _parent(req: Request, root: Path) -> tuple[dict, str]:
    """The checkpoint a fine-tuning run starts from and how to name it, once its size agrees with
    the options."""
    path = runs.checkpoint_path(req.init_from, root)
    parent = checkpoint.load(path)
    finetune.check_size(ModelConfig.from_dict(parent["model_config"]), req.model)
    return parent, starter.NAME if path == starter.path() else str(path)
