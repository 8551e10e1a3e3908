"""Choosing where tensors live. `auto` means CUDA when this torch sees a GPU, else the CPU; the Apple
GPU (MPS) only when asked for by name, or for training when a timed pass shows it faster than the
CPU (`choose_for_training`): a character model's small steps can run slower there than on the CPU,
and sampling (one character at a time) always uses the CPU under `auto`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch

from .errors import ConfigError

MPS_SPEEDUP = 1.2  # MPS must run the timed training pass this much faster than the CPU to be chosen


def mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(name: str = "auto") -> torch.device:
    """The device `name` means: auto (CUDA if any, else the CPU), cpu, cuda, cuda:N or mps. A device
    this machine lacks is one ConfigError saying so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but this torch sees no CUDA GPU (a CPU-only build, or no "
                          "NVIDIA driver); use --device cpu or auto")
    if dev.type == "mps" and not mps_available():
        raise ConfigError("--device mps asked for, but Apple's GPU (Metal) is not available here (it needs a Mac "
                          "with Apple silicon or an AMD GPU, macOS 12.3 or newer, and a torch built for it); "
                          "use --device cpu or auto")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    return dev


def choose_for_training(name: str, seconds: Callable[[torch.device], float]) -> tuple[torch.device, str]:
    """(device, why) for training under `name`. With `auto` on a machine with MPS and no CUDA,
    `seconds(device)` (one timed training pass of a probe model) is measured on the CPU and on MPS,
    and MPS is taken only when it is MPS_SPEEDUP times faster; `why` says what was measured. Otherwise
    as resolve_device, with no reason to give."""
    dev = resolve_device(name)
    if name != "auto" or dev.type != "cpu" or not mps_available():
        return dev, ""
    mps, cpu = torch.device("mps"), torch.device("cpu")
    ratio = seconds(cpu) / max(seconds(mps), 1e-9)
    if ratio >= MPS_SPEEDUP:
        return mps, f"timed: the Apple GPU ran a training pass {ratio:.1f}x as fast as the CPU"
    return cpu, f"timed: the Apple GPU ran a training pass {ratio:.2f}x as fast as the CPU, kept the CPU"


def configure(device: torch.device) -> None:
    """Per-device speed settings for training: on CUDA, fp32 matrix products may use TF32 tensor
    cores (10-bit mantissa inputs, fp32 accumulation), as cuDNN's recurrent kernels already do."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@contextmanager
def exact_math():
    """Full fp32 matrix products for sampling, so the fast, graph and plain paths (cuBLAS vs cuDNN
    kernels) compute the same numbers and give the same text; at batch sizes this small TF32 buys
    nothing anyway."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
