"""Starting and continuing runs: `train()` and `resume()`, which set a `Run` up and yield its events.

Both read the same way: join the processes torchrun started (if any), read the corpus into the run
folder, settle the numeric precision, build the run, and hand it to `loop.train_loop`. They differ
only in where the state comes from: `train()` sizes and seeds a new model, `resume()` takes the
model, position and random streams from a checkpoint, so a resumed run continues bit for bit. A
`train()` that fails before its first event removes the run folder it created.
"""

from __future__ import annotations

import dataclasses
import math
import random
import shutil
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch

from .. import checkpoint, finetune, runs, sizing, starter
from ..batching import window
from ..config import ModelConfig, TrainConfig, budget_text
from ..corpus import Corpus, ProgressFactory, prepare_corpus
from ..devices import configure, resolve_device
from ..distributed import Dist
from ..errors import CharLSTMError, CheckpointError, ConfigError, Interrupted, ResumeMismatchError
from ..events import Event
from ..loop import Run, compute_loss, lay_out, train_loop
from ..model import CharLSTM
from ..precision import grad_scaler, resolve_precision, time_pass, unavailable
from ..textfiles import ReadOptions
from ..tokenfile import Tokens
from ..tokenizer import CharTokenizer

RESUME_OVERRIDABLE = ("precision", "steps", "epochs", "time", "eval_every", "eval_chars", "save_every",
                      "save_every_time", "sample_every", "sample_length", "max_bad_steps", "log_every",
                      "plateau", "patience")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def make_optimizer(model: CharLSTM, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on weight matrices only; biases and the embedding table are not decayed."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embed")]
    keep = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("embed"))]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": keep, "weight_decay": 0.0}]
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr)


