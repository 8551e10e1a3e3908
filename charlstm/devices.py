"""Choosing where tensors live: `auto` picks CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from .errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but this torch sees no CUDA GPU")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps asked for, but Apple's Metal backend is not available")
    return dev


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
