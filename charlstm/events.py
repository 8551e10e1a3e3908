"""What a training run reports: small frozen dataclasses yielded by `train()`.

The CLI renders them, tests collect them, a notebook can iterate them. Knows nothing of how they
are shown. Fields are keyword-only: `Step(step=..., epoch=..., loss=...)` reads the same wherever
an event is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Started:
    run_dir: str
    run_name: str
    params: int
    corpus: str  # one-line description of what was read
    train_chars: int
    val_chars: int
    model_config: dict
    train_config: dict
    budget: dict  # the stopping rule in force: {"steps": N} / {"epochs": E} / {"time": seconds}
    device: str
    threads: int
    resumed_from: int | None = None  # step of the checkpoint a resume started from
    notes: tuple[str, ...] = ()  # things the user should know (fallbacks, cleaned temp files)
    processes: int = 1  # training processes (torchrun), each with its share of the lanes


@dataclass(frozen=True, kw_only=True)
class Step:
    step: int
    epoch: float
    loss: float
    grad_norm: float
    clipped: bool
    lr: float
    chars_per_s: float
    elapsed: float  # seconds of training so far (evaluation excluded)
    progress: float  # 0..1 of the budget
    eta: float | None  # seconds of training left, when it can be estimated
    layer_grad_norms: dict[str, float] = field(default_factory=dict)  # before clipping: embed, layer0.., head
    clipped_fraction: float = 0.0  # share of recent steps whose gradient norm was clipped


@dataclass(frozen=True, kw_only=True)
class Eval:
    step: int
    val_loss: float  # nats per character
    best_val_loss: float
    is_best: bool
    train_loss: float | None
    seconds: float  # how long the evaluation took
    elapsed: float = 0.0  # seconds of training when it was made
    scored_chars: int = 0  # validation characters predicted (the first --eval-chars of the split)
    val_chars: int = 0  # all characters of the validation split that could be predicted
    val_by_style: dict = field(default_factory=dict)  # a styled run: style name -> its validation loss


@dataclass(frozen=True, kw_only=True)
class Sample:
    step: int
    text: str


@dataclass(frozen=True, kw_only=True)
class Saved:
    step: int
    path: str
    reason: str  # "periodic", "best", "final", "interrupted", "nonfinite"


@dataclass(frozen=True, kw_only=True)
class Skipped:
    step: int
    loss: float
    grad_norm: float
    in_a_row: int


@dataclass(frozen=True, kw_only=True)
class Alert:
    step: int
    kind: str  # "exploding", "vanishing", "plateau"
    message: str


@dataclass(frozen=True, kw_only=True)
class Stopped:
    step: int
    reason: str  # "done", "early-stop", "interrupted", "nonfinite"
    message: str
    best_val_loss: float | None
    elapsed: float
    run_dir: str
    extra: dict = field(default_factory=dict)


Event = Started | Step | Eval | Sample | Saved | Skipped | Alert | Stopped
