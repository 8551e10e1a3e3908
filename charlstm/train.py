"""The training loop: truncated BPTT over contiguous lanes, yielding events as it goes.

`train()` starts a run and `resume()` continues one; both set up a `_Run` and hand it to `_loop`,
which reads top to bottom: window -> forward -> loss -> backward -> clip -> (finite?) -> step ->
carry the detached hidden state -> log / evaluate / save. Everything that changes during a run is
in the checkpoint, so a resumed run continues bit for bit. Stopping is asked through
`should_stop()` (the CLI wires it to Ctrl-C and SIGTERM); the library touches no signals.
"""

from __future__ import annotations

import dataclasses
import math
import random
import shutil
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch
import torch.nn.functional as F

from . import __version__, checkpoint, runs, schedule, sizing
from .batching import lane_length, num_windows, window
from .config import ModelConfig, TrainConfig, budget_text
from .corpus import Corpus, ProgressFactory, check_trainable, prepare_corpus, split
from .devices import configure, resolve_device
from .distributed import Dist
from .errors import ConfigError, NonFiniteError, ResumeMismatchError
from .evaluate import evaluate
from .events import Alert, Eval, Event, Sample, Saved, Skipped, Started, Step, Stopped
from .gradients import GradientMonitor, layer_groups, layer_norms
from .model import CharLSTM, State, detach_state
from .precision import autocast, grad_scaler, resolve_precision, time_pass
from .sample import SampleConfig, generate_text
from .textfiles import ReadOptions
from .tokenfile import Tokens

PREVIEW_TEMPERATURE = 0.8
RESUME_OVERRIDABLE = ("precision", "steps", "epochs", "time", "eval_every", "eval_chars", "save_every",
                      "save_every_time", "sample_every", "sample_length", "max_bad_steps", "log_every",
                      "plateau", "patience")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def compute_loss(model: CharLSTM, x: torch.Tensor, y: torch.Tensor, state: State,
                 precision: str = "fp32") -> tuple[torch.Tensor, State]:
    """Mean cross-entropy (nats/char) of one window, and the state after it. Under bf16 the
    forward runs in autocast; the loss is always computed in fp32."""
    with autocast(precision, x.device):
        logits, new_state = model(x, state)  # B, T, V
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1)), new_state


def make_optimizer(model: CharLSTM, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on weight matrices only; biases and the embedding table are not decayed."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embed")]
    keep = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("embed"))]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": keep, "weight_decay": 0.0}]
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr)


@dataclass
class _Run:
    run_dir: Path
    model: CharLSTM
    optimizer: torch.optim.Optimizer
    cfg: TrainConfig
    corpus: Corpus
    corpus_info: dict
    device: torch.device
    dist: Dist = field(default_factory=Dist)
    ddp: torch.nn.Module | None = None  # the DistributedDataParallel wrapper when several processes train
    step: int = 0
    cursor: int = 0  # windows read since the start; the epoch is cursor / windows_per_epoch
    train_time: float = 0.0
    best_val_loss: float | None = None
    hidden: State | None = None
    scaler: torch.amp.GradScaler | None = None  # fp16 loss scaling (a disabled scaler otherwise)
    history: list[dict] = field(default_factory=list)  # evaluation records
    resumed_from: int | None = None
    windows_per_epoch: int = 1  # set when the loop lays out the lanes
    notes: list[str] = field(default_factory=list)
    lr_scale: float = 1.0  # product of the plateau cuts so far
    evals_since_best: int = 0
    stop_early: bool = False

    def checkpoint(self) -> dict:
        """Everything needed to continue exactly: only tensors and primitives."""
        _, py_state, py_gauss = random.getstate()
        rng = {"torch": torch.get_rng_state(), "python": list(py_state), "python_gauss": py_gauss}
        if torch.cuda.is_available():
            rng["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
        return {
            "format_version": checkpoint.FORMAT_VERSION,
            "charlstm_version": __version__,
            "torch_version": str(torch.__version__),
            "saved_at": datetime.now().isoformat(timespec="seconds"),
            "model_config": self.model.config.to_dict(),
            "train_config": self.cfg.to_dict(),
            "vocab": self.corpus.tokenizer.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"name": self.cfg.schedule, "lr": self.optimizer.param_groups[0]["lr"]},
            "step": self.step,
            "cursor": self.cursor,
            "epoch": self.cursor / self.windows_per_epoch,
            "train_time": self.train_time,
            "hidden": ([h.detach().cpu() for h in self.dist.gather_lanes(self.hidden)]
                       if self.hidden is not None else []),
            "rng": rng,
            "best_val_loss": self.best_val_loss,
            "plateau": {"lr_scale": self.lr_scale, "evals_since_best": self.evals_since_best},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "metrics": self.history,
            "corpus": self.corpus_info,
            "run_name": self.run_dir.name,
        }



