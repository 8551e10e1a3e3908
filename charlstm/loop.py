"""One run in progress: its state, its checkpoint, and the loop that trains it window by window.

`Run` holds everything that changes while training; `Run.checkpoint()` saves all of it and
`Run.restore()` reads it back, so a resumed run continues bit for bit. `train_loop()` trains until
the budget is spent, a stop is asked, patience runs out or the loss stays non-finite, yielding
events. Each turn of its loop reads top to bottom:

    stop asked? -> read the window -> forward/backward -> clip -> non-finite? skip -> step -> log
    -> evaluate -> save -> done?

Stopping is asked through `should_stop()` (the CLI wires it to Ctrl-C and SIGTERM, `fit()` to
Ctrl-C); the loop touches no signals. Under torchrun every decision that must agree between the
processes goes through `Dist`, whose methods hand back the local values when one process trains.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

import torch
import torch.nn.functional as F

from . import __version__, checkpoint, runs, schedule
from .batching import lane_length, num_windows, window
from .config import TrainConfig, budget_text
from .corpus import Corpus, check_trainable, split
from .distributed import Dist
from .errors import NonFiniteError
from .evaluate import evaluate, scored_targets
from .events import Alert, Eval, Event, Sample, Saved, Skipped, Started, Step, Stopped
from .gradients import GradientMonitor, layer_groups, layer_norms
from .model import CharLSTM, State, detach_state
from .precision import autocast
from .sample import SampleConfig, generate_text
from .tokenfile import Tokens

PREVIEW_TEMPERATURE = 0.8


def compute_loss(model: CharLSTM, x: torch.Tensor, y: torch.Tensor, state: State,
                 precision: str = "fp32") -> tuple[torch.Tensor, State]:
    """Mean cross-entropy (nats/char) of one window, and the state after it. Under bf16 the
    forward runs in autocast; the loss is always computed in fp32."""
    with autocast(precision, x.device):
        logits, new_state = model(x, state)  # B, T, V
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1)), new_state


def lay_out(tokens: Tokens, cfg: TrainConfig) -> tuple[Tokens, Tokens]:
    """(training ids, validation ids), refusing a corpus too short for one window and a validation split."""
    train_ids, val_ids = split(tokens, cfg.val_fraction)
    check_trainable(len(train_ids), len(val_ids), cfg.batch_size, cfg.seq_len)
    return train_ids, val_ids


@dataclass
class Run:
    run_dir: Path
    model: CharLSTM
    optimizer: torch.optim.Optimizer
    cfg: TrainConfig
    corpus: Corpus
    corpus_info: dict
    device: torch.device
    dist: Dist
    scaler: torch.amp.GradScaler  # fp16 loss scaling (a disabled scaler otherwise)
    notes: list[str] = field(default_factory=list)  # shown when the run starts
    ddp: torch.nn.Module | None = None  # the DistributedDataParallel wrapper when several processes train
    step: int = 0
    cursor: int = 0  # windows read since the start; the epoch is cursor / windows_per_epoch
    train_time: float = 0.0
    best_val_loss: float | None = None
    hidden: State | None = None
    history: list[dict] = field(default_factory=list)  # evaluation records
    resumed_from: int | None = None
    windows_per_epoch: int = 1  # set when the loop lays out the lanes
    lr_scale: float = 1.0  # product of the plateau cuts so far
    evals_since_best: int = 0
    stop_early: bool = False
    val_scored: dict = field(default_factory=dict)  # what the last evaluation scored: {"chars": n, "of": total}
    lineage: list[dict] = field(default_factory=list)  # the models this run was fine-tuned from, nearest first

    @cached_property
    def budget(self) -> dict:
        return self.cfg.budget

    def progress(self) -> float:
        """Share of the budget spent: 0 at the start, 1 (or more) when it is over."""
        return schedule.progress(self.budget, self.step, self.cursor / self.windows_per_epoch, self.train_time)

    def set_lr(self) -> float:
        """The schedule's rate at this point of the budget, times the plateau cuts, set on the optimizer."""
        cfg = self.cfg
        lr = schedule.learning_rate(cfg.schedule, cfg.lr, cfg.min_lr, cfg.warmup, self.step, self.progress())
        lr *= self.lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

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
            # fp32 whatever the precision: a half-precision state widens exactly, and every machine reads it
            "hidden": ([h.cpu() for h in self.dist.gather_lanes(tuple(h.detach().float() for h in self.hidden))]
                       if self.hidden is not None else []),
            "rng": rng,
            "best_val_loss": self.best_val_loss,
            "plateau": {"lr_scale": self.lr_scale, "evals_since_best": self.evals_since_best},
            "scaler": self.scaler.state_dict(),
            "metrics": self.history,
            "val_scored": self.val_scored,  # in best.pt: what its best_val_loss was measured on
            "corpus": self.corpus_info,
            "run_name": self.run_dir.name,
            "lineage": self.lineage,
        }

    def restore(self, saved: dict) -> None:
        """Continue from the checkpoint `saved` (what `checkpoint()` wrote): this process's lanes of
        the carried state, the position, the optimizer, the loss scale and the random streams."""
        self.optimizer.load_state_dict(saved["optimizer"])
        rng = saved["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate((3, tuple(rng["python"]), rng["python_gauss"]))
        if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
        lanes = self.dist.lanes(self.cfg.batch_size)
        # as fp32: earlier checkpoints kept a bf16 or fp16 run's state in that precision (exact in fp32)
        self.hidden = tuple(h[:, lanes.start:lanes.stop].to(self.device, torch.float32)
                            for h in saved["hidden"]) or None
        self.step = self.resumed_from = saved["step"]
        self.cursor, self.train_time = saved["cursor"], saved["train_time"]
        self.best_val_loss, self.history = saved["best_val_loss"], list(saved["metrics"])
        self.val_scored = dict(saved.get("val_scored", {}))  # absent in checkpoints written before it was kept
        self.lineage = list(saved.get("lineage", []))
        plateau = saved.get("plateau", {})
        self.lr_scale, self.evals_since_best = plateau.get("lr_scale", 1.0), plateau.get("evals_since_best", 0)
        if saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])


