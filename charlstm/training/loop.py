"""One run in progress and the loop that trains it window by window.

`Run` holds what is fixed for the run (its folder, the model, the config, the data laid into lanes,
the processes) and `TrainState`, what each step changes (the position, the carried hidden state,
the optimizer, the best loss and the plateau count). `Run.checkpoint()` saves the state and
`Run.restore()` reads it back, so a resumed run continues bit for bit.

`train_loop()` trains until the budget is spent, a stop is asked, patience runs out or the loss
stays non-finite, yielding events. Each turn reads top to bottom as phases:

    stop asked? -> read the window -> forward/backward -> clip -> non-finite? skip -> step -> log
    -> evaluate -> save -> done?

Stopping is asked through `should_stop()` (the CLI wires it to Ctrl-C and SIGTERM, `fit()` to
Ctrl-C); the loop touches no signals. Under torchrun every decision that must agree between the
processes goes through `Dist`, whose methods hand back the local values when one process trains.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import TrainConfig, budget_text
from ..data.corpus import Corpus, lay_out
from ..data.tokenfile import Tokens
from ..data.windows import lane_length, num_windows, window, window_styles
from ..errors import NonFiniteError
from ..events import Alert, Eval, Event, Sample, Saved, Skipped, Started, Step, Stopped
from ..model import CharLSTM, State, detach_state
from ..sampling.generate import SampleConfig, generate_text
from ..store import checkpoint, runs
from . import schedule
from .distributed import Dist
from .evaluate import evaluate, scored_targets
from .gradients import GradientMonitor, layer_groups, layer_norms
from .precision import autocast

PREVIEW_TEMPERATURE = 0.8


def compute_loss(model: CharLSTM, x: torch.Tensor, y: torch.Tensor, state: State,
                 precision: str = "fp32", style: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
    """Mean cross-entropy (nats/char) of one window, and the state after it (`style`: each input's
    style id, for a styled model). Under bf16 the forward runs in autocast; the loss is always fp32."""
    with autocast(precision, x.device):
        logits, new_state = model(x, state, style)  # B, T, V
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1)), new_state


@dataclass
class TrainState:
    """What each step changes; all of it goes into the checkpoint."""

    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # fp16 loss scaling (a disabled scaler otherwise)
    step: int = 0
    cursor: int = 0  # windows read since the start; the epoch is cursor / windows_per_epoch
    train_time: float = 0.0
    hidden: State | None = None  # carried from window to window, detached
    best_val_loss: float | None = None
    evals_since_best: int = 0
    lr_scale: float = 1.0  # product of the plateau cuts so far
    history: list[dict] = field(default_factory=list)  # evaluation records
    val_scored: dict = field(default_factory=dict)  # what the last evaluation scored: {"chars": n, "of": total}
    val_by_style: dict = field(default_factory=dict)  # a styled run's last validation loss per style


@dataclass
class Run:
    """One run: what is fixed for it, and `state`, what each step changes."""

    run_dir: Path
    model: CharLSTM
    cfg: TrainConfig
    corpus: Corpus
    corpus_info: dict  # the corpus record a checkpoint keeps (paths, options, size, checksum)
    device: torch.device
    dist: Dist
    state: TrainState
    notes: list[str] = field(default_factory=list)  # shown when the run starts
    lineage: list[dict] = field(default_factory=list)  # the models this run was fine-tuned from, nearest first
    resumed_from: int | None = None
    device_note: str = ""  # why this device, when a timed pass chose it

    @cached_property
    def ids(self) -> tuple[Tokens, Tokens]:
        """(training ids, validation ids)."""
        return lay_out(self.corpus.tokens, self.cfg)

    @cached_property
    def windows_per_epoch(self) -> int:
        return num_windows(lane_length(len(self.ids[0]), self.cfg.batch_size), self.cfg.seq_len)

    @cached_property
    def budget(self) -> dict:
        return self.cfg.budget

    def progress(self) -> float:
        """Share of the budget spent: 0 at the start, 1 (or more) when it is over."""
        s = self.state
        return schedule.progress(self.budget, s.step, s.cursor / self.windows_per_epoch, s.train_time)

    def set_lr(self) -> float:
        """The schedule's rate at this point of the budget, times the plateau cuts, set on the optimizer."""
        cfg = self.cfg
        lr = schedule.learning_rate(cfg.schedule, cfg.lr, cfg.min_lr, cfg.warmup, self.state.step, self.progress())
        lr = schedule.effective_rate(lr, self.state.lr_scale, cfg.min_lr)
        for group in self.state.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def patience_spent(self) -> bool:
        return bool(self.cfg.patience) and self.state.evals_since_best >= self.cfg.patience

    def checkpoint(self) -> dict:
        """Everything needed to continue exactly: only tensors and primitives."""
        s = self.state
        hidden = self.dist.gather_lanes(tuple(h.detach().float() for h in s.hidden)) if s.hidden is not None else ()
        # the state in fp32 whatever the precision: a half-precision state widens exactly, and every machine reads it
        return checkpoint.training_record(self.model, s.optimizer, s.scaler, hidden, {
            "train_config": self.cfg.to_dict(), "vocab": self.corpus.tokenizer.to_dict(),
            "step": s.step, "cursor": s.cursor, "epoch": s.cursor / self.windows_per_epoch, "train_time": s.train_time,
            "best_val_loss": s.best_val_loss,
            "plateau": {"lr_scale": s.lr_scale, "evals_since_best": s.evals_since_best},
            "metrics": s.history, "val_scored": s.val_scored,
            "corpus": self.corpus_info, "run_name": self.run_dir.name, "lineage": self.lineage})

    def restore(self, saved: dict, path: Path) -> None:
        """Continue from the checkpoint `saved` (what `checkpoint()` wrote): the optimizer, the loss
        scale and the random streams, this process's lanes of the carried state, and the position."""
        s = self.state
        checkpoint.restore_training_state(saved, path, s.optimizer, s.scaler)
        lanes = self.dist.lanes(self.cfg.batch_size)
        # as fp32: earlier checkpoints kept a bf16 or fp16 run's state in that precision (exact in fp32)
        s.hidden = tuple(h[:, lanes.start:lanes.stop].to(self.device, torch.float32) for h in saved["hidden"]) or None
        s.step = self.resumed_from = saved["step"]
        s.cursor, s.train_time = saved["cursor"], saved["train_time"]
        s.best_val_loss, s.history = saved["best_val_loss"], list(saved["metrics"])
        s.val_scored = dict(saved.get("val_scored", {}))  # absent in checkpoints written before it was kept
        self.lineage = list(saved.get("lineage", []))
        plateau = saved.get("plateau", {})
        s.lr_scale, s.evals_since_best = plateau.get("lr_scale", 1.0), plateau.get("evals_since_best", 0)
        # a run saved before cuts had a floor may hold a scale near 0: it goes on from the floor
        s.lr_scale = max(s.lr_scale, schedule.plateau_floor(self.cfg.lr, self.cfg.min_lr))


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


