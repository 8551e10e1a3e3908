"""Numeric precision of training: fp32, or bf16 autocast where the hardware makes it pay.

Under bf16 autocast the matrix products of the LSTM, embedding and output layer run in bfloat16
while the weights, optimizer state and loss stay in fp32. On CPUs with AMX tile units a bf16 matrix
product is several times faster than fp32 (measured here at ~2,000 vs ~300 GFLOP/s), and training
config M runs ~2.5x faster with the same loss per step (bench/RESULTS.md). For small models, or
CPUs without AMX, bf16 is no faster or slower. So `auto` measures instead of guessing: it times a
forward and backward pass of the actual model on an actual batch in both precisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")
MIN_SPEEDUP = 1.2  # bf16 must beat fp32 by this much in the probe to be chosen


def autocast(precision: str, device: torch.device):
    """Context manager for the forward pass."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _time_pass(run_pass: Callable[[str], None], precision: str, reps: int = 2) -> float:
    run_pass(precision)  # warm-up: kernel selection, AMX tile set-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        run_pass(precision)
        best = min(best, time.perf_counter() - t)
    return best


def resolve_precision(requested: str, device: torch.device,
                      run_pass: Callable[[str], None] | None = None) -> tuple[str, str]:
    """(precision, reason) for `requested` on `device`. For `auto` on a CPU with AMX, `run_pass(p)`
    (one forward + backward in precision p, leaving no trace) is timed in fp32 and bf16."""
    if requested not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested != "auto":
        if requested == "bf16" and device.type == "mps":
            raise ConfigError("--precision bf16 is not supported on Apple MPS; use fp32")
        return requested, f"{requested} (as asked)"
    if device.type != "cpu":
        return "fp32", f"fp32 on {device.type} (bf16 autocast: --precision bf16)"
    if not getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        return "fp32", "fp32 (this CPU has no AMX units, so bf16 would not be faster)"
    if run_pass is None:
        return "fp32", "fp32 (nothing to time bf16 with)"
    speedup = _time_pass(run_pass, "fp32") / _time_pass(run_pass, "bf16")
    if speedup >= MIN_SPEEDUP:
        return "bf16", f"bf16 autocast (a training pass of this model timed {speedup:.1f}x faster than fp32)"
    return "fp32", f"fp32 (bf16 timed only {speedup:.1f}x faster for this model)"
