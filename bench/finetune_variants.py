"""Fine-tuning the starter with optimizer variants charlstm does not offer, to see whether any of them
gains on a small text where the defaults stop improving.

    python bench/make_ft_corpora.py /tmp/ftc --tuning
    python bench/finetune_variants.py /tmp/ftc/tune_prose.txt '{}' '{"mults": {"embed": 0}}' ...

Each VARIANT (a JSON object) is one 2-minute fine-tuning run from the starter, with every default of
`charlstm train TEXT --init-from starter` except what the variant changes, run one after the other;
'{"scratch": true}' is `charlstm train TEXT` from scratch instead. Keys:

- "mults": {"embed": m, "layer0": m, "layer1": m, "head": m}: each part's learning rate is m times the
  schedule's (0 freezes it; smaller rates for lower layers are ULMFiT's "discriminative fine-tuning").
- "anchor": a: weight decay towards the starter's weights instead of towards zero (L2-SP): after each
  AdamW step (its own decay off), every weight matrix moves by lr * a * (w - w_starter).
- "model": {"weight_drop": 0, ...} and "train": {"batch_size": 16, ...}: options given as on the
  command line (`--weight-drop 0 --batch-size 16`), so the plan does not choose them.

Prints one JSON line per run: steps made, the evaluations (seconds of training, validation loss,
training loss) and the best validation loss. Time nothing else while it runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

from charlstm.config import TrainConfig
from charlstm.events import Eval, Started, Step
from charlstm.training import loop, setup
from charlstm.training.gradients import layer_groups
from charlstm.training.start import train

TABLES = ("embed", "style.")


def optimizer_for(variant: dict):
    """setup.make_optimizer with the variant's per-part rates and anchor."""
    mults, anchor = variant.get("mults") or {}, variant.get("anchor", 0.0)
    plain = setup.make_optimizer

    def make(model, cfg):
        if not mults and not anchor:
            return plain(model, cfg)
        names = {id(p): n for n, p in model.named_parameters()}
        groups = []
        for part, params in layer_groups(model).items():
            decayed = [p for p in params if p.dim() >= 2 and not names[id(p)].startswith(TABLES)]
            rest = [p for p in params if not (p.dim() >= 2 and not names[id(p)].startswith(TABLES))]
            m = mults.get(part, 1.0)
            groups += [{"params": decayed, "weight_decay": 0.0 if anchor else cfg.weight_decay, "lr_mult": m,
                        "anchored": True},
                       {"params": rest, "weight_decay": 0.0, "lr_mult": m, "anchored": False}]
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
        if anchor:
            start = {p: p.detach().clone() for g in groups if g["anchored"] for p in g["params"]}
            step = opt.step

            def anchored_step(*args, **kwargs):
                out = step(*args, **kwargs)
                with torch.no_grad():
                    for g in opt.param_groups:
                        for p in g["params"] if g["anchored"] else ():
                            p.add_(p - start[p], alpha=-g["lr"] * anchor)
                return out
            opt.step = anchored_step
        return opt
    return make


def with_part_rates(set_lr):
    def set_all(self):
        lr = set_lr(self)
        for g in self.state.optimizer.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        return lr
    return set_all


def run(text: Path, variant: dict) -> dict:
    scratch = variant.get("scratch", False)
    setup.make_optimizer = optimizer_for(variant)
    given = variant.get("train", {})
    cfg = TrainConfig(eval_chars=None, sample_every=0, time=120, eval_at=(30, 60, 90), **given)
    curve, steps, info = [], 0, {}
    with tempfile.TemporaryDirectory() as tmp:
        for ev in train([text], variant.get("model", {}), cfg, run_dir=Path(tmp) / "run",
                        preset="auto" if scratch else None, init_from=None if scratch else "starter", keep=set(given)):
            if isinstance(ev, Eval):
                curve.append((round(ev.elapsed), round(ev.val_loss, 4),
                              None if ev.train_loss is None else round(ev.train_loss, 4)))
            elif isinstance(ev, Step):
                steps = ev.step
            elif isinstance(ev, Started):
                info = {k: ev.train_config[k] for k in ("batch_size", "lr", "precision")}
                info.update({k: ev.model_config[k] for k in ("hidden", "dropout", "weight_drop")})
    return {"text": text.name, "variant": variant, "run": info, "steps": steps, "curve": curve,
            "best": min(v for _, v, _ in curve)}


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    loop.Run.set_lr = with_part_rates(loop.Run.set_lr)
    for arg in sys.argv[2:]:
        print(json.dumps(run(Path(sys.argv[1]), json.loads(arg))), flush=True)


if __name__ == "__main__":
    main()
