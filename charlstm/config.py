"""Typed configuration: `ModelConfig` (what the network is), `TrainConfig` (how it is trained) and
`SampleConfig` (how text is drawn from it), with `weight_shapes`, a config's weights by arithmetic.

Field names equal the CLI option names (`hidden` is `--hidden`). Both validate themselves in
`__post_init__` and travel inside checkpoints as plain dicts (`asdict` / `from_dict`). Knows
nothing of torch, files or the terminal.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from .errors import ConfigError
from .values import MAX_SEED, is_finite_number

CELLS = ("lstm", "gru", "rnn")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine", "wsd")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEFAULT_TIME_S = 600.0  # budget when the user gives none of --steps/--epochs/--time


MAX_PARAMS = 1_000_000_000  # 4 GB of fp32 weights (16 GB with Adam's state): beyond any model this tool trains


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _check_types(obj) -> None:
    """Every field holds its declared type (a bool is not an int) and every number is finite, so
    a config from a hand-edited checkpoint or an `inf` on the command line is one clear error."""
    for f in dataclasses.fields(obj):
        v, kind = getattr(obj, f.name), str(f.type)
        if v is None and "None" in kind:
            continue
        numbers = v if kind.startswith("tuple") else (v,)
        if kind.startswith("tuple[str"):
            ok, numbers = isinstance(v, tuple) and all(isinstance(x, str) for x in v), ()
        elif kind.startswith("tuple"):
            ok = isinstance(v, tuple)
        elif kind.startswith("int"):
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif kind.startswith("float"):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        else:
            ok, numbers = isinstance(v, str), ()
        ok = ok and all(is_finite_number(x) for x in numbers)
        _check(ok, f"--{_opt(f.name)} must be a finite {kind.split(' ')[0].split('[')[0]}, got {v!r}")


# each cell's gates in PyTorch's order; a layer holds one block of weights per gate (a plain RNN, one)
GATES = {"lstm": ("input", "forget", "cell", "output"), "gru": ("reset", "update", "new"), "rnn": ()}


def blocks(cell: str) -> int:
    """Weight blocks per layer of `cell`: 4 for an LSTM, 3 for a GRU, 1 for a plain RNN."""
    return len(GATES[cell]) or 1


def param_count(cell: str, vocab: int, embed: int, hidden: int, layers: int, styles: int = 0,
                style_embed: int = 0) -> int:
    """Parameters of a model, from its sizes alone (an LSTM layer has 4 weight blocks, GRU 3, RNN 1);
    a styled model adds a table of style vectors, read by the first layer beside the embedding."""
    gates = blocks(cell)
    style_embed = style_embed if styles else 0
    n = vocab * embed + hidden * vocab + vocab + styles * style_embed
    inp = embed + style_embed
    for _ in range(layers):
        n += gates * hidden * (inp + hidden + 2)
        inp = hidden
    return n


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    cell: str = "lstm"
    embed: int = 128
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.2
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden matrices while training
    styles: tuple[str, ...] = ()  # style names (train --styles); each has a learned vector of style_embed values
    style_embed: int = 16

    def __post_init__(self) -> None:
        if isinstance(self.styles, list):  # a config read back from JSON
            object.__setattr__(self, "styles", tuple(self.styles))
        _check_types(self)
        _check(self.vocab_size >= 2, f"vocabulary needs at least 2 characters, got {self.vocab_size}")
        _check(self.cell in CELLS, f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("embed", "hidden", "layers"):
            _check(getattr(self, name) >= 1, f"--{name} must be at least 1, got {getattr(self, name)}")
        _check(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        _check(0.0 <= self.weight_drop < 1.0, f"--weight-drop must be in [0, 1), got {self.weight_drop}")
        _check(self.style_embed >= 1, f"--style-embed must be at least 1, got {self.style_embed}")
        _check(len(set(self.styles)) == len(self.styles) and all(n and "," not in n and ":" not in n
                                                                 for n in self.styles),
               f"style names must be distinct, non-empty and free of ',' and ':', got {list(self.styles)}")
        n = self.num_params()
        _check(n <= MAX_PARAMS, f"a {self.layers}x{self.hidden} {self.cell} with embed {self.embed} would have "
                                f"{n:,.4g} parameters or more; charlstm stops at {MAX_PARAMS:,}")

    def num_params(self) -> int:
        return param_count(self.cell, self.vocab_size, self.embed, self.hidden, self.layers, len(self.styles),
                           self.style_embed)

    @property
    def input_size(self) -> int:
        """What the first recurrent layer reads at each step: the character's embedding, then the style's vector."""
        return self.embed + (self.style_embed if self.styles else 0)

    def to_dict(self) -> dict:
        """Plain values, as JSON has them (the style names as a list)."""
        return {**dataclasses.asdict(self), "styles": list(self.styles)}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return _from_dict(cls, d)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64
    seq_len: int = 128
    lr: float = 2e-3
    min_lr: float = 2e-4  # floor of the decaying schedules
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    schedule: str = "wsd"  # measured best at 5 minutes on tiny shakespeare (bench/RESULTS.md)
    warmup: int = 0  # steps of linear learning-rate warm-up (0: measured best for the defaults)
    clip: float = 5.0  # max global gradient norm; 0 turns clipping off
    steps: int | None = None
    epochs: float | None = None
    time: float | None = None  # seconds of training (evaluation excluded)
    eval_every: int = 200  # steps
    eval_chars: int | None = 200_000  # validation chars used by periodic evals (None: all)
    eval_at: tuple[float, ...] = ()  # also evaluate when training time passes these seconds
    save_every: int | None = 1000  # steps
    save_every_time: float | None = 300.0  # seconds
    sample_every: int = 1  # a preview sample every N evaluations (0: never)
    sample_length: int = 200
    val_fraction: float = 0.1
    max_vocab: int = 10_000  # refuse corpora with more distinct characters than this
    seed: int = 1337
    max_bad_steps: int = 0  # non-finite steps skipped in a row before stopping
    precision: str = "auto"  # auto | fp32 | bf16 (autocast); a started run stores what auto chose
    log_every: int = 10  # steps between progress events
    plateau: int = 3  # evaluations without a new best before the learning rate is cut (0: never)
    patience: int = 10  # evaluations without a new best before training stops early (0: never)

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("batch_size", "seq_len", "eval_every", "log_every", "sample_length"):
            _check(getattr(self, name) >= 1, f"--{_opt(name)} must be at least 1, got {getattr(self, name)}")
        _check(self.lr > 0, f"--lr must be positive, got {self.lr}")
        _check(0 <= self.min_lr <= self.lr, f"--min-lr must be in [0, --lr], got {self.min_lr}")
        _check(self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        _check(self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}")
        _check(self.weight_decay >= 0, "--weight-decay must be >= 0")
        _check(self.warmup >= 0, "--warmup must be >= 0")
        _check(self.clip >= 0, "--clip must be >= 0 (0 turns clipping off)")
        _check(self.steps is None or self.steps >= 1, "--steps must be at least 1")
        _check(self.epochs is None or self.epochs > 0, "--epochs must be positive")
        _check(self.time is None or self.time > 0, "--time must be positive")
        _check(all(t > 0 for t in self.eval_at), "evaluation times must be positive")
        _check(self.eval_chars is None or self.eval_chars >= 2, "--eval-chars must be at least 2")
        _check(self.save_every is None or self.save_every >= 1, "--save-every steps must be at least 1")
        _check(self.save_every_time is None or self.save_every_time > 0, "--save-every time must be positive")
        _check(self.sample_every >= 0, "--sample-every must be >= 0")
        _check(0.0 < self.val_fraction < 0.5, f"--val-fraction must be in (0, 0.5), got {self.val_fraction}")
        _check(self.max_bad_steps >= 0, "--max-bad-steps must be >= 0")
        _check(self.max_vocab >= 2, "--max-vocab must be at least 2")
        _check(self.plateau >= 0, "--plateau must be >= 0 (0: never cut the learning rate)")
        _check(self.patience >= 0, "--patience must be >= 0 (0: never stop early)")
        _check(0 <= self.seed <= MAX_SEED, f"--seed must be in [0, 2**63), got {self.seed}")
        _check(self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got "
                                             f"{self.precision!r}")

    @property
    def budget(self) -> dict:
        """The stopping rule: whichever of steps/epochs/time the user gave, else the default time."""
        given = {k: v for k, v in (("steps", self.steps), ("epochs", self.epochs), ("time", self.time)) if v}
        return given or {"time": DEFAULT_TIME_S}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return _from_dict(cls, {**d, "eval_at": tuple(d.get("eval_at", ()))})

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _opt(name: str) -> str:
    return name.replace("_", "-")


def _from_dict(cls, d: dict):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    return cls(**d)


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float:
    """'10m' -> 600.0 seconds. Accepts h, m, s and ms, combined ('1h30m'). A bare number is refused
    because users mean minutes as often as seconds."""
    s = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ConfigError(f"cannot read duration {text!r}: write it with a unit, like 90s, 10m, 1.5h or 1h30m")
    if total <= 0:
        raise ConfigError(f"duration {text!r} must be positive")
    return total


def format_duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def budget_text(budget: dict) -> str:
    """A budget as people read it: "2,000 steps", "10m00s", "3 epochs / 5m00s"."""
    parts = []
    if budget.get("steps"):
        parts.append(f"{budget['steps']:,} steps")
    if budget.get("epochs"):
        parts.append(f"{budget['epochs']:g} epochs")
    if budget.get("time"):
        parts.append(format_duration(budget["time"]))
    return " / ".join(parts)


def weight_shapes(c: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict's names and shapes for a config, by arithmetic: nothing is built or
    allocated, so a checkpoint claiming absurd sizes can be checked for free."""
    g = blocks(c.cell) * c.hidden
    shapes: dict[str, tuple[int, ...]] = {"embed.weight": (c.vocab_size, c.embed)}
    if c.styles:
        shapes["style.weight"] = (len(c.styles), c.style_embed)
    for k in range(c.layers):
        shapes |= {f"rnn.weight_ih_l{k}": (g, c.input_size if k == 0 else c.hidden),
                   f"rnn.weight_hh_l{k}": (g, c.hidden),
                   f"rnn.bias_ih_l{k}": (g,), f"rnn.bias_hh_l{k}": (g,)}
    return shapes | {"head.weight": (c.vocab_size, c.hidden), "head.bias": (c.vocab_size,)}