@dataclass
class _Turns:
    """What the loop keeps from one turn to the next besides the run's state: the module the passes go
    through (DDP when several processes train), the clipping, the gradient watch, the tally since the
    last Step, the --eval-at marks still ahead, the bad steps in a row and the last periodic save."""
    net: torch.nn.Module
    params: list[torch.nn.Parameter]
    groups: dict
    clip: float
    part: range | None  # this process's lanes
    monitor: GradientMonitor
    marks: list[float]
    last_save: float  # time.monotonic() at the end of the step of the last save
    step_end: float = 0.0  # time.monotonic() at the end of the last step
    tally: _Tally = field(default_factory=_Tally)
    bad_in_a_row: int = 0

    @classmethod
    def start(cls, run: Run, net: torch.nn.Module) -> _Turns:
        cfg, model = run.cfg, run.model
        clip = cfg.clip if cfg.clip > 0 else math.inf
        return cls(net=net, params=list(model.parameters()), groups=layer_groups(model), clip=clip,
                   part=run.dist.part(cfg.batch_size), monitor=GradientMonitor(model.config.layers, clip,
                                                                               model.config.cell),
                   marks=sorted(t for t in cfg.eval_at if t > run.state.train_time), last_save=time.monotonic())


@dataclass
class _Pass:
    """One window's forward and backward: the loss (mean over processes), the gradient norm before
    clipping, per-layer norms on the steps that log them, and the state after the window."""
    loss: float
    grad_norm: float
    norms: dict[str, float] | None
    hidden: State
    chars: int
    started: float  # perf_counter at its start

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss) and math.isfinite(self.grad_norm)


