"""Sampling engines side by side on a trained model: speed at batch 1 and validation loss.

For each engine (`--engines`, default fast and fp16) prints batch-1 chars/s (median of --reps runs
of --n characters after a warm-up) and the loss in nats/char that the engine's own arithmetic gives
on the last 10% of the corpus, read one step at a time in 64 lanes (`engines.stepwise_loss`), with
its difference from the fast (fp32) engine. The promise checked: an engine whose numbers differ from
fp32 stays within 0.002 nats of it.

    python bench/engine_check.py CHECKPOINT_OR_RUN corpora/tinyshakespeare.txt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import machine
import torch

from charlstm import api
from charlstm.sampling.engines import FastEngine, HalfWeightEngine, PlainEngine, stepwise_loss
from charlstm.sampling.generate import SampleConfig, generate

ENGINES = {"plain": PlainEngine, "fast": FastEngine, "fp16": HalfWeightEngine}


def speed(model, tok, engine: str, n: int, reps: int) -> float:
    for _ in generate(model, tok, SampleConfig(length=200, seed=0), engine=engine):
        pass
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in generate(model, tok, SampleConfig(length=n, seed=0), engine=engine):
            pass
        rates.append(n / (time.perf_counter() - t))
    return sorted(rates)[len(rates) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a run folder or checkpoint file")
    ap.add_argument("corpus", help="the text it was trained on; its last 10%% is scored")
    ap.add_argument("--engines", default="fast,fp16")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    host = machine.describe()
    print(machine.line(host), flush=True)
    model, tok = api.load(args.model, root=".")
    text = Path(args.corpus).read_text(encoding="utf-8")
    ids = torch.tensor(tok.encode(text[int(len(text) * 0.9):], skip_unknown=True))
    rows = []
    for engine in args.engines.split(","):
        rate = speed(model, tok, engine, args.n, args.reps)
        loss = stepwise_loss(ENGINES[engine], model, ids)
        rows.append({"engine": engine, "chars_per_s": rate, "val_loss": loss})
        print(f"{engine:<6} {rate:8,.0f} chars/s  val {loss:.5f} nats/char over {len(ids):,} characters", flush=True)
    base = next((r for r in rows if r["engine"] == "fast"), None)
    for r in rows:
        if base is not None and r is not base:
            print(f"{r['engine']}: {r['val_loss'] - base['val_loss']:+.5f} nats against fast (fp32), "
                  f"{r['chars_per_s'] / base['chars_per_s']:.2f}x its speed")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": host, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
