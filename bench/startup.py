"""Wall time of `charlstm --help` and `charlstm sample --help` (median of --reps runs)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import machine


def median_wall(cmd: list[str], reps: int) -> tuple[float, float, float]:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = {}
    script = shutil.which("charlstm", path=str(Path(sys.executable).parent))
    cmds = {"python -m charlstm --help": [sys.executable, "-m", "charlstm", "--help"],
            "python -m charlstm sample --help": [sys.executable, "-m", "charlstm", "sample", "--help"],
            "python -c 'import torch' (for scale)": [sys.executable, "-c", "import torch"]}
    if script:
        # the installed entry point, run by the interpreter directly (a version manager's shim adds its own time)
        cmds["charlstm --help (entry point)"] = [sys.executable, script, "--help"]
    for name, cmd in cmds.items():
        med, lo, hi = median_wall(cmd, args.reps)
        results[name] = {"median": med, "min": lo, "max": hi}
        print(f"{name:<42} median {med:.3f}s (min {lo:.3f}, max {hi:.3f})")
    print(machine.line())  # afterwards: its own torch import must not warm the file cache for the timings
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
