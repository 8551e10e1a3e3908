"""What a run will be, decided before its model is built: the size, the precision and the weight drop,
each with its reason (`Plan`). Sizing and precision measure the real shapes on this machine: a
forward and backward pass of a probe model, timed (`TimedPass`).

`plan_new` sizes a new model (a preset fills in what the user left open), `plan_fine_tune` takes the
size of a trained model and fine-tuning's rate and budget, `plan_resume` keeps a saved run's size and
settles only the precision it goes on in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..config import ModelConfig, TrainConfig, budget_text
from ..data.corpus import Corpus, lay_out
from ..data.tokenfile import Tokens
from ..data.windows import window
from ..model import CharLSTM
from . import finetune, sizing
from .distributed import Dist
from .loop import compute_loss
from .precision import resolve_precision, time_pass, unavailable
from .request import Request


@dataclass(frozen=True)
class Plan:
    """The model to build and the config to train it with (precision settled), and why: `size` (the
    preset and its reason, or the model fine-tuning starts from), `precision`, `weight_drop` (why it
    is on or off; empty when the user gave it or no budget decides it), `schedule` (fine-tuning's
    rate, schedule and budget) and `vocab` (how a fine-tuned model's vocabulary met the new text).
    `size` already quotes the weight-drop and schedule reasons; `notes()` is what a run shows."""

    model: ModelConfig
    config: TrainConfig
    size: str | None = None
    precision: str | None = None  # None: a continued fp32 run, nothing to settle
    weight_drop: str = ""
    schedule: str | None = None
    vocab: str | None = None  # fine-tuning: how the model's vocabulary met the new text

    def notes(self) -> list[str]:
        """The plan as the lines a run shows when it starts."""
        return [n for n in (self.size, self.vocab, self.precision and f"precision: {self.precision}") if n]


class TimedPass:
    """One forward + backward pass of a model of the run's shape on the first training window, in a
    given precision; leaves no trace (gradients cleared, the random state restored)."""

    def __init__(self, model: ModelConfig, ids: Tokens, cfg: TrainConfig, device: torch.device, dist: Dist):
        with torch.random.fork_rng(devices=[]):  # the run's seed, set later, meets an untouched stream
            self.model = CharLSTM(model).to(device)
        self.cfg, self.device, self.dist = cfg, device, dist
        x, y = window(ids, cfg.batch_size, 0, cfg.seq_len)
        self.x, self.y = x.to(device), y.to(device)

    def __call__(self, precision: str) -> None:
        with torch.random.fork_rng(devices=[]):
            state = self.model.init_state(self.cfg.batch_size, self.device)
            loss, _ = compute_loss(self.model, self.x, self.y, state, precision)
            loss.backward()
        self.model.zero_grad(set_to_none=True)

    def settle(self, requested: str) -> tuple[str, str]:
        """(precision, why) for `requested`, the same on every process."""
        return self.dist.share(resolve_precision(requested, self.device, self))

    def seconds(self, precision: str) -> float:
        """One timed pass, the same on every process."""
        return self.dist.share(time_pass(self, precision, self.device, reps=1))


PROBE = dict(vocab_size=96, embed=64, hidden=256, layers=2)  # a typical small run, for choosing a device
PROBE_BATCH, PROBE_LEN = 32, 64


def probe_seconds(device: torch.device) -> float:
    """One fp32 forward + backward of a typical small model (PROBE) on `device`, the best of three after
    a warm-up, leaving the random state as it was: how devices.choose_for_training compares the CPU
    with the Apple GPU before the run's own size is known."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CharLSTM(ModelConfig(**PROBE)).to(device)
        x = torch.randint(PROBE["vocab_size"], (PROBE_BATCH, PROBE_LEN + 1)).to(device)  # drawn on the CPU

        def one_pass(precision: str) -> None:
            loss, _ = compute_loss(model, x[:, :-1], x[:, 1:], model.init_state(PROBE_BATCH, device), precision)
            loss.backward()
            model.zero_grad(set_to_none=True)
        return time_pass(one_pass, "fp32", device)


def plan_new(req: Request, data: Corpus, device: torch.device, dist: Dist) -> Plan:
    """A new model: with a preset, the sizes the user left open filled in from it (each candidate's
    speed measured here, in the precision it would train in); the precision settled; the preset's
    weight drop turned off when the run will read its text too few times to memorise it."""
    fields, cfg, measured, chosen = dict(req.model), req.config, {}, None
    if req.preset is not None:
        rate = _rate_meter(req, data, device, dist, measured)
        chosen = sizing.choose(req.preset, len(data.tokens), _time_budget(cfg), device.type, rate)
        fields = {**{k: v for k, v in chosen.model().items() if k not in req.model}, **req.model}
        cfg = cfg.replace(**{k: v for k, v in chosen.train().items() if k not in req.keep})
    net_cfg = ModelConfig(vocab_size=data.tokenizer.vocab_size, **fields)
    train_ids = lay_out(data.tokens, cfg)[0]
    # when the model sizing timed last is the one chosen, its precision and step time are known
    same = measured.get("shape") == (fields, cfg.batch_size, cfg.seq_len)
    timed = None if same else TimedPass(net_cfg, train_ids, cfg, device, dist)
    precision, precision_why = measured["settled"] if same else timed.settle(cfg.precision)
    cfg = cfg.replace(precision=precision)
    if chosen is None:
        return Plan(net_cfg, cfg, precision=precision_why)
    secs = measured["secs"] if same else None
    cfg, secs, batch_why = _batch(net_cfg, cfg, train_ids, device, dist, secs, timed, req)
    net_cfg, wd_why = _regularisation(net_cfg, cfg, train_ids, dist, secs, timed, set(req.model))
    return Plan(net_cfg, cfg, size=_size_note(chosen.reason, net_cfg, cfg, wd_why, req, batch_why),
                precision=precision_why, weight_drop=wd_why)


def plan_fine_tune(req: Request, parent: dict, source: str, data: Corpus, device: torch.device, dist: Dist,
                   vocab: str | None) -> Plan:
    """A model that starts from `parent` (named `source`): its size (grown to the new vocabulary and
    styles), fine-tuning's rate, schedule and budget where the user gave none, the precision settled,
    the parent's batch halved on a CPU as a new run's is (`_batch`: a short budget needs updates), dropout
    of at least FINE_TUNE's unless given, and fine-tuning's weight drop unless the run reads its text
    too few times to memorise it."""
    cfg, schedule_why = fine_tune_config(TrainConfig.from_dict(parent["train_config"]), req.config, set(req.keep))
    net_cfg = finetune.grown_config(parent, data.tokenizer.vocab_size, req.model, data.styles)
    sized = "weight_drop" not in req.model  # as sizing does it, from the passes the run will make
    if sized:
        net_cfg = dataclasses.replace(net_cfg, weight_drop=sizing.FINE_TUNE["weight_drop"])
    if "dropout" not in req.model:
        net_cfg = dataclasses.replace(net_cfg, dropout=max(net_cfg.dropout, sizing.FINE_TUNE["dropout"]))
    train_ids = lay_out(data.tokens, cfg)[0]
    timed = TimedPass(net_cfg, train_ids, cfg, device, dist)
    precision, precision_why = timed.settle(cfg.precision)
    cfg = cfg.replace(precision=precision)
    # the parent's batch halved as a new run's is, where the budget leaves it too few steps
    cfg, secs, batch_why = _batch(net_cfg, cfg, train_ids, device, dist, None, timed, req)
    schedule_why += f"; {batch_why}" if batch_why else ""
    why, wd_note = "", ""
    if sized:  # a pass timed in the precision the run trains in; the dropout is the parent's unless given
        net_cfg, why = _regularisation(net_cfg, cfg, train_ids, dist, secs, timed, set(req.model))
        wd_note = (f"; dropout {net_cfg.dropout:g}, weight drop {net_cfg.weight_drop:g}"
                   + (f" ({why})" if why else ""))
    best = parent.get("best_val_loss")
    size = (f"init: {source} ({finetune.describe_size(net_cfg)}, step {parent.get('step', 0):,}"
            f"{f', best val {best:.4f}' if best is not None else ''}); the size comes from it, the optimizer starts "
            f"fresh; {schedule_why}{wd_note}")
    return Plan(net_cfg, cfg, size=size, precision=precision_why, weight_drop=why, schedule=schedule_why,
                vocab=vocab)


def plan_resume(saved_model: ModelConfig, cfg: TrainConfig, data: Corpus, device: torch.device, dist: Dist,
                precision_given: bool) -> Plan:
    """A saved run's own size and config. Without a --precision, it goes on in the precision it
    trained in, or in fp32 where that one cannot run here (a bf16 run moved to a CPU without bf16
    kernels, an fp16 run moved from a GPU to a CPU); a --precision given is settled as asked."""
    if cfg.precision == "fp32":  # trained in fp32, or --precision fp32: nothing to settle
        return Plan(saved_model, cfg)
    timed = TimedPass(saved_model, lay_out(data.tokens, cfg)[0], cfg, device, dist)
    if precision_given:
        precision, why = timed.settle(cfg.precision)
    else:
        problem = dist.share(unavailable(cfg.precision, device, timed))
        precision, why = ((cfg.precision, f"{cfg.precision} (as the run trained)") if problem is None else
                          ("fp32", f"fp32: the run trained in {cfg.precision}, which {problem}; it goes on in fp32"))
    return Plan(saved_model, cfg.replace(precision=precision), precision=why)


def fine_tune_config(parent: TrainConfig, cfg: TrainConfig, keep: set[str]) -> tuple[TrainConfig, str]:
    """The fine-tuning run's config: batch shape, weight decay and plateau from the parent, the rate a
    share of the parent's, a fresh schedule with a short warm-up (sizing.FINE_TUNE), and a shorter
    default budget; whatever the user gave (`keep`, or any budget) wins. Returns it and why."""
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


def _time_budget(cfg: TrainConfig) -> float | None:
    budget = cfg.budget
    return budget.get("time") if len(budget) == 1 else None


def _rate_meter(req: Request, data: Corpus, device: torch.device, dist: Dist,
                measured: dict) -> Callable[[dict], float]:
    """rate(values): the characters per second a model of a preset's `values` (the user's options
    winning) trains at here, one forward + backward timed in the precision the run would settle on.
    What it measured last is left in `measured` (shape, settled precision, seconds a pass), so the
    plan does not time the chosen model again."""
    def rate(values: dict) -> float:
        fields = {**{k: values[k] for k in sizing.MODEL_FIELDS}, **req.model}
        cfg = req.config.replace(**{k: values[k] for k in ("batch_size", "seq_len") if k not in req.keep})
        timed = TimedPass(ModelConfig(vocab_size=data.tokenizer.vocab_size, **fields), lay_out(data.tokens, cfg)[0],
                      cfg, device, dist)
        settled = timed.settle(cfg.precision)
        secs = timed.seconds(settled[0])
        measured.update(shape=(fields, cfg.batch_size, cfg.seq_len), settled=settled, secs=secs)
        return cfg.batch_size * cfg.seq_len / secs
    return rate


def _batch(net_cfg: ModelConfig, cfg: TrainConfig, train_ids: Tokens, device: torch.device, dist: Dist,
           secs: float | None, timed: TimedPass | None, req: Request) -> tuple[TrainConfig, float | None, str]:
    """On a CPU with a time budget and the batch left open: the batch halved while the budget leaves
    too few steps and the half batch trains nearly as fast (sizing.halve_batch), each half timed
    here in the run's precision. Returns the config, the seconds a pass of it takes (None when
    nothing was timed) and why the batch changed (empty when it did not)."""
    budget_s = _time_budget(cfg)
    if budget_s is None or device.type != "cpu" or "batch_size" in req.keep:
        return cfg, secs, ""
    if secs is None:
        secs = timed.seconds(cfg.precision)
    first_batch, first_steps, first_rate = cfg.batch_size, budget_s / secs, cfg.batch_size / secs
    rate, timed_half = first_rate, {}

    def half_rate() -> float:
        half = cfg.replace(batch_size=cfg.batch_size // 2)
        timed_half.update(cfg=half, secs=TimedPass(net_cfg, train_ids, half, device, dist).seconds(cfg.precision))
        return half.batch_size / timed_half["secs"]

    while sizing.halve_batch(cfg.batch_size, budget_s / secs, rate, half_rate):
        cfg, secs = timed_half["cfg"], timed_half["secs"]
        rate = cfg.batch_size / secs
    if cfg.batch_size == first_batch:
        return cfg, secs, ""
    return cfg, secs, sizing.batch_note(first_batch, first_steps, cfg.batch_size, rate / first_rate)


def _regularisation(net_cfg: ModelConfig, cfg: TrainConfig, train_ids: Tokens, dist: Dist, secs: float | None,
                    timed: TimedPass | None, given: set[str]) -> tuple[ModelConfig, str]:
    """The model config with the dropout and weight drop for the passes the run will make over its
    text (sizing.regularisation_for), the user's `given` options kept, and why; a pass is timed only
    for a time budget (`secs` when known)."""
    open_ = [k for k in sizing.STRONG if k not in given]
    if not open_:
        return net_cfg, ""
    budget = cfg.budget
    if budget.get("time") and secs is None:
        secs = timed.seconds(cfg.precision)
    passes = dist.share(sizing.expected_passes(budget, cfg.batch_size * cfg.seq_len, len(train_ids), secs))
    values, why = sizing.regularisation_for({k: getattr(net_cfg, k) for k in sizing.STRONG}, passes, given)
    return dataclasses.replace(net_cfg, **values), why


def _size_note(reason: str, net_cfg: ModelConfig, cfg: TrainConfig, wd_why: str, req: Request,
               batch_why: str = "") -> str:
    """The `size:` line: the preset and why, the values the run uses, and which ones were the user's."""
    given = sorted([k for k in sizing.MODEL_FIELDS if k in req.model] + [k for k in sizing.TRAIN_FIELDS
                                                                         if k in req.keep])
    final = {**{k: getattr(cfg, k) for k in sizing.TRAIN_FIELDS},
             **{k: getattr(net_cfg, k) for k in sizing.MODEL_FIELDS}}
    text = f"size: {reason}: {sizing.describe(final, wd_why, batch_why)}"
    return text + (f" (your {', '.join('--' + k.replace('_', '-') for k in given)} kept)" if given else "")