@dataclass
class _Tally:
    """The steps since the last Step event: characters read, seconds, summed loss; and the last loss."""
    chars: int = 0
    seconds: float = 0.0
    loss_sum: float = 0.0
    steps: int = 0
    last_loss: float | None = None

    def add(self, chars: int, seconds: float, loss: float) -> None:
        self.chars += chars
        self.seconds += seconds
        self.loss_sum += loss
        self.steps += 1
        self.last_loss = loss

    def flush(self) -> tuple[float, float]:
        """(mean loss, characters per second) since the last flush; the tally starts again."""
        mean, speed = self.loss_sum / self.steps, self.chars / self.seconds if self.seconds > 0 else 0.0
        self.chars, self.seconds, self.loss_sum, self.steps = 0, 0.0, 0.0, 0
        return mean, speed


def train_loop(run: Run, should_stop: Callable[[], bool] | None = None) -> Iterator[Event]:
    """Train `run` until it ends, yielding events: Started first, Stopped last."""
    run.ddp = run.dist.wrap(run.model, run.device)
    run.dist.seed_rank(run.cfg.seed, run.step)
    finished = False  # every rank got here through the same steps: safe to wait for each other at the end
    try:
        train_ids, val_ids = lay_out(run.corpus.tokens, run.cfg)
        run.windows_per_epoch = num_windows(lane_length(len(train_ids), run.cfg.batch_size), run.cfg.seq_len)
        yield _started(run, len(train_ids), len(val_ids))
        if run.progress() >= 1.0:
            yield _stopped(run, "done", f"the budget ({budget_text(run.budget)}) was already reached at step "
                           f"{run.step}; give a larger --steps, --epochs or --time to train further")
        else:
            yield from _loop(run, train_ids, val_ids, should_stop or (lambda: False))
        finished = True
    except _WeightsNotFinite as e:  # a save found NaN or infinite weights: nothing was written over the last one
        msg = (f"the weights became NaN or infinite by step {run.step}; {e} was not written and the last good "
               "checkpoint was kept. Try a lower --lr or --clip")
        yield _stopped(run, "nonfinite", msg)
        raise NonFiniteError(msg) from None
    finally:
        run.ddp = None  # DDP's reducer holds gloo work objects: let it go before the group does
        run.dist.close(wait=finished)


