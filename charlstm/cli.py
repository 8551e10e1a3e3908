"""The `charlstm` command line: parse, validate, call the library, render.

Thin by design: every command maps its options onto library calls and hands events to
`console.TrainView`. torch is imported only inside commands, so `charlstm --help` stays instant.
Library errors (`CharLSTMError`) become one red line on stderr and exit code 1; `--debug` shows
the traceback instead.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .config import TrainConfig, parse_duration
from .errors import CharLSTMError, ConfigError

_T = TrainConfig()
_DEBUG = {"on": False}

app = typer.Typer(
    name="charlstm",
    help="Train a character-level LSTM on any text, then generate new text from it.\n\n"
         "  charlstm train corpora/pydocs.txt --time 5m\n\n"
         "  charlstm sample --temp 0.8\n\n"
         "  charlstm resume --time 10m",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ---- options shared by several commands (defined once) --------------------------------------------
P_MODEL, P_TRAIN, P_BUDGET, P_EVAL, P_INPUT, P_OUT, P_RUN = (
    "Model", "Optimisation", "Budget (first reached stops)", "Evaluation and checkpoints", "Corpus reading",
    "Output", "Run and device")
Root = Annotated[Path, typer.Option("--root", help="Folder that holds the runs.", rich_help_panel=P_RUN)]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps.",
                                     rich_help_panel=P_RUN)]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads for torch (default: torch's "
                                             "choice, one per core).", rich_help_panel=P_RUN)]
Steps = Annotated[int | None, typer.Option("--steps", min=1, help="Stop after this many optimizer steps.",
                                           rich_help_panel=P_BUDGET)]
Epochs = Annotated[float | None, typer.Option("--epochs", min=0.0, help="Stop after this many passes over the "
                                              "training text.", rich_help_panel=P_BUDGET)]
Time = Annotated[str | None, typer.Option("--time", help="Stop after this much training time, e.g. 90s, 10m, 1h30m "
                                          "(evaluation not counted). Default when no budget is given: 10m.",
                                          rich_help_panel=P_BUDGET)]
EvalEvery = Annotated[int | None, typer.Option("--eval-every", min=1, help=f"Steps between validation runs "
                                               f"[default: {_T.eval_every}].", rich_help_panel=P_EVAL)]
SaveEvery = Annotated[list[str] | None, typer.Option(
    "--save-every", help=f"Save last.pt every N steps and/or every duration (e.g. --save-every 500 --save-every "
    f"5m) [default: {_T.save_every} and {_T.save_every_time / 60:g}m].", rich_help_panel=P_EVAL)]
SampleEvery = Annotated[int | None, typer.Option("--sample-every", min=0, help="Show a preview sample every N "
                                                 "evaluations (0: never) [default: 1].", rich_help_panel=P_EVAL)]
MaxBad = Annotated[int | None, typer.Option("--max-bad-steps", min=0, help="Skip up to K non-finite steps in a "
                                            "row before stopping [default: 0].", rich_help_panel=P_TRAIN)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the final summary.", rich_help_panel=P_OUT)]
Plain = Annotated[bool, typer.Option("--plain", help="One log line per report instead of the live dashboard "
                                     "(automatic when stderr is not a terminal).", rich_help_panel=P_OUT)]
Json = Annotated[bool, typer.Option("--json", help="Events as JSON lines on stderr, for scripts.",
                                    rich_help_panel=P_OUT)]
LogEvery = Annotated[int | None, typer.Option("--log-every", min=1, help=f"Steps between progress reports "
                                              f"[default: {_T.log_every}].", rich_help_panel=P_OUT)]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"charlstm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
) -> None:
    _DEBUG["on"] = debug


@contextmanager
def _errors():
    """One error policy: CharLSTMError -> one red line on stderr, exit 1."""
    from .console import error_line, stderr_console
    try:
        yield
    except CharLSTMError as e:
        if _DEBUG["on"]:
            raise
        error_line(stderr_console(), str(e))
        raise typer.Exit(1) from None


class _StopFlag:
    """First Ctrl-C / SIGTERM: ask the loop to save and stop at the next step boundary.
    Second one: leave at once (committed checkpoints are never half-written, see checkpoint.save)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            os._exit(128 + signum)
        self.signum = signum
        sys.stderr.write(f"\n{signal.Signals(signum).name}: saving at the next step boundary "
                         "(press Ctrl-C again to quit at once)\n")

    @contextmanager
    def installed(self):
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _save_every(values: list[str] | None) -> dict:
    if not values:
        return {}
    out: dict = {"save_every": None, "save_every_time": None}
    for v in values:
        if v.strip().isdigit():
            out["save_every"] = int(v)
        else:
            out["save_every_time"] = parse_duration(v)
    return out


