"""Starting and continuing runs: `train()` and `resume()`, which set a `Run` up and yield its events.

Both read the same way: join the processes torchrun started (if any), read the corpus into the run
folder, settle the numeric precision, build the run, and hand it to `loop.train_loop`. They differ
only in where the state comes from: `train()` sizes and seeds a new model, `resume()` takes the
model, position and random streams from a checkpoint, so a resumed run continues bit for bit. A
`train()` that fails before its first event removes the run folder it created.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import torch

from . import checkpoint, runs, sizing
from .batching import window
from .config import ModelConfig, TrainConfig
from .corpus import Corpus, ProgressFactory, prepare_corpus
from .devices import configure, resolve_device
from .distributed import Dist
from .errors import ConfigError, ResumeMismatchError
from .events import Event
from .loop import Run, compute_loss, lay_out, train_loop
from .model import CharLSTM
from .precision import grad_scaler, resolve_precision, time_pass
from .textfiles import ReadOptions
from .tokenfile import Tokens
from .tokenizer import CharTokenizer

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
          keep: Collection[str] = ()) -> Iterator[Event]:
    """Start a new run on `corpus` (files or directories) and yield its events.
    `model` holds ModelConfig fields other than vocab_size (cell, embed, hidden, layers, dropout,
    weight_drop).
    With `preset` ("auto" or a name in sizing.PRESETS), the model fields missing from `model` and
    the sized TrainConfig fields not named in `keep` are filled in by `sizing.choose`."""
    cfg, opts, root = config or TrainConfig(), read_options or ReadOptions(), Path(root)
    run_dir = Path(run_dir) if run_dir else root / runs.default_name(corpus, root)
    if runs.checkpoints_in(run_dir):
        raise ConfigError(f"{run_dir} already holds a run: continue it with `charlstm resume {run_dir}` "
                          "or choose another --name")
    dev, dist = _join(device, threads)
    run_dir = Path(dist.share(str(run_dir)))  # one name for all ranks (rank 0's clock decides)
    ModelConfig(vocab_size=2, **(model or {}))  # check the options before reading anything
    if preset is not None:
        sizing.check(preset)
    created = not run_dir.exists()
    try:  # a refusal before the first event (bad text, a precision that cannot run) leaves nothing behind
        run = _new_run(corpus, opts, progress, run_dir, dev, dist, dict(model or {}), cfg, preset, set(keep))
        events = train_loop(run, should_stop)
        first = next(events)
    except BaseException:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    yield first
    yield from events


def resume(target: str | Path | None = None, root: str | Path = "checkpoints", overrides: dict | None = None,
           device: str = "auto", threads: int | None = None, should_stop: Callable[[], bool] | None = None,
           progress: ProgressFactory | None = None) -> Iterator[Event]:
    """Continue a run (a run directory, a checkpoint file, or the newest run under `root`).
    `overrides` may change the budget and logging (RESUME_OVERRIDABLE); anything else is refused."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    bad = sorted(set(overrides) - set(RESUME_OVERRIDABLE))
    if bad:
        raise ResumeMismatchError(f"resume cannot change {', '.join(bad)}: they would not match the "
                                  "saved optimizer state and data position; start a new run instead")
    saved, path, notes = _newest_good(runs.locate(target, Path(root)))
    run_dir = path.parent
    dev, dist = _join(device, threads)
    removed = checkpoint.remove_orphans(run_dir) if dist.is_main else []
    if removed:
        notes.append(f"removed {len(removed)} temp file(s) left by an interrupted save")
    cfg = TrainConfig.from_dict(saved["train_config"])
    if {"steps", "epochs", "time"} & set(overrides):  # a new budget replaces the old one whole
        cfg = cfg.replace(steps=None, epochs=None, time=None)
    cfg = cfg.replace(**overrides)
    data = _read_corpus(saved["corpus"]["paths"], run_dir, ReadOptions(**saved["corpus"]["options"]), dist,
                        progress, tokenizer=CharTokenizer.from_dict(saved["vocab"]))
    _check_unchanged(data, saved)
    net, _ = checkpoint.build_model(saved, dev)
    net.train()
    run = _build_run(run_dir, net, cfg, data, saved["corpus"], dev, dist, notes, saved=saved)
    yield from train_loop(run, should_stop)