def _loop(run: Run, train_ids: Tokens, val_ids: Tokens, should_stop: Callable[[], bool]) -> Iterator[Event]:
    cfg, model, opt, dist, scaler = run.cfg, run.model, run.optimizer, run.dist, run.scaler
    net = run.ddp or model  # forward and backward go through DDP when several processes train
    params, groups, clip = list(model.parameters()), layer_groups(model), cfg.clip if cfg.clip > 0 else math.inf
    monitor, tally = GradientMonitor(model.config.layers, clip, model.config.cell), _Tally()
    part, marks = dist.part(cfg.batch_size), sorted(t for t in cfg.eval_at if t > run.train_time)
    bad_in_a_row, last_save, save_period = 0, time.monotonic(), cfg.save_every_time or math.inf
    if run.step == 0 and run.lineage:  # fine-tuning: the starting model scored on the new text first
        yield from _evaluate(run, val_ids, None)
    model.train()
    while True:
        # stop asked? (on any rank: every rank stops at this step)
        if dist.any(should_stop()):
            yield from _end(run, "interrupted", "interrupted", f"stopped at step {run.step}")
            return
        # read the window, and set the learning rate for this step
        x, y = _next_window(run, train_ids, part)
        lr = run.set_lr()
        # forward/backward; under fp16 the loss is scaled, and the gradients unscaled right after
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, new_hidden = compute_loss(net, x, y, run.hidden, cfg.precision)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        # clip, after measuring each layer's gradient on the steps that log it
        norms = layer_norms(groups) if (run.step + 1) % cfg.log_every == 0 else None
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
        loss_v, norm_v = dist.mean_loss(loss.item()), grad_norm.item()
        # non-finite? skip the window, nothing applied (too many in a row stop the run)
        if not (math.isfinite(loss_v) and math.isfinite(norm_v)):
            bad_in_a_row = yield from _skip(run, t0, loss_v, norm_v, bad_in_a_row)
            continue
        # step, carrying the detached state into the next window; one clock for all ranks
        scaler.step(opt)
        scaler.update()
        run.hidden = detach_state(new_hidden)
        wall = time.monotonic()
        dt, save_due = dist.agree_clock(time.perf_counter() - t0, wall - last_save >= save_period)
        bad_in_a_row, run.step, run.cursor, run.train_time = 0, run.step + 1, run.cursor + 1, run.train_time + dt
        tally.add(x.numel(), dt, loss_v)
        p = run.progress()
        done = p >= 1.0
        # log: gradient alerts at once, a Step every log_every steps
        for kind, message in monitor.observe(run.step, norm_v, norms):
            yield Alert(step=run.step, kind=kind, message=message)
        if run.step % cfg.log_every == 0 or done:
            yield _logged_step(run, tally, lr, norm_v, norms, clip, monitor.clipped_fraction, p)
        # evaluate every eval_every steps, when training time passes an --eval-at mark, and at the end
        if _passed(marks, run.train_time) or run.step % cfg.eval_every == 0 or done:
            yield from _evaluate(run, val_ids, tally.last_loss)
            if run.stop_early and not done:
                yield from _end(run, "final", "early-stop", _patience_spent(run))
                return
        # save every save_every steps or save_every_time seconds, and at the end
        if done or (cfg.save_every and run.step % cfg.save_every == 0) or save_due:
            yield _save(run, runs.LAST, "final" if done else "periodic")
            last_save = wall
        # done?
        if done:
            yield _stopped(run, "done", f"finished {budget_text(run.budget)} at step {run.step}")
            return


