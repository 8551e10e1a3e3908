"""Training throughput of charlstm's real training loop next to the plain PyTorch reference.

Runs, back to back and alternating (A B, then B A, ...), the plain PyTorch reference
`bench/reference/train.py --config C` and charlstm's `train()` on the same corpus, shapes and thread
count, and prints chars/s (median, min, max over the timed steps after warm-up) with the ratio.
charlstm is timed from one Step event to the next with log_every=1, so window reading, the schedule,
events and the metrics log are all inside the measurement; evaluation, previews and checkpoints are
switched off.

    python bench/train_speed.py --corpus corpora/tinyshakespeare.txt --configs S,M,L --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine

CONFIGS = {"S": dict(layers=2, hidden=128, seq=50, batch=50), "M": dict(layers=2, hidden=512, seq=128, batch=64),
           "L": dict(layers=3, hidden=512, seq=128, batch=64)}
EMBED = 128
REFERENCE = Path(__file__).resolve().parent / "reference" / "train.py"


def stats(xs: list[float]) -> dict:
    xs = sorted(xs)
    n = len(xs)
    med = xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])
    return {"median": med, "min": xs[0], "max": xs[-1], "n": n}


def charlstm_speed(corpus: str, cfg: dict, warmup: int, steps: int, threads: int | None,
                   precision: str = "auto") -> dict:
    """Runs in a child process (fresh torch state, same as the reference)."""
    code = f"""
import json, sys, time, tempfile
import torch
from charlstm.training.start import train
from charlstm.config import TrainConfig
from charlstm.events import Step
if {threads!r}: torch.set_num_threads({threads!r})
cfg = TrainConfig(batch_size={cfg['batch']}, seq_len={cfg['seq']}, steps={warmup + steps}, eval_every=10**9,
                  save_every=None, save_every_time=None, sample_every=0, log_every=1, precision={precision!r})
"""
    code += f"""
times, last = [], None
with tempfile.TemporaryDirectory() as d:
    for ev in train([{corpus!r}], dict(hidden={cfg['hidden']}, layers={cfg['layers']}, embed={EMBED}, dropout=0.0),
                    cfg, run_dir=d + "/run"):
        if isinstance(ev, Step):
            now = time.perf_counter()
            if last is not None and ev.step > {warmup}:
                times.append(now - last)
            last = now
print(json.dumps({{"times": times, "threads": torch.get_num_threads(), "torch": torch.__version__}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    chars = cfg["batch"] * cfg["seq"]
    st = stats(r["times"])
    return {"chars_per_s": chars / st["median"], "min": chars / st["max"], "max": chars / st["min"],
            "threads": r["threads"], "torch": r["torch"]}


def reference_speed(script: str, corpus: str, name: str, warmup: int, steps: int, threads: int | None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        cmd = [sys.executable, script, "--config", name, "--corpus", corpus,
               "--warmup", str(warmup), "--steps", str(steps), "--json", f.name]
        if threads:
            cmd += ["--threads", str(threads)]
        subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.load(open(f.name))
    return {"chars_per_s": r["chars_per_s_median"], "min": r["chars_per_s_min"], "max": r["chars_per_s_max"],
            "threads": r["threads"], "gflop_per_char": r["flops_per_char_train"] / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True, help="text file, e.g. tinyshakespeare.txt")
    ap.add_argument("--reference", default=str(REFERENCE),
                    help="the reference's training script (default: bench/reference/train.py)")
    ap.add_argument("--configs", default="S,M,L")
    ap.add_argument("--rounds", type=int, default=2, help="A B rounds per config")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precision", default="auto", help="charlstm's --precision (auto, fp32, bf16)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    host = machine.describe()
    print(machine.line(host), flush=True)
    rows = []
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        for r in range(args.rounds):
            # alternate who goes first, so a machine that drifts slower does not always hurt the same side
            if r % 2 == 0:
                ref = reference_speed(args.reference, args.corpus, name, args.warmup, args.steps, args.threads)
            ours = charlstm_speed(args.corpus, cfg, args.warmup, args.steps, args.threads, args.precision)
            if r % 2 == 1:
                ref = reference_speed(args.reference, args.corpus, name, args.warmup, args.steps, args.threads)
            row = {"config": name, "round": r + 1, "reference": ref, "charlstm": ours,
                   "ratio": ours["chars_per_s"] / ref["chars_per_s"],
                   "gflops": ours["chars_per_s"] * ref["gflop_per_char"]}
            rows.append(row)
            print(f"{name} round {r + 1}: reference {ref['chars_per_s']:>9,.0f} chars/s "
                  f"[{ref['min']:,.0f}-{ref['max']:,.0f}]  charlstm {ours['chars_per_s']:>9,.0f} chars/s "
                  f"[{ours['min']:,.0f}-{ours['max']:,.0f}]  ratio {row['ratio']:.3f}  "
                  f"charlstm {row['gflops']:.0f} GFLOP/s  threads {ours['threads']}  precision {args.precision}",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "cpu": os.cpu_count(), "machine": host,
                                               "when": time.strftime("%Y-%m-%d %H:%M")}, indent=1))


if __name__ == "__main__":
    main()
