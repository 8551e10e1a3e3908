"""Loss per step in fp32 and in bf16 autocast: does the faster precision learn as well?

Trains the default model (config M shapes, dropout 0.2) for --steps steps in each precision with
the same seed and data, evaluating on the whole validation split every --eval-every steps, and
prints validation loss and training seconds side by side.

    python bench/precision_check.py --corpus corpora/tinyshakespeare.txt --steps 300
"""

from __future__ import annotations

import argparse
import tempfile

import machine

from charlstm.config import TrainConfig
from charlstm.events import Eval
from charlstm.training.start import train


def curve(corpus: str, precision: str, steps: int, eval_every: int) -> list[tuple[int, float, float]]:
    cfg = TrainConfig(steps=steps, eval_every=eval_every, eval_chars=None, precision=precision, sample_every=0,
                      save_every=None, save_every_time=None, log_every=50)
    with tempfile.TemporaryDirectory() as d:
        return [(e.step, e.val_loss, e.elapsed) for e in train([corpus], {"dropout": 0.2}, cfg, run_dir=d + "/r")
                if isinstance(e, Eval)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    args = ap.parse_args()
    print(machine.line(), flush=True)
    a = curve(args.corpus, "fp32", args.steps, args.eval_every)
    b = curve(args.corpus, "bf16", args.steps, args.eval_every)
    print(f"{'step':>6} {'val fp32':>10} {'val bf16':>10} {'train s fp32':>13} {'train s bf16':>13}")
    for (s, la, ta), (_, lb, tb) in zip(a, b):
        print(f"{s:>6} {la:>10.4f} {lb:>10.4f} {ta:>13.1f} {tb:>13.1f}")


if __name__ == "__main__":
    main()