def _budget(steps, epochs, time) -> dict:
    return {"steps": steps, "epochs": epochs, "time": parse_duration(time) if time else None}


def _progress_factory(quiet: bool):
    """tqdm bars for corpus scanning and encoding, shown only for corpora worth waiting for."""
    from tqdm import tqdm

    def make(desc: str, total: int):
        if quiet or total < 32 << 20:
            return None
        bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False)

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()
        return update
    return make


def _run(events, quiet: bool, plain: bool, as_json: bool, flag: _StopFlag) -> None:
    from .console import TrainView, stderr_console
    from .events import Stopped

    console = stderr_console()
    mode = "json" if as_json else "plain" if plain or not console.is_terminal else "live"
    last = None
    with TrainView(console, mode, quiet) as view:
        for ev in events:
            view.show(ev)
            last = ev
    if isinstance(last, Stopped) and last.reason == "interrupted":
        console.print(f"interrupted at step {last.step:,}; saved. Continue with: charlstm resume {last.run_dir}")
        raise typer.Exit(128 + (flag.signum or signal.SIGINT))


@app.command(no_args_is_help=True)
def train(
    corpus: Annotated[list[Path], typer.Argument(help="Text files and/or directories to train on.",
                                                 show_default=False)],
    name: Annotated[str | None, typer.Option("--name", help="Run name (folder under --root) [default: "
                                             "corpus name + date].", rich_help_panel=P_RUN)] = None,
    root: Root = Path("checkpoints"),
    cell: Annotated[str, typer.Option("--cell", help="Recurrent cell: lstm, gru or rnn.",
                                      rich_help_panel=P_MODEL)] = "lstm",
    layers: Annotated[int, typer.Option("--layers", min=1, help="Stacked recurrent layers.",
                                        rich_help_panel=P_MODEL)] = 2,
    hidden: Annotated[int, typer.Option("--hidden", min=1, help="Hidden (and cell) state size per layer.",
                                        rich_help_panel=P_MODEL)] = 512,
    embed: Annotated[int, typer.Option("--embed", min=1, help="Character embedding size.",
                                       rich_help_panel=P_MODEL)] = 128,
    dropout: Annotated[float, typer.Option("--dropout", min=0.0, max=0.99, help="Dropout between layers and "
                                           "before the output layer.", rich_help_panel=P_MODEL)] = 0.2,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Parallel lanes of text (B).",
                                            rich_help_panel=P_TRAIN)] = _T.batch_size,
    seq_len: Annotated[int, typer.Option("--seq-len", min=1, help="Characters per window: how far gradients "
                                         "flow back (T).", rich_help_panel=P_TRAIN)] = _T.seq_len,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate.",
                                      rich_help_panel=P_TRAIN)] = _T.lr,
    min_lr: Annotated[float, typer.Option("--min-lr", min=0.0, help="Learning rate at the end of cosine/wsd "
                                          "decay.", rich_help_panel=P_TRAIN)] = _T.min_lr,
    schedule: Annotated[str, typer.Option("--schedule", help="constant, cosine (decay over the budget) or wsd "
                                          "(constant, then decay over the last 20%).",
                                          rich_help_panel=P_TRAIN)] = _T.schedule,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Steps of linear learning-rate warm-up.",
                                        rich_help_panel=P_TRAIN)] = _T.warmup,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or adam.",
                                           rich_help_panel=P_TRAIN)] = _T.optimizer,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0, help="Decoupled weight decay on "
                                                "weight matrices.", rich_help_panel=P_TRAIN)] = _T.weight_decay,
    clip: Annotated[float, typer.Option("--clip", min=0.0, help="Clip the global gradient norm to this "
                                        "(0: off).", rich_help_panel=P_TRAIN)] = _T.clip,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same run on the CPU).",
                                      rich_help_panel=P_TRAIN)] = _T.seed,
    max_bad_steps: MaxBad = None,
    steps: Steps = None,
    epochs: Epochs = None,
    time: Time = None,
    eval_every: EvalEvery = None,
    eval_chars: Annotated[int, typer.Option("--eval-chars", min=0, help="Validation characters per evaluation "
                                            "(0: all).", rich_help_panel=P_EVAL)] = _T.eval_chars,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Last fraction of the text held out "
                                                "for validation.", rich_help_panel=P_EVAL)] = _T.val_fraction,
    save_every: SaveEvery = None,
    sample_every: SampleEvery = None,
    encoding: Annotated[str, typer.Option("--encoding", help="Text encoding of the corpus files.",
                                          rich_help_panel=P_INPUT)] = "utf-8",
    errors: Annotated[str, typer.Option("--errors", help="Invalid bytes: strict (stop with the byte offset), "
                                        "replace or ignore.", rich_help_panel=P_INPUT)] = "strict",
    newline: Annotated[str, typer.Option("--newline", help="lf (turn \\r\\n and \\r into \\n) or keep.",
                                         rich_help_panel=P_INPUT)] = "lf",
    normalization: Annotated[str, typer.Option("--normalization", help="Unicode normalization: NFC, NFKC or "
                                               "none.", rich_help_panel=P_INPUT)] = "NFC",
    max_vocab: Annotated[int, typer.Option("--max-vocab", min=2, help="Refuse corpora with more distinct "
                                           "characters than this.", rich_help_panel=P_INPUT)] = _T.max_vocab,
    pattern: Annotated[str, typer.Option("--pattern", help="File-name glob for files inside directories, "
                                         "e.g. '*.txt'.", rich_help_panel=P_INPUT)] = "*",
    device: Device = "auto",
    threads: Threads = None,
    quiet: Quiet = False,
    plain: Plain = False,
    json_lines: Json = False,
    log_every: LogEvery = None,
) -> None:
    """Train a new model on CORPUS (files or directories of text).

    Shows live progress, evaluates on the last --val-fraction of the text, previews generated
    text, and writes checkpoints to ROOT/NAME/ (last.pt, best.pt, metrics.jsonl).

    Example: [bold]charlstm train corpora/pydocs.txt --time 5m[/]
    """
    with _errors():
        from .corpus import ReadOptions

        overrides = {k: v for k, v in dict(eval_every=eval_every, sample_every=sample_every,
                                           max_bad_steps=max_bad_steps, log_every=log_every).items()
                     if v is not None}
        cfg = TrainConfig(batch_size=batch_size, seq_len=seq_len, lr=lr, min_lr=min(min_lr, lr),
                          schedule=schedule, warmup=warmup, optimizer=optimizer, weight_decay=weight_decay,
                          clip=clip, seed=seed, eval_chars=eval_chars or None, max_vocab=max_vocab,
                          val_fraction=val_fraction,
                          **_budget(steps, epochs, time), **_save_every(save_every), **overrides)
        opts = ReadOptions(encoding=encoding, errors=errors, newline=newline, normalization=normalization,
                           pattern=pattern)
        model = dict(cell=cell, layers=layers, hidden=hidden, embed=embed, dropout=dropout)
        from .train import train as run_train
        flag = _StopFlag()
        with flag.installed():
            events = run_train(corpus, model, cfg, run_dir=root / name if name else None, root=root,
                               read_options=opts, device=device, threads=threads, should_stop=flag,
                               progress=_progress_factory(quiet or json_lines))
            _run(events, quiet, plain, json_lines, flag)


