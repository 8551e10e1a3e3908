"""Sampling throughput of charlstm's engines (numpy, fast, fp16, plain; graph on CUDA) beside the reference.

Builds a model of the given shape with random weights (speed does not depend on training), then
generates --n characters per sample with charlstm's `generate` (for the numpy engine,
numpy_engine.generate over the weights as numpy arrays, as `charlstm sample` runs it on the CPU)
and reports total chars/s (median,
min, max over --reps after a warm-up). With --reference, also runs the plain PyTorch reference
`bench/reference/sample.py` in the same session: the obvious nn.LSTM-per-step loop with oneDNN on
and off, and the hand-written fp32 step loop.

    python bench/sample_speed.py --config M --reference
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine
import torch

from charlstm.config import ModelConfig
from charlstm.model import CharLSTM
from charlstm.sampling import numpy_engine
from charlstm.sampling.generate import SampleConfig, generate
from charlstm.tokenizer import CharTokenizer

SHAPES = {"S": (2, 128), "M": (2, 512), "L": (3, 512)}
REFERENCE = Path(__file__).resolve().parent / "reference" / "sample.py"


def steps(model, tok, cfg: SampleConfig, path: str):
    if path == "numpy":
        weights = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
        return numpy_engine.generate(weights, model.config, tok, cfg)
    return generate(model, tok, cfg, engine=path)


def rate(model, tok, batch: int, n: int, path: str, reps: int) -> dict:
    cfg = SampleConfig(length=n, temperature=1.0, seed=0, num_samples=batch)
    for _ in steps(model, tok, SampleConfig(length=200, seed=0, num_samples=batch), path):
        pass
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in steps(model, tok, cfg, path):
            pass
        rates.append(batch * n / (time.perf_counter() - t))
    rates.sort()
    return {"median": rates[len(rates) // 2], "min": rates[0], "max": rates[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="M", choices=list(SHAPES))
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="", help="comma list of thread counts to try (default: torch's)")
    ap.add_argument("--reference", nargs="?", const=str(REFERENCE), default=None, metavar="SCRIPT",
                    help="also run the plain reference (bench/reference/sample.py, or the sampling script given)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--paths", default="numpy,fast,fp16,plain",
                    help="comma list of sampling engines: numpy, fast, fp16, plain, graph")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    host = machine.describe()
    print(machine.line(host), flush=True)
    layers, hidden = SHAPES[args.config]
    tok = CharTokenizer([chr(32 + i) for i in range(65)])
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab_size=65, cell=args.cell, embed=128, hidden=hidden, layers=layers,
                                 dropout=0.0)).eval().to(args.device)
    results = []
    for th in [int(t) for t in args.threads.split(",") if t] or [torch.get_num_threads()]:
        torch.set_num_threads(th)
        for b in [int(x) for x in args.batches.split(",")]:
            for path in args.paths.split(","):
                r = rate(model, tok, b, args.n, path, args.reps)
                results.append({"impl": f"charlstm {path}", "device": args.device, "batch": b, "threads": th, **r})
                print(f"[{args.config} {args.cell} {args.device}] charlstm {path:<5} batch {b} threads {th}: "
                      f"{r['median']:>8,.0f} chars/s (min {r['min']:,.0f}, max {r['max']:,.0f})", flush=True)
    if args.reference:
        with tempfile.TemporaryDirectory() as d:
            js = Path(d) / "reference.json"
            cmd = [sys.executable, args.reference, "--config", args.config, "--n", str(args.n), "--reps",
                   str(args.reps), "--batches", args.batches, "--json", str(js)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            ref = json.loads(js.read_text())["results"]
        print("reference (plain PyTorch, one step per call):")
        print("".join("  " + line + "\n" for line in out.strip().splitlines()), end="")
        for r in ref:
            if r.get("loop", "nn") == "nn":  # a script without the hand-written loop does not name its loop
                impl = f"reference nn.LSTM, oneDNN {'on' if r['mkldnn'] else 'off'}"
            else:
                impl = "reference hand-written fp32"
            results.append({"impl": impl, "device": "cpu", "batch": r["batch"], "threads": r["threads"],
                            "median": r["chars_per_s"]["median"], "min": r["chars_per_s"]["min"],
                            "max": r["chars_per_s"]["max"]})
    if args.json:
        Path(args.json).write_text(json.dumps({"torch": torch.__version__, "machine": host, "results": results},
                                              indent=1))


if __name__ == "__main__":
    main()
