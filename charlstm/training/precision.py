"""Numeric precision of training: fp32, or bf16 autocast where the hardware makes it pay.

Under bf16 autocast the matrix products of the LSTM, embedding and output layer run in bfloat16
while the weights, optimizer state and loss stay in fp32. On CPUs with AMX tile units a bf16 matrix
product is several times faster than fp32, and training runs faster there with the same loss per
step (bench/RESULTS.md, "Precision: bf16 autocast at equal quality"). For small models, or CPUs without AMX,
bf16 may be no faster, or slower; on GPUs cuDNN's recurrent kernels at these sizes
often gain little over TF32. So `auto` measures instead of guessing: it times a forward and
backward pass of a model of the run's shape on an actual batch in both precisions (on every CPU where the
bf16 kernels run, and on GPUs with bf16; fp16 on older GPUs), and picks the half precision only
when it is clearly faster. Some CPUs (AVX2 only, no AVX-512) have no oneDNN bf16 LSTM kernel at
all: there the probe's bf16 pass fails, `auto` keeps fp32 and an explicit `bf16` is refused.
fp32 on CUDA lets matrix products use TF32 (see devices.configure). fp16 needs a gradient scaler
(`grad_scaler`) to keep small gradients from flushing to zero; bf16 has fp32's exponent range and
needs none.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..config import PRECISIONS
from ..errors import ConfigError

MIN_SPEEDUP = 1.2  # a half precision must beat fp32 by this much in the probe to be chosen
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device):
    """Context manager for the forward pass."""
    return torch.autocast(device.type, dtype=_DTYPES.get(precision, torch.bfloat16), enabled=precision in _DTYPES)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """fp16 needs its loss scaled up before backward (small gradients would flush to zero) and the
    gradients scaled back before clipping; the scale adapts, halving after an overflow. bf16 and
    fp32 get a disabled scaler, whose calls pass straight through."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_pass(run_pass: Callable[[str], None], precision: str, device: torch.device, reps: int = 3) -> float:
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
    """Whether bf16 autocast could pay on this device, and if not, why not. On a CPU only a timed
    pass can tell (AVX-512 bf16 without AMX also pays), so every CPU is a candidate."""
    if device.type == "cpu":
        return True, ""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, ""
        return False, "this GPU has no bf16 support"
    return False, f"half precision is not used on {device.type}"


# oneDNN's words when it has no recurrent kernel for this CPU in a precision (it builds bf16 ones only for
# CPUs with AVX-512), and ours
ONEDNN_NO_KERNEL = "could not create a primitive descriptor"
NO_KERNEL = "it has no {precision} LSTM kernel; oneDNN provides one only on CPUs with AVX-512"


def kernel_failure(run_pass: Callable[[str], None], precision: str) -> str | None:
    """None when one pass in `precision` runs here, else why not: in charlstm's words for a CPU
    without the kernel (NO_KERNEL), otherwise the first line of the complaint."""
    try:
        run_pass(precision)
    except RuntimeError as e:
        if ONEDNN_NO_KERNEL in str(e):
            return NO_KERNEL.format(precision=precision)
        first = str(e).split(". ")[0].splitlines()[0] if str(e) else type(e).__name__
        return first.rstrip(".")
    return None


def unavailable(precision: str, device: torch.device, run_pass: Callable[[str], None] | None = None) -> str | None:
    """Why `precision` cannot train on `device` ("does not run on this cpu (...)"), or None when it
    can. fp32 always can; a half precision is tried in `run_pass` when one is given."""
    if precision not in _DTYPES:
        return None
    if device.type == "mps":
        return "is not supported on Apple MPS here"
    if precision == "fp16" and device.type == "cpu":
        return "is for CUDA GPUs (the CPU's LSTM kernels have no fp16)"
    failure = kernel_failure(run_pass, precision) if run_pass else None
    return f"does not run on this {device.type} ({failure})" if failure else None


def resolve_precision(requested: str, device: torch.device,
                      run_pass: Callable[[str], None] | None = None) -> tuple[str, str]:
    """(precision, reason) for `requested` on `device`. For `auto`, `run_pass(p)` (one forward +
    backward in precision p, leaving no trace) is timed in fp32 and the half precision; an explicit
    half precision whose kernels fail in `run_pass` is refused before training starts."""
    if requested not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested != "auto":
        why = unavailable(requested, device, run_pass)
        if why:
            raise ConfigError(f"--precision {requested} {why}; use fp32 or auto")
        return requested, f"{requested} (as asked)"
    ok, why_not = bf16_capable(device)
    # a GPU without bf16 (before Ampere) still has fp16 tensor cores: try fp16 with loss scaling
    half = "bf16" if ok else "fp16" if device.type == "cuda" else None
    if half is None:
        return "fp32", f"fp32 ({why_not})"
    if run_pass is None:
        return "fp32", f"fp32 (nothing to time {half} with)"
    failure = kernel_failure(run_pass, half)
    if failure:
        return "fp32", f"fp32 ({half} does not run on this {device.type}: {failure})"
    speedup = time_pass(run_pass, "fp32", device) / time_pass(run_pass, half, device)
    if speedup >= MIN_SPEEDUP:
        return half, f"{half} autocast (a training pass of this model timed {speedup:.1f}x faster than fp32)"
    return "fp32", f"fp32 ({half} timed only {speedup:.1f}x faster for this model)"
