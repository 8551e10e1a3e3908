"""Three straight-line setups, each building a `Run`: a new model (`new_run`), one that starts from a
trained model (`fine_tune_run`), and a saved run continued (`resumed_run`). Each reads the text into
the run folder, takes a `Plan`, builds the model, and hands the pieces to `_run`, the one place a
`Run` is made (and, for a resumed run, restored)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import TrainConfig
from ..data.corpus import Corpus, ProgressFactory, prepare_corpus
from ..data.labels import HOW as STYLE_MODES
from ..data.textfiles import ReadOptions
from ..errors import ConfigError, Interrupted, ResumeMismatchError
from ..model import CharLSTM
from ..store import checkpoint, runs
from ..tokenizer import CharTokenizer
from . import finetune
from .distributed import Dist
from .loop import Run, TrainState
from .plan import Plan, plan_fine_tune, plan_new, plan_resume
from .precision import grad_scaler
from .request import Request


@dataclass(frozen=True)
class Place:
    """Where and how a run trains: its folder, the device, the processes, the reading progress bar,
    and the stop flag asked while the text is read."""
    run_dir: Path
    device: torch.device
    dist: Dist
    progress: ProgressFactory | None = None
    should_stop: Callable[[], bool] | None = None
    device_note: str = ""  # why this device, when a timed pass chose it (devices.choose_for_training)


@dataclass(frozen=True)
class Resumable:
    """A saved run found, checked to restore, and the config it goes on with: the checkpoint and its
    path, the config (overrides applied), the model (on the CPU), the notes so far, and whether
    --precision was given."""
    saved: dict
    path: Path
    cfg: TrainConfig
    model: CharLSTM
    notes: list[str]
    precision_given: bool


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def make_optimizer(model: CharLSTM, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on weight matrices only; biases and the tables (characters', styles') are not decayed."""
    tables = ("embed", "style.")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith(tables)]
    keep = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith(tables))]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": keep, "weight_decay": 0.0}]
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr)


def new_run(req: Request, place: Place) -> Run:
    """A new run: the corpus read into the run folder, the plan (sizes the user left open filled in by
    the preset), and a freshly seeded model."""
    data = read_corpus(req.corpus, req.read_options, place, max_vocab=req.config.max_vocab).label(req.corpus,
                                                                                                  req.styles)
    if data.styles:
        if len(data.styles) < 2:
            raise ConfigError(f"--styles {req.styles} found one style only ({data.styles[0]}); a styled model "
                              "needs text of two or more")
        req = dataclasses.replace(req, model={**req.model, "styles": data.styles})
    plan = plan_new(req, data, place.device, place.dist)
    seed_everything(plan.config.seed)
    net = CharLSTM(plan.model).to(place.device)
    run = _run(place, net, plan, data, corpus_record(req.corpus, req.read_options, data, req.styles))
    run.notes += [f"skipped {p} ({reason})" for p, reason in data.files.skipped[:10]]
    if len(data.files.skipped) > 10:
        run.notes.append(f"... and {len(data.files.skipped) - 10} more skipped files")
    return run


def fine_tune_run(req: Request, place: Place, parent: dict, source: str) -> Run:
    """A run that starts from the trained model `parent` (named `source`): the corpus read with the
    parent's vocabulary (grown, checked or mapped), the plan (the parent's size, fine-tuning's rate,
    schedule and budget), and the parent's weights grown to match."""
    old = CharTokenizer.from_dict(parent["vocab"])
    if "normalization" in req.keep and req.read_options.normalization != old.normalization:
        raise ConfigError(
            f"--normalization {req.read_options.normalization} differs from the model's ({old.normalization}): "
            "a fine-tuned model reads text the way it was trained; leave the option out")
    plans: list[finetune.VocabPlan] = []

    def vocab_for(counts: dict[str, int]) -> CharTokenizer:
        plans.append(finetune.plan_vocab(old, counts, req.vocab, req.map_to))
        return plans[-1].tokenizer
    opts = dataclasses.replace(req.read_options, normalization=old.normalization)
    data = read_corpus(req.corpus, opts, place, vocab_for=vocab_for).label(req.corpus, req.styles)
    vocab_note = finetune.describe_plan(plans[-1]) if plans else None
    plan = plan_fine_tune(req, parent, source, data, place.device, place.dist, vocab_note)
    data.restyle(plan.model.styles)
    seed_everything(plan.config.seed)
    net = CharLSTM(plan.model)
    net.load_state_dict(finetune.grown_weights(parent, plan.model))
    # the record names the normalization the text was read with (the parent's), so resume reads it alike
    run = _run(place, net.to(place.device), plan, data, corpus_record(req.corpus, opts, data, req.styles))
    run.lineage = finetune.lineage(parent, source)
    return run