def train_loop(run: Run, should_stop: Callable[[], bool] | None = None) -> Iterator[Event]:
    """Train `run` until it ends, yielding events: Started first, Stopped last."""
    net = run.dist.wrap(run.model, run.device) or run.model  # through DDP when several processes train
    run.dist.seed_rank(run.cfg.seed, run.state.step)
    finished = False  # every rank got here through the same steps: safe to wait for each other at the end
    try:
        yield _started(run)
        if run.progress() >= 1.0:
            yield _stopped(run, "done", f"the budget ({budget_text(run.budget)}) was already reached at step "
                           f"{run.state.step}; give a larger --steps, --epochs or --time to train further")
        else:
            yield from _loop(run, _Turns.start(run, net), should_stop or (lambda: False))
        finished = True
    finally:
        del net  # DDP's reducer holds gloo work objects: let it go before the group does
        run.dist.close(wait=finished)


def _loop(run: Run, turns: _Turns, should_stop: Callable[[], bool]) -> Iterator[Event]:
    cfg, s = run.cfg, run.state
    if s.step == 0 and run.lineage:  # fine-tuning: the starting model scored on the new text first
        yield from _evaluation(run, None)
    run.model.train()
    while True:
        # stop asked? (on any rank: every rank stops at this step)
        if run.dist.any(should_stop()):
            yield from _end(run, "interrupted", "interrupted", f"stopped at step {s.step}")
            return
        # read the window and set the learning rate; forward, backward, clip
        x, y, style = _next_window(run, turns.part)
        lr = run.set_lr()
        done_pass = _forward_backward(run, turns, x, y, style)
        # non-finite? skip the window, nothing applied (too many in a row stop the run)
        if not done_pass.finite:
            yield from _skip(run, turns, done_pass)
            continue
        # step, carrying the detached state into the next window; one clock for all ranks
        save_due = _apply(run, turns, done_pass)
        p = run.progress()
        done = p >= 1.0
        # log: gradient alerts at once, a Step every log_every steps
        for kind, message in turns.monitor.observe(s.step, done_pass.grad_norm, done_pass.norms):
            yield Alert(step=s.step, kind=kind, message=message)
        if s.step % cfg.log_every == 0 or done:
            yield _logged_step(run, turns, lr, done_pass, p)
        # evaluate every eval_every steps, when training time passes an --eval-at mark, and at the end
        if _passed(turns.marks, s.train_time) or s.step % cfg.eval_every == 0 or done:
            yield from _evaluation(run, turns.tally.last_loss)
            if run.patience_spent() and not done:
                yield from _end(run, "final", "early-stop", _patience_message(run))
                return
        # save every save_every steps or save_every_time seconds, and at the end
        if done or (cfg.save_every and s.step % cfg.save_every == 0) or save_due:
            yield from _saving(run, runs.LAST, "final" if done else "periodic")
            turns.last_save = turns.step_end
        # done?
        if done:
            yield _stopped(run, "done", f"finished {budget_text(run.budget)} at step {s.step}")
            return