@app.command()
def resume(
    target: Annotated[Path | None, typer.Argument(help="Run directory or checkpoint file [default: the newest "
                                                  "run under --root].", show_default=False)] = None,
    root: Root = Path("checkpoints"),
    steps: Steps = None,
    epochs: Epochs = None,
    time: Time = None,
    eval_every: EvalEvery = None,
    save_every: SaveEvery = None,
    sample_every: SampleEvery = None,
    max_bad_steps: MaxBad = None,
    device: Device = "auto",
    threads: Threads = None,
    quiet: Quiet = False,
    plain: Plain = False,
    json_lines: Json = False,
    log_every: LogEvery = None,
) -> None:
    """Continue a run exactly where it stopped: same weights, optimizer, schedule, data position,
    hidden state and random state.

    --steps/--epochs/--time set a new total budget for the run (counted from its start), so
    [bold]charlstm resume --steps 5000[/] trains a 2000-step run for 3000 more steps.
    """
    with _errors():
        from .train import resume as run_resume
        overrides = dict(**_budget(steps, epochs, time), **_save_every(save_every), eval_every=eval_every,
                         sample_every=sample_every, max_bad_steps=max_bad_steps, log_every=log_every)
        flag = _StopFlag()
        with flag.installed():
            events = run_resume(target, root, overrides, device=device, threads=threads, should_stop=flag,
                                progress=_progress_factory(quiet or json_lines))
            _run(events, quiet, plain, json_lines, flag)


