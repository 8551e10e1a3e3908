"""Numeric precision of training: fp32, or bf16 autocast where the hardware makes it pay.

Under bf16 autocast the matrix products of the LSTM, embedding and output layer run in bfloat16
while the weights, optimizer state and loss stay in fp32. On CPUs with AMX tile units a bf16 matrix
product is several times faster than fp32 (measured here at ~2,000 vs ~300 GFLOP/s), and training
config M runs ~2.5x faster with the same loss per step (bench/RESULTS.md). For small models, or
CPUs without AMX, bf16 is no faster or slower; on GPUs cuDNN's recurrent kernels at these sizes
often gain little over TF32. So `auto` measures instead of guessing: it times a forward and
backward pass of the actual model on an actual batch in both precisions (on CPUs with AMX and on
GPUs with bf16), and picks bf16 only when it is clearly faster. fp32 on CUDA lets matrix products
use TF32 (see devices.configure). fp16 is not offered: it needs a gradient scaler to keep small
gradients from flushing to zero, while bf16 has fp32's exponent range and needs none.
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_pass(run_pass: Callable[[str], None], precision: str, device: torch.device, reps: int = 3) -> float:
    run_pass(precision)  # warm-up: kernel selection, AMX tile set-up, cuDNN plans
    _sync(device)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        run_pass(precision)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def bf16_capable(device: torch.device) -> tuple[bool, str]:
    """Whether bf16 autocast could pay on this device, and if not, why not."""
    if device.type == "cpu":
        if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
            return True, ""
        return False, "this CPU has no AMX units, so bf16 would not be faster"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, ""
        return False, "this GPU has no bf16 support"
    return False, f"bf16 autocast is not used on {device.type}"


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
    ok, why_not = bf16_capable(device)
    if not ok:
        return "fp32", f"fp32 ({why_not})"
    if run_pass is None:
        return "fp32", "fp32 (nothing to time bf16 with)"
    speedup = _time_pass(run_pass, "fp32", device) / _time_pass(run_pass, "bf16", device)
    if speedup >= MIN_SPEEDUP:
        return "bf16", f"bf16 autocast (a training pass of this model timed {speedup:.1f}x faster than fp32)"
    return "fp32", f"fp32 (bf16 timed only {speedup:.1f}x faster for this model)"