def _next_window(run: Run, ids: Tokens, part: range | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) at the read position, on the device; a new pass over the lanes starts from zero memory."""
    i = run.cursor % run.windows_per_epoch
    x, y = window(ids, run.cfg.batch_size, i, run.cfg.seq_len, part)
    if i == 0 or run.hidden is None:
        run.hidden = run.model.init_state(x.shape[0], run.device)
    return x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)


def _started(run: Run, train_chars: int, val_chars: int) -> Started:
    return Started(run_dir=str(run.run_dir), run_name=run.run_dir.name, params=run.model.num_params(),
                   corpus=run.corpus.describe(), train_chars=train_chars, val_chars=val_chars,
                   model_config=run.model.config.to_dict(), train_config=run.cfg.to_dict(), budget=run.budget,
                   device=str(run.device), threads=torch.get_num_threads(), resumed_from=run.resumed_from,
                   notes=tuple(run.notes), processes=run.dist.world)


def _stopped(run: Run, reason: str, message: str) -> Stopped:
    return Stopped(step=run.step, reason=reason, message=message, best_val_loss=run.best_val_loss,
                   elapsed=run.train_time, run_dir=str(run.run_dir))


def _end(run: Run, saved_as: str, reason: str, message: str) -> Iterator[Event]:
    """Save last.pt, then stop for `reason`."""
    yield _save(run, runs.LAST, saved_as)
    yield _stopped(run, reason, message)


def _skip(run: Run, t0: float, loss: float, grad_norm: float, bad_in_a_row: int) -> Generator[Event, None, int]:
    """Drop this window's update: nothing is applied, its time is counted, the window is passed over and
    the next one starts from zero memory. Returns the non-finite steps in a row; more than max_bad_steps
    stop the run, saved with the parameters of the last good step. A finite loss with non-finite gradients
    under fp16 is an overflow of the scaled gradients, normal now and then: it lowers the scale, uncounted."""
    overflow = run.scaler.is_enabled() and math.isfinite(loss)
    if overflow:
        run.scaler.update()
    else:
        bad_in_a_row += 1
    run.optimizer.zero_grad(set_to_none=True)
    run.train_time += time.perf_counter() - t0
    yield Skipped(step=run.step + 1, loss=loss, grad_norm=grad_norm, in_a_row=0 if overflow else bad_in_a_row)
    if not overflow and bad_in_a_row > run.cfg.max_bad_steps:
        msg = (f"non-finite {'loss' if not math.isfinite(loss) else 'gradient norm'} at step {run.step + 1} "
               f"(loss {loss}, grad norm {grad_norm}); nothing was updated. Try a lower --lr or --clip, or "
               "--max-bad-steps K to skip up to K bad steps in a row")
        yield from _end(run, "nonfinite", "nonfinite", msg)
        raise NonFiniteError(msg)
    run.cursor += 1
    run.hidden = None
    return bad_in_a_row


def _patience_spent(run: Run) -> str:
    return (f"stopped early at step {run.step}: no better validation loss in the last {run.cfg.patience} "
            f"evaluations (best {run.best_val_loss:.4f} is in best.pt; --patience 0 trains to the end)")


def _logged_step(run: Run, tally: _Tally, lr: float, grad_norm: float, norms: dict[str, float] | None,
                 clip: float, clipped_fraction: float, progress: float) -> Step:
    """The Step event for the steps since the last one, also written to the metrics log."""
    loss, speed = tally.flush()
    ev = Step(step=run.step, epoch=run.cursor / run.windows_per_epoch, loss=loss, grad_norm=grad_norm,
              clipped=grad_norm > clip, lr=lr, chars_per_s=speed, elapsed=run.train_time, progress=min(progress, 1.0),
              eta=schedule.eta(run.budget, progress, run.train_time), layer_grad_norms=norms or {},
              clipped_fraction=clipped_fraction)
    _log(run, {"kind": "train", "step": ev.step, "epoch": ev.epoch, "loss": ev.loss, "grad_norm": ev.grad_norm,
               "layer_grad_norms": ev.layer_grad_norms, "clipped_fraction": ev.clipped_fraction, "lr": lr,
               "chars_per_s": ev.chars_per_s, "time": run.train_time})
    return ev


def _passed(marks: list[float], elapsed: float) -> bool:
    """Whether training time passed --eval-at marks (sorted) since the last call; those marks are used up."""
    n = bisect.bisect_right(marks, elapsed)
    del marks[:n]
    return n > 0


def _log(run: Run, record: dict) -> None:
    if run.dist.is_main:
        runs.append_metrics(run.run_dir, record)


class _WeightsNotFinite(Exception):
    """A save found non-finite weights (an update overflowed); the checkpoint's name is the message."""