def _probe(model: CharLSTM, ids: Tokens, cfg: TrainConfig, device: torch.device):
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
                  keep: set[str]) -> tuple[dict, TrainConfig, Callable[[str], str]]:
    """Fill in what the user left open from the preset. Returns the model fields, the config, and
    a function that writes the `size:` note (given why the weight drop was kept or turned off)."""
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


def _size_weight_drop(net: CharLSTM, cfg: TrainConfig, n_train: int, step_seconds: Callable[[], float],
                      dist: Dist) -> str:
    """Turn a preset's weight drop off when the run will read its text too few times to memorise
    it (sizing.weight_drop_for); the step time is measured only for a time budget."""
    budget = cfg.budget
    secs = step_seconds() if budget.get("time") and net.config.weight_drop > 0 else None
    passes = dist.share(sizing.expected_passes(budget, cfg.batch_size * cfg.seq_len, n_train, secs))
    wd, why = sizing.weight_drop_for(net.config.weight_drop, passes)
    net.config = dataclasses.replace(net.config, weight_drop=wd)
    return why


def _corpus_info(paths: list[str | Path], opts: ReadOptions, corpus: Corpus) -> dict:
    return {"paths": [str(Path(p).resolve()) for p in paths], "options": {
        "encoding": opts.encoding, "errors": opts.errors, "newline": opts.newline,
        "normalization": opts.normalization, "pattern": opts.pattern},
        "tokens": int(len(corpus.tokens)), "checksum": corpus.tokens.checksum()}


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
    cfg = config or TrainConfig()
    opts = read_options or ReadOptions()
    root = Path(root)
    run_dir = Path(run_dir) if run_dir else root / runs.default_name(corpus, root)
    if runs.checkpoints_in(run_dir):
        raise ConfigError(f"{run_dir} already holds a run: continue it with `charlstm resume {run_dir}` "
                          "or choose another --name")
    dev, dist = _join(device)
    if threads:
        torch.set_num_threads(threads)
    if dist.active:  # one name for all ranks (rank 0's clock decides)
        run_dir = Path(dist.share(str(run_dir)))
    ModelConfig(vocab_size=2, **(model or {}))  # check the options before reading anything
    if preset is not None:
        sizing.check(preset)
    created = not run_dir.exists()
    try:
        with dist.main_first():  # rank 0 writes the token cache, the others then read it
            data = prepare_corpus(corpus, run_dir, opts, progress=progress if dist.is_main else None,
                                  max_vocab=cfg.max_vocab)
        size_note, user_model = None, dict(model or {})
        if preset is not None:
            model, cfg, size_note = _apply_sizing(preset, len(data.tokens), cfg, dev, user_model, set(keep))
        train_ids, val_ids = split(data.tokens, cfg.val_fraction)
        check_trainable(len(train_ids), len(val_ids), cfg.batch_size, cfg.seq_len)
    except BaseException:
        if created:  # bad input leaves nothing behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    mcfg = ModelConfig(vocab_size=data.tokenizer.vocab_size, **(model or {}))
    seed_everything(cfg.seed)
    net = CharLSTM(mcfg).to(dev)
    run_pass = _probe(net, train_ids, cfg, dev)
    precision, why = dist.share(resolve_precision(cfg.precision, dev, run_pass))
    cfg = cfg.replace(precision=precision)
    sized_note = None
    if size_note is not None:
        wd_why = "" if "weight_drop" in user_model else _size_weight_drop(
            net, cfg, len(train_ids), lambda: time_pass(run_pass, precision, dev, reps=1), dist)
        sized_note = size_note(net.config.weight_drop, wd_why)
    run = _Run(run_dir, net, make_optimizer(net, cfg), cfg, data, _corpus_info(corpus, opts, data), dev, dist,
               scaler=grad_scaler(cfg.precision, dev))
    if sized_note:
        run.notes.append(sized_note)
    run.notes.append(f"precision: {why}")
    run.notes += [f"skipped {p} ({reason})" for p, reason in data.files.skipped[:10]]
    if len(data.files.skipped) > 10:
        run.notes.append(f"... and {len(data.files.skipped) - 10} more skipped files")
    if dist.is_main:
        runs.truncate_metrics(run_dir, 0)
    yield from _run_loop(run, should_stop)


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
    notes: list[str] = []
    where = runs.locate(target, Path(root))
    if where.is_file():
        ckpt, path = checkpoint.load(where), where
    else:
        run_dir = where
        ckpt, path, problems = checkpoint.load_newest_good(run_dir)
        notes += [f"skipped a bad checkpoint: {p}" for p in problems]
        if problems:
            notes.append(f"resuming from {path.name} (step {ckpt['step']}) instead")
    run_dir = path.parent
    dev, dist = _join(device)
    removed = checkpoint.remove_orphans(run_dir) if dist.is_main else []
    if removed:
        notes.append(f"removed {len(removed)} temp file(s) left by an interrupted save")
    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig.from_dict(ckpt["train_config"])
    budget_keys = {"steps", "epochs", "time"}
    if budget_keys & set(overrides):
        cfg = cfg.replace(steps=None, epochs=None, time=None)
    cfg = cfg.replace(**overrides)
    info = ckpt["corpus"]
    opts = ReadOptions(**info["options"])
    tok = checkpoint.build_model(ckpt)[1]
    with dist.main_first():
        data = prepare_corpus(info["paths"], run_dir, opts, tokenizer=tok, progress=progress if dist.is_main else None)
    if data.tokenizer != tok:
        raise ResumeMismatchError("the corpus vocabulary differs from the checkpoint's")
    if len(data.tokens) != info["tokens"] or data.tokens.checksum() != info["checksum"]:
        raise ResumeMismatchError(
            f"the corpus changed since this run started ({info['tokens']:,} characters then, "
            f"{len(data.tokens):,} now, or different text): the saved data position would point elsewhere; "
            "restore the corpus, or start a new run")
    net, _ = checkpoint.build_model(ckpt, dev)
    net.train()
    if cfg.precision != "fp32":  # auto is timed; an asked-for half precision is checked to run here
        precision, why = dist.share(resolve_precision(cfg.precision, dev, _probe(net, data.tokens, cfg, dev)))
        cfg = cfg.replace(precision=precision)
        notes.append(f"precision: {why}")
    opt = make_optimizer(net, cfg)
    opt.load_state_dict(ckpt["optimizer"])
    rng = ckpt["rng"]
    torch.set_rng_state(rng["torch"])
    random.setstate((3, tuple(rng["python"]), rng["python_gauss"]))
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])
    lanes = dist.lanes(cfg.batch_size)
    run = _Run(run_dir, net, opt, cfg, data, info, dev, dist, step=ckpt["step"], cursor=ckpt["cursor"],
               train_time=ckpt["train_time"], best_val_loss=ckpt["best_val_loss"],
               hidden=tuple(h[:, lanes.start:lanes.stop].to(dev) for h in ckpt["hidden"]) or None,
               history=list(ckpt["metrics"]),
               resumed_from=ckpt["step"], notes=notes, lr_scale=ckpt.get("plateau", {}).get("lr_scale", 1.0),
               evals_since_best=ckpt.get("plateau", {}).get("evals_since_best", 0),
               scaler=grad_scaler(cfg.precision, dev))
    if ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    if dist.is_main:
        runs.truncate_metrics(run_dir, run.step)
    yield from _run_loop(run, should_stop)