def _next_window(run: Run, part: range | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, y, the style of each x or None) at the read position, on the device; a new pass over the
    lanes starts from zero memory."""
    s = run.state
    i = s.cursor % run.windows_per_epoch
    x, y = window(run.ids[0], run.cfg.batch_size, i, run.cfg.seq_len, part)
    style = window_styles(run.ids[0], run.cfg.batch_size, i, run.cfg.seq_len, part)
    if i == 0 or s.hidden is None:
        s.hidden = run.model.init_state(x.shape[0], run.device)
    # an asynchronous copy is safe on CUDA only (MPS has been seen to read the batch before it arrives)
    on_cuda = run.device.type == "cuda"
    return (x.to(run.device, non_blocking=on_cuda), y.to(run.device, non_blocking=on_cuda),
            None if style is None else style.to(run.device, non_blocking=on_cuda))


def _forward_backward(run: Run, turns: _Turns, x: torch.Tensor, y: torch.Tensor,
                      style: torch.Tensor | None = None) -> _Pass:
    """Forward and backward of one window; under fp16 the loss is scaled and the gradients unscaled
    right after. Each layer's gradient is measured (on the steps that log it) before clipping."""
    s, t0 = run.state, time.perf_counter()
    s.optimizer.zero_grad(set_to_none=True)
    loss, new_hidden = compute_loss(turns.net, x, y, s.hidden, run.cfg.precision, style=style)
    s.scaler.scale(loss).backward()
    s.scaler.unscale_(s.optimizer)
    norms = layer_norms(turns.groups) if (s.step + 1) % run.cfg.log_every == 0 else None
    grad_norm = torch.nn.utils.clip_grad_norm_(turns.params, turns.clip)
    return _Pass(run.dist.mean_loss(loss.item()), grad_norm.item(), norms, new_hidden, x.numel(), t0)


def _apply(run: Run, turns: _Turns, done: _Pass) -> bool:
    """Take the optimizer step and move on one window; returns whether a timed save is due (agreed by
    every process, with the step's time)."""
    s = run.state
    s.scaler.step(s.optimizer)
    s.scaler.update()
    s.hidden = detach_state(done.hidden)
    period = run.cfg.save_every_time or math.inf
    turns.step_end = time.monotonic()
    dt, save_due = run.dist.agree_clock(time.perf_counter() - done.started, turns.step_end - turns.last_save >= period)
    turns.bad_in_a_row = 0
    s.step, s.cursor, s.train_time = s.step + 1, s.cursor + 1, s.train_time + dt
    turns.tally.add(done.chars, dt, done.loss)
    return save_due


def _skip(run: Run, turns: _Turns, bad: _Pass) -> Iterator[Event]:
    """Drop this window's update: nothing is applied, its time is counted, the window is passed over and
    the next one starts from zero memory. More than max_bad_steps in a row stop the run, saved with the
    parameters of the last good step (NonFiniteError follows the Stopped event). A finite loss with
    non-finite gradients under fp16 is an overflow of the scaled gradients, normal now and then: it
    lowers the scale, uncounted."""
    s = run.state
    overflow = s.scaler.is_enabled() and math.isfinite(bad.loss)
    if overflow:
        s.scaler.update()
    else:
        turns.bad_in_a_row += 1
    s.optimizer.zero_grad(set_to_none=True)
    s.train_time += time.perf_counter() - bad.started
    yield Skipped(step=s.step + 1, loss=bad.loss, grad_norm=bad.grad_norm,
                  in_a_row=0 if overflow else turns.bad_in_a_row)
    if not overflow and turns.bad_in_a_row > run.cfg.max_bad_steps:
        msg = (f"non-finite {'loss' if not math.isfinite(bad.loss) else 'gradient norm'} at step {s.step + 1} "
               f"(loss {bad.loss}, grad norm {bad.grad_norm}); nothing was updated. Try a lower --lr or --clip, or "
               "--max-bad-steps K to skip up to K bad steps in a row")
        yield from _end(run, "nonfinite", "nonfinite", msg)
        raise NonFiniteError(msg)
    s.cursor += 1
    s.hidden = None


def _evaluation(run: Run, train_loss: float | None) -> Iterator[Event]:
    """Validation: the loss, the best checkpoint, plateau cuts, and a preview sample every
    sample_every evaluations."""
    val, secs = _validate(run)
    is_best, cut = _judge(run, val)
    yield _eval_event(run, val, secs, is_best, train_loss)
    if cut:
        floor = schedule.plateau_floor(run.cfg.lr, run.cfg.min_lr)
        at_floor = " (its floor: no further cuts)" if run.state.lr_scale <= floor else ""
        yield Alert(step=run.state.step, kind="plateau", message=f"no better validation loss in "
                    f"{run.state.evals_since_best} evaluations: learning rate cut to {run.state.lr_scale:.3g}x"
                    f"{at_floor} (--plateau 0 keeps it)")
    if is_best:
        yield from _saving(run, runs.BEST, "best")
    n_evals = sum(1 for r in run.state.history if r["kind"] == "eval")
    if run.cfg.sample_every and n_evals % run.cfg.sample_every == 0 and run.dist.is_main and math.isfinite(val):
        yield _preview(run)
    run.model.train()


