"""What storing a model's weights in fewer bits costs in loss: fp32, fp16 and 8-bit integers.

    python bench/storage_bits.py starter TEXT.txt [TEXT.txt ...]

The model (a run, checkpoint or `starter`) scores the texts together (charlstm.api.evaluate, the
loss `charlstm eval` prints) with its weights as stored, then rounded to fp16, then rounded to 8-bit
integers with one scale per row of each matrix (symmetric: the row's largest magnitude maps to 127)
and read back into fp32. The 8-bit row says whether a model with twice the weights would fit the
starter's 8 MB at the same quality per weight; whether such a model also trains better in the same
time is another measurement (it trains at about half the speed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import machine
import torch


def rounded(weights: dict[str, torch.Tensor], kind: str) -> dict[str, torch.Tensor]:
    """`weights` rounded as `kind` stores them ('fp32', 'fp16' or 'int8'), back in fp32."""
    out = {}
    for name, w in weights.items():
        if kind == "fp16":
            w = w.to(torch.float16).float()
        elif kind == "int8" and w.dim() >= 2:
            scale = w.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12) / 127
            w = (w / scale).round().clamp(-127, 127) * scale
        elif kind == "int8":  # a bias or other vector: one scale for the whole of it
            scale = w.abs().max().clamp_min(1e-12) / 127
            w = (w / scale).round().clamp(-127, 127) * scale
        out[name] = w
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("texts", nargs="+", type=Path)
    args = ap.parse_args()
    print(machine.line(), flush=True)
    from charlstm import api
    model, tok = api.load(args.model)
    text = "".join(p.read_text(encoding="utf-8") for p in args.texts)
    stored = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
    floats = sum(v.numel() for v in stored.values())
    print(f"{args.model}: {floats:,} weights; {len(text):,} characters of {', '.join(p.name for p in args.texts)}")
    print("| stored as | bytes per weight | file of weights | nats/char | change |")
    print("|---|---|---|---|---|")
    base = None
    for kind, size in (("fp32", 4), ("fp16", 2), ("int8", 1)):
        model.load_state_dict(rounded(stored, kind))
        nats = api.evaluate(model, tok, text)["nats_per_char"]
        base = nats if base is None else base
        print(f"| {kind} | {size} | {floats * size / 1e6:.1f} MB | {nats:.4f} | {nats - base:+.4f} |", flush=True)


if __name__ == "__main__":
    main()
