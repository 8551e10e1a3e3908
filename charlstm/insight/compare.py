"""LSTM vs GRU vs plain RNN on the same text, the same budget and about the same size.

Each cell type gets the hidden size that brings its parameter count closest to the first cell's
(an LSTM layer has 4 weight blocks, a GRU layer 3, an RNN layer 1), then all train one after the
other with identical settings under one folder (`folder`), each run's events tagged with its cell
and its result so far. `samples` then writes a short sample from each trained cell.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..config import CELLS, ConfigError, TrainConfig, param_count
from ..data.textfiles import ReadOptions, find_files, scan_vocabulary, tokenizer_from_counts
from ..events import Eval, Event, Step, Stopped
from ..sampling.generate import SampleConfig, generate_text
from ..store import checkpoint, runs
from ..training.start import train


@dataclass
class CellResult:
    cell: str
    hidden: int
    params: int
    run_dir: str
    chars_per_s: float = 0.0
    best_val_loss: float | None = None
    curve: list[tuple[float, float]] = field(default_factory=list)  # (training seconds, val loss)
    steps: int = 0


def matched_hidden(cell: str, vocab: int, embed: int, layers: int, target: int) -> int:
    """Hidden size whose parameter count is closest to `target`."""
    return min(range(1, 4097), key=lambda h: abs(param_count(cell, vocab, embed, h, layers) - target))


def plan(corpus: list[str | Path], cells: list[str], model: dict, opts: ReadOptions | None = None,
         should_stop: Callable[[], bool] | None = None) -> list[tuple]:
    """[(cell, hidden, params)]: the first cell keeps model['hidden'], the others are matched to it.
    Reads the corpus once for its vocabulary (`should_stop` True stops it: errors.Interrupted)."""
    bad = [c for c in cells if c not in CELLS]
    if bad or not cells:
        raise ConfigError(f"--cells takes a comma list of {', '.join(CELLS)}; got {','.join(cells) or 'nothing'}")
    opts = opts or ReadOptions()
    vocab = tokenizer_from_counts(scan_vocabulary(find_files(corpus, opts.pattern).files, opts, None, should_stop),
                                  opts.normalization).vocab_size
    embed, layers = model.get("embed", 128), model.get("layers", 2)
    target = param_count(cells[0], vocab, embed, model.get("hidden", 512), layers)
    out = []
    for c in cells:
        h = model.get("hidden", 512) if c == cells[0] else matched_hidden(c, vocab, embed, layers, target)
        out.append((c, h, param_count(c, vocab, embed, h, layers)))
    return out


def folder(root: Path, name: str | None = None) -> Path:
    """Where a comparison keeps its runs: ROOT/NAME, or ROOT/compare-DATE-TIME."""
    return Path(root) / (name or f"compare-{datetime.now():%Y%m%d-%H%M%S}")


def compare(corpus: list[str | Path], cells: list[str], model: dict, config: TrainConfig, root: Path,
            read_options: ReadOptions | None = None, **train_kw) -> Iterator[tuple[CellResult, Event]]:
    """Train each cell in turn under ROOT/<cell>, yielding (its result so far, event); `train_kw` goes
    to `train()` (device, threads, should_stop, ...). Once `should_stop()` is true no further cell
    starts: the cells not begun are left out (no folder, no events). A comparison refused before its
    first cell started (bad text, bad cells) leaves no ROOT folder behind, if it made one."""
    created = not Path(root).exists()
    started = False
    try:
        for result, ev in _cells(corpus, cells, model, config, Path(root), read_options, train_kw):
            started = True
            yield result, ev
    except BaseException:
        if created and not started:
            shutil.rmtree(root, ignore_errors=True)
        raise


def _cells(corpus: list[str | Path], cells: list[str], model: dict, config: TrainConfig, root: Path,
           read_options: ReadOptions | None, train_kw: dict) -> Iterator[tuple[CellResult, Event]]:
    should_stop = train_kw.get("should_stop") or (lambda: False)
    for cell, hidden, params in plan(corpus, cells, model, read_options, should_stop):
        if should_stop():
            return
        result = CellResult(cell=cell, hidden=hidden, params=params, run_dir=str(root / cell))
        speeds = []
        for ev in train(corpus, {**model, "cell": cell, "hidden": hidden}, config, run_dir=root / cell,
                        read_options=read_options, **train_kw):
            if isinstance(ev, Step):
                speeds.append(ev.chars_per_s)
                result.steps = ev.step
            elif isinstance(ev, Eval):
                result.curve.append((ev.elapsed, ev.val_loss))  # training seconds when it was made
                result.best_val_loss = ev.best_val_loss
            elif isinstance(ev, Stopped):
                result.chars_per_s = sum(speeds) / len(speeds) if speeds else 0.0
            yield result, ev


def samples(results: list[CellResult], seed: int, length: int = 240, temperature: float = 0.8) -> dict[str, str]:
    """cell -> a sample of `length` characters from each compared run's checkpoint (best.pt where
    there is one), all drawn with the same seed and temperature."""
    out = {}
    for r in results:
        model, tok = checkpoint.build_model(checkpoint.load(runs.checkpoint_path(r.run_dir)))
        out[r.cell] = generate_text(model, tok, SampleConfig(length=length, temperature=temperature, seed=seed))[0]
    return out