def _new_run(corpus: list[str | Path], opts: ReadOptions, progress: ProgressFactory | None, run_dir: Path,
             dev: torch.device, dist: Dist, model: dict, cfg: TrainConfig, preset: str | None,
             keep: set[str]) -> Run:
    """A new run: the corpus read into the run folder, the sizes the user left open filled in from
    the preset, and a freshly seeded model."""
    data = _read_corpus(corpus, run_dir, opts, dist, progress, max_vocab=cfg.max_vocab)
    fields, size_note = model, None
    if preset is not None:
        fields, cfg, size_note = _apply_sizing(preset, len(data.tokens), cfg, dev, model, keep)
    train_ids, _ = lay_out(data.tokens, cfg)
    seed_everything(cfg.seed)
    net = CharLSTM(ModelConfig(vocab_size=data.tokenizer.vocab_size, **fields)).to(dev)
    run = _build_run(run_dir, net, cfg, data, _corpus_info(corpus, opts, data), dev, dist, [])
    run.notes += [f"skipped {p} ({reason})" for p, reason in data.files.skipped[:10]]
    if len(data.files.skipped) > 10:
        run.notes.append(f"... and {len(data.files.skipped) - 10} more skipped files")
    if size_note is not None:
        why = "" if "weight_drop" in model else _size_weight_drop(net, run.cfg, train_ids, dev, dist)
        run.notes.insert(0, size_note(net.config.weight_drop, why))
    return run


def _build_run(run_dir: Path, net: CharLSTM, cfg: TrainConfig, data: Corpus, corpus_info: dict, dev: torch.device,
               dist: Dist, notes: list[str], saved: dict | None = None) -> Run:
    """The run of `net` over `data`, new or (with the checkpoint `saved`) continued: the precision
    settled (an asked-for half precision checked to run here), the optimizer and loss scaler made,
    the saved state restored, and the metrics log cut back to the step the run starts from."""
    if saved is None or cfg.precision != "fp32":  # a continued fp32 run has nothing to settle
        probe = _probe(net, lay_out(data.tokens, cfg)[0], cfg, dev)
        precision, why = dist.share(resolve_precision(cfg.precision, dev, probe))
        cfg = cfg.replace(precision=precision)
        notes = [*notes, f"precision: {why}"]
    run = Run(run_dir, net, make_optimizer(net, cfg), cfg, data, corpus_info, dev, dist,
              scaler=grad_scaler(cfg.precision, dev), notes=notes)
    if saved is not None:
        run.restore(saved)
    if dist.is_main:
        runs.truncate_metrics(run_dir, run.step)
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


def _apply_sizing(preset: str, n_chars: int, cfg: TrainConfig, dev: torch.device, model: dict,
                  keep: set[str]) -> tuple[dict, TrainConfig, Callable[[float, str], str]]:
    """Fill in what the user left open from the preset. Returns the model fields, the config, and
    a function that writes the `size:` note (given the weight drop and why it was kept or turned off)."""
    budget = cfg.budget
    chosen = sizing.choose(preset, n_chars, budget.get("time") if len(budget) == 1 else None, dev.type)
    given = sorted([k for k in sizing.MODEL_FIELDS if k in model] + [k for k in sizing.TRAIN_FIELDS if k in keep])
    model = {**{k: v for k, v in chosen.model().items() if k not in model}, **model}
    cfg = cfg.replace(**{k: v for k, v in chosen.train().items() if k not in keep})

    def note(weight_drop: float, why: str) -> str:
        final = {**{k: getattr(cfg, k) for k in sizing.TRAIN_FIELDS}, **{k: model[k] for k in sizing.MODEL_FIELDS},
                 "weight_drop": weight_drop}
        text = f"size: {chosen.reason}: {sizing.describe(final, why)}"
        return text + (f" (your {', '.join('--' + k.replace('_', '-') for k in given)} kept)" if given else "")
    return model, cfg, note


def _size_weight_drop(net: CharLSTM, cfg: TrainConfig, train_ids: Tokens, dev: torch.device, dist: Dist) -> str:
    """Turn a preset's weight drop off when the run will read its text too few times to memorise
    it (sizing.weight_drop_for); a step is timed only for a time budget. Returns why."""
    budget = cfg.budget
    timed = budget.get("time") and net.config.weight_drop > 0
    secs = time_pass(_probe(net, train_ids, cfg, dev), cfg.precision, dev, reps=1) if timed else None
    passes = dist.share(sizing.expected_passes(budget, cfg.batch_size * cfg.seq_len, len(train_ids), secs))
    wd, why = sizing.weight_drop_for(net.config.weight_drop, passes)
    net.config = dataclasses.replace(net.config, weight_drop=wd)
    return why


def _corpus_info(paths: list[str | Path], opts: ReadOptions, corpus: Corpus) -> dict:
    return {"paths": [str(Path(p).resolve()) for p in paths], "options": {
        "encoding": opts.encoding, "errors": opts.errors, "newline": opts.newline,
        "normalization": opts.normalization, "pattern": opts.pattern},
        "tokens": int(len(corpus.tokens)), "checksum": corpus.tokens.checksum()}