def _join(device: str) -> tuple[torch.device, Dist]:
    """The device, and the process group when torchrun started several processes (each CUDA
    process takes the GPU numbered by its LOCAL_RANK)."""
    dev = resolve_device(device)
    dist = Dist.from_env(dev.type)
    if dist.active and dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(dev)
    configure(dev)
    return dev, dist


def _run_loop(run: _Run, should_stop: Callable[[], bool] | None) -> Iterator[Event]:
    if run.dist.active:
        from torch.nn.parallel import DistributedDataParallel
        run.ddp = DistributedDataParallel(run.model, device_ids=[run.device.index] if run.device.type == "cuda"
                                          else None)
        if run.dist.rank:  # each extra process draws its own dropout masks (rank 0 keeps the run's stream)
            torch.manual_seed(run.cfg.seed + 7919 * run.dist.rank + run.step)
    try:
        yield from _loop(run, should_stop or (lambda: False))
    finally:
        run.dist.close()


def _log(run: _Run, record: dict) -> None:
    if run.dist.is_main:
        runs.append_metrics(run.run_dir, record)


def _save(run: _Run, name: str, reason: str) -> Saved:
    """Every rank calls this at the same step (the hidden state is gathered from all); rank 0 writes."""
    path = run.run_dir / name
    state = run.checkpoint()
    if run.dist.is_main:
        checkpoint.save(state, path)
    return Saved(run.step, str(path), reason)


