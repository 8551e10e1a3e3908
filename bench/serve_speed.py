"""`charlstm serve` speed: time from Generate to the first character, and characters per second as the
client receives them, for the default CPU model (2 x 512 LSTM, embed 128, random weights: speed
does not depend on training).

Starts `charlstm serve` in its own process on a free port (as a user would), asks for the run card
(which loads the model, as choosing a run on the page does), then times --reps generations of --n
characters read as server-sent events with httpx. Also reports the first, cold request (model
loaded by the request itself) and, for comparison, the library's own `generate` in this process.
Targets: first character within 150 ms, at least 2,000 chars/s to the client.

    python bench/serve_speed.py                 # on a quiet machine
    python bench/serve_speed.py --n 500 --reps 1  # a quick check that it runs
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import machine
import torch

from charlstm.config import ModelConfig, TrainConfig
from charlstm.model import CharLSTM
from charlstm.sampling.generate import SampleConfig, generate
from charlstm.store import checkpoint as ck
from charlstm.tokenizer import CharTokenizer

TARGET_FIRST_MS, TARGET_RATE = 150, 2000


def make_run(root: Path, layers: int, hidden: int, embed: int) -> CharLSTM:
    """A run folder `root/bench` holding a valid checkpoint of a random model with a 65-character vocabulary."""
    tok = CharTokenizer([chr(32 + i) for i in range(64)] + ["\n"])
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=tok.vocab_size, cell="lstm", embed=embed, hidden=hidden, layers=layers, dropout=0.0)
    model = CharLSTM(cfg).eval()
    ck.save({"format_version": ck.FORMAT_VERSION, "model_config": cfg.to_dict(),
             "train_config": TrainConfig().to_dict(), "vocab": tok.to_dict(),
             "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
             "step": 0, "run_name": "bench",
             "corpus": {"paths": ["(random weights)"], "options": {}, "tokens": 0, "checksum": 0}},
            root / "bench" / "best.pt")
    return model


def one(client: httpx.Client, body: dict) -> dict:
    """Time one generation: ms to the first character, chars/s after it, chars/s overall."""
    t0 = time.perf_counter()
    first = None
    n_first = n = 0
    buf = ""
    with client.stream("POST", "/api/generate", json=body) as r:
        r.raise_for_status()
        for chunk in r.iter_text():
            buf += chunk
            *done, buf = buf.split("\n\n")
            for block in done:
                if block.startswith("event: chars"):
                    got = len(json.loads(block.split("data: ", 1)[1]))
                    n += got
                    if first is None:
                        first, n_first = time.perf_counter(), got
    end = time.perf_counter()
    assert n == body["length"], f"got {n} characters, asked for {body['length']}"
    return {"first_ms": (first - t0) * 1000, "stream_rate": (n - n_first) / max(end - first, 1e-9),
            "overall_rate": n / (end - t0)}


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def start_server(root: Path, threads: int | None) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "charlstm", "serve", "--root", str(root), "--port", "0", "--device", "cpu"]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("charlstm playground: "):
        proc.kill()
        raise SystemExit(f"the server did not start: {line}{proc.stderr.read()}")
    return proc, line.split(": ", 1)[1].strip().rstrip("/")


def library_rate(model: CharLSTM, n: int, reps: int) -> float:
    tok = CharTokenizer([chr(32 + i) for i in range(64)] + ["\n"])
    rates = []
    for rep in range(reps):
        t = time.perf_counter()
        for _ in generate(model, tok, SampleConfig(length=n, seed=rep), engine="fast"):
            pass
        rates.append(n / (time.perf_counter() - t))
    return median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--embed", type=int, default=128)
    ap.add_argument("--n", type=int, default=5000, help="characters per generation")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads in the server (default: torch's)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    print(machine.line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = make_run(Path(tmp), args.layers, args.hidden, args.embed)
        proc, url = start_server(Path(tmp), args.threads)
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                body = {"run": "bench", "length": args.n, "seed": 0, "temperature": 1.0}
                cold = one(client, body)  # the model is loaded by this request
                client.get("/api/card", params={"run": "bench"}).raise_for_status()
                warm = [one(client, {**body, "seed": rep + 1}) for rep in range(args.reps)]
        finally:
            proc.terminate()
            proc.wait(30)
    if args.threads:
        torch.set_num_threads(args.threads)
    lib = library_rate(model, args.n, args.reps)
    first, rate = median([w["first_ms"] for w in warm]), median([w["stream_rate"] for w in warm])
    rows = [
        ("first character, warm (median)", f"{first:,.1f} ms", f"target <= {TARGET_FIRST_MS} ms",
         "met" if first <= TARGET_FIRST_MS else "NOT met"),
        ("first character, cold (model loaded by the request)", f"{cold['first_ms']:,.1f} ms", "", ""),
        ("streaming to the client (median)", f"{rate:,.0f} chars/s", f"target >= {TARGET_RATE:,}",
         "met" if rate >= TARGET_RATE else "NOT met"),
        ("whole request incl. first character (median)", f"{median([w['overall_rate'] for w in warm]):,.0f} chars/s",
         "", ""),
        ("library generate, fast path, no server (median)", f"{lib:,.0f} chars/s", "", ""),
    ]
    print(f"charlstm serve: LSTM {args.layers}x{args.hidden}, embed {args.embed}, {args.n:,} chars x {args.reps}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{platform.processor() or platform.machine()}")
    for name, value, target, verdict in rows:
        print(f"  {name:<52} {value:>14}  {target:<20} {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "cold": cold, "warm": warm, "library_rate": lib,
                                               "torch": torch.__version__}, indent=1))


if __name__ == "__main__":
    main()
