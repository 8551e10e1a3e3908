"""Matrix-product speed through torch on this CPU, fp32 and bf16: the ceiling the training numbers are read against.

For each --shapes entry MxKxN, multiplies an MxK by a KxN matrix --reps times after a warm-up, in
each --dtypes precision, and prints GFLOP/s (2*M*K*N per product) as the median, min and max of the
single-product times. The defaults are the square 2048 product (the peak) and the two shapes an
LSTM step of config M (hidden 512, batch 64, 128 steps) multiplies by its 512x2048 weights: one
time step's batch and a whole window's.

    python bench/matmul_peak.py
    python bench/matmul_peak.py --shapes 2048x2048x2048 --threads 2 --json peak.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import machine
import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def gflops(m: int, k: int, n: int, dtype: torch.dtype, reps: int) -> dict:
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    times.sort()
    work = 2 * m * k * n / 1e9
    return {"median": work / times[len(times) // 2], "min": work / times[-1], "max": work / times[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="2048x2048x2048,64x512x2048,8192x512x2048", help="comma list of MxKxN")
    ap.add_argument("--dtypes", default="fp32,bf16", help=f"comma list of {', '.join(DTYPES)}")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    host = machine.describe()
    print(machine.line(host), flush=True)
    rows = []
    for shape in args.shapes.split(","):
        m, k, n = (int(x) for x in shape.lower().split("x"))
        for name in args.dtypes.split(","):
            r = gflops(m, k, n, DTYPES[name], args.reps)
            rows.append({"shape": shape, "dtype": name, **r})
            print(f"{shape:>16} {name:<5} {r['median']:8.0f} GFLOP/s (min {r['min']:.0f}, max {r['max']:.0f})",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": host, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
