"""Plain PyTorch char-LSTM sampling speed on the CPU: the loops charlstm's samplers are measured against.

A model of config S, M or L (random weights, 65 characters; speed does not depend on training)
generates --n characters one at a time, feeding each drawn character back in, at each --batches
size (that many samples side by side), under torch.inference_mode. Two loops:

  nn    the obvious loop: the whole model (Embedding -> nn.LSTM -> Linear) called on one character
        with the carried (h, c), softmax(logits / T), torch.multinomial; run with oneDNN on (torch's
        default) and off (--mkldnn both|on|off), since setting up oneDNN's LSTM for a sequence of
        length 1 costs much of a step.
  hand  the plain hand-written fp32 step, the sampling yardstick: per layer two matrix products
        (input and recurrent weights; a matrix-vector product at batch 1), the four gates, the new
        c and h; then the output layer, softmax and torch.multinomial. Same weights as nn.

Each (loop, oneDNN, batch) reports total chars/s (batch * n / wall time): median, min and max over
--reps runs after a 200-character warm-up, and the time of one step. No charlstm code.

    python bench/reference/sample.py --config M
    python bench/reference/sample.py --config M --loops hand --batches 1 --json sample_M.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common as ref
import torch

VOCAB = 65


@torch.inference_mode()
def sample_nn(model: ref.PlainCharLSTM, batch: int, n: int, temperature: float = 1.0) -> torch.Tensor:
    ids = torch.zeros(batch, 1, dtype=torch.long)
    out = torch.empty(batch, n, dtype=torch.long)
    state = None
    for i in range(n):
        logits, state = model(ids, state)
        probs = torch.softmax(logits[:, -1] / temperature, dim=-1)
        ids = torch.multinomial(probs, 1)
        out[:, i] = ids[:, 0]
    return out


@torch.inference_mode()
def sample_hand(model: ref.PlainCharLSTM, batch: int, n: int, temperature: float = 1.0) -> torch.Tensor:
    rnn = model.rnn
    table = model.embed.weight
    layers = [(getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}"),
               getattr(rnn, f"bias_ih_l{k}") + getattr(rnn, f"bias_hh_l{k}")) for k in range(rnn.num_layers)]
    w_out, b_out = model.out.weight, model.out.bias
    h = [torch.zeros(batch, rnn.hidden_size) for _ in layers]
    c = [torch.zeros(batch, rnn.hidden_size) for _ in layers]
    ids = torch.zeros(batch, dtype=torch.long)
    out = torch.empty(batch, n, dtype=torch.long)
    for i in range(n):
        x = table[ids]
        for k, (w_ih, w_hh, bias) in enumerate(layers):
            gates = x @ w_ih.T + h[k] @ w_hh.T + bias
            in_gate, forget, cell, out_gate = gates.chunk(4, dim=1)
            c[k] = torch.sigmoid(forget) * c[k] + torch.sigmoid(in_gate) * torch.tanh(cell)
            h[k] = torch.sigmoid(out_gate) * torch.tanh(c[k])
            x = h[k]
        probs = torch.softmax((x @ w_out.T + b_out) / temperature, dim=-1)
        ids = torch.multinomial(probs, 1)[:, 0]
        out[:, i] = ids
    return out


def measure(fn, model, batch: int, n: int, reps: int) -> dict:
    fn(model, batch, 200)  # warm-up
    rates = []
    for _ in range(reps):
        t = ref.clock()
        fn(model, batch, n)
        rates.append(batch * n / (ref.clock() - t))
    return ref.spread(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="M", choices=list(ref.CONFIGS))
    ap.add_argument("--n", type=int, default=2000, help="characters per sample")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--loops", default="nn,hand", help="comma list: nn (the model per step), hand (hand-written)")
    ap.add_argument("--mkldnn", default="both", choices=["both", "on", "off"], help="oneDNN for the nn loop")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ref.CONFIGS[args.config]
    model = ref.PlainCharLSTM(VOCAB, cfg["hidden"], cfg["layers"]).eval()
    batches = [int(b) for b in args.batches.split(",") if b]
    loops = [name.strip() for name in args.loops.split(",") if name.strip()]
    runs = []  # (loop, oneDNN setting or None)
    if "nn" in loops:
        runs += [("nn", on) for on in {"both": [True, False], "on": [True], "off": [False]}[args.mkldnn]]
    if "hand" in loops:
        runs.append(("hand", None))
    default_mkldnn = torch.backends.mkldnn.enabled
    results = []
    for loop, mkldnn in runs:
        torch.backends.mkldnn.enabled = default_mkldnn if mkldnn is None else mkldnn
        for b in batches:
            s = measure(sample_nn if loop == "nn" else sample_hand, model, b, args.n, args.reps)
            threads = torch.get_num_threads()
            r = {"config": args.config, "loop": loop, "batch": b, "n": args.n, "mkldnn": mkldnn, "threads": threads,
                 "chars_per_s": s, "per_step_ms": 1e3 * b / s["median"]}
            results.append(r)
            what = f"mkldnn={mkldnn}" if loop == "nn" else "hand-written fp32"
            print(f"[{args.config} sample batch={b} {what} thr={threads}] total {s['median']:,.0f} chars/s "
                  f"(min {s['min']:,.0f}, max {s['max']:,.0f}); {r['per_step_ms']:.3f} ms per step", flush=True)
    torch.backends.mkldnn.enabled = default_mkldnn
    if args.json:
        Path(args.json).write_text(json.dumps({"torch": torch.__version__, "results": results}, indent=1))


if __name__ == "__main__":
    main()