def train(corpus: list[str | Path], model: dict | None = None, config: TrainConfig | None = None,
          run_dir: str | Path | None = None, root: str | Path = "checkpoints",
          read_options: ReadOptions | None = None, device: str = "auto", threads: int | None = None,
          should_stop: Callable[[], bool] | None = None,
          progress: ProgressFactory | None = None, preset: str | None = None,
          keep: Collection[str] = (), init_from: str | Path | None = None, vocab: str = "extend",
          map_to: str | None = None) -> Iterator[Event]:
    """Start a new run on `corpus` (files or directories) and yield its events.
    `model` holds ModelConfig fields other than vocab_size (cell, embed, hidden, layers, dropout,
    weight_drop).
    With `preset` ("auto" or a name in sizing.PRESETS), the model fields missing from `model` and
    the sized TrainConfig fields not named in `keep` are filled in by `sizing.choose`.
    With `init_from` (a run, a checkpoint file or `starter`), the model starts from those weights:
    its size comes from the checkpoint (size fields in `model` that disagree are refused), the
    vocabulary is the parent's, extended, checked or mapped as `vocab` says (finetune.plan_vocab,
    `map_to` for 'map'), the optimizer is fresh, and the learning rate, schedule, warm-up and budget
    not named in `keep` (or given in `config`'s budget) are fine-tuning's (sizing.FINE_TUNE).
    Without `run_dir`, a new folder under `root` is made with a default name; a given `run_dir` that
    holds a run, or that another process is writing, is refused (RunBusyError names the process)."""
    cfg, opts, root = config or TrainConfig(), read_options or ReadOptions(), Path(root)
    ModelConfig(vocab_size=2, **(model or {}))  # check the options before reading anything
    if preset is not None:
        sizing.check(preset)
    parent = None
    if init_from is not None:  # read and checked before any folder is made
        if preset not in (None, "auto"):
            raise ConfigError(f"--preset {preset} sizes a new model; with --init-from the size comes from the "
                              "checkpoint")
        parent = _parent(init_from, root, dict(model or {}), vocab, map_to)
        preset = None
    dev, dist = _join(device, threads)
    run_dir, created = _claim(run_dir, corpus, root, dist)
    # a run being written is refused by the lock (naming the writer), a finished one by the check under it
    with _held(run_dir, dist, lambda: _refuse_existing(run_dir)):
        try:  # a refusal before the first event (bad text, a precision that cannot run) leaves nothing behind
            if parent is not None:
                run = _fine_tune_run(corpus, opts, progress, run_dir, dev, dist, dict(model or {}), cfg, set(keep),
                                     should_stop, parent, vocab, map_to)
            else:
                run = _new_run(corpus, opts, progress, run_dir, dev, dist, dict(model or {}), cfg, preset, set(keep),
                               should_stop)
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
    """Continue a run (a run directory, a checkpoint file, or the newest run under `root`).
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
    dev, dist = _join(device, threads)
    # read and checked before the lock is taken: a refused checkpoint leaves the folder exactly as it was
    seen = _stamp(where)
    saved, path, notes = _newest_good(where)
    cfg, net = _restorable(saved, path, overrides, dist)
    with _held(run_dir, dist):  # before anything is removed or rewritten: no save of another process is in flight
        if dist.share(_stamp(where) != seen):  # another writer saved between the look and the lock
            saved, path, notes = _newest_good(where)
            cfg, net = _restorable(saved, path, overrides, dist)
        removed = checkpoint.remove_orphans(run_dir) if dist.is_main else []
        if removed:
            notes.append(f"removed {len(removed)} temp file(s) left by an interrupted save")
        try:
            data = _read_corpus(saved["corpus"]["paths"], run_dir, ReadOptions(**saved["corpus"]["options"]), dist,
                                progress, tokenizer=CharTokenizer.from_dict(saved["vocab"]), should_stop=should_stop)
        except Interrupted:
            raise Interrupted("stopped while reading the corpus; the run is as it was") from None
        _check_unchanged(data, saved)
        net.to(dev).train()
        settled = _saved_precision(net, cfg, data, dev, dist) if "precision" not in overrides else None
        run = _build_run(run_dir, net, cfg, data, saved["corpus"], dev, dist, notes, saved=saved, path=path,
                         settled=settled)
        yield from train_loop(run, should_stop)


def _saved_precision(net: CharLSTM, cfg: TrainConfig, data: Corpus, dev: torch.device,
                     dist: Dist) -> tuple[str, str] | None:
    """The precision a resumed run goes on in when --precision is not given: the one it trained in,
    or fp32 where that one cannot run (a bf16 run moved to a CPU without bf16 kernels, an fp16 run
    moved from a GPU to a CPU). None for an fp32 run: nothing to settle."""
    if cfg.precision == "fp32":
        return None
    why = dist.share(unavailable(cfg.precision, dev, _probe(net, lay_out(data.tokens, cfg)[0], cfg, dev)))
    if why is None:
        return cfg.precision, f"{cfg.precision} (as the run trained)"
    return "fp32", f"fp32: the run trained in {cfg.precision}, which {why}; it goes on in fp32"


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


def _new_run(corpus: list[str | Path], opts: ReadOptions, progress: ProgressFactory | None, run_dir: Path,
             dev: torch.device, dist: Dist, model: dict, cfg: TrainConfig, preset: str | None,
             keep: set[str], should_stop: Callable[[], bool] | None = None) -> Run:
    """A new run: the corpus read into the run folder, the sizes the user left open filled in from
    the preset, and a freshly seeded model."""
    data = _read_corpus(corpus, run_dir, opts, dist, progress, max_vocab=cfg.max_vocab, should_stop=should_stop)
    fields, size_note, probed = model, None, {}
    if preset is not None:
        rate = _rate_meter(data, cfg, dev, dist, model, keep, probed)
        fields, cfg, size_note = _apply_sizing(preset, len(data.tokens), cfg, dev, model, keep, rate)
    train_ids, _ = lay_out(data.tokens, cfg)
    # the model sizing timed is the one chosen: its precision and step time need not be measured again
    same = probed.get("shape") == (fields, cfg.batch_size, cfg.seq_len)
    seed_everything(cfg.seed)
    net = CharLSTM(ModelConfig(vocab_size=data.tokenizer.vocab_size, **fields)).to(dev)
    run = _build_run(run_dir, net, cfg, data, _corpus_info(corpus, opts, data), dev, dist, [],
                     settled=probed["settled"] if same else None)
    run.notes += [f"skipped {p} ({reason})" for p, reason in data.files.skipped[:10]]
    if len(data.files.skipped) > 10:
        run.notes.append(f"... and {len(data.files.skipped) - 10} more skipped files")
    if size_note is not None:
        why = "" if "weight_drop" in model else _size_weight_drop(net, run.cfg, train_ids, dev, dist,
                                                                  probed["secs"] if same else None)
        run.notes.insert(0, size_note(net.config.weight_drop, why))
    return run


def _build_run(run_dir: Path, net: CharLSTM, cfg: TrainConfig, data: Corpus, corpus_info: dict, dev: torch.device,
               dist: Dist, notes: list[str], saved: dict | None = None, path: Path | None = None,
               settled: tuple[str, str] | None = None) -> Run:
    """The run of `net` over `data`, new or (with the checkpoint `saved`) continued: the precision
    settled (an asked-for half precision checked to run here; `settled` when sizing already did it
    for this very model), the optimizer and loss scaler made, the saved state restored, and the
    metrics log cut back to the step the run starts from."""
    if saved is None or cfg.precision != "fp32":  # a continued fp32 run has nothing to settle
        if settled is None:
            settled = dist.share(resolve_precision(cfg.precision, dev, _probe(net, lay_out(data.tokens, cfg)[0], cfg,
                                                                              dev)))
        precision, why = settled
        cfg = cfg.replace(precision=precision)
        notes = [*notes, f"precision: {why}"]
    run = Run(run_dir, net, make_optimizer(net, cfg), cfg, data, corpus_info, dev, dist,
              scaler=grad_scaler(cfg.precision, dev), notes=notes)
    if saved is not None:
        with _restoring(path):
            run.restore(saved)
    if dist.is_main:
        torn = runs.truncate_metrics(run_dir, run.step)
        if torn:
            run.notes.append(f"skipped {torn} unreadable line(s) in {runs.METRICS} (a write cut short)")
    return run


def _join(device: str, threads: int | None) -> tuple[torch.device, Dist]:
    """The device, and the process group when torchrun started several processes (each CUDA
    process takes the GPU numbered by its LOCAL_RANK)."""
    dev = resolve_device(device)
    dist = Dist.from_env(dev.type)
    if dist.active and dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(dev)
    configure(dev)
    if threads:
        torch.set_num_threads(threads)
    return dev, dist


def _read_corpus(paths: list[str | Path], run_dir: Path, opts: ReadOptions, dist: Dist,
                 progress: ProgressFactory | None, **kw) -> Corpus:
    """The corpus, encoded into the run folder's token cache: rank 0 writes it, the others then read it."""
    with dist.main_first():
        return prepare_corpus(paths, run_dir, opts, progress=progress if dist.is_main else None, **kw)


