"""What machine a benchmark ran on, in one line: the CPU's name, how many cores torch uses, which
vector units it has (AVX2, AVX-512, AVX-512 bf16, AMX), torch's own view of it, the versions and the
date. Results on these CPUs differ by 4-8x (bench/RESULTS.md), so every table there names them."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

UNITS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_flags() -> tuple[str, set[str]]:
    """The CPU's model name and its flags from /proc/cpuinfo (Linux); elsewhere the platform's name."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return platform.processor() or platform.machine(), set()
    name, flags = platform.machine(), set()
    for line in info.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == platform.machine():
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return name, flags


def kind(flags: set[str]) -> str:
    """The CPU's kind as RESULTS.md sorts them: what its widest matrix or vector unit is."""
    for unit, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 with bf16"), ("avx512f", "AVX-512"),
                       ("avx2", "AVX2 only")):
        if unit in flags:
            return name
    return "no AVX2"


def describe() -> dict:
    name, flags = cpu_flags()
    return {"cpu": name, "threads": torch.get_num_threads(), "units": [u for u in UNITS if u in flags],
            "torch_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}


def line(d: dict | None = None) -> str:
    d = d or describe()
    units = ", ".join(d["units"]) or "no AVX2"
    return (f"machine: {d['cpu']}, {d['threads']} threads; {units} (torch uses {d['torch_capability']}); "
            f"torch {d['torch']}, Python {d['python']}; {d.get('date', 'date not recorded')}")


if __name__ == "__main__":
    print(line())