def _loop(run: _Run, should_stop: Callable[[], bool]) -> Iterator[Event]:
    cfg, model, opt = run.cfg, run.model, run.optimizer
    budget = cfg.budget
    train_ids, val_ids = split(run.corpus.tokens, cfg.val_fraction)
    check_trainable(len(train_ids), len(val_ids), cfg.batch_size, cfg.seq_len)
    wpe = run.windows_per_epoch = num_windows(lane_length(len(train_ids), cfg.batch_size), cfg.seq_len)
    dist = run.dist
    lanes = dist.lanes(cfg.batch_size)
    net = run.ddp or model  # forward and backward go through DDP when several processes train
    params = [p for p in model.parameters()]
    clip = cfg.clip if cfg.clip > 0 else math.inf
    groups = layer_groups(model)
    scaler = run.scaler or grad_scaler(cfg.precision, run.device)
    monitor = GradientMonitor(model.config.layers, clip, model.config.cell)
    yield Started(str(run.run_dir), run.run_dir.name, model.num_params(), run.corpus.describe(),
                  len(train_ids), len(val_ids), model.config.to_dict(), cfg.to_dict(), budget,
                  str(run.device), torch.get_num_threads(), run.resumed_from, tuple(run.notes), dist.world)

    def prog() -> float:
        return schedule.progress(budget, run.step, run.cursor / wpe, run.train_time)

    if prog() >= 1.0:
        yield Stopped(run.step, "done", f"the budget ({budget_text(budget)}) was already reached at step "
                      f"{run.step}; give a larger --steps, --epochs or --time to train further", run.best_val_loss,
                      run.train_time, str(run.run_dir))
        return

    model.train()
    bad_in_a_row, window_chars, window_time, last_loss = 0, 0, 0.0, None
    loss_sum, loss_n = 0.0, 0
    last_save_wall = time.monotonic()
    marks = sorted(t for t in cfg.eval_at if t > run.train_time)
    while True:
        if dist.any(should_stop()):  # a stop asked on any rank stops every rank at this step
            yield _save(run, runs.LAST, "interrupted")
            yield Stopped(run.step, "interrupted", f"stopped at step {run.step}", run.best_val_loss,
                          run.train_time, str(run.run_dir))
            return
        i = run.cursor % wpe
        if i == 0 or run.hidden is None:
            run.hidden = model.init_state(len(lanes), run.device)  # a new pass starts from zero memory
        x, y = window(train_ids, cfg.batch_size, i, cfg.seq_len, lanes if dist.active else None)
        x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
        lr = schedule.learning_rate(cfg.schedule, cfg.lr, cfg.min_lr, cfg.warmup, run.step, prog()) * run.lr_scale
        for group in opt.param_groups:
            group["lr"] = lr

        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, new_hidden = compute_loss(net, x, y, run.hidden, cfg.precision)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)  # true gradients from here on (a no-op unless fp16)
        norms = layer_norms(groups) if (run.step + 1) % cfg.log_every == 0 else None  # before clipping
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
        loss_v, norm_v = loss.item(), grad_norm.item()
        if dist.active:  # the mean loss over all lanes; non-finite on any rank counts for all
            ok = math.isfinite(loss_v)
            total, bad = dist.sum([loss_v if ok else 0.0, 0.0 if ok else 1.0])
            loss_v = total / dist.world if bad == 0 else math.nan
        if scaler.is_enabled() and math.isfinite(loss_v) and not math.isfinite(norm_v):
            # fp16 overflow in the scaled gradients: normal now and then; drop this update, lower the scale
            scaler.update()
            opt.zero_grad(set_to_none=True)
            run.cursor += 1
            run.hidden = None
            run.train_time += time.perf_counter() - t0
            yield Skipped(run.step + 1, loss_v, norm_v, 0)
            continue
        if not (math.isfinite(loss_v) and math.isfinite(norm_v)):
            # the update is never applied: parameters stay those of the last good step
            opt.zero_grad(set_to_none=True)
            bad_in_a_row += 1
            run.train_time += time.perf_counter() - t0
            yield Skipped(run.step + 1, loss_v, norm_v, bad_in_a_row)
            if bad_in_a_row > cfg.max_bad_steps:
                msg = (f"non-finite {'loss' if not math.isfinite(loss_v) else 'gradient norm'} at step "
                       f"{run.step + 1} (loss {loss_v}, grad norm {norm_v}); nothing was updated. Try a lower "
                       "--lr or --clip, or --max-bad-steps K to skip up to K bad steps in a row")
                yield _save(run, runs.LAST, "nonfinite")
                yield Stopped(run.step, "nonfinite", msg, run.best_val_loss, run.train_time, str(run.run_dir))
                raise NonFiniteError(msg)
            run.cursor += 1  # skip this window
            run.hidden = None
            continue
        scaler.step(opt)
        scaler.update()
        run.hidden = detach_state(new_hidden)
        dt = time.perf_counter() - t0
        wall = time.monotonic()
        save_due = bool(cfg.save_every_time) and wall - last_save_wall >= cfg.save_every_time
        if dist.active:  # one clock for all ranks, so time budgets and saves agree
            dt, due = dist.sum([dt, float(save_due)])
            dt, save_due = dt / dist.world, due > 0
        bad_in_a_row = 0
        run.step += 1
        run.cursor += 1
        run.train_time += dt
        window_chars += x.numel()
        window_time += dt
        loss_sum += loss_v
        loss_n += 1
        last_loss = loss_v
        p = prog()
        done = p >= 1.0
        for kind, message in monitor.observe(run.step, norm_v, norms):
            yield Alert(run.step, kind, message)

        if run.step % cfg.log_every == 0 or done:
            ev = Step(run.step, run.cursor / wpe, loss_sum / loss_n, norm_v, norm_v > clip, lr,
                      window_chars / window_time if window_time > 0 else 0.0, run.train_time, min(p, 1.0),
                      schedule.eta(budget, p, run.train_time), norms or {}, monitor.clipped_fraction)
            _log(run, {"kind": "train", "step": ev.step, "epoch": ev.epoch, "loss": ev.loss,
                       "grad_norm": ev.grad_norm, "layer_grad_norms": ev.layer_grad_norms,
                       "clipped_fraction": ev.clipped_fraction, "lr": lr, "chars_per_s": ev.chars_per_s,
                       "time": run.train_time})
            yield ev
            window_chars, window_time, loss_sum, loss_n = 0, 0.0, 0.0, 0

        passed = [t for t in marks if t <= run.train_time]
        if passed:
            marks = marks[len(passed):]
        if run.step % cfg.eval_every == 0 or done or passed:
            yield from _evaluate(run, val_ids, last_loss)
            if run.stop_early and not done:
                yield _save(run, runs.LAST, "final")
                yield Stopped(run.step, "early-stop", f"stopped early at step {run.step}: no better validation "
                              f"loss in the last {cfg.patience} evaluations (best {run.best_val_loss:.4f} is in "
                              f"best.pt; --patience 0 trains to the end)", run.best_val_loss, run.train_time,
                              str(run.run_dir))
                return
        periodic = (cfg.save_every and run.step % cfg.save_every == 0) or save_due
        if done or periodic:
            yield _save(run, runs.LAST, "final" if done else "periodic")
            last_save_wall = wall
        if done:
            yield Stopped(run.step, "done", f"finished {budget_text(budget)} at step {run.step}",
                          run.best_val_loss, run.train_time, str(run.run_dir))
            return


