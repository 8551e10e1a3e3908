"""The Python API for notebooks and scripts: train in one call with a tqdm progress bar (tqdm.auto
draws a widget in Jupyter and a text bar elsewhere), load a trained model in one call:

    from pathlib import Path
    from charlstm import fit, load, generate_text, evaluate, SampleConfig
    summary = fit("corpora/pydocs.txt", time="2m")
    model, tok = load(summary["run_dir"])
    print(generate_text(model, tok, SampleConfig(length=300, temperature=0.8))[0])
    notes = Path("notes.txt").read_text(encoding="utf-8")
    print(evaluate(model, tok, notes, dynamic=True))  # static and dynamic loss
    print(generate_text(model, tok, SampleConfig(length=300), adapt=notes)[0])
    fit("mixed/", time="3m", styles="folder")  # each sub-folder a style; then generate_text(..., style="verse")

Interrupting `fit()` (Ctrl-C, or Jupyter's stop button) ends the run at the next step: last.pt is
saved and the summary comes back with reason "interrupted"; a second interrupt stops at once.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from .config import AdaptConfig, ModelConfig, TrainConfig, parse_duration
from .devices import resolve_device
from .errors import CorpusError
from .events import Alert, Eval, Event, Sample, Skipped, Started, Step, Stopped
from .model import CharLSTM
from .store import checkpoint, runs
from .tokenizer import CharTokenizer
from .training.start import TrainOptions, train


def load(target: str | Path | None = None, root: str | Path = "checkpoints", device: str = "cpu",
         prefer_best: bool = True) -> tuple[CharLSTM, CharTokenizer]:
    """(model in eval mode, tokenizer) from a checkpoint file, a run folder, or the newest run."""
    path = runs.checkpoint_path(target, Path(root), last=not prefer_best)
    dev = resolve_device(device)
    return checkpoint.build_model(checkpoint.load(path, map_location=torch.device("cpu")), dev)


def evaluate(model: CharLSTM, tokenizer: CharTokenizer, text: str, *, dynamic: bool = False,
             config: AdaptConfig = AdaptConfig(), batch_size: int = 64, seq_len: int = 256,
             style: str | None = None) -> dict:
    """The loss of `text` under `model`: nats_per_char, bits_per_char, chars (characters predicted) and
    unknown_chars (characters the model never saw, left out). With `dynamic`, the text is read in one
    lane, in order, twice: with the weights fixed (nats_per_char) and adapting them as it goes
    (dynamic_nats_per_char, dynamic_bits_per_char); the model's weights are the same afterwards. A
    styled model reads the text as `style` (a name or a blend 'a:0.7,b:0.3'; None: every style alike)."""
    from .data.textfiles import known_ids
    from .model import in_style
    from .training.evaluate import bits
    from .training.evaluate import evaluate as static_loss

    ids, unknown = known_ids(text, tokenizer)
    if len(ids) < 2:
        raise CorpusError("nothing to score: the text holds fewer than 2 characters the model knows")
    model = in_style(model, style)
    out = {"chars": len(ids) - 1, "unknown_chars": sum(unknown.values())}
    if not dynamic:
        nats = static_loss(model, ids, batch_size=batch_size, seq_len=seq_len)
        return {"nats_per_char": nats, "bits_per_char": bits(nats), **out}
    from .adapt.dynamic import dynamic_evaluate
    static = dynamic_evaluate(model, ids, config.fixed())
    dyn = dynamic_evaluate(model, ids, config)
    return {"nats_per_char": static, "bits_per_char": bits(static), "dynamic_nats_per_char": dyn,
            "dynamic_bits_per_char": bits(dyn), **out, "dynamic": config.as_dict()}


def fit(corpus: str | Path | list[str | Path], *, time: str | float | None = None, steps: int | None = None,
        epochs: float | None = None, name: str | None = None, root: str | Path = "checkpoints",
        device: str = "auto", progress: bool = True, **options) -> dict:
    """Train a new run and return its summary: run_dir, best_val_loss, steps, train_time, reason
    ("done", "early-stop" or "interrupted").
    `options` are any ModelConfig or TrainConfig fields (hidden=256, dropout=0.3, lr=1e-3, ...) and
    any of train()'s TrainOptions but the stop flag (preset="small", init_from="starter",
    styles="folder", ...); sizes not given come from the preset ("auto" unless named) as on the command
    line. `time` takes "5m" or seconds. With `progress`, a bar shows the run and the notes,
    evaluations, previews, warnings and skipped steps the command line shows are written above it;
    without, nothing is printed."""
    paths = corpus if isinstance(corpus, list) else [corpus]
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"vocab_size", "styles"}
    run_fields = {f.name for f in dataclasses.fields(TrainOptions)} - {"should_stop", "keep"}
    model = {k: v for k, v in options.items() if k in model_fields}
    how = {"preset": "auto", **{k: v for k, v in options.items() if k in run_fields}}
    train_opts = {k: v for k, v in options.items() if k not in model_fields | run_fields}
    seconds = parse_duration(time) if isinstance(time, str) else time
    cfg = TrainConfig(steps=steps, epochs=epochs, time=seconds, **train_opts)
    run_dir = Path(root) / name if name else None
    summary: dict = {}
    with _interrupt_stops() as stop:
        events = train(paths, model, cfg, run_dir=run_dir, root=root, device=device,
                       options=TrainOptions(keep=set(train_opts), should_stop=stop, **how))
        for ev in _shown(events) if progress else events:
            if isinstance(ev, Stopped):
                summary = {"run_dir": ev.run_dir, "best_val_loss": ev.best_val_loss, "steps": ev.step,
                           "train_time": ev.elapsed, "reason": ev.reason}
    return summary


@contextmanager
def _interrupt_stops() -> Iterator[Callable[[], bool]]:
    """A stop flag for `train(should_stop=...)`, raised by the first SIGINT while the block runs; a
    second SIGINT raises KeyboardInterrupt as usual. The handler is installed only in the main thread
    (Python delivers signals there alone) and the previous one is restored afterwards."""
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked.is_set
        return

    def on_sigint(signum, frame) -> None:
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _shown(events: Iterator[Event]) -> Iterator[Event]:
    """Pass the events through, drawing a progress bar and writing above it what the CLI reports."""
    from tqdm.auto import tqdm

    bar = None
    try:
        for ev in events:
            if isinstance(ev, Started):
                bar = tqdm(total=1000, desc=ev.run_name, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
            elif isinstance(ev, Step) and bar is not None:
                bar.n = int(ev.progress * 1000)
                bar.set_postfix_str(f"loss {ev.loss:.3f}, {ev.chars_per_s:,.0f} chars/s", refresh=True)
            elif isinstance(ev, Stopped) and ev.reason == "done" and bar is not None:
                bar.n = bar.total
                bar.refresh()
            for line in _lines(ev):
                tqdm.write(line)
            yield ev
    finally:
        if bar is not None:
            bar.close()


def _lines(ev: Event) -> list[str]:
    """What the command line would say about `ev`, as plain lines (none for steps and saves)."""
    if isinstance(ev, Started):
        return [f"note: {note}" for note in ev.notes]
    if isinstance(ev, Eval):
        return [f"step {ev.step:,}: val {ev.val_loss:.4f} nats/char (best {ev.best_val_loss:.4f})"]
    if isinstance(ev, Sample):
        return [f"sample at step {ev.step:,}:", ev.text]
    if isinstance(ev, Alert):
        return [f"warning (step {ev.step:,}): {ev.message}"]
    if isinstance(ev, Skipped):
        return [f"skipped step {ev.step:,}: non-finite loss {ev.loss} / grad norm {ev.grad_norm} "
                f"({ev.in_a_row} in a row)"]
    if isinstance(ev, Stopped) and ev.reason != "done":
        return [ev.message + (f"; saved in {ev.run_dir}" if ev.reason == "interrupted" else "")]
    return []
