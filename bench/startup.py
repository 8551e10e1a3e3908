"""Wall time of `charlstm --help`, `charlstm sample --help` and `charlstm sample --length 1` (the
starter model, default engine; and with --engine fast, which loads torch), median of --reps runs,
beside two yardsticks measured in the same run: the bare interpreter and `import torch`.

    python bench/startup.py --reps 7
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
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
    empty = tempfile.mkdtemp()  # no runs under it: sample falls back to the starter model
    one = ["sample", "--length", "1", "--seed", "1", "--root", empty]
    cmds = {"python -c pass (yardstick: the interpreter)": [sys.executable, "-c", "pass"],
            "python -c 'import torch' (yardstick)": [sys.executable, "-c", "import torch"],
            "python -m charlstm --help": [sys.executable, "-m", "charlstm", "--help"],
            "python -m charlstm sample --help": [sys.executable, "-m", "charlstm", "sample", "--help"],
            "python -m charlstm sample --length 1": [sys.executable, "-m", "charlstm", *one],
            "python -m charlstm sample --length 1 --engine fast": [sys.executable, "-m", "charlstm", *one,
                                                                   "--engine", "fast"]}
    if script:
        # the installed entry point, run by the interpreter directly (a version manager's shim adds its own time)
        cmds["charlstm --help (entry point)"] = [sys.executable, script, "--help"]
        cmds["charlstm sample --length 1 (entry point)"] = [sys.executable, script, *one]
    for name, cmd in cmds.items():
        med, lo, hi = median_wall(cmd, args.reps)
        results[name] = {"median": med, "min": lo, "max": hi}
        print(f"{name:<52} median {med:.3f}s (min {lo:.3f}, max {hi:.3f})", flush=True)
    print(machine.line())  # afterwards: its own torch import must not warm the file cache for the timings
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