def _save(run: Run, name: str, reason: str) -> Saved:
    """Every rank calls this at the same step (the hidden state is gathered from all); rank 0 writes.
    Non-finite weights are never written over a good checkpoint: the run stops instead (the ranks
    hold the same weights, so they all agree)."""
    path = run.run_dir / name
    if not bool(torch.stack([torch.isfinite(p).all() for p in run.model.parameters()]).all()):
        raise _WeightsNotFinite(name)
    state = run.checkpoint()
    if run.dist.is_main:
        checkpoint.save(state, path)
    return Saved(step=run.step, path=str(path), reason=reason)


def _evaluate(run: Run, val_ids: Tokens, train_loss: float | None) -> Iterator[Event]:
    """Validation loss (rank 0 computes it for all), the best checkpoint, plateau cuts, early stopping, and
    a preview sample every sample_every evaluations."""
    cfg = run.cfg
    t0 = time.perf_counter()
    val = math.nan
    if run.dist.is_main:  # one evaluation, shared, so every rank agrees on "best"
        val = evaluate(run.model, val_ids, batch_size=cfg.batch_size, seq_len=max(cfg.seq_len, 256),
                       max_chars=cfg.eval_chars)
    val = run.dist.broadcast(val)
    secs = time.perf_counter() - t0
    run.val_scored = {"chars": scored_targets(len(val_ids), cfg.eval_chars), "of": scored_targets(len(val_ids))}
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
              "time": run.train_time, "lr_scale": run.lr_scale, "scored_chars": run.val_scored["chars"],
              "val_chars": run.val_scored["of"]}
    run.history.append(record)
    _log(run, record)
    yield Eval(step=run.step, val_loss=val, best_val_loss=run.best_val_loss if run.best_val_loss is not None
               else math.nan, is_best=is_best, train_loss=train_loss, seconds=secs, elapsed=run.train_time,
               scored_chars=run.val_scored["chars"], val_chars=run.val_scored["of"])
    if cut:
        yield Alert(step=run.step, kind="plateau", message=f"no better validation loss in {run.evals_since_best} "
                    f"evaluations: learning rate cut to {run.lr_scale:.3g}x (--plateau 0 keeps it)")
    if is_best:
        yield _save(run, runs.BEST, "best")
    n_evals = sum(1 for r in run.history if r["kind"] == "eval")
    if cfg.sample_every and n_evals % cfg.sample_every == 0 and run.dist.is_main and math.isfinite(val):
        text = generate_text(run.model, run.corpus.tokenizer,
                             SampleConfig(length=cfg.sample_length, temperature=PREVIEW_TEMPERATURE,
                                          seed=cfg.seed + run.step))[0]
        yield Sample(step=run.step, text=text)
    run.model.train()