@app.command()
def sample(
    checkpoint: Annotated[Path | None, typer.Argument(help="Checkpoint file or run directory [default: the "
                                                      "newest run under --root].", show_default=False)] = None,
    temp: Annotated[float, typer.Option("--temp", "-t", min=0.0, help="Temperature: lower is safer, higher is "
                                        "wilder; 0 always picks the most likely character.")] = 1.0,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Sample only from the K most likely "
                                              "characters.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Sample only from the smallest set of characters "
                                                "holding this much probability, in (0, 1].")] = None,
    prime: Annotated[str, typer.Option("--prime", "-p", help="Text to start from (printed, then continued).")] = "",
    length: Annotated[int, typer.Option("--length", "-n", min=0, help="Characters to generate.")] = 500,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed: the same seed gives the same text.")] = None,
    num_samples: Annotated[int, typer.Option("--num-samples", min=1, help="Independent samples, generated "
                                             "together.")] = 1,
    separator: Annotated[str, typer.Option("--separator", help="Printed between samples.")] = "\n\n",
    skip_unknown: Annotated[bool, typer.Option("--skip-unknown", help="Drop prime characters the model never "
                                               "saw instead of stopping.")] = False,
    echo_prime: Annotated[bool, typer.Option("--echo-prime/--no-echo-prime", help="Print the prime before "
                                             "the generated text.")] = True,
    last: Annotated[bool, typer.Option("--last", help="In a run directory, use last.pt rather than best.pt.")] = False,
    plain_step: Annotated[bool, typer.Option("--plain-step", help="Use the model's own forward for each step "
                                             "(slower; same text as the fast path).", hidden=True)] = False,
    root: Root = Path("checkpoints"),
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N, mps or auto.")] = "cpu",
    threads: Threads = None,
) -> None:
    """Generate text from a trained model. Only the text goes to stdout, so it pipes:

    [bold]charlstm sample --temp 0.8 -n 2000 > out.txt[/]
    """
    with _errors():
        if top_p is not None and not 0 < top_p <= 1:
            raise ConfigError(f"--top-p must be in (0, 1], got {top_p}")
        import torch

        from . import checkpoint as ck
        from .devices import resolve_device
        from .sample import SampleConfig, generate
        from .tokenizer import normalize

        if threads:
            torch.set_num_threads(threads)
        order = (ck.LAST, ck.BEST) if last else (ck.BEST, ck.LAST)
        path = ck.resolve(checkpoint, root, order)
        model, tok = ck.build_model(ck.load(path, map_location="cpu"), resolve_device(device))
        cfg = SampleConfig(length=length, temperature=temp, top_k=top_k, top_p=top_p, seed=seed,
                           num_samples=num_samples)
        tok.encode(prime, skip_unknown=skip_unknown)  # refuse unknown characters before printing anything
        shown_prime = "".join(c for c in normalize(prime, tok.normalization) if c in tok.stoi) if echo_prime else ""
        from .console import stderr_console
        stderr_console().print(f"[dim]sampling from {path}[/]")
        out = sys.stdout
        stream = num_samples == 1
        try:
            texts = [[shown_prime] for _ in range(num_samples)]
            if stream:
                out.write(shown_prime)
            for chars in generate(model, tok, cfg, prime, skip_unknown=skip_unknown, fast=not plain_step):
                if stream:
                    out.write(chars[0])
                    if out.isatty() or chars[0] == "\n":
                        out.flush()
                else:
                    for buf, ch in zip(texts, chars):
                        buf.append(ch)
            if not stream:
                out.write(separator.join("".join(t) for t in texts))
            out.write("\n")
            out.flush()
        except KeyboardInterrupt:
            out.write("\n")
            raise typer.Exit(130) from None
        except BrokenPipeError:  # `charlstm sample | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
