"""Plain PyTorch char-LSTM training: the reference charlstm's training speed and quality are measured against.

Embedding(V, 128) -> nn.LSTM -> Dropout -> Linear, trained by truncated backpropagation through time
over B contiguous lanes (state carried from window to window, detached), cross-entropy, gradient
norm clipped at 5, Adam. No charlstm code. Configs (layers x hidden, T, B): S = 2x128, 50, 50;
M = 2x512, 128, 64; L = 3x512, 128, 64.

Speed (the default): --warmup steps untimed, then --steps steps timed one by one; prints the median,
min and max step time, chars/s (batch * seq / step time), matrix-product FLOPs per character and the
GFLOP/s that makes. --no-mkldnn turns oneDNN off (nn.LSTM then runs ATen's own kernels).

Quality (--budget-min X): trains for X minutes of training time (the clock stops while it evaluates)
and prints the validation loss (nats/char over the whole last 10%, state carried) before the first
step, at the first step past each --eval-at minute mark and at the end.

    python bench/reference/train.py --config M --corpus corpora/tinyshakespeare.txt
    python bench/reference/train.py --config M --corpus corpora/tinyshakespeare.txt \\
        --dropout 0.2 --lr 2e-3 --budget-min 10 --eval-at 1,2.5,5,7.5

--json FILE writes everything printed, and more, as JSON; --threads N sets torch's CPU threads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common as ref
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="M", choices=list(ref.CONFIGS))
    ap.add_argument("--corpus", default=None, help="UTF-8 text file (default: corpora/tinyshakespeare.txt)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before the timed ones")
    ap.add_argument("--steps", type=int, default=25, help="timed steps")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--budget-min", type=float, default=None, help="train this many minutes and report val loss")
    ap.add_argument("--eval-at", default="", help="comma list of minute marks to evaluate at (with --budget-min)")
    ap.add_argument("--no-mkldnn", action="store_true", help="run with oneDNN disabled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--losses", action="store_true", help="print every step's training loss")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.no_mkldnn:
        torch.backends.mkldnn.enabled = False
    torch.manual_seed(args.seed)
    cfg = ref.CONFIGS[args.config]
    train_ids, val_ids, vocab = ref.read_corpus(args.corpus)
    V = len(vocab)
    model = ref.PlainCharLSTM(V, cfg["hidden"], cfg["layers"], args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    lanes = ref.Lanes(train_ids, cfg["batch"], cfg["seq"])
    chars_per_step = cfg["batch"] * cfg["seq"]
    fwd_flops, train_flops = ref.train_flops_per_char(cfg["layers"], cfg["hidden"], V)
    info = {"config": args.config, "cell": "nn", **cfg, "embed": ref.EMBED, "vocab": V,
            "params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "mkldnn_enabled": torch.backends.mkldnn.enabled, "dropout": args.dropout,
            "lr": args.lr, "seed": args.seed, "flops_per_char_forward": fwd_flops,
            "flops_per_char_train": train_flops, "steps_per_epoch": lanes.windows, "loadavg_start": ref.loadavg()}
    print(json.dumps(info), flush=True)

    step = ref.Trainer(model, opt, lanes, V)

    def one_step() -> float:
        value = step()
        if args.losses:
            print(f"step {len(step.losses)} loss {value:.6f}", flush=True)
        return value

    if args.budget_min is None:
        for _ in range(args.warmup):
            one_step()
        times = []
        for _ in range(args.steps):
            t = ref.clock()
            one_step()
            times.append(ref.clock() - t)
        st = ref.spread(times)
        cps = chars_per_step / st["median"]
        result = {**info, "mode": "throughput", "warmup": args.warmup, "step_s": st, "chars_per_s_median": cps,
                  "chars_per_s_min": chars_per_step / st["max"], "chars_per_s_max": chars_per_step / st["min"],
                  "gflops_achieved": cps * train_flops / 1e9, "last_loss": step.losses[-1], "losses": step.losses,
                  "loadavg_end": ref.loadavg()}
        tag = f"{args.config}/nn{'/no-mkldnn' if args.no_mkldnn else ''} thr={torch.get_num_threads()}"
        print(f"[{tag}] step median {st['median'] * 1e3:.1f} ms (min {st['min'] * 1e3:.1f}, max "
              f"{st['max'] * 1e3:.1f}) -> {cps:,.0f} chars/s  [{result['chars_per_s_min']:,.0f} - "
              f"{result['chars_per_s_max']:,.0f}], {train_flops / 1e6:.2f} MFLOP/char train -> "
              f"{result['gflops_achieved']:.1f} GFLOP/s", flush=True)
    else:
        budget = args.budget_min * 60
        marks = sorted(float(m) * 60 for m in args.eval_at.split(",") if m.strip())
        marks = [m for m in marks if m < budget] + [budget]
        first = ref.val_loss(model, val_ids, V)
        curve = [{"train_min": 0.0, "steps": 0, "chars_seen": 0, "val_loss": first, "train_loss_ema": None}]
        print(f"t=0 val {first:.4f}", flush=True)
        trained, steps, ema, times = 0.0, 0, None, []
        while marks:
            t = ref.clock()
            loss = one_step()
            dt = ref.clock() - t
            trained += dt
            times.append(dt)
            steps += 1
            ema = loss if ema is None else 0.98 * ema + 0.02 * loss
            if trained >= marks[0]:
                t = ref.clock()
                vl = ref.val_loss(model, val_ids, V)
                eval_s = ref.clock() - t
                epochs = steps / lanes.windows
                curve.append({"train_min": trained / 60, "steps": steps, "chars_seen": steps * chars_per_step,
                              "epochs": epochs, "val_loss": vl, "train_loss_ema": ema, "eval_s": eval_s})
                print(f"t={trained / 60:.2f} min steps={steps} epochs={epochs:.2f} train_ema {ema:.4f} "
                      f"val {vl:.4f} (eval {eval_s:.1f}s)", flush=True)
                marks.pop(0)
        result = {**info, "mode": "quality", "budget_min": args.budget_min, "curve": curve, "step_s": ref.spread(times),
                  "chars_per_s_overall": steps * chars_per_step / trained, "loadavg_end": ref.loadavg()}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
