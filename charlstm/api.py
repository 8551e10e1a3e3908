"""The Python API for notebooks and scripts: train in one call with a tqdm progress bar (tqdm.auto
draws a widget in Jupyter and a text bar elsewhere), load a trained model in one call:

    from charlstm import fit, load, generate_text, SampleConfig
    summary = fit("corpora/pydocs.txt", time="2m")
    model, tok = load(summary["run_dir"])
    print(generate_text(model, tok, SampleConfig(length=300, temperature=0.8))[0])
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from . import checkpoint, runs
from .config import ModelConfig, TrainConfig, parse_duration
from .devices import resolve_device
from .events import Eval, Started, Step, Stopped
from .model import CharLSTM
from .tokenizer import CharTokenizer
from .train import train


def load(target: str | Path | None = None, root: str | Path = "checkpoints", device: str = "cpu",
         prefer_best: bool = True) -> tuple[CharLSTM, CharTokenizer]:
    """(model in eval mode, tokenizer) from a checkpoint file, a run directory, or the newest run."""
    path = runs.checkpoint_path(target, Path(root), last=not prefer_best)
    dev = resolve_device(device)
    return checkpoint.build_model(checkpoint.load(path, map_location=torch.device("cpu")), dev)


def fit(corpus: str | Path | list[str | Path], *, time: str | float | None = None, steps: int | None = None,
        epochs: float | None = None, preset: str = "auto", name: str | None = None, root: str | Path = "checkpoints",
        device: str = "auto", progress: bool = True, **options) -> dict:
    """Train a new run and return its summary: run_dir, best_val_loss, steps, train_time, reason.
    `options` are any ModelConfig or TrainConfig fields (hidden=256, dropout=0.3, lr=1e-3, ...);
    sizes not given come from `preset` as on the command line. `time` takes "5m" or seconds."""
    from tqdm.auto import tqdm

    paths = corpus if isinstance(corpus, list) else [corpus]
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"vocab_size"}
    model = {k: v for k, v in options.items() if k in model_fields}
    train_opts = {k: v for k, v in options.items() if k not in model_fields}
    seconds = parse_duration(time) if isinstance(time, str) else time
    cfg = TrainConfig(steps=steps, epochs=epochs, time=seconds, **train_opts)
    run_dir = Path(root) / name if name else None
    bar, summary = None, {}
    for ev in train(paths, model, cfg, run_dir=run_dir, root=root, device=device, preset=preset, keep=set(train_opts)):
        if isinstance(ev, Started) and progress:
            bar = tqdm(total=1000, desc=ev.run_name, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        elif isinstance(ev, Step) and bar is not None:
            bar.n = int(ev.progress * 1000)
            bar.set_postfix_str(f"loss {ev.loss:.3f}, {ev.chars_per_s:,.0f} chars/s", refresh=True)
        elif isinstance(ev, Eval) and bar is not None:
            bar.write(f"step {ev.step}: val {ev.val_loss:.4f} nats/char (best {ev.best_val_loss:.4f})")
        elif isinstance(ev, Stopped):
            summary = {"run_dir": ev.run_dir, "best_val_loss": ev.best_val_loss, "steps": ev.step,
                       "train_time": ev.elapsed, "reason": ev.reason}
    if bar is not None:
        bar.n = bar.total
        bar.close()
    return summary