@dataclass(frozen=True)
class SampleConfig:
    """One round of sampling: characters per sample, temperature (0: always the most likely), top-k,
    nucleus (top-p) and min-p filtering, the seed (None: a fresh one) and how many samples are drawn
    together."""
    length: int = 500
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    seed: int | None = None
    num_samples: int = 1

    def __post_init__(self) -> None:
        for name, value in (("--temp", self.temperature), ("--top-p", self.top_p), ("--min-p", self.min_p)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        for name, value in (("--length", self.length), ("--top-k", self.top_k), ("--num-samples", self.num_samples),
                            ("--seed", self.seed)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ConfigError(f"--seed must be in [0, 2**63), got {self.seed}")
        if self.length < 0:
            raise ConfigError(f"--length must be >= 0, got {self.length}")
        if self.temperature < 0:
            raise ConfigError(f"--temp must be >= 0 (0 picks the most likely character), got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ConfigError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.min_p is not None and not 0 <= self.min_p <= 1:
            raise ConfigError(f"--min-p must be in [0, 1], got {self.min_p}")
        if self.num_samples < 1:
            raise ConfigError(f"--num-samples must be at least 1, got {self.num_samples}")


@dataclass(frozen=True)
class AdaptConfig:
    """Dynamic evaluation's update (adapt/dynamic.py): the step size in units of each weight's gradient
    RMS, the pull back towards the trained weights per update, the characters each lane scores between
    updates, and how many lanes read the text side by side. The defaults were chosen by measurement on
    texts other than those scored in bench/RESULTS.md ("Dynamic evaluation (#29)")."""
    lr: float = 3e-3
    decay: float = 1e-3
    segment: int = 50
    # contiguous pieces of the text read side by side, one update for all (1: in order, as the paper
    # reads): several lanes score many times the characters a second for a little less gain
    # (bench/RESULTS.md, "Dynamic evaluation (#29)")
    lanes: int = 8
    eps: float = 1e-6  # keeps a step finite where a weight has had no gradient yet

    def __post_init__(self) -> None:
        for name, value in (("--lr", self.lr), ("--decay", self.decay), ("eps", self.eps)):
            if not is_finite_number(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        for name, value in (("--segment", self.segment), ("--lanes", self.lanes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.lr < 0:
            raise ConfigError(f"--lr must be >= 0 (0: no learning), got {self.lr}")
        if not 0 <= self.decay <= 1:
            raise ConfigError(f"--decay must be in [0, 1], got {self.decay}")
        if self.eps <= 0:
            raise ConfigError(f"eps must be > 0, got {self.eps}")

    def fixed(self) -> AdaptConfig:
        """The same reading with no updates: the static loss in the same layout, on the same kernels."""
        return dataclasses.replace(self, lr=0.0, decay=0.0)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
