"""Fine-tuning from the starter model against training from scratch, on small corpora it never saw.

    python bench/make_ft_corpora.py /tmp/ftcorpora          # novel.txt, prose.txt, code.txt, newchars.txt
    python bench/finetune.py curves /tmp/ftcorpora/novel.txt /tmp/ftcorpora/code.txt --budget-min 2 --marks 1 \\
        --repeats 3
    python bench/finetune.py lr /tmp/ftcorpora/prose.txt /tmp/ftcorpora/newchars.txt --steps 100 \\
        --shares 1,0.5,0.25 --threads 1

`curves`: for each corpus, one after the other, (1) `charlstm train CORPUS --time B` with every
other option at its default (sized from the corpus, the budget and the device) and (2) `charlstm
train CORPUS --init-from starter --time B` with fine-tuning's defaults; both are evaluated on the
whole validation split (the last 10%, the same characters for both: the split is by position) at
the marks and at the end, and fine-tuning also before its first step. Prints one JSON line per run
and a table. Time nothing else while it runs.

`variants`: fine-tuning with its defaults and with one setting changed at a time (a rate, dropout,
the batch), each for the same time on each text, to re-check `sizing.FINE_TUNE` on tuning texts
(bench/make_ft_corpora.py --tuning) apart from the texts the results are reported on. Time nothing
else while it runs.

`lr`: fine-tuning at a fixed number of steps (so the result does not depend on the machine's speed
or load) with the peak rate at several multiples of the starter's, and optionally other schedules
and warm-ups, to choose `sizing.FINE_TUNE`.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
from pathlib import Path

import machine


def run(corpus: Path, work: Path, cfg_kw: dict, init_from: str | None, keep: set[str], threads: int | None,
        model_kw: dict | None = None) -> dict:
    from charlstm.config import TrainConfig
    from charlstm.events import Eval, Started, Stopped
    from charlstm.training.start import train
    cfg = TrainConfig(eval_chars=None, sample_every=0, **cfg_kw)
    curve, info = [], {}
    events = train([corpus], model_kw or {}, cfg, run_dir=work, preset=None if init_from else "auto", keep=keep,
                   init_from=init_from, threads=threads)
    for ev in events:
        if isinstance(ev, Started):
            info = {"params": ev.params, "model": ev.model_config, "train": ev.train_config, "notes": list(ev.notes)}
        elif isinstance(ev, Eval):
            curve.append({"step": ev.step, "time": round(ev.elapsed, 1), "val_loss": ev.val_loss})
        elif isinstance(ev, Stopped):
            info["best_val_loss"] = ev.best_val_loss
    return {"curve": curve, **info}


def at(curve: list[dict], seconds: float) -> float:
    """The validation loss of the last evaluation at or before `seconds` of training."""
    seen = [p["val_loss"] for p in curve if p["time"] <= seconds + 1.0]
    return seen[-1] if seen else math.nan


def curves(args: argparse.Namespace) -> None:
    budget = args.budget_min * 60
    marks = [float(m) * 60 for m in args.marks.split(",") if m]
    rows = []
    for repeat in range(args.repeats):
        for corpus in args.corpora:
            for label, init in (("scratch", None), ("starter", args.starter)):
                if label not in args.starts.split(","):
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    out = run(corpus, Path(tmp) / "run", dict(time=budget, eval_at=tuple(marks)), init, set(),
                              args.threads)
                out.update(corpus=corpus.name, start=label, repeat=repeat + 1)
                print(json.dumps(out), flush=True)
                rows.append(out)
    points = [*marks, budget]
    print(f"\n{platform.processor() or platform.machine()}, python {platform.python_version()}")
    print("| corpus | start | model | " + " | ".join(f"{p / 60:g} min" for p in points) + " |")
    print("|---|---|---|" + "---|" * len(points))
    for r in rows:
        m = r["model"]
        zero = f" (0 min: {r['curve'][0]['val_loss']:.4f})" if r["start"] == "starter" else ""
        print(f"| {r['corpus']} | {r['start']}{zero} | {m['cell']} {m['layers']}x{m['hidden']} | "
              + " | ".join(f"{at(r['curve'], p):.4f}" for p in points) + " |")
    print(f"\nat {budget / 60:g} min, the mean of each start's runs (the last evaluation at or before the budget):")
    print("| corpus | scratch | starter | starter ahead by | runs |")
    print("|---|---|---|---|---|")
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        mean = {label: [at(r["curve"], budget) for r in rows if r["corpus"] == corpus and r["start"] == label]
                for label in ("scratch", "starter")}
        mean = {k: (sum(v) / len(v) if v else math.nan, len(v)) for k, v in mean.items()}
        print(f"| {corpus} | {mean['scratch'][0]:.4f} | {mean['starter'][0]:.4f} | "
              f"{mean['scratch'][0] - mean['starter'][0]:.3f} | {mean['scratch'][1]} + {mean['starter'][1]} |")


def lr(args: argparse.Namespace) -> None:
    from charlstm.store import checkpoint, starter
    peak = checkpoint.load(starter.path())["train_config"]["lr"]
    print("| corpus | lr share | lr | schedule | warm-up | val at 0 | best val |")
    print("|---|---|---|---|---|---|---|")
    grid = [(float(s), sched, int(w)) for s in args.shares.split(",") for sched in args.schedules.split(",")
            for w in args.warmups.split(",")]
    for corpus in args.corpora:
        for share, sched, warmup in grid:
            with tempfile.TemporaryDirectory() as tmp:
                out = run(corpus, Path(tmp) / "run", dict(steps=args.steps, lr=peak * share, warmup=warmup,
                                                          schedule=sched, eval_every=args.steps), "starter",
                          {"lr", "warmup", "schedule"}, args.threads)
            print(f"| {corpus.name} | {share:g} | {peak * share:g} | {sched} | {warmup} | "
                  f"{out['curve'][0]['val_loss']:.4f} | {out['best_val_loss']:.4f} |", flush=True)


MODEL_KEYS = ("dropout", "weight_drop")


def variants(args: argparse.Namespace) -> None:
    """Fine-tune with fine-tuning's defaults and with one setting changed at a time, each for the same
    time budget on each (tuning) text; the table gives each variant's validation loss at the budget."""
    budget = args.budget_min * 60
    print(f"| corpus | variant | steps | batch | lr | dropout | at {args.budget_min:g} min | best |")
    print("|---|---|---|---|---|---|---|---|")
    for corpus in args.corpora:
        for variant in args.variants.split(";"):
            given = dict(kv.split("=") for kv in variant.split(",") if "=" in kv)
            model_kw = {k: float(v) for k, v in given.items() if k in MODEL_KEYS}
            cfg_kw = {k: (int(v) if k == "batch_size" else float(v)) for k, v in given.items() if k not in MODEL_KEYS}
            with tempfile.TemporaryDirectory() as tmp:
                out = run(corpus, Path(tmp) / "run", dict(time=budget, **cfg_kw), args.starter, set(given),
                          args.threads, model_kw)
            t, m = out["train"], out["model"]
            steps = max((p["step"] for p in out["curve"]), default=0)
            print(f"| {corpus.name} | {variant} | {steps} | {t['batch_size']} | {t['lr']:g} | {m['dropout']:g} | "
                  f"{at(out['curve'], budget):.4f} | {out['best_val_loss']:.4f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("curves")
    c.add_argument("corpora", nargs="+", type=Path)
    c.add_argument("--budget-min", type=float, default=5.0)
    c.add_argument("--marks", default="1,2", help="minutes at which to evaluate besides the end")
    c.add_argument("--threads", type=int, default=None)
    c.add_argument("--starts", default="scratch,starter", help="which runs to make: scratch, starter or both")
    c.add_argument("--repeats", type=int, default=1, help="make every run this many times (the table gives means)")
    c.add_argument("--starter", default="starter", help="the model to fine-tune (default: the packaged starter)")
    r = sub.add_parser("lr")
    r.add_argument("corpora", nargs="+", type=Path)
    r.add_argument("--steps", type=int, default=100)
    r.add_argument("--shares", default="1,0.5,0.25")
    r.add_argument("--warmups", default="20")
    r.add_argument("--schedules", default="cosine")
    r.add_argument("--threads", type=int, default=None)
    v = sub.add_parser("variants")
    v.add_argument("corpora", nargs="+", type=Path)
    v.add_argument("--budget-min", type=float, default=2.0)
    v.add_argument("--variants", default="defaults;lr=0.001;dropout=0.2;batch_size=32",
                   help="';'-separated; each 'defaults' or comma-separated KEY=VALUE (lr, dropout, weight_drop, "
                        "batch_size) changed from fine-tuning's defaults")
    v.add_argument("--starter", default="starter")
    v.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    print(machine.line(), flush=True)
    {"curves": curves, "lr": lr, "variants": variants}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