def find_resumable(where: Path, overrides: dict, dist: Dist) -> Resumable:
    """The checkpoint a resume continues (a file as given, or a run folder's newest readable one),
    its config with `overrides` applied (a new budget replaces the old one whole), and its model on the
    CPU, once everything resume will restore was checked; nothing in the run folder changes."""
    saved, path, notes = _newest_good(where)
    checkpoint.validate_training_state(saved, path)
    cfg = TrainConfig.from_dict(saved["train_config"])
    if {"steps", "epochs", "time"} & set(overrides):
        cfg = cfg.replace(steps=None, epochs=None, time=None)
    cfg = cfg.replace(**overrides)
    dist.lanes(cfg.batch_size)  # the lanes divide among the processes
    net, _ = checkpoint.build_model(saved, "cpu")
    checkpoint.check_resumable(saved, path, make_optimizer(net, cfg))
    return Resumable(saved, path, cfg, net, notes, "precision" in overrides)


def resumed_run(found: Resumable, place: Place, notes: list[str]) -> Run:
    """A saved run continued: the same corpus read again (refused if it changed), the plan (its own
    size; the precision it trained in where it runs here), and the saved state restored."""
    saved = found.saved
    try:
        data = read_corpus(saved["corpus"]["paths"], ReadOptions(**saved["corpus"]["options"]), place,
                           tokenizer=CharTokenizer.from_dict(saved["vocab"]))
    except Interrupted:
        raise Interrupted("stopped while reading the corpus; the run is as it was") from None
    styled = saved["corpus"].get("styles")
    if styled:
        data.label(saved["corpus"]["paths"], styled["how"]).restyle(found.model.config.styles)
    _check_unchanged(data, saved)
    plan = plan_resume(found.model.config, found.cfg, data, place.device, place.dist, found.precision_given)
    return _run(place, found.model.to(place.device).train(), plan, data, saved["corpus"], [*found.notes, *notes],
                (saved, found.path))


def read_corpus(paths: list[str | Path], opts: ReadOptions, place: Place, **kw) -> Corpus:
    """The corpus, encoded into the run folder's token cache: rank 0 writes it, the others then read it."""
    with place.dist.main_first():
        return prepare_corpus(paths, place.run_dir, opts, progress=place.progress if place.dist.is_main else None,
                              should_stop=place.should_stop, **kw)


def corpus_record(paths: list[str | Path], opts: ReadOptions, corpus: Corpus, styles: str | None = None) -> dict:
    """What a checkpoint keeps of its corpus: the paths, the reading options, its size and checksum,
    and for styled text how it was labelled (`styles`) and each style's characters and share."""
    record = {"paths": [str(Path(p).resolve()) for p in paths], "options": {
        "encoding": opts.encoding, "errors": opts.errors, "newline": opts.newline,
        "normalization": opts.normalization, "pattern": opts.pattern},
        "tokens": int(len(corpus.tokens)), "checksum": corpus.tokens.checksum()}
    if corpus.styles:
        how = styles if styles in STYLE_MODES else str(Path(styles).resolve())
        record["styles"] = {"how": how, "of": corpus.style_record()}
    return record


def _run(place: Place, net: CharLSTM, plan: Plan, data: Corpus, corpus_info: dict, notes: list[str] = (),
         restore: tuple[dict, Path] | None = None) -> Run:
    """The run of `net` over `data` as planned: the optimizer and loss scaler made, the saved state
    restored (`restore`: the checkpoint and its path), the metrics log cut back to the step it starts from."""
    cfg = plan.config
    state = TrainState(make_optimizer(net, cfg), grad_scaler(cfg.precision, place.device))
    run = Run(place.run_dir, net, cfg, data, corpus_info, place.device, place.dist, state,
              notes=[*notes, *plan.notes()], device_note=place.device_note)
    if restore is not None:
        run.restore(*restore)
    if place.dist.is_main:
        torn = runs.truncate_metrics(place.run_dir, run.state.step)
        if torn:
            run.notes.append(f"skipped {torn} unreadable line(s) in {runs.METRICS} (a write cut short)")
    return run


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
