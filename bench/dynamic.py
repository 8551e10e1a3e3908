"""Dynamic evaluation, measured: the settings grid, the gains on texts a model never trained on, and
the cost against training on the same characters.

    python bench/dynamic.py tune CKPT TEXT... [--chars 30000] [--lrs 1e-4,3e-4,1e-3] [--decays ...] [--segments ...]
    python bench/dynamic.py table CKPT TEXT... [--chars 100000] [--lr ...] [--decay ...] [--segment ...]
    python bench/dynamic.py cost CKPT TEXT [--chars 100000]
    python bench/dynamic.py speed CKPT TEXT... [--chars 20000] [--lanes-list 1,4,8] [--segments 50]

`tune` scores the first --chars characters of each text statically and under every setting of the
grid and prints the mean gain per setting, best first: run it on texts other than those `table`
reports (bench/make_ft_corpora.py --tuning writes three). `table` prints, per text, the static and
dynamic loss in nats/char and bits/char and the seconds each pass took (charlstm's defaults unless
given). `cost` times the dynamic pass over --chars characters against training the same model
(its architecture, batch and precision as `charlstm train --init-from CKPT` would run it here) on the
same number of characters, and reports the peak memory of dynamic scoring of a quarter, half and
all of them, each in a fresh process. `speed` prints, for each number of lanes and segment length, the
dynamic pass's characters a second and its gain on each text (the first --chars characters). Every
run prints the machine line first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import machine


def load(ckpt: str):
    from charlstm.store import checkpoint, runs
    path = runs.checkpoint_path(ckpt, Path("checkpoints"))
    saved = checkpoint.load(path)
    model, tok = checkpoint.build_model(saved)
    return saved, model, tok


def text_ids(path: Path, tok, chars: int):
    from charlstm.data.textfiles import known_ids
    ids, unknown = known_ids(path.read_text(encoding="utf-8"), tok)
    return ids[: chars + 1], sum(unknown.values())


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def floats(s: str) -> list[float]:
    return [float(x) for x in s.split(",")]


def tune(args: argparse.Namespace) -> None:
    from charlstm.adapt.dynamic import dynamic_evaluate
    from charlstm.config import AdaptConfig
    _, model, tok = load(args.ckpt)
    texts = {p.name: text_ids(p, tok, args.chars)[0] for p in args.texts}
    static = {name: dynamic_evaluate(model, ids, settings(args).fixed()) for name, ids in texts.items()}
    print("static: " + ", ".join(f"{k} {v:.4f}" for k, v in static.items()), flush=True)
    rows = []
    for seg in map(int, floats(args.segments)):
        for lr in floats(args.lrs):
            for decay in floats(args.decays):
                cfg = AdaptConfig(lr=lr, decay=decay, segment=seg, lanes=settings(args).lanes)
                t = time.perf_counter()
                gains = {name: static[name] - dynamic_evaluate(model, ids, cfg) for name, ids in texts.items()}
                rows.append((sum(gains.values()) / len(gains), cfg, gains, time.perf_counter() - t))
                print(f"  lr {lr:g} decay {decay:g} segment {seg}: mean gain {rows[-1][0]:.4f} "
                      f"({', '.join(f'{g:.4f}' for g in gains.values())}) {rows[-1][3]:.0f}s", flush=True)
    print(f"\n| lr | decay | segment | mean gain | {' | '.join(texts)} |")
    print("|---|---|---|---|" + "---|" * len(texts))
    for mean, cfg, gains, _ in sorted(rows, key=lambda r: -r[0]):
        print(f"| {cfg.lr:g} | {cfg.decay:g} | {cfg.segment} | {mean:.4f} | "
              + " | ".join(f"{g:.4f}" for g in gains.values()) + " |")


def speed(args: argparse.Namespace) -> None:
    from charlstm.adapt.dynamic import dynamic_evaluate
    _, model, tok = load(args.ckpt)
    texts = {p.name: text_ids(p, tok, args.chars)[0] for p in args.texts}
    base = settings(args)
    print(f"lr {base.lr:g}, decay {base.decay:g}; {args.chars:,} characters per text")
    print(f"\n| lanes | segment | chars/s (dynamic) | chars/s (static, same lanes) | {' | '.join(texts)} (gain) |")
    print("|---|---|---|---|" + "---|" * len(texts))
    for seg in map(int, floats(args.segments)):
        for lanes in map(int, floats(args.lanes_list)):
            cfg = replace(base, segment=seg, lanes=lanes)
            n, t_dyn, t_static, gains = 0, 0.0, 0.0, []
            for ids in texts.values():
                static, ts = timed(dynamic_evaluate, model, ids, cfg.fixed())
                dyn, td = timed(dynamic_evaluate, model, ids, cfg)
                n, t_dyn, t_static = n + len(ids) - 1, t_dyn + td, t_static + ts
                gains.append(static - dyn)
            print(f"| {lanes} | {seg} | {n / t_dyn:,.0f} | {n / t_static:,.0f} | "
                  + " | ".join(f"{g:.4f}" for g in gains) + " |", flush=True)


def settings(args: argparse.Namespace):
    from charlstm.config import AdaptConfig
    d = AdaptConfig()
    pick = lambda given, default: default if given is None else given  # noqa: E731
    return AdaptConfig(lr=pick(args.lr, d.lr), decay=pick(args.decay, d.decay), segment=pick(args.segment, d.segment),
                       lanes=pick(args.lanes, d.lanes))


def table(args: argparse.Namespace) -> None:
    from charlstm.adapt.dynamic import dynamic_evaluate
    from charlstm.training.evaluate import bits
    saved, model, tok = load(args.ckpt)
    cfg = settings(args)
    print(f"checkpoint {args.ckpt} ({saved['model_config']['layers']}x{saved['model_config']['hidden']}), "
          f"lr {cfg.lr:g}, decay {cfg.decay:g}, segment {cfg.segment}")
    print("\n| text | characters scored | left out (unknown) | static | dynamic | gain (nats/char) | "
          "static bits/char | dynamic bits/char | static s | dynamic s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in args.texts:
        ids, unknown = text_ids(p, tok, args.chars)
        static, ts = timed(dynamic_evaluate, model, ids, cfg.fixed())
        dyn, td = timed(dynamic_evaluate, model, ids, cfg)
        print(f"| {p.name} | {len(ids) - 1:,} | {unknown:,} | {static:.4f} | {dyn:.4f} | **{static - dyn:.4f}** | "
              f"{bits(static):.4f} | {bits(dyn):.4f} | {ts:.1f} | {td:.1f} |", flush=True)


def training_rate(saved: dict, text: Path, steps: int) -> tuple[float, str]:
    """Characters a second of training the checkpoint's model on `text` here, as `charlstm train
    --init-from CKPT` would (its model, the default batch for it, precision chosen as the CLI does),
    median over the logged steps after the first few."""
    import statistics
    import tempfile

    from charlstm.config import TrainConfig
    from charlstm.events import Started, Step
    from charlstm.training.start import train
    mc = {k: v for k, v in saved["model_config"].items() if k != "vocab_size"}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(steps=steps, batch_size=saved["train_config"]["batch_size"],
                          seq_len=saved["train_config"]["seq_len"], eval_every=10**9, log_every=5, sample_every=0,
                          save_every=None, save_every_time=None)
        rates, notes = [], []
        for ev in train([text], mc, cfg, run_dir=Path(tmp) / "run", preset=None, keep={"batch_size", "seq_len"}):
            if isinstance(ev, Started):
                notes = [n for n in ev.notes if n.startswith("precision")]
            if isinstance(ev, Step) and ev.step > 10:
                rates.append(ev.chars_per_s)
    return statistics.median(rates), "; ".join(notes)


def cost(args: argparse.Namespace) -> None:
    from charlstm.adapt.dynamic import dynamic_evaluate
    saved, model, tok = load(args.ckpt)
    cfg = settings(args)
    ids, _ = text_ids(args.texts[0], tok, args.chars)
    n = len(ids) - 1
    _, t_dyn = timed(dynamic_evaluate, model, ids, cfg)
    _, t_static = timed(dynamic_evaluate, model, ids, cfg.fixed())
    rate, note = training_rate(saved, args.texts[0], args.train_steps)
    t_train = n / rate
    print(f"{n:,} characters: dynamic pass {t_dyn:.1f}s ({n / t_dyn:,.0f} chars/s), static pass {t_static:.1f}s; "
          f"training the same model on them {t_train:.1f}s ({rate:,.0f} chars/s, batch "
          f"{saved['train_config']['batch_size']} x {saved['train_config']['seq_len']}; {note}); "
          f"dynamic / training = {t_dyn / t_train:.2f}x")
    for share in (4, 2, 1):
        code = ("import resource, sys, json; sys.path.insert(0, 'bench'); from dynamic import load, text_ids;"
                "from charlstm.adapt.dynamic import dynamic_evaluate;"
                f"saved, m, tok = load({args.ckpt!r});"
                f"ids, _ = text_ids(__import__('pathlib').Path({str(args.texts[0])!r}), tok, {args.chars // share});"
                "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; dynamic_evaluate(m, ids);"
                "print(json.dumps([len(ids) - 1, r0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        chars, before, after = json.loads(out.strip().splitlines()[-1])
        print(f"  memory: {chars:,} characters: peak RSS {after / 1024:.0f} MB (before scoring {before / 1024:.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("tune", "table", "cost", "speed"))
    ap.add_argument("ckpt", help="a checkpoint, a run folder or 'starter'")
    ap.add_argument("texts", nargs="+", type=Path)
    ap.add_argument("--chars", type=int, default=None, help="characters scored per text (tune 30,000; else 100,000)")
    ap.add_argument("--lrs", default="1e-4,3e-4,1e-3")
    ap.add_argument("--decays", default="0,1e-3,1e-2")
    ap.add_argument("--segments", default="50")
    ap.add_argument("--lanes-list", default="1,4,8", help="speed: numbers of lanes to time")
    ap.add_argument("--lanes", type=int, help="table, cost, tune: lanes (default: charlstm's)")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--decay", type=float)
    ap.add_argument("--segment", type=int)
    ap.add_argument("--train-steps", type=int, default=60, help="cost: training steps timed")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    args.chars = args.chars or {"tune": 30_000, "speed": 20_000}.get(args.what, 100_000)
    import torch
    torch.set_num_threads(args.threads)
    print(machine.line(), flush=True)
    {"tune": tune, "table": table, "cost": cost, "speed": speed}[args.what](args)


if __name__ == "__main__":
    main()
