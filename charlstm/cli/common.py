"""Pieces every command shares: option definitions (defined once), the error policy, signal
handling and the rendering of a training run. Only the CLI modules import this.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ..config import TrainConfig, parse_duration
from ..errors import CharLSTMError

DEFAULTS = TrainConfig()
DEBUG = {"on": False}

P_MODEL, P_TRAIN, P_BUDGET, P_EVAL, P_INPUT, P_OUT, P_RUN = (
    "Model", "Optimisation", "Budget (first reached stops)", "Evaluation and checkpoints", "Corpus reading",
    "Output", "Run and device")
Root = Annotated[Path, typer.Option("--root", help="Folder that holds the runs.", rich_help_panel=P_RUN)]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps.",
                                     rich_help_panel=P_RUN)]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads for torch (default: torch's "
                                             "choice, one per core).", rich_help_panel=P_RUN)]
Precision = Annotated[str | None, typer.Option(
    "--precision", help="auto (bf16 autocast where a timed probe shows it much faster, e.g. CPUs with AMX; fp16 "
    "with loss scaling on GPUs without bf16; else fp32), fp32, bf16 or fp16 [default: auto].", rich_help_panel=P_RUN)]
Steps = Annotated[int | None, typer.Option("--steps", min=1, help="Stop after this many optimizer steps.",
                                           rich_help_panel=P_BUDGET)]
Epochs = Annotated[float | None, typer.Option("--epochs", min=0.0, help="Stop after this many passes over the "
                                              "training text.", rich_help_panel=P_BUDGET)]
Time = Annotated[str | None, typer.Option("--time", help="Stop after this much training time, e.g. 90s, 10m, 1h30m "
                                          "(evaluation not counted). Default when no budget is given: 10m.",
                                          rich_help_panel=P_BUDGET)]
EvalEvery = Annotated[int | None, typer.Option("--eval-every", min=1, help=f"Steps between validation runs "
                                               f"[default: {DEFAULTS.eval_every}].", rich_help_panel=P_EVAL)]
SaveEvery = Annotated[list[str] | None, typer.Option(
    "--save-every", help=f"Save last.pt every N steps and/or every duration (e.g. --save-every 500 --save-every "
    f"5m) [default: {DEFAULTS.save_every} and {DEFAULTS.save_every_time / 60:g}m].", rich_help_panel=P_EVAL)]
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
                                              f"[default: {DEFAULTS.log_every}].", rich_help_panel=P_OUT)]



@contextmanager
def user_errors():
    """One error policy: CharLSTMError -> one red line on stderr, exit 1."""
    from .render import error_line, stderr_console
    try:
        yield
    except CharLSTMError as e:
        if DEBUG["on"]:
            raise
        error_line(stderr_console(), str(e))
        raise typer.Exit(1) from None


class StopFlag:
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


def save_every_options(values: list[str] | None) -> dict:
    if not values:
        return {}
    out: dict = {"save_every": None, "save_every_time": None}
    for v in values:
        if v.strip().isdigit():
            out["save_every"] = int(v)
        else:
            out["save_every_time"] = parse_duration(v)
    return out


def budget_options(steps, epochs, time) -> dict:
    return {"steps": steps, "epochs": epochs, "time": parse_duration(time) if time else None}


def progress_factory(quiet: bool):
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


def run_training(events, quiet: bool, plain: bool, as_json: bool, flag: StopFlag) -> None:
    from ..events import Stopped
    from .render import TrainView, stderr_console

    console = stderr_console()
    if int(os.environ.get("RANK", "0")) > 0:  # under torchrun only rank 0 reports
        for _ in events:
            pass
        return
    mode = "json" if as_json else "plain" if plain or not console.is_terminal else "live"
    last = None
    with TrainView(console, mode, quiet) as view:
        for ev in events:
            view.show(ev)
            last = ev
    if isinstance(last, Stopped) and last.reason == "interrupted":
        console.print(f"interrupted at step {last.step:,}; saved. Continue with: charlstm resume {last.run_dir}")
        raise typer.Exit(128 + (flag.signum or signal.SIGINT))