def _validate(run: Run) -> tuple[float, float]:
    """(validation loss, seconds): rank 0 computes it, every rank gets it, so all agree on "best". A
    styled run scores each style's own held-out text in that style (state.val_by_style) and the loss is
    their mean weighted by characters scored."""
    cfg, val_ids, t0 = run.cfg, run.ids[1], time.perf_counter()
    val, parts = math.nan, _val_parts(val_ids, cfg.eval_chars)
    if run.dist.is_main:
        scores = {name: evaluate(run.model, ids, batch_size=cfg.batch_size, seq_len=max(cfg.seq_len, 256),
                                 max_chars=n, style=style) for name, ids, n, style in parts}
        run.state.val_by_style = {k: v for k, v in scores.items() if k is not None}
        weights = [scored_targets(len(ids), n) for _, ids, n, _ in parts]
        val = sum(w * v for w, v in zip(weights, scores.values())) / max(1, sum(weights))
    val = run.dist.broadcast(val)
    run.state.val_scored = {"chars": sum(scored_targets(len(ids), n) for _, ids, n, _ in parts),
                            "of": sum(scored_targets(len(ids)) for _, ids, _, _ in parts)}
    return val, time.perf_counter() - t0


def _val_parts(val_ids, eval_chars: int | None) -> list[tuple[str | None, Tokens, int | None, torch.Tensor | None]]:
    """What validation scores: (style name, its ids, how many of them to read, its one-hot style), one
    per style with text (eval_chars shared among them by size), or the whole split as it is."""
    names = getattr(val_ids, "names", ())
    if not names:
        return [(None, val_ids, eval_chars, None)]
    sizes = val_ids.chars()
    total = sum(sizes)
    return [(name, val_ids.style(k), None if eval_chars is None else max(2, eval_chars * n // total),
             torch.eye(len(names))[k]) for k, (name, n) in enumerate(zip(names, sizes)) if n >= 2]


def _judge(run: Run, val: float) -> tuple[bool, bool]:
    """(a new best?, a plateau cut?), with the best loss, the count since it and the rate scale updated."""
    s, cfg = run.state, run.cfg
    is_best = math.isfinite(val) and (s.best_val_loss is None or val < s.best_val_loss)
    if is_best:
        s.best_val_loss, s.evals_since_best = val, 0
    else:
        s.evals_since_best += 1
    due = bool(cfg.plateau) and not is_best and not run.patience_spent() and s.evals_since_best % cfg.plateau == 0
    cut = schedule.plateau_cut(s.lr_scale, schedule.plateau_floor(cfg.lr, cfg.min_lr)) if due else None
    if cut is not None:
        s.lr_scale = cut
    return is_best, cut is not None


def _eval_event(run: Run, val: float, secs: float, is_best: bool, train_loss: float | None) -> Eval:
    """The Eval event, also kept in the run's history and written to the metrics log."""
    s = run.state
    record = {"kind": "eval", "step": s.step, "val_loss": val, "train_loss": train_loss, "is_best": is_best,
              "time": s.train_time, "lr_scale": s.lr_scale, "scored_chars": s.val_scored["chars"],
              "val_chars": s.val_scored["of"], **({"val_by_style": s.val_by_style} if s.val_by_style else {})}
    s.history.append(record)
    _log(run, record)
    return Eval(step=s.step, val_loss=val, best_val_loss=s.best_val_loss if s.best_val_loss is not None else math.nan,
                is_best=is_best, train_loss=train_loss, seconds=secs, elapsed=s.train_time,
                scored_chars=s.val_scored["chars"], val_chars=s.val_scored["of"], val_by_style=dict(s.val_by_style))


def _preview(run: Run) -> Sample:
    cfg = run.cfg
    text = generate_text(run.model, run.corpus.tokenizer, SampleConfig(length=cfg.sample_length,
                         temperature=PREVIEW_TEMPERATURE, seed=cfg.seed + run.state.step))[0]
    return Sample(step=run.state.step, text=text)


def _saving(run: Run, name: str, reason: str) -> Iterator[Event]:
    """Save `name` and yield Saved. Every rank calls this at the same step (the hidden state is
    gathered from all); rank 0 writes. Non-finite weights are never written over a good checkpoint:
    the run stops instead (Stopped, then NonFiniteError; the ranks hold the same weights, so they all
    agree)."""
    s, path = run.state, run.run_dir / name
    if not bool(torch.stack([torch.isfinite(p).all() for p in run.model.parameters()]).all()):
        msg = (f"the weights became NaN or infinite by step {s.step}; {name} was not written and the last good "
               "checkpoint was kept. Try a lower --lr or --clip")
        yield _stopped(run, "nonfinite", msg)
        raise NonFiniteError(msg)
    state = run.checkpoint()
    if run.dist.is_main:
        checkpoint.save(state, path)
    yield Saved(step=s.step, path=str(path), reason=reason)


def _end(run: Run, saved_as: str, reason: str, message: str) -> Iterator[Event]:
    """Save last.pt, then stop for `reason`."""
    yield from _saving(run, runs.LAST, saved_as)
    yield _stopped(run, reason, message)


def _started(run: Run) -> Started:
    train_ids, val_ids = run.ids
    return Started(run_dir=str(run.run_dir), run_name=run.run_dir.name, params=run.model.num_params(),
                   corpus=run.corpus.describe(), train_chars=len(train_ids), val_chars=len(val_ids),
                   model_config=run.model.config.to_dict(), train_config=run.cfg.to_dict(), budget=run.budget,
                   device=" ".join(filter(None, (str(run.device), run.device_note and f"({run.device_note})"))),
                   threads=torch.get_num_threads(), resumed_from=run.resumed_from,
                   notes=tuple(run.notes), processes=run.dist.world)


def _stopped(run: Run, reason: str, message: str) -> Stopped:
    return Stopped(step=run.state.step, reason=reason, message=message, best_val_loss=run.state.best_val_loss,
                   elapsed=run.state.train_time, run_dir=str(run.run_dir))


def _patience_message(run: Run) -> str:
    return (f"stopped early at step {run.state.step}: no better validation loss in the last {run.cfg.patience} "
            f"evaluations (best {run.state.best_val_loss:.4f} is in best.pt; --patience 0 trains to the end)")


def _logged_step(run: Run, turns: _Turns, lr: float, done: _Pass, progress: float) -> Step:
    """The Step event for the steps since the last one, also written to the metrics log."""
    s = run.state
    loss, speed = turns.tally.flush()
    ev = Step(step=s.step, epoch=s.cursor / run.windows_per_epoch, loss=loss, grad_norm=done.grad_norm,
              clipped=done.grad_norm > turns.clip, lr=lr, chars_per_s=speed, elapsed=s.train_time,
              progress=min(progress, 1.0), eta=schedule.eta(run.budget, progress, s.train_time),
              layer_grad_norms=done.norms or {}, clipped_fraction=turns.monitor.clipped_fraction)
    _log(run, {"kind": "train", "step": ev.step, "epoch": ev.epoch, "loss": ev.loss, "grad_norm": ev.grad_norm,
               "layer_grad_norms": ev.layer_grad_norms, "clipped_fraction": ev.clipped_fraction, "lr": lr,
               "chars_per_s": ev.chars_per_s, "time": s.train_time})
    return ev


def _passed(marks: list[float], elapsed: float) -> bool:
    """Whether training time passed --eval-at marks (sorted) since the last call; those marks are used up."""
    n = bisect.bisect_right(marks, elapsed)
    del marks[:n]
    return n > 0


def _log(run: Run, record: dict) -> None:
    if run.dist.is_main:
        runs.append_metrics(run.run_dir, record)