def _evaluate(run: _Run, val_ids: Tokens, train_loss: float | None) -> Iterator[Event]:
    cfg = run.cfg
    t0 = time.perf_counter()
    val = math.nan
    if run.dist.is_main:  # one evaluation, shared, so every rank agrees on "best"
        val = evaluate(run.model, val_ids, batch_size=cfg.batch_size, seq_len=max(cfg.seq_len, 256),
                       max_chars=cfg.eval_chars)
    val = run.dist.broadcast(val)
    secs = time.perf_counter() - t0
    is_best = math.isfinite(val) and (run.best_val_loss is None or val < run.best_val_loss)
    if is_best:
        run.best_val_loss = val
        run.evals_since_best = 0
    else:
        run.evals_since_best += 1
    run.stop_early = bool(cfg.patience) and run.evals_since_best >= cfg.patience
    cut = bool(cfg.plateau) and not is_best and not run.stop_early and run.evals_since_best % cfg.plateau == 0
    if cut:
        run.lr_scale *= schedule.PLATEAU_FACTOR
    record = {"kind": "eval", "step": run.step, "val_loss": val, "train_loss": train_loss, "is_best": is_best,
              "time": run.train_time, "lr_scale": run.lr_scale}
    run.history.append(record)
    _log(run, record)
    yield Eval(run.step, val, run.best_val_loss if run.best_val_loss is not None else math.nan, is_best,
               train_loss, secs, run.train_time)
    if cut:
        yield Alert(run.step, "plateau", f"no better validation loss in {run.evals_since_best} evaluations: "
                    f"learning rate cut to {run.lr_scale:.3g}x (--plateau 0 keeps it)")
    if is_best:
        yield _save(run, runs.BEST, "best")
    n_evals = sum(1 for r in run.history if r["kind"] == "eval")
    if cfg.sample_every and n_evals % cfg.sample_every == 0 and run.dist.is_main:
        text = generate_text(run.model, run.corpus.tokenizer,
                             SampleConfig(length=cfg.sample_length, temperature=PREVIEW_TEMPERATURE,
                                          seed=cfg.seed + run.step))[0]
        yield Sample(run.step, text)
    run.model.train()

