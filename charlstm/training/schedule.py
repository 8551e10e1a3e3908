"""Learning-rate schedules and the training budget, both as functions of progress in [0, 1].

Progress is the fraction of the budget used: step / steps, epochs done / epochs, or training
seconds / time, whichever the user gave (the largest if several). Tying the schedule to progress
rather than to a step count lets one mechanism serve step, epoch and wall-clock budgets. Warm-up is
counted in steps. On top of any schedule, the training loop multiplies the rate by PLATEAU_FACTOR
each time validation loss stops improving for `plateau` evaluations (the only state a schedule
needs, kept in the checkpoint), down to a floor and no further (`plateau_floor`), as PyTorch's
ReduceLROnPlateau stops at its min_lr and nanoGPT's cosine at its min_lr: cuts that compound without
one drive the rate to nothing, and the rest of the budget learns nothing. Pure functions; knows
nothing of torch.
"""

from __future__ import annotations

import math

WSD_DECAY = 0.2  # warmup-stable-decay: this last share of the budget decays linearly
PLATEAU_FACTOR = 0.3  # each plateau (no new best validation loss for a while) multiplies the rate by this
MIN_SCALE = 0.01  # plateau cuts never take the rate below this share of the schedule's, whatever --min-lr
WHAT = {"constant": "the peak rate throughout", "cosine": "decay over the budget",
        "wsd": f"constant, then decay over the last {WSD_DECAY:.0%}"}  # each schedule in a few words, for --help


def progress(budget: dict, step: int, epochs_done: float, train_time: float) -> float:
    parts = []
    if budget.get("steps"):
        parts.append(step / budget["steps"])
    if budget.get("epochs"):
        parts.append(epochs_done / budget["epochs"])
    if budget.get("time"):
        parts.append(train_time / budget["time"])
    return max(parts) if parts else 0.0


def learning_rate(schedule: str, lr: float, min_lr: float, warmup: int, step: int, p: float) -> float:
    """Rate for the update that makes step `step` + 1, at budget progress `p`."""
    p = min(max(p, 0.0), 1.0)
    if schedule == "constant":
        base = lr
    elif schedule == "cosine":
        base = min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))
    elif schedule == "wsd":
        base = lr if p < 1 - WSD_DECAY else min_lr + (lr - min_lr) * (1.0 - p) / WSD_DECAY
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    if warmup and step < warmup:
        base *= (step + 1) / warmup
    return base


def plateau_floor(lr: float, min_lr: float) -> float:
    """The smallest rate scale plateau cuts reach: the peak rate times it is --min-lr (the floor the
    decaying schedules end at), and never below MIN_SCALE."""
    return max(min_lr / lr, MIN_SCALE) if lr > 0 else 1.0


def plateau_cut(scale: float, floor: float) -> float | None:
    """The rate scale after one more plateau (PLATEAU_FACTOR times, not below `floor`), or None where
    the scale is at the floor already and nothing is cut."""
    return None if scale <= floor else max(scale * PLATEAU_FACTOR, floor)


def effective_rate(scheduled: float, scale: float, min_lr: float) -> float:
    """The rate an update uses: the schedule's times the plateau scale, and never below --min-lr once
    the schedule is above it (during warm-up the schedule's own rate is the limit)."""
    return max(scheduled * scale, min(scheduled, min_lr))


def eta(budget: dict, p: float, train_time: float) -> float | None:
    """Seconds of training left, extrapolated from the time spent so far."""
    if budget.get("time") and len(budget) == 1:
        return max(0.0, budget["time"] - train_time)
    if p <= 0:
        return None
    return max(0.0, train_time * (1.0 - p) / p)