def _restorable(saved: dict, path: Path, overrides: dict, dist: Dist) -> tuple[TrainConfig, CharLSTM]:
    """The config a resumed run goes on with, and its model (on the CPU), once all that resume will
    restore was checked; nothing in the run folder has changed yet."""
    checkpoint.validate_training_state(saved, path)
    cfg = TrainConfig.from_dict(saved["train_config"])
    if {"steps", "epochs", "time"} & set(overrides):  # a new budget replaces the old one whole
        cfg = cfg.replace(steps=None, epochs=None, time=None)
    cfg = cfg.replace(**overrides)
    dist.lanes(cfg.batch_size)  # the lanes divide among the processes
    net, _ = checkpoint.build_model(saved, "cpu")
    _trial_restore(saved, path, net, cfg)
    return cfg, net


def _trial_restore(saved: dict, path: Path, net: CharLSTM, cfg: TrainConfig) -> None:
    """Load the saved optimizer state, loss scale and random states into throwaway objects (the model
    still on the CPU, so the optimizer state is not copied), and check what torch leaves to the first
    step: the state's shapes and values and the hyperparameters' types."""
    with _restoring(path):
        opt = make_optimizer(net, cfg)
        fresh = [dict(g) for g in opt.param_groups]
        opt.load_state_dict(saved["optimizer"])
        _check_optimizer(opt, fresh, path)
        if saved.get("scaler"):
            torch.amp.GradScaler("cpu").load_state_dict(saved["scaler"])
        rng = saved["rng"]
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(rng["torch"])
        random.Random().setstate((3, tuple(rng["python"]), rng["python_gauss"]))


OPTIMIZER_STATE = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")  # what Adam and AdamW keep per weight


