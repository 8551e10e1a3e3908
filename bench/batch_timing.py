"""How steady the batch rule's timings are: fine-tuning the starter on a text, the rule weighs batch 32
against 16 by timing a training pass of each (charlstm/training/plan.py, `_batch`).

    python bench/make_ft_corpora.py /tmp/ftc
    python bench/batch_timing.py /tmp/ftc/prose.txt --tries 8 --reps 1,3

For each number of timed passes (the fastest kept), TRIES times: a fresh pass of the starter at batch
32 and one at 16 (the run's shape: seq 128, fine-tuning's dropout 0.4, the precision charlstm would
choose here), timed as the rule times them, and the half batch's characters a second as a share of
the whole batch's. The rule halves the batch when the share is at least sizing.HALF_BATCH_RATE (0.75).
Time nothing else while it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from charlstm.config import ModelConfig, TrainConfig
from charlstm.data.tokenfile import Tokens
from charlstm.store import checkpoint, starter
from charlstm.tokenizer import CharTokenizer
from charlstm.training import sizing
from charlstm.training.distributed import Dist
from charlstm.training.plan import TimedPass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("text", type=Path)
    ap.add_argument("--tries", type=int, default=8)
    ap.add_argument("--reps", default="1,3", help="passes timed per measurement, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ck = checkpoint.load(starter.path())
    net = ModelConfig.from_dict({**ck["model_config"], "dropout": sizing.FINE_TUNE["dropout"], "weight_drop": 0.0})
    ids = Tokens(CharTokenizer.from_dict(ck["vocab"]).encode(args.text.read_text(encoding="utf-8"),
                                                             skip_unknown=True))
    device, dist = torch.device("cpu"), Dist()
    whole, half = (TrainConfig(batch_size=b, seq_len=128) for b in (32, 16))
    precision = TimedPass(net, ids, whole, device, dist).settle("auto")[0]
    print(f"starter on {args.text.name}, {precision}, {args.threads} threads; "
          f"the rule halves at >= {sizing.HALF_BATCH_RATE}")
    for reps in (int(r) for r in args.reps.split(",")):
        shares = []
        for _ in range(args.tries):
            t_whole = TimedPass(net, ids, whole, device, dist).seconds(precision, reps)
            t_half = TimedPass(net, ids, half, device, dist).seconds(precision, reps)
            shares.append((16 / t_half) / (32 / t_whole))
        low = sum(s < sizing.HALF_BATCH_RATE for s in shares)
        print(f"fastest of {reps}: half/whole {' '.join(f'{s:.2f}' for s in shares)} | min {min(shares):.2f} "
              f"max {max(shares):.2f} | would keep 32: {low} of {args.tries}", flush=True)


if __name__ == "__main__":
    main()