def _check_optimizer(opt: torch.optim.Optimizer, fresh: list[dict], path: Path) -> None:
    """The loaded optimizer state against the model: flags as a fresh optimizer has them, finite
    non-negative rates, and per weight finite moments of its shape."""
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: its optimizer state {what}; it cannot be resumed "
                               "(sample, eval and info still read it)")
    for group, new in zip(opt.param_groups, fresh):
        for k, v in new.items():
            if k != "params" and not _like(v, group.get(k, v)):
                raise bad(f"has {k} = {group.get(k)!r}")
        for p in group["params"]:
            for k, t in opt.state.get(p, {}).items():
                if k not in OPTIMIZER_STATE:
                    raise bad(f"holds an unknown entry {k!r}")
                if k == "step":
                    ok = _rate(t) or (isinstance(t, torch.Tensor) and t.numel() == 1 and _rate(t.item()))
                else:
                    ok = (isinstance(t, torch.Tensor) and t.shape == p.shape and t.dtype == p.dtype
                          and bool(torch.isfinite(t).all()) and (k == "exp_avg" or bool((t >= 0).all())))
                if not ok:
                    raise bad(f"does not fit the model ({k} of a weight of shape {tuple(p.shape)})")


def _rate(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _like(fresh: object, got: object) -> bool:
    """Whether a saved optimizer hyperparameter is of the kind a fresh optimizer holds."""
    if isinstance(fresh, bool) or fresh is None:  # flags (amsgrad, foreach, fused, capturable ...) as charlstm sets
        return type(got) is type(fresh) and got == fresh
    if isinstance(fresh, (int, float)):
        return _rate(got)
    return isinstance(got, (tuple, list)) and len(got) == len(fresh) and all(map(_rate, got))


@contextmanager
def _restoring(path: Path | None) -> Iterator[None]:
    """What torch raises on a damaged optimizer, loss scaler or random state, as one CheckpointError."""
    try:
        yield
    except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as e:
        why = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise CheckpointError(f"{path}: its training state cannot be restored ({type(e).__name__}: {why}); "
                              "it cannot be resumed (sample, eval and info still read it)") from None


def _newest_good(where: Path) -> tuple[dict, Path, list[str]]:
    """(checkpoint, its path, notes): a checkpoint file as given, or a run folder's newest readable one."""
    if where.is_file():
        return checkpoint.load(where), where, []
    saved, path, problems = checkpoint.load_newest_good(where)
    notes = [f"skipped a bad checkpoint: {p}" for p in problems]
    if problems:
        notes.append(f"resuming from {path.name} (step {saved['step']}) instead")
    return saved, path, notes


def _check_unchanged(data: Corpus, saved: dict) -> None:
    """Refuse to continue on a corpus other than the one the saved data position points into."""
    info = saved["corpus"]
    if data.tokenizer != CharTokenizer.from_dict(saved["vocab"]):
        raise ResumeMismatchError("the corpus vocabulary differs from the checkpoint's")
    if len(data.tokens) != info["tokens"] or data.tokens.checksum() != info["checksum"]:
        raise ResumeMismatchError(
            f"the corpus changed since this run started ({info['tokens']:,} characters then, "
            f"{len(data.tokens):,} now, or different text): the saved data position would point elsewhere; "
            "restore the corpus, or start a new run")


def _probe(model: CharLSTM, ids: Tokens, cfg: TrainConfig, device: torch.device) -> Callable[[str], None]:
    """A forward + backward pass on the first training window, for timing precisions. Leaves no
    trace: gradients are cleared and the random state is restored afterwards."""
    x, y = window(ids, cfg.batch_size, 0, cfg.seq_len)
    x, y = x.to(device), y.to(device)

    def run_pass(precision: str) -> None:
        with torch.random.fork_rng(devices=[]):
            loss, _ = compute_loss(model, x, y, model.init_state(cfg.batch_size, device), precision)
            loss.backward()
        model.zero_grad(set_to_none=True)
    return run_pass


def _parent(init_from: str | Path, root: Path, model: dict, vocab: str, map_to: str | None) -> tuple[dict, str]:
    """The checkpoint a fine-tuning run starts from and how to name it, once its size agrees with
    the options and the vocabulary mode is known."""
    if vocab not in finetune.MODES:
        raise ConfigError(f"--vocab must be one of {', '.join(finetune.MODES)}, got {vocab!r}")
    if map_to is not None and vocab != "map":
        raise ConfigError("--map-to is only used with --vocab map")
    path = runs.checkpoint_path(init_from, root)
    parent = checkpoint.load(path)
    finetune.check_size(ModelConfig.from_dict(parent["model_config"]), model)
    source = starter.NAME if path == starter.path() else str(path)
    return parent, source


def _fine_tune_run(corpus: list[str | Path], opts: ReadOptions, progress: ProgressFactory | None, run_dir: Path,
                   dev: torch.device, dist: Dist, model: dict, cfg: TrainConfig, keep: set[str],
                   should_stop: Callable[[], bool] | None, parent: tuple[dict, str], vocab: str,
                   map_to: str | None) -> Run:
    """A run that starts from a trained model: the corpus read with the parent's vocabulary (grown,
    checked or mapped), the parent's weights grown to match, fine-tuning's rate, schedule and budget."""
    saved, source = parent
    old = CharTokenizer.from_dict(saved["vocab"])
    if "normalization" in keep and opts.normalization != old.normalization:
        raise ConfigError(f"--normalization {opts.normalization} differs from the model's ({old.normalization}): "
                          "a fine-tuned model reads text the way it was trained; leave the option out")
    plans: list[finetune.VocabPlan] = []

    def vocab_for(counts: dict[str, int]) -> CharTokenizer:
        plans.append(finetune.plan_vocab(old, counts, vocab, map_to))
        return plans[-1].tokenizer
    data = _read_corpus(corpus, run_dir, dataclasses.replace(opts, normalization=old.normalization), dist, progress,
                        vocab_for=vocab_for, should_stop=should_stop)
    cfg, lr_note = _fine_tune_config(TrainConfig.from_dict(saved["train_config"]), cfg, keep)
    net_cfg, weights = finetune.start_weights(saved, data.tokenizer.vocab_size, model)
    seed_everything(cfg.seed)
    net = CharLSTM(net_cfg)
    net.load_state_dict(weights)
    net.to(dev)
    wd_note = ""
    if "weight_drop" not in model:  # as sizing does it: on when the run reads its text often enough to memorise it
        net.config = dataclasses.replace(net.config, weight_drop=sizing.FINE_TUNE["weight_drop"])
        why = _size_weight_drop(net, cfg, lay_out(data.tokens, cfg)[0], dev, dist)
        wd_note = f"; weight drop {net.config.weight_drop:g}" + (f" ({why})" if why else "")
    best = saved.get("best_val_loss")
    notes = [f"init: {source} ({finetune.describe_size(net_cfg)}, step {saved.get('step', 0):,}"
             f"{f', best val {best:.4f}' if best is not None else ''}); the size comes from it, the optimizer starts "
             f"fresh; {lr_note}{wd_note}"]
    notes += [finetune.describe_plan(p) for p in plans[-1:]]
    run = _build_run(run_dir, net, cfg, data, _corpus_info(corpus, opts, data), dev, dist, notes)
    run.lineage = finetune.lineage(saved, source)
    return run


def _fine_tune_config(parent: TrainConfig, cfg: TrainConfig, keep: set[str]) -> tuple[TrainConfig, str]:
    """The fine-tuning run's config: batch shape, weight decay and plateau from the parent, the rate a
    share of the parent's, a fresh cosine decay with a short warm-up, and a shorter default budget;
    whatever the user gave (`keep`, or any budget) wins. Returns it and the note saying why."""
    changes = {k: getattr(parent, k) for k in ("batch_size", "seq_len", "weight_decay", "plateau") if k not in keep}
    if "lr" not in keep:
        changes["lr"] = parent.lr * sizing.FINE_TUNE["lr_share"]
    changes.update({k: sizing.FINE_TUNE[k] for k in ("schedule", "warmup") if k not in keep})
    if not (cfg.steps or cfg.epochs or cfg.time):
        changes["time"] = sizing.FINE_TUNE["time"]
    lr = changes.get("lr", cfg.lr)
    cfg = cfg.replace(**changes, min_lr=min(cfg.min_lr, lr))
    given = sorted(k for k in ("lr", "schedule", "warmup") if k in keep)
    share = "as given" if "lr" in keep else f"{sizing.FINE_TUNE['lr_share']:g}x its peak"
    kept = f"; your {', '.join('--' + k for k in given)} kept" if given else ""
    note = (f"fine-tuning: lr {cfg.lr:g} ({share}), {cfg.schedule} with {cfg.warmup} warm-up steps, "
            f"{budget_text(cfg.budget)} ({finetune.WHY}{kept})")
    return cfg, note


def _apply_sizing(preset: str, n_chars: int, cfg: TrainConfig, dev: torch.device, model: dict, keep: set[str],
                  rate: Callable[[dict], float] | None = None) -> tuple[dict, TrainConfig, Callable[[float, str], str]]:
    """Fill in what the user left open from the preset (`rate` measures a candidate's speed here; see
    `_rate_meter`). Returns the model fields, the config, and a function that writes the `size:`
    note (given the weight drop and why it was kept or turned off)."""
    budget = cfg.budget
    chosen = sizing.choose(preset, n_chars, budget.get("time") if len(budget) == 1 else None, dev.type, rate)
    given = sorted([k for k in sizing.MODEL_FIELDS if k in model] + [k for k in sizing.TRAIN_FIELDS if k in keep])
    model = {**{k: v for k, v in chosen.model().items() if k not in model}, **model}
    cfg = cfg.replace(**{k: v for k, v in chosen.train().items() if k not in keep})

    def note(weight_drop: float, why: str) -> str:
        final = {**{k: getattr(cfg, k) for k in sizing.TRAIN_FIELDS}, **{k: model[k] for k in sizing.MODEL_FIELDS},
                 "weight_drop": weight_drop}
        text = f"size: {chosen.reason}: {sizing.describe(final, why)}"
        return text + (f" (your {', '.join('--' + k.replace('_', '-') for k in given)} kept)" if given else "")
    return model, cfg, note


def _rate_meter(data: Corpus, cfg: TrainConfig, dev: torch.device, dist: Dist, model: dict, keep: set[str],
                probed: dict) -> Callable[[dict], float]:
    """rate(values): the characters per second a model of a preset's `values` (the user's options
    winning) trains at here, one forward + backward timed in the precision the run would settle on.
    What it measured is left in `probed` (shape, settled precision, seconds a step), so the run
    does not time the same model again."""
    def rate(values: dict) -> float:
        fields = {**{k: values[k] for k in sizing.MODEL_FIELDS}, **model}
        tcfg = cfg.replace(**{k: values[k] for k in ("batch_size", "seq_len") if k not in keep})
        net = CharLSTM(ModelConfig(vocab_size=data.tokenizer.vocab_size, **fields)).to(dev)
        probe = _probe(net, lay_out(data.tokens, tcfg)[0], tcfg, dev)
        settled = dist.share(resolve_precision(tcfg.precision, dev, probe))
        secs = dist.share(time_pass(probe, settled[0], dev, reps=1))
        probed.update(shape=(fields, tcfg.batch_size, tcfg.seq_len), settled=settled, secs=secs)
        return tcfg.batch_size * tcfg.seq_len / secs
    return rate


def _size_weight_drop(net: CharLSTM, cfg: TrainConfig, train_ids: Tokens, dev: torch.device, dist: Dist,
                      secs: float | None = None) -> str:
    """Turn a preset's weight drop off when the run will read its text too few times to memorise
    it (sizing.weight_drop_for); a step is timed only for a time budget (`secs` when already known).
    Returns why."""
    budget = cfg.budget
    timed = budget.get("time") and net.config.weight_drop > 0
    if timed and secs is None:
        secs = time_pass(_probe(net, train_ids, cfg, dev), cfg.precision, dev, reps=1)
    passes = dist.share(sizing.expected_passes(budget, cfg.batch_size * cfg.seq_len, len(train_ids), secs))
    wd, why = sizing.weight_drop_for(net.config.weight_drop, passes)
    net.config = dataclasses.replace(net.config, weight_drop=wd)
    return why


def _corpus_info(paths: list[str | Path], opts: ReadOptions, corpus: Corpus) -> dict:
    return {"paths": [str(Path(p).resolve()) for p in paths], "options": {
        "encoding": opts.encoding, "errors": opts.errors, "newline": opts.newline,
        "normalization": opts.normalization, "pattern": opts.pattern},
        "tokens": int(len(corpus.tokens)), "checksum": corpus.tokens.checksum()}
